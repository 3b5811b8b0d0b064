//! Throughput of the simulator under concurrent call flows, over real HTTP.
//!
//! Each flow: a customer call starts (in-process, IncomingCall to a channel sink), then over
//! HTTP with HMAC: answer → add participant → hang up, while the simulator POSTs the five
//! resulting callbacks (CallConnected, ParticipantsUpdated, AddParticipantSucceeded,
//! ParticipantsUpdated, CallDisconnected) to a local receiver. Reports Call Automation
//! requests/s, callbacks/s and flows/s.
//!
//! `cargo bench -p switchboard-sim --bench flows` (env: `SIM_BENCH_FLOWS`, default 2000;
//! `SIM_BENCH_CONCURRENCY`, default 64).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use serde_json::{json, Value};
use switchboard_contract::hmac::{self, AccessKey};
use switchboard_sim::{ChannelSink, NumberSpec, SimConfig, Simulator, StartCall, Timing};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Client {
    http: reqwest::Client,
    key: AccessKey,
    base: String,
    host: String,
    requests: AtomicU64,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let pq = format!("{path}?api-version=2026-03-12");
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let hash = hmac::content_hash(&bytes);
        let sig = self.key.sign(&hmac::string_to_sign(
            method.as_str(),
            &pq,
            &date,
            &self.host,
            &hash,
        ));
        let mut req = self
            .http
            .request(method, format!("{}{pq}", self.base))
            .header(hmac::DATE_HEADER, date)
            .header(hmac::CONTENT_HASH_HEADER, hash)
            .header("authorization", hmac::authorization_header(&sig));
        if body.is_some() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        match req.send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }
}

fn main() {
    if let Some(secs) = std::env::var("SIM_BENCH_SERVE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        serve_for_wrk(secs);
        return;
    }
    let flows = env_or("SIM_BENCH_FLOWS", 2000);
    let concurrency = env_or("SIM_BENCH_CONCURRENCY", 64).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        // A callback receiver that only counts.
        let callbacks = Arc::new(AtomicU64::new(0));
        let c2 = callbacks.clone();
        let app = axum::Router::new().route(
            "/cb",
            post(move || {
                let c = c2.clone();
                async move {
                    c.fetch_add(1, Ordering::Relaxed);
                    ""
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let callback_uri = format!("http://{}/cb", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let timing = Timing {
            connect_delay: Duration::ZERO,
            default_accept_delay: Duration::ZERO,
            operation_delay: Duration::ZERO,
            ..Timing::default()
        };
        let sim = Simulator::start(SimConfig {
            timing,
            random_seed: Some(1),
            max_history: 64,
            ..SimConfig::default()
        })
        .await
        .expect("simulator");
        sim.add_number(NumberSpec::new("+18005550100")).expect("number");
        let (sink, mut incoming) = ChannelSink::new();
        sim.set_sink(sink);
        tokio::spawn(async move { while incoming.recv().await.is_some() {} });

        let client = Arc::new(Client {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(concurrency)
                .tcp_nodelay(true)
                .build()
                .expect("client"),
            key: AccessKey::from_base64(sim.access_key().expose()).expect("key"),
            base: sim.base_url(),
            host: sim.addr().to_string(),
            requests: AtomicU64::new(0),
        });

        let next = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (client, sim, next, failures, cb) =
                (client.clone(), sim.clone(), next.clone(), failures.clone(), callback_uri.clone());
            workers.push(tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < flows as u64 {
                    let Ok(call) = sim.start_call(StartCall::default()) else {
                        failures.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let (s, body) = client
                        .send(
                            reqwest::Method::POST,
                            "/calling/callConnections:answer",
                            Some(&json!({"incomingCallContext": call.incoming_call_context, "callbackUri": cb})),
                        )
                        .await;
                    let Some(ccid) = body["callConnectionId"].as_str().filter(|_| s == 200).map(str::to_owned) else {
                        failures.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let add = json!({"participantToAdd": {"kind": "communicationUser", "communicationUser": {"id": format!("8:acs:bench_{ccid}")}}});
                    let path = format!("/calling/callConnections/{ccid}/participants:add");
                    let mut added = false;
                    for _ in 0..100 {
                        let (s, _) = client.send(reqwest::Method::POST, &path, Some(&add)).await;
                        if s == 202 {
                            added = true;
                            break;
                        }
                        // 400/8501 until the connect timer has run.
                        tokio::task::yield_now().await;
                    }
                    let (s, _) = client
                        .send(reqwest::Method::DELETE, &format!("/calling/callConnections/{ccid}"), None)
                        .await;
                    if !added || s != 204 {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for w in workers {
            let _ = w.await;
        }
        let elapsed = started.elapsed();
        // Let the last callbacks land (bounded).
        let want = flows as u64 * 4;
        let settle = Instant::now();
        while callbacks.load(Ordering::Relaxed) < want && settle.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let total = started.elapsed();
        let requests = client.requests.load(Ordering::Relaxed);
        let cbs = callbacks.load(Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        println!("simulator flows bench: {flows} flows, concurrency {concurrency}");
        println!("  flow phase:      {:.2} s", secs);
        println!("  requests:        {requests} ({:.0} req/s)", requests as f64 / secs);
        println!("  flows:           {:.0} flows/s", flows as f64 / secs);
        println!("  callbacks:       {cbs} delivered ({:.0}/s incl. settle of {:.2} s)", cbs as f64 / total.as_secs_f64(), (total - elapsed).as_secs_f64());
        println!("  failures:        {}", failures.load(Ordering::Relaxed));
        let ledger = sim.ledger();
        println!("  ledger:          answers {}, adds {}, hangups {}", ledger.total.answers, ledger.total.adds, ledger.total.hangups);
        sim.shutdown().await;
    });
}

/// `SIM_BENCH_SERVE_SECS=N`: start a simulator with one connected call and 100 agents, print
/// what an external load tool (wrk) needs — base URL, call connection id and signed headers
/// for `GET /calling/callConnections/{id}` (valid for the 15-minute clock skew) — then serve
/// for N seconds.
fn serve_for_wrk(secs: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let sim = Simulator::start(SimConfig { random_seed: Some(1), ..SimConfig::default() })
            .await
            .expect("simulator");
        sim.add_number(NumberSpec::new("+18005550100")).expect("number");
        let agents = (0..100)
            .map(|i| switchboard_sim::AgentSpec::new(format!("00000000-0000-0000-0000-{i:012}"), format!("Agent {i}"), format!("agent{i}@contoso.com")))
            .collect();
        sim.seed_agents(agents).expect("agents");
        let client = Client {
            http: reqwest::Client::new(),
            key: AccessKey::from_base64(sim.access_key().expose()).expect("key"),
            base: sim.base_url(),
            host: sim.addr().to_string(),
            requests: AtomicU64::new(0),
        };
        let call = sim.start_call(StartCall::default()).expect("call");
        let (_, body) = client
            .send(
                reqwest::Method::POST,
                "/calling/callConnections:answer",
                Some(&json!({"incomingCallContext": call.incoming_call_context, "callbackUri": "http://127.0.0.1:9/cb"})),
            )
            .await;
        let ccid = body["callConnectionId"].as_str().unwrap_or_default().to_owned();
        let pq = format!("/calling/callConnections/{ccid}?api-version=2026-03-12");
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let hash = hmac::content_hash(b"");
        let sig = client.key.sign(&hmac::string_to_sign("GET", &pq, &date, &client.host, &hash));
        println!(
            "{}",
            json!({"base": sim.base_url(), "path": pq, "x-ms-date": date, "x-ms-content-sha256": hash, "authorization": hmac::authorization_header(&sig)})
        );
        tokio::time::sleep(Duration::from_secs(secs)).await;
        sim.shutdown().await;
    });
}
