//! The seam for queue and store backends: a backend is a value implementing [`QueueBackend`]
//! or [`StoreBackend`], registered once in the binary's list
//! ([`EngineHooks`](crate::app::EngineHooks), built in `crates/switchboard/src/engines.rs`).
//! Configuration, validation and assembly find it by its [`kind`](QueueBackend::kind) name, so
//! nothing outside the backend matches on backend names.
//!
//! A backend owns its keys in `[queue]` / `[store]` (declared by [`keys`](QueueBackend::keys),
//! each with the environment variable that overrides it), checks them without I/O in
//! [`validate`](QueueBackend::validate), and connects in [`open`](QueueBackend::open). The
//! embedded SQLite backends live in [`sqlite`]; the distributed ones are adapters in the binary.
use std::sync::Arc;

use switchboard_store::Store;

use crate::app::{AppError, BoxFuture, Queues};
use crate::config::{Config, ConfigError, Key};

pub mod sqlite;

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
    /// Connect and hand out both queues (`queue.incoming_queue`, `queue.events_queue`).
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
