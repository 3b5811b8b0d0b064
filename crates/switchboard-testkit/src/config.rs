//! The one generator of a deployment's configuration file: the in-process [`Stack`] parses
//! it, the process-level end-to-end harness writes it to disk for real `switchboard`
//! processes. Both therefore run on the same keys.
//!
//! [`Stack`]: crate::Stack
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use switchboard_sim::SimHandle;
use switchboard_worker::config::Config;
use toml::{Table, Value};

/// What a deployment's configuration says about the simulator it talks to.
#[derive(Clone, Debug, Default)]
pub struct SimEndpoints {
    pub connection_string: String,
    pub resource_id: String,
    pub openid_config_url: String,
    pub callback_issuer: String,
    pub graph_base_url: String,
    /// `acs.cognitive_services_endpoint`: text prompts only play on calls answered with it.
    pub cognitive_services_endpoint: String,
}

impl SimEndpoints {
    /// The endpoints of an in-process simulator.
    pub fn of(sim: &SimHandle) -> Self {
        Self {
            connection_string: sim.connection_string().expose().to_string(),
            resource_id: sim.resource_id().to_string(),
            openid_config_url: sim.openid_config_url().to_string(),
            callback_issuer: sim.callback_issuer().to_string(),
            graph_base_url: sim.graph_base_url().to_string(),
            cognitive_services_endpoint: sim.cognitive_services_endpoint().to_string(),
        }
    }
}

/// One deployment's configuration: the simulator, the ingress address, the queue and store
/// files, the routing table. [`DeploymentConfig::to_toml`] renders it.
#[derive(Clone, Debug)]
pub struct DeploymentConfig {
    pub sim: SimEndpoints,
    /// Where the ingress listens; the callback URL is `http://{ingress}/api/callbacks`.
    pub ingress: SocketAddr,
    /// Numbers we serve (`acs.numbers`).
    pub numbers: Vec<String>,
    /// The SQLite queue file (also the store's, unless `store_path` is set).
    pub queue_path: PathBuf,
    pub store_path: Option<PathBuf>,
    pub lock_duration_secs: u64,
    pub max_delivery_count: Option<u32>,
    pub concurrency: usize,
    pub command_deadline_ms: u64,
    /// `worker.grace_period_secs` and `worker.metrics_port`, when not the defaults.
    pub grace_period_secs: Option<u64>,
    pub metrics_port: Option<u16>,
    /// The ingress also takes Event Grid webhook deliveries (`/api/incoming-calls`).
    pub eventgrid_webhook: bool,
    /// Graph presence and roster from the simulator, with this static token.
    pub graph_token: Option<String>,
    /// The `[routing]` table (see [`crate::fixtures`]).
    pub routing: Table,
    /// More `[queue]` / `[store]` keys: another engine (`kind = "servicebus"`, `"redis"`).
    pub queue_extra: Table,
    pub store_extra: Table,
}

impl DeploymentConfig {
    /// A configuration with the defaults of a test deployment.
    pub fn new(sim: SimEndpoints, ingress: SocketAddr, queue_path: PathBuf) -> Self {
        Self {
            sim,
            ingress,
            numbers: Vec::new(),
            queue_path,
            store_path: None,
            lock_duration_secs: 30,
            max_delivery_count: None,
            concurrency: 8,
            command_deadline_ms: 5_000,
            grace_period_secs: None,
            metrics_port: None,
            eventgrid_webhook: false,
            graph_token: None,
            routing: Table::new(),
            queue_extra: Table::new(),
            store_extra: Table::new(),
        }
    }

    /// The configuration file.
    pub fn to_toml(&self) -> String {
        let s = |v: &str| Value::String(v.to_string());
        let path = |p: &Path| Value::String(p.display().to_string());
        let int = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        let mut acs = Table::new();
        acs.insert("connection_string".into(), s(&self.sim.connection_string));
        acs.insert("resource_id".into(), s(&self.sim.resource_id));
        acs.insert(
            "callback_url".into(),
            s(&format!("http://{}/api/callbacks", self.ingress)),
        );
        acs.insert(
            "numbers".into(),
            Value::Array(self.numbers.iter().map(|n| s(n)).collect()),
        );
        acs.insert("command_deadline_ms".into(), int(self.command_deadline_ms));
        if !self.sim.cognitive_services_endpoint.is_empty() {
            acs.insert(
                "cognitive_services_endpoint".into(),
                s(&self.sim.cognitive_services_endpoint),
            );
        }

        let mut queue = Table::new();
        queue.insert("sqlite_path".into(), path(&self.queue_path));
        queue.insert("lock_duration_secs".into(), int(self.lock_duration_secs));
        // Tests that shorten the lock to see redeliveries soon want it on both queues; the
        // incoming queue's own default (5 s) is the longest it gets.
        queue.insert(
            "incoming_lock_duration_secs".into(),
            int(self.lock_duration_secs.min(5)),
        );
        if let Some(n) = self.max_delivery_count {
            queue.insert("max_delivery_count".into(), int(n.into()));
        }
        queue.extend(self.queue_extra.clone());

        let mut store = Table::new();
        if let Some(p) = &self.store_path {
            store.insert("sqlite_path".into(), path(p));
        }
        store.extend(self.store_extra.clone());

        let mut worker = Table::new();
        worker.insert("concurrency".into(), int(self.concurrency as u64));
        if let Some(port) = self.metrics_port {
            worker.insert("metrics_port".into(), int(port.into()));
        }
        if let Some(g) = self.grace_period_secs {
            worker.insert("grace_period_secs".into(), int(g));
        }

        let mut ingress = Table::new();
        ingress.insert("bind".into(), s(&self.ingress.ip().to_string()));
        ingress.insert("port".into(), int(self.ingress.port().into()));
        ingress.insert("auth".into(), s("jwt"));
        ingress.insert("openid_config_url".into(), s(&self.sim.openid_config_url));
        ingress.insert("issuer".into(), s(&self.sim.callback_issuer));
        // Any free port: several stacks run side by side.
        ingress.insert("status_port".into(), int(0));
        if self.eventgrid_webhook {
            ingress.insert("eventgrid_webhook".into(), Value::Boolean(true));
            // The simulator delivers IncomingCall unauthenticated, as a local Event Grid
            // would; configuration allows that only on loopback (the stack's address).
            ingress.insert("eventgrid_auth".into(), s("none"));
        }

        let mut doc = Table::new();
        doc.insert("acs".into(), Value::Table(acs));
        doc.insert("queue".into(), Value::Table(queue));
        if !store.is_empty() {
            doc.insert("store".into(), Value::Table(store));
        }
        doc.insert("worker".into(), Value::Table(worker));
        doc.insert("ingress".into(), Value::Table(ingress));
        if let Some(token) = &self.graph_token {
            let mut graph = Table::new();
            graph.insert("enabled".into(), Value::Boolean(true));
            graph.insert("base_url".into(), s(&self.sim.graph_base_url));
            graph.insert("token".into(), s(token));
            graph.insert("presence_ttl_secs".into(), int(1));
            doc.insert("graph".into(), Value::Table(graph));
        }
        doc.insert("routing".into(), Value::Table(self.routing.clone()));
        toml::to_string(&doc).expect("a TOML table renders")
    }

    /// Writes the configuration file to `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_toml())
    }

    /// The configuration, as a `switchboard` process would load it (without the environment).
    pub fn config(&self) -> Config {
        let text = self.to_toml();
        Config::from_toml_str(&text)
            .unwrap_or_else(|e| panic!("generated configuration does not load: {e}\n{text}"))
    }
}
