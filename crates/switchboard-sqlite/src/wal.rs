//! Switching a file to WAL when several connections open it for the first time at once.
//!
//! `PRAGMA journal_mode=WAL` on a file still in rollback mode needs an exclusive lock. When two
//! connections try it together, each holds a shared lock and wants the exclusive one, and
//! SQLite answers one of them `SQLITE_BUSY` at once, without calling the busy handler (waiting
//! could deadlock: <https://sqlite.org/c3ref/busy_handler.html>, "the presence of a busy
//! handler does not guarantee that it will be invoked when there is lock contention"). The
//! statement then ends and drops its shared lock, so trying again succeeds once the other
//! switch is done. Processes that start together on a new file (the ingress and the workers
//! of the embedded deployment) hit this: one in ten runs of eight concurrent opens failed with
//! "database is locked".

use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};

/// How long to wait between two tries.
const NAP: Duration = Duration::from_millis(1);

/// Puts the file of `conn` in WAL mode (a no-op when it already is), trying again for up to
/// `budget` while another connection holds the lock the switch needs. Returns the journal mode
/// SQLite reports afterwards (not `wal` on a file system that cannot share memory maps).
pub fn enable_wal(conn: &Connection, budget: Duration) -> rusqlite::Result<String> {
    let started = Instant::now();
    loop {
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::DatabaseBusy && started.elapsed() < budget =>
            {
                std::thread::sleep(NAP);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    #[test]
    fn connections_switching_a_new_file_at_once_all_get_wal() {
        // Twenty new files, eight connections each, released together.
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("race-{round}.db"));
            let start = Arc::new(Barrier::new(8));
            let opens: Vec<_> = (0..8)
                .map(|_| {
                    let path = path.clone();
                    let start = Arc::clone(&start);
                    std::thread::spawn(move || {
                        let conn = Connection::open(&path).unwrap();
                        conn.busy_handler(Some(switchboard_core::busy::handler))
                            .unwrap();
                        start.wait();
                        enable_wal(&conn, Duration::from_secs(5))
                    })
                })
                .collect();
            for open in opens {
                let mode = open.join().unwrap().expect("switched to WAL");
                assert!(mode.eq_ignore_ascii_case("wal"), "{mode}");
            }
        }
    }
}
