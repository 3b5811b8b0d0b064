//! The flow against what the service really does: events that arrive long after they were
//! raised (a backlog), and answers lost after the effect happened (issue 15 §2, §3).

use std::collections::BTreeMap;
use std::time::Duration;

use switchboard_sim::{
    AgentSpec, CallbackFaults, EventGridFaults, FaultKind, FaultRule, FaultSpec, Faults,
    LostAnswer, StartCall,
};
use switchboard_store::StoreExt;
use switchboard_testkit::fixtures::*;
use switchboard_testkit::*;
use switchboard_worker::flow::{CallState, Command, Op, Phase, RepeatKey};

fn call_to(number: &str) -> StartCall {
    StartCall {
        to: Some(number.to_string()),
        ..StartCall::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_delivered_ten_minutes_late_still_route_the_call_once() {
    // Every callback looks raised 10 minutes before it arrives. A First-Sent taken from the
    // event would be refused (412): the recording that CallConnected starts, the menu's
    // outcome, the hang-up after the agent leaves.
    let world = Stack::start_with(StackOptions {
        faults: Faults {
            callbacks: CallbackFaults {
                backlog_secs: 600,
                ..CallbackFaults::default()
            },
            ..Faults::default()
        },
        ..StackOptions::default()
    })
    .await;
    let worker = world.worker().await;
    let corr = world
        .sim
        .start_call(StartCall {
            dtmf: Some("2".into()),
            ..call_to(MAIN_LINE)
        })
        .unwrap()
        .correlation_id;
    let state = archived_state(&world.ended(&corr, 40).await);
    assert!(state.answered_by.is_some(), "routed: {:?}", state.phase);
    assert_eq!(state.queue.as_str(), "support");
    let fx = world.effects(&corr);
    assert_eq!(fx.answers, 1, "{fx:?}");
    assert_eq!(fx.recordings, 1, "the recorded queue recorded: {fx:?}");
    assert_eq!(fx.adds as usize, state.invited.len(), "{fx:?}");
    assert_eq!(state.invited.len(), 1, "the first agent took it: {fx:?}");
    // First-Sent is when each command was decided: nothing was older than the service's
    // window, so nothing needed reconciling (no reads before the commands).
    let reads: Vec<_> = world
        .sim
        .requests()
        .into_iter()
        .filter_map(|r| r.operation)
        .filter(|op| op.starts_with("CallConnection_Get"))
        .collect();
    assert!(reads.is_empty(), "{reads:?}");
    assert!(world.dead_letters().await.is_empty());
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incoming_call_raised_ten_minutes_ago_is_expired_counted_and_not_answered() {
    let world = Stack::start_with(StackOptions {
        faults: Faults {
            event_grid: EventGridFaults {
                backlog_secs: 600,
                ..EventGridFaults::default()
            },
            ..Faults::default()
        },
        ..StackOptions::default()
    })
    .await;
    let worker = world.worker().await;
    let corr = world.place_call(SALES_LINE);
    world
        .until(20, "the expired IncomingCall to be counted", async || {
            (world.metrics.counter(
                "switchboard_flow_decisions_total",
                &[("disposition", "expired")],
            ) >= 1)
                .then_some(())
        })
        .await;
    world.drained(20).await;
    assert_eq!(world.effects(&corr).answers, 0);
    assert!(world.store.get_call(&corr).await.unwrap().is_none());
    assert!(world.dead_letters().await.is_empty());
    worker.stop().await;
    world.shutdown().await;
}

fn lose_once(ops: &[(&str, LostAnswer)]) -> BTreeMap<String, FaultSpec> {
    ops.iter()
        .map(|(op, answer)| {
            (
                (*op).to_string(),
                FaultSpec {
                    latency: None,
                    rules: vec![FaultRule::times(
                        FaultKind::Lost {
                            answer: *answer,
                            status: None,
                            hang_ms: Some(6_000),
                        },
                        1,
                    )],
                },
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_lost_after_the_effect_on_every_operation_leave_one_effect_each() {
    // An IVR call to a recorded queue: answer, menu (recognize), hold music and the
    // recording notice (play), recording, the agent's invitation, cancel media, hang-up —
    // the first request of each loses its answer after the effect.
    let operations = lose_once(&[
        ("AnswerCall", LostAnswer::Reset),
        ("CallMedia_Recognize", LostAnswer::Status),
        ("CallMedia_Play", LostAnswer::Timeout),
        ("CallRecording_StartRecording", LostAnswer::Reset),
        ("CallConnection_AddParticipant", LostAnswer::Status),
        ("CallMedia_CancelAllMediaOperations", LostAnswer::Reset),
        ("CallConnection_TerminateCall", LostAnswer::Reset),
        ("CallConnection_HangupCall", LostAnswer::Reset),
    ]);
    let world = Stack::start_with(StackOptions {
        faults: Faults {
            operations,
            ..Faults::default()
        },
        ..StackOptions::default()
    })
    .await;
    let worker = world.worker().await;
    let corr = world
        .sim
        .start_call(StartCall {
            dtmf: Some("2".into()),
            ..call_to(MAIN_LINE)
        })
        .unwrap()
        .correlation_id;
    let state = archived_state(&world.ended(&corr, 60).await);
    assert_eq!(
        state.ivr.choice.as_deref(),
        Some("2"),
        "the lost recognize worked"
    );
    assert!(state.answered_by.is_some(), "routed: {:?}", state.phase);
    let fx = world.effects(&corr);
    assert_eq!(fx.answers, 1, "{fx:?}");
    assert_eq!(fx.recognizes, 1, "the menu was not sent again: {fx:?}");
    assert_eq!(fx.adds as usize, state.invited.len(), "{fx:?}");
    assert_eq!(fx.recordings, 1, "{fx:?}");
    let decided_plays = world.recorder.decisions(&corr, "CommandUncertain").len()
        + world.recorder.done(&corr, "play").len();
    assert!(
        fx.plays as usize <= decided_plays,
        "no play twice: {} plays for {decided_plays} decided: {fx:?}",
        fx.plays
    );
    assert!(world.ledger().lost_answers >= 5, "{:?}", world.ledger());
    assert!(world.dead_letters().await.is_empty());
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recognize_that_never_reached_the_service_is_given_up_and_the_menu_asked_again() {
    // A reset before handling looks exactly like a lost answer: the worker cannot send the
    // menu again (it may be playing), so an overdue timer ends that menu try instead.
    let mut operations = BTreeMap::new();
    operations.insert(
        "CallMedia_Recognize".to_string(),
        FaultSpec {
            latency: None,
            rules: vec![FaultRule::times(FaultKind::Reset, 1)],
        },
    );
    let world = Stack::start_with(StackOptions {
        faults: Faults {
            operations,
            ..Faults::default()
        },
        ..StackOptions::default()
    })
    .await;
    let worker = world.worker().await;
    let corr = world
        .sim
        .start_call(StartCall {
            dtmf: Some("2".into()),
            ..call_to(MAIN_LINE)
        })
        .unwrap()
        .correlation_id;
    let state = archived_state(&world.ended(&corr, 60).await);
    assert_eq!(state.ivr.choice.as_deref(), Some("2"));
    assert_eq!(
        state.ivr.tries, 2,
        "menu asked again after the overdue timer"
    );
    assert_eq!(
        world.effects(&corr).recognizes,
        1,
        "only the second reached the service"
    );
    assert_eq!(
        world.recorder.decisions(&corr, "RecognizeOverdue").len(),
        1,
        "{}",
        world.recorder.dump(&corr)
    );
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_left_past_the_repeatability_window_is_reconciled_not_resent() {
    // A handler invited Alice, then crashed before it recorded that; the redelivery comes
    // 10 minutes later. Re-sent as it was, the invitation is refused (412, First-Sent too
    // old); sent afresh, Alice would be invited into a call she is already in. Reading the
    // participants settles it.
    let stays = |oid, name| AgentSpec {
        talk_time: None,
        ..agent(oid, name)
    };
    let world = Stack::start_with(StackOptions {
        agents: vec![stays(ALICE, "Alice"), stays(BOB, "Bob")],
        ..StackOptions::default()
    })
    .await;
    let worker = world.worker().await;
    let corr = world.place_call(SALES_LINE);
    world
        .until(20, "the agent to be talking", async || {
            let v = world.store.get_call_as::<CallState>(&corr).await.ok()??;
            matches!(v.value.phase, Phase::Talking { .. }).then_some(())
        })
        .await;
    worker.stop().await;
    // Read after the stop: nothing changes the call now until the next worker starts.
    let v = world
        .store
        .get_call_as::<CallState>(&corr)
        .await
        .unwrap()
        .expect("live call");
    let (state, version) = (v.value, v.version);
    let agent = state.answered_by.clone().expect("talking to an agent");
    let mut left = state.clone();
    left.outbox.push(Command {
        key: RepeatKey {
            event_id: "before-the-crash".into(),
            action: "add:1".into(),
            first_sent: time::OffsetDateTime::now_utc() - time::Duration::minutes(10),
        },
        op: Op::AddParticipant {
            agent: agent.clone(),
            invitation_timeout_secs: 20,
            operation_context: format!("sb1:add:1:{agent}"),
            seq: state.seq,
        },
    });
    let written = world
        .store
        .put_call_as(&corr, Some(version), &left, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(
        matches!(written, switchboard_store::CasOutcome::Written { .. }),
        "{written:?}"
    );
    let adds_before = world.effects(&corr).adds;
    // The redelivery: the next input of the call resumes the outbox first.
    let worker = world.worker().await;
    world.sim.hang_up_caller(&corr).unwrap();
    world.ended(&corr, 40).await;
    assert_eq!(
        world.effects(&corr).adds,
        adds_before,
        "no second invitation"
    );
    let timeline = world.recorder.dump(&corr);
    assert!(
        timeline.contains("reconciled: the agent is already in the call"),
        "reconciled from the participants: {timeline}"
    );
    worker.stop().await;
    world.shutdown().await;
}
