//! Teams agent behaviours: accept, decline (603), no answer (408 after the invitation
//! timeout), busy (486), busy while in a call, voicemail; cancel-add; behaviour changes at
//! runtime.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use switchboard_sim::{Behaviour, InvitationState};

fn code(e: &serde_json::Value) -> (u64, u64) {
    let r = &e["data"]["resultInformation"];
    (r["code"].as_u64().unwrap(), r["subCode"].as_u64().unwrap())
}

#[tokio::test]
async fn decline_busy_and_no_answer_fail_with_the_right_codes() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;

    h.add(&ccid, AGENT_DECLINE, "d").await;
    let e = h.cb.expect(&ccid, "AddParticipantFailed").await;
    assert_eq!(code(&e), (603, 8538));
    assert_eq!(e["data"]["operationContext"], "d");
    assert_eq!(
        e["data"]["participant"]["rawId"],
        format!("8:orgid:{AGENT_DECLINE}")
    );

    h.add(&ccid, AGENT_BUSY, "b").await;
    let e = h.cb.expect(&ccid, "AddParticipantFailed").await;
    assert_eq!(code(&e), (486, 8539));

    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}/participants:add"),
            json!({"participantToAdd": teams(AGENT_NO_ANSWER), "operationContext": "n", "invitationTimeoutInSeconds": 1}),
        )
        .await;
    assert_eq!(r.status, 202);
    let e = h.cb.expect(&ccid, "AddParticipantFailed").await;
    assert_eq!(code(&e), (408, 10004));
    assert_eq!(e["data"]["operationContext"], "n");
    assert!(e["data"]["resultInformation"]["message"]
        .as_str()
        .unwrap()
        .contains("408#10004"));

    let snap = h.sim.call(&ccid).unwrap();
    assert!(snap
        .invitations
        .iter()
        .all(|i| i.state == InvitationState::Failed));
    assert_eq!(snap.participants.len(), 2, "nobody joined");
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.adds, 3);
}

#[tokio::test]
async fn invitation_timeout_is_validated() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}/participants:add"),
            json!({"participantToAdd": teams(AGENT_ACCEPT), "invitationTimeoutInSeconds": 181}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.adds, 0);
}

#[tokio::test]
async fn an_agent_in_a_call_is_busy_for_the_next_one() {
    let h = start().await;
    let (_, first) = h.connected_call().await;
    h.add(&first, AGENT_ACCEPT, "1").await;
    h.cb.expect(&first, "AddParticipantSucceeded").await;
    let (_, second) = h.connected_call().await;
    h.add(&second, AGENT_ACCEPT, "2").await;
    let e = h.cb.expect(&second, "AddParticipantFailed").await;
    assert_eq!(code(&e), (486, 8539));
}

#[tokio::test]
async fn voicemail_counts_as_a_success() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    h.add(&ccid, AGENT_VOICEMAIL, "v").await;
    let e = h.cb.expect(&ccid, "AddParticipantSucceeded").await;
    assert_eq!(code(&e), (200, 0));
}

#[tokio::test]
async fn cancel_add_ends_the_invitation_without_an_add_result() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    let r = h.add(&ccid, AGENT_NO_ANSWER, "ring").await;
    let inv = r.body["invitationId"].as_str().unwrap().to_owned();
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}/participants:cancelAddParticipant"),
            json!({"invitationId": inv, "operationContext": "cancel"}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["invitationId"], inv.as_str());
    assert_eq!(r.body["operationContext"], "cancel");
    let e = h.cb.expect(&ccid, "CancelAddParticipantSucceeded").await;
    assert_eq!(code(&e), (487, 5234));
    assert_eq!(e["data"]["invitationId"], inv.as_str());
    assert_eq!(e["data"]["operationContext"], "cancel");
    let later = h.cb.drain(Duration::from_millis(200)).await;
    assert!(
        later
            .iter()
            .all(|e| !short_type(e).starts_with("AddParticipant")),
        "{later:?}"
    );
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.cancels, 1);

    // Too late: the invitation already failed.
    let r = h.add(&ccid, AGENT_DECLINE, "dec").await;
    let inv2 = r.body["invitationId"].as_str().unwrap().to_owned();
    h.cb.expect(&ccid, "AddParticipantFailed").await;
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}/participants:cancelAddParticipant"),
            json!({"invitationId": inv2}),
        )
        .await;
    assert_eq!(r.status, 202);
    let e = h.cb.expect(&ccid, "CancelAddParticipantFailed").await;
    assert_eq!(e["data"]["invitationId"], inv2.as_str());
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.cancels, 1);

    // Unknown invitation.
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}/participants:cancelAddParticipant"),
            json!({"invitationId": "nope"}),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn behaviour_changes_at_runtime() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    h.sim
        .set_agent_behaviour(
            AGENT_ACCEPT,
            Behaviour::Decline {
                after: Duration::from_millis(5),
            },
        )
        .unwrap();
    h.add(&ccid, AGENT_ACCEPT, "x").await;
    h.cb.expect(&ccid, "AddParticipantFailed").await;
    h.sim
        .set_agent_behaviour(
            AGENT_DECLINE,
            Behaviour::Accept {
                after: Duration::from_millis(5),
            },
        )
        .unwrap();
    h.add(&ccid, AGENT_DECLINE, "y").await;
    h.cb.expect(&ccid, "AddParticipantSucceeded").await;
    assert!(h
        .sim
        .set_agent_behaviour("unknown", Behaviour::Busy)
        .is_err());
}

#[tokio::test]
async fn time_scale_speeds_up_behaviours() {
    let mut cfg = test_config();
    cfg.timing.time_scale = 0.001;
    // Everything scales, the invitation timeout too: 60 s → 60 ms.
    cfg.timing.default_invitation_timeout = Duration::from_secs(60);
    let h = start_with(cfg).await;
    h.sim
        .set_agent_behaviour(
            AGENT_ACCEPT,
            Behaviour::Accept {
                after: Duration::from_secs(20),
            },
        )
        .unwrap();
    let (_, ccid) = h.connected_call().await;
    h.add(&ccid, AGENT_ACCEPT, "scaled").await;
    // 20 s × 0.001 = 20 ms: well inside the harness' wait.
    h.cb.expect(&ccid, "AddParticipantSucceeded").await;
}
