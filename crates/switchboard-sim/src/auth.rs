//! Request authentication of the Call Automation surface: ACS HMAC-SHA256 (verified with the
//! shared `switchboard_contract::hmac` code the client signs with) or, when configured, a
//! bearer token.

use std::time::Duration;

use switchboard_contract::hmac::{self, AccessKey};
use time::OffsetDateTime;

use crate::secret::Secret;

/// The parts of a request the signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// Path and query exactly as on the request line.
    pub path_and_query: &'a str,
    pub host: Option<&'a str>,
    pub date: Option<&'a str>,
    pub content_hash: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

/// How a request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Hmac,
    Bearer,
}

/// Why a request was refused (the text goes into the 401 message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("missing Authorization header")]
    MissingAuthorization,
    #[error("bearer tokens are not accepted")]
    BearerNotAccepted,
    #[error("invalid bearer token")]
    BadBearer,
    #[error("Authorization is not an HMAC-SHA256 header")]
    NotHmac,
    #[error("SignedHeaders must be x-ms-date;host;x-ms-content-sha256")]
    WrongSignedHeaders,
    #[error("missing x-ms-date header")]
    MissingDate,
    #[error("x-ms-date is not an RFC 1123 date")]
    BadDate,
    #[error("x-ms-date is outside the allowed clock skew")]
    StaleDate,
    #[error("missing x-ms-content-sha256 header")]
    MissingContentHash,
    #[error("x-ms-content-sha256 does not match the body")]
    ContentHashMismatch,
    #[error("missing host header")]
    MissingHost,
    #[error("the signature does not match")]
    BadSignature,
}

/// Verify a request. `bearer` is the accepted bearer token, if bearer auth is enabled.
pub fn verify(
    req: &SignedRequest<'_>,
    key: &AccessKey,
    bearer: Option<&Secret>,
    now: OffsetDateTime,
    max_skew: Duration,
) -> Result<AuthMethod, AuthFailure> {
    let authz = req
        .authorization
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or(AuthFailure::MissingAuthorization)?;
    if let Some(token) = strip_bearer(authz) {
        let expected = bearer.ok_or(AuthFailure::BearerNotAccepted)?;
        return if constant_time_eq(token.trim().as_bytes(), expected.expose().as_bytes()) {
            Ok(AuthMethod::Bearer)
        } else {
            Err(AuthFailure::BadBearer)
        };
    }
    let (signed, signature) = hmac::parse_authorization(authz).ok_or(AuthFailure::NotHmac)?;
    if !signed.eq_ignore_ascii_case(hmac::SIGNED_HEADERS) {
        return Err(AuthFailure::WrongSignedHeaders);
    }
    let date = req.date.ok_or(AuthFailure::MissingDate)?;
    let when = httpdate::parse_http_date(date).map_err(|_| AuthFailure::BadDate)?;
    let when = OffsetDateTime::from(when);
    let skew = (now - when).unsigned_abs();
    if skew > max_skew {
        return Err(AuthFailure::StaleDate);
    }
    let presented_hash = req.content_hash.ok_or(AuthFailure::MissingContentHash)?;
    let actual_hash = hmac::content_hash(req.body);
    if presented_hash != actual_hash {
        return Err(AuthFailure::ContentHashMismatch);
    }
    let host = req.host.ok_or(AuthFailure::MissingHost)?;
    let sts = hmac::string_to_sign(req.method, req.path_and_query, date, host, presented_hash);
    if key.verify(&sts, signature) {
        Ok(AuthMethod::Hmac)
    } else {
        Err(AuthFailure::BadSignature)
    }
}

fn strip_bearer(authz: &str) -> Option<&str> {
    let (scheme, rest) = authz.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(rest)
}

/// Compare without an early exit, so response timing does not reveal a token prefix.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sign a request the way the client does (tests).
#[cfg(test)]
pub fn sign(
    key: &AccessKey,
    method: &str,
    path_and_query: &str,
    host: &str,
    body: &[u8],
    now: OffsetDateTime,
) -> Vec<(&'static str, String)> {
    let date = httpdate::fmt_http_date(now.into());
    let hash = hmac::content_hash(body);
    let sts = hmac::string_to_sign(method, path_and_query, &date, host, &hash);
    vec![
        (hmac::DATE_HEADER, date),
        (hmac::CONTENT_HASH_HEADER, hash),
        ("authorization", hmac::authorization_header(&key.sign(&sts))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "c2ltdWxhdG9yLWtleS1mb3ItdGVzdHM=";

    fn signed(
        now: OffsetDateTime,
        body: &'static [u8],
    ) -> (Vec<(&'static str, String)>, AccessKey) {
        let key = AccessKey::from_base64(KEY).unwrap();
        let h = sign(
            &key,
            "POST",
            "/calling/callConnections:answer?api-version=2026-03-12",
            "127.0.0.1:9",
            body,
            now,
        );
        (h, key)
    }

    fn header<'a>(h: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    fn req<'a>(
        h: &'a [(&'static str, String)],
        body: &'a [u8],
        path: &'a str,
    ) -> SignedRequest<'a> {
        SignedRequest {
            method: "POST",
            path_and_query: path,
            host: Some("127.0.0.1:9"),
            date: header(h, "x-ms-date"),
            content_hash: header(h, "x-ms-content-sha256"),
            authorization: header(h, "authorization"),
            body,
        }
    }

    const PATH: &str = "/calling/callConnections:answer?api-version=2026-03-12";
    const SKEW: Duration = Duration::from_secs(900);

    #[test]
    fn good_bad_missing_stale() {
        let now = OffsetDateTime::now_utc();
        let (h, key) = signed(now, b"{}");
        assert_eq!(
            verify(&req(&h, b"{}", PATH), &key, None, now, SKEW),
            Ok(AuthMethod::Hmac)
        );
        // Body tampered: hash mismatch.
        assert_eq!(
            verify(&req(&h, b"{ }", PATH), &key, None, now, SKEW),
            Err(AuthFailure::ContentHashMismatch)
        );
        // Path tampered: signature mismatch.
        assert_eq!(
            verify(
                &req(&h, b"{}", "/calling/callConnections?api-version=2026-03-12"),
                &key,
                None,
                now,
                SKEW
            ),
            Err(AuthFailure::BadSignature)
        );
        // Wrong key.
        let other = AccessKey::from_base64("b3RoZXIta2V5").unwrap();
        assert_eq!(
            verify(&req(&h, b"{}", PATH), &other, None, now, SKEW),
            Err(AuthFailure::BadSignature)
        );
        // Stale date.
        let later = now + time::Duration::minutes(20);
        assert_eq!(
            verify(&req(&h, b"{}", PATH), &key, None, later, SKEW),
            Err(AuthFailure::StaleDate)
        );
        // Missing pieces.
        let mut r = req(&h, b"{}", PATH);
        r.date = None;
        assert_eq!(
            verify(&r, &key, None, now, SKEW),
            Err(AuthFailure::MissingDate)
        );
        let mut r = req(&h, b"{}", PATH);
        r.date = Some("yesterday");
        assert_eq!(verify(&r, &key, None, now, SKEW), Err(AuthFailure::BadDate));
        let mut r = req(&h, b"{}", PATH);
        r.authorization = None;
        assert_eq!(
            verify(&r, &key, None, now, SKEW),
            Err(AuthFailure::MissingAuthorization)
        );
        let mut r = req(&h, b"{}", PATH);
        r.content_hash = None;
        assert_eq!(
            verify(&r, &key, None, now, SKEW),
            Err(AuthFailure::MissingContentHash)
        );
        let mut r = req(&h, b"{}", PATH);
        r.authorization = Some("HMAC-SHA256 SignedHeaders=host&Signature=abc");
        assert_eq!(
            verify(&r, &key, None, now, SKEW),
            Err(AuthFailure::WrongSignedHeaders)
        );
        let mut r = req(&h, b"{}", PATH);
        r.authorization = Some("Basic xyz");
        assert_eq!(verify(&r, &key, None, now, SKEW), Err(AuthFailure::NotHmac));
    }

    #[test]
    fn bearer() {
        let now = OffsetDateTime::now_utc();
        let key = AccessKey::from_base64(KEY).unwrap();
        let mut r = SignedRequest {
            method: "GET",
            path_and_query: "/x",
            host: None,
            date: None,
            content_hash: None,
            authorization: Some("Bearer tok"),
            body: b"",
        };
        assert_eq!(
            verify(&r, &key, None, now, SKEW),
            Err(AuthFailure::BearerNotAccepted)
        );
        let tok = Secret::new("tok");
        assert_eq!(
            verify(&r, &key, Some(&tok), now, SKEW),
            Ok(AuthMethod::Bearer)
        );
        r.authorization = Some("bearer nope");
        assert_eq!(
            verify(&r, &key, Some(&tok), now, SKEW),
            Err(AuthFailure::BadBearer)
        );
    }
}
