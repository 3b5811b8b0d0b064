//! Splitting a delivery (one event or a JSON array of them) into the events the ingress
//! publishes and the elements it refuses, each refusal with a reason. Nothing is dropped: a
//! bad element never costs the good ones beside it.
//!
//! An element is refused when it is not valid JSON, not an event, misses required fields
//! (the events crate's decoder says which), or has a type the ingress does not accept:
//! `Switchboard.*` (the worker's internal messages: only the worker produces those) and
//! anything outside `Microsoft.Communication.*`, or a `Microsoft.Communication.*` type this
//! version does not know.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::message::IngressMessage;

/// Events from ACS carry types under this prefix; nothing else is accepted.
pub const ACCEPTED_TYPE_PREFIX: &str = "Microsoft.Communication.";
/// The worker's internal message types; never accepted from outside.
pub const INTERNAL_TYPE_PREFIX: &str = "Switchboard.";

/// An element the ingress refused, kept as a dead letter with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Position in the delivered array; `None` for the whole body.
    pub index: Option<usize>,
    /// Machine-readable reason (`ForbiddenEventType`, `ForeignEventType`, …).
    pub reason: &'static str,
    /// Human-readable detail.
    pub description: String,
    /// The element's type, when it could be read.
    pub event_type: Option<String>,
    /// The element's bytes as received.
    pub body: Vec<u8>,
}

/// A delivery, split.
#[derive(Debug, Default)]
pub struct Split {
    /// One message per accepted event, in delivery order.
    pub accepted: Vec<IngressMessage>,
    /// The refused elements.
    pub rejected: Vec<Rejected>,
    /// Elements dropped because an earlier element of the same delivery had the same id.
    pub duplicates: usize,
    /// The body as a whole was unreadable (not JSON, not an event or array of events).
    pub unreadable: bool,
}

/// Just enough of an element to judge its type before decoding it.
#[derive(Deserialize)]
struct TypeProbe {
    #[serde(rename = "type")]
    cloud_events: Option<String>,
    #[serde(rename = "eventType")]
    event_grid: Option<String>,
}

/// Why a type is refused, if it is.
pub fn refuse_type(event_type: &str) -> Option<(&'static str, String)> {
    let lower = event_type.to_ascii_lowercase();
    if lower.starts_with(&INTERNAL_TYPE_PREFIX.to_ascii_lowercase()) {
        return Some((
            "ForbiddenEventType",
            format!("{event_type}: internal message types are never accepted from outside"),
        ));
    }
    if !event_type.starts_with(ACCEPTED_TYPE_PREFIX) {
        return Some((
            "ForeignEventType",
            format!("{event_type}: only {ACCEPTED_TYPE_PREFIX}* events are accepted"),
        ));
    }
    None
}

/// Split a delivery body into accepted messages and refused elements.
pub fn split(body: &[u8]) -> Split {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let raws: Vec<&RawValue> = match serde_json::from_slice::<Vec<&RawValue>>(body) {
        Ok(v) => v,
        Err(_) => match serde_json::from_slice::<&RawValue>(body) {
            Ok(one) if one.get().trim_start().starts_with('{') => vec![one],
            _ => {
                let (reason, description) = match switchboard_events::decode(body) {
                    Err(e) => (e.dead_letter_reason(), e.to_string()),
                    Ok(_) => ("NotAnEvent", "not an event or array of events".into()),
                };
                return Split {
                    rejected: vec![Rejected {
                        index: None,
                        reason,
                        description,
                        event_type: None,
                        body: body.to_vec(),
                    }],
                    unreadable: true,
                    ..Split::default()
                };
            }
        },
    };
    let mut out = Split::default();
    let mut seen = HashSet::new();
    for (index, raw) in raws.into_iter().enumerate() {
        match element(raw) {
            Ok(m) => {
                if seen.insert(m.message_id.clone()) {
                    out.accepted.push(m);
                } else {
                    out.duplicates += 1;
                }
            }
            Err((reason, description, event_type)) => out.rejected.push(Rejected {
                index: Some(index),
                reason,
                description,
                event_type,
                body: raw.get().as_bytes().to_vec(),
            }),
        }
    }
    out
}

type Refusal = (&'static str, String, Option<String>);

fn element(raw: &RawValue) -> Result<IngressMessage, Refusal> {
    let bytes = raw.get().as_bytes();
    let probe = serde_json::from_str::<TypeProbe>(raw.get()).ok();
    let probed = probe.and_then(|p| p.cloud_events.or(p.event_grid));
    if let Some(t) = &probed {
        if let Some((reason, description)) = refuse_type(t) {
            return Err((reason, description, probed.clone()));
        }
    }
    let decoded = switchboard_events::decode(bytes)
        .map_err(|e| (e.dead_letter_reason(), e.to_string(), probed.clone()))?;
    let Some(ev) = decoded.events.into_iter().next() else {
        return Err(("NotAnEvent", "no event in the element".into(), probed));
    };
    let event_type = ev.envelope.event_type.clone();
    // The decoder may have found the type where the probe did not (an envelope-less
    // IncomingCall has none: it is judged by its payload's type).
    if let Some((reason, description)) = refuse_type(&event_type) {
        return Err((reason, description, Some(event_type)));
    }
    // A `Microsoft.Communication.*` type this version does not model (Call Automation adds
    // events with new API versions: HoldAudioStarted, MediaStreaming…) is ACS's own and is
    // published; the worker counts it and completes it. Only what ACS would never send is
    // refused above.
    let message_id = match &ev.envelope.id {
        Some(id) if !id.as_ref().is_empty() => id.to_string(),
        // No id: derive one from the bytes so a redelivery still dedupes.
        _ => content_id(bytes),
    };
    let correlation = ev.payload.correlation_id().map(|c| c.to_string());
    let call_connection = ev.payload.call_connection_id().map(|c| c.to_string());
    // The session keeps one call's events in order. Every Call Automation callback has a
    // correlation id; should one arrive without, the call connection id still groups the
    // call's events, and failing that the event is its own session (handled alone, in no
    // particular order against the call's others) rather than refused by the session queue.
    let (session_id, session_from) = match (&correlation, &call_connection) {
        (Some(c), _) => (c.clone(), "correlationId"),
        (None, Some(c)) => (c.clone(), "callConnectionId"),
        (None, None) => (message_id.clone(), "eventId"),
    };
    let mut props = BTreeMap::new();
    props.insert("type".to_string(), ev.payload.short_type().to_string());
    props.insert("eventType".to_string(), event_type);
    if let Some(c) = &call_connection {
        props.insert("callConnectionId".to_string(), c.clone());
    }
    if session_from != "correlationId" {
        props.insert("sessionFrom".to_string(), session_from.to_string());
    }
    Ok(IngressMessage {
        message_id,
        session_id: Some(session_id),
        correlation_id: correlation,
        content_type: "application/json",
        subject: ev.payload.short_type().to_string(),
        application_properties: props,
        body: bytes.to_vec(),
    })
}

fn content_id(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(id: &str, corr: Option<&str>) -> String {
        let corr = corr
            .map(|c| format!(r#","correlationId":"{c}""#))
            .unwrap_or_default();
        format!(
            r#"{{"id":"{id}","source":"calling/callConnections/cc-1","type":"Microsoft.Communication.CallConnected","specversion":"1.0","time":"2024-01-01T00:00:00Z","data":{{"callConnectionId":"cc-1","serverCallId":"s"{corr}}}}}"#
        )
    }

    #[test]
    fn good_elements_survive_bad_neighbours() {
        let body = format!(
            r#"[{}, {{"id":"x","type":"Switchboard.Overflow","specversion":"1.0","source":"s","data":{{}}}}, {{"id":"y","type":"Contoso.Thing","specversion":"1.0","source":"s","data":{{}}}}, 42, {}, {}]"#,
            connected("e1", Some("c1")),
            connected("e2", Some("c1")),
            connected("e1", Some("c1")),
        );
        let s = split(body.as_bytes());
        let ids: Vec<_> = s.accepted.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, ["e1", "e2"]);
        assert_eq!(s.duplicates, 1);
        let reasons: Vec<_> = s.rejected.iter().map(|r| (r.index, r.reason)).collect();
        assert_eq!(
            reasons,
            [
                (Some(1), "ForbiddenEventType"),
                (Some(2), "ForeignEventType"),
                (Some(3), "NotAnEvent")
            ]
        );
        assert!(!s.unreadable);
    }

    #[test]
    fn forged_internal_types_are_refused_whatever_the_case() {
        for t in ["Switchboard.Overflow", "switchboard.timer", "SWITCHBOARD.X"] {
            assert_eq!(refuse_type(t).unwrap().0, "ForbiddenEventType", "{t}");
        }
        assert!(refuse_type("Microsoft.Communication.CallConnected").is_none());
        assert_eq!(
            refuse_type("Microsoft.Storage.BlobCreated").unwrap().0,
            "ForeignEventType"
        );
    }

    #[test]
    fn an_event_without_correlation_id_falls_back_to_the_call_connection() {
        let s = split(connected("e1", None).as_bytes());
        assert_eq!(s.accepted.len(), 1, "{:?}", s.rejected);
        let m = &s.accepted[0];
        assert_eq!(m.session_id.as_deref(), Some("cc-1"));
        assert_eq!(
            m.application_properties
                .get("sessionFrom")
                .map(String::as_str),
            Some("callConnectionId")
        );
    }

    #[test]
    fn an_unreadable_body_is_one_rejection() {
        let s = split(b"[{\"id\":");
        assert!(s.unreadable);
        assert_eq!(s.rejected.len(), 1);
        assert_eq!(s.rejected[0].reason, "NotJson");
    }
}
