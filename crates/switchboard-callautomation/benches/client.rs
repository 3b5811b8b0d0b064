//! Client overhead and loopback throughput.
//!
//! `cargo bench -p switchboard-callautomation` prints:
//! * serialize + schema-validate an AddParticipant body (what a strict server does per request);
//! * sequential round-trip latency (p50/p99) of `add_participant` with HMAC signing against a
//!   minimal axum server on 127.0.0.1 (pooled keep-alive connection);
//! * throughput with 32 requests in flight.
//!
//! Plain `Instant` loops; numbers are for comparing changes on one machine, not absolutes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use switchboard_callautomation::{
    AddParticipantRequest, CallAutomationClient, ClientOptions, RequestOptions,
};
use switchboard_events::{CallConnectionId, CommunicationIdentifier};

const KEY: &str = "YmVuY2gta2V5LWJ5dGVzLTAxMjM0NTY3ODk=";

fn request() -> AddParticipantRequest {
    let mut r = AddParticipantRequest::new(CommunicationIdentifier::teams_user(
        "1c1e7c5f-0000-4000-8000-0000000000a1",
    ));
    r.invitation_timeout_in_seconds = Some(30);
    r.source_display_name = Some("Contoso support".into());
    r.operation_context = Some("offer-1".into());
    r
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn bench_validate() {
    let req = request();
    let n = 20_000;
    let start = Instant::now();
    for _ in 0..n {
        let bytes = serde_json::to_vec(&req).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        switchboard_contract::validate("AddParticipantRequest", &value).unwrap();
    }
    let per = start.elapsed() / n;
    println!("serialize + validate AddParticipantRequest: {per:?} per body");
}

async fn server() -> String {
    async fn accept() -> impl IntoResponse {
        (
            StatusCode::ACCEPTED,
            [("content-type", "application/json")],
            r#"{"operationContext":"offer-1","invitationId":"7b4244f8-d2ff-46d1-a629-4f9fb5f73d40"}"#,
        )
    }
    let app = Router::new().fallback(accept);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("endpoint=http://{addr}/;accesskey={KEY}")
}

async fn bench_round_trips() {
    let cs = server().await;
    let client = Arc::new(
        CallAutomationClient::from_connection_string(&cs, ClientOptions::default()).unwrap(),
    );
    let call = CallConnectionId::from("bench-call");
    let req = request();
    // Warm up the pool.
    for _ in 0..200 {
        client
            .add_participant(&call, &req, RequestOptions::default())
            .await
            .unwrap();
    }
    let n = 3_000;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client
            .add_participant(&call, &req, RequestOptions::default())
            .await
            .unwrap();
        samples.push(t.elapsed());
    }
    samples.sort();
    println!(
        "sequential add_participant (HMAC, loopback): p50 {:?}, p99 {:?}",
        percentile(&samples, 0.50),
        percentile(&samples, 0.99)
    );

    let in_flight = 32;
    let per_task = 300;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let client = client.clone();
        let call = call.clone();
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_task {
                client
                    .add_participant(&call, &req, RequestOptions::default())
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = in_flight * per_task;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{in_flight} in flight: {total} requests in {secs:.2} s = {:.0} req/s",
        total as f64 / secs
    );
}

fn main() {
    bench_validate();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench_round_trips());
}
