//! The simulator's side of the wire: callback CloudEvents, result codes, timestamps and the
//! JSON escaping the real service uses.
//!
//! Shapes follow the live captures in `shared/payloads` (2025-06-15 / 2026-03-12 eras):
//! a callback body is a JSON array holding one CloudEvent whose `data` carries the
//! event-specific fields, then `version`, `operationContext` (when set), `resultInformation`,
//! `callConnectionId`, `serverCallId`, `correlationId` and `publicEventType`. The service
//! serialises with .NET's default encoder, which writes `+` as `\u002B` (so times read
//! `…\u002B00:00` and phone raw ids `4:\u002B1425…`); [`dotnet_escape`] reproduces that.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// `code`/`subCode`/`message` of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultInfo {
    /// HTTP-like status: 200 success, 4xx/5xx failure (603 for a declined invitation).
    pub code: u16,
    /// ACS subcode that says which failure (e.g. 10004 timed out, 8538 declined); 0 for
    /// plain success. Workers branch on `(code, subCode)`, so these must match the service.
    pub sub_code: u32,
    /// The service's human-readable text, including its `DiagCode: …` suffix where the
    /// live captures have one.
    pub message: String,
}

impl ResultInfo {
    /// A result with the given code, subcode and message.
    pub fn new(code: u16, sub_code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            sub_code,
            message: message.into(),
        }
    }

    /// `200/0` with an empty message, as call-state events carry.
    pub fn ok() -> Self {
        Self::new(200, 0, "")
    }
}

/// Result codes the simulator emits. Values seen in live captures are marked (live); the
/// rest follow the ACS troubleshooting table (`call-automation-sdk.md`), see ADR 0004.
pub mod codes {
    use super::ResultInfo;

    /// (live) PlayCompleted / RecognizeCompleted.
    pub fn action_completed() -> ResultInfo {
        ResultInfo::new(200, 0, "Action completed successfully.")
    }
    /// Invitation not answered in time.
    pub fn add_timeout(raw_id: &str) -> ResultInfo {
        ResultInfo::new(
            408,
            10004,
            format!("addParticipants failed for participant {raw_id}. Underlying reason: Call timed out. DiagCode: 408#10004.@"),
        )
    }
    /// Invitation declined (603, subcode 8538 "Callee Declined").
    pub fn add_declined(raw_id: &str) -> ResultInfo {
        ResultInfo::new(
            603,
            8538,
            format!("addParticipants failed for participant {raw_id}. Underlying reason: Callee declined the call. DiagCode: 603#8538.@"),
        )
    }
    /// Target busy (486, subcode 8539 "Callee Busy").
    pub fn add_busy(raw_id: &str) -> ResultInfo {
        ResultInfo::new(
            486,
            8539,
            format!("addParticipants failed for participant {raw_id}. Underlying reason: Callee is busy. DiagCode: 486#8539.@"),
        )
    }
    /// A Teams user the tenant's interop policy does not let our resource reach (403, subcode
    /// 10124, ADR 0010).
    pub fn add_forbidden(raw_id: &str) -> ResultInfo {
        ResultInfo::new(
            403,
            10124,
            format!("addParticipants failed for participant {raw_id}. Underlying reason: Permission check for callee to interact with caller is not allowed. DiagCode: 403#10124.@"),
        )
    }
    /// (live) CancelAddParticipantSucceeded.
    pub fn add_cancelled(raw_id: &str) -> ResultInfo {
        ResultInfo::new(
            487,
            5234,
            format!("addParticipants failed for participant {raw_id}. Underlying reason: The Call Has Been Cancelled. DiagCode: 487#5234.@"),
        )
    }
    /// CancelAddParticipantFailed: the invitation had already completed.
    pub fn cancel_too_late() -> ResultInfo {
        ResultInfo::new(
            400,
            8523,
            "Invitation has already completed and can not be cancelled. DiagCode: 400#8523.@",
        )
    }
    /// CallTransferFailed: the target declined, was busy or did not answer.
    pub fn transfer_failed((code, sub, reason): (u16, u32, &str), raw_id: &str) -> ResultInfo {
        ResultInfo::new(
            code,
            sub,
            format!("Transfer to {raw_id} failed. Underlying reason: {reason}. DiagCode: {code}#{sub}.@"),
        )
    }
    /// (fixture) CallTransferAccepted.
    pub fn transfer_accepted() -> ResultInfo {
        ResultInfo::new(200, 7015, "The transfer operation completed successfully.")
    }
    /// Our leg's CallDisconnected after an accepted transfer.
    pub fn ended_by_transfer() -> ResultInfo {
        ResultInfo::new(
            200,
            7015,
            "Call ended as the transfer completed successfully. DiagCode: 0#7015.@",
        )
    }
    /// (live) CallDisconnected after hang up / terminate through Call Automation.
    pub fn ended_by_api() -> ResultInfo {
        ResultInfo::new(
            200,
            7000,
            "Call was ended by Azure Communication Service Call Automation API or a server bot. DiagCode: 0#7000.@",
        )
    }
    /// (live) CallDisconnected when everyone else left.
    pub fn conversation_ended() -> ResultInfo {
        ResultInfo::new(200, 5002, "The conversation has ended. DiagCode: 0#5002.@")
    }
    /// (live) CallDisconnected when our leg was removed by another participant.
    pub fn removed_by_other() -> ResultInfo {
        ResultInfo::new(
            200,
            5300,
            "Call ended for this participant as it was removed from the conversation by another participant. DiagCode: 0#5300.@",
        )
    }
    /// (live) PlayFailed for a file that is not a supported WAV.
    pub fn invalid_file_format() -> ResultInfo {
        ResultInfo::new(400, 8535, "Action failed, file format is invalid.")
    }
    /// PlayCanceled / RecognizeCanceled.
    pub fn operation_canceled() -> ResultInfo {
        ResultInfo::new(400, 8508, "Action failed, the operation was canceled.")
    }
    /// RecognizeFailed: nobody pressed anything.
    pub fn initial_silence_timeout() -> ResultInfo {
        ResultInfo::new(400, 8510, "Action failed, initial silence timeout reached.")
    }
    /// RecognizeCompleted: `maxTonesToCollect` reached.
    pub fn max_digits() -> ResultInfo {
        ResultInfo::new(200, 8531, "Action completed, max digits received.")
    }
    /// RecognizeCompleted: a stop tone arrived.
    pub fn stop_tone() -> ResultInfo {
        ResultInfo::new(200, 8514, "Action completed, stop tone detected.")
    }
    /// RecognizeCompleted: the caller paused longer than `interToneTimeout`.
    pub fn inter_tone_timeout() -> ResultInfo {
        ResultInfo::new(
            200,
            8532,
            "Action completed, inter-digit silence timeout reached.",
        )
    }
    /// RecognizeCompleted (choices): a choice's tone matched.
    pub fn choice_matched() -> ResultInfo {
        ResultInfo::new(200, 8533, "Action completed, DTMF option matched.")
    }
    /// RecognizeFailed (choices): a tone that is no choice.
    pub fn incorrect_tone() -> ResultInfo {
        ResultInfo::new(400, 8534, "Action failed, incorrect tone entered.")
    }
    /// Recording accepted / state change.
    pub fn recording_ok() -> ResultInfo {
        ResultInfo::ok()
    }
}

/// `2025-06-16T19:26:05.1378311+00:00`: seven fractional digits and an explicit offset, as
/// callback `time` fields carry (before [`dotnet_escape`] turns `+` into `\u002B`).
pub fn acs_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// `2023-04-04T17:18:42.5542219Z`: Event Grid's `eventTime` / CloudEvents `time`.
pub fn event_grid_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// Re-escape compact JSON the way .NET's default `JavaScriptEncoder` does: `+ < > & '` and
/// every non-ASCII character become `\uXXXX` (UTF-16). serde_json never writes these
/// characters outside strings, so a character-level pass is exact.
pub fn dotnet_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    for ch in json.chars() {
        match ch {
            '+' | '<' | '>' | '&' | '\'' => push_u16(&mut out, ch as u16),
            c if !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    push_u16(&mut out, *unit);
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn push_u16(out: &mut String, unit: u16) {
    use std::fmt::Write as _;
    let _ = write!(out, "\\u{unit:04X}");
}

/// The ids every callback of one call carries.
#[derive(Clone, Debug)]
pub struct CallIds {
    /// `data.callConnectionId`; also the default `source`/`subject`
    /// (`calling/callConnections/{id}`).
    pub call_connection_id: String,
    /// `data.serverCallId`.
    pub server_call_id: String,
    /// `data.correlationId`.
    pub correlation_id: String,
    /// `data.version`: the api-version the call was answered/created with.
    pub version: String,
}

/// One callback event before serialisation.
#[derive(Clone, Debug)]
pub struct CallbackEvent {
    /// Short type, e.g. `CallConnected`.
    pub kind: &'static str,
    /// CloudEvent `id`, unique per event; a duplicate delivery reuses it, so workers can
    /// de-duplicate on it.
    pub id: String,
    /// CloudEvent `time`, written with seven fractional digits ([`acs_time`]).
    pub time: OffsetDateTime,
    /// Event-specific `data` fields (`participants`, `sequenceNumber`, `participant`, …).
    pub fields: Map<String, Value>,
    /// `data.operationContext`, echoed from the request that caused the event; left out
    /// when the request had none.
    pub operation_context: Option<String>,
    /// `data.resultInformation`.
    pub result: ResultInfo,
    /// `source`/`subject` override (recording events use `calling/recordings/…`).
    pub source: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DataOut<'a> {
    #[serde(flatten)]
    fields: &'a Map<String, Value>,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_context: Option<&'a str>,
    result_information: &'a ResultInfo,
    call_connection_id: &'a str,
    server_call_id: &'a str,
    correlation_id: &'a str,
    public_event_type: &'a str,
}

#[derive(Serialize)]
struct CloudEventOut<'a> {
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    data: DataOut<'a>,
    time: String,
    specversion: &'static str,
    datacontenttype: &'static str,
    subject: &'a str,
}

impl CallbackEvent {
    /// Full type, e.g. `Microsoft.Communication.CallConnected`.
    pub fn full_type(&self) -> String {
        format!("Microsoft.Communication.{}", self.kind)
    }

    /// The CloudEvent object (no array, no escaping).
    pub fn to_value(&self, ids: &CallIds) -> Value {
        serde_json::from_str(&self.to_json(ids)).unwrap_or(Value::Null)
    }

    /// Compact JSON of the CloudEvent, fields in the service's order (no escaping).
    fn to_json(&self, ids: &CallIds) -> String {
        let full = self.full_type();
        let default_source = format!("calling/callConnections/{}", ids.call_connection_id);
        let source = self.source.as_deref().unwrap_or(&default_source);
        let out = CloudEventOut {
            id: &self.id,
            source,
            event_type: &full,
            data: DataOut {
                fields: &self.fields,
                version: &ids.version,
                operation_context: self.operation_context.as_deref(),
                result_information: &self.result,
                call_connection_id: &ids.call_connection_id,
                server_call_id: &ids.server_call_id,
                correlation_id: &ids.correlation_id,
                public_event_type: &full,
            },
            time: acs_time(self.time),
            specversion: "1.0",
            datacontenttype: "application/json",
            subject: source,
        };
        // Serialising plain strings, numbers and maps cannot fail.
        serde_json::to_string(&out).unwrap_or_else(|_| "{}".into())
    }

    /// The exact POST body: a one-element JSON array, .NET-escaped.
    pub fn to_body(&self, ids: &CallIds) -> Vec<u8> {
        let compact = format!("[{}]", self.to_json(ids));
        dotnet_escape(&compact).into_bytes()
    }
}

/// DTMF tone names of the spec's `Tone` enum, by key.
pub fn tone_name(key: char) -> Option<&'static str> {
    Some(match key.to_ascii_lowercase() {
        '0' => "zero",
        '1' => "one",
        '2' => "two",
        '3' => "three",
        '4' => "four",
        '5' => "five",
        '6' => "six",
        '7' => "seven",
        '8' => "eight",
        '9' => "nine",
        'a' => "a",
        'b' => "b",
        'c' => "c",
        'd' => "d",
        '#' => "pound",
        '*' => "asterisk",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn escaping_preserves_every_json_string(s in "\\PC{0,40}", t in ".{0,10}") {
            let v = serde_json::json!({"a": s, "b": [t, 1, null, true]});
            let compact = serde_json::to_string(&v).unwrap();
            let escaped = dotnet_escape(&compact);
            prop_assert!(escaped.is_ascii());
            prop_assert!(!escaped.contains('+'));
            let back: Value = serde_json::from_str(&escaped).unwrap();
            prop_assert_eq!(back, v);
        }
    }
    use time::macros::datetime;

    #[test]
    fn times_match_the_captures() {
        let t = datetime!(2025-06-16 19:26:05.1378311 UTC);
        assert_eq!(acs_time(t), "2025-06-16T19:26:05.1378311+00:00");
        assert_eq!(event_grid_time(t), "2025-06-16T19:26:05.1378311Z");
        let t = datetime!(2026-01-02 03:04:05 UTC);
        assert_eq!(acs_time(t), "2026-01-02T03:04:05.0000000+00:00");
    }

    #[test]
    fn escaping_like_dotnet() {
        assert_eq!(
            dotnet_escape(
                r#"{"time":"2025-01-01T00:00:00.1+00:00","n":"4:+1425","x":"<a&'b>é😀"}"#
            ),
            r#"{"time":"2025-01-01T00:00:00.1\u002B00:00","n":"4:\u002B1425","x":"\u003Ca\u0026\u0027b\u003E\u00E9\uD83D\uDE00"}"#
        );
        // Still the same JSON value.
        let raw = r#"{"a":"x+y é"}"#;
        let v1: Value = serde_json::from_str(raw).unwrap();
        let v2: Value = serde_json::from_str(&dotnet_escape(raw)).unwrap();
        assert_eq!(v1, v2);
    }

    #[test]
    fn callback_shape_matches_live_capture_layout() {
        let ids = CallIds {
            call_connection_id: "cc1".into(),
            server_call_id: "sc1".into(),
            correlation_id: "corr1".into(),
            version: "2026-03-12".into(),
        };
        let mut fields = Map::new();
        fields.insert("sequenceNumber".into(), Value::from(3));
        let ev = CallbackEvent {
            kind: "ParticipantsUpdated",
            id: "e1".into(),
            time: datetime!(2026-03-12 10:00:00.5 UTC),
            fields,
            operation_context: Some("ctx".into()),
            result: ResultInfo::ok(),
            source: None,
        };
        let body = String::from_utf8(ev.to_body(&ids)).unwrap();
        assert!(body.starts_with(r#"[{"id":"e1","source":"calling/callConnections/cc1","type":"Microsoft.Communication.ParticipantsUpdated","data":{"#));
        assert!(body.contains(r#""time":"2026-03-12T10:00:00.5000000\u002B00:00","specversion":"1.0","datacontenttype":"application/json","subject":"calling/callConnections/cc1"}]"#));
        let v: Value = serde_json::from_str(&body).unwrap();
        let data = &v[0]["data"];
        assert_eq!(data["sequenceNumber"], 3);
        assert_eq!(data["version"], "2026-03-12");
        assert_eq!(data["operationContext"], "ctx");
        assert_eq!(data["resultInformation"]["subCode"], 0);
        assert_eq!(
            data["publicEventType"],
            "Microsoft.Communication.ParticipantsUpdated"
        );
        assert_eq!(data["correlationId"], "corr1");
    }

    #[test]
    fn tones() {
        assert_eq!(tone_name('#'), Some("pound"));
        assert_eq!(tone_name('*'), Some("asterisk"));
        assert_eq!(tone_name('A'), Some("a"));
        assert_eq!(tone_name('x'), None);
    }
}
