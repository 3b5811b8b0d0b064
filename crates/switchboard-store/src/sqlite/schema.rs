//! Connection setup and the schema of the embedded store.
//!
//! Tables are prefixed `store_` because the store shares its file with the embedded queue by
//! default (see the worker's `store_sqlite_path`). Instants are Unix milliseconds (`INTEGER`),
//! and every table with a TTL has an `expires_at` column: a row with `expires_at <= now` is
//! treated as absent by every read and reclaimed by the next write that touches it.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::failure::sql_error;
use crate::error::StoreError;

/// How hard SQLite works to keep a commit across power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL`: a commit survives a crash of any process; after power loss the
    /// last few commits may roll back (never corruption). The usual choice with WAL.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is fsynced before it returns. Slower.
    Full,
}

/// Version of the schema below; stored in `store_meta`. A file written by a newer version is
/// refused rather than misread; an older one is migrated when opened (version 1 → 2: call
/// documents moved to a rowid table).
pub const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS store_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS store_agents (
    agent_id         TEXT PRIMARY KEY,
    display_name     TEXT,
    capacity         INTEGER NOT NULL CHECK (capacity > 0),
    status           TEXT NOT NULL,
    last_reserved_at INTEGER,
    last_released_at INTEGER,
    wrap_up_until    INTEGER,
    presence         TEXT,
    updated_at       INTEGER NOT NULL
) WITHOUT ROWID;

-- token comes from store_meta.seq, so tokens are never reused even after deletes.
CREATE TABLE IF NOT EXISTS store_reservations (
    token      INTEGER PRIMARY KEY,
    agent_id   TEXT NOT NULL,
    call_key   TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (agent_id, call_key)
);
CREATE INDEX IF NOT EXISTS store_reservations_call ON store_reservations (call_key);
-- Added without a version bump (older builds ignore it): counts an agent's live reservations
-- from the index alone. A routing decision counts them for every available agent
-- (`list_reservable_agents`); through the (agent_id, call_key) index each count also looked up
-- every reservation row for its expiry and state.
CREATE INDEX IF NOT EXISTS store_reservations_agent
    ON store_reservations (agent_id, expires_at, state);
CREATE INDEX IF NOT EXISTS store_reservations_expiry ON store_reservations (expires_at);

-- A rowid table, unlike the others: see MIGRATE_1_TO_2.
CREATE TABLE IF NOT EXISTS store_calls (
    call_key   TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    doc        TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS store_calls_expiry ON store_calls (expires_at);

CREATE TABLE IF NOT EXISTS store_call_archive (
    call_key    TEXT PRIMARY KEY,
    doc         TEXT NOT NULL,
    archived_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS store_call_archive_expiry ON store_call_archive (expires_at);
CREATE INDEX IF NOT EXISTS store_call_archive_recent ON store_call_archive (archived_at);

CREATE TABLE IF NOT EXISTS store_marks (
    key        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS store_marks_expiry ON store_marks (expires_at);

-- Added without a version bump: older builds ignore the table.
CREATE TABLE IF NOT EXISTS store_members (
    set_key    TEXT NOT NULL,
    member     TEXT NOT NULL,
    value      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (set_key, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS store_members_expiry ON store_members (expires_at);

INSERT OR IGNORE INTO store_meta (name, value) VALUES ('seq', 0);
";

/// Version 2: `store_calls` becomes a rowid table. A call document is 1.5–4.3 KB and is
/// rewritten at every step of a call. A `WITHOUT ROWID` table keeps at most ~1 KB of a row on
/// its leaf page (with 4 KiB pages) and the rest on an overflow page, so each save freed one
/// overflow page and took another (the leaf, the overflow page, the freelist trunk and the
/// file header all went to the WAL). A rowid table keeps rows up to ~4 KB on the leaf. SQLite's
/// guidance agrees: `WITHOUT ROWID` suits rows under 1/20 of a page
/// (<https://sqlite.org/withoutrowid.html>, section 4). Measured in `switchboard bench`
/// (issue 18): CPU per call −5% at 60 calls in flight, −10% at 300.
const MIGRATE_1_TO_2: &str = "
CREATE TABLE store_calls_v2 (
    call_key   TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    doc        TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
INSERT INTO store_calls_v2 (call_key, version, doc, updated_at, expires_at)
    SELECT call_key, version, doc, updated_at, expires_at FROM store_calls;
DROP TABLE store_calls;
ALTER TABLE store_calls_v2 RENAME TO store_calls;
CREATE INDEX store_calls_expiry ON store_calls (expires_at);
UPDATE store_meta SET value = 2 WHERE name = 'schema_version';
";

/// Opens one connection to `path` with the pragmas every connection needs.
pub fn connect(
    path: &Path,
    busy_timeout: Duration,
    durability: Durability,
) -> Result<Connection, StoreError> {
    let op = "open";
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(sql_error(op))?;
    // Waits for other connections' write locks (other processes, or the queue in the same
    // file) instead of failing at once; past it the error is `Unavailable` (retryable).
    // Our busy handler, not SQLite's timeout: it naps in microseconds, not milliseconds
    // (`switchboard_core::busy`). The budget is the thread's; set it for the pragmas below.
    switchboard_core::busy::set_budget(busy_timeout);
    conn.busy_handler(Some(switchboard_core::busy::handler))
        .map_err(sql_error(op))?;
    // WAL: readers never block the writer and vice versa, and it is safe across processes on
    // one host. The mode is persistent in the file, so this is a no-op after the first open;
    // a first open racing another one tries again (`enable_wal`).
    let mode = switchboard_sqlite::enable_wal(&conn, busy_timeout).map_err(sql_error(op))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::invalid(
            op,
            format!(
                "{} cannot use WAL journaling (got {mode:?}); the store needs a file on a local disk",
                path.display()
            ),
        ));
    }
    let sync = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(sql_error(op))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Creates or checks the schema, in one immediate transaction so concurrent first opens from
/// several processes do not race.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let op = "open";
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_error(op))?;
    tx.execute_batch(SCHEMA).map_err(sql_error(op))?;
    let stored: Option<i64> = tx
        .query_row(
            "SELECT value FROM store_meta WHERE name = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(sql_error(op))?;
    match stored {
        None => {
            tx.execute(
                "INSERT INTO store_meta (name, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION],
            )
            .map_err(sql_error(op))?;
        }
        Some(v) if v == SCHEMA_VERSION => {}
        Some(1) => {
            tx.execute_batch(MIGRATE_1_TO_2).map_err(sql_error(op))?;
            tracing::info!("store schema migrated from version 1 to 2 (store_calls rebuilt)");
        }
        Some(v) => {
            return Err(StoreError::corrupt(
                op,
                format!(
                    "store schema version {v} is not {SCHEMA_VERSION}, the version this build \
                     understands; use a matching switchboard build or a new file"
                ),
            ))
        }
    }
    tx.commit().map_err(sql_error(op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservable_agents_count_reservations_from_the_covering_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(
            &dir.path().join("plan.db"),
            Duration::from_secs(1),
            Durability::Normal,
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let mut st = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                super::super::ops::RESERVABLE_AGENT_LIST
            ))
            .unwrap();
        let plan: Vec<String> = st
            .query_map([0_i64], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let counts: Vec<&String> = plan
            .iter()
            .filter(|p| p.contains("store_reservations"))
            .collect();
        assert_eq!(counts.len(), 3, "{plan:#?}");
        assert!(
            counts
                .iter()
                .all(|p| p.contains("COVERING INDEX store_reservations_agent ")),
            "{plan:#?}"
        );
    }
}
