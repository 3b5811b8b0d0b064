//! The control API over HTTP, and Event Grid delivery: schemas and `aeg-*` properties as the
//! captures and Event Grid docs show, JSONL and HTTP (webhook) sinks, sink retries.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use switchboard_sim::{
    EventSchema, HttpSink, HttpSinkMode, JsonlSink, SimConfig, Simulator, SinkMessage, StartCall,
};

const PAYLOADS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/payloads");

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn file(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{PAYLOADS}/{name}")).unwrap()).unwrap()
}

#[tokio::test]
async fn incoming_call_matches_the_docs_envelopes_and_live_data() {
    let h = start().await;
    let call = h
        .sim
        .start_call(StartCall {
            sip_headers: [("X-MS-Custom-Queue".to_owned(), "billing".to_owned())].into(),
            ..Default::default()
        })
        .unwrap();
    let m = h.next_incoming().await;
    assert_eq!(m.content_type, "application/json");
    let ours: Value = serde_json::from_slice(&m.body).unwrap();
    let docs = file("docs-restapispecs-eventgridschema__IncomingCall.json");
    assert_eq!(keys(&ours), keys(&docs));
    // The live `data` (what the SDK dispatcher forwarded) has exactly these fields; the docs
    // example's extra `onBehalfOfCallee` only appears for Teams call-queue scenarios.
    let live = file("java-2025-06-15_createVOIPCallAndAnswerThenAddParticipantFinallyRemoveParticipantAutomatedTest__IncomingCall-dataOnly.json");
    assert_eq!(keys(&ours["data"]), keys(&live));
    assert_eq!(
        keys(&ours["data"]["customContext"]),
        keys(&live["customContext"])
    );
    assert_eq!(
        ours["data"]["customContext"]["sipHeaders"]["X-MS-Custom-Queue"],
        "billing"
    );
    assert_eq!(ours["id"], call.event_id.as_str());
    assert_eq!(
        ours["subject"],
        format!("/caller/{}/recipient/4:{NUMBER}", call.from)
    );
    let props = &m.application_properties;
    assert_eq!(props["aeg-event-type"], "Notification");
    assert_eq!(props["aeg-subscription-name"], "SWITCHBOARD-INCOMING-CALLS");
    assert_eq!(props["aeg-delivery-count"], "0");
    assert_eq!(props["aeg-data-version"], "1.0");
    assert_eq!(props["aeg-metadata-version"], "1");

    let call = h
        .sim
        .start_call(StartCall {
            schema: Some(EventSchema::CloudEvents),
            ..Default::default()
        })
        .unwrap();
    let m = h.next_incoming().await;
    assert!(m.content_type.starts_with("application/cloudevents+json"));
    let ours: Value = serde_json::from_slice(&m.body).unwrap();
    let docs = file("docs-restapispecs-cloudeventsschema__IncomingCall.json");
    assert_eq!(keys(&ours), keys(&docs));
    assert_eq!(ours["id"], call.event_id.as_str());
    assert_eq!(m.application_properties["aeg-metadata-version"], "1.0");
}

#[tokio::test]
async fn jsonl_and_webhook_sinks_with_retries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incoming.jsonl");
    let mut cfg = test_config();
    cfg.event_grid.retry.initial_backoff = Duration::from_millis(10);
    let h = start_with(cfg).await;
    h.sim.set_sink(JsonlSink::new(&path));
    let a = h.sim.start_call(StartCall::default()).unwrap();
    eventually("line written", || {
        std::fs::read_to_string(&path)
            .map(|t| t.lines().count() == 1)
            .unwrap_or(false)
    })
    .await;
    let line: SinkMessage = serde_json::from_str(
        std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line.message_id, a.event_id);
    let body: Value = serde_json::from_slice(&line.body).unwrap();
    assert_eq!(
        body["data"]["incomingCallContext"],
        a.incoming_call_context.as_str()
    );

    // Webhook: an Event Grid–schema event arrives as a one-element array with aeg headers;
    // the first two POSTs fail and are retried with a growing delivery count.
    let receiver = Receiver::start().await;
    receiver.fail_next.store(2, Ordering::SeqCst);
    h.sim.set_sink(HttpSink::new(
        format!("{}/eventgrid", receiver.url),
        HttpSinkMode::Webhook,
    ));
    let b = h.sim.start_call(StartCall::default()).unwrap();
    let got = receiver.next(WAIT).await.expect("delivered after retries");
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 3);
    assert!(String::from_utf8(got.body.clone())
        .unwrap()
        .starts_with('['));
    assert_eq!(got.events[0]["id"], b.event_id.as_str());
    assert_eq!(got.headers["aeg-event-type"], "Notification");
    assert_eq!(got.headers["aeg-delivery-count"], "2");
    eventually("both deliveries counted", || {
        h.sim.ledger().incoming_calls_delivered == 2
    })
    .await;
    // Everything published is also in the outbox.
    assert_eq!(h.sim.eventgrid_outbox().len(), 2);
}

async fn ctl(h: &Harness, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", h.sim.control_url());
    let mut req = h
        .http
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn control_api_end_to_end() {
    let h = start().await;
    assert_eq!(
        ctl(&h, "GET", "/health", None).await,
        (200, json!({"status": "ok"}))
    );
    let (s, info) = ctl(&h, "GET", "/info", None).await;
    assert_eq!(s, 200);
    assert_eq!(info["resourceId"], h.sim.resource_id());
    assert!(info["connectionString"]
        .as_str()
        .unwrap()
        .starts_with("endpoint=http://127.0.0.1:"));

    let seed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed.json"))
        .unwrap();
    let seed: Value = serde_json::from_str(&seed).unwrap();
    assert_eq!(ctl(&h, "POST", "/seed", Some(seed)).await.0, 204);
    let (_, agents) = ctl(&h, "GET", "/agents", None).await;
    assert_eq!(agents.as_array().unwrap().len(), 10);
    let (s, a) = ctl(
        &h,
        "GET",
        "/agents/4e8f2a6c-1b3d-4c5e-9f7a-8b2d4c6e0a04",
        None,
    )
    .await;
    assert_eq!((s, a["availability"].as_str()), (200, Some("Busy")));
    assert_eq!(
        ctl(
            &h,
            "PUT",
            &format!("/agents/{AGENT_BUSY}/behaviour"),
            Some(json!({"type": "accept", "afterMs": 5}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        ctl(
            &h,
            "PUT",
            &format!("/agents/{AGENT_BUSY}/presence"),
            Some(json!({"availability": "Available", "activity": "Available"}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        ctl(
            &h,
            "PUT",
            &format!("/agents/{AGENT_BUSY}/talk-time"),
            Some(json!({"talkTimeMs": 1000}))
        )
        .await
        .0,
        204
    );
    let (_, a) = ctl(&h, "GET", &format!("/agents/{AGENT_BUSY}"), None).await;
    assert_eq!(a["behaviour"], json!({"type": "accept", "afterMs": 5}));
    assert_eq!(a["talkTimeMs"], 1000);
    assert_eq!(
        ctl(
            &h,
            "PUT",
            "/agents/nobody/behaviour",
            Some(json!({"type": "busy"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        ctl(
            &h,
            "PUT",
            &format!("/agents/{AGENT_BUSY}/behaviour"),
            Some(json!({"type": "dance"}))
        )
        .await
        .0,
        400
    );

    // Start a call through the API, script digits, answer over Call Automation, hang up.
    let (s, call) = ctl(
        &h,
        "POST",
        "/calls",
        Some(json!({"from": "+14255550111", "to": "+1 800 555 0199", "dtmf": "1"})),
    )
    .await;
    assert_eq!(s, 201, "{call}");
    let corr = call["correlationId"].as_str().unwrap().to_owned();
    let (s, e) = ctl(&h, "POST", "/calls", Some(json!({"to": "+19999999999"}))).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(
        ctl(
            &h,
            "POST",
            &format!("/calls/{corr}/dtmf"),
            Some(json!({"digits": "2#"}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        ctl(
            &h,
            "POST",
            &format!("/calls/{corr}/dtmf"),
            Some(json!({"digits": "x"}))
        )
        .await
        .0,
        400
    );
    let (_, snap) = ctl(&h, "GET", &format!("/calls/{corr}"), None).await;
    assert_eq!(snap["phase"], "ringing");
    assert_eq!(snap["pendingDtmf"], "12#");
    let r = h
        .post("/calling/callConnections:answer", json!({"incomingCallContext": call["incomingCallContext"], "callbackUri": h.callback_uri()}))
        .await;
    let ccid = r.body["callConnectionId"].as_str().unwrap().to_owned();
    h.cb.expect(&ccid, "ParticipantsUpdated").await;
    let (_, snap) = ctl(&h, "GET", &format!("/calls/{ccid}"), None).await;
    assert_eq!(snap["state"], "connected");
    assert_eq!(snap["participants"].as_array().unwrap().len(), 2);
    assert_eq!(
        ctl(&h, "POST", &format!("/calls/{ccid}/hangup"), None)
            .await
            .0,
        204
    );
    h.cb.expect(&ccid, "CallDisconnected").await;

    let (s, tl) = ctl(&h, "GET", &format!("/calls/{corr}/timeline"), None).await;
    assert_eq!(s, 200);
    let whats: Vec<&str> = tl
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert!(
        whats.contains(&"dialled") && whats.contains(&"answered") && whats.contains(&"dtmf"),
        "{whats:?}"
    );
    let (_, ledger) = ctl(&h, "GET", "/ledger", None).await;
    assert_eq!(ledger["total"]["answers"], 1);
    let (s, one) = ctl(&h, "GET", &format!("/ledger/{ccid}"), None).await;
    assert_eq!((s, one["effects"]["answers"].as_u64()), (200, Some(1)));
    assert_eq!(ctl(&h, "GET", "/calls/unknown", None).await.0, 404);

    // Faults and timing round-trip.
    let faults = json!({"callbacks": {"duplicate": 0.5}, "operations": {"AnswerCall": {"rules": [{"kind": "status", "status": 503, "times": 1}]}}});
    assert_eq!(ctl(&h, "PUT", "/faults", Some(faults)).await.0, 204);
    let (_, f) = ctl(&h, "GET", "/faults", None).await;
    assert_eq!(f["operations"]["AnswerCall"]["rules"][0]["times"], 1);
    assert_eq!(
        ctl(
            &h,
            "PUT",
            "/faults",
            Some(json!({"callbacks": {"drop": 2}}))
        )
        .await
        .0,
        400
    );
    let (_, t) = ctl(&h, "GET", "/timing", None).await;
    assert_eq!(t["playDurationMs"], 800, "the seed replaced the timing");
    assert_eq!(
        ctl(&h, "PUT", "/timing", Some(json!({"playDurationMs": 10})))
            .await
            .0,
        204
    );
    assert_eq!(h.sim.timing().play_duration, Duration::from_millis(10));

    let (_, msgs) = ctl(&h, "GET", "/eventgrid/messages", None).await;
    assert_eq!(msgs.as_array().unwrap().len(), 1);
    assert_eq!(ctl(&h, "POST", "/reset", None).await.0, 204);
    let (_, calls) = ctl(&h, "GET", "/calls", None).await;
    assert!(calls.as_array().unwrap().is_empty());
    let (_, ledger) = ctl(&h, "GET", "/ledger", None).await;
    assert_eq!(ledger["total"]["answers"], 0);
    assert_eq!(
        ctl(&h, "POST", "/seed", Some(json!({"agents": "nope"})))
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn start_with_a_seed_and_reject_bad_config() {
    let seed = switchboard_sim::Seed::from_json(include_str!("../examples/seed.json")).unwrap();
    let sim = Simulator::start(SimConfig {
        seed: Some(seed),
        random_seed: Some(1),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(sim.agents().len(), 5);
    assert_eq!(sim.timing().play_duration, Duration::from_millis(800));
    let debug = format!("{sim:?}");
    assert!(!debug.contains(sim.access_key().expose()), "{debug}");
    assert!(!format!("{:?}", sim.info()).contains(sim.access_key().expose()));
    sim.shutdown().await;
    // After shutdown the port no longer answers.
    let r = reqwest::Client::new()
        .get(format!("{}/__sim/health", sim.base_url()))
        .send()
        .await;
    assert!(r.is_err());

    let bad = Simulator::start(SimConfig {
        access_key: Some("%%%".into()),
        ..SimConfig::default()
    })
    .await;
    assert!(matches!(bad, Err(switchboard_sim::SimError::Config(_))));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = Simulator::start(SimConfig {
        bind: listener.local_addr().unwrap(),
        ..SimConfig::default()
    })
    .await;
    assert!(matches!(busy, Err(switchboard_sim::SimError::Bind { .. })));
}

#[tokio::test]
async fn raw_http_sink_numbers_agents_and_the_live_stream() {
    let h = start().await;
    let mut live = h.sim.subscribe();
    // Raw framing: the message body as is, properties as headers.
    let receiver = Receiver::start().await;
    h.sim.set_sink(HttpSink::new(
        format!("{}/raw", receiver.url),
        HttpSinkMode::Raw,
    ));
    let call = h.sim.start_call(StartCall::default()).unwrap();
    let got = receiver.next(WAIT).await.expect("delivered");
    assert!(String::from_utf8(got.body.clone())
        .unwrap()
        .starts_with('{'));
    assert_eq!(got.headers["message-id"], call.event_id.as_str());
    assert_eq!(
        got.headers["aeg-subscription-name"],
        "SWITCHBOARD-INCOMING-CALLS"
    );
    // The live stream saw the dial.
    let first = tokio::time::timeout(WAIT, live.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.correlation_id, call.correlation_id);
    assert_eq!(first.what, "dialled");

    // Numbers and agents over the control API.
    assert_eq!(
        ctl(
            &h,
            "POST",
            "/numbers",
            Some(json!([{"number": "+1 (800) 555-0177"}, {"number": "8:acs:res_line"}]))
        )
        .await
        .0,
        204
    );
    let (_, numbers) = ctl(&h, "GET", "/numbers", None).await;
    let list: Vec<&str> = numbers
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["number"].as_str().unwrap())
        .collect();
    assert!(
        list.contains(&"+18005550177") && list.contains(&"8:acs:res_line"),
        "{list:?}"
    );
    assert_eq!(
        ctl(
            &h,
            "POST",
            "/numbers",
            Some(json!({"number": "not a number"}))
        )
        .await
        .0,
        400
    );
    let (s, _) = ctl(
        &h,
        "POST",
        "/calls",
        Some(json!({"to": "8:acs:res_line", "from": "8:acs:res_caller"})),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        ctl(&h, "DELETE", &format!("/agents/{AGENT_BUSY}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        ctl(&h, "GET", &format!("/agents/{AGENT_BUSY}"), None)
            .await
            .0,
        404
    );
    assert_eq!(ctl(&h, "POST", "/agents", Some(json!({"id": "new-agent", "displayName": "New", "userPrincipalName": "new@contoso.com"}))).await.0, 204);
    let (_, a) = ctl(&h, "GET", "/agents/new-agent", None).await;
    assert_eq!(a["behaviour"]["type"], "accept");
    assert_eq!(
        ctl(
            &h,
            "PUT",
            "/agents/other-id",
            Some(json!({"id": "new-agent", "displayName": "X", "userPrincipalName": "x@y"}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        ctl(&h, "POST", "/calls", Some(json!({"surprise": true})))
            .await
            .0,
        400,
        "unknown fields are refused"
    );
}
