//! `resultInformation`: the outcome code every Call Automation callback may carry.
//!
//! Codes are SIP-like (2xx success, 4xx client, 5xx server, 6xx global) and sub-codes give
//! the reason (table: MicrosoftDocs `call-automation-sdk.md` codes include). Routing cares
//! about a handful of outcomes (the agent did not answer, declined, was busy...), so the
//! helpers here name them once instead of every caller comparing magic numbers.

use serde::{Deserialize, Serialize};

/// Outcome of an operation as reported in a callback (`ResultInformation`).
///
/// Every field is optional: 2022–2023 payloads omit the whole object, and a few events
/// carry an empty `message`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultInformation {
    /// SIP-like status code (200, 408, 487, 603...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// Reason sub-code (0 success, 5300 removed, 8538 callee declined...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_code: Option<i32>,
    /// Human-readable detail, often ending in `DiagCode: <code>#<subCode>.@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// SIP diagnostics from the far end, when the service includes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_details: Option<SipDiagnosticInfo>,
    /// Q.850 cause from the PSTN, when the service includes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q850_details: Option<SipDiagnosticInfo>,
}

/// A SIP or Q.850 diagnostic code and message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SipDiagnosticInfo {
    /// The code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The outcomes routing decisions depend on, in the order [`ResultInformation::outcome`]
/// checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// 2xx.
    Success,
    /// 408: nobody answered in time (ring-no-answer for an agent).
    Timeout,
    /// 603 or sub-code 8538: the callee declined.
    Declined,
    /// 486 or sub-codes 8539/8540: the callee is busy.
    Busy,
    /// 480 or sub-codes 8541/8544: unavailable or unreachable.
    Unavailable,
    /// 487 or sub-codes 8508/8542: cancelled (usually by us, e.g. CancelAddParticipant).
    Cancelled,
    /// 404 or sub-codes 8522/8543: the call or participant no longer exists.
    NotFound,
    /// Anything else, including a missing code.
    Other,
}

impl Outcome {
    /// Lower-case name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Timeout => "timeout",
            Self::Declined => "declined",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
            Self::Cancelled => "cancelled",
            Self::NotFound => "not_found",
            Self::Other => "other",
        }
    }
}

impl ResultInformation {
    /// A result with just a code and sub-code (handy for simulators and tests).
    pub fn new(code: i32, sub_code: i32, message: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            sub_code: Some(sub_code),
            message: Some(message.into()),
            sip_details: None,
            q850_details: None,
        }
    }

    fn code_is(&self, code: i32) -> bool {
        self.code == Some(code)
    }

    fn sub_code_in(&self, subs: &[i32]) -> bool {
        self.sub_code.is_some_and(|s| subs.contains(&s))
    }

    /// 2xx. Note that `CancelAddParticipantSucceeded` reports 487 (the invitation was
    /// cancelled), and `CallDisconnected` reports 200 with a reason sub-code.
    pub fn is_success(&self) -> bool {
        self.code.is_some_and(|c| (200..300).contains(&c))
    }

    /// 408: the target did not answer in time.
    pub fn is_timeout(&self) -> bool {
        self.code_is(408)
    }

    /// 603 Declined, or sub-code 8538 (Callee Declined).
    pub fn is_declined(&self) -> bool {
        self.code_is(603) || self.sub_code_in(&[8538])
    }

    /// 486 Busy Here, or sub-codes 8539/8540 (Callee Busy / Busy Everywhere).
    pub fn is_busy(&self) -> bool {
        self.code_is(486) || self.sub_code_in(&[8539, 8540])
    }

    /// 480 Temporarily Unavailable, or sub-codes 8541/8544 (Unavailable / Unreachable).
    pub fn is_unavailable(&self) -> bool {
        self.code_is(480) || self.sub_code_in(&[8541, 8544])
    }

    /// 487 Request Terminated, or sub-codes 8508/8542 (Operation / Call Canceled).
    pub fn is_cancelled(&self) -> bool {
        self.code_is(487) || self.sub_code_in(&[8508, 8542])
    }

    /// 403 Forbidden: the target may not be called at all — for a Teams user, the tenant's
    /// interop settings do not let this ACS resource reach them (403 / 10124 "Permission
    /// check for callee to interact with caller is not allowed", or 7604 "Unauthorized Teams
    /// Interop Scenario"). Trying again will not help.
    pub fn is_forbidden(&self) -> bool {
        self.code_is(403) || self.sub_code_in(&[7604, 10124])
    }

    /// 404, or sub-codes 8522/8543: the call or participant is gone.
    pub fn is_not_found(&self) -> bool {
        self.code_is(404) || self.sub_code_in(&[8522, 8543])
    }

    /// 5xx, 429, or sub-codes 9001/9002 (underlying service error / timeout): the service
    /// had trouble, trying again may work.
    pub fn is_service_error(&self) -> bool {
        self.code
            .is_some_and(|c| (500..600).contains(&c) || c == 429)
            || self.sub_code_in(&[9001, 9002])
    }

    /// Classifies the result into the outcomes routing cares about.
    pub fn outcome(&self) -> Outcome {
        if self.is_success() {
            Outcome::Success
        } else if self.is_timeout() {
            Outcome::Timeout
        } else if self.is_declined() {
            Outcome::Declined
        } else if self.is_busy() {
            Outcome::Busy
        } else if self.is_unavailable() {
            Outcome::Unavailable
        } else if self.is_cancelled() {
            Outcome::Cancelled
        } else if self.is_not_found() {
            Outcome::NotFound
        } else {
            Outcome::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_live_shapes_and_nulls() {
        let r: ResultInformation = serde_json::from_str(
            r#"{"code":487,"subCode":5234,"message":"The Call Has Been Cancelled. DiagCode: 487#5234.@"}"#,
        )
        .unwrap();
        assert_eq!(r.code, Some(487));
        assert_eq!(r.sub_code, Some(5234));
        assert!(r.is_cancelled());
        assert_eq!(r.outcome(), Outcome::Cancelled);

        let empty: ResultInformation =
            serde_json::from_str(r#"{"code":null,"subCode":null,"message":null,"x":1}"#).unwrap();
        assert_eq!(empty, ResultInformation::default());
        assert_eq!(empty.outcome(), Outcome::Other);

        let sip: ResultInformation = serde_json::from_str(
            r#"{"code":603,"subCode":0,"message":"","sipDetails":{"code":603,"message":"Decline"},"q850Details":{"code":21}}"#,
        )
        .unwrap();
        assert_eq!(sip.sip_details.as_ref().and_then(|s| s.code), Some(603));
        assert_eq!(sip.q850_details.as_ref().and_then(|s| s.code), Some(21));
    }

    #[test]
    fn outcome_table() {
        let cases = [
            ((200, 0), Outcome::Success),
            ((200, 5300), Outcome::Success),
            ((408, 10004), Outcome::Timeout),
            ((603, 0), Outcome::Declined),
            ((400, 8538), Outcome::Declined),
            ((486, 0), Outcome::Busy),
            ((400, 8540), Outcome::Busy),
            ((480, 0), Outcome::Unavailable),
            ((400, 8544), Outcome::Unavailable),
            ((487, 5234), Outcome::Cancelled),
            ((404, 8522), Outcome::NotFound),
            ((400, 8535), Outcome::Other),
            ((500, 9999), Outcome::Other),
        ];
        for ((code, sub), want) in cases {
            let r = ResultInformation::new(code, sub, "");
            assert_eq!(r.outcome(), want, "{code}/{sub}");
        }
        assert!(ResultInformation::new(503, 0, "").is_service_error());
        assert!(ResultInformation::new(400, 9002, "").is_service_error());
        assert!(!ResultInformation::new(400, 8523, "").is_service_error());
    }

    #[test]
    fn serialises_camel_case_without_nulls() {
        let v = serde_json::to_value(ResultInformation::new(408, 10004, "timeout")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"code": 408, "subCode": 10004, "message": "timeout"})
        );
    }
}
