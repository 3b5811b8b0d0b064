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

/// Runs read-only `f` on `conn` now, in one snapshot taken by [`snapshot_now`] and committed
/// after it, with `now` read once the snapshot is held; or gives `f` back untouched (`Err`) if
/// taking the snapshot would have meant waiting, for the caller to run it where waiting stalls
/// nothing. SQLite failures of the snapshot or the commit go through `map`.
pub fn read_now<T, E, F>(
    conn: &Connection,
    budget: Duration,
    now: impl FnOnce() -> i64,
    map: impl Fn(rusqlite::Error) -> E,
    f: F,
) -> Result<Result<T, E>, F>
where
    F: FnOnce(&Connection, i64) -> Result<T, E>,
{
    let tx = match snapshot_now(conn, budget) {
        Ok(Some(tx)) => tx,
        Ok(None) => return Err(f),
        Err(e) => return Ok(Err(map(e))),
    };
    let now = now();
    Ok(f(&tx, now).and_then(|value| {
        tx.commit().map_err(map)?;
        Ok(value)
    }))
}
