//! Microsoft Entra token endpoints, so a client configured for production auth (client
//! secret or managed identity) runs unchanged against the simulator:
//!
//! - `POST /{tenant}/oauth2/v2.0/token` — the client credentials grant of the Microsoft
//!   identity platform (form `grant_type=client_credentials`, `client_id`, `client_secret`,
//!   `scope=<resource>/.default`). Point a client's authority host at the simulator.
//! - `GET /msi/token` — the App Service / Container Apps managed identity endpoint
//!   (`api-version=2019-08-01`, `resource`, optional `client_id`, header
//!   `X-IDENTITY-HEADER`). Set `IDENTITY_ENDPOINT` to `{simulator}/msi/token`.
//! - `GET /metadata/identity/oauth2/token` — the VM instance metadata (IMDS) flavour
//!   (`api-version=2018-02-01`, header `Metadata: true`).
//!
//! The token handed out is the one the simulator's own surfaces accept: for Graph
//! (`https://graph.microsoft.com`) the configured `graph_bearer`, or [`DEFAULT_GRAPH_TOKEN`]
//! when Graph accepts any token; for Call Automation (`https://communication.azure.com`) the
//! configured `accept_bearer` — without one the simulator refuses to issue it, as Entra
//! refuses a resource the app has no access to. Tokens are opaque strings, not JWTs: the
//! simulator's surfaces compare them, nothing decodes them. Request and response shapes, and
//! where they come from, are in `docs/adr/0008-request-log-and-entra-endpoints.md`.
//!
//! Faults apply under the operation ids [`TOKEN_OPERATION`] and [`IDENTITY_OPERATION`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Path of the App Service / Container Apps managed identity endpoint.
pub const APP_SERVICE_IDENTITY_PATH: &str = "/msi/token";
/// Path of the instance metadata (IMDS) managed identity endpoint.
pub const IMDS_IDENTITY_PATH: &str = "/metadata/identity/oauth2/token";
/// Fault operation id of `POST /{tenant}/oauth2/v2.0/token`.
pub const TOKEN_OPERATION: &str = "Entra_Token";
/// Fault operation id of both managed identity endpoints.
pub const IDENTITY_OPERATION: &str = "ManagedIdentity_Token";
/// The Graph token handed out when the simulator's Graph accepts any bearer token.
pub const DEFAULT_GRAPH_TOKEN: &str = "sim-graph-token";
/// Resource (audience) of Microsoft Graph.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Resource (audience) of Azure Communication Services.
pub const ACS_RESOURCE: &str = "https://communication.azure.com";

/// Who the token endpoints hand tokens to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EntraConfig {
    /// Apps the client credentials grant accepts. Empty: any client id with a non-empty
    /// secret gets a token (a laptop setup needs no app registration).
    pub apps: Vec<EntraApp>,
    /// The `X-IDENTITY-HEADER` value the App Service endpoint requires. `None`: any
    /// non-empty value (the header itself is always required, as on App Service).
    pub identity_header: Option<Secret>,
    /// Lifetime of the tokens handed out, in seconds.
    pub token_lifetime_secs: u64,
}

impl Default for EntraConfig {
    fn default() -> Self {
        Self {
            apps: Vec::new(),
            identity_header: None,
            token_lifetime_secs: 3_600,
        }
    }
}

impl EntraConfig {
    /// Lifetime of the tokens handed out.
    pub fn token_lifetime(&self) -> Duration {
        Duration::from_secs(self.token_lifetime_secs)
    }
}

/// An app registration: a client id and its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntraApp {
    /// The application (client) id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
}

impl EntraApp {
    /// An app with this id and secret.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

/// Which of the simulator's surfaces a resource or scope names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Audience {
    Graph,
    Acs,
}

impl Audience {
    /// From a v1 `resource` or a v2 `scope` (`<resource>/.default`); trailing slashes are
    /// insignificant, as they are to Entra (`https://communication.azure.com//.default` is a
    /// common spelling).
    pub fn parse(resource_or_scope: &str) -> Option<Self> {
        let r = resource_or_scope.trim();
        let r = r
            .strip_suffix("/.default")
            .unwrap_or(r)
            .trim_end_matches('/');
        match r.to_ascii_lowercase().as_str() {
            GRAPH_RESOURCE | "00000003-0000-0000-c000-000000000000" => Some(Self::Graph),
            ACS_RESOURCE => Some(Self::Acs),
            _ => None,
        }
    }

    /// The resource URI as Entra echoes it.
    pub fn resource(self) -> &'static str {
        match self {
            Self::Graph => GRAPH_RESOURCE,
            Self::Acs => ACS_RESOURCE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences() {
        assert_eq!(
            Audience::parse("https://graph.microsoft.com/.default"),
            Some(Audience::Graph)
        );
        assert_eq!(
            Audience::parse("https://communication.azure.com//.default"),
            Some(Audience::Acs)
        );
        assert_eq!(
            Audience::parse("https://communication.azure.com/"),
            Some(Audience::Acs)
        );
        assert_eq!(Audience::parse("https://vault.azure.net/.default"), None);
    }

    #[test]
    fn config_json_hides_nothing_it_should_not_need() {
        let c: EntraConfig = serde_json::from_str(
            r#"{"apps":[{"clientId":"a","clientSecret":"s"}],"identityHeader":"h"}"#,
        )
        .unwrap();
        assert_eq!(c.apps[0], EntraApp::new("a", "s"));
        assert_eq!(c.token_lifetime(), Duration::from_secs(3_600));
        assert!(!format!("{c:?}").contains("\"s\""));
    }
}
