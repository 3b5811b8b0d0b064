//! The per-call ledger: the figures statistics and the call history need, kept in the call's
//! own state document by the executor (never read by the flow).
//!
//! The flow's state says where a call *is*; statistics need where it *was* and when: when it
//! entered each queue, who was offered it and how each offer ended, when an agent answered
//! and when the talk ended. The executor calls `note` after every flow step (the first
//! decision and each fed-back result) with the state before and after; `note` compares the
//! two phases and appends what changed. It is part of the state document, so it is saved
//! with the same compare-and-set, survives a replica crash, and ends up in the archived
//! record of the finished call — which is what cross-replica statistics are computed from.

//!
//! This file holds the types only and imports nothing from the flow, whose state carries
//! them; [`note`](super::note) (in `note.rs`) fills them in.

use serde::{Deserialize, Serialize};
use switchboard_events::TeamsUserId;
use time::OffsetDateTime;

/// Most queue visits and offers kept per call (a loop never grows a document unboundedly).
pub(super) const MAX_ENTRIES: usize = 64;

/// What happened to a call, for statistics and history. See the module docs of [`crate::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallLedger {
    /// Queues the caller waited in, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub visits: Vec<QueueVisit>,
    /// Agents offered the call, in order, with how each offer ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<OfferRecord>,
    /// When an agent first joined the call.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    /// When the talk with the agent ended.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub talk_ended_at: Option<OffsetDateTime>,
}

impl CallLedger {
    /// Nothing recorded yet (the field is then left out of the document).
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// One stay of the caller in a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueVisit {
    /// The queue.
    pub queue: String,
    /// When the call started waiting there (the call is *offered* to the queue then).
    #[serde(with = "time::serde::rfc3339")]
    pub entered_at: OffsetDateTime,
    /// When it stopped waiting (answered, abandoned, moved on); `None` while it waits.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub left_at: Option<OffsetDateTime>,
    /// How the wait ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<VisitOutcome>,
}

/// How a wait in a queue ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitOutcome {
    /// An agent joined.
    Answered,
    /// The caller hung up while waiting (or while an agent was ringing).
    Abandoned,
    /// The queue gave up on the call: another queue, an announcement, voicemail, or hang-up
    /// by policy.
    Overflowed,
    /// The caller was transferred out (to a number, a Teams user or an app).
    Transferred,
    /// The call ended for another reason (a failure).
    Ended,
}

impl VisitOutcome {
    /// The spelling used in tables and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Abandoned => "abandoned",
            Self::Overflowed => "overflowed",
            Self::Transferred => "transferred",
            Self::Ended => "ended",
        }
    }
}

/// One agent offered the call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferRecord {
    /// The agent.
    pub agent: TeamsUserId,
    /// The queue the call was in.
    pub queue: String,
    /// When their phone started ringing.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// When the offer ended; `None` while ringing.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OfferOutcome>,
}

/// How an offer to an agent ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferOutcome {
    /// The agent joined.
    Answered,
    /// The agent declined (SIP 603) or was busy (486).
    Declined,
    /// Nobody picked up in time (our ring timeout, or the service's 408/480/487).
    NoAnswer,
    /// The caller hung up while it rang.
    CallerLeft,
    /// Anything else (a refused or failed invitation, the offer withdrawn).
    Failed,
}

impl OfferOutcome {
    /// The spelling used in tables and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Declined => "declined",
            Self::NoAnswer => "no_answer",
            Self::CallerLeft => "caller_left",
            Self::Failed => "failed",
        }
    }
}
