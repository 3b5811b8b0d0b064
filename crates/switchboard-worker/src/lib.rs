//! The Switchboard worker: everything between the queue and Call Automation.
//!
//! # Layout
//! A delivery reads in one direction (see `README.md`):
//! [`runner`] → `inbox` → [`flow`] → [`executor`] → `calls` / `routing`.
//! - [`runner`]: the queue consumer: receive (`runner/mod.rs`), then one delivery's handling,
//!   lock renewal and settlement (`runner/settle.rs`); drains on shutdown.
//! - `inbox`: a delivery (an ACS event or one of our timers) decoded into flow inputs, each
//!   with the call it belongs to.
//! - [`flow`]: the pure call-flow state machine: (call state, input) → (new state, commands);
//!   the transition function is split by part of the call under `flow/machine/`.
//! - [`executor`]: the outbox and compare-and-set protocol: load, step, save before any
//!   effect, run the commands in order, feed results back.
//! - `calls`: one flow command → one Call Automation request, one function per operation.
//! - `routing`: reserving agents (route), queue waitlists, confirm/release, availability,
//!   the store-record → live-state mapping and `routing::StoreAgentState`.
//! - `timers`: our timers as scheduled messages on the call's session.
//! - [`app`]: process assembly: config → queues, store, Call Automation, routing → a running
//!   worker or ingress (the binary and the end-to-end tests share it).
//! - [`config`]: one typed configuration (TOML file + `SWITCHBOARD_*` env vars), validated before
//!   any network I/O; secrets redacted.
//! - [`ingress`]: the callback ingress (axum): JWT-checked Call Automation callbacks onto the queue.
//! - [`otel`]: OpenTelemetry export of traces, metrics and logs over OTLP/HTTP (the SDK).
//! - [`telemetry`]: metrics registry and `/metrics`, tracing setup.
//! - [`shutdown`]: one shutdown signal (SIGTERM/SIGINT) every task listens to.
#![forbid(unsafe_code)]
// missing_docs flags public items reachable from outside the crate that have no doc comment;
// pub(crate) and private items are not checked.
#![warn(missing_docs)]

pub mod app;
pub mod backend;
mod calls;
pub mod config;
mod error;
pub mod executor;
pub mod flow;
pub(crate) mod inbox;
pub mod ingress;
pub mod otel;
pub(crate) mod routing;
pub mod runner;
#[cfg(test)]
mod sampling_tests;
pub mod seal;
pub mod shutdown;
pub mod stats;
pub mod telemetry;
mod timers;
