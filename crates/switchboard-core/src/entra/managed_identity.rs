//! Managed identity: tokens from the hosting platform, no secret in our configuration.
//!
//! * Container Apps and App Service set `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`; we call
//!   `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…[&client_id=…]` with header
//!   `X-IDENTITY-HEADER` (its value is a secret and never logged).
//! * Elsewhere (VMs, AKS with pod identity) the Instance Metadata Service answers
//!   `GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…`
//!   with header `Metadata: true`.
//!
//! Both take one resource (the scope without `/.default`) and answer
//! `{"access_token": …, "expires_on": "<unix seconds>", …}`; `expires_in` is the fallback.

use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;

use super::cache::TokenCache;
use super::token::{
    display_endpoint, scopes_to_resource, token_error_message, AccessToken, AuthError,
    TokenCredential,
};
use crate::secret::Secret;

/// The IMDS token endpoint.
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

const APP_SERVICE_API_VERSION: &str = "2019-08-01";
const IMDS_API_VERSION: &str = "2018-02-01";
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the managed identity's tokens come from.
#[derive(Clone, Debug)]
pub enum ManagedIdentitySource {
    /// Container Apps / App Service: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`.
    AppService {
        /// The identity endpoint.
        endpoint: Url,
        /// The `X-IDENTITY-HEADER` value.
        header: Secret,
    },
    /// The Instance Metadata Service.
    Imds {
        /// The IMDS token endpoint.
        endpoint: Url,
    },
}

/// Tokens for the managed identity of the host (system-assigned, or user-assigned when a
/// client id is given). Cached per scope and refreshed before expiry.
#[derive(Debug)]
pub struct ManagedIdentityCredential {
    source: ManagedIdentitySource,
    client_id: Option<String>,
    http: reqwest::Client,
    cache: TokenCache,
}

impl ManagedIdentityCredential {
    /// Picks the source from the process environment: App Service / Container Apps when both
    /// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set, IMDS otherwise.
    pub fn new(client_id: Option<String>) -> Result<Self, AuthError> {
        Self::from_env(|name| std::env::var(name).ok(), client_id)
    }

    /// Like [`new`](Self::new) with an explicit environment lookup (for tests and for callers
    /// that read configuration elsewhere).
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        client_id: Option<String>,
    ) -> Result<Self, AuthError> {
        let non_empty = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let source = match (non_empty("IDENTITY_ENDPOINT"), non_empty("IDENTITY_HEADER")) {
            (Some(endpoint), Some(header)) => ManagedIdentitySource::AppService {
                endpoint: parse_endpoint("IDENTITY_ENDPOINT", &endpoint)?,
                header: Secret::new(header),
            },
            _ => ManagedIdentitySource::Imds {
                endpoint: parse_endpoint("IMDS endpoint", DEFAULT_IMDS_ENDPOINT)?,
            },
        };
        Self::with_source(source, client_id)
    }

    /// An explicit source.
    pub fn with_source(
        source: ManagedIdentitySource,
        client_id: Option<String>,
    ) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(TOKEN_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            // Identity endpoints never redirect; following one could leak the identity header.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AuthError::Config(format!("cannot build the HTTP client: {e}")))?;
        let client_id = client_id.filter(|c| !c.trim().is_empty());
        Ok(Self {
            source,
            client_id,
            http,
            cache: TokenCache::default(),
        })
    }

    /// Uses `http` for token requests (e.g. a client with a proxy).
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// The source in use.
    pub fn source(&self) -> &ManagedIdentitySource {
        &self.source
    }

    async fn fetch(&self, resource: &str) -> Result<AccessToken, AuthError> {
        let (endpoint, api_version, imds) = match &self.source {
            ManagedIdentitySource::AppService { endpoint, .. } => {
                (endpoint, APP_SERVICE_API_VERSION, false)
            }
            ManagedIdentitySource::Imds { endpoint } => (endpoint, IMDS_API_VERSION, true),
        };
        let mut url = endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api-version", api_version);
            q.append_pair("resource", resource);
            if let Some(id) = &self.client_id {
                q.append_pair("client_id", id);
            }
        }
        let shown = display_endpoint(&url);
        let request = match &self.source {
            ManagedIdentitySource::AppService { header, .. } => self
                .http
                .get(url)
                .header("X-IDENTITY-HEADER", header.expose()),
            ManagedIdentitySource::Imds { .. } => self.http.get(url).header("Metadata", "true"),
        };
        let response = request
            .send()
            .await
            .map_err(|source| AuthError::Transport {
                endpoint: shown.clone(),
                source: source.without_url(),
            })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|source| AuthError::Transport {
                endpoint: shown.clone(),
                source: source.without_url(),
            })?;
        if !(200..300).contains(&status) {
            return Err(AuthError::Status {
                endpoint: shown,
                status,
                message: token_error_message(&body),
                retryable: matches!(status, 408 | 429 | 500..=599)
                    || (imds && matches!(status, 404 | 410)),
            });
        }
        parse_token_response(&body).map_err(|message| AuthError::Decode {
            endpoint: shown,
            message,
        })
    }
}

#[async_trait::async_trait]
impl TokenCredential for ManagedIdentityCredential {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, AuthError> {
        let resource = scopes_to_resource(scopes)?;
        self.cache
            .get_or_fetch(scopes, || self.fetch(&resource))
            .await
    }
}

fn parse_endpoint(what: &str, value: &str) -> Result<Url, AuthError> {
    let url = Url::parse(value.trim())
        .map_err(|e| AuthError::Config(format!("{what} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(AuthError::Config(format!(
            "{what} must be an http(s) URL with a host"
        )));
    }
    Ok(url)
}

/// A number that may arrive as a JSON number or a string of digits.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(i64),
    String(String),
}

impl NumberOrString {
    fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::String(s) => s.trim().parse().ok(),
        }
    }
}

/// Reads a managed-identity token response.
pub(crate) fn parse_token_response(body: &[u8]) -> Result<AccessToken, String> {
    #[derive(Deserialize)]
    struct Response {
        access_token: Option<String>,
        expires_on: Option<NumberOrString>,
        expires_in: Option<NumberOrString>,
    }
    let r: Response =
        serde_json::from_slice(body).map_err(|e| format!("not a token response: {e}"))?;
    let token = r
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or("no access_token")?;
    let expires_on = match (
        r.expires_on.as_ref().and_then(NumberOrString::as_i64),
        r.expires_in.as_ref().and_then(NumberOrString::as_i64),
    ) {
        (Some(epoch), _) => OffsetDateTime::from_unix_timestamp(epoch)
            .map_err(|_| format!("expires_on {epoch} is out of range"))?,
        (None, Some(secs)) => OffsetDateTime::now_utc()
            .checked_add(time::Duration::seconds(secs))
            .ok_or_else(|| format!("expires_in {secs} is out of range"))?,
        (None, None) => return Err("no usable expires_on or expires_in".into()),
    };
    Ok(AccessToken::new(token, expires_on))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_selects_the_source() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let app = ManagedIdentityCredential::from_env(
            env(&[
                ("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"),
                ("IDENTITY_HEADER", "secret-header"),
            ]),
            None,
        )
        .unwrap();
        assert!(
            matches!(app.source(), ManagedIdentitySource::AppService { endpoint, .. }
            if endpoint.as_str() == "http://localhost:42356/msi/token")
        );
        assert!(!format!("{app:?}").contains("secret-header"));
        let imds =
            ManagedIdentityCredential::from_env(env(&[("IDENTITY_ENDPOINT", "http://x")]), None)
                .unwrap();
        assert!(
            matches!(imds.source(), ManagedIdentitySource::Imds { endpoint }
            if endpoint.as_str() == DEFAULT_IMDS_ENDPOINT)
        );
        let err = ManagedIdentityCredential::from_env(
            env(&[("IDENTITY_ENDPOINT", "not a url"), ("IDENTITY_HEADER", "h")]),
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("IDENTITY_ENDPOINT is not a URL"),
            "{err}"
        );
    }

    #[test]
    fn token_response_shapes() {
        let t = parse_token_response(
            br#"{"access_token":"abc","expires_on":"1900000000","resource":"r","token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(t.token.expose(), "abc");
        assert_eq!(t.expires_on.unix_timestamp(), 1_900_000_000);
        let t = parse_token_response(br#"{"access_token":"abc","expires_on":1900000001}"#).unwrap();
        assert_eq!(t.expires_on.unix_timestamp(), 1_900_000_001);
        let t = parse_token_response(br#"{"access_token":"abc","expires_in":"3599"}"#).unwrap();
        assert!(t.remaining() > Duration::from_secs(3500));
        assert_eq!(
            parse_token_response(br#"{"expires_in":5}"#).unwrap_err(),
            "no access_token"
        );
        assert_eq!(
            parse_token_response(br#"{"access_token":"a","expires_on":"soon"}"#).unwrap_err(),
            "no usable expires_on or expires_in"
        );
        assert!(parse_token_response(b"<html>").is_err());
        assert!(
            parse_token_response(br#"{"access_token":"a","expires_in":9223372036854775807}"#)
                .is_err()
        );
        assert!(
            parse_token_response(br#"{"access_token":"a","expires_on":9223372036854775807}"#)
                .is_err()
        );
    }
}
