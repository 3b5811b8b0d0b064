//! A string that must never reach logs: access keys, bearer tokens, PEM keys. The workspace
//! type from `switchboard-core`, re-exported at the path simulator users know.

pub use switchboard_core::Secret;
