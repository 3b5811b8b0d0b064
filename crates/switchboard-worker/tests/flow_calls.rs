//! End-to-end call flows through the real pipeline: simulator → Event Grid sink → SQLite
//! queue → worker → Call Automation (simulator) → signed callbacks → ingress → queue → worker.
//! Assertions read the simulator's effects ledger and the store.

use std::time::Duration;

use switchboard_sim::{Behaviour, StartCall};
use switchboard_testkit::fixtures::*;
use switchboard_testkit::*;
use switchboard_worker::flow::Phase;

fn call_to(number: &str) -> StartCall {
    StartCall {
        to: Some(number.to_string()),
        from: Some("+14255550123".into()),
        ..StartCall::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_answered_routed_to_an_agent_and_cleaned_up() {
    let world = Stack::start().await;
    let worker = world.worker().await;
    let call = world.sim.start_call(call_to(SALES_LINE)).unwrap();
    let corr = call.correlation_id.clone();

    let archived = world.ended(&corr, 30).await;
    let state = archived_state(&archived);
    assert!(
        matches!(&state.phase, Phase::Ended { .. }),
        "{:?}",
        state.phase
    );
    let agent = state.answered_by.clone().expect("an agent took the call");
    assert!(agent == ALICE || agent == BOB, "a sales agent: {agent}");
    assert_eq!(state.queue.as_str(), "sales");

    let fx = world.effects(&corr);
    assert_eq!(fx.answers, 1, "{fx:?}");
    assert_eq!(fx.adds, 1, "{fx:?}");
    assert_eq!(fx.plays, 1, "hold music once: {fx:?}");
    assert_eq!(
        fx.cancel_media, 1,
        "hold music stopped when the agent joined: {fx:?}"
    );
    assert_eq!(fx.terminates, 1, "agent left: we end the call: {fx:?}");
    assert_eq!(fx.transfers, 0);

    // The agent is free again (after wrap-up) and no reservation is left behind.
    let rec = world.store.get_agent(&agent).await.unwrap().unwrap();
    assert_eq!(rec.reserved + rec.on_call, 0, "{rec:?}");
    assert!(rec.last_released_at.is_some());
    assert!(world
        .store
        .reservations_for_call(&corr)
        .await
        .unwrap()
        .is_empty());
    assert!(world.live(&corr).await.is_none(), "live state removed");
    assert!(world.dead_letters().await.is_empty());

    // The operation contexts ACS saw are ours.
    let adds = world.recorder.done(&corr, "add_participant");
    assert_eq!(adds.len(), 1);
    assert_eq!(
        adds[0].as_deref(),
        Some(format!("sb1:add:1:{agent}").as_str())
    );
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_numbers_we_do_not_serve_are_never_answered() {
    let world = Stack::start().await;
    let worker = world.worker().await;
    let call = world.sim.start_call(call_to(NOT_OURS)).unwrap();
    let corr = call.correlation_id.clone();
    world
        .until(20, "the IncomingCall to be handled", async || {
            let d = world.recorder.decisions(&corr, "IncomingCall");
            (!d.is_empty()).then_some(())
        })
        .await;
    let d = world.recorder.decisions(&corr, "IncomingCall");
    assert_eq!(d[0].0, "ignored", "{d:?}");
    assert_eq!(world.effects(&corr).answers, 0);
    assert!(world.live(&corr).await.is_none());
    assert!(world.dead_letters().await.is_empty());
    let ignored = world.metrics.counter(
        "switchboard_events_total",
        &[("type", "IncomingCall"), ("outcome", "ignored")],
    );
    assert_eq!(ignored, 1);
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_no_answer_moves_on_to_the_next_agent() {
    // Longest-idle ties break by OID: Bob's sorts first, so Bob is the one who lets it ring
    // and Alice answers.
    let opts = StackOptions {
        agents: vec![
            agent(ALICE, "Alice"),
            agent(BOB, "Bob").with_behaviour(Behaviour::NoAnswer),
            agent(CARMEN, "Carmen"),
        ],
        ..StackOptions::default()
    };
    let world = Stack::start_with(opts).await;
    let worker = world.worker().await;
    let call = world.sim.start_call(call_to(SALES_LINE)).unwrap();
    let corr = call.correlation_id.clone();
    let state = archived_state(&world.ended(&corr, 40).await);
    assert_eq!(
        state.answered_by.as_ref().map(|a| a.as_str()),
        Some(ALICE),
        "{}",
        world.recorder.dump(&corr)
    );
    assert_eq!(state.invited.len(), 2);
    assert_eq!(state.invited[0].as_str(), BOB);
    let fx = world.effects(&corr);
    assert_eq!(fx.adds, 2, "{fx:?}");
    assert_eq!(fx.answers, 1);
    // Bob got the no-answer cool-down.
    let bob = world.store.get_agent(&BOB.into()).await.unwrap().unwrap();
    assert!(bob.wrap_up_until.is_some(), "{bob:?}");
    let failed = world.recorder.decisions(&corr, "AddParticipantFailed");
    assert!(
        failed
            .iter()
            .any(|(d, text)| d == "applied" && text.contains("did not answer")),
        "{failed:?}"
    );
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declines_until_max_attempts_then_overflow_transfer() {
    let opts = StackOptions {
        agents: vec![
            agent(ALICE, "Alice").with_behaviour(Behaviour::Decline {
                after: Duration::from_millis(100),
            }),
            agent(BOB, "Bob").with_behaviour(Behaviour::Decline {
                after: Duration::from_millis(100),
            }),
            agent(CARMEN, "Carmen"),
        ],
        ..StackOptions::default()
    };
    let world = Stack::start_with(opts).await;
    let worker = world.worker().await;
    let call = world.sim.start_call(call_to(SALES_LINE)).unwrap();
    let corr = call.correlation_id.clone();
    let state = archived_state(&world.ended(&corr, 40).await);
    let fx = world.effects(&corr);
    assert_eq!(fx.adds, 2, "both sales agents tried once: {fx:?}");
    assert_eq!(fx.transfers, 1, "overflow to the phone number: {fx:?}");
    assert!(state.answered_by.is_none());
    match &state.phase {
        Phase::Ended { reason } => assert!(reason.contains(OVERFLOW_NUMBER), "{reason}"),
        other => panic!("{other:?}"),
    }
    let overflow = world.recorder.decisions(&corr, "Overflow");
    assert!(
        overflow
            .iter()
            .any(|(_, t)| t.contains("all 2 eligible agents tried")),
        "{overflow:?}"
    );
    for a in [ALICE, BOB] {
        let rec = world.store.get_agent(&a.into()).await.unwrap().unwrap();
        assert_eq!(rec.reserved + rec.on_call, 0, "{rec:?}");
    }
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ivr_choice_routes_the_call_to_the_chosen_queue_and_recording_notice_plays() {
    let world = Stack::start().await;
    let worker = world.worker().await;
    let call = world
        .sim
        .start_call(StartCall {
            dtmf: Some("2".into()),
            ..call_to(MAIN_LINE)
        })
        .unwrap();
    let corr = call.correlation_id.clone();
    let state = archived_state(&world.ended(&corr, 40).await);
    assert_eq!(state.ivr.choice.as_deref(), Some("2"));
    assert_eq!(state.queue.as_str(), "support");
    assert_eq!(state.answered_by.as_ref().map(|a| a.as_str()), Some(CARMEN));
    let fx = world.effects(&corr);
    // The menu is a text prompt: it only plays because the worker answered with its Azure AI
    // services endpoint (the simulator refuses text on a call without one, 405 / 8522).
    assert_eq!(fx.recognizes, 1, "{fx:?}");
    let answer = world
        .sim
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("callConnections:answer"))
        .expect("answer request");
    let body: serde_json::Value = serde_json::from_slice(answer.body()).unwrap();
    assert_eq!(
        body["callIntelligenceOptions"]["cognitiveServicesEndpoint"],
        world.sim.cognitive_services_endpoint()
    );
    // Support records: one recording, and the caller was told.
    assert_eq!(fx.recordings, 1, "{fx:?}");
    assert!(state.recording.notices >= 1);
    let notices: Vec<_> = world
        .recorder
        .done(&corr, "play")
        .into_iter()
        .flatten()
        .filter(|c| c.starts_with("sb1:notice:"))
        .collect();
    assert_eq!(notices, vec!["sb1:notice:1".to_string()]);
    // Recording started paused and was resumed only after the notice (issue 15 §4).
    let requests = world.sim.requests();
    let start = requests
        .iter()
        .find(|r| r.path.ends_with("/recordings"))
        .expect("start recording request");
    let body: serde_json::Value = serde_json::from_slice(start.body()).unwrap();
    assert_eq!(body["pauseOnStart"], true);
    assert!(
        requests.iter().any(|r| r.path.ends_with(":resume")),
        "recording resumed after the notice"
    );
    let timeline = world.sim.timeline(&corr);
    assert!(
        timeline
            .iter()
            .any(|e| e.what.contains("RecordingStateChanged")),
        "recording callback delivered"
    );
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_redirects_the_unanswered_call_to_an_agent() {
    let world = Stack::start().await;
    let worker = world.worker().await;
    let corr = world
        .sim
        .start_call(call_to(PARTNER_LINE))
        .unwrap()
        .correlation_id;
    let state = archived_state(&world.ended(&corr, 30).await);
    let fx = world.effects(&corr);
    assert_eq!(fx.redirects, 1, "{fx:?}");
    assert_eq!(fx.answers, 0, "never answered: {fx:?}");
    let agent = state.answered_by.clone().expect("redirected to an agent");
    match &state.phase {
        Phase::Ended { reason } => assert!(reason.contains("redirected"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // The agent is held back for one ring period, then free.
    let rec = world.store.get_agent(&agent).await.unwrap().unwrap();
    assert_eq!(rec.reserved + rec.on_call, 0);
    assert!(rec.wrap_up_until.is_some());
    let snapshot = world.sim.call(&corr).unwrap();
    assert_eq!(snapshot.phase, switchboard_sim::Phase::Redirected);
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_announcement_plays_then_the_call_ends() {
    let world = Stack::start().await;
    let worker = world.worker().await;
    let corr = world
        .sim
        .start_call(call_to(CLOSED_LINE))
        .unwrap()
        .correlation_id;
    let state = archived_state(&world.ended(&corr, 30).await);
    let fx = world.effects(&corr);
    assert_eq!(fx.answers, 1, "{fx:?}");
    assert_eq!(fx.adds, 0, "{fx:?}");
    assert_eq!(fx.plays, 1, "the announcement: {fx:?}");
    assert_eq!(fx.terminates, 1, "{fx:?}");
    match &state.phase {
        Phase::Ended { reason } => assert!(reason.contains("announcement"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let plays = world.recorder.done(&corr, "play");
    assert_eq!(plays, vec![Some("sb1:overflow-announcement".to_string())]);
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_hanging_up_while_waiting_cleans_up() {
    let world = Stack::start().await;
    let worker = world.worker().await;
    // Carmen, the only support agent, is busy with another call (the worker put the roster
    // into the store when it started).
    let busy = world
        .store
        .reserve(&CARMEN.into(), "someone-else", Duration::from_secs(300))
        .await
        .unwrap()
        .expect("Carmen reservable");
    let corr = world
        .sim
        .start_call(StartCall {
            hang_up_after: Some(Duration::from_millis(2500)),
            ..call_to(SUPPORT_LINE)
        })
        .unwrap()
        .correlation_id;
    let state = archived_state(&world.ended(&corr, 30).await);
    let fx = world.effects(&corr);
    assert_eq!(fx.answers, 1);
    assert_eq!(fx.adds, 0, "nobody was free: {fx:?}");
    assert!(state.rechecks >= 1, "the caller waited");
    assert!(state.answered_by.is_none());
    // The call left the waitlist when it ended.
    let list = world.store.get_call("waitlist:support").await.unwrap();
    if let Some(list) = list {
        assert!(
            !list.value.to_string().contains(&corr),
            "waitlist still lists {corr}: {}",
            list.value
        );
    }
    world.store.release(&busy, Duration::ZERO).await.unwrap();
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_whose_presence_is_not_available_are_skipped() {
    let world = Stack::start().await;
    let worker = world.worker().await;
    // Bob would be first (OID order); his fresh presence says Away.
    world
        .store
        .set_agent_presence(
            &BOB.into(),
            Some(&switchboard_store::PresenceSnapshot {
                availability: "Away".into(),
                activity: "Away".into(),
                observed_at: time::OffsetDateTime::now_utc(),
            }),
        )
        .await
        .unwrap();
    let corr = world
        .sim
        .start_call(call_to(SALES_LINE))
        .unwrap()
        .correlation_id;
    let state = archived_state(&world.ended(&corr, 30).await);
    assert_eq!(state.answered_by.as_ref().map(|a| a.as_str()), Some(ALICE));
    assert_eq!(state.invited.len(), 1, "Bob was never rung");
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_caller_skips_the_ivr_menu() {
    // Recognize is unsupported while a Teams user is in the call, and here the caller is one.
    let world = Stack::start().await;
    let worker = world.worker().await;
    let corr = world
        .sim
        .start_call(StartCall {
            from: Some("8:orgid:11111111-2222-4333-8444-555555555555".into()),
            to: Some(MAIN_LINE.into()),
            ..StartCall::default()
        })
        .unwrap()
        .correlation_id;
    let state = archived_state(&world.ended(&corr, 30).await);
    assert_eq!(world.effects(&corr).recognizes, 0);
    assert!(state.ivr.skipped.is_some());
    assert_eq!(state.queue.as_str(), "support", "the menu's fallback");
    assert_eq!(state.answered_by.as_ref().map(|a| a.as_str()), Some(CARMEN));
    worker.stop().await;
    world.shutdown().await;
}

/// Issue 15 §5: a queue whose calls go to a Teams call queue (its resource account) by blind
/// transfer, with the PSTN caller named as transferee; the simulator accepts it and our leg
/// ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_hands_its_calls_to_a_teams_call_queue() {
    const CQ_LINE: &str = "+18005550109";
    const CQ_APP: &str = "8a3d1f0e-5b7c-4e2a-9c6d-1f0e2d3c4b5a";
    let mut opts = StackOptions {
        routing: format!(
            "{FLOW}\n[queues.teamscq]\ntransfer_to = {{ teams_app = \"{CQ_APP}\" }}\n\n[[rules]]\ndialed = [\"{CQ_LINE}\"]\nqueue = \"teamscq\"\n"
        ),
        ..StackOptions::default()
    };
    opts.numbers.push(CQ_LINE.into());
    let world = Stack::start_with(opts).await;
    let worker = world.worker().await;
    let call = world.sim.start_call(call_to(CQ_LINE)).unwrap();
    let corr = call.correlation_id.clone();
    let state = archived_state(&world.ended(&corr, 30).await);
    assert!(
        matches!(&state.phase, Phase::Ended { reason } if reason.contains(CQ_APP)),
        "{:?}\n{}",
        state.phase,
        world.recorder.dump(&corr)
    );
    let fx = world.effects(&corr);
    assert_eq!(fx.transfers, 1, "{fx:?}");
    assert_eq!(fx.adds, 0, "no agent of ours was offered");
    let transfer = world
        .sim
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with(":transferToParticipant"))
        .expect("transfer request");
    let body: serde_json::Value = serde_json::from_slice(transfer.body()).unwrap();
    assert_eq!(
        body["targetParticipant"]["rawId"],
        format!("28:orgid:{CQ_APP}")
    );
    assert_eq!(body["transferee"]["rawId"], "4:+14255550123");
    assert!(body.get("sourceCallerIdNumber").is_none());
    worker.stop().await;
    world.shutdown().await;
}
