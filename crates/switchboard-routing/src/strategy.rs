//! The routing strategies: how a queue orders the agents who could take a call now.
//!
//! Everything a strategy is lives here: its [`Strategy`] variant (the configuration spelling
//! comes from serde's kebab-case), its [`RankReason`] (what the offer's timeline shows) and its
//! ranking function, chosen in `Strategy::rank`. The engine has already dropped agents who
//! cannot take the call; a strategy only orders the rest, into the [`Candidate`]s of an offer.
//!
//! This module sits below [`queue`](crate::queue) and [`engine`](crate::engine) and imports
//! neither: a strategy gets the queue's skills as plain slices, and [`Candidate`] and
//! [`CandidatePresence`] are defined here (the engine re-exports them), so that adding a
//! strategy or a queue setting never makes the modules depend on each other in a circle.
//!
//! Ranking is pure. State a strategy keeps between calls comes in with the call
//! ([`CallRequirements::round_robin_cursor`]); the worker loads and saves it in the store for
//! the strategies where [`Strategy::keeps_cursor`] is true.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use switchboard_events::TeamsUserId;
use time::OffsetDateTime;

use crate::model::{AgentSnapshot, CallRequirements, SkillRequirement};
use crate::presence::PresenceStatus;

/// How a queue orders the agents it may offer a call to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Fewest calls in progress first, then the agent whose last call ended longest ago
    /// (agents who have not had a call yet count as idle the longest). The default, and what
    /// most contact centres mean by "fair".
    #[default]
    LongestIdle,
    /// Agents in a fixed ring (ordered by OID), starting after the agent that got the
    /// previous offer in this queue (the cursor the store keeps).
    RoundRobin,
    /// Highest skill score first: the sum of the agent's levels in the queue's required and
    /// preferred skills and the call's extra skills. Ties go to longest-idle.
    SkillsBestMatch,
}

impl Strategy {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LongestIdle => "longest-idle",
            Self::RoundRobin => "round-robin",
            Self::SkillsBestMatch => "skills-best-match",
        }
    }

    /// True if the strategy continues from the agent the queue reserved last (the cursor the
    /// worker keeps in the store per queue and passes in
    /// [`CallRequirements::round_robin_cursor`]).
    pub fn keeps_cursor(self) -> bool {
        matches!(self, Self::RoundRobin)
    }

    /// Orders the agents that can take `call` now, best first.
    pub(crate) fn rank(
        self,
        routable: Vec<(&AgentSnapshot, CandidatePresence)>,
        call: &CallRequirements,
        required_skills: &[SkillRequirement],
        preferred_skills: &[SkillRequirement],
        now: OffsetDateTime,
    ) -> Vec<Candidate> {
        match self {
            Self::LongestIdle => rank_longest_idle(routable, now),
            Self::RoundRobin => rank_round_robin(routable, call.round_robin_cursor.as_ref()),
            Self::SkillsBestMatch => {
                rank_skills(routable, call, required_skills, preferred_skills, now)
            }
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One agent in an offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The agent.
    pub agent: TeamsUserId,
    /// The strategy's primary measure, higher is better (see [`RankReason`] for what it
    /// counts). Informational: the list order is authoritative, and candidates offered on
    /// the roster alone come after confirmed ones whatever their score.
    pub score: i64,
    /// Why the agent is where it is.
    pub reason: RankReason,
    /// How presence was established.
    pub presence: CandidatePresence,
}

/// How a candidate's presence was established.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "presence", rename_all = "kebab-case")]
pub enum CandidatePresence {
    /// Graph says routable and the reading is fresh.
    Confirmed,
    /// The agent is on one of our calls, so their Graph presence reflects us and was not
    /// consulted (capacity still applied).
    OnOurCall,
    /// Unknown or stale presence; offered on the roster alone (fallback `route`).
    Assumed {
        /// Why presence was not confirmed: `Unknown` (no reading) or `Stale` (too old).
        status: PresenceStatus,
    },
}

impl CandidatePresence {
    /// Sort tier: confirmed and on-our-call agents (0) before agents assumed on the roster
    /// alone (1), whatever the strategy's own key says.
    pub(crate) fn tier(&self) -> u8 {
        match self {
            Self::Confirmed | Self::OnOurCall => 0,
            Self::Assumed { .. } => 1,
        }
    }
}

/// Why a candidate ranks where it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "strategy", rename_all = "kebab-case")]
pub enum RankReason {
    /// Score: seconds since the last call ended (`i64::MAX` if the agent has had none).
    LongestIdle {
        /// Active calls plus reservations; fewer ranks first, before idle time.
        in_use: u32,
        /// Whole seconds since the agent's last call ended; `None` if it has had none.
        idle_secs: Option<u64>,
    },
    /// Score: agents after this one in the ring order (the first candidate scores highest).
    RoundRobin {
        /// 0-based place in this offer after rotating the ring past the cursor.
        position: usize,
    },
    /// Score: the skill score.
    SkillsBestMatch {
        /// Sum of the agent's levels in every skill the queue requires or prefers and the
        /// call adds, each skill counted once.
        skill_score: u32,
        /// Active calls plus reservations; the first tie-break.
        in_use: u32,
        /// Whole seconds since the last call ended (`None`: none yet); the second tie-break.
        idle_secs: Option<u64>,
    },
}

impl fmt::Display for RankReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = |f: &mut fmt::Formatter<'_>, idle: &Option<u64>| match idle {
            Some(s) => write!(f, "idle {s}s"),
            None => f.write_str("no call yet"),
        };
        match self {
            Self::LongestIdle { in_use, idle_secs } => {
                write!(f, "longest-idle: {in_use} in use, ")?;
                idle(f, idle_secs)
            }
            Self::RoundRobin { position } => write!(f, "round-robin: position {position}"),
            Self::SkillsBestMatch {
                skill_score,
                in_use,
                idle_secs,
            } => {
                write!(
                    f,
                    "skills-best-match: score {skill_score}, {in_use} in use, "
                )?;
                idle(f, idle_secs)
            }
        }
    }
}

/// Seconds since the agent's last call ended (`None`: none yet).
fn idle_secs(agent: &AgentSnapshot, now: OffsetDateTime) -> Option<u64> {
    agent
        .live
        .last_released_at
        .map(|t| (now - t).whole_seconds().max(0).unsigned_abs())
}

fn idle_score(idle: Option<u64>) -> i64 {
    idle.map_or(i64::MAX, |s| i64::try_from(s).unwrap_or(i64::MAX))
}

/// When the last call ended as a plain integer (Unix nanoseconds; `i128::MIN` for "never",
/// which sorts first = longest idle). Computed once per agent so that sorting compares
/// integers, not timestamps with offsets.
fn released_key(agent: &AgentSnapshot) -> i128 {
    agent
        .live
        .last_released_at
        .map_or(i128::MIN, OffsetDateTime::unix_timestamp_nanos)
}

/// A routable agent with its precomputed sort key. The key is all integers; agents with
/// equal keys are ordered by OID, which makes the order total and independent of the input
/// order (OIDs are unique in a roster).
struct Keyed<'a, K> {
    key: K,
    agent: &'a AgentSnapshot,
    presence: CandidatePresence,
}

fn sort_keyed<K: Ord>(items: &mut [Keyed<'_, K>]) {
    items.sort_unstable_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then_with(|| a.agent.oid.cmp(&b.agent.oid))
    });
}

fn rank_longest_idle(
    routable: Vec<(&AgentSnapshot, CandidatePresence)>,
    now: OffsetDateTime,
) -> Vec<Candidate> {
    let mut items: Vec<Keyed<'_, (u8, u32, i128)>> = routable
        .into_iter()
        .map(|(agent, presence)| Keyed {
            key: (presence.tier(), agent.in_use(), released_key(agent)),
            agent,
            presence,
        })
        .collect();
    sort_keyed(&mut items);
    items
        .into_iter()
        .map(|k| {
            let idle = idle_secs(k.agent, now);
            Candidate {
                agent: k.agent.oid.clone(),
                score: idle_score(idle),
                reason: RankReason::LongestIdle {
                    in_use: k.agent.in_use(),
                    idle_secs: idle,
                },
                presence: k.presence,
            }
        })
        .collect()
}

fn rank_round_robin(
    routable: Vec<(&AgentSnapshot, CandidatePresence)>,
    cursor: Option<&TeamsUserId>,
) -> Vec<Candidate> {
    // The ring is OID order. Agents after the cursor come first, then the ring wraps. The
    // cursor need not be in the list (it may be busy or gone): the ring position is where it
    // would sort.
    let mut items: Vec<Keyed<'_, (u8, bool)>> = routable
        .into_iter()
        .map(|(agent, presence)| Keyed {
            key: (presence.tier(), cursor.is_some_and(|c| agent.oid <= *c)),
            agent,
            presence,
        })
        .collect();
    sort_keyed(&mut items);
    let n = items.len();
    items
        .into_iter()
        .enumerate()
        .map(|(position, k)| Candidate {
            agent: k.agent.oid.clone(),
            score: i64::try_from(n - position).unwrap_or(i64::MAX),
            reason: RankReason::RoundRobin { position },
            presence: k.presence,
        })
        .collect()
}

/// Presence tier, skill score (higher first), capacity in use, last release.
type SkillsKey = (u8, Reverse<u32>, u32, i128);

fn rank_skills(
    routable: Vec<(&AgentSnapshot, CandidatePresence)>,
    call: &CallRequirements,
    required_skills: &[SkillRequirement],
    preferred_skills: &[SkillRequirement],
    now: OffsetDateTime,
) -> Vec<Candidate> {
    // Each skill named by the queue (required or preferred) or the call counts once.
    let skills: BTreeSet<&str> = required_skills
        .iter()
        .chain(preferred_skills)
        .chain(&call.extra_skills)
        .map(|r| r.skill.as_str())
        .collect();
    let score_of = |a: &AgentSnapshot| -> u32 {
        skills
            .iter()
            .filter_map(|s| a.skills.get(*s))
            .map(|l| u32::from(*l))
            .sum()
    };
    let mut items: Vec<Keyed<'_, SkillsKey>> = routable
        .into_iter()
        .map(|(agent, presence)| Keyed {
            key: (
                presence.tier(),
                Reverse(score_of(agent)),
                agent.in_use(),
                released_key(agent),
            ),
            agent,
            presence,
        })
        .collect();
    sort_keyed(&mut items);
    items
        .into_iter()
        .map(|k| {
            let skill_score = k.key.1 .0;
            Candidate {
                agent: k.agent.oid.clone(),
                score: i64::from(skill_score),
                reason: RankReason::SkillsBestMatch {
                    skill_score,
                    in_use: k.agent.in_use(),
                    idle_secs: idle_secs(k.agent, now),
                },
                presence: k.presence,
            }
        })
        .collect()
}
