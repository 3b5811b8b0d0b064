//! Encoding between rows and the port's types: application properties as a tagged JSON
//! object, queue properties as JSON, message rows to [`Message`]/[`Delivery`].
//!
//! Properties are tagged (`{"name": {"s": "text"}}`, `{"i": 5}`, `{"b": true}`, `{"f": "1.5"}`)
//! because JSON alone cannot tell `1` from `1.0` reliably or hold NaN; floats are stored as
//! their shortest round-tripping decimal string.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::clock::from_unix_ms;
use crate::config::QueueConfig;
use crate::error::QueueError;
use crate::message::{
    Delivery, Message, MessageState, Properties, PropertyValue, DEAD_LETTER_ERROR_DESCRIPTION,
    DEAD_LETTER_REASON,
};

/// `state` column values.
pub(crate) const STATE_ACTIVE: i64 = 0;
pub(crate) const STATE_DEFERRED: i64 = 1;
pub(crate) const STATE_DEAD_LETTERED: i64 = 2;
pub(crate) const STATE_SCHEDULED: i64 = 3;

/// The message columns every query that decodes a [`RawMessage`] selects, in this order.
pub(crate) const MESSAGE_COLUMNS: &str = "seq, queue, state, message_id, session_id, \
    correlation_id, content_type, subject, properties, body, enqueued_ms, scheduled_ms, ttl_ms, \
    expires_ms, delivery_count, lock_token, locked_until_ms, session_lock, dl_reason, dl_description";

/// Encodes application properties for the `properties` column.
pub(crate) fn encode_properties(props: &Properties) -> String {
    let mut map = Map::new();
    for (name, value) in props {
        let tagged = match value {
            PropertyValue::String(s) => ("s", Value::String(s.clone())),
            PropertyValue::Int(i) => ("i", Value::from(*i)),
            PropertyValue::Bool(b) => ("b", Value::Bool(*b)),
            PropertyValue::Float(x) => ("f", Value::String(x.to_string())),
        };
        let mut one = Map::new();
        one.insert(tagged.0.to_owned(), tagged.1);
        map.insert(name.clone(), Value::Object(one));
    }
    Value::Object(map).to_string()
}

/// Decodes the `properties` column.
pub(crate) fn decode_properties(text: &str) -> Result<Properties, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("properties: {e}"))?;
    let Value::Object(map) = value else {
        return Err("properties: not a JSON object".to_owned());
    };
    let mut props = Properties::new();
    for (name, tagged) in map {
        let Value::Object(one) = tagged else {
            return Err(format!("property {name:?}: not a tagged value"));
        };
        let mut entries = one.into_iter();
        let (Some((tag, v)), None) = (entries.next(), entries.next()) else {
            return Err(format!("property {name:?}: expected exactly one tag"));
        };
        let value = match (tag.as_str(), v) {
            ("s", Value::String(s)) => PropertyValue::String(s),
            ("i", Value::Number(n)) => PropertyValue::Int(
                n.as_i64()
                    .ok_or_else(|| format!("property {name:?}: integer out of range"))?,
            ),
            ("b", Value::Bool(b)) => PropertyValue::Bool(b),
            ("f", Value::String(s)) => PropertyValue::Float(
                s.parse::<f64>()
                    .map_err(|e| format!("property {name:?}: bad float {s:?}: {e}"))?,
            ),
            (tag, _) => return Err(format!("property {name:?}: bad tag {tag:?}")),
        };
        props.insert(name, value);
    }
    Ok(props)
}

/// Queue properties as stored in `sbq_queues.config` (durations in milliseconds).
#[derive(Serialize, Deserialize)]
struct StoredConfig {
    lock_duration_ms: u64,
    max_delivery_count: u32,
    duplicate_detection_window_ms: Option<u64>,
    requires_session: bool,
    dead_lettering_on_message_expiration: bool,
    default_message_time_to_live_ms: Option<u64>,
    max_message_size: usize,
}

fn ms_u64(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn encode_config(config: &QueueConfig) -> String {
    let stored = StoredConfig {
        lock_duration_ms: ms_u64(config.lock_duration),
        max_delivery_count: config.max_delivery_count,
        duplicate_detection_window_ms: config.duplicate_detection_window.map(ms_u64),
        requires_session: config.requires_session,
        dead_lettering_on_message_expiration: config.dead_lettering_on_message_expiration,
        default_message_time_to_live_ms: config.default_message_time_to_live.map(ms_u64),
        max_message_size: config.max_message_size,
    };
    // Serialising a struct of plain numbers and booleans cannot fail.
    serde_json::to_string(&stored).unwrap_or_default()
}

pub(crate) fn decode_config(text: &str) -> Result<QueueConfig, String> {
    let s: StoredConfig = serde_json::from_str(text).map_err(|e| format!("queue config: {e}"))?;
    Ok(QueueConfig {
        lock_duration: Duration::from_millis(s.lock_duration_ms),
        max_delivery_count: s.max_delivery_count,
        duplicate_detection_window: s.duplicate_detection_window_ms.map(Duration::from_millis),
        requires_session: s.requires_session,
        dead_lettering_on_message_expiration: s.dead_lettering_on_message_expiration,
        default_message_time_to_live: s.default_message_time_to_live_ms.map(Duration::from_millis),
        max_message_size: s.max_message_size,
    })
}

/// One `sbq_messages` row as SQLite returns it (selected with [`MESSAGE_COLUMNS`]).
#[derive(Debug, Clone)]
pub(crate) struct RawMessage {
    pub seq: i64,
    pub queue: String,
    pub state: i64,
    pub message_id: String,
    pub session_id: Option<String>,
    pub correlation_id: Option<String>,
    pub content_type: Option<String>,
    pub subject: Option<String>,
    pub properties: String,
    pub body: Vec<u8>,
    pub enqueued_ms: i64,
    pub scheduled_ms: Option<i64>,
    pub ttl_ms: Option<i64>,
    pub expires_ms: Option<i64>,
    pub delivery_count: i64,
    pub lock_token: Option<String>,
    pub locked_until_ms: Option<i64>,
    pub dl_reason: Option<String>,
    pub dl_description: Option<String>,
}

impl RawMessage {
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: row.get(0)?,
            queue: row.get(1)?,
            state: row.get(2)?,
            message_id: row.get(3)?,
            session_id: row.get(4)?,
            correlation_id: row.get(5)?,
            content_type: row.get(6)?,
            subject: row.get(7)?,
            properties: row.get(8)?,
            body: row.get(9)?,
            enqueued_ms: row.get(10)?,
            scheduled_ms: row.get(11)?,
            ttl_ms: row.get(12)?,
            expires_ms: row.get(13)?,
            delivery_count: row.get(14)?,
            lock_token: row.get(15)?,
            locked_until_ms: row.get(16)?,
            // Column 17 (session_lock) is internal to settlement checks.
            dl_reason: row.get(18)?,
            dl_description: row.get(19)?,
        })
    }

    fn corrupt(&self, what: impl std::fmt::Display) -> QueueError {
        QueueError::corrupt(
            "decode message",
            format!("message {} in {:?}: {what}", self.seq, self.queue),
        )
    }

    /// The message as the port shows it.
    pub(crate) fn into_message(self) -> Result<Message, QueueError> {
        let time =
            |ms: i64| from_unix_ms(ms).ok_or_else(|| self.corrupt(format!("bad instant {ms}")));
        let state = match self.state {
            STATE_ACTIVE => MessageState::Active,
            STATE_DEFERRED => MessageState::Deferred,
            STATE_DEAD_LETTERED => MessageState::DeadLettered,
            STATE_SCHEDULED => MessageState::Scheduled,
            other => return Err(self.corrupt(format!("unknown state {other}"))),
        };
        let mut application_properties =
            decode_properties(&self.properties).map_err(|e| self.corrupt(e))?;
        // Service Bus exposes the dead-letter reason and description as application
        // properties too; they are kept in columns so a resubmit does not carry them back.
        if state == MessageState::DeadLettered {
            if let Some(r) = &self.dl_reason {
                application_properties.insert(DEAD_LETTER_REASON.to_owned(), r.clone().into());
            }
            if let Some(d) = &self.dl_description {
                application_properties
                    .insert(DEAD_LETTER_ERROR_DESCRIPTION.to_owned(), d.clone().into());
            }
        }
        let enqueued_time = time(self.enqueued_ms)?;
        let scheduled_enqueue_time = self.scheduled_ms.map(time).transpose()?;
        let expires_at = match self.expires_ms {
            // A far-future expiry (a huge TTL) is "never" for every practical purpose.
            Some(ms) => from_unix_ms(ms),
            None => None,
        };
        let time_to_live = self
            .ttl_ms
            .map(|ms| u64::try_from(ms).map(Duration::from_millis))
            .transpose()
            .map_err(|_| self.corrupt("negative ttl"))?;
        let delivery_count =
            u32::try_from(self.delivery_count).map_err(|_| self.corrupt("bad delivery count"))?;
        Ok(Message {
            queue: self.queue,
            message_id: self.message_id,
            session_id: self.session_id,
            correlation_id: self.correlation_id,
            content_type: self.content_type,
            subject: self.subject,
            application_properties,
            body: Bytes::from(self.body),
            sequence_number: self.seq,
            enqueued_time,
            scheduled_enqueue_time,
            time_to_live,
            expires_at,
            delivery_count,
            state,
            dead_letter_reason: self.dl_reason,
            dead_letter_error_description: self.dl_description,
        })
    }

    /// The row as a delivery: it must carry a lock.
    pub(crate) fn into_delivery(self) -> Result<Delivery, QueueError> {
        let (Some(token), Some(until)) = (self.lock_token.as_deref(), self.locked_until_ms) else {
            return Err(self.corrupt("delivered without a lock"));
        };
        let lock_token = Uuid::parse_str(token).map_err(|e| self.corrupt(e))?;
        let locked_until = from_unix_ms(until).ok_or_else(|| self.corrupt("bad lock instant"))?;
        Ok(Delivery {
            message: self.into_message()?,
            lock_token,
            locked_until,
            backend: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = PropertyValue> {
        prop_oneof![
            any::<String>().prop_map(PropertyValue::String),
            any::<i64>().prop_map(PropertyValue::Int),
            any::<bool>().prop_map(PropertyValue::Bool),
            any::<f64>().prop_map(PropertyValue::Float),
        ]
    }

    fn same(a: &Properties, b: &Properties) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|((ka, va), (kb, vb))| {
                ka == kb
                    && match (va, vb) {
                        // NaN != NaN, but it must come back as NaN.
                        (PropertyValue::Float(x), PropertyValue::Float(y)) => {
                            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
                        }
                        _ => va == vb,
                    }
            })
    }

    proptest! {
        #[test]
        fn properties_round_trip_exactly(props in proptest::collection::btree_map(any::<String>(), value(), 0..8)) {
            let decoded = decode_properties(&encode_properties(&props)).unwrap();
            prop_assert!(same(&props, &decoded), "{props:?} != {decoded:?}");
        }

        #[test]
        fn decoding_arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = decode_properties(&text);
        }

        #[test]
        fn decoding_arbitrary_json_never_panics(key in "[a-z]{1,4}", tag in "[a-z]{0,2}", v in prop_oneof![
            Just(Value::Null), any::<i64>().prop_map(Value::from), any::<bool>().prop_map(Value::Bool),
            "[a-z0-9.]{0,5}".prop_map(Value::String), any::<f64>().prop_map(Value::from)]) {
            let text = serde_json::json!({ key: { tag: v } }).to_string();
            let _ = decode_properties(&text);
        }
    }

    #[test]
    fn integers_and_floats_stay_distinct() {
        let mut p = Properties::new();
        p.insert("a".into(), PropertyValue::Int(1));
        p.insert("b".into(), PropertyValue::Float(1.0));
        p.insert("c".into(), PropertyValue::Float(f64::INFINITY));
        let d = decode_properties(&encode_properties(&p)).unwrap();
        assert_eq!(d, p);
    }

    #[test]
    fn malformed_properties_are_errors_not_panics() {
        for bad in [
            "",
            "[]",
            r#"{"a": 1}"#,
            r#"{"a": {"s": 1}}"#,
            r#"{"a": {"i": 1.5}}"#,
            r#"{"a": {"f": "x"}}"#,
            r#"{"a": {"s": "x", "i": 1}}"#,
            r#"{"a": {"z": "x"}}"#,
            r#"{"a": {}}"#,
        ] {
            assert!(decode_properties(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_round_trips() {
        let c = QueueConfig {
            lock_duration: Duration::from_millis(1500),
            max_delivery_count: 3,
            duplicate_detection_window: Some(Duration::from_secs(600)),
            requires_session: true,
            dead_lettering_on_message_expiration: true,
            default_message_time_to_live: Some(Duration::from_secs(3600)),
            max_message_size: 1024,
        };
        assert_eq!(decode_config(&encode_config(&c)).unwrap(), c);
        assert!(decode_config("{}").is_err());
    }
}
