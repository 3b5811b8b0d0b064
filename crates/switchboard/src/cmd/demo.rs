//! `switchboard demo`: the whole flow on one machine, no cloud account.
//!
//! Starts the ACS simulator, the callback ingress and `--workers` workers on the embedded
//! SQLite queue and store (in a temporary directory unless `--data-dir`), seeds simulated
//! Teams agents with mixed behaviours (accepts, declines, never answers, busy), places
//! `--calls` customer calls that cycle through five scenarios — an IVR choice, an agent
//! declining, a ring-no-answer, an overflow transfer and a recorded call — and prints each
//! call's timeline (event → decision → command → result) and a summary table. Every call is
//! checked against what its scenario should produce; the exit code is 0 only if all were.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use switchboard_events::CorrelationId;
use switchboard_sim::{AgentSpec, Behaviour, StartCall, Timing};
use switchboard_store::{SqliteStore, Store};
use switchboard_testkit::{Stack, StackOptions};
use switchboard_worker::executor::{CommandOutcome, Observer};
use switchboard_worker::flow::{
    callback_key, CallState, CallbackOutcome, Command, FlowInput, Transition,
};
use switchboard_worker::stats;

use crate::local::{self, LocalQueue};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Customer calls to place (they cycle through the seven scenarios).
    #[arg(long, default_value_t = 7)]
    pub calls: usize,
    /// Simulated Teams agents: the eight of the cast, plus accepting generalists beyond that.
    #[arg(long, default_value_t = 8)]
    pub agents: usize,
    /// Worker replicas sharing the queue and the store.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Seconds between placing two calls.
    #[arg(long, default_value_t = 0.3)]
    pub spacing: f64,
    /// Give up waiting for calls to finish after this many seconds.
    #[arg(long, default_value_t = 90)]
    pub timeout: u64,
    /// Keep the simulator, ingress and workers running after the calls (Ctrl-C to stop);
    /// place more calls through the simulator's control API it prints.
    #[arg(long)]
    pub keep_running: bool,
    /// Keep the SQLite files here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Only the summary table (no per-call timelines).
    #[arg(long)]
    pub quiet: bool,
    /// Run the queues on Azure Service Bus's AMQP protocol through an in-process peer
    /// listening on this loopback address (port 5672; the next free one in its /24 if that
    /// is taken), e.g. `127.0.0.77`, instead of SQLite: the workers and the ingress then use
    /// the same adapter as against a real namespace.
    #[arg(long, value_name = "IP")]
    pub servicebus_peer: Option<std::net::Ipv4Addr>,
}

const MAIN_LINE: &str = "+18005550100";
const SUPPORT_LINE: &str = "+18005550101";
const BILLING_LINE: &str = "+18005550102";
const PARTNER_LINE: &str = "+18005550103";
const VIP_LINE: &str = "+18005550104";
const ORDERS_LINE: &str = "+18005550105";
const OVERFLOW_NUMBER: &str = "+14255550199";

/// The cast, one queue per scenario and the numbers that lead to them.
const ROUTING: &str = include_str!("demo_routing.toml");

/// What a scenario's call should come to.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Answered by an agent with this skill (any agent when the cast is busy with another call).
    AgentWith(&'static str),
    /// Transferred to the overflow number.
    Transferred,
    /// The caller asked for a callback and hung up; the agent was called, then the caller.
    Callback,
}

struct Scenario {
    name: &'static str,
    to: &'static str,
    dtmf: Option<&'static str>,
    expect: Expect,
    /// What a reader should see happen.
    story: &'static str,
}

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "ivr",
        to: MAIN_LINE,
        dtmf: Some("1"),
        expect: Expect::AgentWith("sales"),
        story: "IVR menu, caller presses 1 → sales queue → Alice",
    },
    Scenario {
        name: "decline",
        to: SUPPORT_LINE,
        dtmf: None,
        expect: Expect::AgentWith("support"),
        story: "Dave (best support skill) declines → next agent Carmen answers",
    },
    Scenario {
        name: "no-answer",
        to: BILLING_LINE,
        dtmf: None,
        expect: Expect::AgentWith("billing"),
        story: "Erin lets it ring out (ring timeout 2 s) → Frank answers",
    },
    Scenario {
        name: "transfer",
        to: PARTNER_LINE,
        dtmf: None,
        expect: Expect::Transferred,
        story: "Grace is busy, 1 attempt allowed → overflow transfer to +14255550199",
    },
    Scenario {
        name: "recording",
        to: VIP_LINE,
        dtmf: None,
        expect: Expect::AgentWith("vip"),
        story: "VIP queue records calls → recording notice played → Bob answers",
    },
    Scenario {
        name: "busy-line",
        to: ORDERS_LINE,
        dtmf: None,
        expect: Expect::AgentWith("orders"),
        story: "Hana (the only orders agent) answers and talks 3 s",
    },
    Scenario {
        name: "callback",
        to: ORDERS_LINE,
        dtmf: Some("1"),
        expect: Expect::Callback,
        story: "waits behind Hana, position announced, offered a callback, presses 1 and \
                hangs up → Hana is called, then the caller with our number as caller id",
    },
];

fn cast() -> Vec<AgentSpec> {
    let ms = Duration::from_millis;
    let a = |oid: &str, name: &str, behaviour: Behaviour| {
        let upn = format!(
            "{}@contoso.example",
            name.split(' ').next().unwrap_or(name).to_lowercase()
        );
        AgentSpec::new(oid, name, upn)
            .with_behaviour(behaviour)
            .with_talk_time(ms(1500))
    };
    vec![
        a(
            "6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10",
            "Alice Sales",
            Behaviour::Accept { after: ms(400) },
        ),
        a(
            "d4c3b2a1-0f9e-4d8c-8b7a-6f5e4d3c2b1a",
            "Dave Declines",
            Behaviour::Decline { after: ms(300) },
        ),
        a(
            "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
            "Carmen Support",
            Behaviour::Accept { after: ms(400) },
        ),
        a(
            "e1e2e3e4-f5f6-4a7b-8c9d-0a1b2c3d4e5f",
            "Erin NoAnswer",
            Behaviour::NoAnswer,
        ),
        a(
            "f0f1f2f3-a4a5-4b6c-9d7e-8f9a0b1c2d3e",
            "Frank Billing",
            Behaviour::Accept { after: ms(400) },
        ),
        a(
            "a7a6a5a4-b3b2-4c1d-8e0f-1a2b3c4d5e6f",
            "Grace Busy",
            Behaviour::Busy,
        ),
        a(
            "0b6f3d42-91e4-4c0b-8f2a-7d5e1a9c3b66",
            "Bob VIP",
            Behaviour::Accept { after: ms(400) },
        ),
        a(
            "c0c1c2c3-d4d5-4e6f-8a7b-9c0d1e2f3a4b",
            "Hana Orders",
            Behaviour::Accept { after: ms(400) },
        )
        .with_talk_time(ms(3000)),
    ]
}

/// Generalist `i` (beyond the cast): every skill at level 1, accepts quickly.
fn generalist(i: usize) -> (AgentSpec, String) {
    let oid = format!("00000000-0000-4000-8000-{:012x}", i + 1);
    let name = format!("Agent {:02}", i + 1);
    let spec = AgentSpec::new(&oid, &name, format!("agent{:02}@contoso.example", i + 1))
        .with_behaviour(Behaviour::Accept {
            after: Duration::from_millis(300),
        })
        .with_talk_time(Duration::from_millis(1500));
    let toml = format!(
        "\n[[agents]]\noid = \"{oid}\"\nname = \"{name}\"\nskills = {{ sales = 1, support = 1, billing = 1, vip = 1 }}\n"
    );
    (spec, toml)
}

/// One timeline line.
struct Line {
    at: Duration,
    text: String,
}

/// Collects decisions and commands per call (the demo's [`Observer`]).
struct Timeline {
    start: Instant,
    names: BTreeMap<String, String>,
    calls: Mutex<BTreeMap<String, Vec<Line>>>,
    commands: Mutex<u64>,
}

impl Timeline {
    fn push(&self, call: &CorrelationId, text: String) {
        let at = self.start.elapsed();
        if let Ok(mut c) = self.calls.lock() {
            c.entry(call.to_string())
                .or_default()
                .push(Line { at, text });
        }
    }

    /// Agent OIDs replaced by names, for reading.
    fn readable(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (oid, name) in &self.names {
            out = out.replace(oid.as_str(), name);
        }
        out
    }
}

impl Observer for Timeline {
    fn decision(&self, call: &CorrelationId, input: &FlowInput, t: &Transition) {
        let text = format!(
            "{:<26} {} [{}]",
            input.type_name(),
            self.readable(&t.decision),
            t.disposition.as_str()
        );
        self.push(call, text);
    }

    fn command(&self, call: &CorrelationId, c: &Command, outcome: &CommandOutcome, took: Duration) {
        if let Ok(mut n) = self.commands.lock() {
            *n += 1;
        }
        let result = match outcome {
            CommandOutcome::Done { detail } => format!("ok {}", self.readable(detail)),
            CommandOutcome::AlreadyDone => "already done (skipped)".to_string(),
            CommandOutcome::Uncertain { reason } => {
                format!("outcome unknown, not re-sent: {reason}")
            }
            CommandOutcome::Failed { reason, gone } => {
                format!("{} {reason}", if *gone { "gone:" } else { "failed:" })
            }
            CommandOutcome::Retry { reason } => format!("retry later: {reason}"),
        };
        let text = format!(
            "  → {:<22} {} ({} ms)",
            c.op.name(),
            result,
            took.as_millis()
        );
        self.push(call, text);
    }
}

struct Placed {
    n: usize,
    scenario: &'static Scenario,
    correlation_id: String,
    caller: String,
    placed_at: Duration,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.calls == 0 {
        anyhow::bail!("--calls must be at least 1");
    }
    if args.agents < 8 {
        anyhow::bail!("--agents must be at least 8 (the scenarios' cast)");
    }
    let tmp = tempfile::tempdir().context("temporary directory")?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;

    let mut agents = cast();
    let mut routing = ROUTING.to_string();
    for i in 0..args.agents.saturating_sub(agents.len()) {
        let (spec, toml) = generalist(i);
        agents.push(spec);
        routing.push_str(&toml);
    }
    let names: BTreeMap<String, String> = agents
        .iter()
        .map(|a| (a.id.clone(), a.display_name.clone()))
        .collect();
    let timeline = Arc::new(Timeline {
        start: Instant::now(),
        names: names.clone(),
        calls: Mutex::new(BTreeMap::new()),
        commands: Mutex::new(0),
    });

    let queue = match args.servicebus_peer {
        Some(ip) => LocalQueue::ServiceBusPeer(ip),
        None => LocalQueue::Sqlite,
    };
    println!(
        "Switchboard demo: simulator + ingress + {} worker(s) on {} in {}",
        args.workers,
        match queue {
            LocalQueue::Sqlite => "SQLite".to_string(),
            LocalQueue::ServiceBusPeer(ip) =>
                format!("Service Bus (AMQP peer on {ip}:5672) + SQLite"),
        },
        dir.display()
    );
    let stack = Stack::start_in(
        &dir,
        StackOptions {
            workers: args.workers.max(1),
            agents: agents.clone(),
            numbers: [
                MAIN_LINE,
                SUPPORT_LINE,
                BILLING_LINE,
                PARTNER_LINE,
                VIP_LINE,
                ORDERS_LINE,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            routing,
            timing: Timing {
                play_duration: Duration::from_millis(600),
                ..Timing::default()
            },
            random_seed: 42,
            lock_duration_secs: 10,
            graph: true,
            observer: Some(timeline.clone()),
            ..local::options(queue, 16)
        },
    )
    .await?;
    println!(
        "  simulator {}  ingress {}  agents {}",
        stack.sim.base_url(),
        stack.ingress_url,
        agents.len()
    );
    let store = SqliteStore::open(stack.config.store_sqlite_path())
        .await
        .context("opening the store")?;

    let mut placed = Vec::new();
    for n in 0..args.calls {
        let scenario = &SCENARIOS[n % SCENARIOS.len()];
        let caller = format!("+1425555{:04}", 1000 + n);
        let handle = stack
            .sim
            .start_call(StartCall {
                from: Some(caller.clone()),
                to: Some(scenario.to.to_string()),
                caller_display_name: Some(format!("Customer {}", n + 1)),
                dtmf: scenario.dtmf.map(str::to_string),
                ..StartCall::default()
            })
            .with_context(|| format!("placing call {}", n + 1))?;
        println!(
            "  call {:>2} [{}] {} → {}: {}",
            n + 1,
            scenario.name,
            caller,
            scenario.to,
            scenario.story
        );
        placed.push(Placed {
            n: n + 1,
            scenario,
            correlation_id: handle.correlation_id,
            caller,
            placed_at: timeline.start.elapsed(),
        });
        tokio::time::sleep(Duration::from_secs_f64(args.spacing.max(0.0))).await;
    }

    // Wait until every call's state is archived (the call is over) or the timeout.
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    // A callback scenario is over when the callback (its own call state) is archived too.
    let mut ended: BTreeMap<String, (CallState, Duration)> = BTreeMap::new();
    let callback_of = |p: &Placed| {
        matches!(p.scenario.expect, Expect::Callback)
            .then(|| callback_key(&CorrelationId::from(p.correlation_id.as_str())).to_string())
    };
    let awaited: Vec<String> = placed
        .iter()
        .flat_map(|p| std::iter::once(p.correlation_id.clone()).chain(callback_of(p)))
        .collect();
    while ended.len() < awaited.len() && Instant::now() < deadline {
        for id in &awaited {
            if ended.contains_key(id) {
                continue;
            }
            if let Some(a) = store.get_archived_call(id).await? {
                let state: CallState =
                    serde_json::from_value(a.doc).context("archived call state")?;
                ended.insert(id.clone(), (state, timeline.start.elapsed()));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut out = String::new();
    if !args.quiet {
        let calls = timeline.calls.lock().map(|c| {
            c.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.iter().map(|l| (l.at, l.text.clone())).collect::<Vec<_>>(),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        });
        let calls = calls.unwrap_or_default();
        for p in &placed {
            let _ = writeln!(
                out,
                "\n── call {} [{}] {} → {} ({}) ──",
                p.n, p.scenario.name, p.caller, p.scenario.to, p.correlation_id
            );
            for (at, text) in calls.get(&p.correlation_id).into_iter().flatten() {
                let _ = writeln!(out, "  {:>7.3}s  {text}", at.as_secs_f64());
            }
            if let Some(cb) = callback_of(p) {
                let _ = writeln!(out, "  ── its callback ({cb})");
                for (at, text) in calls.get(cb.as_str()).into_iter().flatten() {
                    let _ = writeln!(out, "  {:>7.3}s  {text}", at.as_secs_f64());
                }
            }
        }
    }
    print!("{out}");

    let mut failures = 0;
    println!(
        "\n{:<3} {:<10} {:<13} {:<9} {:<16} {:<30} {:>6} {:>5} {:>5} {:>8} {:<3}",
        "#",
        "scenario",
        "caller",
        "queue",
        "agent",
        "outcome",
        "routes",
        "adds",
        "plays",
        "seconds",
        "ok"
    );
    for p in &placed {
        let fx = stack
            .sim
            .call_effects(&p.correlation_id)
            .map(|c| c.effects)
            .unwrap_or_default();
        let callback = callback_of(p).map(|k| ended.get(&k));
        let (queue, agent, outcome, secs, ok) = match ended.get(&p.correlation_id) {
            Some((s, _)) if matches!(p.scenario.expect, Expect::Callback) => {
                // The caller's own call ends when they ask for the callback; the row shows the
                // callback: who was called first, how it ended, when.
                let cb = callback.flatten();
                let agent = cb
                    .and_then(|(c, _)| c.answered_by.as_ref())
                    .map(|a| names.get(a.as_str()).cloned().unwrap_or(a.to_string()))
                    .unwrap_or_else(|| "-".to_string());
                let outcome = cb
                    .and_then(|(c, _)| c.callback.as_ref())
                    .and_then(|c| c.outcome)
                    .map_or("callback did not finish".to_string(), |o| {
                        format!("callback {o:?}").to_lowercase()
                    });
                let ok = s.wait.callback_requested
                    && fx.answers == 1
                    && fx.recognizes >= 1
                    && cb.is_some_and(|(c, _)| {
                        c.answered_by.is_some()
                            && c.callback.as_ref().and_then(|c| c.outcome)
                                == Some(CallbackOutcome::Completed)
                    });
                (
                    s.queue.as_str().to_string(),
                    agent,
                    outcome,
                    cb.map_or("-".to_string(), |(_, at)| {
                        format!("{:.1}", (*at - p.placed_at).as_secs_f64())
                    }),
                    ok,
                )
            }
            None => (
                "-".to_string(),
                "-".to_string(),
                "did not finish".to_string(),
                "-".to_string(),
                false,
            ),
            Some((s, at)) => {
                let agent = s
                    .answered_by
                    .as_ref()
                    .map(|a| names.get(a.as_str()).cloned().unwrap_or(a.to_string()))
                    .unwrap_or_else(|| "-".to_string());
                let reason = match &s.phase {
                    switchboard_worker::flow::Phase::Ended { reason } => reason.clone(),
                    other => other.name().to_string(),
                };
                let ok = match p.scenario.expect {
                    Expect::AgentWith(skill) => {
                        s.answered_by.is_some()
                            && s.queue.as_str() == skill
                            && fx.answers == 1
                            && fx.transfers == 0
                    }
                    Expect::Transferred => fx.transfers == 1 && fx.answers == 1,
                    Expect::Callback => false,
                };
                let ok = ok
                    && (p.scenario.name != "recording" || fx.recordings == 1)
                    && (p.scenario.dtmf.is_none() || fx.recognizes >= 1);
                (
                    s.queue.as_str().to_string(),
                    agent,
                    reason,
                    format!("{:.1}", (*at - p.placed_at).as_secs_f64()),
                    ok,
                )
            }
        };
        if !ok {
            failures += 1;
        }
        println!(
            "{:<3} {:<10} {:<13} {:<9} {:<16} {:<30} {:>6} {:>5} {:>5} {:>8} {:<3}",
            p.n,
            p.scenario.name,
            p.caller,
            queue,
            agent,
            truncate(&outcome, 30),
            ended
                .get(&p.correlation_id)
                .map(|(s, _)| s.seq)
                .unwrap_or_default(),
            fx.adds,
            fx.plays,
            secs,
            if ok { "✓" } else { "✗" }
        );
    }
    let commands = timeline.commands.lock().map(|n| *n).unwrap_or_default();
    let dead = stack.queues.incoming.dead_letters.peek(0, 100).await?.len()
        + stack.queues.events.dead_letters.peek(0, 100).await?.len();
    println!(
        "\n{} of {} calls as expected; {} commands; {} dead-lettered messages; {:.1} s; overflow number {}",
        placed.len() - failures,
        placed.len(),
        commands,
        dead,
        timeline.start.elapsed().as_secs_f64(),
        OVERFLOW_NUMBER,
    );

    // The supervisor's view of the same run, from the shared store (`switchboard stats`).
    let ctx = match super::stats::StatsContext::open(&stack.config).await? {
        Ok(ctx) => ctx,
        Err(code) => return Ok(code),
    };
    print!("\n{}", stats::render_table(&ctx.snapshot().await?));

    if args.keep_running {
        println!(
            "\nStill running (Ctrl-C to stop). Place calls with:\n  curl -X POST {}/calls -H 'content-type: application/json' -d '{{\"to\":\"{}\"}}'\n  metrics: {}/metrics",
            stack.sim.control_url(),
            SUPPORT_LINE,
            stack.ingress_url
        );
        // The wallboard over the same store, for as long as the demo runs.
        let stop = tokio_util::sync::CancellationToken::new();
        let board = stats::wallboard_router(
            stats::StatsSource {
                store: ctx.store.clone(),
                clock: Arc::new(switchboard_store::SystemClock),
                options: ctx.options.clone(),
                queues: ctx.queues.clone(),
                remote: false,
            },
            Duration::from_secs(1),
            stop.clone(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("  wallboard: http://{}/", listener.local_addr()?);
        tokio::spawn(super::common::serve_with_peer(
            listener,
            board,
            stop.clone(),
        ));
        switchboard_worker::shutdown::signal().await;
        stop.cancel();
    }
    stack.shutdown().await;
    drop(tmp);
    Ok(if failures == 0 && dead == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
