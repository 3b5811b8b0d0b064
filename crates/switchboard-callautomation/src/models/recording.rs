//! Recording models.

use serde::{Deserialize, Serialize};
use switchboard_events::{
    CallConnectionId, CommunicationIdentifier, OperationContext, RecordingId, ServerCallId,
};

use super::enums::{
    CallLocatorKind, RecordingChannelType, RecordingContentType, RecordingFormatType,
    RecordingKind, RecordingState, RecordingStorageKind,
};
use super::validate::{check_identifier, check_non_empty, check_opt_uri, check_range, Validate};

/// `CallLocator`: which call to record when not addressing it by call connection id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallLocator {
    /// Group call id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_call_id: Option<String>,
    /// Server call id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_call_id: Option<ServerCallId>,
    /// Room id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    /// Which of the ids is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CallLocatorKind>,
}

impl CallLocator {
    /// Locate by server call id.
    pub fn server_call(id: ServerCallId) -> Self {
        Self {
            group_call_id: None,
            server_call_id: Some(id),
            room_id: None,
            kind: Some(CallLocatorKind::ServerCallLocator),
        }
    }

    /// Locate by group call id.
    pub fn group_call(id: impl Into<String>) -> Self {
        Self {
            group_call_id: Some(id.into()),
            server_call_id: None,
            room_id: None,
            kind: Some(CallLocatorKind::GroupCallLocator),
        }
    }

    /// Locate by room id.
    pub fn room(id: impl Into<String>) -> Self {
        Self {
            group_call_id: None,
            server_call_id: None,
            room_id: Some(id.into()),
            kind: Some(CallLocatorKind::RoomCallLocator),
        }
    }
}

/// `ChannelAffinity`: pin a participant to a channel of an unmixed recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAffinity {
    /// Channel 0-4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<u32>,
    /// The participant.
    pub participant: CommunicationIdentifier,
}

/// `ExternalStorage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalStorage {
    /// Storage kind.
    pub recording_storage_kind: RecordingStorageKind,
    /// Blob container URL for `azureBlobStorage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_destination_container_url: Option<String>,
}

/// `StartCallRecordingRequest`. Address the call with exactly one of `call_locator` and
/// `call_connection_id` (see [`for_call_connection`](Self::for_call_connection) and
/// [`for_server_call`](Self::for_server_call)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartCallRecordingRequest {
    /// The call, by locator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_locator: Option<CallLocator>,
    /// The call, by call connection id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_connection_id: Option<CallConnectionId>,
    /// Where RecordingStateChanged events go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_state_callback_uri: Option<String>,
    /// Audio or audio+video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_content_type: Option<RecordingContentType>,
    /// Mixed or unmixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_channel_type: Option<RecordingChannelType>,
    /// File format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_format_type: Option<RecordingFormatType>,
    /// Channel order for unmixed audio.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audio_channel_participant_ordering: Vec<CommunicationIdentifier>,
    /// Channel pinning for unmixed audio.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel_affinity: Vec<ChannelAffinity>,
    /// Start paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_on_start: Option<bool>,
    /// Bring-your-own storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_storage: Option<ExternalStorage>,
}

impl StartCallRecordingRequest {
    fn empty() -> Self {
        Self {
            call_locator: None,
            call_connection_id: None,
            recording_state_callback_uri: None,
            recording_content_type: None,
            recording_channel_type: None,
            recording_format_type: None,
            audio_channel_participant_ordering: Vec::new(),
            channel_affinity: Vec::new(),
            pause_on_start: None,
            external_storage: None,
        }
    }

    /// Record the call of this call connection.
    pub fn for_call_connection(id: CallConnectionId) -> Self {
        Self {
            call_connection_id: Some(id),
            ..Self::empty()
        }
    }

    /// Record the server call with this id.
    pub fn for_server_call(id: ServerCallId) -> Self {
        Self {
            call_locator: Some(CallLocator::server_call(id)),
            ..Self::empty()
        }
    }

    /// Record the call a locator points at.
    pub fn for_locator(locator: CallLocator) -> Self {
        Self {
            call_locator: Some(locator),
            ..Self::empty()
        }
    }
}

/// `StopTranscriptionRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTranscriptionRequest {
    /// Echoed on `TranscriptionStopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// Overrides the call's callback URI for this operation's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_callback_uri: Option<String>,
}

impl Validate for StopTranscriptionRequest {
    fn validate(&self) -> Result<(), String> {
        check_opt_uri("operationCallbackUri", &self.operation_callback_uri)
    }
}

impl Validate for StartCallRecordingRequest {
    fn validate(&self) -> Result<(), String> {
        match (&self.call_locator, &self.call_connection_id) {
            (Some(_), Some(_)) => {
                return Err("set either callLocator or callConnectionId, not both".into())
            }
            (None, None) => return Err("set callLocator or callConnectionId".into()),
            (None, Some(id)) => check_non_empty("callConnectionId", id.as_str())?,
            (Some(l), None) => {
                let ids = [
                    l.group_call_id.as_deref(),
                    l.server_call_id.as_ref().map(ServerCallId::as_str),
                    l.room_id.as_deref(),
                ];
                if ids
                    .iter()
                    .flatten()
                    .filter(|s| !s.trim().is_empty())
                    .count()
                    != 1
                {
                    return Err("callLocator needs exactly one non-empty id".into());
                }
            }
        }
        check_opt_uri(
            "recordingStateCallbackUri",
            &self.recording_state_callback_uri,
        )?;
        for c in &self.channel_affinity {
            check_range("channelAffinity.channel", c.channel, 0, 4)?;
            check_identifier("channelAffinity.participant", &c.participant)?;
        }
        for p in &self.audio_channel_participant_ordering {
            check_identifier("audioChannelParticipantOrdering", p)?;
        }
        if let Some(s) = &self.external_storage {
            check_opt_uri(
                "externalStorage.recordingDestinationContainerUrl",
                &s.recording_destination_container_url,
            )?;
        }
        Ok(())
    }
}

/// `RecordingStateResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStateResponse {
    /// The recording (for get/pause/resume/stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<RecordingId>,
    /// Active or inactive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_state: Option<RecordingState>,
    /// Who records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_kind: Option<RecordingKind>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_call_address() {
        assert!(StartCallRecordingRequest::for_call_connection("c".into())
            .validate()
            .is_ok());
        assert!(StartCallRecordingRequest::for_server_call("s".into())
            .validate()
            .is_ok());
        let mut both = StartCallRecordingRequest::for_server_call("s".into());
        both.call_connection_id = Some("c".into());
        assert!(both.validate().is_err());
        let mut neither = StartCallRecordingRequest::for_server_call("s".into());
        neither.call_locator = None;
        assert!(neither.validate().is_err());
        let mut two_ids = StartCallRecordingRequest::for_locator(CallLocator::room("r"));
        if let Some(l) = &mut two_ids.call_locator {
            l.group_call_id = Some("g".into());
        }
        assert!(two_ids.validate().is_err());
        let mut bad_channel = StartCallRecordingRequest::for_call_connection("c".into());
        bad_channel.channel_affinity.push(ChannelAffinity {
            channel: Some(5),
            participant: CommunicationIdentifier::phone("+1"),
        });
        assert!(bad_channel
            .validate()
            .unwrap_err()
            .contains("between 0 and 4"));
    }
}
