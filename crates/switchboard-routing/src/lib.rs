//! switchboard-routing: which Teams agent gets which call.
//!
//! The crate is split into a **pure decision core** and a **thin I/O shell**:
//!
//! ```text
//!  config file ──▶ RoutingConfig ──▶ Roster::resolve ──(Graph users)──▶ Roster (OIDs)
//!                     │                                                  │
//!  IncomingCall ──▶ classify ──▶ QueueName                 store live state│
//!                                    │                                    ▼
//!                                    ▼          PresenceCache ──▶ PresenceView
//!  CallRequirements + CallQueueConfig + [AgentSnapshot] + PresenceView + now + excluded
//!                                    │
//!                               rank_agents  (pure)
//!                                    ▼
//!              Offer{ranked} | Wait{reason, retry_after} | Overflow{target, reason}
//! ```
//!
//! The worker classifies a call, reads agent state from the store, asks the presence cache
//! for a view, calls [`rank_agents`] and then reserves the ranked agents in order in the
//! store (atomically, across replicas). Nothing in the core does I/O or reads a clock, so
//! every replica decides the same way and every edge case is a unit test.
//!
//! `switchboard doctor` uses [`interop::eligibility`] to explain why an agent cannot be
//! reached at all (Teams tenant federation settings).
//!
//! # Layout
//! - [`model`]: queue names, skills, [`AgentSnapshot`], [`CallRequirements`].
//! - [`presence`]: Graph availabilities, [`PresenceView`], [`PresencePolicy`].
//! - [`queue`]: [`CallQueueConfig`], strategies, overflow targets, IVR menus, play sources.
//! - [`engine`]: [`rank_agents`] and the queue-priority functions (pure).
//! - [`strategy`]: the routing strategies, one variant and one ranking function each (pure).
//! - [`classify`](mod@classify): [`classify()`] a call to a queue (pure).
//! - [`config`]: [`RoutingConfig`] from TOML/JSON with key-naming errors.
//! - [`interop`]: Teams interop [`eligibility`] and the tenant settings file.
//! - [`graph`]: the Microsoft Graph client (users, presence, throttling, tokens).
//! - [`presence_cache`]: TTL-cached Graph presence that never fails a routing decision.
//! - [`roster`]: resolving the roster to OIDs, snapshots, the agent listing.
//!
//! Imports between the decision modules point one way: `engine → queue → strategy →
//! {presence, model}`, with `engine` also using `strategy`, `presence` and `model` directly.
//! The engine reads a queue's configuration, a queue names its strategy, and a strategy sees
//! only the agents, the call and the queue's skills; [`Candidate`] lives with the strategies
//! that build it. Keeping it acyclic means a new strategy or queue setting changes one file
//! without pulling the others along.
#![forbid(unsafe_code)]
// missing_docs flags public items reachable from outside the crate that have no doc comment;
// pub(crate) and private items are not checked.
#![warn(missing_docs)]

pub mod classify;
pub mod config;
pub mod engine;
pub mod graph;
pub mod interop;
pub mod model;
mod play_config;
pub mod presence;
pub mod presence_cache;
pub mod queue;
pub mod roster;
mod rule;
pub mod strategy;
mod wait_config;

pub use classify::{classify, IncomingCallInfo};
pub use config::{AgentRef, ConfigError, RosterEntry, RoutingConfig};
pub use engine::{
    next_call_for_agent, order_waiting_calls, rank_agents, Candidate, OverflowReason,
    RoutingDecision, WaitReason,
};
pub use interop::{eligibility, Eligibility, TenantSettings, UserPolicy};
pub use model::{AgentLiveState, AgentSnapshot, CallRequirements, QueueName, SkillRequirement};
pub use presence::{Availability, PresenceFallback, PresencePolicy, PresenceView};
pub use presence_cache::PresenceCache;
pub use queue::{
    AnnouncementSpeech, CallQueueConfig, CallbackOffer, NoticeFallback, OverflowTarget,
    RecordingNotice, Strategy, TransferTarget, WaitAnnouncements,
};
pub use roster::{Roster, RosterError};

/// The wall clock, for the I/O shell around the engine (the engine itself never reads a
/// clock: callers pass `now`). Re-exported so callers need not depend on `time`.
pub fn wall_clock() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
