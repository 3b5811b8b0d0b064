//! How the suite gets stores: the [`StoreFactory`] a backend implements, and the SQLite one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::Clock;
use crate::error::StoreError;
use crate::port::Store;
use crate::sqlite::{SqliteOptions, SqliteStore};

/// A store created for one check, and where to find it again.
#[derive(Debug, Clone)]
pub struct CreatedStore {
    /// The new store.
    pub store: Arc<dyn Store>,
    /// Backend-specific address of this store (a file path, a Redis URL plus key prefix);
    /// [`StoreFactory::open`] with it reaches the same data, also in another process.
    pub locator: String,
}

/// Makes stores for the suite.
#[async_trait]
pub trait StoreFactory: Send + Sync + fmt::Debug {
    /// A new, empty store, isolated from every other store this factory made, reading time
    /// from `clock`.
    async fn create(&self, clock: Arc<dyn Clock>) -> Result<CreatedStore, StoreError>;

    /// Another handle on the store at `locator`, as a second replica would open it.
    async fn open(
        &self,
        locator: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<dyn Store>, StoreError>;
}

/// Factory for [`SqliteStore`]s: one file per store in a directory.
#[derive(Debug)]
pub struct SqliteFactory {
    dir: PathBuf,
    owned: bool,
    next: AtomicU64,
}

impl SqliteFactory {
    /// Files in a fresh directory under the OS temp dir, removed when the factory is dropped.
    pub fn temporary() -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "switchboard-store-{}-{nanos}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        Self {
            dir,
            owned: true,
            next: AtomicU64::new(0),
        }
    }

    /// Files in `dir` (created if needed, never removed).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            owned: false,
            next: AtomicU64::new(0),
        }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SqliteFactory {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[async_trait]
impl StoreFactory for SqliteFactory {
    async fn create(&self, clock: Arc<dyn Clock>) -> Result<CreatedStore, StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| StoreError::Unavailable {
            op: "open",
            source: Box::new(e),
        })?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("store-{n}.db"));
        let store = SqliteStore::open_with(&path, clock, SqliteOptions::default()).await?;
        Ok(CreatedStore {
            store: Arc::new(store),
            locator: path.to_string_lossy().into_owned(),
        })
    }

    async fn open(
        &self,
        locator: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<dyn Store>, StoreError> {
        let store = SqliteStore::open_with(locator, clock, SqliteOptions::default()).await?;
        Ok(Arc::new(store))
    }
}
