//! Answers lost after the effect (the simulator's `lost` fault, ADR 0011): an operation
//! without repeatability headers is not sent again once it may have taken effect, and is
//! retried only when it certainly did not reach the service; a repeatable operation is
//! repeated with the same pair and the service replays the first result.

mod common;

use std::time::Duration;

use common::{fast_options, Acs};
use switchboard_callautomation::*;
use switchboard_events::{CallConnectionId, CommunicationIdentifier};
use switchboard_sim::{CannedResponse, FaultKind, FaultRule, FaultSpec, LostAnswer};

const OP_PLAY: &str = "CallMedia_Play";
const OP_ADD: &str = "CallConnection_AddParticipant";

fn play() -> PlayRequest {
    PlayRequest::new(vec![PlaySource::file(
        "https://contoso.blob.core.windows.net/audio/notice.wav",
    )])
}

fn lost(answer: LostAnswer) -> FaultKind {
    FaultKind::Lost {
        answer,
        status: None,
        hang_ms: Some(3_000),
    }
}

/// The next request to `op` gets `kind`, once.
fn once(acs: &Acs, op: &str, kind: FaultKind) {
    let mut f = acs.sim.faults();
    f.operations.insert(
        op.to_owned(),
        FaultSpec {
            latency: None,
            rules: vec![FaultRule::times(kind, 1)],
        },
    );
    acs.sim.set_faults(f).unwrap();
}

fn client(acs: &Acs) -> CallAutomationClient {
    let mut o = fast_options();
    o.request_timeout = Duration::from_millis(500);
    CallAutomationClient::from_connection_string(&acs.connection_string(), o).unwrap()
}

fn attempts(acs: &Acs, op: &str) -> usize {
    acs.take_requests()
        .iter()
        .filter(|r| r.operation.as_deref() == Some(op))
        .count()
}

fn plays(acs: &Acs, call: &CallConnectionId) -> u32 {
    acs.sim
        .ledger()
        .calls
        .values()
        .find(|c| c.call_connection_id.as_deref() == Some(call.as_str()))
        .map_or(0, |c| c.effects.plays)
}

#[tokio::test]
async fn media_whose_answer_is_lost_is_applied_once_and_not_sent_again() {
    let acs = Acs::hmac().await;
    let client = client(&acs);
    for answer in [LostAnswer::Reset, LostAnswer::Status, LostAnswer::Timeout] {
        let call = acs.connected_call().await.id;
        acs.take_requests();
        once(&acs, OP_PLAY, lost(answer));
        let err = client
            .play(&call, &play(), RequestOptions::default())
            .await
            .unwrap_err();
        assert!(err.may_have_been_applied(), "{answer:?}: {err}");
        assert_eq!(err.attempts(), 1, "{answer:?}: {err}");
        assert_eq!(attempts(&acs, OP_PLAY), 1, "{answer:?}: one request");
        assert_eq!(plays(&acs, &call), 1, "{answer:?}: the effect happened");
    }
    assert_eq!(acs.sim.ledger().lost_answers, 3);
    // Counted by kind in the ledger, which (unlike the bounded request log) sees every one.
    assert_eq!(acs.sim.ledger().faults_injected.get("lost"), Some(&3));
}

#[tokio::test]
async fn media_is_retried_when_it_certainly_did_not_take_effect() {
    let acs = Acs::hmac().await;
    let client = client(&acs);
    let call = acs.connected_call().await.id;
    let refusals = [
        FaultKind::Throttle {
            retry_after_secs: 0,
        },
        FaultKind::Respond(
            CannedResponse::acs_error(503, "ServiceUnavailable", "later")
                .header("Retry-After", "0"),
        ),
    ];
    for (i, refusal) in refusals.into_iter().enumerate() {
        acs.take_requests();
        once(&acs, OP_PLAY, refusal);
        client
            .play(&call, &play(), RequestOptions::default())
            .await
            .unwrap();
        assert_eq!(attempts(&acs, OP_PLAY), 2, "refusal {i} is retried");
    }
    assert_eq!(plays(&acs, &call), 2, "one effect per play");
    // A 500 before handling looks exactly like a lost answer from here: not sent again.
    acs.take_requests();
    once(&acs, OP_PLAY, FaultKind::Status { status: 500 });
    let err = client
        .play(&call, &play(), RequestOptions::default())
        .await
        .unwrap_err();
    assert!(err.may_have_been_applied());
    assert_eq!(attempts(&acs, OP_PLAY), 1);
}

#[tokio::test]
async fn a_repeatable_operation_whose_answer_is_lost_is_repeated_and_replayed() {
    let acs = Acs::hmac().await;
    let client = client(&acs);
    for answer in [LostAnswer::Reset, LostAnswer::Status, LostAnswer::Timeout] {
        let call = acs.connected_call().await.id;
        acs.take_requests();
        let replayed = acs.sim.ledger().replayed_requests;
        once(&acs, OP_ADD, lost(answer));
        let r = client
            .add_participant(
                &call,
                &AddParticipantRequest::new(CommunicationIdentifier::teams_user("agent-1")),
                RequestOptions::default(),
            )
            .await
            .unwrap();
        assert!(r.invitation_id.is_some());
        assert_eq!(attempts(&acs, OP_ADD), 2, "{answer:?}: repeated once");
        assert_eq!(
            acs.sim.ledger().replayed_requests,
            replayed + 1,
            "{answer:?}: the repeat is answered from the first result"
        );
        let adds = acs
            .sim
            .ledger()
            .calls
            .values()
            .find(|c| c.call_connection_id.as_deref() == Some(call.as_str()))
            .map_or(0, |c| c.effects.adds);
        assert_eq!(adds, 1, "{answer:?}: one invitation");
    }
}

/// Every operation without repeatability headers that changes something (the POSTs the
/// client has): a lost answer is never sent again, and its one effect happened.
#[tokio::test]
async fn no_operation_without_repeatability_is_sent_again_after_a_lost_answer() {
    let acs = Acs::hmac().await;
    let client = client(&acs);
    let caller = || CommunicationIdentifier::from_raw_id(&format!("4:{}", common::CALLER));
    let ops = [
        "CallMedia_Play",
        "CallMedia_Recognize",
        "CallMedia_CancelAllMediaOperations",
        "CallMedia_Hold",
        "CallMedia_Unhold",
        "CallRecording_PauseRecording",
        "CallRecording_ResumeRecording",
    ];
    for op in ops {
        let contract = switchboard_contract::operation(op).expect(op);
        assert!(
            !contract.repeatable && contract.method == "POST",
            "{op} is a non-repeatable POST"
        );
        let call = acs.connected_call().await.id;
        let recording = client
            .start_recording(
                &StartCallRecordingRequest::for_call_connection(call.clone()),
                RequestOptions::default(),
            )
            .await
            .unwrap()
            .recording_id
            .expect("recording id");
        if op == "CallRecording_ResumeRecording" {
            // Only a paused recording has something to resume.
            client
                .pause_recording(&recording, RequestOptions::default())
                .await
                .unwrap();
        }
        let before = effects(&acs, &call);
        acs.take_requests();
        once(&acs, op, lost(LostAnswer::Status));
        let o = RequestOptions::default;
        let result = match op {
            "CallMedia_Play" => client.play(&call, &play(), o()).await,
            "CallMedia_Recognize" => {
                let r = RecognizeRequest::dtmf(
                    caller(),
                    Some(PlaySource::file("https://x.example/menu.wav")),
                    1,
                );
                client.recognize(&call, &r, o()).await
            }
            "CallMedia_CancelAllMediaOperations" => {
                client.cancel_all_media_operations(&call, o()).await
            }
            "CallMedia_Hold" => {
                client
                    .hold(&call, &HoldRequest::new(caller(), None), o())
                    .await
            }
            "CallMedia_Unhold" => {
                client
                    .unhold(&call, &UnholdRequest::new(caller()), o())
                    .await
            }
            "CallRecording_PauseRecording" => client.pause_recording(&recording, o()).await,
            "CallRecording_ResumeRecording" => client.resume_recording(&recording, o()).await,
            _ => unreachable!(),
        };
        let err = result.expect_err(op);
        assert!(err.may_have_been_applied(), "{op}: {err}");
        assert_eq!(attempts(&acs, op), 1, "{op}: sent once");
        let after = effects(&acs, &call);
        assert_ne!(before, after, "{op}: the effect happened");
    }
}

fn effects(acs: &Acs, call: &CallConnectionId) -> switchboard_sim::Effects {
    acs.sim
        .ledger()
        .calls
        .values()
        .find(|c| c.call_connection_id.as_deref() == Some(call.as_str()))
        .map(|c| c.effects)
        .unwrap_or_default()
}
