//! switchboard-sim: a local Azure Communication Services simulator — Call Automation REST,
//! signed callbacks, simulated Microsoft Teams agents, a Microsoft Graph subset and Event
//! Grid delivery of `IncomingCall` — so the whole Switchboard flow runs and is tested on one
//! machine, the way Azurite stands in for Azure Storage.
//!
//! It is a product feature (`switchboard sim`, used by `switchboard demo` and the end-to-end
//! tests), not a mock: request and response shapes follow the Call Automation OpenAPI
//! 2026-03-12 contract, callbacks follow the live captures, and where the two disagree the
//! captures win. Design decisions and known differences are in `docs/adr/`.
//!
//! # Using it
//! ```no_run
//! # async fn demo() -> Result<(), switchboard_sim::SimError> {
//! use switchboard_sim::{AgentSpec, NumberSpec, SimConfig, Simulator, StartCall};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! sim.seed_agents(vec![AgentSpec::new("6c6a3a52-…", "Adele Vance", "adelev@contoso.com")])?;
//! sim.add_number(NumberSpec::new("+18005550100"))?;
//! let call = sim.start_call(StartCall::default())?;   // IncomingCall → the Event Grid sink
//! // … the worker answers with the Call Automation client at sim.connection_string() …
//! println!("{:?}", sim.ledger().call(&call.correlation_id));
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # How data flows
//! A customer call starts at [`SimHandle::start_call`] (or `POST /__sim/calls`): the engine
//! mints ids and an incomingCallContext and hands an `IncomingCall` message to the
//! [`EventGridSink`]. The worker answers over HTTP; the request passes faults → HMAC/bearer →
//! `api-version` → repeatability → spec validation → the engine, which changes the call,
//! counts the effect in the ledger, and queues callbacks on the call's ordered delivery
//! queue. A per-call task POSTs them (signed JWT, retries) to the callback URI. Timers move
//! the world on: agents answer or decline, invitations time out, plays finish, tones are
//! recognised, agents hang up.
//!
//! # Layout
//! - [`config`]: [`SimConfig`], [`Timing`], the seed file ([`Seed`], [`AgentSpec`],
//!   [`Behaviour`], [`NumberSpec`]) and [`StartCall`].
//! - [`faults`]: fault injection data ([`Faults`]) and the seeded dice.
//! - [`eventgrid`]: the [`EventGridSink`] trait, [`SinkMessage`] and the HTTP, JSONL and
//!   channel sinks; IncomingCall envelopes with `aeg-*` properties.
//! - [`ledger`]: the effects [`Ledger`] and call timelines ([`TimelineEntry`]).
//! - [`request_log`]: every request received ([`RecordedRequest`]) with its operation, auth
//!   and schema verdicts, injected fault and status — what a client test asserts on.
//! - [`entra`]: Microsoft Entra token endpoints (client credentials, App Service / Container
//!   Apps and IMDS managed identity) that hand out the tokens Graph and Call Automation
//!   accept.
//! - [`wire`]: callback CloudEvents, result codes, timestamps, .NET-style escaping.
//! - [`error`]: [`SimError`] and the service's error bodies.
//! - `engine`: the simulated world (calls, participants, invitations, media, recordings,
//!   agents) and its timers; `callbacks`: ordered, signed, retried callback delivery.
//! - `http`: the router — Call Automation (`/calling`), token discovery, Graph (`/v1.0`),
//!   control API (`/__sim`); `auth`, `repeatability`, `validate`, `requests`: the request
//!   pipeline; `net`: the listener with connection-reset support; `jwt`: callback tokens.
//! - [`SimHandle`]: the running simulator and its typed control methods.
#![forbid(unsafe_code)]
// missing_docs flags public items reachable from outside the crate that have no doc comment;
// pub(crate) and private items are not checked.
#![warn(missing_docs)]

pub mod config;
pub mod entra;
pub mod error;
pub mod eventgrid;
pub mod faults;
pub mod ledger;
pub mod request_log;
pub mod secret;
pub mod tenant;
pub mod wire;

mod auth;
mod callbacks;
mod engine;
mod handle;
mod http;
mod ids;
mod jwt;
mod net;
mod repeatability;
mod requests;
mod validate;

pub use config::{
    AgentSpec, Behaviour, EventGridConfig, EventSchema, JwtConfig, NumberSpec, PresenceSpec,
    RetryPolicy, Seed, SimConfig, StartCall, Timing, SIM_COGNITIVE_SERVICES_ENDPOINT,
};
pub use engine::control::{
    AgentSnapshot, CallHandle, CallSnapshot, InvitationSnapshot, ParticipantSnapshot,
};
pub use engine::model::{ConnState, InvitationState, Phase};
pub use entra::{EntraApp, EntraConfig};
pub use error::SimError;
pub use eventgrid::{
    ChannelSink, EventGridSink, HttpSink, HttpSinkMode, JsonlSink, SinkError, SinkMessage,
};
pub use faults::{
    CallbackFaults, CannedResponse, EventGridFaults, FaultKind, FaultRule, FaultSpec, Faults,
    Latency, LostAnswer,
};
pub use handle::{SimHandle, Simulator};
pub use http::SimInfo;
pub use ledger::{CallEffects, Effects, Ledger, TimelineEntry, TimelineKind};
pub use request_log::{AuthCheck, RecordedRequest, RequestSurface, SchemaCheck};
pub use secret::Secret;
pub use tenant::TenantPolicy;
