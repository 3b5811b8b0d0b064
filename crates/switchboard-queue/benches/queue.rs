//! Throughput of the embedded SQLite queue: send (single, batch), receive + complete (single,
//! batch, concurrent consumers), and sessions. Plain `Instant` loops on a temp file.
//!
//! `cargo bench -p switchboard-queue` (set `SBQ_BENCH_N` to change the message count).

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_queue::sqlite::{SqliteNamespace, SqliteOptions, SqliteQueue};
use switchboard_queue::{OutgoingMessage, QueueConfig, QueueReceiver, QueueSender};

/// A body the size of a typical Call Automation CloudEvent.
fn body() -> Vec<u8> {
    let mut b = br#"{"id":"0f2c","source":"calling/callConnections/4c1f","type":"Microsoft.Communication.CallConnected","data":{"#.to_vec();
    b.resize(700, b' ');
    b.extend_from_slice(b"}}");
    b
}

fn message(i: usize) -> OutgoingMessage {
    OutgoingMessage::new(format!("evt-{i:08}"), body())
        .with_content_type("application/cloudevents+json")
        .with_property("aeg-event-type", "Notification")
}

fn report(name: &str, n: usize, elapsed: Duration) {
    let rate = n as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<44} {n:>7} msgs in {:>8.1} ms  {rate:>10.0} msgs/s",
        elapsed.as_secs_f64() * 1e3
    );
}

async fn queue(ns: &SqliteNamespace, name: &str, config: QueueConfig) -> SqliteQueue {
    ns.create_queue(name, config).await.expect("create queue")
}

async fn fill(q: &SqliteQueue, n: usize) {
    let msgs: Vec<_> = (0..n).map(message).collect();
    for chunk in msgs.chunks(100) {
        q.send_batch(chunk.to_vec()).await.expect("send");
    }
}

async fn drain(q: &SqliteQueue, per_receive: usize) -> usize {
    let mut done = 0;
    loop {
        let got = q
            .receive(per_receive, Duration::ZERO)
            .await
            .expect("receive");
        if got.is_empty() {
            return done;
        }
        for d in &got {
            q.complete(d).await.expect("complete");
        }
        done += got.len();
    }
}

fn main() {
    let n: usize = std::env::var("SBQ_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let ns = SqliteNamespace::open(dir.path().join("bench.db"))
            .await
            .expect("open");
        println!(
            "switchboard-queue SQLite bench, {n} messages of ~{} bytes",
            body().len()
        );

        let q = queue(&ns, "send-single", QueueConfig::default()).await;
        let t = Instant::now();
        for i in 0..n {
            q.send(message(i)).await.expect("send");
        }
        report("send (1 per call)", n, t.elapsed());

        let q = queue(
            &ns,
            "send-dedupe",
            QueueConfig {
                duplicate_detection_window: Some(Duration::from_secs(600)),
                ..QueueConfig::default()
            },
        )
        .await;
        let t = Instant::now();
        for i in 0..n {
            q.send(message(i)).await.expect("send");
        }
        report("send (1 per call, duplicate detection on)", n, t.elapsed());

        let q = queue(&ns, "send-batch", QueueConfig::default()).await;
        let t = Instant::now();
        fill(&q, n).await;
        report("send_batch (100 per call)", n, t.elapsed());

        let q = queue(&ns, "recv-single", QueueConfig::default()).await;
        fill(&q, n).await;
        let t = Instant::now();
        let done = drain(&q, 1).await;
        report("receive(1) + complete", done, t.elapsed());

        let q = queue(&ns, "recv-batch", QueueConfig::default()).await;
        fill(&q, n).await;
        let t = Instant::now();
        let done = drain(&q, 50).await;
        report("receive(50) + complete each", done, t.elapsed());

        let q = queue(&ns, "recv-concurrent", QueueConfig::default()).await;
        fill(&q, n).await;
        let t = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let q = q.clone();
            tasks.push(tokio::spawn(async move { drain(&q, 10).await }));
        }
        let mut done = 0;
        for task in tasks {
            done += task.await.expect("consumer");
        }
        report(
            "4 consumers: receive(10) + complete each",
            done,
            t.elapsed(),
        );

        let q = queue(&ns, "sessions", QueueConfig::sessions()).await;
        let sessions = n / 10;
        let msgs: Vec<_> = (0..n)
            .map(|i| message(i).with_session_id(format!("call-{}", i % sessions.max(1))))
            .collect();
        for chunk in msgs.chunks(100) {
            q.send_batch(chunk.to_vec()).await.expect("send");
        }
        let t = Instant::now();
        let mut done = 0;
        while let Some(s) = q.accept_next_session(Duration::ZERO).await.expect("accept") {
            loop {
                let got = s.receive(10, Duration::ZERO).await.expect("receive");
                if got.is_empty() {
                    break;
                }
                for d in &got {
                    s.complete(d).await.expect("complete");
                }
                done += got.len();
            }
            s.close().await.expect("close");
        }
        report(
            &format!("sessions ({sessions} x 10): accept, drain, close"),
            done,
            t.elapsed(),
        );

        let full = SqliteNamespace::open_with(
            dir.path().join("bench-full.db"),
            SqliteOptions {
                synchronous_full: true,
                ..SqliteOptions::default()
            },
        )
        .await
        .expect("open");
        let q = Arc::new(queue(&full, "send-full", QueueConfig::default()).await);
        let m = n.min(1000);
        let t = Instant::now();
        for i in 0..m {
            q.send(message(i)).await.expect("send");
        }
        report("send (1 per call, synchronous=FULL)", m, t.elapsed());
    });
}
