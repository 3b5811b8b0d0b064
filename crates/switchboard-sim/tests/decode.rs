//! Every callback and IncomingCall the simulator emits decodes with the events crate (the
//! worker's decoder) into its typed event — never `Unknown`, never a partial batch — and each
//! callback's `data` validates against the event's definition in the embedded spec.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};
use switchboard_contract::schema::{has_definition, validate_as, Direction};
use switchboard_events::{decode, AcsEvent, Schema};
use switchboard_sim::{EventSchema, StartCall};

/// Drive calls through (nearly) everything the simulator can emit.
async fn every_event(h: &Harness) {
    let (call, ccid) = h
        .connected_call_with(StartCall {
            dtmf: Some("1".into()),
            ..Default::default()
        })
        .await;
    let cc = |op: &str| format!("/calling/callConnections/{ccid}{op}");
    let caller = json!({"kind": "phoneNumber", "phoneNumber": {"value": call.from.trim_start_matches("4:")}});
    h.post(&cc(":play"), json!({"playSources": [{"kind": "file", "file": {"uri": "https://x/a.wav"}}], "operationContext": "p"})).await;
    h.post(
        &cc(":play"),
        json!({"playSources": [{"kind": "file", "file": {"uri": "https://x/a.ogg"}}]}),
    )
    .await;
    h.post(&cc(":recognize"), json!({"recognizeInputType": "dtmf", "recognizeOptions": {"targetParticipant": caller, "dtmfOptions": {"maxTonesToCollect": 1}}})).await;
    h.post(&cc(":recognize"), json!({"recognizeInputType": "dtmf", "recognizeOptions": {"targetParticipant": caller, "initialSilenceTimeoutInSeconds": 1}})).await;
    h.post(&cc(":play"), json!({"playSources": [{"kind": "text", "text": {"text": "hold on"}}], "playOptions": {"loop": true}})).await;
    h.cb.until(Some(&ccid), "RecognizeFailed").await;
    h.post(&cc(":cancelAllMediaOperations"), json!({})).await;
    h.cb.until(Some(&ccid), "PlayCanceled").await;
    h.post(&cc(":hold"), json!({"targetParticipant": caller}))
        .await;
    h.post(&cc(":unhold"), json!({"targetParticipant": caller}))
        .await;
    h.post("/calling/recordings", json!({"callConnectionId": ccid}))
        .await;
    h.cb.until(Some(&ccid), "RecordingStateChanged").await;
    h.add(&ccid, AGENT_DECLINE, "d").await;
    h.cb.until(Some(&ccid), "AddParticipantFailed").await;
    let inv = h.add(&ccid, AGENT_NO_ANSWER, "n").await.body["invitationId"]
        .as_str()
        .unwrap()
        .to_owned();
    h.post(
        &cc("/participants:cancelAddParticipant"),
        json!({"invitationId": inv}),
    )
    .await;
    h.cb.until(Some(&ccid), "CancelAddParticipantSucceeded")
        .await;
    h.add(&ccid, AGENT_ACCEPT, "a").await;
    h.cb.until(Some(&ccid), "AddParticipantSucceeded").await;
    h.post(
        &cc("/participants:remove"),
        json!({"participantToRemove": teams(AGENT_ACCEPT)}),
    )
    .await;
    h.cb.until(Some(&ccid), "RemoveParticipantSucceeded").await;
    h.post(
        &cc(":transferToParticipant"),
        json!({"targetParticipant": teams(AGENT_BUSY)}),
    )
    .await;
    h.cb.until(Some(&ccid), "CallTransferFailed").await;
    h.post(
        &cc(":transferToParticipant"),
        json!({"targetParticipant": teams(AGENT_VOICEMAIL)}),
    )
    .await;
    h.cb.until(Some(&ccid), "CallDisconnected").await;
    // An outbound call that fails.
    h.post(
        "/calling/callConnections",
        json!({"targets": [teams(AGENT_DECLINE)], "callbackUri": h.callback_uri()}),
    )
    .await;
    h.cb.until(None, "CreateCallFailed").await;
    h.cb.until(None, "CallDisconnected").await;
}

#[tokio::test]
async fn every_emitted_callback_decodes_and_matches_the_spec() {
    let h = start().await;
    every_event(&h).await;
    let bodies = h.cb.raw_bodies();
    let mut seen = BTreeSet::new();
    for body in &bodies {
        let decoded = decode(body)
            .unwrap_or_else(|e| panic!("decodes: {e}: {}", String::from_utf8_lossy(body)));
        assert!(decoded.is_array, "callbacks are arrays");
        assert_eq!(decoded.schema, Schema::CloudEvents);
        assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
        for ev in &decoded.events {
            assert!(
                !matches!(ev.payload, AcsEvent::Unknown { .. }),
                "typed: {}",
                ev.short_type()
            );
            assert!(ev.call_connection_id().is_some());
            assert!(ev.result_information().is_some());
            seen.insert(ev.short_type().to_owned());
        }
        // `data` against the spec's definition of the event.
        let v: Value = serde_json::from_slice(body).unwrap();
        for e in v.as_array().unwrap() {
            let kind = e["type"]
                .as_str()
                .unwrap()
                .trim_start_matches("Microsoft.Communication.");
            let mut data = e["data"].clone();
            // Payload wins over contract: the live service adds `version` and
            // `publicEventType` (and `eventSource` on recording events), which the 2026-03-12
            // definitions do not list. Everything else must validate.
            if let Some(m) = data.as_object_mut() {
                for extra in ["version", "publicEventType", "eventSource"] {
                    m.remove(extra);
                }
            }
            assert!(has_definition(kind), "{kind} is a spec event");
            validate_as(kind, &data, Direction::Response)
                .unwrap_or_else(|errs| panic!("{kind} data fails the spec: {errs:?}: {data}"));
        }
    }
    for want in [
        "CallConnected",
        "ParticipantsUpdated",
        "PlayStarted",
        "PlayCompleted",
        "PlayFailed",
        "PlayCanceled",
        "RecognizeCompleted",
        "RecognizeFailed",
        "RecordingStateChanged",
        "AddParticipantSucceeded",
        "AddParticipantFailed",
        "CancelAddParticipantSucceeded",
        "RemoveParticipantSucceeded",
        "CallTransferFailed",
        "CallTransferAccepted",
        "CallDisconnected",
        "CreateCallFailed",
    ] {
        assert!(
            seen.contains(want),
            "{want} was emitted and decoded; saw {seen:?}"
        );
    }
}

#[tokio::test]
async fn incoming_calls_decode_in_both_schemas() {
    let h = start().await;
    for schema in [EventSchema::EventGrid, EventSchema::CloudEvents] {
        let call = h
            .sim
            .start_call(StartCall {
                schema: Some(schema),
                ..Default::default()
            })
            .unwrap();
        let m = h.next_incoming().await;
        let d = decode(&m.body).expect("IncomingCall decodes");
        assert!(!d.is_array);
        assert_eq!(
            d.schema,
            if schema == EventSchema::EventGrid {
                Schema::EventGrid
            } else {
                Schema::CloudEvents
            }
        );
        match &d.events[0].payload {
            AcsEvent::IncomingCall(ic) => {
                assert_eq!(
                    ic.correlation_id.as_ref().map(|c| c.to_string()),
                    Some(call.correlation_id.clone())
                );
                assert_eq!(
                    ic.incoming_call_context.as_ref().map(|c| c.expose()),
                    Some(call.incoming_call_context.as_str())
                );
                assert_eq!(ic.normalized_to(), NUMBER);
                assert_eq!(ic.from.raw_id(), call.from);
            }
            other => panic!("expected IncomingCall, got {other:?}"),
        }
    }
}
