//! The hostile load runner: a real ingress on a real socket (the same harness as the
//! `ingress_hostile` tests), hammered by forged tokens, forged internal types, foreign and
//! malformed payloads and oversized bodies, mixed with valid callbacks. Prints what was tried,
//! how many forgeries got onto a queue (must be 0), how many valid events are missing from
//! the queue (must be 0), and the latency of the valid requests under that load.
//!
//! `cargo run --release -p switchboard-worker --example hostile_load -- [SECONDS] [CONCURRENCY]`

#[path = "../tests/hostile/mod.rs"]
mod hostile;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostile::*;
use serde_json::json;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let ingress = Arc::new(Ingress::start(Options::default()).await);
    let http = reqwest::Client::new();
    let tried = Arc::new(AtomicU64::new(0));
    let forged_answered_2xx = Arc::new(AtomicU64::new(0));
    let valid_sent = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let forged = Arc::new(forged_tokens());
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (i, http, tried, fa, vs, forged) = (
            ingress.clone(),
            http.clone(),
            tried.clone(),
            forged_answered_2xx.clone(),
            valid_sent.clone(),
            forged.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let cb = format!("{}/api/callbacks", i.url);
            let eg = format!("{}/api/incoming-calls", i.url);
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                tried.fetch_add(1, Ordering::Relaxed);
                // One valid request in four; the rest hostile.
                match n % 8 {
                    0 | 4 => {
                        let id = format!("valid-{w}-{n}");
                        let body = json!([callback_event(&id, &format!("cc-{w}"))]).to_string();
                        let t0 = Instant::now();
                        let (status, text) = post(&http, &cb, Some(&callback_token()), body).await;
                        latencies.push(t0.elapsed());
                        assert_eq!(status, 200, "a valid callback was refused: {text}");
                        vs.fetch_add(1, Ordering::Relaxed);
                    }
                    1 => {
                        let (_, t) = &forged[(n as usize / 8) % forged.len()];
                        let body = json!([callback_event(&format!("forged-{w}-{n}"), "victim")]);
                        let (status, _) = post(&http, &cb, Some(t), body.to_string()).await;
                        if status < 300 {
                            fa.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    2 => {
                        let body = json!([forged_internal(&format!("internal-{w}-{n}"))]);
                        post(&http, &cb, Some(&callback_token()), body.to_string()).await;
                    }
                    3 => {
                        let body = json!([forged_internal(&format!("internal-eg-{w}-{n}"))]);
                        post(&http, &eg, Some(&eventgrid_token()), body.to_string()).await;
                    }
                    5 => {
                        post(&http, &cb, Some(&callback_token()), "[{\"id\": tru").await;
                    }
                    6 => {
                        let body = json!([{"id": format!("foreign-{w}-{n}"), "type": "Contoso.Thing", "specversion": "1.0", "source": "x", "data": {}}]);
                        post(&http, &cb, Some(&callback_token()), body.to_string()).await;
                    }
                    _ => {
                        // Refused from the declared length (413) while the client still
                        // writes: the client may see the connection close instead.
                        let r = http
                            .post(&cb)
                            .bearer_auth(callback_token())
                            .body(vec![b' '; 9 * 1024 * 1024])
                            .send()
                            .await;
                        if r.is_ok_and(|r| r.status().is_success()) {
                            fa.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let events = ingress.events().await;
    let incoming = ingress.incoming().await;
    let published_valid = events
        .iter()
        .filter(|m| m.message_id.starts_with("valid-"))
        .count() as u64;
    let forgeries_on_queues = events
        .iter()
        .chain(&incoming)
        .filter(|m| !m.message_id.starts_with("valid-"))
        .count() as u64
        + forged_answered_2xx.load(Ordering::Relaxed);
    let valid = valid_sent.load(Ordering::Relaxed);
    let report = json!({
        "seconds": seconds,
        "concurrency": workers,
        "requestsTried": tried.load(Ordering::Relaxed),
        "validRequests": valid,
        "forgeriesAccepted": forgeries_on_queues,
        "validEventsLost": valid - published_valid.min(valid),
        "rejectsKept": ingress.rejects().await.len(),
        "validLatencyMs": {
            "p50": p(0.50).as_secs_f64() * 1e3,
            "p99": p(0.99).as_secs_f64() * 1e3,
            "max": p(1.0).as_secs_f64() * 1e3,
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert_eq!(forgeries_on_queues, 0, "forgeries accepted");
    assert_eq!(valid, published_valid, "valid events lost");
}
