//! Presence as the engine uses it: Graph availabilities, a snapshot of observations
//! ([`PresenceView`]) and the policy that turns an observation into "may we ring this agent".
//!
//! The view is filled by [`crate::presence_cache::PresenceCache`] (Graph) or built by hand
//! (tests, the simulator); the engine only reads it. An agent missing from the view, or
//! observed longer ago than [`PresencePolicy::max_age`], has *unknown* presence and the
//! policy's [`PresenceFallback`] decides.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use switchboard_events::TeamsUserId;
use time::OffsetDateTime;

/// A Graph presence `availability` value (the base presence of a Teams user).
///
/// Graph documents `Available`, `AvailableIdle`, `Away`, `BeRightBack`, `Busy`, `BusyIdle`,
/// `DoNotDisturb`, `Offline` and `PresenceUnknown`; newer docs also list values such as
/// `Focusing`. Anything we do not know is kept as [`Other`](Self::Other) rather than
/// rejected, so a new Graph value never breaks routing (it is simply not routable unless the
/// operator lists it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Availability {
    /// Signed in and free. Routable by default.
    Available,
    /// Free but inactive for a while (Teams shows "Available"). Routable by default, since an
    /// idle agent is often just away from the keyboard between calls.
    AvailableIdle,
    /// Away from the device (set by the user or after inactivity).
    Away,
    /// Set by the user to say they will be back shortly.
    BeRightBack,
    /// In a call or meeting, or set busy by the user. On one of *our* calls an agent shows
    /// Busy too; the engine treats that case separately (`ignore_while_on_our_call`).
    Busy,
    /// Busy but inactive.
    BusyIdle,
    /// Do not disturb, including presenting; notifications are suppressed.
    DoNotDisturb,
    /// Signed out or offline everywhere.
    Offline,
    /// Graph has no presence for the user (e.g. no Teams licence or never signed in).
    PresenceUnknown,
    /// A value this version does not know, as Graph spelled it.
    Other(String),
}

impl Availability {
    /// Every documented value, in Graph's spelling.
    pub const KNOWN: [&'static str; 9] = [
        "Available",
        "AvailableIdle",
        "Away",
        "BeRightBack",
        "Busy",
        "BusyIdle",
        "DoNotDisturb",
        "Offline",
        "PresenceUnknown",
    ];

    /// Graph's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Available => "Available",
            Self::AvailableIdle => "AvailableIdle",
            Self::Away => "Away",
            Self::BeRightBack => "BeRightBack",
            Self::Busy => "Busy",
            Self::BusyIdle => "BusyIdle",
            Self::DoNotDisturb => "DoNotDisturb",
            Self::Offline => "Offline",
            Self::PresenceUnknown => "PresenceUnknown",
            Self::Other(s) => s,
        }
    }

    /// Parses Graph's value case-insensitively (the beta docs spell them `available`,
    /// `beRightBack`, ...). Never fails: unknown values become [`Other`](Self::Other).
    pub fn parse(s: &str) -> Self {
        let known = [
            Self::Available,
            Self::AvailableIdle,
            Self::Away,
            Self::BeRightBack,
            Self::Busy,
            Self::BusyIdle,
            Self::DoNotDisturb,
            Self::Offline,
            Self::PresenceUnknown,
        ];
        known
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .unwrap_or_else(|| Self::Other(s.to_owned()))
    }

    /// The routable set used when the configuration does not say: `Available`,
    /// `AvailableIdle`.
    pub(crate) fn default_routable() -> BTreeSet<Availability> {
        [Self::Available, Self::AvailableIdle].into_iter().collect()
    }
}

impl FromStr for Availability {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Availability {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Availability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

/// One presence reading of one user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceObservation {
    /// Base presence.
    pub availability: Availability,
    /// Graph's `activity` (`InACall`, `InAMeeting`, `Presenting`, ...), kept as text.
    pub activity: String,
    /// When Switchboard read it from Graph.
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
}

/// A small multiply-rotate hasher (the Fx hash used inside rustc). The engine looks up
/// every agent's presence on every decision; SipHash's DoS resistance buys nothing here
/// because the keys are OIDs from our own roster and Graph, not attacker-chosen, and Fx is
/// several times faster on 36-byte GUID strings.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OidHasher(u64);

impl OidHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for OidHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type OidMap<V> = HashMap<TeamsUserId, V, BuildHasherDefault<OidHasher>>;

/// Presence of many users at one moment, keyed by OID. Missing users are "unknown".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PresenceView {
    entries: OidMap<PresenceObservation>,
}

impl PresenceView {
    /// An empty view: everyone's presence is unknown (what routing sees when Graph is not
    /// configured or unreachable).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an observation, replacing any earlier one for the same user.
    pub fn insert(&mut self, oid: TeamsUserId, observation: PresenceObservation) {
        self.entries.insert(oid, observation);
    }

    /// The observation for `oid`, if any.
    pub fn get(&self, oid: &TeamsUserId) -> Option<&PresenceObservation> {
        self.entries.get(oid)
    }

    /// Number of users with an observation.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nobody has an observation.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Iterates over all observations.
    pub fn iter(&self) -> impl Iterator<Item = (&TeamsUserId, &PresenceObservation)> {
        self.entries.iter()
    }
}

impl FromIterator<(TeamsUserId, PresenceObservation)> for PresenceView {
    fn from_iter<T: IntoIterator<Item = (TeamsUserId, PresenceObservation)>>(iter: T) -> Self {
        Self {
            entries: iter.into_iter().collect(),
        }
    }
}

/// What to do with an agent whose presence is unknown (not in the view, Graph down) or stale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PresenceFallback {
    /// Offer the agent anyway, on the roster and store state alone, after every agent whose
    /// presence is confirmed routable. The default: a Graph outage must not stop the
    /// contact centre, and the ring timeout covers an agent who is not really there.
    #[default]
    Route,
    /// Do not offer the agent until presence is known again.
    Wait,
}

/// How presence gates routing. Set globally in `[presence]` and per queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresencePolicy {
    /// Availabilities that mean "may ring" (default `Available`, `AvailableIdle`).
    pub routable: BTreeSet<Availability>,
    /// Unknown or stale presence.
    pub fallback: PresenceFallback,
    /// Observations older than this are stale.
    #[serde(with = "crate::model::duration_secs")]
    pub max_age: Duration,
    /// Ignore presence for agents already on one of *our* calls. Their presence then reads
    /// `Busy`/`InACall` because of us, which would otherwise keep an agent with capacity > 1
    /// from ever getting a second call. Capacity still applies. Default true.
    pub ignore_while_on_our_call: bool,
}

impl Default for PresencePolicy {
    fn default() -> Self {
        Self {
            routable: Availability::default_routable(),
            fallback: PresenceFallback::Route,
            max_age: Duration::from_secs(120),
            ignore_while_on_our_call: true,
        }
    }
}

/// The verdict of a [`PresencePolicy`] on one observation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum PresenceStatus {
    /// Observed, fresh and in the routable set.
    Routable,
    /// Observed, fresh, and not routable.
    NotRoutable {
        /// What Graph said.
        availability: Availability,
    },
    /// No observation.
    Unknown,
    /// Observed too long ago.
    Stale {
        /// Age of the observation in whole seconds.
        age_secs: u64,
    },
}

impl PresencePolicy {
    /// Judges one observation at `now`.
    pub fn evaluate(
        &self,
        observation: Option<&PresenceObservation>,
        now: OffsetDateTime,
    ) -> PresenceStatus {
        let Some(obs) = observation else {
            return PresenceStatus::Unknown;
        };
        // Integer nanoseconds: this runs for every agent on every decision.
        let age_ns = now.unix_timestamp_nanos() - obs.observed_at.unix_timestamp_nanos();
        // A reading from the future (clock skew between replicas) counts as fresh.
        if age_ns > 0 && age_ns.unsigned_abs() > self.max_age.as_nanos() {
            return PresenceStatus::Stale {
                age_secs: u64::try_from(age_ns / 1_000_000_000).unwrap_or(u64::MAX),
            };
        }
        if self.routable.contains(&obs.availability) {
            PresenceStatus::Routable
        } else {
            PresenceStatus::NotRoutable {
                availability: obs.availability.clone(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn obs(a: Availability, at: OffsetDateTime) -> PresenceObservation {
        PresenceObservation {
            availability: a,
            activity: "Available".into(),
            observed_at: at,
        }
    }

    #[test]
    fn availability_parses_case_insensitively_and_keeps_unknown_values() {
        assert_eq!(Availability::parse("available"), Availability::Available);
        assert_eq!(
            Availability::parse("beRightBack"),
            Availability::BeRightBack
        );
        assert_eq!(
            Availability::parse("Focusing"),
            Availability::Other("Focusing".into())
        );
        for k in Availability::KNOWN {
            assert_eq!(Availability::parse(k).as_str(), k);
        }
        let json = serde_json::to_string(&Availability::AvailableIdle).unwrap();
        assert_eq!(json, "\"AvailableIdle\"");
    }

    #[test]
    fn policy_judges_fresh_stale_unknown() {
        let p = PresencePolicy::default();
        let now = datetime!(2026-03-01 12:00:00 UTC);
        assert_eq!(p.evaluate(None, now), PresenceStatus::Unknown);
        assert_eq!(
            p.evaluate(Some(&obs(Availability::Available, now)), now),
            PresenceStatus::Routable
        );
        assert_eq!(
            p.evaluate(Some(&obs(Availability::AvailableIdle, now)), now),
            PresenceStatus::Routable
        );
        assert_eq!(
            p.evaluate(Some(&obs(Availability::Busy, now)), now),
            PresenceStatus::NotRoutable {
                availability: Availability::Busy
            }
        );
        // Exactly max_age old is still fresh; one second more is stale.
        let edge = now - Duration::from_secs(120);
        assert_eq!(
            p.evaluate(Some(&obs(Availability::Available, edge)), now),
            PresenceStatus::Routable
        );
        let old = now - Duration::from_secs(121);
        assert_eq!(
            p.evaluate(Some(&obs(Availability::Available, old)), now),
            PresenceStatus::Stale { age_secs: 121 }
        );
        // Clock skew: a reading "from the future" is fresh.
        let future = now + Duration::from_secs(5);
        assert_eq!(
            p.evaluate(Some(&obs(Availability::Available, future)), now),
            PresenceStatus::Routable
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Parsing never fails; known values round-trip in any case; unknown ones are kept.
        #[test]
        fn availability_parse_round_trips(i in 0usize..9, upper in any::<bool>(), other in "\\PC{0,20}") {
            let known = Availability::KNOWN[i];
            let typed = if upper { known.to_uppercase() } else { known.to_lowercase() };
            let parsed_known = Availability::parse(&typed);
            prop_assert_eq!(parsed_known.as_str(), known);
            let parsed = Availability::parse(&other);
            prop_assert!(parsed.as_str().eq_ignore_ascii_case(&other));
        }

        /// The Fx hasher is deterministic and spreads 36-byte OIDs (no collisions among a
        /// few hundred distinct ids in practice).
        #[test]
        fn oid_hasher_is_deterministic(ids in proptest::collection::hash_set("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", 1..200)) {
            use std::hash::{BuildHasher, BuildHasherDefault};
            let b = BuildHasherDefault::<OidHasher>::default();
            let hashes: std::collections::HashSet<u64> = ids.iter().map(|id| b.hash_one(id)).collect();
            prop_assert_eq!(hashes.len(), ids.len());
            for id in &ids {
                prop_assert_eq!(b.hash_one(id), b.hash_one(id.clone()));
            }
        }
    }
}
