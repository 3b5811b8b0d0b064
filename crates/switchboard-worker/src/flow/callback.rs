//! A virtual-hold callback request: the caller pressed the offer's digit, hung up and keeps
//! their place in the queue. The flow decides it ([`super::Op::RequestCallback`]); the
//! executor stores it in the shared store (a member of the queue's callback set, expiring at
//! `expires_at`), so any replica sees it and counts it ahead of later callers, and it
//! survives restarts.

use serde::{Deserialize, Serialize};
use switchboard_events::CorrelationId;
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
    /// Attempts per leg (agent, then customer) before the callback is reported failed.
    pub leg_attempts: u32,
    /// Seconds between two attempts of a leg.
    pub retry_after_secs: u64,
}
