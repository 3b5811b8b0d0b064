//! Request validation against the embedded Call Automation spec
//! (`switchboard_contract`), as the real service does: strict about unknown properties,
//! types, required fields, enum values and ranges — a bad body is a 400 with a
//! `CommunicationErrorResponse` naming what is wrong.
//!
//! This is the single place the HTTP layer asks "is this body acceptable for this
//! operation?" and "does this operation take repeatability headers?"; both answers come from
//! the operation table built from the spec, not from hand-written lists.

use serde_json::Value;

use crate::error::ApiError;

/// Whether `operation_id` takes `Repeatability-Request-ID` / `Repeatability-First-Sent`.
pub(crate) fn is_repeatable(operation_id: &str) -> bool {
    switchboard_contract::operation(operation_id).is_some_and(|o| o.repeatable)
}

/// Validate a request body for `operation_id` against its spec definition.
pub(crate) fn validate_body(operation_id: &str, body: &Value) -> Result<(), ApiError> {
    let Some(op) = switchboard_contract::operation(operation_id) else {
        // Every route maps to a spec operation; reaching this is a simulator bug, and the
        // safe answer is to refuse rather than act on an unchecked body.
        return Err(ApiError::invalid(format!(
            "Invalid request, {operation_id} is not an operation of the Call Automation API."
        )));
    };
    op.validate_body(body).map_err(|errors| {
        let detail: Vec<String> = errors.iter().take(5).map(|e| e.to_string()).collect();
        ApiError::invalid(format!("Invalid request: {}", detail.join("; ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeatable_operations_come_from_the_spec() {
        for op in [
            "CreateCall",
            "AnswerCall",
            "CallConnection_AddParticipant",
            "CallConnection_TerminateCall",
            "CallRecording_StartRecording",
        ] {
            assert!(is_repeatable(op), "{op}");
        }
        for op in [
            "CallMedia_Play",
            "CallConnection_GetCall",
            "CallConnection_HangupCall",
            "Nope",
        ] {
            assert!(!is_repeatable(op), "{op}");
        }
    }

    #[test]
    fn strict_bodies() {
        let ok = json!({"incomingCallContext": "x", "callbackUri": "https://a/b"});
        assert!(validate_body("AnswerCall", &ok).is_ok());
        let extra =
            json!({"incomingCallContext": "x", "callbackUri": "https://a/b", "surprise": 1});
        let e = validate_body("AnswerCall", &extra).unwrap_err();
        assert_eq!(e.code, "8523");
        assert!(e.message.contains("surprise"), "{}", e.message);
        let wrong = json!({"incomingCallContext": 5, "callbackUri": "https://a/b"});
        assert!(validate_body("AnswerCall", &wrong).is_err());
        let range = json!({"participantToAdd": {"kind": "communicationUser", "communicationUser": {"id": "8:acs:x"}}, "invitationTimeoutInSeconds": 500});
        assert!(validate_body("CallConnection_AddParticipant", &range).is_err());
        assert!(validate_body("Unknown_Op", &ok).is_err());
    }
}
