//! Event Grid as the simulator plays it: `Microsoft.Communication.IncomingCall` events built
//! in the Event Grid or CloudEvents schema and delivered to a pluggable [`EventGridSink`] the
//! way Event Grid delivers to a Service Bus queue — one event per message, message id = event
//! id, the `aeg-*` application properties, at-least-once (optional duplicate delivery), with
//! retries while the sink fails.
//!
//! # The sink contract
//! [`EventGridSink::deliver`] gets one [`SinkMessage`]. Return `Ok` once the message is
//! durably accepted; return an error to have it retried (with backoff, up to the configured
//! attempts; `aeg-delivery-count` goes up with each attempt). The same message id can arrive
//! more than once (duplicate-delivery fault, or a retry after a lost `Ok`): sinks that feed a
//! queue should de-duplicate by message id, as Service Bus duplicate detection does.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::config::EventSchema;

/// One Service Bus message as Event Grid would enqueue it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SinkMessage {
    /// = the event id, so duplicates are detectable.
    pub message_id: String,
    /// The raw body: one event object (not an array).
    #[serde(with = "body_text")]
    pub body: Vec<u8>,
    /// `application/json` (Event Grid schema) or `application/cloudevents+json; charset=utf-8`.
    pub content_type: String,
    /// `aeg-event-type`, `aeg-subscription-name`, `aeg-delivery-count`, `aeg-data-version`,
    /// `aeg-metadata-version`, `aeg-output-event-id`.
    pub application_properties: BTreeMap<String, String>,
    /// Event Grid sets no session id; present for sinks that want one.
    pub session_id: Option<String>,
    /// The event type, for routing without parsing the body.
    pub event_type: String,
    /// 1 for the first attempt.
    pub delivery_attempt: u32,
}

impl SinkMessage {
    /// The body as text (it is always UTF-8 JSON).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

mod body_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes())
    }
}

/// Why a sink refused a message. The publisher retries every kind but [`Closed`](Self::Closed)
/// (see [`is_retryable`](Self::is_retryable)), with the Event Grid retry policy.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The message could not be sent or encoded (connection refused, timeout, …).
    #[error("sink transport failed: {0}")]
    Transport(String),
    /// The endpoint answered with this non-2xx status.
    #[error("sink rejected the message with status {0}")]
    Rejected(u16),
    /// Reading or writing a local file failed.
    #[error("sink I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The receiving side is gone (a dropped channel receiver); retrying cannot help, so the
    /// message stays only in the outbox.
    #[error("sink is closed")]
    Closed,
}

impl SinkError {
    /// Whether the publisher should try again (all but a closed sink).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, SinkError::Closed)
    }
}

/// Where `IncomingCall` messages go (the embedded queue, an HTTP endpoint, a file, a channel).
#[async_trait]
pub trait EventGridSink: Send + Sync {
    /// Accept one message; an error means "try again later".
    async fn deliver(&self, msg: SinkMessage) -> Result<(), SinkError>;
}

/// In-memory sink for tests: every delivered message is sent on a channel.
pub struct ChannelSink {
    tx: tokio::sync::mpsc::UnboundedSender<SinkMessage>,
}

impl ChannelSink {
    /// The sink and the receiver that gets every delivered message. Dropping the receiver
    /// closes the sink ([`SinkError::Closed`]).
    pub fn new() -> (Arc<Self>, tokio::sync::mpsc::UnboundedReceiver<SinkMessage>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Arc::new(Self { tx }), rx)
    }
}

#[async_trait]
impl EventGridSink for ChannelSink {
    async fn deliver(&self, msg: SinkMessage) -> Result<(), SinkError> {
        self.tx.send(msg).map_err(|_| SinkError::Closed)
    }
}

/// Appends one JSON line per message to a file (`messageId`, `body` as a string holding the
/// exact body text, `contentType`, `applicationProperties`, …) — replayable later.
pub struct JsonlSink {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl JsonlSink {
    /// Appends to `path`, creating it on the first delivery; nothing is opened until then.
    pub fn new(path: impl Into<PathBuf>) -> Arc<Self> {
        Arc::new(Self {
            path: path.into(),
            lock: tokio::sync::Mutex::new(()),
        })
    }
}

#[async_trait]
impl EventGridSink for JsonlSink {
    async fn deliver(&self, msg: SinkMessage) -> Result<(), SinkError> {
        let mut line = serde_json::to_vec(&msg).map_err(|e| SinkError::Transport(e.to_string()))?;
        line.push(b'\n');
        // One writer at a time so lines never interleave.
        let _guard = self.lock.lock().await;
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await?;
        f.write_all(&line).await?;
        f.flush().await?;
        Ok(())
    }
}

/// How [`HttpSink`] frames a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpSinkMode {
    /// Like an Event Grid webhook subscription: Event Grid schema events are POSTed as a JSON
    /// array of one event; CloudEvents as one event (`application/cloudevents+json`). The
    /// `aeg-*` properties become request headers.
    Webhook,
    /// POST the message body as is, properties as headers (`aeg-*`, plus `message-id`).
    Raw,
}

/// POSTs each message to an endpoint. Any non-2xx is a failure (retried).
pub struct HttpSink {
    url: String,
    mode: HttpSinkMode,
    http: reqwest::Client,
}

impl HttpSink {
    /// POSTs to `url` with a 10 s timeout per attempt (a timeout is a retried failure).
    pub fn new(url: impl Into<String>, mode: HttpSinkMode) -> Arc<Self> {
        Arc::new(Self {
            url: url.into(),
            mode,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        })
    }
}

#[async_trait]
impl EventGridSink for HttpSink {
    async fn deliver(&self, msg: SinkMessage) -> Result<(), SinkError> {
        let is_cloud = msg.content_type.starts_with("application/cloudevents");
        let body = match (self.mode, is_cloud) {
            (HttpSinkMode::Webhook, false) => {
                let mut b = Vec::with_capacity(msg.body.len() + 2);
                b.push(b'[');
                b.extend_from_slice(&msg.body);
                b.push(b']');
                b
            }
            _ => msg.body.clone(),
        };
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", &msg.content_type)
            .header("message-id", &msg.message_id)
            .body(body);
        for (k, v) in &msg.application_properties {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| SinkError::Transport(e.to_string()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(SinkError::Rejected(resp.status().as_u16()))
        }
    }
}

/// `data` of an IncomingCall event, shaped like the live captures.
#[derive(Clone, Debug)]
pub(crate) struct IncomingCallData {
    pub to: Value,
    pub from: Value,
    pub to_raw_id: String,
    pub from_raw_id: String,
    pub server_call_id: String,
    pub caller_display_name: String,
    pub sip_headers: BTreeMap<String, String>,
    pub voip_headers: BTreeMap<String, String>,
    pub incoming_call_context: String,
    pub correlation_id: String,
}

impl IncomingCallData {
    fn to_value(&self) -> Value {
        json!({
            "to": self.to,
            "from": self.from,
            "serverCallId": self.server_call_id,
            "callerDisplayName": self.caller_display_name,
            "customContext": {"sipHeaders": self.sip_headers, "voipHeaders": self.voip_headers},
            "incomingCallContext": self.incoming_call_context,
            "correlationId": self.correlation_id,
        })
    }
}

/// Event type of incoming calls.
pub(crate) const INCOMING_CALL: &str = "Microsoft.Communication.IncomingCall";

/// Build the Service Bus message Event Grid would produce for an IncomingCall.
pub(crate) fn incoming_call_message(
    schema: EventSchema,
    event_id: &str,
    topic: &str,
    subscription_name: &str,
    time: time::OffsetDateTime,
    data: &IncomingCallData,
) -> SinkMessage {
    let subject = format!("/caller/{}/recipient/{}", data.from_raw_id, data.to_raw_id);
    let when = crate::wire::event_grid_time(time);
    let (body, content_type, data_version, metadata_version) = match schema {
        EventSchema::EventGrid => (
            json!({
                "id": event_id,
                "topic": topic,
                "subject": subject,
                "data": data.to_value(),
                "eventType": INCOMING_CALL,
                "dataVersion": "1.0",
                "metadataVersion": "1",
                "eventTime": when,
            }),
            "application/json",
            Some("1.0"),
            "1",
        ),
        EventSchema::CloudEvents => (
            json!({
                "id": event_id,
                "source": topic,
                "subject": subject,
                "data": data.to_value(),
                "type": INCOMING_CALL,
                "specversion": "1.0",
                "time": when,
            }),
            "application/cloudevents+json; charset=utf-8",
            None,
            "1.0",
        ),
    };
    let mut props = BTreeMap::new();
    props.insert("aeg-event-type".into(), "Notification".into());
    props.insert(
        "aeg-subscription-name".into(),
        subscription_name.to_uppercase(),
    );
    props.insert("aeg-delivery-count".into(), "0".into());
    props.insert("aeg-metadata-version".into(), metadata_version.into());
    if let Some(dv) = data_version {
        props.insert("aeg-data-version".into(), dv.into());
    }
    props.insert("aeg-output-event-id".into(), event_id.into());
    SinkMessage {
        message_id: event_id.into(),
        body: serde_json::to_vec(&body).unwrap_or_default(),
        content_type: content_type.into(),
        application_properties: props,
        session_id: None,
        event_type: INCOMING_CALL.into(),
        delivery_attempt: 1,
    }
}

/// Holds the current sink and an outbox of everything published (for `GET
/// /__sim/eventgrid/messages` and for tests that do not install a sink).
pub(crate) struct Publisher {
    sink: RwLock<Option<Arc<dyn EventGridSink>>>,
    outbox: Mutex<VecDeque<SinkMessage>>,
    max_outbox: usize,
}

impl Publisher {
    /// No sink yet; the outbox keeps the last `max_outbox` messages.
    pub fn new(max_outbox: usize) -> Self {
        Self {
            sink: RwLock::new(None),
            outbox: Mutex::new(VecDeque::new()),
            max_outbox,
        }
    }

    /// Installs (`Some`) or removes (`None`) the sink; later deliveries use it.
    pub fn set_sink(&self, sink: Option<Arc<dyn EventGridSink>>) {
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = sink;
    }

    /// The current sink, if one is installed.
    pub fn sink(&self) -> Option<Arc<dyn EventGridSink>> {
        self.sink.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keeps `msg` in the outbox, dropping the oldest message when it is full.
    pub fn record(&self, msg: &SinkMessage) {
        let mut out = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        if out.len() >= self.max_outbox {
            out.pop_front();
        }
        out.push_back(msg.clone());
    }

    /// Every message in the outbox, oldest first.
    pub fn outbox(&self) -> Vec<SinkMessage> {
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Empties the outbox (the sink stays).
    pub fn clear(&self) {
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> IncomingCallData {
        IncomingCallData {
            to: json!({"kind": "phoneNumber", "rawId": "4:+18005550100", "phoneNumber": {"value": "+18005550100"}}),
            from: json!({"kind": "phoneNumber", "rawId": "4:+14255550123", "phoneNumber": {"value": "+14255550123"}}),
            to_raw_id: "4:+18005550100".into(),
            from_raw_id: "4:+14255550123".into(),
            server_call_id: "c2M=".into(),
            caller_display_name: "Caller".into(),
            sip_headers: BTreeMap::new(),
            voip_headers: BTreeMap::new(),
            incoming_call_context: "ctx".into(),
            correlation_id: "corr".into(),
        }
    }

    #[test]
    fn event_grid_envelope_and_properties() {
        let t = time::macros::datetime!(2026-03-12 10:00:00 UTC);
        let m = incoming_call_message(
            EventSchema::EventGrid,
            "ev1",
            "/subscriptions/x",
            "my-sub",
            t,
            &data(),
        );
        assert_eq!(m.message_id, "ev1");
        assert_eq!(m.content_type, "application/json");
        let v: Value = serde_json::from_slice(&m.body).unwrap();
        assert!(v.is_object(), "Service Bus gets one event, not an array");
        assert_eq!(v["eventType"], INCOMING_CALL);
        assert_eq!(v["dataVersion"], "1.0");
        assert_eq!(v["metadataVersion"], "1");
        assert_eq!(v["eventTime"], "2026-03-12T10:00:00.0000000Z");
        assert_eq!(
            v["subject"],
            "/caller/4:+14255550123/recipient/4:+18005550100"
        );
        assert_eq!(
            v["data"]["customContext"],
            json!({"sipHeaders": {}, "voipHeaders": {}})
        );
        let p = &m.application_properties;
        assert_eq!(p["aeg-event-type"], "Notification");
        assert_eq!(p["aeg-subscription-name"], "MY-SUB");
        assert_eq!(p["aeg-delivery-count"], "0");
        assert_eq!(p["aeg-data-version"], "1.0");
        assert_eq!(p["aeg-metadata-version"], "1");
        assert_eq!(p["aeg-output-event-id"], "ev1");

        let c = incoming_call_message(
            EventSchema::CloudEvents,
            "ev2",
            "/subscriptions/x",
            "s",
            t,
            &data(),
        );
        let v: Value = serde_json::from_slice(&c.body).unwrap();
        assert_eq!(v["type"], INCOMING_CALL);
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["source"], "/subscriptions/x");
        assert!(c.content_type.starts_with("application/cloudevents+json"));
        assert_eq!(c.application_properties["aeg-metadata-version"], "1.0");
        assert!(!c.application_properties.contains_key("aeg-data-version"));
    }

    #[tokio::test]
    async fn jsonl_sink_appends_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let sink = JsonlSink::new(&path);
        let t = time::OffsetDateTime::now_utc();
        for id in ["a", "b"] {
            let m = incoming_call_message(EventSchema::EventGrid, id, "/t", "s", t, &data());
            sink.deliver(m).await.unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<SinkMessage> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].message_id, "b");
        let body: Value = serde_json::from_slice(&lines[0].body).unwrap();
        assert_eq!(body["id"], "a");
    }
}
