//! switchboard-store: the state every worker replica shares — agent roster state,
//! reservations, per-call state documents and idempotency markers — behind one port, with the
//! embedded SQLite implementation and the conformance suite every implementation must pass.
//!
//! # Data flow
//!
//! The worker loads the roster into the store ([`Store::upsert_agent`]) and keeps presence
//! there ([`Store::set_agent_presence`]). To route a call, the routing engine reads
//! [`Store::list_agents`], ranks candidates with pure logic, and hands the ranking to
//! [`Store::reserve_first_of`], which atomically takes the first agent that is still free — so
//! two replicas routing at once can never both take an agent's last slot. The reservation
//! travels in the call's state document ([`Store::put_call_if`], compare-and-set with a
//! version), is [confirmed](Store::confirm) when the agent joins and
//! [released](Store::release) (starting wrap-up) when the call ends; if its holder dies it
//! simply expires. [`Store::mark_once`] makes side effects happen once per event id.
//! Finished calls leave a short-lived audit record ([`Store::archive_call`]). A queue's waiting
//! calls are a member set ([`Store::put_member`], one entry per call with its own expiry), so
//! a burst of calls joining one queue never contends on a single document.
//!
//! Every operation is a single atomic step over keys named by its arguments, so a Redis
//! implementation can run each as one Lua script (all keys under one hash tag), passing the
//! caller's clock reading as an argument exactly as the SQLite implementation does.
//!
//! # Layout
//! - [`port`]: the [`Store`] trait (the contract) and [`StoreExt`] typed helpers.
//! - [`model`]: agents, reservations, versioned documents, CAS outcomes, input limits.
//! - [`clock`]: the injectable [`Clock`] ([`SystemClock`], [`ManualClock`], [`TokioClock`]).
//! - [`error`]: [`StoreError`] with [`StoreError::is_retryable`].
//! - [`sqlite`]: [`SqliteStore`], the embedded implementation (WAL, `BEGIN IMMEDIATE`,
//!   safe across processes sharing the file).
//! - `conformance` (feature `conformance`, tests only): the backend-independent test suite
//!   (`conformance_tests!`) and the multi-process contention check.
#![forbid(unsafe_code)]
// missing_docs flags public items reachable from outside the crate that have no doc comment;
// pub(crate) and private items are not checked.
#![warn(missing_docs)]

pub mod clock;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod model;
pub mod port;
pub mod sqlite;

pub use clock::{Clock, ManualClock, SystemClock, TokioClock};
pub use error::StoreError;
pub use model::{
    AgentProfile, AgentRecord, AgentState, AgentStatus, ArchivedCall, CasOutcome, JsonText,
    PresenceSnapshot, Reservation, ReservationState, ReservationToken, SweepReport, TeamsUserId,
    Versioned,
};
pub use port::{Store, StoreExt};
pub use sqlite::{Durability, SqliteOptions, SqliteStore};
