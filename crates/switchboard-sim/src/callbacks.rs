//! Callback delivery: one task per call connection drains that call's queue in order and
//! POSTs each event (a one-element CloudEvents array) with `Authorization: Bearer <JWT>`.
//! A non-2xx answer or a transport error is retried with exponential backoff; later events
//! of the same call wait meanwhile, so order per call holds — unless the reorder fault is on,
//! which holds one event back until the next one has gone out. Drop and duplicate faults act
//! here too. Every outcome lands in the call's timeline and the ledger.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::engine::model::Outgoing;
use crate::engine::Engine;
use crate::ledger::TimelineKind;

/// How long a reordered event waits for a successor before it is sent anyway.
const REORDER_HOLD: Duration = Duration::from_millis(500);

/// Start the delivery task of one call connection.
pub(crate) fn spawn_delivery(engine: Arc<Engine>, mut rx: UnboundedReceiver<Outgoing>) {
    tokio::spawn(async move {
        let stop = engine.shutdown.clone();
        let mut held: Option<Outgoing> = None;
        loop {
            let next = if held.is_some() {
                tokio::select! {
                    n = rx.recv() => n,
                    _ = tokio::time::sleep(REORDER_HOLD) => {
                        if let Some(h) = held.take() {
                            deliver(&engine, &h, "delivered late (reorder fault, no successor)").await;
                        }
                        continue;
                    }
                    _ = stop.cancelled() => return,
                }
            } else {
                tokio::select! {
                    n = rx.recv() => n,
                    _ = stop.cancelled() => return,
                }
            };
            let Some(mut item) = next else { break };
            let d = engine.faults.on_callback();
            if !d.backlog.is_zero() {
                item.body = backdate(&item.body, d.backlog);
            }
            if let Some(lat) = d.latency {
                tokio::select! {
                    _ = tokio::time::sleep(lat) => {}
                    _ = stop.cancelled() => return,
                }
            }
            if d.drop {
                engine.note(
                    &item.correlation_id,
                    Some(&item.call_connection_id),
                    TimelineKind::Callback,
                    item.event_type,
                    json!({"eventId": item.event_id, "outcome": "dropped (fault)"}),
                );
                continue;
            }
            if d.reorder && held.is_none() {
                engine.note(
                    &item.correlation_id,
                    Some(&item.call_connection_id),
                    TimelineKind::Callback,
                    item.event_type,
                    json!({"eventId": item.event_id, "outcome": "held back (reorder fault)"}),
                );
                held = Some(item);
                continue;
            }
            deliver(&engine, &item, "delivered").await;
            if d.duplicate {
                deliver(&engine, &item, "delivered again (duplicate fault)").await;
            }
            if let Some(h) = held.take() {
                deliver(&engine, &h, "delivered late (reorder fault)").await;
            }
        }
        if let Some(h) = held.take() {
            deliver(&engine, &h, "delivered late (reorder fault)").await;
        }
    });
}

/// POST with retries. Returns once delivered or given up.
async fn deliver(engine: &Arc<Engine>, item: &Outgoing, label: &str) {
    let policy = &engine.cfg.callback_retry;
    let attempts = policy.max_attempts.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        if attempt > 1 {
            tokio::select! {
                _ = tokio::time::sleep(policy.backoff(attempt)) => {}
                _ = engine.shutdown.cancelled() => return,
            }
        }
        let token = engine.signer.token();
        let res = engine
            .http
            .post(&item.url)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(item.body.clone())
            .send()
            .await;
        match res {
            Ok(resp) if resp.status().is_success() => {
                engine.ledger_mut().callbacks_delivered += 1;
                engine.note(
                    &item.correlation_id,
                    Some(&item.call_connection_id),
                    TimelineKind::Callback,
                    item.event_type,
                    json!({"eventId": item.event_id, "outcome": label, "status": resp.status().as_u16(), "attempt": attempt, "url": item.url}),
                );
                return;
            }
            Ok(resp) => {
                last = format!("status {}", resp.status().as_u16());
            }
            Err(e) => {
                last = format!("transport error: {e}");
            }
        }
        tracing::debug!(event = item.event_type, attempt, error = %last, "callback attempt failed");
    }
    engine.ledger_mut().callbacks_failed += 1;
    tracing::warn!(event = item.event_type, url = %item.url, error = %last, "callback given up");
    engine.note(
        &item.correlation_id,
        Some(&item.call_connection_id),
        TimelineKind::Callback,
        item.event_type,
        json!({"eventId": item.event_id, "outcome": "failed", "error": last, "attempts": attempts, "url": item.url}),
    );
}

/// The callback batch with every event's `time` moved `by` into the past: a simulated
/// backlog (ADR 0011). A body that is not a JSON array of events is left as it is.
fn backdate(body: &[u8], by: std::time::Duration) -> Vec<u8> {
    let Ok(mut events) = serde_json::from_slice::<Vec<serde_json::Value>>(body) else {
        return body.to_vec();
    };
    for e in &mut events {
        let Some(t) = e.get("time").and_then(|t| t.as_str()).and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        }) else {
            continue;
        };
        if let Ok(older) = (t - by).format(&time::format_description::well_known::Rfc3339) {
            e["time"] = serde_json::Value::String(older);
        }
    }
    serde_json::to_vec(&events).unwrap_or_else(|_| body.to_vec())
}

#[cfg(test)]
mod backlog_tests {
    use super::*;

    #[test]
    fn backdate_moves_every_event_time() {
        let body = br#"[{"id":"a","time":"2026-12-07T10:00:00Z","type":"x"},{"id":"b","time":"2026-12-07T10:00:05.5+00:00"}]"#;
        let out = backdate(body, std::time::Duration::from_secs(600));
        let v: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["time"], "2026-12-07T09:50:00Z");
        assert_eq!(v[1]["time"], "2026-12-07T09:50:05.5Z");
        assert_eq!(v[0]["id"], "a");
    }
}
