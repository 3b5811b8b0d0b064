//! Getting a split delivery onto the queues: the accepted events in sends that fit the
//! queue's message size limit, the refused elements as dead letters with their reasons, and
//! the answer to the sender.
//!
//! The answer is 2xx once everything valid is durable and every refusal is recorded. Only a
//! **retryable** failure answers 503 (the sender retries the whole delivery; events already
//! published are absorbed by duplicate detection, message id = event id). A **permanent**
//! failure to publish an event (the queue refuses it and always will) turns the event into a
//! dead letter with the error as its reason: retrying would only lose it later.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::batch::{Rejected, Split};
use super::message::{outgoing, IngressMessage};
use super::port::{PublishError, RejectMessage};
use super::state::{error, IngressState};

/// What a message costs beyond [`switchboard_queue::OutgoingMessage::size`] on the wire
/// (AMQP framing, system properties): a margin so a batch that fits here fits the broker.
pub(crate) const PER_MESSAGE_OVERHEAD: usize = 512;

/// Publish `split` to `queue` and answer.
pub(crate) async fn deliver(
    s: &IngressState,
    queue: &str,
    endpoint: &'static str,
    mut split: Split,
) -> Response {
    let limit = s.max_message_bytes;
    let mut chunks: Vec<Vec<IngressMessage>> = Vec::new();
    let mut size = 0;
    for m in std::mem::take(&mut split.accepted) {
        let cost = outgoing(m.clone()).size() + PER_MESSAGE_OVERHEAD;
        if cost > limit {
            split.rejected.push(Rejected {
                index: None,
                reason: "MessageTooLarge",
                description: format!(
                    "event {} is {cost} bytes, the queue takes at most {limit}",
                    m.message_id
                ),
                event_type: m.application_properties.get("eventType").cloned(),
                body: m.body,
            });
            continue;
        }
        match chunks.last_mut() {
            Some(c) if size + cost <= limit => {
                size += cost;
                c.push(m);
            }
            _ => {
                size = cost;
                chunks.push(vec![m]);
            }
        }
    }
    let mut accepted = 0;
    for chunk in chunks {
        let n = chunk.len();
        let types: Vec<String> = chunk.iter().map(|m| m.subject.clone()).collect();
        let ids: Vec<(String, Option<String>)> = chunk
            .iter()
            .map(|m| {
                (
                    m.message_id.clone(),
                    m.application_properties.get("eventType").cloned(),
                )
            })
            .collect();
        let bodies: Vec<Vec<u8>> = chunk.iter().map(|m| m.body.clone()).collect();
        match s.publisher.publish(queue, chunk).await {
            Ok(()) => {
                accepted += n;
                for t in &types {
                    s.metrics
                        .inc("switchboard_ingress_events_total", &[("type", t.as_str())]);
                }
            }
            Err(e) if e.retryable => return retry_later(s, queue, &e),
            Err(e) => {
                tracing::error!(error = %e, queue, "the queue refused events; keeping them as dead letters");
                for ((id, event_type), body) in ids.into_iter().zip(bodies) {
                    split.rejected.push(Rejected {
                        index: None,
                        reason: "PublishRefused",
                        description: format!("event {id}: {}", e.message),
                        event_type,
                        body,
                    });
                }
            }
        }
    }
    let mut refused = Vec::new();
    for r in split.rejected {
        s.metrics.inc(
            "switchboard_ingress_rejected_total",
            &[("reason", r.reason)],
        );
        tracing::warn!(reason = r.reason, index = ?r.index, description = %r.description, endpoint, "event refused; kept as a dead letter");
        refused.push(json!({"index": r.index, "reason": r.reason}));
        let reject = RejectMessage {
            queue: queue.to_string(),
            endpoint,
            rejected: r,
        };
        match s.publisher.reject(reject).await {
            Ok(()) => {}
            Err(e) if e.retryable => return retry_later(s, queue, &e),
            Err(e) => {
                // Nothing more can be done with it; retrying the delivery would not help.
                tracing::error!(error = %e, "a refused event could not be kept as a dead letter");
                s.metrics
                    .inc("switchboard_ingress_reject_failures_total", &[]);
            }
        }
    }
    let status = if split.unreadable {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(json!({
            "accepted": accepted,
            "duplicates": split.duplicates,
            "rejected": refused,
        })),
    )
        .into_response()
}

fn retry_later(s: &IngressState, queue: &str, e: &PublishError) -> Response {
    tracing::error!(error = %e, queue, "publish failed; asking the sender to retry");
    s.metrics
        .inc("switchboard_ingress_publish_failures_total", &[]);
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "PublishFailed",
        "try again later",
    )
}

/// The application properties of a dead letter for a refused element.
pub(crate) fn reject_properties(r: &RejectMessage) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    p.insert("rejectedFor".to_string(), r.queue.clone());
    p.insert("endpoint".to_string(), r.endpoint.to_string());
    if let Some(i) = r.rejected.index {
        p.insert("index".to_string(), i.to_string());
    }
    if let Some(t) = &r.rejected.event_type {
        // Bounded: the type is attacker-chosen text.
        p.insert("eventType".to_string(), t.chars().take(256).collect());
    }
    p
}
