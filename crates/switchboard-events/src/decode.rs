//! Turning one queue message body into events.
//!
//! Detection is explicit, never a guess:
//!
//! | body | schema |
//! |---|---|
//! | object with `specversion` (and no `eventType`) | [`Schema::CloudEvents`] |
//! | object with `eventType` (and no `specversion`) | [`Schema::EventGrid`] |
//! | object with `to`, `from` and `incomingCallContext`, no envelope keys | [`Schema::Data`] (IncomingCall) |
//! | array of CloudEvents / Event Grid events | that schema, `is_array` |
//!
//! Anything else is a [`DecodeError`] naming what was wrong. None of them are retryable:
//! a bad body never gets better, so the worker dead-letters it with
//! [`DecodeError::dead_letter_reason`] and the error text as description.
//!
//! **Arrays with some bad elements.** Call Automation may batch several callbacks in one
//! POST. One malformed element must not lose the good ones, so [`decode()`] returns the good
//! events in [`Decoded::events`] and one [`ElementError`] per bad element in
//! [`Decoded::errors`]. Only when *no* element is usable does it fail as a whole. The
//! worker handles the good events and then dead-letters the message with
//! [`Decoded::dead_letter`] (handlers are idempotent, so re-driving the dead-lettered
//! message later is safe). Nothing is dropped silently.

use serde_json::{Map, Value};

use crate::envelope::{Envelope, Event, Schema};
use crate::events::{json_kind, AcsEvent, EVENT_TYPE_PREFIX};
use crate::ids::EventId;
use crate::timestamp::parse_timestamp;

/// The result of [`decode()`]: the events found and what could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The body's schema (for arrays, that of the elements).
    pub schema: Schema,
    /// True if the body was a JSON array.
    pub is_array: bool,
    /// Good events in body order.
    pub events: Vec<Event>,
    /// Bad array elements; empty unless `is_array`.
    pub errors: Vec<ElementError>,
}

impl Decoded {
    /// True if some array elements could not be decoded.
    pub fn is_partial(&self) -> bool {
        !self.errors.is_empty()
    }

    /// `Some((reason, description))` to dead-letter the message with when some elements
    /// were bad (after handling the good ones); `None` when everything decoded.
    pub fn dead_letter(&self) -> Option<(&'static str, String)> {
        if self.errors.is_empty() {
            return None;
        }
        let details: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        Some((
            "PartiallyInvalidBatch",
            format!(
                "{} of {} array elements are invalid: {}",
                self.errors.len(),
                self.errors.len() + self.events.len(),
                details.join("; ")
            ),
        ))
    }

    /// All events, or the first element error if any element was bad (for callers that
    /// want all-or-nothing).
    pub fn into_strict(self) -> Result<Vec<Event>, DecodeError> {
        match self.errors.into_iter().next() {
            Some(e) => Err(DecodeError::Invalid(e)),
            None => Ok(self.events),
        }
    }
}

/// One event (or array element) that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{reason}", .index.map(|i| format!("array element {i}: ")).unwrap_or_default(), .event_type.as_ref().map(|t| format!("{t}: ")).unwrap_or_default())]
pub struct ElementError {
    /// Position in the array; `None` for a single-event body.
    pub index: Option<usize>,
    /// The event type, if it could be read.
    pub event_type: Option<String>,
    /// What was wrong.
    pub reason: String,
}

impl ElementError {
    /// Always false: the same bytes will fail the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Why a message body yielded no events.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Zero bytes, or only whitespace.
    #[error("message body is empty")]
    Empty,
    /// Not parseable as JSON (includes invalid UTF-8).
    #[error("message body is not valid JSON: {message} at line {line} column {column}")]
    NotJson {
        /// Parser message.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Valid JSON, but not an event, an array of events or IncomingCall data.
    #[error("message body is not an event: {reason}")]
    NotAnEvent {
        /// What the body looked like instead.
        reason: String,
    },
    /// `[]`.
    #[error("message body is an empty JSON array")]
    EmptyArray,
    /// A single-event body whose event is malformed.
    #[error("invalid event: {0}")]
    Invalid(ElementError),
    /// An array in which no element could be decoded.
    #[error("all {} array elements are invalid; first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    AllInvalid(Vec<ElementError>),
}

impl DecodeError {
    /// Always false: a bad body never gets better; dead-letter it.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// Short machine-readable reason for the dead-letter queue (`DeadLetterReason`); the
    /// `Display` text is the description.
    pub fn dead_letter_reason(&self) -> &'static str {
        match self {
            Self::Empty => "EmptyBody",
            Self::NotJson { .. } => "NotJson",
            Self::NotAnEvent { .. } => "NotAnEvent",
            Self::EmptyArray => "EmptyArray",
            Self::Invalid(_) => "InvalidEvent",
            Self::AllInvalid(_) => "InvalidEvents",
        }
    }
}

/// Decodes one message body. Never panics; see the module docs for the rules.
pub fn decode(body: &[u8]) -> Result<Decoded, DecodeError> {
    // A UTF-8 byte-order mark is legal in front of JSON text written by some .NET tools.
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| DecodeError::NotJson {
        message: strip_position(&e.to_string()),
        line: e.line(),
        column: e.column(),
    })?;
    decode_value(value)
}

/// Like [`decode()`] for an already parsed JSON value.
pub fn decode_value(value: Value) -> Result<Decoded, DecodeError> {
    match value {
        Value::Array(items) => decode_array(items),
        Value::Object(obj) => {
            let schema = detect(&obj).map_err(|reason| DecodeError::NotAnEvent { reason })?;
            match decode_object(schema, obj) {
                Ok(event) => Ok(Decoded {
                    schema,
                    is_array: false,
                    events: vec![event],
                    errors: Vec::new(),
                }),
                Err((event_type, reason)) => Err(DecodeError::Invalid(ElementError {
                    index: None,
                    event_type,
                    reason,
                })),
            }
        }
        other => Err(DecodeError::NotAnEvent {
            reason: format!("expected a JSON object or array, got {}", json_kind(&other)),
        }),
    }
}

fn decode_array(items: Vec<Value>) -> Result<Decoded, DecodeError> {
    if items.is_empty() {
        return Err(DecodeError::EmptyArray);
    }
    let mut schema: Option<Schema> = None;
    let mut events = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let fail = |event_type: Option<String>, reason: String| ElementError {
            index: Some(index),
            event_type,
            reason,
        };
        let Value::Object(obj) = item else {
            errors.push(fail(
                None,
                format!("expected an event object, got {}", json_kind(&item)),
            ));
            continue;
        };
        let element_schema = match detect(&obj) {
            Ok(Schema::Data) => {
                errors.push(fail(
                    None,
                    "bare IncomingCall data is only accepted as a whole body, not inside an array"
                        .to_owned(),
                ));
                continue;
            }
            Ok(s) => s,
            Err(reason) => {
                errors.push(fail(None, reason));
                continue;
            }
        };
        match schema {
            None => schema = Some(element_schema),
            Some(s) if s != element_schema => {
                errors.push(fail(
                    type_string(&obj, element_schema),
                    format!("{element_schema} event in an array of {s} events"),
                ));
                continue;
            }
            Some(_) => {}
        }
        match decode_object(element_schema, obj) {
            Ok(e) => events.push(e),
            Err((event_type, reason)) => errors.push(fail(event_type, reason)),
        }
    }
    match (schema, events.is_empty()) {
        (Some(schema), false) => Ok(Decoded {
            schema,
            is_array: true,
            events,
            errors,
        }),
        _ => Err(DecodeError::AllInvalid(errors)),
    }
}

/// Decides the envelope of one JSON object, or says why it is none.
fn detect(obj: &Map<String, Value>) -> Result<Schema, String> {
    let has = |k: &str| obj.contains_key(k);
    match (has("specversion"), has("eventType")) {
        (true, true) => {
            Err("has both `specversion` (CloudEvents) and `eventType` (Event Grid)".to_owned())
        }
        (true, false) => Ok(Schema::CloudEvents),
        (false, true) => Ok(Schema::EventGrid),
        (false, false) => {
            if has("to") && has("from") && has("incomingCallContext") {
                Ok(Schema::Data)
            } else if has("type") {
                Err("has `type` but no `specversion`: not a CloudEvent".to_owned())
            } else {
                let mut keys: Vec<&str> = obj.keys().map(String::as_str).take(8).collect();
                keys.sort_unstable();
                Err(format!(
                    "object has no `specversion` (CloudEvents), no `eventType` (Event Grid) and is not IncomingCall data (needs `to`, `from`, `incomingCallContext`); keys: [{}]",
                    keys.join(", ")
                ))
            }
        }
    }
}

fn type_string(obj: &Map<String, Value>, schema: Schema) -> Option<String> {
    let key = match schema {
        Schema::EventGrid => "eventType",
        Schema::CloudEvents => "type",
        Schema::Data => return Some(format!("{EVENT_TYPE_PREFIX}IncomingCall")),
    };
    obj.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Reads an optional envelope attribute. Strings as is; numbers as their text (some
/// producers write `"metadataVersion": 1`); null/absent as `None`; anything else is an error.
fn attr(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!(
            "`{key}` must be a string, got {}",
            json_kind(other)
        )),
    }
}

type ObjectError = (Option<String>, String);

fn decode_object(schema: Schema, mut obj: Map<String, Value>) -> Result<Event, ObjectError> {
    if schema == Schema::Data {
        let event_type = format!("{EVENT_TYPE_PREFIX}IncomingCall");
        let payload = AcsEvent::from_data(&event_type, Value::Object(obj))
            .map_err(|e| (Some(event_type.clone()), e.to_string()))?;
        return Ok(Event {
            envelope: Envelope::new(Schema::Data, event_type),
            payload,
        });
    }
    let (type_key, time_key) = match schema {
        Schema::EventGrid => ("eventType", "eventTime"),
        _ => ("type", "time"),
    };
    let event_type = match obj.get(type_key) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err((None, format!("`{type_key}` is empty"))),
        Some(other) => {
            return Err((
                None,
                format!("`{type_key}` must be a string, got {}", json_kind(other)),
            ))
        }
        None => return Err((None, format!("missing `{type_key}`"))),
    };
    let with_type = |reason: String| (Some(event_type.clone()), reason);
    let mut envelope = Envelope::new(schema, event_type.clone());
    envelope.id = attr(&obj, "id").map_err(with_type)?.map(EventId::from);
    envelope.subject = attr(&obj, "subject").map_err(with_type)?;
    if let Some(t) = attr(&obj, time_key).map_err(with_type)? {
        match parse_timestamp(&t) {
            Some(parsed) => envelope.time = Some(parsed),
            None => envelope.time_raw = Some(t),
        }
    }
    match schema {
        Schema::EventGrid => {
            envelope.topic = attr(&obj, "topic").map_err(with_type)?;
            envelope.data_version = attr(&obj, "dataVersion").map_err(with_type)?;
            envelope.metadata_version = attr(&obj, "metadataVersion").map_err(with_type)?;
        }
        _ => {
            envelope.source = attr(&obj, "source").map_err(with_type)?;
            envelope.spec_version = attr(&obj, "specversion").map_err(with_type)?;
            envelope.data_content_type = attr(&obj, "datacontenttype").map_err(with_type)?;
        }
    }
    let data = obj.remove("data").unwrap_or(Value::Null);
    if data.is_null() && obj.contains_key("data_base64") {
        return Err(with_type(
            "binary CloudEvents data (`data_base64`) is not supported".to_owned(),
        ));
    }
    let payload = AcsEvent::from_data(&event_type, data).map_err(|e| with_type(e.to_string()))?;
    Ok(Event { envelope, payload })
}

/// serde_json appends " at line L column C" to its messages; we report those separately.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_incoming_call_is_keyed_by_correlation_id() {
        let d = decode(br#"{"to":{"rawId":"4:+1"},"from":{"rawId":"4:+2"},"incomingCallContext":"x","correlationId":"k"}"#).unwrap();
        assert_eq!(
            d.events[0].idempotency_key().as_deref(),
            Some("IncomingCall|k")
        );
    }

    #[test]
    fn empty_and_whitespace() {
        assert_eq!(decode(b""), Err(DecodeError::Empty));
        assert_eq!(decode(b" \n\t "), Err(DecodeError::Empty));
        assert_eq!(decode(b"\xEF\xBB\xBF"), Err(DecodeError::Empty));
        assert_eq!(DecodeError::Empty.dead_letter_reason(), "EmptyBody");
    }

    #[test]
    fn not_json_reports_position() {
        let err = decode(b"{\"a\":").unwrap_err();
        let DecodeError::NotJson {
            line,
            column,
            message,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!((*line, *column), (1, 5));
        assert!(!message.contains("at line"), "{message}");
        assert!(err.to_string().contains("line 1 column 5"), "{err}");
        assert!(!err.is_retryable());
        assert!(matches!(
            decode(b"\xff\xfe"),
            Err(DecodeError::NotJson { .. })
        ));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        // serde_json stops at 128 levels, so no deep value is ever built (or dropped).
        let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = decode(body.as_bytes()).unwrap_err();
        assert_eq!(err.dead_letter_reason(), "NotJson", "{err}");
        assert!(err.to_string().contains("recursion limit"), "{err}");
        let body = format!("{}1{}", "{\"data\":".repeat(50_000), "}".repeat(50_000));
        assert!(matches!(
            decode(body.as_bytes()),
            Err(DecodeError::NotJson { .. })
        ));
    }

    #[test]
    fn scalars_and_unrecognised_objects_are_not_events() {
        for body in [&b"42"[..], b"\"x\"", b"null", b"true"] {
            assert!(
                matches!(decode(body), Err(DecodeError::NotAnEvent { .. })),
                "{body:?}"
            );
        }
        let err = decode(br#"{"hello":"world"}"#).unwrap_err();
        assert!(err.to_string().contains("keys: [hello]"), "{err}");
        let err =
            decode(br#"{"type":"Microsoft.Communication.CallConnected","data":{}}"#).unwrap_err();
        assert!(err.to_string().contains("no `specversion`"), "{err}");
        let err = decode(br#"{"type":"t","specversion":"1.0","eventType":"t"}"#).unwrap_err();
        assert!(err.to_string().contains("both"), "{err}");
        assert_eq!(decode(b"[]"), Err(DecodeError::EmptyArray));
    }

    #[test]
    fn envelope_type_must_be_a_non_empty_string() {
        for body in [
            &br#"{"specversion":"1.0"}"#[..],
            br#"{"specversion":"1.0","type":5}"#,
            br#"{"specversion":"1.0","type":" "}"#,
            br#"{"eventType":null,"data":{}}"#,
        ] {
            let err = decode(body).unwrap_err();
            assert_eq!(err.dead_letter_reason(), "InvalidEvent", "{err}");
        }
        let err = decode(br#"{"specversion":"1.0","type":"X","id":{"a":1}}"#).unwrap_err();
        assert!(err.to_string().contains("`id` must be a string"), "{err}");
    }

    #[test]
    fn partial_array_keeps_good_elements() {
        let body = br#"[
            {"specversion":"1.0","type":"Microsoft.Communication.CallConnected","id":"a","data":{"callConnectionId":"c1"}},
            {"specversion":"1.0","type":"Microsoft.Communication.ParticipantsUpdated","id":"b","data":{"participants":[{}]}},
            7,
            {"eventType":"Microsoft.Communication.CallConnected","data":{}},
            {"specversion":"1.0","type":"Microsoft.Communication.CallDisconnected","id":"c","data":{"callConnectionId":"c1"}}
        ]"#;
        let d = decode(body).unwrap();
        assert!(d.is_array);
        assert_eq!(d.schema, Schema::CloudEvents);
        assert_eq!(
            d.events.iter().map(|e| e.short_type()).collect::<Vec<_>>(),
            ["CallConnected", "CallDisconnected"]
        );
        assert_eq!(
            d.errors.iter().map(|e| e.index).collect::<Vec<_>>(),
            [Some(1), Some(2), Some(3)]
        );
        assert_eq!(
            d.errors[0].event_type.as_deref(),
            Some("Microsoft.Communication.ParticipantsUpdated")
        );
        assert!(
            d.errors[2]
                .reason
                .contains("eventgrid event in an array of cloudevents"),
            "{}",
            d.errors[2]
        );
        let (reason, description) = d.dead_letter().unwrap();
        assert_eq!(reason, "PartiallyInvalidBatch");
        assert!(description.starts_with("3 of 5 array elements are invalid: array element 1: Microsoft.Communication.ParticipantsUpdated: "), "{description}");
        assert!(d.clone().into_strict().is_err());
    }

    #[test]
    fn all_bad_array_fails_as_a_whole() {
        let err = decode(br#"[1, {"x":1}]"#).unwrap_err();
        let DecodeError::AllInvalid(errs) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(errs.len(), 2);
        assert!(err.to_string().starts_with("all 2 array elements are invalid; first: array element 0: expected an event object, got number"), "{err}");
        assert_eq!(err.dead_letter_reason(), "InvalidEvents");
    }

    #[test]
    fn data_only_is_incoming_call() {
        let d = decode(br#"{"to":{"rawId":"4:+1425"},"from":{"rawId":"4:+1604"},"incomingCallContext":"t","serverCallId":"s"}"#).unwrap();
        assert_eq!(d.schema, Schema::Data);
        assert!(!d.is_array);
        let e = &d.events[0];
        assert_eq!(e.short_type(), "IncomingCall");
        assert_eq!(
            e.envelope.event_type,
            "Microsoft.Communication.IncomingCall"
        );
        assert_eq!(e.envelope.id, None);
        assert_eq!(e.call_connection_id(), None);
        // Inside an array, bare data is not accepted.
        let err = decode(
            br#"[{"to":{"rawId":"4:+1"},"from":{"rawId":"4:+2"},"incomingCallContext":"t"}]"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("only accepted as a whole body"),
            "{err}"
        );
    }

    #[test]
    fn unparseable_time_is_kept_raw() {
        let d = decode(br#"{"specversion":"1.0","type":"Microsoft.Communication.CallConnected","time":"soon","data":{}}"#).unwrap();
        assert_eq!(d.events[0].envelope.time, None);
        assert_eq!(d.events[0].envelope.time_raw.as_deref(), Some("soon"));
        let d = decode(br#"{"eventType":"E","metadataVersion":1,"data":null}"#).unwrap();
        assert_eq!(d.events[0].envelope.metadata_version.as_deref(), Some("1"));
        assert!(matches!(d.events[0].payload, AcsEvent::Unknown { .. }));
    }

    #[test]
    fn base64_data_is_refused_for_known_types() {
        let err = decode(br#"{"specversion":"1.0","type":"Microsoft.Communication.CallConnected","data_base64":"e30="}"#).unwrap_err();
        assert!(err.to_string().contains("data_base64"), "{err}");
    }

    #[test]
    fn call_connection_falls_back_to_subject() {
        let d = decode(br#"{"specversion":"1.0","type":"Microsoft.Communication.CallConnected","subject":"calling/callConnections/abc/CallConnected","data":{}}"#).unwrap();
        assert_eq!(d.events[0].call_connection_id().unwrap(), "abc");
    }
}
