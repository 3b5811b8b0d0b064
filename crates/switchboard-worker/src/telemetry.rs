//! Metrics: a small in-process registry rendered in the Prometheus text format at `/metrics`.
//!
//! Why not a metrics crate: we need a handful of counters, gauges and one latency histogram, and
//! the 2-core build budget matters more than features. Names follow Prometheus conventions
//! (`switchboard_*_total`, `_seconds`). Labels are small fixed sets (event type, outcome,
//! operation), so cardinality stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::otel::BUCKETS;

type Labels = Vec<(String, String)>;

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<(String, Labels), u64>,
    gauges: BTreeMap<(String, Labels), f64>,
    histograms: BTreeMap<(String, Labels), Histogram>,
    help: BTreeMap<String, (&'static str, &'static str)>,
}

/// Shared metrics registry; cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn labels(l: &[(&str, &str)]) -> Labels {
    l.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            // A panic while holding the lock leaves plain numbers behind: still usable.
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    /// Add `n` to a counter.
    pub fn add(&self, name: &str, l: &[(&str, &str)], n: u64) {
        self.with(|i| {
            i.help.entry(name.to_string()).or_insert(("counter", ""));
            *i.counters.entry((name.to_string(), labels(l))).or_default() += n;
        });
        crate::otel::mirror_add(name, l, n);
    }

    /// Increment a counter.
    pub(crate) fn inc(&self, name: &str, l: &[(&str, &str)]) {
        self.add(name, l, 1);
    }

    /// Set a gauge.
    pub fn set(&self, name: &str, l: &[(&str, &str)], v: f64) {
        self.with(|i| {
            i.help.entry(name.to_string()).or_insert(("gauge", ""));
            i.gauges.insert((name.to_string(), labels(l)), v);
        });
        crate::otel::mirror_gauge(name, l, v);
    }

    /// Move a gauge by `delta` (up/down counts such as sessions held).
    pub(crate) fn gauge_add(&self, name: &str, l: &[(&str, &str)], delta: f64) {
        let now = self.with(|i| {
            i.help.entry(name.to_string()).or_insert(("gauge", ""));
            let g = i.gauges.entry((name.to_string(), labels(l))).or_default();
            *g += delta;
            *g
        });
        crate::otel::mirror_gauge(name, l, now);
    }

    /// Current value of a gauge (0 when never set).
    pub(crate) fn gauge(&self, name: &str, l: &[(&str, &str)]) -> f64 {
        self.with(|i| {
            i.gauges
                .get(&(name.to_string(), labels(l)))
                .copied()
                .unwrap_or(0.0)
        })
    }

    /// Record a duration in a histogram (seconds).
    pub(crate) fn observe(&self, name: &str, l: &[(&str, &str)], d: Duration) {
        let secs = d.as_secs_f64();
        self.with(|i| {
            i.help.entry(name.to_string()).or_insert(("histogram", ""));
            let h = i
                .histograms
                .entry((name.to_string(), labels(l)))
                .or_insert_with(|| Histogram {
                    counts: vec![0; BUCKETS.len()],
                    ..Histogram::default()
                });
            for (idx, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[idx] += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
        });
        crate::otel::mirror_observe(name, l, secs);
    }

    /// Hands the current counters and gauges to the OpenTelemetry instruments, once the export
    /// has started: values set before it (at startup) would otherwise wait for their next
    /// update. Histograms start empty there (their past observations are not replayed).
    pub fn mirror_current(&self) {
        let (counters, gauges) = self.with(|i| (i.counters.clone(), i.gauges.clone()));
        for ((name, l), v) in &counters {
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            crate::otel::mirror_add(name, &l, *v);
        }
        for ((name, l), v) in &gauges {
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            crate::otel::mirror_gauge(name, &l, *v);
        }
    }

    /// Current value of a counter (tests, summaries).
    pub fn counter(&self, name: &str, l: &[(&str, &str)]) -> u64 {
        self.with(|i| {
            i.counters
                .get(&(name.to_string(), labels(l)))
                .copied()
                .unwrap_or(0)
        })
    }

    /// Sum of a counter over all label sets.
    pub fn counter_total(&self, name: &str) -> u64 {
        self.with(|i| {
            i.counters
                .iter()
                .filter(|((n, _), _)| n == name)
                .map(|(_, v)| *v)
                .sum()
        })
    }

    /// Prometheus text exposition format.
    pub(crate) fn render(&self) -> String {
        self.with(|i| {
            let mut out = String::new();
            let mut typed = std::collections::BTreeSet::new();
            let mut header = |out: &mut String, name: &str, kind: &str| {
                if typed.insert(name.to_string()) {
                    let _ = writeln!(out, "# TYPE {name} {kind}");
                }
            };
            for ((name, l), v) in &i.counters {
                header(&mut out, name, "counter");
                let _ = writeln!(out, "{name}{} {v}", fmt_labels(l, None));
            }
            for ((name, l), v) in &i.gauges {
                header(&mut out, name, "gauge");
                let _ = writeln!(out, "{name}{} {v}", fmt_labels(l, None));
            }
            for ((name, l), h) in &i.histograms {
                header(&mut out, name, "histogram");
                for (idx, b) in BUCKETS.iter().enumerate() {
                    let le = format!("{b}");
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {}",
                        fmt_labels(l, Some(&le)),
                        h.counts[idx]
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    fmt_labels(l, Some("+Inf")),
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{} {}", fmt_labels(l, None), h.sum);
                let _ = writeln!(out, "{name}_count{} {}", fmt_labels(l, None), h.count);
            }
            out
        })
    }
}

fn fmt_labels(l: &Labels, le: Option<&str>) -> String {
    if l.is_empty() && le.is_none() {
        return String::new();
    }
    let mut parts: Vec<String> = l
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    format!("{{{}}}", parts.join(","))
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// An axum router serving `/metrics` and `/healthz`.
pub fn router(metrics: Metrics) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        m.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.inc(
            "switchboard_events_total",
            &[("type", "CallConnected"), ("outcome", "completed")],
        );
        m.inc(
            "switchboard_events_total",
            &[("type", "CallConnected"), ("outcome", "completed")],
        );
        m.set("switchboard_agents_available", &[], 3.0);
        m.observe(
            "switchboard_command_seconds",
            &[("op", "answer")],
            Duration::from_millis(20),
        );
        let text = m.render();
        assert!(
            text.contains(
                "switchboard_events_total{type=\"CallConnected\",outcome=\"completed\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("switchboard_agents_available 3"), "{text}");
        assert!(
            text.contains("switchboard_command_seconds_bucket{op=\"answer\",le=\"0.025\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_command_seconds_bucket{op=\"answer\",le=\"0.01\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_command_seconds_count{op=\"answer\"} 1"),
            "{text}"
        );
        assert_eq!(m.counter_total("switchboard_events_total"), 2);
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.inc("x_total", &[("reason", "a\"b\\c\nd")]);
        assert!(m.render().contains(r#"x_total{reason="a\"b\\c\nd"} 1"#));
    }
}
