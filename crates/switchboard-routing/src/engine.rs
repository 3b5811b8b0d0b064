//! The routing decision: pure functions from snapshots to a decision. No I/O, no clock, no
//! randomness — the same inputs always give the same output, so every replica agrees and
//! every edge case has a plain unit test.
//!
//! [`rank_agents`] answers "which agents, in which order, should this call be offered to
//! now?" with [`RoutingDecision::Offer`], [`RoutingDecision::Wait`] or
//! [`RoutingDecision::Overflow`]. The worker then tries to reserve the ranked agents in order
//! (atomically, in the store) and rings the first it gets. On ring-no-answer it adds that
//! agent to `excluded`, increments `attempts` and asks again.
//!
//! [`next_call_for_agent`] is the other direction: an agent became free, which waiting call
//! gets them (queue priority, then wait time).
//!
//! # Evaluation order in `rank_agents`
//! 1. Waited `max_wait` or longer → overflow (`MaxWaitExceeded`).
//! 2. `attempts >= max_attempts` → overflow (`MaxAttemptsReached`).
//! 3. Eligible agents: enabled and meeting the queue's required skills and the call's extra
//!    skills. None → overflow (`NoEligibleAgents`).
//! 4. Remove `excluded` (already tried for this call). None left → overflow
//!    (`AllAgentsTried`).
//! 5. Per agent: free capacity (active + reserved < capacity), not in wrap-up, presence
//!    routable under the queue's [`PresencePolicy`](crate::presence::PresencePolicy). If
//!    nobody passes → wait, with counts of why and a `retry_after` (the earliest of the
//!    queue's `wait_retry`, the first wrap-up end and the max-wait deadline).
//! 6. Order by the queue's strategy → offer.
//!
//! # Tie-breaking (deterministic)
//! Agents whose presence is confirmed (or who are on one of our calls) always come before
//! agents offered on the roster alone because their presence is unknown or stale. Within
//! that, each strategy's key decides (see [`Strategy`](crate::strategy::Strategy)); when every key is equal the agent
//! with the smaller OID (byte-wise string order) comes first. Input order never matters.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use switchboard_events::TeamsUserId;
use time::OffsetDateTime;

use crate::model::{saturating_add, AgentSnapshot, CallRequirements, QueueName};
use crate::presence::{PresenceFallback, PresenceStatus, PresenceView};
use crate::queue::{CallQueueConfig, OverflowTarget};
// Defined with the strategies that build them; re-exported because an offer is made of them.
pub use crate::strategy::{Candidate, CandidatePresence, RankReason};

/// Shortest `retry_after` a wait decision carries, so a misconfigured `wait_retry` of zero
/// cannot turn a waiting call into a busy loop.
pub(crate) const MIN_RETRY_AFTER: Duration = Duration::from_millis(100);

/// The engine's answer for one call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum RoutingDecision {
    /// Offer the call to these agents, best first. Reserve them in this order.
    Offer {
        /// Never empty.
        ranked: Vec<Candidate>,
    },
    /// Nobody can take the call right now; ask again after `retry_after`.
    Wait {
        /// How many untried agents were held back, by cause (for the timeline and logs).
        reason: WaitReason,
        /// When asking again could give another answer: the earliest of the queue's
        /// `wait_retry`, the first wrap-up end and the max-wait deadline, never below 100 ms.
        /// Asking earlier is safe, only wasted: the answer is the same until something
        /// changes. A freed agent is matched separately ([`next_call_for_agent`]).
        #[serde(rename = "retry_after_ms", serialize_with = "ser_millis")]
        retry_after: Duration,
    },
    /// Stop trying in this queue; send the call to `target`.
    Overflow {
        /// The queue's configured overflow target, unchanged.
        target: OverflowTarget,
        /// Which limit was hit.
        reason: OverflowReason,
    },
}

impl RoutingDecision {
    /// The ranked candidates if this is an offer.
    pub fn candidates(&self) -> &[Candidate] {
        match self {
            Self::Offer { ranked } => ranked,
            _ => &[],
        }
    }

    /// The OIDs of the ranked candidates, in order (empty unless an offer).
    pub fn ranked_ids(&self) -> Vec<&TeamsUserId> {
        self.candidates().iter().map(|c| &c.agent).collect()
    }
}

fn ser_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Why a call waits: how many untried eligible agents were held back by each cause.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WaitReason {
    /// Eligible agents not yet tried for this call.
    pub untried: usize,
    /// Active calls plus reservations fill their capacity.
    pub at_capacity: usize,
    /// Still wrapping up their previous call.
    pub in_wrap_up: usize,
    /// Presence fresh but not routable (Busy, Away, Offline, ...).
    pub not_available: usize,
    /// Presence unknown or stale and the fallback is `wait`.
    pub presence_unknown: usize,
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} untried agents: {} at capacity, {} in wrap-up, {} not available, {} presence unknown",
            self.untried, self.at_capacity, self.in_wrap_up, self.not_available, self.presence_unknown
        )
    }
}

/// Why a call overflows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum OverflowReason {
    /// The caller waited the queue's max wait.
    MaxWaitExceeded {
        /// Whole seconds since the call started waiting in this queue.
        waited_secs: u64,
    },
    /// The queue's max attempts were used.
    MaxAttemptsReached {
        /// Offers already made for the call (at least the queue's `max_attempts`).
        attempts: u32,
    },
    /// No enabled agent has the required skills.
    NoEligibleAgents,
    /// Every eligible agent was already tried for this call.
    AllAgentsTried {
        /// Eligible agents excluded because they were already offered the call.
        tried: usize,
    },
}

impl fmt::Display for OverflowReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MaxWaitExceeded { waited_secs } => {
                write!(f, "max wait exceeded after {waited_secs}s")
            }
            Self::MaxAttemptsReached { attempts } => {
                write!(f, "max attempts reached ({attempts})")
            }
            Self::NoEligibleAgents => f.write_str("no eligible agents"),
            Self::AllAgentsTried { tried } => write!(f, "all {tried} eligible agents tried"),
        }
    }
}

/// Ranks the agents for one call. See the [module docs](self) for the evaluation order and
/// the tie-breaking rules.
///
/// `queue` is the configuration of the queue the call is in (the caller looks it up by
/// `call.queue`); `excluded` holds the agents already tried for this call.
pub fn rank_agents(
    call: &CallRequirements,
    queue: &CallQueueConfig,
    agents: &[AgentSnapshot],
    presence: &PresenceView,
    now: OffsetDateTime,
    excluded: &HashSet<TeamsUserId>,
) -> RoutingDecision {
    let overflow = |reason| RoutingDecision::Overflow {
        target: queue.overflow.clone(),
        reason,
    };

    // 1–2: the call's own limits come first, whatever the agents look like.
    let waited = now - call.waiting_since;
    let deadline = saturating_add(call.waiting_since, queue.max_wait);
    if now >= deadline {
        return overflow(OverflowReason::MaxWaitExceeded {
            waited_secs: waited.whole_seconds().max(0).unsigned_abs(),
        });
    }
    if call.attempts >= queue.max_attempts {
        return overflow(OverflowReason::MaxAttemptsReached {
            attempts: call.attempts,
        });
    }

    // 3: eligibility (skills, enabled).
    let eligible = agents
        .iter()
        .filter(|a| a.enabled && a.meets(&queue.required_skills) && a.meets(&call.extra_skills));
    let mut eligible_count = 0usize;
    let mut tried = 0usize;
    let mut reason = WaitReason::default();
    let mut earliest_wrap_up_end: Option<OffsetDateTime> = None;
    let mut routable: Vec<(&AgentSnapshot, CandidatePresence)> = Vec::new();

    for agent in eligible {
        eligible_count += 1;
        // 4: ring-no-answer / declined agents are not offered this call again.
        if !excluded.is_empty() && excluded.contains(&agent.oid) {
            tried += 1;
            continue;
        }
        reason.untried += 1;
        // 5: capacity, wrap-up, presence.
        if !agent.has_free_capacity() {
            reason.at_capacity += 1;
            continue;
        }
        if agent.in_wrap_up(now) {
            reason.in_wrap_up += 1;
            if let Some(end) = agent.wrap_up_ends_at() {
                earliest_wrap_up_end = Some(earliest_wrap_up_end.map_or(end, |e| e.min(end)));
            }
            continue;
        }
        let policy = &queue.presence;
        let how = if agent.live.active_calls > 0 && policy.ignore_while_on_our_call {
            CandidatePresence::OnOurCall
        } else {
            match policy.evaluate(presence.get(&agent.oid), now) {
                PresenceStatus::Routable => CandidatePresence::Confirmed,
                PresenceStatus::NotRoutable { .. } => {
                    reason.not_available += 1;
                    continue;
                }
                status @ (PresenceStatus::Unknown | PresenceStatus::Stale { .. }) => {
                    match policy.fallback {
                        PresenceFallback::Route => CandidatePresence::Assumed { status },
                        PresenceFallback::Wait => {
                            reason.presence_unknown += 1;
                            continue;
                        }
                    }
                }
            }
        };
        routable.push((agent, how));
    }

    if eligible_count == 0 {
        return overflow(OverflowReason::NoEligibleAgents);
    }
    if reason.untried == 0 {
        return overflow(OverflowReason::AllAgentsTried { tried });
    }
    if routable.is_empty() {
        let mut retry_after = queue.wait_retry;
        if let Some(end) = earliest_wrap_up_end {
            retry_after = retry_after.min((end - now).unsigned_abs());
        }
        retry_after = retry_after.min((deadline - now).unsigned_abs());
        return RoutingDecision::Wait {
            reason,
            retry_after: retry_after.max(MIN_RETRY_AFTER),
        };
    }

    // 6: order.
    let ranked = queue.strategy.rank(
        routable,
        call,
        &queue.required_skills,
        &queue.preferred_skills,
        now,
    );
    RoutingDecision::Offer { ranked }
}

/// Service order of a waiting call: higher priority first (`Reverse`), unknown queues
/// (`None`) last, then the earliest `waiting_since` (as Unix nanoseconds).
type CallKey = (Reverse<Option<i32>>, i128);

fn call_key(call: &CallRequirements, priority: Option<i32>) -> CallKey {
    (Reverse(priority), call.waiting_since.unix_timestamp_nanos())
}

/// Orders waiting calls for service: higher queue priority first, then the call waiting
/// longest, then the smaller call id (so equal timestamps still give one order). Calls whose
/// queue is not configured sort last, in the same order among themselves. Returns indices
/// into `calls`.
pub fn order_waiting_calls(
    calls: &[CallRequirements],
    queues: &BTreeMap<QueueName, CallQueueConfig>,
) -> Vec<usize> {
    // Keys are computed once per call, so sorting compares integers, not queue names.
    let mut keyed: Vec<(CallKey, usize)> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| (call_key(c, queues.get(&c.queue).map(|q| q.priority)), i))
        .collect();
    keyed.sort_unstable_by(|(ka, a), (kb, b)| {
        ka.cmp(kb)
            .then_with(|| calls[*a].call_id.cmp(&calls[*b].call_id))
            .then_with(|| a.cmp(b))
    });
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// A freed agent: which waiting call should it take? The first call in
/// [`order_waiting_calls`] order whose queue exists, whose required skills and extra skills
/// the agent meets. Returns its index in `calls`, or `None`.
///
/// The caller leaves out calls this agent was already tried for. Capacity, wrap-up and
/// presence of the agent are the caller's to check (it just became free).
pub fn next_call_for_agent(
    agent: &AgentSnapshot,
    calls: &[CallRequirements],
    queues: &BTreeMap<QueueName, CallQueueConfig>,
) -> Option<usize> {
    if !agent.enabled {
        return None;
    }
    // Which queues the agent qualifies for is decided once per queue, not once per call;
    // then one pass keeps the best call (no sort needed for a single winner).
    let qualified: BTreeMap<&str, i32> = queues
        .values()
        .filter(|q| agent.meets(&q.required_skills))
        .map(|q| (q.name.as_str(), q.priority))
        .collect();
    let mut best: Option<(CallKey, usize)> = None;
    for (i, call) in calls.iter().enumerate() {
        let Some(priority) = qualified.get(call.queue.as_str()) else {
            continue;
        };
        if !agent.meets(&call.extra_skills) {
            continue;
        }
        let key = call_key(call, Some(*priority));
        let better = match &best {
            None => true,
            Some((bk, bi)) => key
                .cmp(bk)
                .then_with(|| call.call_id.cmp(&calls[*bi].call_id))
                .is_lt(),
        };
        if better {
            best = Some((key, i));
        }
    }
    best.map(|(_, i)| i)
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
