//! A small Microsoft Graph client: the calls routing needs, nothing else.
//!
//! - users: `GET /v1.0/users?$search="displayName:NAME"` (with `ConsistencyLevel:
//!   eventual`, which `$search` requires) and `GET /v1.0/users/{id | upn}`;
//! - presence: `POST /v1.0/communications/getPresencesByUserId` (at most 650 ids per
//!   request; [`GraphClient::get_presences_by_user_id`] splits longer lists) and `GET /v1.0/users/{id}/presence`,
//!   both needing the application permission `Presence.Read.All`.
//!
//! Every request goes through the client-side rate limiter ([`throttle`]), gets a token from
//! the [`auth::TokenCredential`] (which caches it), and is retried on 429 (honouring `Retry-After`), 5xx and
//! network errors, up to [`GraphClientOptions::max_retries`] times. A `Retry-After` longer
//! than [`GraphClientOptions::max_retry_wait`] is not slept through: the call fails with
//! [`GraphError::Throttled`] so the caller (presence → routing fallback) is never stalled.
//!
//! The base URL is configurable so the local simulator can stand in for Graph
//! (`<sim>/v1.0/...`).
//!
//! # Layout
//! - [`auth`]: the credentials (re-exported from `switchboard_core::entra`).
//! - [`throttle`]: the sliding-window limiter and 429 blocking.

pub mod auth;
pub mod throttle;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use switchboard_events::TeamsUserId;
use url::Url;

use crate::config::AgentRef;
use crate::presence::Availability;

use self::auth::{AuthError, TokenCredential, GRAPH_SCOPE};
use self::throttle::{RateLimit, RateLimiter};

/// Graph accepts at most 650 user ids per `getPresencesByUserId` request.
pub(crate) const MAX_PRESENCE_IDS_PER_REQUEST: usize = 650;

/// The public Graph endpoint.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";

/// `$select` for user lookups: only what the roster needs.
const USER_SELECT: &str = "id,displayName,userPrincipalName,mail";

/// Everything in a query value or path segment except RFC 3986 unreserved characters is
/// percent-encoded (so a space is `%20`, never `+`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Path segment: also keep `@`, which UPNs contain and Graph expects literally.
const PATH_SEGMENT: &AsciiSet = &COMPONENT.remove(b'@');

/// Tuning for [`GraphClient`].
#[derive(Clone, Debug)]
pub struct GraphClientOptions {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt (429, 5xx, network).
    pub max_retries: u32,
    /// Longest `Retry-After` the client sleeps through; longer → [`GraphError::Throttled`].
    pub max_retry_wait: Duration,
    /// Client-side budget (default Graph's 1,500 per 30 s).
    pub rate_limit: RateLimit,
}

impl Default for GraphClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_retries: 3,
            max_retry_wait: Duration::from_secs(10),
            rate_limit: RateLimit::GRAPH_PRESENCE,
        }
    }
}

/// What went wrong talking to Graph.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// 429 (or 503 with `Retry-After`) and the retries or the wait budget ran out.
    #[error("Microsoft Graph is throttling us; retry after {}s", retry_after.as_secs_f32())]
    Throttled {
        /// What Graph asked for (`Retry-After`, or 2 s when it sent none). Longer than
        /// [`GraphClientOptions::max_retry_wait`] when that is why the client gave up.
        retry_after: Duration,
    },
    /// 401/403: bad token or missing permission (e.g. `Presence.Read.All` not consented).
    #[error("Microsoft Graph refused the request ({status}): {code}: {message}")]
    Unauthorized {
        /// 401 (the token) or 403 (permission or consent).
        status: u16,
        /// Graph's `error.code`, e.g. `Forbidden` or `InvalidAuthenticationToken`; the HTTP
        /// reason phrase when the body was not Graph's error JSON.
        code: String,
        /// Graph's `error.message`, or the start of the body (at most 200 characters).
        message: String,
    },
    /// 404.
    #[error("not found in Microsoft Graph: {what}")]
    NotFound {
        /// What was asked for, for the message: `user "adelev@contoso.com"`,
        /// `presence of <oid>`.
        what: String,
    },
    /// Any other non-success status.
    #[error("Microsoft Graph returned {status}: {code}: {message}")]
    Status {
        /// The HTTP status; 5xx and 408 were already retried.
        status: u16,
        /// Graph's `error.code` (or the reason phrase), as for `Unauthorized`.
        code: String,
        /// Graph's `error.message` (or the start of the body), as for `Unauthorized`.
        message: String,
    },
    /// Network, TLS, timeout.
    #[error("cannot reach Microsoft Graph: {0}")]
    Transport(String),
    /// A 2xx body we could not read.
    #[error("unexpected Microsoft Graph response: {0}")]
    Decode(String),
    /// No token.
    #[error("cannot get a Microsoft Graph token: {0}")]
    Token(#[from] AuthError),
    /// The configured base URL is unusable.
    #[error("invalid Microsoft Graph base URL {url:?}: {reason}")]
    BaseUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it (not http(s), has a query, does not parse).
        reason: String,
    },
}

impl GraphError {
    /// True if the same request may succeed later (throttling, 5xx, network, token
    /// endpoint hiccups). Auth failures, 404 and bad requests are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::Transport(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 408,
            Self::Token(e) => e.is_retryable(),
            Self::Unauthorized { .. }
            | Self::NotFound { .. }
            | Self::Decode(_)
            | Self::BaseUrl { .. } => false,
        }
    }
}

/// Resolving a display name or UPN to exactly one user failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Nobody has that exact display name / UPN. `candidates` are near matches Graph found.
    #[error("no Microsoft Graph user matches {query}{}", hint(candidates))]
    NotFound {
        /// The roster reference as written (`name:…`, `upn:…` or an OID).
        query: String,
        /// Users whose display name starts like the query; empty for OID and UPN lookups.
        candidates: Vec<GraphUser>,
    },
    /// Several users have that exact display name; use the OID or UPN instead.
    #[error("{query} matches {} users; use the OID or UPN instead{}", matches.len(), hint(matches))]
    Ambiguous {
        /// The roster reference as written.
        query: String,
        /// Every user with exactly that display name (two or more).
        matches: Vec<GraphUser>,
    },
    /// Graph itself failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

impl ResolveError {
    /// True if retrying may help (only Graph failures can).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Graph(e) if e.is_retryable())
    }
}

fn hint(users: &[GraphUser]) -> String {
    if users.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = users.iter().take(5).map(ToString::to_string).collect();
    format!(" (found: {})", shown.join("; "))
}

/// A Graph `user`, as much as the roster needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphUser {
    /// Entra object id.
    pub id: TeamsUserId,
    /// As shown in Teams; `None` when Graph omits it. Display-name roster entries match it
    /// exactly, ignoring case and surrounding spaces.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Sign-in name (`adelev@contoso.com`); stable enough to put in the roster, unlike the
    /// display name.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// Primary SMTP address, often but not always equal to the UPN.
    #[serde(default)]
    pub mail: Option<String>,
}

impl fmt::Display for GraphUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} <{}> {}",
            self.display_name.as_deref().unwrap_or("?"),
            self.user_principal_name.as_deref().unwrap_or("?"),
            self.id
        )
    }
}

/// A Graph `presence`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphPresence {
    /// The user's OID.
    pub id: TeamsUserId,
    /// The base presence; what routing policy decides on.
    pub availability: Availability,
    /// What the user is doing (`InACall`, `Presenting`, `Away`, ...); shown in listings and
    /// `doctor`, never used to decide. Empty when Graph omits it.
    #[serde(default)]
    pub activity: String,
}

#[derive(Deserialize)]
struct Collection<T> {
    value: Vec<T>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

struct Inner {
    base: Url,
    credential: Arc<dyn TokenCredential>,
    http: reqwest::Client,
    limiter: RateLimiter,
    options: GraphClientOptions,
}

/// The Graph client. Cheap to clone; clones share the connection pool and the throttle.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.inner.base.as_str())
            .field("credential", &self.inner.credential)
            .finish_non_exhaustive()
    }
}

/// One request: method, path under the base URL (with its query), optional JSON body, and
/// whether `$search` needs `ConsistencyLevel: eventual`.
struct Request<'a> {
    method: Method,
    path_and_query: String,
    body: Option<&'a serde_json::Value>,
    eventual: bool,
    what: String,
}

impl GraphClient {
    /// A client for `base_url` (`https://graph.microsoft.com`, or the simulator's root; a
    /// trailing `/v1.0` is accepted and ignored).
    pub fn new(
        base_url: &str,
        credential: Arc<dyn TokenCredential>,
        options: Option<GraphClientOptions>,
    ) -> Result<Self, GraphError> {
        let bad = |reason: &str| GraphError::BaseUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let mut base = Url::parse(base_url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad("must be an http(s) URL"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        let path = base.path().trim_end_matches('/');
        let path = path.strip_suffix("/v1.0").unwrap_or(path).to_owned();
        base.set_path(&path);
        let options = options.unwrap_or_default();
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(concat!("switchboard-routing/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Transport(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                base,
                credential,
                http,
                limiter: RateLimiter::new(options.rate_limit),
                options,
            }),
        })
    }

    /// The base URL requests go to (without `/v1.0`).
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// Users whose display name matches `name` by Graph's `$search` semantics (word-prefix
    /// match). At most 25, in Graph's order.
    pub async fn search_users_by_display_name(
        &self,
        name: &str,
    ) -> Result<Vec<GraphUser>, GraphError> {
        // `$search` takes a quoted `property:value`; a `"` or `\` in the name is escaped.
        let escaped = name.trim().replace('\\', "\\\\").replace('"', "\\\"");
        let search = format!("\"displayName:{escaped}\"");
        let path = format!(
            "/v1.0/users?$search={}&$select={}&$top=25",
            utf8_percent_encode(&search, COMPONENT),
            utf8_percent_encode(USER_SELECT, COMPONENT),
        );
        let page: Collection<GraphUser> = self
            .send(Request {
                method: Method::GET,
                path_and_query: path,
                body: None,
                eventual: true,
                what: format!("users named {name:?}"),
            })
            .await?;
        Ok(page.value)
    }

    /// A user by OID or UPN. 404 → [`GraphError::NotFound`].
    pub async fn get_user(&self, id_or_upn: &str) -> Result<GraphUser, GraphError> {
        let key = id_or_upn.trim();
        // Graph's rule: a UPN starting with `$` is addressed as `users('$…')`.
        let resource = if key.starts_with('$') {
            format!(
                "/v1.0/users('{}')",
                utf8_percent_encode(&key.replace('\'', "''"), PATH_SEGMENT)
            )
        } else {
            format!("/v1.0/users/{}", utf8_percent_encode(key, PATH_SEGMENT))
        };
        self.send(Request {
            method: Method::GET,
            path_and_query: format!(
                "{resource}?$select={}",
                utf8_percent_encode(USER_SELECT, COMPONENT)
            ),
            body: None,
            eventual: false,
            what: format!("user {key:?}"),
        })
        .await
    }

    /// Resolves a roster reference to exactly one user.
    ///
    /// - OID, UPN: a direct lookup (`GET /users/{key}`).
    /// - Display name: `$search`, then an exact (case-insensitive) display-name match among
    ///   the results; none → [`ResolveError::NotFound`] listing what Graph found, several →
    ///   [`ResolveError::Ambiguous`].
    pub async fn resolve(&self, agent: &AgentRef) -> Result<GraphUser, ResolveError> {
        let direct = |key: &str, query: String| {
            let key = key.to_owned();
            async move {
                match self.get_user(&key).await {
                    Ok(u) => Ok(u),
                    Err(GraphError::NotFound { .. }) => Err(ResolveError::NotFound {
                        query,
                        candidates: Vec::new(),
                    }),
                    Err(e) => Err(e.into()),
                }
            }
        };
        match agent {
            AgentRef::Oid(oid) => direct(oid.as_str(), agent.to_string()).await,
            AgentRef::Upn(upn) => direct(upn, agent.to_string()).await,
            AgentRef::DisplayName(name) => {
                let found = self.search_users_by_display_name(name).await?;
                // Graph's `$search` matches word prefixes ("Ann" finds "Anna Lee"); only an
                // exact, case-insensitive display name counts as the agent.
                let wanted = name.trim().to_lowercase();
                let (exact, others): (Vec<GraphUser>, Vec<GraphUser>) =
                    found.into_iter().partition(|u| {
                        u.display_name
                            .as_deref()
                            .is_some_and(|d| d.trim().to_lowercase() == wanted)
                    });
                let mut exact = exact.into_iter();
                match (exact.next(), exact.next()) {
                    (Some(user), None) => Ok(user),
                    (None, _) => Err(ResolveError::NotFound {
                        query: agent.to_string(),
                        candidates: others,
                    }),
                    (Some(first), Some(second)) => Err(ResolveError::Ambiguous {
                        query: agent.to_string(),
                        matches: [first, second].into_iter().chain(exact).collect(),
                    }),
                }
            }
        }
    }

    /// Presence of many users, in requests of at most 650 ids (Graph's limit). Fails on the
    /// first failing request, losing the chunks already read; the
    /// [`PresenceCache`](crate::presence_cache::PresenceCache) reads chunk by chunk instead to
    /// keep partial results. Safe to retry: it only reads.
    pub async fn get_presences_by_user_id(
        &self,
        ids: &[TeamsUserId],
    ) -> Result<Vec<GraphPresence>, GraphError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_PRESENCE_IDS_PER_REQUEST) {
            out.extend(self.get_presences_batch(chunk).await?);
        }
        Ok(out)
    }

    /// One `getPresencesByUserId` request. More than [`MAX_PRESENCE_IDS_PER_REQUEST`] ids is
    /// a caller bug and is refused before any I/O.
    pub(crate) async fn get_presences_batch(
        &self,
        ids: &[TeamsUserId],
    ) -> Result<Vec<GraphPresence>, GraphError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() > MAX_PRESENCE_IDS_PER_REQUEST {
            return Err(GraphError::Status {
                status: 400,
                code: "TooManyIds".into(),
                message: format!(
                    "{} ids in one getPresencesByUserId request; Graph allows {MAX_PRESENCE_IDS_PER_REQUEST}",
                    ids.len()
                ),
            });
        }
        let body = serde_json::json!({ "ids": ids });
        let page: Collection<GraphPresence> = self
            .send(Request {
                method: Method::POST,
                path_and_query: "/v1.0/communications/getPresencesByUserId".into(),
                body: Some(&body),
                eventual: false,
                what: format!("presence of {} users", ids.len()),
            })
            .await?;
        Ok(page.value)
    }

    /// Presence of one user.
    pub async fn get_presence(&self, id: &TeamsUserId) -> Result<GraphPresence, GraphError> {
        self.send(Request {
            method: Method::GET,
            path_and_query: format!(
                "/v1.0/users/{}/presence",
                utf8_percent_encode(id.as_str(), PATH_SEGMENT)
            ),
            body: None,
            eventual: false,
            what: format!("presence of {id}"),
        })
        .await
    }

    /// Sends with throttling, auth and retries, and decodes a 2xx JSON body.
    async fn send<T: DeserializeOwned>(&self, req: Request<'_>) -> Result<T, GraphError> {
        let inner = &self.inner;
        let url = format!(
            "{}{}",
            inner.base.as_str().trim_end_matches('/'),
            req.path_and_query
        );
        let mut attempt: u32 = 0;
        loop {
            inner.limiter.acquire().await;
            let outcome = self.send_once(&req, &url).await;
            let (err, wait) = match outcome {
                Ok(v) => return Ok(v),
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Retry { error, wait }) => (error, wait),
            };
            if attempt >= inner.options.max_retries {
                return Err(err);
            }
            if let GraphError::Throttled { retry_after } = &err {
                if *retry_after > inner.options.max_retry_wait {
                    return Err(err);
                }
                // Everyone waits, not just this request: Graph throttles the app.
                inner.limiter.block_for(*retry_after).await;
            } else {
                tokio::time::sleep(wait).await;
            }
            attempt += 1;
            tracing::debug!(attempt, error = %err, what = %req.what, "retrying graph request");
        }
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        req: &Request<'_>,
        url: &str,
    ) -> Result<T, Attempt> {
        let inner = &self.inner;
        let token = inner
            .credential
            .get_token(&[GRAPH_SCOPE])
            .await
            .map_err(|e| {
                let retryable = e.is_retryable();
                let error = GraphError::Token(e);
                if retryable {
                    Attempt::Retry {
                        error,
                        wait: Duration::from_millis(500),
                    }
                } else {
                    Attempt::Final(error)
                }
            })?;
        let mut rb = inner
            .http
            .request(req.method.clone(), url)
            .bearer_auth(token.token.expose())
            .header(reqwest::header::ACCEPT, "application/json");
        if req.eventual {
            rb = rb.header("ConsistencyLevel", "eventual");
        }
        if let Some(body) = req.body {
            rb = rb.json(body);
        }
        let resp = rb.send().await.map_err(|e| Attempt::Retry {
            // reqwest's error text never contains headers, so the token cannot leak here.
            error: GraphError::Transport(e.without_url().to_string()),
            wait: Duration::from_millis(250),
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = resp.bytes().await.map_err(|e| Attempt::Retry {
            error: GraphError::Transport(e.without_url().to_string()),
            wait: Duration::from_millis(250),
        })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| Attempt::Final(GraphError::Decode(format!("{}: {e}", req.what))));
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => (b.error.code, b.error.message),
            Err(_) => (
                status.canonical_reason().unwrap_or("").to_owned(),
                String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            ),
        };
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => Attempt::Retry {
                error: GraphError::Throttled {
                    retry_after: retry_after.unwrap_or(Duration::from_secs(2)),
                },
                wait: Duration::ZERO,
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Attempt::Final(GraphError::Unauthorized {
                    status: status.as_u16(),
                    code,
                    message,
                })
            }
            StatusCode::NOT_FOUND => Attempt::Final(GraphError::NotFound {
                what: req.what.clone(),
            }),
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                // Graph sends Retry-After on 503 too; honour it like a 429.
                match retry_after {
                    Some(ra) if s == StatusCode::SERVICE_UNAVAILABLE => Attempt::Retry {
                        error: GraphError::Throttled { retry_after: ra },
                        wait: Duration::ZERO,
                    },
                    _ => Attempt::Retry {
                        error: GraphError::Status {
                            status: s.as_u16(),
                            code,
                            message,
                        },
                        wait: retry_after.unwrap_or(Duration::from_millis(500)),
                    },
                }
            }
            s => Attempt::Final(GraphError::Status {
                status: s.as_u16(),
                code,
                message,
            }),
        })
    }
}

enum Attempt {
    Retry { error: GraphError, wait: Duration },
    Final(GraphError),
}

/// `Retry-After` is either delta-seconds or an HTTP-date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        let future =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(90));
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d > Duration::from_secs(80) && d <= Duration::from_secs(90),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    proptest::proptest! {
        /// Any header value parses or is ignored; whole seconds round-trip.
        #[test]
        fn retry_after_never_panics(v in "\\PC{0,40}", secs in 0u64..100_000) {
            let _ = parse_retry_after(&v);
            proptest::prop_assert_eq!(
                parse_retry_after(&secs.to_string()),
                Some(Duration::from_secs(secs))
            );
        }
    }

    #[test]
    fn base_url_is_validated_and_normalised() {
        let cred: Arc<dyn TokenCredential> = Arc::new(auth::StaticTokenCredential::long_lived("t"));
        let c = GraphClient::new("http://127.0.0.1:9/v1.0/", cred.clone(), None).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:9/");
        let c = GraphClient::new("http://127.0.0.1:9/sim", cred.clone(), None).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:9/sim");
        assert!(GraphClient::new("ftp://x", cred.clone(), None).is_err());
        assert!(GraphClient::new("not a url", cred.clone(), None).is_err());
        assert!(GraphClient::new("https://x/?a=b", cred, None).is_err());
    }

    #[test]
    fn errors_say_whether_retry_is_safe() {
        assert!(GraphError::Throttled {
            retry_after: Duration::from_secs(1)
        }
        .is_retryable());
        assert!(GraphError::Transport("x".into()).is_retryable());
        assert!(GraphError::Status {
            status: 503,
            code: String::new(),
            message: String::new()
        }
        .is_retryable());
        assert!(!GraphError::Status {
            status: 400,
            code: String::new(),
            message: String::new()
        }
        .is_retryable());
        assert!(!GraphError::Unauthorized {
            status: 403,
            code: String::new(),
            message: String::new()
        }
        .is_retryable());
        assert!(!ResolveError::Ambiguous {
            query: "x".into(),
            matches: vec![]
        }
        .is_retryable());
    }

    #[test]
    fn percent_encoding_keeps_upn_at_sign_and_encodes_guest_hash() {
        let s = utf8_percent_encode(
            "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            PATH_SEGMENT,
        )
        .to_string();
        assert_eq!(s, "ann_fabrikam.com%23EXT%23@contoso.onmicrosoft.com");
        let q = utf8_percent_encode("\"displayName:Ann Lee\"", COMPONENT).to_string();
        assert_eq!(q, "%22displayName%3AAnn%20Lee%22");
    }
}
