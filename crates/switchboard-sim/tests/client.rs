//! The simulator driven by the project's Call Automation client (`switchboard-callautomation`)
//! rather than raw HTTP: every operation the worker uses, typed responses, the "call is gone"
//! error, and the client's retries meeting the simulator's faults and repeatability — a
//! retried request performs its effect exactly once.

mod common;

use std::time::Duration;

use common::*;
use switchboard_callautomation::{
    AddParticipantRequest, AnswerCallRequest, CallAutomationClient, CallConnectionState,
    CallIntelligenceOptions, ClientOptions, HoldRequest, MuteParticipantsRequest, PlayRequest,
    PlaySource, RecognizeRequest, RecordingState, RemoveParticipantRequest, Repeatability,
    RequestOptions, RetryOptions, StartCallRecordingRequest, TransferToParticipantRequest,
    UnholdRequest,
};
use switchboard_events::{CallConnectionId, CommunicationIdentifier, ServerCallId};
use switchboard_sim::{FaultKind, FaultRule, FaultSpec, Faults, SimConfig, StartCall};

fn client(h: &Harness) -> CallAutomationClient {
    let options = ClientOptions {
        retry: RetryOptions {
            max_attempts: 4,
            initial_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            jitter: false,
            jitter_seed: None,
            total_deadline: Some(Duration::from_secs(20)),
            ..RetryOptions::default()
        },
        ..ClientOptions::default()
    };
    CallAutomationClient::from_connection_string(h.sim.connection_string().expose(), options)
        .expect("client")
}

fn none() -> RequestOptions {
    RequestOptions::default()
}

async fn answered(
    h: &Harness,
    c: &CallAutomationClient,
    req: StartCall,
) -> (switchboard_sim::CallHandle, CallConnectionId) {
    let call = h.sim.start_call(req).unwrap();
    let mut answer = AnswerCallRequest::new(call.incoming_call_context.clone(), h.callback_uri());
    // Text prompts below need Azure AI services on the call (ADR 0009).
    answer.call_intelligence_options = Some(CallIntelligenceOptions {
        cognitive_services_endpoint: Some(h.sim.cognitive_services_endpoint().to_owned()),
    });
    let props = c.answer_call(&answer, none()).await.expect("answer");
    assert_eq!(
        props.call_connection_state,
        Some(CallConnectionState::Connecting)
    );
    let ccid = props.call_connection_id.expect("call connection id");
    h.cb.until(Some(ccid.as_str()), "ParticipantsUpdated").await;
    (call, ccid)
}

#[tokio::test]
async fn every_worker_operation_through_the_client() {
    let h = start_with(SimConfig {
        participants_page_size: 1,
        ..test_config()
    })
    .await;
    let c = client(&h);
    let (call, ccid) = answered(
        &h,
        &c,
        StartCall {
            from: Some("8:acs:customer_0001".into()),
            dtmf: Some("3".into()),
            ..Default::default()
        },
    )
    .await;
    let cc = ccid.as_str();
    let caller = CommunicationIdentifier::from_raw_id(&call.from);

    let got = c.get_call(&ccid, none()).await.unwrap();
    assert_eq!(
        got.call_connection_state,
        Some(CallConnectionState::Connected)
    );
    assert_eq!(
        got.server_call_id,
        Some(ServerCallId::from(call.server_call_id.as_str()))
    );

    // IVR: recognize with the scripted digit.
    let prompt = PlaySource::text("Press 3 for support");
    c.recognize(
        &ccid,
        &RecognizeRequest::dtmf(caller.clone(), Some(prompt), 1),
        none(),
    )
    .await
    .unwrap();
    let e = h.cb.expect(cc, "RecognizeCompleted").await;
    assert_eq!(
        e["data"]["dtmfResult"]["tones"],
        serde_json::json!(["three"])
    );

    // Hold music while routing, then unhold.
    c.hold(
        &ccid,
        &HoldRequest::new(
            caller.clone(),
            Some(PlaySource::file("https://example.com/hold.wav")),
        ),
        none(),
    )
    .await
    .unwrap();
    c.unhold(&ccid, &UnholdRequest::new(caller.clone()), none())
        .await
        .unwrap();
    c.play(
        &ccid,
        &PlayRequest::new(vec![PlaySource::file("https://example.com/notice.wav")]),
        none(),
    )
    .await
    .unwrap();
    h.cb.expect(cc, "PlayCompleted").await;
    c.mute_participants(&ccid, &MuteParticipantsRequest::new(caller.clone()), none())
        .await
        .unwrap();

    // Recording.
    let rec = c
        .start_recording(
            &StartCallRecordingRequest::for_server_call(ServerCallId::from(
                call.server_call_id.as_str(),
            )),
            none(),
        )
        .await
        .unwrap();
    let rid = rec.recording_id.expect("recording id");
    assert_eq!(rec.recording_state, Some(RecordingState::Active));
    c.pause_recording(&rid, none()).await.unwrap();
    assert_eq!(
        c.get_recording(&rid, none()).await.unwrap().recording_state,
        Some(RecordingState::Inactive)
    );
    c.resume_recording(&rid, none()).await.unwrap();
    c.stop_recording(&rid, none()).await.unwrap();
    assert!(c.get_recording(&rid, none()).await.is_err());

    // Ring an agent with derived repeatability, twice (a redelivered message): one invitation.
    let agent = CommunicationIdentifier::teams_user(AGENT_ACCEPT);
    let rep = Repeatability::derive("event-123", "add:1", time::OffsetDateTime::now_utc());
    let mut add = AddParticipantRequest::new(agent.clone());
    add.invitation_timeout_in_seconds = Some(30);
    let first = c
        .add_participant(&ccid, &add, RequestOptions::with_repeatability(rep))
        .await
        .unwrap();
    let again = c
        .add_participant(&ccid, &add, RequestOptions::with_repeatability(rep))
        .await
        .unwrap();
    assert_eq!(first.invitation_id, again.invitation_id);
    h.cb.expect(cc, "AddParticipantSucceeded").await;
    h.cb.expect(cc, "ParticipantsUpdated").await;
    let parts = c.list_participants(&ccid, none()).await.unwrap();
    assert_eq!(parts.len(), 3, "three pages of one");
    assert!(parts.iter().any(|p| p.identifier == agent));
    let p = c.get_participant(&ccid, &caller, none()).await.unwrap();
    assert!(p.is_muted);

    c.remove_participant(&ccid, &RemoveParticipantRequest::new(agent.clone()), none())
        .await
        .unwrap();
    h.cb.expect(cc, "RemoveParticipantSucceeded").await;
    c.transfer_to_participant(
        &ccid,
        &TransferToParticipantRequest::new(agent.clone()),
        none(),
    )
    .await
    .unwrap();
    h.cb.expect(cc, "CallTransferAccepted").await;
    h.cb.expect(cc, "CallDisconnected").await;

    let gone = c.get_call(&ccid, none()).await.unwrap_err();
    assert!(gone.is_call_not_found(), "{gone}");
    assert!(!gone.is_retryable());

    let fx = h.sim.call_effects(cc).unwrap().effects;
    assert_eq!(
        (
            fx.answers,
            fx.recognizes,
            fx.holds,
            fx.unholds,
            fx.plays,
            fx.mutes,
            fx.recordings,
            fx.adds,
            fx.removes,
            fx.transfers
        ),
        (1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    );
}

#[tokio::test]
async fn client_retries_through_faults_with_exactly_one_effect() {
    let h = start().await;
    let c = client(&h);
    let (_, ccid) = answered(&h, &c, StartCall::default()).await;
    let mut faults = Faults::default();
    faults.operations.insert(
        "CallConnection_AddParticipant".into(),
        FaultSpec {
            latency: None,
            rules: vec![
                FaultRule::times(FaultKind::Status { status: 503 }, 1),
                FaultRule::times(FaultKind::Reset, 1),
                FaultRule::times(
                    FaultKind::Throttle {
                        retry_after_secs: 1,
                    },
                    1,
                ),
            ],
        },
    );
    h.sim.set_faults(faults).unwrap();
    let add = AddParticipantRequest::new(CommunicationIdentifier::teams_user(AGENT_ACCEPT));
    let resp = c
        .add_participant(&ccid, &add, none())
        .await
        .expect("succeeds on the 4th attempt");
    assert!(resp.invitation_id.is_some());
    h.cb.expect(ccid.as_str(), "AddParticipantSucceeded").await;
    assert_eq!(h.sim.call_effects(ccid.as_str()).unwrap().effects.adds, 1);
    let left = h.sim.faults().operations["CallConnection_AddParticipant"]
        .rules
        .iter()
        .map(|r| r.times)
        .collect::<Vec<_>>();
    assert_eq!(
        left,
        vec![Some(0), Some(0), Some(0)],
        "every fault fired once"
    );

    // A 400 is not retried and surfaces the service's error.
    let bad = AddParticipantRequest::new(CommunicationIdentifier::teams_user(AGENT_ACCEPT));
    let err = c
        .add_participant(&CallConnectionId::from("no-such-call"), &bad, none())
        .await
        .unwrap_err();
    assert!(err.is_call_not_found());
    assert_eq!(err.attempts(), 1);
    assert_eq!(
        err.communication_error().map(|e| e.code.as_str()),
        Some("8522")
    );
    c.terminate_call(&ccid, none()).await.unwrap();
    h.cb.expect(ccid.as_str(), "CallDisconnected").await;
}

#[tokio::test]
async fn wrong_key_is_an_auth_error() {
    let h = start().await;
    let cs = format!(
        "endpoint={};accesskey=d3Jvbmcta2V5LWZvci10ZXN0cw==",
        h.sim.endpoint()
    );
    let c = CallAutomationClient::from_connection_string(&cs, ClientOptions::default()).unwrap();
    let err = c
        .get_call(&CallConnectionId::from("x"), none())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(!err.is_retryable());
}
