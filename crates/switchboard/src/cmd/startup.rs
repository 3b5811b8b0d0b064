//! `switchboard bench --startup`: process start → first message settled (issue 18's
//! "scale from zero" target), measured on the real binary.
//!
//! Per run: a fresh directory and configuration (the side-by-side benchmark's: callback JWTs
//! checked, Graph presence and roster on, `--agents` agents), `switchboard ingress` takes one
//! IncomingCall from the simulator's Event Grid delivery and is stopped once it is on the
//! incoming queue; then one `switchboard worker` is spawned and the clock runs from the spawn
//! until the incoming queue is empty again — the message settled, which the worker does only
//! after the call is answered and its state is durable. The queue is read from this process
//! (the SQLite file, or the AMQP peer's backing queue: the peer runs here, like the namespace
//! it stands in for), never from the worker's logs. Also reported: spawn → the worker's ready
//! line.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};
use switchboard_queue::{QueueHandle, QueueReceiver};
use switchboard_sim::{AgentSpec, Behaviour, Ledger};
use tokio::process::Command;

use super::benchsim::{
    agent_oid, as_shipped, scrub, start_sim, write_ours_config, Sim, LINE, READY,
};
use super::procs::Proc;

/// What `--startup` reads.
pub struct StartupArgs {
    pub runs: usize,
    pub agents: usize,
    pub servicebus_peer: Option<std::net::Ipv4Addr>,
    pub ours_bin: Option<PathBuf>,
    pub baseline_bin: Option<PathBuf>,
    pub malloc_arena_max: usize,
    pub data_dir: Option<PathBuf>,
    pub json: bool,
}

/// One binary on one queue engine.
struct Side {
    label: String,
    bin: PathBuf,
    amqp: bool,
}

/// How long one run may take before it counts as failed.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the start-up benchmark and prints its table.
pub async fn run(args: StartupArgs) -> anyhow::Result<ExitCode> {
    let (_temp, dir) = super::benchsim::run_dir(args.data_dir.as_deref())?;
    let me = std::env::current_exe().context("locating this binary")?;
    let ours = args.ours_bin.clone().unwrap_or_else(|| me.clone());
    let mut sides = vec![Side {
        label: "switchboard (SQLite)".into(),
        bin: ours.clone(),
        amqp: false,
    }];
    if let Some(b) = &args.baseline_bin {
        sides.push(Side {
            label: "switchboard baseline (SQLite)".into(),
            bin: b.clone(),
            amqp: false,
        });
    }
    if args.servicebus_peer.is_some() {
        sides.push(Side {
            label: "switchboard (Service Bus AMQP peer)".into(),
            bin: ours.clone(),
            amqp: true,
        });
        if let Some(b) = &args.baseline_bin {
            sides.push(Side {
                label: "switchboard baseline (Service Bus AMQP peer)".into(),
                bin: b.clone(),
                amqp: true,
            });
        }
    }
    let sim = start_sim(&me, &dir).await?;
    let agents = args.agents.max(1);
    let roster: Vec<AgentSpec> = (0..agents)
        .map(|i| {
            AgentSpec::new(
                agent_oid(i),
                format!("Agent {i}"),
                format!("agent{i}@bench.example"),
            )
            .with_behaviour(Behaviour::Accept {
                after: Duration::from_millis(20),
            })
            .with_talk_time(Duration::from_millis(200))
        })
        .collect();
    sim.post("/agents", serde_json::to_value(&roster)?).await?;
    sim.post("/numbers", json!([{ "number": LINE }])).await?;
    let oids: Vec<String> = (0..agents).map(agent_oid).collect();

    // Runs interleave the sides so a neighbour's compile or a warm page cache favours none.
    let mut results: Vec<(Vec<Duration>, Vec<Duration>, usize)> =
        sides.iter().map(|_| (Vec::new(), Vec::new(), 0)).collect();
    for run in 0..args.runs.max(1) {
        for (i, side) in sides.iter().enumerate() {
            let run_dir = dir.join(format!("startup-{i}-{run}"));
            let _ = std::fs::remove_dir_all(&run_dir);
            std::fs::create_dir_all(&run_dir)?;
            match one_run(&args, &sim, &run_dir, side, &oids).await {
                Ok((ready, settled)) => {
                    results[i].0.push(ready);
                    results[i].1.push(settled);
                }
                Err(e) => {
                    eprintln!("bench: {} run {}: {e:#}", side.label, run + 1);
                    results[i].2 += 1;
                }
            }
            sim.put("/eventgrid/sink", json!({ "url": null })).await?;
            sim.post("/reset", json!({})).await?;
            if args.data_dir.is_none() {
                let _ = std::fs::remove_dir_all(&run_dir);
            }
        }
    }
    let rows: Vec<Value> = sides
        .iter()
        .zip(results.iter_mut())
        .map(|(side, (ready, settled, failed))| {
            ready.sort();
            settled.sort();
            let target = if side.amqp { 400.0 } else { 100.0 };
            json!({
                "side": side.label,
                "runs": settled.len(),
                "failed": failed,
                "readyMs": {"p50": ms(pct(ready, 50.0)), "max": ms(ready.last().copied())},
                "settledMs": {"p50": ms(pct(settled, 50.0)), "max": ms(settled.last().copied())},
                "targetMs": target,
            })
        })
        .collect();
    let ok = rows.iter().all(|r| r["failed"] == 0);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", table(&rows, agents));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn pct(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    Some(sorted[rank.min(sorted.len() - 1)])
}

fn ms(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| {
        json!((d.as_secs_f64() * 1e4).round() / 10.0)
    })
}

fn table(rows: &[Value], agents: usize) -> String {
    let mut s = String::from(
        "| side | runs | spawn → ready p50 / max | spawn → first message settled p50 / max | target |\n\
         |---|---|---|---|---|\n",
    );
    for r in rows {
        let failed = if r["failed"] != 0 {
            format!(" ({} failed)", r["failed"])
        } else {
            String::new()
        };
        s.push_str(&format!(
            "| {}{failed} | {} | {} / {} ms | {} / {} ms | ≤ {} ms |\n",
            r["side"].as_str().unwrap_or_default(),
            r["runs"],
            r["readyMs"]["p50"],
            r["readyMs"]["max"],
            r["settledMs"]["p50"],
            r["settledMs"]["max"],
            r["targetMs"],
        ));
    }
    s.push_str(&format!(
        "\none IncomingCall on the incoming queue, then one `switchboard worker` spawned; settled = the queue empty again (read from the queue, not the logs); {agents} agents in the roster, Graph presence on.\n"
    ));
    s
}

/// One measurement: returns spawn → ready line and spawn → message settled.
async fn one_run(
    args: &StartupArgs,
    sim: &Sim,
    dir: &Path,
    side: &Side,
    oids: &[String],
) -> anyhow::Result<(Duration, Duration)> {
    let peer = if side.amqp {
        Some(start_peer(args.servicebus_peer).await?)
    } else {
        None
    };
    let conn = peer.as_ref().map(|(_, c)| c.clone());
    let (config, port) = write_ours_config(sim, dir, conn.as_deref(), oids, None)?;

    // The message: one IncomingCall through the ingress, which stops before the worker starts.
    let mut c = Command::new(&side.bin);
    c.args(["ingress", "-c"]).arg(&config);
    scrub(&mut c);
    as_shipped(&mut c, args.malloc_arena_max);
    c.env("RUST_LOG", "warn");
    let (ingress, _) = Proc::start(
        "ingress",
        c,
        &dir.join("ingress.log"),
        "switchboard ingress listening",
        READY,
    )
    .await?;
    let incoming = match &peer {
        Some((p, _)) => p.incoming()?,
        None => sqlite_incoming(&dir.join("switchboard.db")).await?,
    };
    sim.put(
        "/eventgrid/sink",
        json!({ "url": format!("http://127.0.0.1:{port}/api/incoming-calls") }),
    )
    .await?;
    sim.post("/calls", json!({"from": "+14251000000", "to": LINE}))
        .await?;
    wait_for(&incoming.receiver, |n| n >= 1, Duration::from_millis(5))
        .await
        .context("the IncomingCall never reached the incoming queue")?;
    sim.put("/eventgrid/sink", json!({ "url": null })).await?;
    ingress.stop().await;

    let mut c = Command::new(&side.bin);
    c.args(["worker", "-c"]).arg(&config);
    scrub(&mut c);
    as_shipped(&mut c, args.malloc_arena_max);
    // `SWITCHBOARD_BENCH_WORKER_LOG=debug` (with `--data-dir`) keeps a profile in worker.log.
    c.env(
        "RUST_LOG",
        std::env::var("SWITCHBOARD_BENCH_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
    );
    let spawned = Instant::now();
    let (worker, ready) = Proc::spawn(
        "worker",
        c,
        &dir.join("worker.log"),
        "switchboard worker ready",
    )?;
    let settled = wait_for(&incoming.receiver, |n| n == 0, Duration::from_millis(1)).await;
    let settled_at = Instant::now();
    let ready = tokio::time::timeout(Duration::from_secs(1), ready).await;
    worker.stop().await;
    // Settled must mean handled: answered once (the simulator's ledger), not dead-lettered.
    let dead = incoming
        .receiver
        .runtime_properties()
        .await
        .map(|p| p.dead_letter_message_count);
    if let Some((p, _)) = peer {
        p.shutdown().await;
    }
    settled.with_context(|| format!("the worker never settled it (see {})", dir.display()))?;
    anyhow::ensure!(dead? == 0, "the IncomingCall was dead-lettered");
    let ledger: Ledger = sim.get("/ledger").await?;
    let answers: Vec<u32> = ledger.calls.values().map(|e| e.effects.answers).collect();
    anyhow::ensure!(
        answers == [1],
        "the call was not answered exactly once (answers per call: {answers:?})"
    );
    let ready = match ready {
        Ok(Ok(t)) => t.saturating_duration_since(spawned),
        _ => anyhow::bail!("the worker printed no ready line"),
    };
    Ok((ready, settled_at.saturating_duration_since(spawned)))
}

/// Polls the queue's active message count (receivable or locked) every `every` until `done`
/// holds, for up to [`RUN_TIMEOUT`].
async fn wait_for(
    q: &Arc<dyn QueueReceiver>,
    done: impl Fn(u64) -> bool,
    every: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let p = q.runtime_properties().await?;
        if done(p.active_message_count + p.scheduled_message_count) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "timed out after {RUN_TIMEOUT:?}");
        tokio::time::sleep(every).await;
    }
}

async fn sqlite_incoming(path: &Path) -> anyhow::Result<QueueHandle> {
    let ns = switchboard_queue::sqlite::SqliteNamespace::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let name = switchboard_worker::config::Config::default()
        .queue
        .incoming_queue;
    Ok(ns
        .queue(&name)
        .await
        .context("the incoming queue")?
        .handle())
}

#[cfg(feature = "servicebus-peer")]
struct Peer(switchboard_servicebus::peer::TestPeer);

#[cfg(feature = "servicebus-peer")]
impl Peer {
    fn incoming(&self) -> anyhow::Result<QueueHandle> {
        let name = switchboard_worker::config::Config::default()
            .queue
            .incoming_queue;
        self.0
            .backing_queue(&name)
            .context("the peer has no incoming queue")
    }
    async fn shutdown(self) {
        self.0.shutdown().await;
    }
}

/// A fresh AMQP peer per run, so nothing of the previous run (timers on the events queue)
/// reaches the next worker.
#[cfg(feature = "servicebus-peer")]
async fn start_peer(ip: Option<std::net::Ipv4Addr>) -> anyhow::Result<(Peer, String)> {
    let ip = ip.context("--servicebus-peer")?;
    let cfg = switchboard_worker::config::Config::default();
    let (plain, sessions) = switchboard_worker::backend::queue_configs(&cfg);
    let peer = switchboard_servicebus::peer::TestPeer::start_near(
        ip,
        &[
            (cfg.queue.incoming_queue.as_str(), plain),
            (cfg.queue.events_queue.as_str(), sessions),
            (
                cfg.queue.rejects_queue.as_str(),
                switchboard_worker::backend::rejects_queue_config(&cfg),
            ),
        ],
    )
    .await
    .with_context(|| format!("starting the Service Bus peer on {ip}:5672"))?;
    let conn = format!("{};UseDevelopmentEmulator=true", peer.connection_string());
    Ok((Peer(peer), conn))
}

/// Without the test peer there is none: `start_peer` always fails.
#[cfg(not(feature = "servicebus-peer"))]
enum Peer {}

#[cfg(not(feature = "servicebus-peer"))]
impl Peer {
    fn incoming(&self) -> anyhow::Result<QueueHandle> {
        match *self {}
    }
    async fn shutdown(self) {
        match self {}
    }
}

#[cfg(not(feature = "servicebus-peer"))]
async fn start_peer(ip: Option<std::net::Ipv4Addr>) -> anyhow::Result<(Peer, String)> {
    anyhow::bail!(
        "this build has no Service Bus test peer ({ip:?}): build with the `servicebus-peer` feature"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_p50_max_and_target() {
        let rows = vec![json!({
            "side": "switchboard (SQLite)", "runs": 3, "failed": 0,
            "readyMs": {"p50": 40.0, "max": 50.0},
            "settledMs": {"p50": 80.5, "max": 120.0},
            "targetMs": 100.0,
        })];
        let t = table(&rows, 65);
        assert!(
            t.contains(
                "| switchboard (SQLite) | 3 | 40.0 / 50.0 ms | 80.5 / 120.0 ms | ≤ 100.0 ms |"
            ),
            "{t}"
        );
        assert_eq!(
            pct(&[Duration::from_millis(1), Duration::from_millis(3)], 50.0),
            Some(Duration::from_millis(3))
        );
    }
}
