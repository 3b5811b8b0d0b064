//! Event envelopes: Event Grid schema, CloudEvents 1.0, or a bare IncomingCall `data`.
//!
//! [`Envelope`] is the metadata around one event, [`Event`] pairs it with the typed
//! payload. The constructors here ([`Event::callback`], [`Event::event_grid`]) and
//! [`Event::to_json`] / [`encode`] produce bodies in the exact shapes [`crate::decode()`]
//! reads, which is what the simulator and replay use to emit events.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::events::AcsEvent;
use crate::ids::{CallConnectionId, CorrelationId, EventId, OperationContext, ServerCallId};
use crate::result::ResultInformation;
use crate::timestamp::format_timestamp;

/// Which envelope a body (or one event in it) used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Schema {
    /// Event Grid schema (`eventType`, `dataVersion`, `topic`...): IncomingCall delivered
    /// by an Event Grid subscription with the default schema.
    EventGrid,
    /// CloudEvents 1.0 (`type`, `specversion`, `source`...): Call Automation callbacks
    /// (as a JSON array), or IncomingCall with a CloudEvents subscription.
    CloudEvents,
    /// No envelope: a bare IncomingCall `data` object, as forwarded by the ACS SDK test
    /// dispatcher and by relays that unwrap events.
    Data,
}

impl Schema {
    /// `eventgrid`, `cloudevents` or `data`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventGrid => "eventgrid",
            Self::CloudEvents => "cloudevents",
            Self::Data => "data",
        }
    }
}

impl std::fmt::Display for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Metadata of one event. Fields that the envelope did not carry are `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Which envelope the event came in.
    pub schema: Schema,
    /// `id` (both schemas). Event Grid keeps it across redeliveries: an idempotency key.
    pub id: Option<EventId>,
    /// The full original type string (`eventType` or `type`); for [`Schema::Data`] it is
    /// `Microsoft.Communication.IncomingCall`, the only event that arrives bare.
    pub event_type: String,
    /// `time` / `eventTime`, parsed.
    pub time: Option<OffsetDateTime>,
    /// The original time text, set only when it was present but could not be parsed (so
    /// a bad timestamp is visible rather than silently dropped).
    pub time_raw: Option<String>,
    /// CloudEvents `source` (`calling/callConnections/<id>`, or an ACS resource path).
    pub source: Option<String>,
    /// `subject` (both schemas).
    pub subject: Option<String>,
    /// Event Grid `topic` (the ACS resource).
    pub topic: Option<String>,
    /// Event Grid `dataVersion`.
    pub data_version: Option<String>,
    /// Event Grid `metadataVersion`.
    pub metadata_version: Option<String>,
    /// CloudEvents `specversion`.
    pub spec_version: Option<String>,
    /// CloudEvents `datacontenttype`.
    pub data_content_type: Option<String>,
}

impl Envelope {
    /// An empty envelope of the given schema and type.
    pub fn new(schema: Schema, event_type: impl Into<String>) -> Self {
        Self {
            schema,
            id: None,
            event_type: event_type.into(),
            time: None,
            time_raw: None,
            source: None,
            subject: None,
            topic: None,
            data_version: None,
            metadata_version: None,
            spec_version: None,
            data_content_type: None,
        }
    }

    /// The call connection id named by `subject` or `source`
    /// (`calling/callConnections/<id>`, optionally followed by `/<EventName>` as in 2022
    /// payloads). `None` for other paths, e.g. `calling/recordings/...`.
    pub fn call_connection_id_from_path(&self) -> Option<CallConnectionId> {
        [self.subject.as_deref(), self.source.as_deref()]
            .into_iter()
            .flatten()
            .find_map(call_connection_in_path)
            .map(CallConnectionId::from)
    }
}

fn call_connection_in_path(path: &str) -> Option<&str> {
    let rest = path
        .trim_start_matches('/')
        .strip_prefix("calling/callConnections/")?;
    let id = rest.split('/').next()?;
    (!id.is_empty()).then_some(id)
}

/// One decoded event: envelope plus typed payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Metadata.
    pub envelope: Envelope,
    /// The typed `data`.
    pub payload: AcsEvent,
}

impl Event {
    /// A Call Automation callback as ACS sends it: CloudEvents 1.0 with `source` and
    /// `subject` `calling/callConnections/<callConnectionId>`, `datacontenttype`
    /// `application/json`. Pass a deterministic `id` (e.g. derived from the command that
    /// caused the event) where repeatability matters.
    pub fn callback(
        payload: impl Into<AcsEvent>,
        id: impl Into<EventId>,
        time: OffsetDateTime,
    ) -> Self {
        let payload = payload.into();
        let mut envelope = Envelope::new(Schema::CloudEvents, payload.event_type());
        envelope.id = Some(id.into());
        envelope.time = Some(time);
        envelope.spec_version = Some("1.0".to_owned());
        envelope.data_content_type = Some("application/json".to_owned());
        if let Some(cc) = payload.call_connection_id() {
            let path = format!("calling/callConnections/{cc}");
            envelope.source = Some(path.clone());
            envelope.subject = Some(path);
        }
        Self { envelope, payload }
    }

    /// An event in the Event Grid schema (how Event Grid delivers IncomingCall to a Service
    /// Bus queue by default). `topic` is the ACS resource id; `subject` for IncomingCall is
    /// `/caller/<from rawId>/recipient/<to rawId>` like the service writes.
    pub fn event_grid(
        payload: impl Into<AcsEvent>,
        id: impl Into<EventId>,
        time: OffsetDateTime,
        topic: impl Into<String>,
    ) -> Self {
        let payload = payload.into();
        let mut envelope = Envelope::new(Schema::EventGrid, payload.event_type());
        envelope.id = Some(id.into());
        envelope.time = Some(time);
        envelope.topic = Some(topic.into());
        envelope.data_version = Some("1.0".to_owned());
        envelope.metadata_version = Some("1".to_owned());
        if let AcsEvent::IncomingCall(ic) = &payload {
            envelope.subject = Some(format!(
                "/caller/{}/recipient/{}",
                ic.from.raw_id(),
                ic.to.raw_id()
            ));
        }
        Self { envelope, payload }
    }

    /// A key that is the same for every delivery of this event and differs between
    /// events, for the worker's "already handled?" check.
    ///
    /// `<id>|<event type>|<call connection or correlation id>|<time>`: a redelivery repeats
    /// all of these, while the event id alone is not enough because sanitised captures
    /// (and buggy producers) reuse ids such as `Sanitized` for different events of the same
    /// call. A bare IncomingCall `data` body has no id, so its key is
    /// `IncomingCall|<correlationId or serverCallId>` (one IncomingCall per call).
    /// `None` only when the event carries none of these.
    pub fn idempotency_key(&self) -> Option<String> {
        let scope = self
            .call_connection_id()
            .map(String::from)
            .or_else(|| self.correlation_id().map(|c| c.to_string()));
        let time = self
            .envelope
            .time
            .map(|t| (t.unix_timestamp_nanos() / 100).to_string())
            .or_else(|| self.envelope.time_raw.clone());
        match &self.envelope.id {
            Some(id) => Some(format!(
                "{id}|{}|{}|{}",
                self.envelope.event_type,
                scope.unwrap_or_default(),
                time.unwrap_or_default()
            )),
            None => match &self.payload {
                AcsEvent::IncomingCall(ic) => ic
                    .correlation_id
                    .as_ref()
                    .map(|c| c.to_string())
                    .or_else(|| ic.server_call_id.as_ref().map(|s| s.to_string()))
                    .map(|k| format!("IncomingCall|{k}")),
                _ => None,
            },
        }
    }

    /// Short type name (`CallConnected`, `IncomingCall`, `Unknown`).
    pub fn short_type(&self) -> &str {
        self.payload.short_type()
    }

    /// The call connection id from `data`, or else from the envelope's
    /// `subject`/`source` path (never from a `calling/recordings/...` path).
    pub fn call_connection_id(&self) -> Option<CallConnectionId> {
        self.payload
            .call_connection_id()
            .cloned()
            .or_else(|| match self.payload {
                // IncomingCall has no call connection yet, whatever its subject says.
                AcsEvent::IncomingCall(_) => None,
                _ => self.envelope.call_connection_id_from_path(),
            })
    }

    /// The server call id.
    pub fn server_call_id(&self) -> Option<&ServerCallId> {
        self.payload.server_call_id()
    }

    /// The correlation id.
    pub fn correlation_id(&self) -> Option<&CorrelationId> {
        self.payload.correlation_id()
    }

    /// The operation context.
    pub fn operation_context(&self) -> Option<&OperationContext> {
        self.payload.operation_context()
    }

    /// The result information.
    pub fn result_information(&self) -> Option<&ResultInformation> {
        self.payload.result_information()
    }

    /// This event as JSON in its envelope's schema (for [`Schema::Data`], just the data).
    pub fn to_json(&self) -> Result<Value, serde_json::Error> {
        let data = serde_json::to_value(&self.payload)?;
        let env = &self.envelope;
        let time = env
            .time
            .map(format_timestamp)
            .or_else(|| env.time_raw.clone());
        let mut obj = Map::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                obj.insert(k.to_owned(), Value::String(v));
            }
        };
        match env.schema {
            Schema::Data => return Ok(data),
            Schema::EventGrid => {
                put("id", env.id.as_ref().map(ToString::to_string));
                put("topic", env.topic.clone());
                put("subject", env.subject.clone());
                put("eventType", Some(env.event_type.clone()));
                put("eventTime", time);
                put("dataVersion", env.data_version.clone());
                put("metadataVersion", env.metadata_version.clone());
            }
            Schema::CloudEvents => {
                put("id", env.id.as_ref().map(ToString::to_string));
                put("source", env.source.clone());
                put("type", Some(env.event_type.clone()));
                put("time", time);
                put("specversion", env.spec_version.clone());
                put("datacontenttype", env.data_content_type.clone());
                put("subject", env.subject.clone());
            }
        }
        obj.insert("data".to_owned(), data);
        Ok(Value::Object(obj))
    }
}

/// Encodes events as one message body: a JSON array when `array` is true (how Call
/// Automation POSTs callbacks), otherwise the single event (how Event Grid writes to Service
/// Bus). With `array == false` exactly one event is required.
pub fn encode(events: &[Event], array: bool) -> Result<Vec<u8>, EncodeError> {
    if array {
        let items = events
            .iter()
            .map(Event::to_json)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(serde_json::to_vec(&Value::Array(items))?)
    } else {
        match events {
            [one] => Ok(serde_json::to_vec(&one.to_json()?)?),
            _ => Err(EncodeError::NotOneEvent(events.len())),
        }
    }
}

/// Why events could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// A non-array body holds exactly one event.
    #[error("a non-array body holds exactly one event, got {0}")]
    NotOneEvent(usize),
    /// Serialisation failed (not expected for the types in this crate).
    #[error("cannot serialise event: {0}")]
    Json(#[from] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::CallConnected;

    #[test]
    fn call_connection_from_paths() {
        let mut env = Envelope::new(Schema::CloudEvents, "x");
        env.subject = Some("calling/callConnections/401f/CallConnected".into());
        assert_eq!(env.call_connection_id_from_path().unwrap(), "401f");
        env.subject = Some("calling/recordings/abc/def/RecordingStateChanged".into());
        env.source = None;
        assert_eq!(env.call_connection_id_from_path(), None);
        env.source = Some("/calling/callConnections/77".into());
        assert_eq!(env.call_connection_id_from_path().unwrap(), "77");
        env.source = Some("calling/callConnections/".into());
        assert_eq!(env.call_connection_id_from_path(), None);
    }

    #[test]
    fn idempotency_keys() {
        let t = time::macros::datetime!(2025-01-01 00:00 UTC);
        let connected = |cc: &str| {
            Event::callback(
                CallConnected {
                    call_connection_id: Some(cc.into()),
                    ..Default::default()
                },
                "REDACTED",
                t,
            )
        };
        // Same id, different call legs: different keys.
        assert_eq!(
            connected("a").idempotency_key().unwrap(),
            "REDACTED|Microsoft.Communication.CallConnected|a|17356896000000000"
        );
        assert_ne!(
            connected("a").idempotency_key(),
            connected("b").idempotency_key()
        );
        // Redelivery of the same event: same key.
        assert_eq!(
            connected("a").idempotency_key(),
            connected("a").idempotency_key()
        );
        // Same id and call but a different time: a different event.
        let mut later = connected("a");
        later.envelope.time = Some(t + time::Duration::milliseconds(150));
        assert_ne!(later.idempotency_key(), connected("a").idempotency_key());
        // No id, no call: no key.
        let mut bare = connected("a");
        bare.envelope.id = None;
        assert_eq!(bare.idempotency_key(), None);
    }

    #[test]
    fn encode_requires_one_event_without_array() {
        let e = Event::callback(
            CallConnected {
                call_connection_id: Some("c".into()),
                ..Default::default()
            },
            "id-1",
            time::macros::datetime!(2025-01-01 00:00 UTC),
        );
        assert!(matches!(
            encode(&[], false),
            Err(EncodeError::NotOneEvent(0))
        ));
        assert!(matches!(
            encode(&[e.clone(), e.clone()], false),
            Err(EncodeError::NotOneEvent(2))
        ));
        let body = encode(&[e], true).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v[0]["source"], "calling/callConnections/c");
        assert_eq!(v[0]["subject"], "calling/callConnections/c");
        assert_eq!(v[0]["type"], "Microsoft.Communication.CallConnected");
        assert_eq!(v[0]["time"], "2025-01-01T00:00:00Z");
        assert_eq!(v[0]["specversion"], "1.0");
    }
}
