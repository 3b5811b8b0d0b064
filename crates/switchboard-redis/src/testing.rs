//! A real, throw-away `redis-server` for tests, and the conformance-suite factory over it.
//!
//! [`RedisServer::start`] runs `redis-server` on a free loopback port with persistence off and
//! kills it when dropped. When the binary is missing, [`RedisServer::available`] says why;
//! tests skip on a developer machine but fail under CI (`CI` set), where `.ci/run` installs
//! the Debian package — so the Redis checks can never silently not run in CI.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use switchboard_store::conformance::{CreatedStore, StoreFactory};
use switchboard_store::{Clock, Store, StoreError};

use crate::store::{RedisOptions, RedisStore, TimeSource};

/// A `redis-server` process on loopback, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// The server binary: `SWITCHBOARD_REDIS_SERVER` or `redis-server` on PATH.
fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SWITCHBOARD_REDIS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

impl RedisServer {
    /// `Ok(())` when a server can be started; otherwise why not.
    pub fn available() -> Result<(), String> {
        binary().map(|_| ()).ok_or_else(|| {
            "redis-server is not on PATH (install the Debian package redis-server, or set \
             SWITCHBOARD_REDIS_SERVER)"
                .to_owned()
        })
    }

    /// Whether a test needing Redis should run: `true` if a server can start, `false` (skip,
    /// with a note on stderr) on a developer machine without one; panics under CI.
    pub fn required_or_skip() -> bool {
        match Self::available() {
            Ok(()) => true,
            Err(why) if std::env::var_os("CI").is_some() => {
                panic!("{why}; CI must run the Redis tests")
            }
            Err(why) => {
                eprintln!("skipping: {why}");
                false
            }
        }
    }

    /// Starts a server on a free port and waits until it answers `PING`.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(&[])
    }

    /// Like [`start`](Self::start) with extra `redis-server` arguments (e.g. ACL users).
    pub fn start_with(extra: &[&str]) -> std::io::Result<Self> {
        let bin = binary().ok_or_else(|| std::io::Error::other(Self::available().unwrap_err()))?;
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "switchboard-redis-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let mut last_err = None;
        // A port found free can be taken before the server binds it; try a few.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut child = Command::new(&bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
                .arg("--dir")
                .arg(&dir)
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_err = Some(std::io::Error::other(format!(
                        "redis-server on port {port} exited: {status}"
                    )));
                    break;
                }
                if ping(port) {
                    return Ok(Self { child, port, dir });
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_err = Some(std::io::Error::other(format!(
                        "redis-server on port {port} did not answer PING in 10 s"
                    )));
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("redis-server did not start")))
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server now (to test what happens when Redis goes away).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw RESP `PING` (no client needed, so this works from any thread).
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Conformance factory: one server per factory (started on first `create`), a fresh key
/// prefix per store. Locators are `<url>#<prefix>`, openable from another process.
#[derive(Debug, Default)]
pub struct RedisFactory {
    server: Mutex<Option<Arc<RedisServer>>>,
    next: AtomicU64,
}

impl RedisFactory {
    /// A factory, or `None` to skip where Redis is missing and CI is not set (see
    /// [`RedisServer::required_or_skip`]).
    pub fn new_or_skip() -> Option<Self> {
        RedisServer::required_or_skip().then(Self::default)
    }

    fn server(&self) -> Result<Arc<RedisServer>, StoreError> {
        let mut guard = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = guard.as_ref() {
            return Ok(Arc::clone(s));
        }
        let server = Arc::new(RedisServer::start().map_err(|e| StoreError::Unavailable {
            op: "open",
            source: Box::new(e),
        })?);
        *guard = Some(Arc::clone(&server));
        Ok(server)
    }
}

/// Splits a `<url>#<prefix>` locator.
pub fn parse_locator(locator: &str) -> Result<(&str, &str), StoreError> {
    locator.rsplit_once('#').ok_or_else(|| {
        StoreError::invalid("open", format!("locator {locator:?} is not <url>#<prefix>"))
    })
}

#[async_trait]
impl StoreFactory for RedisFactory {
    async fn create(&self, clock: Arc<dyn Clock>) -> Result<CreatedStore, StoreError> {
        let server = self.server()?;
        let prefix = format!(
            "t{}-{}",
            std::process::id(),
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let locator = format!("{}#{prefix}", server.url());
        let store = self.open(&locator, clock).await?;
        Ok(CreatedStore { store, locator })
    }

    async fn open(
        &self,
        locator: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<dyn Store>, StoreError> {
        let (url, prefix) = parse_locator(locator)?;
        // The conformance suite drives time with a manual clock, so the scripts take its
        // reading; `redis_engine.rs` tests the server clock that production uses.
        let mut options = RedisOptions::new(url, prefix);
        options.time = TimeSource::Caller;
        let store = RedisStore::connect_with(options, clock).await?;
        Ok(Arc::new(store))
    }
}
