//! The per-call ledger: the figures statistics and the call history need, kept in the call's
//! own state document by the executor (never read by the flow).
//!
//! The flow's state says where a call *is*; statistics need where it *was* and when: when it
//! entered each queue, who was offered it and how each offer ended, when an agent answered
//! and when the talk ended. The executor calls [`note`] after every flow step (the first
//! decision and each fed-back result) with the state before and after; `note` compares the
//! two phases and appends what changed. It is part of the state document, so it is saved
//! with the same compare-and-set, survives a replica crash, and ends up in the archived
//! record of the finished call — which is what cross-replica statistics are computed from.

use serde::{Deserialize, Serialize};
use switchboard_events::{AcsEvent, TeamsUserId};
use time::OffsetDateTime;

use crate::flow::{CallState, FlowInput, InputKind, Internal, Phase};

/// Most queue visits and offers kept per call (a loop never grows a document unboundedly).
const MAX_ENTRIES: usize = 64;

/// What happened to a call, for statistics and history. See the [module docs](self).
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

/// Updates `next.ledger` for one flow step from `prev` (the state before; `None` for a new
/// call) to `next`, caused by `input`, at `now`. Pure and idempotent per step.
pub(crate) fn note(
    prev: Option<&CallState>,
    input: &FlowInput,
    next: &mut CallState,
    now: OffsetDateTime,
) {
    let before = prev.map(|p| &p.phase);
    let caller_left = caller_left(input, &next.phase);
    let ledger = &mut next.ledger;

    // Offers: a new ringing offer opens one; leaving that ringing closes it.
    let rang = match before {
        Some(Phase::Ringing { seq, agent, .. }) => Some((*seq, agent.clone())),
        _ => None,
    };
    let rings = match &next.phase {
        Phase::Ringing {
            seq, agent, since, ..
        } => Some((*seq, agent.clone(), *since)),
        _ => None,
    };
    if let Some((seq, agent)) = &rang {
        if rings.as_ref().map(|(s, _, _)| s) != Some(seq) {
            let outcome = match &next.phase {
                Phase::Talking { agent: a, .. } if a == agent => OfferOutcome::Answered,
                _ if caller_left => OfferOutcome::CallerLeft,
                _ => offer_failure(input),
            };
            if let Some(o) = ledger
                .offers
                .iter_mut()
                .rev()
                .find(|o| &o.agent == agent && o.outcome.is_none())
            {
                o.outcome = Some(outcome);
                o.ended_at = Some(now);
            }
        }
    }
    if let Some((seq, agent, since)) = rings {
        let new = rang.as_ref().map(|(s, _)| *s) != Some(seq);
        if new && ledger.offers.len() < MAX_ENTRIES {
            ledger.offers.push(OfferRecord {
                agent,
                queue: next.queue.to_string(),
                at: since,
                ended_at: None,
                outcome: None,
            });
        }
    }

    // Queue visits: waiting (routing, waiting, ringing) in a queue opens one; anything else
    // — or waiting in another queue — closes it.
    let open = ledger.visits.iter().rposition(|v| v.left_at.is_none());
    let queued = next.phase.is_queued();
    let moved = open.is_some_and(|i| ledger.visits[i].queue != next.queue.as_str());
    if let Some(i) = open.filter(|_| !queued || moved) {
        let outcome = if moved {
            VisitOutcome::Overflowed
        } else {
            visit_outcome(&next.phase, caller_left)
        };
        let v = &mut ledger.visits[i];
        v.left_at = Some(match &next.phase {
            Phase::Talking { since, .. } => *since,
            _ => now,
        });
        v.outcome = Some(outcome);
    }
    if queued && (open.is_none() || moved) && ledger.visits.len() < MAX_ENTRIES {
        ledger.visits.push(QueueVisit {
            queue: next.queue.to_string(),
            entered_at: next.waiting_since.unwrap_or(now),
            left_at: None,
            outcome: None,
        });
    }

    // Talk.
    if let Phase::Talking { since, .. } = &next.phase {
        ledger.answered_at.get_or_insert(*since);
    }
    if matches!(before, Some(Phase::Talking { .. })) && !matches!(next.phase, Phase::Talking { .. })
    {
        ledger.talk_ended_at = Some(now);
    }
}

/// The caller hung up: `CallDisconnected` while we had not decided to end the call, or the
/// flow noticed the caller left the participant list.
fn caller_left(input: &FlowInput, next: &Phase) -> bool {
    match next {
        Phase::Ending { reason } | Phase::Ended { reason } => {
            reason == "caller left"
                || (reason == "disconnected"
                    && matches!(&input.kind, InputKind::Acs(AcsEvent::CallDisconnected(_))))
        }
        _ => false,
    }
}

fn visit_outcome(next: &Phase, caller_left: bool) -> VisitOutcome {
    match next {
        Phase::Talking { .. } => VisitOutcome::Answered,
        Phase::Transferring { .. } => VisitOutcome::Transferred,
        Phase::OverflowAnnouncement
        | Phase::VoicemailGreeting { .. }
        | Phase::VoicemailRecording => VisitOutcome::Overflowed,
        _ if caller_left => VisitOutcome::Abandoned,
        Phase::Ending { reason } | Phase::Ended { reason } if reason.starts_with("overflow") => {
            VisitOutcome::Overflowed
        }
        _ => VisitOutcome::Ended,
    }
}

fn offer_failure(input: &FlowInput) -> OfferOutcome {
    match &input.kind {
        InputKind::Internal(Internal::RingTimeout { .. }) => OfferOutcome::NoAnswer,
        InputKind::Acs(AcsEvent::AddParticipantFailed(a)) => {
            match a.result_information.as_ref().and_then(|i| i.code) {
                Some(603 | 486) => OfferOutcome::Declined,
                Some(408 | 480 | 487) => OfferOutcome::NoAnswer,
                _ => OfferOutcome::Failed,
            }
        }
        _ => OfferOutcome::Failed,
    }
}
