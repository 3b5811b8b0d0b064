//! Validation: everything a process of a given role needs, checked before any network I/O,
//! each failure naming its key.

use super::model::*;

impl Config {
    /// Check everything a process of `role` needs, before any network I/O — except the
    /// queue and store backends' own keys: only the registered backends know those, so
    /// [`EngineHooks::validate`](crate::backend::EngineHooks::validate) checks them (the `build_*`
    /// and `open_*` functions of [`app`](crate::app) call it before they connect).
    pub fn validate(&self, role: Role) -> Result<(), ConfigError> {
        self.stats.validate()?;
        if let Some(e) = &self.telemetry.otlp_endpoint {
            check_url("telemetry.otlp_endpoint", e)?;
        }
        non_empty("queue.incoming_queue", &self.queue.incoming_queue)?;
        non_empty("queue.events_queue", &self.queue.events_queue)?;
        non_empty("queue.rejects_queue", &self.queue.rejects_queue)?;
        if self.queue.lock_duration_secs == 0 || self.queue.lock_duration_secs > 300 {
            return Err(ConfigError::new(
                "queue.lock_duration_secs",
                "must be between 1 and 300 (Service Bus allows at most 5 minutes)",
            ));
        }
        if self.queue.incoming_lock_duration_secs == 0
            || self.queue.incoming_lock_duration_secs > 300
        {
            return Err(ConfigError::new(
                "queue.incoming_lock_duration_secs",
                "must be between 1 and 300 (Service Bus allows 5 s to 5 minutes)",
            ));
        }
        if self.queue.incoming_lock_duration_secs >= 30 {
            tracing::warn!(
                incoming_lock_duration_secs = self.queue.incoming_lock_duration_secs,
                "queue.incoming_lock_duration_secs is not shorter than the 30 s an IncomingCall \
                 rings: a call held by a worker that crashes will stop ringing before another \
                 replica can answer it"
            );
        }
        if self.queue.max_delivery_count == 0 {
            return Err(ConfigError::new(
                "queue.max_delivery_count",
                "must be at least 1",
            ));
        }
        if role == Role::QueueTool {
            return Ok(());
        }
        match role {
            Role::Worker => {
                if self.acs.endpoint.is_none() && self.acs.connection_string.is_none() {
                    return Err(ConfigError::new(
                        "acs.endpoint",
                        "set acs.endpoint (Entra auth) or acs.connection_string (access key)",
                    ));
                }
                if let Some(e) = &self.acs.endpoint {
                    check_url("acs.endpoint", e)?;
                }
                if let Some(cs) = &self.acs.connection_string {
                    check_connection_string(cs.expose())?;
                }
                if let Some(key) = &self.worker.internal_key {
                    crate::seal::Seal::from_config(key, "worker.internal_key")?;
                }
                match &self.acs.callback_url {
                    None => {
                        return Err(ConfigError::new(
                            "acs.callback_url",
                            "required: the public URL of the ingress (…/api/callbacks)",
                        ))
                    }
                    Some(u) => check_url("acs.callback_url", u)?,
                }
                non_empty("acs.api_version", &self.acs.api_version)?;
                if let Some(e) = &self.acs.cognitive_services_endpoint {
                    check_url("acs.cognitive_services_endpoint", e)?;
                }
                if self.worker.concurrency == 0 {
                    return Err(ConfigError::new("worker.concurrency", "must be at least 1"));
                }
                if self.worker.concurrency > 1
                    && self.worker.incoming_reserved >= self.worker.concurrency
                {
                    return Err(ConfigError::new(
                        "worker.incoming_reserved",
                        format!(
                            "must be less than worker.concurrency ({}): sessions need at least one slot",
                            self.worker.concurrency
                        ),
                    ));
                }
                if self.acs.max_attempts == 0 {
                    return Err(ConfigError::new("acs.max_attempts", "must be at least 1"));
                }
                if self.graph.enabled {
                    check_url("graph.base_url", &self.graph.base_url)?;
                }
            }
            Role::Ingress => {
                if self.ingress.auth == IngressAuth::Jwt {
                    check_url("ingress.openid_config_url", &self.ingress.openid_config_url)?;
                    non_empty("ingress.issuer", &self.ingress.issuer)?;
                    if self.ingress.audience.is_none() && self.acs.resource_id.is_none() {
                        return Err(ConfigError::new(
                            "acs.resource_id",
                            "required for JWT validation (the audience of ACS callback tokens); or set ingress.audience",
                        ));
                    }
                }
                self.ingress_addr()?;
                let loopback = self.ingress_is_loopback();
                if self.ingress.auth == IngressAuth::None && !loopback {
                    return Err(ConfigError::new(
                        "ingress.auth",
                        "\"none\" is only allowed when ingress.bind is a loopback address (callbacks would be accepted from anyone)",
                    ));
                }
                if self.ingress.eventgrid_webhook {
                    self.validate_eventgrid(loopback)?;
                }
                if self.ingress.max_message_bytes < 1024 {
                    return Err(ConfigError::new(
                        "ingress.max_message_bytes",
                        "must be at least 1024",
                    ));
                }
                if self.ingress.request_timeout_secs == 0 {
                    return Err(ConfigError::new(
                        "ingress.request_timeout_secs",
                        "must be at least 1",
                    ));
                }
                if self.ingress.max_concurrent_requests == 0 {
                    return Err(ConfigError::new(
                        "ingress.max_concurrent_requests",
                        "must be at least 1",
                    ));
                }
                format!("{}:0", self.ingress.status_bind)
                    .parse::<std::net::SocketAddr>()
                    .map_err(|e| ConfigError::new("ingress.status_bind", e.to_string()))?;
                if self.ingress.max_body_bytes < 1024 {
                    return Err(ConfigError::new(
                        "ingress.max_body_bytes",
                        "must be at least 1024",
                    ));
                }
            }
            Role::QueueTool => {}
        }
        Ok(())
    }
}

impl Config {
    /// The Event Grid webhook: Entra authentication fully configured, or none on loopback.
    fn validate_eventgrid(&self, loopback: bool) -> Result<(), ConfigError> {
        let i = &self.ingress;
        match i.eventgrid_auth {
            EventGridAuth::None if !loopback => Err(ConfigError::new(
                "ingress.eventgrid_auth",
                "the Event Grid webhook needs authentication (\"entra\") unless ingress.bind is a loopback address",
            )),
            EventGridAuth::None => Ok(()),
            EventGridAuth::Entra => {
                match &i.eventgrid_tenant_id {
                    Some(t) if !t.trim().is_empty() => {}
                    _ => {
                        return Err(ConfigError::new(
                            "ingress.eventgrid_tenant_id",
                            "required with eventgrid_auth = \"entra\": the tenant of the webhook's Microsoft Entra application",
                        ))
                    }
                }
                if i.eventgrid_audiences.iter().all(|a| a.trim().is_empty()) {
                    return Err(ConfigError::new(
                        "ingress.eventgrid_audiences",
                        "required with eventgrid_auth = \"entra\": the webhook application's id URI and/or client id",
                    ));
                }
                non_empty("ingress.eventgrid_app_id", &i.eventgrid_app_id)?;
                if let Some(u) = &i.eventgrid_openid_config_url {
                    check_url("ingress.eventgrid_openid_config_url", u)?;
                }
                Ok(())
            }
        }
    }
}

fn non_empty(key: &str, v: &str) -> Result<(), ConfigError> {
    if v.trim().is_empty() {
        Err(ConfigError::new(key, "must not be empty"))
    } else {
        Ok(())
    }
}

fn check_url(key: &str, v: &str) -> Result<(), ConfigError> {
    match url::Url::parse(v) {
        Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => Ok(()),
        Ok(_) => Err(ConfigError::new(
            key,
            format!("`{v}` is not an http(s) URL"),
        )),
        Err(e) => Err(ConfigError::new(key, format!("`{v}` is not a URL: {e}"))),
    }
}

fn check_connection_string(cs: &str) -> Result<(), ConfigError> {
    let mut endpoint = None;
    let mut key = None;
    for part in cs.split(';') {
        if let Some((k, v)) = part.split_once('=') {
            match k.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(v.trim()),
                "accesskey" => key = Some(v.trim()),
                _ => {}
            }
        }
    }
    let key_name = "acs.connection_string";
    let endpoint = endpoint.ok_or_else(|| ConfigError::new(key_name, "has no `endpoint=` part"))?;
    check_url(key_name, endpoint)
        .map_err(|_| ConfigError::new(key_name, "its `endpoint=` is not an http(s) URL"))?;
    let key = key.ok_or_else(|| ConfigError::new(key_name, "has no `accesskey=` part"))?;
    switchboard_contract::hmac::AccessKey::from_base64(key)
        .map_err(|_| ConfigError::new(key_name, "its `accesskey=` is not valid base64"))?;
    Ok(())
}
