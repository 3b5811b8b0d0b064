//! switchboard-redis: the [`Store`](switchboard_store::Store) port on Redis (Azure Managed
//! Redis, Azure Cache for Redis, or any Redis 6.2+), for many worker replicas sharing state.
//!
//! # Data flow
//!
//! Each port method validates its input exactly as the embedded SQLite store does and runs one
//! Lua script (`EVALSHA`, loaded on first use) through a tokio
//! [`ConnectionManager`](redis::aio::ConnectionManager) that reconnects with backoff. The
//! script does the whole operation atomically on the server, reading "now" from the server's
//! own clock (`TIME`), so the rules ("expired means `expires_at <= now`", capacity, wrap-up,
//! compare-and-set) are the same as on every backend, and every replica is judged by one
//! clock: a replica whose clock runs fast cannot reclaim a live reservation. (Tests that drive
//! time by hand pass the store's [`Clock`](switchboard_store::Clock) instead,
//! [`TimeSource::Caller`].) See the `scripts` module for the key layout. Results come back as JSON objects and
//! are decoded into the port's model types here.
//!
//! All keys share the hash tag `{<key prefix>}`, so one deployment's state sits in one cluster
//! slot and several deployments can share a server with different prefixes.
//!
//! # Layout
//! - [`RedisStore`], [`RedisOptions`], [`RedisAuth`]: connecting (TLS with `rediss://`,
//!   password in the URL, or a [`TokenSource`] for Microsoft Entra tokens that are refreshed
//!   before they expire).
//! - `scripts`: the Lua scripts and the key layout.
//! - `testing` (feature `testing`, tests only): a throw-away `redis-server` for tests and a conformance-suite factory.
#![forbid(unsafe_code)]
// missing_docs flags public items reachable from outside the crate that have no doc comment;
// pub(crate) and private items are not checked.
#![warn(missing_docs)]

mod auth;
mod scripts;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use auth::{AccessToken, RedisAuth, TokenSource};
pub use store::{validate_prefix, RedisOptions, RedisStore, TimeSource};
