//! Fault injection, one kind at a time: latency, 429 + Retry-After, 500/503, connection
//! reset, callbacks dropped / duplicated / reordered, Event Grid duplicates, and seeded
//! determinism.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use switchboard_sim::{
    CallbackFaults, EventGridFaults, FaultKind, FaultRule, FaultSpec, Faults, Latency, StartCall,
};

fn on(op: &str, spec: FaultSpec) -> Faults {
    let mut operations = BTreeMap::new();
    operations.insert(op.to_owned(), spec);
    Faults {
        operations,
        ..Faults::default()
    }
}

fn rules(rules: Vec<FaultRule>) -> FaultSpec {
    FaultSpec {
        latency: None,
        rules,
    }
}

#[tokio::test]
async fn throttle_then_success() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    h.sim
        .set_faults(on(
            "CallConnection_AddParticipant",
            rules(vec![FaultRule::times(
                FaultKind::Throttle {
                    retry_after_secs: 3,
                },
                1,
            )]),
        ))
        .unwrap();
    let r = h.add(&ccid, AGENT_ACCEPT, "x").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.headers["retry-after"], "3");
    assert_eq!(r.body["error"]["code"], "TooManyRequests");
    assert_eq!(
        h.sim.call_effects(&ccid).unwrap().effects.adds,
        0,
        "a throttled request has no effect"
    );
    let r = h.add(&ccid, AGENT_ACCEPT, "x").await;
    assert_eq!(r.status, 202);
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.adds, 1);
    // Other operations were never affected.
    assert_eq!(
        h.get(&format!("/calling/callConnections/{ccid}"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn server_errors_and_repeatability_runs_again_after_a_5xx() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    h.sim
        .set_faults(Faults {
            global: rules(vec![
                FaultRule::times(FaultKind::Status { status: 503 }, 1),
                FaultRule::times(FaultKind::Status { status: 500 }, 1),
            ]),
            ..Faults::default()
        })
        .unwrap();
    let now = httpdate::fmt_http_date(std::time::SystemTime::now());
    let hdrs = [
        (
            "Repeatability-Request-ID",
            "9e107d9d-372b-4b6e-8f3d-6f9a0c1b2d3e".to_owned(),
        ),
        ("Repeatability-First-Sent", now),
    ];
    let url = h.url(&format!("/calling/callConnections/{ccid}/participants:add"));
    let body = json!({"participantToAdd": teams(AGENT_ACCEPT)});
    assert_eq!(
        h.send("POST", url.clone(), Some(&body), &hdrs).await.status,
        503
    );
    assert_eq!(
        h.send("POST", url.clone(), Some(&body), &hdrs).await.status,
        500
    );
    let ok = h.send("POST", url.clone(), Some(&body), &hdrs).await;
    assert_eq!(ok.status, 202);
    let again = h.send("POST", url, Some(&body), &hdrs).await;
    assert_eq!(again.raw, ok.raw);
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.adds, 1);
}

#[tokio::test]
async fn connection_reset_closes_without_an_answer() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    h.sim
        .set_faults(on(
            "CallConnection_GetCall",
            rules(vec![FaultRule::times(FaultKind::Reset, 1)]),
        ))
        .unwrap();
    let url = h.url(&format!("/calling/callConnections/{ccid}"));
    let mut req = h.http.get(url.clone());
    for (k, v) in sign_headers(&h.key, "GET", &url, b"") {
        req = req.header(k, v);
    }
    let err = req
        .send()
        .await
        .expect_err("no response on a reset connection");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
    // The next request on a fresh connection works.
    assert_eq!(h.send("GET", url, None, &[]).await.status, 200);
}

#[tokio::test]
async fn fixed_latency_delays_the_answer() {
    let h = start().await;
    h.sim
        .set_faults(Faults {
            global: FaultSpec {
                latency: Some(Latency::Fixed { ms: 150 }),
                rules: vec![],
            },
            ..Faults::default()
        })
        .unwrap();
    let t = Instant::now();
    let r = h.get("/calling/callConnections/none").await;
    // Only a lower bound: it waited at least the injected latency.
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn callbacks_retry_until_the_receiver_answers() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    h.cb.fail_next.store(2, std::sync::atomic::Ordering::SeqCst);
    h.post(
        &format!("/calling/callConnections/{ccid}:play"),
        json!({"playSources": [{"kind": "text", "text": {"text": "hi"}}]}),
    )
    .await;
    // PlayStarted fails twice, then arrives; PlayCompleted follows in order.
    let evs = h.cb.until(Some(&ccid), "PlayCompleted").await;
    let types: Vec<String> = evs.iter().map(short_type).collect();
    assert_eq!(types, ["PlayStarted", "PlayCompleted"]);
    let tl = h.sim.timeline(&ccid);
    let started = tl.iter().find(|e| e.what == "PlayStarted").unwrap();
    assert_eq!(started.detail["attempt"], 3);
}

#[tokio::test]
async fn dropped_and_duplicated_callbacks() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    h.sim
        .set_faults(Faults {
            callbacks: CallbackFaults {
                drop: 1.0,
                ..Default::default()
            },
            ..Faults::default()
        })
        .unwrap();
    h.add(&ccid, AGENT_ACCEPT, "a").await;
    let got = h.cb.drain(Duration::from_millis(300)).await;
    assert!(got.is_empty(), "all dropped: {got:?}");
    assert!(h
        .sim
        .timeline(&ccid)
        .iter()
        .any(|e| e.detail["outcome"] == "dropped (fault)"));

    h.sim
        .set_faults(Faults {
            callbacks: CallbackFaults {
                duplicate: 1.0,
                ..Default::default()
            },
            ..Faults::default()
        })
        .unwrap();
    h.post(
        &format!("/calling/callConnections/{ccid}:play"),
        json!({"playSources": [{"kind": "text", "text": {"text": "hi"}}]}),
    )
    .await;
    let evs = h.cb.until(Some(&ccid), "PlayCompleted").await;
    let mut evs = evs;
    evs.push(h.cb.expect(&ccid, "PlayCompleted").await);
    let types: Vec<String> = evs.iter().map(short_type).collect();
    assert_eq!(
        types,
        [
            "PlayStarted",
            "PlayStarted",
            "PlayCompleted",
            "PlayCompleted"
        ]
    );
    assert_eq!(evs[0]["id"], evs[1]["id"], "a duplicate is the same event");
}

#[tokio::test]
async fn reordered_callbacks() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    h.sim
        .set_faults(Faults {
            callbacks: CallbackFaults {
                reorder: 1.0,
                ..Default::default()
            },
            ..Faults::default()
        })
        .unwrap();
    h.add(&ccid, AGENT_ACCEPT, "a").await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let more = h.cb.drain(Duration::from_millis(700)).await;
        assert!(!more.is_empty(), "events arrive eventually");
        got.extend(more);
    }
    let types: Vec<String> = got.iter().map(short_type).collect();
    assert_eq!(
        types,
        ["ParticipantsUpdated", "AddParticipantSucceeded"],
        "swapped"
    );
}

#[tokio::test]
async fn event_grid_duplicate_delivery_keeps_the_message_id() {
    let h = start().await;
    h.sim
        .set_faults(Faults {
            event_grid: EventGridFaults {
                duplicate: 1.0,
                drop: 0.0,
                backlog_secs: 0,
            },
            ..Faults::default()
        })
        .unwrap();
    let call = h.sim.start_call(StartCall::default()).unwrap();
    let a = h.next_incoming().await;
    let b = h.next_incoming().await;
    assert_eq!(a.message_id, call.event_id);
    assert_eq!(b.message_id, call.event_id);
    assert_eq!(a.body, b.body);
    assert_eq!(a.application_properties["aeg-delivery-count"], "0");
    assert_eq!(b.application_properties["aeg-delivery-count"], "1");
    // Per call, on request.
    h.sim.set_faults(Faults::default()).unwrap();
    h.sim
        .start_call(StartCall {
            duplicate_delivery: true,
            ..Default::default()
        })
        .unwrap();
    let c = h.next_incoming().await;
    let d = h.next_incoming().await;
    assert_eq!(c.message_id, d.message_id);
}

#[tokio::test]
async fn seeded_faults_repeat_across_runs() {
    async fn run() -> Vec<u16> {
        let h = start().await;
        let mut f = on(
            "CallConnection_GetCall",
            rules(vec![FaultRule {
                kind: FaultKind::Status { status: 503 },
                probability: 0.5,
                times: None,
            }]),
        );
        f.global.latency = Some(Latency::Random {
            min_ms: 0,
            max_ms: 2,
        });
        h.sim.set_faults(f).unwrap();
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(h.get("/calling/callConnections/x").await.status);
        }
        statuses
    }
    let a = run().await;
    let b = run().await;
    assert_eq!(a, b);
    assert!(a.contains(&503) && a.contains(&404), "{a:?}");
}

#[tokio::test]
async fn invalid_fault_settings_are_refused() {
    let h = start().await;
    let bad = Faults {
        callbacks: CallbackFaults {
            drop: 1.5,
            ..Default::default()
        },
        ..Faults::default()
    };
    assert!(h.sim.set_faults(bad).is_err());
    let bad = on(
        "x",
        rules(vec![FaultRule::always(FaultKind::Status { status: 200 })]),
    );
    assert!(h.sim.set_faults(bad).is_err());
}
