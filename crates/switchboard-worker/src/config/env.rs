//! `SWITCHBOARD_*` environment overrides: the names infra may set, and how each applies.

use std::collections::BTreeMap;

use super::model::*;

/// Every environment variable the binary reads. Infra (Bicep) may only set names from this list;
/// a test compares the two. The queue/store backend variables are declared by each backend
/// ([`Key::env`]); they are listed here too because infra sets them, and the drift test checks
/// each backend's variables appear here.
pub const ENV_VARS: &[&str] = &[
    "SWITCHBOARD_CONFIG",
    "SWITCHBOARD_QUEUE",
    "SWITCHBOARD_SERVICEBUS_NAMESPACE",
    "SWITCHBOARD_SERVICEBUS_QUEUE",
    "SWITCHBOARD_SERVICEBUS_CONNECTION_STRING",
    "SWITCHBOARD_STORE",
    "SWITCHBOARD_REDIS_URL",
    "SWITCHBOARD_ACS_ENDPOINT",
    "SWITCHBOARD_ACS_CONNECTION_STRING",
    "SWITCHBOARD_ACS_RESOURCE_ID",
    "SWITCHBOARD_CALLBACK_URL",
    "SWITCHBOARD_COGNITIVE_SERVICES_ENDPOINT",
    "SWITCHBOARD_GRAPH_TENANT_ID",
    "SWITCHBOARD_GRAPH_URL",
    "AZURE_CLIENT_ID",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "SWITCHBOARD_LOG_JSON",
    "SWITCHBOARD_LOG",
    "SWITCHBOARD_INGRESS_PORT",
    "SWITCHBOARD_METRICS_PORT",
    "SWITCHBOARD_INTERNAL_KEY",
    "SWITCHBOARD_SQLITE_PATH",
];

impl Config {
    /// The process environment as a map (what [`Config::load`] takes).
    pub fn process_env() -> BTreeMap<String, String> {
        std::env::vars().collect()
    }

    /// Apply `SWITCHBOARD_*` overrides.
    pub fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        let get = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        // Backend keys (`SWITCHBOARD_SQLITE_PATH`, `SWITCHBOARD_REDIS_URL`, …) are resolved when
        // a backend reads them (`Config::setting`): only the registered backends know them.
        self.env.0.extend(
            env.iter()
                .filter(|(k, v)| k.starts_with("SWITCHBOARD_") && !v.trim().is_empty())
                .map(|(k, v)| (k.clone(), v.trim().to_string())),
        );
        // The backend's name is checked against the registered backends, naming this variable.
        if let Some(v) = get("SWITCHBOARD_QUEUE") {
            self.queue.kind = v;
            self.queue.kind_key = KindKey(Some("SWITCHBOARD_QUEUE"));
        }
        if let Some(v) = get("SWITCHBOARD_STORE") {
            self.store.kind = v;
            self.store.kind_key = KindKey(Some("SWITCHBOARD_STORE"));
        }
        if let Some(v) = get("SWITCHBOARD_SERVICEBUS_QUEUE") {
            self.queue.events_queue = v;
        }
        if let Some(v) = get("SWITCHBOARD_ACS_ENDPOINT") {
            self.acs.endpoint = Some(v);
        }
        if let Some(v) = get("SWITCHBOARD_ACS_CONNECTION_STRING") {
            self.acs.connection_string = Some(Secret::new(v));
        }
        if let Some(v) = get("SWITCHBOARD_ACS_RESOURCE_ID") {
            self.acs.resource_id = Some(v);
        }
        if let Some(v) = get("SWITCHBOARD_CALLBACK_URL") {
            self.acs.callback_url = Some(v);
        }
        if let Some(v) = get("SWITCHBOARD_COGNITIVE_SERVICES_ENDPOINT") {
            self.acs.cognitive_services_endpoint = Some(v);
        }
        if let Some(v) = get("SWITCHBOARD_GRAPH_TENANT_ID") {
            self.graph.tenant_id = Some(v);
            self.graph.enabled = true;
        }
        if let Some(v) = get("SWITCHBOARD_GRAPH_URL") {
            self.graph.base_url = v;
            self.graph.enabled = true;
        }
        if let Some(v) = get("AZURE_CLIENT_ID") {
            self.graph.client_id = Some(v);
        }
        if let Some(v) = get("APPLICATIONINSIGHTS_CONNECTION_STRING") {
            self.telemetry.appinsights_connection_string = Some(Secret::new(v));
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.telemetry.otlp_endpoint = Some(v);
        }
        if let Some(v) = get("SWITCHBOARD_LOG_JSON") {
            self.telemetry.json_logs = parse_bool("SWITCHBOARD_LOG_JSON", &v)?;
        }
        if let Some(v) = get("SWITCHBOARD_INGRESS_PORT") {
            self.ingress.port = parse_port("SWITCHBOARD_INGRESS_PORT", &v)?;
        }
        if let Some(v) = get("SWITCHBOARD_METRICS_PORT") {
            let port = parse_port("SWITCHBOARD_METRICS_PORT", &v)?;
            // One variable for both roles: the worker's status port, the ingress's status
            // listener (a process is one or the other).
            self.worker.metrics_port = Some(port);
            self.ingress.status_port = Some(port);
        }
        if let Some(v) = get("SWITCHBOARD_INTERNAL_KEY") {
            self.worker.internal_key = Some(Secret::new(v));
        }
        Ok(())
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(key, format!("`{v}` is not a boolean"))),
    }
}

fn parse_port(key: &str, v: &str) -> Result<u16, ConfigError> {
    v.parse::<u16>()
        .map_err(|_| ConfigError::new(key, format!("`{v}` is not a port number")))
}
