//! Throughput of the embedded SQLite store's hot paths: reserve/release (single task and
//! contended), compare-and-set of call state and idempotency markers.
//!
//! `cargo bench -p switchboard-store` (add `-- --quick` for a short run). Each line prints
//! operations per second; a reserve+release pair counts as two operations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_store::{
    AgentProfile, Durability, SqliteOptions, SqliteStore, Store, SystemClock, TeamsUserId,
};

const TTL: Duration = Duration::from_secs(300);

fn report(name: &str, ops: u64, elapsed: Duration) {
    let per_sec = ops as f64 / elapsed.as_secs_f64();
    let us = elapsed.as_secs_f64() * 1e6 / ops as f64;
    println!("{name:<58} {ops:>7} ops in {elapsed:>10.2?}  {per_sec:>9.0} ops/s  {us:>7.1} µs/op");
}

async fn store(dir: &std::path::Path, name: &str, durability: Durability) -> SqliteStore {
    let options = SqliteOptions {
        durability,
        ..SqliteOptions::default()
    };
    SqliteStore::open_with(dir.join(name), Arc::new(SystemClock), options)
        .await
        .expect("open store")
}

async fn seed(s: &dyn Store, n: usize, capacity: u32) -> Vec<TeamsUserId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = TeamsUserId::from(format!("agent-{i:04}"));
        s.upsert_agent(&AgentProfile::new(id.clone()).with_capacity(capacity))
            .await
            .expect("seed");
        ids.push(id);
    }
    ids
}

async fn single_task(s: &SqliteStore, iterations: u64, label: &str) {
    let ids = seed(s, 1, 1).await;
    let start = Instant::now();
    for i in 0..iterations {
        let r = s
            .reserve(&ids[0], &format!("{label}-{i}"), TTL)
            .await
            .expect("reserve")
            .expect("free");
        assert!(s.release(&r, Duration::ZERO).await.expect("release"));
    }
    report(
        &format!("reserve+release, 1 task ({label})"),
        iterations * 2,
        start.elapsed(),
    );
}

/// `tasks` tasks, spread over `handles` store handles (replicas), each reserving the first
/// free of a pool of `pool` single-slot agents and releasing it.
async fn contended(
    dir: &std::path::Path,
    tasks: usize,
    handles: usize,
    pool: usize,
    per_task: u64,
) {
    let name = format!("contended-{tasks}-{handles}-{pool}.db");
    let first = store(dir, &name, Durability::Normal).await;
    let ids = Arc::new(seed(&first, pool, 1).await);
    let mut stores = vec![first];
    for _ in 1..handles {
        stores.push(store(dir, &name, Durability::Normal).await);
    }
    let start = Instant::now();
    let mut joins = Vec::new();
    for t in 0..tasks {
        let s = stores[t % handles].clone();
        let ids = Arc::clone(&ids);
        joins.push(tokio::spawn(async move {
            let (mut ops, mut misses) = (0u64, 0u64);
            let mut i = 0u64;
            while i < per_task {
                let call = format!("t{t}-{i}");
                let got = s.reserve_first_of(&ids, &call, TTL).await.expect("reserve");
                ops += 1;
                match got {
                    Some(r) => {
                        tokio::task::yield_now().await;
                        assert!(s.release(&r, Duration::ZERO).await.expect("release"));
                        ops += 1;
                        i += 1;
                    }
                    None => {
                        misses += 1;
                        tokio::task::yield_now().await;
                    }
                }
            }
            (ops, misses)
        }));
    }
    let (mut ops, mut misses) = (0, 0);
    for j in joins {
        let (o, m) = j.await.expect("task");
        ops += o;
        misses += m;
    }
    report(
        &format!(
            "reserve_first_of+release, {tasks} tasks/{handles} handles/{pool} agents ({misses} misses)"
        ),
        ops,
        start.elapsed(),
    );
}

async fn ranked_1000(dir: &std::path::Path, iterations: u64) {
    // Routing hands the store a ranking of the whole roster; the first 999 are busy.
    let s = store(dir, "ranked.db", Durability::Normal).await;
    let ids = seed(&s, 1000, 1).await;
    for (i, id) in ids.iter().take(999).enumerate() {
        s.reserve(id, &format!("hold-{i}"), TTL)
            .await
            .unwrap()
            .unwrap();
    }
    let start = Instant::now();
    for i in 0..iterations {
        let r = s
            .reserve_first_of(&ids, &format!("c-{i}"), TTL)
            .await
            .unwrap()
            .expect("last agent free");
        s.release(&r, Duration::ZERO).await.unwrap();
    }
    report(
        "reserve_first_of+release, 1000 ranked, 999 busy",
        iterations * 2,
        start.elapsed(),
    );
    let start = Instant::now();
    for _ in 0..iterations {
        assert_eq!(s.list_agents().await.unwrap().len(), 1000);
    }
    report("list_agents, 1000 agents", iterations, start.elapsed());
}

async fn call_state(dir: &std::path::Path, iterations: u64) {
    let s = store(dir, "calls.db", Durability::Normal).await;
    let doc = json!({"state": "ringing", "agent": "agent-0001", "attempts": 2, "ivr": "1"});
    let start = Instant::now();
    let mut version = None;
    for _ in 0..iterations {
        let cur = s.get_call("call").await.unwrap();
        assert_eq!(cur.as_ref().map(|v| v.version), version);
        version = s
            .put_call_if("call", version, &doc, TTL)
            .await
            .unwrap()
            .written();
    }
    report(
        "get_call+put_call_if (read-modify-write)",
        iterations * 2,
        start.elapsed(),
    );

    let start = Instant::now();
    for i in 0..iterations {
        assert!(s.mark_once(&format!("evt-{i}"), TTL).await.unwrap());
    }
    report("mark_once (new key)", iterations, start.elapsed());
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n: u64 = if quick { 500 } else { 5000 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    rt.block_on(async {
        println!("switchboard-store SQLite bench ({n} iterations per case)");
        let s = store(dir.path(), "single-normal.db", Durability::Normal).await;
        single_task(&s, n, "synchronous=NORMAL").await;
        let s = store(dir.path(), "single-full.db", Durability::Full).await;
        single_task(&s, n / 5, "synchronous=FULL").await;
        contended(dir.path(), 8, 1, 4, n / 8).await;
        contended(dir.path(), 8, 2, 4, n / 8).await;
        contended(dir.path(), 16, 1, 2, n / 16).await;
        ranked_1000(dir.path(), n / 10).await;
        call_state(dir.path(), n).await;
    });
}
