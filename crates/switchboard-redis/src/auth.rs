//! How the store authenticates: nothing beyond the URL, or short-lived tokens (Microsoft
//! Entra ID on Azure Managed Redis) that are renewed on the live connection before expiry.
//!
//! A [`TokenSource`] is the only thing a deployment provides; the CLI builds one from
//! `azure_identity`, tests from a plain closure, so this crate needs no Azure SDK.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::Stream;
use redis::auth::{BasicAuth, StreamingCredentialsProvider};
use redis::RedisResult;

/// A credential for `AUTH <username> <token>`.
#[derive(Clone)]
pub struct AccessToken {
    /// The ACL user (for Entra: the object id of the managed identity).
    pub username: String,
    /// The token, used as the password. Never printed.
    pub token: String,
    /// How long the token stays valid from now.
    pub valid_for: Duration,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("username", &self.username)
            .field("token", &"<redacted>")
            .field("valid_for", &self.valid_for)
            .finish()
    }
}

/// Fetches a fresh token (e.g. from a managed identity for `https://redis.azure.com/.default`).
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A new token; an error is retried with backoff.
    fn token(&self) -> BoxFuture<'static, Result<AccessToken, String>>;
}

/// How to authenticate beyond what the URL carries.
#[derive(Clone, Debug, Default)]
pub enum RedisAuth {
    /// The URL's user and password (or none, for a local server).
    #[default]
    Url,
    /// Tokens from `source`, renewed at 80 % of their lifetime on every connection.
    Token(Arc<dyn TokenSource>),
}

/// Adapts a [`TokenSource`] to the connection manager's credentials stream.
pub(crate) struct TokenCredentials(pub Arc<dyn TokenSource>);

const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

impl StreamingCredentialsProvider for TokenCredentials {
    fn subscribe(&self) -> Pin<Box<dyn Stream<Item = RedisResult<BasicAuth>> + Send + 'static>> {
        let source = Arc::clone(&self.0);
        // State: how long to wait before fetching the next token.
        Box::pin(futures::stream::unfold(
            (source, Duration::ZERO),
            |(source, wait)| async move {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                match source.token().await {
                    Ok(t) => {
                        let renew_in = (t.valid_for * 4 / 5).max(Duration::from_secs(1));
                        tracing::debug!(
                            username = %t.username,
                            ?renew_in,
                            "redis access token acquired"
                        );
                        let auth = BasicAuth::new(t.username, t.token);
                        Some((Ok(auth), (source, renew_in)))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "redis access token request failed; retrying");
                        // An I/O error, not `AuthenticationFailed`: the identity endpoint being
                        // down is an outage like Redis being down (retryable), unlike a token
                        // the server rejects.
                        let err = redis::RedisError::from(std::io::Error::other(format!(
                            "access token request failed: {e}"
                        )));
                        Some((Err(err), (source, RETRY_AFTER_FAILURE)))
                    }
                }
            },
        ))
    }
}
