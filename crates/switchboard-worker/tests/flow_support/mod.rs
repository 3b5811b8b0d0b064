//! Test world for the call-flow integration tests: the ACS simulator in-process, the real
//! callback ingress (JWT-checked) on a real port, the embedded SQLite queue and store in a
//! temp directory, and any number of in-process workers (executor + runner) that open the
//! same files the way separate processes would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_callautomation::{CallAutomationClient, ClientOptions, RetryOptions};
use switchboard_events::CorrelationId;
use switchboard_queue::sqlite::SqliteNamespace;
use switchboard_queue::{OutgoingMessage, PropertyValue, QueueConfig, QueueHandle};
use switchboard_routing::{Roster, RoutingConfig};
use switchboard_sim::{
    AgentSpec, EventGridSink, NumberSpec, SimConfig, SimHandle, Simulator, SinkError, SinkMessage,
    Timing,
};
use switchboard_store::{ArchivedCall, SqliteStore, Store, SystemClock};
use switchboard_worker::executor::{
    CommandOutcome, Executor, ExecutorOptions, ExecutorParts, Observer,
};
use switchboard_worker::flow::{CallState, Command, FlowConfig, FlowInput, Transition};
use switchboard_worker::ingress::jwt::JwtVerifier;
use switchboard_worker::ingress::{
    router, CallbackAuth, IngressMessage, IngressState, PublishError, Publisher,
};
use switchboard_worker::runner::{Runner, RunnerOptions, Source};
use switchboard_worker::telemetry::Metrics;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const INCOMING: &str = "incoming-calls";
pub const EVENTS: &str = "call-events";

pub const ALICE: &str = "6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10";
pub const BOB: &str = "0b6f3d42-91e4-4c0b-8f2a-7d5e1a9c3b66";
pub const CARMEN: &str = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";

pub const SALES_LINE: &str = "+18005550101";
pub const MAIN_LINE: &str = "+18005550100";
pub const SUPPORT_LINE: &str = "+18005550103";
pub const PARTNER_LINE: &str = "+18005550102";
pub const CLOSED_LINE: &str = "+18005550104";
pub const NOT_OURS: &str = "+18005550199";
pub const OVERFLOW_NUMBER: &str = "+14255550199";

/// Routing used by most tests. Ring timeouts are short so ring-no-answer takes a second.
pub const ROUTING: &str = r#"
default_queue = "support"

[agent_defaults]
wrap_up_secs = 1

[[agents]]
oid = "6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10"
name = "Alice"
skills = { sales = 5 }

[[agents]]
oid = "0b6f3d42-91e4-4c0b-8f2a-7d5e1a9c3b66"
name = "Bob"
skills = { sales = 3 }

[[agents]]
oid = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
name = "Carmen"
skills = { support = 5 }

[queues.main]
ivr = { prompt = { text = "For sales press 1, for support press 2." }, options = { "1" = "sales", "2" = "support" }, fallback = "support", timeout_secs = 3, max_tries = 2 }

[queues.sales]
required_skills = { sales = 1 }
hold_music = { url = "https://example.com/hold.wav", loop = true }
max_attempts = 3
ring_timeout_secs = 2
wait_retry_secs = 1
max_wait_secs = 60
overflow = { phone = "+14255550199" }

[queues.support]
required_skills = { support = 1 }
hold_music = { url = "https://example.com/hold.wav", loop = true }
recording = true
ring_timeout_secs = 2
wait_retry_secs = 1
overflow = "hangup"

[[rules]]
dialed = ["+18005550100"]
queue = "main"

[[rules]]
dialed = ["+18005550101"]
queue = "sales"

[[rules]]
dialed = ["+18005550102"]
queue = "partner"

[[rules]]
dialed = ["+18005550104"]
queue = "closed"

[queues.partner]
direct = true
required_skills = { sales = 1 }
ring_timeout_secs = 2
overflow = "hangup"

[queues.closed]
required_skills = { nobody = 1 }
overflow = { announcement = { text = "We are closed." } }
"#;

/// Every decision and command, in order (the timeline tests read).
#[derive(Default)]
pub struct Recorder {
    pub lines: Mutex<Vec<Line>>,
    /// (op, duration) of every command.
    pub timings: Mutex<Vec<(String, Duration)>>,
}

#[derive(Clone, Debug)]
pub enum Line {
    Decision {
        call: String,
        input: String,
        disposition: String,
        decision: String,
    },
    Command {
        call: String,
        op: String,
        action: String,
        operation_context: Option<String>,
        outcome: CommandOutcome,
    },
}

impl Observer for Recorder {
    fn decision(&self, call: &CorrelationId, input: &FlowInput, t: &Transition) {
        self.lines.lock().unwrap().push(Line::Decision {
            call: call.to_string(),
            input: input.type_name().to_string(),
            disposition: t.disposition.as_str().to_string(),
            decision: t.decision.clone(),
        });
    }

    fn command(&self, call: &CorrelationId, c: &Command, outcome: &CommandOutcome, took: Duration) {
        self.timings
            .lock()
            .unwrap()
            .push((c.op.name().to_string(), took));
        self.lines.lock().unwrap().push(Line::Command {
            call: call.to_string(),
            op: c.op.name().to_string(),
            action: c.key.action.clone(),
            operation_context: c.op.operation_context().map(str::to_string),
            outcome: outcome.clone(),
        });
    }
}

impl Recorder {
    /// Successful commands of `op` for `call`, with their operation contexts.
    pub fn done(&self, call: &str, op: &str) -> Vec<Option<String>> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| match l {
                Line::Command {
                    call: c,
                    op: o,
                    operation_context,
                    outcome: CommandOutcome::Done { .. },
                    ..
                } if c == call && o == op => Some(operation_context.clone()),
                _ => None,
            })
            .collect()
    }

    /// Decisions for `call` on inputs of `input` type.
    pub fn decisions(&self, call: &str, input: &str) -> Vec<(String, String)> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| match l {
                Line::Decision {
                    call: c,
                    input: i,
                    disposition,
                    decision,
                } if c == call && i == input => Some((disposition.clone(), decision.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn dump(&self, call: &str) -> String {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| match l {
                Line::Decision { call: c, .. } | Line::Command { call: c, .. } => c == call,
            })
            .map(|l| format!("{l:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Event Grid → the incoming-calls queue (message id = event id, like Service Bus).
struct QueueSink {
    queue: QueueHandle,
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

/// The ingress's publisher over the SQLite queue namespace.
struct QueuePublisher {
    queues: BTreeMap<String, QueueHandle>,
}

#[async_trait]
impl Publisher for QueuePublisher {
    async fn publish(
        &self,
        queue: &str,
        messages: Vec<IngressMessage>,
    ) -> Result<(), PublishError> {
        let q = self
            .queues
            .get(queue)
            .ok_or_else(|| PublishError(format!("no queue {queue}")))?;
        let batch = messages
            .into_iter()
            .map(|m| {
                let mut out = OutgoingMessage::new(m.message_id, m.body)
                    .with_content_type(m.content_type)
                    .with_subject(m.subject);
                if let Some(s) = m.session_id {
                    out = out.with_session_id(s);
                }
                if let Some(c) = m.correlation_id {
                    out = out.with_correlation_id(c);
                }
                for (k, v) in m.application_properties {
                    out.application_properties
                        .insert(k, PropertyValue::String(v));
                }
                out
            })
            .collect();
        q.sender
            .send_batch(batch)
            .await
            .map_err(|e| PublishError(e.to_string()))
    }
}

pub struct WorldOptions {
    pub routing: String,
    pub numbers: Vec<&'static str>,
    pub timing: Timing,
    pub agents: Vec<AgentSpec>,
    pub lock_duration: Duration,
    pub ring_grace: Duration,
    pub random_seed: u64,
    /// Queue duplicate detection (Service Bus feature). Off lets duplicates reach workers.
    pub dedupe: bool,
    pub faults: switchboard_sim::Faults,
}

impl Default for WorldOptions {
    fn default() -> Self {
        let timing = Timing {
            play_duration: Duration::from_millis(300),
            ..Timing::default()
        };
        Self {
            routing: ROUTING.to_string(),
            numbers: vec![
                SALES_LINE,
                MAIN_LINE,
                SUPPORT_LINE,
                PARTNER_LINE,
                CLOSED_LINE,
            ],
            timing,
            agents: vec![
                agent(ALICE, "Alice"),
                agent(BOB, "Bob"),
                agent(CARMEN, "Carmen"),
            ],
            lock_duration: Duration::from_secs(3),
            ring_grace: Duration::from_millis(1500),
            random_seed: 7,
            dedupe: true,
            faults: switchboard_sim::Faults::default(),
        }
    }
}

/// An agent who answers after 200 ms and hangs up after `talk` (default 800 ms).
pub fn agent(oid: &str, name: &str) -> AgentSpec {
    AgentSpec::new(oid, name, format!("{}@contoso.com", name.to_lowercase()))
        .with_behaviour(switchboard_sim::Behaviour::Accept {
            after: Duration::from_millis(200),
        })
        .with_talk_time(Duration::from_millis(800))
}

pub struct World {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    pub queue_path: PathBuf,
    pub store_path: PathBuf,
    pub incoming: QueueHandle,
    pub events: QueueHandle,
    pub store: Arc<dyn Store>,
    pub callback_url: String,
    pub routing: RoutingConfig,
    pub flow: FlowConfig,
    pub recorder: Arc<Recorder>,
    pub metrics: Metrics,
    lock_duration: Duration,
    dedupe: bool,
    ingress: JoinHandle<()>,
    ingress_stop: CancellationToken,
}

pub struct Worker {
    pub token: CancellationToken,
    pub join: JoinHandle<()>,
    pub executor: Arc<Executor>,
}

impl Worker {
    /// Graceful stop (drain within `grace`).
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

async fn queue_handles(
    path: &std::path::Path,
    lock: Duration,
    dedupe: bool,
) -> (QueueHandle, QueueHandle) {
    let ns = SqliteNamespace::open(path).await.unwrap();
    let plain = QueueConfig {
        lock_duration: lock,
        max_delivery_count: 20,
        duplicate_detection_window: dedupe.then_some(Duration::from_secs(600)),
        ..QueueConfig::default()
    };
    let sessions = QueueConfig {
        requires_session: true,
        ..plain.clone()
    };
    let incoming = ns.ensure_queue(INCOMING, plain).await.unwrap().handle();
    let events = ns.ensure_queue(EVENTS, sessions).await.unwrap().handle();
    (incoming, events)
}

impl World {
    pub async fn start() -> World {
        Self::start_with(WorldOptions::default()).await
    }

    pub async fn start_with(opts: WorldOptions) -> World {
        let sim = Simulator::start(SimConfig {
            random_seed: Some(opts.random_seed),
            timing: opts.timing.clone(),
            faults: opts.faults.clone(),
            ..SimConfig::default()
        })
        .await
        .expect("simulator starts");
        sim.seed_agents(opts.agents.clone()).unwrap();
        for n in [
            SALES_LINE,
            MAIN_LINE,
            SUPPORT_LINE,
            PARTNER_LINE,
            CLOSED_LINE,
            NOT_OURS,
        ] {
            sim.add_number(NumberSpec::new(n)).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let queue_path = dir.path().join("queue.db");
        let store_path = dir.path().join("store.db");
        let (incoming, events) = queue_handles(&queue_path, opts.lock_duration, opts.dedupe).await;
        sim.set_sink(Arc::new(QueueSink {
            queue: incoming.clone(),
        }));

        // The real ingress, verifying the simulator's signed callback JWTs.
        let verifier = JwtVerifier::new(
            reqwest::Client::new(),
            sim.openid_config_url(),
            sim.callback_issuer(),
            sim.resource_id(),
            Duration::from_secs(60),
        );
        let metrics = Metrics::new();
        let mut queues = BTreeMap::new();
        queues.insert(INCOMING.to_string(), incoming.clone());
        queues.insert(EVENTS.to_string(), events.clone());
        let state = Arc::new(IngressState {
            auth: CallbackAuth::Jwt(Arc::new(verifier)),
            eventgrid_auth: None,
            publisher: Arc::new(QueuePublisher { queues }),
            events_queue: EVENTS.to_string(),
            incoming_queue: INCOMING.to_string(),
            metrics: metrics.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ingress_stop = CancellationToken::new();
        let stop = ingress_stop.clone();
        let app = router(state, 1 << 20);
        let ingress = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        let callback_url = format!("http://{addr}/api/callbacks");

        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&store_path).await.unwrap());
        let routing = RoutingConfig::from_toml_str(&opts.routing).expect("routing config");
        let mut flow = FlowConfig::new(routing.clone(), opts.numbers.iter());
        flow.ring_grace = opts.ring_grace;
        World {
            sim,
            dir,
            queue_path,
            store_path,
            incoming,
            events,
            store,
            callback_url,
            routing,
            flow,
            recorder: Arc::new(Recorder::default()),
            metrics,
            lock_duration: opts.lock_duration,
            dedupe: opts.dedupe,
            ingress,
            ingress_stop,
        }
    }

    /// Starts a worker that opens the queue and store files itself (as another process
    /// would) and consumes both queues.
    pub async fn worker(&self) -> Worker {
        self.worker_with(RunnerOptions {
            concurrency: 8,
            receive_wait: Duration::from_millis(200),
            session_idle: Duration::from_millis(200),
            grace_period: Duration::from_secs(5),
            retry_backoff: Duration::from_millis(50),
            max_retry_backoff: Duration::from_millis(500),
            sweep_every: Some(Duration::from_millis(500)),
        })
        .await
    }

    pub async fn worker_with(&self, options: RunnerOptions) -> Worker {
        let (incoming, events) =
            queue_handles(&self.queue_path, self.lock_duration, self.dedupe).await;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&self.store_path).await.unwrap());
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
        )
        .unwrap();
        let roster = Roster::offline(&self.routing).unwrap();
        let executor = Arc::new(Executor::new(ExecutorParts {
            flow: Arc::new(self.flow.clone()),
            options: ExecutorOptions {
                outbox_lease: self.lock_duration,
                ..ExecutorOptions::new(self.callback_url.clone())
            },
            store,
            calls: Arc::new(client),
            timers: events.sender.clone(),
            roster: Arc::new(roster),
            presence: None,
            clock: Arc::new(SystemClock),
            metrics: self.metrics.clone(),
            observer: Some(self.recorder.clone()),
        }));
        executor.sync_roster().await.unwrap();
        let runner = Runner::new(
            executor.clone(),
            vec![
                Source::plain(incoming.receiver.clone()),
                Source::sessions(events.receiver.clone()),
            ],
            options,
        );
        let token = CancellationToken::new();
        let t = token.clone();
        let join = tokio::spawn(async move { runner.run(t).await });
        Worker {
            token,
            join,
            executor,
        }
    }

    /// Waits until the call's state is archived (the call is over), up to `secs`.
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

    /// The live call state, if any.
    pub async fn live(&self, corr: &str) -> Option<CallState> {
        self.store
            .get_call(corr)
            .await
            .unwrap()
            .map(|v| serde_json::from_value(v.value).unwrap())
    }

    pub fn effects(&self, corr: &str) -> switchboard_sim::Effects {
        self.sim
            .call_effects(corr)
            .map(|c| c.effects)
            .unwrap_or_default()
    }

    /// Queue messages in the dead-letter queues.
    pub async fn dead_letters(&self) -> Vec<switchboard_queue::Message> {
        let mut out = self.incoming.dead_letters.peek(0, 100).await.unwrap();
        out.extend(self.events.dead_letters.peek(0, 100).await.unwrap());
        out
    }

    pub async fn shutdown(self) {
        self.ingress_stop.cancel();
        let _ = self.ingress.await;
        self.sim.shutdown().await;
    }
}

/// The archived state document.
pub fn archived_state(a: &ArchivedCall) -> CallState {
    serde_json::from_value(a.doc.clone()).expect("archived state decodes")
}
