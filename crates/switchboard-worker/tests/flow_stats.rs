//! Queue statistics and call history from the store, through the real pipeline with two
//! worker replicas: the figures must match what the simulator saw (who accepted, who
//! declined, who hung up waiting).

use std::time::Duration;

use switchboard_routing::{Roster, RoutingConfig};
use switchboard_sim::{Behaviour, StartCall, TimelineKind};
use switchboard_store::Clock as _;
use switchboard_testkit::fixtures::*;
use switchboard_testkit::*;
use switchboard_worker::stats::{self, CallRecord, StatsOptions};

fn call_to(number: &str) -> StartCall {
    StartCall {
        to: Some(number.to_string()),
        from: Some("+14255550123".into()),
        ..StartCall::default()
    }
}

/// What the simulator's timelines say about a call: (an agent accepted, agents declined,
/// the caller hung up).
fn sim_view(world: &Stack, corr: &str) -> (bool, usize, bool) {
    let t = world.sim.timeline(corr);
    let agent = |w: &str| {
        t.iter()
            .filter(|e| e.kind == TimelineKind::Agent && e.what.contains(w))
            .count()
    };
    let caller_hung_up = t
        .iter()
        .any(|e| e.kind == TimelineKind::Caller && e.what.starts_with("hung up"));
    (agent("accept") > 0, agent("declin"), caller_hung_up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_from_the_store_match_the_simulator() {
    let world = Stack::start().await;
    let w1 = world.worker().await;
    let w2 = world.worker().await;
    // Carmen (support's only agent) talks long, so a second support call waits.
    world
        .sim
        .set_agent_talk_time(CARMEN, Some(Duration::from_secs(4)))
        .unwrap();
    // Bob declines every call; with no call taken yet, longest-idle routing ties and offers
    // Bob (lowest id) first, then Alice takes it.
    world
        .sim
        .set_agent_behaviour(
            BOB,
            Behaviour::Decline {
                after: Duration::from_millis(100),
            },
        )
        .unwrap();

    let answered = world
        .sim
        .start_call(call_to(SUPPORT_LINE))
        .unwrap()
        .correlation_id;
    world
        .until(20, "Carmen on the first support call", async || {
            let s = world.live(&answered).await?;
            (s.ledger.answered_at.is_some()).then_some(())
        })
        .await;
    let abandoned = world
        .sim
        .start_call(call_to(SUPPORT_LINE))
        .unwrap()
        .correlation_id;
    world
        .until(20, "the second support call waiting", async || {
            let s = world.live(&abandoned).await?;
            (!s.ledger.visits.is_empty()).then_some(())
        })
        .await;

    // Live figures while one call waits and one is talking.
    let routing = RoutingConfig::from_toml_str(FLOW).unwrap();
    let members = stats::queue_members(&routing, &Roster::offline(&routing).unwrap());
    let opts = StatsOptions::default();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let live = stats::collect(
        world.store.as_ref(),
        &opts,
        &members,
        switchboard_store::SystemClock.now(),
    )
    .await
    .unwrap();
    let support = live.queues.iter().find(|q| q.queue == "support").unwrap();
    assert_eq!(support.waiting, 1, "{support:?}");
    assert!(support.longest_wait_secs >= 1, "{support:?}");
    assert_eq!(support.agents.busy, 1, "Carmen is on a call: {support:?}");
    assert_eq!(support.agents.available, 0, "{support:?}");
    assert_eq!(
        support.last_5m.answered, 1,
        "Carmen's call counts as answered: {support:?}"
    );
    let carmen = live
        .agents
        .iter()
        .find(|a| a.id.as_str() == CARMEN)
        .unwrap();
    assert_eq!(carmen.state, "busy");
    assert!(carmen.since.is_some());

    world.sim.hang_up_caller(&abandoned).unwrap();
    let sold = world
        .sim
        .start_call(call_to(SALES_LINE))
        .unwrap()
        .correlation_id;
    let calls = [answered.clone(), abandoned.clone(), sold.clone()];
    let archived = world.all_ended(&calls, 40).await;
    w1.stop().await;
    w2.stop().await;

    let s = stats::collect(
        world.store.as_ref(),
        &opts,
        &members,
        switchboard_store::SystemClock.now(),
    )
    .await
    .unwrap();
    // The simulator's view, call by call.
    let mut sim_answered = 0;
    let mut sim_declines = 0;
    let mut sim_abandoned = 0;
    for c in &calls {
        let (accepted, declines, hung_up) = sim_view(&world, c);
        sim_answered += u32::from(accepted);
        sim_declines += declines;
        sim_abandoned += u32::from(hung_up && !accepted);
    }
    let q = |n: &str| s.queues.iter().find(|q| q.queue == n).unwrap().clone();
    let (support, sales) = (q("support"), q("sales"));
    for w in [&support.last_5m, &support.last_1h, &support.today] {
        assert_eq!(
            (w.offered, w.answered, w.abandoned),
            (2, 1, 1),
            "{support:?}"
        );
    }
    assert_eq!(
        (sales.today.offered, sales.today.answered),
        (1, 1),
        "{sales:?}"
    );
    assert_eq!(
        support.today.answered + sales.today.answered,
        sim_answered,
        "answered: the simulator saw {sim_answered} agents accept"
    );
    assert_eq!(
        support.today.abandoned + sales.today.abandoned,
        sim_abandoned
    );
    assert_eq!((support.waiting, sales.waiting), (0, 0));
    // Both answered calls were picked up well within 20 seconds; the abandoned one counts
    // against the service level.
    assert_eq!(support.today.service_level_pct, Some(50.0), "{support:?}");
    assert_eq!(sales.today.service_level_pct, Some(100.0), "{sales:?}");
    let aht = support.today.avg_handle_secs.expect("a talk ended");
    assert!((3.0..10.0).contains(&aht), "Carmen talked about 4s: {aht}");
    assert!(support.today.avg_speed_of_answer_secs.unwrap() < 5.0);

    let agent = |id: &str| {
        s.agents
            .iter()
            .find(|a| a.id.as_str() == id)
            .unwrap()
            .clone()
    };
    assert_eq!(sim_declines, 1, "the simulator saw Bob decline");
    assert_eq!(
        agent(BOB).declined as usize,
        sim_declines,
        "{:?}",
        agent(BOB)
    );
    assert_eq!(agent(BOB).handled, 0);
    assert_eq!(agent(ALICE).handled, 1);
    assert_eq!(agent(CARMEN).handled, 1);
    assert!(agent(CARMEN).occupancy_pct > 0.0);

    // The call history: one record per finished call.
    let records: Vec<CallRecord> = archived
        .iter()
        .map(|a| CallRecord::from_state(&archived_state(a)))
        .collect();
    let by_id = |id: &str| records.iter().find(|r| r.id == id).unwrap();
    assert_eq!(by_id(&answered).result, "answered");
    assert_eq!(by_id(&abandoned).result, "abandoned");
    assert!(by_id(&abandoned).wait_secs >= 1);
    let sale = by_id(&sold);
    assert_eq!(sale.result, "answered");
    let tried: Vec<(&str, &str)> = sale
        .agents
        .iter()
        .map(|o| (o.agent.as_str(), o.outcome))
        .collect();
    assert_eq!(tried, [(BOB, "declined"), (ALICE, "answered")]);
    assert!(sale.csv_row().starts_with(&sold));
    world.shutdown().await;
}
