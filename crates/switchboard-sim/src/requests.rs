//! Request bodies of the Call Automation operations the simulator acts on, reduced to the
//! fields it reads. Strict schema validation (unknown properties, enums, ranges) happens
//! before these are parsed, against the embedded spec; these structs only pick values out.

use serde::Deserialize;
use switchboard_events::CommunicationIdentifier;

#[derive(Debug, Deserialize)]
pub struct CommunicationUserModel {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct PhoneNumberModel {
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerCallRequest {
    pub incoming_call_context: String,
    pub callback_uri: String,
    #[serde(default)]
    pub operation_context: Option<String>,
    #[serde(default)]
    pub answered_by: Option<CommunicationUserModel>,
    #[serde(default)]
    pub call_intelligence_options: Option<CallIntelligenceOptionsModel>,
}

/// `callIntelligenceOptions` of answer / create: the Azure AI services resource that text to
/// speech and speech recognition on the call use.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallIntelligenceOptionsModel {
    #[serde(default)]
    pub cognitive_services_endpoint: Option<String>,
}

impl CallIntelligenceOptionsModel {
    /// The endpoint, if one was given (blank counts as none).
    pub fn endpoint(opts: Option<&Self>) -> Option<String> {
        opts.and_then(|o| o.cognitive_services_endpoint.as_deref())
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCallRequest {
    pub targets: Vec<CommunicationIdentifier>,
    #[serde(default)]
    pub source_caller_id_number: Option<PhoneNumberModel>,
    #[serde(default)]
    pub source_display_name: Option<String>,
    #[serde(default)]
    pub source: Option<CommunicationUserModel>,
    #[serde(default)]
    pub operation_context: Option<String>,
    pub callback_uri: String,
    #[serde(default)]
    pub call_intelligence_options: Option<CallIntelligenceOptionsModel>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectCallRequest {
    pub incoming_call_context: String,
    pub target: CommunicationIdentifier,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectCallRequest {
    pub incoming_call_context: String,
    #[serde(default)]
    pub call_reject_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferToParticipantRequest {
    pub target_participant: CommunicationIdentifier,
    #[serde(default)]
    pub operation_context: Option<String>,
    #[serde(default)]
    pub transferee: Option<CommunicationIdentifier>,
    #[serde(default)]
    pub operation_callback_uri: Option<String>,
    #[serde(default)]
    pub source_caller_id_number: Option<PhoneNumberModel>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddParticipantRequest {
    pub participant_to_add: CommunicationIdentifier,
    #[serde(default)]
    pub source_caller_id_number: Option<PhoneNumberModel>,
    #[serde(default)]
    pub invitation_timeout_in_seconds: Option<i64>,
    #[serde(default)]
    pub operation_context: Option<String>,
    #[serde(default)]
    pub operation_callback_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveParticipantRequest {
    pub participant_to_remove: CommunicationIdentifier,
    #[serde(default)]
    pub operation_context: Option<String>,
    #[serde(default)]
    pub operation_callback_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAddParticipantRequest {
    pub invitation_id: String,
    #[serde(default)]
    pub operation_context: Option<String>,
    #[serde(default)]
    pub operation_callback_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MuteParticipantsRequest {
    pub target_participants: Vec<CommunicationIdentifier>,
    #[serde(default)]
    pub operation_context: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldRequest {
    pub target_participant: CommunicationIdentifier,
    #[serde(default)]
    pub play_source_info: Option<PlaySource>,
    #[serde(default)]
    pub operation_callback_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnholdRequest {
    pub target_participant: CommunicationIdentifier,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaySource {
    pub kind: String,
    #[serde(default)]
    pub file: Option<FileSource>,
    #[serde(default)]
    pub text: Option<serde_json::Value>,
    #[serde(default)]
    pub ssml: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct FileSource {
    pub uri: String,
}

#[derive(Debug, Deserialize)]
pub struct PlayOptions {
    #[serde(rename = "loop")]
    pub looped: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayRequest {
    pub play_sources: Vec<PlaySource>,
    #[serde(default)]
    pub play_to: Option<Vec<CommunicationIdentifier>>,
    #[serde(default)]
    pub interrupt_call_media_operation: Option<bool>,
    #[serde(default)]
    pub play_options: Option<PlayOptions>,
    #[serde(default)]
    pub operation_context: Option<String>,
    #[serde(default)]
    pub operation_callback_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DtmfOptions {
    #[serde(default)]
    pub inter_tone_timeout_in_seconds: Option<i64>,
    #[serde(default)]
    pub max_tones_to_collect: Option<i64>,
    #[serde(default)]
    pub stop_tones: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct Choice {
    pub label: String,
    #[serde(default)]
    pub tone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecognizeOptions {
    #[serde(default)]
    pub interrupt_prompt: Option<bool>,
    #[serde(default)]
    pub initial_silence_timeout_in_seconds: Option<i64>,
    pub target_participant: CommunicationIdentifier,
    #[serde(default)]
    pub dtmf_options: Option<DtmfOptions>,
    #[serde(default)]
    pub choices: Option<Vec<Choice>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecognizeRequest {
    pub recognize_input_type: String,
    #[serde(default)]
    pub play_prompt: Option<PlaySource>,
    #[serde(default)]
    pub play_prompts: Option<Vec<PlaySource>>,
    #[serde(default)]
    pub interrupt_call_media_operation: Option<bool>,
    pub recognize_options: RecognizeOptions,
    #[serde(default)]
    pub operation_context: Option<String>,
    #[serde(default)]
    pub operation_callback_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallLocator {
    #[serde(default)]
    pub server_call_id: Option<String>,
    #[serde(default)]
    pub group_call_id: Option<String>,
    #[serde(default)]
    pub room_id: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartCallRecordingRequest {
    #[serde(default)]
    pub call_locator: Option<CallLocator>,
    #[serde(default)]
    pub call_connection_id: Option<String>,
    #[serde(default)]
    pub recording_state_callback_uri: Option<String>,
    #[serde(default)]
    pub pause_on_start: Option<bool>,
}

/// Turn a (validated) body into a request struct; serde's message becomes the 400's message.
pub fn from_value<T: serde::de::DeserializeOwned>(
    body: serde_json::Value,
) -> Result<T, crate::error::ApiError> {
    serde_json::from_value(body)
        .map_err(|e| crate::error::ApiError::invalid(format!("Invalid request: {e}")))
}
