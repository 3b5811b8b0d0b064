//! Messages: what a sender publishes ([`OutgoingMessage`]), what a queue holds and peek returns
//! ([`Message`]), and what a peek-lock receive hands out ([`Delivery`] = message + lock).
//!
//! Field names follow Service Bus (`MessageId`, `SessionId`, `CorrelationId`, `ContentType`,
//! `Subject`, `ApplicationProperties`, `SequenceNumber`, `EnqueuedTimeUtc`, `DeliveryCount`,
//! `LockToken`, `LockedUntilUtc`, `DeadLetterReason`, `DeadLetterErrorDescription`), so an
//! adapter maps one to one.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use time::OffsetDateTime;
use uuid::Uuid;

/// Application property holding the reason a message was dead-lettered (set by the broker).
pub const DEAD_LETTER_REASON: &str = "DeadLetterReason";
/// Application property holding the dead-letter description (set by the broker).
pub const DEAD_LETTER_ERROR_DESCRIPTION: &str = "DeadLetterErrorDescription";
/// Dead-letter reason when a message was delivered `max_delivery_count` times without being
/// completed.
pub const REASON_MAX_DELIVERY_COUNT_EXCEEDED: &str = "MaxDeliveryCountExceeded";
/// Dead-letter reason when a message's time-to-live passed (and the queue dead-letters on
/// expiry).
pub const REASON_TTL_EXPIRED: &str = "TTLExpiredException";
/// Description Service Bus gives [`REASON_TTL_EXPIRED`].
pub const DESCRIPTION_TTL_EXPIRED: &str = "The message expired and was dead lettered.";
/// Application property a resubmitted dead letter carries: the message id it had before (the
/// resubmitted copy gets a new id, see [`crate::DeadLetterQueue::resubmit`]).
pub const RESUBMITTED_FROM_PROPERTY: &str = "switchboard-resubmitted-from";

/// Application property carrying the dead-letter reason of a message sent with
/// [`crate::QueueSender::send_dead_letter`] on a backend that cannot put it into the
/// dead-letter queue directly (Service Bus): its receiver dead-letters it with this reason.
pub const PENDING_DEAD_LETTER_REASON: &str = "switchboard-dead-letter-reason";
/// Companion of [`PENDING_DEAD_LETTER_REASON`]: the dead-letter description.
pub const PENDING_DEAD_LETTER_DESCRIPTION: &str = "switchboard-dead-letter-description";

/// Longest message id, session id or correlation id Service Bus accepts.
pub const MAX_ID_LEN: usize = 128;

/// Namespace of the v5 UUIDs [`resubmitted_message_id`] derives.
const RESUBMIT_NAMESPACE: Uuid = Uuid::from_u128(0x8f3b_6c0e_2d4a_4f7e_9a51_3c6d_0b2e_7f14);

/// The message id a dead letter gets when resubmitted: a v5 UUID of the queue, its old message
/// id and its sequence number. Derived, not random, so every backend (and a retried resubmit)
/// computes the same id; new, so duplicate detection does not drop the resubmitted copy and
/// consumers that remember handled message ids handle it again.
pub fn resubmitted_message_id(queue: &str, message_id: &str, sequence_number: i64) -> String {
    let name = format!("{queue}\n{message_id}\n{sequence_number}");
    Uuid::new_v5(&RESUBMIT_NAMESPACE, name.as_bytes()).to_string()
}

/// The description Service Bus gives [`REASON_MAX_DELIVERY_COUNT_EXCEEDED`].
pub fn max_delivery_description(max_delivery_count: u32) -> String {
    format!("Message could not be consumed after {max_delivery_count} delivery attempts.")
}

/// An application property value. Service Bus carries more AMQP types; these four are the
/// ones Event Grid and Switchboard use and every backend round-trips exactly.
#[derive(Clone, Debug, PartialEq)]
pub enum PropertyValue {
    /// A string.
    String(String),
    /// A 64-bit signed integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A double (NaN and infinities round-trip too).
    Float(f64),
}

impl PropertyValue {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PropertyValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            PropertyValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            PropertyValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as a double (integers convert).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PropertyValue::Float(f) => Some(*f),
            #[allow(clippy::cast_precision_loss)]
            PropertyValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// Bytes this value counts for in the message size.
    pub(crate) fn encoded_len(&self) -> usize {
        match self {
            PropertyValue::String(s) => s.len(),
            PropertyValue::Int(_) | PropertyValue::Float(_) => 8,
            PropertyValue::Bool(_) => 1,
        }
    }
}

impl fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyValue::String(s) => f.write_str(s),
            PropertyValue::Int(i) => write!(f, "{i}"),
            PropertyValue::Bool(b) => write!(f, "{b}"),
            PropertyValue::Float(x) => write!(f, "{x}"),
        }
    }
}

impl From<&str> for PropertyValue {
    fn from(v: &str) -> Self {
        PropertyValue::String(v.to_owned())
    }
}
impl From<String> for PropertyValue {
    fn from(v: String) -> Self {
        PropertyValue::String(v)
    }
}
impl From<i64> for PropertyValue {
    fn from(v: i64) -> Self {
        PropertyValue::Int(v)
    }
}
impl From<i32> for PropertyValue {
    fn from(v: i32) -> Self {
        PropertyValue::Int(i64::from(v))
    }
}
impl From<u32> for PropertyValue {
    fn from(v: u32) -> Self {
        PropertyValue::Int(i64::from(v))
    }
}
impl From<bool> for PropertyValue {
    fn from(v: bool) -> Self {
        PropertyValue::Bool(v)
    }
}
impl From<f64> for PropertyValue {
    fn from(v: f64) -> Self {
        PropertyValue::Float(v)
    }
}

impl From<&PropertyValue> for serde_json::Value {
    /// JSON form (as Event Grid metadata carries it). Non-finite floats become `null`.
    fn from(v: &PropertyValue) -> Self {
        match v {
            PropertyValue::String(s) => serde_json::Value::String(s.clone()),
            PropertyValue::Int(i) => serde_json::Value::from(*i),
            PropertyValue::Bool(b) => serde_json::Value::Bool(*b),
            PropertyValue::Float(x) => serde_json::Value::from(*x),
        }
    }
}

/// Application properties, ordered by name.
pub type Properties = BTreeMap<String, PropertyValue>;

/// A message to publish.
///
/// `message_id` is required and should derive from the content (the event id), not from
/// randomness: it is the duplicate-detection key, so a retried send is dropped instead of
/// delivered twice.
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingMessage {
    /// `MessageId`: 1–128 characters.
    pub message_id: String,
    /// `SessionId`: required on session queues (≤ 128 characters); ignored by non-session
    /// receivers.
    pub session_id: Option<String>,
    /// `CorrelationId` (≤ 128 characters).
    pub correlation_id: Option<String>,
    /// `ContentType`, e.g. `application/cloudevents+json`.
    pub content_type: Option<String>,
    /// `Subject` (formerly `Label`).
    pub subject: Option<String>,
    /// `ApplicationProperties`.
    pub application_properties: Properties,
    /// The body, opaque bytes.
    pub body: Bytes,
    /// `ScheduledEnqueueTimeUtc`: the message stays invisible until then. In the past or
    /// `None`: visible at once.
    pub scheduled_enqueue_time: Option<OffsetDateTime>,
    /// `TimeToLive`, from the enqueue time. The queue's default applies when `None`, and the
    /// shorter of the two when both are set.
    pub time_to_live: Option<Duration>,
}

impl OutgoingMessage {
    /// A message with an id and a body, nothing else set.
    pub fn new(message_id: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            message_id: message_id.into(),
            session_id: None,
            correlation_id: None,
            content_type: None,
            subject: None,
            application_properties: Properties::new(),
            body: body.into(),
            scheduled_enqueue_time: None,
            time_to_live: None,
        }
    }

    /// Sets `SessionId`.
    pub fn with_session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Sets `CorrelationId`.
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }

    /// Sets `ContentType`.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets `Subject`.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Adds (or replaces) one application property.
    pub fn with_property(
        mut self,
        name: impl Into<String>,
        value: impl Into<PropertyValue>,
    ) -> Self {
        self.application_properties
            .insert(name.into(), value.into());
        self
    }

    /// Sets `ScheduledEnqueueTimeUtc`.
    pub fn scheduled_at(mut self, at: OffsetDateTime) -> Self {
        self.scheduled_enqueue_time = Some(at);
        self
    }

    /// Sets `TimeToLive`.
    pub fn with_time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = Some(ttl);
        self
    }

    /// The size this message counts for against the queue's limit: body, ids, and property
    /// names and values. (Service Bus also counts AMQP framing; keep a margin.)
    pub fn size(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        self.body.len()
            + self.message_id.len()
            + opt(&self.session_id)
            + opt(&self.correlation_id)
            + opt(&self.content_type)
            + opt(&self.subject)
            + self
                .application_properties
                .iter()
                .map(|(k, v)| k.len() + v.encoded_len())
                .sum::<usize>()
    }
}

/// Where a message is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageState {
    /// Receivable (or locked by a receiver right now).
    Active,
    /// Set aside by `defer`; receivable only by sequence number.
    Deferred,
    /// Waiting for its scheduled enqueue time.
    Scheduled,
    /// In the dead-letter queue.
    DeadLettered,
}

/// A message as the queue holds it: what peek returns, and the content of a [`Delivery`].
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The queue (Service Bus entity path) it is in.
    pub queue: String,
    /// `MessageId`.
    pub message_id: String,
    /// `SessionId`.
    pub session_id: Option<String>,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `ContentType`.
    pub content_type: Option<String>,
    /// `Subject`.
    pub subject: Option<String>,
    /// `ApplicationProperties`. Dead-lettered messages also carry [`DEAD_LETTER_REASON`] and
    /// [`DEAD_LETTER_ERROR_DESCRIPTION`] here, as on Service Bus.
    pub application_properties: Properties,
    /// The body.
    pub body: Bytes,
    /// `SequenceNumber`: unique, never reused, increasing in enqueue order within a queue.
    pub sequence_number: i64,
    /// `EnqueuedTimeUtc` (for a scheduled message: its scheduled time).
    pub enqueued_time: OffsetDateTime,
    /// `ScheduledEnqueueTimeUtc`, if it was sent scheduled.
    pub scheduled_enqueue_time: Option<OffsetDateTime>,
    /// The effective time-to-live, if any.
    pub time_to_live: Option<Duration>,
    /// `ExpiresAtUtc`: enqueued time + time-to-live.
    pub expires_at: Option<OffsetDateTime>,
    /// `DeliveryCount`: how many times it has been handed out under a lock, this delivery
    /// included (1 on first delivery).
    pub delivery_count: u32,
    /// Where it is.
    pub state: MessageState,
    /// `DeadLetterReason` (dead-lettered messages only).
    pub dead_letter_reason: Option<String>,
    /// `DeadLetterErrorDescription` (dead-lettered messages only).
    pub dead_letter_error_description: Option<String>,
}

impl Message {
    /// One application property.
    pub fn property(&self, name: &str) -> Option<&PropertyValue> {
        self.application_properties.get(name)
    }

    /// The application properties as JSON values (the shape Event Grid metadata uses).
    pub fn application_properties_json(&self) -> BTreeMap<String, serde_json::Value> {
        self.application_properties
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v)))
            .collect()
    }
}

/// Data a backend attaches to a [`Delivery`] to settle it later (e.g. the Service Bus SDK's
/// received-message object). Opaque to callers; the SQLite queue does not use it.
#[derive(Clone)]
pub struct BackendHandle(pub Arc<dyn Any + Send + Sync>);

impl fmt::Debug for BackendHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackendHandle(..)")
    }
}

/// A message received under a peek-lock: the message, the lock token that settles it, and
/// until when the lock holds. Derefs to [`Message`].
///
/// Settle it (complete / abandon / dead-letter / defer) through the receiver that returned
/// it, before `locked_until` (renew the lock for long work). A delivery that is never
/// settled is redelivered after its lock expires, with `delivery_count` one higher.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// `LockToken`.
    pub lock_token: Uuid,
    /// `LockedUntilUtc` when received. [`crate::QueueReceiver::renew_lock`] returns the new
    /// value; for session messages the session lock governs (see
    /// [`crate::SessionReceiver::renew_session_lock`]).
    pub locked_until: OffsetDateTime,
    /// Backend-private settlement data.
    pub backend: Option<BackendHandle>,
}

impl Deref for Delivery {
    type Target = Message;

    fn deref(&self) -> &Message {
        &self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_every_field() {
        let at = time::macros::datetime!(2026-03-12 09:00:00 UTC);
        let m = OutgoingMessage::new("id-1", &b"{}"[..])
            .with_session_id("s")
            .with_correlation_id("c")
            .with_content_type("application/json")
            .with_subject("Microsoft.Communication.CallConnected")
            .with_property("attempt", 2)
            .with_property("aeg-event-type", "Notification")
            .scheduled_at(at)
            .with_time_to_live(Duration::from_secs(5));
        assert_eq!(m.session_id.as_deref(), Some("s"));
        assert_eq!(m.application_properties["attempt"], PropertyValue::Int(2));
        assert_eq!(m.scheduled_enqueue_time, Some(at));
        assert_eq!(m.time_to_live, Some(Duration::from_secs(5)));
        // 2 body + 4 id + 1 + 1 + 16 + 37 + (7 + 8) + (14 + 12)
        assert_eq!(m.size(), 2 + 4 + 1 + 1 + 16 + 37 + 15 + 26);
    }

    #[test]
    fn property_values_convert_to_json_like_event_grid_metadata() {
        assert_eq!(
            serde_json::Value::from(&PropertyValue::from("x")),
            serde_json::json!("x")
        );
        assert_eq!(
            serde_json::Value::from(&PropertyValue::from(3)),
            serde_json::json!(3)
        );
        assert_eq!(
            serde_json::Value::from(&PropertyValue::from(true)),
            serde_json::json!(true)
        );
        assert_eq!(
            serde_json::Value::from(&PropertyValue::from(f64::NAN)),
            serde_json::Value::Null
        );
        assert_eq!(PropertyValue::from(2).as_f64(), Some(2.0));
        assert_eq!(PropertyValue::from("a").as_i64(), None);
    }

    #[test]
    fn resubmitted_ids_are_derived_and_distinct() {
        let a = resubmitted_message_id("q", "m", 1);
        assert_eq!(a, resubmitted_message_id("q", "m", 1));
        assert_ne!(a, resubmitted_message_id("q", "m", 2));
        assert_ne!(a, resubmitted_message_id("q2", "m", 1));
        assert!(a.len() <= MAX_ID_LEN);
    }

    #[test]
    fn max_delivery_description_matches_service_bus_wording() {
        assert_eq!(
            max_delivery_description(10),
            "Message could not be consumed after 10 delivery attempts."
        );
    }
}
