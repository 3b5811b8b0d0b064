//! One-line summaries of events, as printed by `switchboard events inspect`.
//!
//! The JSON summary is a stable, flat view for humans, scripts and snapshot tests:
//! `type`, `eventType`, `schema`, `id`, `time`, `callConnectionId`, `serverCallId`,
//! `correlationId`, `operationContext`, `result` (`{code, subCode, message}`), always
//! present and `null` when absent, plus per-type fields (see [`inspect_json`]).

use serde_json::{json, Map, Value};

use crate::envelope::Event;
use crate::events::{AcsEvent, CallParticipant};
use crate::identifier::CommunicationIdentifier;
use crate::result::ResultInformation;
use crate::timestamp::format_timestamp;

/// An identifier as `{rawId, kind, …}`: plus `userId`, `isAnonymous`, `cloud` for Teams
/// users; `phoneNumber` (E.164, `null` if anonymous or not a number), `isAnonymous` and
/// `assertedId` for phones; `appId`, `cloud` for Teams apps; `userId`, `tenantId`,
/// `resourceId`, `cloud` for Teams extension users.
pub fn identifier_json(id: &CommunicationIdentifier) -> Value {
    let mut m = Map::new();
    m.insert("rawId".into(), id.raw_id().into());
    m.insert("kind".into(), id.kind().into());
    match id {
        CommunicationIdentifier::MicrosoftTeamsUser {
            user_id,
            is_anonymous,
            cloud,
        } => {
            m.insert("userId".into(), user_id.as_str().into());
            m.insert("isAnonymous".into(), (*is_anonymous).into());
            m.insert("cloud".into(), cloud.as_str().into());
        }
        CommunicationIdentifier::PhoneNumber {
            is_anonymous,
            asserted_id,
            ..
        } => {
            m.insert("phoneNumber".into(), id.e164().into());
            m.insert("isAnonymous".into(), (*is_anonymous).into());
            if let Some(a) = asserted_id {
                m.insert("assertedId".into(), a.as_str().into());
            }
        }
        CommunicationIdentifier::MicrosoftTeamsApp { app_id, cloud } => {
            m.insert("appId".into(), app_id.as_str().into());
            m.insert("cloud".into(), cloud.as_str().into());
        }
        CommunicationIdentifier::TeamsExtensionUser {
            user_id,
            tenant_id,
            resource_id,
            cloud,
        } => {
            m.insert("userId".into(), user_id.as_str().into());
            m.insert("tenantId".into(), tenant_id.as_str().into());
            m.insert("resourceId".into(), resource_id.as_str().into());
            m.insert("cloud".into(), cloud.as_str().into());
        }
        CommunicationIdentifier::CommunicationUser { .. }
        | CommunicationIdentifier::Unknown { .. } => {}
    }
    Value::Object(m)
}

fn opt_identifier(id: Option<&CommunicationIdentifier>) -> Value {
    id.map(identifier_json).unwrap_or(Value::Null)
}

fn participant_json(p: &CallParticipant) -> Value {
    let mut v = identifier_json(&p.identifier);
    if let Value::Object(m) = &mut v {
        m.insert("isMuted".into(), p.is_muted.into());
        m.insert("isOnHold".into(), p.is_on_hold.into());
    }
    v
}

fn result_json(r: Option<&ResultInformation>) -> Value {
    match r {
        Some(r) => json!({"code": r.code, "subCode": r.sub_code, "message": r.message}),
        None => Value::Null,
    }
}

fn opt_str<T: AsRef<str>>(v: Option<T>) -> Value {
    v.map(|s| Value::String(s.as_ref().to_owned()))
        .unwrap_or(Value::Null)
}

/// The JSON summary of one event.
///
/// Per type: IncomingCall `to`, `from`, `callerDisplayName`, `hasIncomingCallContext`;
/// ParticipantsUpdated `sequenceNumber`, `participants` (identifier fields plus `isMuted`,
/// `isOnHold`); Add/Remove/MoveParticipant* `participant`; CancelAddParticipant*
/// `invitationId`; CallTransfer* `transferTarget`, `transferee`; RecordingStateChanged
/// `recordingId`, `state`; PlayFailed/RecognizeFailed `failedPlaySourceIndex`;
/// RecognizeCompleted `recognitionType`, `dtmf`; ContinuousDtmfRecognitionToneReceived
/// `tone`, `sequenceId`.
pub fn inspect_json(event: &Event) -> Value {
    let env = &event.envelope;
    let time = env
        .time
        .map(format_timestamp)
        .or_else(|| env.time_raw.clone());
    let mut m = Map::new();
    m.insert("type".into(), event.short_type().into());
    m.insert("eventType".into(), env.event_type.as_str().into());
    m.insert("schema".into(), env.schema.as_str().into());
    m.insert("id".into(), opt_str(env.id.as_ref()));
    m.insert("time".into(), opt_str(time));
    m.insert(
        "callConnectionId".into(),
        opt_str(event.call_connection_id()),
    );
    m.insert("serverCallId".into(), opt_str(event.server_call_id()));
    m.insert("correlationId".into(), opt_str(event.correlation_id()));
    m.insert(
        "operationContext".into(),
        opt_str(event.operation_context()),
    );
    m.insert("result".into(), result_json(event.result_information()));
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    match &event.payload {
        AcsEvent::IncomingCall(e) => {
            put("to", identifier_json(&e.to));
            put("from", identifier_json(&e.from));
            put("callerDisplayName", opt_str(e.caller_display_name.as_ref()));
            put(
                "hasIncomingCallContext",
                e.incoming_call_context
                    .as_ref()
                    .is_some_and(|c| !c.is_empty())
                    .into(),
            );
        }
        AcsEvent::ParticipantsUpdated(e) => {
            put("sequenceNumber", e.sequence_number.into());
            put(
                "participants",
                Value::Array(e.participants.iter().map(participant_json).collect()),
            );
        }
        AcsEvent::AddParticipantSucceeded(e) => {
            put("participant", opt_identifier(e.participant.as_ref()))
        }
        AcsEvent::AddParticipantFailed(e) => {
            put("participant", opt_identifier(e.participant.as_ref()))
        }
        AcsEvent::RemoveParticipantSucceeded(e) => {
            put("participant", opt_identifier(e.participant.as_ref()))
        }
        AcsEvent::RemoveParticipantFailed(e) => {
            put("participant", opt_identifier(e.participant.as_ref()))
        }
        AcsEvent::MoveParticipantSucceeded(e) => {
            put("participant", opt_identifier(e.participant.as_ref()))
        }
        AcsEvent::MoveParticipantFailed(e) => {
            put("participant", opt_identifier(e.participant.as_ref()))
        }
        AcsEvent::CancelAddParticipantSucceeded(e) => {
            put("invitationId", opt_str(e.invitation_id.as_ref()))
        }
        AcsEvent::CancelAddParticipantFailed(e) => {
            put("invitationId", opt_str(e.invitation_id.as_ref()))
        }
        AcsEvent::CallTransferAccepted(e) => {
            put("transferTarget", opt_identifier(e.transfer_target.as_ref()));
            put("transferee", opt_identifier(e.transferee.as_ref()));
        }
        AcsEvent::CallTransferFailed(e) => {
            put("transferTarget", opt_identifier(e.transfer_target.as_ref()));
            put("transferee", opt_identifier(e.transferee.as_ref()));
        }
        AcsEvent::RecordingStateChanged(e) => {
            put("recordingId", opt_str(e.recording_id.as_ref()));
            put("state", opt_str(e.state.as_ref().map(|s| s.as_str())));
        }
        AcsEvent::PlayFailed(e) => put("failedPlaySourceIndex", e.failed_play_source_index.into()),
        AcsEvent::RecognizeFailed(e) => {
            put("failedPlaySourceIndex", e.failed_play_source_index.into())
        }
        AcsEvent::RecognizeCompleted(e) => {
            put(
                "recognitionType",
                opt_str(e.recognition_type.as_ref().map(|t| t.as_str())),
            );
            put("dtmf", opt_str(e.dtmf_result.as_ref().map(|d| d.digits())));
        }
        AcsEvent::ContinuousDtmfRecognitionToneReceived(e) => {
            put("tone", opt_str(e.tone.as_ref().map(|t| t.as_str())));
            put("sequenceId", e.sequence_id.into());
        }
        _ => {}
    }
    Value::Object(m)
}

/// A compact human-readable line: the short type, then `key=value` pairs for the fields
/// that are present (identifiers by raw id).
pub fn inspect_text(event: &Event) -> String {
    let Value::Object(m) = inspect_json(event) else {
        return event.short_type().to_owned();
    };
    let mut out = String::from(event.short_type());
    for (k, v) in &m {
        if k == "type" || v.is_null() {
            continue;
        }
        let shown = match (k.as_str(), v) {
            ("result", Value::Object(r)) => {
                let part = |f: &str| {
                    r.get(f)
                        .filter(|v| !v.is_null())
                        .map(Value::to_string)
                        .unwrap_or_else(|| "-".into())
                };
                format!("{}/{}", part("code"), part("subCode"))
            }
            (_, Value::Object(id)) => id
                .get("rawId")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
            ("participants", Value::Array(ps)) => {
                let ids: Vec<&str> = ps
                    .iter()
                    .map(|p| p.get("rawId").and_then(Value::as_str).unwrap_or("?"))
                    .collect();
                format!("[{}]", ids.join(","))
            }
            (_, Value::String(s)) => s.clone(),
            (_, other) => other.to_string(),
        };
        out.push(' ');
        out.push_str(k);
        out.push('=');
        out.push_str(&shown);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> Event {
        crate::decode(body.as_bytes()).unwrap().events.remove(0)
    }

    #[test]
    fn common_fields_are_always_present() {
        let v = inspect_json(&one(
            r#"{"specversion":"1.0","type":"Microsoft.Communication.CallConnected","data":{}}"#,
        ));
        for k in [
            "type",
            "eventType",
            "schema",
            "id",
            "time",
            "callConnectionId",
            "serverCallId",
            "correlationId",
            "operationContext",
            "result",
        ] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        assert_eq!(v["result"], Value::Null);
        assert_eq!(v["schema"], "cloudevents");
    }

    #[test]
    fn identifiers_and_participants() {
        let v = inspect_json(&one(
            r#"{"specversion":"1.0","type":"Microsoft.Communication.ParticipantsUpdated","data":{"sequenceNumber":2,"participants":[
                {"identifier":{"rawId":"8:gcch:o1"},"isMuted":true},
                {"identifier":{"rawId":"4:+1 425 555 0123"},"isMuted":false,"isOnHold":true},
                {"identifier":{"rawId":"4:anonymous"}}
            ]}}"#,
        ));
        assert_eq!(
            v["participants"],
            json!([
                {"rawId": "8:gcch:o1", "kind": "microsoftTeamsUser", "userId": "o1", "isAnonymous": false, "cloud": "gcch", "isMuted": true, "isOnHold": null},
                {"rawId": "4:+1 425 555 0123", "kind": "phoneNumber", "phoneNumber": "+14255550123", "isAnonymous": false, "isMuted": false, "isOnHold": true},
                {"rawId": "4:anonymous", "kind": "phoneNumber", "phoneNumber": null, "isAnonymous": true, "isMuted": null, "isOnHold": null}
            ])
        );
        assert_eq!(v["sequenceNumber"], 2);
    }

    #[test]
    fn text_line() {
        let line = inspect_text(&one(
            r#"[{"specversion":"1.0","id":"e1","type":"Microsoft.Communication.AddParticipantFailed","time":"2025-01-01T00:00:00.1234567+00:00","data":{"callConnectionId":"c1","resultInformation":{"code":408,"subCode":10004,"message":"x"},"participant":{"rawId":"8:orgid:o1"}}}]"#,
        ));
        assert_eq!(
            line,
            "AddParticipantFailed callConnectionId=c1 eventType=Microsoft.Communication.AddParticipantFailed id=e1 participant=8:orgid:o1 result=408/10004 schema=cloudevents time=2025-01-01T00:00:00.1234567Z"
        );
    }
}
