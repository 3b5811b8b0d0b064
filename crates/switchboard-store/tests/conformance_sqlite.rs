//! The store conformance suite against the embedded SQLite store: every check in
//! `switchboard_store::conformance`, each in its own file, including the two-process
//! contention test (this binary re-runs itself as the child processes).

switchboard_store::conformance_tests!(switchboard_store::conformance::SqliteFactory::temporary());
