//! [`Stack`]: the simulator, the callback ingress and N workers in this process, wired as
//! separate processes are (real HTTP on loopback, signed callback JWTs, one queue and store
//! connection set per worker), and built by the binary's own assembly
//! (`switchboard_worker::app::build_ingress` / `build_worker`) from the configuration
//! [`DeploymentConfig`] generates.
//!
//! Data flow: a simulated customer dials → the simulator's Event Grid sink puts the
//! `IncomingCall` on the `incoming-calls` queue → a worker answers through Call Automation
//! (the simulator) → the simulator POSTs callbacks to the ingress → the ingress verifies the
//! JWT and publishes to the `call-events` session queue → any worker continues the call.
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use switchboard_callautomation::{CallAutomationClient, ClientOptions, RetryOptions};
use switchboard_queue::sqlite::SqliteNamespace;
use switchboard_queue::{Message, OutgoingMessage, PropertyValue, QueueHandle};
use switchboard_sim::{
    AgentSpec, EventGridSink, Faults, Ledger, NumberSpec, SimConfig, SimHandle, Simulator,
    SinkError, SinkMessage, StartCall, Timing,
};
use switchboard_store::{ArchivedCall, SqliteStore, Store};
use switchboard_worker::app::{build_ingress, build_worker, routing_config, WorkerHooks};
use switchboard_worker::backend::{queue_configs, EngineHooks, Queues};
use switchboard_worker::config::Config;
use switchboard_worker::executor::{Executor, Observer};
use switchboard_worker::flow::{CallState, FlowConfig};
use switchboard_worker::runner::RunnerOptions;
use switchboard_worker::telemetry::Metrics;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{DeploymentConfig, SimEndpoints};
use crate::fixtures::{self, ALICE, BOB, CARMEN};
use crate::recorder::Recorder;

/// Event Grid → the `incoming-calls` queue, as the Service Bus subscription does in Azure
/// (message id = the event id, so a redelivered event is absorbed by duplicate detection).
pub struct QueueSink {
    pub queue: QueueHandle,
}

#[async_trait]
impl EventGridSink for QueueSink {
    async fn deliver(&self, msg: SinkMessage) -> Result<(), SinkError> {
        let mut out = OutgoingMessage::new(msg.message_id.clone(), msg.body.clone())
            .with_content_type(msg.content_type.clone())
            .with_property("type", msg.event_type.clone());
        for (k, v) in &msg.application_properties {
            out.application_properties
                .insert(k.clone(), PropertyValue::String(v.clone()));
        }
        self.queue
            .sender
            .send(out)
            .await
            .map_err(|e| SinkError::Transport(e.to_string()))
    }
}

/// Awaited when the stack shuts down (stops an engine's server).
pub type Detach = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A queue engine other than the embedded SQLite one (the CLI plugs in the Service Bus
/// AMQP peer): starts its server, points the configuration at it and opens it.
#[async_trait]
pub trait QueueEngine: Send + Sync {
    /// Starts the engine, sets `config.queue` to it; returns the openers and the teardown.
    async fn attach(&self, config: &mut Config) -> anyhow::Result<(EngineHooks, Option<Detach>)>;
}

/// What to start. The default is the flow tests' deployment: the `flow.toml` roster
/// (Alice, Bob, Carmen), its five lines, no worker yet.
#[derive(Clone)]
pub struct StackOptions {
    /// Workers started with the stack (and stopped by [`Stack::shutdown`]).
    pub workers: usize,
    pub agents: Vec<AgentSpec>,
    /// Numbers we serve.
    pub numbers: Vec<String>,
    /// More numbers the simulator knows but we do not serve.
    pub other_numbers: Vec<String>,
    /// The `[routing]` table (TOML, see [`crate::fixtures`]).
    pub routing: String,
    pub timing: Timing,
    pub random_seed: u64,
    pub faults: Faults,
    pub lock_duration_secs: u64,
    pub max_delivery_count: u32,
    /// Queue duplicate detection (a Service Bus feature). Off lets duplicates reach workers.
    pub dedupe: bool,
    /// The flow's ring grace (also its media grace); `None`: the configuration's.
    pub ring_grace: Option<Duration>,
    /// How every worker runs (concurrency, polling, sweeps).
    pub runner: RunnerOptions,
    /// Graph presence and roster from the simulator (`[graph] enabled`).
    pub graph: bool,
    /// Watches every worker; `None`: the stack's [`Recorder`].
    pub observer: Option<Arc<dyn Observer>>,
    /// `None`: the embedded SQLite queue.
    pub queue_engine: Option<Arc<dyn QueueEngine>>,
}

impl Default for StackOptions {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|n| n.to_string()).collect();
        Self {
            workers: 0,
            agents: vec![
                fixtures::agent(ALICE, "Alice"),
                fixtures::agent(BOB, "Bob"),
                fixtures::agent(CARMEN, "Carmen"),
            ],
            numbers: s(&[
                fixtures::SALES_LINE,
                fixtures::MAIN_LINE,
                fixtures::SUPPORT_LINE,
                fixtures::PARTNER_LINE,
                fixtures::CLOSED_LINE,
            ]),
            other_numbers: s(&[fixtures::NOT_OURS]),
            routing: fixtures::FLOW.to_string(),
            timing: Timing {
                play_duration: Duration::from_millis(300),
                ..Timing::default()
            },
            random_seed: 7,
            faults: Faults::default(),
            lock_duration_secs: 3,
            max_delivery_count: 20,
            dedupe: true,
            ring_grace: Some(Duration::from_millis(1500)),
            runner: RunnerOptions {
                concurrency: 8,
                reserved_for_plain: 2,
                receive_wait: Duration::from_millis(200),
                session_idle: Duration::from_millis(200),
                grace_period: Duration::from_secs(5),
                retry_backoff: Duration::from_millis(50),
                max_retry_backoff: Duration::from_millis(500),
                sweep_every: Some(Duration::from_millis(500)),
            },
            graph: false,
            observer: None,
            queue_engine: None,
        }
    }
}

/// One worker of a stack.
pub struct Worker {
    pub token: CancellationToken,
    pub join: JoinHandle<()>,
    pub executor: Arc<Executor>,
}

impl Worker {
    /// Graceful stop (drains within the runner's grace period).
    pub async fn stop(self) {
        self.token.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.join).await;
    }

    /// A crash: the task is killed wherever it is; locks are left to expire.
    pub async fn kill(self) {
        self.join.abort();
        let _ = self.join.await;
    }
}

/// A running deployment.
pub struct Stack {
    pub sim: SimHandle,
    /// The configuration every part was built from.
    pub config: Config,
    /// The same as a `switchboard.toml` (for worker processes joining the stack; an engine
    /// attached by [`StackOptions::queue_engine`] is not in it).
    pub config_toml: String,
    /// Shared by the ingress and every worker.
    pub metrics: Metrics,
    /// The ingress's queues.
    pub queues: Queues,
    /// The call store (its own connection).
    pub store: Arc<dyn Store>,
    /// Every decision and command (unless another observer was given).
    pub recorder: Arc<Recorder>,
    /// `http://127.0.0.1:port` of the ingress.
    pub ingress_url: String,
    /// Where the queue and store files are.
    pub dir: PathBuf,
    temp: Option<tempfile::TempDir>,
    opts: StackOptions,
    engines: EngineHooks,
    workers: Vec<Worker>,
    ingress_stop: CancellationToken,
    ingress: JoinHandle<()>,
    detach: Option<Detach>,
}

impl Stack {
    /// The flow tests' deployment in a temporary directory.
    pub async fn start() -> Self {
        Self::start_with(StackOptions::default()).await
    }

    /// A deployment in a temporary directory; panics if it does not start.
    pub async fn start_with(opts: StackOptions) -> Self {
        let temp = tempfile::tempdir().expect("temporary directory");
        let mut stack = Self::start_in(temp.path(), opts)
            .await
            .expect("the stack starts");
        stack.temp = Some(temp);
        stack
    }

    /// A deployment with its data in `dir`.
    pub async fn start_in(dir: &Path, opts: StackOptions) -> anyhow::Result<Self> {
        let sim = Simulator::start(SimConfig {
            random_seed: Some(opts.random_seed),
            timing: opts.timing.clone(),
            faults: opts.faults.clone(),
            ..SimConfig::default()
        })
        .await
        .context("starting the ACS simulator")?;
        sim.seed_agents(opts.agents.clone())
            .context("seeding agents")?;
        for n in opts.numbers.iter().chain(&opts.other_numbers) {
            sim.add_number(NumberSpec::new(n.clone()))
                .with_context(|| format!("adding number {n}"))?;
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the ingress")?;
        let addr = listener.local_addr()?;
        let ingress_url = format!("http://{addr}");

        let mut deployment =
            DeploymentConfig::new(SimEndpoints::of(&sim), addr, dir.join("queue.db"));
        deployment.store_path = Some(dir.join("store.db"));
        deployment.numbers = opts.numbers.clone();
        deployment.lock_duration_secs = opts.lock_duration_secs;
        deployment.max_delivery_count = Some(opts.max_delivery_count);
        deployment.concurrency = opts.runner.concurrency;
        deployment.routing = opts.routing.parse().context("routing TOML")?;
        if opts.graph {
            deployment.graph_token = Some("local-graph-token".into());
        }
        let mut config = deployment.config();
        let config_toml = deployment.to_toml();

        let (engines, detach) = match &opts.queue_engine {
            Some(engine) => engine.attach(&mut config).await?,
            None => (EngineHooks::default(), None),
        };
        let metrics = Metrics::new();
        let ingress = build_ingress(&config, &engines, Some(metrics.clone()))
            .await
            .context("building the ingress")?;
        sim.set_sink(Arc::new(QueueSink {
            queue: ingress.queues.incoming.clone(),
        }));
        let ingress_stop = CancellationToken::new();
        let stop = ingress_stop.clone();
        let router = ingress.router;
        let ingress_task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(config.store_sqlite_path())
                .await
                .context("opening the store")?,
        );

        let mut stack = Self {
            sim,
            config,
            config_toml,
            metrics,
            queues: ingress.queues,
            store,
            recorder: Arc::new(Recorder::default()),
            ingress_url,
            dir: dir.to_path_buf(),
            temp: None,
            opts,
            engines,
            workers: Vec::new(),
            ingress_stop,
            ingress: ingress_task,
            detach,
        };
        stack.relax_dedupe().await?;
        for _ in 0..stack.opts.workers {
            stack.add_worker().await?;
        }
        Ok(stack)
    }

    /// Starts one more worker owned by the stack (stopped by [`Stack::shutdown`]).
    pub async fn add_worker(&mut self) -> anyhow::Result<()> {
        let w = self.spawn_worker(self.opts.runner.clone()).await?;
        self.workers.push(w);
        Ok(())
    }

    /// Starts a worker that opens the queue and store itself (as another process would) and
    /// consumes both queues; the caller stops or kills it.
    pub async fn worker(&self) -> Worker {
        self.worker_with(self.opts.runner.clone()).await
    }

    /// [`Stack::worker`] with other runner options.
    pub async fn worker_with(&self, runner: RunnerOptions) -> Worker {
        self.spawn_worker(runner).await.expect("the worker starts")
    }

    #[allow(clippy::needless_update)]
    async fn spawn_worker(&self, runner: RunnerOptions) -> anyhow::Result<Worker> {
        // Against the simulator a failed command is retried quickly: nothing throttles.
        let client = CallAutomationClient::from_connection_string(
            self.sim.connection_string().expose(),
            ClientOptions {
                retry: RetryOptions {
                    max_attempts: 3,
                    initial_delay: Duration::from_millis(20),
                    max_delay: Duration::from_millis(200),
                    jitter: false,
                    total_deadline: Some(Duration::from_secs(5)),
                    ..RetryOptions::default()
                },
                ..ClientOptions::default()
            },
        )?;
        let flow = match self.opts.ring_grace {
            Some(grace) => {
                let mut flow = FlowConfig::from_config(&self.config, routing_config(&self.config)?);
                flow.ring_grace = grace;
                flow.media_grace = grace;
                Some(flow)
            }
            None => None,
        };
        let observer = self
            .opts
            .observer
            .clone()
            .unwrap_or_else(|| self.recorder.clone());
        let app = build_worker(
            &self.config,
            WorkerHooks {
                observer: Some(observer),
                metrics: Some(self.metrics.clone()),
                runner: Some(runner),
                flow,
                client: Some(Arc::new(client)),
                engines: self.engines.clone(),
                // A field WorkerHooks gains later keeps its default here.
                ..WorkerHooks::default()
            },
        )
        .await
        .context("building a worker")?;
        self.relax_dedupe().await?;
        let token = CancellationToken::new();
        let t = token.clone();
        let runner = app.runner;
        let join = tokio::spawn(async move { runner.run(t).await });
        Ok(Worker {
            token,
            join,
            executor: app.executor,
        })
    }

    /// Every opener ensures the queues with duplicate detection on (as Service Bus is set
    /// up); a stack without it switches it off again after each one.
    pub async fn relax_dedupe(&self) -> anyhow::Result<()> {
        if self.opts.dedupe || self.config.queue.kind != "sqlite" {
            return Ok(());
        }
        let ns = SqliteNamespace::open(&self.config.queue_sqlite_path()).await?;
        let (mut plain, mut sessions) = queue_configs(&self.config);
        plain.duplicate_detection_window = None;
        sessions.duplicate_detection_window = None;
        ns.ensure_queue(&self.config.queue.incoming_queue, plain)
            .await?;
        ns.ensure_queue(&self.config.queue.events_queue, sessions)
            .await?;
        Ok(())
    }

    /// A customer dials `to`; returns the call's correlation id.
    pub fn place_call(&self, to: &str) -> String {
        self.sim
            .start_call(StartCall {
                to: Some(to.to_string()),
                ..StartCall::default()
            })
            .expect("the simulator places the call")
            .correlation_id
    }

    /// Waits until the call's state is archived (the call is over), up to `secs`; panics
    /// with the call's timelines otherwise.
    pub async fn ended(&self, corr: &str, secs: u64) -> ArchivedCall {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(a) = self.store.get_archived_call(corr).await.unwrap() {
                return a;
            }
            if tokio::time::Instant::now() > deadline {
                let live = self.store.get_call(corr).await.unwrap();
                panic!(
                    "call {corr} did not end within {secs}s.\nlive state: {}\nsim: {:?}\ntimeline:\n{}\nsim timeline:\n{}",
                    live.map(|v| v.value.to_string()).unwrap_or_default(),
                    self.sim.call(corr),
                    self.recorder.dump(corr),
                    self.sim
                        .timeline(corr)
                        .iter()
                        .map(|e| format!("{} {:?} {} {}", e.elapsed_ms, e.kind, e.what, e.detail))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every call in `calls` is archived, up to `secs`.
    pub async fn all_ended(&self, calls: &[String], secs: u64) -> Vec<ArchivedCall> {
        let mut out = Vec::with_capacity(calls.len());
        for c in calls {
            out.push(self.ended(c, secs).await);
        }
        out
    }

    /// Polls `f` until it returns `Some`, up to `secs`.
    pub async fn until<T>(
        &self,
        secs: u64,
        what: &str,
        mut f: impl AsyncFnMut() -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f().await {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out after {secs}s waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until both queues hold nothing receivable or scheduled, up to `secs`.
    pub async fn drained(&self, secs: u64) {
        self.until(secs, "the queues to drain", async || {
            for q in [&self.queues.incoming, &self.queues.events] {
                let p = q.receiver.runtime_properties().await.ok()?;
                if p.active_message_count + p.scheduled_message_count > 0 {
                    return None;
                }
            }
            Some(())
        })
        .await
    }

    /// The live call state, if any.
    pub async fn live(&self, corr: &str) -> Option<CallState> {
        self.store
            .get_call(corr)
            .await
            .unwrap()
            .map(|v| serde_json::from_value(v.value).unwrap())
    }

    /// What the simulator saw the deployment do to the call.
    pub fn effects(&self, corr: &str) -> switchboard_sim::Effects {
        self.sim
            .call_effects(corr)
            .map(|c| c.effects)
            .unwrap_or_default()
    }

    /// The simulator's ledger of every call.
    pub fn ledger(&self) -> Ledger {
        self.sim.ledger()
    }

    /// Messages in both dead-letter queues.
    pub async fn dead_letters(&self) -> Vec<Message> {
        let mut out = self
            .queues
            .incoming
            .dead_letters
            .peek(0, 100)
            .await
            .unwrap();
        out.extend(self.queues.events.dead_letters.peek(0, 100).await.unwrap());
        out
    }

    /// Stops the stack's own workers (draining), the ingress, the simulator and the engine.
    pub async fn shutdown(self) {
        for w in &self.workers {
            w.token.cancel();
        }
        for w in self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(10), w.join).await;
        }
        self.ingress_stop.cancel();
        let _ = self.ingress.await;
        self.sim.shutdown().await;
        if let Some(detach) = self.detach {
            detach.await;
        }
        drop(self.temp);
    }
}

/// The archived state document.
pub fn archived_state(a: &ArchivedCall) -> CallState {
    serde_json::from_value(a.doc.clone()).expect("archived state decodes")
}
