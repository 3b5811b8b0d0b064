//! A virtual-hold callback request: the caller pressed the offer's digit, hung up and keeps
//! their place in the queue. The flow decides it ([`super::Op::RequestCallback`]); the
//! executor stores it in the shared store (a member of the queue's callback set, expiring at
//! `expires_at`), so any replica sees it and counts it ahead of later callers, and it
//! survives restarts.
//!
//! Serving it is a call of its own ([`CallbackCall`], keyed [`callback_key`]): the executor
//! starts it with a sealed [`super::Internal::CallbackStart`] message once the request is
//! stored; it waits for an agent like a waiting call (timers, and a freed agent's pull, which
//! orders it among waiting callers by the original `waiting_since`), calls the reserved
//! Teams agent (`CreateCall`), adds the customer's number with our number as caller id, and
//! retries per the queue's `callback` policy before reporting it failed.

use serde::{Deserialize, Serialize};
use switchboard_events::{CallConnectionId, CorrelationId};
use switchboard_routing::CallRequirements;
use time::OffsetDateTime;

/// One callback request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackRequest {
    /// The call the caller left (the request's key).
    pub correlation_id: CorrelationId,
    /// The queue and the caller's place in it (`waiting_since` is kept, not reset).
    pub call: CallRequirements,
    /// The caller's number (E.164), called back.
    pub number: String,
    /// Our number the caller dialled: the caller id (`sourceCallerIdNumber`) of the callback.
    pub caller_id: String,
    /// When the caller accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// When the request is dropped if it was not served.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Calls to the customer before the callback is reported failed.
    #[serde(alias = "legAttempts")]
    pub attempts: u32,
    /// Seconds between two calls to the customer.
    pub retry_after_secs: u64,
    /// Seconds the agent's leg rings before the next agent is tried.
    #[serde(default = "default_agent_ring")]
    pub agent_ring_timeout_secs: u32,
    /// Seconds the customer's phone rings per attempt.
    #[serde(default = "default_customer_ring")]
    pub customer_ring_timeout_secs: u32,
}

fn default_agent_ring() -> u32 {
    20
}

fn default_customer_ring() -> u32 {
    30
}

/// The call-state key of the callback serving request `request` (the call the caller left):
/// a key of its own, so the original call's archived record stays as it was.
pub fn callback_key(request: &CorrelationId) -> CorrelationId {
    CorrelationId::from(format!("callback-{request}"))
}

/// How a callback ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallbackOutcome {
    /// The agent and the customer talked.
    Completed,
    /// The customer did not answer (or was busy) on every attempt.
    Failed,
    /// Nobody could serve it before it expired.
    Expired,
}

impl CallbackOutcome {
    /// Lower-case name for metrics labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }
}

/// The callback part of a [`super::CallState`] that serves a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackCall {
    /// The request served.
    pub request: CallbackRequest,
    /// Calls to the customer made so far.
    pub attempts: u32,
    /// Agent legs that were not answered (declined, no answer, gone).
    pub agent_failures: u32,
    /// A freed agent's pull is ignored before this (the pause after an unanswered customer).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
    /// The outbound call's participants update in which agent and customer were both seen.
    #[serde(default)]
    pub both_seen: bool,
    /// Call connections of earlier legs (their late events are stale).
    #[serde(default)]
    pub old_legs: Vec<CallConnectionId>,
    /// How it ended, once it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CallbackOutcome>,
    /// Why (for the report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl CallbackCall {
    /// A request not served yet.
    pub fn new(request: CallbackRequest) -> Self {
        Self {
            request,
            attempts: 0,
            agent_failures: 0,
            not_before: None,
            both_seen: false,
            old_legs: Vec::new(),
            outcome: None,
            detail: None,
        }
    }
}
