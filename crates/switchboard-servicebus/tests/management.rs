//! Counting a session queue through the management API: Service Bus refuses to peek a
//! session queue without a session receiver, so the adapter asks `GET /<queue>` (ATOM) for
//! its `CountDetails`. A stand-in HTTP server answers as Service Bus does and checks the SAS
//! authorization; the queue itself lives on the AMQP test peer.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use switchboard_queue::QueueConfig;
use switchboard_servicebus::peer::TestPeer;
use switchboard_servicebus::ServiceBusNamespace;

/// A `GET /call-events` answer as Service Bus gives it (Atom entry, trimmed).
const ENTRY: &str = r#"<entry xmlns="http://www.w3.org/2005/Atom"><title type="text">call-events</title><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><RequiresSession>true</RequiresSession><CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus"><d2p1:ActiveMessageCount>7</d2p1:ActiveMessageCount><d2p1:DeadLetterMessageCount>3</d2p1:DeadLetterMessageCount><d2p1:ScheduledMessageCount>2</d2p1:ScheduledMessageCount><d2p1:TransferMessageCount>0</d2p1:TransferMessageCount></CountDetails></QueueDescription></content></entry>"#;

/// An unknown entity: Service Bus answers 200 with an empty feed.
const EMPTY_FEED: &str = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Publicly Listed Services</title></feed>"#;

type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

async fn entity(
    State(seen): State<Seen>,
    Path(name): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    seen.lock().unwrap().push((
        name.clone(),
        q.get("api-version").cloned().unwrap_or_default(),
        auth,
    ));
    if name == "call-events" {
        (StatusCode::OK, ENTRY.to_owned())
    } else {
        (StatusCode::OK, EMPTY_FEED.to_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_queue_counts_come_from_the_management_api() {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/{name}", get(entity))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let sessions = QueueConfig {
        requires_session: true,
        ..QueueConfig::default()
    };
    let peer = TestPeer::start_near(
        Ipv4Addr::new(127, 0, 93, 1),
        &[
            ("call-events", sessions.clone()),
            ("other", sessions.clone()),
        ],
    )
    .await
    .expect("peer");
    let mut options = peer.options();
    options.management_url = Some(base);
    let ns = ServiceBusNamespace::connect(options)
        .await
        .expect("connect");

    let q = ns.queue("call-events", sessions.clone()).expect("queue");
    let p = q.receiver.runtime_properties().await.expect("counts");
    assert_eq!(
        (
            p.active_message_count,
            p.dead_letter_message_count,
            p.scheduled_message_count
        ),
        (7, 3, 2)
    );
    {
        let seen = seen.lock().unwrap();
        let (name, version, auth) = &seen[0];
        assert_eq!(name, "call-events");
        assert_eq!(version, "2021-05");
        assert!(
            auth.starts_with("SharedAccessSignature sr=http%3A%2F%2F127%2E0%2E0%2E1")
                && auth.contains("&sig=")
                && auth.contains("&se=")
                && auth.ends_with("&skn=RootManageSharedAccessKey"),
            "{auth}"
        );
    }

    // An entity the namespace does not have.
    let other = ns.queue("other", sessions).expect("queue");
    let err = other.receiver.runtime_properties().await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    peer.shutdown().await;
}
