//! Waiting receivers: how a `receive(max, wait)` that found nothing learns that something
//! arrived.
//!
//! Two signals. In-process: one [`Notify`] per (file, queue), shared by every namespace opened
//! on that file in this process, fired after each commit that makes a message receivable, so
//! a local receiver wakes at once. Cross-process: a read-only probe
//! ([`super::ops::probe`]) polled with exponential backoff (`poll_interval_min` doubling to
//! `poll_interval_max`), and never later than the next instant time alone makes a message
//! receivable (a scheduled time, a lock expiry), so lock-expiry redelivery is prompt without
//! busy polling. Idle receivers only read; they take the write lock only when the probe says a
//! receive can succeed.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::QueueError;

use super::db::Db;
use super::ops::{self, Target};

type Registry = Mutex<HashMap<(PathBuf, String), Arc<Notify>>>;

/// The process-wide notifier of `queue` in the file at `path` (canonical).
pub(crate) fn notifier(path: &Path, queue: &str) -> Arc<Notify> {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let registry = REGISTRY.get_or_init(Registry::default);
    let mut map = registry.lock().unwrap_or_else(PoisonError::into_inner);
    // Entries are never removed: one small allocation per queue name per file for the life of
    // the process.
    Arc::clone(
        map.entry((path.to_path_buf(), queue.to_owned()))
            .or_default(),
    )
}

/// Runs `attempt` (a receiving transaction) until it returns `Some`, or `wait` has passed.
/// Between attempts it only reads: it probes `target` and, while nothing is ready, sleeps until
/// notified, until the backoff interval passes, or until the next instant time alone changes
/// the answer. Every wake-up goes through a probe first, so a send that wakes many waiters
/// costs each of them one read, and only those with something to take write.
pub(crate) async fn wait_for<T, F, Fut>(
    db: &Arc<Db>,
    notify: &Notify,
    queue: &str,
    target: Target,
    wait: Duration,
    mut attempt: F,
) -> Result<Option<T>, QueueError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, QueueError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    let min_poll = db.options().poll_interval_min;
    let max_poll = db.options().poll_interval_max.max(min_poll);
    let mut backoff = min_poll;
    // Set when an attempt made because the probe said "ready" found nothing. The probe and the
    // receiving transaction agree by construction, but if they ever did not, this turns a
    // would-be busy loop into one attempt per `poll_interval_min`.
    let mut ready_but_empty = false;
    loop {
        if let Some(found) = attempt().await? {
            return Ok(Some(found));
        }
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // Register for the wake-up *before* probing, so a commit that lands between the
            // probe and the sleep is not missed.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let queue_name = queue.to_owned();
            let probe_target = target.clone();
            let probe = db
                .read("probe", move |conn, now_ms| {
                    ops::probe(conn, &queue_name, now_ms, &probe_target)
                })
                .await?;
            if probe.ready && !ready_but_empty {
                ready_but_empty = true;
                break;
            }
            let mut nap = if probe.ready { min_poll } else { backoff };
            ready_but_empty = false;
            nap = nap.min(deadline.saturating_duration_since(now));
            if let Some(next) = probe.next_change_ms {
                let until = next.saturating_sub(db.clock().now_ms()).max(1);
                nap = nap.min(Duration::from_millis(u64::try_from(until).unwrap_or(1)));
            }
            tokio::select! {
                () = &mut notified => backoff = min_poll,
                () = tokio::time::sleep(nap) => backoff = (backoff * 2).min(max_poll),
            }
        }
    }
}
