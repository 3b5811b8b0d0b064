//! Test harness: a simulator on 127.0.0.1:0 with fast timing, a real HTTP callback receiver
//! on another port, a channel sink for IncomingCall, and signed raw-HTTP helpers.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{json, Value};
use switchboard_contract::hmac::{self, AccessKey};
use switchboard_sim::{
    AgentSpec, Behaviour, CallHandle, ChannelSink, NumberSpec, SimConfig, SimHandle, Simulator,
    SinkMessage, StartCall, Timing,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::Mutex;

pub const API: &str = "2026-03-12";
pub const NUMBER: &str = "+18005550100";
pub const AGENT_ACCEPT: &str = "11111111-1111-1111-1111-111111111111";
pub const AGENT_DECLINE: &str = "22222222-2222-2222-2222-222222222222";
pub const AGENT_NO_ANSWER: &str = "33333333-3333-3333-3333-333333333333";
pub const AGENT_BUSY: &str = "44444444-4444-4444-4444-444444444444";
pub const AGENT_VOICEMAIL: &str = "55555555-5555-5555-5555-555555555555";
/// Generous upper bound for waiting on something that should happen in milliseconds.
pub const WAIT: Duration = Duration::from_secs(10);

/// Timing for tests: everything in tens of milliseconds.
pub fn fast_timing() -> Timing {
    Timing {
        time_scale: 1.0,
        connect_delay: Duration::from_millis(5),
        ringing_timeout: Duration::from_secs(20),
        default_invitation_timeout: Duration::from_secs(3),
        default_accept_delay: Duration::from_millis(20),
        busy_delay: Duration::from_millis(10),
        operation_delay: Duration::from_millis(5),
        play_duration: Duration::from_millis(40),
        recognize_delay: Duration::from_millis(10),
        default_initial_silence_timeout: Duration::from_millis(300),
        default_inter_tone_timeout: Duration::from_millis(200),
        emit_play_started: true,
    }
}

pub fn agents() -> Vec<AgentSpec> {
    vec![
        AgentSpec::new(AGENT_ACCEPT, "Adele Vance", "adelev@contoso.com").with_behaviour(
            Behaviour::Accept {
                after: Duration::from_millis(30),
            },
        ),
        AgentSpec::new(AGENT_DECLINE, "Diego Siciliani", "diegos@contoso.com").with_behaviour(
            Behaviour::Decline {
                after: Duration::from_millis(30),
            },
        ),
        AgentSpec::new(AGENT_NO_ANSWER, "Alex Wilber", "alexw@contoso.com")
            .with_behaviour(Behaviour::NoAnswer),
        AgentSpec::new(AGENT_BUSY, "Grady Archie", "gradya@contoso.com")
            .with_behaviour(Behaviour::Busy)
            .with_presence("Busy", "InACall"),
        AgentSpec::new(AGENT_VOICEMAIL, "Megan Bowen", "meganb@contoso.com").with_behaviour(
            Behaviour::Voicemail {
                after: Duration::from_millis(40),
            },
        ),
    ]
}

pub fn test_config() -> SimConfig {
    SimConfig {
        random_seed: Some(7),
        timing: fast_timing(),
        ..SimConfig::default()
    }
}

/// One POST the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub events: Vec<Value>,
}

/// A callback receiver on its own port. It can be told to fail the next N POSTs with 500.
pub struct Receiver {
    pub url: String,
    pub fail_next: Arc<AtomicUsize>,
    pub hits: Arc<AtomicUsize>,
    /// Every accepted body, raw, in arrival order.
    pub raw: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    rx: Mutex<UnboundedReceiver<Received>>,
    pending: Mutex<VecDeque<Received>>,
}

#[derive(Clone)]
struct RecvState {
    tx: UnboundedSender<Received>,
    fail_next: Arc<AtomicUsize>,
    hits: Arc<AtomicUsize>,
    raw: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

async fn receive(State(s): State<RecvState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let failing = s
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    s.raw.lock().unwrap().push(body.to_vec());
    let events = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(a)) => a,
        Ok(v) => vec![v],
        Err(_) => vec![],
    };
    let _ = s.tx.send(Received {
        headers,
        body: body.to_vec(),
        events,
    });
    StatusCode::OK
}

impl Receiver {
    pub async fn start() -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let fail_next = Arc::new(AtomicUsize::new(0));
        let hits = Arc::new(AtomicUsize::new(0));
        let raw = Arc::new(std::sync::Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/{*path}", post(receive))
            .with_state(RecvState {
                tx,
                fail_next: fail_next.clone(),
                hits: hits.clone(),
                raw: raw.clone(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            fail_next,
            hits,
            raw,
            rx: Mutex::new(rx),
            pending: Mutex::new(VecDeque::new()),
        }
    }

    /// Every accepted body so far.
    pub fn raw_bodies(&self) -> Vec<Vec<u8>> {
        self.raw.lock().unwrap().clone()
    }

    /// Next POST, or `None` after `timeout`.
    pub async fn next(&self, timeout: Duration) -> Option<Received> {
        if let Some(r) = self.pending.lock().await.pop_front() {
            return Some(r);
        }
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(timeout, rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Events up to and including the first of type `short` (for call `ccid`, if given).
    /// Panics (test failure) if it does not arrive in time.
    pub async fn until(&self, ccid: Option<&str>, short: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(r) = self.next(left).await else {
                panic!(
                    "no {short} callback within {WAIT:?}; saw {:?}",
                    seen.iter().map(short_type).collect::<Vec<_>>()
                );
            };
            for e in r.events {
                let mine = ccid.is_none_or(|c| e["data"]["callConnectionId"] == c);
                let hit = mine && short_type(&e) == short;
                if mine {
                    seen.push(e);
                }
                if hit {
                    return seen;
                }
            }
        }
    }

    /// The event of type `short` (skipping others).
    pub async fn expect(&self, ccid: &str, short: &str) -> Value {
        self.until(Some(ccid), short).await.pop().unwrap()
    }

    /// Everything that arrives within `d`.
    pub async fn drain(&self, d: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return out;
            }
            match self.next(left).await {
                Some(r) => out.extend(r.events),
                None => return out,
            }
        }
    }
}

pub fn short_type(e: &Value) -> String {
    e["type"]
        .as_str()
        .unwrap_or("")
        .trim_start_matches("Microsoft.Communication.")
        .to_owned()
}

/// A running simulator plus everything a test talks to it with.
pub struct Harness {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub key: AccessKey,
    pub cb: Receiver,
    pub incoming: Mutex<UnboundedReceiver<SinkMessage>>,
}

pub async fn start() -> Harness {
    start_with(test_config()).await
}

pub async fn start_with(cfg: SimConfig) -> Harness {
    let sim = Simulator::start(cfg).await.expect("simulator starts");
    sim.seed_agents(agents()).unwrap();
    sim.add_number(NumberSpec::new(NUMBER)).unwrap();
    let (sink, incoming) = ChannelSink::new();
    sim.set_sink(sink);
    let key = AccessKey::from_base64(sim.access_key().expose()).unwrap();
    Harness {
        sim,
        http: reqwest::Client::new(),
        key,
        cb: Receiver::start().await,
        incoming: Mutex::new(incoming),
    }
}

/// Response of a raw request.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

/// HMAC-sign a request for `url` (path+query as sent) with `key`.
pub fn sign_headers(
    key: &AccessKey,
    method: &str,
    url: &url::Url,
    body: &[u8],
) -> Vec<(String, String)> {
    let pq = &url[url::Position::BeforePath..];
    let host = hmac::host_header(url.scheme(), url.host_str().unwrap_or(""), url.port());
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let hash = hmac::content_hash(body);
    let sts = hmac::string_to_sign(method, pq, &date, &host, &hash);
    vec![
        (hmac::DATE_HEADER.into(), date),
        (hmac::CONTENT_HASH_HEADER.into(), hash),
        (
            "authorization".into(),
            hmac::authorization_header(&key.sign(&sts)),
        ),
    ]
}

impl Harness {
    pub fn url(&self, path: &str) -> url::Url {
        let sep = if path.contains('?') { '&' } else { '?' };
        url::Url::parse(&format!(
            "{}{path}{sep}api-version={API}",
            self.sim.base_url()
        ))
        .unwrap()
    }

    /// A signed request; `extra` headers are added after signing (e.g. repeatability).
    pub async fn send(
        &self,
        method: &str,
        url: url::Url,
        body: Option<&Value>,
        extra: &[(&str, String)],
    ) -> Resp {
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let mut req = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            url.clone(),
        );
        for (k, v) in sign_headers(&self.key, method, &url, &bytes) {
            req = req.header(k, v);
        }
        for (k, v) in extra {
            req = req.header(*k, v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        let resp = req.send().await.expect("request reaches the simulator");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send("POST", self.url(path), Some(&body), &[]).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", self.url(path), None, &[]).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", self.url(path), None, &[]).await
    }

    pub fn callback_uri(&self) -> String {
        format!("{}/callbacks", self.cb.url)
    }

    /// Wait for the next IncomingCall message.
    pub async fn next_incoming(&self) -> SinkMessage {
        let mut rx = self.incoming.lock().await;
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("IncomingCall delivered in time")
            .expect("sink open")
    }

    /// Place a call, take the IncomingCall from the sink, answer it, wait for CallConnected.
    /// Returns (handle, call connection id).
    pub async fn connected_call(&self) -> (CallHandle, String) {
        self.connected_call_with(StartCall::default()).await
    }

    /// Answered with the simulator's Azure AI services endpoint, so text prompts play.
    pub async fn connected_call_with(&self, req: StartCall) -> (CallHandle, String) {
        self.connected_call_ai(req, Some(self.sim.cognitive_services_endpoint().to_owned()))
            .await
    }

    /// Answered with `callIntelligenceOptions.cognitiveServicesEndpoint` = `ai` (none: no
    /// AI services on the call, so text-to-speech is refused).
    pub async fn connected_call_ai(
        &self,
        req: StartCall,
        ai: Option<String>,
    ) -> (CallHandle, String) {
        let handle = self.sim.start_call(req).unwrap();
        let msg = self.next_incoming().await;
        let ev: Value = serde_json::from_slice(&msg.body).unwrap();
        let ctx = ev["data"]["incomingCallContext"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(ctx, handle.incoming_call_context);
        let mut body = json!({"incomingCallContext": ctx, "callbackUri": self.callback_uri(), "operationContext": "answer-1"});
        if let Some(endpoint) = ai {
            body["callIntelligenceOptions"] = json!({"cognitiveServicesEndpoint": endpoint});
        }
        let r = self.post("/calling/callConnections:answer", body).await;
        assert_eq!(r.status, 200, "answer: {:?}", r.body);
        let ccid = r.body["callConnectionId"].as_str().unwrap().to_owned();
        self.cb.until(Some(&ccid), "ParticipantsUpdated").await;
        (handle, ccid)
    }

    pub async fn add(&self, ccid: &str, oid: &str, ctx: &str) -> Resp {
        self.post(
            &format!("/calling/callConnections/{ccid}/participants:add"),
            json!({"participantToAdd": teams(oid), "operationContext": ctx}),
        )
        .await
    }
}

/// Wire identifier of a Teams user.
pub fn teams(oid: &str) -> Value {
    json!({"kind": "microsoftTeamsUser", "rawId": format!("8:orgid:{oid}"), "microsoftTeamsUser": {"userId": oid, "cloud": "public"}})
}

/// Wait until `f` is true (polling), or fail.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
