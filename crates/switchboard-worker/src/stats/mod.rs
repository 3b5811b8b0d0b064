//! Contact-centre statistics and call history, computed from the shared store — the same
//! numbers on every replica, whichever handled the calls.
//!
//! # Where the numbers come from
//! - *Live figures* (calls waiting, longest wait, agents available / ringing / busy /
//!   wrap-up / away, agent state and since when): the call state documents of calls in
//!   progress ([`Store::list_calls`](switchboard_store::Store::list_calls)) and the agents' store records ([`Store::list_agents`](switchboard_store::Store::list_agents)).
//! - *Finished-call figures* (offered, answered, abandoned, overflowed, transferred, service
//!   level, average speed of answer, average handle time, per-agent counts and occupancy):
//!   the [`CallLedger`] each call carries in its state document, read from the archived
//!   records of calls finished today ([`Store::list_archived_since`](switchboard_store::Store::list_archived_since)) and from the calls
//!   still in progress. The executor keeps the ledger (`note`, after every flow step), so
//!   nothing is counted in one process's memory and nothing extra is written on a call's
//!   path: the ledger rides along in the state document the executor saves anyway.
//! - *Call history*: one [`CallRecord`] per archived call, kept `stats.history_days`
//!   (the archive's TTL).
//!
//! Both store backends (SQLite, Redis) implement the two read methods; the conformance
//! suite checks them. Reading is for supervisors' tools (`switchboard stats`, `GET
//! /api/stats`, the Prometheus gauges refreshed by [`spawn_gauges`]), never a call's path.

mod api;
mod compute;
mod history;
pub(crate) mod ledger;
mod note;
mod read;
mod render;
mod wallboard;

pub use self::api::{stats_router, StatsSource};
pub use self::compute::{
    compute, today_start, AgentCounts, AgentStats, QueueMembers, QueueStats, StatsInput,
    StatsOptions, StatsSnapshot, WindowStats,
};
pub use self::history::{CallRecord, OfferLine};
pub use self::ledger::{CallLedger, OfferOutcome, OfferRecord, QueueVisit, VisitOutcome};
pub(crate) use self::note::note;
pub use self::read::{collect, queue_members, spawn_gauges, MAX_CALLS_READ};
pub use self::render::{publish_gauges, render_table};
pub use self::wallboard::{wallboard_router, PAGE as WALLBOARD_PAGE};

#[cfg(test)]
mod tests;
