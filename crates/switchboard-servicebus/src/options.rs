//! How to reach a namespace: [`ServiceBusOptions`] (endpoint, credentials, prefetch, retry) and
//! [`ServiceBusAuth`]. Secrets are held in [`Secret`], whose `Debug` prints `<redacted>`.

use std::time::Duration;

/// A secret string (connection string, SAS key): the workspace type, re-exported here.
pub use switchboard_core::Secret;

/// How the client authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceBusAuth {
    /// A SAS connection string (`Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…`).
    /// The namespace comes from its `Endpoint`.
    ConnectionString(Secret),
    /// Microsoft Entra ID through the managed identity of the host (Container Apps, VM):
    /// system-assigned when `client_id` is `None`, else the user-assigned identity with this
    /// client id. Needs the "Azure Service Bus Data Sender/Receiver" roles.
    ManagedIdentity {
        /// Fully qualified namespace, e.g. `switchboard.servicebus.windows.net`.
        namespace: String,
        /// Client id of a user-assigned identity.
        client_id: Option<String>,
    },
    /// Microsoft Entra ID through workload identity federation (AKS): reads
    /// `AZURE_CLIENT_ID`, `AZURE_TENANT_ID` and `AZURE_FEDERATED_TOKEN_FILE`.
    WorkloadIdentity {
        /// Fully qualified namespace.
        namespace: String,
    },
}

impl ServiceBusAuth {
    /// Picks the auth from one configuration string, as `SWITCHBOARD_LIVE_SERVICEBUS` and the
    /// worker configuration give it: a value containing `Endpoint=` is a connection string,
    /// anything else a namespace reached with managed identity (system-assigned).
    pub fn from_connection_string_or_namespace(value: &str) -> Self {
        if value.contains("Endpoint=") {
            ServiceBusAuth::ConnectionString(Secret::new(value))
        } else {
            ServiceBusAuth::ManagedIdentity {
                namespace: value.trim().to_owned(),
                client_id: None,
            }
        }
    }
}

/// Options of a [`crate::ServiceBusNamespace`].
#[derive(Clone, Debug)]
pub struct ServiceBusOptions {
    /// Credentials (and, for a connection string, the namespace).
    pub auth: ServiceBusAuth,
    /// Messages each receiver link asks for ahead of `receive`. 0 (default) keeps every
    /// unreceived message visible to other replicas; more raises throughput but prefetched
    /// messages sit locked in this process (their lock runs while they wait).
    pub prefetch_count: u32,
    /// Plain AMQP on port 5672 without TLS: only for the local test peer and the Service Bus
    /// emulator (`UseDevelopmentEmulator=true`). Never for a real namespace.
    pub insecure_plaintext: bool,
    /// Retries of one operation inside the SDK (it also re-opens links and the connection).
    pub max_retries: u32,
    /// First retry delay (doubled per retry, up to `max_retry_delay`).
    pub retry_delay: Duration,
    /// Longest retry delay.
    pub max_retry_delay: Duration,
    /// Time limit of one try of one operation.
    pub try_timeout: Duration,
    /// Receiver links kept per queue for concurrent receives (each receive uses one link;
    /// settlement goes back through the link that received).
    pub max_receiver_links: usize,
    /// Base URL of the management (ATOM) API, used to count a session queue's messages;
    /// `None` = `https://<namespace>/` (not used over plain AMQP unless set).
    pub management_url: Option<String>,
}

impl ServiceBusOptions {
    /// Defaults (prefetch 0, 3 retries from 800 ms up to 30 s, 60 s per try) with this auth.
    pub fn new(auth: ServiceBusAuth) -> Self {
        Self {
            auth,
            prefetch_count: 0,
            insecure_plaintext: false,
            max_retries: 3,
            retry_delay: Duration::from_millis(800),
            max_retry_delay: Duration::from_secs(30),
            try_timeout: Duration::from_secs(60),
            max_receiver_links: 8,
            management_url: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_connection_string() {
        let cs = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2VjcmV0";
        let options =
            ServiceBusOptions::new(ServiceBusAuth::from_connection_string_or_namespace(cs));
        let text = format!("{options:?}");
        assert!(!text.contains("c2VjcmV0"), "{text}");
        assert!(!text.contains("RootManage"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn a_bare_namespace_means_managed_identity() {
        assert_eq!(
            ServiceBusAuth::from_connection_string_or_namespace("ns.servicebus.windows.net"),
            ServiceBusAuth::ManagedIdentity {
                namespace: "ns.servicebus.windows.net".into(),
                client_id: None
            }
        );
    }
}
