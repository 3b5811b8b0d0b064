//! OpenTelemetry export over OTLP/HTTP with JSON encoding: the metrics registry is pushed to
//! `{OTEL_EXPORTER_OTLP_ENDPOINT}/v1/metrics` on an interval, the way the OpenTelemetry SDK's
//! periodic reader does, so any collector (the Container Apps managed OpenTelemetry agent
//! forwarding to Application Insights, or a local otel-collector) receives the same numbers as
//! `/metrics`. JSON over HTTP keeps the build free of protobuf/gRPC stacks (2-core budget).
//!
//! A failed push is logged and retried on the next tick; telemetry never blocks call handling.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::telemetry::Metrics;

/// Where and how often to push.
#[derive(Clone, Debug)]
pub struct OtlpOptions {
    /// Base endpoint, e.g. `http://localhost:4318` (`/v1/metrics` is appended).
    pub endpoint: String,
    /// Time between pushes.
    pub interval: Duration,
    /// `service.name` resource attribute (`switchboard-worker`, `switchboard-ingress`).
    pub service_name: String,
}

fn unix_nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The OTLP `ExportMetricsServiceRequest` body for the registry now.
pub(crate) fn metrics_request(
    metrics: &Metrics,
    service_name: &str,
    start: SystemTime,
) -> serde_json::Value {
    json!({
        "resourceMetrics": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": service_name}},
                {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
            ]},
            "scopeMetrics": [{
                "scope": {"name": "switchboard", "version": env!("CARGO_PKG_VERSION")},
                "metrics": metrics.to_otlp(unix_nanos(start), unix_nanos(SystemTime::now())),
            }],
        }]
    })
}

/// The metrics URL for an OTLP base endpoint.
pub fn metrics_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/metrics") {
        base.to_string()
    } else {
        format!("{base}/v1/metrics")
    }
}

/// Push once. `Err` carries a message for the log.
pub async fn push(
    http: &reqwest::Client,
    options: &OtlpOptions,
    metrics: &Metrics,
    start: SystemTime,
) -> Result<(), String> {
    let body = metrics_request(metrics, &options.service_name, start);
    let resp = http
        .post(metrics_url(&options.endpoint))
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("collector answered {}", resp.status()))
    }
}

/// Push every `interval` until `token` fires, then once more (the shutdown flush).
pub fn spawn_exporter(
    options: OtlpOptions,
    metrics: Metrics,
    token: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = SystemTime::now();
        let http = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "OTLP exporter disabled");
                return;
            }
        };
        let mut tick = tokio::time::interval(options.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let stop = tokio::select! {
                _ = token.cancelled() => true,
                _ = tick.tick() => false,
            };
            if let Err(e) = push(&http, &options, &metrics, start).await {
                tracing::warn!(error = %e, endpoint = %options.endpoint, "OTLP metrics push failed");
            }
            if stop {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn request_carries_counters_gauges_and_per_bucket_histograms() {
        let m = Metrics::new();
        m.inc("switchboard_events_total", &[("type", "CallConnected")]);
        m.set(
            "switchboard_sessions_held",
            &[("queue", "call-events")],
            3.0,
        );
        m.observe(
            "switchboard_command_seconds",
            &[("op", "answer")],
            Duration::from_millis(3),
        );
        m.observe(
            "switchboard_command_seconds",
            &[("op", "answer")],
            Duration::from_secs(60),
        );
        let body = metrics_request(&m, "switchboard-worker", UNIX_EPOCH);
        let metrics = &body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
        let find = |n: &str| {
            metrics
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == n)
                .unwrap_or_else(|| panic!("{n} in {metrics}"))
                .clone()
        };
        let c = find("switchboard_events_total");
        assert_eq!(c["sum"]["isMonotonic"], true);
        assert_eq!(c["sum"]["dataPoints"][0]["asInt"], "1");
        assert_eq!(
            c["sum"]["dataPoints"][0]["attributes"][0]["value"]["stringValue"],
            "CallConnected"
        );
        assert_eq!(
            find("switchboard_sessions_held")["gauge"]["dataPoints"][0]["asDouble"],
            3.0
        );
        let h = &find("switchboard_command_seconds")["histogram"]["dataPoints"][0];
        let buckets: Vec<u64> = h["bucketCounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            buckets.len(),
            h["explicitBounds"].as_array().unwrap().len() + 1
        );
        assert_eq!(buckets.iter().sum::<u64>(), 2, "{buckets:?}");
        assert_eq!(buckets[2], 1, "3 ms falls in (2.5 ms, 5 ms]: {buckets:?}");
        assert_eq!(*buckets.last().unwrap(), 1, "60 s overflows: {buckets:?}");
    }

    #[test]
    fn url_appends_the_signal_path_once() {
        assert_eq!(metrics_url("http://c:4318"), "http://c:4318/v1/metrics");
        assert_eq!(metrics_url("http://c:4318/"), "http://c:4318/v1/metrics");
        assert_eq!(
            metrics_url("http://c:4318/v1/metrics"),
            "http://c:4318/v1/metrics"
        );
    }

    #[tokio::test]
    async fn exporter_pushes_to_a_collector_and_flushes_on_shutdown() {
        let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let s = seen.clone();
        let app = axum::Router::new().route(
            "/v1/metrics",
            axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
                let s = s.clone();
                async move {
                    s.lock().unwrap().push(v);
                    "{}"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let m = Metrics::new();
        m.inc("switchboard_messages_total", &[]);
        let token = CancellationToken::new();
        let task = spawn_exporter(
            OtlpOptions {
                endpoint: format!("http://{addr}"),
                interval: Duration::from_secs(3600),
                service_name: "switchboard-worker".into(),
            },
            m.clone(),
            token.clone(),
        );
        token.cancel();
        task.await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "one flush at shutdown");
        assert_eq!(
            seen[0]["resourceMetrics"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "switchboard-worker"
        );
    }
}
