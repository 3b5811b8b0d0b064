//! What the flow reacts to: a decoded ACS event, or one of our own internal inputs.
//!
//! Internal inputs are results the executor feeds back (a routing decision, the invitation id
//! an add-participant returned, a command that failed for good) and timers (ring timeout,
//! queue re-check) that travel through the queue as scheduled `InternalMessage`s with
//! session id = correlation id, so a timer lands on whichever replica owns the call then.
//!
//! Every input has an id that is stable across redeliveries (the event id; for feedback, the
//! id of the command that produced it plus a suffix; for timers, fixed when scheduled) and a
//! time (the event time; for feedback, the producing command's first-sent time). Commands
//! derive their repeatability keys from both, so a redelivered input reproduces the same
//! requests byte for byte.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_events::{AcsEvent, CorrelationId};
use time::OffsetDateTime;

pub use super::command::Internal;

/// One input to [`super::step`].
#[derive(Clone, Debug, PartialEq)]
pub struct FlowInput {
    /// Stable id (event id, or derived for internal inputs).
    pub id: String,
    /// When the input happened; the First-Sent of every command it causes.
    pub time: OffsetDateTime,
    /// What happened.
    pub kind: InputKind,
}

/// An ACS event or an internal input.
// One input lives per message being handled; boxing the event would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum InputKind {
    /// A decoded ACS event (IncomingCall or a Call Automation callback).
    Acs(AcsEvent),
    /// One of ours.
    Internal(Internal),
}

impl FlowInput {
    /// An ACS event.
    pub fn acs(id: impl Into<String>, time: OffsetDateTime, event: AcsEvent) -> Self {
        Self {
            id: id.into(),
            time,
            kind: InputKind::Acs(event),
        }
    }

    /// An internal input.
    pub fn internal(id: impl Into<String>, time: OffsetDateTime, input: Internal) -> Self {
        Self {
            id: id.into(),
            time,
            kind: InputKind::Internal(input),
        }
    }

    /// Short type name for logs, metrics and the timeline (`CallConnected`, `RingTimeout`).
    pub fn type_name(&self) -> &str {
        match &self.kind {
            InputKind::Acs(e) => e.short_type(),
            InputKind::Internal(i) => i.type_name(),
        }
    }

    /// The key under which the call state remembers this input as applied. The type is part
    /// of it because sanitized captures reuse one id for different events.
    pub(crate) fn dedupe_key(&self) -> String {
        format!("{}:{}", self.type_name(), self.id)
    }

    /// The correlation id carried by the input itself, if any (ACS events; internal inputs
    /// are keyed by the message that carries them).
    pub fn correlation_id(&self) -> Option<&CorrelationId> {
        match &self.kind {
            InputKind::Acs(e) => e.correlation_id(),
            InputKind::Internal(_) => None,
        }
    }
}

/// Type prefix of internal queue messages (the `type` application property and JSON field).
pub(crate) const INTERNAL_TYPE_PREFIX: &str = "Switchboard.";

/// An internal input as a queue message body (scheduled timers). Session id and the `type`
/// application property are set by the executor; the body repeats both so a message read
/// without properties (replay, dead-letter tooling) is still self-describing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InternalMessage {
    /// `Switchboard.<TypeName>`.
    #[serde(rename = "type")]
    pub message_type: String,
    /// The input id (also the queue message id, so scheduling twice dedupes).
    pub id: String,
    /// The call.
    pub correlation_id: CorrelationId,
    /// The input's time (when the timer was due).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The input.
    pub input: Internal,
}

/// Why a body is not an `InternalMessage`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InternalMessageError {
    /// Not JSON or not the expected shape.
    #[error("internal message does not decode: {0}")]
    Invalid(#[from] serde_json::Error),
    /// The `type` field disagrees with the input.
    #[error("internal message type {found:?} does not match its input ({expected:?})")]
    TypeMismatch { found: String, expected: String },
}

impl InternalMessage {
    /// Wraps an input for `correlation_id`.
    pub fn new(
        id: impl Into<String>,
        correlation_id: CorrelationId,
        time: OffsetDateTime,
        input: Internal,
    ) -> Self {
        Self {
            message_type: format!("{INTERNAL_TYPE_PREFIX}{}", input.type_name()),
            id: id.into(),
            correlation_id,
            time,
            input,
        }
    }

    /// Decodes a body; the `type` must agree with the input.
    pub fn decode(body: &[u8]) -> Result<Self, InternalMessageError> {
        let msg: Self = serde_json::from_slice(body)?;
        let expected = format!("{INTERNAL_TYPE_PREFIX}{}", msg.input.type_name());
        if msg.message_type != expected {
            return Err(InternalMessageError::TypeMismatch {
                found: msg.message_type,
                expected,
            });
        }
        Ok(msg)
    }

    /// The JSON body.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The flow input it carries.
    pub(crate) fn to_input(&self) -> FlowInput {
        FlowInput::internal(self.id.clone(), self.time, self.input.clone())
    }
}

/// Milliseconds of a duration, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn internal_messages_round_trip() {
        let m = InternalMessage::new(
            "ev1/add:1/ring-timeout",
            CorrelationId::from("corr-1"),
            datetime!(2026-03-12 10:00:00 UTC),
            Internal::RingTimeout { seq: 1 },
        );
        let body = m.encode();
        let back = InternalMessage::decode(&body).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.message_type, "Switchboard.RingTimeout");
        let input = back.to_input();
        assert_eq!(input.dedupe_key(), "RingTimeout:ev1/add:1/ring-timeout");
    }

    #[test]
    fn mismatched_type_is_rejected() {
        let m = InternalMessage::new(
            "x",
            CorrelationId::from("c"),
            datetime!(2026-03-12 10:00:00 UTC),
            Internal::QueueRecheck { n: 2 },
        );
        let mut v = serde_json::to_value(&m).unwrap();
        v["type"] = "Switchboard.RingTimeout".into();
        let err = InternalMessage::decode(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            matches!(err, InternalMessageError::TypeMismatch { .. }),
            "{err}"
        );
        let err = InternalMessage::decode(br#"{"type":"Switchboard.RingTimeout"}"#).unwrap_err();
        assert!(matches!(err, InternalMessageError::Invalid(_)), "{err}");
    }

    proptest! {
        #[test]
        fn decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = InternalMessage::decode(&body);
        }
    }
}
