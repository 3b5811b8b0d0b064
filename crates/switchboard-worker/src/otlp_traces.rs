//! OpenTelemetry trace export over OTLP/HTTP with JSON encoding, fed by the `tracing` spans
//! the worker and ingress already open (`session` → `message` → `input` → `command` →
//! `call_automation.attempt`).
//!
//! Data flow: [`TraceLayer`] (a `tracing_subscriber` layer installed at startup) gives every
//! new span a trace id and span id, collects its fields, events and timing, and on close hands
//! the finished span to a bounded channel — but only once an exporter has been connected
//! through the layer's [`TraceHandle`], so a process without `telemetry.otlp_endpoint` pays a
//! single atomic load per span. [`spawn_exporter`] batches finished spans and POSTs them to
//! `{endpoint}/v1/traces` every few seconds and once more at shutdown.
//!
//! A root span whose `session_id` or `correlation_id` field is a UUID (the ACS correlation id)
//! takes that UUID as its trace id, so every replica's spans for one call land in one trace
//! without propagating context through the queue. Spans never block: when the channel is full
//! a span is dropped and counted (`dropped_spans`).
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Finished spans waiting for the exporter; beyond this they are dropped.
const QUEUE: usize = 8192;
/// Spans per request.
const BATCH: usize = 512;
/// Events kept per span.
const MAX_EVENTS: usize = 16;

/// A closed span, ready to export.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedSpan {
    /// The trace this span belongs to (W3C trace id).
    pub trace_id: [u8; 16],
    /// This span's id.
    pub span_id: [u8; 8],
    /// The parent span, `None` for a root.
    pub parent_span_id: Option<[u8; 8]>,
    /// Span name (the `tracing` span's name).
    pub name: &'static str,
    /// The `tracing` target (module path).
    pub target: &'static str,
    /// When the span was entered first.
    pub start: SystemTime,
    /// When the span closed.
    pub end: SystemTime,
    /// Recorded fields, as strings.
    pub attributes: Vec<(&'static str, String)>,
    /// Events inside the span (time and message), at most a few per span.
    pub events: Vec<(SystemTime, String)>,
    /// An ERROR event was recorded inside the span.
    pub error: bool,
}

struct SpanData {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_span_id: Option<[u8; 8]>,
    start: SystemTime,
    attributes: Vec<(&'static str, String)>,
    events: Vec<(SystemTime, String)>,
    error: bool,
}

#[derive(Default)]
struct Shared {
    sink: OnceLock<mpsc::Sender<FinishedSpan>>,
    dropped: AtomicU64,
}

/// Connects an exporter to a [`TraceLayer`] after the subscriber is installed.
#[derive(Clone, Default)]
pub struct TraceHandle(Arc<Shared>);

impl TraceHandle {
    /// The receiving end of the finished-span channel. `None` if already connected.
    pub fn connect(&self) -> Option<mpsc::Receiver<FinishedSpan>> {
        let (tx, rx) = mpsc::channel(QUEUE);
        self.0.sink.set(tx).ok().map(|()| rx)
    }

    /// Spans dropped because the exporter fell behind.
    pub(crate) fn dropped_spans(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

/// The `tracing_subscriber` layer that records spans for export.
#[derive(Clone, Default)]
pub struct TraceLayer(Arc<Shared>);

impl TraceLayer {
    /// A layer and the handle that later connects an exporter to it.
    pub fn new() -> (Self, TraceHandle) {
        let shared = Arc::new(Shared::default());
        (Self(Arc::clone(&shared)), TraceHandle(shared))
    }

    fn enabled(&self) -> bool {
        self.0.sink.get().is_some()
    }
}

/// The layer and handle of this process (installed by the CLI at startup).
pub fn global() -> &'static (TraceLayer, TraceHandle) {
    static GLOBAL: OnceLock<(TraceLayer, TraceHandle)> = OnceLock::new();
    GLOBAL.get_or_init(TraceLayer::new)
}

struct Fields<'a>(&'a mut Vec<(&'static str, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: String) {
        match self.0.iter_mut().find(|(k, _)| *k == field.name()) {
            Some(slot) => slot.1 = value,
            None => self.0.push((field.name(), value)),
        }
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.0.len() < 512 {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            if field.name() == "message" {
                let _ = write!(self.0, "{value:?}");
            } else {
                let _ = write!(self.0, "{}={value:?}", field.name());
            }
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::fill(&mut b[..]);
    b
}

/// The ACS correlation id as trace id (see the module docs), else a random one.
fn root_trace_id(attributes: &[(&'static str, String)]) -> [u8; 16] {
    attributes
        .iter()
        .filter(|(k, _)| *k == "session_id" || *k == "correlation_id")
        .find_map(|(_, v)| uuid::Uuid::parse_str(v.trim_matches('"')).ok())
        .map(|u| *u.as_bytes())
        .unwrap_or_else(random_bytes)
}

impl<S> Layer<S> for TraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.enabled() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut attributes = Vec::new();
        attrs.record(&mut Fields(&mut attributes));
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<SpanData>()
                .map(|d| (d.trace_id, d.span_id))
        });
        let (trace_id, parent_span_id) = match parent {
            Some((t, s)) => (t, Some(s)),
            None => (root_trace_id(&attributes), None),
        };
        span.extensions_mut().insert(SpanData {
            trace_id,
            span_id: random_bytes(),
            parent_span_id,
            start: SystemTime::now(),
            attributes,
            events: Vec::new(),
            error: false,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(d) = span.extensions_mut().get_mut::<SpanData>() {
                values.record(&mut Fields(&mut d.attributes));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !self.enabled() {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(d) = ext.get_mut::<SpanData>() else {
            return;
        };
        let level = *event.metadata().level();
        if level == Level::ERROR {
            d.error = true;
        }
        if d.events.len() < MAX_EVENTS && level <= Level::INFO {
            let mut m = Message(String::new());
            event.record(&mut m);
            d.events.push((SystemTime::now(), m.0));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(sink) = self.0.sink.get() else {
            return;
        };
        let Some(span) = ctx.span(&id) else { return };
        let Some(d) = span.extensions_mut().remove::<SpanData>() else {
            return;
        };
        let meta = span.metadata();
        let finished = FinishedSpan {
            trace_id: d.trace_id,
            span_id: d.span_id,
            parent_span_id: d.parent_span_id,
            name: meta.name(),
            target: meta.target(),
            start: d.start,
            end: SystemTime::now(),
            attributes: d.attributes,
            events: d.events,
            error: d.error,
        };
        if sink.try_send(finished).is_err() {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        .to_string()
}

fn kv(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// The OTLP `ExportTraceServiceRequest` body for these spans.
pub(crate) fn traces_request(spans: &[FinishedSpan], service_name: &str) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut attributes: Vec<Value> = s
                .attributes
                .iter()
                .map(|(k, v)| kv(k, v.trim_matches('"')))
                .collect();
            attributes.push(kv("code.namespace", s.target));
            let mut span = json!({
                "traceId": hex(&s.trace_id),
                "spanId": hex(&s.span_id),
                "name": s.name,
                // Outgoing Call Automation requests are client spans; the rest is internal.
                "kind": if s.name == "call_automation.attempt" { 3 } else { 1 },
                "startTimeUnixNano": nanos(s.start),
                "endTimeUnixNano": nanos(s.end),
                "attributes": attributes,
                "events": s.events.iter().map(|(t, m)| json!({
                    "timeUnixNano": nanos(*t),
                    "name": m,
                })).collect::<Vec<_>>(),
                "status": {"code": if s.error { 2 } else { 0 }},
            });
            if let Some(p) = &s.parent_span_id {
                span["parentSpanId"] = Value::String(hex(p));
            }
            span
        })
        .collect();
    json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                kv("service.name", service_name),
                kv("service.version", env!("CARGO_PKG_VERSION")),
            ]},
            "scopeSpans": [{
                "scope": {"name": "switchboard", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans,
            }],
        }]
    })
}

/// The traces URL for an OTLP base endpoint.
pub(crate) fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    let base = base.strip_suffix("/v1/metrics").unwrap_or(base);
    if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    }
}

/// Export what `handle` collects to `endpoint` every `interval` until `token` fires, then
/// flush what is left. Does nothing (returns at once) if an exporter is already connected.
pub fn spawn_exporter(
    handle: &TraceHandle,
    endpoint: String,
    service_name: String,
    interval: Duration,
    token: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let mut rx = handle.connect()?;
    let handle = handle.clone();
    Some(tokio::spawn(async move {
        let http = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "OTLP trace exporter disabled");
                return;
            }
        };
        let url = traces_url(&endpoint);
        let mut batch: Vec<FinishedSpan> = Vec::new();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut reported_drops = 0;
        loop {
            let stop = tokio::select! {
                _ = token.cancelled() => true,
                _ = tick.tick() => false,
                got = rx.recv() => match got {
                    Some(span) => {
                        batch.push(span);
                        if batch.len() < BATCH {
                            continue;
                        }
                        false
                    }
                    None => true,
                },
            };
            if stop {
                while let Ok(span) = rx.try_recv() {
                    batch.push(span);
                }
            }
            for chunk in batch.chunks(BATCH) {
                let body = traces_request(chunk, &service_name);
                let sent = http.post(&url).json(&body).send().await;
                match sent {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        tracing::debug!(status = %r.status(), "OTLP trace push refused");
                    }
                    Err(e) => tracing::debug!(error = %e, "OTLP trace push failed"),
                }
            }
            batch.clear();
            let dropped = handle.dropped_spans();
            if dropped > reported_drops {
                tracing::warn!(dropped, "OTLP trace export fell behind; spans dropped");
                reported_drops = dropped;
            }
            if stop {
                return;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn record(work: impl FnOnce()) -> Vec<FinishedSpan> {
        let (layer, handle) = TraceLayer::new();
        let mut rx = handle.connect().expect("first connect");
        assert!(handle.connect().is_none(), "one exporter per layer");
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, work);
        let mut spans = Vec::new();
        while let Ok(s) = rx.try_recv() {
            spans.push(s);
        }
        spans
    }

    #[test]
    fn spans_nest_and_take_the_correlation_id_as_trace_id() {
        let corr = "5b0b8c5e-1bd0-4a6c-9e38-0c3e4a7bb1f2";
        let spans = record(|| {
            let outer = tracing::info_span!("message", queue = "call-events", session_id = corr);
            let _o = outer.enter();
            let inner =
                tracing::info_span!("command", op = "answer", status = tracing::field::Empty);
            let _i = inner.enter();
            inner.record("status", 202);
            tracing::info!("sent");
            tracing::error!(code = 500, "failed once");
        });
        assert_eq!(spans.len(), 2);
        let (command, message) = (&spans[0], &spans[1]);
        assert_eq!(command.name, "command");
        assert_eq!(message.name, "message");
        let uuid = uuid::Uuid::parse_str(corr).unwrap();
        assert_eq!(&message.trace_id, uuid.as_bytes());
        assert_eq!(command.trace_id, message.trace_id);
        assert_eq!(command.parent_span_id, Some(message.span_id));
        assert_eq!(message.parent_span_id, None);
        assert!(command.attributes.contains(&("status", "202".to_string())));
        assert!(command.error);
        assert!(!message.error);
        assert_eq!(command.events.len(), 2);
        assert!(
            command.events[1].1.contains("failed once"),
            "{:?}",
            command.events
        );
        assert!(command.end >= command.start);

        let body = traces_request(&spans, "switchboard-worker");
        let out = &body["resourceSpans"][0]["scopeSpans"][0]["spans"];
        assert_eq!(out[1]["traceId"], "5b0b8c5e1bd04a6c9e380c3e4a7bb1f2");
        assert_eq!(out[0]["parentSpanId"], out[1]["spanId"]);
        assert_eq!(out[0]["spanId"].as_str().unwrap().len(), 16);
        assert!(out[1].get("parentSpanId").is_none());
        assert_eq!(out[0]["status"]["code"], 2);
        assert_eq!(
            body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "switchboard-worker"
        );
    }

    #[test]
    fn roots_without_a_correlation_id_get_distinct_random_traces() {
        let spans = record(|| {
            drop(tracing::info_span!("a", session_id = "").entered());
            drop(tracing::info_span!("b").entered());
        });
        assert_eq!(spans.len(), 2);
        assert_ne!(spans[0].trace_id, spans[1].trace_id);
        assert_ne!(spans[0].trace_id, [0; 16]);
    }

    #[test]
    fn nothing_is_recorded_until_an_exporter_connects() {
        let (layer, handle) = TraceLayer::new();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            drop(tracing::info_span!("early").entered());
        });
        let mut rx = handle.connect().unwrap();
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/metrics"),
            "http://c:4318/v1/traces"
        );
    }
}
