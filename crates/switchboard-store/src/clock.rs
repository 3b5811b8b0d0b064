//! Where the store reads "now" from: the workspace [`Clock`] (from `switchboard-core`), given
//! when the store is built.
//!
//! Every time-dependent rule in the store (reservation expiry, wrap-up, call-state and marker
//! TTLs) is evaluated against it, never against the OS clock directly. Implementations that
//! run logic on a server (the Redis scripts) receive the same instant as an argument, so every
//! replica and every backend agree on the rule "expired means `expires_at <= now`".

pub use switchboard_core::clock::{
    from_unix_ms, to_unix_ms, Clock, ManualClock, SystemClock, TokioClock,
};
