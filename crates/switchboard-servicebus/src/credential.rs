//! Microsoft Entra credentials for azservicebus, from `switchboard_core::entra`.
//!
//! azservicebus takes an `azure_core` [`TokenCredential`]. The `azure_identity` crate would
//! provide one, but it depends on `azure_core` with its default features, which pull reqwest
//! with native-tls (OpenSSL) into the shipped binary. Our own credentials already speak to the
//! same endpoints over the workspace's rustls reqwest, so this adapter is all that is needed.

use std::sync::Arc;

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::error::{Error, ErrorKind};
use switchboard_core::entra;

/// An `azure_core` credential backed by a Switchboard one.
#[derive(Debug)]
pub(crate) struct EntraCredential(Arc<dyn entra::TokenCredential>);

#[async_trait::async_trait]
impl TokenCredential for EntraCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions>,
    ) -> azure_core::Result<AccessToken> {
        let token = self
            .0
            .get_token(scopes)
            .await
            .map_err(|e| Error::new(ErrorKind::Credential, e))?;
        Ok(AccessToken::new(
            Secret::new(token.token.expose().to_owned()),
            token.expires_on,
        ))
    }
}

/// The managed identity `client_id` names (user-assigned), or the system-assigned one.
pub(crate) fn managed_identity(
    client_id: &Option<String>,
) -> azure_core::Result<Arc<EntraCredential>> {
    let credential = entra::ManagedIdentityCredential::new(client_id.clone())
        .map_err(|e| Error::new(ErrorKind::Credential, e))?;
    Ok(Arc::new(EntraCredential(Arc::new(credential))))
}

/// Workload identity federation from `AZURE_CLIENT_ID`, `AZURE_TENANT_ID` and
/// `AZURE_FEDERATED_TOKEN_FILE`.
pub(crate) fn workload_identity() -> azure_core::Result<Arc<EntraCredential>> {
    let credential = entra::WorkloadIdentityCredential::new()
        .map_err(|e| Error::new(ErrorKind::Credential, e))?;
    Ok(Arc::new(EntraCredential(Arc::new(credential))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The adapter hands azservicebus the token and expiry our credential produced.
    #[tokio::test]
    async fn passes_token_and_expiry_through() {
        let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let inner = entra::StaticTokenCredential::new("t0k", expires);
        let adapter = EntraCredential(Arc::new(inner));
        let token = adapter
            .get_token(&["https://servicebus.azure.net/.default"], None)
            .await
            .unwrap();
        assert_eq!(token.token.secret(), "t0k");
        assert_eq!(token.expires_on, expires);
        let err = adapter.get_token(&[], None).await.unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Credential);
    }
}
