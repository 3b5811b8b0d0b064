//! Call-level models: create, answer, redirect, reject, and the call connection itself.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_events::{
    CallConnectionId, CommunicationIdentifier, CorrelationId, OperationContext, ServerCallId,
};

use super::enums::{
    AudioFormat, CallConnectionState, CallRejectReason, MediaStreamingAudioChannelType,
    MediaStreamingContentType, SubscriptionState, TranscriptionResultType,
};
use super::identifiers::{
    CommunicationUserIdentifier, MicrosoftTeamsAppIdentifier, PhoneNumberIdentifier,
};
use super::validate::{check_identifier, check_non_empty, check_uri, Validate};

/// `CreateCallRequest`: place an outbound call (to a phone number, an ACS user, or a Teams
/// user).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCallRequest {
    /// Who to call (one target for a 1:1 call; several for a group call).
    pub targets: Vec<CommunicationIdentifier>,
    /// Caller id shown to PSTN targets; required when calling a phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_caller_id_number: Option<PhoneNumberIdentifier>,
    /// Display name shown to the targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_display_name: Option<String>,
    /// The ACS identity placing the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<CommunicationUserIdentifier>,
    /// Echoed on the events this call causes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// Where Call Automation posts this call's events.
    pub callback_uri: String,
    /// Cognitive Services for play/recognize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_intelligence_options: Option<CallIntelligenceOptions>,
    /// Media streaming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_streaming_options: Option<MediaStreamingOptions>,
    /// Live transcription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription_options: Option<TranscriptionOptions>,
    /// Call on behalf of a Teams resource account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams_app_source: Option<MicrosoftTeamsAppIdentifier>,
}

impl CreateCallRequest {
    /// A call to `targets` with events posted to `callback_uri`.
    pub fn new(targets: Vec<CommunicationIdentifier>, callback_uri: impl Into<String>) -> Self {
        Self {
            targets,
            source_caller_id_number: None,
            source_display_name: None,
            source: None,
            operation_context: None,
            callback_uri: callback_uri.into(),
            call_intelligence_options: None,
            media_streaming_options: None,
            transcription_options: None,
            teams_app_source: None,
        }
    }
}

impl Validate for CreateCallRequest {
    fn validate(&self) -> Result<(), String> {
        if self.targets.is_empty() {
            return Err("targets must not be empty".into());
        }
        for t in &self.targets {
            check_identifier("target", t)?;
        }
        check_uri("callbackUri", &self.callback_uri)?;
        if let Some(o) = &self.media_streaming_options {
            o.validate()?;
        }
        if let Some(o) = &self.transcription_options {
            o.validate()?;
        }
        Ok(())
    }
}

/// `AnswerCallRequest`: answer an incoming call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerCallRequest {
    /// `incomingCallContext` from the IncomingCall event.
    pub incoming_call_context: String,
    /// Where Call Automation posts this call's events.
    pub callback_uri: String,
    /// Echoed on the events this answer causes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// Cognitive Services for play/recognize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_intelligence_options: Option<CallIntelligenceOptions>,
    /// The ACS identity answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<CommunicationUserIdentifier>,
    /// Media streaming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_streaming_options: Option<MediaStreamingOptions>,
    /// Live transcription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription_options: Option<TranscriptionOptions>,
}

impl AnswerCallRequest {
    /// Answer the call identified by `incoming_call_context`.
    pub fn new(incoming_call_context: impl Into<String>, callback_uri: impl Into<String>) -> Self {
        Self {
            incoming_call_context: incoming_call_context.into(),
            callback_uri: callback_uri.into(),
            operation_context: None,
            call_intelligence_options: None,
            answered_by: None,
            media_streaming_options: None,
            transcription_options: None,
        }
    }
}

impl Validate for AnswerCallRequest {
    fn validate(&self) -> Result<(), String> {
        check_non_empty("incomingCallContext", &self.incoming_call_context)?;
        check_uri("callbackUri", &self.callback_uri)?;
        if let Some(o) = &self.media_streaming_options {
            o.validate()?;
        }
        if let Some(o) = &self.transcription_options {
            o.validate()?;
        }
        Ok(())
    }
}

/// `RedirectCallRequest`: send an incoming call elsewhere without answering it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectCallRequest {
    /// `incomingCallContext` from the IncomingCall event.
    pub incoming_call_context: String,
    /// Where to send the call.
    pub target: CommunicationIdentifier,
}

impl Validate for RedirectCallRequest {
    fn validate(&self) -> Result<(), String> {
        check_non_empty("incomingCallContext", &self.incoming_call_context)?;
        check_identifier("target", &self.target)
    }
}

/// `RejectCallRequest`: decline an incoming call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectCallRequest {
    /// `incomingCallContext` from the IncomingCall event.
    pub incoming_call_context: String,
    /// Why (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_reject_reason: Option<CallRejectReason>,
}

impl Validate for RejectCallRequest {
    fn validate(&self) -> Result<(), String> {
        check_non_empty("incomingCallContext", &self.incoming_call_context)
    }
}

/// `CallIntelligenceOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallIntelligenceOptions {
    /// The Cognitive Services resource endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cognitive_services_endpoint: Option<String>,
}

/// `MediaStreamingOptions`, polymorphic on `transportType`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transportType")]
pub enum MediaStreamingOptions {
    /// `WebSocketMediaStreamingOptions`.
    #[serde(rename = "websocket")]
    WebSocket(WebSocketMediaStreamingOptions),
}

impl MediaStreamingOptions {
    fn validate(&self) -> Result<(), String> {
        match self {
            Self::WebSocket(o) => {
                check_ws_url("mediaStreamingOptions.transportUrl", &o.transport_url)
            }
        }
    }
}

fn check_ws_url(field: &str, value: &Option<String>) -> Result<(), String> {
    match value.as_deref() {
        None => Ok(()),
        Some(v) => match url::Url::parse(v) {
            Ok(u) if matches!(u.scheme(), "ws" | "wss") => Ok(()),
            _ => Err(format!("{field} must be a ws(s) URL, got {v:?}")),
        },
    }
}

/// `WebSocketMediaStreamingOptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketMediaStreamingOptions {
    /// Mixed or unmixed audio.
    pub audio_channel_type: MediaStreamingAudioChannelType,
    /// The WebSocket URL to stream to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_url: Option<String>,
    /// What to stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<MediaStreamingContentType>,
    /// Start streaming as soon as the call connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_media_streaming: Option<bool>,
    /// Allow audio back into the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_bidirectional: Option<bool>,
    /// Audio format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_format: Option<AudioFormat>,
    /// Include DTMF tones in the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_dtmf_tones: Option<bool>,
}

/// `TranscriptionOptions`, polymorphic on `transportType`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transportType")]
pub enum TranscriptionOptions {
    /// `WebSocketTranscriptionOptions`.
    #[serde(rename = "websocket")]
    WebSocket(WebSocketTranscriptionOptions),
}

impl TranscriptionOptions {
    fn validate(&self) -> Result<(), String> {
        match self {
            Self::WebSocket(o) => {
                check_non_empty("transcriptionOptions.locale", &o.locale)?;
                check_ws_url("transcriptionOptions.transportUrl", &o.transport_url)
            }
        }
    }
}

/// `WebSocketTranscriptionOptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketTranscriptionOptions {
    /// Locale, e.g. `en-US`.
    pub locale: String,
    /// The WebSocket URL to send transcripts to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_url: Option<String>,
    /// Custom speech model endpoint id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_model_endpoint_id: Option<String>,
    /// Start as soon as the call connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_transcription: Option<bool>,
    /// Send intermediate results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_intermediate_results: Option<bool>,
}

/// `CustomCallingContext`: headers and Teams Phone details passed to the callee.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomCallingContext {
    /// VoIP headers (for ACS/Teams callees).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub voip_headers: BTreeMap<String, String>,
    /// SIP headers (for PSTN callees).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sip_headers: BTreeMap<String, String>,
    /// Details shown to a Teams Phone agent (screen pop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams_phone_call_details: Option<TeamsPhoneCallDetails>,
}

impl CustomCallingContext {
    /// True when nothing would be sent.
    pub fn is_empty(&self) -> bool {
        self.voip_headers.is_empty()
            && self.sip_headers.is_empty()
            && self.teams_phone_call_details.is_none()
    }
}

/// `TeamsPhoneCallDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsPhoneCallDetails {
    /// The caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams_phone_caller_details: Option<TeamsPhoneCallerDetails>,
    /// Where the call came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams_phone_source_details: Option<TeamsPhoneSourceDetails>,
    /// Session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Detected intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// Topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_topic: Option<String>,
    /// Free-form context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_context: Option<String>,
    /// Link to a transcript so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_url: Option<String>,
    /// Sentiment so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_sentiment: Option<String>,
    /// Suggested actions for the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_actions: Option<String>,
}

/// `TeamsPhoneCallerDetails`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsPhoneCallerDetails {
    /// The caller.
    pub caller: CommunicationIdentifier,
    /// Caller name.
    pub name: String,
    /// Caller number.
    pub phone_number: String,
    /// CRM record id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// Screen-pop URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_pop_url: Option<String>,
    /// Whether the caller was authenticated (e.g. by the IVR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_authenticated: Option<bool>,
    /// More key/value details.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_caller_information: BTreeMap<String, String>,
}

/// `TeamsPhoneSourceDetails`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsPhoneSourceDetails {
    /// The source (e.g. the resource account).
    pub source: CommunicationIdentifier,
    /// Language.
    pub language: String,
    /// Status.
    pub status: String,
    /// Intended targets by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub intended_targets: BTreeMap<String, CommunicationIdentifier>,
}

/// `CallConnectionProperties`: a call leg as Call Automation sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallConnectionProperties {
    /// The call connection id (addresses `/calling/callConnections/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_connection_id: Option<CallConnectionId>,
    /// The server call id (for recording).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_call_id: Option<ServerCallId>,
    /// Targets of an outbound call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<CommunicationIdentifier>,
    /// Connection state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_connection_state: Option<CallConnectionState>,
    /// The callback URI in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_uri: Option<String>,
    /// Caller id used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_caller_id_number: Option<PhoneNumberIdentifier>,
    /// Display name used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_display_name: Option<String>,
    /// The source identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<CommunicationIdentifier>,
    /// Correlation id (the "call id" in diagnostics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    /// Who answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<CommunicationUserIdentifier>,
    /// Media streaming subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_streaming_subscription: Option<MediaStreamingSubscription>,
    /// Transcription subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription_subscription: Option<TranscriptionSubscription>,
    /// The number that was called, for calls answered on behalf of a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_for: Option<PhoneNumberIdentifier>,
}

/// `MediaStreamingSubscription`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaStreamingSubscription {
    /// Subscription id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SubscriptionState>,
    /// Content streamed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribed_content_types: Vec<MediaStreamingContentType>,
}

/// `TranscriptionSubscription`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptionSubscription {
    /// Subscription id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SubscriptionState>,
    /// Result types sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribed_result_types: Vec<TranscriptionResultType>,
    /// Locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn polymorphic_options_round_trip() {
        let o = MediaStreamingOptions::WebSocket(WebSocketMediaStreamingOptions {
            audio_channel_type: MediaStreamingAudioChannelType::Mixed,
            transport_url: Some("wss://x/".into()),
            content_type: Some(MediaStreamingContentType::Audio),
            start_media_streaming: None,
            enable_bidirectional: None,
            audio_format: None,
            enable_dtmf_tones: None,
        });
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(
            v,
            json!({"transportType": "websocket", "audioChannelType": "mixed", "transportUrl": "wss://x/", "contentType": "audio"})
        );
        assert_eq!(
            serde_json::from_value::<MediaStreamingOptions>(v).unwrap(),
            o
        );
        assert!(o.validate().is_ok());
    }

    #[test]
    fn validation_messages() {
        let mut r = CreateCallRequest::new(vec![], "https://cb");
        assert_eq!(r.validate().unwrap_err(), "targets must not be empty");
        r.targets.push(CommunicationIdentifier::teams_user("o"));
        r.callback_uri = "/relative".into();
        assert!(r
            .validate()
            .unwrap_err()
            .starts_with("callbackUri must be an absolute"));
        r.callback_uri = "http://127.0.0.1:9/cb".into();
        assert!(r.validate().is_ok());
        assert_eq!(
            AnswerCallRequest::new(" ", "https://cb")
                .validate()
                .unwrap_err(),
            "incomingCallContext must not be empty"
        );
    }

    #[test]
    fn properties_read_the_spec_example_shape() {
        let p: CallConnectionProperties = serde_json::from_value(json!({
            "callConnectionId": "c1", "serverCallId": "s1",
            "source": {"kind": "communicationUser", "communicationUser": {"id": "8:acs:r_a"}},
            "targets": [{"kind": "phoneNumber", "phoneNumber": {"value": "+14250123456"}}],
            "callConnectionState": "connected", "answeredFor": {"value": "+11234567890"},
            "someFutureField": 1
        }))
        .unwrap();
        assert_eq!(p.call_connection_id.unwrap(), "c1");
        assert_eq!(p.targets[0].raw_id(), "4:+14250123456");
        assert_eq!(
            p.call_connection_state,
            Some(CallConnectionState::Connected)
        );
    }
}
