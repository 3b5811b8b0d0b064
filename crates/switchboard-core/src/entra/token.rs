//! What every credential shares: the token, the error, the trait, and the parsing of token
//! endpoint answers.

use std::fmt;
use std::time::Duration;

use time::OffsetDateTime;

use crate::secret::Secret;

/// Longest token-endpoint error text kept in an [`AuthError`].
const MAX_ERROR_TEXT: usize = 512;

/// A bearer token and when it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    /// The token (without the `Bearer ` prefix).
    pub token: Secret,
    /// When the token stops being accepted.
    pub expires_on: OffsetDateTime,
}

impl AccessToken {
    /// A token expiring at `expires_on`.
    pub fn new(token: impl Into<Secret>, expires_on: OffsetDateTime) -> Self {
        Self {
            token: token.into(),
            expires_on,
        }
    }

    /// Time left before expiry (zero if already expired).
    pub fn remaining(&self) -> Duration {
        let left = self.expires_on - OffsetDateTime::now_utc();
        Duration::try_from(left).unwrap_or(Duration::ZERO)
    }
}

/// Why a token could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credential is misconfigured (bad tenant id, no scope, bad endpoint...).
    #[error("credential configuration: {0}")]
    Config(String),
    /// The token endpoint could not be reached.
    #[error("token request to {endpoint} failed: {source}")]
    Transport {
        /// The token endpoint (no secrets: query strings are dropped).
        endpoint: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The token endpoint answered with an error status.
    #[error("token endpoint {endpoint} returned HTTP {status}: {message}")]
    Status {
        /// The token endpoint.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The endpoint's error code and description, truncated.
        message: String,
        /// Whether asking again may succeed (408, 429, 5xx; IMDS also 404 and 410 while it
        /// starts up).
        retryable: bool,
    },
    /// The token endpoint's answer could not be read.
    #[error("token response from {endpoint} could not be read: {message}")]
    Decode {
        /// The token endpoint.
        endpoint: String,
        /// What was wrong.
        message: String,
    },
}

impl AuthError {
    /// Whether retrying the token request may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Config(_) | Self::Decode { .. } => false,
            Self::Transport { .. } => true,
            Self::Status { retryable, .. } => *retryable,
        }
    }
}

/// Something that can produce bearer tokens for scopes.
#[async_trait::async_trait]
pub trait TokenCredential: Send + Sync + fmt::Debug {
    /// A token valid for `scopes` (for ACS: `https://communication.azure.com//.default`).
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, AuthError>;
}

/// A fixed token. Tests use it; so can callers that mint tokens elsewhere.
#[derive(Clone, Debug)]
pub struct StaticTokenCredential {
    token: AccessToken,
}

impl StaticTokenCredential {
    /// A credential that always returns `token`, valid until `expires_on`.
    pub fn new(token: impl Into<Secret>, expires_on: OffsetDateTime) -> Self {
        Self {
            token: AccessToken::new(token, expires_on),
        }
    }

    /// A credential whose token never expires in practice (one year from now).
    pub fn long_lived(token: impl Into<Secret>) -> Self {
        Self::new(token, OffsetDateTime::now_utc() + time::Duration::days(365))
    }
}

#[async_trait::async_trait]
impl TokenCredential for StaticTokenCredential {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, AuthError> {
        if scopes.is_empty() {
            return Err(AuthError::Config("no scope requested".into()));
        }
        Ok(self.token.clone())
    }
}

/// The single resource a legacy (v1) token endpoint wants, from a v2 scope:
/// `https://communication.azure.com//.default` → `https://communication.azure.com/`.
pub(crate) fn scopes_to_resource(scopes: &[&str]) -> Result<String, AuthError> {
    match scopes {
        [scope] => {
            let resource = scope.strip_suffix("/.default").unwrap_or(scope);
            if resource.is_empty() {
                Err(AuthError::Config(format!("invalid scope {scope:?}")))
            } else {
                Ok(resource.to_owned())
            }
        }
        _ => Err(AuthError::Config(format!(
            "managed identity takes exactly one scope, got {}",
            scopes.len()
        ))),
    }
}

/// Cuts endpoint error text to a bounded, single-line size for errors and logs.
pub(crate) fn bounded(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if trimmed.chars().count() > MAX_ERROR_TEXT {
        let cut: String = trimmed.chars().take(MAX_ERROR_TEXT).collect();
        format!("{cut}…")
    } else {
        trimmed.to_owned()
    }
}

/// An endpoint URL for messages: scheme, host, port and path only (query strings can carry
/// client ids and other details nobody needs in a log line).
pub(crate) fn display_endpoint(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// Parses an OAuth error body (`{"error": "...", "error_description": "..."}`) or the
/// managed-identity variants into a short message.
pub(crate) fn token_error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: Option<serde_json::Value>,
        error_description: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) => {
            let code = match e.error {
                Some(serde_json::Value::String(s)) => Some(s),
                // App Service sometimes nests: {"error": {"code": "...", "message": "..."}}
                Some(serde_json::Value::Object(o)) => Some(
                    [o.get("code"), o.get("message")]
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(": "),
                ),
                _ => None,
            };
            let parts: Vec<String> = [code, e.error_description, e.message]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect();
            if parts.is_empty() {
                bounded(&String::from_utf8_lossy(body))
            } else {
                bounded(&parts.join(": "))
            }
        }
        Err(_) => bounded(&String::from_utf8_lossy(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMUNICATION_SCOPE: &str = "https://communication.azure.com//.default";

    #[test]
    fn tokens_never_print() {
        let t = AccessToken::new("eyJ.token", OffsetDateTime::UNIX_EPOCH);
        assert!(!format!("{t:?}").contains("eyJ"));
        let c = StaticTokenCredential::long_lived("eyJ.abc");
        assert!(!format!("{c:?}").contains("eyJ"));
    }

    #[test]
    fn scope_to_resource() {
        assert_eq!(
            scopes_to_resource(&[COMMUNICATION_SCOPE]).unwrap(),
            "https://communication.azure.com/"
        );
        assert_eq!(
            scopes_to_resource(&["https://graph.microsoft.com/.default"]).unwrap(),
            "https://graph.microsoft.com"
        );
        assert!(scopes_to_resource(&[]).is_err());
        assert!(scopes_to_resource(&["a", "b"]).is_err());
        assert!(scopes_to_resource(&["/.default"]).is_err());
    }

    #[test]
    fn token_error_messages() {
        assert_eq!(
            token_error_message(
                br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#
            ),
            "invalid_client: AADSTS7000215: Invalid client secret provided."
        );
        assert_eq!(
            token_error_message(
                br#"{"error":{"code":"ManagedIdentityNotFound","message":"no identity"}}"#
            ),
            "ManagedIdentityNotFound: no identity"
        );
        assert_eq!(token_error_message(b"plain\ntext"), "plain text");
        let long = "x".repeat(2000);
        assert_eq!(
            token_error_message(long.as_bytes()).chars().count(),
            MAX_ERROR_TEXT + 1
        );
    }

    #[test]
    fn endpoints_are_shown_without_query() {
        let u = url::Url::parse("http://user:pw@127.0.0.1:1234/msi/token?client_id=x#f").unwrap();
        assert_eq!(display_endpoint(&u), "http://127.0.0.1:1234/msi/token");
    }

    #[tokio::test]
    async fn static_credential() {
        let c = StaticTokenCredential::long_lived("t");
        assert_eq!(
            c.get_token(&[COMMUNICATION_SCOPE])
                .await
                .unwrap()
                .token
                .expose(),
            "t"
        );
        assert!(c.get_token(&[]).await.is_err());
        assert!(c.token.remaining() > Duration::from_secs(3600));
    }
}
