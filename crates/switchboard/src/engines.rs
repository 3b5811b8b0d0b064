//! The queue and store backends this binary offers behind `queue.kind` / `store.kind`: the
//! embedded SQLite ones (from `switchboard-worker`), Azure Service Bus for the queues, Redis
//! for the store. Each backend turns its keys into the client's own options (no I/O) and
//! connects in `open`.
//!
//! [`hooks`] is the registry: a new backend is its crate (implementing
//! `switchboard_worker::backend::QueueBackend` or `StoreBackend`) plus one line there.
use std::sync::Arc;

use futures::future::BoxFuture;
use switchboard_redis::{AccessToken, RedisAuth, RedisOptions, RedisStore, TokenSource};
use switchboard_servicebus::{Secret, ServiceBusAuth, ServiceBusNamespace, ServiceBusOptions};
use switchboard_worker::app::AppError;
use switchboard_worker::backend::{
    queue_configs, rejects_queue_config, EngineHooks, QueueBackend, Queues, StoreBackend,
};
use switchboard_worker::config::{Config, ConfigError, Key, Section};

/// Every backend compiled in (the embedded SQLite ones come with [`EngineHooks::default`]).
pub fn hooks() -> EngineHooks {
    EngineHooks::default()
        .with_queue(ServiceBus)
        .with_store(Redis)
}

/// Azure Service Bus queues (`queue.kind = "servicebus"`).
#[derive(Debug, Clone, Copy)]
pub struct ServiceBus;

const SERVICEBUS_NAMESPACE: Key = Key {
    name: "servicebus_namespace",
    env: Some("SWITCHBOARD_SERVICEBUS_NAMESPACE"),
};
const SERVICEBUS_CONNECTION_STRING: Key = Key {
    name: "servicebus_connection_string",
    env: Some("SWITCHBOARD_SERVICEBUS_CONNECTION_STRING"),
};

impl QueueBackend for ServiceBus {
    fn kind(&self) -> &'static str {
        "servicebus"
    }

    fn keys(&self) -> &'static [Key] {
        &[SERVICEBUS_NAMESPACE, SERVICEBUS_CONNECTION_STRING]
    }

    fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        servicebus_options(cfg).map(drop)
    }

    fn describe(&self, cfg: &Config) -> String {
        let ns = cfg
            .setting(Section::Queue, &SERVICEBUS_NAMESPACE)
            .ok()
            .flatten();
        format!(
            "servicebus {}",
            ns.as_deref().unwrap_or("(connection string)")
        )
    }

    fn open<'a>(&'a self, cfg: &'a Config) -> BoxFuture<'a, Result<Queues, AppError>> {
        Box::pin(async move {
            let options = servicebus_options(cfg)?;
            let ns = ServiceBusNamespace::connect(options)
                .await
                .map_err(|e| AppError::startup("service bus", &e, e.is_retryable()))?;
            let (plain, sessions) = queue_configs(cfg);
            let incoming = ns
                .queue(&cfg.queue.incoming_queue, plain)
                .map_err(|e| AppError::startup("service bus", &e, false))?;
            let events = ns
                .queue(&cfg.queue.events_queue, sessions)
                .map_err(|e| AppError::startup("service bus", &e, false))?;
            let rejects = ns
                .queue(&cfg.queue.rejects_queue, rejects_queue_config(cfg))
                .map_err(|e| AppError::startup("service bus", &e, false))?;
            Ok(Queues {
                incoming,
                events,
                rejects,
            })
        })
    }
}

/// A Redis store (`store.kind = "redis"`).
#[derive(Debug, Clone, Copy)]
pub struct Redis;

const REDIS_URL: Key = Key {
    name: "redis_url",
    env: Some("SWITCHBOARD_REDIS_URL"),
};
const KEY_PREFIX: Key = Key {
    name: "key_prefix",
    env: None,
};

impl StoreBackend for Redis {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn keys(&self) -> &'static [Key] {
        &[REDIS_URL, KEY_PREFIX]
    }

    fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        redis_options(cfg).map(drop)
    }

    fn describe(&self, cfg: &Config) -> String {
        format!(
            "redis store (prefix {})",
            key_prefix(cfg).unwrap_or_default()
        )
    }

    fn open<'a>(
        &'a self,
        cfg: &'a Config,
    ) -> BoxFuture<'a, Result<Arc<dyn switchboard_store::Store>, AppError>> {
        Box::pin(async move {
            let options = redis_options(cfg)?;
            let store = RedisStore::connect(options)
                .await
                .map_err(|e| AppError::startup("redis", &e, e.is_retryable()))?;
            Ok(Arc::new(store) as Arc<dyn switchboard_store::Store>)
        })
    }
}

/// `store.key_prefix`, default `switchboard`.
fn key_prefix(cfg: &Config) -> Result<String, ConfigError> {
    Ok(cfg
        .setting(Section::Store, &KEY_PREFIX)?
        .unwrap_or_else(|| "switchboard".to_owned()))
}

/// Scope of Microsoft Entra tokens for Azure Managed Redis / Azure Cache for Redis.
const REDIS_SCOPE: &str = "https://redis.azure.com/.default";

/// `store.redis_url` and `store.key_prefix` as store options. A URL with a user name and no
/// password (what infra/ hands the worker: `rediss://<object id>@host:port`) signs in with a
/// Microsoft Entra token of the managed identity (`AZURE_CLIENT_ID`, system-assigned without
/// it), the object id being the ACL user; otherwise the URL's own credentials are used.
pub fn redis_options(cfg: &Config) -> Result<RedisOptions, ConfigError> {
    let url = cfg.setting(Section::Store, &REDIS_URL)?.ok_or_else(|| {
        ConfigError::new("store.redis_url", "required when store.kind = \"redis\"")
    })?;
    let url = url.trim().to_owned();
    let parsed = url::Url::parse(&url).map_err(|e| {
        ConfigError::new(
            "store.redis_url",
            format!("is not a URL ({e}); expected redis://host:port or rediss://user@host:port"),
        )
    })?;
    if !matches!(parsed.scheme(), "redis" | "rediss") {
        return Err(ConfigError::new(
            "store.redis_url",
            "must start with redis:// or rediss://",
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new("store.redis_url", "has no host"));
    }
    let prefix = key_prefix(cfg)?;
    let prefix = prefix.trim();
    switchboard_redis::validate_prefix(prefix).map_err(|e| {
        let message = match e {
            switchboard_store::StoreError::InvalidInput { message, .. } => message,
            other => other.to_string(),
        };
        ConfigError::new("store.key_prefix", message)
    })?;
    let mut options = RedisOptions::new(url.clone(), prefix);
    if !parsed.username().is_empty() && parsed.password().is_none() {
        options.auth = RedisAuth::Token(Arc::new(EntraRedisToken {
            username: parsed.username().to_owned(),
            client_id: cfg.graph.client_id.clone(),
            credential: std::sync::Mutex::new(None),
        }));
    }
    Ok(options)
}

/// Entra tokens for Redis from the managed identity. One credential for the process: it
/// caches the token, and the Redis client asks for one per new connection (twice, in fact).
#[derive(Debug)]
struct EntraRedisToken {
    username: String,
    client_id: Option<String>,
    credential: std::sync::Mutex<Option<Arc<switchboard_core::entra::ManagedIdentityCredential>>>,
}

impl EntraRedisToken {
    fn credential(
        &self,
    ) -> Result<Arc<switchboard_core::entra::ManagedIdentityCredential>, String> {
        let mut slot = self
            .credential
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = slot.as_ref() {
            return Ok(Arc::clone(c));
        }
        let c = switchboard_core::entra::ManagedIdentityCredential::new(self.client_id.clone())
            .map(Arc::new)
            .map_err(|e| format!("managed identity: {e}"))?;
        *slot = Some(Arc::clone(&c));
        Ok(c)
    }
}

impl TokenSource for EntraRedisToken {
    fn token(&self) -> BoxFuture<'static, Result<AccessToken, String>> {
        let username = self.username.clone();
        let credential = self.credential();
        Box::pin(async move {
            use switchboard_core::entra::TokenCredential;
            let credential = credential?;
            let token = credential
                .get_token(&[REDIS_SCOPE])
                .await
                .map_err(|e| format!("token for {REDIS_SCOPE}: {e}"))?;
            let left = token.expires_on - time::OffsetDateTime::now_utc();
            Ok(AccessToken {
                username,
                token: token.token.expose().to_owned(),
                valid_for: std::time::Duration::try_from(left).unwrap_or_default(),
            })
        })
    }
}

/// How to reach the namespace: `queue.servicebus_connection_string` (SAS; with
/// `UseDevelopmentEmulator=true` it speaks plain AMQP, as the emulator and the test peer
/// need), else `queue.servicebus_namespace` with the managed identity `AZURE_CLIENT_ID` names
/// (system-assigned without it).
pub fn servicebus_options(cfg: &Config) -> Result<ServiceBusOptions, ConfigError> {
    if let Some(cs) = cfg.setting(Section::Queue, &SERVICEBUS_CONNECTION_STRING)? {
        let cs = cs.as_str();
        if !cs.to_ascii_lowercase().contains("endpoint=") {
            return Err(ConfigError::new(
                "queue.servicebus_connection_string",
                "has no Endpoint= (expected Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…)",
            ));
        }
        let emulator = cs
            .split(';')
            .filter_map(|kv| kv.split_once('='))
            .any(|(k, v)| {
                k.trim().eq_ignore_ascii_case("UseDevelopmentEmulator")
                    && v.trim().eq_ignore_ascii_case("true")
            });
        let mut options = ServiceBusOptions::new(ServiceBusAuth::ConnectionString(Secret::new(cs)));
        options.insecure_plaintext = emulator;
        return Ok(options);
    }
    let namespace = cfg
        .setting(Section::Queue, &SERVICEBUS_NAMESPACE)?
        .ok_or_else(|| {
            ConfigError::new(
            "queue.servicebus_namespace",
            "required when queue.kind = \"servicebus\" (or set queue.servicebus_connection_string)",
        )
        })?;
    let namespace = namespace
        .trim()
        .trim_start_matches("sb://")
        .trim_end_matches('/')
        .to_string();
    if namespace.is_empty() || namespace.contains('/') {
        return Err(ConfigError::new(
            "queue.servicebus_namespace",
            "expected a fully qualified namespace such as sb-x.servicebus.windows.net",
        ));
    }
    Ok(ServiceBusOptions::new(ServiceBusAuth::ManagedIdentity {
        namespace,
        client_id: cfg.graph.client_id.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::default()
    }

    fn sv(s: impl Into<String>) -> String {
        s.into()
    }

    #[test]
    fn connection_string_wins_and_emulator_means_plain_amqp() {
        let mut c = cfg();
        c.queue
            .settings
            .set("servicebus_namespace", "ignored.servicebus.windows.net");
        c.queue.settings.set("servicebus_connection_string", sv(
            "Endpoint=sb://127.0.0.9/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;UseDevelopmentEmulator=true"
        ));
        let o = servicebus_options(&c).unwrap();
        assert!(o.insecure_plaintext);
        assert!(matches!(o.auth, ServiceBusAuth::ConnectionString(_)));
        assert!(!format!("{o:?}").contains("c2VjcmV0"));

        c.queue.settings.set(
            "servicebus_connection_string",
            sv("Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=a"),
        );
        assert!(!servicebus_options(&c).unwrap().insecure_plaintext);
    }

    #[test]
    fn namespace_uses_the_managed_identity_client_id() {
        let mut c = cfg();
        c.queue
            .settings
            .set("servicebus_namespace", "sb://sb-x.servicebus.windows.net/");
        c.graph.client_id = Some("11111111-2222-3333-4444-555555555555".into());
        let o = servicebus_options(&c).unwrap();
        assert_eq!(
            o.auth,
            ServiceBusAuth::ManagedIdentity {
                namespace: "sb-x.servicebus.windows.net".into(),
                client_id: Some("11111111-2222-3333-4444-555555555555".into()),
            }
        );
        assert!(!o.insecure_plaintext);
    }

    #[test]
    fn redis_user_without_password_means_entra_token() {
        let mut c = cfg();
        c.store.settings.set(
            "redis_url",
            sv("rediss://0000aaaa-1111@redis-x.westeurope.redis.azure.net:10000"),
        );
        let o = redis_options(&c).unwrap();
        assert!(matches!(o.auth, RedisAuth::Token(_)));
        assert_eq!(o.key_prefix, "switchboard");

        c.store
            .settings
            .set("redis_url", sv("redis://:hunter2@127.0.0.1:6379/0"));
        c.store.settings.set("key_prefix", "contoso-prod");
        let o = redis_options(&c).unwrap();
        assert!(matches!(o.auth, RedisAuth::Url));
        assert_eq!(o.key_prefix, "contoso-prod");
        assert!(!format!("{o:?}").contains("hunter2"));
    }

    #[test]
    fn bad_redis_values_name_their_key() {
        let mut c = cfg();
        assert_eq!(redis_options(&c).unwrap_err().key, "store.redis_url");
        c.store
            .settings
            .set("redis_url", sv("http://127.0.0.1:6379"));
        assert_eq!(redis_options(&c).unwrap_err().key, "store.redis_url");
        c.store
            .settings
            .set("redis_url", sv("redis://127.0.0.1:6379"));
        c.store.settings.set("key_prefix", "a{b}");
        assert_eq!(redis_options(&c).unwrap_err().key, "store.key_prefix");
    }

    /// What `Config::validate` checked before the backends owned their keys: still checked,
    /// before any I/O, naming the key — whether set in the file or by the environment.
    #[test]
    fn servicebus_and_redis_need_their_addresses() {
        let env = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let mut c = cfg();
        c.apply_env(&env(&[("SWITCHBOARD_QUEUE", "servicebus")]))
            .unwrap();
        let e = hooks()
            .validate(&c, switchboard_worker::config::Role::QueueTool)
            .unwrap_err();
        assert_eq!(e.key, "queue.servicebus_namespace");
        c.apply_env(&env(&[(
            "SWITCHBOARD_SERVICEBUS_NAMESPACE",
            "sb-x.servicebus.windows.net",
        )]))
        .unwrap();
        hooks()
            .validate(&c, switchboard_worker::config::Role::QueueTool)
            .unwrap();

        let mut c = cfg();
        c.apply_env(&env(&[("SWITCHBOARD_STORE", "redis")]))
            .unwrap();
        hooks()
            .validate(&c, switchboard_worker::config::Role::QueueTool)
            .unwrap();
        let e = hooks()
            .validate(&c, switchboard_worker::config::Role::Worker)
            .unwrap_err();
        assert_eq!(e.key, "store.redis_url");
        c.apply_env(&env(&[("SWITCHBOARD_REDIS_URL", "ftp://x")]))
            .unwrap();
        let e = hooks()
            .validate(&c, switchboard_worker::config::Role::Worker)
            .unwrap_err();
        assert_eq!(e.key, "store.redis_url");
        assert!(hooks().env_vars().contains(&"SWITCHBOARD_REDIS_URL"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = cfg();
        assert_eq!(
            servicebus_options(&c).unwrap_err().key,
            "queue.servicebus_namespace"
        );
        c.queue.settings.set("servicebus_namespace", "https://x/y");
        assert_eq!(
            servicebus_options(&c).unwrap_err().key,
            "queue.servicebus_namespace"
        );
        c.queue
            .settings
            .set("servicebus_connection_string", sv("SharedAccessKey=abc"));
        assert_eq!(
            servicebus_options(&c).unwrap_err().key,
            "queue.servicebus_connection_string"
        );
    }

    /// The opener reaches a Service Bus peer over AMQP and both queues work: a plain message
    /// on the incoming queue, a session message on the events queue.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn opens_both_queues_on_a_service_bus_peer() {
        use std::time::Duration;
        use switchboard_queue::OutgoingMessage;
        use switchboard_servicebus::peer::TestPeer;

        let mut c = cfg();
        c.queue.kind = "servicebus".into();
        let (plain, sessions) = queue_configs(&c);
        let peer = TestPeer::start(
            std::net::Ipv4Addr::new(127, 0, 5, 1),
            &[
                (c.queue.incoming_queue.as_str(), plain),
                (c.queue.events_queue.as_str(), sessions),
                (
                    c.queue.rejects_queue.as_str(),
                    switchboard_worker::backend::rejects_queue_config(&c),
                ),
            ],
        )
        .await
        .unwrap();
        c.queue.settings.set(
            "servicebus_connection_string",
            sv(format!(
                "{};UseDevelopmentEmulator=true",
                peer.connection_string()
            )),
        );
        let queues = switchboard_worker::backend::open_queues(&c, &hooks())
            .await
            .unwrap();

        queues
            .incoming
            .sender
            .send(OutgoingMessage::new("m1", b"{\"a\":1}".to_vec()))
            .await
            .unwrap();
        let got = queues
            .incoming
            .receiver
            .receive(1, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message.message_id, "m1");
        queues.incoming.receiver.complete(&got[0]).await.unwrap();

        queues
            .events
            .sender
            .send(OutgoingMessage::new("e1", b"{}".to_vec()).with_session_id("call-1"))
            .await
            .unwrap();
        let session = queues
            .events
            .receiver
            .accept_next_session(Duration::from_secs(10))
            .await
            .unwrap()
            .expect("a session");
        assert_eq!(session.session_id(), "call-1");
        session.close().await.unwrap();
        peer.shutdown().await;
    }
}
