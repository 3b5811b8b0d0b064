//! Process assembly: from a validated [`Config`] to the running parts of a worker or an
//! ingress, so the `switchboard` binary stays thin and tests build exactly what ships.
//!
//! # How it fits
//! 1. [`preflight`] checks the configuration for a role and parses the routing table —
//!    no network I/O, so a bad key fails fast with exit code 64 naming the key.
//! 2. `open_backends` opens the queue (both queues: `incoming-calls`, plain, fed by Event
//!    Grid; `call-events`, sessionful, fed by the ingress) and the store, with the backends
//!    `queue.kind` / `store.kind` name among those registered in [`EngineHooks`].
//! 3. [`build_worker`] wires Call Automation, routing (roster, Graph presence), the store and
//!    the queues into an [`Executor`] and a [`Runner`]; [`build_ingress`] wires the callback
//!    JWT verifier and a [`QueuePublisher`] into the ingress router.
//!
//! Backends plug in through [`EngineHooks`], the registry of
//! [`QueueBackend`](crate::backend::QueueBackend)s and [`StoreBackend`](crate::backend::StoreBackend)s: the embedded SQLite ones by default, and whatever
//! the binary registers (Service Bus, Redis), so this crate does not depend on their client
//! libraries.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_callautomation::{CallAutomationClient, ClientOptions, Credential, RetryOptions};
use switchboard_queue::{OutgoingMessage, PropertyValue, QueueHandle};
use switchboard_routing::graph::auth::{
    ManagedIdentityCredential, StaticTokenCredential, TokenCredential,
};
use switchboard_routing::graph::{GraphClient, GraphClientOptions};
use switchboard_routing::presence_cache::{PresenceCache, PresenceCacheOptions};
use switchboard_routing::{Roster, RoutingConfig};
use switchboard_store::{Clock, SystemClock};

use crate::backend::{open_backends, open_queues, Backends, EngineHooks, Queues};
use crate::config::{Config, ConfigError, EventGridAuth, IngressAuth, Role};
use crate::executor::{Executor, ExecutorOptions, ExecutorParts, Observer};
use crate::flow::FlowConfig;
use crate::ingress::coalesce::Coalescer;
use crate::ingress::jwt::{spawn_refresher, JwtVerifier, TokenRules};
use crate::ingress::publish::reject_properties;
use crate::ingress::{
    outgoing, CallbackAuth, IngressMessage, IngressState, Limits, PublishError, Publisher,
    RejectMessage,
};
use crate::runner::{Runner, RunnerOptions, Source};
use crate::seal::{Seal, SealError};
use crate::telemetry::Metrics;

pub use crate::error::AppError;

/// What [`preflight`] proved and parsed.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The parsed `[routing]` table.
    pub routing: RoutingConfig,
}

/// Validate `cfg` for `role` and parse its routing table. Performs no network I/O. The queue
/// and store backends' own keys are not checked here (see [`preflight_with`]); `build_*` and
/// `open_*` check them before connecting.
pub fn preflight(cfg: &Config, role: Role) -> Result<Prepared, ConfigError> {
    cfg.validate(role)?;
    let routing = routing_config(cfg)?;
    if role == Role::Worker {
        // Constructing the client checks the endpoint / connection string without I/O.
        call_automation_client(cfg)?;
        check_ai_prompts(cfg, &routing)?;
    }
    Ok(Prepared { routing })
}

/// Text and SSML prompts are spoken by Azure AI services, which Call Automation only uses on
/// a call answered with `callIntelligenceOptions.cognitiveServicesEndpoint`; without it every
/// such prompt would be refused on Azure (405 / 8522), so the configuration is refused here.
pub fn check_ai_prompts(cfg: &Config, routing: &RoutingConfig) -> Result<(), ConfigError> {
    if cfg.acs.cognitive_services_endpoint.is_some() {
        return Ok(());
    }
    let keys: Vec<String> = routing
        .queues
        .values()
        .flat_map(|q| q.ai_prompt_keys())
        .map(|k| format!("routing.{k}"))
        .collect();
    match keys.first() {
        None => Ok(()),
        Some(_) => Err(ConfigError::new(
            "acs.cognitive_services_endpoint",
            format!(
                "required: text/SSML prompts need Azure AI services on the call ({}); set it (or SWITCHBOARD_COGNITIVE_SERVICES_ENDPOINT) to the AI services resource connected to the ACS resource, or use audio-file prompts (`url`)",
                keys.join(", ")
            ),
        )),
    }
}

/// [`preflight`], and the backends' keys against the registered `engines`.
pub fn preflight_with(
    cfg: &Config,
    role: Role,
    engines: &EngineHooks,
) -> Result<Prepared, ConfigError> {
    let prepared = preflight(cfg, role)?;
    engines.validate(cfg, role)?;
    Ok(prepared)
}

/// The `[routing]` table as a [`RoutingConfig`] (errors name keys under `routing.`). A
/// configuration without one routes every call to the default queue with no agents.
pub fn routing_config(cfg: &Config) -> Result<RoutingConfig, ConfigError> {
    let table = cfg.routing.clone().unwrap_or_default();
    RoutingConfig::from_toml_table(table).map_err(|e| e.prefixed("routing"))
}

/// A Call Automation client from `[acs]`: access key when a connection string is set,
/// otherwise the managed identity (user-assigned when `AZURE_CLIENT_ID` is set).
pub(crate) fn call_automation_client(cfg: &Config) -> Result<CallAutomationClient, ConfigError> {
    let options = ClientOptions {
        api_version: cfg.acs.api_version.clone(),
        retry: RetryOptions {
            max_attempts: cfg.acs.max_attempts.max(1),
            total_deadline: Some(cfg.command_deadline()),
            ..RetryOptions::default()
        },
        ..ClientOptions::default()
    };
    if let Some(cs) = &cfg.acs.connection_string {
        return CallAutomationClient::from_connection_string(cs.expose(), options)
            .map_err(|e| ConfigError::new("acs.connection_string", e.to_string()));
    }
    let endpoint = cfg.acs.endpoint.as_deref().ok_or_else(|| {
        ConfigError::new(
            "acs.endpoint",
            "set acs.endpoint (Entra auth) or acs.connection_string (access key)",
        )
    })?;
    let url = url::Url::parse(endpoint)
        .map_err(|e| ConfigError::new("acs.endpoint", format!("not a URL: {e}")))?;
    let credential = ManagedIdentityCredential::new(cfg.graph.client_id.clone())
        .map_err(|e| ConfigError::new("AZURE_CLIENT_ID", e.to_string()))?;
    CallAutomationClient::new(url, Credential::token(credential), options)
        .map_err(|e| ConfigError::new("acs.endpoint", e.to_string()))
}

/// The ingress's [`Publisher`] over queue handles (by queue name), with group commit
/// ([`Coalescer`]) per queue.
pub struct QueuePublisher {
    queues: BTreeMap<String, Coalescer>,
    rejects: QueueHandle,
    max_message_bytes: usize,
}

/// Sends in flight per queue: SQLite commits one writer at a time anyway, so one send that
/// takes everything waiting is the cheapest; over AMQP a few overlap the round trips.
fn sends_in_flight(queue_kind: &str) -> usize {
    if queue_kind == "sqlite" {
        1
    } else {
        4
    }
}

impl QueuePublisher {
    /// The deployment's queues, under their configured names. Spawns the queues' senders on
    /// the current runtime.
    pub fn new(queues: &Queues, cfg: &Config) -> Self {
        let in_flight = sends_in_flight(&cfg.queue.kind);
        let coalescer = |h: &QueueHandle| {
            Coalescer::spawn(
                Arc::clone(&h.sender),
                in_flight,
                cfg.ingress.max_message_bytes,
                crate::ingress::publish::PER_MESSAGE_OVERHEAD,
            )
        };
        let mut map = BTreeMap::new();
        map.insert(
            cfg.queue.incoming_queue.clone(),
            coalescer(&queues.incoming),
        );
        map.insert(cfg.queue.events_queue.clone(), coalescer(&queues.events));
        Self {
            queues: map,
            rejects: queues.rejects.clone(),
            max_message_bytes: cfg.ingress.max_message_bytes,
        }
    }
}

fn publish_error(e: switchboard_queue::QueueError) -> PublishError {
    PublishError {
        retryable: e.is_retryable(),
        message: e.to_string(),
    }
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
            .ok_or_else(|| PublishError::permanent(format!("no queue {queue}")))?;
        let batch: Vec<OutgoingMessage> = messages.into_iter().map(outgoing).collect();
        q.send(batch).await.map_err(publish_error)
    }

    async fn reject(&self, reject: RejectMessage) -> Result<(), PublishError> {
        let props = reject_properties(&reject);
        let r = reject.rejected;
        // Keep what fits: an oversized event's head is enough to tell what it was.
        let room = self.max_message_bytes.saturating_sub(4096);
        let mut body = r.body;
        let truncated = body.len() > room;
        body.truncate(room);
        let mut m = OutgoingMessage::new(uuid::Uuid::new_v4().to_string(), body)
            .with_content_type("application/json");
        for (k, v) in props {
            m.application_properties.insert(k, PropertyValue::String(v));
        }
        if truncated {
            m.application_properties
                .insert("truncated".into(), PropertyValue::String("true".into()));
        }
        // Descriptions quote attacker-chosen text: bounded.
        let description: String = r.description.chars().take(1024).collect();
        self.rejects
            .sender
            .send_dead_letter(m, r.reason, &description)
            .await
            .map_err(publish_error)
    }
}

/// Microsoft Graph, when `[graph] enabled`: a static token (`graph.token`, for tests and the
/// simulator) or the managed identity.
pub(crate) fn graph_client(cfg: &Config) -> Result<Option<GraphClient>, ConfigError> {
    if !cfg.graph.enabled {
        return Ok(None);
    }
    let credential: Arc<dyn TokenCredential> = match &cfg.graph.token {
        Some(t) => Arc::new(StaticTokenCredential::long_lived(t.expose())),
        None => Arc::new(
            ManagedIdentityCredential::new(cfg.graph.client_id.clone())
                .map_err(|e| ConfigError::new("AZURE_CLIENT_ID", e.to_string()))?,
        ),
    };
    GraphClient::new(
        &cfg.graph.base_url,
        credential,
        Some(GraphClientOptions::default()),
    )
    .map(Some)
    .map_err(|e| ConfigError::new("graph.base_url", e.to_string()))
}

/// What a test or the demo may inject into a worker.
#[derive(Clone, Default)]
pub struct WorkerHooks {
    /// Sees every handled message and command outcome (tests, the demo's timelines).
    pub observer: Option<Arc<dyn Observer>>,
    /// Shared metrics (the demo aggregates several workers).
    pub metrics: Option<Metrics>,
    /// Overrides `RunnerOptions::from_config`.
    pub runner: Option<RunnerOptions>,
    /// Overrides the flow configuration built from the config (ring grace etc.).
    pub flow: Option<FlowConfig>,
    /// Overrides the Call Automation client (e.g. short retries against the simulator).
    pub client: Option<Arc<CallAutomationClient>>,
    /// The registered queue and store backends.
    pub engines: EngineHooks,
}

/// A worker ready to run.
pub struct WorkerApp {
    /// Handles one message at a time; the runner calls it.
    pub executor: Arc<Executor>,
    /// Receives from both queues and drives the executor until shutdown.
    pub runner: Runner,
    /// The worker's metrics.
    pub metrics: Metrics,
    /// The opened queue and store.
    pub backends: Backends,
}

/// Open backends and build a worker. Network I/O: queue/store, and Graph when enabled.
pub async fn build_worker(cfg: &Config, hooks: WorkerHooks) -> Result<WorkerApp, AppError> {
    let prepared = preflight_with(cfg, Role::Worker, &hooks.engines)?;
    let routing = prepared.routing;
    let client = match hooks.client {
        Some(c) => c,
        None => Arc::new(call_automation_client(cfg)?),
    };
    let graph = graph_client(cfg)?;
    let backends = open_backends(cfg, &hooks.engines).await?;
    let roster = match &graph {
        Some(g) => Roster::resolve(&routing, g)
            .await
            .map_err(|e| AppError::startup("roster (Microsoft Graph)", &e, e.is_retryable()))?,
        None => Roster::offline(&routing)
            .map_err(|e| AppError::Config(ConfigError::new("routing.agents", e.to_string())))?,
    };
    let presence = graph.map(|g| {
        Arc::new(PresenceCache::new(
            g,
            PresenceCacheOptions {
                ttl: Duration::from_secs(cfg.graph.presence_ttl_secs.max(1)),
                ..PresenceCacheOptions::default()
            },
        ))
    });
    let flow = hooks
        .flow
        .unwrap_or_else(|| FlowConfig::from_config(cfg, routing));
    let metrics = hooks.metrics.unwrap_or_default();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let options = ExecutorOptions {
        outbox_lease: Duration::from_secs(cfg.queue.lock_duration_secs),
        incoming_lease: Duration::from_secs(cfg.queue.incoming_lock_duration_secs),
        ..ExecutorOptions::from_config(cfg)?
    };
    let seal = Seal::load_or_create(cfg.worker.internal_key.as_ref(), backends.store.as_ref())
        .await
        .map_err(|e| match e {
            SealError::Config(e) => AppError::Config(e),
            e => {
                let retryable = e.is_retryable();
                AppError::startup("store (internal-message key)", e, retryable)
            }
        })?;
    let executor = Arc::new(Executor::new(ExecutorParts {
        flow: Arc::new(flow),
        options,
        store: backends.store.clone(),
        calls: client,
        timers: backends.queues.events.sender.clone(),
        seal,
        roster: Arc::new(roster),
        presence,
        clock,
        metrics: metrics.clone(),
        observer: hooks.observer,
    }));
    executor
        .sync_roster()
        .await
        .map_err(|e| AppError::startup("store (roster sync)", e, true))?;
    let runner = Runner::new(
        executor.clone(),
        vec![
            Source::plain(backends.queues.incoming.receiver.clone()),
            Source::sessions(backends.queues.events.receiver.clone()),
        ],
        hooks
            .runner
            .unwrap_or_else(|| RunnerOptions::from_config(&cfg.worker)),
    );
    Ok(WorkerApp {
        executor,
        runner,
        metrics,
        backends,
    })
}

/// An ingress ready to serve.
pub struct IngressApp {
    /// The public router: `/api/callbacks` (and the optional Event Grid webhook),
    /// `/healthz`, `/readyz`.
    pub router: axum::Router,
    /// The status listener's router: `/metrics`, `/healthz`, `/readyz`.
    pub status_router: axum::Router,
    /// The ingress's metrics.
    pub metrics: Metrics,
    /// The queues it publishes to.
    pub queues: Queues,
}

/// How often signing keys are re-fetched (the set is replaced: removed keys stop working).
const KEY_REFRESH_EVERY: Duration = Duration::from_secs(3600);

/// Open the queues and build the ingress routers. Spawns the signing-key refreshers (the first
/// fetch happens at once; `/readyz` reports ready when it has succeeded).
pub async fn build_ingress(
    cfg: &Config,
    engines: &EngineHooks,
    metrics: Option<Metrics>,
) -> Result<IngressApp, AppError> {
    cfg.validate(Role::Ingress)?;
    engines.validate(cfg, Role::Ingress)?;
    let http = || {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| AppError::startup("http client", e, false))
    };
    let leeway = Duration::from_secs(cfg.ingress.clock_skew_secs);
    let auth = match cfg.ingress.auth {
        IngressAuth::None => {
            tracing::warn!(
                "ingress.auth = \"none\": callbacks are NOT authenticated (loopback only)"
            );
            CallbackAuth::None
        }
        IngressAuth::Jwt => {
            let audience = cfg.jwt_audience().ok_or_else(|| {
                ConfigError::new("acs.resource_id", "required for JWT validation")
            })?;
            let v = Arc::new(JwtVerifier::new(
                http()?,
                cfg.ingress.openid_config_url.clone(),
                cfg.ingress.issuer.clone(),
                audience.to_string(),
                leeway,
            ));
            spawn_refresher(&v, KEY_REFRESH_EVERY);
            CallbackAuth::Jwt(v)
        }
    };
    let eventgrid_auth = match (cfg.ingress.eventgrid_webhook, cfg.ingress.eventgrid_auth) {
        (false, _) => None,
        (true, EventGridAuth::None) => {
            tracing::warn!("ingress.eventgrid_auth = \"none\": webhook deliveries are NOT authenticated (loopback only)");
            Some(CallbackAuth::None)
        }
        (true, EventGridAuth::Entra) => {
            let tenant = cfg
                .ingress
                .eventgrid_tenant_id
                .as_deref()
                .unwrap_or_default();
            let url = cfg
                .eventgrid_openid_config_url()
                .ok_or_else(|| ConfigError::new("ingress.eventgrid_tenant_id", "required"))?;
            let rules = TokenRules::event_grid(
                tenant,
                cfg.ingress.eventgrid_audiences.clone(),
                &cfg.ingress.eventgrid_app_id,
                leeway,
            );
            let v = Arc::new(JwtVerifier::with_rules(http()?, url, rules));
            spawn_refresher(&v, KEY_REFRESH_EVERY);
            Some(CallbackAuth::Jwt(v))
        }
    };
    let queues = open_queues(cfg, engines).await?;
    let metrics = metrics.unwrap_or_default();
    let state = Arc::new(IngressState {
        auth,
        eventgrid_auth,
        publisher: Arc::new(QueuePublisher::new(&queues, cfg)),
        events_queue: cfg.queue.events_queue.clone(),
        incoming_queue: cfg.queue.incoming_queue.clone(),
        metrics: metrics.clone(),
        max_body_bytes: cfg.ingress.max_body_bytes,
        max_message_bytes: cfg.ingress.max_message_bytes,
    });
    let limits = Limits {
        request_timeout: Duration::from_secs(cfg.ingress.request_timeout_secs),
        max_concurrent_requests: cfg.ingress.max_concurrent_requests,
    };
    Ok(IngressApp {
        router: crate::ingress::router(state.clone(), limits),
        status_router: crate::ingress::status_router(state),
        metrics,
        queues,
    })
}

/// Sample the queues' runtime properties into gauges
/// (`switchboard_queue_messages{queue, state=active|scheduled|deferred|dead_letter}`), and
/// `switchboard_queue_counts_available{queue}` (1 read, 0 could not). A queue whose counts
/// cannot be read (on Azure the session queue's counts need the management API, i.e. Manage
/// rights the worker identity does not have) is logged at WARN once, and again only after it
/// could be read in between: the gauges would otherwise read 0 without a word.
pub(crate) async fn sample_queues(
    queues: &Queues,
    metrics: &Metrics,
    unreadable: &mut std::collections::BTreeSet<String>,
) {
    for q in [&queues.incoming, &queues.events, &queues.rejects] {
        let available = [("queue", q.name.as_str())];
        match q.receiver.runtime_properties().await {
            Ok(p) => {
                metrics.set("switchboard_queue_counts_available", &available, 1.0);
                if unreadable.remove(&q.name) {
                    tracing::info!(queue = %q.name, "queue counts readable again");
                }
                for (state, v) in [
                    ("active", p.active_message_count),
                    ("scheduled", p.scheduled_message_count),
                    ("deferred", p.deferred_message_count),
                    ("dead_letter", p.dead_letter_message_count),
                ] {
                    metrics.set(
                        "switchboard_queue_messages",
                        &[("queue", q.name.as_str()), ("state", state)],
                        v as f64,
                    );
                }
            }
            Err(e) => {
                metrics.set("switchboard_queue_counts_available", &available, 0.0);
                if unreadable.insert(q.name.clone()) {
                    tracing::warn!(
                        queue = %q.name,
                        error = %e,
                        "cannot read the queue's message counts: switchboard_queue_messages and \
                         /scaling show 0 for it (a session queue's counts need the management \
                         API's Manage right; KEDA reads them with its own identity)"
                    );
                } else {
                    tracing::debug!(queue = %q.name, error = %e, "queue sampling failed");
                }
            }
        }
    }
}

/// Sample the queues every `every` until `token` fires.
pub fn spawn_queue_sampler(
    queues: Queues,
    metrics: Metrics,
    every: Duration,
    token: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut unreadable = std::collections::BTreeSet::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tick.tick() => sample_queues(&queues, &metrics, &mut unreadable).await,
            }
        }
    })
}

/// This replica's load as JSON (`GET /scaling`, diagnostics; nothing scales on it): calls in
/// progress here (sessions held) plus the work waiting in the queues as this worker can read
/// it. Not a KEDA source: the worker has no ingress and the numbers are per replica, while
/// KEDA needs one pool-wide value. KEDA scales on the queues themselves (apps.bicep).
pub(crate) fn scaling_snapshot(metrics: &Metrics, queues: &Queues) -> serde_json::Value {
    let held = |q: &str| metrics.gauge("switchboard_sessions_held", &[("queue", q)]);
    let msgs = |q: &str, s: &str| {
        metrics.gauge("switchboard_queue_messages", &[("queue", q), ("state", s)])
    };
    let incoming = queues.incoming.name.as_str();
    let events = queues.events.name.as_str();
    let sessions = held(events);
    let waiting = msgs(incoming, "active") + msgs(events, "active");
    serde_json::json!({
        "sessionsHeld": sessions,
        "incomingActive": msgs(incoming, "active"),
        "eventsActive": msgs(events, "active"),
        "scheduled": msgs(events, "scheduled"),
        "deadLetters": msgs(incoming, "dead_letter") + msgs(events, "dead_letter"),
        "calls": sessions + waiting,
    })
}

/// `/metrics`, `/healthz` and `/scaling` for a worker.
pub fn worker_status_router(metrics: Metrics, queues: Queues) -> axum::Router {
    let m = metrics.clone();
    crate::telemetry::router(metrics).route(
        "/scaling",
        axum::routing::get(move || {
            let m = m.clone();
            let q = queues.clone();
            async move { axum::Json(scaling_snapshot(&m, &q)) }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        Config::from_toml_str(text).expect("config parses")
    }

    #[test]
    fn preflight_names_routing_keys() {
        let c = cfg(r#"
[acs]
connection_string = "endpoint=https://x.communication.azure.com/;accesskey=c2VjcmV0"
callback_url = "https://x.example.com/api/callbacks"
[routing]
default_queue = 5
"#);
        let e = preflight(&c, Role::Worker).unwrap_err();
        assert!(e.key.starts_with("routing"), "{e:?}");
    }

    #[test]
    fn preflight_accepts_a_worker_config() {
        let c = cfg(r#"
[acs]
connection_string = "endpoint=https://x.communication.azure.com/;accesskey=c2VjcmV0"
callback_url = "https://x.example.com/api/callbacks"
"#);
        preflight(&c, Role::Worker).unwrap();
    }

    #[test]
    fn the_example_configuration_passes_preflight_routing_included() {
        let text = include_str!("../config/switchboard.example.toml");
        let c = cfg(text);
        let p = preflight(&c, Role::Worker).expect("example passes preflight");
        assert_eq!(p.routing.agents.len(), 1);
        c.validate(Role::Ingress)
            .expect("example valid for the ingress");
    }

    #[tokio::test]
    async fn engines_missing_from_the_build_are_config_errors() {
        let mut c = cfg("");
        c.queue.kind = "servicebus".into();
        c.queue
            .settings
            .set("servicebus_namespace", "sb-x.servicebus.windows.net");
        let e = open_queues(&c, &EngineHooks::default())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(e, AppError::Config(ref c) if c.key == "queue.kind"),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn sqlite_backends_open_in_a_new_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg("");
        c.queue.settings.set(
            "sqlite_path",
            dir.path().join("data/q.db").display().to_string(),
        );
        let b = open_backends(&c, &EngineHooks::default()).await.unwrap();
        assert!(b.describe.contains("q.db"), "{}", b.describe);
        b.queues
            .incoming
            .sender
            .send(OutgoingMessage::new("m1", "{}"))
            .await
            .unwrap();
        let metrics = Metrics::new();
        sample_queues(&b.queues, &metrics, &mut Default::default()).await;
        metrics.gauge_add(
            "switchboard_sessions_held",
            &[("queue", "call-events")],
            2.0,
        );
        let s = scaling_snapshot(&metrics, &b.queues);
        assert_eq!(s["incomingActive"], 1.0, "{s}");
        assert_eq!(s["sessionsHeld"], 2.0, "{s}");
        assert_eq!(s["calls"], 3.0, "{s}");
    }
}
