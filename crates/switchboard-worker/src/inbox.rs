//! What arrived: one queue delivery — an ACS event (IncomingCall from Event Grid, callbacks
//! from the ingress, possibly several in one body) or one of our own [`InternalMessage`]s (a
//! timer) — decoded into flow inputs, each with the call it belongs to. The runner settles by
//! what this returns; nothing here touches the store or the network.

use serde::Deserialize;
use switchboard_events::{decode, AcsEvent, CorrelationId};
use switchboard_queue::Delivery;

use crate::flow::{FlowInput, InternalMessage, INTERNAL_TYPE_PREFIX};
use crate::seal::{Seal, Verdict};

/// A message body turned into flow inputs.
#[derive(Debug, PartialEq)]
pub struct Decoded {
    /// The inputs with the call they belong to, in body order.
    pub inputs: Vec<(CorrelationId, FlowInput)>,
    /// Event types we do not act on (completed and counted).
    pub unknown: Vec<String>,
    /// Events that cannot be handled (no correlation id…): `(type, why)`.
    pub rejected: Vec<(String, String)>,
    /// Set when part of a callback array was unreadable: dead-letter after handling the rest.
    pub partial: Option<(String, String)>,
}

/// Turns one queue message into flow inputs. `Err((reason, description))` when nothing in it
/// can be handled (dead-letter).
///
/// A message is one of ours only when its seal verifies; one that looks like ours (a
/// `Switchboard.*` type in its properties or body) without a valid seal is a forgery and is
/// dead-lettered, never read as an event either.
pub(crate) fn decode_delivery(
    delivery: &Delivery,
    seal: &Seal,
) -> Result<Decoded, (String, String)> {
    let message_type = delivery
        .application_properties
        .get("type")
        .and_then(|v| v.as_str());
    let forged = |why: &str| {
        Err((
            "ForgedInternalMessage".to_string(),
            format!("message {}: {why}", delivery.message_id),
        ))
    };
    match seal.verify(delivery) {
        Verdict::Invalid => return forged("its seal does not verify"),
        Verdict::Unsealed if is_internal_type(message_type, &delivery.body) => {
            return forged("it looks internal but carries no seal")
        }
        Verdict::Unsealed => {}
        Verdict::Valid => return decode_internal(delivery),
    }
    let decoded =
        decode(&delivery.body).map_err(|e| (e.dead_letter_reason().to_string(), e.to_string()))?;
    let partial = decoded
        .dead_letter()
        .map(|(reason, description)| (reason.to_string(), description));
    let many = decoded.events.len() > 1;
    let mut out = Decoded {
        inputs: Vec::new(),
        unknown: Vec::new(),
        rejected: Vec::new(),
        partial,
    };
    for (i, event) in decoded.events.into_iter().enumerate() {
        if let AcsEvent::Unknown { event_type, .. } = &event.payload {
            out.unknown.push(event_type.clone());
            continue;
        }
        let short = event.short_type().to_string();
        let Some(key) = event
            .correlation_id()
            .cloned()
            .filter(|c| !c.as_str().is_empty())
        else {
            out.rejected
                .push((short, "no correlationId: cannot tell which call".into()));
            continue;
        };
        // Event ids are stable across redeliveries; without one, the message id is (and an
        // array position keeps events of one message apart).
        let id = match &event.envelope.id {
            Some(id) if !id.as_str().is_empty() => id.as_str().to_string(),
            _ if many => format!("{}#{i}", delivery.message_id),
            _ => delivery.message_id.clone(),
        };
        let time = event.envelope.time.unwrap_or(delivery.enqueued_time);
        out.inputs
            .push((key, FlowInput::acs(id, time, event.payload)));
    }
    if out.inputs.is_empty() && out.unknown.is_empty() {
        if let Some((kind, why)) = out.rejected.first() {
            return Err(("MissingCorrelationId".into(), format!("{kind}: {why}")));
        }
    }
    Ok(out)
}

/// One of our own internal messages (its seal verified).
fn decode_internal(delivery: &Delivery) -> Result<Decoded, (String, String)> {
    let msg = InternalMessage::decode(&delivery.body)
        .map_err(|e| ("InvalidInternalMessage".to_string(), e.to_string()))?;
    if msg.correlation_id.as_str().is_empty() {
        return Err((
            "MissingCorrelationId".into(),
            format!("internal message {} has no correlation id", msg.id),
        ));
    }
    Ok(Decoded {
        inputs: vec![(msg.correlation_id.clone(), msg.to_input())],
        unknown: Vec::new(),
        rejected: Vec::new(),
        partial: None,
    })
}

/// True if a queue message body is one of our internal inputs (by its `type` property or
/// its body).
pub(crate) fn is_internal_type(message_type: Option<&str>, body: &[u8]) -> bool {
    message_type.is_some_and(|t| t.starts_with(INTERNAL_TYPE_PREFIX)) || sniff(body)
}

/// True if `body` looks like an internal message (a JSON object whose `type` starts with
/// [`INTERNAL_TYPE_PREFIX`]) rather than an ACS event. Cheap: no full decode.
fn sniff(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(rename = "type", borrow)]
        message_type: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Probe<'_>>(body)
        .ok()
        .and_then(|p| p.message_type)
        .is_some_and(|t| t.starts_with(INTERNAL_TYPE_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;
    use switchboard_queue::{Message, MessageState, Properties};
    use time::macros::datetime;
    use uuid::Uuid;

    use crate::flow::{InputKind, Internal};

    fn delivery(body: &[u8], props: Properties) -> Delivery {
        Delivery {
            message: Message {
                queue: "q".into(),
                message_id: "m-1".into(),
                session_id: None,
                correlation_id: None,
                content_type: None,
                subject: None,
                application_properties: props,
                body: Bytes::copy_from_slice(body),
                sequence_number: 1,
                enqueued_time: datetime!(2026-03-12 10:00:00 UTC),
                scheduled_enqueue_time: None,
                time_to_live: None,
                expires_at: None,
                delivery_count: 1,
                state: MessageState::Active,
                dead_letter_reason: None,
                dead_letter_error_description: None,
            },
            lock_token: Uuid::nil(),
            locked_until: datetime!(2026-03-12 10:01:00 UTC),
            backend: None,
        }
    }

    #[test]
    fn callbacks_decode_to_inputs_keyed_by_correlation_id() {
        // A live capture (java-2025-06-15 …RemoveParticipantAutomatedTest, AddParticipantSucceeded),
        // byte for byte.
        let body = br#"[{"id":"REDACTED","source":"calling/callConnections/02001680-69dc-4700-952c-eed29100f53d","type":"Microsoft.Communication.AddParticipantSucceeded","data":{"participant":{"rawId":"REDACTED","kind":"communicationUser","communicationUser":{"id":"REDACTED"}},"version":"2025-06-15","resultInformation":{"code":200,"subCode":0,"message":""},"callConnectionId":"02001680-69dc-4700-952c-eed29100f53d","serverCallId":"REDACTED","correlationId":"7908f95b-9063-436a-9186-78fd08f6832c","publicEventType":"Microsoft.Communication.AddParticipantSucceeded"},"time":"2025-06-16T19:26:05.1364933\u002B00:00","specversion":"1.0","datacontenttype":"application/json","subject":"calling/callConnections/02001680-69dc-4700-952c-eed29100f53d"}]"#;
        let d = decode_delivery(&delivery(body, Properties::new()), &seal()).unwrap();
        assert_eq!(d.inputs.len(), 1);
        let (key, input) = &d.inputs[0];
        assert_eq!(key, "7908f95b-9063-436a-9186-78fd08f6832c");
        assert_eq!(input.type_name(), "AddParticipantSucceeded");
        assert_eq!(input.id, "REDACTED");
        assert_eq!(input.time, datetime!(2025-06-16 19:26:05.1364933 UTC));
    }

    #[test]
    fn incoming_call_data_only_uses_the_message_id_and_enqueued_time() {
        // The SDK dispatcher forwards bare IncomingCall data: no envelope id or time.
        // A live capture (net-2024-09-01-preview RemoveAUserCallTest, IncomingCall data only).
        let body = br#"{"to":{"kind":"communicationUser","rawId":"Sanitized","communicationUser":{"id":"Sanitized"}},"from":{"kind":"communicationUser","rawId":"Sanitized","communicationUser":{"id":"Sanitized"}},"serverCallId":"aHR0cHM6Ly9hcGkuZmxpZ2h0cHJveHkuc2t5cGUuY29tL2FwaS92Mi9jcC9jb252LW1hc28tMDQtcHJvZC1ha3MuY29udi5za3lwZS5jb20vY29udi9kM1N6WjJYV3YwNjBKMnMyZmxNdTNBP2k9MTAtMTI4LTIyLTIxOSZlPTYzODk0NDI4MTkzMDkzNTg0NA==","callerDisplayName":"Sanitized","incomingCallContext":"Sanitized","correlationId":"b6c1cd38-c0ce-4b8d-b60a-b2a00b71c61a"}"#;
        let d = decode_delivery(&delivery(body, Properties::new()), &seal()).unwrap();
        let (_, input) = &d.inputs[0];
        assert_eq!(input.type_name(), "IncomingCall");
        assert_eq!(input.id, "m-1");
        assert_eq!(input.time, datetime!(2026-03-12 10:00:00 UTC));
    }

    fn seal() -> Seal {
        Seal::from_bytes(&[7u8; 32]).unwrap()
    }

    fn ring_timeout() -> InternalMessage {
        InternalMessage::new(
            "e/schedule:ring-timeout:1",
            CorrelationId::from("c-1"),
            datetime!(2026-03-12 10:00:25 UTC),
            Internal::RingTimeout { seq: 1 },
        )
    }

    /// What a worker sends, as a receiver sees it.
    fn sent(out: switchboard_queue::OutgoingMessage) -> Delivery {
        let mut d = delivery(&out.body, out.application_properties.clone());
        d.message.message_id = out.message_id.clone();
        d
    }

    #[test]
    fn internal_timers_decode() {
        let msg = ring_timeout();
        let out = crate::timers::timer_message(&seal(), &msg.correlation_id, &msg.id, &msg);
        let d = decode_delivery(&sent(out), &seal()).unwrap();
        assert_eq!(d.inputs.len(), 1);
        assert_eq!(d.inputs[0].0, "c-1");
        assert!(matches!(
            d.inputs[0].1.kind,
            InputKind::Internal(Internal::RingTimeout { seq: 1 })
        ));
    }

    #[test]
    fn garbage_and_bad_timers_are_dead_lettered_with_reasons() {
        let (reason, _) = decode_delivery(&delivery(b"", Properties::new()), &seal()).unwrap_err();
        assert!(!reason.is_empty());
        let (reason, desc) =
            decode_delivery(&delivery(b"{not json", Properties::new()), &seal()).unwrap_err();
        assert!(!reason.is_empty() && !desc.is_empty());
        // Sealed by us but unreadable: a bug or a version skew, not a forgery.
        let out = seal().seal(
            switchboard_queue::OutgoingMessage::new("m-9", b"{}".to_vec())
                .with_property("type", "Switchboard.RingTimeout"),
        );
        let (reason, _) = decode_delivery(&sent(out), &seal()).unwrap_err();
        assert_eq!(reason, "InvalidInternalMessage");
    }

    #[test]
    fn internal_looking_messages_without_a_valid_seal_are_forgeries() {
        let msg = ring_timeout();
        let genuine = crate::timers::timer_message(&seal(), &msg.correlation_id, &msg.id, &msg);
        // 1. Our type in the properties, no seal (what the ingress could be tricked into).
        let mut props = Properties::new();
        props.insert("type".into(), "Switchboard.RingTimeout".into());
        let forged = delivery(&msg.encode(), props);
        // 2. Our type only in the body.
        let sniffed = delivery(&msg.encode(), Properties::new());
        // 3. Sealed with another deployment's key.
        let other = crate::timers::timer_message(
            &Seal::from_bytes(&[8u8; 32]).unwrap(),
            &msg.correlation_id,
            &msg.id,
            &msg,
        );
        // 4. A genuine seal, the body pointed at another call.
        let mut altered = sent(genuine.clone());
        let mut v: serde_json::Value = serde_json::from_slice(&altered.body).unwrap();
        v["correlationId"] = "c-2".into();
        altered.message.body = bytes::Bytes::from(serde_json::to_vec(&v).unwrap());
        // 5. A genuine seal moved onto another message id.
        let mut moved = sent(genuine);
        moved.message.message_id = "m-other".into();
        for (name, d) in [
            ("unsealed", forged),
            ("body only", sniffed),
            ("other key", sent(other)),
            ("altered", altered),
            ("moved", moved),
        ] {
            let (reason, why) = decode_delivery(&d, &seal()).unwrap_err();
            assert_eq!(reason, "ForgedInternalMessage", "{name}: {why}");
        }
    }

    #[test]
    fn a_seal_on_an_acs_event_is_refused_too() {
        // Only workers seal; a sealed event that does not verify is tampered with.
        let body = br#"[{"id":"e1","source":"calling/callConnections/c1","type":"Microsoft.Communication.CallConnected","data":{"callConnectionId":"c1","correlationId":"k"},"time":"2026-03-12T10:00:00Z","specversion":"1.0"}]"#;
        let mut props = Properties::new();
        props.insert(crate::seal::SEAL_PROPERTY.into(), "AAAA".into());
        let (reason, _) = decode_delivery(&delivery(body, props), &seal()).unwrap_err();
        assert_eq!(reason, "ForgedInternalMessage");
    }

    #[test]
    fn unknown_event_types_are_counted_not_rejected() {
        let body = br#"[{"id":"e1","source":"calling/callConnections/c1","type":"Microsoft.Communication.HoldAudioStarted","data":{"callConnectionId":"c1","correlationId":"k"},"time":"2026-03-12T10:00:00Z","specversion":"1.0"}]"#;
        let d = decode_delivery(&delivery(body, Properties::new()), &seal()).unwrap();
        assert!(d.inputs.is_empty());
        assert_eq!(
            d.unknown,
            vec!["Microsoft.Communication.HoldAudioStarted".to_string()]
        );
    }

    #[test]
    fn events_without_correlation_id_cannot_be_handled() {
        let body = br#"[{"id":"e1","source":"calling/callConnections/c1","type":"Microsoft.Communication.CallConnected","data":{"callConnectionId":"c1"},"time":"2026-03-12T10:00:00Z","specversion":"1.0"}]"#;
        let (reason, _) = decode_delivery(&delivery(body, Properties::new()), &seal()).unwrap_err();
        assert_eq!(reason, "MissingCorrelationId");
    }

    #[test]
    fn internal_messages_are_recognised_by_type_or_body() {
        assert!(is_internal_type(Some("Switchboard.RingTimeout"), b""));
        assert!(!is_internal_type(
            Some("Microsoft.Communication.CallConnected"),
            b"[]"
        ));
        assert!(is_internal_type(
            None,
            br#"{"type":"Switchboard.QueueRecheck"}"#
        ));
    }

    #[test]
    fn acs_bodies_are_not_internal() {
        let cloud_events =
            br#"[{"id":"e1","type":"Microsoft.Communication.CallConnected","data":{}}]"#;
        assert!(!sniff(cloud_events));
        let event_grid =
            br#"{"id":"e1","eventType":"Microsoft.Communication.IncomingCall","data":{}}"#;
        assert!(!sniff(event_grid));
        let cloud_event =
            br#"{"id":"e1","type":"Microsoft.Communication.CallConnected","data":{}}"#;
        assert!(!sniff(cloud_event));
        assert!(!sniff(b"not json"));
    }

    proptest! {
        #[test]
        fn sniff_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = sniff(&body);
        }
    }
}
