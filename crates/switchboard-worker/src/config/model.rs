//! The sections of the configuration and how a file becomes a [`Config`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Exit code for a configuration error (sysexits `EX_USAGE`).
pub const EXIT_CONFIG: u8 = 64;

/// Default Call Automation REST API version.
pub(crate) const DEFAULT_API_VERSION: &str = "2026-03-12";
/// ACS's OpenID configuration for callback JWTs.
pub(crate) const ACS_OPENID_CONFIG_URL: &str =
    "https://acscallautomation.communication.azure.com/calling/.well-known/acsopenidconfiguration";
/// Issuer of ACS callback JWTs.
pub(crate) const ACS_ISSUER: &str = "https://acscallautomation.communication.azure.com";

// One type for secrets and configuration errors across the workspace: the routing crate's
// errors need no conversion, and adapters get the same redaction.
pub use switchboard_core::{ConfigError, Secret};

/// How the ingress authenticates callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IngressAuth {
    /// Verify the `Authorization: Bearer` JWT against the OpenID configuration (production).
    #[default]
    Jwt,
    /// Accept unauthenticated callbacks. Only for local experiments; logged loudly at start.
    None,
}

/// How the Event Grid webhook (`POST /api/incoming-calls`) authenticates deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EventGridAuth {
    /// Microsoft Entra protected webhook delivery: Event Grid puts an Entra access token for
    /// the configured application on every delivery
    /// (<https://learn.microsoft.com/azure/event-grid/secure-webhook-delivery>).
    #[default]
    Entra,
    /// No authentication: only allowed when the ingress listens on loopback (the local
    /// simulator's deliveries).
    None,
}

/// The application id Microsoft Entra gives Event Grid in the public cloud: the `appid` /
/// `azp` of the tokens it puts on webhook deliveries. The secure webhook delivery scripts name
/// it (`$eventGridAppId = "4962773b-9cdb-44cf-a8bf-237846a00ab7" # Azure Public Cloud`;
/// Azure Government: `54316b56-3481-47f9-8f30-0300f5542a7b`),
/// <https://learn.microsoft.com/azure/event-grid/scripts/powershell-webhook-secure-delivery-microsoft-entra-app>.
pub const EVENT_GRID_APP_ID: &str = "4962773b-9cdb-44cf-a8bf-237846a00ab7";

/// Service Bus standard's message (and batch) size limit: the ingress splits what it
/// publishes to stay under it.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// The whole configuration, one section per TOML table.
pub struct Config {
    /// `[acs]`: Call Automation.
    pub acs: AcsConfig,
    /// `[queue]`: both message queues.
    pub queue: QueueSection,
    /// `[store]`: call and agent state.
    pub store: StoreSection,
    /// `[worker]`: the worker process.
    pub worker: WorkerConfig,
    /// `[ingress]`: the callback ingress.
    pub ingress: IngressConfig,
    /// `[graph]`: Microsoft Graph presence.
    pub graph: GraphConfig,
    /// `[telemetry]`: logs, metrics, traces.
    pub telemetry: TelemetryConfig,
    /// `[stats]`: queue statistics and call history.
    pub stats: super::stats::StatsConfig,
    /// Routing: roster, queues, strategies (see `switchboard-routing`). Kept as TOML here and
    /// parsed by the routing crate, so its errors name keys under `routing.`.
    pub routing: Option<toml::Table>,
    /// Backend keys' environment overrides (see [`Config::setting`]).
    #[serde(skip)]
    pub(super) env: EnvSnapshot,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[acs]`: how to reach Call Automation and which calls are ours.
pub struct AcsConfig {
    /// `https://<resource>.communication.azure.com`; with no connection string, Entra auth.
    pub endpoint: Option<String>,
    /// `endpoint=…;accesskey=…` (HMAC auth).
    pub connection_string: Option<Secret>,
    /// The ACS resource's immutable id: the audience of callback JWTs.
    pub resource_id: Option<String>,
    /// Public URL of the ingress callback endpoint (`…/api/callbacks`).
    pub callback_url: Option<String>,
    /// Call Automation REST API version.
    pub api_version: String,
    /// Shown to Teams agents when the call rings (`sourceDisplayName`).
    pub source_display_name: String,
    /// Phone numbers / raw ids we serve; IncomingCall to anything else is ignored.
    pub numbers: Vec<String>,
    /// Total deadline for one Call Automation operation including retries.
    pub command_deadline_ms: u64,
    /// Attempts per Call Automation operation, the first included.
    pub max_attempts: u32,
    /// The Azure AI services endpoint (`https://<name>.cognitiveservices.azure.com/`) sent as
    /// `callIntelligenceOptions.cognitiveServicesEndpoint` when answering or creating a call.
    /// Text and SSML prompts and recognize with a text prompt only work on such calls, so a
    /// routing configuration with one requires it; audio-file prompts need nothing.
    pub cognitive_services_endpoint: Option<String>,
}

impl Default for AcsConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            connection_string: None,
            resource_id: None,
            callback_url: None,
            api_version: DEFAULT_API_VERSION.to_string(),
            source_display_name: "Contoso Support".to_string(),
            numbers: Vec::new(),
            command_deadline_ms: 15_000,
            max_attempts: 5,
            cognitive_services_endpoint: None,
        }
    }
}

/// The `[queue]` section: what every queue backend shares, plus the chosen backend's own keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct QueueSection {
    /// The backend: the [`kind`](crate::backend::QueueBackend::kind) of a registered
    /// [`QueueBackend`](crate::backend::QueueBackend) (`sqlite`, `servicebus`).
    pub kind: String,
    /// Queue Event Grid delivers IncomingCall to (not sessionful).
    pub incoming_queue: String,
    /// Queue the ingress publishes callbacks to (sessionful, session = correlationId).
    pub events_queue: String,
    /// Plain queue only the ingress uses: events it refuses are dead letters here, with the
    /// reason (`switchboard dlq` lists them).
    pub rejects_queue: String,
    /// Peek-lock duration of the call-events (session) queue: how long a crashed worker's
    /// call waits before another replica takes it over.
    pub lock_duration_secs: u64,
    /// Peek-lock duration of the incoming-call queue. Short, because an `IncomingCall` rings
    /// for only 30 s: a worker that crashes holding one must give it back in time for another
    /// replica to answer. Handlers renew the lock while they work, so a short lock costs a
    /// renewal every third of it, not a redelivery. Service Bus allows 5 s to 5 min.
    pub incoming_lock_duration_secs: u64,
    /// Deliveries before a message is dead-lettered.
    pub max_delivery_count: u32,
    /// Every other key (`sqlite_path`, `servicebus_namespace`, …): the backends own them, and
    /// [`EngineHooks::validate`](crate::backend::EngineHooks::validate) rejects a key no
    /// registered backend declares. (Serde cannot deny unknown fields beside a flattened map.)
    #[serde(flatten)]
    pub settings: Settings,
    /// Where `kind` came from, so an error names the key the operator set.
    #[serde(skip)]
    pub(super) kind_key: KindKey,
}

impl Default for QueueSection {
    fn default() -> Self {
        Self {
            kind: "sqlite".into(),
            incoming_queue: "incoming-calls".into(),
            events_queue: "call-events".into(),
            rejects_queue: "ingress-rejects".into(),
            lock_duration_secs: 30,
            incoming_lock_duration_secs: 5,
            max_delivery_count: 10,
            settings: Settings::default(),
            kind_key: KindKey::default(),
        }
    }
}

/// The `[store]` section: the backend's kind plus its own keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StoreSection {
    /// The backend: the [`kind`](crate::backend::StoreBackend::kind) of a registered
    /// [`StoreBackend`](crate::backend::StoreBackend) (`sqlite`, `redis`).
    pub kind: String,
    /// Every other key (`sqlite_path`, `redis_url`, `key_prefix`, …), owned by the backends.
    #[serde(flatten)]
    pub settings: Settings,
    #[serde(skip)]
    pub(super) kind_key: KindKey,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            kind: "sqlite".into(),
            settings: Settings::default(),
            kind_key: KindKey::default(),
        }
    }
}

/// Whether a section's `kind` was set by the environment (and which variable).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct KindKey(pub(super) Option<&'static str>);

/// A backend's keys in its section, as written in the file. Values are never shown in
/// `Debug`: backends keep secrets here (connection strings, URLs with passwords).
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Settings(BTreeMap<String, toml::Value>);

impl Settings {
    /// Set `key` (as the file would).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<toml::Value>) {
        self.0.insert(key.into(), value.into());
    }
    /// Remove `key`.
    pub fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }
    /// The keys present.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
    fn get(&self, key: &str) -> Option<&toml::Value> {
        self.0.get(key)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// A backend-specific key of `[queue]` or `[store]`, and the environment variable that
/// overrides it (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key in the section (`servicebus_namespace`).
    pub name: &'static str,
    /// The variable that overrides it (`SWITCHBOARD_SERVICEBUS_NAMESPACE`).
    pub env: Option<&'static str>,
}

/// Which section a [`Key`] lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `[queue]`
    Queue,
    /// `[store]`
    Store,
}

impl Section {
    /// The table name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Queue => "queue",
            Self::Store => "store",
        }
    }
}

/// The `SWITCHBOARD_*` environment as loaded. Backend keys are resolved against it when read
/// (file, then environment), because which variables a backend reads is known only to the
/// backends registered in the binary, not when the file is loaded.
#[derive(Clone, Default)]
pub(super) struct EnvSnapshot(pub(super) BTreeMap<String, String>);

impl fmt::Debug for EnvSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[worker]`: concurrency, shutdown and the status listener.
pub struct WorkerConfig {
    /// Messages handled at once by one worker process.
    pub concurrency: usize,
    /// Of `concurrency`, the slots only IncomingCall (the plain queue) may use: a burst of
    /// callback sessions cannot starve a ringing call. The rest (`concurrency -
    /// incoming_reserved`) is the number of calls' sessions one replica holds, which is also
    /// the per-replica KEDA target in infra/modules/apps.bicep.
    pub incoming_reserved: usize,
    /// How long in-flight handlers may run after SIGTERM before they are abandoned.
    pub grace_period_secs: u64,
    /// Port for `/metrics` and `/healthz` (0 = pick one; absent = no listener).
    pub metrics_port: Option<u16>,
    /// Longest single receive wait.
    pub receive_wait_ms: u64,
    /// The deployment's key (base64, at least 32 bytes) that seals internal messages
    /// (timers) so a worker can tell them from anything published through the ingress.
    /// Unset: the first worker generates one and keeps it in the store for all replicas.
    pub internal_key: Option<Secret>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            incoming_reserved: 2,
            grace_period_secs: 20,
            metrics_port: None,
            receive_wait_ms: 1_000,
            internal_key: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[ingress]`: listener, body limit and callback authentication.
pub struct IngressConfig {
    /// Listen address.
    pub bind: String,
    /// Listen port.
    pub port: u16,
    /// Largest callback body accepted.
    pub max_body_bytes: usize,
    /// How callbacks are authenticated.
    pub auth: IngressAuth,
    /// OpenID configuration the callback JWT keys come from.
    pub openid_config_url: String,
    /// Expected `iss` of callback JWTs.
    pub issuer: String,
    /// Defaults to `acs.resource_id`.
    pub audience: Option<String>,
    /// Tolerated clock difference when checking JWT times.
    pub clock_skew_secs: u64,
    /// Serve `POST /api/incoming-calls` for Event Grid webhook delivery of IncomingCall
    /// (subscription-validation handshake included). Off by default: the production path is
    /// Event Grid → Service Bus.
    pub eventgrid_webhook: bool,
    /// How webhook deliveries are authenticated; `none` only on a loopback `bind`.
    pub eventgrid_auth: EventGridAuth,
    /// Microsoft Entra tenant of the webhook's application (`entra`): the issuers
    /// `https://login.microsoftonline.com/{tenant}/v2.0` and `https://sts.windows.net/{tenant}/`.
    pub eventgrid_tenant_id: Option<String>,
    /// Accepted `aud` values: the webhook application's id URI and/or client id.
    pub eventgrid_audiences: Vec<String>,
    /// The `appid` / `azp` the token must carry: Event Grid's application.
    pub eventgrid_app_id: String,
    /// Where the tenant's signing keys are found; defaults to
    /// `https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration`.
    pub eventgrid_openid_config_url: Option<String>,
    /// Largest queue message (and batch) the ingress publishes; a bigger batch is split, a
    /// bigger single event is dead-lettered. Service Bus standard allows 256 KiB.
    pub max_message_bytes: usize,
    /// A request (body read and publish included) taking longer is answered 408/503.
    pub request_timeout_secs: u64,
    /// Requests served at once; more wait (load shedding is the platform's job).
    pub max_concurrent_requests: usize,
    /// Address of the status listener (`/metrics`, `/healthz`, `/readyz`): never the public
    /// port. Loopback unless the platform scrapes it from outside.
    pub status_bind: String,
    /// Port of the status listener (`SWITCHBOARD_METRICS_PORT`); none = no status listener.
    pub status_port: Option<u16>,
}

impl Default for IngressConfig {
    fn default() -> Self {
        Self {
            bind: "0.0.0.0".into(),
            port: 8080,
            max_body_bytes: 1024 * 1024,
            auth: IngressAuth::Jwt,
            openid_config_url: ACS_OPENID_CONFIG_URL.into(),
            issuer: ACS_ISSUER.into(),
            audience: None,
            clock_skew_secs: 60,
            eventgrid_webhook: false,
            eventgrid_auth: EventGridAuth::Entra,
            eventgrid_tenant_id: None,
            eventgrid_audiences: Vec::new(),
            eventgrid_app_id: EVENT_GRID_APP_ID.into(),
            eventgrid_openid_config_url: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            request_timeout_secs: 30,
            max_concurrent_requests: 512,
            status_bind: "127.0.0.1".into(),
            status_port: Some(9091),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[graph]`: Microsoft Graph for the roster and presence.
pub struct GraphConfig {
    /// Graph endpoint (the simulator's in tests).
    pub base_url: String,
    /// Tenant of the agents.
    pub tenant_id: Option<String>,
    /// A static bearer token (tests, the simulator). Otherwise managed identity.
    pub token: Option<Secret>,
    /// User-assigned managed identity (`AZURE_CLIENT_ID`); system-assigned without it.
    pub client_id: Option<String>,
    /// How long a presence reading is reused.
    pub presence_ttl_secs: u64,
    /// Graph is optional: without it routing uses the roster and store state alone.
    pub enabled: bool,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            base_url: "https://graph.microsoft.com".into(),
            tenant_id: None,
            token: None,
            client_id: None,
            presence_ttl_secs: 30,
            enabled: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[telemetry]`: log format and exporters.
pub struct TelemetryConfig {
    /// One JSON object per log line.
    pub json_logs: bool,
    /// OTLP/HTTP collector for metrics and traces.
    pub otlp_endpoint: Option<String>,
    /// Application Insights, when set.
    pub appinsights_connection_string: Option<Secret>,
}

/// What a process needs from the configuration: validation differs per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `switchboard worker`: everything but the ingress settings.
    Worker,
    /// `switchboard ingress`: the queues and the callback checks.
    Ingress,
    /// replay / dlq: only the queue.
    QueueTool,
}

impl Config {
    /// Parse a TOML document. Errors name the key (`acs.endpoint`, …).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        toml::from_str::<Config>(text).map_err(|e| {
            let key = e
                .span()
                .and_then(|s| key_at(text, s.start))
                .unwrap_or_else(|| "<file>".to_string());
            ConfigError::new(key, e.message().to_string())
        })
    }

    /// Load: the file (when given or named by `SWITCHBOARD_CONFIG`), then the environment.
    pub fn load(path: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let path = path
            .map(Path::to_path_buf)
            .or_else(|| env.get("SWITCHBOARD_CONFIG").map(PathBuf::from));
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    ConfigError::new("SWITCHBOARD_CONFIG", format!("{}: {e}", p.display()))
                })?;
                Self::from_toml_str(&text)?
            }
            None => Self::default(),
        };
        cfg.apply_env(env)?;
        Ok(cfg)
    }

    /// The ingress listen address.
    pub fn ingress_addr(&self) -> Result<SocketAddr, ConfigError> {
        format!("{}:{}", self.ingress.bind, self.ingress.port)
            .parse()
            .map_err(|e| ConfigError::new("ingress.bind", format!("{e}")))
    }

    /// True when the ingress listens on a loopback address only.
    pub fn ingress_is_loopback(&self) -> bool {
        self.ingress_addr().is_ok_and(|a| a.ip().is_loopback())
    }

    /// The OpenID configuration of the Event Grid webhook's tenant.
    pub(crate) fn eventgrid_openid_config_url(&self) -> Option<String> {
        self.ingress.eventgrid_openid_config_url.clone().or_else(|| {
            self.ingress.eventgrid_tenant_id.as_ref().map(|t| {
                format!("https://login.microsoftonline.com/{t}/v2.0/.well-known/openid-configuration")
            })
        })
    }

    /// The JWT audience the ingress expects.
    pub(crate) fn jwt_audience(&self) -> Option<&str> {
        self.ingress
            .audience
            .as_deref()
            .or(self.acs.resource_id.as_deref())
    }

    /// A backend key's value: its environment variable when set, else the file's string.
    /// A value of another type is an error naming the key.
    pub fn setting(&self, section: Section, key: &Key) -> Result<Option<String>, ConfigError> {
        if let Some(v) = key.env.and_then(|e| self.env.0.get(e)) {
            return Ok(Some(v.clone()));
        }
        let settings = match section {
            Section::Queue => &self.queue.settings,
            Section::Store => &self.store.settings,
        };
        match settings.get(key.name) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ConfigError::new(
                format!("{}.{}", section.name(), key.name),
                format!("invalid type: {}, expected a string", other.type_str()),
            )),
        }
    }

    /// Which key to name in an error about a section's `kind`: the variable that set it, or
    /// the file's key.
    pub(crate) fn kind_key(&self, section: Section) -> &'static str {
        let (from_env, key) = match section {
            Section::Queue => (self.queue.kind_key.0, "queue.kind"),
            Section::Store => (self.store.kind_key.0, "store.kind"),
        };
        from_env.unwrap_or(key)
    }

    pub(crate) fn command_deadline(&self) -> Duration {
        Duration::from_millis(self.acs.command_deadline_ms)
    }

    /// How long in-flight handlers may finish after SIGTERM.
    pub fn grace_period(&self) -> Duration {
        Duration::from_secs(self.worker.grace_period_secs)
    }
}

/// Best effort: the dotted key of the TOML line an error points at.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset.min(text.len()))?;
    let mut table = String::new();
    for line in before.lines() {
        let l = line.trim();
        if l.starts_with('[') && l.ends_with(']') {
            table = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
    }
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line
        .split('=')
        .next()
        .map(str::trim)
        .filter(|k| !k.is_empty() && !k.starts_with('[') && !k.starts_with('#'));
    match (table.is_empty(), key) {
        (true, Some(k)) => Some(k.to_string()),
        (false, Some(k)) => Some(format!("{table}.{k}")),
        (false, None) => Some(table),
        (true, None) => None,
    }
}
