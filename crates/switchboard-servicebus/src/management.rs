//! Queue counts from the Service Bus management API (ATOM over HTTPS), for what AMQP cannot
//! tell: how many messages wait in a **session** queue. Peeking a session queue needs a
//! session receiver, so a worker could otherwise not see the call-events backlog it should
//! scale on (KEDA's Service Bus scaler cannot count sessions either).
//!
//! `GET https://<namespace>/<queue>?api-version=2021-05` answers an Atom entry whose
//! `QueueDescription` holds `CountDetails` (`ActiveMessageCount`, `DeadLetterMessageCount`,
//! `ScheduledMessageCount`, …). Authorization is a SAS token signed with the connection
//! string's key, or an Entra token for `https://servicebus.azure.net/.default`.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use sha2::Sha256;
use switchboard_queue::{QueueError, QueueRuntimeProperties};

use crate::options::Secret;

const API_VERSION: &str = "2021-05";
const SCOPE: &str = "https://servicebus.azure.net/.default";
/// Lifetime of a SAS token we sign (one request each).
const SAS_LIFETIME: Duration = Duration::from_secs(600);

/// How management requests are authorised.
#[derive(Clone)]
pub(crate) enum MgmtAuth {
    Sas { key_name: String, key: Secret },
    Token(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for MgmtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MgmtAuth::Sas { key_name, .. } => write!(f, "Sas({key_name}, <redacted>)"),
            MgmtAuth::Token(_) => f.write_str("Token"),
        }
    }
}

/// A management endpoint of one namespace.
#[derive(Clone, Debug)]
pub(crate) struct Management {
    http: reqwest::Client,
    /// `https://<namespace>/` (or a stand-in's address in tests), ending in `/`.
    base: String,
    auth: MgmtAuth,
}

fn mgmt_error(message: impl Into<String>, retryable: bool) -> QueueError {
    QueueError::Backend {
        op: "runtime_properties",
        message: message.into(),
        retryable,
        source: None,
    }
}

impl Management {
    pub(crate) fn new(base: impl Into<String>, auth: MgmtAuth) -> Self {
        let mut base = base.into();
        if !base.ends_with('/') {
            base.push('/');
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { http, base, auth }
    }

    /// The same credentials against another base URL (emulator, a stand-in in tests).
    pub(crate) fn with_base(self, base: &str) -> Self {
        Self::new(base, self.auth)
    }

    /// From a connection string (`Endpoint=sb://host/;SharedAccessKeyName=…;SharedAccessKey=…`).
    pub(crate) fn from_connection_string(cs: &str) -> Option<Self> {
        let mut host = None;
        let mut key_name = None;
        let mut key = None;
        for part in cs.split(';') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "endpoint" => {
                    host = Some(
                        v.trim()
                            .trim_start_matches("sb://")
                            .trim_end_matches('/')
                            .to_owned(),
                    )
                }
                "sharedaccesskeyname" => key_name = Some(v.trim().to_owned()),
                // The key is base64 and may end in '=': take everything after the first '='.
                "sharedaccesskey" => key = Some(part.trim()["SharedAccessKey=".len()..].to_owned()),
                _ => {}
            }
        }
        Some(Self::new(
            format!("https://{}/", host?),
            MgmtAuth::Sas {
                key_name: key_name?,
                key: Secret::new(key?),
            },
        ))
    }

    async fn authorization(&self, resource: &str) -> Result<String, QueueError> {
        match &self.auth {
            MgmtAuth::Sas { key_name, key } => {
                let expiry = time::OffsetDateTime::now_utc().unix_timestamp()
                    + SAS_LIFETIME.as_secs() as i64;
                Ok(sas_token(resource, key_name, key.expose(), expiry))
            }
            MgmtAuth::Token(credential) => {
                let token = credential
                    .get_token(&[SCOPE], None)
                    .await
                    .map_err(|e| mgmt_error(format!("token for {SCOPE}: {e}"), true))?;
                Ok(format!("Bearer {}", token.token.secret()))
            }
        }
    }

    /// The queue's counts.
    pub(crate) async fn queue_counts(
        &self,
        queue: &str,
    ) -> Result<QueueRuntimeProperties, QueueError> {
        let url = format!("{}{queue}", self.base);
        let auth = self.authorization(&url).await?;
        let response = self
            .http
            .get(&url)
            .query(&[("api-version", API_VERSION)])
            .header("Authorization", auth)
            .send()
            .await
            .map_err(|e| mgmt_error(format!("GET {url}: {e}"), true))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| mgmt_error(format!("GET {url}: {e}"), true))?;
        if status.as_u16() == 404 || (status.is_success() && !body.contains("QueueDescription")) {
            // The management API answers an unknown entity with an empty feed.
            return Err(QueueError::QueueNotFound {
                queue: queue.to_owned(),
            });
        }
        if !status.is_success() {
            let retryable = status.is_server_error() || status.as_u16() == 429;
            return Err(mgmt_error(
                format!(
                    "GET {url}: {status}: {}",
                    body.chars().take(200).collect::<String>()
                ),
                retryable,
            ));
        }
        parse_counts(&body)
            .ok_or_else(|| mgmt_error(format!("GET {url}: no CountDetails in the answer"), false))
    }
}

/// `SharedAccessSignature sr=<resource>&sig=<HMAC-SHA256 of "resource\nexpiry">&se=<expiry>&skn=<key name>`,
/// the resource URL-encoded (lower-case, as Service Bus canonicalises it).
pub(crate) fn sas_token(resource: &str, key_name: &str, key: &str, expiry: i64) -> String {
    let encoded = utf8_percent_encode(&resource.to_ascii_lowercase(), NON_ALPHANUMERIC).to_string();
    let to_sign = format!("{encoded}\n{expiry}");
    let sig = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(to_sign.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    format!(
        "SharedAccessSignature sr={encoded}&sig={}&se={expiry}&skn={}",
        utf8_percent_encode(&sig, NON_ALPHANUMERIC),
        utf8_percent_encode(key_name, NON_ALPHANUMERIC)
    )
}

/// The first `<…Name>digits</…Name>` (any namespace prefix).
fn count(body: &str, name: &str) -> Option<u64> {
    let at = body
        .find(&format!(":{name}>"))
        .or_else(|| body.find(&format!("<{name}>")))?;
    let rest = &body[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')? + start;
    rest[start..end].trim().parse().ok()
}

pub(crate) fn parse_counts(body: &str) -> Option<QueueRuntimeProperties> {
    let details = &body[body.find("CountDetails")?..];
    Some(QueueRuntimeProperties {
        active_message_count: count(details, "ActiveMessageCount")?,
        dead_letter_message_count: count(details, "DeadLetterMessageCount").unwrap_or(0),
        scheduled_message_count: count(details, "ScheduledMessageCount").unwrap_or(0),
        ..QueueRuntimeProperties::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape Service Bus answers (trimmed from a real `GET /<queue>` response).
    pub(crate) const ENTRY: &str = r#"<entry xmlns="http://www.w3.org/2005/Atom"><id>https://sb-x.servicebus.windows.net/call-events?api-version=2021-05</id><title type="text">call-events</title><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><LockDuration>PT30S</LockDuration><RequiresSession>true</RequiresSession><MessageCount>12</MessageCount><CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus"><d2p1:ActiveMessageCount>9</d2p1:ActiveMessageCount><d2p1:DeadLetterMessageCount>2</d2p1:DeadLetterMessageCount><d2p1:ScheduledMessageCount>1</d2p1:ScheduledMessageCount><d2p1:TransferMessageCount>0</d2p1:TransferMessageCount><d2p1:TransferDeadLetterMessageCount>0</d2p1:TransferDeadLetterMessageCount></CountDetails></QueueDescription></content></entry>"#;

    #[test]
    fn counts_are_read_from_count_details() {
        let p = parse_counts(ENTRY).unwrap();
        assert_eq!(
            (
                p.active_message_count,
                p.dead_letter_message_count,
                p.scheduled_message_count
            ),
            (9, 2, 1)
        );
        assert!(parse_counts("<feed/>").is_none());
    }

    #[test]
    fn sas_token_is_signed_over_the_encoded_resource_and_expiry() {
        let t = sas_token(
            "https://SB-X.servicebus.windows.net/call-events",
            "RootManageSharedAccessKey",
            "c2VjcmV0",
            1_800_000_000,
        );
        let resource = "https%3A%2F%2Fsb%2Dx%2Eservicebus%2Ewindows%2Enet%2Fcall%2Devents";
        assert!(
            t.starts_with(&format!("SharedAccessSignature sr={resource}&sig=")),
            "{t}"
        );
        assert!(
            t.ends_with("&se=1800000000&skn=RootManageSharedAccessKey"),
            "{t}"
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(b"c2VjcmV0").unwrap();
        mac.update(format!("{resource}\n1800000000").as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let encoded_sig = utf8_percent_encode(&sig, NON_ALPHANUMERIC).to_string();
        assert!(t.contains(&format!("&sig={encoded_sig}&")), "{t}");
    }

    #[test]
    fn connection_strings_name_host_and_key() {
        let m = Management::from_connection_string(
            "Endpoint=sb://sb-x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=YWI=",
        )
        .unwrap();
        assert_eq!(m.base, "https://sb-x.servicebus.windows.net/");
        match &m.auth {
            MgmtAuth::Sas { key_name, key } => {
                assert_eq!(key_name, "k");
                assert_eq!(key.expose(), "YWI=");
            }
            MgmtAuth::Token(_) => panic!("expected SAS"),
        }
        assert!(!format!("{m:?}").contains("YWI="));
        assert!(Management::from_connection_string("Endpoint=sb://x/").is_none());
    }
}
