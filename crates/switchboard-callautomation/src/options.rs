//! Client-wide and per-request options, and the repeatability pair that makes retries safe.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use uuid::Uuid;

/// Namespace for [`Repeatability::derive`], chosen once at random. Fixed forever: changing it
/// would change every derived request id, and a redelivered event would then repeat an
/// operation instead of being recognised as a repeat.
const REPEATABILITY_NAMESPACE: Uuid = Uuid::from_u128(0x1d3f_5c0e_9a8b_5f4e_8c7a_2b6d_4e1f_3a90);

/// `Repeatability-Request-ID` + `Repeatability-First-Sent`: the service executes a request at
/// most once per request id, so a retry (or a redelivered queue message) that repeats the pair
/// gets the first answer back instead of a second call, transfer or invitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repeatability {
    /// The request id (a UUID).
    pub request_id: Uuid,
    /// When the request was first created (sent with second precision, IMF-fixdate).
    pub first_sent: OffsetDateTime,
}

impl Repeatability {
    /// A fresh pair: a random (v4) id and the current time.
    pub fn new() -> Self {
        Self {
            request_id: Uuid::new_v4(),
            first_sent: OffsetDateTime::now_utc(),
        }
    }

    /// A pair derived from something stable, so every redelivery of the same event produces the
    /// same headers: the id is UUID v5 of (`namespace_key`, `action`), e.g. the event id and
    /// `"add-participant:agent-42"`; `first_sent` should be stable too (the event's time).
    pub fn derive(namespace_key: &str, action: &str, first_sent: OffsetDateTime) -> Self {
        // Length-prefix the key so ("ab", "c") and ("a", "bc") cannot collide.
        let name = format!("{}:{namespace_key}{action}", namespace_key.len());
        Self {
            request_id: Uuid::new_v5(&REPEATABILITY_NAMESPACE, name.as_bytes()),
            first_sent,
        }
    }

    /// A pair from text (a stored pair, or command-line flags): `request_id` is a UUID;
    /// `first_sent` is an HTTP date (`Thu, 12 Mar 2026 10:00:00 GMT`) or RFC 3339
    /// (`2026-03-12T10:00:00Z`), and `None` means now.
    pub fn parse(request_id: &str, first_sent: Option<&str>) -> Result<Self, String> {
        let request_id = Uuid::parse_str(request_id.trim())
            .map_err(|_| format!("repeatability request id {request_id:?} is not a UUID"))?;
        let first_sent = match first_sent.map(str::trim) {
            None => OffsetDateTime::now_utc(),
            Some(s) => match httpdate::parse_http_date(s) {
                Ok(t) => OffsetDateTime::from(t),
                Err(_) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        format!("first-sent {s:?} is neither an HTTP date nor RFC 3339")
                    })?,
            },
        };
        if first_sent < OffsetDateTime::UNIX_EPOCH {
            return Err(format!("first-sent {first_sent} is before 1970"));
        }
        Ok(Self {
            request_id,
            first_sent,
        })
    }

    /// The `Repeatability-Request-ID` header value.
    pub fn request_id_header(&self) -> String {
        self.request_id.hyphenated().to_string()
    }

    /// The `Repeatability-First-Sent` header value (IMF-fixdate, e.g.
    /// `Sun, 06 Nov 1994 08:49:37 GMT`).
    pub fn first_sent_header(&self) -> String {
        // httpdate panics before 1970 (time itself stops at year 9999); a caller-supplied
        // earlier time is clamped rather than allowed to panic.
        let t = self.first_sent.max(OffsetDateTime::UNIX_EPOCH);
        httpdate::fmt_http_date(SystemTime::from(t))
    }
}

impl Default for Repeatability {
    fn default() -> Self {
        Self::new()
    }
}

/// How failed attempts are retried.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryOptions {
    /// Total attempts including the first (1 = no retries).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles per retry up to `max_delay`.
    pub initial_delay: Duration,
    /// Upper bound of the exponential delay (before jitter).
    pub max_delay: Duration,
    /// Add random jitter of up to 100% of each delay, so replicas do not retry in lockstep.
    pub jitter: bool,
    /// Seed for the jitter (tests); random when `None`.
    pub jitter_seed: Option<u64>,
    /// Budget for the whole logical call, all attempts and waits included. No retry is started
    /// that could not finish its wait inside it, and each attempt's timeout is cut to what is
    /// left. A worker sets this below its queue message lock.
    pub total_deadline: Option<Duration>,
    /// Longest `Retry-After` the client will wait. A service asking for more gets the error
    /// returned instead (the caller can reschedule), rather than a task parked for hours.
    pub max_retry_after: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            jitter: true,
            jitter_seed: None,
            total_deadline: Some(Duration::from_secs(60)),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryOptions {
    /// No retries: one attempt.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// Options for the whole client.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The `api-version` query parameter (default: the embedded spec's, `2026-03-12`).
    pub api_version: String,
    /// Retry policy for every operation (override per request with [`RequestOptions::retry`]).
    pub retry: RetryOptions,
    /// Timeout of one attempt: connect, send, and read the whole answer.
    pub request_timeout: Duration,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Idle connections kept per host.
    pub pool_max_idle_per_host: usize,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Largest response body accepted, in bytes.
    pub max_response_bytes: usize,
    /// A ready-made HTTP client (proxy, custom TLS, shared pool). When `None` one is built
    /// from the fields above. A supplied client should not follow redirects: the client
    /// already refuses to, and a redirect could carry credentials elsewhere.
    pub http_client: Option<reqwest::Client>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            api_version: switchboard_contract::API_VERSION.to_owned(),
            retry: RetryOptions::default(),
            request_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            pool_max_idle_per_host: 32,
            pool_idle_timeout: Duration::from_secs(90),
            user_agent: concat!("switchboard-callautomation/", env!("CARGO_PKG_VERSION"))
                .to_owned(),
            max_response_bytes: 4 * 1024 * 1024,
            http_client: None,
        }
    }
}

/// Options for one operation call.
#[derive(Clone, Debug, Default)]
pub struct RequestOptions {
    /// The repeatability pair, for operations that take one (create, answer, redirect, reject,
    /// terminate, transfer, add/remove/mute/cancel-add participant, start recording). `None`:
    /// a fresh pair is generated and reused across this call's retries. Ignored by operations
    /// that do not take the headers.
    pub repeatability: Option<Repeatability>,
    /// Overrides the client's retry policy for this call.
    pub retry: Option<RetryOptions>,
}

impl RequestOptions {
    /// Options with this repeatability pair.
    pub fn with_repeatability(repeatability: Repeatability) -> Self {
        Self {
            repeatability: Some(repeatability),
            retry: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let t = datetime!(2026-03-12 10:00:00 UTC);
        let a = Repeatability::derive("event-1", "answer", t);
        assert_eq!(a, Repeatability::derive("event-1", "answer", t));
        assert_eq!(a.request_id.get_version_num(), 5);
        assert_ne!(
            a.request_id,
            Repeatability::derive("event-1", "reject", t).request_id
        );
        assert_ne!(
            a.request_id,
            Repeatability::derive("event-2", "answer", t).request_id
        );
        // Concatenation ambiguity is prevented by the length prefix.
        assert_ne!(
            Repeatability::derive("ab", "c", t).request_id,
            Repeatability::derive("a", "bc", t).request_id
        );
        // Pinned: a change here would break idempotency across deployments.
        assert_eq!(
            a.request_id_header(),
            "6529654d-ea69-5268-bdb8-aacfc9664fdc"
        );
        assert_eq!(a.first_sent_header(), "Thu, 12 Mar 2026 10:00:00 GMT");
    }

    #[test]
    fn parse_from_text() {
        let r = Repeatability::parse(
            "6529654d-ea69-5268-bdb8-aacfc9664fdc",
            Some("Thu, 12 Mar 2026 10:00:00 GMT"),
        )
        .unwrap();
        assert_eq!(r.first_sent, datetime!(2026-03-12 10:00:00 UTC));
        let r2 = Repeatability::parse(
            " 6529654D-EA69-5268-BDB8-AACFC9664FDC ",
            Some("2026-03-12T11:00:00+01:00"),
        )
        .unwrap();
        assert_eq!(r2, r);
        assert!(Repeatability::parse("6529654d-ea69-5268-bdb8-aacfc9664fdc", None).is_ok());
        assert!(Repeatability::parse("nope", None)
            .unwrap_err()
            .contains("not a UUID"));
        assert!(
            Repeatability::parse(&r.request_id_header(), Some("yesterday"))
                .unwrap_err()
                .contains("neither")
        );
    }

    #[test]
    fn out_of_range_times_never_panic() {
        let id = uuid::Uuid::nil();
        for t in [
            datetime!(1900-01-01 00:00:00 UTC),
            datetime!(9999-12-31 23:59:59 UTC),
        ] {
            let r = Repeatability {
                request_id: id,
                first_sent: t,
            };
            assert!(httpdate::parse_http_date(&r.first_sent_header()).is_ok());
        }
        assert!(
            Repeatability::parse(&id.to_string(), Some("1969-12-31T23:59:59Z"))
                .unwrap_err()
                .contains("before 1970")
        );
    }

    #[test]
    fn fresh_pairs_are_v4_and_now() {
        let r = Repeatability::new();
        assert_eq!(r.request_id.get_version_num(), 4);
        assert!(
            (OffsetDateTime::now_utc() - r.first_sent)
                .whole_seconds()
                .abs()
                < 5
        );
        assert_ne!(r.request_id, Repeatability::new().request_id);
        // The header parses back as an HTTP date.
        assert!(httpdate::parse_http_date(&r.first_sent_header()).is_ok());
    }

    #[test]
    fn defaults() {
        let o = ClientOptions::default();
        assert_eq!(o.api_version, "2026-03-12");
        assert!(o.user_agent.starts_with("switchboard-callautomation/"));
        assert_eq!(RetryOptions::none().max_attempts, 1);
    }
}
