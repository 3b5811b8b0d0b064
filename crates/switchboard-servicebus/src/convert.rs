//! Conversions between the port's messages and AMQP 1.0 messages as Service Bus lays them
//! out: ids in the properties section (`message-id`, `correlation-id`, `group-id` = session
//! id, `subject`, `content-type`), broker data in message annotations (`x-opt-sequence-number`,
//! `x-opt-enqueued-time`, `x-opt-locked-until`, `x-opt-scheduled-enqueue-time`,
//! `x-opt-message-state`), the delivery count in the header (off by one: AMQP counts earlier
//! failed attempts), dead-letter reason and description in the application properties.
//!
//! The test peer (`peer` module, feature `test-peer`) uses the same functions in the other direction, so both ends
//! agree on the layout by construction; the unit tests pin the layout to the names and types
//! Service Bus uses.

use std::time::Duration;

use bytes::Bytes;
use fe2o3_amqp::types::messaging::{
    annotations::OwnedKey, ApplicationProperties, Body, Data, Header, Message as AmqpMessage,
    MessageAnnotations, MessageId, Properties as AmqpProperties,
};
use fe2o3_amqp::types::primitives::{Binary, OrderedMap, SimpleValue, Symbol, Timestamp, Value};
use switchboard_queue::{
    Message, MessageState, OutgoingMessage, Properties, PropertyValue,
    DEAD_LETTER_ERROR_DESCRIPTION, DEAD_LETTER_REASON,
};
use time::OffsetDateTime;

/// `x-opt-sequence-number` (long).
pub const SEQUENCE_NUMBER: &str = "x-opt-sequence-number";
/// `x-opt-enqueued-time` (timestamp).
pub const ENQUEUED_TIME: &str = "x-opt-enqueued-time";
/// `x-opt-locked-until` (timestamp).
pub const LOCKED_UNTIL: &str = "x-opt-locked-until";
/// `x-opt-scheduled-enqueue-time` (timestamp).
pub const SCHEDULED_ENQUEUE_TIME: &str = "x-opt-scheduled-enqueue-time";
/// `x-opt-message-state` (int: 0 active, 1 deferred, 2 scheduled).
pub const MESSAGE_STATE: &str = "x-opt-message-state";
/// `x-opt-deadletter-source` (string).
pub const DEAD_LETTER_SOURCE: &str = "x-opt-deadletter-source";

/// Why a received AMQP message cannot become a port [`Message`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The body is neither data sections, a string/binary value, nor a sequence of
    /// strings/binaries.
    #[error("unsupported AMQP body: {0}")]
    UnsupportedBody(String),
    /// A broker annotation is missing or has the wrong type.
    #[error("missing or malformed annotation {0}")]
    Annotation(&'static str),
}

/// The message body as bytes. Accepts what producers send: one or more data sections
/// (concatenated), an AMQP value holding a string (UTF-8) or binary, and AMQP sequence sections
/// of strings/binaries (concatenated), e.g. from Event Grid and older SDKs.
pub fn decode_body(body: &Body<Value>) -> Result<Bytes, DecodeError> {
    match body {
        Body::Data(sections) => {
            if sections.len() == 1 {
                return Ok(Bytes::copy_from_slice(sections[0].0.as_slice()));
            }
            let mut out = Vec::new();
            for d in sections.iter() {
                out.extend_from_slice(d.0.as_slice());
            }
            Ok(Bytes::from(out))
        }
        Body::Value(v) => value_bytes(&v.0),
        Body::Sequence(seqs) => {
            let mut out = Vec::new();
            for seq in seqs.iter() {
                for v in &seq.0 {
                    out.extend_from_slice(&value_bytes(v)?);
                }
            }
            Ok(Bytes::from(out))
        }
        Body::Empty => Ok(Bytes::new()),
    }
}

fn value_bytes(v: &Value) -> Result<Bytes, DecodeError> {
    match v {
        Value::String(s) => Ok(Bytes::copy_from_slice(s.as_bytes())),
        Value::Binary(b) => Ok(Bytes::copy_from_slice(b.as_slice())),
        Value::Null => Ok(Bytes::new()),
        other => Err(DecodeError::UnsupportedBody(format!(
            "AMQP value of type {}",
            value_type_name(other)
        ))),
    }
}

fn value_type_name(v: &Value) -> &'static str {
    match v {
        Value::Map(_) => "map",
        Value::List(_) => "list",
        Value::Array(_) => "array",
        Value::Described(_) => "described",
        Value::Symbol(_) => "symbol",
        _ => "scalar",
    }
}

/// A message id / correlation id as text (Service Bus ids are strings; other AMQP id types
/// are rendered the way the .NET SDK renders them).
pub fn id_to_string(id: &MessageId) -> String {
    match id {
        MessageId::String(s) => s.clone(),
        MessageId::Ulong(n) => n.to_string(),
        MessageId::Uuid(u) => uuid::Uuid::from_bytes(*u.as_inner()).to_string(),
        MessageId::Binary(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

/// One application property value of the port as an AMQP simple value.
pub fn to_simple(v: &PropertyValue) -> SimpleValue {
    match v {
        PropertyValue::String(s) => SimpleValue::String(s.clone()),
        PropertyValue::Int(i) => SimpleValue::Long(*i),
        PropertyValue::Bool(b) => SimpleValue::Bool(*b),
        PropertyValue::Float(f) => SimpleValue::Double((*f).into()),
    }
}

/// One application property value of the port as an AMQP value (for `properties-to-modify`).
pub fn to_value(v: &PropertyValue) -> Value {
    match v {
        PropertyValue::String(s) => Value::String(s.clone()),
        PropertyValue::Int(i) => Value::Long(*i),
        PropertyValue::Bool(b) => Value::Bool(*b),
        PropertyValue::Float(f) => Value::Double((*f).into()),
    }
}

/// An AMQP value as a port property, if it is a type the port carries. Other integer widths
/// widen to `Int`, floats to `Float`, symbols/uuids/timestamps become strings.
pub fn from_value(v: &Value) -> Option<PropertyValue> {
    Some(match v {
        Value::String(s) => PropertyValue::String(s.clone()),
        Value::Symbol(s) => PropertyValue::String(s.0.clone()),
        Value::Bool(b) => PropertyValue::Bool(*b),
        Value::Byte(i) => PropertyValue::Int(i64::from(*i)),
        Value::Short(i) => PropertyValue::Int(i64::from(*i)),
        Value::Int(i) => PropertyValue::Int(i64::from(*i)),
        Value::Long(i) => PropertyValue::Int(*i),
        Value::Ubyte(i) => PropertyValue::Int(i64::from(*i)),
        Value::Ushort(i) => PropertyValue::Int(i64::from(*i)),
        Value::Uint(i) => PropertyValue::Int(i64::from(*i)),
        Value::Ulong(i) => PropertyValue::Int(i64::try_from(*i).ok()?),
        Value::Float(f) => PropertyValue::Float(f64::from(f.0)),
        Value::Double(f) => PropertyValue::Float(f.0),
        Value::Uuid(u) => PropertyValue::String(uuid::Uuid::from_bytes(*u.as_inner()).to_string()),
        Value::Timestamp(t) => PropertyValue::Int(t.milliseconds()),
        _ => return None,
    })
}

/// An application property as a port property (see [`from_value`]).
pub fn from_simple(v: &SimpleValue) -> Option<PropertyValue> {
    from_value(&Value::from(v.clone()))
}

/// The port's application properties as the AMQP section.
pub fn application_properties(props: &Properties) -> ApplicationProperties {
    let mut map = OrderedMap::new();
    for (k, v) in props {
        map.insert(k.clone(), to_simple(v));
    }
    ApplicationProperties(map)
}

/// Properties-to-modify (abandon, defer, dead-letter) as the SDK takes them.
pub fn properties_to_modify(props: &Properties) -> OrderedMap<String, Value> {
    props
        .iter()
        .map(|(k, v)| (k.clone(), to_value(v)))
        .collect()
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// The AMQP message Service Bus expects for an outgoing message (data body).
pub fn encode_outgoing(m: &OutgoingMessage) -> AmqpMessage<Body<Value>> {
    let properties = AmqpProperties {
        message_id: Some(MessageId::String(m.message_id.clone())),
        correlation_id: m.correlation_id.clone().map(MessageId::String),
        content_type: m.content_type.clone().map(Symbol::from),
        subject: m.subject.clone(),
        group_id: m.session_id.clone(),
        ..AmqpProperties::default()
    };
    let mut annotations = MessageAnnotations::default();
    if let Some(at) = m.scheduled_enqueue_time {
        annotations.insert(
            OwnedKey::from(SCHEDULED_ENQUEUE_TIME),
            Value::Timestamp(Timestamp::from(at)),
        );
    }
    AmqpMessage {
        header: m.time_to_live.map(|ttl| Header {
            ttl: Some(millis(ttl)),
            ..Header::default()
        }),
        delivery_annotations: None,
        message_annotations: (!annotations.0.is_empty()).then_some(annotations),
        properties: Some(properties),
        application_properties: Some(application_properties(&m.application_properties)),
        body: Body::Data(vec![Data(Binary::from(m.body.to_vec()))].into()),
        footer: None,
    }
}

/// Reads one message annotation.
pub fn annotation<'a>(m: &'a AmqpMessage<Body<Value>>, key: &str) -> Option<&'a Value> {
    m.message_annotations
        .as_ref()?
        .0
        .iter()
        .find_map(|(k, v)| match k {
            OwnedKey::Symbol(s) if s.0 == key => Some(v),
            _ => None,
        })
}

/// A timestamp annotation.
pub fn annotation_time(m: &AmqpMessage<Body<Value>>, key: &str) -> Option<OffsetDateTime> {
    match annotation(m, key)? {
        Value::Timestamp(t) => Some(OffsetDateTime::from(t.clone())),
        Value::Long(ms) => Some(OffsetDateTime::from(Timestamp::from_milliseconds(*ms))),
        _ => None,
    }
}

fn annotation_i64(m: &AmqpMessage<Body<Value>>, key: &str) -> Option<i64> {
    match annotation(m, key)? {
        Value::Long(i) => Some(*i),
        Value::Int(i) => Some(i64::from(*i)),
        Value::Uint(i) => Some(i64::from(*i)),
        Value::Ulong(i) => i64::try_from(*i).ok(),
        _ => None,
    }
}

/// A received (or peeked, or dead-lettered) AMQP message as a port [`Message`] of `queue`.
/// `dead_lettered` says it came from the `$DeadLetterQueue` sub-queue.
pub fn decode_message(
    queue: &str,
    m: &AmqpMessage<Body<Value>>,
    dead_lettered: bool,
) -> Result<Message, DecodeError> {
    let body = decode_body(&m.body)?;
    let props = m.properties.clone().unwrap_or_default();
    let sequence_number =
        annotation_i64(m, SEQUENCE_NUMBER).ok_or(DecodeError::Annotation(SEQUENCE_NUMBER))?;
    let enqueued_time =
        annotation_time(m, ENQUEUED_TIME).ok_or(DecodeError::Annotation(ENQUEUED_TIME))?;
    let scheduled_enqueue_time = annotation_time(m, SCHEDULED_ENQUEUE_TIME);
    let mut application_properties = Properties::new();
    if let Some(ap) = &m.application_properties {
        for (k, v) in ap.0.iter() {
            if let Some(v) = from_simple(v) {
                application_properties.insert(k.clone(), v);
            }
        }
    }
    let time_to_live = m
        .header
        .as_ref()
        .and_then(|h| h.ttl)
        .map(|ms| Duration::from_millis(u64::from(ms)));
    let expires_at = props
        .absolute_expiry_time
        .clone()
        .map(OffsetDateTime::from)
        .or_else(|| time_to_live.map(|ttl| enqueued_time + ttl));
    let state = if dead_lettered {
        MessageState::DeadLettered
    } else {
        match annotation_i64(m, MESSAGE_STATE).unwrap_or(0) {
            1 => MessageState::Deferred,
            2 => MessageState::Scheduled,
            _ => MessageState::Active,
        }
    };
    let text = |name: &str| {
        application_properties
            .get(name)
            .and_then(PropertyValue::as_str)
            .map(str::to_owned)
    };
    let (dead_letter_reason, dead_letter_error_description) = if dead_lettered {
        (
            text(DEAD_LETTER_REASON),
            text(DEAD_LETTER_ERROR_DESCRIPTION),
        )
    } else {
        (None, None)
    };
    Ok(Message {
        queue: queue.to_owned(),
        message_id: props
            .message_id
            .as_ref()
            .map(id_to_string)
            .unwrap_or_default(),
        session_id: props.group_id.clone(),
        correlation_id: props.correlation_id.as_ref().map(id_to_string),
        content_type: props.content_type.as_ref().map(|s| s.0.clone()),
        subject: props.subject.clone(),
        application_properties,
        body,
        sequence_number,
        enqueued_time,
        scheduled_enqueue_time,
        time_to_live,
        expires_at,
        delivery_count: m
            .header
            .as_ref()
            .map_or(0, |h| h.delivery_count.saturating_add(1)),
        state,
        dead_letter_reason,
        dead_letter_error_description,
    })
}

/// A peeked message: like [`decode_message`], but Service Bus puts the delivery count itself in
/// the header of a peeked message (a received one carries the count of earlier attempts), as
/// the .NET SDK's converter reads it.
pub fn decode_peeked(
    queue: &str,
    m: &AmqpMessage<Body<Value>>,
    dead_lettered: bool,
) -> Result<Message, DecodeError> {
    let mut message = decode_message(queue, m, dead_lettered)?;
    message.delivery_count = m.header.as_ref().map_or(0, |h| h.delivery_count);
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp::types::messaging::{AmqpSequence, AmqpValue};
    use proptest::prelude::*;

    fn with_body(body: Body<Value>) -> AmqpMessage<Body<Value>> {
        let mut m = encode_outgoing(&OutgoingMessage::new("id", "x"));
        let mut ann = MessageAnnotations::default();
        ann.insert(OwnedKey::from(SEQUENCE_NUMBER), Value::Long(7));
        ann.insert(
            OwnedKey::from(ENQUEUED_TIME),
            Value::Timestamp(Timestamp::from_milliseconds(1_700_000_000_000)),
        );
        m.message_annotations = Some(ann);
        m.body = body;
        m
    }

    #[test]
    fn bodies_from_every_producer_decode() {
        let data = Body::Data(
            vec![
                Data(Binary::from(b"ab".to_vec())),
                Data(Binary::from(b"c".to_vec())),
            ]
            .into(),
        );
        assert_eq!(decode_body(&data).unwrap(), Bytes::from_static(b"abc"));
        let string = Body::Value(AmqpValue(Value::String("{\"a\":1}".into())));
        assert_eq!(
            decode_body(&string).unwrap(),
            Bytes::from_static(b"{\"a\":1}")
        );
        let binary = Body::Value(AmqpValue(Value::Binary(Binary::from(vec![0, 255]))));
        assert_eq!(decode_body(&binary).unwrap(), Bytes::from_static(&[0, 255]));
        let seq = Body::Sequence(
            vec![AmqpSequence(vec![
                Value::String("[1,".into()),
                Value::Binary(Binary::from(b"2]".to_vec())),
            ])]
            .into(),
        );
        assert_eq!(decode_body(&seq).unwrap(), Bytes::from_static(b"[1,2]"));
        let map = Body::Value(AmqpValue(Value::Map(OrderedMap::new())));
        assert!(matches!(
            decode_body(&map),
            Err(DecodeError::UnsupportedBody(_))
        ));
    }

    #[test]
    fn outgoing_round_trips_through_the_amqp_layout() {
        let at = time::macros::datetime!(2026-03-12 09:00:00.123 UTC);
        let out = OutgoingMessage::new("evt-1", &b"{}"[..])
            .with_session_id("call-1")
            .with_correlation_id("corr")
            .with_content_type("application/cloudevents+json")
            .with_subject("Microsoft.Communication.CallConnected")
            .with_property("attempt", 2)
            .with_property("urgent", true)
            .with_property("score", 0.5)
            .with_property("kind", "x")
            .scheduled_at(at)
            .with_time_to_live(Duration::from_secs(30));
        let mut m = encode_outgoing(&out);
        m.message_annotations
            .get_or_insert_with(MessageAnnotations::default)
            .insert(OwnedKey::from(SEQUENCE_NUMBER), Value::Long(42));
        m.message_annotations
            .get_or_insert_with(MessageAnnotations::default)
            .insert(
                OwnedKey::from(ENQUEUED_TIME),
                Value::Timestamp(Timestamp::from(at)),
            );
        let got = decode_message("q", &m, false).unwrap();
        assert_eq!(got.message_id, "evt-1");
        assert_eq!(got.session_id.as_deref(), Some("call-1"));
        assert_eq!(got.correlation_id.as_deref(), Some("corr"));
        assert_eq!(
            got.content_type.as_deref(),
            Some("application/cloudevents+json")
        );
        assert_eq!(
            got.subject.as_deref(),
            Some("Microsoft.Communication.CallConnected")
        );
        assert_eq!(got.application_properties, out.application_properties);
        assert_eq!(got.sequence_number, 42);
        assert_eq!(got.scheduled_enqueue_time, Some(at));
        assert_eq!(got.time_to_live, Some(Duration::from_secs(30)));
        assert_eq!(got.expires_at, Some(at + Duration::from_secs(30)));
        assert_eq!(
            got.delivery_count, 1,
            "AMQP delivery-count 0 is the first delivery"
        );
        assert_eq!(got.state, MessageState::Active);
    }

    #[test]
    fn missing_sequence_number_is_an_error_not_a_panic() {
        let mut m = with_body(Body::Empty);
        m.message_annotations = None;
        assert_eq!(
            decode_message("q", &m, false).unwrap_err(),
            DecodeError::Annotation(SEQUENCE_NUMBER)
        );
    }

    #[test]
    fn dead_letter_fields_come_from_application_properties() {
        let mut m = with_body(Body::Empty);
        let ap = m
            .application_properties
            .get_or_insert_with(ApplicationProperties::default);
        ap.0.insert(DEAD_LETTER_REASON.into(), SimpleValue::String("r".into()));
        ap.0.insert(
            DEAD_LETTER_ERROR_DESCRIPTION.into(),
            SimpleValue::String("d".into()),
        );
        let got = decode_message("q", &m, true).unwrap();
        assert_eq!(got.state, MessageState::DeadLettered);
        assert_eq!(got.dead_letter_reason.as_deref(), Some("r"));
        assert_eq!(got.dead_letter_error_description.as_deref(), Some("d"));
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<String>().prop_map(Value::String),
            proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|b| Value::Binary(Binary::from(b))),
            any::<i64>().prop_map(Value::Long),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ]
    }

    proptest! {
        #[test]
        fn decoding_never_panics(values in proptest::collection::vec(arb_value(), 0..6), as_seq in any::<bool>()) {
            let body = if as_seq {
                Body::Sequence(vec![AmqpSequence(values)].into())
            } else {
                Body::Value(AmqpValue(values.into_iter().next().unwrap_or(Value::Null)))
            };
            let _ = decode_body(&body);
        }

        #[test]
        fn properties_round_trip(s in any::<String>(), i in any::<i64>(), b in any::<bool>(), f in any::<f64>().prop_filter("nan", |f| !f.is_nan())) {
            for v in [PropertyValue::String(s.clone()), PropertyValue::Int(i), PropertyValue::Bool(b), PropertyValue::Float(f)] {
                prop_assert_eq!(from_simple(&to_simple(&v)), Some(v.clone()));
                prop_assert_eq!(from_value(&to_value(&v)), Some(v));
            }
        }
    }
}
