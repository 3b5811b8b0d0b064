//! Typed ACS event payloads (the `data` of each event).
//!
//! [`AcsEvent`] has one variant per event type Switchboard understands: `IncomingCall`
//! (Event Grid, `AcsIncomingCallEventData`) and every Call Automation callback defined in
//! the 2026-03-12 OpenAPI, plus `CallTransferFailed`'s transfer fields that the spec leaves
//! out. Anything else becomes [`AcsEvent::Unknown`], which keeps the original type string
//! and the raw `data` so nothing is lost.
//!
//! Every callback struct carries the fields all callbacks share (`callConnectionId`,
//! `serverCallId`, `correlationId`, `operationContext`, `resultInformation`, `version`),
//! all optional because 2022–2023 payloads omit `version`, `resultInformation` and
//! `operationContext`. Unknown fields (`publicEventType`, `eventSource`, the 2022
//! `type: "callConnected"`...) are ignored. Every struct also serialises back to the wire
//! shape, so the simulator and tests can produce events with the same types.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::identifier::CommunicationIdentifier;
use crate::ids::{
    CallConnectionId, CorrelationId, InvitationId, OperationContext, RecordingId, ServerCallId,
};
use crate::result::ResultInformation;

/// Prefix of every ACS event type (`Microsoft.Communication.CallConnected`).
pub const EVENT_TYPE_PREFIX: &str = "Microsoft.Communication.";

/// The signed `incomingCallContext` token from an IncomingCall. Anyone holding it can
/// answer, redirect or reject the call, so it is kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncomingCallContext(String);

impl IncomingCallContext {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, to pass to answer/redirect/reject. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length of the token in bytes (safe to log).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if the token is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for IncomingCallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IncomingCallContext(<redacted {} bytes>)", self.0.len())
    }
}

/// `Microsoft.Communication.IncomingCall`: someone is calling one of our numbers/users.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingCall {
    /// Who was called (our number or ACS user).
    pub to: CommunicationIdentifier,
    /// Who is calling.
    pub from: CommunicationIdentifier,
    /// Caller's display name; often empty, or a raw id in 2022 payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_display_name: Option<String>,
    /// The server call id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_call_id: Option<ServerCallId>,
    /// The call's correlation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    /// The token needed to answer the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incoming_call_context: Option<IncomingCallContext>,
    /// SIP `X-MS-Custom-*` / VoIP headers the caller attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_context: Option<CustomContext>,
    /// Set when the call is made on behalf of someone else (e.g. a Teams resource account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of_callee: Option<CommunicationIdentifier>,
}

impl IncomingCall {
    /// The called party in the form number matching uses: E.164 for phone numbers
    /// (whitespace and punctuation removed, `+` added), the raw id for everything else.
    pub fn normalized_to(&self) -> String {
        self.to.e164().unwrap_or_else(|| self.to.raw_id())
    }
}

/// Custom calling context of an IncomingCall.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomContext {
    /// SIP headers (`userToUser`, `X-MS-Custom-*`).
    #[serde(
        default,
        deserialize_with = "string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub sip_headers: BTreeMap<String, String>,
    /// VoIP headers.
    #[serde(
        default,
        deserialize_with = "string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub voip_headers: BTreeMap<String, String>,
    /// Teams Phone extensibility details, kept raw (Switchboard does not act on them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams_phone_call_details: Option<Value>,
}

/// A header map whose values should be strings; `null` means empty, and scalar values that
/// are not strings are kept in their JSON text form rather than failing the whole call.
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (k, v) in raw.unwrap_or_default() {
        let s = match v {
            Value::String(s) => s,
            Value::Null => continue,
            Value::Array(_) | Value::Object(_) => {
                return Err(D::Error::custom(format!("header {k:?} is not a string")))
            }
            other => other.to_string(),
        };
        out.insert(k, s);
    }
    Ok(out)
}

/// A participant in `ParticipantsUpdated`.
///
/// Since 2023 each entry is `{identifier, isMuted, isOnHold}`; 2022 payloads list bare
/// identifiers. Both read into this type; `is_muted`/`is_on_hold` are `None` when absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallParticipant {
    /// Who.
    pub identifier: CommunicationIdentifier,
    /// Muted, if reported.
    pub is_muted: Option<bool>,
    /// On hold, if reported (added in 2024).
    pub is_on_hold: Option<bool>,
}

impl<'de> Deserialize<'de> for CallParticipant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::<String, Value>::deserialize(d)?;
        let mut flag = |name: &str| match map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(D::Error::custom(format!(
                "participant {name} must be a boolean, got {other}"
            ))),
        };
        let is_muted = flag("isMuted")?;
        let is_on_hold = flag("isOnHold")?;
        let identifier = match map.remove("identifier") {
            Some(v) => CommunicationIdentifier::deserialize(v),
            // 2022 form: the entry itself is the identifier.
            None => CommunicationIdentifier::deserialize(Value::Object(map)),
        }
        .map_err(|e| D::Error::custom(format!("participant identifier: {e}")))?;
        Ok(Self {
            identifier,
            is_muted,
            is_on_hold,
        })
    }
}

impl Serialize for CallParticipant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Out<'a> {
            identifier: &'a CommunicationIdentifier,
            #[serde(skip_serializing_if = "Option::is_none")]
            is_muted: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            is_on_hold: Option<bool>,
        }
        Out {
            identifier: &self.identifier,
            is_muted: self.is_muted,
            is_on_hold: self.is_on_hold,
        }
        .serialize(s)
    }
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A string enum that also accepts values newer than this crate (`Other`), so a new
/// service value never fails an event. Parsing is case-insensitive.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this crate does not know, verbatim.
            Other(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Other(s) => s,
                }
            }

            /// Parses a wire value (case-insensitive); unknown values become `Other`.
            pub fn parse(s: &str) -> Self {
                $(if s.eq_ignore_ascii_case($wire) { return Self::$variant; })*
                Self::Other(s.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::parse(&s))
            }
        }
    };
}

open_enum!(
    /// Recording state in `RecordingStateChanged`.
    RecordingState {
        /// Recording.
        Active => "active",
        /// Not recording (stopped or paused).
        Inactive => "inactive",
    }
);

open_enum!(
    /// Kind of recording in `RecordingStateChanged`.
    RecordingKind {
        /// Recorded by ACS.
        AzureCommunicationServices => "azureCommunicationServices",
        /// Recorded by Teams.
        Teams => "teams",
        /// Teams compliance recording.
        TeamsCompliance => "teamsCompliance",
    }
);

open_enum!(
    /// Which recognizer completed a `RecognizeCompleted`.
    RecognitionType {
        /// DTMF digits.
        Dtmf => "dtmf",
        /// Free speech.
        Speech => "speech",
        /// Choice matching.
        Choices => "choices",
    }
);

open_enum!(
    /// A DTMF tone.
    Tone {
        /// 0
        Zero => "zero",
        /// 1
        One => "one",
        /// 2
        Two => "two",
        /// 3
        Three => "three",
        /// 4
        Four => "four",
        /// 5
        Five => "five",
        /// 6
        Six => "six",
        /// 7
        Seven => "seven",
        /// 8
        Eight => "eight",
        /// 9
        Nine => "nine",
        /// A
        A => "a",
        /// B
        B => "b",
        /// C
        C => "c",
        /// D
        D => "d",
        /// #
        Pound => "pound",
        /// *
        Asterisk => "asterisk",
    }
);

impl Tone {
    /// The keypad character (`'0'`–`'9'`, `'A'`–`'D'`, `'#'`, `'*'`); `None` for `Other`.
    pub fn as_char(&self) -> Option<char> {
        Some(match self {
            Self::Zero => '0',
            Self::One => '1',
            Self::Two => '2',
            Self::Three => '3',
            Self::Four => '4',
            Self::Five => '5',
            Self::Six => '6',
            Self::Seven => '7',
            Self::Eight => '8',
            Self::Nine => '9',
            Self::A => 'A',
            Self::B => 'B',
            Self::C => 'C',
            Self::D => 'D',
            Self::Pound => '#',
            Self::Asterisk => '*',
            Self::Other(_) => return None,
        })
    }
}

/// DTMF result of a `RecognizeCompleted`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtmfResult {
    /// Tones pressed, in order.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tones: Vec<Tone>,
}

impl DtmfResult {
    /// The digits as a string (`"12#"`); tones this crate does not know are skipped.
    pub fn digits(&self) -> String {
        self.tones.iter().filter_map(Tone::as_char).collect()
    }
}

/// Choice result of a `RecognizeCompleted`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChoiceResult {
    /// Label of the matched choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What was said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognized_phrase: Option<String>,
    /// Confidence 0..1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// Speech result of a `RecognizeCompleted`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeechResult {
    /// Recognised text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech: Option<String>,
    /// Confidence 0..1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// Status of a media streaming session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaStreamingUpdate {
    /// `audio`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `mediaStreamingStarted`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_streaming_status: Option<String>,
    /// `subscriptionStarted`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_streaming_status_details: Option<String>,
}

/// Status of a transcription session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptionUpdate {
    /// `transcriptionStarted`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription_status: Option<String>,
    /// `subscriptionStarted`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription_status_details: Option<String>,
}

/// Declares the callback event structs (shared fields + extras) and [`AcsEvent`] with its
/// dispatch and accessors, so a new event type is one line here.
macro_rules! callback_events {
    ($(
        $(#[doc = $doc:expr])*
        $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)? }
    )*) => {
        $(
            $(#[doc = $doc])*
            #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
            #[serde(rename_all = "camelCase")]
            pub struct $name {
                /// The call leg this event is about.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub call_connection_id: Option<CallConnectionId>,
                /// The server call.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub server_call_id: Option<ServerCallId>,
                /// The call's correlation id.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub correlation_id: Option<CorrelationId>,
                /// Echo of the `operationContext` of the request that caused this event.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub operation_context: Option<OperationContext>,
                /// Outcome code (absent before 2024).
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub result_information: Option<ResultInformation>,
                /// Call Automation API version that produced the event (absent before 2023).
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub version: Option<String>,
                $( $(#[$fmeta])* pub $field: $ty, )*
            }
        )*

        /// One decoded ACS event payload.
        #[derive(Clone, Debug, PartialEq)]
        pub enum AcsEvent {
            /// `Microsoft.Communication.IncomingCall`.
            IncomingCall(IncomingCall),
            $(
                $(#[doc = $doc])*
                $name($name),
            )*
            /// Any other event type: the original type string and the raw `data`.
            Unknown {
                /// The full type string as received.
                event_type: String,
                /// The raw `data` (`null` if the envelope had none).
                data: Value,
            },
        }

        /// Short names of every event type with a typed variant.
        pub const KNOWN_EVENT_TYPES: &[&str] = &["IncomingCall", $(stringify!($name),)*];

        impl AcsEvent {
            /// The short type name (`CallConnected`, `IncomingCall`); `Unknown` for
            /// [`AcsEvent::Unknown`] (its full type is in the variant and the envelope).
            pub fn short_type(&self) -> &str {
                match self {
                    Self::IncomingCall(_) => "IncomingCall",
                    $(Self::$name(_) => stringify!($name),)*
                    Self::Unknown { .. } => "Unknown",
                }
            }

            /// The full type string (`Microsoft.Communication.CallConnected`).
            pub fn event_type(&self) -> String {
                match self {
                    Self::Unknown { event_type, .. } => event_type.clone(),
                    other => format!("{EVENT_TYPE_PREFIX}{}", other.short_type()),
                }
            }

            /// The call connection id carried in `data` (never set on IncomingCall).
            pub fn call_connection_id(&self) -> Option<&CallConnectionId> {
                match self {
                    Self::IncomingCall(_) | Self::Unknown { .. } => None,
                    $(Self::$name(e) => e.call_connection_id.as_ref(),)*
                }
            }

            /// The server call id.
            pub fn server_call_id(&self) -> Option<&ServerCallId> {
                match self {
                    Self::IncomingCall(e) => e.server_call_id.as_ref(),
                    Self::Unknown { .. } => None,
                    $(Self::$name(e) => e.server_call_id.as_ref(),)*
                }
            }

            /// The correlation id.
            pub fn correlation_id(&self) -> Option<&CorrelationId> {
                match self {
                    Self::IncomingCall(e) => e.correlation_id.as_ref(),
                    Self::Unknown { .. } => None,
                    $(Self::$name(e) => e.correlation_id.as_ref(),)*
                }
            }

            /// The operation context echoed back from our request.
            pub fn operation_context(&self) -> Option<&OperationContext> {
                match self {
                    Self::IncomingCall(_) | Self::Unknown { .. } => None,
                    $(Self::$name(e) => e.operation_context.as_ref(),)*
                }
            }

            /// The result information, when the event carries one.
            pub fn result_information(&self) -> Option<&ResultInformation> {
                match self {
                    Self::IncomingCall(_) | Self::Unknown { .. } => None,
                    $(Self::$name(e) => e.result_information.as_ref(),)*
                }
            }

            /// The Call Automation API version in `data.version`, when present.
            pub fn version(&self) -> Option<&str> {
                match self {
                    Self::IncomingCall(_) | Self::Unknown { .. } => None,
                    $(Self::$name(e) => e.version.as_deref(),)*
                }
            }

            /// Builds the typed payload for `event_type` from its `data`.
            ///
            /// The type is matched on its short name after the `Microsoft.Communication.`
            /// prefix (both case-insensitively); other types become `Unknown` with `data`
            /// kept as is. For a known type `data` must be a JSON object that fits the
            /// type; the error says why not.
            pub fn from_data(event_type: &str, data: Value) -> Result<Self, PayloadError> {
                let Some(short) = short_name(event_type) else {
                    return Ok(Self::Unknown { event_type: event_type.to_owned(), data });
                };
                let known = |name: &str| short.eq_ignore_ascii_case(name);
                if known("IncomingCall") {
                    return Ok(Self::IncomingCall(typed_data(data)?));
                }
                $(
                    if known(stringify!($name)) {
                        return Ok(Self::$name(typed_data(data)?));
                    }
                )*
                Ok(Self::Unknown { event_type: event_type.to_owned(), data })
            }
        }

        impl Serialize for AcsEvent {
            /// Serialises the `data` object only (the envelope is [`crate::Envelope`]'s job).
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    Self::IncomingCall(e) => e.serialize(s),
                    $(Self::$name(e) => e.serialize(s),)*
                    Self::Unknown { data, .. } => data.serialize(s),
                }
            }
        }

        $(
            impl From<$name> for AcsEvent {
                fn from(e: $name) -> Self {
                    Self::$name(e)
                }
            }
        )*
    };
}

impl From<IncomingCall> for AcsEvent {
    fn from(e: IncomingCall) -> Self {
        Self::IncomingCall(e)
    }
}

/// Why a known event type's `data` could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// `data` is missing, `null`, or not a JSON object.
    #[error("data must be a JSON object, got {got}")]
    NotAnObject {
        /// What was there instead (`null`, `array`, `string`...).
        got: &'static str,
    },
    /// `data` is an object but a field has the wrong shape.
    #[error("{0}")]
    Invalid(String),
}

/// The short type name if `event_type` is `Microsoft.Communication.<Name>`.
fn short_name(event_type: &str) -> Option<&str> {
    let prefix = event_type.get(..EVENT_TYPE_PREFIX.len())?;
    if prefix.eq_ignore_ascii_case(EVENT_TYPE_PREFIX) {
        event_type.get(EVENT_TYPE_PREFIX.len()..)
    } else {
        None
    }
}

/// JSON type name for error messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn typed_data<T: serde::de::DeserializeOwned>(data: Value) -> Result<T, PayloadError> {
    // Serde's derived structs also accept JSON arrays (as sequences); an event's data is
    // always an object, so anything else is rejected up front.
    if !data.is_object() {
        return Err(PayloadError::NotAnObject {
            got: json_kind(&data),
        });
    }
    serde_json::from_value(data).map_err(|e| PayloadError::Invalid(e.to_string()))
}

callback_events! {
    /// `CallConnected`: the call leg is established (after answer or create).
    CallConnected {}
    /// `CallDisconnected`: the call leg ended; no more events for it.
    CallDisconnected {}
    /// `CreateCallFailed`: an outbound call could not be established.
    CreateCallFailed {}
    /// `AnswerFailed`: answering an incoming call failed.
    AnswerFailed {}
    /// `ConnectFailed`: connecting to a room/call failed.
    ConnectFailed {}
    /// `ParticipantsUpdated`: the full participant list after a change.
    ParticipantsUpdated {
        /// Increases with each update of this call; use it to drop stale updates.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sequence_number: Option<i64>,
        /// Everyone in the call now.
        #[serde(default, deserialize_with = "null_as_empty")]
        participants: Vec<CallParticipant>,
    }
    /// `AddParticipantSucceeded`: the invitee answered.
    AddParticipantSucceeded {
        /// Who was added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<CommunicationIdentifier>,
    }
    /// `AddParticipantFailed`: the invitee did not join (timeout, declined, busy...).
    AddParticipantFailed {
        /// Who was invited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<CommunicationIdentifier>,
    }
    /// `RemoveParticipantSucceeded`.
    RemoveParticipantSucceeded {
        /// Who was removed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<CommunicationIdentifier>,
    }
    /// `RemoveParticipantFailed`.
    RemoveParticipantFailed {
        /// Who was to be removed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<CommunicationIdentifier>,
    }
    /// `CancelAddParticipantSucceeded`: a pending invitation was withdrawn (result 487).
    CancelAddParticipantSucceeded {
        /// The withdrawn invitation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invitation_id: Option<InvitationId>,
    }
    /// `CancelAddParticipantFailed`: too late to withdraw (the invitee may have answered).
    CancelAddParticipantFailed {
        /// The invitation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invitation_id: Option<InvitationId>,
    }
    /// `CallTransferAccepted`: the transfer target accepted; our leg will drop.
    CallTransferAccepted {
        /// Where the call was transferred.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfer_target: Option<CommunicationIdentifier>,
        /// Who was transferred.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transferee: Option<CommunicationIdentifier>,
    }
    /// `CallTransferFailed`. The 2026-03-12 spec lists no transfer fields here, but the
    /// SDKs model them and they cost nothing when absent.
    CallTransferFailed {
        /// Where the call was to be transferred.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfer_target: Option<CommunicationIdentifier>,
        /// Who was to be transferred.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transferee: Option<CommunicationIdentifier>,
    }
    /// `MoveParticipantSucceeded`.
    MoveParticipantSucceeded {
        /// Who was moved.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<CommunicationIdentifier>,
        /// The call (connection id) they came from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_call: Option<String>,
    }
    /// `MoveParticipantFailed`.
    MoveParticipantFailed {
        /// Who was to be moved.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<CommunicationIdentifier>,
        /// The call they were to come from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_call: Option<String>,
    }
    /// `PlayStarted`.
    PlayStarted {}
    /// `PlayCompleted`.
    PlayCompleted {}
    /// `PlayFailed`.
    PlayFailed {
        /// Index of the play source that failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed_play_source_index: Option<i64>,
    }
    /// `PlayCanceled`.
    PlayCanceled {}
    /// `RecognizeCompleted`: DTMF/speech/choice input collected.
    RecognizeCompleted {
        /// Which recognizer produced the result.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recognition_type: Option<RecognitionType>,
        /// DTMF tones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dtmf_result: Option<DtmfResult>,
        /// Matched choice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        choice_result: Option<ChoiceResult>,
        /// Recognised speech.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speech_result: Option<SpeechResult>,
    }
    /// `RecognizeFailed` (silence timeout, invalid tone...).
    RecognizeFailed {
        /// Index of the prompt that failed, if a prompt failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed_play_source_index: Option<i64>,
    }
    /// `RecognizeCanceled`.
    RecognizeCanceled {}
    /// `ContinuousDtmfRecognitionToneReceived`.
    ContinuousDtmfRecognitionToneReceived {
        /// Order of this tone in the stream.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sequence_id: Option<i64>,
        /// The tone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tone: Option<Tone>,
    }
    /// `ContinuousDtmfRecognitionToneFailed`.
    ContinuousDtmfRecognitionToneFailed {}
    /// `ContinuousDtmfRecognitionStopped`.
    ContinuousDtmfRecognitionStopped {}
    /// `SendDtmfTonesCompleted`.
    SendDtmfTonesCompleted {}
    /// `SendDtmfTonesFailed`.
    SendDtmfTonesFailed {}
    /// `RecordingStateChanged`. Its subject/source is `calling/recordings/...`, not a call
    /// connection.
    RecordingStateChanged {
        /// The recording.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording_id: Option<RecordingId>,
        /// Active or inactive.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<RecordingState>,
        /// When recording started, verbatim (parse with [`crate::parse_timestamp`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_date_time: Option<String>,
        /// Who records.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording_kind: Option<RecordingKind>,
    }
    /// `StartRecordingFailed`.
    StartRecordingFailed {
        /// The recording that failed to start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording_id: Option<RecordingId>,
    }
    /// `HoldFailed`.
    HoldFailed {}
    /// `MediaStreamingStarted`.
    MediaStreamingStarted {
        /// Streaming status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_streaming_update: Option<MediaStreamingUpdate>,
    }
    /// `MediaStreamingStopped`.
    MediaStreamingStopped {
        /// Streaming status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_streaming_update: Option<MediaStreamingUpdate>,
    }
    /// `MediaStreamingFailed`.
    MediaStreamingFailed {
        /// Streaming status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_streaming_update: Option<MediaStreamingUpdate>,
    }
    /// `TranscriptionStarted`.
    TranscriptionStarted {
        /// Transcription status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcription_update: Option<TranscriptionUpdate>,
    }
    /// `TranscriptionStopped`.
    TranscriptionStopped {
        /// Transcription status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcription_update: Option<TranscriptionUpdate>,
    }
    /// `TranscriptionUpdated`.
    TranscriptionUpdated {
        /// Transcription status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcription_update: Option<TranscriptionUpdate>,
    }
    /// `TranscriptionFailed`.
    TranscriptionFailed {
        /// Transcription status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcription_update: Option<TranscriptionUpdate>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dispatches_by_short_name_case_insensitively() {
        let e = AcsEvent::from_data(
            "Microsoft.Communication.CallConnected",
            json!({"callConnectionId": "c1", "publicEventType": "x"}),
        )
        .unwrap();
        assert_eq!(e.short_type(), "CallConnected");
        assert_eq!(e.call_connection_id().unwrap(), "c1");
        let e = AcsEvent::from_data("microsoft.communication.callconnected", json!({})).unwrap();
        assert_eq!(e.short_type(), "CallConnected");
        assert_eq!(e.event_type(), "Microsoft.Communication.CallConnected");
    }

    #[test]
    fn unknown_types_keep_type_and_data() {
        for t in [
            "Microsoft.Communication.HoldAudioStarted",
            "Microsoft.EventGrid.SubscriptionValidationEvent",
            "Microsoft.Communication.",
            "",
            "Micro",
        ] {
            let data = json!({"a": [1, 2]});
            let e = AcsEvent::from_data(t, data.clone()).unwrap();
            assert_eq!(
                e,
                AcsEvent::Unknown {
                    event_type: t.to_owned(),
                    data
                }
            );
            assert_eq!(e.short_type(), "Unknown");
            assert_eq!(e.event_type(), t);
        }
        // Unknown types accept any data, even none.
        assert!(AcsEvent::from_data("X", Value::Null).is_ok());
    }

    #[test]
    fn known_types_need_object_data() {
        for (data, got) in [
            (Value::Null, "null"),
            (json!([]), "array"),
            (json!("x"), "string"),
            (json!(1), "number"),
        ] {
            assert_eq!(
                AcsEvent::from_data("Microsoft.Communication.CallConnected", data),
                Err(PayloadError::NotAnObject { got })
            );
        }
        let err = AcsEvent::from_data(
            "Microsoft.Communication.ParticipantsUpdated",
            json!({"participants": [{"identifier": {}}]}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("participant identifier"), "{err}");
        let err = AcsEvent::from_data(
            "Microsoft.Communication.ParticipantsUpdated",
            json!({"sequenceNumber": "three"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }

    #[test]
    fn participants_flat_and_wrapped() {
        let e = AcsEvent::from_data(
            "Microsoft.Communication.ParticipantsUpdated",
            json!({
                "participants": [
                    {"rawId": "8:orgid:o1"},
                    {"identifier": {"rawId": "4:+1555"}, "isMuted": true, "isOnHold": null},
                    {"identifier": {"kind": "microsoftTeamsUser", "rawId": "8:orgid:o2", "microsoftTeamsUser": {"userId": "o2"}}, "isMuted": false, "isOnHold": true}
                ],
                "sequenceNumber": 7
            }),
        )
        .unwrap();
        let AcsEvent::ParticipantsUpdated(p) = e else {
            panic!("wrong variant")
        };
        assert_eq!(p.sequence_number, Some(7));
        assert_eq!(
            p.participants,
            vec![
                CallParticipant {
                    identifier: CommunicationIdentifier::teams_user("o1"),
                    is_muted: None,
                    is_on_hold: None
                },
                CallParticipant {
                    identifier: CommunicationIdentifier::phone("+1555"),
                    is_muted: Some(true),
                    is_on_hold: None
                },
                CallParticipant {
                    identifier: CommunicationIdentifier::teams_user("o2"),
                    is_muted: Some(false),
                    is_on_hold: Some(true)
                },
            ]
        );
        let bad = AcsEvent::from_data(
            "Microsoft.Communication.ParticipantsUpdated",
            json!({"participants": [{"rawId": "x", "isMuted": "yes"}]}),
        )
        .unwrap_err();
        assert!(
            bad.to_string().contains("isMuted must be a boolean"),
            "{bad}"
        );
        // null participants list reads as empty.
        let e = AcsEvent::from_data(
            "Microsoft.Communication.ParticipantsUpdated",
            json!({"participants": null}),
        )
        .unwrap();
        assert!(matches!(e, AcsEvent::ParticipantsUpdated(p) if p.participants.is_empty()));
    }

    #[test]
    fn incoming_call_context_is_redacted_in_debug() {
        let ic: IncomingCall = serde_json::from_value(json!({
            "to": {"rawId": "4:+14255550123"},
            "from": {"rawId": "4:+16045550100"},
            "incomingCallContext": "eyJhbGciOiJub25lIn0.secret.sig",
            "customContext": {"sipHeaders": {"X-MS-Custom-n": 5, "empty": null}, "voipHeaders": null}
        }))
        .unwrap();
        let dbg = format!("{ic:?}");
        assert!(!dbg.contains("secret"), "{dbg}");
        assert!(dbg.contains("<redacted 30 bytes>"), "{dbg}");
        assert_eq!(
            ic.incoming_call_context.as_ref().unwrap().expose(),
            "eyJhbGciOiJub25lIn0.secret.sig"
        );
        let cc = ic.custom_context.as_ref().unwrap();
        assert_eq!(
            cc.sip_headers.get("X-MS-Custom-n").map(String::as_str),
            Some("5")
        );
        assert!(!cc.sip_headers.contains_key("empty"));
        assert!(cc.voip_headers.is_empty());
        assert_eq!(ic.normalized_to(), "+14255550123");
    }

    #[test]
    fn normalized_to_uses_raw_id_for_non_phones() {
        let ic: IncomingCall = serde_json::from_value(json!({
            "to": {"kind": "communicationUser", "rawId": "8:acs:r_u", "communicationUser": {"id": "8:acs:r_u"}},
            "from": {"rawId": "8:orgid:o"}
        }))
        .unwrap();
        assert_eq!(ic.normalized_to(), "8:acs:r_u");
        let ic: IncomingCall = serde_json::from_value(json!({
            "to": {"kind": "phoneNumber", "phoneNumber": {"value": "+1 425 555 0123"}},
            "from": {"rawId": "4:anonymous"}
        }))
        .unwrap();
        assert_eq!(ic.normalized_to(), "+14255550123");
        // IncomingCall without a caller or callee cannot be routed: it is an error.
        assert!(serde_json::from_value::<IncomingCall>(json!({"to": {"rawId": "4:+1"}})).is_err());
    }

    #[test]
    fn recognize_completed_dtmf_digits() {
        let e = AcsEvent::from_data(
            "Microsoft.Communication.RecognizeCompleted",
            json!({"recognitionType": "dtmf", "dtmfResult": {"tones": ["one", "two", "pound", "hash?"]}}),
        )
        .unwrap();
        let AcsEvent::RecognizeCompleted(r) = e else {
            panic!("wrong variant")
        };
        assert_eq!(r.recognition_type, Some(RecognitionType::Dtmf));
        assert_eq!(r.dtmf_result.as_ref().unwrap().digits(), "12#");
        assert_eq!(
            r.dtmf_result.unwrap().tones[3],
            Tone::Other("hash?".to_owned())
        );
    }

    #[test]
    fn events_serialise_back_to_wire_shape() {
        let e = AcsEvent::from(AddParticipantFailed {
            call_connection_id: Some("c1".into()),
            result_information: Some(ResultInformation::new(408, 10004, "timeout")),
            participant: Some(CommunicationIdentifier::teams_user("o1")),
            ..Default::default()
        });
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            json!({
                "callConnectionId": "c1",
                "resultInformation": {"code": 408, "subCode": 10004, "message": "timeout"},
                "participant": {"kind": "microsoftTeamsUser", "rawId": "8:orgid:o1", "microsoftTeamsUser": {"userId": "o1", "isAnonymous": false, "cloud": "public"}}
            })
        );
        assert_eq!(AcsEvent::from_data(&e.event_type(), v).unwrap(), e);
    }

    #[test]
    fn known_list_matches_dispatch() {
        for name in KNOWN_EVENT_TYPES {
            let data = if *name == "IncomingCall" {
                json!({"to": {"rawId": "4:+1"}, "from": {"rawId": "4:+2"}})
            } else {
                json!({})
            };
            let e = AcsEvent::from_data(&format!("{EVENT_TYPE_PREFIX}{name}"), data).unwrap();
            assert_eq!(e.short_type(), *name);
        }
        // 38 Call Automation callbacks in the 2026-03-12 spec, plus IncomingCall (checked
        // against the spec itself in tests/spec_coverage.rs).
        assert_eq!(KNOWN_EVENT_TYPES.len(), 39);
    }
}
