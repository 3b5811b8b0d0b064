//! Per-scope token cache with refresh ahead of expiry.
//!
//! A token is reused until `refresh_margin` before it expires; then the next caller fetches a
//! new one while the others wait (one fetch at a time, so a burst of requests does not become a
//! burst of token requests). If a refresh fails while the old token is still valid, the old one
//! is returned: an identity endpoint hiccup should not fail calls that still hold a good token.
//! Deadlines use `tokio::time::Instant`, so tests drive expiry with a paused clock.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::token::{AccessToken, AuthError};

/// Default time before expiry at which a token is refreshed (Azure SDKs use five minutes).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Longest a cached token is trusted, whatever its stated expiry.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
    expires_at: Instant,
}

/// Caches tokens by scope set.
pub struct TokenCache {
    entries: Mutex<HashMap<String, Cached>>,
    refresh_margin: Duration,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("refresh_margin", &self.refresh_margin)
            .finish_non_exhaustive()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(DEFAULT_REFRESH_MARGIN)
    }
}

impl TokenCache {
    /// A cache that refreshes `refresh_margin` before expiry.
    pub fn new(refresh_margin: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            refresh_margin,
        }
    }

    /// The cached token for `scopes`, or the result of `fetch` (which is then cached).
    pub async fn get_or_fetch<F, Fut>(
        &self,
        scopes: &[&str],
        fetch: F,
    ) -> Result<AccessToken, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, AuthError>>,
    {
        let key = scopes.join(" ");
        let mut entries = self.entries.lock().await;
        let now = Instant::now();
        if let Some(c) = entries.get(&key) {
            if now < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        match fetch().await {
            Ok(token) => {
                // Capped at a day: no Entra token lives longer, and a bogus far-future
                // expiry must neither pin a token forever nor overflow an Instant.
                let lifetime = Duration::try_from(token.expires_on - OffsetDateTime::now_utc())
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_LIFETIME);
                // Short-lived tokens (lifetime under twice the margin) refresh at half-life
                // rather than immediately, so they are still reused.
                let early = if lifetime > self.refresh_margin * 2 {
                    lifetime - self.refresh_margin
                } else {
                    lifetime / 2
                };
                let now = Instant::now();
                entries.insert(
                    key,
                    Cached {
                        token: token.clone(),
                        refresh_at: now + early,
                        expires_at: now + lifetime,
                    },
                );
                Ok(token)
            }
            Err(e) => match entries.get(&key) {
                Some(c) if Instant::now() < c.expires_at => {
                    tracing::warn!(error = %e, "token refresh failed; using the cached token until it expires");
                    Ok(c.token.clone())
                }
                _ => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn token(name: &str, secs: i64) -> AccessToken {
        AccessToken::new(
            name,
            OffsetDateTime::now_utc() + time::Duration::seconds(secs),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn reuses_until_the_refresh_margin_then_refreshes() {
        let cache = TokenCache::new(Duration::from_secs(300));
        let calls = AtomicU32::new(0);
        let fetch = || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Ok(token(&format!("t{n}"), 3600))
        };
        assert_eq!(
            cache
                .get_or_fetch(&["s"], fetch)
                .await
                .unwrap()
                .token
                .expose(),
            "t0"
        );
        tokio::time::advance(Duration::from_secs(3299)).await;
        assert_eq!(
            cache
                .get_or_fetch(&["s"], fetch)
                .await
                .unwrap()
                .token
                .expose(),
            "t0"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            cache
                .get_or_fetch(&["s"], fetch)
                .await
                .unwrap()
                .token
                .expose(),
            "t1"
        );
        // A different scope has its own entry.
        assert_eq!(
            cache
                .get_or_fetch(&["other"], fetch)
                .await
                .unwrap()
                .token
                .expose(),
            "t2"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_refresh_falls_back_to_a_still_valid_token() {
        let cache = TokenCache::new(Duration::from_secs(300));
        let ok = || async { Ok(token("good", 600)) };
        let fail = || async {
            Err(AuthError::Status {
                endpoint: "e".into(),
                status: 503,
                message: "down".into(),
                retryable: true,
            })
        };
        cache.get_or_fetch(&["s"], ok).await.unwrap();
        // 600 s lifetime < 2 × margin: refresh at half-life (300 s).
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(
            cache
                .get_or_fetch(&["s"], fail)
                .await
                .unwrap()
                .token
                .expose(),
            "good"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        // Refresh due, fails, old token still valid: old token.
        assert_eq!(
            cache
                .get_or_fetch(&["s"], fail)
                .await
                .unwrap()
                .token
                .expose(),
            "good"
        );
        tokio::time::advance(Duration::from_secs(300)).await;
        // Expired: the error comes through.
        let err = cache.get_or_fetch(&["s"], fail).await.unwrap_err();
        assert!(err.is_retryable());
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch() {
        let cache = std::sync::Arc::new(TokenCache::default());
        let calls = std::sync::Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(&["s"], || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(token("t", 3600))
                    })
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().token.expose(), "t");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
