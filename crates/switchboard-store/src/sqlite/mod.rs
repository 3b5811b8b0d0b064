//! The embedded store: the [`Store`] port on one SQLite file.
//!
//! Data flow: each async port method validates its input, then runs one synchronous function
//! from `ops`. Writes go to the file's group writer (`switchboard_sqlite`, shared with the
//! queue when it uses the same file and settings): one connection on a thread of its own
//! runs the writes queued meanwhile in one `BEGIN IMMEDIATE` transaction, each in its own
//! savepoint, and answers once it committed. `BEGIN IMMEDIATE` takes SQLite's file write lock
//! up front, so each operation is atomic against every other connection, in this process or
//! another (a second worker, the ingress, the simulator). Reads run on Tokio's blocking pool
//! on a small pool of reader connections; in WAL mode they see the last committed state and
//! never wait for the writer.
//!
//! In-process writers queue (in FIFO order) on the group writer rather than on SQLite's busy
//! handler; other processes wait on the busy handler up to
//! [`SqliteOptions::busy_timeout`], after which the operation fails with
//! [`StoreError::Unavailable`] (retryable).

mod failure;
mod ops;
mod schema;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;
use serde_json::Value;
use switchboard_sqlite::{Failure, GroupWriter, NowMs, WriterKey};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::clock::{to_unix_ms, Clock, SystemClock};
use crate::error::StoreError;
use crate::model::{
    check_doc_text, check_json_text, duration_ms, encode_doc, validate_candidates, validate_key,
    validate_member, AgentProfile, AgentRecord, AgentStatus, ArchivedCall, CasOutcome, JsonText,
    PresenceSnapshot, Reservation, SweepReport, TeamsUserId, Versioned,
};
use crate::port::Store;

use failure::sql_error;

pub use schema::{Durability, SCHEMA_VERSION};

/// Tuning for [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How long a write waits for another process's lock before failing as retryable.
    pub busy_timeout: Duration,
    /// Reader connections kept open for concurrent reads.
    pub max_readers: usize,
    /// Commit durability.
    pub durability: Durability,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            max_readers: 4,
            durability: Durability::Normal,
        }
    }
}

/// The embedded store on one SQLite file. Cheap to clone (clones share connections); open one
/// per process and share it.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    options: SqliteOptions,
    clock: Arc<dyn Clock>,
    /// Every write of this handle, in FIFO order, batched into shared transactions
    /// (`switchboard_sqlite`); shared with the queue and other handles on the same file.
    writer: Arc<GroupWriter>,
    now: NowMs,
    readers: Mutex<Vec<Connection>>,
    reader_permits: Arc<Semaphore>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

fn writer_failure(op: &'static str, f: Failure<'_>) -> StoreError {
    let source = f.to_string().into();
    if f.is_retryable() {
        StoreError::Unavailable { op, source }
    } else {
        StoreError::Backend { op, source }
    }
}

fn join_error(op: &'static str, e: tokio::task::JoinError) -> StoreError {
    // A panic inside an operation is a bug; the transaction was rolled back on unwind.
    StoreError::Backend {
        op,
        source: format!("store task failed: {e}").into(),
    }
}

impl SqliteStore {
    /// `put_call_if` and `put_call_text_if`: the key and the TTL checked, then the document
    /// `doc` gives as JSON text, written if the version is still `expected`.
    async fn put_call_doc(
        &self,
        call_key: &str,
        expected: Option<u64>,
        ttl: Duration,
        doc: impl FnOnce(&'static str) -> Result<String, StoreError>,
    ) -> Result<CasOutcome, StoreError> {
        let op = "put_call_if";
        validate_key(op, "call key", call_key)?;
        let ttl_ms = duration_ms(op, "ttl", ttl, false)?;
        let doc = doc(op)?;
        let call_key = call_key.to_owned();
        self.write(op, move |conn, now| {
            ops::put_call_if(conn, now, &call_key, expected, &doc, ttl_ms)
        })
        .await
    }

    /// Opens (creating if needed) the store in `path` with the OS clock and default options.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, Arc::new(SystemClock), SqliteOptions::default()).await
    }

    /// Opens the store reading time from `clock`.
    pub async fn open_with(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(path, clock, options))
            .await
            .map_err(|e| join_error("open", e))?
    }

    /// [`SqliteStore::open_with`] for synchronous callers (not on an async runtime thread).
    pub fn open_blocking(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        if path.as_os_str().is_empty() || path == Path::new(":memory:") {
            return Err(StoreError::invalid(
                "open",
                "the store needs a file path (in-memory databases are private to one connection)",
            ));
        }
        let mut writer = schema::connect(&path, options.busy_timeout, options.durability)?;
        schema::migrate(&mut writer)?;
        let max_readers = options.max_readers.max(1);
        let canonical = std::fs::canonicalize(&path).map_err(|e| StoreError::Unavailable {
            op: "open",
            source: Box::new(e),
        })?;
        let key = WriterKey::new(
            canonical,
            matches!(options.durability, Durability::Full),
            options.busy_timeout,
        );
        // The queue, when it shares the file, writes on the same connection.
        let writer = switchboard_sqlite::shared(
            key,
            "sqlite-writer",
            |_| Ok(writer),
            |e| StoreError::Backend {
                op: "open",
                source: Box::new(e),
            },
        )?;
        let now: NowMs = {
            let clock = Arc::clone(&clock);
            Arc::new(move || clock.now_ms())
        };
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                clock,
                writer,
                now,
                readers: Mutex::new(Vec::with_capacity(max_readers)),
                reader_permits: Arc::new(Semaphore::new(max_readers)),
                options,
            }),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The clock the store reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Transactions and writes of the writer this store writes through (shared with every
    /// handle of the same file and settings in this process, the queue's included).
    pub fn writer_stats(&self) -> switchboard_sqlite::WriterStats {
        self.inner.writer.stats()
    }

    /// Runs `f` as one all-or-nothing write (a savepoint of the group writer's next
    /// transaction), kept if it returns `Ok` and answered once committed. `now` is read after
    /// the lock is held, so instants follow commit order.
    async fn write<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner
            .writer
            .write(op, writer_failure, &self.inner.now, f)
            .await
    }

    /// Runs read-only `f` on a reader connection, in one snapshot: on this thread when a
    /// pooled connection is free and the snapshot can be taken without waiting for a lock
    /// ([`switchboard_sqlite::snapshot_now`]; a read takes microseconds, less than the two
    /// thread hand-offs of the blocking pool), else on Tokio's blocking pool, where waiting
    /// for the lock stalls no task.
    async fn read<T, F>(&self, op: &'static str, mut f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let free = Arc::clone(&self.inner.reader_permits)
            .try_acquire_owned()
            .ok();
        let pooled = free.as_ref().and_then(|_| self.inner.pop_reader());
        if let Some(conn) = pooled {
            let ran = switchboard_sqlite::read_now(
                &conn,
                self.inner.options.busy_timeout,
                || self.inner.clock.now_ms(),
                sql_error(op),
                f,
            );
            self.inner.push_reader(conn);
            match ran {
                Ok(done) => return done,
                Err(untouched) => f = untouched,
            }
        }
        drop(free);
        let permit = Arc::clone(&self.inner.reader_permits)
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Backend {
                op,
                source: Box::new(e),
            })?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match inner.pop_reader() {
                Some(conn) => conn,
                None => schema::connect(
                    &inner.path,
                    inner.options.busy_timeout,
                    inner.options.durability,
                )?,
            };
            switchboard_core::busy::set_budget(inner.options.busy_timeout);
            // One snapshot for all of `f`, as on the calling thread.
            let out = conn
                .unchecked_transaction()
                .map_err(sql_error(op))
                .and_then(|tx| {
                    let now = inner.clock.now_ms();
                    let value = f(&tx, now)?;
                    tx.commit().map_err(sql_error(op))?;
                    Ok(value)
                });
            inner.push_reader(conn);
            out
        })
        .await
        .map_err(|e| join_error(op, e))?
    }
}

impl Inner {
    fn pop_reader(&self) -> Option<Connection> {
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn push_reader(&self, conn: Connection) {
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }
}

fn owned_candidates(
    op: &'static str,
    candidates: &[TeamsUserId],
) -> Result<Vec<String>, StoreError> {
    validate_candidates(op, candidates)?;
    Ok(candidates.iter().map(|c| c.as_str().to_owned()).collect())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read("ping", |conn, _| {
            conn.query_row(
                "SELECT value FROM store_meta WHERE name = 'schema_version'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(sql_error("ping"))
            .map(|_| ())
        })
        .await
    }

    async fn upsert_agent(&self, agent: &AgentProfile) -> Result<(), StoreError> {
        agent.validate("upsert_agent")?;
        let agent = agent.clone();
        self.write("upsert_agent", move |conn, now| {
            ops::upsert_agent(conn, now, &agent)
        })
        .await
    }

    async fn set_agent_status(
        &self,
        agent: &TeamsUserId,
        status: AgentStatus,
    ) -> Result<bool, StoreError> {
        let op = "set_agent_status";
        validate_key(op, "agent id", agent.as_str())?;
        let agent = agent.as_str().to_owned();
        self.write(op, move |conn, now| {
            ops::set_agent_status(conn, now, &agent, status)
        })
        .await
    }

    async fn set_agent_presence(
        &self,
        agent: &TeamsUserId,
        presence: Option<&PresenceSnapshot>,
    ) -> Result<bool, StoreError> {
        let op = "set_agent_presence";
        validate_key(op, "agent id", agent.as_str())?;
        let presence = presence
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::invalid(op, format!("presence does not serialize: {e}")))?;
        let agent = agent.as_str().to_owned();
        self.write(op, move |conn, now| {
            ops::set_agent_presence(conn, now, &agent, presence.as_deref())
        })
        .await
    }

    async fn remove_agent(&self, agent: &TeamsUserId) -> Result<bool, StoreError> {
        let op = "remove_agent";
        validate_key(op, "agent id", agent.as_str())?;
        let agent = agent.as_str().to_owned();
        self.write(op, move |conn, _| ops::remove_agent(conn, &agent))
            .await
    }

    async fn get_agent(&self, agent: &TeamsUserId) -> Result<Option<AgentRecord>, StoreError> {
        let op = "get_agent";
        validate_key(op, "agent id", agent.as_str())?;
        let agent = agent.as_str().to_owned();
        self.read(op, move |conn, now| ops::get_agent(conn, now, &agent))
            .await
    }

    async fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        self.read("list_agents", ops::list_agents).await
    }

    async fn list_reservable_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        self.read("list_reservable_agents", ops::list_reservable_agents)
            .await
    }

    async fn reserve(
        &self,
        agent: &TeamsUserId,
        call_key: &str,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError> {
        let op = "reserve";
        validate_key(op, "agent id", agent.as_str())?;
        validate_key(op, "call key", call_key)?;
        let ttl_ms = duration_ms(op, "ttl", ttl, false)?;
        let agent = agent.as_str().to_owned();
        let call_key = call_key.to_owned();
        self.write(op, move |conn, now| {
            ops::reserve_first_of(conn, op, now, &[agent.as_str()], &call_key, ttl_ms)
        })
        .await
    }

    async fn reserve_first_of(
        &self,
        candidates: &[TeamsUserId],
        call_key: &str,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError> {
        let op = "reserve_first_of";
        let candidates = owned_candidates(op, candidates)?;
        validate_key(op, "call key", call_key)?;
        let ttl_ms = duration_ms(op, "ttl", ttl, false)?;
        if candidates.is_empty() {
            return Ok(None);
        }
        let call_key = call_key.to_owned();
        self.write(op, move |conn, now| {
            let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
            ops::reserve_first_of(conn, op, now, &refs, &call_key, ttl_ms)
        })
        .await
    }

    async fn renew(
        &self,
        reservation: &Reservation,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError> {
        let ttl_ms = duration_ms("renew", "ttl", ttl, false)?;
        let r = reservation.clone();
        self.write("renew", move |conn, now| {
            ops::renew(conn, now, &r, ttl_ms, false)
        })
        .await
    }

    async fn confirm(
        &self,
        reservation: &Reservation,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError> {
        let ttl_ms = duration_ms("confirm", "ttl", ttl, false)?;
        let r = reservation.clone();
        self.write("confirm", move |conn, now| {
            ops::renew(conn, now, &r, ttl_ms, true)
        })
        .await
    }

    async fn release(
        &self,
        reservation: &Reservation,
        wrap_up: Duration,
    ) -> Result<bool, StoreError> {
        let wrap_ms = duration_ms("release", "wrap-up", wrap_up, true)?;
        let r = reservation.clone();
        self.write("release", move |conn, now| {
            ops::release(conn, now, &r, wrap_ms)
        })
        .await
    }

    async fn reservations_for_call(&self, call_key: &str) -> Result<Vec<Reservation>, StoreError> {
        let op = "reservations_for_call";
        validate_key(op, "call key", call_key)?;
        let call_key = call_key.to_owned();
        self.read(op, move |conn, now| {
            ops::reservations_for_call(conn, now, &call_key)
        })
        .await
    }

    async fn reservations_for_agent(
        &self,
        agent: &TeamsUserId,
    ) -> Result<Vec<Reservation>, StoreError> {
        let op = "reservations_for_agent";
        validate_key(op, "agent id", agent.as_str())?;
        let agent = agent.as_str().to_owned();
        self.read(op, move |conn, now| {
            ops::reservations_for_agent(conn, now, &agent)
        })
        .await
    }

    async fn sweep_expired(&self) -> Result<SweepReport, StoreError> {
        let report = self.write("sweep_expired", ops::sweep_expired).await?;
        if report.total() > 0 {
            tracing::debug!(?report, "store sweep removed expired entries");
        }
        Ok(report)
    }

    async fn get_call(&self, call_key: &str) -> Result<Option<Versioned<Value>>, StoreError> {
        let op = "get_call";
        validate_key(op, "call key", call_key)?;
        let call_key = call_key.to_owned();
        self.read(op, move |conn, now| ops::get_call(conn, now, &call_key))
            .await
    }

    async fn put_call_if(
        &self,
        call_key: &str,
        expected: Option<u64>,
        doc: &Value,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError> {
        self.put_call_doc(call_key, expected, ttl, |op| encode_doc(op, doc))
            .await
    }

    async fn get_call_text(&self, call_key: &str) -> Result<Option<Versioned<String>>, StoreError> {
        let op = "get_call";
        validate_key(op, "call key", call_key)?;
        let call_key = call_key.to_owned();
        self.read(op, move |conn, now| {
            ops::get_call_text(conn, now, &call_key)
        })
        .await
    }

    async fn put_call_text_if(
        &self,
        call_key: &str,
        expected: Option<u64>,
        doc: String,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError> {
        self.put_call_doc(call_key, expected, ttl, |op| {
            check_doc_text(op, &doc)?;
            Ok(doc)
        })
        .await
    }

    async fn put_call_json_if(
        &self,
        call_key: &str,
        expected: Option<u64>,
        doc: JsonText,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError> {
        self.put_call_doc(call_key, expected, ttl, |op| check_json_text(op, doc))
            .await
    }

    async fn delete_call(&self, call_key: &str) -> Result<bool, StoreError> {
        let op = "delete_call";
        validate_key(op, "call key", call_key)?;
        let call_key = call_key.to_owned();
        self.write(op, move |conn, now| ops::delete_call(conn, now, &call_key))
            .await
    }

    async fn archive_call(
        &self,
        call_key: &str,
        doc: &Value,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let op = "archive_call";
        validate_key(op, "call key", call_key)?;
        let ttl_ms = duration_ms(op, "ttl", ttl, false)?;
        let doc = encode_doc(op, doc)?;
        let call_key = call_key.to_owned();
        self.write(op, move |conn, now| {
            ops::archive_call(conn, now, &call_key, &doc, ttl_ms)
        })
        .await
    }

    async fn get_archived_call(&self, call_key: &str) -> Result<Option<ArchivedCall>, StoreError> {
        let op = "get_archived_call";
        validate_key(op, "call key", call_key)?;
        let call_key = call_key.to_owned();
        self.read(op, move |conn, now| {
            ops::get_archived_call(conn, now, &call_key)
        })
        .await
    }

    async fn list_archived_calls(&self, limit: usize) -> Result<Vec<ArchivedCall>, StoreError> {
        self.read("list_archived_calls", move |conn, now| {
            ops::list_archived_calls(conn, now, limit)
        })
        .await
    }

    async fn list_archived_since(
        &self,
        since: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ArchivedCall>, StoreError> {
        let since = to_unix_ms(since);
        self.read("list_archived_since", move |conn, now| {
            ops::list_archived_since(conn, now, since, limit)
        })
        .await
    }

    async fn list_calls(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, Versioned<Value>)>, StoreError> {
        self.read("list_calls", move |conn, now| {
            ops::list_calls(conn, now, limit)
        })
        .await
    }

    async fn mark_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let op = "mark_once";
        validate_key(op, "marker key", key)?;
        let ttl_ms = duration_ms(op, "ttl", ttl, false)?;
        let key = key.to_owned();
        self.write(op, move |conn, now| ops::mark_once(conn, now, &key, ttl_ms))
            .await
    }

    async fn check_mark(&self, key: &str) -> Result<bool, StoreError> {
        let op = "check_mark";
        validate_key(op, "marker key", key)?;
        let key = key.to_owned();
        self.read(op, move |conn, now| ops::check_mark(conn, now, &key))
            .await
    }

    async fn clear_mark(&self, key: &str) -> Result<bool, StoreError> {
        let op = "clear_mark";
        validate_key(op, "marker key", key)?;
        let key = key.to_owned();
        self.write(op, move |conn, now| ops::clear_mark(conn, now, &key))
            .await
    }

    async fn put_member(
        &self,
        set: &str,
        member: &str,
        value: &Value,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let op = "put_member";
        validate_member(op, set, member)?;
        let ttl_ms = duration_ms(op, "ttl", ttl, false)?;
        let json = encode_doc(op, value)?;
        let (set, member) = (set.to_owned(), member.to_owned());
        self.write(op, move |conn, now| {
            ops::put_member(conn, now, &set, &member, &json, ttl_ms)
        })
        .await
    }

    async fn remove_member(&self, set: &str, member: &str) -> Result<bool, StoreError> {
        let op = "remove_member";
        validate_member(op, set, member)?;
        let (set, member) = (set.to_owned(), member.to_owned());
        self.write(op, move |conn, now| {
            ops::remove_member(conn, now, &set, &member)
        })
        .await
    }

    async fn list_members(&self, set: &str) -> Result<Vec<(String, Value)>, StoreError> {
        let op = "list_members";
        validate_key(op, "set key", set)?;
        let set = set.to_owned();
        self.read(op, move |conn, now| ops::list_members(conn, now, &set))
            .await
    }
}
