//! Reads on the caller's thread, when they cannot wait.
//!
//! A read sent to Tokio's blocking pool costs two thread hand-offs (wake a pool thread, wake
//! the task again) for a query that itself takes microseconds: with several processes on two
//! cores, those hand-offs cost more than the reads. Under WAL a reader waits for a lock only
//! while it takes its snapshot (another connection is recovering the WAL index, or is
//! restarting the WAL at that instant); once it holds one, it never waits. So a read can run
//! on a runtime thread if it takes its snapshot without waiting: [`snapshot_now`] tries that
//! with no busy budget, and a caller that gets `None` sends the read to the blocking pool, as
//! before, where it may wait its full budget without stalling the runtime.

use std::time::Duration;

use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

/// Begins a deferred transaction on `conn` and takes its read snapshot at once. `None`: taking
/// it would have meant waiting for a lock (nothing was read; the transaction is rolled back).
/// Afterwards the thread's busy budget is `budget` (`switchboard_core::busy`), for the
/// statements the caller runs next; they do not wait, as they read the snapshot taken here.
pub fn snapshot_now(
    conn: &Connection,
    budget: Duration,
) -> rusqlite::Result<Option<Transaction<'_>>> {
    switchboard_core::busy::set_budget(Duration::ZERO);
    let probe = Transaction::new_unchecked(conn, TransactionBehavior::Deferred).and_then(|tx| {
        // Reading the header starts the read transaction: the snapshot is taken here.
        conn.prepare_cached("PRAGMA schema_version")?
            .query_row([], |r| r.get::<_, i64>(0))?;
        Ok(tx)
    });
    switchboard_core::busy::set_budget(budget);
    match probe {
        Ok(tx) => Ok(Some(tx)),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
