//! End-to-end tests with real processes: `switchboard sim` (ACS), `switchboard ingress` and
//! `switchboard worker` replicas, each its own OS process on loopback ports, sharing one
//! temporary SQLite file (queue and store). The simulator delivers IncomingCall to the
//! ingress's Event Grid webhook and POSTs signed callbacks to its `/api/callbacks`; the workers
//! drive calls through its Call Automation API. Assertions read the simulator's effects
//! ledger (control API) and the store's archived calls.
//!
//! Run with `cargo test -p switchboard --test e2e`.

mod harness;
mod stats;

use std::time::Duration;

use harness::{Engines, World, WorldOptions};
use serde_json::json;

/// Calls start on one worker process; once some are answered a second worker starts and the
/// first is SIGKILLed mid-flight. Its unsettled messages come back after their lock expires
/// and the survivor finishes every call: answered once, one agent added once, hung up and
/// archived — no duplicate effect from redelivered work (repeatability ids derive from the
/// events), and no agent invited to two calls (the simulator would answer "busy").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_no_call_and_duplicates_no_effect() {
    let mut world = World::start(WorldOptions {
        workers: 1,
        agents: vec![(harness::accepts(), "support", 3); 6],
        ..WorldOptions::default()
    })
    .await;
    let mut calls = Vec::new();
    for i in 0..6 {
        calls.push(
            world
                .place_call(&format!("+1425555{:04}", 2000 + i), i % 2 == 0)
                .await,
        );
    }
    // Wait until the first worker is in the middle of things, then replace it abruptly.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while world.ledger().await["total"]["answers"]
        .as_u64()
        .unwrap_or(0)
        < 3
    {
        assert!(
            std::time::Instant::now() < deadline,
            "calls were not answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    world.add_worker();
    world.kill_worker(0);

    let ended = world.wait_archived(&calls, Duration::from_secs(90)).await;
    assert_eq!(ended.len(), calls.len(), "every call finished: {ended:?}");
    let ledger = world.ledger().await;
    for c in &calls {
        let effects = &ledger["calls"][c]["effects"];
        assert_eq!(effects["answers"], 1, "call {c}: {effects}");
        assert_eq!(
            effects["adds"], 1,
            "call {c}: one agent, added once: {effects}"
        );
        assert_eq!(effects["transfers"], 0, "call {c}: {effects}");
    }
    assert_eq!(
        ledger["total"]["adds"],
        calls.len() as u64,
        "{}",
        ledger["total"]
    );
    world.shutdown().await;
}

/// The best-skilled agent declines; the call goes to the next one. The IncomingCall is
/// delivered twice (Event Grid is at-least-once) and the call is still answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declining_agent_passes_the_call_on_and_a_duplicate_incoming_call_is_absorbed() {
    let world = World::start(WorldOptions {
        workers: 2,
        agents: vec![
            (json!({"type": "decline", "afterMs": 100}), "support", 5),
            (harness::accepts(), "support", 3),
        ],
        ..WorldOptions::default()
    })
    .await;
    let call = world.place_call("+14255553000", true).await;
    let ended = world
        .wait_archived(std::slice::from_ref(&call), Duration::from_secs(60))
        .await;
    assert_eq!(ended.len(), 1, "the call finished");
    let ledger = world.ledger().await;
    let effects = &ledger["calls"][&call]["effects"];
    assert_eq!(effects["answers"], 1, "{effects}");
    assert_eq!(
        effects["adds"], 2,
        "declined, then the next agent: {effects}"
    );
    assert_eq!(ledger["incomingCallsDelivered"], 2, "{ledger}");
    let doc = ended[&call].to_string();
    assert!(
        doc.contains(&harness::agent_id(1)),
        "the second agent took it: {doc}"
    );
    world.shutdown().await;
}

/// The product's paths across processes while the simulator duplicates and reorders
/// callbacks: IVR (the caller presses 1) → sales, whose best agent lets it ring out → the
/// next agent answers; sales records, so the recording notice is played; a partners call
/// whose only agent is busy overflows to a phone number. Every effect happens exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ivr_ring_no_answer_recording_and_overflow_under_duplicated_reordered_callbacks() {
    let world = World::start(WorldOptions {
        workers: 2,
        agents: vec![
            (json!({"type": "noAnswer"}), "sales", 5),
            (harness::accepts(), "sales", 3),
            (json!({"type": "busy"}), "partners", 5),
        ],
        routing: switchboard_testkit::fixtures::E2E_SCENARIO,
        lines: vec!["+18005550100", "+18005550103"],
        ..WorldOptions::default()
    })
    .await;
    world
        .faults(json!({"callbacks": {"duplicate": 0.3, "reorder": 0.2}}))
        .await;
    let sales = world
        .dial(json!({"from": "+14255554000", "to": "+18005550100", "dtmf": "1"}))
        .await;
    let partners = world
        .dial(json!({"from": "+14255554001", "to": "+18005550103"}))
        .await;
    let calls = [sales.clone(), partners.clone()];
    let ended = world.wait_archived(&calls, Duration::from_secs(90)).await;
    assert_eq!(ended.len(), 2, "both calls finished: {ended:?}");
    let ledger = world.ledger().await;

    let s = &ledger["calls"][&sales]["effects"];
    assert_eq!(s["answers"], 1, "{s}");
    assert!(s["recognizes"].as_u64().unwrap() >= 1, "IVR menu: {s}");
    assert_eq!(s["adds"], 2, "rang out, then the next agent: {s}");
    assert_eq!(s["recordings"], 1, "recorded once: {s}");
    // No hold music in this queue and the IVR prompt is part of the recognize: the one play
    // is the recording notice.
    assert_eq!(s["plays"], 1, "the recording notice: {s}");
    let doc = ended[&sales].to_string();
    assert!(
        doc.contains(&harness::agent_id(1)),
        "the second agent took it: {doc}"
    );

    let p = &ledger["calls"][&partners]["effects"];
    assert_eq!(p["answers"], 1, "{p}");
    assert_eq!(p["transfers"], 1, "overflow to the phone number: {p}");
    assert_eq!(p["recordings"], 0, "{p}");
    world.shutdown().await;
}

/// Every fixture in `tests/fixtures/messages` replayed through `switchboard replay
/// --include-invalid` into a running worker: the malformed ones end in the dead-letter queue
/// with the reason the fixture names, and nothing else does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_replay_without_unintended_dead_letters() {
    let world = World::start(WorldOptions {
        workers: 1,
        ..WorldOptions::default()
    })
    .await;
    let fixtures = harness::repo_path("tests/fixtures/messages");
    let out = world.cli(&["replay", "--include-invalid", fixtures.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");

    let all = switchboard_events::load_fixture_dir(&fixtures).unwrap();
    let mut expected: Vec<(String, String)> = all
        .iter()
        .filter_map(|f| match &f.expect {
            switchboard_events::Expect::DeadLetter { reason } => {
                Some((f.name.clone(), reason.clone()))
            }
            switchboard_events::Expect::Partial { .. } => {
                Some((f.name.clone(), "PartiallyInvalidBatch".into()))
            }
            _ => None,
        })
        .collect();
    expected.sort();
    // Wait until the worker has drained both queues.
    let got = world
        .wait_dead_letters(expected.len(), Duration::from_secs(60))
        .await;
    let reasons: Vec<String> = got
        .iter()
        .map(|m| {
            m["deadLetterReason"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        got.len(),
        expected.len(),
        "dead letters {got:#?}\nexpected {expected:#?}"
    );
    for (name, reason) in &expected {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{name}: no dead letter with reason {reason}: {reasons:?}"
        );
    }
    world.shutdown().await;
}

/// Issue 7's proof on the distributed engines: simulator, ingress and three worker processes
/// sharing a real `redis-server`; 200 calls arrive at once for 40 agents, and one worker is
/// SIGKILLed mid-run. Every call is answered once, gets exactly one agent added once (an agent
/// invited while on another call answers "busy", which would show as a second add), is hung
/// up and archived; nothing is dead-lettered; no reservation is left in Redis.
async fn two_hundred_calls_survive_a_killed_worker(engines: Engines) {
    if engines != Engines::Sqlite && !switchboard_redis::testing::RedisServer::required_or_skip() {
        return;
    }
    // One at a time: three of them at once would only measure the two cores.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    const CALLS: usize = 200;
    const AGENTS: usize = 40;
    let mut world = World::start(WorldOptions {
        workers: 3,
        agents: vec![(json!({"type": "accept", "afterMs": 100}), "support", 3); AGENTS],
        routing: switchboard_testkit::fixtures::E2E_BUSY_DAY,
        talk_time: Duration::from_millis(500),
        engines,
        worker_concurrency: 64,
        // Long enough that two cores shared by every process (and the other tests) do not
        // make handlers lose their locks.
        lock_duration_secs: 10,
        ..WorldOptions::default()
    })
    .await;
    let started = std::time::Instant::now();
    let calls: Vec<String> = futures::future::join_all(
        (0..CALLS).map(|i| world.place_call_to_line(format!("+1425556{:04}", i), i % 10 == 0)),
    )
    .await;

    // Kill a worker once the run is well under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while world.ledger().await["total"]["adds"].as_u64().unwrap_or(0) < (AGENTS as u64) {
        assert!(
            std::time::Instant::now() < deadline,
            "agents were not being added: {}",
            world.ledger().await["total"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    world.kill_worker(1);
    let killed_at = started.elapsed();

    let ended = world.wait_archived(&calls, Duration::from_secs(420)).await;
    let finished_in = started.elapsed();
    let ledger = world.ledger().await;
    if let Some(stuck) = calls.iter().find(|c| !ended.contains_key(*c)) {
        let live = world.store().await.get_call(stuck).await.ok().flatten();
        panic!(
            "{} of {} calls finished; totals {}\nfirst unfinished {stuck}: state {}\ntimeline: {}\nworker logs:\n{}",
            ended.len(),
            calls.len(),
            ledger["total"],
            live.map(|v| v.value.to_string()).unwrap_or_default(),
            world.timeline(stuck).await,
            world.worker_logs_mentioning(stuck)
        );
    }
    for c in &calls {
        let effects = &ledger["calls"][c]["effects"];
        if effects["answers"] != 1 || effects["adds"] != 1 || effects["transfers"] != 0 {
            let archived = &ended[c];
            panic!(
                "call {c}: expected one answer, one add, no transfer: {effects}\narchived: {archived}\ntimeline: {}\nworker logs:\n{}",
                world.timeline(c).await,
                world.worker_logs_mentioning(c)
            );
        }
    }
    assert_eq!(ledger["total"]["adds"], CALLS as u64, "{}", ledger["total"]);

    let dead = world.wait_dead_letters(0, Duration::from_secs(20)).await;
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
    let store = world.store().await;
    for agent in store.list_agents().await.expect("list agents") {
        assert_eq!(agent.active(), 0, "{} still holds a reservation", agent.id);
    }
    eprintln!(
        "{CALLS} calls on {engines:?}, 3 workers (one killed at {killed_at:?}): all archived \
         after {finished_in:?}"
    );
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_calls_on_redis_survive_a_killed_worker() {
    two_hundred_calls_survive_a_killed_worker(Engines::SqliteAndRedis).await;
}

/// The same on the Service Bus AMQP test peer: every queue is a Service Bus queue (sessions for
/// call events) reached over AMQP by the `azservicebus` client. This run is what exposed the
/// fe2o3-amqp settlement race patched in `vendor/fe2o3-amqp` (session accepts that never
/// finished delayed calls past the ring timeout). `E2E_KEEP_LOGS=<dir>` keeps the processes'
/// logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_calls_on_service_bus_and_redis_survive_a_killed_worker() {
    two_hundred_calls_survive_a_killed_worker(Engines::ServiceBusAndRedis(
        std::net::Ipv4Addr::new(127, 0, 91, 1),
    ))
    .await;
}

/// The same on the embedded engines: one SQLite file holds the queues and the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_calls_on_sqlite_survive_a_killed_worker() {
    two_hundred_calls_survive_a_killed_worker(Engines::Sqlite).await;
}

/// Issue 15 §7: a worker SIGKILLed while it holds ringing `IncomingCall`s. The incoming queue's
/// lock is short (5 s, renewed while a handler works) and the call-events queue's is long
/// (30 s, as deployed): with one lock of 30 s for both, the killed worker's calls would come
/// back only after they stopped ringing (30 s) and never be answered. Answers are slowed
/// down so the worker is killed with answers in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_holding_ringing_calls_loses_none_of_them() {
    const CALLS: usize = 10;
    let mut world = World::start(WorldOptions {
        workers: 2,
        agents: vec![(harness::accepts(), "support", 3); CALLS],
        talk_time: Duration::from_millis(500),
        lock_duration_secs: 30,
        ..WorldOptions::default()
    })
    .await;
    world
        .faults(json!({"operations": {"AnswerCall": {"latency": {"type": "fixed", "ms": 2500}}}}))
        .await;
    let calls: Vec<String> = futures::future::join_all(
        (0..CALLS).map(|i| world.place_call_to_line(format!("+1425557{:04}", i), false)),
    )
    .await;
    // Both workers have taken IncomingCalls and are waiting for their answers.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let answered_before_kill = world.ledger().await["total"]["answers"]
        .as_u64()
        .unwrap_or(0);
    world.kill_worker(0);
    let started = std::time::Instant::now();
    let ended = world.wait_archived(&calls, Duration::from_secs(90)).await;
    let ledger = world.ledger().await;
    for c in &calls {
        let effects = &ledger["calls"][c]["effects"];
        assert!(
            ended.contains_key(c) && effects["answers"] == 1 && effects["adds"] == 1,
            "call {c} answered once and given an agent: {effects}\ntimeline: {}\nworker logs:\n{}",
            world.timeline(c).await,
            world.worker_logs_mentioning(c)
        );
    }
    eprintln!(
        "{CALLS} calls, a worker killed with {} answered: all answered and ended {:?} later",
        answered_before_kill,
        started.elapsed()
    );
    world.shutdown().await;
}
