//! The one test harness of Switchboard: a whole deployment in this process, built by the
//! binary's own assembly, with typed helpers for what tests ask of it.
//!
//! * [`Stack`] — the ACS simulator (the one fake ACS and fake Microsoft Graph), the callback
//!   ingress on a real port, N workers and the embedded SQLite queue and store in a directory
//!   (a temporary one by default). Ingress and workers are built by
//!   `switchboard_worker::app::build_ingress` / `build_worker` from the configuration
//!   [`DeploymentConfig`] generates, exactly as `switchboard ingress` / `worker` build
//!   themselves from their file. Helpers: [`Stack::worker`] (a worker the test stops or
//!   kills), [`Stack::place_call`], [`Stack::ended`] / [`Stack::all_ended`] (wait until
//!   archived), [`Stack::drained`], [`Stack::ledger`], [`Stack::effects`],
//!   [`Stack::dead_letters`], [`Stack::live`], and the [`Recorder`] timeline.
//! * [`DeploymentConfig`] — the one generator of a deployment's TOML for given simulator,
//!   ingress, queue and store: the process-level end-to-end harness (`tests/e2e`) writes it
//!   for real `switchboard` processes, [`Stack`] parses it.
//! * [`fixtures`] — routing fixtures (`fixtures/routing/*.toml`) and the numbers and agents
//!   they name.
//!
//! ```no_run
//! # async fn t() {
//! use switchboard_testkit::{fixtures::SALES_LINE, Stack};
//! let stack = Stack::start().await; // the flow.toml deployment, no worker yet
//! let worker = stack.worker().await;
//! let call = stack.place_call(SALES_LINE);
//! let archived = stack.ended(&call, 30).await;
//! worker.stop().await;
//! stack.shutdown().await;
//! # }
//! ```
//!
//! Who depends on it: every crate's tests as a dev-dependency, and the `switchboard` CLI as
//! a normal dependency, because `switchboard demo` and `switchboard bench` run on [`Stack`]
//! — the simulator is a user feature there, and the CLI already links it. The testkit itself
//! knows only the embedded SQLite engines; another queue engine (the CLI's Service Bus AMQP
//! peer) plugs in through [`QueueEngine`], so test builds do not compile the AMQP stack.
//! `switchboard-worker` dev-depends on this crate (a dev-dependency cycle, which cargo allows
//! for integration tests).

mod config;
pub mod fixtures;
mod recorder;
mod stack;

pub use config::{DeploymentConfig, SimEndpoints};
pub use recorder::{Line, Recorder};
pub use stack::{archived_state, Detach, QueueEngine, QueueSink, Stack, StackOptions, Worker};
