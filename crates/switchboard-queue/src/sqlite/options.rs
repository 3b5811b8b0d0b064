//! How a namespace uses SQLite: timeouts, durability, polling, connection reuse, the clock.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};

/// Default busy timeout: long enough to ride out another process's transaction, short enough
/// that a wedged file surfaces as a retryable error.
pub(crate) const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How the namespace uses SQLite.
#[derive(Clone)]
pub struct SqliteOptions {
    /// How long a transaction waits for another process's write lock before failing with a
    /// retryable error. Default 5 s.
    pub busy_timeout: Duration,
    /// `PRAGMA synchronous = FULL` (fsync on every commit) instead of `NORMAL`. Default off.
    pub synchronous_full: bool,
    /// First poll interval of a waiting receiver (cross-process wake-up latency when busy).
    /// Default 5 ms.
    pub poll_interval_min: Duration,
    /// Longest poll interval of an idle waiting receiver: the worst wake-up latency of a
    /// receiver in another process than the sender (the ingress → worker hop). Default
    /// 25 ms: a probe is one indexed read, so an idle waiter costs at most 40 reads a second,
    /// and a worker keeps only a few waiters (one per queue while sessions are released as
    /// soon as they run dry).
    pub poll_interval_max: Duration,
    /// Connections kept open for reuse, and how many read-only queries (probes of waiting
    /// receivers, peeks) run at once. Writes run one at a time per namespace. Default 4.
    pub max_idle_connections: usize,
    /// How many session accepts a consumer runs side by side
    /// ([`crate::QueueReceiver::concurrent_accepts`]). Default 2. An accept is a write, and
    /// each one waits for its commit; with one, a worker at 300 calls in flight spent its
    /// time waiting on accepts while sessions queued (two: +10% calls/s, setup p50 −19%, CPU
    /// per call −9%, and within noise at 60 in flight; four gained a little more at 300 but
    /// cost 3% CPU at 60, where the extra loops only poll; issue 18). The group writer puts
    /// accepts waiting together into one transaction, each seeing the ones before it, so they
    /// never take the same session.
    pub concurrent_accepts: usize,
    /// Where "now" comes from. Default [`SystemClock`]; processes sharing a file must all use
    /// the system clock.
    pub clock: Arc<dyn Clock>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            synchronous_full: false,
            poll_interval_min: Duration::from_millis(5),
            poll_interval_max: Duration::from_millis(25),
            max_idle_connections: 4,
            concurrent_accepts: 2,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for SqliteOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteOptions")
            .field("busy_timeout", &self.busy_timeout)
            .field("synchronous_full", &self.synchronous_full)
            .field("poll_interval_min", &self.poll_interval_min)
            .field("poll_interval_max", &self.poll_interval_max)
            .field("max_idle_connections", &self.max_idle_connections)
            .field("concurrent_accepts", &self.concurrent_accepts)
            .field("clock", &self.clock)
            .finish()
    }
}
