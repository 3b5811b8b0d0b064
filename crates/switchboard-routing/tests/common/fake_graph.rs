//! A fake Microsoft Graph on 127.0.0.1 (port 0) with Graph's real JSON shapes, for tests.
//!
//! Serves the subset Switchboard uses: `GET /v1.0/users?$search=...` (requires
//! `ConsistencyLevel: eventual`, like Graph), `GET /v1.0/users/{id | upn}`,
//! `GET /v1.0/users('{$upn}')`, `POST /v1.0/communications/getPresencesByUserId` (at most 650
//! ids) and `GET /v1.0/users/{id}/presence`. Every request needs `Authorization: Bearer
//! <token>`. It also plays the Entra token endpoint (`POST /{tenant}/oauth2/v2.0/token`,
//! client-credentials grant) that hands out that token to the app set with
//! [`FakeGraph::set_app`], and the App Service / Container Apps managed-identity endpoint
//! (`GET /msi/token`, header `X-IDENTITY-HEADER: identity-header`). Failures are scripted with [`FakeGraph::fail_next`]; every
//! request is logged.
//!
//! Shared by the routing crate's tests and the CLI test (included with `#[path]`), so it only
//! uses axum, tokio and serde_json.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// One user in the fake directory.
#[derive(Clone, Debug)]
pub struct FakeUser {
    pub id: String,
    pub display_name: String,
    pub upn: String,
    /// `None`: Graph has no presence for this user (left out of batch responses, 404 alone).
    pub availability: Option<(String, String)>,
}

impl FakeUser {
    pub fn new(
        id: &str,
        display_name: &str,
        upn: &str,
        availability: &str,
        activity: &str,
    ) -> Self {
        Self {
            id: id.into(),
            display_name: display_name.into(),
            upn: upn.into(),
            availability: Some((availability.into(), activity.into())),
        }
    }
}

/// A request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    /// Raw (still percent-encoded) query.
    pub query: Option<String>,
    pub consistency_level: Option<String>,
    pub authorization: Option<String>,
    pub body: Option<Value>,
}

/// A scripted failure for the next request.
#[derive(Clone, Debug)]
pub struct Fault {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Fault {
    /// Graph's 429 shape.
    pub fn throttled(retry_after: &str) -> Self {
        Self {
            status: 429,
            retry_after: Some(retry_after.into()),
            body: json!({"error": {"code": "TooManyRequests", "message": "Too many requests.", "innerError": {"date": "2026-03-12T09:00:00", "request-id": "7c1a", "client-request-id": "7c1a"}}}),
        }
    }

    pub fn status(status: u16, code: &str) -> Self {
        Self {
            status,
            retry_after: None,
            body: json!({"error": {"code": code, "message": format!("scripted {status}"), "innerError": {"date": "2026-03-12T09:00:00", "request-id": "7c1b", "client-request-id": "7c1b"}}}),
        }
    }
}

#[derive(Default)]
struct Inner {
    users: Vec<FakeUser>,
    token: String,
    faults: VecDeque<Fault>,
    /// When set, every request fails this way (Graph down / permission missing).
    always: Option<Fault>,
    log: Vec<Logged>,
    /// (client id, client secret) the token endpoint accepts.
    app: Option<(String, String)>,
}

/// Handle to a running fake Graph.
#[derive(Clone)]
pub struct FakeGraph {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeGraph {
    /// Starts the fake on 127.0.0.1:0 with `users`, accepting bearer `token`.
    pub async fn start(users: Vec<FakeUser>, token: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            users,
            token: token.into(),
            ..Default::default()
        }));
        let app = Router::new()
            .route("/v1.0/users", get(search_users))
            .route("/v1.0/users/{key}", get(get_user))
            .route("/v1.0/users/{key}/presence", get(get_presence))
            .route(
                "/v1.0/communications/getPresencesByUserId",
                post(get_presences),
            )
            .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint))
            .route("/msi/token", get(managed_identity_endpoint))
            // `users('$upn')` has no `/` before the key; axum routes it as one segment.
            .fallback(fallback)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner }
    }

    /// Base URL to give the client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next requests fail with these faults, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().unwrap().faults.extend(faults);
    }

    /// Every request fails with `fault` until [`Self::recover`].
    pub fn fail_always(&self, fault: Fault) {
        self.inner.lock().unwrap().always = Some(fault);
    }

    /// The app the token endpoint issues the Graph token to.
    pub fn set_app(&self, client_id: &str, client_secret: &str) {
        self.inner.lock().unwrap().app = Some((client_id.into(), client_secret.into()));
    }

    pub fn recover(&self) {
        self.inner.lock().unwrap().always = None;
    }

    /// Changes a user's availability.
    pub fn set_availability(&self, id: &str, availability: &str, activity: &str) {
        let mut g = self.inner.lock().unwrap();
        if let Some(u) = g.users.iter_mut().find(|u| u.id == id) {
            u.availability = Some((availability.into(), activity.into()));
        }
    }

    pub fn log(&self) -> Vec<Logged> {
        self.inner.lock().unwrap().log.clone()
    }

    pub fn requests_to(&self, path: &str) -> usize {
        self.log().iter().filter(|l| l.path == path).count()
    }
}

type Shared = Arc<Mutex<Inner>>;

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message, "innerError": {"date": "2026-03-12T09:00:00", "request-id": "0f5e", "client-request-id": "0f5e"}}})),
    )
        .into_response()
}

/// Logs the request, checks the token and applies scripted faults. The error is the
/// response to send (large, but this is a test server).
#[allow(clippy::result_large_err)]
fn admit(
    state: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Option<Value>,
) -> Result<(), Response> {
    let mut g = state.lock().unwrap();
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    g.log.push(Logged {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        consistency_level: header("consistencylevel"),
        authorization: header("authorization"),
        body,
    });
    let fault = g.always.clone().or_else(|| g.faults.pop_front());
    if let Some(f) = fault {
        let mut resp = (
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(f.body),
        )
            .into_response();
        if let Some(ra) = f.retry_after {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_str(&ra).unwrap());
        }
        return Err(resp);
    }
    let expected = format!("Bearer {}", g.token);
    if header("authorization").as_deref() != Some(expected.as_str()) {
        return Err(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        ));
    }
    Ok(())
}

fn user_json(u: &FakeUser) -> Value {
    json!({
        "id": u.id,
        "displayName": u.display_name,
        "userPrincipalName": u.upn,
        "mail": u.upn,
    })
}

fn presence_json(u: &FakeUser) -> Option<Value> {
    let (availability, activity) = u.availability.clone()?;
    // What Graph returns today: more than the docs' example shows.
    Some(json!({
        "id": u.id,
        "availability": availability,
        "activity": activity,
        "statusMessage": null,
        "outOfOfficeSettings": {"message": null, "isOutOfOffice": false},
        "sequenceNumber": "C3D4E5F6A7B8C9D0"
    }))
}

/// Minimal percent-decoding for query values (`%XX` and nothing else; `+` stays `+`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(raw: &str, name: &str) -> Option<String> {
    raw.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

async fn search_users(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(r) = admit(&state, &method, &uri, &headers, None) {
        return r;
    }
    let query = query.unwrap_or_default();
    let Some(search) = query_param(&query, "$search") else {
        let users: Vec<Value> = state.lock().unwrap().users.iter().map(user_json).collect();
        return Json(json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": users})).into_response();
    };
    if headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        != Some("eventual")
    {
        // Graph's actual answer to $search without the header.
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        );
    }
    // "displayName:VALUE" with \" and \\ escapes.
    let Some(inner) = search.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Syntax error: $search must be quoted",
        );
    };
    let Some(value) = inner.strip_prefix("displayName:") else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "unsupported $search property",
        );
    };
    let value = value
        .replace("\\\"", "\"")
        .replace("\\\\", "\\")
        .to_lowercase();
    // Graph tokenises display names and matches the search as a word prefix.
    let users: Vec<Value> = state
        .lock()
        .unwrap()
        .users
        .iter()
        .filter(|u| {
            let name = u.display_name.to_lowercase();
            name.starts_with(&value) || name.split_whitespace().any(|w| w.starts_with(&value))
        })
        .map(user_json)
        .collect();
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName,userPrincipalName,mail)",
        "value": users
    }))
    .into_response()
}

fn find_user(state: &Shared, key: &str) -> Option<FakeUser> {
    state
        .lock()
        .unwrap()
        .users
        .iter()
        .find(|u| u.id.eq_ignore_ascii_case(key) || u.upn.eq_ignore_ascii_case(key))
        .cloned()
}

fn not_found(key: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."),
    )
}

async fn get_user(
    State(state): State<Shared>,
    Path(key): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&state, &method, &uri, &headers, None) {
        return r;
    }
    match find_user(&state, &key) {
        Some(u) => {
            let mut v = user_json(&u);
            v["@odata.context"] = json!("https://graph.microsoft.com/v1.0/$metadata#users(id,displayName,userPrincipalName,mail)/$entity");
            Json(v).into_response()
        }
        None => not_found(&key),
    }
}

async fn get_presence(
    State(state): State<Shared>,
    Path(key): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&state, &method, &uri, &headers, None) {
        return r;
    }
    match find_user(&state, &key).and_then(|u| presence_json(&u)) {
        Some(mut p) => {
            p["@odata.context"] = json!(format!(
                "https://graph.microsoft.com/v1.0/$metadata#users('{key}')/presence/$entity"
            ));
            Json(p).into_response()
        }
        None => not_found(&key),
    }
}

async fn get_presences(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    if let Err(r) = admit(&state, &method, &uri, &headers, parsed.clone()) {
        return r;
    }
    let Some(ids) = parsed
        .as_ref()
        .and_then(|b| b.get("ids"))
        .and_then(Value::as_array)
    else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The request body must contain ids.",
        );
    };
    if ids.len() > 650 {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Maximum of 650 user IDs are supported per API request.",
        );
    }
    let g = state.lock().unwrap();
    let value: Vec<Value> = ids
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|id| g.users.iter().find(|u| u.id.eq_ignore_ascii_case(id)))
        .filter_map(presence_json)
        .collect();
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.presence)",
        "value": value
    }))
    .into_response()
}

/// `GET /v1.0/users('$upn')` (Graph's form for UPNs starting with `$`) and 404s.
async fn fallback(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&state, &method, &uri, &headers, None) {
        return r;
    }
    let path = percent_decode(uri.path());
    if let Some(key) = path
        .strip_prefix("/v1.0/users('")
        .and_then(|s| s.strip_suffix("')"))
    {
        let key = key.replace("''", "'");
        return match find_user(&state, &key) {
            Some(u) => Json(user_json(&u)).into_response(),
            None => not_found(&key),
        };
    }
    graph_error(
        StatusCode::NOT_FOUND,
        "UnknownError",
        "no such route in the fake",
    )
}

/// Entra's client-credentials grant: form fields in, `{"access_token": ...}` out, or
/// Entra's error shape.
async fn token_endpoint(
    State(state): State<Shared>,
    Path(tenant): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let form = String::from_utf8_lossy(&body).into_owned();
    let field = |name: &str| {
        form.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| percent_decode(&v.replace('+', " ")))
        })
    };
    let mut g = state.lock().unwrap();
    g.log.push(Logged {
        method: "POST".into(),
        path: uri.path().to_owned(),
        query: None,
        consistency_level: None,
        authorization: None,
        body: Some(json!({
            "tenant": tenant,
            "client_id": field("client_id"),
            "scope": field("scope"),
            "grant_type": field("grant_type"),
        })),
    });
    let ok = g.app.as_ref().is_some_and(|(id, secret)| {
        field("client_id").as_deref() == Some(id.as_str())
            && field("client_secret").as_deref() == Some(secret.as_str())
    }) && field("grant_type").as_deref() == Some("client_credentials")
        && field("scope").as_deref() == Some("https://graph.microsoft.com/.default");
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]})),
        )
            .into_response();
    }
    Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": g.token}))
        .into_response()
}

/// The managed-identity endpoint Container Apps exposes as `IDENTITY_ENDPOINT`
/// (api-version 2019-08-01): the token for `resource`, with `expires_on` in Unix seconds.
async fn managed_identity_endpoint(
    State(state): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let mut g = state.lock().unwrap();
    g.log.push(Logged {
        method: "GET".into(),
        path: uri.path().to_owned(),
        query: Some(query.clone()),
        consistency_level: None,
        authorization: None,
        body: None,
    });
    let header_ok = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        == Some("identity-header");
    let resource = query_param(&query, "resource");
    if !header_ok || query_param(&query, "api-version").as_deref() != Some("2019-08-01") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"statusCode": 400, "message": "missing or wrong X-IDENTITY-HEADER or api-version"})),
        )
            .into_response();
    }
    if resource.as_deref() != Some("https://graph.microsoft.com") {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"statusCode": 400, "message": format!("unexpected resource {resource:?}")}),
            ),
        )
            .into_response();
    }
    let expires_on = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() + 3600)
        .unwrap_or(0);
    Json(json!({
        "access_token": g.token,
        "expires_on": expires_on.to_string(),
        "resource": "https://graph.microsoft.com",
        "token_type": "Bearer",
        "client_id": "00000000-0000-0000-0000-00000000abcd"
    }))
    .into_response()
}
