//! The request log: every request the simulator received on a service surface (Call
//! Automation, Graph, the Entra and managed-identity token endpoints, token discovery) with
//! what the simulator made of it — the operation it routed to, whether authentication and
//! the body schema checked out, the fault it injected and the status it answered.
//!
//! It answers the questions a client test asks of a server ("was every attempt signed?",
//! "did the retry reuse the repeatability id?", "how many batches were sent?") without a
//! hand-written fake. Read it in-process with [`crate::SimHandle::requests`] or over HTTP at
//! `GET /__sim/requests`; clear it with `DELETE /__sim/requests` or a reset.
//!
//! Secrets: in-process, [`RecordedRequest::header`] and [`RecordedRequest::body`] return
//! what was sent, because a test needs to compare the bearer token a client presented or
//! make sure a signature never reached its logs — the process already holds the same secrets
//! in its configuration. Every rendering meant for people or other processes — `Debug` and
//! the JSON of the control API — redacts them: the `Authorization` header keeps its scheme
//! (and for HMAC the `SignedHeaders` list, which is not secret and is what a reader wants to
//! check), identity headers are replaced, and the secret fields of token requests
//! (`client_secret`, `client_assertion`) are replaced.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// What the log shows instead of a secret.
pub const REDACTED: &str = "<redacted>";

/// Headers whose whole value is secret (`authorization` is handled on its own).
const SECRET_HEADERS: &[&str] = &[
    "x-identity-header",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "ocp-apim-subscription-key",
];

/// Form fields of token requests whose value is secret.
const SECRET_FIELDS: &[&str] = &[
    "client_secret",
    "client_assertion",
    "password",
    "refresh_token",
];

/// Which part of the simulator a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RequestSurface {
    /// `/calling/...`: the Call Automation REST API.
    CallAutomation,
    /// `/calling/keys` and the OpenID configuration: callback token discovery.
    TokenDiscovery,
    /// `/v1.0/...`: the Microsoft Graph subset.
    Graph,
    /// `/{tenant}/oauth2/v2.0/token`: the Microsoft Entra token endpoint.
    EntraToken,
    /// `/msi/token` and `/metadata/identity/oauth2/token`: managed identity endpoints.
    ManagedIdentity,
    /// Anything else (answered with 404).
    Other,
}

impl RequestSurface {
    /// The surface a request path belongs to.
    pub fn of_path(path: &str) -> Self {
        if path == crate::jwt::JWKS_PATH || path == crate::jwt::OPENID_CONFIG_PATH {
            Self::TokenDiscovery
        } else if path.starts_with("/calling/") {
            Self::CallAutomation
        } else if path.starts_with("/v1.0/") || path == "/v1.0" {
            Self::Graph
        } else if path.ends_with("/oauth2/v2.0/token") {
            Self::EntraToken
        } else if path == crate::entra::APP_SERVICE_IDENTITY_PATH
            || path == crate::entra::IMDS_IDENTITY_PATH
        {
            Self::ManagedIdentity
        } else {
            Self::Other
        }
    }
}

/// How the request's credentials fared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum AuthCheck {
    /// Not looked at: the surface needs no credentials, or the request never got that far.
    #[default]
    NotChecked,
    /// The ACS HMAC-SHA256 signature (and content hash) verified.
    Hmac,
    /// The bearer token was the one accepted.
    Bearer,
    /// The client id and secret of a configured Entra app matched.
    ClientSecret,
    /// The managed-identity request carried the expected identity header.
    IdentityHeader,
    /// Refused (or, for a faulted request, would have been refused) for this reason.
    Failed {
        /// Why, in the words of the 401 the simulator answers with.
        reason: String,
    },
}

impl AuthCheck {
    /// Whether the credentials were accepted.
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            Self::Hmac | Self::Bearer | Self::ClientSecret | Self::IdentityHeader
        )
    }
}

/// How the request body fared against the operation's schema in the Call Automation spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum SchemaCheck {
    /// Not validated: not a Call Automation operation, or the request never got that far.
    #[default]
    NotChecked,
    /// The body is valid, or the operation takes none and none was sent.
    Valid,
    /// The body broke the schema (the same text the 400 carries).
    Invalid {
        /// What is wrong with the body.
        errors: String,
    },
}

impl SchemaCheck {
    /// Whether the body was checked and found valid.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Valid)
    }
}

/// One request as the simulator received it, and what it did with it.
#[derive(Clone)]
pub struct RecordedRequest {
    /// Position in arrival order, from 1; never reused, not even after a clear.
    pub seq: u64,
    /// Which surface it was for.
    pub surface: RequestSurface,
    /// HTTP method.
    pub method: String,
    /// Path as on the request line (still percent-encoded).
    pub path: String,
    /// Query string as on the request line, without `?`.
    pub query: Option<String>,
    /// The operation it routed to: the spec's `operationId`, a `Graph_*` id, or `Entra_Token`
    /// / `ManagedIdentity_Token`.
    pub operation: Option<String>,
    /// Whether its credentials were accepted.
    pub auth: AuthCheck,
    /// Whether its body matched the operation's schema.
    pub schema: SchemaCheck,
    /// The fault injected instead of handling it (`throttle`, `status 503`, `reset`, …).
    pub fault: Option<String>,
    /// The status answered; `None` while the request is still being handled, and for a
    /// connection reset (nothing was answered).
    pub status: Option<u16>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RecordedRequest {
    /// A header as sent (first value; names are case-insensitive). Secrets included: see the
    /// module documentation.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the header was sent.
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// Names of all headers sent, lowercase, in order.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().map(|(n, _)| n.as_str())
    }

    /// The `SignedHeaders` list of an HMAC `Authorization` header.
    pub fn signed_headers(&self) -> Option<&str> {
        let authz = self.header("authorization")?;
        switchboard_contract::hmac::parse_authorization(authz).map(|(signed, _)| signed)
    }

    /// The body as sent.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// One field of an `application/x-www-form-urlencoded` body (token requests).
    pub fn form_field(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(&self.body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// One query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_deref()?.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The decoded path parameters of a Call Automation request (`callConnectionId`,
    /// `participantRawId`, …), from the spec's operation table.
    pub fn path_params(&self) -> Vec<(String, String)> {
        switchboard_contract::find_operation(&self.method, &self.path)
            .map(|(_, params)| params)
            .unwrap_or_default()
    }

    /// Headers with secrets redacted, as every rendering shows them.
    fn redacted_headers(&self) -> Vec<(&str, String)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), redact_header(n, v)))
            .collect()
    }

    /// The body as every rendering shows it: JSON as JSON, forms as an object with secret
    /// fields redacted, anything else as text.
    fn redacted_body(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        let form = self
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if form {
            let fields = url::form_urlencoded::parse(&self.body)
                .map(|(k, v)| {
                    let v = if SECRET_FIELDS.contains(&k.as_ref()) {
                        REDACTED.to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), Value::String(v))
                })
                .collect();
            return Value::Object(fields);
        }
        self.json()
            .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }
}

/// `Authorization` keeps its scheme (and an HMAC header its `SignedHeaders` list); other
/// secret headers lose their whole value.
fn redact_header(name: &str, value: &str) -> String {
    if name.eq_ignore_ascii_case("authorization") {
        if let Some((signed, _)) = switchboard_contract::hmac::parse_authorization(value) {
            return format!("HMAC-SHA256 SignedHeaders={signed}&Signature={REDACTED}");
        }
        return match value.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} {REDACTED}"),
            None => REDACTED.to_owned(),
        };
    }
    if SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s)) {
        return REDACTED.to_owned();
    }
    value.to_owned()
}

/// Header map rendering for [`RecordedRequest`]'s serialisation.
struct Headers<'a>(&'a [(&'a str, String)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (n, v) in self.0 {
            map.serialize_entry(n, v)?;
        }
        map.end()
    }
}

impl Serialize for RecordedRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("RecordedRequest", 12)?;
        s.serialize_field("seq", &self.seq)?;
        s.serialize_field("surface", &self.surface)?;
        s.serialize_field("method", &self.method)?;
        s.serialize_field("path", &self.path)?;
        s.serialize_field("query", &self.query)?;
        s.serialize_field("operation", &self.operation)?;
        s.serialize_field("auth", &self.auth)?;
        s.serialize_field("schema", &self.schema)?;
        s.serialize_field("fault", &self.fault)?;
        s.serialize_field("status", &self.status)?;
        s.serialize_field("headers", &Headers(&self.redacted_headers()))?;
        s.serialize_field("body", &self.redacted_body())?;
        s.end()
    }
}

impl std::fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordedRequest")
            .field("seq", &self.seq)
            .field("surface", &self.surface)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("operation", &self.operation)
            .field("auth", &self.auth)
            .field("schema", &self.schema)
            .field("fault", &self.fault)
            .field("status", &self.status)
            .field("headers", &self.redacted_headers())
            .field("body", &self.redacted_body())
            .finish()
    }
}

/// The bounded log, shared by the HTTP layer and the handle.
pub(crate) struct RequestLog {
    inner: Mutex<Inner>,
    capacity: usize,
}

struct Inner {
    next_seq: u64,
    entries: VecDeque<RecordedRequest>,
}

impl RequestLog {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                next_seq: 1,
                entries: VecDeque::new(),
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Entries are plain data; a panic elsewhere cannot leave one half-written in a way
        // that matters, so recover instead of poisoning every later request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a request on arrival; returns its sequence number.
    pub fn begin(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> u64 {
        let headers = headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut g = self.lock();
        let seq = g.next_seq;
        g.next_seq += 1;
        if g.entries.len() >= self.capacity {
            g.entries.pop_front();
        }
        g.entries.push_back(RecordedRequest {
            seq,
            surface: RequestSurface::of_path(path),
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            operation: None,
            auth: AuthCheck::NotChecked,
            schema: SchemaCheck::NotChecked,
            fault: None,
            status: None,
            headers,
            body: body.to_vec(),
        });
        seq
    }

    /// Change the entry `seq` (if it is still kept).
    pub fn update(&self, seq: u64, f: impl FnOnce(&mut RecordedRequest)) {
        let mut g = self.lock();
        // Entries are in seq order, so the newest are at the back: search from there.
        if let Some(r) = g.entries.iter_mut().rev().find(|r| r.seq == seq) {
            f(r);
        }
    }

    /// Everything kept, oldest first.
    pub fn all(&self) -> Vec<RecordedRequest> {
        self.lock().entries.iter().cloned().collect()
    }

    /// Everything kept, oldest first, and forget it in the same step.
    pub fn take(&self) -> Vec<RecordedRequest> {
        self.lock().entries.drain(..).collect()
    }

    /// Forget everything (sequence numbers keep counting).
    pub fn clear(&self) {
        self.lock().entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn renderings_redact_but_the_handle_sees_what_was_sent() {
        let log = RequestLog::new(2);
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=c2lnbmF0dXJl"
                .parse()
                .unwrap(),
        );
        h.insert(
            "x-ms-date",
            "Thu, 12 Mar 2026 10:00:00 GMT".parse().unwrap(),
        );
        let seq = log.begin("POST", "/calling/callConnections", None, &h, b"{\"a\":1}");
        log.update(seq, |r| r.auth = AuthCheck::Hmac);
        let r = &log.all()[0];
        assert!(r.header("Authorization").unwrap().ends_with("c2lnbmF0dXJl"));
        assert_eq!(
            r.signed_headers(),
            Some("x-ms-date;host;x-ms-content-sha256")
        );
        assert_eq!(r.surface, RequestSurface::CallAutomation);
        let json = serde_json::to_value(r).unwrap();
        let shown = format!("{json} {r:?}");
        assert!(!shown.contains("c2lnbmF0dXJl"), "{shown}");
        assert_eq!(
            json["headers"]["authorization"],
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<redacted>"
        );
        assert_eq!(json["auth"]["result"], "hmac");
        assert_eq!(json["body"]["a"], 1);

        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        h.insert("authorization", "Bearer tok-123".parse().unwrap());
        h.insert("x-identity-header", "ih-456".parse().unwrap());
        log.begin(
            "POST",
            "/t/oauth2/v2.0/token",
            None,
            &h,
            b"client_id=app&client_secret=s3cr3t&grant_type=client_credentials",
        );
        let r = log.all().pop().unwrap();
        assert_eq!(r.surface, RequestSurface::EntraToken);
        assert_eq!(r.form_field("client_secret").as_deref(), Some("s3cr3t"));
        let shown = format!("{} {r:?}", serde_json::to_string(&r).unwrap());
        for secret in ["s3cr3t", "tok-123", "ih-456"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("Bearer <redacted>"), "{shown}");

        // Bounded: the oldest goes, sequence numbers keep counting.
        log.begin("GET", "/v1.0/users", None, &HeaderMap::new(), b"");
        let seqs: Vec<u64> = log.all().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
        log.clear();
        assert!(log.all().is_empty());
        assert_eq!(log.begin("GET", "/x", None, &HeaderMap::new(), b""), 4);
    }
}
