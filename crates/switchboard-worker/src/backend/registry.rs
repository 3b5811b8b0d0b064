//! The registry of backends ([`EngineHooks`]) and the `open_*` functions assembly calls: the
//! one place `queue.kind` / `store.kind` are looked up and backend keys are checked.

use std::sync::Arc;

use switchboard_store::Store;

use super::seam::{QueueBackend, Queues, StoreBackend};
use super::sqlite::{SqliteQueues, SqliteStoreBackend};
use crate::config::{Config, ConfigError, Role, Section};
use crate::error::AppError;

/// The registered queue and store backends: the one place `queue.kind` / `store.kind` are
/// looked up. [`Default`] holds the embedded SQLite backends; the binary adds its own
/// (`crates/switchboard/src/engines.rs`).
#[derive(Clone)]
pub struct EngineHooks {
    queues: Vec<Arc<dyn QueueBackend>>,
    stores: Vec<Arc<dyn StoreBackend>>,
}

impl Default for EngineHooks {
    fn default() -> Self {
        Self {
            queues: vec![Arc::new(SqliteQueues)],
            stores: vec![Arc::new(SqliteStoreBackend)],
        }
    }
}

impl EngineHooks {
    /// Register a queue backend (replacing one of the same kind).
    #[must_use]
    pub fn with_queue(mut self, backend: impl QueueBackend + 'static) -> Self {
        self.queues.retain(|b| b.kind() != backend.kind());
        self.queues.push(Arc::new(backend));
        self
    }

    /// Register a store backend (replacing one of the same kind).
    #[must_use]
    pub fn with_store(mut self, backend: impl StoreBackend + 'static) -> Self {
        self.stores.retain(|b| b.kind() != backend.kind());
        self.stores.push(Arc::new(backend));
        self
    }

    /// The queue backend `queue.kind` names, its keys checked (no I/O).
    pub(crate) fn queue_backend(&self, cfg: &Config) -> Result<&dyn QueueBackend, ConfigError> {
        let kinds: Vec<_> = self.queues.iter().map(|b| b.kind()).collect();
        let backend = self
            .queues
            .iter()
            .find(|b| b.kind() == cfg.queue.kind)
            .ok_or_else(|| unknown_kind(cfg, Section::Queue, &cfg.queue.kind, &kinds))?;
        let known = self.queues.iter().flat_map(|b| b.keys());
        check_keys(Section::Queue, cfg.queue.settings.keys(), known)?;
        backend.validate(cfg)?;
        Ok(backend.as_ref())
    }

    /// The store backend `store.kind` names, its keys checked (no I/O).
    pub fn store_backend(&self, cfg: &Config) -> Result<&dyn StoreBackend, ConfigError> {
        let backend = self.store_kind(cfg)?;
        backend.validate(cfg)?;
        Ok(backend)
    }

    /// The store backend `store.kind` names, with no key unknown to every store backend.
    fn store_kind(&self, cfg: &Config) -> Result<&dyn StoreBackend, ConfigError> {
        let kinds: Vec<_> = self.stores.iter().map(|b| b.kind()).collect();
        let backend = self
            .stores
            .iter()
            .find(|b| b.kind() == cfg.store.kind)
            .ok_or_else(|| unknown_kind(cfg, Section::Store, &cfg.store.kind, &kinds))?;
        let known = self.stores.iter().flat_map(|b| b.keys());
        check_keys(Section::Store, cfg.store.settings.keys(), known)?;
        Ok(backend.as_ref())
    }

    /// Check the backends' keys for `role`: the queue's always; the store's fully unless the
    /// process only handles queues. Even then an unknown store kind or key is a mistake in the
    /// configuration, refused as it was when the kinds were a closed set
    /// (`cli_dlq::bad_config_exits_64`: `SWITCHBOARD_STORE=mongodb switchboard dlq list`).
    pub fn validate(&self, cfg: &Config, role: Role) -> Result<(), ConfigError> {
        self.queue_backend(cfg)?;
        if role == Role::QueueTool {
            self.store_kind(cfg)?;
        } else {
            self.store_backend(cfg)?;
        }
        Ok(())
    }

    /// Every environment variable the registered backends read.
    pub fn env_vars(&self) -> Vec<&'static str> {
        let queue = self.queues.iter().flat_map(|b| b.keys());
        let store = self.stores.iter().flat_map(|b| b.keys());
        let mut vars: Vec<_> = queue.chain(store).filter_map(|k| k.env).collect();
        vars.sort_unstable();
        vars.dedup();
        vars
    }
}

fn unknown_kind(cfg: &Config, section: Section, kind: &str, kinds: &[&str]) -> ConfigError {
    ConfigError::new(
        cfg.kind_key(section),
        format!(
            "`{kind}` is not available in this build (one of {})",
            kinds.join(", ")
        ),
    )
}

/// The check `deny_unknown_fields` made when every backend key was a field: a key no
/// registered backend declares is a typo (or a backend this build lacks).
fn check_keys<'a>(
    section: Section,
    present: impl Iterator<Item = &'a str>,
    known: impl Iterator<Item = &'a crate::config::Key> + Clone,
) -> Result<(), ConfigError> {
    for key in present {
        if !known.clone().any(|k| k.name == key) {
            let mut names: Vec<_> = known.clone().map(|k| k.name).collect();
            names.sort_unstable();
            names.dedup();
            return Err(ConfigError::new(
                format!("{}.{key}", section.name()),
                format!(
                    "unknown field `{key}`; backends in this build read {}",
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Opened queue and store.
#[derive(Clone)]
pub struct Backends {
    /// Both queues.
    pub queues: Queues,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Where they live, for messages (`sqlite switchboard.db`, `servicebus sb-x…`).
    pub describe: String,
}

/// Open the queues `queue.kind` names (its keys are checked first, without I/O).
pub async fn open_queues(cfg: &Config, hooks: &EngineHooks) -> Result<Queues, AppError> {
    hooks.queue_backend(cfg)?.open(cfg).await
}

/// Open the store `store.kind` names (its keys are checked first, without I/O).
pub async fn open_store(cfg: &Config, hooks: &EngineHooks) -> Result<Arc<dyn Store>, AppError> {
    hooks.store_backend(cfg)?.open(cfg).await
}

/// Open the queue and the store (both checked before either connects).
pub(crate) async fn open_backends(cfg: &Config, hooks: &EngineHooks) -> Result<Backends, AppError> {
    let queue = hooks.queue_backend(cfg)?;
    let store = hooks.store_backend(cfg)?;
    let describe = format!("{}, {}", queue.describe(cfg), store.describe(cfg));
    let queues = queue.open(cfg).await?;
    let store = store.open(cfg).await?;
    Ok(Backends {
        queues,
        store,
        describe,
    })
}
