//! Helpers every check uses: a fresh store with its manual clock, agents, and unwrapping
//! results with a message that names the failed operation.

use std::sync::Arc;
use std::time::Duration;

use super::factory::StoreFactory;
use crate::clock::ManualClock;
use crate::error::StoreError;
use crate::model::{AgentProfile, AgentRecord, TeamsUserId};
use crate::port::Store;

/// Unwraps a store result in a check, naming the operation on failure.
#[track_caller]
pub(super) fn ok<T>(what: &str, r: Result<T, StoreError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e} (retryable: {})", e.is_retryable()),
    }
}

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(super) fn id(s: &str) -> TeamsUserId {
    TeamsUserId::from(s)
}

pub(super) struct Fixture {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: ManualClock,
    pub(super) locator: String,
}

pub(super) async fn fixture(f: &dyn StoreFactory) -> Fixture {
    let clock = ManualClock::at_fixed_instant();
    let created = ok("factory.create", f.create(Arc::new(clock.clone())).await);
    Fixture {
        store: created.store,
        clock,
        locator: created.locator,
    }
}

pub(super) async fn agent(store: &dyn Store, oid: &str, capacity: u32) {
    ok(
        "upsert_agent",
        store
            .upsert_agent(&AgentProfile::new(oid).with_capacity(capacity))
            .await,
    );
}

pub(super) async fn state_of(store: &dyn Store, oid: &str) -> AgentRecord {
    match ok("get_agent", store.get_agent(&id(oid)).await) {
        Some(r) => r,
        None => panic!("agent {oid} should exist"),
    }
}
