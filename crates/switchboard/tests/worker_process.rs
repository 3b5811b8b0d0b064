//! The `switchboard worker` process: starts on the embedded SQLite queue and store, serves
//! `/metrics`, `/healthz` and `/scaling` on its metrics port, pushes OTLP metrics to a
//! collector (metrics, and the spans of a message it handles), and on SIGTERM stops
//! receiving, drains, flushes telemetry and exits 0.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn config(dir: &std::path::Path, otlp: &str) -> std::path::PathBuf {
    let path = dir.join("switchboard.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[acs]
connection_string = "endpoint=http://127.0.0.1:9/;accesskey=c2VjcmV0LWtleQ=="
callback_url = "http://127.0.0.1:9/api/callbacks"
numbers = ["+18005550100"]

[queue]
sqlite_path = "{db}"

[worker]
metrics_port = 0
grace_period_secs = 5

[telemetry]
otlp_endpoint = "{otlp}"
"#,
            db = dir.join("switchboard.db").display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_serves_status_exports_otlp_and_exits_cleanly_on_sigterm() {
    // A stand-in OpenTelemetry collector (OTLP/HTTP, protobuf bodies kept per signal).
    let received: Arc<Mutex<Vec<(String, axum::body::Bytes)>>> = Arc::default();
    let r = received.clone();
    let app = axum::Router::new().route(
        "/v1/{signal}",
        axum::routing::post(
            move |axum::extract::Path(signal): axum::extract::Path<String>,
                  body: axum::body::Bytes| {
                let r = r.clone();
                async move {
                    r.lock().unwrap().push((signal, body));
                    ""
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &collector);
    // One IncomingCall for a number this deployment does not serve: handled (ignored and
    // completed) without any Call Automation request, but traced.
    {
        let c = switchboard_worker::config::Config::load(Some(&cfg), &Default::default()).unwrap();
        let (plain, _) = switchboard_worker::backend::queue_configs(&c);
        let ns = switchboard_queue::sqlite::SqliteNamespace::open(c.queue_sqlite_path())
            .await
            .unwrap();
        let q = ns
            .ensure_queue(&c.queue.incoming_queue, plain)
            .await
            .unwrap();
        let fixture: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/messages/docs-restapispecs-eventgridschema__IncomingCall.json"
            ))
            .unwrap(),
        )
        .unwrap();
        q.handle()
            .sender
            .send(switchboard_queue::OutgoingMessage::new(
                "traced-incoming-call",
                fixture["body"].as_str().unwrap().as_bytes().to_vec(),
            ))
            .await
            .unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["worker", "--config"])
        .arg(&cfg)
        .env_remove("SWITCHBOARD_SQLITE_PATH")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("SWITCHBOARD_METRICS_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut metrics_url = None;
    let mut ready = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(ready && metrics_url.is_some()) {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("worker prints its metrics address and readiness");
        if let Some(u) = line.strip_prefix("switchboard worker metrics on ") {
            metrics_url = Some(u.trim_end_matches("/metrics").to_string());
        }
        ready |= line.starts_with("switchboard worker ready");
    }
    let base = metrics_url.unwrap();
    let http = reqwest::Client::new();
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert!(health.status().is_success());
    // The sampler fills queue gauges within a tick; the scaling document is always complete.
    let scaling: serde_json::Value = http
        .get(format!("{base}/scaling"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for key in [
        "calls",
        "sessionsHeld",
        "incomingActive",
        "eventsActive",
        "deadLetters",
    ] {
        assert!(scaling.get(key).is_some(), "{key} in {scaling}");
    }
    // Readiness comes before the first receive, so wait until the message was settled: a
    // SIGTERM sent earlier would (correctly) stop the worker before it took the message, and
    // there would be no message span to look for.
    let handled_by = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("switchboard_messages_total{") {
            break text;
        }
        assert!(
            Instant::now() < handled_by,
            "the queued IncomingCall was handled within 30 s: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(text.contains("switchboard_agents_available"), "{text}");

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "worker did not exit within its grace period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
    use prost::Message as _;
    let attr = |attrs: &[KeyValue], k: &str| {
        attrs
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
    };
    let received = received.lock().unwrap();
    let bodies = |signal: &str| {
        received
            .iter()
            .filter(|(s, _)| s == signal)
            .map(|(_, b)| b.clone())
            .collect::<Vec<_>>()
    };
    let names: Vec<String> = bodies("metrics")
        .iter()
        .flat_map(|b| {
            ExportMetricsServiceRequest::decode(b.as_ref())
                .unwrap()
                .resource_metrics
        })
        .flat_map(|rm| rm.scope_metrics)
        .flat_map(|sm| sm.metrics)
        .map(|m| m.name)
        .collect();
    assert!(
        names.iter().any(|n| n == "switchboard_agents_available"),
        "telemetry flushed at shutdown, startup gauges included: {names:?}"
    );
    // The message's spans: `message` (root, queue and message id) → `input` (child, same
    // trace), exported over OTLP/HTTP protobuf.
    let resource_spans: Vec<_> = bodies("traces")
        .iter()
        .flat_map(|b| {
            ExportTraceServiceRequest::decode(b.as_ref())
                .unwrap()
                .resource_spans
        })
        .collect();
    let spans: Vec<_> = resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()))
        .collect();
    let message = spans
        .iter()
        .find(|s| {
            s.name == "message"
                && attr(&s.attributes, "message_id").as_deref() == Some("traced-incoming-call")
        })
        .unwrap_or_else(|| panic!("a message span in {spans:?}"));
    let input = spans
        .iter()
        .find(|s| s.name == "input" && s.parent_span_id == message.span_id)
        .unwrap_or_else(|| panic!("its input span in {spans:?}"));
    assert_eq!(input.trace_id, message.trace_id);
    assert_eq!(message.trace_id.len(), 16);
    assert_eq!(
        attr(&input.attributes, "input").as_deref(),
        Some("IncomingCall")
    );
    assert_eq!(
        attr(
            &resource_spans[0].resource.clone().unwrap().attributes,
            "service.name"
        )
        .as_deref(),
        Some("switchboard-worker")
    );
    assert!(
        !bodies("logs").is_empty(),
        "the worker's log lines are exported too"
    );
}
