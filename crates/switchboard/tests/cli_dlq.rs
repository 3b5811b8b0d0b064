//! `switchboard dlq` against a temp SQLite queue: dead letters made through the queue port are
//! listed, shown, resubmitted and purged by the binary, and the port sees the result.
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use switchboard_queue::sqlite::SqliteNamespace;
use switchboard_queue::{OutgoingMessage, PropertyValue, QueueHandle};
use switchboard_worker::backend::queue_configs;
use switchboard_worker::config::Config;

fn dlq(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("dlq")
        .args(args)
        .env("SWITCHBOARD_SQLITE_PATH", db)
        .env_remove("SWITCHBOARD_CONFIG")
        .env_remove("SWITCHBOARD_QUEUE")
        .stdin(Stdio::null())
        .output()
        .expect("run switchboard dlq")
}

async fn incoming(db: &Path) -> QueueHandle {
    let cfg = Config::default();
    let (plain, _) = queue_configs(&cfg);
    SqliteNamespace::open(db)
        .await
        .unwrap()
        .ensure_queue(&cfg.queue.incoming_queue, plain)
        .await
        .unwrap()
        .handle()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn list_show_resubmit_purge() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let q = incoming(&db).await;
    for (id, body) in [
        ("m-bad-json", "not json"),
        ("m-unknown", "{\"x\":1}"),
        ("m-fine", "{\"ok\":true}"),
    ] {
        let mut m = OutgoingMessage::new(id, body.as_bytes().to_vec());
        m.application_properties.insert(
            "aeg-event-type".into(),
            PropertyValue::String("Notification".into()),
        );
        m.application_properties
            .insert("aeg-delivery-count".into(), PropertyValue::Int(0));
        q.sender.send(m).await.unwrap();
    }
    let got = q.receiver.receive(3, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 3);
    for d in &got {
        match d.message_id.as_str() {
            "m-bad-json" => q
                .receiver
                .dead_letter(d, "UndecodableMessage", "expected value at line 1 column 1")
                .await
                .unwrap(),
            "m-unknown" => q
                .receiver
                .dead_letter(d, "NotAnEvent", "no eventType or type")
                .await
                .unwrap(),
            _ => q.receiver.abandon(d, None).await.unwrap(),
        }
    }

    // list (table and JSON)
    let listed = dlq(&db, &["list"]);
    assert!(listed.status.success(), "{listed:?}");
    let text = out(&listed);
    assert!(
        text.contains("UndecodableMessage: expected value"),
        "{text}"
    );
    assert!(text.contains("2 dead letter(s)"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&dlq(&db, &["list", "--json"]).stdout).unwrap();
    let items = json.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["messageId"], "m-bad-json");
    assert_eq!(items[1]["deadLetterReason"], "NotAnEvent");
    let seq = items[1]["sequenceNumber"].as_i64().unwrap();

    // show by message id and by sequence number; unknown → exit 1
    let shown = out(&dlq(&db, &["show", "m-bad-json"]));
    assert!(
        shown.contains("reason           UndecodableMessage"),
        "{shown}"
    );
    assert!(shown.contains("not json"), "{shown}");
    assert!(
        shown.contains("property         aeg-event-type = Notification"),
        "{shown}"
    );
    assert!(shown.contains("delivery count   1"), "{shown}");
    let by_seq: serde_json::Value =
        serde_json::from_slice(&dlq(&db, &["show", &seq.to_string(), "--json"]).stdout).unwrap();
    assert_eq!(by_seq["body"]["x"], 1);
    assert_eq!(by_seq["deadLetterReason"], "NotAnEvent");
    assert_eq!(by_seq["deadLetterErrorDescription"], "no eventType or type");
    assert_eq!(
        by_seq["applicationProperties"]["aeg-event-type"],
        "Notification"
    );
    assert_eq!(by_seq["applicationProperties"]["aeg-delivery-count"], 0);
    let unknown = dlq(&db, &["show", "no-such-message"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no dead letter no-such-message"));

    // resubmit one: back on the queue with a new id, gone from the dead letters
    let dry = dlq(&db, &["resubmit", "m-unknown", "--dry-run"]);
    assert!(out(&dry).contains("would resubmit"), "{dry:?}");
    assert_eq!(q.dead_letters.peek(0, 10).await.unwrap().len(), 2);
    let re = dlq(&db, &["resubmit", "m-unknown"]);
    assert!(re.status.success(), "{re:?}");
    assert!(out(&re).contains("1 resubmitted"));
    assert_eq!(q.dead_letters.peek(0, 10).await.unwrap().len(), 1);
    let back = q.receiver.peek(0, 10).await.unwrap();
    assert!(back
        .iter()
        .any(|m| m.body.as_ref() == b"{\"x\":1}" && m.message_id != "m-unknown"));

    // purge: refuses without --yes when stdin is not a terminal; --older-than keeps young ones
    let refused = dlq(&db, &["purge"]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(q.dead_letters.peek(0, 10).await.unwrap().len(), 1);
    let young = dlq(&db, &["purge", "--older-than", "1h", "--yes"]);
    assert!(out(&young).contains("0 deleted"), "{young:?}");
    assert_eq!(q.dead_letters.peek(0, 10).await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let old = dlq(&db, &["purge", "--older-than", "1s", "--yes"]);
    assert!(out(&old).contains("1 deleted"), "{old:?}");
    assert!(q.dead_letters.peek(0, 10).await.unwrap().is_empty());
    assert!(out(&dlq(&db, &["list"])).contains("no dead letters"));

    // the live messages were never touched
    assert_eq!(q.receiver.peek(0, 10).await.unwrap().len(), 2);
}

#[test]
fn bad_config_exits_64() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["dlq", "list"])
        .env("SWITCHBOARD_STORE", "mongodb")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHBOARD_STORE"));
}

/// The events queue is session-enabled: a dead letter made through a session receiver is
/// listed only under `--queue events`, and `resubmit --all` puts it back in its session.
#[tokio::test]
async fn session_queue_dead_letters_go_back_to_their_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let cfg = Config::default();
    let (_, sessions) = queue_configs(&cfg);
    let events = SqliteNamespace::open(&db)
        .await
        .unwrap()
        .ensure_queue(&cfg.queue.events_queue, sessions)
        .await
        .unwrap()
        .handle();
    events
        .sender
        .send(OutgoingMessage::new("evt-1", b"{\"e\":1}".to_vec()).with_session_id("corr-1"))
        .await
        .unwrap();
    let session = events
        .receiver
        .accept_next_session(Duration::from_secs(1))
        .await
        .unwrap()
        .expect("a session");
    let got = session.receive(1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 1);
    session
        .dead_letter(&got[0], "HandlerFailed", "permanent")
        .await
        .unwrap();
    session.close().await.unwrap();

    let only_incoming = out(&dlq(&db, &["--queue", "incoming", "list"]));
    assert!(only_incoming.contains("no dead letters"), "{only_incoming}");
    let listed = out(&dlq(&db, &["--queue", "events", "list"]));
    assert!(
        listed.contains("evt-1") && listed.contains("HandlerFailed"),
        "{listed}"
    );

    let re = dlq(&db, &["--queue", "events", "resubmit", "--all"]);
    assert!(re.status.success(), "{re:?}");
    assert!(out(&re).contains("1 resubmitted"), "{re:?}");
    assert!(events.dead_letters.peek(0, 10).await.unwrap().is_empty());
    let back = events.receiver.peek(0, 10).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].session_id.as_deref(), Some("corr-1"));
    assert_eq!(back[0].body.as_ref(), b"{\"e\":1}");
    assert_ne!(back[0].message_id, "evt-1");
}
