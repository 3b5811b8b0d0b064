//! The Switchboard worker: everything between the queue and Call Automation.
//!
//! # Layout
//! - [`app`]: process assembly: config → queues, store, Call Automation, routing → a running
//!   worker or ingress (the binary and the end-to-end tests share it).
//! - [`config`]: one typed configuration (TOML file + `SWITCHBOARD_*` env vars), validated before
//!   any network I/O; secrets redacted.
//! - [`flow`]: the pure call-flow state machine: (call state, input) → (new state, commands).
//! - [`executor`]: runs flow commands against Call Automation, the store, routing and the queue.
//! - [`runner`]: the queue consumer loop: receive, decode, dispatch, settle, renew locks, drain.
//! - [`ingress`]: the callback ingress (axum): JWT-checked Call Automation callbacks onto the queue.
//! - [`otlp`]: OpenTelemetry export of the metrics over OTLP/HTTP (JSON) when configured.
//! - [`otlp_traces`]: the `tracing` layer and exporter that send spans over OTLP/HTTP (JSON).
//! - [`telemetry`]: metrics registry and `/metrics`, tracing setup.
//! - [`shutdown`]: one shutdown signal (SIGTERM/SIGINT) every task listens to.
#![forbid(unsafe_code)]

pub mod app;
mod calls;
pub mod config;
pub mod executor;
pub mod flow;
pub mod inbox;
pub mod ingress;
pub mod otlp;
pub mod otlp_traces;
pub mod routing;
pub mod runner;
pub mod shutdown;
pub mod telemetry;
mod timers;
