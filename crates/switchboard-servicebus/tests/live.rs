//! Live tests against a real Service Bus namespace or the Service Bus emulator. They run only
//! when `SWITCHBOARD_LIVE_SERVICEBUS` is set (a connection string, or a namespace reached with
//! managed identity) and skip otherwise; see the crate README for the queues they expect.
//!
//! - `SWITCHBOARD_LIVE_SERVICEBUS_QUEUE` (default `switchboard-live`): a plain queue.
//! - `SWITCHBOARD_LIVE_SERVICEBUS_SESSION_QUEUE` (default `switchboard-live-sessions`): a
//!   session queue.
//! - `SWITCHBOARD_LIVE_SERVICEBUS_PLAINTEXT=1`: plain AMQP (the emulator).

use std::time::Duration;

use switchboard_queue::{OutgoingMessage, QueueConfig, QueueHandle};
use switchboard_servicebus::{ServiceBusAuth, ServiceBusNamespace, ServiceBusOptions};

async fn live(session: bool) -> Option<QueueHandle> {
    let Ok(target) = std::env::var("SWITCHBOARD_LIVE_SERVICEBUS") else {
        eprintln!("SWITCHBOARD_LIVE_SERVICEBUS not set: skipping the live Service Bus test");
        return None;
    };
    let mut options =
        ServiceBusOptions::new(ServiceBusAuth::from_connection_string_or_namespace(&target));
    options.insecure_plaintext =
        std::env::var("SWITCHBOARD_LIVE_SERVICEBUS_PLAINTEXT").is_ok_and(|v| v == "1");
    let ns = ServiceBusNamespace::connect(options)
        .await
        .expect("connect");
    let (name, config) = if session {
        (
            std::env::var("SWITCHBOARD_LIVE_SERVICEBUS_SESSION_QUEUE")
                .unwrap_or_else(|_| "switchboard-live-sessions".into()),
            QueueConfig::sessions(),
        )
    } else {
        (
            std::env::var("SWITCHBOARD_LIVE_SERVICEBUS_QUEUE")
                .unwrap_or_else(|_| "switchboard-live".into()),
            QueueConfig::default(),
        )
    };
    Some(ns.queue(&name, config).expect("queue"))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

/// Drains what earlier runs left, so the checks below see only their own messages.
async fn drain(q: &QueueHandle) {
    while let Ok(got) = q.receiver.receive(50, Duration::from_secs(2)).await {
        if got.is_empty() {
            break;
        }
        for d in &got {
            let _ = q.receiver.complete(d).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_send_receive_settle_and_dead_letter() {
    let Some(q) = live(false).await else { return };
    drain(&q).await;
    let id = unique("live");
    q.sender
        .send(
            OutgoingMessage::new(id.clone(), "{\"live\":true}")
                .with_correlation_id("corr")
                .with_property("attempt", 1),
        )
        .await
        .expect("send");
    let got = q
        .receiver
        .receive(1, Duration::from_secs(30))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, id);
    assert_eq!(got[0].delivery_count, 1);
    let renewed = q.receiver.renew_lock(&got[0]).await.expect("renew");
    assert!(renewed >= got[0].locked_until);
    q.receiver.abandon(&got[0], None).await.expect("abandon");
    let again = q
        .receiver
        .receive(1, Duration::from_secs(30))
        .await
        .expect("receive");
    assert_eq!(again[0].delivery_count, 2);
    q.receiver
        .dead_letter(&again[0], "LiveTest", "dead-lettered by the live test")
        .await
        .expect("dead-letter");
    let dead = q
        .dead_letters
        .receive(10, Duration::from_secs(30))
        .await
        .expect("dlq receive");
    let mine = dead
        .iter()
        .find(|d| d.message_id == id)
        .expect("dead letter arrives");
    assert_eq!(mine.dead_letter_reason.as_deref(), Some("LiveTest"));
    for d in &dead {
        q.dead_letters.complete(d).await.expect("dlq complete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_session_round_trip() {
    let Some(q) = live(true).await else { return };
    let session = unique("call");
    q.sender
        .send_batch(vec![
            OutgoingMessage::new(unique("a"), "1").with_session_id(session.clone()),
            OutgoingMessage::new(unique("b"), "2").with_session_id(session.clone()),
        ])
        .await
        .expect("send batch");
    let s = q
        .receiver
        .accept_session(&session)
        .await
        .expect("accept session");
    let mut got = Vec::new();
    while got.len() < 2 {
        let batch = s
            .receive(2, Duration::from_secs(30))
            .await
            .expect("receive");
        assert!(!batch.is_empty(), "session messages arrive");
        got.extend(batch);
    }
    assert_eq!(&got[0].body[..], b"1");
    assert_eq!(&got[1].body[..], b"2");
    s.renew_session_lock().await.expect("renew session lock");
    for d in &got {
        s.complete(d).await.expect("complete");
    }
    s.close().await.expect("close");
}
