//! Client-side throttling for Graph.
//!
//! The presence APIs allow 1,500 requests per 30 s per application per tenant. Rather than
//! learn that from 429s, the client keeps a sliding-window log of its own requests and
//! waits before exceeding the budget. When Graph does answer 429, its `Retry-After` blocks
//! every request of this client (not only the one that was throttled) until it passes,
//! because Graph throttles the application, not the request.
//!
//! The window is per process. With N replicas, give each `limit / N` (see
//! [`RateLimit::per_replica`]). Times are `tokio::time::Instant`, so tests drive the limiter
//! with paused time.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// A request budget: at most `requests` in any `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window; 0 is treated as 1 so the client can never stall for good.
    pub requests: usize,
    /// Length of the sliding window the requests are counted over.
    pub window: Duration,
}

impl RateLimit {
    /// Graph's documented presence limit: 1,500 requests per 30 s per app per tenant.
    pub const GRAPH_PRESENCE: RateLimit = RateLimit {
        requests: 1_500,
        window: Duration::from_secs(30),
    };

    /// This budget split evenly across `replicas` processes (at least 1 request each).
    pub fn per_replica(self, replicas: usize) -> Self {
        Self {
            requests: (self.requests / replicas.max(1)).max(1),
            window: self.window,
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::GRAPH_PRESENCE
    }
}

#[derive(Debug)]
struct State {
    sent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

/// Sliding-window limiter plus a shared "blocked until" from 429 responses.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    state: Mutex<State>,
}

impl RateLimiter {
    /// A limiter with the given budget (a zero budget is treated as 1).
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit: RateLimit {
                requests: limit.requests.max(1),
                window: limit.window,
            },
            state: Mutex::new(State {
                sent: VecDeque::new(),
                blocked_until: None,
            }),
        }
    }

    /// Waits until a request may be sent, and counts it.
    pub async fn acquire(&self) {
        loop {
            let wake_at = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                match s.blocked_until {
                    Some(until) if until > now => Some(until),
                    _ => {
                        s.blocked_until = None;
                        while s
                            .sent
                            .front()
                            .is_some_and(|t| now.duration_since(*t) >= self.limit.window)
                        {
                            s.sent.pop_front();
                        }
                        if s.sent.len() < self.limit.requests {
                            s.sent.push_back(now);
                            None
                        } else {
                            s.sent.front().map(|oldest| *oldest + self.limit.window)
                        }
                    }
                }
            };
            match wake_at {
                None => return,
                Some(at) => {
                    tracing::debug!(wait_ms = ?at.saturating_duration_since(Instant::now()).as_millis(), "graph client-side throttle");
                    tokio::time::sleep_until(at).await;
                }
            }
        }
    }

    /// Blocks every request until `retry_after` from now (a 429's `Retry-After`). A longer
    /// block already in place is kept.
    pub async fn block_for(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut s = self.state.lock().await;
        if s.blocked_until.is_none_or(|b| b < until) {
            s.blocked_until = Some(until);
        }
    }

    /// How long until the current 429 block ends (zero if none). Only tests ask: the client
    /// itself just waits in [`acquire`](Self::acquire).
    #[cfg(test)]
    pub async fn blocked_for(&self) -> Duration {
        let s = self.state.lock().await;
        s.blocked_until
            .map(|b| b.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn window_holds_requests_beyond_the_budget() {
        let l = RateLimiter::new(RateLimit {
            requests: 3,
            window: Duration::from_secs(30),
        });
        let start = Instant::now();
        for _ in 0..3 {
            l.acquire().await;
        }
        assert_eq!(Instant::now(), start, "first three go through at once");
        l.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(30));
        // The window slides: the next two also had to wait for their predecessors.
        l.acquire().await;
        l.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(30));
        l.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_blocks_everyone_and_longest_block_wins() {
        let l = RateLimiter::new(RateLimit::GRAPH_PRESENCE);
        let start = Instant::now();
        l.block_for(Duration::from_secs(7)).await;
        l.block_for(Duration::from_secs(2)).await; // shorter: ignored
        assert_eq!(l.blocked_for().await, Duration::from_secs(7));
        l.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(7));
        assert_eq!(l.blocked_for().await, Duration::ZERO);
    }

    #[test]
    fn per_replica_split() {
        assert_eq!(RateLimit::GRAPH_PRESENCE.per_replica(4).requests, 375);
        assert_eq!(RateLimit::GRAPH_PRESENCE.per_replica(0).requests, 1_500);
        assert_eq!(RateLimit::GRAPH_PRESENCE.per_replica(10_000).requests, 1);
    }
}
