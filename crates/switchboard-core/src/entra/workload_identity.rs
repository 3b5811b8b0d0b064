//! Workload identity federation (AKS): the client-credentials grant with the platform's signed
//! service-account token as a client assertion instead of a secret.
//!
//! The AKS workload identity webhook sets `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
//! `AZURE_FEDERATED_TOKEN_FILE` and `AZURE_AUTHORITY_HOST`. We `POST
//! {authority}/{tenant}/oauth2/v2.0/token` with `client_assertion` = the file's content and
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`. The file is
//! read again for every token request because the kubelet rotates it.

use std::path::PathBuf;

use url::Url;

use super::cache::TokenCache;
use super::client_secret::{
    request_token, tenant_token_url, token_http_client, DEFAULT_AUTHORITY_HOST,
};
use super::token::{AccessToken, AuthError, TokenCredential};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Tokens for an app registration or user-assigned identity federated with the platform's
/// service-account tokens. Cached per scope set and refreshed before expiry.
#[derive(Debug)]
pub struct WorkloadIdentityCredential {
    token_url: Url,
    client_id: String,
    token_file: PathBuf,
    http: reqwest::Client,
    cache: TokenCache,
}

impl WorkloadIdentityCredential {
    /// From the process environment (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
    /// `AZURE_FEDERATED_TOKEN_FILE`, optional `AZURE_AUTHORITY_HOST`).
    pub fn new() -> Result<Self, AuthError> {
        Self::from_env(|name| std::env::var(name).ok())
    }

    /// Like [`new`](Self::new) with an explicit environment lookup.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, AuthError> {
        let required = |name: &str| {
            env(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| AuthError::Config(format!("workload identity: {name} is not set")))
        };
        let client_id = required("AZURE_CLIENT_ID")?;
        let tenant_id = required("AZURE_TENANT_ID")?;
        let token_file = PathBuf::from(required("AZURE_FEDERATED_TOKEN_FILE")?);
        let authority = env("AZURE_AUTHORITY_HOST")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned());
        let authority = Url::parse(&authority)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                AuthError::Config(format!(
                    "AZURE_AUTHORITY_HOST {authority:?} is not an http(s) URL"
                ))
            })?;
        Ok(Self {
            token_url: tenant_token_url(&authority, &tenant_id)?,
            client_id,
            token_file,
            http: token_http_client()?,
            cache: TokenCache::default(),
        })
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<AccessToken, AuthError> {
        let assertion = tokio::fs::read_to_string(&self.token_file)
            .await
            .map_err(|e| {
                AuthError::Config(format!(
                    "cannot read AZURE_FEDERATED_TOKEN_FILE {}: {e}",
                    self.token_file.display()
                ))
            })?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("client_assertion", assertion.trim())
            .append_pair("client_assertion_type", ASSERTION_TYPE)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("grant_type", "client_credentials")
            .finish();
        request_token(&self.http, self.token_url.clone(), form).await
    }
}

#[async_trait::async_trait]
impl TokenCredential for WorkloadIdentityCredential {
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn names_the_missing_variable() {
        let err = WorkloadIdentityCredential::from_env(|n| match n {
            "AZURE_CLIENT_ID" => Some("app".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(err.to_string().contains("AZURE_TENANT_ID"), "{err}");
    }

    /// The token request carries the file's content as the assertion, no secret.
    #[tokio::test]
    async fn posts_the_federated_token_as_client_assertion() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // The form is small: read until the body's end (content-length known below).
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let body = r#"{"access_token":"tok","expires_in":3600}"#;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        let dir = std::env::temp_dir().join(format!("wi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "signed.sa.jwt\n").unwrap();
        let authority = format!("http://127.0.0.1:{port}");
        let file_s = file.display().to_string();
        let c = WorkloadIdentityCredential::from_env(|n| match n {
            "AZURE_CLIENT_ID" => Some("app-id".into()),
            "AZURE_TENANT_ID" => Some("contoso.onmicrosoft.com".into()),
            "AZURE_FEDERATED_TOKEN_FILE" => Some(file_s.clone()),
            "AZURE_AUTHORITY_HOST" => Some(authority.clone()),
            _ => None,
        })
        .unwrap();
        let token = c
            .get_token(&["https://servicebus.azure.net/.default"])
            .await
            .unwrap();
        assert_eq!(token.token.expose(), "tok");
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /contoso.onmicrosoft.com/oauth2/v2.0/token "));
        assert!(
            request.contains("client_assertion=signed.sa.jwt&"),
            "{request}"
        );
        assert!(request.contains("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"));
        assert!(request.contains("client_id=app-id"));
        assert!(!request.contains("client_secret"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
