//! `switchboard replay` against a temp SQLite queue: every fixture lands where production
//! would put it, replaying twice is absorbed by duplicate detection, `--new-ids`/`--id-suffix`
//! send again,
//! `--dry-run` sends nothing, and bad configuration or paths fail with the documented codes.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use switchboard_events::{load_fixture_dir, Expect};
use switchboard_queue::sqlite::SqliteNamespace;
use switchboard_worker::backend::queue_configs;
use switchboard_worker::config::Config;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/messages")
}

fn replay(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("replay")
        .args(args)
        .env("SWITCHBOARD_SQLITE_PATH", db)
        .env_remove("SWITCHBOARD_CONFIG")
        .env_remove("SWITCHBOARD_QUEUE")
        .output()
        .expect("run switchboard replay")
}

/// Active messages on (incoming, events), read through the queue port.
async fn counts(db: &Path) -> (u64, u64) {
    let cfg = Config::default();
    let (plain, sessions) = queue_configs(&cfg);
    let ns = SqliteNamespace::open(db).await.unwrap();
    let incoming = ns
        .ensure_queue(&cfg.queue.incoming_queue, plain)
        .await
        .unwrap()
        .handle();
    let events = ns
        .ensure_queue(&cfg.queue.events_queue, sessions)
        .await
        .unwrap()
        .handle();
    let i = incoming.receiver.runtime_properties().await.unwrap();
    let e = events.receiver.runtime_properties().await.unwrap();
    (i.active_message_count, e.active_message_count)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn every_fixture_lands_once_and_ids_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let fx = fixtures();
    let fx = fx.to_str().unwrap();

    // Independent expectation: fixtures whose events are all IncomingCall go to the incoming
    // queue, one message each; no decodable callback is lost.
    let all = load_fixture_dir(fixtures()).unwrap();
    let incoming_expected = all
        .iter()
        .filter(|f| matches!(&f.expect, Expect::Ok { types } if types.iter().all(|t| t == "IncomingCall")))
        .count() as u64;
    let callback_fixtures = all
        .iter()
        .filter(|f| matches!(&f.expect, Expect::Ok { types } if types.iter().any(|t| t != "IncomingCall")))
        .count() as u64;
    assert!(incoming_expected > 0 && callback_fixtures > 0);

    let out = replay(&db, &[fx]);
    assert!(out.status.success(), "{out:?}");
    let (incoming, events) = counts(&db).await;
    let summary = stdout(&out);
    assert_eq!(incoming, incoming_expected, "{summary}");
    // Several fixtures carry the same event (re-serialised variants, one call's events in
    // several files): the queue keeps one message per distinct id, as Service Bus would.
    let distinct = |queue: &str| {
        summary
            .lines()
            .filter(|l| l.starts_with("sent ") && l.contains(&format!("→ {queue} (id ")))
            .filter_map(|l| l.split("(id ").nth(1))
            .map(|rest| {
                rest.split([',', ')'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect::<std::collections::BTreeSet<_>>()
            .len() as u64
    };
    assert_eq!(events, distinct("call-events"), "{summary}");
    assert_eq!(incoming, distinct("incoming-calls"), "{summary}");
    // Every callback fixture contributed at least one event id.
    let callback_ids: std::collections::BTreeSet<String> = all
        .iter()
        .filter(|f| matches!(&f.expect, Expect::Ok { types } if types.iter().any(|t| t != "IncomingCall")))
        .filter_map(|f| switchboard_events::decode(f.body_bytes()).ok())
        .flat_map(|d| d.events.into_iter().filter_map(|e| e.envelope.id.map(|i| i.to_string())))
        .collect();
    assert_eq!(events, callback_ids.len() as u64, "{summary}");
    // Malformed fixtures are reported, not sent.
    assert!(summary.contains("skipped"), "{summary}");

    // Same ids again: duplicate detection drops every one.
    let again = replay(&db, &[fx]);
    assert!(again.status.success());
    assert_eq!(counts(&db).await, (incoming, events));

    // A suffix makes new (still deterministic) ids: everything arrives a second time.
    let suffixed = replay(&db, &["--id-suffix", "run2", fx]);
    assert!(suffixed.status.success());
    assert_eq!(counts(&db).await, (incoming * 2, events * 2));
    assert!(stdout(&suffixed).contains("~run2"));

    // `--repeat` alone keeps the event ids: every copy is a duplicate of the first.
    let repeated = replay(&db, &["--repeat", "2", "--id-suffix", "run2", fx]);
    assert!(repeated.status.success());
    assert_eq!(counts(&db).await, (incoming * 2, events * 2));

    // `--new-ids` derives one id per copy from (event id, copy): two copies, two arrivals…
    let copies = replay(&db, &["--new-ids", "--repeat", "2", fx]);
    assert!(copies.status.success(), "{copies:?}");
    assert_eq!(counts(&db).await, (incoming * 4, events * 4));
    let text = stdout(&copies);
    assert!(text.contains("~r1") && text.contains("~r2"), "{text}");
    // …and, being derived rather than random, the same command again is absorbed.
    let same = replay(&db, &["--new-ids", "--repeat", "2", fx]);
    assert!(same.status.success());
    assert_eq!(counts(&db).await, (incoming * 4, events * 4));
}

#[tokio::test]
async fn dry_run_sends_nothing_and_invalid_bodies_are_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let bad = fixtures().join("malformed-not-json-text.json");
    let bad = bad.to_str().unwrap();

    let out = replay(&db, &["--dry-run", fixtures().to_str().unwrap()]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("would replay"));
    assert!(!db.exists(), "a dry run opens no queue");

    let skipped = replay(&db, &[bad]);
    assert!(skipped.status.success());
    assert!(stdout(&skipped).contains("--include-invalid"));
    assert_eq!(counts(&db).await, (0, 0));

    let sent = replay(&db, &["--include-invalid", bad]);
    assert!(sent.status.success());
    assert_eq!(counts(&db).await, (1, 0));
}

#[test]
fn bad_config_and_paths_fail_with_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["replay", "x.json"])
        .env("SWITCHBOARD_QUEUE", "kafka")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHBOARD_QUEUE"));

    let missing = replay(&dir.path().join("q.db"), &["/nonexistent/fixture.json"]);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}
