//! `switchboard bench` with a handful of calls: the report has every figure, the numbers are
//! consistent with each other (no timing thresholds: speed is measured, not asserted), and
//! every call completed.
use std::process::Command;

#[test]
fn bench_reports_consistent_figures() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "bench",
            "--calls",
            "12",
            "--concurrency",
            "4",
            "--workers",
            "2",
            "--json",
        ])
        .env_remove("RUST_LOG")
        .output()
        .expect("run switchboard bench");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(r["calls"], 12);
    assert_eq!(r["completed"], 12);
    assert_eq!(r["failed"], 0);
    assert_eq!(r["deadLetters"], 0);
    assert_eq!(r["workers"], 2);
    let f = |p: &str| r.pointer(p).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    assert!(f("/callsPerSecond") > 0.0, "{r}");
    // Each call needs at least answer, add participant and hang-up.
    assert!(r["commands"].as_u64().unwrap() >= 36, "{r}");
    for s in ["/workerAddedMs", "/callSetupMs"] {
        let (p50, p95, p99) = (
            f(&format!("{s}/p50")),
            f(&format!("{s}/p95")),
            f(&format!("{s}/p99")),
        );
        assert!(p50 >= 0.0 && p50 <= p95 && p95 <= p99, "{s}: {r}");
    }
    assert!(r["workerAddedMs"]["samples"].as_u64().unwrap() >= 12, "{r}");
    assert_eq!(r["callSetupMs"]["samples"], 12, "{r}");
    assert!(f("/peakRssMiB") > 1.0, "{r}");
    assert!(f("/startToFirstMessageMs") > 0.0, "{r}");
}

/// The chaos run CI can afford (issue 15 §6): 40 calls under injected 429/503/resets/lost
/// answers, duplicated and reordered callbacks, duplicated IncomingCalls and two worker
/// processes SIGKILLed; every invariant holds and the counts show the faults really happened.
#[test]
fn chaos_keeps_every_invariant() {
    chaos(&["--calls", "40"]);
}

/// The same with the workers as tasks of the bench process (a killed one has its tasks
/// aborted wherever they are).
#[test]
fn chaos_keeps_every_invariant_with_workers_in_process() {
    chaos(&["--calls", "25", "--in-process"]);
}

fn chaos(extra: &[&str]) {
    let calls: u64 = extra[1].parse().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["bench", "--chaos"])
        .args(extra)
        .args([
            "--concurrency",
            "15",
            "--workers",
            "2",
            "--seed",
            "11",
            "--timeout",
            "240",
            "--json",
        ])
        .env_remove("RUST_LOG")
        .output()
        .expect("run switchboard bench --chaos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(r["completed"], calls, "{r}");
    assert_eq!(r["broken"], serde_json::json!({}), "{r}");
    let c = &r["counts"];
    assert_eq!(c["answers"], calls, "{r}");
    assert_eq!(c["workersKilled"], 2, "{r}");
    assert_eq!(c["deadLetters"], 0, "{r}");
    let injected: u64 = c["faultsInjected"]
        .as_object()
        .expect("faults")
        .values()
        .filter_map(|v| v.as_u64())
        .sum();
    assert!(injected > 0, "faults were injected: {r}");
    assert!(
        c["duplicateInputs"].as_u64().unwrap_or(0) > 0,
        "duplicates reached the flow: {r}"
    );
}

/// `bench --startup` on SQLite and on the AMQP peer: each run's worker settles the one
/// IncomingCall (answered once, nothing dead-lettered — the runner checks both), and the
/// figures are consistent (ready and settled after the spawn, p50 ≤ max). Speed is measured,
/// not asserted.
#[test]
fn startup_bench_settles_the_first_message_on_both_engines() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "bench",
            "--startup",
            "--runs",
            "2",
            "--agents",
            "5",
            "--servicebus-peer",
            "127.0.0.180",
            "--json",
        ])
        .env_remove("RUST_LOG")
        .output()
        .expect("run switchboard bench --startup");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON report");
    let sides: Vec<&str> = rows.iter().filter_map(|r| r["side"].as_str()).collect();
    assert_eq!(
        sides,
        [
            "switchboard (SQLite)",
            "switchboard (Service Bus AMQP peer)"
        ]
    );
    for r in &rows {
        assert_eq!(r["runs"], 2, "{r}");
        assert_eq!(r["failed"], 0, "{r}");
        let f = |p: &str| r.pointer(p).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        for s in ["/readyMs", "/settledMs"] {
            let (p50, max) = (f(&format!("{s}/p50")), f(&format!("{s}/max")));
            assert!(p50 > 0.0 && p50 <= max, "{s}: {r}");
        }
    }
}
