//! Where the Graph client gets its bearer tokens: the workspace's Entra credentials in
//! `switchboard_core::entra` (managed identity, client secret, static token),
//! asked for app-only tokens for [`GRAPH_SCOPE`]. They cache tokens per scope and refresh
//! them before expiry, so the client simply asks before every request.
//!
//! Re-exported here so users of the Graph client need not name another crate.

pub use switchboard_core::entra::{
    AccessToken, AuthError, ClientSecretCredential, ManagedIdentityCredential,
    StaticTokenCredential, TokenCredential,
};
pub use switchboard_core::Secret;

/// The app-only scope for Microsoft Graph.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// A client-secret credential, optionally against another authority host (sovereign clouds
/// such as `https://login.microsoftonline.us`, or a local fake in tests), given as a string.
pub fn client_secret_credential(
    tenant_id: &str,
    client_id: &str,
    client_secret: impl Into<Secret>,
    authority_host: Option<&str>,
) -> Result<ClientSecretCredential, AuthError> {
    let credential = ClientSecretCredential::new(tenant_id, client_id, client_secret)?;
    match authority_host {
        None => Ok(credential),
        Some(host) => {
            let url = url::Url::parse(host)
                .map_err(|e| AuthError::Config(format!("authority host {host:?}: {e}")))?;
            credential.with_authority_host(url)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_secret_credential_checks_the_authority_host() {
        assert!(client_secret_credential("contoso.com", "app", "s", None).is_ok());
        assert!(
            client_secret_credential("contoso.com", "app", "s", Some("http://127.0.0.1:9")).is_ok()
        );
        let e = client_secret_credential("contoso.com", "app", "s", Some("not a url"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("authority host"), "{e}");
        assert!(client_secret_credential("../x", "app", "s", None).is_err());
    }

    #[tokio::test]
    async fn static_credential_serves_graph_tokens_without_showing_them() {
        let c = StaticTokenCredential::long_lived("eyJ0eXAiOiJKV1Qi.secret");
        let t = c.get_token(&[GRAPH_SCOPE]).await.unwrap();
        assert_eq!(t.token.expose(), "eyJ0eXAiOiJKV1Qi.secret");
        let shown = format!("{c:?} {t:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
