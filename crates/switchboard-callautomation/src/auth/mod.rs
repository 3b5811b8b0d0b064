//! Credentials: how a request proves who sends it.
//!
//! ACS accepts two schemes. An access key (from the resource's connection string) signs each
//! request with HMAC-SHA256; see [`switchboard_contract::hmac`]. Or a Microsoft Entra bearer
//! token for the scope [`COMMUNICATION_SCOPE`], obtained from a [`TokenCredential`]
//! ([`ManagedIdentityCredential`], [`ClientSecretCredential`], [`StaticTokenCredential`]).
//!
//! The Entra credentials are not specific to Call Automation (Graph, Service Bus and Redis
//! use them with their own scopes), so they live in [`switchboard_core::entra`]; they are
//! re-exported here, at the paths callers have always used.

use std::sync::Arc;

pub use switchboard_contract::hmac::AccessKey;
pub use switchboard_core::entra::{
    AccessToken, AuthError, ClientSecretCredential, ManagedIdentityCredential,
    ManagedIdentitySource, StaticTokenCredential, TokenCache, TokenCredential,
    DEFAULT_AUTHORITY_HOST, DEFAULT_IMDS_ENDPOINT,
};
pub use switchboard_core::Secret;

/// The Entra scope for Azure Communication Services data-plane calls. The double slash is
/// correct: the resource id is `https://communication.azure.com/` and `/.default` follows it.
pub const COMMUNICATION_SCOPE: &str = "https://communication.azure.com//.default";

/// How the Call Automation client authenticates.
#[derive(Clone, Debug)]
pub enum Credential {
    /// HMAC-SHA256 with the resource's access key.
    AccessKey(AccessKey),
    /// A bearer token for [`COMMUNICATION_SCOPE`].
    Token(Arc<dyn TokenCredential>),
}

impl Credential {
    /// An access-key credential from the base64 key in a connection string.
    pub fn access_key(base64_key: &str) -> Result<Self, AuthError> {
        AccessKey::from_base64(base64_key)
            .map(Self::AccessKey)
            .map_err(|_| AuthError::Config("the access key is not valid base64".into()))
    }

    /// A token credential.
    pub fn token(credential: impl TokenCredential + 'static) -> Self {
        Self::Token(Arc::new(credential))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print() {
        let c = Credential::token(StaticTokenCredential::long_lived("eyJ.abc"));
        assert!(!format!("{c:?}").contains("eyJ"));
        let k = Credential::access_key("c2VjcmV0").unwrap();
        assert!(!format!("{k:?}").contains("c2VjcmV0"));
    }
}
