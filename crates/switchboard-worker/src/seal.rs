//! Proof that a queue message is one of our own internal messages (a timer, a waitlist pull).
//!
//! The call-events queue carries two kinds of message: ACS events, published by the ingress
//! from the internet, and our own internal inputs, sent by workers. An internal input can
//! transfer, end or offer a call, so a worker must never take one on the strength of its body
//! (anyone who can get an event through the ingress controls the body). Workers instead seal
//! every internal message: application property `sb-seal` holds
//! HMAC-SHA256(key, message id ‖ SHA-256(body)), and the inbox treats a message as internal
//! only when the seal verifies. A message that looks internal (a `Switchboard.*` type) without
//! a valid seal is dead-lettered as forged, never decoded as an event either.
//!
//! The key is per deployment: `worker.internal_key` (`SWITCHBOARD_INTERNAL_KEY`, base64, at
//! least 32 bytes) when configured, else one generated on first start and kept in the store
//! every replica shares (the ingress has no store access, so it cannot learn it).

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;
use serde_json::json;
use switchboard_contract::hmac::{content_hash, AccessKey};
use switchboard_queue::{Delivery, OutgoingMessage};
use switchboard_store::{CasOutcome, Store, StoreError};

use crate::config::{ConfigError, Secret};

/// The application property carrying the seal.
pub(crate) const SEAL_PROPERTY: &str = "sb-seal";
/// Where a generated key is kept: a document key no correlation id can take (those are GUIDs).
const STORE_KEY: &str = "switchboard:internal-seal-key";
/// The store needs an expiry (at most 400 days); every worker start renews it, so a key
/// lapses only after a year with no worker started (and then a new one is generated).
const STORE_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// Shortest key accepted from configuration (HMAC-SHA256's block of security).
const MIN_KEY_BYTES: usize = 32;

/// The deployment's sealing key. Debug never shows it.
#[derive(Clone)]
pub struct Seal {
    key: AccessKey,
}

impl fmt::Debug for Seal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seal(<redacted>)")
    }
}

impl Seal {
    /// A seal from a configured base64 key; the error names `key_name`.
    pub fn from_config(secret: &Secret, key_name: &str) -> Result<Self, ConfigError> {
        let bytes = B64.decode(secret.expose().trim()).map_err(|_| {
            ConfigError::new(
                key_name,
                "not valid base64 (e.g. `openssl rand -base64 32`)",
            )
        })?;
        Self::from_bytes(&bytes).ok_or_else(|| {
            ConfigError::new(
                key_name,
                format!("{} bytes; at least {MIN_KEY_BYTES} are needed", bytes.len()),
            )
        })
    }

    /// A seal over raw key bytes; `None` when shorter than 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < MIN_KEY_BYTES {
            return None;
        }
        AccessKey::from_bytes(bytes.to_vec())
            .ok()
            .map(|key| Self { key })
    }

    /// A random seal, for tests and single-process tools.
    pub fn random() -> Self {
        Self::generated(&random_key())
    }

    /// A seal over a freshly generated key (never too short).
    fn generated(bytes: &[u8; 32]) -> Self {
        Self {
            key: AccessKey::from_bytes(bytes.to_vec()).expect("32 bytes are a key"),
        }
    }

    /// The configured key, or the deployment's generated key from the store (created by the
    /// first replica to start; later replicas read the same one).
    pub async fn load_or_create(
        configured: Option<&Secret>,
        store: &dyn Store,
    ) -> Result<Self, SealError> {
        if let Some(secret) = configured {
            return Ok(Self::from_config(secret, "worker.internal_key")?);
        }
        for _ in 0..3 {
            if let Some(doc) = store.get_call(STORE_KEY).await? {
                let seal = doc
                    .value
                    .get("key")
                    .and_then(|k| k.as_str())
                    .and_then(|k| B64.decode(k).ok())
                    .and_then(|b| Self::from_bytes(&b))
                    .ok_or(SealError::Corrupt)?;
                // Renew the expiry; losing this race to another replica's renewal is fine.
                store
                    .put_call_if(STORE_KEY, Some(doc.version), &doc.value, STORE_TTL)
                    .await?;
                return Ok(seal);
            }
            let bytes = random_key();
            let doc = json!({ "key": B64.encode(bytes) });
            match store.put_call_if(STORE_KEY, None, &doc, STORE_TTL).await? {
                CasOutcome::Written { .. } => return Ok(Self::generated(&bytes)),
                // Another replica created it first: read theirs.
                CasOutcome::Conflict { .. } => continue,
            }
        }
        Err(SealError::Contended)
    }

    fn string_to_sign(message_id: &str, body: &[u8]) -> String {
        format!("{message_id}\n{}", content_hash(body))
    }

    /// Adds the seal to a message about to be sent (after its id and body are final).
    pub(crate) fn seal(&self, msg: OutgoingMessage) -> OutgoingMessage {
        let mac = self
            .key
            .sign(&Self::string_to_sign(&msg.message_id, &msg.body));
        msg.with_property(SEAL_PROPERTY, mac)
    }

    /// Whether a delivery carries a seal and it verifies (constant-time).
    pub(crate) fn verify(&self, d: &Delivery) -> Verdict {
        match d
            .application_properties
            .get(SEAL_PROPERTY)
            .and_then(|v| v.as_str())
        {
            None => Verdict::Unsealed,
            Some(mac) => {
                if self
                    .key
                    .verify(&Self::string_to_sign(&d.message_id, &d.body), mac)
                {
                    Verdict::Valid
                } else {
                    Verdict::Invalid
                }
            }
        }
    }
}

fn random_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// What [`Seal::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No seal: an ACS event, or a forgery if it looks internal.
    Unsealed,
    /// Sealed with this deployment's key.
    Valid,
    /// A seal that does not verify: forged, altered, or another deployment's key.
    Invalid,
}

/// Why the sealing key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// `worker.internal_key` is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be read or written (retry the start).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The key document kept changing under us (it expired while being read): start again.
    #[error("the internal-message key in the store kept changing while being read")]
    Contended,
    /// The stored key is unreadable: delete the document to generate a new one.
    #[error("the stored internal-message key `{STORE_KEY}` is unreadable")]
    Corrupt,
}

impl SealError {
    /// Whether starting again later may work.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Contended => true,
            Self::Config(_) | Self::Corrupt => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_bad_configured_keys_are_named() {
        let e = Seal::from_config(&Secret::new("c2hvcnQ="), "worker.internal_key").unwrap_err();
        assert!(e.to_string().contains("worker.internal_key"), "{e}");
        let e = Seal::from_config(&Secret::new("***"), "worker.internal_key").unwrap_err();
        assert!(e.to_string().contains("base64"), "{e}");
        assert!(Seal::from_config(&Secret::new(B64.encode([7u8; 32])), "k").is_ok());
    }

    #[test]
    fn debug_redacts() {
        assert_eq!(format!("{:?}", Seal::random()), "Seal(<redacted>)");
    }
}
