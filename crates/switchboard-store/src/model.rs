//! The values the store port reads and writes, and the input limits every backend enforces.
//!
//! Everything here is plain data: backends build these from rows or hashes, the routing engine
//! and the worker read them. Instants are `time::OffsetDateTime` at millisecond precision (see
//! [`crate::clock`]).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::StoreError;

pub use switchboard_events::TeamsUserId;

/// Longest key (agent id, call key, marker key) any backend accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest call-state or archive document, serialized as JSON, in bytes. Call state is small
/// (ids, attempts, timestamps); a megabyte means a bug, not a call.
pub const MAX_DOC_BYTES: usize = 1 << 20;
/// Longest TTL or wrap-up accepted (400 days). Bounds arithmetic and catches unit mistakes.
pub const MAX_TTL: Duration = Duration::from_secs(400 * 24 * 3600);
/// Largest agent capacity (concurrent calls) accepted.
pub const MAX_CAPACITY: u32 = 1000;
/// Most candidates one `reserve_first_of` call may try.
pub const MAX_CANDIDATES: usize = 10_000;
/// Longest display name kept, in bytes.
pub const MAX_DISPLAY_NAME_BYTES: usize = 256;

/// The administrative status of an agent: set by the roster or an operator, never by routing.
/// Whether an agent can take a call *now* also depends on its reservations and wrap-up; that
/// is [`AgentState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// May be offered calls.
    #[default]
    Available,
    /// Temporarily not offered calls (break, training); keeps its place in the roster.
    Paused,
    /// Not working.
    Offline,
}

impl AgentStatus {
    /// The stored spelling (`available`, `paused`, `offline`).
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Available => "available",
            AgentStatus::Paused => "paused",
            AgentStatus::Offline => "offline",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "available" => Some(AgentStatus::Available),
            "paused" => Some(AgentStatus::Paused),
            "offline" => Some(AgentStatus::Offline),
            _ => None,
        }
    }
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an agent can do at a given instant, derived from its status, reservations and wrap-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Status available, not in wrap-up, at least one free slot: can be reserved.
    Available,
    /// Every slot of its capacity is reserved or on a call.
    Busy,
    /// Finished a call less than its wrap-up time ago.
    WrapUp,
    /// Administratively paused.
    Paused,
    /// Administratively offline.
    Offline,
}

impl AgentState {
    /// The spelling used in listings (`available`, `busy`, `wrap_up`, `paused`, `offline`).
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Available => "available",
            AgentState::Busy => "busy",
            AgentState::WrapUp => "wrap_up",
            AgentState::Paused => "paused",
            AgentState::Offline => "offline",
        }
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The roster's view of an agent, as given to [`crate::Store::upsert_agent`]. Upserting never
/// touches the agent's status, reservations or history, so reloading the roster on every worker
/// start does not un-pause anyone or reset longest-idle order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    /// Entra object id of the Teams user.
    pub id: TeamsUserId,
    /// Name shown in listings.
    pub display_name: Option<String>,
    /// Concurrent calls the agent takes (default 1).
    pub capacity: u32,
}

impl AgentProfile {
    /// An agent with capacity 1 and no display name.
    pub fn new(id: impl Into<TeamsUserId>) -> Self {
        Self {
            id: id.into(),
            display_name: None,
            capacity: 1,
        }
    }

    /// Sets the capacity.
    pub fn with_capacity(mut self, capacity: u32) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets the display name.
    pub fn with_display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// Checks the limits every backend enforces.
    pub fn validate(&self, op: &'static str) -> Result<(), StoreError> {
        validate_key(op, "agent id", self.id.as_str())?;
        validate_capacity(op, self.capacity)?;
        if let Some(name) = &self.display_name {
            if name.len() > MAX_DISPLAY_NAME_BYTES {
                return Err(StoreError::invalid(
                    op,
                    format!("display name longer than {MAX_DISPLAY_NAME_BYTES} bytes"),
                ));
            }
        }
        Ok(())
    }
}

/// A Microsoft Graph presence reading kept with the agent so replicas share one cache.
/// The store does not interpret it: which availabilities are routable is routing's call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceSnapshot {
    /// Graph `availability` (`Available`, `AvailableIdle`, `Away`, `Busy`, …).
    pub availability: String,
    /// Graph `activity` (`Available`, `InACall`, `Presenting`, …).
    pub activity: String,
    /// When it was read from Graph.
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
}

/// An agent with its live state, as of [`AgentRecord::as_of`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Entra object id of the Teams user.
    pub id: TeamsUserId,
    /// Name shown in listings.
    pub display_name: Option<String>,
    /// Concurrent calls the agent takes.
    pub capacity: u32,
    /// Administrative status.
    pub status: AgentStatus,
    /// Unexpired reservations not yet confirmed (the agent is being offered / rung).
    pub reserved: u32,
    /// Unexpired reservations confirmed as calls in progress.
    pub on_call: u32,
    /// When a reservation was last taken on this agent (round-robin order).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_reserved_at: Option<OffsetDateTime>,
    /// When a reservation on this agent was last released (longest-idle order).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_released_at: Option<OffsetDateTime>,
    /// End of the current or last wrap-up period.
    #[serde(with = "time::serde::rfc3339::option")]
    pub wrap_up_until: Option<OffsetDateTime>,
    /// Last Graph presence stored for the agent.
    pub presence: Option<PresenceSnapshot>,
    /// The store's clock when this record was read; `state` is computed for this instant.
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
}

impl AgentRecord {
    /// Reservations currently counted against capacity.
    pub fn active(&self) -> u32 {
        self.reserved.saturating_add(self.on_call)
    }

    /// Slots left under capacity (0 when busy).
    pub fn free_slots(&self) -> u32 {
        self.capacity.saturating_sub(self.active())
    }

    /// Whether the agent is in wrap-up at `as_of`.
    pub fn in_wrap_up(&self) -> bool {
        self.wrap_up_until.is_some_and(|until| until > self.as_of)
    }

    /// The agent's state at `as_of`. Administrative status wins, then busy, then wrap-up.
    pub fn state(&self) -> AgentState {
        match self.status {
            AgentStatus::Offline => AgentState::Offline,
            AgentStatus::Paused => AgentState::Paused,
            AgentStatus::Available if self.free_slots() == 0 => AgentState::Busy,
            AgentStatus::Available if self.in_wrap_up() => AgentState::WrapUp,
            AgentStatus::Available => AgentState::Available,
        }
    }

    /// Whether `reserve` would succeed for a new call at `as_of`.
    pub fn is_reservable(&self) -> bool {
        self.state() == AgentState::Available
    }
}

/// Opaque handle proving a reservation is held; needed to renew, confirm or release it.
/// Tokens are never reused, so a stale handle can never release someone else's reservation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReservationToken(String);

impl ReservationToken {
    /// Wraps a token string (backends only; callers get tokens from the store).
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReservationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a reservation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    /// Taken for a call; the agent is being offered the call (ringing).
    Reserved,
    /// The agent joined: the reservation now stands for a call in progress.
    OnCall,
}

impl ReservationState {
    /// The stored spelling (`reserved`, `on_call`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationState::Reserved => "reserved",
            ReservationState::OnCall => "on_call",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reserved" => Some(ReservationState::Reserved),
            "on_call" => Some(ReservationState::OnCall),
            _ => None,
        }
    }
}

/// One slot of an agent's capacity held for one call until `expires_at`. Serializable so the
/// worker can keep it in the call's state document and any replica can release it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Proof of holding; never reused.
    pub token: ReservationToken,
    /// The agent reserved.
    pub agent: TeamsUserId,
    /// The call it is reserved for.
    pub call_key: String,
    /// Ringing or on the call.
    pub state: ReservationState,
    /// When it was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it lapses unless renewed; from then on the slot is free again.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl<T> Versioned<T> {
    /// The same version with its value converted (e.g. text ↔ a decoded document).
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Versioned<U>, E> {
        Ok(Versioned {
            version: self.version,
            value: f(self.value)?,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
        })
    }
}

/// A call's stored document text decoded as `T`; text that does not decode is
/// [`StoreError::Corrupt`].
pub fn decode_call_doc<T: serde::de::DeserializeOwned>(
    call_key: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::corrupt(
            "get_call",
            format!("call state for {call_key:?} does not decode: {e}"),
        )
    })
}

/// A value with the version the store gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// Changes on every write and is never reused for the key, even after it is deleted or
    /// expires and is created again (so a stale writer cannot win by coincidence). Opaque:
    /// compare for equality only.
    pub version: u64,
    /// The document.
    pub value: T,
    /// When this version was written.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the document expires unless written again.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Result of a compare-and-set. A conflict is a normal outcome: re-read and decide again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum CasOutcome {
    /// The document was written and now has `version`.
    Written {
        /// The new version.
        version: u64,
    },
    /// Someone else changed it first; nothing was written. `current` is the version now
    /// stored (`None`: absent or expired).
    Conflict {
        /// The version now stored.
        current: Option<u64>,
    },
}

impl CasOutcome {
    /// The new version if written.
    pub fn written(self) -> Option<u64> {
        match self {
            CasOutcome::Written { version } => Some(version),
            CasOutcome::Conflict { .. } => None,
        }
    }

    /// Whether this was a conflict.
    pub fn is_conflict(self) -> bool {
        matches!(self, CasOutcome::Conflict { .. })
    }
}

/// The audit record kept for a finished call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedCall {
    /// The call.
    pub call_key: String,
    /// The document given to `archive_call`.
    pub doc: serde_json::Value,
    /// When it was archived.
    #[serde(with = "time::serde::rfc3339")]
    pub archived_at: OffsetDateTime,
    /// When the record disappears.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// What a sweep removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SweepReport {
    /// Expired reservations reclaimed.
    pub reservations: u64,
    /// Expired call-state documents removed.
    pub calls: u64,
    /// Expired archive records removed.
    pub archived_calls: u64,
    /// Expired idempotency markers removed.
    pub marks: u64,
    /// Expired set members removed (Redis drops them when it reads a set, and the set key
    /// expires after its last write, so its sweeps report 0 here).
    #[serde(default)]
    pub members: u64,
}

impl SweepReport {
    /// Total rows removed.
    pub fn total(&self) -> u64 {
        self.reservations + self.calls + self.archived_calls + self.marks + self.members
    }
}

/// Rejects empty or over-long keys.
pub fn validate_key(op: &'static str, what: &str, key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::invalid(op, format!("{what} is empty")));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::invalid(
            op,
            format!(
                "{what} is {} bytes, over the {MAX_KEY_BYTES}-byte limit",
                key.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a ranking handed to `reserve_first_of`: at most [`MAX_CANDIDATES`] valid agent ids.
pub fn validate_candidates(op: &'static str, candidates: &[TeamsUserId]) -> Result<(), StoreError> {
    if candidates.len() > MAX_CANDIDATES {
        return Err(StoreError::invalid(
            op,
            format!(
                "{} candidates, over the {MAX_CANDIDATES} limit",
                candidates.len()
            ),
        ));
    }
    candidates
        .iter()
        .try_for_each(|c| validate_key(op, "agent id", c.as_str()))
}

/// Rejects capacity 0 (use [`AgentStatus::Paused`] instead) and absurd capacities.
pub fn validate_capacity(op: &'static str, capacity: u32) -> Result<(), StoreError> {
    if capacity == 0 || capacity > MAX_CAPACITY {
        return Err(StoreError::invalid(
            op,
            format!("capacity must be 1..={MAX_CAPACITY}, got {capacity}"),
        ));
    }
    Ok(())
}

/// A TTL in whole milliseconds, rounded up so any non-zero duration lasts at least 1 ms.
/// `allow_zero` is for wrap-up, where zero means "none".
pub fn duration_ms(
    op: &'static str,
    what: &str,
    d: Duration,
    allow_zero: bool,
) -> Result<i64, StoreError> {
    if d > MAX_TTL {
        return Err(StoreError::invalid(
            op,
            format!("{what} {d:?} is longer than the {MAX_TTL:?} limit"),
        ));
    }
    if d.is_zero() && !allow_zero {
        return Err(StoreError::invalid(op, format!("{what} must be > 0")));
    }
    let ms = d.as_nanos().div_ceil(1_000_000);
    // Bounded by MAX_TTL above, so this always fits.
    i64::try_from(ms).map_err(|_| StoreError::invalid(op, format!("{what} out of range")))
}

/// Checks a member set's key and a member's name (see [`Store::put_member`](crate::Store)).
pub fn validate_member(op: &'static str, set: &str, member: &str) -> Result<(), StoreError> {
    validate_key(op, "set key", set)?;
    validate_key(op, "member", member)
}

/// Decodes a stored member value; one that does not decode is [`StoreError::Corrupt`].
pub fn decode_member(
    op: &'static str,
    set: &str,
    member: String,
    json: &str,
) -> Result<(String, serde_json::Value), StoreError> {
    match serde_json::from_str(json) {
        Ok(value) => Ok((member, value)),
        Err(e) => Err(StoreError::corrupt(
            op,
            format!("member {member:?} of {set:?} does not decode: {e}"),
        )),
    }
}

/// A document's JSON text that is JSON by construction: only [`JsonText::serialize`] makes
/// one, so a store can keep it without parsing it again (a call's state is 1.5-4.5 KB and is
/// saved once or twice per event; checking it by parsing was ~1% of a worker's CPU).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// `doc` serialized by `serde_json`: one JSON value.
    pub fn serialize<T: serde::Serialize + ?Sized>(doc: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_string(doc).map(Self)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Serializes a document and checks the size limit.
pub fn encode_doc(op: &'static str, doc: &serde_json::Value) -> Result<String, StoreError> {
    let text = serde_json::to_string(doc)
        .map_err(|e| StoreError::invalid(op, format!("document does not serialize: {e}")))?;
    check_doc_size(op, &text)?;
    Ok(text)
}

/// A document given as JSON text: one JSON value, within [`MAX_DOC_BYTES`]. The text is
/// checked, not kept parsed: it is stored as given.
pub fn check_doc_text(op: &'static str, text: &str) -> Result<(), StoreError> {
    check_doc_size(op, text)?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| StoreError::invalid(op, format!("document is not JSON: {e}")))?;
    Ok(())
}

/// A [`JsonText`] document: within [`MAX_DOC_BYTES`] (it is JSON by construction).
pub fn check_json_text(op: &'static str, text: JsonText) -> Result<String, StoreError> {
    check_doc_size(op, text.as_str())?;
    Ok(text.into_string())
}

fn check_doc_size(op: &'static str, text: &str) -> Result<(), StoreError> {
    if text.len() > MAX_DOC_BYTES {
        return Err(StoreError::invalid(
            op,
            format!(
                "document is {} bytes, over the {MAX_DOC_BYTES}-byte limit",
                text.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn record(status: AgentStatus, capacity: u32, reserved: u32, on_call: u32) -> AgentRecord {
        AgentRecord {
            id: TeamsUserId::from("oid-1"),
            display_name: None,
            capacity,
            status,
            reserved,
            on_call,
            last_reserved_at: None,
            last_released_at: None,
            wrap_up_until: None,
            presence: None,
            as_of: datetime!(2026-03-12 09:00:00 UTC),
        }
    }

    #[test]
    fn state_precedence_status_then_busy_then_wrap_up() {
        assert_eq!(
            record(AgentStatus::Available, 1, 0, 0).state(),
            AgentState::Available
        );
        assert_eq!(
            record(AgentStatus::Available, 1, 1, 0).state(),
            AgentState::Busy
        );
        assert_eq!(
            record(AgentStatus::Available, 2, 1, 0).state(),
            AgentState::Available
        );
        assert_eq!(
            record(AgentStatus::Available, 2, 1, 1).state(),
            AgentState::Busy
        );
        assert_eq!(
            record(AgentStatus::Paused, 2, 0, 0).state(),
            AgentState::Paused
        );
        assert_eq!(
            record(AgentStatus::Offline, 1, 1, 0).state(),
            AgentState::Offline
        );

        let mut r = record(AgentStatus::Available, 2, 0, 1);
        r.wrap_up_until = Some(datetime!(2026-03-12 09:00:30 UTC));
        assert_eq!(r.state(), AgentState::WrapUp);
        assert!(!r.is_reservable());
        // Wrap-up ending exactly now is over: the rule everywhere is `until > now`.
        r.wrap_up_until = Some(r.as_of);
        assert_eq!(r.state(), AgentState::Available);
        assert_eq!(r.free_slots(), 1);
    }

    #[test]
    fn over_capacity_counts_saturate() {
        // Capacity lowered below the active count by a roster reload.
        let r = record(AgentStatus::Available, 1, 2, 1);
        assert_eq!(r.active(), 3);
        assert_eq!(r.free_slots(), 0);
        assert_eq!(r.state(), AgentState::Busy);
    }

    #[test]
    fn spellings_round_trip() {
        for s in [
            AgentStatus::Available,
            AgentStatus::Paused,
            AgentStatus::Offline,
        ] {
            assert_eq!(AgentStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in [ReservationState::Reserved, ReservationState::OnCall] {
            assert_eq!(ReservationState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(AgentStatus::parse("Available"), None);
        assert_eq!(serde_json::to_value(AgentState::WrapUp).unwrap(), "wrap_up");
    }

    #[test]
    fn durations_round_up_and_are_bounded() {
        let d = |ms| duration_ms("t", "ttl", Duration::from_millis(ms), false);
        assert_eq!(d(1500).unwrap(), 1500);
        assert_eq!(
            duration_ms("t", "ttl", Duration::from_micros(1), false).unwrap(),
            1
        );
        assert!(d(0).is_err());
        assert_eq!(
            duration_ms("t", "wrap-up", Duration::ZERO, true).unwrap(),
            0
        );
        let err = duration_ms("t", "ttl", MAX_TTL + Duration::from_secs(1), false).unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
    }

    #[test]
    fn keys_capacity_and_docs_are_checked() {
        assert!(validate_key("t", "call key", "").is_err());
        assert!(validate_key("t", "call key", &"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(validate_key("t", "call key", &"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(validate_capacity("t", 0).is_err());
        assert!(validate_capacity("t", MAX_CAPACITY + 1).is_err());
        assert!(AgentProfile::new("a")
            .with_capacity(3)
            .validate("t")
            .is_ok());
        let long_name = AgentProfile::new("a").with_display_name("n".repeat(300));
        assert!(long_name.validate("t").is_err());
        let big = serde_json::Value::String("x".repeat(MAX_DOC_BYTES));
        assert!(encode_doc("t", &big).is_err());
        assert_eq!(
            encode_doc("t", &serde_json::json!({"a": 1})).unwrap(),
            r#"{"a":1}"#
        );
    }

    #[test]
    fn reservation_serializes_for_call_state() {
        let r = Reservation {
            token: ReservationToken::new("42"),
            agent: TeamsUserId::from("oid-1"),
            call_key: "call-1".into(),
            state: ReservationState::Reserved,
            created_at: datetime!(2026-03-12 09:00:00 UTC),
            expires_at: datetime!(2026-03-12 09:00:30.5 UTC),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["token"], "42");
        assert_eq!(v["expires_at"], "2026-03-12T09:00:30.5Z");
        let back: Reservation = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }
}
