//! The data the decision functions read: queue names, skills, agent snapshots and the call.
//!
//! Everything here is a plain value. The worker builds [`AgentSnapshot`]s from the roster
//! (configuration) and the live state it keeps in the store, and a [`CallRequirements`] from
//! the call's state; the engine never performs I/O to get them.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_events::{CorrelationId, TeamsUserId};
use time::OffsetDateTime;

/// Name of a routing queue (`sales`, `support`, ...). Case-sensitive, as written in the
/// configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueueName(String);

impl QueueName {
    /// Wraps a name. Validation (allowed characters) happens when the configuration is
    /// loaded; a `QueueName` built in code is taken as is.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for QueueName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for QueueName {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for QueueName {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// Skills of an agent: skill name (lower case) → level. Higher levels are better; the scale is
/// the operator's (0–10 is typical).
pub type Skills = BTreeMap<String, u8>;

/// "Needs `skill` at level `min_level` or better".
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SkillRequirement {
    /// Skill name, lower case.
    pub skill: String,
    /// Minimum level (inclusive).
    pub min_level: u8,
}

impl SkillRequirement {
    /// A requirement; the skill name is lower-cased so it matches the roster's spelling.
    pub fn new(skill: impl AsRef<str>, min_level: u8) -> Self {
        Self {
            skill: skill.as_ref().to_lowercase(),
            min_level,
        }
    }

    /// True if `skills` has this skill at the minimum level or better.
    pub fn is_met_by(&self, skills: &Skills) -> bool {
        skills
            .get(&self.skill)
            .is_some_and(|level| *level >= self.min_level)
    }
}

/// What the store knows about an agent right now. All fields default to "idle, never
/// handled a call", which is what a freshly loaded roster looks like.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLiveState {
    /// Calls the agent is connected to through Switchboard.
    pub active_calls: u32,
    /// Reservations held for the agent that have not become active calls yet (an offer that
    /// is ringing). They use capacity like active calls do.
    pub reserved: u32,
    /// When the agent's last call through Switchboard ended. `None`: no call since the state
    /// began, which longest-idle ranks as the longest idle of all.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_released_at: Option<OffsetDateTime>,
    /// End of the wrap-up period the store recorded at release, if any.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub wrap_up_until: Option<OffsetDateTime>,
}

/// One agent as the engine sees it: the roster entry (who, skills, capacity, wrap-up) plus
/// the live state from the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSnapshot {
    /// Entra object id; the agent's identity everywhere.
    pub oid: TeamsUserId,
    /// Display name, for logs and timelines.
    pub display_name: String,
    /// Skills with levels.
    pub skills: Skills,
    /// Concurrent calls the agent may take (at least 1).
    pub capacity: u32,
    /// Pause after each call before the agent is offered again.
    #[serde(with = "duration_secs")]
    pub wrap_up: Duration,
    /// False takes the agent out of routing without deleting the roster entry.
    pub enabled: bool,
    /// Live state from the store.
    pub live: AgentLiveState,
}

impl AgentSnapshot {
    /// An enabled agent with capacity 1, no wrap-up, no skills and an idle live state; a
    /// starting point for tests and tools.
    pub fn new(oid: impl Into<TeamsUserId>, display_name: impl Into<String>) -> Self {
        Self {
            oid: oid.into(),
            display_name: display_name.into(),
            skills: Skills::new(),
            capacity: 1,
            wrap_up: Duration::ZERO,
            enabled: true,
            live: AgentLiveState::default(),
        }
    }

    /// Capacity in use: active calls plus pending reservations.
    pub fn in_use(&self) -> u32 {
        self.live.active_calls.saturating_add(self.live.reserved)
    }

    /// True if one more call fits.
    pub fn has_free_capacity(&self) -> bool {
        self.in_use() < self.capacity.max(1)
    }

    /// When the agent's wrap-up ends: the later of what the store recorded and the last
    /// release plus the roster's wrap-up time. Both are considered so that a store that
    /// only tracks `last_released_at` and a roster change of the wrap-up time are honoured.
    pub fn wrap_up_ends_at(&self) -> Option<OffsetDateTime> {
        let from_release = self
            .live
            .last_released_at
            .map(|t| saturating_add(t, self.wrap_up));
        match (self.live.wrap_up_until, from_release) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// True if the agent is still wrapping up its last call at `now`.
    pub fn in_wrap_up(&self, now: OffsetDateTime) -> bool {
        self.wrap_up_ends_at().is_some_and(|end| end > now)
    }

    /// True if every requirement is met.
    pub fn meets(&self, requirements: &[SkillRequirement]) -> bool {
        requirements.iter().all(|r| r.is_met_by(&self.skills))
    }
}

/// What the engine needs to know about the call being routed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRequirements {
    /// The call (correlation id); used only for logs and deterministic ordering of calls.
    pub call_id: CorrelationId,
    /// The queue the call was classified to.
    pub queue: QueueName,
    /// When the call started waiting in this queue (max wait counts from here).
    #[serde(with = "time::serde::rfc3339")]
    pub waiting_since: OffsetDateTime,
    /// Offers already made for this call (rung agents); max attempts counts these.
    pub attempts: u32,
    /// Skills this particular call needs on top of the queue's (e.g. a language taken from
    /// a `customContext` header).
    #[serde(default)]
    pub extra_skills: Vec<SkillRequirement>,
    /// The queue's round-robin cursor: the agent that received the previous offer in this
    /// queue, as kept in the store. Only read by the round-robin strategy.
    #[serde(default)]
    pub round_robin_cursor: Option<TeamsUserId>,
}

impl CallRequirements {
    /// A call that just started waiting in `queue`, with no attempts yet.
    pub fn new(
        call_id: impl Into<CorrelationId>,
        queue: impl Into<QueueName>,
        waiting_since: OffsetDateTime,
    ) -> Self {
        Self {
            call_id: call_id.into(),
            queue: queue.into(),
            waiting_since,
            attempts: 0,
            extra_skills: Vec::new(),
            round_robin_cursor: None,
        }
    }
}

/// `t + d`, clamped to the largest representable time instead of panicking: timestamps
/// come from the store and durations from configuration, and neither may crash routing.
pub fn saturating_add(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    time::Duration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d))
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_offset(t.offset()))
}

/// Serde helper: a `Duration` as whole seconds (what the configuration and JSON output use).
pub(crate) mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn wrap_up_end_is_the_later_of_store_and_roster() {
        let mut a = AgentSnapshot::new("a", "A");
        a.wrap_up = Duration::from_secs(30);
        assert_eq!(a.wrap_up_ends_at(), None);

        a.live.last_released_at = Some(datetime!(2026-01-01 10:00:00 UTC));
        assert_eq!(
            a.wrap_up_ends_at(),
            Some(datetime!(2026-01-01 10:00:30 UTC))
        );

        a.live.wrap_up_until = Some(datetime!(2026-01-01 10:01:00 UTC));
        assert_eq!(
            a.wrap_up_ends_at(),
            Some(datetime!(2026-01-01 10:01:00 UTC))
        );
        assert!(a.in_wrap_up(datetime!(2026-01-01 10:00:59 UTC)));
        assert!(!a.in_wrap_up(datetime!(2026-01-01 10:01:00 UTC)));
    }

    #[test]
    fn huge_wrap_up_saturates_instead_of_panicking() {
        let mut a = AgentSnapshot::new("a", "A");
        a.wrap_up = Duration::from_secs(u64::MAX);
        a.live.last_released_at = Some(datetime!(2026-01-01 10:00:00 UTC));
        assert!(a.in_wrap_up(datetime!(9999-01-01 00:00:00 UTC)));
    }

    #[test]
    fn capacity_counts_reservations() {
        let mut a = AgentSnapshot::new("a", "A");
        assert!(a.has_free_capacity());
        a.live.reserved = 1;
        assert!(!a.has_free_capacity());
        a.capacity = 2;
        assert!(a.has_free_capacity());
        a.live.active_calls = 1;
        assert!(!a.has_free_capacity());
        // A capacity of 0 from a hand-built snapshot is treated as 1, never as "always full".
        let mut b = AgentSnapshot::new("b", "B");
        b.capacity = 0;
        assert!(b.has_free_capacity());
    }

    #[test]
    fn requirements_need_the_skill_at_level() {
        let mut a = AgentSnapshot::new("a", "A");
        a.skills.insert("spanish".into(), 3);
        assert!(a.meets(&[SkillRequirement::new("Spanish", 3)]));
        assert!(!a.meets(&[SkillRequirement::new("spanish", 4)]));
        assert!(!a.meets(&[SkillRequirement::new("french", 0)]));
        assert!(a.meets(&[]));
    }
}
