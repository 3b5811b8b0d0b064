//! Call life cycle over raw HTTP: IncomingCall → answer → connected → add agent → agent
//! talks and hangs up → hang up / terminate; state machine as GET sees it; participants and
//! paging; sequence numbers; operationContext echo; operationCallbackUri; transfer.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use switchboard_sim::{ConnState, SimConfig, StartCall};

fn seq(e: &Value) -> u64 {
    e["data"]["sequenceNumber"].as_u64().unwrap()
}

#[tokio::test]
async fn answer_add_agent_talk_and_hang_up() {
    let h = start().await;
    h.sim
        .set_agent_talk_time(AGENT_ACCEPT, Some(Duration::from_millis(80)))
        .unwrap();
    let call = h
        .sim
        .start_call(StartCall {
            from: Some("+14255550123".into()),
            caller_display_name: Some("Pat Caller".into()),
            ..Default::default()
        })
        .unwrap();
    let msg = h.next_incoming().await;
    assert_eq!(msg.message_id, call.event_id);
    let ev: Value = serde_json::from_slice(&msg.body).unwrap();
    assert_eq!(ev["eventType"], "Microsoft.Communication.IncomingCall");
    assert_eq!(ev["data"]["from"]["rawId"], "4:+14255550123");
    assert_eq!(ev["data"]["to"]["phoneNumber"]["value"], NUMBER);
    assert_eq!(ev["data"]["callerDisplayName"], "Pat Caller");
    assert_eq!(ev["data"]["correlationId"], call.correlation_id.as_str());

    let r = h
        .post(
            "/calling/callConnections:answer",
            json!({"incomingCallContext": call.incoming_call_context, "callbackUri": h.callback_uri(), "operationContext": "answering"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["callConnectionState"], "connecting");
    assert_eq!(r.body["serverCallId"], call.server_call_id.as_str());
    assert_eq!(r.body["correlationId"], call.correlation_id.as_str());
    assert_eq!(r.body["answeredFor"]["value"], NUMBER);
    assert!(r.body["answeredBy"]["id"]
        .as_str()
        .unwrap()
        .starts_with("8:acs:"));
    let ccid = r.body["callConnectionId"].as_str().unwrap().to_owned();

    let events = h.cb.until(Some(&ccid), "ParticipantsUpdated").await;
    let types: Vec<String> = events.iter().map(short_type).collect();
    assert_eq!(types, ["CallConnected", "ParticipantsUpdated"]);
    assert_eq!(events[0]["data"]["operationContext"], "answering");
    assert_eq!(seq(&events[1]), 1);
    let parts = events[1]["data"]["participants"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["identifier"]["rawId"], "4:+14255550123");
    assert_eq!(parts[0]["isMuted"], false);
    assert_eq!(parts[0]["isOnHold"], false);

    let got = h.get(&format!("/calling/callConnections/{ccid}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["callConnectionState"], "connected");

    // Add the agent.
    let r = h.add(&ccid, AGENT_ACCEPT, "sb1:add:1").await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["operationContext"], "sb1:add:1");
    assert_eq!(
        r.body["participant"]["identifier"]["rawId"],
        format!("8:orgid:{AGENT_ACCEPT}")
    );
    let invitation = r.body["invitationId"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&invitation).is_ok());
    let events = h.cb.until(Some(&ccid), "ParticipantsUpdated").await;
    let types: Vec<String> = events.iter().map(short_type).collect();
    assert_eq!(types, ["AddParticipantSucceeded", "ParticipantsUpdated"]);
    assert_eq!(events[0]["data"]["operationContext"], "sb1:add:1");
    assert_eq!(
        events[0]["data"]["participant"]["microsoftTeamsUser"]["userId"],
        AGENT_ACCEPT
    );
    assert_eq!(seq(&events[1]), 2);
    assert_eq!(
        events[1]["data"]["participants"].as_array().unwrap().len(),
        3
    );
    // In a call: Graph presence says so.
    assert_eq!(h.sim.agent(AGENT_ACCEPT).unwrap().availability, "Busy");

    // Talk time over: the agent leaves.
    let left = h.cb.expect(&ccid, "ParticipantsUpdated").await;
    assert_eq!(seq(&left), 3);
    assert_eq!(left["data"]["participants"].as_array().unwrap().len(), 2);
    eventually("agent available again", || {
        h.sim.agent(AGENT_ACCEPT).unwrap().in_calls == 0
    })
    .await;
    assert_eq!(h.sim.agent(AGENT_ACCEPT).unwrap().availability, "Available");

    // We hang up: CallDisconnected, then the leg is gone (404).
    assert_eq!(
        h.delete(&format!("/calling/callConnections/{ccid}"))
            .await
            .status,
        204
    );
    let d = h.cb.expect(&ccid, "CallDisconnected").await;
    assert_eq!(d["data"]["resultInformation"]["subCode"], 7000);
    let gone = h.get(&format!("/calling/callConnections/{ccid}")).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["error"]["code"], "8522");
    assert_eq!(
        h.delete(&format!("/calling/callConnections/{ccid}"))
            .await
            .status,
        404
    );

    let fx = h.sim.call_effects(&ccid).unwrap().effects;
    assert_eq!(
        (fx.answers, fx.adds, fx.hangups, fx.terminates),
        (1, 1, 1, 0)
    );
    let snap = h.sim.call(&call.correlation_id).unwrap();
    assert_eq!(snap.state, Some(ConnState::Disconnected));
    let tl = h.sim.timeline(&ccid);
    assert!(tl.iter().any(|e| e.what == "CallConnection_AddParticipant"));
    assert!(tl.iter().any(|e| e.what == "CallDisconnected"));
    assert!(tl.windows(2).all(|w| w[0].seq < w[1].seq));
}

#[tokio::test]
async fn terminate_ends_for_everyone_and_releases_agents() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    h.add(&ccid, AGENT_ACCEPT, "a").await;
    h.cb.expect(&ccid, "AddParticipantSucceeded").await;
    assert_eq!(h.sim.agent(AGENT_ACCEPT).unwrap().in_calls, 1);
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:terminate"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204);
    h.cb.expect(&ccid, "CallDisconnected").await;
    assert_eq!(h.sim.agent(AGENT_ACCEPT).unwrap().in_calls, 0);
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.terminates, 1);
    // Mid-call actions on the ended call are 404.
    assert_eq!(h.add(&ccid, AGENT_ACCEPT, "b").await.status, 404);
}

#[tokio::test]
async fn caller_hang_up_ends_a_two_party_call() {
    let h = start().await;
    let (call, ccid) = h.connected_call().await;
    h.sim.hang_up_caller(&call.correlation_id).unwrap();
    let d = h.cb.expect(&ccid, "CallDisconnected").await;
    assert_eq!(d["data"]["resultInformation"]["subCode"], 5002);
    // With an agent present the call goes on without the caller.
    let (call, ccid) = h.connected_call().await;
    h.add(&ccid, AGENT_ACCEPT, "a").await;
    h.cb.expect(&ccid, "AddParticipantSucceeded").await;
    h.cb.expect(&ccid, "ParticipantsUpdated").await;
    h.sim.hang_up_caller(&ccid).unwrap();
    let pu = h.cb.expect(&ccid, "ParticipantsUpdated").await;
    let raws: Vec<&str> = pu["data"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identifier"]["rawId"].as_str().unwrap())
        .collect();
    assert!(!raws.contains(&call.from.as_str()));
    assert_eq!(raws.len(), 2);
}

#[tokio::test]
async fn caller_hangs_up_on_schedule() {
    let h = start().await;
    let (_, ccid) = h
        .connected_call_with(StartCall {
            hang_up_after: Some(Duration::from_millis(60)),
            ..Default::default()
        })
        .await;
    h.cb.expect(&ccid, "CallDisconnected").await;
}

#[tokio::test]
async fn participants_paging_and_single_participant() {
    let h = start_with(SimConfig {
        participants_page_size: 1,
        ..test_config()
    })
    .await;
    let (call, ccid) = h.connected_call().await;
    h.add(&ccid, AGENT_ACCEPT, "x").await;
    h.cb.expect(&ccid, "ParticipantsUpdated").await;

    let mut url = h.url(&format!("/calling/callConnections/{ccid}/participants"));
    let mut all = Vec::new();
    loop {
        let r = h.send("GET", url.clone(), None, &[]).await;
        assert_eq!(r.status, 200);
        all.extend(r.body["value"].as_array().unwrap().clone());
        match r.body["nextLink"].as_str() {
            Some(next) => url = url::Url::parse(next).unwrap(),
            None => break,
        }
    }
    assert_eq!(all.len(), 3);

    let raw = percent_encoding::utf8_percent_encode(&call.from, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let r = h
        .get(&format!(
            "/calling/callConnections/{ccid}/participants/{raw}"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["identifier"]["rawId"], call.from.as_str());
    let r = h
        .get(&format!(
            "/calling/callConnections/{ccid}/participants/4%3A%2B19999999999"
        ))
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn remove_participant_and_operation_callback_uri() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    h.add(&ccid, AGENT_ACCEPT, "a").await;
    h.cb.expect(&ccid, "ParticipantsUpdated").await;
    let other = Receiver::start().await;
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}/participants:remove"),
            json!({"participantToRemove": teams(AGENT_ACCEPT), "operationContext": "rm", "operationCallbackUri": format!("{}/other", other.url)}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["operationContext"], "rm");
    // The operation's result goes to the override; participant updates to the call's URI.
    let removed = other
        .until(Some(&ccid), "RemoveParticipantSucceeded")
        .await
        .pop()
        .unwrap();
    assert_eq!(removed["data"]["operationContext"], "rm");
    assert_eq!(
        removed["data"]["participant"]["rawId"],
        format!("8:orgid:{AGENT_ACCEPT}")
    );
    let pu = h.cb.expect(&ccid, "ParticipantsUpdated").await;
    assert_eq!(pu["data"]["participants"].as_array().unwrap().len(), 2);
    assert_eq!(h.sim.agent(AGENT_ACCEPT).unwrap().in_calls, 0);
    // Removing someone who is not there is a 404.
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}/participants:remove"),
            json!({"participantToRemove": teams(AGENT_ACCEPT)}),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn mid_call_actions_wait_for_the_call_to_connect() {
    let mut cfg = test_config();
    // Long enough that the add below surely lands while the call is still connecting.
    cfg.timing.connect_delay = Duration::from_millis(1500);
    let h = start_with(cfg).await;
    let call = h.sim.start_call(Default::default()).unwrap();
    let r = h
        .post("/calling/callConnections:answer", json!({"incomingCallContext": call.incoming_call_context, "callbackUri": h.callback_uri()}))
        .await;
    let ccid = r.body["callConnectionId"].as_str().unwrap().to_owned();
    let r = h.add(&ccid, AGENT_ACCEPT, "early").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "8501");
    h.cb.expect(&ccid, "CallConnected").await;
    assert_eq!(h.add(&ccid, AGENT_ACCEPT, "later").await.status, 202);
}

#[tokio::test]
async fn transfer_accepted_then_our_leg_disconnects() {
    let h = start().await;
    let (call, ccid) = h.connected_call().await;
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:transferToParticipant"),
            json!({"targetParticipant": teams(AGENT_ACCEPT), "operationContext": "xfer"}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["operationContext"], "xfer");
    assert_eq!(
        h.sim.call(&ccid).unwrap().state,
        Some(ConnState::Transferring)
    );
    let evs = h.cb.until(Some(&ccid), "CallDisconnected").await;
    let types: Vec<String> = evs.iter().map(short_type).collect();
    assert_eq!(types, ["CallTransferAccepted", "CallDisconnected"]);
    let acc = &evs[0]["data"];
    assert_eq!(acc["operationContext"], "xfer");
    assert_eq!(acc["resultInformation"]["subCode"], 7015);
    assert_eq!(
        acc["transferTarget"]["rawId"],
        format!("8:orgid:{AGENT_ACCEPT}")
    );
    assert_eq!(acc["transferee"]["rawId"], call.from.as_str());
    assert_eq!(evs[1]["data"]["resultInformation"]["subCode"], 7015);
    // The agent now talks to the caller directly.
    assert_eq!(h.sim.agent(AGENT_ACCEPT).unwrap().availability, "Busy");
    h.sim.hang_up_caller(&call.correlation_id).unwrap();
    assert_eq!(h.sim.agent(AGENT_ACCEPT).unwrap().in_calls, 0);
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.transfers, 1);
}

#[tokio::test]
async fn transfer_declined_keeps_the_call() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:transferToParticipant"),
            json!({"targetParticipant": teams(AGENT_DECLINE), "operationContext": "xfer"}),
        )
        .await;
    assert_eq!(r.status, 202);
    // A second transfer while one is running conflicts.
    let r2 = h
        .post(
            &format!("/calling/callConnections/{ccid}:transferToParticipant"),
            json!({"targetParticipant": teams(AGENT_ACCEPT)}),
        )
        .await;
    assert_eq!(r2.status, 409);
    let failed = h.cb.expect(&ccid, "CallTransferFailed").await;
    assert_eq!(failed["data"]["resultInformation"]["code"], 603);
    assert_eq!(failed["data"]["operationContext"], "xfer");
    assert_eq!(
        h.get(&format!("/calling/callConnections/{ccid}"))
            .await
            .body["callConnectionState"],
        "connected"
    );
}

#[tokio::test]
async fn outbound_call_to_an_agent() {
    let h = start().await;
    let r = h
        .post("/calling/callConnections", json!({"targets": [teams(AGENT_ACCEPT)], "callbackUri": h.callback_uri(), "operationContext": "out"}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let ccid = r.body["callConnectionId"].as_str().unwrap().to_owned();
    let evs = h.cb.until(Some(&ccid), "ParticipantsUpdated").await;
    assert_eq!(short_type(&evs[0]), "CallConnected");
    assert_eq!(evs[0]["data"]["operationContext"], "out");
    assert_eq!(h.sim.agent(AGENT_ACCEPT).unwrap().in_calls, 1);
    // The callee (the "customer" of an outbound call) hangs up: nobody is left.
    h.sim.hang_up_caller(&ccid).unwrap();
    let d = h.cb.expect(&ccid, "CallDisconnected").await;
    assert_eq!(d["data"]["resultInformation"]["subCode"], 5002);
    assert_eq!(h.sim.agent(AGENT_ACCEPT).unwrap().in_calls, 0);
    let r = h
        .post(
            "/calling/callConnections",
            json!({"targets": [teams(AGENT_DECLINE)], "callbackUri": h.callback_uri()}),
        )
        .await;
    let ccid = r.body["callConnectionId"].as_str().unwrap().to_owned();
    let evs = h.cb.until(Some(&ccid), "CallDisconnected").await;
    let types: Vec<String> = evs.iter().map(short_type).collect();
    assert_eq!(types, ["CreateCallFailed", "CallDisconnected"]);
    // PSTN targets need a caller id.
    let r = h
        .post("/calling/callConnections", json!({"targets": [{"kind": "phoneNumber", "phoneNumber": {"value": "+14255550199"}}], "callbackUri": h.callback_uri()}))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn reject_and_redirect() {
    let h = start().await;
    let a = h.sim.start_call(Default::default()).unwrap();
    let r = h
        .post(
            "/calling/callConnections:reject",
            json!({"incomingCallContext": a.incoming_call_context, "callRejectReason": "busy"}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        h.sim
            .call_effects(&a.correlation_id)
            .unwrap()
            .effects
            .rejects,
        1
    );
    let b = h.sim.start_call(Default::default()).unwrap();
    let r = h
        .post(
            "/calling/callConnections:redirect",
            json!({"incomingCallContext": b.incoming_call_context, "target": teams(AGENT_ACCEPT)}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        h.sim
            .call_effects(&b.correlation_id)
            .unwrap()
            .effects
            .redirects,
        1
    );
    eventually("agent picks up the redirected call", || {
        h.sim.agent(AGENT_ACCEPT).unwrap().in_calls == 1
    })
    .await;
    // Both contexts are used up.
    let r = h
        .post("/calling/callConnections:answer", json!({"incomingCallContext": b.incoming_call_context, "callbackUri": h.callback_uri()}))
        .await;
    assert_eq!(r.status, 409);
}

#[tokio::test]
async fn finished_calls_are_forgotten_beyond_the_retention_limit() {
    let h = start_with(SimConfig {
        max_retained_calls: 2,
        ..test_config()
    })
    .await;
    let (first, ccid) = h.connected_call().await;
    let rec = h
        .post("/calling/recordings", json!({"callConnectionId": ccid}))
        .await;
    let rid = rec.body["recordingId"].as_str().unwrap().to_owned();
    let live = h.sim.start_call(StartCall::default()).unwrap();
    assert_eq!(
        h.delete(&format!("/calling/callConnections/{ccid}"))
            .await
            .status,
        204
    );
    // The recording ended with the call.
    assert_eq!(
        h.get(&format!("/calling/recordings/{rid}")).await.status,
        404
    );
    h.sim.start_call(StartCall::default()).unwrap();
    h.sim.start_call(StartCall::default()).unwrap();
    assert!(
        h.sim.call(&first.correlation_id).is_none(),
        "the finished call is forgotten"
    );
    assert!(h.sim.timeline(&first.correlation_id).is_empty());
    assert!(!h.sim.ledger().calls.contains_key(&first.correlation_id));
    assert_eq!(h.sim.ledger().total.answers, 1, "totals stay");
    assert!(
        h.sim.call(&live.correlation_id).is_some(),
        "ringing calls are kept"
    );
}
