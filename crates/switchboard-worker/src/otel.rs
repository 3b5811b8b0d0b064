//! OpenTelemetry export of traces, metrics and logs over OTLP/HTTP (protobuf), with the
//! OpenTelemetry Rust SDK (`opentelemetry_sdk`, `opentelemetry-otlp`, `tracing-opentelemetry`,
//! `opentelemetry-appender-tracing`). The crate README says why the SDK and what it costs.
//!
//! Data flow:
//! - **traces**: the `tracing` spans the worker and ingress open (`session` → `message` →
//!   `input` → `command` → `call_automation.attempt`) become OpenTelemetry spans through
//!   `tracing-opentelemetry`, batched to `{endpoint}/v1/traces`;
//! - **logs**: every `tracing` event that passes the log filter becomes a log record
//!   (`opentelemetry-appender-tracing`), batched to `{endpoint}/v1/logs`, with the trace and
//!   span of the span it was logged in;
//! - **metrics**: the in-process registry ([`crate::telemetry::Metrics`], also served as
//!   `/metrics`) mirrors every update into OpenTelemetry instruments of the same name, pushed
//!   every 15 s to `{endpoint}/v1/metrics`.
//!
//! The layers are installed at startup ([`layer`]) and stay empty until [`start`] fills them
//! (worker and ingress with `telemetry.otlp_endpoint` / `OTEL_EXPORTER_OTLP_ENDPOINT`), so other
//! commands pay nothing. The SDK's batch processors run on their own threads; HTTP goes through
//! the workspace's reqwest client (rustls), spawned on the Tokio runtime ([`ReqwestOnTokio`]).
//!
//! A root span whose `session_id` or `correlation_id` field is a UUID (the ACS correlation id)
//! gets that UUID as its trace id, so every replica's spans for one call land in one trace
//! without propagating context through the queue (`CallTraceLayer`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider as _};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context as OtelContext, ContextGuard, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::span::{Attributes, Id};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{reload, Registry};

/// Histogram bucket upper bounds in seconds, for `/metrics` (`crate::telemetry`) and the
/// OpenTelemetry histograms alike.
pub(crate) const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often metrics are pushed.
const METRICS_INTERVAL: Duration = Duration::from_secs(15);
/// Bound on one export request.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;
type Slot = reload::Layer<Option<BoxedLayer>, Registry>;

static RELOAD: OnceLock<reload::Handle<Option<BoxedLayer>, Registry>> = OnceLock::new();
static MIRROR: OnceLock<Mirror> = OnceLock::new();
static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The layer to install first on the `tracing` registry (directly on [`Registry`]): empty until
/// [`start`] puts the trace and log exporters in it. Call once per process.
pub fn layer() -> Slot {
    let (slot, handle) = reload::Layer::new(None);
    let _ = RELOAD.set(handle);
    slot
}

/// The running exporters; [`Otel::shutdown`] flushes and stops them.
#[derive(Debug)]
pub struct Otel {
    tracer: SdkTracerProvider,
    logger: SdkLoggerProvider,
    meter: SdkMeterProvider,
}

/// The OTLP signal URL for a base endpoint (`http://collector:4318` → `…/v1/traces`). An
/// endpoint that already ends in the signal's path is kept.
pub fn signal_url(endpoint: &str, signal: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    let path = format!("/v1/{signal}");
    if base.ends_with(&path) {
        base.to_string()
    } else {
        format!("{base}{path}")
    }
}

/// Start exporting to `endpoint` (OTLP/HTTP base URL) as `service_name`. Needs a Tokio runtime
/// (the HTTP requests run on it). Fails on a bad endpoint or when already started.
pub fn start(endpoint: &str, service_name: &str) -> Result<Otel, String> {
    let handle = RELOAD
        .get()
        .ok_or("the OpenTelemetry layer is not installed (otel::layer)")?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
    if STARTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Err("OpenTelemetry export already started".into());
    }
    let http = ReqwestOnTokio::new(runtime)?;
    let resource = Resource::builder()
        .with_service_name(service_name.to_string())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();

    let spans = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(http.clone())
        .with_endpoint(signal_url(endpoint, "traces"))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| format!("trace exporter: {e}"))?;
    let logs = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_http_client(http.clone())
        .with_endpoint(signal_url(endpoint, "logs"))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| format!("log exporter: {e}"))?;
    let metrics = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_http_client(http)
        .with_endpoint(signal_url(endpoint, "metrics"))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| format!("metric exporter: {e}"))?;

    let tracer = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(spans)
        .build();
    let logger = SdkLoggerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(logs)
        .build();
    let meter = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(
            PeriodicReader::builder(metrics)
                .with_interval(METRICS_INTERVAL)
                .build(),
        )
        .build();

    use opentelemetry::trace::TracerProvider as _;
    let trace_layer = tracing_opentelemetry::layer()
        .with_tracer(tracer.tracer("switchboard"))
        .with_threads(false);
    let log_layer = NotOwnTelemetry(
        opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&logger),
    );
    let boxed: BoxedLayer = Box::new(
        CallTraceLayer
            .and_then(trace_layer)
            .and_then(CallTraceDetach)
            .and_then(log_layer),
    );
    handle
        .reload(Some(boxed))
        .map_err(|e| format!("installing the exporters: {e}"))?;
    // STARTED guarantees this is the only set.
    let _ = MIRROR.set(Mirror::new(meter.meter("switchboard")));
    Ok(Otel {
        tracer,
        logger,
        meter,
    })
}

impl Otel {
    /// Export what is pending and stop. Blocking (the SDK waits for its export threads): call
    /// it from `spawn_blocking`, never on a runtime thread that the export needs.
    pub fn shutdown(self) {
        if let Some(handle) = RELOAD.get() {
            let _ = handle.reload(None);
        }
        for (signal, result) in [
            ("traces", self.tracer.shutdown()),
            ("logs", self.logger.shutdown()),
            ("metrics", self.meter.shutdown()),
        ] {
            if let Err(e) = result {
                eprintln!("OTLP {signal}: final export failed: {e}");
            }
        }
    }
}

/// OpenTelemetry instruments mirroring the `/metrics` registry, one per metric name.
struct Mirror {
    meter: Meter,
    counters: Mutex<HashMap<String, Counter<u64>>>,
    gauges: Mutex<HashMap<String, Gauge<f64>>>,
    histograms: Mutex<HashMap<String, Histogram<f64>>>,
}

fn attributes(labels: &[(&str, &str)]) -> Vec<KeyValue> {
    labels
        .iter()
        .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string()))
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Mirror {
    fn new(meter: Meter) -> Self {
        Self {
            meter,
            counters: Mutex::default(),
            gauges: Mutex::default(),
            histograms: Mutex::default(),
        }
    }
}

/// A counter moved by `n` (no-op until [`start`]).
pub(crate) fn mirror_add(name: &str, labels: &[(&str, &str)], n: u64) {
    if let Some(m) = MIRROR.get() {
        let mut counters = lock(&m.counters);
        let c = counters
            .entry(name.to_string())
            .or_insert_with(|| m.meter.u64_counter(name.to_string()).build());
        c.add(n, &attributes(labels));
    }
}

/// A gauge's new value (no-op until [`start`]).
pub(crate) fn mirror_gauge(name: &str, labels: &[(&str, &str)], value: f64) {
    if let Some(m) = MIRROR.get() {
        let mut gauges = lock(&m.gauges);
        let g = gauges
            .entry(name.to_string())
            .or_insert_with(|| m.meter.f64_gauge(name.to_string()).build());
        g.record(value, &attributes(labels));
    }
}

/// A duration in seconds (no-op until [`start`]).
pub(crate) fn mirror_observe(name: &str, labels: &[(&str, &str)], secs: f64) {
    if let Some(m) = MIRROR.get() {
        let mut histograms = lock(&m.histograms);
        let h = histograms.entry(name.to_string()).or_insert_with(|| {
            m.meter
                .f64_histogram(name.to_string())
                .with_unit("s")
                .with_boundaries(BUCKETS.to_vec())
                .build()
        });
        h.record(secs, &attributes(labels));
    }
}

/// The OTLP exporters' HTTP client: the workspace's reqwest (rustls), with each request
/// spawned on the Tokio runtime. The SDK drives exports from its own threads with a plain
/// executor; a reqwest future needs the Tokio reactor, a spawned task's handle does not.
#[derive(Clone, Debug)]
pub struct ReqwestOnTokio {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl ReqwestOnTokio {
    /// A client whose requests run on `runtime`.
    pub fn new(runtime: tokio::runtime::Handle) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("OTLP HTTP client: {e}"))?;
        Ok(Self { client, runtime })
    }
}

#[async_trait::async_trait]
impl HttpClient for ReqwestOnTokio {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let task = self.runtime.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let mut out = Response::builder().status(response.status().as_u16());
            for (name, value) in response.headers() {
                out = out.header(name.as_str(), value.as_bytes());
            }
            let body = response.bytes().await?;
            Ok::<_, HttpError>(out.body(body)?)
        });
        task.await.map_err(|e| Box::new(e) as HttpError)?
    }
}

thread_local! {
    /// OTel contexts attached for a root span while `tracing-opentelemetry` creates it.
    static CALL_CONTEXT: std::cell::RefCell<Vec<Option<ContextGuard>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs before the `tracing-opentelemetry` layer: a new root span with a UUID `session_id` or
/// `correlation_id` gets a remote parent whose trace id is that UUID (the span id is derived
/// from it too: the call is the virtual root of every replica's spans).
struct CallTraceLayer;

/// Runs after the `tracing-opentelemetry` layer: detaches what [`CallTraceLayer`] attached.
struct CallTraceDetach;

struct UuidField(Option<[u8; 16]>);

impl tracing::field::Visit for UuidField {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if self.0.is_none() && matches!(field.name(), "session_id" | "correlation_id") {
            self.0 = uuid::Uuid::parse_str(value).ok().map(|u| *u.as_bytes());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if self.0.is_none() && matches!(field.name(), "session_id" | "correlation_id") {
            let text = format!("{value:?}");
            self.0 = uuid::Uuid::parse_str(text.trim_matches('"'))
                .ok()
                .map(|u| *u.as_bytes());
        }
    }
}

/// The trace id a root span with these fields belongs to, if any.
pub(crate) fn call_trace_id(attrs: &Attributes<'_>) -> Option<[u8; 16]> {
    let mut found = UuidField(None);
    attrs.record(&mut found);
    found.0
}

impl<S> Layer<S> for CallTraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, ctx: Context<'_, S>) {
        let root = attrs.is_root() || (attrs.is_contextual() && ctx.lookup_current().is_none());
        let guard = if root {
            call_trace_id(attrs).map(|bytes| {
                let mut span = [0u8; 8];
                span.copy_from_slice(&bytes[8..]);
                let parent = SpanContext::new(
                    TraceId::from_bytes(bytes),
                    SpanId::from_bytes(span),
                    TraceFlags::SAMPLED,
                    true,
                    TraceState::default(),
                );
                OtelContext::new().with_remote_span_context(parent).attach()
            })
        } else {
            None
        };
        CALL_CONTEXT.with(|c| c.borrow_mut().push(guard));
    }
}

impl<S> Layer<S> for CallTraceDetach
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        CALL_CONTEXT.with(|c| drop(c.borrow_mut().pop()));
    }
}

/// The log bridge without the exporters' own events (`opentelemetry*`, the HTTP stack), which
/// would otherwise feed themselves back into the export.
struct NotOwnTelemetry<L>(L);

fn own_telemetry(meta: &Metadata<'_>) -> bool {
    let t = meta.target();
    ["opentelemetry", "hyper", "reqwest", "h2", "rustls", "tower"]
        .iter()
        .any(|p| t.starts_with(p))
}

impl<S, L> Layer<S> for NotOwnTelemetry<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !own_telemetry(event.metadata()) {
            self.0.on_event(event, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_urls() {
        assert_eq!(
            signal_url("http://c:4318", "traces"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            signal_url("http://c:4318/", "logs"),
            "http://c:4318/v1/logs"
        );
        assert_eq!(
            signal_url("http://c:4318/v1/metrics", "metrics"),
            "http://c:4318/v1/metrics"
        );
    }
}
