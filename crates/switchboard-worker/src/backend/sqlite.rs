//! The embedded backends: both queues and the store in SQLite files (one by default).
use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchboard_queue::sqlite::SqliteNamespace;
use switchboard_store::{SqliteStore, Store};

use super::seam::{
    queue_configs, rejects_queue_config, BoxFuture, QueueBackend, Queues, StoreBackend,
};
use crate::config::{Config, ConfigError, Key, Section};
use crate::error::AppError;

/// `sqlite_path` in `[queue]` and `[store]`; one variable sets both.
pub(crate) const SQLITE_PATH: Key = Key {
    name: "sqlite_path",
    env: Some("SWITCHBOARD_SQLITE_PATH"),
};

/// Both queues in one SQLite file (`queue.sqlite_path`, default `switchboard.db`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SqliteQueues;

/// The store in a SQLite file (`store.sqlite_path`, default: the queue's file).
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteStoreBackend;

impl QueueBackend for SqliteQueues {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn keys(&self) -> &'static [Key] {
        &[SQLITE_PATH]
    }

    fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        cfg.setting(Section::Queue, &SQLITE_PATH).map(drop)
    }

    fn describe(&self, cfg: &Config) -> String {
        format!("sqlite queue {}", cfg.queue_sqlite_path().display())
    }

    fn open<'a>(&'a self, cfg: &'a Config) -> BoxFuture<'a, Result<Queues, AppError>> {
        Box::pin(async move {
            let path = cfg.queue_sqlite_path();
            create_parent(&path)?;
            let ns = SqliteNamespace::open(&path).await.map_err(|e| {
                AppError::startup("sqlite queue", format!("{}: {e}", path.display()), false)
            })?;
            let (plain, sessions) = queue_configs(cfg);
            let incoming = ns
                .ensure_queue(&cfg.queue.incoming_queue, plain)
                .await
                .map_err(|e| AppError::startup("sqlite queue", e, false))?
                .handle();
            let events = ns
                .ensure_queue(&cfg.queue.events_queue, sessions)
                .await
                .map_err(|e| AppError::startup("sqlite queue", e, false))?
                .handle();
            let rejects = ns
                .ensure_queue(&cfg.queue.rejects_queue, rejects_queue_config(cfg))
                .await
                .map_err(|e| AppError::startup("sqlite queue", e, false))?
                .handle();
            Ok(Queues {
                incoming,
                events,
                rejects,
            })
        })
    }
}

impl StoreBackend for SqliteStoreBackend {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn keys(&self) -> &'static [Key] {
        &[SQLITE_PATH]
    }

    fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        cfg.setting(Section::Store, &SQLITE_PATH).map(drop)
    }

    fn describe(&self, cfg: &Config) -> String {
        format!("sqlite store {}", cfg.store_sqlite_path().display())
    }

    fn open<'a>(&'a self, cfg: &'a Config) -> BoxFuture<'a, Result<Arc<dyn Store>, AppError>> {
        Box::pin(async move {
            let path = cfg.store_sqlite_path();
            create_parent(&path)?;
            let store = SqliteStore::open(&path).await.map_err(|e| {
                AppError::startup("sqlite store", format!("{}: {e}", path.display()), false)
            })?;
            Ok(Arc::new(store) as Arc<dyn Store>)
        })
    }
}

fn create_parent(path: &Path) -> Result<(), AppError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            AppError::startup("data directory", format!("{}: {e}", dir.display()), false)
        }),
        _ => Ok(()),
    }
}

// The embedded backend's file names, read where other code needs them (the CLI, tests).
impl Config {
    /// The SQLite file for the queue (default `switchboard.db`).
    pub fn queue_sqlite_path(&self) -> PathBuf {
        self.setting(Section::Queue, &SQLITE_PATH)
            .ok()
            .flatten()
            .map_or_else(|| PathBuf::from("switchboard.db"), PathBuf::from)
    }

    /// The SQLite file for the store (default: the queue's file).
    pub fn store_sqlite_path(&self) -> PathBuf {
        self.setting(Section::Store, &SQLITE_PATH)
            .ok()
            .flatten()
            .map_or_else(|| self.queue_sqlite_path(), PathBuf::from)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use switchboard_queue::{OutgoingMessage, QueueConfig, QueueSender as _};
    use switchboard_store::Store as _;

    use super::*;

    /// The embedded deployment's default: the queue and the store in one file. Their writes
    /// must meet in one writer (one transaction stream, one page cache), not contend for
    /// the file's lock from two connections of the same process.
    #[tokio::test]
    async fn the_queue_and_the_store_of_one_file_write_through_one_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchboard.db");
        let ns = SqliteNamespace::open(&path).await.unwrap();
        let store = SqliteStore::open(&path).await.unwrap();
        let q = ns
            .ensure_queue("work", QueueConfig::default())
            .await
            .unwrap();
        let before = ns.writer_stats();
        assert_eq!(before, store.writer_stats());
        q.send(OutgoingMessage::new("m1", "hello")).await.unwrap();
        store
            .put_call_if(
                "call-1",
                None,
                &serde_json::json!({"step": 1}),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        let after = ns.writer_stats();
        assert_eq!(after, store.writer_stats(), "one writer for both");
        assert_eq!(after.writes, before.writes + 2);
    }
}
