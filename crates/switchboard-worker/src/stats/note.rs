//! Filling in the per-call ledger ([`CallLedger`](super::CallLedger)) from one flow step: the executor calls
//! [`note`] with the state before and after, and it appends what changed.

use switchboard_events::AcsEvent;
use time::OffsetDateTime;

use super::ledger::{OfferOutcome, OfferRecord, QueueVisit, VisitOutcome, MAX_ENTRIES};
use crate::flow::{CallState, FlowInput, InputKind, Internal, Phase};

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
                // A callback's agent answers the call placed to them, then the customer is
                // called: the offer was answered either way.
                Phase::Talking { agent: a, .. } | Phase::CallingCustomer { agent: a, .. }
                    if a == agent =>
                {
                    OfferOutcome::Answered
                }
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
        // A callback's wait ends when its agent answers (the customer is called next).
        Phase::Talking { .. } | Phase::CallingCustomer { .. } => VisitOutcome::Answered,
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
