//! OAuth 2.0 client-credentials grant with a client secret (an Entra app registration).
//!
//! `POST {authority}/{tenant}/oauth2/v2.0/token` with form fields `client_id`,
//! `client_secret`, `scope` and `grant_type=client_credentials`; the answer is
//! `{"access_token": …, "expires_in": <seconds>, …}`. The authority host is configurable for
//! sovereign clouds and for tests.

use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;

use super::cache::TokenCache;
use super::token::{
    display_endpoint, token_error_message, AccessToken, AuthError, TokenCredential,
};
use crate::secret::Secret;

/// The public-cloud authority.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Tokens for an app registration, authenticated with its client secret. Cached per scope set
/// and refreshed before expiry.
#[derive(Debug)]
pub struct ClientSecretCredential {
    tenant_id: String,
    client_id: String,
    client_secret: Secret,
    authority_host: Url,
    http: reqwest::Client,
    cache: TokenCache,
}

impl ClientSecretCredential {
    /// A credential for `client_id` in `tenant_id` (a GUID or a verified domain).
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Result<Self, AuthError> {
        let tenant_id = tenant_id.into();
        let client_id = client_id.into();
        let authority_host = Url::parse(DEFAULT_AUTHORITY_HOST)
            .map_err(|e| AuthError::Config(format!("default authority: {e}")))?;
        tenant_token_url(&authority_host, &tenant_id)?;
        if client_id.trim().is_empty() {
            return Err(AuthError::Config("the client id is empty".into()));
        }
        let client_secret = client_secret.into();
        if client_secret.expose().is_empty() {
            return Err(AuthError::Config("the client secret is empty".into()));
        }
        let http = token_http_client()?;
        Ok(Self {
            tenant_id,
            client_id,
            client_secret,
            authority_host,
            http,
            cache: TokenCache::default(),
        })
    }

    /// Uses another authority host (sovereign clouds, or a local fake in tests).
    pub fn with_authority_host(mut self, authority_host: Url) -> Result<Self, AuthError> {
        if !matches!(authority_host.scheme(), "http" | "https")
            || authority_host.host_str().is_none()
        {
            return Err(AuthError::Config(
                "the authority host must be an http(s) URL".into(),
            ));
        }
        self.authority_host = authority_host;
        Ok(self)
    }

    /// Uses `http` for token requests.
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    fn token_url(&self) -> Result<Url, AuthError> {
        tenant_token_url(&self.authority_host, &self.tenant_id)
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<AccessToken, AuthError> {
        let url = self.token_url()?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", self.client_secret.expose())
            .append_pair("scope", &scopes.join(" "))
            .append_pair("grant_type", "client_credentials")
            .finish();
        request_token(&self.http, url, form).await
    }
}

/// `{authority}/{tenant}/oauth2/v2.0/token`, the tenant checked to be a GUID or a domain (it
/// goes into the URL path).
pub(crate) fn tenant_token_url(authority_host: &Url, tenant_id: &str) -> Result<Url, AuthError> {
    let valid_tenant = !tenant_id.is_empty()
        && tenant_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !valid_tenant {
        return Err(AuthError::Config(format!(
            "invalid tenant id {tenant_id:?}: expected a GUID or a domain name"
        )));
    }
    let base = authority_host.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/{tenant_id}/oauth2/v2.0/token"))
        .map_err(|e| AuthError::Config(format!("token endpoint: {e}")))
}

/// The HTTP client every client-credentials request uses: bounded, no redirects (a redirect
/// would carry the secret or assertion elsewhere).
pub(crate) fn token_http_client() -> Result<reqwest::Client, AuthError> {
    reqwest::Client::builder()
        .timeout(TOKEN_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| AuthError::Config(format!("cannot build the HTTP client: {e}")))
}

/// POSTs a client-credentials `form` (secret or assertion) to `url` and reads the answer
/// `{"access_token": …, "expires_in": <seconds>}`.
pub(crate) async fn request_token(
    http: &reqwest::Client,
    url: Url,
    form: String,
) -> Result<AccessToken, AuthError> {
    let shown = display_endpoint(&url);
    let response = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(form)
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
            retryable: matches!(status, 408 | 429 | 500..=599),
        });
    }
    #[derive(Deserialize)]
    struct Response {
        access_token: Option<String>,
        expires_in: Option<i64>,
    }
    let r: Response = serde_json::from_slice(&body).map_err(|e| AuthError::Decode {
        endpoint: shown.clone(),
        message: format!("not a token response: {e}"),
    })?;
    let expires_on = r
        .expires_in
        .and_then(|secs| OffsetDateTime::now_utc().checked_add(time::Duration::seconds(secs)));
    match (r.access_token.filter(|t| !t.is_empty()), expires_on) {
        (Some(token), Some(expires_on)) => Ok(AccessToken::new(token, expires_on)),
        _ => Err(AuthError::Decode {
            endpoint: shown,
            message: "no access_token or no usable expires_in".into(),
        }),
    }
}

#[async_trait::async_trait]
impl TokenCredential for ClientSecretCredential {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, AuthError> {
        if scopes.is_empty() {
            return Err(AuthError::Config("no scope requested".into()));
        }
        self.cache.get_or_fetch(scopes, || self.fetch(scopes)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_configuration_and_redacts() {
        assert!(ClientSecretCredential::new("../evil", "c", "s").is_err());
        assert!(ClientSecretCredential::new("", "c", "s").is_err());
        assert!(ClientSecretCredential::new("t", " ", "s").is_err());
        assert!(ClientSecretCredential::new("t", "c", "").is_err());
        let c = ClientSecretCredential::new("contoso.onmicrosoft.com", "app", "s3cr3t").unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert_eq!(
            c.token_url().unwrap().as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        let c = c
            .with_authority_host(Url::parse("http://127.0.0.1:9/base/").unwrap())
            .unwrap();
        assert_eq!(
            c.token_url().unwrap().as_str(),
            "http://127.0.0.1:9/base/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
    }
}
