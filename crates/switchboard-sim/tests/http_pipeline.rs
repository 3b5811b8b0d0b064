//! The request pipeline over raw HTTP: HMAC (good, bad, missing, stale, tampered body),
//! bearer, api-version, unknown routes and calls, body validation, repeatability.

mod common;

use common::*;
use serde_json::{json, Value};
use switchboard_contract::hmac;
use switchboard_sim::{Secret, SimConfig};

fn error_code(r: &Resp) -> &str {
    r.body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn signatures_good_bad_missing_stale_and_tampered() {
    let h = start().await;
    let url = h.url("/calling/callConnections/nope");

    // Good signature reaches the operation (unknown call → 404 with an error body).
    let r = h.send("GET", url.clone(), None, &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(error_code(&r), "8522");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nope"));

    // Missing Authorization.
    let r = h.http.get(url.clone()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Denied");

    // Wrong key.
    let other = hmac::AccessKey::from_base64("d3Jvbmcta2V5LWZvci10ZXN0cw==").unwrap();
    let mut req = h.http.get(url.clone());
    for (k, v) in sign_headers(&other, "GET", &url, b"") {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 401);

    // Stale x-ms-date (20 minutes old), signature otherwise right.
    let old = httpdate::fmt_http_date(
        std::time::SystemTime::now() - std::time::Duration::from_secs(20 * 60),
    );
    let hash = hmac::content_hash(b"");
    let host = format!("127.0.0.1:{}", h.sim.addr().port());
    let pq = &url[url::Position::BeforePath..];
    let sig = h
        .key
        .sign(&hmac::string_to_sign("GET", pq, &old, &host, &hash));
    let r = h
        .http
        .get(url.clone())
        .header("x-ms-date", &old)
        .header("x-ms-content-sha256", &hash)
        .header("authorization", hmac::authorization_header(&sig))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("skew"));

    // Body tampered after signing: content hash mismatch.
    let url = h.url("/calling/callConnections:answer");
    let signed_body = br#"{"incomingCallContext":"a","callbackUri":"http://x/y"}"#;
    let mut req = h
        .http
        .post(url.clone())
        .body(r#"{"incomingCallContext":"b","callbackUri":"http://x/y"}"#);
    for (k, v) in sign_headers(&h.key, "POST", &url, signed_body) {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("x-ms-content-sha256"));

    // Signed for another path.
    let other_url = h.url("/calling/callConnections/x");
    let mut req = h.http.get(h.url("/calling/callConnections/y"));
    for (k, v) in sign_headers(&h.key, "GET", &other_url, b"") {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 401);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn bearer_tokens_when_configured() {
    let h = start_with(SimConfig {
        accept_bearer: Some(Secret::new("local-token")),
        ..test_config()
    })
    .await;
    let url = h.url("/calling/callConnections/unknown");
    let r = h
        .http
        .get(url.clone())
        .bearer_auth("local-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "bearer accepted, then the call is unknown");
    let r = h
        .http
        .get(url.clone())
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // HMAC still works.
    assert_eq!(h.send("GET", url, None, &[]).await.status, 404);

    // Without the setting, bearer is refused.
    let plain = start().await;
    let r = plain
        .http
        .get(plain.url("/calling/callConnections/unknown"))
        .bearer_auth("local-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn api_version_is_checked() {
    let h = start().await;
    let base = h.sim.base_url();
    let missing = url::Url::parse(&format!("{base}/calling/callConnections/x")).unwrap();
    let r = h.send("GET", missing, None, &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(error_code(&r), "MissingApiVersionParameter");
    let bad = url::Url::parse(&format!(
        "{base}/calling/callConnections/x?api-version=2019-01-01"
    ))
    .unwrap();
    let r = h.send("GET", bad, None, &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(error_code(&r), "UnsupportedApiVersion");
    let older = url::Url::parse(&format!(
        "{base}/calling/callConnections/x?api-version=2025-06-15"
    ))
    .unwrap();
    assert_eq!(h.send("GET", older, None, &[]).await.status, 404);
}

#[tokio::test]
async fn unknown_routes_and_bad_bodies() {
    let h = start().await;
    let r = h
        .post("/calling/callConnections/x:explode", json!({}))
        .await;
    assert_eq!(r.status, 404);
    assert!(r.body["error"]["code"].is_string());
    let r = h.get("/calling/nothing/here").await;
    assert_eq!(r.status, 404);
    let r = h
        .http
        .get(format!("{}/elsewhere", h.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Invalid JSON.
    let url = h.url("/calling/callConnections:answer");
    let mut req = h.http.post(url.clone()).body("{not json");
    for (k, v) in sign_headers(&h.key, "POST", &url, b"{not json") {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "8523");

    // Missing a required field.
    let r = h
        .post(
            "/calling/callConnections:answer",
            json!({"callbackUri": "http://127.0.0.1:1/cb"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(error_code(&r), "8523");
    // Unknown incomingCallContext.
    let r = h
        .post(
            "/calling/callConnections:answer",
            json!({"incomingCallContext": "forged", "callbackUri": "http://127.0.0.1:1/cb"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(error_code(&r), "8523");
    // Relative callback URI.
    let call = h.sim.start_call(Default::default()).unwrap();
    let r = h
        .post(
            "/calling/callConnections:answer",
            json!({"incomingCallContext": call.incoming_call_context, "callbackUri": "/relative"}),
        )
        .await;
    assert_eq!(r.status, 400);
    // Strict spec validation: an unknown property or a bad enum value is a 400 naming it.
    let r = h
        .post(
            "/calling/callConnections:answer",
            json!({"incomingCallContext": call.incoming_call_context, "callbackUri": h.callback_uri(), "colour": "blue"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{:?}",
        r.body
    );
    let r = h
        .post(
            "/calling/callConnections:reject",
            json!({"incomingCallContext": call.incoming_call_context, "callRejectReason": "bored"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        h.sim.ledger().total.answers + h.sim.ledger().total.rejects,
        0,
        "invalid bodies have no effect"
    );
    // Unsupported (by the simulator) operations still authenticate, validate and answer 405.
    let r = h.post("/calling/callConnections:connect", json!({"callLocator": {"kind": "roomCallLocator", "roomId": "r"}, "callbackUri": "http://x/cb"})).await;
    assert_eq!(r.status, 405);
    assert_eq!(error_code(&r), "8520");
}

fn repeat_headers(id: &str, first_sent: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Repeatability-Request-ID", id.to_owned()),
        ("Repeatability-First-Sent", first_sent.to_owned()),
    ]
}

#[tokio::test]
async fn repeatability_replays_once_and_rejects_a_different_body() {
    let h = start().await;
    let (call, ccid) = h.connected_call().await;
    let now = httpdate::fmt_http_date(std::time::SystemTime::now());
    let id = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
    let url = h.url(&format!("/calling/callConnections/{ccid}/participants:add"));
    let body = json!({"participantToAdd": teams(AGENT_ACCEPT), "operationContext": "add-1"});

    let first = h
        .send("POST", url.clone(), Some(&body), &repeat_headers(id, &now))
        .await;
    assert_eq!(first.status, 202);
    assert_eq!(first.headers["repeatability-result"], "accepted");
    let second = h
        .send("POST", url.clone(), Some(&body), &repeat_headers(id, &now))
        .await;
    assert_eq!(second.status, 202);
    assert_eq!(second.headers["repeatability-result"], "accepted");
    assert_eq!(
        second.raw, first.raw,
        "the first response is replayed byte for byte"
    );
    assert_eq!(second.body["invitationId"], first.body["invitationId"]);

    // Same id, different body → rejected, nothing happens.
    let other = json!({"participantToAdd": teams(AGENT_DECLINE), "operationContext": "add-1"});
    let third = h
        .send("POST", url.clone(), Some(&other), &repeat_headers(id, &now))
        .await;
    assert_eq!(third.status, 400);
    assert_eq!(third.headers["repeatability-result"], "rejected");

    // Exactly one add happened, and exactly one agent joined.
    h.cb.expect(&ccid, "AddParticipantSucceeded").await;
    let effects = h.sim.call_effects(&call.correlation_id).unwrap().effects;
    assert_eq!(effects.adds, 1);
    assert_eq!(effects.answers, 1);
    assert_eq!(h.sim.ledger().replayed_requests, 1);
    let extra = h.cb.drain(std::time::Duration::from_millis(150)).await;
    assert!(
        !extra
            .iter()
            .any(|e| short_type(e).starts_with("AddParticipant")),
        "no second add: {extra:?}"
    );

    // Bad formats and a first-sent outside the 5-minute window.
    let r = h
        .send(
            "POST",
            url.clone(),
            Some(&body),
            &repeat_headers("not-a-guid", &now),
        )
        .await;
    assert_eq!(r.status, 400);
    let old =
        httpdate::fmt_http_date(std::time::SystemTime::now() - std::time::Duration::from_secs(600));
    let r = h
        .send(
            "POST",
            url.clone(),
            Some(&body),
            &repeat_headers("0f8fad5b-d9cb-469f-a165-70867728950e", &old),
        )
        .await;
    assert_eq!(r.status, 412);
    let r = h
        .send(
            "POST",
            url,
            Some(&body),
            &[(
                "Repeatability-Request-ID",
                "0f8fad5b-d9cb-469f-a165-70867728950e".to_owned(),
            )],
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn repeated_answer_is_one_answer_and_a_second_answer_conflicts() {
    let h = start().await;
    let call = h.sim.start_call(Default::default()).unwrap();
    let now = httpdate::fmt_http_date(std::time::SystemTime::now());
    let body =
        json!({"incomingCallContext": call.incoming_call_context, "callbackUri": h.callback_uri()});
    let url = h.url("/calling/callConnections:answer");
    let hdrs = repeat_headers("1b4e28ba-2fa1-11d2-883f-0016d3cca427", &now);
    let a = h.send("POST", url.clone(), Some(&body), &hdrs).await;
    let b = h.send("POST", url.clone(), Some(&body), &hdrs).await;
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(a.body["callConnectionId"], b.body["callConnectionId"]);
    assert_eq!(
        h.sim
            .call_effects(&call.correlation_id)
            .unwrap()
            .effects
            .answers,
        1
    );
    // Without repeatability a second answer is a conflict (the call is already answered).
    let c = h.send("POST", url, Some(&body), &[]).await;
    assert_eq!(c.status, 409);
    assert_eq!(error_code(&c), "8519");
    assert_eq!(
        h.sim
            .call_effects(&call.correlation_id)
            .unwrap()
            .effects
            .answers,
        1
    );
}

#[tokio::test]
async fn answer_fails_for_expired_and_abandoned_calls() {
    let mut cfg = test_config();
    cfg.timing.ringing_timeout = std::time::Duration::from_millis(50);
    let h = start_with(cfg).await;
    let expired = h.sim.start_call(Default::default()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    let r = h
        .post("/calling/callConnections:answer", json!({"incomingCallContext": expired.incoming_call_context, "callbackUri": h.callback_uri()}))
        .await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert_eq!(
        h.sim.call(&expired.correlation_id).unwrap().phase,
        switchboard_sim::Phase::Expired
    );

    let h = start().await;
    let gone = h.sim.start_call(Default::default()).unwrap();
    h.sim.hang_up_caller(&gone.correlation_id).unwrap();
    let r = h
        .post("/calling/callConnections:answer", json!({"incomingCallContext": gone.incoming_call_context, "callbackUri": h.callback_uri()}))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(h.sim.ledger().total.answers, 0);
}

/// Garbage of every shape at every operation: always a 4xx (or the operation's own answer for
/// body-less operations), never a 5xx, never a dead server.
#[tokio::test]
async fn no_body_breaks_any_operation() {
    let h = start().await;
    let (call, ccid) = h.connected_call().await;
    let bodies = [
        json!({}),
        json!([]),
        json!("text"),
        json!(null),
        json!(42),
        json!({"a": {"b": [1, {"c": null}]}}),
    ];
    for op in switchboard_contract::operations() {
        let params: Vec<(&str, &str)> = op
            .path_params
            .iter()
            .map(|p| match p.as_str() {
                "callConnectionId" => ("callConnectionId", ccid.as_str()),
                "participantRawId" => ("participantRawId", call.from.as_str()),
                other => (other, "some-id"),
            })
            .collect();
        let path = op.render_path(&params).unwrap();
        for body in &bodies {
            let r = h.send(&op.method, h.url(&path), Some(body), &[]).await;
            assert!(
                r.status < 500,
                "{} {path} with {body}: {} {:?}",
                op.method,
                r.status,
                r.body
            );
            if r.status >= 400 {
                assert!(
                    r.body["error"]["code"].is_string(),
                    "{} {path}: error body {:?}",
                    op.method,
                    r.body
                );
            }
        }
    }
    // Still alive and consistent: the body-less hang up / terminate ended the call.
    let r = h.get(&format!("/calling/callConnections/{ccid}")).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (404, Some("8522"))
    );
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.hangups, 1);
}
