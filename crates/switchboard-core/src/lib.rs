//! Foundation for the Switchboard crates: the small types several of them need and would
//! otherwise each define for themselves.
//!
//! - [`clock`]: where "now" comes from ([`Clock`], [`SystemClock`], [`ManualClock`],
//!   [`TokioClock`]), so time rules are tested by moving time instead of sleeping.
//! - [`secret`]: [`Secret`], a string that never shows in `Debug` or `Display`.
//! - [`config`]: [`ConfigError`], a configuration error naming the offending key.
//! - [`entra`]: Microsoft Entra ID bearer tokens ([`entra::TokenCredential`]: managed
//!   identity, client secret, static) with per-scope caching, for any Azure client.
//!
//! - [`busy`]: the busy handler our SQLite connections wait for write locks with.
//!
//! It depends on no other Switchboard crate, so every one of them can depend on it.
#![forbid(unsafe_code)]
// missing_docs flags public items reachable from outside the crate that have no doc comment;
// pub(crate) and private items are not checked.
#![warn(missing_docs)]

pub mod busy;
pub mod clock;
pub mod config;
pub mod entra;
pub mod secret;

pub use clock::{Clock, ManualClock, SystemClock, TokioClock};
pub use config::ConfigError;
pub use secret::Secret;
