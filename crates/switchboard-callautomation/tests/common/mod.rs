//! A stand-in ACS Call Automation endpoint on 127.0.0.1:0, strict like the real service:
//! it verifies every request's HMAC signature (or bearer token), checks the content hash,
//! routes by the contract's operation table, validates bodies against the spec schema, and
//! answers from a script (or the spec's example response). Every request is recorded.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use switchboard_callautomation::{CallAutomationClient, ClientOptions, Credential, RetryOptions};
use switchboard_contract::hmac::{self, AccessKey};
use url::Url;

/// The access key the fake and the clients share (base64 of "switchboard-test-key-bytes").
pub const KEY_B64: &str = "c3dpdGNoYm9hcmQtdGVzdC1rZXktYnl0ZXM=";

/// How the fake expects requests to authenticate.
#[derive(Clone)]
pub enum Auth {
    Hmac(AccessKey),
    Bearer(String),
}

/// One recorded request.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The operation the contract routes this request to.
    pub operation: Option<String>,
    /// Decoded path parameters.
    pub params: Vec<(String, String)>,
    /// `Ok` when authentication (signature / token, content hash) checked out.
    pub auth: Result<(), String>,
    /// `Ok` when the body validated against the operation's schema (or there is none).
    pub schema: Result<(), String>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Wait this long before answering (drives timeouts).
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: None,
        }
    }

    pub fn json(status: u16, body: Value) -> Self {
        Self {
            body: body.to_string(),
            ..Self::status(status)
        }
        .header("content-type", "application/json")
    }

    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(status, json!({"error": {"code": code, "message": message}}))
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }
}

struct Shared {
    auth: Auth,
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
}

pub struct FakeAcs {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAcs {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeAcs {
    pub async fn hmac() -> Self {
        Self::start(Auth::Hmac(AccessKey::from_base64(KEY_B64).unwrap())).await
    }

    pub async fn start(auth: Auth) -> Self {
        let shared = Arc::new(Shared {
            auth,
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared, task }
    }

    pub fn endpoint(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).unwrap()
    }

    pub fn connection_string(&self) -> String {
        format!("endpoint=http://{};accesskey={KEY_B64}", self.addr)
    }

    /// A client with fast, deterministic retries (no jitter, 1 ms initial delay).
    pub fn client(&self) -> CallAutomationClient {
        CallAutomationClient::from_connection_string(&self.connection_string(), fast_options())
            .unwrap()
    }

    pub fn client_with(
        &self,
        credential: Credential,
        options: ClientOptions,
    ) -> CallAutomationClient {
        CallAutomationClient::new(self.endpoint(), credential, options).unwrap()
    }

    /// Queue answers; each request takes the next one, then the defaults apply.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.shared.requests.lock().unwrap())
    }
}

pub fn fast_options() -> ClientOptions {
    ClientOptions {
        retry: RetryOptions {
            max_attempts: 3,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            jitter: false,
            jitter_seed: None,
            total_deadline: Some(Duration::from_secs(30)),
            max_retry_after: Duration::from_secs(60),
        },
        ..ClientOptions::default()
    }
}

fn check_auth(
    auth: &Auth,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    match auth {
        Auth::Hmac(key) => {
            let date = get(hmac::DATE_HEADER).ok_or("no x-ms-date")?;
            httpdate::parse_http_date(date).map_err(|_| format!("bad x-ms-date {date:?}"))?;
            let hash = get(hmac::CONTENT_HASH_HEADER).ok_or("no x-ms-content-sha256")?;
            if hash != hmac::content_hash(body) {
                return Err(format!("content hash {hash} does not match the body"));
            }
            let host = get("host").ok_or("no host header")?;
            let (signed, signature) =
                hmac::parse_authorization(get("authorization").ok_or("no authorization")?)
                    .ok_or("authorization is not HMAC-SHA256")?;
            if signed != hmac::SIGNED_HEADERS {
                return Err(format!("signed headers {signed:?}"));
            }
            let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let sts = hmac::string_to_sign(method.as_str(), path_and_query, date, host, hash);
            if key.verify(&sts, signature) {
                Ok(())
            } else {
                Err(format!("signature mismatch for {sts:?}"))
            }
        }
        Auth::Bearer(expected) => match get("authorization") {
            Some(v) if v == format!("Bearer {expected}") => Ok(()),
            other => Err(format!("bad bearer {other:?}")),
        },
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = check_auth(&shared.auth, &method, &uri, &headers, &body);
    let routed = switchboard_contract::find_operation(method.as_str(), uri.path());
    let schema = match (&routed, body.is_empty()) {
        (Some((op, _)), false) => match serde_json::from_slice::<Value>(&body) {
            Ok(v) => op.validate_body(&v).map_err(|errs| {
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
            Err(e) => Err(format!("body is not JSON: {e}")),
        },
        (Some((op, _)), true) => match &op.body {
            Some(b) if b.required => Err("missing required body".into()),
            _ => Ok(()),
        },
        (None, _) => Err("no such operation".into()),
    };
    shared.requests.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers.clone(),
        body: body.clone(),
        operation: routed.as_ref().map(|(op, _)| op.operation_id.clone()),
        params: routed.as_ref().map(|(_, p)| p.clone()).unwrap_or_default(),
        auth: auth.clone(),
        schema: schema.clone(),
    });
    let scripted = shared.script.lock().unwrap().pop_front();
    if let Some(reply) = scripted {
        if let Some(d) = reply.delay {
            tokio::time::sleep(d).await;
        }
        return reply_into_response(reply);
    }
    // Defaults behave like the service: 401 bad auth, 404 unknown route, 400 invalid body.
    if let Err(e) = auth {
        return reply_into_response(Reply::error(401, "Unauthorized", &e));
    }
    let Some((op, _)) = routed else {
        return reply_into_response(Reply::error(404, "NotFound", "no such operation"));
    };
    if let Err(e) = schema {
        return reply_into_response(Reply::error(400, "8523", &e));
    }
    let status = op.responses[0].status;
    reply_into_response(match default_body(op, status) {
        Some(body) => Reply::json(status, body),
        None => Reply::status(status),
    })
}

/// The spec example's response for this operation and status, else a minimal valid body.
fn default_body(op: &switchboard_contract::Operation, status: u16) -> Option<Value> {
    op.response_definition(status)?;
    let from_example = op.examples.iter().find_map(|name| {
        switchboard_contract::spec()
            .example(name)?
            .get("responses")?
            .get(status.to_string())?
            .get("body")
            .cloned()
    });
    // The GetParticipants example's `"nextLink": "string"` is a placeholder, not a page.
    let from_example = from_example.map(|mut body| {
        if let Some(o) = body.as_object_mut() {
            o.remove("nextLink");
        }
        body
    });
    Some(from_example.unwrap_or_else(|| match op.operation_id.as_str() {
        "CallRecording_GetRecordingProperties" => json!({
            "recordingId": "rec-1", "recordingState": "active", "recordingKind": "azureCommunicationServices"
        }),
        "CallConnection_Mute" => json!({"operationContext": "muted"}),
        _ => json!({}),
    }))
}

fn reply_into_response(reply: Reply) -> Response {
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (k, v) in reply.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(&v).unwrap(),
        );
    }
    response
}

/// Compares a body we sent with a spec example's body: every non-null example field must be
/// present and equal; the only extra field allowed is `rawId` on an identifier (the example
/// omits it, our identifiers always carry it), and an example `null` means "absent".
pub fn assert_matches_example(ours: &Value, example: &Value, path: &str) {
    match (ours, example) {
        (Value::Object(o), Value::Object(e)) => {
            for (k, ev) in e {
                if ev.is_null() {
                    assert!(
                        o.get(k).is_none_or(Value::is_null),
                        "{path}/{k}: example null, ours {:?}",
                        o.get(k)
                    );
                    continue;
                }
                let ov = o
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}/{k}: missing in ours"));
                assert_matches_example(ov, ev, &format!("{path}/{k}"));
            }
            for k in o.keys() {
                if !e.contains_key(k) {
                    assert!(
                        k == "rawId" && o.contains_key("kind"),
                        "{path}/{k}: extra field in ours"
                    );
                }
            }
        }
        (Value::Array(o), Value::Array(e)) => {
            assert_eq!(o.len(), e.len(), "{path}: array length");
            for (i, (ov, ev)) in o.iter().zip(e).enumerate() {
                assert_matches_example(ov, ev, &format!("{path}/{i}"));
            }
        }
        _ => assert_eq!(ours, example, "{path}"),
    }
}

/// The request body of a spec example.
pub fn example_body(example: &str, parameter: &str) -> Value {
    switchboard_contract::spec()
        .example(example)
        .unwrap_or_else(|| panic!("no example {example}"))["parameters"][parameter]
        .clone()
}
