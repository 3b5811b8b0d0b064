//! What a backend is ([`QueueBackend`], [`StoreBackend`]) and what it hands out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use switchboard_queue::{QueueConfig as PortQueueConfig, QueueHandle};
use switchboard_store::Store;

use crate::config::{Config, ConfigError, Key};
use crate::error::AppError;

/// The queue settings the port needs, for the plain (incoming-call) and the session queue.
pub fn queue_configs(cfg: &Config) -> (PortQueueConfig, PortQueueConfig) {
    let plain = PortQueueConfig {
        lock_duration: Duration::from_secs(cfg.queue.incoming_lock_duration_secs),
        max_delivery_count: cfg.queue.max_delivery_count,
        // Message ids are event ids: a retried publish or a redelivered Event Grid event is
        // absorbed here, as Service Bus duplicate detection does in the cloud.
        duplicate_detection_window: Some(Duration::from_secs(600)),
        ..PortQueueConfig::default()
    };
    let sessions = PortQueueConfig {
        requires_session: true,
        lock_duration: Duration::from_secs(cfg.queue.lock_duration_secs),
        ..plain.clone()
    };
    (plain, sessions)
}

/// The settings of the rejects queue (`queue.rejects_queue`): plain, no duplicate detection
/// (each refusal is kept), and only ever written through
/// [`QueueSender::send_dead_letter`](switchboard_queue::QueueSender::send_dead_letter).
pub fn rejects_queue_config(cfg: &Config) -> PortQueueConfig {
    PortQueueConfig {
        duplicate_detection_window: None,
        ..queue_configs(cfg).0
    }
}

/// The queues of a deployment.
#[derive(Clone)]
pub struct Queues {
    /// Plain queue Event Grid delivers `IncomingCall` to.
    pub incoming: QueueHandle,
    /// Session queue (session = correlation id) the ingress publishes callbacks to; timers too.
    pub events: QueueHandle,
    /// Plain queue whose dead letters are the events the ingress refused, with the reason.
    /// Nothing consumes it: on Service Bus the ingress's own `send_dead_letter` moves each
    /// message into its dead-letter queue.
    pub rejects: QueueHandle,
}

/// Boxed future returned by backends' `open`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A queue backend: where both queues of a deployment live.
pub trait QueueBackend: Send + Sync {
    /// The `queue.kind` (and `SWITCHBOARD_QUEUE`) value that selects it.
    fn kind(&self) -> &'static str;
    /// Its own keys in `[queue]`, beyond the shared ones.
    fn keys(&self) -> &'static [Key];
    /// Check its keys (read with [`Config::setting`]) without any I/O; errors name the key.
    fn validate(&self, cfg: &Config) -> Result<(), ConfigError>;
    /// Where the queues live, for messages (`servicebus sb-x.servicebus.windows.net`).
    fn describe(&self, cfg: &Config) -> String;
    /// Connect and hand out the queues (`queue.incoming_queue`, `queue.events_queue`,
    /// `queue.rejects_queue`).
    fn open<'a>(&'a self, cfg: &'a Config) -> BoxFuture<'a, Result<Queues, AppError>>;
}

/// A store backend: where call, agent and outbox state lives.
pub trait StoreBackend: Send + Sync {
    /// The `store.kind` (and `SWITCHBOARD_STORE`) value that selects it.
    fn kind(&self) -> &'static str;
    /// Its own keys in `[store]`.
    fn keys(&self) -> &'static [Key];
    /// Check its keys without any I/O; errors name the key.
    fn validate(&self, cfg: &Config) -> Result<(), ConfigError>;
    /// Where the store lives, for messages.
    fn describe(&self, cfg: &Config) -> String;
    /// Connect.
    fn open<'a>(&'a self, cfg: &'a Config) -> BoxFuture<'a, Result<Arc<dyn Store>, AppError>>;
}
