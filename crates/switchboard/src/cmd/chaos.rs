//! `switchboard bench --chaos`: the whole pipeline under the faults the real service and its
//! network produce, and the invariants that must hold anyway.
//!
//! One process runs the simulator, the ingress and the workers (the testkit's stack, wired over
//! loopback HTTP and the embedded SQLite queue and store, as separate processes are). Callers
//! dial an IVR line, press 1, wait in a queue with hold music and talk to an agent. On every
//! Call Automation operation the simulator injects: 3% throttling (429 with `Retry-After`), 2%
//! 503, 1% connection resets before the request is handled, 1% answers lost after the effect
//! (`lost`, ADR 0011: a third each reset, 500 and timeout). Callbacks are duplicated 10% and
//! reordered 10%; `IncomingCall` is duplicated 5% (queue-level duplicate detection off, so the
//! duplicates reach the workers). The workers are `switchboard worker` processes sharing the
//! SQLite files; two of them are SIGKILLed mid-run (locks left to expire) and replaced by new
//! processes. `in_process` (the CI test's variant) runs them as tasks of this process instead
//! and kills one by aborting its tasks wherever they are.
//!
//! Then the simulator's ledger and timelines, the store and the queues are checked:
//! every call answered exactly once; one add per agent the flow offered the call to; no play
//! or recognize (by operation context) started twice; no agent in two calls at once; no
//! reservation left; nothing dead-lettered; every call ended. Each broken invariant is
//! printed with examples and makes the exit code non-zero.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;
use switchboard_sim::{
    AgentSpec, Behaviour, CallbackFaults, ConnState, EventGridFaults, FaultKind, FaultRule,
    FaultSpec, Faults, LostAnswer, Phase as SimPhase, StartCall, Timing,
};
use switchboard_testkit::{archived_state, Stack, StackOptions, Worker};

use super::procs::Proc;

use crate::local::{self, LocalQueue};

const LINE: &str = "+18005550101";

/// What a chaos run is told.
pub struct ChaosArgs {
    /// Calls to place.
    pub calls: usize,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Worker replicas (each killed worker is replaced).
    pub workers: usize,
    /// Simulated agents.
    pub agents: usize,
    /// How long each agent talks.
    pub talk_ms: u64,
    /// Give up after this many seconds.
    pub timeout: u64,
    /// Seeds the simulator's dice.
    pub seed: u64,
    /// Machine-readable report.
    pub json: bool,
    /// Workers as tasks of this process instead of `switchboard worker` processes.
    pub in_process: bool,
}

/// One worker replica: a task of this process, or a `switchboard worker` process.
enum Replica {
    Task(Worker),
    /// The process and its `/metrics` URL.
    Process(Box<Proc>, String),
}

impl Replica {
    /// Starts a replica joining `stack` (a process reads the stack's configuration file).
    async fn start(
        stack: &Stack,
        args: &ChaosArgs,
        dir: &std::path::Path,
        n: usize,
    ) -> anyhow::Result<Self> {
        if args.in_process {
            return Ok(Self::Task(stack.worker().await));
        }
        let config = dir.join("switchboard.toml");
        if !config.exists() {
            std::fs::write(&config, &stack.config_toml).context("writing the configuration")?;
        }
        let mut cmd = tokio::process::Command::new(
            std::env::current_exe().context("the switchboard binary")?,
        );
        cmd.args(["worker", "-c"]).arg(&config);
        super::benchsim::scrub(&mut cmd);
        // Its counters are scraped before it is killed and at the end (see `Metrics`).
        let port = super::procs::free_port()?;
        cmd.env("RUST_LOG", "warn")
            .env("SWITCHBOARD_METRICS_PORT", port.to_string());
        let (p, _) = Proc::start(
            &format!("worker {n}"),
            cmd,
            &dir.join(format!("worker-{n}.log")),
            "switchboard worker ready",
            Duration::from_secs(60),
        )
        .await?;
        // The worker ensured its queues with duplicate detection on; chaos wants it off.
        stack.relax_dedupe().await?;
        Ok(Self::Process(
            Box::new(p),
            format!("http://127.0.0.1:{port}/metrics"),
        ))
    }

    /// A process's metrics text (`None` for a task: its counters are the stack's).
    async fn scrape(&self) -> Option<String> {
        let Self::Process(_, url) = self else {
            return None;
        };
        let r = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        r.text().await.ok()
    }

    /// Gone at once, nothing finished or given back: a SIGKILL, or its tasks aborted.
    async fn kill(self) {
        match self {
            Self::Task(w) => w.kill().await,
            Self::Process(p, _) => p.stop().await,
        }
    }

    /// A graceful stop at the end of the run.
    async fn stop(self) {
        match self {
            Self::Task(w) => w.stop().await,
            Self::Process(p, _) => p.terminate(Duration::from_secs(15)).await,
        }
    }
}

/// The faults of a chaos run: each rate is of all requests (the rules are tried in order, so
/// each rule's probability is conditional on the earlier ones not firing).
fn chaos_faults() -> Faults {
    let mut rules = Vec::new();
    let mut left = 1.0_f64;
    let mut rule = |kind: FaultKind, rate: f64| {
        rules.push(FaultRule {
            kind,
            probability: rate / left,
            times: None,
        });
        left -= rate;
    };
    rule(
        FaultKind::Throttle {
            retry_after_secs: 1,
        },
        0.03,
    );
    rule(FaultKind::Status { status: 503 }, 0.02);
    rule(FaultKind::Reset, 0.01);
    for answer in [LostAnswer::Reset, LostAnswer::Status, LostAnswer::Timeout] {
        rule(
            FaultKind::Lost {
                answer,
                status: None,
                hang_ms: Some(1_500),
            },
            0.01 / 3.0,
        );
    }
    Faults {
        global: FaultSpec {
            latency: None,
            rules,
        },
        operations: BTreeMap::new(),
        callbacks: CallbackFaults {
            duplicate: 0.10,
            reorder: 0.10,
            ..CallbackFaults::default()
        },
        event_grid: EventGridFaults {
            duplicate: 0.05,
            ..EventGridFaults::default()
        },
    }
}

fn routing(agents: &[String]) -> String {
    let mut r = String::from(
        "default_queue = \"support\"\n\n[agent_defaults]\nwrap_up_secs = 0\n\n\
         [queues.main]\nivr = { prompt = { url = \"https://media.example/menu.wav\" }, \
         options = { \"1\" = \"support\" }, fallback = \"support\", timeout_secs = 3, max_tries = 2 }\n\n\
         [queues.support]\nrequired_skills = { support = 1 }\nstrategy = \"longest-idle\"\n\
         hold_music = { url = \"https://media.example/hold.wav\" }\n\
         ring_timeout_secs = 10\nwait_retry_secs = 1\nmax_attempts = 20\nmax_wait_secs = 600\n\
         overflow = \"hangup\"\n\n[[rules]]\ndialed = [\"+18005550101\"]\nqueue = \"main\"\n",
    );
    for (i, oid) in agents.iter().enumerate() {
        r.push_str(&format!(
            "\n[[agents]]\noid = \"{oid}\"\nname = \"Agent {i}\"\nskills = {{ support = 3 }}\n"
        ));
    }
    r
}

/// One broken invariant: its name and a few examples.
#[derive(Default)]
struct Broken(BTreeMap<&'static str, Vec<String>>);

impl Broken {
    fn add(&mut self, invariant: &'static str, example: String) {
        self.0.entry(invariant).or_default().push(example);
    }
}

/// Runs the chaos benchmark; see the module docs.
pub async fn run(args: ChaosArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.calls > 0, "--calls must be at least 1");
    let concurrency = args.concurrency.max(1);
    let temp = tempfile::tempdir().context("temporary directory")?;
    let oids: Vec<String> = (0..args.agents.max(1))
        .map(|i| {
            format!(
                "{:08x}-0000-4000-8000-{:012x}",
                0xc4a0_0000u32 + i as u32,
                i
            )
        })
        .collect();
    let roster: Vec<AgentSpec> = oids
        .iter()
        .enumerate()
        .map(|(i, oid)| {
            let mut a =
                AgentSpec::new(oid, format!("Agent {i}"), format!("agent{i}@chaos.example"))
                    .with_behaviour(Behaviour::Accept {
                        after: Duration::from_millis(20),
                    })
                    .with_talk_time(Duration::from_millis(args.talk_ms));
            // A second invitation while in a call joins it: double booking shows as two calls
            // at once instead of being hidden behind a "busy" answer.
            a.busy_when_in_call = false;
            a
        })
        .collect();
    let stack = Stack::start_in(
        temp.path(),
        StackOptions {
            workers: 0,
            agents: roster,
            numbers: vec![LINE.to_string()],
            routing: routing(&oids),
            timing: Timing {
                connect_delay: Duration::from_millis(5),
                operation_delay: Duration::from_millis(5),
                play_duration: Duration::from_millis(50),
                ..Timing::default()
            },
            random_seed: args.seed,
            // Short, so a killed worker's messages come back soon; handlers renew them.
            lock_duration_secs: 5,
            dedupe: false,
            graph: false,
            // The simulated prompts last 50 ms: a recognize that never reached the service is
            // given up 5 s after its own timeouts instead of the production minute.
            ..StackOptions {
                ring_grace: Some(Duration::from_secs(5)),
                ..local::options(LocalQueue::Sqlite, concurrency.max(8))
            }
        },
    )
    .await?;
    let mut workers: Vec<Replica> = Vec::new();
    let mut started = 0usize;
    for _ in 0..args.workers.max(1) {
        started += 1;
        workers.push(Replica::start(&stack, &args, temp.path(), started).await?);
    }
    stack
        .sim
        .set_faults(chaos_faults())
        .context("setting the faults")?;

    let run_start = Instant::now();
    let deadline = run_start + Duration::from_secs(args.timeout);
    let mut placed: Vec<String> = Vec::with_capacity(args.calls);
    let mut in_flight: Vec<String> = Vec::new();
    let mut done = 0usize;
    let mut kills = 0usize;
    let mut scraped: Vec<String> = Vec::new();
    while done < args.calls && Instant::now() < deadline {
        while in_flight.len() < concurrency && placed.len() < args.calls {
            let n = placed.len();
            let handle = stack
                .sim
                .start_call(StartCall {
                    from: Some(format!("+1425{:07}", 2_000_000 + n)),
                    to: Some(LINE.to_string()),
                    dtmf: Some("1".into()),
                    ..StartCall::default()
                })
                .context("placing a call")?;
            placed.push(handle.correlation_id.clone());
            in_flight.push(handle.correlation_id);
        }
        let mut still = Vec::with_capacity(in_flight.len());
        for c in in_flight.drain(..) {
            match stack.store.get_archived_call(&c).await {
                Ok(Some(_)) => done += 1,
                _ => still.push(c),
            }
        }
        in_flight = still;
        // Kill a worker a third and two thirds of the way through, and replace it.
        if kills < 2 && done * 3 >= args.calls * (kills + 1) && !workers.is_empty() {
            let victim = workers.remove(kills % workers.len());
            // What it counted so far (the few steps between this and the kill are lost).
            scraped.extend(victim.scrape().await);
            victim.kill().await;
            started += 1;
            workers.push(Replica::start(&stack, &args, temp.path(), started).await?);
            kills += 1;
            tracing::info!(done, kills, "killed a worker and started a new one");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = run_start.elapsed();
    // Let the last hang-ups and releases settle before reading the world.
    stack.sim.set_faults(Faults::default()).ok();
    let settle_until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < settle_until {
        let busy = stack
            .store
            .list_agents()
            .await
            .map(|a| a.iter().any(|a| a.active() > 0))
            .unwrap_or(true);
        if !busy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for w in &workers {
        scraped.extend(w.scrape().await);
    }
    let counters = if args.in_process {
        Counters::Stack
    } else {
        Counters::Scraped(scraped)
    };
    let report = check(&stack, &placed, kills, &counters).await?;
    for w in workers {
        w.stop().await;
    }
    stack.shutdown().await;
    drop(temp);
    print(&args, concurrency, wall, done, &report)?;
    Ok(if report.broken.0.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

struct Report {
    counts: serde_json::Value,
    broken: Broken,
}

/// Where the workers' counters are read: the stack's registry (workers as tasks) or the
/// `/metrics` texts scraped from the worker processes.
enum Counters {
    Stack,
    Scraped(Vec<String>),
}

impl Counters {
    /// The sum of a counter's series (those with `label` when given).
    fn sum(&self, stack: &Stack, name: &str, label: Option<(&str, &str)>) -> u64 {
        match self {
            Self::Stack => match label {
                Some(l) => stack.metrics.counter(name, &[l]),
                None => stack.metrics.counter_total(name),
            },
            Self::Scraped(texts) => texts
                .iter()
                .flat_map(|t| t.lines())
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.rsplit_once(' '))
                .filter(|(series, _)| {
                    series.split('{').next() == Some(name)
                        && label.is_none_or(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
                })
                .filter_map(|(_, v)| v.parse::<f64>().ok())
                .sum::<f64>() as u64,
        }
    }
}

async fn check(
    stack: &Stack,
    placed: &[String],
    kills: usize,
    counters: &Counters,
) -> anyhow::Result<Report> {
    let ledger = stack.sim.ledger();
    let mut broken = Broken::default();
    let (mut answers, mut adds, mut plays, mut recognizes, mut offers) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for c in placed {
        let effects = ledger.calls.get(c).map(|e| e.effects).unwrap_or_default();
        answers += u64::from(effects.answers);
        adds += u64::from(effects.adds);
        plays += u64::from(effects.plays);
        recognizes += u64::from(effects.recognizes);
        if effects.answers != 1 {
            broken.add(
                "every call answered exactly once",
                format!("{c}: {} answers", effects.answers),
            );
        }
        let archived = stack
            .store
            .get_archived_call(c)
            .await
            .context("reading the store")?;
        let sim_call = stack.sim.call(c);
        let sim_ended = sim_call.as_ref().is_some_and(|s| match s.phase {
            SimPhase::Ringing => false,
            SimPhase::Answered | SimPhase::Outbound => s.state == Some(ConnState::Disconnected),
            _ => true,
        });
        match &archived {
            Some(a) => {
                let state = archived_state(a);
                offers += state.invited.len() as u64;
                if effects.adds as usize != state.invited.len() {
                    broken.add(
                        "one add per agent attempt",
                        format!(
                            "{c}: {} adds for {} agents offered",
                            effects.adds,
                            state.invited.len()
                        ),
                    );
                }
                if state.answered_by.is_none() {
                    broken.add(
                        "every call ended with an agent",
                        format!("{c}: {:?}", state.phase),
                    );
                }
            }
            None => {
                broken.add("every call ended", format!("{c}: not archived"));
                // What happened to it, for whoever investigates (stderr, not the report).
                let live = stack.store.get_call(c).await.ok().flatten();
                eprintln!(
                    "--- unfinished call {c}\nstate: {}\nflow:\n{}\nsimulator:\n{}",
                    live.map(|v| v.value.to_string()).unwrap_or_default(),
                    stack.recorder.dump(c),
                    stack
                        .sim
                        .timeline(c)
                        .iter()
                        .map(|e| format!("{} {:?} {} {}", e.elapsed_ms, e.kind, e.what, e.detail))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
        if !sim_ended {
            broken.add(
                "every call ended",
                format!(
                    "{c}: still {:?} in the simulator",
                    sim_call.map(|s| s.state)
                ),
            );
        }
        // Media by operation context: the flow names every prompt uniquely, so a context
        // that started twice is a prompt sent twice.
        let mut started: HashMap<String, u32> = HashMap::new();
        for e in stack.sim.timeline(c) {
            if e.what == "play queued" || e.what == "recognize queued" {
                if let Some(ctx) = e.detail["operationContext"].as_str() {
                    *started.entry(ctx.to_string()).or_default() += 1;
                }
            }
        }
        for (ctx, n) in started {
            if n > 1 {
                broken.add(
                    "no prompt played twice where the flow played it once",
                    format!("{c}: {ctx} started {n} times"),
                );
            }
        }
    }
    for a in stack.sim.agents() {
        if a.peak_in_calls > 1 {
            broken.add(
                "no agent double-booked",
                format!("{} was in {} calls at once", a.spec.id, a.peak_in_calls),
            );
        }
    }
    for a in stack.store.list_agents().await.context("listing agents")? {
        if a.active() > 0 {
            broken.add(
                "no reservation left",
                format!("{} holds {}", a.id, a.active()),
            );
        }
    }
    let mut dead_letters = 0;
    for q in [&stack.queues.incoming, &stack.queues.events] {
        let p = q
            .receiver
            .runtime_properties()
            .await
            .context("reading queue counts")?;
        dead_letters += p.dead_letter_message_count;
    }
    if dead_letters > 0 {
        broken.add(
            "nothing dead-lettered",
            format!("{dead_letters} dead letters"),
        );
    }
    let faults = &ledger.faults_injected;
    let m = |name: &str, label: Option<(&str, &str)>| counters.sum(stack, name, label);
    let counts = json!({
        "calls": placed.len(),
        "answers": answers,
        "adds": adds,
        "agentsOffered": offers,
        "plays": plays,
        "recognizes": recognizes,
        "deadLetters": dead_letters,
        "workersKilled": kills,
        "faultsInjected": faults,
        "lostAnswers": ledger.lost_answers,
        "replayedRequests": ledger.replayed_requests,
        "callbacksDelivered": ledger.callbacks_delivered,
        "uncertainMedia": m("switchboard_commands_uncertain_total", None),
        "duplicateInputs": m("switchboard_flow_decisions_total", Some(("disposition", "duplicate"))),
        "staleInputs": m("switchboard_flow_decisions_total", Some(("disposition", "stale"))),
        "commandRetries": m("switchboard_outbox_resumed_total", None),
    });
    Ok(Report { counts, broken })
}

fn print(
    args: &ChaosArgs,
    concurrency: usize,
    wall: Duration,
    done: usize,
    report: &Report,
) -> anyhow::Result<()> {
    let secs = wall.as_secs_f64().max(1e-9);
    if args.json {
        let broken: BTreeMap<_, _> = report
            .broken
            .0
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    json!({"count": v.len(), "examples": &v[..v.len().min(5)]}),
                )
            })
            .collect();
        let out = json!({
            "chaos": true,
            "completed": done,
            "concurrency": concurrency,
            "wallSeconds": (secs * 100.0).round() / 100.0,
            "callsPerSecond": (done as f64 / secs * 10.0).round() / 10.0,
            "counts": report.counts,
            "broken": broken,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let c = &report.counts;
    println!(
        "switchboard bench --chaos: {} calls, {} in flight, {} worker(s), seed {}",
        args.calls, concurrency, args.workers, args.seed
    );
    println!(
        "  completed        {done} of {} in {:.1} s ({:.1} calls/s); {} worker {} killed and replaced",
        args.calls,
        secs,
        done as f64 / secs,
        c["workersKilled"],
        if args.in_process { "tasks" } else { "processes (SIGKILL)" }
    );
    println!("  faults injected  {}", c["faultsInjected"]);
    println!(
        "  effects          answers {}  adds {} (agents offered {})  plays {}  recognizes {}",
        c["answers"], c["adds"], c["agentsOffered"], c["plays"], c["recognizes"]
    );
    println!(
        "  absorbed         lost answers {}  replayed requests {}  uncertain media {}  \
         duplicate inputs {}  stale inputs {}  outboxes resumed {}",
        c["lostAnswers"],
        c["replayedRequests"],
        c["uncertainMedia"],
        c["duplicateInputs"],
        c["staleInputs"],
        c["commandRetries"]
    );
    const INVARIANTS: [&str; 8] = [
        "every call answered exactly once",
        "one add per agent attempt",
        "no prompt played twice where the flow played it once",
        "no agent double-booked",
        "no reservation left",
        "nothing dead-lettered",
        "every call ended",
        "every call ended with an agent",
    ];
    for inv in INVARIANTS {
        match report.broken.0.get(inv) {
            None => println!("  ok      {inv}"),
            Some(ex) => {
                println!("  BROKEN  {inv}: {} cases", ex.len());
                for e in ex.iter().take(5) {
                    println!("            {e}");
                }
            }
        }
    }
    Ok(())
}
