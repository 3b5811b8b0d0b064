//! Where the Graph client gets its bearer tokens.
//!
//! Graph is called with app-only tokens for [`GRAPH_SCOPE`]. The workspace's credential
//! implementations (managed identity, client secret) live in
//! `switchboard_callautomation::auth`; this crate only needs "give me a token for this
//! scope", so it defines that one-method trait and a static-token implementation (tests,
//! the simulator, `SWITCHBOARD_GRAPH_TOKEN`). An adapter from the Call Automation
//! credentials implements [`TokenSource`] in the binary that wires both.

use std::fmt;

use async_trait::async_trait;

/// The app-only scope for Microsoft Graph.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// A bearer token. Never printed: `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token, for the `Authorization` header only.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why no token could be obtained.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TokenError {
    /// What went wrong (must not contain the secret).
    pub message: String,
    /// True if asking again later may succeed (network, identity endpoint busy).
    pub retryable: bool,
}

impl TokenError {
    /// A token error.
    pub fn new(message: impl Into<String>, retryable: bool) -> Self {
        Self {
            message: message.into(),
            retryable,
        }
    }
}

/// Something that hands out bearer tokens for a scope. Implementations cache and refresh
/// as they see fit; the Graph client asks before every request.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A token valid for `scope` right now.
    async fn token(&self, scope: &str) -> Result<AccessToken, TokenError>;
}

/// Always the same token (tests, the simulator, a token from `az account get-access-token`).
#[derive(Clone, Debug)]
pub struct StaticToken(AccessToken);

impl StaticToken {
    /// A source that returns `token`.
    pub fn new(token: impl Into<String>) -> Self {
        Self(AccessToken::new(token))
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self, _scope: &str) -> Result<AccessToken, TokenError> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_redacted_in_debug() {
        let t = StaticToken::new("eyJ0eXAiOiJKV1Qi.secret");
        let shown = format!("{t:?} {:?}", AccessToken::new("abc"));
        assert!(
            !shown.contains("secret") && !shown.contains("abc"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    #[tokio::test]
    async fn static_token_returns_its_token() {
        let t = StaticToken::new("tok");
        assert_eq!(t.token(GRAPH_SCOPE).await.unwrap().secret(), "tok");
    }
}
