//! The ACS wire contract shared by the Call Automation client and the local simulator.
//!
//! # Layout
//! - [`hmac`]: the HMAC-SHA256 request signature ACS uses for access-key auth. The client signs
//!   with it and the simulator verifies with it, so both sides share one implementation.
//!
//! (More modules — the embedded OpenAPI spec and a schema validator — are added by the
//! Call Automation client work.)
#![forbid(unsafe_code)]

pub mod hmac;
