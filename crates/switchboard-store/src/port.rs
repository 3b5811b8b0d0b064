//! The store port: what the worker and the routing engine need from shared state.
//!
//! Every method is one atomic step against the backend (one `BEGIN IMMEDIATE` transaction in
//! SQLite, one Lua script in Redis) whose keys are all known from its arguments, so the same
//! contract holds for every backend and the `conformance` suite checks it. Time-dependent rules
//! use the store's [`crate::Clock`]; "expired" always means `expires_at <= now`.
//!
//! # Cancellation and retries
//!
//! An operation whose future is dropped (a timeout, a shutdown) may still complete in the
//! backend. Every operation is therefore safe to repeat with the same arguments: `reserve*`
//! returns the call's existing reservation, `release` of a released reservation is a no-op,
//! `put_call_if` reports a conflict whose `current` version lets the caller re-read,
//! `mark_once` answers `false`. Retry [`StoreError::is_retryable`] errors with backoff.
//!
//! # Mapping onto Redis
//!
//! The port is shaped so each method is one Lua script (`EVALSHA`), with every key under one
//! hash tag (`{prefix}`) so scripts touching several agents work on a cluster, and the caller's
//! clock reading passed in `ARGV` (Redis never reads its own clock for these rules):
//! - agent: hash `{p}:agent:<oid>` (capacity, status, wrap_up_until, last_*_at, presence);
//!   roster: sorted set `{p}:agents` (score 0, ordered by member).
//! - reservations: per agent a sorted set `{p}:agent:<oid>:res` (member token, score expiry)
//!   and a hash `{p}:agent:<oid>:calls` (call key → token); per reservation a hash
//!   `{p}:res:<token>`; per call a set `{p}:call:<key>:res`. Tokens and versions come from
//!   `INCR {p}:seq`. Reclaiming is `ZRANGEBYSCORE -inf now` + deletes on the agent's keys;
//!   counting is `ZCOUNT (now +inf`.
//! - call state: hash `{p}:call:<key>` (version, doc, expires_at) plus the expiry index (a
//!   sorted set by expiry, which `list_calls` walks); archive: hash
//!   `{p}:archive:<key>` plus sorted set `{p}:archive` by archived time (`list_archived_since`
//!   is a `ZREVRANGEBYSCORE` from `+inf` to `since`); markers: string
//!   `{p}:mark:<key>` holding its expiry.
//! - Expiry is decided by comparing the stored `expires_at` with `ARGV` now, never by Redis
//!   TTLs alone: Redis expires keys by *its* clock, which the conformance suite's manual clock
//!   does not move. Set a relative Redis TTL too (`PEXPIRE`, the operation's TTL plus a
//!   generous margin; not `PEXPIREAT`, as the caller's clock may be far from Redis's) only so
//!   that abandoned keys are garbage-collected.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::model::{
    decode_call_doc, AgentProfile, AgentRecord, AgentStatus, ArchivedCall, CasOutcome, JsonText,
    PresenceSnapshot, Reservation, SweepReport, TeamsUserId, Versioned,
};

/// Shared state for many worker replicas: agent roster state, reservations, per-call state
/// documents and idempotency markers.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    // ---------------------------------------------------------------- health

    /// Cheap round trip proving the backend is reachable (readiness probes).
    async fn ping(&self) -> Result<(), StoreError>;

    // ---------------------------------------------------------------- roster

    /// Creates the agent (status [`AgentStatus::Available`]) or updates its display name and
    /// capacity. Status, reservations, presence and history are kept.
    async fn upsert_agent(&self, agent: &AgentProfile) -> Result<(), StoreError>;

    /// Sets the administrative status. Existing reservations are kept (pausing an agent on a
    /// call does not cut the call); new ones are refused. `false` if the agent is unknown.
    async fn set_agent_status(
        &self,
        agent: &TeamsUserId,
        status: AgentStatus,
    ) -> Result<bool, StoreError>;

    /// Stores (or clears, with `None`) the agent's presence snapshot. `false` if unknown.
    async fn set_agent_presence(
        &self,
        agent: &TeamsUserId,
        presence: Option<&PresenceSnapshot>,
    ) -> Result<bool, StoreError>;

    /// Removes the agent and every reservation on it. `false` if it was unknown.
    async fn remove_agent(&self, agent: &TeamsUserId) -> Result<bool, StoreError>;

    /// One agent with its live state now.
    async fn get_agent(&self, agent: &TeamsUserId) -> Result<Option<AgentRecord>, StoreError>;

    /// Every agent with its live state now, ordered by id. Expired reservations do not count.
    async fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError>;

    /// The agents [`list_agents`](Store::list_agents) would show as reservable now
    /// ([`AgentRecord::is_reservable`]: available, a free slot, out of wrap-up), ordered by id.
    /// What routing reads first; a backend that can select them without reading every agent
    /// should (the default reads every agent and filters).
    async fn list_reservable_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        Ok(self
            .list_agents()
            .await?
            .into_iter()
            .filter(AgentRecord::is_reservable)
            .collect())
    }

    // ---------------------------------------------------------------- reservations

    /// Takes one slot of `agent`'s capacity for `call_key` until now + `ttl`, atomically, if
    /// the agent exists, has status available, is not in wrap-up and has a free slot (expired
    /// reservations are reclaimed first). `None` if not.
    ///
    /// Idempotent per call: if `call_key` already holds an unexpired reservation on the agent,
    /// that one is returned (expiry extended to at least now + `ttl`) and no second slot is
    /// taken — so a worker retrying after a crash gets the same reservation back.
    async fn reserve(
        &self,
        agent: &TeamsUserId,
        call_key: &str,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError>;

    /// The routing primitive: `candidates` are ranked best first by the (pure) routing engine;
    /// in one atomic step, return the call's existing reservation on any candidate if it holds
    /// one, else reserve the first candidate `reserve` would accept. Unknown agents are
    /// skipped. `None` when no candidate is free.
    async fn reserve_first_of(
        &self,
        candidates: &[TeamsUserId],
        call_key: &str,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError>;

    /// Extends a held reservation to now + `ttl` (never shortens it). `None` if it is no
    /// longer held (released, expired, or the agent removed): the slot may belong to someone
    /// else now, so the holder must treat the agent as lost.
    async fn renew(
        &self,
        reservation: &Reservation,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError>;

    /// Marks a held reservation as a call in progress (the agent joined) and sets its expiry
    /// to now + `ttl`; use a TTL longer than any call, it only guards against a worker that
    /// never releases. Idempotent. `None` if no longer held.
    async fn confirm(
        &self,
        reservation: &Reservation,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError>;

    /// Frees the slot. Sets the agent's `last_released_at` to now and, if `wrap_up` is not
    /// zero, `wrap_up_until` to at least now + `wrap_up` (no new reservation on the agent until
    /// then). `false` and no change if it was not held — releasing twice is harmless and a
    /// stale handle never touches the agent.
    async fn release(
        &self,
        reservation: &Reservation,
        wrap_up: Duration,
    ) -> Result<bool, StoreError>;

    /// Unexpired reservations held by a call, in token order.
    async fn reservations_for_call(&self, call_key: &str) -> Result<Vec<Reservation>, StoreError>;

    /// Unexpired reservations on an agent, in token order.
    async fn reservations_for_agent(
        &self,
        agent: &TeamsUserId,
    ) -> Result<Vec<Reservation>, StoreError>;

    /// Deletes everything expired (reservations, call documents, archive records, markers).
    /// Correctness never depends on it — expired entries are ignored or reclaimed when read —
    /// it only keeps the backend small. Run it periodically from one place or many.
    async fn sweep_expired(&self) -> Result<SweepReport, StoreError>;

    // ---------------------------------------------------------------- call state

    /// The call's state document, if present and unexpired.
    async fn get_call(&self, call_key: &str) -> Result<Option<Versioned<Value>>, StoreError>;

    /// Compare-and-set: writes `doc` (expiring at now + `ttl`) only if the stored version is
    /// `expected` — `None` means "only if absent (or expired)". A mismatch is
    /// [`CasOutcome::Conflict`], not an error.
    async fn put_call_if(
        &self,
        call_key: &str,
        expected: Option<u64>,
        doc: &Value,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError>;

    /// [`Store::get_call`] as the document's JSON text, for callers that decode it into their
    /// own type: a backend that stores text returns it without building a [`Value`] first.
    async fn get_call_text(&self, call_key: &str) -> Result<Option<Versioned<String>>, StoreError> {
        let Some(v) = self.get_call(call_key).await? else {
            return Ok(None);
        };
        v.try_map(|value| {
            serde_json::to_string(&value).map_err(|e| {
                StoreError::corrupt("get_call", format!("call state does not serialize: {e}"))
            })
        })
        .map(Some)
    }

    /// [`Store::put_call_if`] with the document as JSON text (a caller's own type serialized
    /// straight to text). Text that is not one JSON value is [`StoreError::InvalidInput`].
    async fn put_call_text_if(
        &self,
        call_key: &str,
        expected: Option<u64>,
        doc: String,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError> {
        let value: Value = serde_json::from_str(&doc).map_err(|e| {
            StoreError::invalid("put_call_if", format!("document is not JSON: {e}"))
        })?;
        self.put_call_if(call_key, expected, &value, ttl).await
    }

    /// [`Store::put_call_text_if`] with text that is JSON by construction, so a backend that
    /// stores text keeps it without parsing it again.
    async fn put_call_json_if(
        &self,
        call_key: &str,
        expected: Option<u64>,
        doc: JsonText,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError> {
        self.put_call_text_if(call_key, expected, doc.into_string(), ttl)
            .await
    }

    /// Deletes the call's state document. `false` if absent.
    async fn delete_call(&self, call_key: &str) -> Result<bool, StoreError>;

    /// Ends a call: atomically deletes its live state and keeps `doc` as a short-lived audit
    /// record until now + `ttl` (replacing an earlier record for the key, so it is idempotent).
    async fn archive_call(
        &self,
        call_key: &str,
        doc: &Value,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// The audit record of a finished call, if unexpired.
    async fn get_archived_call(&self, call_key: &str) -> Result<Option<ArchivedCall>, StoreError>;

    /// Unexpired audit records, most recently archived first, at most `limit`.
    async fn list_archived_calls(&self, limit: usize) -> Result<Vec<ArchivedCall>, StoreError>;

    /// Unexpired audit records archived at or after `since`, most recently archived first
    /// (ties by key), at most `limit`: a time window of finished calls (statistics, call
    /// history) read without walking older records.
    async fn list_archived_since(
        &self,
        since: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ArchivedCall>, StoreError>;

    /// Unexpired call state documents (calls in progress), ordered by call key, at most
    /// `limit`, as (call key, document). A read-side view (statistics, wallboards) of what
    /// every replica is handling; never needed on a call's path.
    async fn list_calls(&self, limit: usize)
        -> Result<Vec<(String, Versioned<Value>)>, StoreError>;

    // ---------------------------------------------------------------- idempotency

    /// Sets a marker for `key` until now + `ttl`. `true` the first time (or once an earlier
    /// marker expired), `false` while it is set. Use it to do a side effect at most once per
    /// event id across replicas.
    async fn mark_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Whether an unexpired marker is set for `key`.
    async fn check_mark(&self, key: &str) -> Result<bool, StoreError>;

    /// Removes the marker (e.g. the side effect failed and must be allowed again). `false` if
    /// none was set.
    async fn clear_mark(&self, key: &str) -> Result<bool, StoreError>;

    // ---------------------------------------------------------------- member sets

    /// Writes `value` as member `member` of the set `set` (replacing that member), expiring at
    /// now + `ttl`. Members are independent: writers of different members never conflict, which
    /// is what a list every call of a queue writes to (its waitlist) needs.
    async fn put_member(
        &self,
        set: &str,
        member: &str,
        value: &Value,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Removes a member. `false` if it was absent (or expired).
    async fn remove_member(&self, set: &str, member: &str) -> Result<bool, StoreError>;

    /// The set's unexpired members, as (member, value), in no particular order.
    async fn list_members(&self, set: &str) -> Result<Vec<(String, Value)>, StoreError>;
}

/// Typed helpers over [`Store`]'s JSON call state, for any `Store` (also `dyn Store`).
#[async_trait]
pub trait StoreExt: Store {
    /// [`Store::get_call`], decoded as `T`. A document that does not decode is
    /// [`StoreError::Corrupt`].
    async fn get_call_as<T: DeserializeOwned>(
        &self,
        call_key: &str,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let Some(v) = self.get_call_text(call_key).await? else {
            return Ok(None);
        };
        v.try_map(|text| decode_call_doc(call_key, &text)).map(Some)
    }

    /// [`Store::put_call_if`] with a typed document.
    async fn put_call_as<T: Serialize + Sync>(
        &self,
        call_key: &str,
        expected: Option<u64>,
        doc: &T,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError> {
        let text = JsonText::serialize(doc).map_err(|e| {
            StoreError::invalid("put_call_if", format!("document does not serialize: {e}"))
        })?;
        self.put_call_json_if(call_key, expected, text, ttl).await
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
