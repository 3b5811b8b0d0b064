//! The flow under adversity: duplicated and reordered callbacks, duplicate IncomingCall,
//! missing add-participant outcomes, Call Automation failures, many calls across two
//! workers, and a worker that crashes (or is stopped) mid-call while another finishes.

use std::collections::BTreeMap;
use std::time::Duration;

use switchboard_sim::{
    Behaviour, CallbackFaults, EventGridFaults, FaultKind, FaultRule, FaultSpec, Faults, Latency,
    StartCall, Timing,
};
use switchboard_testkit::fixtures::*;
use switchboard_testkit::*;
use switchboard_worker::flow::Phase;

fn sales_call() -> StartCall {
    StartCall {
        to: Some(SALES_LINE.to_string()),
        ..StartCall::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_deliveries_have_exactly_once_effects() {
    let opts = StackOptions {
        // Let every duplicate reach the workers: no queue-level duplicate detection.
        dedupe: false,
        faults: Faults {
            callbacks: CallbackFaults {
                duplicate: 0.5,
                reorder: 0.3,
                ..CallbackFaults::default()
            },
            event_grid: EventGridFaults {
                duplicate: 1.0,
                ..EventGridFaults::default()
            },
            ..Faults::default()
        },
        random_seed: 11,
        ..StackOptions::default()
    };
    let world = Stack::start_with(opts).await;
    let a = world.worker().await;
    let b = world.worker().await;
    let mut calls = Vec::new();
    for i in 0..3 {
        let c = world
            .sim
            .start_call(StartCall {
                duplicate_delivery: true,
                ..sales_call()
            })
            .unwrap();
        calls.push(c.correlation_id);
        if i == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for corr in &calls {
        let state = archived_state(&world.ended(corr, 60).await);
        let fx = world.effects(corr);
        assert_eq!(fx.answers, 1, "{corr}: {fx:?}");
        assert!(
            state.answered_by.is_some(),
            "{corr} routed: {:?}",
            state.phase
        );
        // One add per agent actually offered, never a repeated add.
        assert_eq!(fx.adds as usize, state.invited.len(), "{corr}: {fx:?}");
        assert!(fx.terminates <= 1, "{corr}: {fx:?}");
        assert_eq!(fx.plays as usize, world.recorder.done(corr, "play").len());
    }
    let ledger = world.sim.ledger();
    assert!(ledger.callbacks_delivered > 0);
    let dup = world
        .metrics
        .counter_total("switchboard_flow_decisions_total");
    assert!(dup > 0);
    let duplicates = world.metrics.counter(
        "switchboard_flow_decisions_total",
        &[("disposition", "duplicate")],
    );
    assert!(
        duplicates > 0,
        "duplicates reached the workers and were recognised"
    );
    assert!(world.dead_letters().await.is_empty());
    a.stop().await;
    b.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_routed_when_calls_outnumber_agents() {
    let world = Stack::start().await;
    let a = world.worker().await;
    let b = world.worker().await;
    let mut calls = Vec::new();
    for _ in 0..4 {
        calls.push(world.sim.start_call(sales_call()).unwrap().correlation_id);
    }
    let mut by_agent: BTreeMap<String, usize> = BTreeMap::new();
    for corr in &calls {
        let state = archived_state(&world.ended(corr, 60).await);
        let agent = state
            .answered_by
            .clone()
            .unwrap_or_else(|| panic!("{corr} not routed: {:?}", state.phase));
        *by_agent.entry(agent.to_string()).or_default() += 1;
        assert_eq!(world.effects(corr).answers, 1);
    }
    // Two sales agents with capacity 1 served four callers: some waited and were re-checked.
    assert_eq!(by_agent.values().sum::<usize>(), 4);
    assert!(
        by_agent.keys().all(|a| a == ALICE || a == BOB),
        "{by_agent:?}"
    );
    let waits = world.metrics.counter(
        "switchboard_events_total",
        &[("type", "QueueRecheck"), ("outcome", "applied")],
    );
    assert!(waits > 0, "somebody waited in the queue");
    a.stop().await;
    b.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_outcome_withdraws_the_invitation_and_tries_the_next_agent() {
    // The simulator's clock runs 4x slower, so its ring-no-answer (2 s scaled to 8 s) comes
    // long after our ring timeout + grace (2 s + 1.5 s): the outcome is "missing".
    let opts = StackOptions {
        timing: Timing {
            time_scale: 4.0,
            play_duration: Duration::from_millis(100),
            ..Timing::default()
        },
        agents: vec![
            agent(ALICE, "Alice").with_behaviour(Behaviour::Accept {
                after: Duration::from_millis(50),
            }),
            agent(BOB, "Bob").with_behaviour(Behaviour::NoAnswer),
            agent(CARMEN, "Carmen"),
        ],
        ..StackOptions::default()
    };
    let world = Stack::start_with(opts).await;
    let worker = world.worker().await;
    let corr = world.sim.start_call(sales_call()).unwrap().correlation_id;
    let state = archived_state(&world.ended(&corr, 60).await);
    assert_eq!(
        state.answered_by.as_ref().map(|a| a.as_str()),
        Some(ALICE),
        "{}",
        world.recorder.dump(&corr)
    );
    let fx = world.effects(&corr);
    assert_eq!(fx.cancels, 1, "Bob's invitation withdrawn: {fx:?}");
    assert_eq!(fx.adds, 2, "{fx:?}");
    let timeouts = world.recorder.decisions(&corr, "RingTimeout");
    assert!(
        timeouts
            .iter()
            .any(|(d, t)| d == "applied" && t.contains("no outcome in time")),
        "{timeouts:?}"
    );
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_call_automation_failures_are_retried_without_double_effects() {
    let mut operations = BTreeMap::new();
    // More failures than the client retries by itself (3 attempts): the executor gives the
    // message back, and the redelivery repeats the add with the same repeatability id.
    operations.insert(
        "CallConnection_AddParticipant".to_string(),
        FaultSpec {
            latency: None,
            rules: vec![FaultRule::times(FaultKind::Status { status: 503 }, 4)],
        },
    );
    let opts = StackOptions {
        faults: Faults {
            operations,
            ..Faults::default()
        },
        ..StackOptions::default()
    };
    let world = Stack::start_with(opts).await;
    let worker = world.worker().await;
    let corr = world.sim.start_call(sales_call()).unwrap().correlation_id;
    let state = archived_state(&world.ended(&corr, 60).await);
    assert!(state.answered_by.is_some());
    let fx = world.effects(&corr);
    assert_eq!(fx.adds, 1, "{fx:?}");
    assert_eq!(
        fx.plays, 1,
        "hold music not repeated by the redelivery: {fx:?}"
    );
    let retried = world.metrics.counter_total("switchboard_abandoned_total");
    assert!(retried >= 1, "the message was given back at least once");
    assert!(world.dead_letters().await.is_empty());
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_crashing_mid_command_is_finished_by_another() {
    // Adding the agent takes 1.5 s, and the first worker is killed while it waits: its
    // decisions are in the call state's outbox, its locks expire, the second worker resumes.
    let mut operations = BTreeMap::new();
    operations.insert(
        "CallConnection_AddParticipant".to_string(),
        FaultSpec {
            latency: Some(Latency::Fixed { ms: 1500 }),
            rules: vec![],
        },
    );
    let opts = StackOptions {
        faults: Faults {
            operations,
            ..Faults::default()
        },
        ..StackOptions::default()
    };
    let world = Stack::start_with(opts).await;
    let first = world.worker().await;
    let corr = world.sim.start_call(sales_call()).unwrap().correlation_id;
    // The reservation exists once routing ran; the add is in flight right after.
    world
        .until(20, "an agent to be reserved", async || {
            let r = world.store.reservations_for_call(&corr).await.unwrap();
            (!r.is_empty()).then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill().await;
    let live = world.live(&corr).await.expect("state survives the crash");
    assert!(
        !live.outbox.is_empty(),
        "the crashed worker left unfinished commands: {:?}",
        live.phase
    );

    let second = world.worker().await;
    let state = archived_state(&world.ended(&corr, 60).await);
    assert!(
        state.answered_by.is_some(),
        "{}",
        world.recorder.dump(&corr)
    );
    let fx = world.effects(&corr);
    assert_eq!(fx.answers, 1, "{fx:?}");
    assert_eq!(fx.adds, 1, "the repeated add was recognised: {fx:?}");
    assert_eq!(fx.plays, 1, "{fx:?}");
    let resumed = world
        .metrics
        .counter("switchboard_outbox_resumed_total", &[]);
    assert!(resumed >= 1);
    assert!(world.dead_letters().await.is_empty());
    second.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_crashing_between_events_is_replaced_mid_call() {
    let opts = StackOptions {
        agents: vec![
            agent(ALICE, "Alice").with_behaviour(Behaviour::Accept {
                after: Duration::from_millis(1500),
            }),
            agent(BOB, "Bob").with_behaviour(Behaviour::Accept {
                after: Duration::from_millis(1500),
            }),
            agent(CARMEN, "Carmen"),
        ],
        ..StackOptions::default()
    };
    let world = Stack::start_with(opts).await;
    let first = world.worker().await;
    let corr = world.sim.start_call(sales_call()).unwrap().correlation_id;
    world
        .until(20, "the agent to ring", async || {
            let s = world.live(&corr).await?;
            matches!(s.phase, Phase::Ringing { .. }).then_some(())
        })
        .await;
    first.kill().await;
    // The agent answers while nobody is consuming; the callbacks wait in the queue.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = world.worker().await;
    let state = archived_state(&world.ended(&corr, 60).await);
    assert!(state.answered_by.is_some());
    let fx = world.effects(&corr);
    assert_eq!((fx.answers, fx.adds, fx.terminates), (1, 1, 1), "{fx:?}");
    second.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_mid_call_loses_nothing() {
    let world = Stack::start().await;
    let first = world.worker().await;
    let corr = world.sim.start_call(sales_call()).unwrap().correlation_id;
    world
        .until(20, "the call to be answered", async || {
            let s = world.live(&corr).await?;
            (s.phase != Phase::Answering).then_some(())
        })
        .await;
    first.stop().await;
    let second = world.worker().await;
    let state = archived_state(&world.ended(&corr, 60).await);
    assert!(state.answered_by.is_some());
    assert_eq!(world.effects(&corr).answers, 1);
    assert!(world.dead_letters().await.is_empty());
    second.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freed_agent_pulls_the_waiting_call_without_waiting_for_its_timer() {
    // One sales agent, and a re-check timer so long that only the pull can route the second
    // caller within the test's time.
    let routing = FLOW
        .replace("skills = { sales = 3 }", "skills = { support = 1 }")
        .replace(
            "wait_retry_secs = 1\nmax_wait_secs = 60",
            "wait_retry_secs = 60\nmax_wait_secs = 120",
        );
    assert_ne!(routing, FLOW);
    let world = Stack::start_with(StackOptions {
        routing,
        ..StackOptions::default()
    })
    .await;
    let worker = world.worker().await;
    let first = world.sim.start_call(sales_call()).unwrap().correlation_id;
    world
        .until(20, "the first call to ring Alice", async || {
            let s = world.live(&first).await?;
            matches!(s.phase, Phase::Ringing { .. } | Phase::Talking { .. }).then_some(())
        })
        .await;
    let second = world.sim.start_call(sales_call()).unwrap().correlation_id;
    world
        .until(20, "the second call to wait", async || {
            let s = world.live(&second).await?;
            matches!(s.phase, Phase::Waiting { .. }).then_some(())
        })
        .await;
    let started = tokio::time::Instant::now();
    world.ended(&first, 30).await;
    let state = archived_state(&world.ended(&second, 30).await);
    assert_eq!(state.answered_by.as_ref().map(|a| a.as_str()), Some(ALICE));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "routed by the pull, not by the 60 s re-check"
    );
    assert!(
        world
            .metrics
            .counter("switchboard_waiting_calls_pulled_total", &[])
            >= 1
    );
    worker.stop().await;
    world.shutdown().await;
}

/// A measurement, not a check: `cargo test -p switchboard-worker --test flow_resilience
/// -- --ignored --nocapture measure`. Twenty calls at once through two workers; prints
/// per-operation command latency (executor → simulator → back) and the wall time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_twenty_concurrent_calls() {
    let routing = FLOW.replace(
        "skills = { support = 5 }",
        "skills = { support = 5, sales = 1 }",
    );
    let world = Stack::start_with(StackOptions {
        routing,
        ..StackOptions::default()
    })
    .await;
    let a = world.worker().await;
    let b = world.worker().await;
    let started = tokio::time::Instant::now();
    let calls: Vec<String> = (0..20)
        .map(|_| world.sim.start_call(sales_call()).unwrap().correlation_id)
        .collect();
    for c in &calls {
        let s = archived_state(&world.ended(c, 180).await);
        assert!(s.answered_by.is_some());
    }
    let wall = started.elapsed();
    let mut by_op: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for (op, d) in world.recorder.timings.lock().unwrap().iter() {
        by_op.entry(op.clone()).or_default().push(*d);
    }
    println!(
        "20 calls, 3 agents, 2 workers: all ended in {:.1} s",
        wall.as_secs_f64()
    );
    for (op, mut ds) in by_op {
        ds.sort();
        let p = |q: f64| ds[((ds.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "{op:>22}: n={:>3} p50={:>7.2?} p95={:>7.2?} max={:>7.2?}",
            ds.len(),
            p(0.5),
            p(0.95),
            p(1.0)
        );
    }
    a.stop().await;
    b.stop().await;
    world.shutdown().await;
}

/// Regression: two workers got the same IncomingCall (Event Grid duplicate) at once; the
/// second re-ran the first's answer, ACS said 409 "original request still in progress", and
/// the call was ended as "answer failed". Now the second waits for the first (outbox lease)
/// and 409 counts as retry-later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_concurrent_duplicate_incoming_call_is_answered_once_and_kept() {
    let mut operations = BTreeMap::new();
    operations.insert(
        "AnswerCall".to_string(),
        FaultSpec {
            latency: Some(Latency::Fixed { ms: 700 }),
            rules: vec![],
        },
    );
    let world = Stack::start_with(StackOptions {
        dedupe: false,
        faults: Faults {
            operations,
            event_grid: EventGridFaults {
                duplicate: 1.0,
                ..EventGridFaults::default()
            },
            ..Faults::default()
        },
        ..StackOptions::default()
    })
    .await;
    let a = world.worker().await;
    let b = world.worker().await;
    let corr = world
        .sim
        .start_call(StartCall {
            duplicate_delivery: true,
            ..sales_call()
        })
        .unwrap()
        .correlation_id;
    let state = archived_state(&world.ended(&corr, 60).await);
    assert!(
        state.answered_by.is_some(),
        "{:?}\n{}",
        state.phase,
        world.recorder.dump(&corr)
    );
    assert_eq!(world.effects(&corr).answers, 1);
    let handled = world.recorder.decisions(&corr, "IncomingCall");
    assert!(
        handled.len() >= 2,
        "both copies reached a worker: {handled:?}"
    );
    // The second copy did not run the first's answer alongside it: it waited for the lease.
    let answers_sent = world
        .recorder
        .timings
        .lock()
        .unwrap()
        .iter()
        .filter(|(op, _)| op == "answer")
        .count();
    assert_eq!(answers_sent, 1, "{}", world.recorder.dump(&corr));
    assert!(world.metrics.counter("switchboard_outbox_busy_total", &[]) >= 1);
    a.stop().await;
    b.stop().await;
    world.shutdown().await;
}

/// Regression (found by the 200-call Service Bus + Redis end-to-end test): a worker reserved
/// an agent and was killed before the routing decision reached the call state. The route
/// command ran again on another worker, which saw the agent as busy — with this very call —
/// reserved a second agent and added both. A call's own unused reservation is now kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_left_by_a_crashed_worker_is_kept_not_doubled() {
    let world = Stack::start().await;
    let corr = world.sim.start_call(sales_call()).unwrap().correlation_id;
    // What the crashed worker left behind: Bob reserved for this call. (The worker below
    // upserts the roster again, which keeps reservations.)
    let bob = switchboard_store::TeamsUserId::new(BOB);
    world
        .store
        .upsert_agent(&switchboard_store::AgentProfile::new(bob.clone()))
        .await
        .unwrap();
    world
        .store
        .reserve(&bob, &corr, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("Bob is free");

    let worker = world.worker().await;
    let state = archived_state(&world.ended(&corr, 60).await);
    assert_eq!(
        state.answered_by.as_ref().map(|a| a.as_str()),
        Some(BOB),
        "the call keeps the agent it had reserved: {}",
        world.recorder.dump(&corr)
    );
    let fx = world.effects(&corr);
    assert_eq!(fx.adds, 1, "one agent added: {fx:?}");
    assert!(world.dead_letters().await.is_empty());
    worker.stop().await;
    world.shutdown().await;
}
