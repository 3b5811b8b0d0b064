//! Graph presence with a TTL cache, shaped for routing: it always answers, quickly.
//!
//! [`PresenceCache::view`] returns a [`PresenceView`] for the requested agents. Readings
//! younger than the TTL are served from memory; the rest are fetched with
//! `getPresencesByUserId` in batches of 650. Whatever goes wrong with Graph (throttled,
//! down, slow, permission missing) the call still returns: agents keep their last reading
//! (with its original `observed_at`, so the engine's `max_age` can call it stale) or have
//! none, and the routing policy's fallback decides. Failures are logged, remembered for
//! [`PresenceCache::last_error`], and Graph is left alone for a back-off period so that
//! every routing decision does not pay for the same outage.
//!
//! Refreshes are single-flight: concurrent callers wait for one fetch instead of sending
//! the same request several times (which would also eat into Graph's rate limit).

use std::collections::HashMap;
use std::time::Duration;

use switchboard_events::TeamsUserId;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::graph::{GraphClient, GraphError, MAX_PRESENCE_IDS_PER_REQUEST};
use crate::presence::{PresenceObservation, PresenceView};

/// Tuning for [`PresenceCache`].
#[derive(Clone, Debug)]
pub struct PresenceCacheOptions {
    /// How long a reading is served without asking Graph again.
    pub ttl: Duration,
    /// Longest a `view` call waits for Graph before answering with what it has.
    pub refresh_timeout: Duration,
    /// After a failure, how long to serve cached readings without trying Graph (a 429's
    /// `Retry-After` extends it).
    pub error_backoff: Duration,
}

impl Default for PresenceCacheOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(30),
            refresh_timeout: Duration::from_secs(3),
            error_backoff: Duration::from_secs(5),
        }
    }
}

#[derive(Debug)]
struct Cached {
    /// `None`: Graph answered but had no presence for this id (unknown user, not licensed).
    observation: Option<PresenceObservation>,
    fetched: Instant,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<TeamsUserId, Cached>,
    last_error: Option<String>,
    quiet_until: Option<Instant>,
}

/// Presence from Graph with a TTL cache. Share one per process (it is `Send + Sync`).
#[derive(Debug)]
pub struct PresenceCache {
    client: GraphClient,
    options: PresenceCacheOptions,
    state: Mutex<State>,
}

impl PresenceCache {
    /// A cache in front of `client`.
    pub fn new(client: GraphClient, options: PresenceCacheOptions) -> Self {
        Self {
            client,
            options,
            state: Mutex::new(State::default()),
        }
    }

    /// Presence of `ids`, refreshing readings older than the TTL. Never fails; see the
    /// [module docs](self).
    pub async fn view(&self, ids: &[TeamsUserId]) -> PresenceView {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let due: Vec<TeamsUserId> = ids
            .iter()
            .filter(|id| {
                state
                    .entries
                    .get(*id)
                    .is_none_or(|c| now.duration_since(c.fetched) >= self.options.ttl)
            })
            .cloned()
            .collect();
        let quiet = state.quiet_until.is_some_and(|q| q > now);
        if !due.is_empty() && !quiet {
            let fetch = self.fetch(&due, &mut state);
            if tokio::time::timeout(self.options.refresh_timeout, fetch)
                .await
                .is_err()
            {
                self.failed(
                    &mut state,
                    format!(
                        "Graph presence took longer than {:?}",
                        self.options.refresh_timeout
                    ),
                    self.options.error_backoff,
                );
            }
        }
        ids.iter()
            .filter_map(|id| {
                let obs = state.entries.get(id)?.observation.clone()?;
                Some((id.clone(), obs))
            })
            .collect()
    }

    /// Fetches `due` in batches, storing each batch as it arrives so a failure part-way
    /// keeps what was already read.
    async fn fetch(&self, due: &[TeamsUserId], state: &mut State) {
        for chunk in due.chunks(MAX_PRESENCE_IDS_PER_REQUEST) {
            match self.client.get_presences_batch(chunk).await {
                Ok(list) => {
                    let fetched = Instant::now();
                    let observed_at = OffsetDateTime::now_utc();
                    let mut by_id: HashMap<TeamsUserId, PresenceObservation> = list
                        .into_iter()
                        .map(|p| {
                            (
                                p.id,
                                PresenceObservation {
                                    availability: p.availability,
                                    activity: p.activity,
                                    observed_at,
                                },
                            )
                        })
                        .collect();
                    for id in chunk {
                        let observation = by_id.remove(id);
                        state.entries.insert(
                            id.clone(),
                            Cached {
                                observation,
                                fetched,
                            },
                        );
                    }
                    state.last_error = None;
                }
                Err(e) => {
                    let backoff = match &e {
                        GraphError::Throttled { retry_after } => {
                            (*retry_after).max(self.options.error_backoff)
                        }
                        _ => self.options.error_backoff,
                    };
                    self.failed(state, e.to_string(), backoff);
                    return;
                }
            }
        }
    }

    fn failed(&self, state: &mut State, message: String, backoff: Duration) {
        tracing::warn!(error = %message, backoff_ms = backoff.as_millis() as u64,
            "presence unavailable; routing uses last readings and the configured fallback");
        state.last_error = Some(message);
        state.quiet_until = Some(Instant::now() + backoff);
    }

    /// The last Graph failure, cleared by the next successful fetch.
    pub async fn last_error(&self) -> Option<String> {
        self.state.lock().await.last_error.clone()
    }

    /// Drops every cached reading (e.g. after a roster reload).
    pub async fn clear(&self) {
        let mut s = self.state.lock().await;
        s.entries.clear();
        s.quiet_until = None;
    }
}
