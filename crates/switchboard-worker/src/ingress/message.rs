//! The message the ingress hands to the queue, and its queue form.

use std::collections::BTreeMap;

use switchboard_queue::{OutgoingMessage, PropertyValue};

/// A message the ingress hands to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressMessage {
    /// Queue message id: the event id, so a redelivered callback is absorbed as a duplicate.
    pub message_id: String,
    /// The session on the session queue (correlation id, or a fallback, see `ingress/batch.rs`);
    /// `None` on the plain queue.
    pub session_id: Option<String>,
    /// The call's correlation id, for tracing across hops.
    pub correlation_id: Option<String>,
    /// Always `application/json` (the event as delivered).
    pub content_type: &'static str,
    /// The event type.
    pub subject: String,
    /// Metadata (event type, source) for filters and tools.
    pub application_properties: BTreeMap<String, String>,
    /// The event JSON, as received.
    pub body: Vec<u8>,
}

/// An ingress message as a queue message (message id = event id, session = correlation id).
pub fn outgoing(m: IngressMessage) -> OutgoingMessage {
    let mut out = OutgoingMessage::new(m.message_id, m.body)
        .with_content_type(m.content_type)
        .with_subject(m.subject);
    if let Some(s) = m.session_id {
        out = out.with_session_id(s);
    }
    if let Some(c) = m.correlation_id {
        out = out.with_correlation_id(c);
    }
    for (k, v) in m.application_properties {
        out.application_properties
            .insert(k, PropertyValue::String(v));
    }
    out
}
