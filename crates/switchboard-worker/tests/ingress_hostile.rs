//! The hostile-input suite: a real ingress on a real socket, attacked over HTTP. Forged
//! tokens and forged internal types get nothing onto the queues; malformed, foreign, unknown,
//! oversized and duplicated input never costs a valid event and is never answered 5xx.
//!
//! `SWITCHBOARD_HOSTILE_CASES=N` runs the property tests with N cases (default: few, for CI).

mod hostile;

use std::time::Duration;

use hostile::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn cb(i: &Ingress) -> String {
    format!("{}/api/callbacks", i.url)
}

fn eg(i: &Ingress) -> String {
    format!("{}/api/incoming-calls", i.url)
}

fn reason(m: &switchboard_queue::Message) -> &str {
    m.dead_letter_reason.as_deref().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_are_refused_coarsely_and_publish_nothing() {
    let i = Ingress::start(Options::default()).await;
    let http = reqwest::Client::new();
    let body = json!([callback_event("e1", "cc1")]).to_string();
    for (what, token) in forged_tokens() {
        for url in [cb(&i), eg(&i)] {
            let (status, text) = post(&http, &url, Some(&token), body.clone()).await;
            assert_eq!(status, 401, "{what} at {url}: {text}");
            assert_eq!(text, "Unauthorized", "{what}: the answer says nothing more");
        }
    }
    let (status, _) = post(&http, &cb(&i), None, body.clone()).await;
    assert_eq!(status, 401, "no token");
    // A callback token is not an Event Grid token, and the reverse.
    assert_eq!(
        post(&http, &eg(&i), Some(&callback_token()), body.clone())
            .await
            .0,
        401
    );
    assert_eq!(
        post(&http, &cb(&i), Some(&eventgrid_token()), body.clone())
            .await
            .0,
        401
    );
    assert!(i.events().await.is_empty());
    assert!(i.incoming().await.is_empty());
    assert!(
        i.rejects().await.is_empty(),
        "unauthenticated bodies are not even read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_internal_types_are_dead_lettered_through_both_endpoints() {
    let i = Ingress::start(Options::default()).await;
    let http = reqwest::Client::new();
    let body = json!([forged_internal("f1"), callback_event("e1", "cc1")]).to_string();
    let (status, text) = post(&http, &cb(&i), Some(&callback_token()), body).await;
    assert_eq!(status, 200, "{text}");
    let body = json!([forged_internal("f2"), incoming_call_event("i1")]).to_string();
    let (status, text) = post(&http, &eg(&i), Some(&eventgrid_token()), body).await;
    assert_eq!(status, 200, "{text}");

    let events = i.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message_id, "e1");
    let incoming = i.incoming().await;
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0].message_id, "i1");
    let rejects = i.rejects().await;
    assert_eq!(rejects.len(), 2);
    for r in &rejects {
        assert_eq!(reason(r), "ForbiddenEventType");
        assert!(String::from_utf8_lossy(&r.body).contains("Switchboard.Overflow"));
    }
    // No published message anywhere carries an internal type.
    for m in events.iter().chain(&incoming) {
        assert!(!String::from_utf8_lossy(&m.body).contains("Switchboard."));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_malformed_element_does_not_cost_the_good_ones() {
    let i = Ingress::start(Options::default()).await;
    let http = reqwest::Client::new();
    let mut bad = callback_event("bad", "cc1");
    bad["data"] = json!("not an object");
    let body = json!([
        callback_event("e1", "cc1"),
        bad,
        callback_event("e2", "cc1"),
        {"id": "u1", "type": "Microsoft.Communication.SomethingNew", "specversion": "1.0", "source": "x", "data": {}},
        {"id": "x1", "type": "Contoso.Other", "specversion": "1.0", "source": "x", "data": {}},
    ])
    .to_string();
    let (status, text) = post(&http, &cb(&i), Some(&callback_token()), body).await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    // The unknown `Microsoft.Communication.*` type is ACS's own: published, and the worker
    // counts it; only the foreign type and the malformed element are refused.
    assert_eq!(answer["accepted"], 3, "{answer}");
    let ids: Vec<_> = i.events().await.into_iter().map(|m| m.message_id).collect();
    assert_eq!(ids, ["e1", "e2", "u1"]);
    let mut reasons: Vec<String> = i
        .rejects()
        .await
        .iter()
        .map(|m| reason(m).to_string())
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.contains(&"ForeignEventType".to_string()),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_truncated_oversized_and_slow_bodies() {
    let i = Ingress::start(Options {
        max_body_bytes: 64 * 1024,
        request_timeout_secs: 1,
        ..Options::default()
    })
    .await;
    let http = reqwest::Client::new();
    let t = callback_token();
    // Malformed JSON: 400, kept as a dead letter.
    let (status, _) = post(&http, &cb(&i), Some(&t), "[{\"id\": \"e1\", ").await;
    assert_eq!(status, 400);
    assert_eq!(reason(&i.rejects().await[0]), "NotJson");
    // Oversized: 413 from the declared length, before reading.
    let (status, _) = post(&http, &cb(&i), Some(&t), vec![b' '; 65 * 1024]).await;
    assert_eq!(status, 413);
    let addr = i.url.trim_start_matches("http://").to_string();
    // Truncated: the connection closes before the declared length arrives.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/callbacks HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {t}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[{{\"id\":"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert!(!text.starts_with("HTTP/1.1 5"), "{text}");
    // Slow: half a body, then nothing. The request timeout answers 408.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut out))
        .await
        .expect("the ingress cuts a slow body off")
        .unwrap();
    let text = String::from_utf8_lossy(&out[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(i.events().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5000_element_batch_over_the_message_limit_is_split_and_kept_whole() {
    let i = Ingress::start(Options::default()).await;
    let http = reqwest::Client::new();
    let events: Vec<Value> = (0..5000)
        .map(|n| callback_event(&format!("e{n}"), &format!("cc{}", n % 50)))
        .collect();
    let body = Value::Array(events).to_string();
    assert!(body.len() > 256 * 1024, "over one message's limit");
    let (status, text) = post(&http, &cb(&i), Some(&callback_token()), body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(i.events().await.len(), 5000);
    assert!(i.rejects().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_over_the_message_limit_is_dead_lettered_with_its_reason() {
    let i = Ingress::start(Options::default()).await;
    let http = reqwest::Client::new();
    let mut big = callback_event("big", "cc1");
    big["data"]["operationContext"] = json!("x".repeat(300 * 1024));
    let body = json!([callback_event("e1", "cc1"), big]).to_string();
    let (status, text) = post(&http, &cb(&i), Some(&callback_token()), body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(i.events().await.len(), 1);
    let rejects = i.rejects().await;
    assert_eq!(rejects.len(), 1);
    assert_eq!(reason(&rejects[0]), "MessageTooLarge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_ids_are_published_once() {
    let i = Ingress::start(Options::default()).await;
    let http = reqwest::Client::new();
    let e = callback_event("same", "cc1");
    let body = json!([e, e, e]).to_string();
    let (status, text) = post(&http, &cb(&i), Some(&callback_token()), body.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["duplicates"],
        2
    );
    // ACS redelivers the whole POST: absorbed by the queue's duplicate detection.
    assert_eq!(
        post(&http, &cb(&i), Some(&callback_token()), body).await.0,
        200
    );
    assert_eq!(i.events().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_on_the_public_port() {
    let i = Ingress::start(Options::default()).await;
    let http = reqwest::Client::new();
    let public = http.get(format!("{}/metrics", i.url)).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let status = http
        .get(format!("{}/metrics", i.status_url))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
}

fn cases() -> u32 {
    std::env::var("SWITCHBOARD_HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z.]{0,24}".prop_map(Value::String),
        prop_oneof![
            Just("Microsoft.Communication.CallConnected"),
            Just("Switchboard.Overflow"),
            Just("Microsoft.Communication.IncomingCall"),
            Just("switchboard.timer"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("type".to_string()),
                    Just("eventType".to_string()),
                    Just("specversion".to_string()),
                    Just("data".to_string()),
                    Just("correlationId".to_string()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// The splitter never panics, never accepts an internal or foreign type, and accounts for
    /// every element.
    #[test]
    fn the_splitter_keeps_every_element_and_no_forgery(v in prop::collection::vec(json_value(), 0..8), raw in prop::collection::vec(any::<u8>(), 0..64)) {
        let body = Value::Array(v.clone()).to_string();
        let s = switchboard_worker::ingress::batch::split(body.as_bytes());
        prop_assert_eq!(s.accepted.len() + s.rejected.len() + s.duplicates, v.len());
        for m in &s.accepted {
            let t = m.application_properties.get("eventType").cloned().unwrap_or_default();
            prop_assert!(t.starts_with("Microsoft.Communication."), "{}", t);
        }
        let s = switchboard_worker::ingress::batch::split(&raw);
        for m in &s.accepted {
            let t = m.application_properties.get("eventType").cloned().unwrap_or_default();
            prop_assert!(t.starts_with("Microsoft.Communication."), "{}", t);
        }
    }
}

/// Generated payloads at the running ingress: never a 5xx, never an internal type published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_payloads_at_the_ingress() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let i = Ingress::start(Options::default()).await;
    let http = reqwest::Client::new();
    let token = callback_token();
    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(json_value(), 0..8);
    for _ in 0..cases() {
        let v = strategy.new_tree(&mut runner).unwrap().current();
        let body = Value::Array(v).to_string();
        for url in [cb(&i), eg(&i)] {
            let t = if url.ends_with("callbacks") {
                token.clone()
            } else {
                eventgrid_token()
            };
            let (status, text) = post(&http, &url, Some(&t), body.clone()).await;
            assert!(status < 500, "{status} {text} for {body}");
        }
    }
    for m in i.events().await.iter().chain(&i.incoming().await) {
        let t = m
            .application_properties
            .get("eventType")
            .and_then(|p| p.as_str())
            .unwrap_or_default()
            .to_string();
        assert!(t.starts_with("Microsoft.Communication."), "{t}");
    }
}
