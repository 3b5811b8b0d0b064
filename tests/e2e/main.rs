//! End-to-end tests with real processes: `switchboard sim` (ACS), `switchboard ingress` and
//! `switchboard worker` replicas, each its own OS process on loopback ports, sharing one
//! temporary SQLite file (queue and store). The simulator delivers IncomingCall to the
//! ingress's Event Grid webhook and POSTs signed callbacks to its `/api/callbacks`; the workers
//! drive calls through its Call Automation API. Assertions read the simulator's effects
//! ledger (control API) and the store's archived calls.
//!
//! Run with `cargo test -p switchboard --test e2e`.

mod harness;

use std::time::Duration;

use harness::{World, WorldOptions};
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
        agents: vec![(harness::accepts(), 3); 6],
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
            (json!({"type": "decline", "afterMs": 100}), 5),
            (harness::accepts(), 3),
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
