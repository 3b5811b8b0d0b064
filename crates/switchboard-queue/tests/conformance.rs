//! The queue conformance suite against the embedded SQLite queue: a fresh file per test, a
//! fresh queue per check, and a second namespace opened on the same file (its own connection
//! pool) as the "other replica".

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_queue::conformance::Harness;
use switchboard_queue::sqlite::SqliteNamespace;
use switchboard_queue::{QueueConfig, QueueError, QueueHandle};

struct SqliteHarness {
    // Kept alive: deleting the directory would delete the file under the test.
    _dir: tempfile::TempDir,
    ns: SqliteNamespace,
    next: AtomicUsize,
}

impl SqliteHarness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ns = SqliteNamespace::open(dir.path().join("queue.db"))
            .await
            .expect("open namespace");
        Self {
            _dir: dir,
            ns,
            next: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Harness for SqliteHarness {
    async fn create_queue(&self, config: QueueConfig) -> Result<QueueHandle, QueueError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(self
            .ns
            .create_queue(&format!("conformance-{n}"), config)
            .await?
            .handle())
    }

    async fn reconnect(&self, queue: &QueueHandle) -> Result<QueueHandle, QueueError> {
        let other = SqliteNamespace::open(self.ns.path()).await?;
        Ok(other.queue(&queue.name).await?.handle())
    }

    fn short_lock(&self) -> Duration {
        Duration::from_millis(400)
    }

    fn short_dedupe_window(&self) -> Duration {
        Duration::from_secs(1)
    }
}

switchboard_queue::queue_conformance_tests!(SqliteHarness::new());
