//! Participant models: list/get, add, remove, cancel-add, mute, transfer.

use serde::{Deserialize, Serialize};
use switchboard_events::{CommunicationIdentifier, InvitationId, OperationContext};

use super::call::CustomCallingContext;
use super::identifiers::PhoneNumberIdentifier;
use super::validate::{check_identifier, check_non_empty, check_opt_uri, check_range, Validate};

/// Longest add-participant ringing timeout the service accepts, in seconds.
pub const MAX_INVITATION_TIMEOUT_SECONDS: u32 = 180;

/// `CallParticipant`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallParticipant {
    /// Who. The spec leaves it optional, but a participant without one cannot be addressed,
    /// so this client treats a missing identifier as an unreadable response.
    pub identifier: CommunicationIdentifier,
    /// Muted.
    #[serde(default)]
    pub is_muted: bool,
    /// On hold.
    #[serde(default)]
    pub is_on_hold: bool,
}

/// `GetParticipantsResponse`: one page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetParticipantsResponse {
    /// The participants on this page.
    pub value: Vec<CallParticipant>,
    /// The next page, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// `AddParticipantRequest`: invite someone (e.g. a Teams agent) into the call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddParticipantRequest {
    /// Caller id shown to a PSTN invitee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_caller_id_number: Option<PhoneNumberIdentifier>,
    /// Display name shown to the invitee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_display_name: Option<String>,
    /// Who to add.
    pub participant_to_add: CommunicationIdentifier,
    /// How long to ring before giving up, 0-180 seconds (service default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_timeout_in_seconds: Option<u32>,
    /// Echoed on AddParticipantSucceeded/Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// Overrides the call's callback URI for this operation's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_callback_uri: Option<String>,
    /// Headers / Teams Phone details for the invitee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_calling_context: Option<CustomCallingContext>,
}

impl AddParticipantRequest {
    /// Add `participant`.
    pub fn new(participant: CommunicationIdentifier) -> Self {
        Self {
            source_caller_id_number: None,
            source_display_name: None,
            participant_to_add: participant,
            invitation_timeout_in_seconds: None,
            operation_context: None,
            operation_callback_uri: None,
            custom_calling_context: None,
        }
    }
}

impl Validate for AddParticipantRequest {
    fn validate(&self) -> Result<(), String> {
        check_identifier("participantToAdd", &self.participant_to_add)?;
        check_range(
            "invitationTimeoutInSeconds",
            self.invitation_timeout_in_seconds,
            0,
            MAX_INVITATION_TIMEOUT_SECONDS,
        )?;
        check_opt_uri("operationCallbackUri", &self.operation_callback_uri)
    }
}

/// `AddParticipantResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddParticipantResponse {
    /// The invitee as a participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<CallParticipant>,
    /// The operation context sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// The invitation, needed to cancel it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_id: Option<InvitationId>,
}

/// `RemoveParticipantRequest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveParticipantRequest {
    /// Who to remove.
    pub participant_to_remove: CommunicationIdentifier,
    /// Echoed on RemoveParticipantSucceeded/Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// Overrides the call's callback URI for this operation's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_callback_uri: Option<String>,
}

impl RemoveParticipantRequest {
    /// Remove `participant`.
    pub fn new(participant: CommunicationIdentifier) -> Self {
        Self {
            participant_to_remove: participant,
            operation_context: None,
            operation_callback_uri: None,
        }
    }
}

impl Validate for RemoveParticipantRequest {
    fn validate(&self) -> Result<(), String> {
        check_identifier("participantToRemove", &self.participant_to_remove)?;
        check_opt_uri("operationCallbackUri", &self.operation_callback_uri)
    }
}

/// `RemoveParticipantResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveParticipantResponse {
    /// The operation context sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
}

/// `CancelAddParticipantRequest`: stop ringing an invitee.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAddParticipantRequest {
    /// From [`AddParticipantResponse::invitation_id`].
    pub invitation_id: InvitationId,
    /// Echoed on CancelAddParticipantSucceeded/Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// Overrides the call's callback URI for this operation's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_callback_uri: Option<String>,
}

impl CancelAddParticipantRequest {
    /// Cancel `invitation_id`.
    pub fn new(invitation_id: InvitationId) -> Self {
        Self {
            invitation_id,
            operation_context: None,
            operation_callback_uri: None,
        }
    }
}

impl Validate for CancelAddParticipantRequest {
    fn validate(&self) -> Result<(), String> {
        check_non_empty("invitationId", self.invitation_id.as_str())?;
        check_opt_uri("operationCallbackUri", &self.operation_callback_uri)
    }
}

/// `CancelAddParticipantResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAddParticipantResponse {
    /// The invitation cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_id: Option<InvitationId>,
    /// The operation context sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
}

/// `MuteParticipantsRequest` (the service accepts one participant per request today).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MuteParticipantsRequest {
    /// Who to mute.
    pub target_participants: Vec<CommunicationIdentifier>,
    /// Operation context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
}

impl MuteParticipantsRequest {
    /// Mute one participant.
    pub fn new(participant: CommunicationIdentifier) -> Self {
        Self {
            target_participants: vec![participant],
            operation_context: None,
        }
    }
}

impl Validate for MuteParticipantsRequest {
    fn validate(&self) -> Result<(), String> {
        if self.target_participants.is_empty() {
            return Err("targetParticipants must not be empty".into());
        }
        for p in &self.target_participants {
            check_identifier("targetParticipant", p)?;
        }
        Ok(())
    }
}

/// `MuteParticipantsResult`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MuteParticipantsResult {
    /// The operation context sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
}

/// `TransferToParticipantRequest`: hand the call to someone else (e.g. a Teams agent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferToParticipantRequest {
    /// The transfer target.
    pub target_participant: CommunicationIdentifier,
    /// Echoed on CallTransferAccepted/Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// In a group call, the participant being transferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transferee: Option<CommunicationIdentifier>,
    /// Overrides the call's callback URI for this operation's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_callback_uri: Option<String>,
    /// Headers / Teams Phone details for the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_calling_context: Option<CustomCallingContext>,
    /// Caller id shown to a PSTN target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_caller_id_number: Option<PhoneNumberIdentifier>,
}

impl TransferToParticipantRequest {
    /// Transfer to `target`.
    pub fn new(target: CommunicationIdentifier) -> Self {
        Self {
            target_participant: target,
            operation_context: None,
            transferee: None,
            operation_callback_uri: None,
            custom_calling_context: None,
            source_caller_id_number: None,
        }
    }
}

impl Validate for TransferToParticipantRequest {
    fn validate(&self) -> Result<(), String> {
        check_identifier("targetParticipant", &self.target_participant)?;
        if let Some(t) = &self.transferee {
            check_identifier("transferee", t)?;
        }
        check_opt_uri("operationCallbackUri", &self.operation_callback_uri)
    }
}

/// `TransferCallResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferCallResponse {
    /// The operation context sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_timeout_is_bounded() {
        let mut r = AddParticipantRequest::new(CommunicationIdentifier::teams_user("o"));
        for ok in [None, Some(0), Some(30), Some(180)] {
            r.invitation_timeout_in_seconds = ok;
            assert!(r.validate().is_ok(), "{ok:?}");
        }
        r.invitation_timeout_in_seconds = Some(181);
        assert_eq!(
            r.validate().unwrap_err(),
            "invitationTimeoutInSeconds must be between 0 and 180, got 181"
        );
    }

    #[test]
    fn empty_ids_are_rejected() {
        let blank = CommunicationIdentifier::Unknown { raw_id: " ".into() };
        assert!(RemoveParticipantRequest::new(blank.clone())
            .validate()
            .is_err());
        assert!(MuteParticipantsRequest {
            target_participants: vec![],
            operation_context: None
        }
        .validate()
        .is_err());
        assert!(CancelAddParticipantRequest::new(InvitationId::from(""))
            .validate()
            .is_err());
        let mut t = TransferToParticipantRequest::new(CommunicationIdentifier::teams_user("o"));
        t.transferee = Some(blank);
        assert_eq!(t.validate().unwrap_err(), "transferee has an empty raw id");
    }

    #[test]
    fn participant_requires_an_identifier() {
        assert!(serde_json::from_str::<CallParticipant>(r#"{"isMuted":true}"#).is_err());
        let p: CallParticipant =
            serde_json::from_str(r#"{"identifier":{"rawId":"8:orgid:o"}}"#).unwrap();
        assert!(!p.is_muted && !p.is_on_hold);
    }
}
