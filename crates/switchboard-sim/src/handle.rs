//! Starting the simulator and the handle to a running one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_contract::hmac::AccessKey;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{AgentSpec, Behaviour, NumberSpec, PresenceSpec, SimConfig, StartCall, Timing};
use crate::engine::control::{AgentSnapshot, CallHandle, CallSnapshot};
use crate::engine::{Engine, EngineConfig};
use crate::error::SimError;
use crate::eventgrid::{EventGridSink, SinkMessage};
use crate::faults::{FaultEngine, Faults};
use crate::http::{router, AppState, SimInfo};
use crate::ids::IdGen;
use crate::jwt::{CallbackSigner, JWKS_PATH, OPENID_CONFIG_PATH};
use crate::ledger::{CallEffects, Ledger, TimelineEntry};
use crate::net::{ConnMeta, SimListener};
use crate::repeatability::RepeatabilityCache;
use crate::secret::Secret;

/// Entry point.
pub struct Simulator;

impl Simulator {
    /// Bind, generate keys, apply the seed and start serving. Returns once the listener is
    /// bound (connections are accepted from then on).
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        if cfg.api_versions.is_empty() {
            return Err(SimError::Config("api_versions must not be empty".into()));
        }
        let mut timing = cfg.timing.clone();
        let mut faults = cfg.faults.clone();
        if let Some(seed) = &cfg.seed {
            if let Some(t) = &seed.timing {
                timing = t.clone();
            }
            if let Some(f) = &seed.faults {
                faults = f.clone();
            }
        }
        crate::faults::check_faults(&faults)?;
        let random_seed = cfg.random_seed.unwrap_or_else(rand::random);
        let mut ids = IdGen::new(random_seed);
        let access_key = match &cfg.access_key {
            Some(k) => k.clone(),
            None => Secret::new(ids.access_key()),
        };
        let key = AccessKey::from_base64(access_key.expose())
            .map_err(|_| SimError::Config("the access key is not valid base64".into()))?;
        let resource_id = if cfg.resource_id.trim().is_empty() {
            ids.uuid()
        } else {
            cfg.resource_id.trim().to_owned()
        };
        let bot_id = format!("8:acs:{resource_id}_{}", ids.uuid());
        let fault_seed = ids.next_u64();

        let listener = tokio::net::TcpListener::bind(cfg.bind)
            .await
            .map_err(|source| SimError::Bind {
                addr: cfg.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: cfg.bind,
            source,
        })?;
        let base_url = format!("http://{addr}");

        let jwt_cfg = cfg.jwt.clone();
        let audience = resource_id.clone();
        // RSA key generation is CPU-bound; keep it off the async workers.
        let signer = tokio::task::spawn_blocking(move || CallbackSigner::new(&jwt_cfg, audience))
            .await
            .map_err(|e| SimError::Config(format!("key generation failed: {e}")))??;

        let shutdown = CancellationToken::new();
        let engine = Engine::new(
            EngineConfig {
                api_versions: cfg.api_versions.clone(),
                participants_page_size: cfg.participants_page_size,
                event_grid: cfg.event_grid.clone(),
                callback_retry: cfg.callback_retry.clone(),
                max_history: cfg.max_history.max(16),
                max_retained_calls: cfg.max_retained_calls.max(1),
                bot_id,
                base_url: base_url.clone(),
                resource_id: resource_id.clone(),
            },
            timing,
            ids,
            FaultEngine::new(faults, fault_seed),
            RepeatabilityCache::new(cfg.repeatability_window),
            signer,
            shutdown.clone(),
        );
        if let Some(seed) = cfg.seed.clone() {
            engine.upsert_agents(seed.agents)?;
            engine.add_numbers(seed.numbers)?;
            if let Some(t) = seed.tenant {
                engine.set_tenant(Some(t));
            }
        }

        let info = SimInfo {
            address: addr.to_string(),
            endpoint: format!("{base_url}/"),
            connection_string: Secret::new(format!(
                "endpoint={base_url}/;accesskey={}",
                access_key.expose()
            )),
            jwks_url: format!("{base_url}{JWKS_PATH}"),
            openid_configuration_url: format!("{base_url}{OPENID_CONFIG_PATH}"),
            resource_id: resource_id.clone(),
            callback_issuer: cfg.jwt.issuer.clone(),
            graph_base_url: base_url.clone(),
            control_url: format!("{base_url}/__sim"),
            cognitive_services_endpoint: crate::config::SIM_COGNITIVE_SERVICES_ENDPOINT.to_owned(),
        };
        let requests = Arc::new(crate::request_log::RequestLog::new(
            cfg.request_log_capacity,
        ));
        let state = AppState {
            engine: Arc::clone(&engine),
            key,
            bearer: cfg.accept_bearer.clone(),
            graph_bearer: cfg.graph_bearer.clone(),
            max_skew: cfg.max_clock_skew,
            info: Arc::new(info.clone()),
            requests: Arc::clone(&requests),
            entra: Arc::new(cfg.entra.clone()),
        };
        let app = router(state).into_make_service_with_connect_info::<ConnMeta>();
        let stop = shutdown.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(SimListener::new(listener), app)
                .with_graceful_shutdown(async move { stop.cancelled().await });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "simulator server stopped");
            }
        });
        tracing::info!(%addr, resource_id = %resource_id, "ACS simulator listening");
        Ok(SimHandle {
            inner: Arc::new(Inner {
                engine,
                info,
                addr,
                access_key,
                shutdown,
                server: Mutex::new(Some(server)),
                requests,
            }),
        })
    }
}

struct Inner {
    engine: Arc<Engine>,
    info: SimInfo,
    addr: SocketAddr,
    access_key: Secret,
    shutdown: CancellationToken,
    server: Mutex<Option<JoinHandle<()>>>,
    requests: Arc<crate::request_log::RequestLog>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: stop serving and stop every timer.
        self.shutdown.cancel();
    }
}

/// A running simulator. Cheap to clone; the simulator stops when [`SimHandle::shutdown`] is
/// called or the last clone is dropped.
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.inner.addr)
            .field("resource_id", &self.inner.info.resource_id)
            .field("access_key", &self.inner.access_key)
            .finish()
    }
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// ACS endpoint, `http://127.0.0.1:PORT/`.
    pub fn endpoint(&self) -> &str {
        &self.inner.info.endpoint
    }

    /// `endpoint=…;accesskey=…` (contains the key: do not log it).
    pub fn connection_string(&self) -> Secret {
        self.inner.info.connection_string.clone()
    }

    /// The base64 access key (redacted in Debug).
    pub fn access_key(&self) -> &Secret {
        &self.inner.access_key
    }

    /// The ACS resource id (audience of callback tokens).
    pub fn resource_id(&self) -> &str {
        &self.inner.info.resource_id
    }

    /// The keys callback tokens are signed with (`/calling/keys`); a worker validating
    /// callback JWTs fetches them from here instead of from ACS.
    pub fn jwks_url(&self) -> &str {
        &self.inner.info.jwks_url
    }

    /// OpenID discovery for callback tokens (`/calling/.well-known/acsopenidconfiguration`),
    /// naming the issuer and [`jwks_url`](Self::jwks_url).
    pub fn openid_config_url(&self) -> &str {
        &self.inner.info.openid_configuration_url
    }

    /// Issuer of callback tokens.
    pub fn callback_issuer(&self) -> &str {
        &self.inner.info.callback_issuer
    }

    /// Base URL for Graph requests (`{this}/v1.0/users/...`).
    pub fn graph_base_url(&self) -> &str {
        &self.inner.info.graph_base_url
    }

    /// The Azure AI services endpoint a deployment answers calls with, so text prompts play
    /// (`callIntelligenceOptions.cognitiveServicesEndpoint`; ADR 0009).
    pub fn cognitive_services_endpoint(&self) -> &str {
        &self.inner.info.cognitive_services_endpoint
    }

    /// Base URL of the HTTP control API (`/__sim`): what the methods of this handle do, for
    /// tests and tools in another process.
    pub fn control_url(&self) -> &str {
        &self.inner.info.control_url
    }

    /// Everything above in one value (what `switchboard sim` prints).
    pub fn info(&self) -> &SimInfo {
        &self.inner.info
    }

    /// Stop serving, stop timers and callback delivery, and wait for the server to finish
    /// in-flight requests.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let task = self
            .inner
            .server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            if tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
            {
                tracing::warn!("simulator server did not stop within 10 s");
            }
        }
    }

    /// Add or replace agents.
    pub fn seed_agents(&self, agents: Vec<AgentSpec>) -> Result<(), SimError> {
        self.inner.engine.upsert_agents(agents)
    }

    /// Apply a whole seed (agents, numbers, faults, timing).
    pub fn apply_seed(&self, seed: crate::config::Seed) -> Result<(), SimError> {
        crate::engine::control::apply_seed(&self.inner.engine, seed)
    }

    /// Set (or, with `None`, clear) the Teams tenant's interop settings: Teams users they do
    /// not let this resource reach fail invitations and transfers with 403 / 10124 (ADR 0010).
    pub fn set_tenant_policy(&self, tenant: Option<crate::tenant::TenantPolicy>) {
        self.inner.engine.set_tenant(tenant);
    }

    /// Change what an agent does when invited (takes effect for the next invitation).
    pub fn set_agent_behaviour(&self, agent: &str, behaviour: Behaviour) -> Result<(), SimError> {
        self.inner.engine.set_behaviour(agent, behaviour)
    }

    /// Change an agent's Graph presence (while not in a simulated call).
    pub fn set_agent_presence(
        &self,
        agent: &str,
        availability: &str,
        activity: &str,
    ) -> Result<(), SimError> {
        self.inner.engine.set_presence(
            agent,
            PresenceSpec {
                availability: availability.into(),
                activity: activity.into(),
            },
        )
    }

    /// Change how long an agent talks before hanging up (`None` = until removed).
    pub fn set_agent_talk_time(
        &self,
        agent: &str,
        talk_time: Option<Duration>,
    ) -> Result<(), SimError> {
        self.inner.engine.set_talk_time(agent, talk_time)
    }

    /// Removes an agent from the roster and Graph. Calls the agent is in carry on.
    /// [`SimError::UnknownAgent`] if there is no such agent.
    pub fn remove_agent(&self, agent: &str) -> Result<(), SimError> {
        self.inner.engine.remove_agent(agent)
    }

    /// Agents with live presence.
    pub fn agents(&self) -> Vec<AgentSnapshot> {
        self.inner.engine.agents()
    }

    /// One agent with live presence; `None` if unknown.
    pub fn agent(&self, agent: &str) -> Option<AgentSnapshot> {
        self.inner.engine.agent(agent)
    }

    /// Register a number customers can dial.
    pub fn add_number(&self, number: NumberSpec) -> Result<(), SimError> {
        self.inner.engine.add_numbers(vec![number])
    }

    /// Place a customer call (publishes `IncomingCall`).
    pub fn start_call(&self, req: StartCall) -> Result<CallHandle, SimError> {
        self.inner.engine.start_call(req)
    }

    /// The caller presses keys (`0-9 * # A-D`). `call` is any id of the call.
    pub fn press_digits(&self, call: &str, digits: &str) -> Result<(), SimError> {
        self.inner.engine.press_digits(call, digits)
    }

    /// The caller hangs up.
    pub fn hang_up_caller(&self, call: &str) -> Result<(), SimError> {
        self.inner.engine.hang_up_caller(call)
    }

    /// The whole effects ledger.
    pub fn ledger(&self) -> Ledger {
        self.inner.engine.ledger()
    }

    /// Effects of one call (any of its ids).
    pub fn call_effects(&self, call: &str) -> Option<CallEffects> {
        let corr = self
            .inner
            .engine
            .resolve(call)
            .unwrap_or_else(|| call.to_owned());
        self.inner.engine.ledger().call(&corr).cloned()
    }

    /// A call's timeline (any of its ids), oldest first.
    pub fn timeline(&self, call: &str) -> Vec<TimelineEntry> {
        match self.inner.engine.resolve(call) {
            Some(corr) => self.inner.engine.timeline(&corr),
            None => Vec::new(),
        }
    }

    /// The state of a call (any of its ids).
    pub fn call(&self, call: &str) -> Option<CallSnapshot> {
        self.inner.engine.call_snapshot(call)
    }

    /// All calls.
    pub fn calls(&self) -> Vec<CallSnapshot> {
        self.inner.engine.calls()
    }

    /// Live stream of timeline entries of all calls (lagging receivers skip entries).
    pub fn subscribe(&self) -> broadcast::Receiver<TimelineEntry> {
        self.inner.engine.subscribe()
    }

    /// Replace all faults.
    pub fn set_faults(&self, faults: Faults) -> Result<(), SimError> {
        crate::faults::check_faults(&faults)?;
        self.inner.engine.faults.set(faults);
        Ok(())
    }

    /// Current faults (with remaining counts).
    pub fn faults(&self) -> Faults {
        self.inner.engine.faults.get()
    }

    /// Replace the timing.
    pub fn set_timing(&self, timing: Timing) {
        self.inner.engine.set_timing(timing)
    }

    /// The timing in force (as set by the configuration, a seed or [`set_timing`](Self::set_timing)).
    pub fn timing(&self) -> Timing {
        self.inner.engine.timing()
    }

    /// Forget all calls, recordings, repeatability ids, the ledger and timelines (agents and
    /// numbers stay).
    pub fn reset(&self) {
        self.inner.engine.reset();
        self.inner.requests.clear();
    }

    /// Where IncomingCall messages go from now on.
    pub fn set_sink(&self, sink: Arc<dyn EventGridSink>) {
        self.inner.engine.publisher.set_sink(Some(sink))
    }

    /// Stop delivering (messages stay in the outbox only).
    pub fn clear_sink(&self) {
        self.inner.engine.publisher.set_sink(None)
    }

    /// Every IncomingCall message published (newest last, bounded).
    pub fn eventgrid_outbox(&self) -> Vec<SinkMessage> {
        self.inner.engine.publisher.outbox()
    }

    /// Every request received on a service surface, oldest first (bounded by
    /// `SimConfig::request_log_capacity`). Headers and bodies are as sent, secrets included;
    /// `Debug` and JSON renderings redact them.
    pub fn requests(&self) -> Vec<crate::request_log::RecordedRequest> {
        self.inner.requests.all()
    }

    /// The requests received and forget them, so the next look sees only what follows.
    pub fn take_requests(&self) -> Vec<crate::request_log::RecordedRequest> {
        self.inner.requests.take()
    }

    /// Forget the requests received so far.
    pub fn clear_requests(&self) {
        self.inner.requests.clear()
    }
}
