//! Queue statistics and call history with real processes (issue 19's acceptance): two
//! `switchboard worker` replicas drive calls against `switchboard sim`; some calls are
//! answered (within the service level and after a long wait), one caller hangs up while
//! waiting, one call is still waiting when the figures are read. The figures must equal
//! what the simulator's timelines say, and `switchboard stats --json` (the binary, reading
//! the store) must agree with `GET /api/stats` on both workers' status ports and with the
//! `switchboard_stats_*` gauges.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{self, Engines, World, WorldOptions, LINE};

/// The service-level threshold of this test, in seconds.
const SL_SECS: u64 = 3;

/// What the simulator saw of one call.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct SimCall {
    /// Milliseconds from the caller dialling to an agent accepting.
    accepted_after_ms: Option<u64>,
    /// The caller hung up.
    caller_hung_up: bool,
}

async fn sim_call(world: &World, call: &str) -> SimCall {
    let t = world.timeline(call).await;
    let entries = t.as_array().cloned().unwrap_or_default();
    let at = |kind: &str, what: &dyn Fn(&str) -> bool| {
        entries
            .iter()
            .find(|e| e["kind"] == kind && what(e["what"].as_str().unwrap_or("")))
            .and_then(|e| e["elapsedMs"].as_u64())
    };
    let dialled = at("caller", &|w| w == "dialled");
    let accepted = at("agent", &|w| w == "accepted");
    SimCall {
        accepted_after_ms: accepted.zip(dialled).map(|(a, d)| a - d),
        caller_hung_up: at("caller", &|w| w.starts_with("hung up")).is_some(),
    }
}

/// The support queue's figures as the simulator's timelines make them: (waiting, answered,
/// abandoned, answered within the service level).
async fn sim_figures(world: &World, calls: &[String]) -> (u64, u64, u64, u64) {
    let (mut waiting, mut answered, mut abandoned, mut within) = (0, 0, 0, 0);
    for c in calls {
        let s = sim_call(world, c).await;
        match s.accepted_after_ms {
            Some(ms) => {
                answered += 1;
                within += u64::from(ms <= SL_SECS * 1000);
            }
            None if s.caller_hung_up => abandoned += 1,
            None => waiting += 1,
        }
    }
    (waiting, answered, abandoned, within)
}

/// `GET /api/stats` on worker `i`.
async fn api_stats(world: &World, i: usize) -> Value {
    let (status, body) = world.worker_get(i, "/api/stats").await;
    assert_eq!(status, 200, "/api/stats on worker {i}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/api/stats JSON: {e}: {body}"))
}

/// `switchboard stats --json`.
fn cli_stats(world: &World) -> Value {
    let out = world.cli(&["stats", "--json"]);
    assert!(
        out.status.success(),
        "stats --json: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stats --json prints JSON")
}

/// The figures without the instant they were computed at.
fn figures(mut v: Value) -> Value {
    v.as_object_mut().expect("a snapshot object").remove("asOf");
    v
}

fn support(v: &Value) -> Value {
    v["queues"]
        .as_array()
        .and_then(|q| q.iter().find(|q| q["queue"] == "support"))
        .cloned()
        .unwrap_or_else(|| panic!("no support queue in {v}"))
}

async fn until(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `part` of `whole` in %, rounded to 0.1 as the statistics are.
fn pct(part: u64, whole: u64) -> f64 {
    (1000.0 * part as f64 / whole as f64).round() / 10.0
}

/// A gauge's value in a Prometheus text exposition (`name{labels} value`).
fn gauge(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_match_the_simulator_and_the_cli_agrees_with_the_api() {
    statistics_scenario(Engines::Sqlite).await;
}

/// The same with the store on Redis: the CLI reads what the workers wrote there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_on_redis_match_the_simulator_and_the_cli_agrees_with_the_api() {
    statistics_scenario(Engines::SqliteAndRedis).await;
}

async fn statistics_scenario(engines: Engines) {
    let world = World::start(WorldOptions {
        engines,
        workers: 2,
        // Agent 0 is offered first (higher level) and talks briefly; agent 1 talks long.
        agents: vec![
            (harness::accepts(), "support", 3),
            (harness::accepts(), "support", 2),
        ],
        talk_time: Duration::from_secs(5),
        extra_toml: "[stats]\nservice_level_secs = 3\nrefresh_secs = 1\n",
        ..WorldOptions::default()
    })
    .await;
    world.set_talk_time(1, Duration::from_secs(120)).await;
    let dial = |n: u32| world.dial(json!({"from": format!("+1425555{:04}", 3000 + n), "to": LINE}));
    let accepted = async |c: &str| sim_call(&world, c).await.accepted_after_ms.is_some();

    // Two calls answered at once (within the service level): both agents busy.
    let c1 = dial(1).await;
    until("the first call answered", 30, async || accepted(&c1).await).await;
    let c2 = dial(2).await;
    until("the second call answered", 30, async || accepted(&c2).await).await;
    // Agent 0's next call (the one that waits) lasts: the last call keeps waiting while the
    // figures are read. The first call keeps the talk time it was joined with.
    world.set_talk_time(0, Duration::from_secs(120)).await;
    // Two more wait; one of those callers gives up.
    let c3 = dial(3).await;
    let c4 = dial(4).await;
    // (The store's view lags the simulator's by a callback: wait for the figures themselves.)
    until("two answered, two waiting", 30, async || {
        let q = support(&api_stats(&world, 0).await);
        (
            &q["waiting"],
            &q["today"]["offered"],
            &q["today"]["answered"],
        ) == (&json!(2), &json!(4), &json!(2))
    })
    .await;
    world.hang_up_caller(&c4).await;
    // The other is answered when agent 0 is free again (after the service level).
    until("the waiting call answered", 40, async || {
        accepted(&c3).await
    })
    .await;
    // And one more is waiting while the figures are read.
    let c5 = dial(5).await;
    until(
        "three answered, one abandoned, one waiting",
        30,
        async || {
            let q = support(&api_stats(&world, 1).await);
            let t = &q["today"];
            (
                &q["waiting"],
                &t["offered"],
                &t["answered"],
                &t["abandoned"],
            ) == (&json!(1), &json!(5), &json!(3), &json!(1))
        },
    )
    .await;
    let calls = [c1.clone(), c2.clone(), c3.clone(), c4.clone(), c5.clone()];

    // The same instant through the API (both replicas) and the CLI: read until nothing moved
    // in between (the longest wait and occupancy tick with the clock).
    let mut agreed = None;
    for _ in 0..10 {
        let a0 = figures(api_stats(&world, 0).await);
        let cli = figures(cli_stats(&world));
        let a1 = figures(api_stats(&world, 1).await);
        if a0 == cli && cli == a1 {
            agreed = Some(cli);
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let live = agreed.expect("`switchboard stats --json` and /api/stats on both workers agree");
    let (sim_waiting, sim_answered, sim_abandoned, sim_within) = sim_figures(&world, &calls).await;
    let q = support(&live);
    let today = &q["today"];
    assert_eq!(
        (sim_waiting, sim_answered, sim_abandoned),
        (1, 3, 1),
        "the scenario"
    );
    assert_eq!(q["waiting"], sim_waiting, "{q}");
    assert_eq!(today["offered"], 5, "{q}");
    assert_eq!(today["answered"], sim_answered, "{q}");
    assert_eq!(today["abandoned"], sim_abandoned, "{q}");
    assert_eq!(
        sim_within, 2,
        "two calls answered at once, one after a wait"
    );
    let sl = pct(sim_within, sim_answered + sim_abandoned);
    assert_eq!(today["serviceLevelPct"].as_f64(), Some(sl), "{q}");
    assert_eq!(
        q["last5m"], q["today"],
        "everything happened in the last 5 minutes"
    );
    assert_eq!(q["agents"]["busy"], 2, "both agents talking: {q}");
    assert!(q["longestWaitSecs"].as_u64().is_some(), "{q}");
    assert_eq!(live["serviceLevelSecs"], SL_SECS);

    // The same numbers as Prometheus gauges (refreshed every second by each worker).
    for i in 0..2 {
        until("the gauges refreshed", 10, async || {
            let (_, m) = world.worker_get(i, "/metrics").await;
            let g = |n: &str| gauge(&m, n);
            g("switchboard_stats_waiting{queue=\"support\"}") == Some(1.0)
                && g("switchboard_stats_answered{queue=\"support\",window=\"today\"}")
                    == Some(sim_answered as f64)
                && g("switchboard_stats_abandoned{queue=\"support\",window=\"today\"}")
                    == Some(sim_abandoned as f64)
                && g("switchboard_stats_service_level_percent{queue=\"support\",window=\"today\"}")
                    == Some(sl)
        })
        .await;
    }

    // The callers still connected hang up (the last one while still waiting); every call
    // ends and the history has them all.
    for c in [&c2, &c3, &c5] {
        world.hang_up_caller(c).await;
    }
    let ended = world.wait_archived(&calls, Duration::from_secs(60)).await;
    assert_eq!(ended.len(), calls.len(), "every call archived");
    let (w, answered, abandoned, within) = sim_figures(&world, &calls).await;
    let done = figures(cli_stats(&world));
    let q = support(&done);
    assert_eq!((w, q["waiting"].as_u64()), (0, Some(0)), "{q}");
    assert_eq!(q["today"]["answered"], answered, "{q}");
    assert_eq!(q["today"]["abandoned"], abandoned, "{q}");
    assert_eq!(
        (answered, abandoned),
        (3, 2),
        "the last caller gave up waiting"
    );
    let sl = pct(within, answered + abandoned);
    assert_eq!(q["today"]["serviceLevelPct"].as_f64(), Some(sl), "{q}");
    // Nothing moves any more: the API agrees exactly.
    assert_eq!(figures(api_stats(&world, 0).await), done);

    // The call history: JSON, CSV, one call, filters.
    let out = world.cli(&["calls", "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).expect("calls list --json");
    assert_eq!(records.len(), 5, "{records:?}");
    for c in &calls {
        let r = records
            .iter()
            .find(|r| r["id"] == c.as_str())
            .expect("a record per call");
        let s = sim_call(&world, c).await;
        let expected = if s.accepted_after_ms.is_some() {
            "answered"
        } else {
            "abandoned"
        };
        assert_eq!(r["result"], expected, "{r}");
        assert_eq!(r["queue"], "support");
    }
    let out = world.cli(&["calls", "list", "--result", "abandoned", "--json"]);
    let abandoned_records: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(abandoned_records.len() as u64, abandoned);
    assert!(abandoned_records.iter().any(|r| r["id"] == c4.as_str()));

    let out = world.cli(&["calls", "list", "--since", "1h", "--csv"]);
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 6, "a header and five calls: {csv}");
    assert!(lines[0].starts_with("id,started_at,"), "{csv}");
    let header = lines[0].split(',').count();
    for l in &lines[1..] {
        // No field here needs quoting, so the columns line up with the header.
        assert_eq!(l.split(',').count(), header, "{l}");
    }
    let out = world.cli(&["calls", "list", "--since", "2030-01-01T00:00:00Z", "--json"]);
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .len(),
        0
    );

    let out = world.cli(&["calls", "show", &c3, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["result"], "answered");
    assert_eq!(r["answeredBy"], harness::agent_id(0));
    assert!(r["waitSecs"].as_u64().unwrap() >= SL_SECS, "{r}");
    let out = world.cli(&["calls", "show", &c3]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("result       answered"), "{text}");
    let out = world.cli(&["calls", "show", "no-such-call"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no call \"no-such-call\""));

    world.shutdown().await;
}
