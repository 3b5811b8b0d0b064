//! `switchboard bench`: K customer calls through the whole pipeline — simulator, signed
//! callbacks, ingress, queue, N workers, store — keeping about C in flight, then a report.
//!
//! Every agent picks up quickly and hangs up after a short talk, so the figures are about the
//! pipeline, not simulated people. Measured in this process (everything runs in it, wired
//! over loopback HTTP like separate processes): calls/s and commands/s over the wall time;
//! worker-added latency = handling of a message starts (received, decoded) → its first Call
//! Automation request goes out (the request's own round trip to the simulator excluded);
//! call setup = call placed → add-participant accepted; peak RSS (`VmHWM`); start → first
//! message handled. Each call must end answered once with one agent; failures make the exit
//! code non-zero.
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;
use switchboard_events::CorrelationId;
use switchboard_sim::{AgentSpec, Behaviour, StartCall, Timing};
use switchboard_store::{SqliteStore, Store};
use switchboard_testkit::{Stack, StackOptions};
use switchboard_worker::executor::{CommandOutcome, Observer};
use switchboard_worker::flow::{Command, FlowInput, Transition};

use crate::local::{self, LocalQueue};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Calls to place.
    #[arg(long, default_value_t = 100)]
    pub calls: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 25)]
    pub concurrency: usize,
    /// Worker replicas.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Simulated agents (default: concurrency + 5, so nobody waits for an agent).
    #[arg(long)]
    pub agents: Option<usize>,
    /// How long each agent talks before hanging up, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub talk_ms: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Run the queues over AMQP against the in-process Service Bus peer on this address (the
    /// next free one in its /24 if its port 5672 is taken).
    #[arg(long, value_name = "IP")]
    pub servicebus_peer: Option<std::net::Ipv4Addr>,
    /// Keep the SQLite files here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Machine-readable report.
    #[arg(long)]
    pub json: bool,
    /// Run under chaos instead (see `switchboard bench --help`): injected Call Automation
    /// faults (429, 503, resets, lost answers), duplicated and reordered callbacks,
    /// duplicated IncomingCalls, two worker processes SIGKILLed mid-run; then check the
    /// invariants against the simulator's ledger. Exits non-zero when one is broken.
    #[arg(long)]
    pub chaos: bool,
    /// With `--chaos`: workers as tasks of this process (a killed one has its tasks aborted)
    /// instead of `switchboard worker` processes.
    #[arg(long, requires = "chaos")]
    pub in_process: bool,
    /// Seed of the simulator's dice (`--chaos`).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Process start → first message settled instead: one IncomingCall on the incoming
    /// queue, one `switchboard worker` spawned (this binary, `--ours-bin`, and
    /// `--baseline-bin` if given; on the AMQP peer too with `--servicebus-peer`), timed until
    /// the queue is empty; p50 and max over `--runs`.
    #[arg(long, conflicts_with_all = ["chaos", "against"])]
    pub startup: bool,
    /// With `--startup`: runs per side.
    #[arg(long, default_value_t = 10, requires = "startup")]
    pub runs: usize,
    /// The side-by-side comparison (`--against`).
    #[command(flatten)]
    pub side: crate::cmd::sidebyside::SideArgs,
}

const LINE: &str = "+18005550101";

#[derive(Default)]
struct Probe {
    /// Per call: when handling of its current message started (until its first command).
    handling: Mutex<HashMap<String, Instant>>,
    worker_added: Mutex<Vec<Duration>>,
    commands: Mutex<u64>,
    /// Per call: when the add-participant request was accepted.
    added: Mutex<HashMap<String, Instant>>,
    first_input: Mutex<Option<Instant>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Observer for Probe {
    fn input(&self, call: &CorrelationId, _input: &FlowInput) {
        let now = Instant::now();
        locked(&self.first_input).get_or_insert(now);
        locked(&self.handling).insert(call.to_string(), now);
    }

    fn decision(&self, _call: &CorrelationId, _input: &FlowInput, _t: &Transition) {}

    fn command(&self, call: &CorrelationId, c: &Command, outcome: &CommandOutcome, took: Duration) {
        let now = Instant::now();
        *locked(&self.commands) += 1;
        // The first command after a message: its send time minus the handling start.
        if let Some(start) = locked(&self.handling).remove(call.as_str()) {
            let sent = now.checked_sub(took).unwrap_or(start);
            locked(&self.worker_added).push(sent.saturating_duration_since(start));
        }
        if c.op.name() == "add_participant" && matches!(outcome, CommandOutcome::Done { .. }) {
            locked(&self.added).entry(call.to_string()).or_insert(now);
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(against) = args.side.against {
        let common = crate::cmd::sidebyside::Common {
            calls: args.calls,
            concurrency: args.concurrency,
            workers: args.workers,
            agents: args.agents,
            talk_ms: args.talk_ms,
            timeout: args.timeout,
            servicebus_peer: args.servicebus_peer,
            data_dir: args.data_dir.clone(),
            json: args.json,
        };
        return crate::cmd::sidebyside::run(common, args.side, against).await;
    }
    if args.startup {
        return crate::cmd::startup::run(crate::cmd::startup::StartupArgs {
            runs: args.runs,
            agents: args.agents.unwrap_or(65),
            servicebus_peer: args.servicebus_peer,
            ours_bin: args.side.ours_bin.clone(),
            baseline_bin: args.side.baseline_bin.clone(),
            malloc_arena_max: args.side.malloc_arena_max,
            data_dir: args.data_dir.clone(),
            json: args.json,
        })
        .await;
    }
    if args.chaos {
        let concurrency = args.concurrency.max(1);
        return crate::cmd::chaos::run(crate::cmd::chaos::ChaosArgs {
            calls: args.calls,
            concurrency,
            workers: args.workers.max(1),
            agents: args.agents.unwrap_or(concurrency + 5),
            talk_ms: args.talk_ms,
            timeout: args.timeout,
            seed: args.seed,
            json: args.json,
            in_process: args.in_process,
        })
        .await;
    }
    let started = Instant::now();
    anyhow::ensure!(args.calls > 0, "--calls must be at least 1");
    let concurrency = args.concurrency.max(1);
    let agents = args.agents.unwrap_or(concurrency + 5).max(1);
    let (dir, _temp) = match &args.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (d.clone(), None)
        }
        None => {
            let t = tempfile::tempdir().context("temporary directory")?;
            (t.path().to_path_buf(), Some(t))
        }
    };

    let mut routing = String::from(
        "default_queue = \"support\"\n\n[agent_defaults]\nwrap_up_secs = 0\n\n\
         [queues.support]\nrequired_skills = { support = 1 }\nstrategy = \"longest-idle\"\n\
         ring_timeout_secs = 10\nwait_retry_secs = 1\nmax_attempts = 5\nmax_wait_secs = 120\n\
         overflow = \"hangup\"\n\n[[rules]]\ndialed = [\"+18005550101\"]\nqueue = \"support\"\n",
    );
    let mut roster = Vec::new();
    for i in 0..agents {
        let oid = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            0xbe4c_0000u32 + i as u32,
            i
        );
        routing.push_str(&format!(
            "\n[[agents]]\noid = \"{oid}\"\nname = \"Agent {i}\"\nskills = {{ support = 3 }}\n"
        ));
        roster.push(
            AgentSpec::new(
                &oid,
                format!("Agent {i}"),
                format!("agent{i}@bench.example"),
            )
            .with_behaviour(Behaviour::Accept {
                after: Duration::from_millis(20),
            })
            .with_talk_time(Duration::from_millis(args.talk_ms)),
        );
    }
    let probe = Arc::new(Probe::default());
    let queue = match args.servicebus_peer {
        Some(ip) => LocalQueue::ServiceBusPeer(ip),
        None => LocalQueue::Sqlite,
    };
    let stack = Stack::start_in(
        &dir,
        StackOptions {
            workers: args.workers.max(1),
            agents: roster,
            numbers: vec![LINE.to_string()],
            routing,
            timing: Timing {
                connect_delay: Duration::from_millis(5),
                operation_delay: Duration::from_millis(5),
                play_duration: Duration::from_millis(50),
                ..Timing::default()
            },
            random_seed: 1,
            lock_duration_secs: 30,
            graph: false,
            observer: Some(probe.clone() as Arc<dyn Observer>),
            ..local::options(queue, concurrency.max(8))
        },
    )
    .await?;
    let store = SqliteStore::open(stack.config.store_sqlite_path())
        .await
        .context("opening the store")?;

    // Place calls, keeping `concurrency` in flight; a call is done when its state is archived.
    let run_start = Instant::now();
    let deadline = run_start + Duration::from_secs(args.timeout);
    let mut placed: HashMap<String, Instant> = HashMap::new();
    let mut in_flight: Vec<String> = Vec::new();
    let mut done = 0usize;
    let mut next = 0usize;
    while (done < args.calls) && Instant::now() < deadline {
        while in_flight.len() < concurrency && next < args.calls {
            let handle = stack
                .sim
                .start_call(StartCall {
                    from: Some(format!("+1425{:07}", 1_000_000 + next)),
                    to: Some(LINE.to_string()),
                    ..StartCall::default()
                })
                .context("placing a call")?;
            placed.insert(handle.correlation_id.clone(), Instant::now());
            in_flight.push(handle.correlation_id);
            next += 1;
        }
        let mut still = Vec::with_capacity(in_flight.len());
        for c in in_flight.drain(..) {
            match store.get_archived_call(&c).await {
                Ok(Some(_)) => done += 1,
                _ => still.push(c),
            }
        }
        in_flight = still;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = run_start.elapsed();

    // Check every call against the simulator's ledger.
    let ledger = stack.sim.ledger();
    let mut failures = Vec::new();
    for c in placed.keys() {
        match ledger.calls.get(c) {
            Some(e) if e.effects.answers == 1 && e.effects.adds >= 1 => {}
            Some(e) => failures.push(format!(
                "{c}: answers {} adds {}",
                e.effects.answers, e.effects.adds
            )),
            None => failures.push(format!("{c}: never reached the simulator")),
        }
    }
    let unfinished = args.calls - done;
    let mut dead_letters = 0;
    for q in [&stack.queues.incoming, &stack.queues.events] {
        if let Ok(p) = q.receiver.runtime_properties().await {
            dead_letters += p.dead_letter_message_count;
        }
    }
    stack.shutdown().await;

    let mut lat = locked(&probe.worker_added).clone();
    lat.sort();
    let added = locked(&probe.added).clone();
    let mut setup: Vec<Duration> = placed
        .iter()
        .filter_map(|(c, at)| added.get(c).map(|t| t.saturating_duration_since(*at)))
        .collect();
    setup.sort();
    let commands = *locked(&probe.commands);
    let first_handled = locked(&probe.first_input).map(|t| t.saturating_duration_since(started));
    let secs = wall.as_secs_f64().max(1e-9);
    let report = json!({
        "calls": args.calls,
        "completed": done,
        "unfinished": unfinished,
        "failed": failures.len(),
        "deadLetters": dead_letters,
        "workers": args.workers.max(1),
        "concurrency": concurrency,
        "queue": if args.servicebus_peer.is_some() { "servicebus-amqp-peer" } else { "sqlite" },
        "wallSeconds": (secs * 100.0).round() / 100.0,
        "callsPerSecond": (done as f64 / secs * 10.0).round() / 10.0,
        "commands": commands,
        "commandsPerSecond": (commands as f64 / secs * 10.0).round() / 10.0,
        "workerAddedMs": {
            "samples": lat.len(),
            "p50": ms(percentile(&lat, 50.0)),
            "p95": ms(percentile(&lat, 95.0)),
            "p99": ms(percentile(&lat, 99.0)),
            "max": ms(lat.last().copied().unwrap_or_default()),
        },
        "callSetupMs": {
            "samples": setup.len(),
            "p50": ms(percentile(&setup, 50.0)),
            "p95": ms(percentile(&setup, 95.0)),
            "p99": ms(percentile(&setup, 99.0)),
        },
        "peakRssMiB": peak_rss_kib().map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0),
        "startToFirstMessageMs": first_handled.map(ms),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let r = &report;
        println!(
            "switchboard bench: {} calls, {} in flight, {} worker(s), queue {}",
            r["calls"], r["concurrency"], r["workers"], r["queue"]
        );
        println!(
            "  completed        {} of {} in {} s ({} failed, {} unfinished, {} dead letters)",
            r["completed"],
            r["calls"],
            r["wallSeconds"],
            r["failed"],
            r["unfinished"],
            r["deadLetters"]
        );
        println!(
            "  throughput       {} calls/s, {} commands/s",
            r["callsPerSecond"], r["commandsPerSecond"]
        );
        let w = &r["workerAddedMs"];
        println!(
            "  worker-added     p50 {} ms  p95 {} ms  p99 {} ms  max {} ms  ({} messages)",
            w["p50"], w["p95"], w["p99"], w["max"], w["samples"]
        );
        let s = &r["callSetupMs"];
        println!(
            "  call setup       p50 {} ms  p95 {} ms  p99 {} ms  (placed → agent invited)",
            s["p50"], s["p95"], s["p99"]
        );
        println!(
            "  peak RSS         {} MiB;  start → first message handled {} ms",
            r["peakRssMiB"], r["startToFirstMessageMs"]
        );
        for f in failures.iter().take(10) {
            println!("  failed: {f}");
        }
    }
    Ok(
        if failures.is_empty() && unfinished == 0 && dead_letters == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}
