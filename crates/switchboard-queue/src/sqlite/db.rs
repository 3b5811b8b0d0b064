//! The SQLite file: connections, pragmas, schema, and running work off the async runtime.
//!
//! Every state transition runs inside a `BEGIN IMMEDIATE` transaction (alone, or in a savepoint
//! of a batch): the write lock is taken at the start, so two processes never both decide to
//! lock the same message (a deferred transaction would read first and fail to upgrade under
//! WAL). "Now" is read *after* the lock is held, so a transition that waited on another
//! process still judges expiry with the current time.
//!
//! Writes go to the namespace's [`GroupWriter`]: one connection on a thread of its own that
//! runs every write queued while the previous transaction ran in one transaction, each write
//! in its own savepoint (`switchboard_sqlite`'s docs say what a caller sees). SQLite admits
//! one writer per file anyway; this way a busy process pays for one transaction per batch,
//! not per transition. Other processes are arbitrated by SQLite's file lock and our busy
//! handler. Reads (probes, peeks) run on pooled connections, at most `max_idle_connections`
//! at once, so the pool stays bounded: on the calling runtime thread when the snapshot can be
//! taken without waiting for a lock (`switchboard_sqlite::snapshot_now`; a read then takes
//! microseconds, less than the two thread hand-offs of the blocking pool), else on Tokio's
//! blocking pool, where waiting for the lock stalls no task.
//!
//! The tables are prefixed `sbq_` because the store may share the file; the schema version
//! lives in `sbq_meta`, not in `PRAGMA user_version`, for the same reason.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use switchboard_sqlite::{Failure, GroupWriter, NowMs, WriterKey};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::clock::Clock;
use crate::error::QueueError;

use super::options::SqliteOptions;

/// Version of the `sbq_*` tables this code reads and writes.
pub(crate) const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sbq_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS sbq_queues (
    name       TEXT PRIMARY KEY,
    config     TEXT NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per message of every queue, dead letters included (state 2). AUTOINCREMENT: a
-- sequence number is never reused, even after the newest message is deleted.
CREATE TABLE IF NOT EXISTS sbq_messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    queue           TEXT NOT NULL,
    state           INTEGER NOT NULL,      -- 0 active, 1 deferred, 2 dead-lettered, 3 scheduled
    message_id      TEXT NOT NULL,
    session_id      TEXT,
    correlation_id  TEXT,
    content_type    TEXT,
    subject         TEXT,
    properties      TEXT NOT NULL,
    body            BLOB NOT NULL,
    enqueued_ms     INTEGER NOT NULL,      -- visible from (scheduled time for scheduled ones)
    scheduled_ms    INTEGER,
    ttl_ms          INTEGER,
    expires_ms      INTEGER,
    delivery_count  INTEGER NOT NULL DEFAULT 0,
    lock_token      TEXT,                  -- NULL: not locked
    locked_until_ms INTEGER,
    session_lock    TEXT,                  -- session lock token the message lock belongs to
    dl_reason       TEXT,
    dl_description  TEXT
);
CREATE INDEX IF NOT EXISTS sbq_messages_by_state ON sbq_messages (queue, state, seq);
CREATE INDEX IF NOT EXISTS sbq_messages_by_session
    ON sbq_messages (queue, session_id, state, seq) WHERE session_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS sbq_messages_locks
    ON sbq_messages (queue, locked_until_ms) WHERE lock_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS sbq_messages_expiry
    ON sbq_messages (queue, expires_ms) WHERE state = 0 AND expires_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS sbq_messages_schedule
    ON sbq_messages (queue, enqueued_ms) WHERE state = 3;

CREATE TABLE IF NOT EXISTS sbq_sessions (
    queue           TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    lock_token      TEXT,
    locked_until_ms INTEGER,
    state           BLOB,
    PRIMARY KEY (queue, session_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS sbq_dedupe (
    queue      TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sent_ms    INTEGER NOT NULL,
    PRIMARY KEY (queue, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sbq_dedupe_by_time ON sbq_dedupe (queue, sent_ms);
";

/// Maps a SQLite error: busy/locked (another process held the file past the busy timeout) is
/// retryable, anything else is not.
pub(crate) fn map_err(op: &'static str, e: rusqlite::Error) -> QueueError {
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    QueueError::Backend {
        op,
        message: e.to_string(),
        retryable,
        source: Some(Box::new(e)),
    }
}

/// Shorthand to map rusqlite results inside operations.
pub(crate) trait SqlResultExt<T> {
    fn op(self, op: &'static str) -> Result<T, QueueError>;
}

impl<T> SqlResultExt<T> for rusqlite::Result<T> {
    fn op(self, op: &'static str) -> Result<T, QueueError> {
        self.map_err(|e| map_err(op, e))
    }
}

/// One SQLite file and its connection pool.
pub(crate) struct Db {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    writer: Arc<GroupWriter>,
    now: NowMs,
    readers: Arc<Semaphore>,
    options: SqliteOptions,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating if needed) the file and its schema. Blocking.
    pub(crate) fn open_blocking(path: &Path, options: SqliteOptions) -> Result<Self, QueueError> {
        let conn = connect(path, &options)?;
        // journal_mode=WAL is persistent in the file and must run outside a transaction; a
        // first open racing another one tries again (`enable_wal`).
        let mode = switchboard_sqlite::enable_wal(&conn, options.busy_timeout).op("open")?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(QueueError::Backend {
                op: "open",
                message: format!("could not switch {} to WAL (got {mode})", path.display()),
                retryable: false,
                source: None,
            });
        }
        create_schema(&conn)?;
        // Canonical path: the in-process wake-up registry is keyed by it, so two namespaces
        // opened on the same file through different spellings still wake each other.
        let path = std::fs::canonicalize(path).map_err(|e| QueueError::Backend {
            op: "open",
            message: format!("canonicalize {}: {e}", path.display()),
            retryable: false,
            source: Some(Box::new(e)),
        })?;
        let key = WriterKey::new(path.clone(), options.synchronous_full, options.busy_timeout);
        // The store, when it shares the file, writes on the same connection. If a writer runs
        // already, the schema's connection serves readers instead.
        let mut spare = Some(conn);
        let writer = switchboard_sqlite::shared(
            key,
            "sqlite-writer",
            // Called at most once, so the connection is there.
            |p| spare.take().map_or_else(|| connect(p, &options), Ok),
            |e| QueueError::Backend {
                op: "open",
                message: format!("starting the writer thread: {e}"),
                retryable: false,
                source: Some(Box::new(e)),
            },
        )?;
        let clock = Arc::clone(&options.clock);
        Ok(Self {
            path,
            idle: Mutex::new(spare.into_iter().collect()),
            writer,
            now: Arc::new(move || clock.now_ms()),
            readers: Arc::new(Semaphore::new(options.max_idle_connections.max(1))),
            options,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.options.clock
    }

    pub(crate) fn options(&self) -> &SqliteOptions {
        &self.options
    }

    pub(crate) fn writer_stats(&self) -> switchboard_sqlite::WriterStats {
        self.writer.stats()
    }

    fn checkout(&self) -> Result<Connection, QueueError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match pooled {
            Some(c) => Ok(c),
            None => connect(&self.path, &self.options),
        }
    }

    fn checkin(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // Every reader can be checked out at once; keep them all.
        if idle.len() <= self.options.max_idle_connections {
            idle.push(conn);
        }
    }

    /// Runs read-only `f` in one (deferred) transaction, so its queries see one snapshot.
    pub(crate) fn read_blocking<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connection, i64) -> Result<T, QueueError>,
    ) -> Result<T, QueueError> {
        let mut conn = self.checkout()?;
        switchboard_core::busy::set_budget(self.options.busy_timeout);
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .op(op)?;
            let now = self.options.clock.now_ms();
            let value = f(&tx, now)?;
            tx.commit().op(op)?;
            Ok(value)
        })();
        self.checkin(conn);
        result
    }

    /// Runs `f` as one all-or-nothing write with the current time (Unix ms, read after the
    /// write lock is held), in the next batch of the namespace's writer; returns once it
    /// committed.
    ///
    /// Cancellation: if the returned future is dropped before the writer reaches `f`, `f`
    /// does not run; dropped while `f` runs, its changes are rolled back. So a receive
    /// cancelled by a shutdown `select!` almost never leaves messages locked; if it loses that
    /// race (the batch commits as the future is dropped), the locks expire and the messages
    /// are redelivered (count + 1), as after a cancelled Service Bus receive.
    pub(crate) async fn write<T, F>(&self, op: &'static str, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, QueueError> + Send + 'static,
    {
        self.writer.write(op, writer_failure, &self.now, f).await
    }

    /// Runs read-only `f` in one snapshot: on this thread when a pooled connection is free
    /// and the snapshot can be taken without waiting for a lock
    /// ([`switchboard_sqlite::snapshot_now`]), else as [`Db::read_blocking`] on the blocking
    /// pool.
    pub(crate) async fn read<T, F>(
        self: &Arc<Self>,
        op: &'static str,
        mut f: F,
    ) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, QueueError> + Send + 'static,
    {
        let free = Arc::clone(&self.readers).try_acquire_owned().ok();
        let pooled = free.as_ref().and_then(|_| {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
        });
        if let Some(conn) = pooled {
            let ran = switchboard_sqlite::read_now(
                &conn,
                self.options.busy_timeout,
                || self.options.clock.now_ms(),
                |e| map_err(op, e),
                f,
            );
            self.checkin(conn);
            match ran {
                Ok(done) => return done,
                Err(untouched) => f = untouched,
            }
        }
        drop(free);
        self.read_pooled(op, f).await
    }

    /// [`Db::read_blocking`] on the blocking pool.
    async fn read_pooled<T, F>(self: &Arc<Self>, op: &'static str, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, QueueError> + Send + 'static,
    {
        let permit = gate(&self.readers, op).await?;
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            db.read_blocking(op, f)
        })
        .await
        .map_err(|e| join_error(op, e))?
    }
}

async fn gate(
    semaphore: &Arc<Semaphore>,
    op: &'static str,
) -> Result<OwnedSemaphorePermit, QueueError> {
    // The semaphores are never closed; this error is unreachable in practice.
    Arc::clone(semaphore)
        .acquire_owned()
        .await
        .map_err(|e| QueueError::Backend {
            op,
            message: format!("connection gate closed: {e}"),
            retryable: false,
            source: None,
        })
}

fn writer_failure(op: &'static str, f: Failure<'_>) -> QueueError {
    QueueError::Backend {
        op,
        message: f.to_string(),
        retryable: f.is_retryable(),
        source: None,
    }
}

fn join_error(op: &'static str, e: tokio::task::JoinError) -> QueueError {
    QueueError::Backend {
        op,
        message: format!("blocking task failed: {e}"),
        retryable: false,
        source: Some(Box::new(e)),
    }
}

fn connect(path: &Path, options: &SqliteOptions) -> Result<Connection, QueueError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).op("open")?;
    // Our busy handler, not SQLite's timeout: it naps in microseconds, not milliseconds
    // (`switchboard_core::busy`). The budget is the thread's; set it for the pragmas below.
    switchboard_core::busy::set_budget(options.busy_timeout);
    conn.busy_handler(Some(switchboard_core::busy::handler))
        .op("open")?;
    let sync = if options.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.pragma_update(None, "synchronous", sync).op("open")?;
    conn.pragma_update(None, "temp_store", "MEMORY")
        .op("open")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn create_schema(conn: &Connection) -> Result<(), QueueError> {
    // IMMEDIATE: processes opening the same new file at once serialise here instead of
    // racing on CREATE TABLE.
    conn.execute_batch("BEGIN IMMEDIATE").op("create schema")?;
    let result = (|| {
        conn.execute_batch(SCHEMA).op("create schema")?;
        let found: Option<String> = rusqlite::OptionalExtension::optional(conn.query_row(
            "SELECT value FROM sbq_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        ))
        .op("create schema")?;
        match found {
            None => {
                conn.execute(
                    "INSERT INTO sbq_meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )
                .op("create schema")?;
            }
            Some(v) => {
                let v: i64 = v.parse().map_err(|_| {
                    QueueError::corrupt("open", format!("bad sbq schema_version {v:?}"))
                })?;
                if v > SCHEMA_VERSION {
                    return Err(QueueError::corrupt(
                        "open",
                        format!(
                            "the queue tables are schema version {v}, this build knows up to {SCHEMA_VERSION}: upgrade switchboard"
                        ),
                    ));
                }
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").op("create schema"),
        Err(e) => {
            // Best effort: the error that matters is `e`.
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
