//! Contention checks: many tasks, several handles and several OS processes reserving from a
//! small pool at once must never give an agent more holders than its capacity.
//!
//! Holders are counted independently of the store under test: a holder increments its agent's
//! counter right after `reserve*` returns and decrements it right before `release`, so the
//! counted interval lies inside the interval the store believes the slot is held. If the store
//! ever admits one holder too many, those intervals can overlap and the counter exceeds the
//! capacity. In one process the counter is a mutex-guarded map; across processes it is a
//! separate SQLite file updated in `BEGIN IMMEDIATE` transactions (not the store's file, and
//! not the store's code, so a Redis store is checked by the same counter).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, TransactionBehavior};
use serde::{Deserialize, Serialize};

use super::factory::StoreFactory;
use super::support::{agent, fixture, ok};
use crate::clock::{Clock, SystemClock};
use crate::model::TeamsUserId;
use crate::port::Store;

/// Environment variable carrying the child's instructions (JSON) from
/// [`multi_process_contention`] to [`child_main`].
pub const CHILD_ENV: &str = "SWITCHBOARD_STORE_CONFORMANCE_CHILD";

/// Builds the command that runs [`child_main`] in a new process (typically the test binary
/// itself, filtered to the child test). The suite adds [`CHILD_ENV`].
pub type ChildLauncher = Box<dyn Fn() -> std::process::Command + Send + Sync>;

/// The contended pool: two single-slot agents and one with capacity 2.
const POOL: [(&str, u32); 3] = [("pool-a", 1), ("pool-b", 1), ("pool-c", 2)];

/// Long enough that no reservation expires during a run: expiry would legitimately free a slot
/// and hide nothing, but it would make the holder counter's intervals meaningless.
const HOLD_TTL: Duration = Duration::from_secs(300);

fn capacity_of(agent: &str) -> u32 {
    POOL.iter()
        .find(|(id, _)| *id == agent)
        .map_or(0, |(_, c)| *c)
}

/// Counts holders per agent, independently of the store.
#[async_trait]
trait Holders: Send + Sync {
    /// One more holder of `agent`; returns how many hold it now.
    async fn enter(&self, agent: &str) -> u32;
    async fn leave(&self, agent: &str);
    /// Records a rule broken while holding (e.g. the store's own count over capacity).
    async fn violation(&self, message: String);
}

#[derive(Default)]
struct MemoryHolders {
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    current: HashMap<String, u32>,
    max: HashMap<String, u32>,
    violations: Vec<String>,
}

#[async_trait]
impl Holders for MemoryHolders {
    async fn enter(&self, agent: &str) -> u32 {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let n = {
            let c = s.current.entry(agent.to_owned()).or_default();
            *c += 1;
            *c
        };
        let m = s.max.entry(agent.to_owned()).or_default();
        *m = (*m).max(n);
        if n > capacity_of(agent) {
            s.violations.push(format!(
                "{n} concurrent holders of {agent} (capacity {})",
                capacity_of(agent)
            ));
        }
        n
    }

    async fn leave(&self, agent: &str) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = s.current.get_mut(agent) {
            *c = c.saturating_sub(1);
        }
    }

    async fn violation(&self, message: String) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.violations.push(message);
    }
}

/// The cross-process counter in its own SQLite file.
struct FileHolders {
    conn: Arc<Mutex<Connection>>,
    process: u32,
}

fn open_counter(path: &Path) -> Connection {
    let conn = match Connection::open(path) {
        Ok(c) => c,
        Err(e) => panic!("open holder counter {}: {e}", path.display()),
    };
    let setup = conn
        .busy_timeout(Duration::from_secs(30))
        .and_then(|()| {
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
        })
        .and_then(|_| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS holders (
                     agent TEXT PRIMARY KEY, capacity INTEGER NOT NULL,
                     current INTEGER NOT NULL DEFAULT 0, max INTEGER NOT NULL DEFAULT 0,
                     acquisitions INTEGER NOT NULL DEFAULT 0);
                 CREATE TABLE IF NOT EXISTS violations (process INTEGER, message TEXT);
                 CREATE TABLE IF NOT EXISTS runs (
                     process INTEGER PRIMARY KEY, acquisitions INTEGER, misses INTEGER);",
            )
        });
    if let Err(e) = setup {
        panic!("set up holder counter {}: {e}", path.display());
    }
    conn
}

impl FileHolders {
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> T {
        let conn = Arc::clone(&self.conn);
        let r = tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut c)
        })
        .await;
        match r {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("holder counter: {e}"),
            Err(e) => panic!("holder counter task: {e}"),
        }
    }
}

#[async_trait]
impl Holders for FileHolders {
    async fn enter(&self, agent: &str) -> u32 {
        let agent = agent.to_owned();
        let process = self.process;
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (n, cap): (u32, u32) = tx.query_row(
                "UPDATE holders SET current = current + 1, max = MAX(max, current + 1),
                     acquisitions = acquisitions + 1
                 WHERE agent = ?1 RETURNING current, capacity",
                [&agent],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if n > cap {
                tx.execute(
                    "INSERT INTO violations (process, message) VALUES (?1, ?2)",
                    params![
                        process,
                        format!("{n} concurrent holders of {agent} (capacity {cap})")
                    ],
                )?;
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn leave(&self, agent: &str) {
        let agent = agent.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE holders SET current = current - 1 WHERE agent = ?1",
                [&agent],
            )
            .map(drop)
        })
        .await
    }

    async fn violation(&self, message: String) {
        let process = self.process;
        self.with(move |c| {
            c.execute(
                "INSERT INTO violations (process, message) VALUES (?1, ?2)",
                params![process, message],
            )
            .map(drop)
        })
        .await
    }
}

/// Most attempts one contender makes per acquisition before the check calls it starvation.
const MAX_ATTEMPTS_PER_ACQUISITION: u64 = 2000;

/// One contender: takes an agent from the pool `acquisitions` times — holding it briefly,
/// checking the store's own count meanwhile, then releasing it — backing off 1 ms after a
/// miss as a waiting call would. Returns (acquired, missed).
async fn contend(
    store: Arc<dyn Store>,
    holders: Arc<dyn Holders>,
    label: String,
    task: usize,
    acquisitions: usize,
) -> (u64, u64) {
    let forward: Vec<TeamsUserId> = POOL.iter().map(|(a, _)| TeamsUserId::from(*a)).collect();
    let backward: Vec<TeamsUserId> = forward.iter().rev().cloned().collect();
    let (mut acquired, mut missed) = (0u64, 0u64);
    let mut attempt = 0usize;
    while acquired < acquisitions as u64 {
        attempt += 1;
        if missed > MAX_ATTEMPTS_PER_ACQUISITION * acquisitions as u64 {
            holders
                .violation(format!(
                    "{label} task {task} starved: {acquired} of {acquisitions} after {missed} misses"
                ))
                .await;
            break;
        }
        let call = format!("{label}-t{task}-a{attempt}");
        let candidates = if task % 2 == 0 { &forward } else { &backward };
        // Mostly the routing primitive, sometimes a direct reserve of one agent.
        let got = if attempt % 3 == 2 {
            let target = &candidates[(task + attempt) % candidates.len()];
            ok("reserve", store.reserve(target, &call, HOLD_TTL).await)
        } else {
            ok(
                "reserve_first_of",
                store.reserve_first_of(candidates, &call, HOLD_TTL).await,
            )
        };
        let Some(r) = got else {
            missed += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        acquired += 1;
        let agent = r.agent.as_str().to_owned();
        holders.enter(&agent).await;
        // While we hold it, the store's own view must agree with the capacity.
        if let Some(rec) = ok("get_agent", store.get_agent(&r.agent).await) {
            if rec.active() > rec.capacity {
                holders
                    .violation(format!(
                        "store reports {} active on {agent} (capacity {})",
                        rec.active(),
                        rec.capacity
                    ))
                    .await;
            }
        }
        tokio::task::yield_now().await;
        holders.leave(&agent).await;
        if !ok("release", store.release(&r, Duration::ZERO).await) {
            holders
                .violation(format!(
                    "reservation {} on {agent} lost while held",
                    r.token
                ))
                .await;
        }
    }
    (acquired, missed)
}

/// Many tasks on three handles of one store (replicas in one process) reserve from a pool of
/// three agents (capacities 1, 1, 2): never more holders than capacity, every agent used,
/// nothing left held.
pub async fn concurrent_reservations_respect_capacity(f: &dyn StoreFactory) {
    const TASKS: usize = 12;
    const ACQUISITIONS: usize = 25;
    let fx = fixture(f).await;
    for (a, cap) in POOL {
        agent(fx.store.as_ref(), a, cap).await;
    }
    let mut handles: Vec<Arc<dyn Store>> = vec![Arc::clone(&fx.store)];
    for _ in 0..2 {
        handles.push(ok(
            "factory.open",
            f.open(&fx.locator, Arc::new(fx.clock.clone())).await,
        ));
    }
    let holders = Arc::new(MemoryHolders::default());
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = Arc::clone(&handles[t % handles.len()]);
        let holders: Arc<dyn Holders> = holders.clone();
        tasks.push(tokio::spawn(contend(
            store,
            holders,
            "mem".into(),
            t,
            ACQUISITIONS,
        )));
    }
    let mut acquired = 0;
    for t in tasks {
        match t.await {
            Ok((a, _)) => acquired += a,
            Err(e) => panic!("contender panicked: {e}"),
        }
    }
    let MemoryState {
        current,
        max,
        violations,
    } = std::mem::take(&mut *holders.state.lock().unwrap_or_else(PoisonError::into_inner));
    assert!(
        violations.is_empty(),
        "capacity violated:\n{}",
        violations.join("\n")
    );
    assert_eq!(
        acquired,
        (TASKS * ACQUISITIONS) as u64,
        "some contender was starved"
    );
    for (a, cap) in POOL {
        let max = max.get(a).copied().unwrap_or(0);
        assert!(max >= 1, "{a} was never reserved");
        assert!(max <= cap, "{a}: {max} holders, capacity {cap}");
        assert_eq!(current.get(a).copied(), Some(0));
    }
    for rec in ok("list_agents", fx.store.list_agents().await) {
        assert_eq!(rec.active(), 0, "{} still held after all releases", rec.id);
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ChildSpec {
    locator: String,
    counter: PathBuf,
    process: u32,
    processes: u32,
    tasks: usize,
    acquisitions: usize,
}

/// Waits until every process of the run has registered, so they really contend.
async fn start_barrier(holders: &FileHolders, processes: u32) {
    let process = holders.process;
    holders
        .with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO runs (process, acquisitions, misses) VALUES (?1, -1, -1)",
                [process],
            )
            .map(drop)
        })
        .await;
    for _ in 0..6000 {
        let n: u32 = holders
            .with(|c| c.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0)))
            .await;
        if n >= processes {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("not all {processes} processes started within 30 s");
}

async fn run_process(store: Arc<dyn Store>, spec: &ChildSpec) {
    let holders = Arc::new(FileHolders {
        conn: Arc::new(Mutex::new(open_counter(&spec.counter))),
        process: spec.process,
    });
    start_barrier(&holders, spec.processes).await;
    let mut tasks = Vec::new();
    for t in 0..spec.tasks {
        let dyn_holders: Arc<dyn Holders> = holders.clone();
        tasks.push(tokio::spawn(contend(
            Arc::clone(&store),
            dyn_holders,
            format!("p{}", spec.process),
            t,
            spec.acquisitions,
        )));
    }
    let (mut acquired, mut missed) = (0u64, 0u64);
    for t in tasks {
        match t.await {
            Ok((a, m)) => {
                acquired += a;
                missed += m;
            }
            Err(e) => panic!("contender panicked: {e}"),
        }
    }
    let process = spec.process;
    holders
        .with(move |c| {
            c.execute(
                "UPDATE runs SET acquisitions = ?2, misses = ?3 WHERE process = ?1",
                params![process, acquired, missed],
            )
            .map(drop)
        })
        .await;
}

/// Entry point of a child process of [`multi_process_contention`]: opens the store named in
/// [`CHILD_ENV`] and contends. Returns at once (doing nothing) when the variable is unset, so
/// the test that calls it is inert unless launched by the parent.
pub async fn child_main(f: &dyn StoreFactory) {
    let Ok(raw) = std::env::var(CHILD_ENV) else {
        eprintln!("{CHILD_ENV} not set: not a conformance child process, nothing to do");
        return;
    };
    let spec: ChildSpec = match serde_json::from_str(&raw) {
        Ok(s) => s,
        Err(e) => panic!("bad {CHILD_ENV}: {e}"),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = ok("factory.open", f.open(&spec.locator, clock).await);
    run_process(store, &spec).await;
}

/// Removes the counter files when the check ends, pass or fail.
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Two child processes plus this one, each with several tasks, reserve from one small pool in
/// one store at once (real clock): no agent ever has more holders than its capacity, every
/// process got reservations, and nothing is left held.
pub async fn multi_process_contention(f: &dyn StoreFactory, launch: ChildLauncher) {
    const CHILDREN: u32 = 2;
    const TASKS: usize = 6;
    const ACQUISITIONS: usize = 20;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let created = ok("factory.create", f.create(Arc::clone(&clock)).await);
    for (a, cap) in POOL {
        agent(created.store.as_ref(), a, cap).await;
    }

    let nanos = clock.now().unix_timestamp_nanos();
    let counter = std::env::temp_dir().join(format!(
        "switchboard-store-holders-{}-{nanos}.db",
        std::process::id()
    ));
    let _cleanup = TempFiles(vec![
        counter.clone(),
        counter.with_extension("db-wal"),
        counter.with_extension("db-shm"),
    ]);
    {
        let conn = open_counter(&counter);
        for (a, cap) in POOL {
            if let Err(e) = conn.execute(
                "INSERT INTO holders (agent, capacity) VALUES (?1, ?2)",
                params![a, cap],
            ) {
                panic!("seed holder counter: {e}");
            }
        }
    }

    let spec = |process: u32| ChildSpec {
        locator: created.locator.clone(),
        counter: counter.clone(),
        process,
        processes: CHILDREN + 1,
        tasks: TASKS,
        acquisitions: ACQUISITIONS,
    };
    let mut children = Vec::new();
    for p in 1..=CHILDREN {
        let json = match serde_json::to_string(&spec(p)) {
            Ok(j) => j,
            Err(e) => panic!("child spec: {e}"),
        };
        let mut cmd = launch();
        cmd.env(CHILD_ENV, json)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = match tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => panic!("spawn child process: {e}"),
        };
        children.push(child);
    }
    run_process(Arc::clone(&created.store), &spec(0)).await;
    for (i, child) in children.into_iter().enumerate() {
        let out = match child.wait_with_output().await {
            Ok(o) => o,
            Err(e) => panic!("wait for child {}: {e}", i + 1),
        };
        assert!(
            out.status.success(),
            "child process {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            i + 1,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let conn = open_counter(&counter);
    let report = (|| -> rusqlite::Result<_> {
        let violations: Vec<String> = conn
            .prepare("SELECT process || ': ' || message FROM violations")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let holders: Vec<(String, u32, i64, i64, i64)> = conn
            .prepare(
                "SELECT agent, capacity, current, max, acquisitions FROM holders ORDER BY agent",
            )?
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let runs: Vec<(u32, i64)> = conn
            .prepare("SELECT process, acquisitions FROM runs ORDER BY process")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok((violations, holders, runs))
    })();
    let (violations, holders, runs) = match report {
        Ok(r) => r,
        Err(e) => panic!("read holder counter: {e}"),
    };
    assert!(
        violations.is_empty(),
        "capacity violated:\n{}",
        violations.join("\n")
    );
    for (a, cap, current, max, acquisitions) in &holders {
        assert_eq!(*current, 0, "{a}: holders left");
        assert!(
            *max <= i64::from(*cap),
            "{a}: {max} concurrent holders, capacity {cap}"
        );
        assert!(*acquisitions > 0, "{a} was never reserved");
    }
    assert_eq!(
        runs.len(),
        CHILDREN as usize + 1,
        "every process must report: {runs:?}"
    );
    for (process, acquisitions) in &runs {
        assert_eq!(
            *acquisitions,
            (TASKS * ACQUISITIONS) as i64,
            "process {process} was starved: {runs:?}"
        );
    }
    for rec in ok("list_agents", created.store.list_agents().await) {
        assert_eq!(rec.active(), 0, "{} still held after all releases", rec.id);
    }
}
