//! HMAC-SHA256 request signing as ACS defines it for access-key authentication.
//!
//! String to sign: `METHOD\n<path?query as sent>\n<x-ms-date>;<host>;<x-ms-content-sha256>`.
//! Signature: `base64(HMAC-SHA256(base64-decoded access key, string to sign))`.
//! `host` includes the port when it is not the scheme's default.

use ::hmac::{Hmac, Mac};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Header names used by the scheme.
pub const DATE_HEADER: &str = "x-ms-date";
/// Header carrying the base64 SHA-256 of the request body.
pub const CONTENT_HASH_HEADER: &str = "x-ms-content-sha256";
/// The headers the signature covers, in order, as named in `Authorization`.
pub const SIGNED_HEADERS: &str = "x-ms-date;host;x-ms-content-sha256";

/// The access key could not be base64-decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the access key is not valid base64")]
pub struct InvalidKey;

/// A decoded access key. Debug never prints the bytes.
#[derive(Clone)]
pub struct AccessKey(Vec<u8>);

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessKey(<redacted>)")
    }
}

impl AccessKey {
    /// Decode a base64 access key as found in a connection string (`accesskey=`).
    pub fn from_base64(key: &str) -> Result<Self, InvalidKey> {
        let bytes = B64.decode(key.trim()).map_err(|_| InvalidKey)?;
        if bytes.is_empty() {
            return Err(InvalidKey);
        }
        Ok(Self(bytes))
    }

    /// A key from raw bytes (a key this process generated or decoded itself).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, InvalidKey> {
        if bytes.is_empty() {
            return Err(InvalidKey);
        }
        Ok(Self(bytes))
    }

    /// Sign a string-to-sign, returning the base64 signature.
    pub fn sign(&self, string_to_sign: &str) -> String {
        // HMAC accepts keys of any length, so new_from_slice cannot fail here.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        };
        mac.update(string_to_sign.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of a presented signature.
    pub fn verify(&self, string_to_sign: &str, signature_b64: &str) -> bool {
        let Ok(presented) = B64.decode(signature_b64) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return false;
        };
        mac.update(string_to_sign.as_bytes());
        mac.verify_slice(&presented).is_ok()
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    // `Hmac::new_from_slice` only fails for fixed-key-size MACs, never for HMAC-SHA256.
    panic!("HMAC-SHA256 accepts keys of any length")
}

/// base64(SHA-256(body)); also defined (and sent) for empty bodies.
pub fn content_hash(body: &[u8]) -> String {
    B64.encode(Sha256::digest(body))
}

/// The string to sign. `path_and_query` is exactly what goes on the request line.
pub fn string_to_sign(
    method: &str,
    path_and_query: &str,
    date: &str,
    host: &str,
    content_hash: &str,
) -> String {
    format!(
        "{}\n{}\n{};{};{}",
        method.to_ascii_uppercase(),
        path_and_query,
        date,
        host,
        content_hash
    )
}

/// The `Authorization` header value for a signature.
pub fn authorization_header(signature: &str) -> String {
    format!("HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature={signature}")
}

/// Parse an `Authorization` header of the HMAC scheme into (signed headers, signature).
pub fn parse_authorization(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix("HMAC-SHA256 ")?;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split('&') {
        if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    Some((signed?, sig?))
}

/// `host` header value as ACS expects it: the port only when not the scheme's default.
pub fn host_header(scheme: &str, host: &str, port: Option<u16>) -> String {
    match (scheme, port) {
        (_, None) | ("https", Some(443)) | ("http", Some(80)) => host.to_string(),
        (_, Some(p)) => format!("{host}:{p}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_hash_is_sha256_of_nothing() {
        assert_eq!(
            content_hash(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let key = AccessKey::from_base64("c2VjcmV0LWtleS1ieXRlcw==").unwrap();
        let sts = string_to_sign(
            "post",
            "/calling/callConnections?api-version=2026-03-12",
            "Sun, 22 Nov 2026 07:00:00 GMT",
            "127.0.0.1:8080",
            &content_hash(b"{}"),
        );
        assert!(sts.starts_with("POST\n/calling/callConnections?api-version=2026-03-12\n"));
        let sig = key.sign(&sts);
        assert!(key.verify(&sts, &sig));
        assert!(!key.verify(&format!("{sts}x"), &sig));
        let header = authorization_header(&sig);
        assert_eq!(
            parse_authorization(&header),
            Some((SIGNED_HEADERS, sig.as_str()))
        );
    }

    #[test]
    fn known_vector() {
        // Independently computed: HMAC-SHA256(key=b"key", "GET\n/\nd;h;c") in base64.
        let key = AccessKey::from_base64("a2V5").unwrap();
        let sig = key.sign("GET\n/\nd;h;c");
        let expected = {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
            mac.update(b"GET\n/\nd;h;c");
            B64.encode(mac.finalize().into_bytes())
        };
        assert_eq!(sig, expected);
    }

    #[test]
    fn bad_keys_and_debug_redaction() {
        assert_eq!(
            AccessKey::from_base64("not base64!!").unwrap_err(),
            InvalidKey
        );
        assert_eq!(AccessKey::from_base64("").unwrap_err(), InvalidKey);
        let key = AccessKey::from_base64("a2V5").unwrap();
        assert_eq!(format!("{key:?}"), "AccessKey(<redacted>)");
    }

    #[test]
    fn host_header_ports() {
        assert_eq!(
            host_header("https", "x.communication.azure.com", Some(443)),
            "x.communication.azure.com"
        );
        assert_eq!(
            host_header("http", "127.0.0.1", Some(8080)),
            "127.0.0.1:8080"
        );
        assert_eq!(host_header("https", "h", Some(8443)), "h:8443");
    }
}
