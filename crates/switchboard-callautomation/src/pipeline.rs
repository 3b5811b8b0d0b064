//! The request pipeline: authenticate, send, classify, retry.
//!
//! One logical operation becomes one or more attempts. Everything that identifies the logical
//! request is fixed before the first attempt (URL, body bytes, `x-ms-client-request-id`, the
//! repeatability pair); everything that proves freshness is redone per attempt (`x-ms-date`,
//! the HMAC signature, the bearer token lookup). Retries happen on transport errors, timeouts
//! and 408/429/500/502/503/504, waiting `Retry-After` when the service sends it and
//! exponential backoff with jitter otherwise, within `max_attempts` and `total_deadline`.

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use switchboard_contract::hmac;
use switchboard_contract::Operation;
use tokio::time::Instant;
use tracing::Instrument;
use url::Url;
use uuid::Uuid;

use crate::auth::{Credential, COMMUNICATION_SCOPE};
use crate::error::{CommunicationErrorResponse, Error, ErrorKind};
use crate::options::{ClientOptions, RequestOptions, RetryOptions};

const CLIENT_REQUEST_ID: &str = "x-ms-client-request-id";
/// Longest service error text kept for an error message when the body is not JSON.
const MAX_ERROR_BODY: usize = 512;

/// A success answer.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub body: Bytes,
}

/// How one attempt ended, before retry classification.
enum Outcome {
    Response {
        status: u16,
        headers: HeaderMap,
        body: Bytes,
    },
    Failed(Error),
}

pub(crate) struct Pipeline {
    http: reqwest::Client,
    endpoint: Url,
    credential: Credential,
    options: ClientOptions,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("endpoint", &self.endpoint.as_str())
            .field("credential", &self.credential)
            .field("api_version", &self.options.api_version)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    pub(crate) fn new(
        endpoint: Url,
        credential: Credential,
        options: ClientOptions,
    ) -> Result<Self, String> {
        let http = match &options.http_client {
            Some(c) => c.clone(),
            None => reqwest::Client::builder()
                .user_agent(options.user_agent.clone())
                .tcp_nodelay(true)
                .tcp_keepalive(Some(Duration::from_secs(30)))
                .pool_idle_timeout(options.pool_idle_timeout)
                .pool_max_idle_per_host(options.pool_max_idle_per_host)
                .connect_timeout(options.connect_timeout)
                // HTTP/1.1 keep-alive, as the service documents; and never follow redirects:
                // a redirect would carry a signed request or a bearer token to another host.
                .http1_only()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))?,
        };
        Ok(Self {
            http,
            endpoint,
            credential,
            options,
        })
    }

    pub(crate) fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The URL of an operation: endpoint (with any base path) + rendered template +
    /// `api-version`.
    pub(crate) fn url_for(
        &self,
        op: &'static Operation,
        params: &[(&str, &str)],
    ) -> Result<Url, Error> {
        let path = op.render_path(params).ok_or_else(|| {
            Error::invalid_input(
                op_name(op),
                format!("missing or empty path parameter for {}", op.path),
            )
        })?;
        let mut url = self.endpoint.clone();
        let base = self.endpoint.path().trim_end_matches('/');
        // The rendered path is already percent-encoded; set_path keeps %XX escapes as they are.
        url.set_path(&format!("{base}{path}"));
        url.query_pairs_mut()
            .append_pair("api-version", &self.options.api_version);
        Ok(url)
    }

    /// Resolves a `nextLink` for paging. Absolute links must stay on the endpoint's origin
    /// (credentials are never sent elsewhere); `api-version` is added when missing.
    pub(crate) fn next_link_url(&self, op: &'static Operation, link: &str) -> Result<Url, Error> {
        let url = self.endpoint.join(link).map_err(|e| {
            Error::new(
                ErrorKind::Decode,
                op_name(op),
                format!("bad nextLink {link:?}: {e}"),
            )
        })?;
        if url.origin() != self.endpoint.origin() {
            return Err(Error::new(
                ErrorKind::Decode,
                op_name(op),
                format!(
                    "nextLink points to another origin ({}); refusing to follow it",
                    url.origin().ascii_serialization()
                ),
            ));
        }
        let mut url = url;
        if !url.query_pairs().any(|(k, _)| k == "api-version") {
            url.query_pairs_mut()
                .append_pair("api-version", &self.options.api_version);
        }
        Ok(url)
    }

    /// Sends one logical request with retries. Returns the answer when its status is one the
    /// operation documents as success; otherwise a classified [`Error`].
    pub(crate) async fn send(
        &self,
        op: &'static Operation,
        url: Url,
        body: Option<Bytes>,
        request: &RequestOptions,
    ) -> Result<RawResponse, Error> {
        let name = op_name(op);
        let method = Method::from_bytes(op.method.as_bytes())
            .map_err(|_| Error::invalid_input(name, format!("bad method {}", op.method)))?;
        let retry = request.retry.as_ref().unwrap_or(&self.options.retry);
        let max_attempts = retry.max_attempts.max(1);
        let started = Instant::now();
        let deadline = retry.total_deadline.map(|d| started + d);
        let mut backoff = backoff(retry);

        // Fixed for every attempt of this logical request.
        let mut fixed = HeaderMap::new();
        fixed.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let client_request_id = Uuid::new_v4().to_string();
        insert(&mut fixed, CLIENT_REQUEST_ID, &client_request_id, name)?;
        if op.repeatable {
            let pair = request.repeatability.unwrap_or_default();
            insert(
                &mut fixed,
                "repeatability-request-id",
                &pair.request_id_header(),
                name,
            )?;
            insert(
                &mut fixed,
                "repeatability-first-sent",
                &pair.first_sent_header(),
                name,
            )?;
        }
        // POSTs always carry a body (an empty one has Content-Length: 0, which proxies and the
        // service require); GET/DELETE carry none. Either way the signature hashes the exact
        // bytes sent.
        let body = match (body, method == Method::POST) {
            (Some(b), _) => {
                fixed.insert(
                    reqwest::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Some(b)
            }
            (None, true) => {
                // hyper omits Content-Length for an empty body unless told; send it explicitly.
                fixed.insert(
                    reqwest::header::CONTENT_LENGTH,
                    HeaderValue::from_static("0"),
                );
                Some(Bytes::new())
            }
            (None, false) => None,
        };

        let mut attempt: u32 = 0;
        // An earlier attempt may have taken effect although its answer was lost.
        let mut earlier_maybe_applied = false;
        loop {
            attempt += 1;
            let span = tracing::info_span!(
                "call_automation.attempt",
                operation = name,
                method = %method,
                attempt,
                status = tracing::field::Empty,
                client_request_id = %client_request_id,
            );
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let timeout = match remaining {
                Some(r) => r.min(self.options.request_timeout),
                None => self.options.request_timeout,
            };
            let outcome = async {
                let outcome = match tokio::time::timeout(
                    timeout,
                    self.attempt(op, &method, &url, &fixed, body.as_ref()),
                )
                .await
                {
                    Ok(o) => o,
                    Err(_) => Outcome::Failed(
                        Error::new(
                            ErrorKind::Timeout,
                            name,
                            format!("no complete answer within {timeout:?}"),
                        )
                        .maybe_applied(true),
                    ),
                };
                match &outcome {
                    Outcome::Response { status, .. } => {
                        tracing::Span::current().record("status", status);
                        tracing::debug!(status, "answer");
                    }
                    Outcome::Failed(e) => tracing::debug!(error = %e, "attempt failed"),
                }
                outcome
            }
            .instrument(span)
            .await;

            let (error, retry_after) = match outcome {
                Outcome::Response {
                    status,
                    headers,
                    body,
                } => {
                    if op.is_success(status) {
                        return Ok(RawResponse { status, body });
                    }
                    if status == 404 && method == Method::DELETE && earlier_maybe_applied {
                        // A delete whose answer was lost, asked again: "not found" is the
                        // state it was sent to reach (RFC 9110 §9.3.5, idempotent).
                        tracing::info!(
                            operation = name,
                            attempt,
                            "already deleted by an earlier attempt whose answer was lost"
                        );
                        let status = op.success_statuses().first().copied().unwrap_or(204);
                        return Ok(RawResponse {
                            status,
                            body: Bytes::new(),
                        });
                    }
                    let retry_after = retry_after(&headers, SystemTime::now());
                    // A server error may come after the effect; a 503 with Retry-After is the
                    // service declining the request (ADR 0011 of the simulator).
                    let maybe_applied = status >= 500 && !(status == 503 && retry_after.is_some());
                    let error =
                        status_error(op, status, &headers, &body).maybe_applied(maybe_applied);
                    (error, retry_after)
                }
                Outcome::Failed(e) => (e, None),
            };
            let error = error.with_attempts(attempt);
            earlier_maybe_applied |= error.may_have_been_applied();
            if !error.is_retryable() || attempt >= max_attempts {
                return Err(error);
            }
            if !safe_to_repeat(op, &method) && error.may_have_been_applied() {
                // No repeatability headers: a second attempt could apply the effect twice.
                // Retry only what certainly did not reach the service; the caller reconciles.
                tracing::info!(
                    operation = name,
                    attempt,
                    error = %error,
                    "not retried: the request may have taken effect"
                );
                return Err(error);
            }
            let Some(wait) = retry_after.or_else(|| backoff.next()) else {
                return Err(error);
            };
            if wait > retry.max_retry_after {
                tracing::warn!(
                    operation = name,
                    attempt,
                    ?wait,
                    "the service asks for a longer wait than max_retry_after; giving up"
                );
                return Err(error);
            }
            if let Some(d) = deadline {
                // Do not start a wait that cannot end (and leave time for an attempt) in budget.
                if Instant::now().checked_add(wait).is_none_or(|end| end >= d) {
                    tracing::warn!(
                        operation = name,
                        attempt,
                        ?wait,
                        "retry would exceed the total deadline; giving up"
                    );
                    return Err(error);
                }
            }
            tracing::info!(operation = name, attempt, ?wait, error = %error, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// One HTTP exchange: authenticate, send, read the whole body.
    async fn attempt(
        &self,
        op: &'static Operation,
        method: &Method,
        url: &Url,
        fixed: &HeaderMap,
        body: Option<&Bytes>,
    ) -> Outcome {
        let name = op_name(op);
        let mut headers = fixed.clone();
        match &self.credential {
            Credential::AccessKey(key) => {
                let hash = hmac::content_hash(body.map_or(&[][..], |b| b.as_ref()));
                let date = httpdate::fmt_http_date(SystemTime::now());
                let host = match url.host_str() {
                    Some(h) => hmac::host_header(url.scheme(), h, url.port()),
                    None => {
                        return Outcome::Failed(Error::invalid_input(name, "the URL has no host"))
                    }
                };
                let path_and_query = match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_owned(),
                };
                let to_sign =
                    hmac::string_to_sign(method.as_str(), &path_and_query, &date, &host, &hash);
                let authorization = hmac::authorization_header(&key.sign(&to_sign));
                for (k, v) in [
                    (hmac::DATE_HEADER, date.as_str()),
                    (hmac::CONTENT_HASH_HEADER, hash.as_str()),
                    ("authorization", authorization.as_str()),
                ] {
                    if let Err(e) = insert(&mut headers, k, v, name) {
                        return Outcome::Failed(e);
                    }
                }
            }
            Credential::Token(credential) => {
                let token = match credential.get_token(&[COMMUNICATION_SCOPE]).await {
                    Ok(t) => t,
                    Err(e) => return Outcome::Failed(Error::from_auth(name, e)),
                };
                let mut value =
                    match HeaderValue::from_str(&format!("Bearer {}", token.token.expose())) {
                        Ok(v) => v,
                        Err(_) => {
                            return Outcome::Failed(Error::new(
                                ErrorKind::Auth { retryable: false },
                                name,
                                "the token contains characters not allowed in a header",
                            ))
                        }
                    };
                value.set_sensitive(true);
                headers.insert(reqwest::header::AUTHORIZATION, value);
                let date = httpdate::fmt_http_date(SystemTime::now());
                if let Err(e) = insert(&mut headers, hmac::DATE_HEADER, &date, name) {
                    return Outcome::Failed(e);
                }
            }
        }
        let mut builder = self
            .http
            .request(method.clone(), url.clone())
            .headers(headers);
        if let Some(b) = body {
            builder = builder.body(b.clone());
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(transport_error(name, e)),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        match read_limited(response, self.options.max_response_bytes).await {
            Ok(body) => Outcome::Response {
                status,
                headers,
                body,
            },
            Err(ReadError::Transport(e)) => Outcome::Failed(transport_error(name, e)),
            // The status line arrived: whatever it said, the service saw the request.
            Err(ReadError::TooLarge) => Outcome::Failed(
                Error::new(
                    ErrorKind::Decode,
                    name,
                    format!(
                        "response body larger than {} bytes",
                        self.options.max_response_bytes
                    ),
                )
                .maybe_applied(true),
            ),
        }
    }
}

/// Whether a request may be sent again after an attempt that may have taken effect: reads
/// and deletes are idempotent, repeatable operations carry the same repeatability pair (the
/// service replays the first result). Everything else (play, recognize, hold…) is not.
fn safe_to_repeat(op: &'static Operation, method: &Method) -> bool {
    op.repeatable || *method == Method::GET || *method == Method::DELETE
}

pub(crate) fn op_name(op: &'static Operation) -> &'static str {
    op.operation_id.as_str()
}

fn insert(headers: &mut HeaderMap, name: &str, value: &str, op: &'static str) -> Result<(), Error> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::invalid_input(op, format!("bad header name {name}")))?;
    let v = HeaderValue::from_str(value)
        .map_err(|_| Error::invalid_input(op, format!("bad value for header {name}")))?;
    headers.insert(n, v);
    Ok(())
}

fn backoff(retry: &RetryOptions) -> impl Iterator<Item = Duration> {
    let mut b = ExponentialBuilder::default()
        .with_min_delay(retry.initial_delay)
        .with_max_delay(retry.max_delay)
        .with_factor(2.0)
        .with_max_times(retry.max_attempts.saturating_sub(1) as usize);
    if retry.jitter {
        b = b.with_jitter();
        if let Some(seed) = retry.jitter_seed {
            b = b.with_jitter_seed(seed);
        }
    }
    b.build()
}

fn transport_error(op: &'static str, e: reqwest::Error) -> Error {
    // The URL is ours and harmless, but keep messages short and uniform.
    let e = e.without_url();
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    };
    // Only a failed connect proves the service never saw the request.
    let what = if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    Error::new(kind, op, what)
        .maybe_applied(!e.is_connect())
        .with_source(e)
}

enum ReadError {
    Transport(reqwest::Error),
    TooLarge,
}

async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Bytes, ReadError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut buf = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if buf.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// Classifies a non-success answer.
fn status_error(op: &'static Operation, status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    let name = op_name(op);
    let parsed = serde_json::from_slice::<CommunicationErrorResponse>(body)
        .ok()
        .map(|r| r.error);
    let request_id = ["x-ms-request-id", "x-microsoft-skype-chain-id", "ms-cv"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::to_owned);
    let message = if (200..300).contains(&status) {
        format!(
            "unexpected success status (the operation documents {:?})",
            op.success_statuses()
        )
    } else if parsed.is_none() && !body.is_empty() {
        let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY * 4)]);
        one_line(&text).chars().take(MAX_ERROR_BODY).collect()
    } else {
        String::new()
    };
    let kind = if status == 404 && addresses_call_connection(op) {
        ErrorKind::CallNotFound { error: parsed }
    } else {
        ErrorKind::Status {
            status,
            error: parsed,
        }
    };
    Error::new(kind, name, message).with_request_id(request_id)
}

/// Operations on `/calling/callConnections/{callConnectionId}…`, where 404 means the call is
/// gone. Getting one participant is excluded: there 404 may mean the participant left.
fn addresses_call_connection(op: &Operation) -> bool {
    op.path
        .starts_with("/calling/callConnections/{callConnectionId}")
        && !op.path_params.iter().any(|p| p == "participantRawId")
}

/// The wait a throttling or unavailable answer asks for: `retry-after-ms`,
/// `x-ms-retry-after-ms`, or `Retry-After` in seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = get(name).and_then(|v| v.parse::<f64>().ok()) {
            // try_from: NaN, negative and absurdly large values are ignored, not a panic.
            if let Ok(d) = Duration::try_from_secs_f64(ms / 1000.0) {
                return Some(d);
            }
        }
    }
    let value = get("retry-after")?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `text` on one line (control characters become spaces), trimmed: error bodies end up in
/// log lines, where a stray newline would split the record.
fn one_line(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    spaced.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(12));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &date)]), now),
            Some(Duration::from_secs(12))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(12));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &past)]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]),
                now
            ),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[("x-ms-retry-after-ms", "250")]), now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_grows_exponentially_and_stops() {
        let retry = RetryOptions {
            max_attempts: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            jitter: false,
            jitter_seed: None,
            total_deadline: None,
            max_retry_after: Duration::from_secs(60),
        };
        let delays: Vec<Duration> = backoff(&retry).collect();
        // backon multiplies in f32, so compare at millisecond precision.
        let millis: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, vec![100, 200, 350, 350]);
        let jittered: Vec<Duration> = backoff(&RetryOptions {
            jitter: true,
            jitter_seed: Some(7),
            ..retry
        })
        .collect();
        for (j, d) in jittered.iter().zip(&delays) {
            assert!(
                j.as_millis() >= d.as_millis() && *j <= *d * 2,
                "{j:?} vs {d:?}"
            );
        }
    }

    #[test]
    fn call_connection_scope_for_404() {
        let op = |id| switchboard_contract::operation(id).unwrap();
        assert!(addresses_call_connection(op(
            "CallConnection_AddParticipant"
        )));
        assert!(addresses_call_connection(op("CallMedia_Play")));
        assert!(addresses_call_connection(op("CallConnection_GetCall")));
        assert!(!addresses_call_connection(op(
            "CallConnection_GetParticipant"
        )));
        assert!(!addresses_call_connection(op("CreateCall")));
        assert!(!addresses_call_connection(op(
            "CallRecording_GetRecordingProperties"
        )));
        let e = status_error(
            op("CallConnection_HangupCall"),
            404,
            &headers(&[("x-ms-request-id", "r1")]),
            br#"{"error":{"code":"8522","message":"Call not found."}}"#,
        );
        assert!(e.is_call_not_found());
        assert_eq!(e.request_id(), Some("r1"));
        assert_eq!(e.communication_error().unwrap().code, "8522");
        let e = status_error(
            op("CallConnection_GetParticipant"),
            404,
            &HeaderMap::new(),
            b"",
        );
        assert_eq!(e.status(), Some(404));
        assert!(!e.is_call_not_found());
        let e = status_error(
            op("CreateCall"),
            502,
            &HeaderMap::new(),
            b"<html>bad gateway</html>",
        );
        assert!(e.is_retryable());
        assert!(e.to_string().contains("<html>bad gateway</html>"), "{e}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn retry_after_never_panics(v in prop_oneof!["[ -~]{0,40}", "[0-9]{1,400}(\\.[0-9]{1,5})?", "-?[0-9]{1,3}e[0-9]{1,3}"]) {
                if let Ok(value) = HeaderValue::from_str(&v) {
                    for name in ["retry-after", "retry-after-ms", "x-ms-retry-after-ms"] {
                        let mut h = HeaderMap::new();
                        h.insert(name, value.clone());
                        let _ = retry_after(&h, SystemTime::now());
                    }
                }
            }

            #[test]
            fn retry_after_seconds_are_exact(secs in 0u64..100_000) {
                let mut h = HeaderMap::new();
                h.insert("retry-after", HeaderValue::from_str(&secs.to_string()).unwrap());
                prop_assert_eq!(retry_after(&h, SystemTime::now()), Some(Duration::from_secs(secs)));
            }
        }
    }
}
