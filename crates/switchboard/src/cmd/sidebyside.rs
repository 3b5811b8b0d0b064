//! `switchboard bench --against sample-js`: the side-by-side benchmark of issue 18.
//!
//! One `switchboard sim` process serves every side in turn. Each side runs in its own
//! processes and gets the same agents (answer after 20 ms, talk 200 ms) and the same load:
//! - ours on SQLite: `switchboard ingress` + N `switchboard worker` (callback JWTs checked,
//!   Graph presence on), IncomingCall through the ingress's Event Grid webhook;
//! - ours on the Service Bus AMQP test peer (`--servicebus-peer IP`; the peer runs in this
//!   process, like the namespace it stands in for, so its CPU is not counted);
//! - optionally ours from another binary (`--baseline-bin`, e.g. the previous release);
//! - the sample-style peer (`bench/sample-js`): one Node process with the official
//!   `@azure/communication-call-automation` SDK, installed here with `npm ci`.
//!
//! Per load and side: calls/s (completed calls over the time from the first call placed to
//! the last one ended), call setup p50/p99 (caller dialled → `AddParticipantSucceeded`
//! delivered, both from the simulator's timeline), CPU per call (user + system time of the
//! side's processes over the run, from /proc) and peak RSS per process (`VmHWM`). Every call
//! must be answered once and get an agent; failures make the exit code non-zero.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::{json, Value};
use switchboard_sim::{AgentSpec, Behaviour, Ledger, TimelineEntry};
use tokio::process::Command;

use super::benchsim::{
    agent_oid, as_shipped, scrub, start_sim, write_ours_config, Sim, LINE, READY,
};
use super::procs::{free_port, Proc};
use super::timeline::{median_timeline, setup_of};

/// The peer the runner compares us with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Against {
    /// `bench/sample-js`: the Call Automation samples' architecture on the official JS SDK.
    SampleJs,
}

/// The flags only the side-by-side comparison reads (flattened into `bench`'s).
#[derive(Debug, clap::Args)]
pub struct SideArgs {
    /// Side-by-side instead: one `switchboard sim` process, each side in its own processes
    /// in turn (ours on SQLite, ours on the AMQP peer with `--servicebus-peer`, and this
    /// peer), one table with the ratios. Needs Node.js and npm for `sample-js`.
    #[arg(long, value_enum)]
    pub against: Option<Against>,
    /// Side-by-side: the loads (calls in flight) to run, e.g. `60,300` or `10,60,300,1000`;
    /// each places max(--calls, 2 × load) calls. Default: --concurrency.
    #[arg(long, value_delimiter = ',')]
    pub loads: Vec<usize>,
    /// Side-by-side: the sample-style peer's directory (`npm ci` runs there when needed).
    #[arg(long, default_value_os_t = default_sample_dir())]
    pub sample_dir: PathBuf,
    /// Side-by-side: the `switchboard` binary our ingress and workers run (default: this one).
    #[arg(long)]
    pub ours_bin: Option<PathBuf>,
    /// Side-by-side: also run ours from this binary (e.g. a build of the previous commit).
    #[arg(long)]
    pub baseline_bin: Option<PathBuf>,
    /// Side-by-side: `worker.concurrency` (default: the configuration's default).
    #[arg(long)]
    pub worker_concurrency: Option<usize>,
    /// `MALLOC_ARENA_MAX` of our ingress and workers (`--startup` too): 2, as the container
    /// image sets it (Dockerfile); 0 leaves glibc's default (8 arenas per core).
    #[arg(long, default_value_t = 2)]
    pub malloc_arena_max: usize,
    /// Side-by-side: print each side's median call timeline (milestone → ms after dialling,
    /// from the simulator) on stderr, to see where a call's time goes.
    #[arg(long)]
    pub phases: bool,
    /// Side-by-side: leave the sample-style peer out (no Node.js needed).
    #[arg(long)]
    pub only_ours: bool,
}

/// The `bench` flags both modes share.
pub struct Common {
    pub calls: usize,
    pub concurrency: usize,
    pub workers: usize,
    pub agents: Option<usize>,
    pub talk_ms: u64,
    pub timeout: u64,
    pub servicebus_peer: Option<std::net::Ipv4Addr>,
    pub data_dir: Option<PathBuf>,
    pub json: bool,
}

/// One routing side.
#[derive(Clone, Debug)]
enum Side {
    Ours {
        label: String,
        bin: PathBuf,
        amqp: Option<String>,
    },
    SampleJs,
}

impl Side {
    fn label(&self) -> &str {
        match self {
            Side::Ours { label, .. } => label,
            Side::SampleJs => "sample-js (official SDK)",
        }
    }
}

/// What one side did under one load.
struct Outcome {
    side: String,
    load: usize,
    calls: usize,
    completed: usize,
    failed: usize,
    wall: Duration,
    setup: Vec<Duration>,
    cpu: Duration,
    rss_kib: Vec<(String, u64)>,
}

impl Outcome {
    fn calls_per_sec(&self) -> f64 {
        self.completed as f64 / self.wall.as_secs_f64().max(1e-9)
    }
    fn cpu_per_call_ms(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e3 / (self.completed.max(1) as f64)
    }
    fn pct(&self, p: f64) -> f64 {
        if self.setup.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (self.setup.len() as f64 - 1.0)).round() as usize;
        self.setup[rank.min(self.setup.len() - 1)].as_secs_f64() * 1e3
    }
    fn rss_total_mib(&self) -> f64 {
        self.rss_kib.iter().map(|(_, k)| *k as f64).sum::<f64>() / 1024.0
    }
    fn rss_max_mib(&self) -> f64 {
        self.rss_kib
            .iter()
            .map(|(_, k)| *k as f64)
            .fold(0.0, f64::max)
            / 1024.0
    }
    fn json(&self) -> Value {
        json!({
            "side": self.side, "inFlight": self.load, "calls": self.calls,
            "completed": self.completed, "failed": self.failed,
            "wallSeconds": self.wall.as_secs_f64(),
            "callsPerSecond": self.calls_per_sec(),
            "setupMs": {"p50": self.pct(50.0), "p99": self.pct(99.0), "samples": self.setup.len()},
            "cpuPerCallMs": self.cpu_per_call_ms(),
            "peakRssKiB": self.rss_kib.iter().map(|(n, k)| json!({"process": n, "kib": k})).collect::<Vec<_>>(),
        })
    }
}

/// Runs the comparison and prints the table.
pub async fn run(args: Common, opts: SideArgs, against: Against) -> anyhow::Result<ExitCode> {
    let Against::SampleJs = against;
    let loads: Vec<usize> = if opts.loads.is_empty() {
        vec![args.concurrency.max(1)]
    } else {
        opts.loads.iter().map(|l| (*l).max(1)).collect()
    };
    let max_load = loads.iter().copied().max().unwrap_or(1);
    let (_temp, dir) = super::benchsim::run_dir(args.data_dir.as_deref())?;
    let me = std::env::current_exe().context("locating this binary")?;
    let ours = opts.ours_bin.clone().unwrap_or_else(|| me.clone());
    let mut sides = vec![Side::Ours {
        label: "switchboard (SQLite)".into(),
        bin: ours.clone(),
        amqp: None,
    }];
    if let Some(bin) = &opts.baseline_bin {
        sides.push(Side::Ours {
            label: "switchboard baseline (SQLite)".into(),
            bin: bin.clone(),
            amqp: None,
        });
    }
    // The AMQP peer outlives every side so each side connects to a warm namespace.
    let amqp = start_amqp_peer(&args).await?;
    if let Some((_, conn)) = &amqp {
        sides.push(Side::Ours {
            label: "switchboard (Service Bus AMQP peer)".into(),
            bin: ours.clone(),
            amqp: Some(conn.clone()),
        });
    }
    if !opts.only_ours {
        sides.push(Side::SampleJs);
        prepare_sample(&opts.sample_dir).await?;
    }

    let sim = start_sim(&me, &dir).await?;
    let roster: Vec<AgentSpec> = (0..max_load + 5)
        .map(|i| {
            AgentSpec::new(
                agent_oid(i),
                format!("Agent {i}"),
                format!("agent{i}@bench.example"),
            )
            .with_behaviour(Behaviour::Accept {
                after: Duration::from_millis(20),
            })
            .with_talk_time(Duration::from_millis(args.talk_ms))
        })
        .collect();
    sim.post("/agents", serde_json::to_value(&roster)?).await?;
    sim.post("/numbers", json!([{ "number": LINE }])).await?;

    let mut outcomes = Vec::new();
    for &load in &loads {
        let calls = args.calls.max(2 * load);
        let agents = args.agents.unwrap_or(load + 5).min(roster.len());
        for side in &sides {
            eprintln!(
                "bench: {} — {calls} calls, {load} in flight, {agents} agents",
                side.label()
            );
            let o = run_side(&args, &opts, &sim, &dir, side, load, calls, agents).await?;
            eprintln!(
                "  {:.1} calls/s, setup p50 {:.0} ms p99 {:.0} ms, {:.1} ms CPU/call, {} failed",
                o.calls_per_sec(),
                o.pct(50.0),
                o.pct(99.0),
                o.cpu_per_call_ms(),
                o.failed
            );
            outcomes.push(o);
        }
    }
    if let Some((peer, _)) = amqp {
        peer.await;
    }
    let ok = outcomes
        .iter()
        .all(|o| o.failed == 0 && o.completed == o.calls);
    if args.json {
        let v: Vec<Value> = outcomes.iter().map(Outcome::json).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", table(&outcomes, args.workers.max(1)));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The Markdown table: one row per side and load, ratios against the sample-style peer of
/// the same load (ours ÷ peer; for calls/s higher is better, for the rest lower is).
fn table(outcomes: &[Outcome], workers: usize) -> String {
    let mut s = String::new();
    s.push_str(
        "| in flight | side | calls/s | setup p50 / p99 | CPU per call | peak RSS (per process) | vs peer: calls/s, p50, p99, CPU |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        let peer = outcomes
            .iter()
            .find(|p| p.load == o.load && p.side.starts_with("sample-js"));
        let ratios = match peer {
            Some(p) if !std::ptr::eq(p, o) => format!(
                "{:.2}× {:.2}× {:.2}× {:.2}×",
                o.calls_per_sec() / p.calls_per_sec(),
                o.pct(50.0) / p.pct(50.0),
                o.pct(99.0) / p.pct(99.0),
                o.cpu_per_call_ms() / p.cpu_per_call_ms()
            ),
            _ => "—".into(),
        };
        let procs = o
            .rss_kib
            .iter()
            .map(|(n, k)| format!("{n} {:.0}", *k as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(", ");
        let failed = if o.failed > 0 || o.completed < o.calls {
            format!(
                " ({} failed, {} unfinished)",
                o.failed,
                o.calls - o.completed
            )
        } else {
            String::new()
        };
        s.push_str(&format!(
            "| {} | {}{failed} | {:.1} | {:.0} / {:.0} ms | {:.1} ms | {:.0} MiB total, max {:.0} ({procs}) | {ratios} |\n",
            o.load,
            o.side,
            o.calls_per_sec(),
            o.pct(50.0),
            o.pct(99.0),
            o.cpu_per_call_ms(),
            o.rss_total_mib(),
            o.rss_max_mib(),
        ));
    }
    s.push_str(&format!(
        "\nours: 1 ingress + {workers} workers per run; setup = caller dialled → AddParticipantSucceeded (simulator timeline); CPU and RSS of the routing side's processes only.\n"
    ));
    s
}

#[cfg(feature = "servicebus-peer")]
type AmqpPeer = (
    std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
    String,
);
#[cfg(not(feature = "servicebus-peer"))]
type AmqpPeer = (std::future::Ready<()>, String);

/// Starts the Service Bus AMQP test peer when `--servicebus-peer` asks for it.
async fn start_amqp_peer(args: &Common) -> anyhow::Result<Option<AmqpPeer>> {
    let Some(ip) = args.servicebus_peer else {
        return Ok(None);
    };
    #[cfg(feature = "servicebus-peer")]
    {
        let cfg = switchboard_worker::config::Config::default();
        let (plain, sessions) = switchboard_worker::backend::queue_configs(&cfg);
        let peer = switchboard_servicebus::peer::TestPeer::start_near(
            ip,
            &[
                (cfg.queue.incoming_queue.as_str(), plain),
                (cfg.queue.events_queue.as_str(), sessions),
            ],
        )
        .await
        .with_context(|| format!("starting the Service Bus peer on {ip}:5672"))?;
        let conn = format!("{};UseDevelopmentEmulator=true", peer.connection_string());
        Ok(Some((Box::pin(async move { peer.shutdown().await }), conn)))
    }
    #[cfg(not(feature = "servicebus-peer"))]
    {
        anyhow::bail!(
            "this build has no Service Bus test peer ({ip}:5672): build with the \
             `servicebus-peer` feature"
        )
    }
}

/// `npm ci` (or `npm install` without a lock file) unless `node_modules` is there.
async fn prepare_sample(dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        dir.join("server.js").is_file(),
        "{} has no server.js: pass --sample-dir (bench/sample-js in the repository)",
        dir.display()
    );
    let node = Command::new("node").arg("--version").output().await;
    anyhow::ensure!(
        node.is_ok_and(|o| o.status.success()),
        "the sample-style peer needs Node.js (node and npm on PATH)"
    );
    if dir
        .join("node_modules/@azure/communication-call-automation")
        .is_dir()
    {
        return Ok(());
    }
    let verb = if dir.join("package-lock.json").is_file() {
        "ci"
    } else {
        "install"
    };
    eprintln!("bench: npm {verb} in {}", dir.display());
    let status = Command::new("npm")
        .args([verb, "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .await
        .context("running npm (is it installed?)")?;
    anyhow::ensure!(status.success(), "npm {verb} failed in {}", dir.display());
    Ok(())
}

/// Starts one side, drives the load through it, measures, stops it.
#[allow(clippy::too_many_arguments)]
async fn run_side(
    args: &Common,
    opts: &SideArgs,
    sim: &Sim,
    dir: &Path,
    side: &Side,
    load: usize,
    calls: usize,
    agents: usize,
) -> anyhow::Result<Outcome> {
    let run_dir = dir.join(format!(
        "{}-{load}",
        side.label()
            .split_whitespace()
            .next()
            .unwrap_or("side")
            .to_lowercase()
    ));
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir)?;
    let oids: Vec<String> = (0..agents).map(agent_oid).collect();
    let (procs, sink) = match side {
        Side::Ours { bin, amqp, .. } => {
            start_ours(args, opts, sim, &run_dir, bin, amqp.as_deref(), &oids).await?
        }
        Side::SampleJs => start_sample(opts, sim, &run_dir, &oids).await?,
    };
    sim.put("/eventgrid/sink", json!({ "url": sink })).await?;
    let cpu0: Duration = procs.iter().map(Proc::cpu).sum();
    let driven = drive(sim, load, calls, Duration::from_secs(args.timeout)).await;
    let cpu: Duration = procs.iter().map(Proc::cpu).sum::<Duration>() - cpu0;
    let rss_kib = procs
        .iter()
        .map(|p| (p.name.clone(), p.peak_rss_kib()))
        .collect();
    sim.put("/eventgrid/sink", json!({ "url": null })).await?;
    for p in procs {
        p.stop().await;
    }
    let (placed, completed, wall) = driven?;

    // Setup latencies and correctness from the simulator's own records.
    let ledger: Ledger = sim.get("/ledger").await?;
    let mut failed = 0;
    for c in &placed {
        match ledger.calls.get(c) {
            Some(e) if e.effects.answers == 1 && e.effects.adds >= 1 => {}
            _ => failed += 1,
        }
    }
    let timelines: Vec<Option<Vec<TimelineEntry>>> =
        futures::stream::iter(placed.iter().map(|c| async move {
            sim.get::<Vec<TimelineEntry>>(&format!("/calls/{c}/timeline"))
                .await
                .ok()
        }))
        .buffer_unordered(16)
        .collect()
        .await;
    let timelines: Vec<Vec<TimelineEntry>> = timelines.into_iter().flatten().collect();
    if opts.phases {
        eprint!("{}", median_timeline(side.label(), load, &timelines));
    }
    let mut setup: Vec<Duration> = timelines.iter().filter_map(|t| setup_of(t)).collect();
    setup.sort();
    sim.post("/reset", json!({})).await?;
    Ok(Outcome {
        side: side.label().to_string(),
        load,
        calls,
        completed,
        failed,
        wall,
        setup,
        cpu,
        rss_kib,
    })
}

/// Places `calls` calls keeping `load` in flight; returns the calls placed, how many ended
/// and the time from the first placed to the last ended.
async fn drive(
    sim: &Sim,
    load: usize,
    calls: usize,
    timeout: Duration,
) -> anyhow::Result<(Vec<String>, usize, Duration)> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut placed = Vec::with_capacity(calls);
    let mut in_flight: HashSet<String> = HashSet::new();
    let mut done = 0usize;
    let mut last_end = start;
    while done < calls && Instant::now() < deadline {
        while in_flight.len() < load && placed.len() < calls {
            let n = placed.len();
            let h = sim
                .post(
                    "/calls",
                    json!({"from": format!("+1425{:07}", 1_000_000 + n), "to": LINE}),
                )
                .await?;
            let id = h["correlationId"]
                .as_str()
                .context("call handle without correlationId")?
                .to_string();
            in_flight.insert(id.clone());
            placed.push(id);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let live: HashSet<String> = sim
            .get::<Vec<String>>("/calls/live")
            .await?
            .into_iter()
            .collect();
        let before = in_flight.len();
        in_flight.retain(|c| live.contains(c));
        if in_flight.len() < before {
            done += before - in_flight.len();
            last_end = Instant::now();
        }
    }
    Ok((placed, done, last_end.saturating_duration_since(start)))
}

/// Ingress + workers on the deployment configuration the e2e suite also uses.
async fn start_ours(
    args: &Common,
    opts: &SideArgs,
    sim: &Sim,
    dir: &Path,
    bin: &Path,
    amqp: Option<&str>,
    oids: &[String],
) -> anyhow::Result<(Vec<Proc>, String)> {
    let (config, port) = write_ours_config(sim, dir, amqp, oids, opts.worker_concurrency)?;
    let mut procs = Vec::new();
    let mut c = Command::new(bin);
    c.args(["ingress", "-c"])
        .arg(&config)
        .env("RUST_LOG", "warn");
    scrub(&mut c);
    as_shipped(&mut c, opts.malloc_arena_max);
    let (p, _) = Proc::start(
        "ingress",
        c,
        &dir.join("ingress.log"),
        "switchboard ingress listening",
        READY,
    )
    .await?;
    procs.push(p);
    for i in 0..args.workers.max(1) {
        let mut c = Command::new(bin);
        c.args(["worker", "-c"]).arg(&config);
        scrub(&mut c);
        as_shipped(&mut c, opts.malloc_arena_max);
        c.env("RUST_LOG", "warn");
        let (p, _) = Proc::start(
            &format!("worker {}", i + 1),
            c,
            &dir.join(format!("worker-{i}.log")),
            "switchboard worker ready",
            READY,
        )
        .await?;
        procs.push(p);
    }
    Ok((procs, format!("http://127.0.0.1:{port}/api/incoming-calls")))
}

async fn start_sample(
    opts: &SideArgs,
    sim: &Sim,
    dir: &Path,
    oids: &[String],
) -> anyhow::Result<(Vec<Proc>, String)> {
    let port = free_port()?;
    let mut c = Command::new("node");
    c.arg("server.js")
        .current_dir(&opts.sample_dir)
        .env("ACS_CONNECTION_STRING", &sim.endpoints.connection_string)
        .env("CALLBACK_HOST", format!("http://127.0.0.1:{port}"))
        .env("PORT", port.to_string())
        .env("AGENTS", oids.join(","));
    let (p, _) = Proc::start(
        "node",
        c,
        &dir.join("sample-js.log"),
        "sample-js listening",
        READY,
    )
    .await?;
    Ok((vec![p], format!("http://127.0.0.1:{port}/api/incomingCall")))
}

/// Resolves `--sample-dir` relative to the working directory, falling back to the
/// repository's copy next to this crate when run from elsewhere in a checkout.
pub fn default_sample_dir() -> PathBuf {
    let rel = PathBuf::from("bench/sample-js");
    if rel.is_dir() {
        return rel;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/sample-js")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(side: &str, completed: usize, wall_ms: u64, cpu_ms: u64) -> Outcome {
        Outcome {
            side: side.into(),
            load: 60,
            calls: completed,
            completed,
            failed: 0,
            wall: Duration::from_millis(wall_ms),
            setup: vec![Duration::from_millis(50), Duration::from_millis(100)],
            cpu: Duration::from_millis(cpu_ms),
            rss_kib: vec![("p".into(), 2048)],
        }
    }

    #[test]
    fn table_has_ratios_against_the_peer() {
        let rows = vec![
            outcome("switchboard (SQLite)", 100, 1000, 500),
            outcome("sample-js (official SDK)", 100, 2000, 1000),
        ];
        let t = table(&rows, 2);
        assert!(t.contains("| 60 | switchboard (SQLite) | 100.0 |"), "{t}");
        assert!(t.contains("2.00× 1.00× 1.00× 0.50×"), "{t}");
    }
}
