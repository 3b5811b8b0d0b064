//! The whole system on one machine: the ACS simulator, the callback ingress and N workers on
//! the embedded SQLite queue and store, all in this process but wired exactly as separate
//! processes are — real HTTP on loopback, signed callback JWTs, one SQLite connection set per
//! worker. `demo` and `bench` run on it.
//!
//! Data flow: a simulated customer dials → the simulator's Event Grid sink puts the
//! `IncomingCall` on the `incoming-calls` queue → a worker answers through Call Automation
//! (the simulator) → the simulator POSTs callbacks to the ingress → the ingress verifies the
//! JWT and publishes to the `call-events` session queue → any worker continues the call.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use switchboard_callautomation::{CallAutomationClient, ClientOptions, RetryOptions};
use switchboard_queue::{OutgoingMessage, PropertyValue, QueueHandle};
#[cfg(feature = "servicebus-peer")]
use switchboard_servicebus::peer::TestPeer;
use switchboard_sim::{
    AgentSpec, EventGridSink, NumberSpec, SimConfig, SimHandle, Simulator, SinkError, SinkMessage,
    Timing,
};
use switchboard_worker::app::{build_ingress, build_worker, EngineHooks, Queues, WorkerHooks};
use switchboard_worker::config::{Config, IngressAuth, Secret};
use switchboard_worker::executor::Observer;
use switchboard_worker::runner::RunnerOptions;
use switchboard_worker::telemetry::Metrics;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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

/// What to start.
pub struct LocalOptions {
    pub workers: usize,
    pub agents: Vec<AgentSpec>,
    pub numbers: Vec<String>,
    /// The `[routing]` table (TOML).
    pub routing: String,
    pub timing: Timing,
    pub random_seed: Option<u64>,
    pub concurrency: usize,
    pub lock_duration_secs: u64,
    /// Graph presence from the simulator (`[graph] enabled`).
    pub graph: bool,
    pub observer: Option<Arc<dyn Observer>>,
}

/// The queue engine of a local deployment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LocalQueue {
    /// The embedded SQLite queue (the default).
    #[default]
    Sqlite,
    /// Azure Service Bus over AMQP 1.0, served by the in-process peer on `ip:5672`: the
    /// workers and the ingress use the same adapter they use against a real namespace.
    ServiceBusPeer(std::net::Ipv4Addr),
}

/// Without the `servicebus-peer` feature there is no peer to hold: an uninhabited stand-in
/// keeps [`LocalStack`] the same shape in both builds.
#[cfg(not(feature = "servicebus-peer"))]
enum TestPeer {}

#[cfg(not(feature = "servicebus-peer"))]
impl TestPeer {
    fn connection_string(&self) -> String {
        match *self {}
    }

    async fn shutdown(self) {
        match self {}
    }
}

/// The in-process Service Bus peer on `ip:5672`, serving both queues of `config`.
#[cfg(feature = "servicebus-peer")]
async fn start_peer(ip: std::net::Ipv4Addr, config: &Config) -> anyhow::Result<TestPeer> {
    let (plain, sessions) = switchboard_worker::app::queue_configs(config);
    TestPeer::start(
        ip,
        &[
            (config.queue.incoming_queue.as_str(), plain),
            (config.queue.events_queue.as_str(), sessions),
        ],
    )
    .await
    .with_context(|| format!("starting the Service Bus peer on {ip}:5672"))
}

/// The production build leaves the test peer out, so `--servicebus-peer` cannot be served.
#[cfg(not(feature = "servicebus-peer"))]
async fn start_peer(_ip: std::net::Ipv4Addr, _config: &Config) -> anyhow::Result<TestPeer> {
    anyhow::bail!(
        "this build has no Service Bus test peer: build with the `servicebus-peer` feature \
         (on by default; the production image leaves it out)"
    )
}

/// A running local deployment.
pub struct LocalStack {
    pub sim: SimHandle,
    pub config: Config,
    pub metrics: Metrics,
    pub queues: Queues,
    pub ingress_url: String,
    workers: Vec<(CancellationToken, JoinHandle<()>)>,
    ingress_stop: CancellationToken,
    ingress: JoinHandle<()>,
    engines: EngineHooks,
    peer: Option<TestPeer>,
}

impl LocalStack {
    /// Start everything with its data in `dir`, on the queue engine `queue`.
    pub async fn start_with(
        dir: &Path,
        opts: LocalOptions,
        queue: LocalQueue,
    ) -> anyhow::Result<Self> {
        let sim = Simulator::start(SimConfig {
            random_seed: opts.random_seed,
            timing: opts.timing.clone(),
            ..SimConfig::default()
        })
        .await
        .context("starting the ACS simulator")?;
        sim.seed_agents(opts.agents.clone())
            .context("seeding agents")?;
        for n in &opts.numbers {
            sim.add_number(NumberSpec::new(n.clone()))
                .with_context(|| format!("adding number {n}"))?;
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the ingress")?;
        let addr = listener.local_addr()?;
        let ingress_url = format!("http://{addr}");

        let mut config = Config::default();
        config
            .queue
            .settings
            .set("sqlite_path", dir.join("queue.db").display().to_string());
        config.queue.lock_duration_secs = opts.lock_duration_secs;
        config
            .store
            .settings
            .set("sqlite_path", dir.join("store.db").display().to_string());
        config.acs.connection_string = Some(Secret::new(sim.connection_string().expose()));
        config.acs.resource_id = Some(sim.resource_id().to_string());
        config.acs.callback_url = Some(format!("{ingress_url}/api/callbacks"));
        config.acs.numbers = opts.numbers.clone();
        config.acs.command_deadline_ms = 5_000;
        config.ingress.auth = IngressAuth::Jwt;
        config.ingress.openid_config_url = sim.openid_config_url().to_string();
        config.ingress.issuer = sim.callback_issuer().to_string();
        config.ingress.bind = addr.ip().to_string();
        config.ingress.port = addr.port();
        config.worker.concurrency = opts.concurrency;
        if opts.graph {
            config.graph.enabled = true;
            config.graph.base_url = sim.graph_base_url().to_string();
            config.graph.token = Some(Secret::new("local-graph-token"));
            config.graph.presence_ttl_secs = 1;
        }
        let routing: toml::Table = opts.routing.parse().context("routing TOML")?;
        config.routing = Some(routing);

        let (engines, peer) = match queue {
            LocalQueue::Sqlite => (EngineHooks::default(), None),
            LocalQueue::ServiceBusPeer(ip) => {
                let peer = start_peer(ip, &config).await?;
                config.queue.kind = "servicebus".into();
                config.queue.settings.set(
                    "servicebus_connection_string",
                    format!("{};UseDevelopmentEmulator=true", peer.connection_string()),
                );
                (crate::engines::hooks(), Some(peer))
            }
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

        let mut stack = Self {
            sim,
            config,
            metrics,
            queues: ingress.queues,
            ingress_url,
            workers: Vec::new(),
            ingress_stop,
            ingress: ingress_task,
            engines,
            peer,
        };
        for _ in 0..opts.workers.max(1) {
            stack.add_worker(opts.observer.clone()).await?;
        }
        Ok(stack)
    }

    /// Start one more worker (its own queue and store connections, as another process).
    pub async fn add_worker(&mut self, observer: Option<Arc<dyn Observer>>) -> anyhow::Result<()> {
        // Against the local simulator a failed command is retried quickly: nothing throttles.
        let client = CallAutomationClient::from_connection_string(
            self.sim.connection_string().expose(),
            ClientOptions {
                retry: RetryOptions {
                    max_attempts: 3,
                    initial_delay: Duration::from_millis(20),
                    max_delay: Duration::from_millis(200),
                    total_deadline: Some(Duration::from_secs(5)),
                    ..RetryOptions::default()
                },
                ..ClientOptions::default()
            },
        )?;
        let app = build_worker(
            &self.config,
            WorkerHooks {
                observer,
                metrics: Some(self.metrics.clone()),
                runner: Some(RunnerOptions {
                    concurrency: self.config.worker.concurrency,
                    receive_wait: Duration::from_millis(200),
                    session_idle: Duration::from_millis(200),
                    grace_period: Duration::from_secs(5),
                    retry_backoff: Duration::from_millis(50),
                    max_retry_backoff: Duration::from_millis(500),
                    sweep_every: Some(Duration::from_secs(5)),
                }),
                client: Some(Arc::new(client)),
                engines: self.engines.clone(),
                ..WorkerHooks::default()
            },
        )
        .await
        .context("building a worker")?;
        let token = CancellationToken::new();
        let t = token.clone();
        let runner = app.runner;
        let join = tokio::spawn(async move { runner.run(t).await });
        self.workers.push((token, join));
        Ok(())
    }

    /// Stop workers (draining), the ingress and the simulator.
    pub async fn shutdown(self) {
        for (t, _) in &self.workers {
            t.cancel();
        }
        for (_, j) in self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(10), j).await;
        }
        self.ingress_stop.cancel();
        let _ = self.ingress.await;
        self.sim.shutdown().await;
        if let Some(peer) = self.peer {
            peer.shutdown().await;
        }
    }
}
