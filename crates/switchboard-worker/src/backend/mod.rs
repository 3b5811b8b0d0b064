//! The seam for queue and store backends: a backend is a value implementing [`QueueBackend`]
//! or [`StoreBackend`], registered once in the binary's list
//! ([`EngineHooks`], built in `crates/switchboard/src/engines.rs`).
//! Configuration, validation and assembly find it by its [`kind`](QueueBackend::kind) name, so
//! nothing outside the backend matches on backend names.
//!
//! A backend owns its keys in `[queue]` / `[store]` (declared by [`keys`](QueueBackend::keys),
//! each with the environment variable that overrides it), checks them without I/O in
//! [`validate`](QueueBackend::validate), and connects in [`open`](QueueBackend::open). The
//! embedded SQLite backends live in [`sqlite`]; the distributed ones are adapters in the binary.
//!
//! Files: `seam.rs` holds the traits and what they hand out; `registry.rs` the registry
//! ([`EngineHooks`]) and the `open_*` functions assembly calls; `sqlite.rs` the embedded backends.

mod registry;
mod seam;
pub mod sqlite;

pub(crate) use self::registry::open_backends;
pub use self::registry::{open_queues, open_store, Backends, EngineHooks};
pub use self::seam::{
    queue_configs, rejects_queue_config, BoxFuture, QueueBackend, Queues, StoreBackend,
};
