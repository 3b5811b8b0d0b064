//! Traces, metrics and logs reach an OTLP/HTTP collector: a stand-in collector on port 0
//! decodes what the exporters send (protobuf, the OTLP wire format) and the test checks each
//! signal's content, the service name, and that a call's spans and logs carry the call's
//! correlation id as their trace id.
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use switchboard_worker::otel;
use switchboard_worker::telemetry::Metrics;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Bytes)>>>);

async fn collect(State(r): State<Received>, uri: axum::http::Uri, body: Bytes) -> &'static str {
    r.0.lock().unwrap().push((uri.path().to_string(), body));
    ""
}

fn string_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_metrics_and_logs_reach_the_collector() {
    tracing_subscriber::registry()
        .with(otel::layer())
        .with(tracing_subscriber::EnvFilter::new("info"))
        .init();

    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(collect))
        .route("/v1/metrics", post(collect))
        .route("/v1/logs", post(collect))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let exporter = otel::start(&format!("http://{addr}"), "switchboard-test").unwrap();
    assert!(
        otel::start(&format!("http://{addr}"), "again").is_err(),
        "a second start is refused"
    );

    let correlation = "3f2b8a1e-5c4d-4e6f-9a8b-7c6d5e4f3a2b";
    {
        let span = tracing::info_span!("session", session_id = correlation);
        let _entered = span.enter();
        let child = tracing::info_span!("command", op = "answer");
        let _c = child.enter();
        tracing::info!(call = "c-1", "answered the call");
    }
    let metrics = Metrics::new();
    metrics.add(
        "switchboard_test_calls_total",
        &[("outcome", "answered")],
        3,
    );
    metrics.set("switchboard_test_sessions_held", &[], 2.0);

    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::task::spawn_blocking(move || exporter.shutdown()),
    )
    .await
    .expect("the exporters flush and stop within 30 s")
    .unwrap();

    let received = received.0.lock().unwrap().clone();
    let bodies = |path: &str| -> Vec<Bytes> {
        received
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    };
    let want_trace = uuid::Uuid::parse_str(correlation)
        .unwrap()
        .as_bytes()
        .to_vec();

    // Traces: both spans, nested, in the call's trace, with the service name.
    let spans: Vec<_> = bodies("/v1/traces")
        .iter()
        .flat_map(|b| {
            ExportTraceServiceRequest::decode(b.as_ref())
                .unwrap()
                .resource_spans
        })
        .flat_map(|rs| {
            let service = string_attr(&rs.resource.clone().unwrap().attributes, "service.name");
            rs.scope_spans
                .into_iter()
                .flat_map(|s| s.spans)
                .map(move |s| (service.clone(), s))
        })
        .collect();
    let session = spans
        .iter()
        .find(|(_, s)| s.name == "session")
        .expect("session span");
    let command = spans
        .iter()
        .find(|(_, s)| s.name == "command")
        .expect("command span");
    assert_eq!(session.0.as_deref(), Some("switchboard-test"));
    assert_eq!(
        session.1.trace_id, want_trace,
        "the call's correlation id is the trace id"
    );
    assert_eq!(command.1.trace_id, want_trace);
    assert_eq!(command.1.parent_span_id, session.1.span_id);
    assert_eq!(
        string_attr(&session.1.attributes, "session_id").as_deref(),
        Some(correlation)
    );

    // Logs: the event, with its field, inside the command span.
    let logs: Vec<_> = bodies("/v1/logs")
        .iter()
        .flat_map(|b| {
            ExportLogsServiceRequest::decode(b.as_ref())
                .unwrap()
                .resource_logs
        })
        .flat_map(|rl| rl.scope_logs.into_iter().flat_map(|s| s.log_records))
        .collect();
    let log = logs
        .iter()
        .find(|l| {
            matches!(l.body.as_ref().and_then(|b| b.value.as_ref()),
                Some(Value::StringValue(s)) if s == "answered the call")
        })
        .unwrap_or_else(|| panic!("the log record in {logs:?}"));
    assert_eq!(string_attr(&log.attributes, "call").as_deref(), Some("c-1"));
    assert_eq!(log.trace_id, want_trace, "the log carries the call's trace");
    assert_eq!(log.span_id, command.1.span_id);

    // Metrics: the counter and the gauge from the /metrics registry.
    let metrics: Vec<_> = bodies("/v1/metrics")
        .iter()
        .flat_map(|b| {
            ExportMetricsServiceRequest::decode(b.as_ref())
                .unwrap()
                .resource_metrics
        })
        .flat_map(|rm| rm.scope_metrics.into_iter().flat_map(|s| s.metrics))
        .collect();
    let counter = metrics
        .iter()
        .find(|m| m.name == "switchboard_test_calls_total")
        .unwrap_or_else(|| panic!("the counter in {metrics:?}"));
    match &counter.data {
        Some(Data::Sum(sum)) => {
            assert!(sum.is_monotonic);
            let point = &sum.data_points[0];
            assert_eq!(
                string_attr(&point.attributes, "outcome").as_deref(),
                Some("answered")
            );
            assert!(format!("{:?}", point.value).contains('3'), "{point:?}");
        }
        other => panic!("a sum, got {other:?}"),
    }
    assert!(
        metrics
            .iter()
            .any(|m| m.name == "switchboard_test_sessions_held"
                && matches!(m.data, Some(Data::Gauge(_)))),
        "the gauge in {metrics:?}"
    );
}
