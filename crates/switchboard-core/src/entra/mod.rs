//! Microsoft Entra ID bearer tokens: how a request to an Azure service proves who sends it.
//!
//! A [`TokenCredential`] produces an [`AccessToken`] for the scopes asked (the scope is a
//! parameter, so Call Automation, Microsoft Graph, Service Bus and Redis all use the same
//! credentials):
//!
//! * [`ManagedIdentityCredential`]: Container Apps / App Service (`IDENTITY_ENDPOINT` +
//!   `IDENTITY_HEADER`, api-version 2019-08-01) with the VM/AKS IMDS endpoint as fallback;
//!   system-assigned, or user-assigned by client id.
//! * [`ClientSecretCredential`]: the OAuth 2.0 client-credentials grant against
//!   `{authority}/{tenant}/oauth2/v2.0/token`.
//! * [`WorkloadIdentityCredential`]: the same grant with the platform's federated token as
//!   the client assertion (AKS workload identity).
//! * [`StaticTokenCredential`]: a fixed token, for tests and for tokens minted elsewhere.
//!
//! The network-backed credentials cache tokens per scope and refresh them before they expire
//! ([`TokenCache`]). Tokens and secrets are held in [`Secret`](crate::Secret).

mod cache;
mod client_secret;
mod managed_identity;
mod token;
mod workload_identity;

pub use cache::{TokenCache, DEFAULT_REFRESH_MARGIN};
pub use client_secret::{ClientSecretCredential, DEFAULT_AUTHORITY_HOST};
pub use managed_identity::{
    ManagedIdentityCredential, ManagedIdentitySource, DEFAULT_IMDS_ENDPOINT,
};
pub use token::{AccessToken, AuthError, StaticTokenCredential, TokenCredential};
pub use workload_identity::WorkloadIdentityCredential;
