//! Behaviour specific to the embedded SQLite store: durability across restarts, sharing the
//! file with the queue, lock contention with other processes, schema versions, bad rows.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::json;
use switchboard_store::{
    AgentProfile, Clock, ManualClock, SqliteOptions, SqliteStore, Store, StoreError, TeamsUserId,
};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn open(path: &std::path::Path, clock: &ManualClock) -> SqliteStore {
    SqliteStore::open_with(path, Arc::new(clock.clone()), SqliteOptions::default())
        .await
        .expect("open store")
}

#[tokio::test]
async fn state_survives_a_restart_and_tokens_are_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    let clock = ManualClock::at_fixed_instant();
    let agent = TeamsUserId::from("oid-a");

    let store = open(&path, &clock).await;
    store
        .upsert_agent(
            &AgentProfile::new("oid-a")
                .with_capacity(2)
                .with_display_name("Ann"),
        )
        .await
        .unwrap();
    let held = store
        .reserve(&agent, "call-1", secs(60))
        .await
        .unwrap()
        .unwrap();
    let released = store
        .reserve(&agent, "call-2", secs(60))
        .await
        .unwrap()
        .unwrap();
    store.release(&released, secs(5)).await.unwrap();
    let v = store
        .put_call_if("call-1", None, &json!({"agent": "oid-a"}), secs(600))
        .await
        .unwrap()
        .written()
        .unwrap();
    assert!(store.mark_once("evt-1", secs(600)).await.unwrap());
    drop(store);

    let store = open(&path, &clock).await;
    let rec = store.get_agent(&agent).await.unwrap().unwrap();
    assert_eq!(rec.display_name.as_deref(), Some("Ann"));
    assert_eq!((rec.capacity, rec.reserved), (2, 1));
    assert_eq!(rec.last_released_at, Some(clock.now()));
    assert_eq!(
        store.reservations_for_call("call-1").await.unwrap(),
        vec![held.clone()]
    );
    assert_eq!(store.get_call("call-1").await.unwrap().unwrap().version, v);
    assert!(!store.mark_once("evt-1", secs(600)).await.unwrap());
    // The restarted store keeps the holder's reservation usable...
    assert!(store.renew(&held, secs(60)).await.unwrap().is_some());
    // ...and continues the sequence: no token or version from before the restart recurs.
    clock.advance(secs(5));
    let next = store
        .reserve(&agent, "call-3", secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(next.token, held.token);
    assert_ne!(next.token, released.token);
    let v2 = store
        .put_call_if("call-1", Some(v), &json!({}), secs(600))
        .await
        .unwrap()
        .written()
        .unwrap();
    assert!(v2 > v, "sequence continues after restart");
}

#[tokio::test]
async fn shares_a_file_with_other_tables_and_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    {
        // Stand-in for the queue's tables in the same file.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE queue_messages (id TEXT PRIMARY KEY, body BLOB);
             INSERT INTO queue_messages VALUES ('m1', x'00');",
        )
        .unwrap();
    }
    let clock = ManualClock::at_fixed_instant();
    let store = open(&path, &clock).await;
    store
        .upsert_agent(&AgentProfile::new("oid-a"))
        .await
        .unwrap();
    store.mark_once("evt", secs(60)).await.unwrap();

    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM queue_messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "the store must not touch other tables");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in &tables {
        assert!(
            t == "queue_messages" || t.starts_with("store_"),
            "unprefixed store table {t}"
        );
    }
    assert!(format!("{store:?}").contains("shared.db"));
}

#[tokio::test]
async fn a_writer_holding_the_lock_past_the_busy_timeout_is_a_retryable_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let clock = ManualClock::at_fixed_instant();
    let options = SqliteOptions {
        busy_timeout: Duration::from_millis(50),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(&path, Arc::new(clock.clone()), options)
        .await
        .unwrap();
    store
        .upsert_agent(&AgentProfile::new("oid-a"))
        .await
        .unwrap();

    // Another process (here: another connection) holds the write lock.
    let mut other = Connection::open(&path).unwrap();
    let tx = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let err = store
        .reserve(&TeamsUserId::from("oid-a"), "call-1", secs(30))
        .await
        .expect_err("write must fail while another connection holds the lock");
    assert!(
        matches!(err, StoreError::Unavailable { op: "reserve", .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    // Reads are not blocked by a writer in WAL mode.
    assert_eq!(store.list_agents().await.unwrap().len(), 1);
    drop(tx);

    // Nothing was half-done: the retry succeeds and takes exactly one slot.
    let r = store
        .reserve(&TeamsUserId::from("oid-a"), "call-1", secs(30))
        .await
        .unwrap();
    assert!(r.is_some());
    assert_eq!(
        store
            .get_agent(&TeamsUserId::from("oid-a"))
            .await
            .unwrap()
            .unwrap()
            .reserved,
        1
    );
}

#[tokio::test]
async fn a_version_1_file_is_migrated_and_its_calls_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    // The tables of version 1 that matter here, as that version created them.
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE store_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE store_calls (
             call_key   TEXT PRIMARY KEY,
             version    INTEGER NOT NULL,
             doc        TEXT NOT NULL,
             updated_at INTEGER NOT NULL,
             expires_at INTEGER NOT NULL
         ) WITHOUT ROWID;
         CREATE INDEX store_calls_expiry ON store_calls (expires_at);
         INSERT INTO store_meta (name, value) VALUES ('seq', 7), ('schema_version', 1);
         INSERT INTO store_calls VALUES ('call-1', 7, '{\"phase\":\"talking\"}', 0, 32503680000000);",
    )
    .unwrap();
    drop(conn);

    let clock = ManualClock::at_fixed_instant();
    let store = open(&path, &clock).await;
    let got = store.get_call("call-1").await.unwrap().expect("kept");
    assert_eq!(got.version, 7);
    assert_eq!(got.value, json!({"phase": "talking"}));
    // Compare-and-set goes on from the stored version, and versions keep growing.
    let written = store
        .put_call_if("call-1", Some(7), &json!({"phase": "ended"}), secs(60))
        .await
        .unwrap();
    assert!(
        matches!(written, switchboard_store::CasOutcome::Written { version } if version > 7),
        "{written:?}"
    );

    let conn = Connection::open(&path).unwrap();
    let (version, sql): (i64, String) = conn
        .query_row(
            "SELECT (SELECT value FROM store_meta WHERE name = 'schema_version'),
                    (SELECT sql FROM sqlite_master WHERE name = 'store_calls')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(version, switchboard_store::sqlite::SCHEMA_VERSION);
    assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
    let index: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'store_calls_expiry'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(index, 1);
    // Opening it again changes nothing.
    drop(store);
    let store = open(&path, &clock).await;
    assert_eq!(
        store.get_call("call-1").await.unwrap().unwrap().value,
        json!({"phase": "ended"})
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    let clock = ManualClock::at_fixed_instant();
    drop(open(&path, &clock).await);
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE store_meta SET value = 99 WHERE name = 'schema_version'",
            [],
        )
        .unwrap();
    let err = SqliteStore::open_with(&path, Arc::new(clock), SqliteOptions::default())
        .await
        .expect_err("newer schema must be refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[tokio::test]
async fn in_memory_and_unopenable_paths_are_clear_errors() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_fixed_instant());
    let err = SqliteStore::open_with(":memory:", Arc::clone(&clock), SqliteOptions::default())
        .await
        .expect_err("in-memory store would not be shared");
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let missing_parent = dir.path().join("no/such/dir/store.db");
    let err = SqliteStore::open_with(&missing_parent, clock, SqliteOptions::default())
        .await
        .expect_err("cannot create a file in a missing directory");
    assert!(
        matches!(err, StoreError::Unavailable { op: "open", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn rows_that_do_not_decode_are_corrupt_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.db");
    let clock = ManualClock::at_fixed_instant();
    let store = open(&path, &clock).await;
    store
        .upsert_agent(&AgentProfile::new("oid-a"))
        .await
        .unwrap();
    store
        .put_call_if("call-1", None, &json!({}), secs(60))
        .await
        .unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "UPDATE store_calls SET doc = '{not json' WHERE call_key = 'call-1';
         UPDATE store_agents SET status = 'on_holiday' WHERE agent_id = 'oid-a';",
    )
    .unwrap();
    let err = store.get_call("call-1").await.expect_err("bad JSON");
    assert!(
        matches!(err, StoreError::Corrupt { op: "get_call", .. }),
        "{err}"
    );
    let err = store.list_agents().await.expect_err("bad status");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("on_holiday"), "{err}");
    // Reserving an agent with an unknown status refuses it rather than guessing.
    assert!(store
        .reserve(&TeamsUserId::from("oid-a"), "call-2", secs(30))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_opens_of_one_file_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let clock = ManualClock::at_fixed_instant();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let path = path.clone();
        let clock: Arc<dyn Clock> = Arc::new(clock.clone());
        tasks.push(tokio::spawn(async move {
            SqliteStore::open_with(&path, clock, SqliteOptions::default()).await
        }));
    }
    let mut stores = Vec::new();
    for t in tasks {
        stores.push(t.await.unwrap().expect("concurrent open"));
    }
    stores[0]
        .upsert_agent(&AgentProfile::new("oid-a"))
        .await
        .unwrap();
    for s in &stores {
        assert_eq!(s.list_agents().await.unwrap().len(), 1);
    }
}

const CRASH_CHILD_ENV: &str = "SWITCHBOARD_STORE_CRASH_CHILD";

/// A worker process killed (SIGKILL) while holding a reservation and in the middle of a write
/// transaction: its lock is released at once, its uncommitted write vanishes, and its
/// reservation blocks the agent only until the TTL, after which it is reclaimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_releases_its_lock_at_once_and_its_reservation_at_the_ttl() {
    use tokio::io::AsyncBufReadExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let store = open(&path, &clock).await;
    let agent = TeamsUserId::from("oid-a");
    store
        .upsert_agent(&AgentProfile::new("oid-a"))
        .await
        .unwrap();

    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_ENV, &path)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // libtest may have printed "test crash_child ... " on the same line.
            if let Some((_, token)) = line.split_once("READY ") {
                return Some(token.trim().to_owned());
            }
        }
        None
    })
    .await
    .expect("child did not get ready within 60 s")
    .expect("child exited before it was ready");

    // The child holds the write lock now: a write here would wait for it.
    child.kill().await.unwrap();

    assert!(
        store.mark_once("after-crash", secs(60)).await.unwrap(),
        "the dead process's write lock must be gone"
    );
    assert!(
        !store.check_mark("uncommitted").await.unwrap(),
        "the dead process's uncommitted write must be rolled back"
    );
    let held = store.reservations_for_agent(&agent).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].token.as_str(), ready);
    assert!(
        store
            .reserve(&agent, "next-call", secs(30))
            .await
            .unwrap()
            .is_none(),
        "within its TTL the dead holder's reservation still counts"
    );
    clock.set(held[0].expires_at - Duration::from_millis(1));
    assert!(store
        .reserve(&agent, "next-call", secs(30))
        .await
        .unwrap()
        .is_none());
    clock.set(held[0].expires_at);
    let r = store.reserve(&agent, "next-call", secs(30)).await.unwrap();
    assert!(
        r.is_some(),
        "after its TTL the dead holder's reservation is reclaimed"
    );
    assert!(store
        .reservations_for_call("crash-call")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of the crash test; runs only when it sets the env"]
async fn crash_child() {
    let Some(path) = std::env::var_os(CRASH_CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(&path).await.unwrap();
    let r = store
        .reserve(&TeamsUserId::from("oid-a"), "crash-call", secs(30))
        .await
        .unwrap()
        .expect("agent free");
    // Die in the middle of a write transaction, holding the file's write lock.
    let mut conn = Connection::open(&path).unwrap();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tx.execute(
        "INSERT INTO store_marks (key, expires_at) VALUES ('uncommitted', 9999999999999)",
        [],
    )
    .unwrap();
    println!("\nREADY {}", r.token);
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}
