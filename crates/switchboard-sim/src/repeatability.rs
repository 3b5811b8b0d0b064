//! Repeatable requests (OASIS Repeatable Requests 1.0, as ACS applies it; see ADR 0002).
//!
//! | Repeatability-Request-ID | Repeatability-First-Sent | result | status |
//! |---|---|---|---|
//! | not a GUID | any | rejected | 400 |
//! | GUID | not an IMF-fixdate | rejected | 400 |
//! | one header without the other | | rejected | 400 |
//! | GUID | older than the tracked window (5 min) | rejected | 412 |
//! | new | inside the window | accepted | the operation's own |
//! | seen, same request | inside the window | accepted | the first response, replayed; nothing runs again |
//! | seen, different request | inside the window | rejected | 400 |
//! | seen, first still running | | rejected | 409 |
//!
//! A first response with a 5xx status is not kept: the repeat runs the operation again, which
//! is what the service documents. "Same request" means same method, path and body bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::ApiError;

/// Response header naming the outcome.
pub const RESULT_HEADER: &str = "Repeatability-Result";

/// A response kept for replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

enum State {
    InProgress,
    Done(StoredResponse),
}

struct Entry {
    fingerprint: [u8; 32],
    state: State,
    stored_at: Instant,
}

/// Remembers repeatable requests.
pub struct RepeatabilityCache {
    entries: Mutex<HashMap<String, Entry>>,
    window: Option<Duration>,
}

/// What to do with a request.
pub enum Check {
    /// No repeatability headers: just run it.
    NotRepeatable,
    /// First time: run it, then [`Ticket::complete`].
    Proceed(Ticket),
    /// Seen before: answer with this and do nothing.
    Replay(StoredResponse),
    /// Refuse.
    Reject(ApiError),
}

/// The right (and duty) to record the first response of a repeatable request. Dropping it
/// without completing forgets the request, so a retry after a cancelled request can run.
pub struct Ticket {
    cache: Arc<RepeatabilityCache>,
    id: String,
    done: bool,
}

impl Ticket {
    /// Record the response (kept unless it is a 5xx).
    pub fn complete(mut self, response: StoredResponse) {
        self.done = true;
        let mut entries = lock(&self.cache.entries);
        if response.status >= 500 {
            entries.remove(&self.id);
        } else if let Some(e) = entries.get_mut(&self.id) {
            e.state = State::Done(response);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            lock(&self.cache.entries).remove(&self.id);
        }
    }
}

impl RepeatabilityCache {
    pub fn new(window: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            entries: Mutex::new(HashMap::new()),
            window,
        })
    }

    /// Forget everything (simulator reset).
    pub fn clear(&self) {
        lock(&self.entries).clear();
    }

    /// Decide about a request. `request_id` / `first_sent` are the raw header values.
    pub fn check(
        self: &Arc<Self>,
        request_id: Option<&str>,
        first_sent: Option<&str>,
        method: &str,
        path: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Check {
        let (id, first_sent) =
            match (request_id, first_sent) {
                (None, None) => return Check::NotRepeatable,
                (Some(id), Some(fs)) => (id.trim(), fs.trim()),
                (Some(_), None) => return Check::Reject(rejected(
                    StatusCode::BAD_REQUEST,
                    "8523",
                    "Repeatability-First-Sent is required when Repeatability-Request-ID is sent.",
                )),
                (None, Some(_)) => return Check::Reject(rejected(
                    StatusCode::BAD_REQUEST,
                    "8523",
                    "Repeatability-Request-ID is required when Repeatability-First-Sent is sent.",
                )),
            };
        let Ok(uuid) = uuid::Uuid::parse_str(id) else {
            return Check::Reject(rejected(
                StatusCode::BAD_REQUEST,
                "8523",
                "Repeatability-Request-ID is not a valid GUID.",
            ));
        };
        let Ok(sent) = httpdate::parse_http_date(first_sent) else {
            return Check::Reject(rejected(
                StatusCode::BAD_REQUEST,
                "8523",
                "Repeatability-First-Sent is not a valid IMF-fixdate.",
            ));
        };
        if let Some(window) = self.window {
            let age = now - OffsetDateTime::from(sent);
            if age > time::Duration::try_from(window).unwrap_or(time::Duration::MAX) {
                return Check::Reject(rejected(
                    StatusCode::PRECONDITION_FAILED,
                    "8583",
                    format!(
                        "Repeatability-First-Sent header is not within the {} second window.",
                        window.as_secs()
                    ),
                ));
            }
        }
        let key = uuid.hyphenated().to_string();
        let fingerprint = fingerprint(method, path, body);
        let mut entries = lock(&self.entries);
        self.evict(&mut entries);
        match entries.get(&key) {
            Some(e) if e.fingerprint != fingerprint => Check::Reject(rejected(
                StatusCode::BAD_REQUEST,
                "8523",
                "Repeatability-Request-ID was already used for a different request.",
            )),
            Some(Entry {
                state: State::InProgress,
                ..
            }) => Check::Reject(rejected(
                StatusCode::CONFLICT,
                "8519",
                "The original request with this Repeatability-Request-ID is still in progress.",
            )),
            Some(Entry {
                state: State::Done(resp),
                ..
            }) => Check::Replay(resp.clone()),
            None => {
                entries.insert(
                    key.clone(),
                    Entry {
                        fingerprint,
                        state: State::InProgress,
                        stored_at: Instant::now(),
                    },
                );
                Check::Proceed(Ticket {
                    cache: Arc::clone(self),
                    id: key,
                    done: false,
                })
            }
        }
    }

    fn evict(&self, entries: &mut HashMap<String, Entry>) {
        // Amortised: only sweep when the map has grown, so the hot path stays O(1).
        let Some(window) = self.window else { return };
        if entries.len() < 1024 || entries.len() % 256 != 0 {
            return;
        }
        entries.retain(|_, e| e.stored_at.elapsed() <= window);
    }

    /// Number of remembered ids (tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// True when nothing is remembered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn rejected(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message).with_header(RESULT_HEADER, "rejected")
}

fn fingerprint(method: &str, path: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().into()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0f4c2a9e-6f0b-4c55-9d3c-6ae1d1f3b9a1";

    fn date(t: OffsetDateTime) -> String {
        httpdate::fmt_http_date(t.into())
    }

    fn ok(body: &[u8]) -> StoredResponse {
        StoredResponse {
            status: 202,
            content_type: Some("application/json".into()),
            body: body.to_vec(),
        }
    }

    #[test]
    fn first_runs_repeat_replays_different_rejects() {
        let cache = RepeatabilityCache::new(Some(Duration::from_secs(300)));
        let now = OffsetDateTime::now_utc();
        let d = date(now);
        let Check::Proceed(t) = cache.check(Some(ID), Some(&d), "POST", "/p", b"{}", now) else {
            panic!("expected proceed")
        };
        // While running: 409.
        match cache.check(Some(ID), Some(&d), "POST", "/p", b"{}", now) {
            Check::Reject(e) => assert_eq!(e.status, StatusCode::CONFLICT),
            _ => panic!("expected 409"),
        }
        t.complete(ok(b"{\"a\":1}"));
        match cache.check(Some(ID), Some(&d), "POST", "/p", b"{}", now) {
            Check::Replay(r) => assert_eq!(r.body, b"{\"a\":1}"),
            _ => panic!("expected replay"),
        }
        match cache.check(Some(ID), Some(&d), "POST", "/p", b"{\"x\":2}", now) {
            Check::Reject(e) => {
                assert_eq!(e.status, StatusCode::BAD_REQUEST);
                assert!(e
                    .headers
                    .iter()
                    .any(|(n, v)| *n == RESULT_HEADER && v == "rejected"));
            }
            _ => panic!("expected 400"),
        }
        // Same id on another path is a different request.
        assert!(matches!(
            cache.check(Some(ID), Some(&d), "POST", "/q", b"{}", now),
            Check::Reject(_)
        ));
    }

    #[test]
    fn formats_window_and_5xx() {
        let cache = RepeatabilityCache::new(Some(Duration::from_secs(300)));
        let now = OffsetDateTime::now_utc();
        let d = date(now);
        assert!(matches!(
            cache.check(None, None, "POST", "/p", b"", now),
            Check::NotRepeatable
        ));
        for (id, fs) in [
            (Some("not-a-guid"), Some(d.as_str())),
            (Some(ID), Some("yesterday")),
            (Some(ID), None),
            (None, Some(d.as_str())),
        ] {
            match cache.check(id, fs, "POST", "/p", b"", now) {
                Check::Reject(e) => assert_eq!(e.status, StatusCode::BAD_REQUEST),
                _ => panic!("expected 400 for {id:?} {fs:?}"),
            }
        }
        let old = date(now - time::Duration::minutes(6));
        match cache.check(Some(ID), Some(&old), "POST", "/p", b"", now) {
            Check::Reject(e) => assert_eq!(e.status, StatusCode::PRECONDITION_FAILED),
            _ => panic!("expected 412"),
        }
        // A 5xx first answer is not kept.
        let Check::Proceed(t) = cache.check(Some(ID), Some(&d), "POST", "/p", b"", now) else {
            panic!()
        };
        t.complete(StoredResponse {
            status: 500,
            content_type: None,
            body: vec![],
        });
        assert!(matches!(
            cache.check(Some(ID), Some(&d), "POST", "/p", b"", now),
            Check::Proceed(_)
        ));
        // ... and a dropped ticket is forgotten (the Proceed above was dropped).
        assert!(cache.is_empty());
    }
}
