//! Callbacks as ACS sends them: JSON array bodies whose events have the same field names and
//! nesting as the live captures, `\u002B` time offsets, and a bearer JWT that verifies with
//! the JWKS the simulator serves through its OpenID configuration.

mod common;

use std::collections::BTreeSet;

use common::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

const PAYLOADS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/payloads");

/// The first event of a payload file (array or single object).
fn capture(file: &str) -> Value {
    let text = std::fs::read_to_string(format!("{PAYLOADS}/{file}")).unwrap();
    match serde_json::from_str::<Value>(&text).unwrap() {
        Value::Array(mut a) => a.remove(0),
        v => v,
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Keys of an identifier with the kind-named sub-object generalised, so a Teams user and an
/// ACS user compare as the same shape: `{kind, rawId, <kind>: {...}}`.
fn id_keys(v: &Value) -> BTreeSet<String> {
    let kind = v["kind"].as_str().unwrap_or_default().to_owned();
    assert!(
        v.get(&kind).is_some_and(Value::is_object),
        "identifier carries its {kind} object: {v}"
    );
    keys(v)
        .into_iter()
        .map(|k| if k == kind { "<kind>".into() } else { k })
        .collect()
}

/// Same envelope keys; `data` keys equal to the capture's, modulo `operationContext` (only
/// present when the request set one).
fn assert_same_shape(ours: &Value, theirs: &Value) {
    assert_eq!(keys(ours), keys(theirs), "envelope of {}", ours["type"]);
    let mut a = keys(&ours["data"]);
    let mut b = keys(&theirs["data"]);
    a.remove("operationContext");
    b.remove("operationContext");
    assert_eq!(a, b, "data of {}", ours["type"]);
    for field in ["participant", "transferTarget", "transferee"] {
        if theirs["data"].get(field).is_some() {
            assert_eq!(
                id_keys(&ours["data"][field]),
                id_keys(&theirs["data"][field]),
                "{field} of {}",
                ours["type"]
            );
        }
    }
    if let Some(p) = theirs["data"]["participants"]
        .as_array()
        .and_then(|p| p.first())
    {
        for ours_p in ours["data"]["participants"].as_array().unwrap() {
            assert_eq!(keys(ours_p), keys(p));
            assert_eq!(id_keys(&ours_p["identifier"]), id_keys(&p["identifier"]));
        }
    }
    assert_eq!(
        keys(&ours["data"]["resultInformation"]),
        keys(&theirs["data"]["resultInformation"])
    );
}

#[tokio::test]
async fn callback_shapes_match_the_live_captures() {
    let h = start().await;
    let (call, ccid) = h.connected_call().await;
    // The answer's CallConnected + ParticipantsUpdated were consumed; make more happen.
    h.add(&ccid, AGENT_ACCEPT, "add").await;
    let add = h.cb.until(Some(&ccid), "ParticipantsUpdated").await;
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}/participants:remove"),
            json!({"participantToRemove": teams(AGENT_ACCEPT)}),
        )
        .await;
    assert_eq!(r.status, 202);
    let removed = h.cb.expect(&ccid, "RemoveParticipantSucceeded").await;
    let inv = h.add(&ccid, AGENT_NO_ANSWER, "ring").await.body["invitationId"]
        .as_str()
        .unwrap()
        .to_owned();
    h.post(
        &format!("/calling/callConnections/{ccid}/participants:cancelAddParticipant"),
        json!({"invitationId": inv}),
    )
    .await;
    let cancelled = h.cb.expect(&ccid, "CancelAddParticipantSucceeded").await;
    h.post(
        &format!("/calling/callConnections/{ccid}:play"),
        json!({"playSources": [{"kind": "file", "file": {"uri": "https://x/a.mp4"}}]}),
    )
    .await;
    let play_failed = h.cb.expect(&ccid, "PlayFailed").await;
    h.post(
        &format!("/calling/callConnections/{ccid}:play"),
        json!({"playSources": [{"kind": "file", "file": {"uri": "https://x/a.wav"}}]}),
    )
    .await;
    let play_done = h.cb.expect(&ccid, "PlayCompleted").await;
    let rec = h.post("/calling/recordings", json!({"callLocator": {"kind": "serverCallLocator", "serverCallId": call.server_call_id}})).await;
    assert_eq!(rec.status, 200, "{:?}", rec.body);
    assert_eq!(rec.body["recordingState"], "active");
    let recording = h.cb.expect(&ccid, "RecordingStateChanged").await;
    h.post(
        &format!("/calling/callConnections/{ccid}:transferToParticipant"),
        json!({"targetParticipant": teams(AGENT_DECLINE)}),
    )
    .await;
    h.cb.expect(&ccid, "CallTransferFailed").await;
    h.post(
        &format!("/calling/callConnections/{ccid}:transferToParticipant"),
        json!({"targetParticipant": teams(AGENT_VOICEMAIL)}),
    )
    .await;
    let xfer = h.cb.until(Some(&ccid), "CallDisconnected").await;

    assert_same_shape(&add[0], &capture("java-2025-06-15_createVOIPCallAndAnswerThenAddParticipantFinallyRemoveParticipantAutomatedTest__AddParticipantSucceeded.json"));
    assert_same_shape(&add[1], &capture("java-2025-06-15_createVOIPCallAndAnswerThenAddParticipantFinallyRemoveParticipantAutomatedTest__ParticipantsUpdated.json"));
    assert_same_shape(&removed, &capture("java-2025-06-15_createVOIPCallAndAnswerThenAddParticipantFinallyRemoveParticipantAutomatedTest__RemoveParticipantSucceeded.json"));
    assert_same_shape(&cancelled, &capture("java-2025-06-15_createVOIPCallAndAnswerThenAddParticipantFinallyCancelAddParticipant__CancelAddParticipantSucceeded.json"));
    assert_same_shape(&play_failed, &capture("py-2026-03-12_test_play_with_invalid_file_sources_with_play_media-RESERIALIZED-single__PlayFailed.json"));
    assert_same_shape(&recording, &capture("py-2024-09-01-preview_test_start_recording_with_call_connection_id-RESERIALIZED-single__RecordingStateChanged.json"));
    assert_same_shape(&xfer[xfer.len() - 1], &capture("java-2025-06-15_createVOIPCallAndAnswerThenAddParticipantFinallyRemoveParticipantAutomatedTest__CallDisconnected.json"));
    // PlayCompleted: the only capture is pre-GA (no version/publicEventType); compare the rest.
    let old = capture("py-2023-06-noversion_test_play_media_in_a_call__PlayCompleted.json");
    assert_eq!(keys(&play_done), keys(&old));
    assert_eq!(
        play_done["data"]["resultInformation"],
        old["data"]["resultInformation"]
    );
    // CallTransferAccepted: the 2023 fixture has no version/publicEventType either.
    let accepted = xfer
        .iter()
        .find(|e| short_type(e) == "CallTransferAccepted")
        .unwrap();
    let fixture = capture(
        "java-fixture-2023-07_CallAutomationEventParserUnitTests__CallTransferAccepted.json",
    );
    let mut ours = keys(&accepted["data"]);
    for k in ["version", "publicEventType"] {
        ours.remove(k);
    }
    assert_eq!(ours, keys(&fixture["data"]));
    assert_eq!(
        accepted["data"]["resultInformation"],
        fixture["data"]["resultInformation"]
    );

    // Recording events come from calling/recordings/<serverCallId>/<recordingId>/…
    assert_eq!(
        recording["source"],
        format!(
            "calling/recordings/{}/{}/RecordingStateChanged",
            call.server_call_id,
            rec.body["recordingId"].as_str().unwrap()
        )
    );
    assert_eq!(recording["data"]["state"], "active");
    assert_eq!(
        recording["data"]["recordingKind"],
        "azureCommunicationServices"
    );
}

#[tokio::test]
async fn bodies_are_arrays_with_dotnet_escaping_and_current_versions() {
    let h = start().await;
    let call = h.sim.start_call(Default::default()).unwrap();
    let r = h
        .post("/calling/callConnections:answer", json!({"incomingCallContext": call.incoming_call_context, "callbackUri": h.callback_uri()}))
        .await;
    let ccid = r.body["callConnectionId"].as_str().unwrap().to_owned();
    let first = h.cb.next(WAIT).await.unwrap();
    let text = String::from_utf8(first.body.clone()).unwrap();
    assert!(text.starts_with("[{\"id\":"), "{text}");
    assert!(
        text.contains("\\u002B00:00\""),
        "offset escaped like the service: {text}"
    );
    assert_eq!(first.headers["content-type"], "application/json");
    let e = &first.events[0];
    assert_eq!(short_type(e), "CallConnected");
    assert_eq!(e["data"]["version"], API);
    assert_eq!(
        e["data"]["publicEventType"],
        "Microsoft.Communication.CallConnected"
    );
    assert_eq!(e["subject"], format!("calling/callConnections/{ccid}"));
    assert_eq!(e["specversion"], "1.0");
    assert_eq!(e["datacontenttype"], "application/json");
    // The PSTN caller's raw id is escaped too (4:\u002B…).
    let pu = h.cb.next(WAIT).await.unwrap();
    assert!(String::from_utf8(pu.body)
        .unwrap()
        .contains("4:\\u002B1425"));
    let tl = h.sim.timeline(&ccid);
    assert!(tl
        .iter()
        .any(|e| e.what == "CallConnected" && e.detail["status"] == 200));

    // The callback version follows the api-version the call was answered with.
    let call = h.sim.start_call(Default::default()).unwrap();
    let url = url::Url::parse(&format!(
        "{}/calling/callConnections:answer?api-version=2025-06-15",
        h.sim.base_url()
    ))
    .unwrap();
    let body =
        json!({"incomingCallContext": call.incoming_call_context, "callbackUri": h.callback_uri()});
    let r = h.send("POST", url, Some(&body), &[]).await;
    let ccid = r.body["callConnectionId"].as_str().unwrap().to_owned();
    let e = h.cb.expect(&ccid, "CallConnected").await;
    assert_eq!(e["data"]["version"], "2025-06-15");
}

#[tokio::test]
async fn callback_jwt_verifies_with_the_served_jwks() {
    let h = start().await;
    let call = h.sim.start_call(Default::default()).unwrap();
    h.post(
        "/calling/callConnections:answer",
        json!({"incomingCallContext": call.incoming_call_context, "callbackUri": h.callback_uri()}),
    )
    .await;
    let got = h.cb.next(WAIT).await.unwrap();
    let auth = got.headers["authorization"].to_str().unwrap();
    let token = auth.strip_prefix("Bearer ").expect("bearer token");

    // Discover keys the standard way.
    let oidc: Value = h
        .http
        .get(h.sim.openid_config_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        oidc["issuer"],
        "https://acscallautomation.communication.azure.com"
    );
    assert_eq!(oidc["jwks_uri"], h.sim.jwks_url());
    let jwks: JwkSet = h
        .http
        .get(oidc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).expect("the token's key is in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&["https://acscallautomation.communication.azure.com"]);
    v.set_audience(&[h.sim.resource_id()]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "nbf"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &v)
        .expect("valid token")
        .claims;
    assert_eq!(claims["aud"], h.sim.resource_id());
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

    // A different audience does not verify.
    v.set_audience(&["some-other-resource"]);
    assert!(jsonwebtoken::decode::<Value>(token, &key, &v).is_err());
}

#[tokio::test]
async fn a_configured_signing_key_gives_a_stable_key_set() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let pem = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string();
    let mut cfg = test_config();
    cfg.jwt.signing_key_pem = Some(switchboard_sim::Secret::new(pem.clone()));
    let a = start_with(cfg.clone()).await;
    let b = start_with(cfg).await;
    let jwks = |h: &Harness| {
        let url = h.sim.jwks_url().to_owned();
        let http = h.http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        jwks(&a).await,
        jwks(&b).await,
        "same key, same JWKS (several processes can share one verifier config)"
    );
    assert!(!format!("{:?}", a.sim).contains("PRIVATE KEY"));
}
