//! The conformance suite: backend-independent checks of the [`Store`] contract.
//!
//! Every implementation runs the same checks. A backend provides a [`StoreFactory`] (fresh,
//! isolated stores reading an injected clock, and a way to open another handle on the same
//! store — also from another process) and invokes [`conformance_tests!`](crate::conformance_tests)
//! in an integration test file:
//!
//! ```ignore
//! switchboard_store::conformance_tests!(switchboard_store::conformance::SqliteFactory::temporary());
//! ```
//!
//! Checks panic with a message naming the broken rule, like any test assertion. Time-dependent
//! rules are checked by moving a [`ManualClock`]; nothing sleeps. The contention checks
//! ([`concurrent_reservations_respect_capacity`] in-process, [`multi_process_contention`]
//! across OS processes) count holders independently of the store under test and fail if an
//! agent ever has more holders than its capacity.
//!
//! # Layout
//! - this module: the single-handle checks and the test-generating macro.
//! - `factory`: the factory trait and the SQLite factory.
//! - `support`: the fixture and helpers the checks share.
//! - `contention`: the many-tasks and many-processes reservation checks and their
//!   independent holder counter.

mod contention;
mod factory;
mod support;
mod views;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::clock::Clock;
use crate::error::StoreError;
use crate::model::{
    AgentProfile, AgentRecord, AgentState, AgentStatus, CasOutcome, PresenceSnapshot,
    ReservationState, TeamsUserId,
};
use crate::port::StoreExt;

pub use factory::{CreatedStore, SqliteFactory, StoreFactory};
use support::{agent, fixture, id, ok, secs, state_of};
pub use views::{archived_since_is_a_window, list_calls_shows_live_calls};

pub use contention::{
    child_main, concurrent_reservations_respect_capacity, multi_process_contention, ChildLauncher,
    CHILD_ENV,
};

/// Generates one `#[tokio::test]` per conformance check for the factory expression given
/// (evaluated once per test), including the two-process contention test and its child entry
/// point. The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@checks $factory;
            roster_upsert_keeps_state,
            roster_status_presence_and_removal,
            reserve_only_when_available,
            reserve_is_idempotent_per_call,
            capacity_greater_than_one,
            release_starts_wrap_up,
            expired_reservation_is_reclaimed,
            renew_extends_and_never_shortens,
            confirm_marks_on_call,
            reserve_first_of_takes_first_free_in_order,
            reserve_first_of_long_ranking,
            reservable_agents_are_those_the_full_list_shows_reservable,
            stale_handles_never_touch_new_reservations,
            reservation_listings,
            call_state_compare_and_set,
            call_state_as_text_is_the_same_document,
            call_state_expiry_and_versions_never_reused,
            concurrent_cas_loses_no_update,
            archive_moves_call_to_audit_record,
            list_calls_shows_live_calls,
            archived_since_is_a_window,
            idempotency_markers,
            member_sets,
            sweep_removes_only_expired,
            invalid_input_is_rejected,
            handles_share_one_store,
            concurrent_reservations_respect_capacity,
        );

        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn multi_process_contention() {
            let factory = $factory;
            let child_test = $crate::conformance::__child_test_name(module_path!());
            let launcher: $crate::conformance::ChildLauncher = ::std::boxed::Box::new(move || {
                let exe = ::std::env::current_exe().expect("test binary path");
                let mut cmd = ::std::process::Command::new(exe);
                cmd.args([
                    child_test.as_str(),
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ]);
                cmd
            });
            $crate::conformance::multi_process_contention(&factory, launcher).await;
        }

        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "child process of multi_process_contention; runs only when it sets the env"]
        async fn conformance_child() {
            let factory = $factory;
            $crate::conformance::child_main(&factory).await;
        }
    };
    (@checks $factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let factory = $factory;
                $crate::conformance::$check(&factory).await;
            }
        )*
    };
}

/// The libtest name of the child entry point generated next to the calling test (the module
/// path without the crate name). Used by [`conformance_tests!`](crate::conformance_tests).
#[doc(hidden)]
pub fn __child_test_name(module_path: &str) -> String {
    match module_path.split_once("::") {
        Some((_crate, rest)) => format!("{rest}::conformance_child"),
        None => "conformance_child".to_owned(),
    }
}

// -------------------------------------------------------------------------------- roster

/// Upsert creates an available agent and later only updates name and capacity, keeping
/// status and history; `list_agents` is ordered by id.
pub async fn roster_upsert_keeps_state(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    assert!(
        ok("list_agents", s.list_agents().await).is_empty(),
        "new store has agents"
    );
    ok(
        "upsert_agent",
        s.upsert_agent(&AgentProfile::new("oid-b").with_display_name("Bea"))
            .await,
    );
    agent(s, "oid-a", 2).await;

    let list = ok("list_agents", s.list_agents().await);
    let ids: Vec<&str> = list.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["oid-a", "oid-b"], "list_agents must be ordered by id");
    let b = &list[1];
    assert_eq!(b.display_name.as_deref(), Some("Bea"));
    assert_eq!(b.capacity, 1, "default capacity is 1");
    assert_eq!(b.status, AgentStatus::Available);
    assert_eq!(b.state(), AgentState::Available);
    assert_eq!((b.reserved, b.on_call), (0, 0));
    assert_eq!(
        b.as_of,
        fx.clock.now(),
        "records are computed at the store clock's now"
    );

    // Pause b and give it history, then reload the roster: status and history survive.
    assert!(ok(
        "set_agent_status",
        s.set_agent_status(&id("oid-b"), AgentStatus::Paused).await
    ));
    ok(
        "set_agent_status",
        s.set_agent_status(&id("oid-a"), AgentStatus::Available)
            .await,
    );
    let r = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await)
        .expect("available agent must be reservable");
    fx.clock.advance(secs(5));
    assert!(ok("release", s.release(&r, secs(10)).await));
    let before = state_of(s, "oid-a").await;

    ok(
        "upsert_agent",
        s.upsert_agent(
            &AgentProfile::new("oid-b")
                .with_display_name("Bea Renamed")
                .with_capacity(3),
        )
        .await,
    );
    agent(s, "oid-a", 1).await;
    let b = state_of(s, "oid-b").await;
    assert_eq!(
        b.status,
        AgentStatus::Paused,
        "upsert must not un-pause an agent"
    );
    assert_eq!(b.display_name.as_deref(), Some("Bea Renamed"));
    assert_eq!(b.capacity, 3);
    let a = state_of(s, "oid-a").await;
    assert_eq!(a.capacity, 1);
    assert_eq!(
        a.last_released_at, before.last_released_at,
        "upsert must keep history"
    );
    assert_eq!(
        a.last_reserved_at, before.last_reserved_at,
        "upsert must keep history"
    );
    assert_eq!(
        a.wrap_up_until, before.wrap_up_until,
        "upsert must keep wrap-up"
    );
}

/// Status and presence updates report unknown agents; removal drops the agent's
/// reservations too.
pub async fn roster_status_presence_and_removal(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    assert!(!ok(
        "set_agent_status",
        s.set_agent_status(&id("nobody"), AgentStatus::Paused).await
    ));
    assert!(!ok(
        "set_agent_presence",
        s.set_agent_presence(&id("nobody"), None).await
    ));
    assert!(ok("get_agent", s.get_agent(&id("nobody")).await).is_none());

    agent(s, "oid-a", 1).await;
    let presence = PresenceSnapshot {
        availability: "AvailableIdle".into(),
        activity: "Available".into(),
        observed_at: fx.clock.now(),
    };
    assert!(ok(
        "set_agent_presence",
        s.set_agent_presence(&id("oid-a"), Some(&presence)).await
    ));
    assert_eq!(state_of(s, "oid-a").await.presence, Some(presence));
    assert!(ok(
        "set_agent_presence",
        s.set_agent_presence(&id("oid-a"), None).await
    ));
    assert_eq!(state_of(s, "oid-a").await.presence, None);

    for (status, state) in [
        (AgentStatus::Offline, AgentState::Offline),
        (AgentStatus::Paused, AgentState::Paused),
        (AgentStatus::Available, AgentState::Available),
    ] {
        assert!(ok(
            "set_agent_status",
            s.set_agent_status(&id("oid-a"), status).await
        ));
        let rec = state_of(s, "oid-a").await;
        assert_eq!((rec.status, rec.state()), (status, state));
    }

    let r = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await)
        .expect("available agent must be reservable");
    assert!(ok("remove_agent", s.remove_agent(&id("oid-a")).await));
    assert!(!ok("remove_agent", s.remove_agent(&id("oid-a")).await));
    assert!(ok("get_agent", s.get_agent(&id("oid-a")).await).is_none());
    assert!(
        ok(
            "reservations_for_call",
            s.reservations_for_call("call-1").await
        )
        .is_empty(),
        "removing an agent must drop its reservations"
    );
    assert!(!ok("release", s.release(&r, Duration::ZERO).await));
    // Re-adding starts clean.
    agent(s, "oid-a", 1).await;
    assert_eq!(state_of(s, "oid-a").await.active(), 0);
}

// -------------------------------------------------------------------------- reservations

/// Only an existing, available, non-wrap-up agent under capacity can be reserved; pausing
/// keeps existing reservations.
pub async fn reserve_only_when_available(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    assert!(
        ok("reserve", s.reserve(&id("ghost"), "call-0", secs(30)).await).is_none(),
        "unknown agent must not be reservable"
    );
    agent(s, "oid-a", 1).await;
    for status in [AgentStatus::Paused, AgentStatus::Offline] {
        ok(
            "set_agent_status",
            s.set_agent_status(&id("oid-a"), status).await,
        );
        assert!(
            ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await).is_none(),
            "{status} agent must not be reservable"
        );
    }
    ok(
        "set_agent_status",
        s.set_agent_status(&id("oid-a"), AgentStatus::Available)
            .await,
    );

    let r = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await)
        .expect("available agent must be reservable");
    assert_eq!(r.agent, "oid-a");
    assert_eq!(r.call_key, "call-1");
    assert_eq!(r.state, ReservationState::Reserved);
    assert_eq!(r.created_at, fx.clock.now());
    assert_eq!(r.expires_at, fx.clock.now() + secs(30));
    let rec = state_of(s, "oid-a").await;
    assert_eq!(
        (rec.reserved, rec.on_call, rec.state()),
        (1, 0, AgentState::Busy)
    );
    assert_eq!(rec.last_reserved_at, Some(fx.clock.now()));

    assert!(
        ok("reserve", s.reserve(&id("oid-a"), "call-2", secs(30)).await).is_none(),
        "capacity 1 agent with a reservation must refuse a second call"
    );

    // Pausing an agent with a reservation keeps the reservation (it does not cut a call).
    ok(
        "set_agent_status",
        s.set_agent_status(&id("oid-a"), AgentStatus::Paused).await,
    );
    let held = ok(
        "reservations_for_agent",
        s.reservations_for_agent(&id("oid-a")).await,
    );
    assert_eq!(held, vec![r.clone()]);
    ok(
        "set_agent_status",
        s.set_agent_status(&id("oid-a"), AgentStatus::Available)
            .await,
    );
    assert!(ok("release", s.release(&r, Duration::ZERO).await));
    assert!(
        ok("reserve", s.reserve(&id("oid-a"), "call-2", secs(30)).await).is_some(),
        "released agent must be reservable again"
    );
}

/// Reserving again for the same call returns the same reservation (extended), without taking
/// a second slot — a retried reserve after a crash is harmless.
pub async fn reserve_is_idempotent_per_call(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    agent(s, "oid-a", 2).await;
    let first =
        ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await).expect("reservable");
    fx.clock.advance(secs(10));
    let again = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await)
        .expect("retry must return the existing reservation");
    assert_eq!(
        again.token, first.token,
        "retry must not create a new reservation"
    );
    assert_eq!(again.created_at, first.created_at);
    assert_eq!(
        again.expires_at,
        fx.clock.now() + secs(30),
        "retry extends the expiry"
    );
    assert_eq!(
        state_of(s, "oid-a").await.reserved,
        1,
        "retry must not take a second slot"
    );

    // A shorter TTL on retry never shortens it.
    let short = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(1)).await)
        .expect("retry must return the existing reservation");
    assert_eq!(short.expires_at, again.expires_at);

    // Even if the agent was paused meanwhile, the call's own reservation comes back.
    ok(
        "set_agent_status",
        s.set_agent_status(&id("oid-a"), AgentStatus::Paused).await,
    );
    let paused = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await);
    assert_eq!(paused.map(|r| r.token), Some(first.token));
}

/// An agent with capacity 3 takes three calls, refuses the fourth, and takes it once a slot
/// is released.
pub async fn capacity_greater_than_one(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    agent(s, "oid-a", 3).await;
    let mut held = Vec::new();
    for call in ["c1", "c2", "c3"] {
        let r = ok("reserve", s.reserve(&id("oid-a"), call, secs(60)).await)
            .unwrap_or_else(|| panic!("slot for {call} under capacity 3"));
        held.push(r);
        let rec = state_of(s, "oid-a").await;
        assert_eq!(rec.active() as usize, held.len());
    }
    let tokens: std::collections::HashSet<_> = held.iter().map(|r| r.token.clone()).collect();
    assert_eq!(tokens.len(), 3, "each reservation has its own token");
    assert_eq!(state_of(s, "oid-a").await.state(), AgentState::Busy);
    assert!(ok("reserve", s.reserve(&id("oid-a"), "c4", secs(60)).await).is_none());

    assert!(ok("release", s.release(&held[1], Duration::ZERO).await));
    let rec = state_of(s, "oid-a").await;
    assert_eq!(
        (rec.active(), rec.free_slots(), rec.state()),
        (2, 1, AgentState::Available)
    );
    assert!(ok("reserve", s.reserve(&id("oid-a"), "c4", secs(60)).await).is_some());
    assert!(ok("reserve", s.reserve(&id("oid-a"), "c5", secs(60)).await).is_none());

    // Lowering capacity below the active count refuses new calls until enough are released.
    agent(s, "oid-a", 1).await;
    assert!(ok("release", s.release(&held[0], Duration::ZERO).await));
    assert!(ok("reserve", s.reserve(&id("oid-a"), "c5", secs(60)).await).is_none());
}

/// Release sets `last_released_at` and wrap-up; no new reservation until wrap-up ends; wrap-up
/// is never shortened by a later, shorter release; releasing twice is harmless.
pub async fn release_starts_wrap_up(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    agent(s, "oid-a", 2).await;
    let r1 = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(60)).await).expect("free");
    let r2 = ok("reserve", s.reserve(&id("oid-a"), "call-2", secs(60)).await).expect("free");
    fx.clock.advance(secs(20));
    let released_at = fx.clock.now();
    assert!(ok("release", s.release(&r1, secs(30)).await));
    assert!(
        !ok("release", s.release(&r1, secs(30)).await),
        "second release must be a no-op"
    );

    let rec = state_of(s, "oid-a").await;
    assert_eq!(rec.last_released_at, Some(released_at));
    assert_eq!(rec.wrap_up_until, Some(released_at + secs(30)));
    assert_eq!(rec.free_slots(), 1);
    assert_eq!(rec.state(), AgentState::WrapUp);

    // Shorter wrap-up from the second call must not cut the first one's.
    fx.clock.advance(secs(1));
    assert!(ok("release", s.release(&r2, secs(5)).await));
    let rec = state_of(s, "oid-a").await;
    assert_eq!(rec.wrap_up_until, Some(released_at + secs(30)));
    assert_eq!(rec.last_released_at, Some(released_at + secs(1)));

    fx.clock
        .set(released_at + secs(30) - Duration::from_millis(1));
    assert!(
        ok("reserve", s.reserve(&id("oid-a"), "call-3", secs(60)).await).is_none(),
        "agent in wrap-up must not be reservable"
    );
    assert_eq!(state_of(s, "oid-a").await.state(), AgentState::WrapUp);
    fx.clock.advance(Duration::from_millis(1));
    assert_eq!(state_of(s, "oid-a").await.state(), AgentState::Available);
    let r3 = ok("reserve", s.reserve(&id("oid-a"), "call-3", secs(60)).await)
        .expect("agent must be reservable once wrap-up ends");

    // Zero wrap-up: reservable again at once, wrap-up end unchanged.
    assert!(ok("release", s.release(&r3, Duration::ZERO).await));
    let rec = state_of(s, "oid-a").await;
    assert_eq!(rec.wrap_up_until, Some(released_at + secs(30)));
    assert!(rec.is_reservable());
    assert!(ok("reserve", s.reserve(&id("oid-a"), "call-4", secs(60)).await).is_some());
}

/// A reservation whose holder died expires: the slot is free again, and the dead holder's
/// handle can neither renew nor release it.
pub async fn expired_reservation_is_reclaimed(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    agent(s, "oid-a", 1).await;
    let dead = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(10)).await).expect("free");
    fx.clock.advance(secs(10) - Duration::from_millis(1));
    assert!(ok("reserve", s.reserve(&id("oid-a"), "call-2", secs(10)).await).is_none());
    assert_eq!(state_of(s, "oid-a").await.reserved, 1);

    fx.clock.advance(Duration::from_millis(1));
    let rec = state_of(s, "oid-a").await;
    assert_eq!(rec.active(), 0, "expired reservations must not count");
    assert_eq!(rec.state(), AgentState::Available);
    assert!(ok(
        "reservations_for_call",
        s.reservations_for_call("call-1").await
    )
    .is_empty());
    let fresh = ok("reserve", s.reserve(&id("oid-a"), "call-2", secs(10)).await)
        .expect("expired reservation must be reclaimed");
    assert_ne!(fresh.token, dead.token);

    assert!(
        ok("renew", s.renew(&dead, secs(10)).await).is_none(),
        "expired handle renewed"
    );
    assert!(
        ok("confirm", s.confirm(&dead, secs(10)).await).is_none(),
        "expired handle confirmed"
    );
    let before = state_of(s, "oid-a").await;
    assert!(
        !ok("release", s.release(&dead, secs(60)).await),
        "expired handle released"
    );
    let after = state_of(s, "oid-a").await;
    assert_eq!(
        after.active(),
        1,
        "stale release must not free the new holder's slot"
    );
    assert_eq!(
        after.wrap_up_until, before.wrap_up_until,
        "stale release must not start wrap-up"
    );
    assert_eq!(after.last_released_at, before.last_released_at);

    // The same call re-reserving after its own reservation expired gets a new one.
    fx.clock.advance(secs(10));
    let again = ok("reserve", s.reserve(&id("oid-a"), "call-2", secs(10)).await)
        .expect("call may reserve again after its reservation expired");
    assert_ne!(again.token, fresh.token);
    assert_eq!(again.created_at, fx.clock.now());
}

/// Renew extends to now + ttl, never shortens, and fails once the reservation is gone.
pub async fn renew_extends_and_never_shortens(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    agent(s, "oid-a", 1).await;
    let start = fx.clock.now();
    let r = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await).expect("free");
    fx.clock.advance(secs(20));
    let renewed = ok("renew", s.renew(&r, secs(30)).await).expect("held reservation renews");
    assert_eq!(renewed.expires_at, start + secs(50));
    assert_eq!(renewed.token, r.token);
    assert_eq!(renewed.state, ReservationState::Reserved);

    fx.clock.advance(secs(15)); // past the original expiry
    assert!(
        ok("reserve", s.reserve(&id("oid-a"), "call-2", secs(30)).await).is_none(),
        "renewed reservation must still hold the agent"
    );
    let same = ok("renew", s.renew(&r, secs(1)).await).expect("still held");
    assert_eq!(
        same.expires_at,
        start + secs(50),
        "renew must never shorten"
    );

    fx.clock.set(start + secs(50));
    assert!(
        ok("renew", s.renew(&renewed, secs(30)).await).is_none(),
        "expired renewed"
    );
    assert!(ok("reserve", s.reserve(&id("oid-a"), "call-2", secs(30)).await).is_some());
}

/// Confirm turns a reservation into an on-call one with a long TTL, idempotently.
pub async fn confirm_marks_on_call(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    agent(s, "oid-a", 2).await;
    let r = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await).expect("free");
    let _other = ok("reserve", s.reserve(&id("oid-a"), "call-2", secs(30)).await).expect("free");
    let on_call = ok("confirm", s.confirm(&r, secs(4 * 3600)).await).expect("held");
    assert_eq!(on_call.state, ReservationState::OnCall);
    assert_eq!(on_call.token, r.token);
    assert_eq!(on_call.expires_at, fx.clock.now() + secs(4 * 3600));
    let again = ok("confirm", s.confirm(&on_call, secs(4 * 3600)).await).expect("held");
    assert_eq!(again, on_call, "confirm is idempotent");
    let rec = state_of(s, "oid-a").await;
    assert_eq!((rec.reserved, rec.on_call), (1, 1));

    // Renewing an on-call reservation keeps it on call; the old handle still works.
    fx.clock.advance(secs(3600));
    let renewed = ok("renew", s.renew(&r, secs(60)).await).expect("held");
    assert_eq!(renewed.state, ReservationState::OnCall);
    assert_eq!(renewed.expires_at, on_call.expires_at);
    assert!(ok("release", s.release(&r, secs(10)).await));
    assert_eq!(state_of(s, "oid-a").await.on_call, 0);
}

/// `reserve_first_of` takes the first free candidate in the given order, returns a call's
/// existing reservation among the candidates instead of taking another, and skips unknown,
/// paused, wrap-up and busy agents.
pub async fn reserve_first_of_takes_first_free_in_order(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    for oid in ["busy", "paused", "wrap", "c", "d"] {
        agent(s, oid, 1).await;
    }
    ok(
        "set_agent_status",
        s.set_agent_status(&id("paused"), AgentStatus::Paused).await,
    );
    ok(
        "reserve",
        s.reserve(&id("busy"), "other-call", secs(600)).await,
    )
    .expect("free");
    let w = ok(
        "reserve",
        s.reserve(&id("wrap"), "old-call", secs(600)).await,
    )
    .expect("free");
    ok("release", s.release(&w, secs(600)).await);

    let ranked = [
        id("ghost"),
        id("busy"),
        id("paused"),
        id("wrap"),
        id("c"),
        id("d"),
    ];
    let first = ok(
        "reserve_first_of",
        s.reserve_first_of(&ranked, "call-1", secs(30)).await,
    )
    .expect("c is free");
    assert_eq!(
        first.agent, "c",
        "must take the first free candidate in order"
    );
    let second = ok(
        "reserve_first_of",
        s.reserve_first_of(&ranked, "call-2", secs(30)).await,
    )
    .expect("d is free");
    assert_eq!(second.agent, "d");
    assert!(
        ok(
            "reserve_first_of",
            s.reserve_first_of(&ranked, "call-3", secs(30)).await
        )
        .is_none(),
        "no candidate free"
    );

    // call-2 retrying with a ranking where c comes first gets its reservation on d back,
    // even after c frees up — a retry never holds two agents.
    ok("release", s.release(&first, Duration::ZERO).await);
    let retry = ok(
        "reserve_first_of",
        s.reserve_first_of(&[id("c"), id("d")], "call-2", secs(30))
            .await,
    )
    .expect("existing reservation");
    assert_eq!(retry.token, second.token);
    assert_eq!(state_of(s, "c").await.active(), 0, "retry must not take c");

    assert!(ok(
        "reserve_first_of",
        s.reserve_first_of(&[], "call-4", secs(30)).await
    )
    .is_none());
    let dup = ok(
        "reserve_first_of",
        s.reserve_first_of(&[id("c"), id("c")], "call-4", secs(30))
            .await,
    )
    .expect("c is free");
    assert_eq!(dup.agent, "c");
    assert_eq!(
        state_of(s, "c").await.active(),
        1,
        "duplicate candidates take one slot"
    );
}

/// `list_reservable_agents` is `list_agents` filtered by `is_reservable`, record for record:
/// paused, offline, at capacity and in wrap-up agents left out; a free slot of a larger
/// capacity, an ended wrap-up and an expired reservation let an agent back in.
pub async fn reservable_agents_are_those_the_full_list_shows_reservable(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    for (oid, capacity) in [
        ("a-idle", 1),
        ("b-paused", 1),
        ("c-full", 1),
        ("d-half", 2),
        ("e-wrap", 1),
        ("f-wrap-over", 1),
        ("g-expired", 1),
        ("h-offline", 1),
        ("i-on-call", 1),
    ] {
        agent(s, oid, capacity).await;
    }
    let status = |oid: &'static str, st| async move {
        ok("set_agent_status", s.set_agent_status(&id(oid), st).await);
    };
    status("b-paused", AgentStatus::Paused).await;
    status("h-offline", AgentStatus::Offline).await;
    let reserve = |oid: &'static str, call: &'static str, ttl| async move {
        ok("reserve", s.reserve(&id(oid), call, secs(ttl)).await)
            .unwrap_or_else(|| panic!("{oid} should be reservable"))
    };
    reserve("c-full", "call-c", 300).await;
    reserve("d-half", "call-d", 300).await;
    let e = reserve("e-wrap", "call-e", 300).await;
    assert!(ok("release", s.release(&e, secs(600)).await));
    let f2 = reserve("f-wrap-over", "call-f", 300).await;
    assert!(ok("release", s.release(&f2, secs(5)).await));
    reserve("g-expired", "call-g", 5).await;
    let i = reserve("i-on-call", "call-i", 300).await;
    ok("confirm", s.confirm(&i, secs(300)).await);
    fx.clock.advance(secs(10));

    let all = ok("list_agents", s.list_agents().await);
    let expected: Vec<AgentRecord> = all.into_iter().filter(|r| r.is_reservable()).collect();
    let got = ok("list_reservable_agents", s.list_reservable_agents().await);
    let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a-idle", "d-half", "f-wrap-over", "g-expired"]);
    assert_eq!(got, expected, "same records as list_agents shows");
}

/// A long ranking (the whole roster) keeps its order wherever the free agents are, and the
/// order is the caller's, not the ids'.
pub async fn reserve_first_of_long_ranking(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    // Ranked in descending id order, so a backend sorting by id would pick wrongly.
    let ranked: Vec<TeamsUserId> = (0..150)
        .rev()
        .map(|i| id(&format!("agent-{i:03}")))
        .collect();
    for a in &ranked {
        agent(s, a.as_str(), 1).await;
    }
    // Two free agents close together (a backend may batch the ranking) and two far apart.
    let free = [
        ranked[37].clone(),
        ranked[40].clone(),
        ranked[100].clone(),
        ranked[149].clone(),
    ];
    for (i, a) in ranked.iter().enumerate() {
        if !free.contains(a) {
            ok(
                "reserve",
                s.reserve(a, &format!("hold-{i}"), secs(600)).await,
            )
            .expect("setup: agent free");
        }
    }
    for (n, expected) in free.iter().enumerate() {
        let r = ok(
            "reserve_first_of",
            s.reserve_first_of(&ranked, &format!("call-{n}"), secs(60))
                .await,
        )
        .expect("a free agent remains");
        assert_eq!(
            &r.agent, expected,
            "pick {n} must be the best-ranked free agent"
        );
    }
    assert!(ok(
        "reserve_first_of",
        s.reserve_first_of(&ranked, "call-x", secs(60)).await
    )
    .is_none());
}

/// Tokens are never reused: after release and re-reserve, the old handle cannot touch the new
/// reservation even for the same agent and call.
pub async fn stale_handles_never_touch_new_reservations(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    agent(s, "oid-a", 1).await;
    let old = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await).expect("free");
    assert!(ok("release", s.release(&old, Duration::ZERO).await));
    let new = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await).expect("free");
    assert_ne!(new.token, old.token, "tokens must never be reused");
    assert!(ok("renew", s.renew(&old, secs(60)).await).is_none());
    assert!(!ok("release", s.release(&old, secs(60)).await));
    assert_eq!(
        ok(
            "reservations_for_agent",
            s.reservations_for_agent(&id("oid-a")).await
        ),
        vec![new.clone()]
    );
    // A handle with a forged token, or for the wrong agent or call, is not held either.
    let mut forged = new.clone();
    forged.token = crate::model::ReservationToken::new("not-a-token");
    assert!(!ok("release", s.release(&forged, Duration::ZERO).await));
    let mut wrong_call = new.clone();
    wrong_call.call_key = "call-2".into();
    assert!(!ok("release", s.release(&wrong_call, Duration::ZERO).await));
    let mut wrong_agent = new.clone();
    wrong_agent.agent = id("oid-b");
    assert!(!ok(
        "release",
        s.release(&wrong_agent, Duration::ZERO).await
    ));
    assert!(ok("release", s.release(&new, Duration::ZERO).await));
}

/// Reservations can be listed by call and by agent, oldest first, without expired ones.
pub async fn reservation_listings(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    agent(s, "oid-a", 2).await;
    agent(s, "oid-b", 1).await;
    let a1 = ok("reserve", s.reserve(&id("oid-a"), "call-1", secs(30)).await).expect("free");
    let b1 = ok("reserve", s.reserve(&id("oid-b"), "call-1", secs(10)).await).expect("free");
    let a2 = ok("reserve", s.reserve(&id("oid-a"), "call-2", secs(30)).await).expect("free");
    assert_eq!(
        ok(
            "reservations_for_call",
            s.reservations_for_call("call-1").await
        ),
        vec![a1.clone(), b1]
    );
    assert_eq!(
        ok(
            "reservations_for_agent",
            s.reservations_for_agent(&id("oid-a")).await
        ),
        vec![a1.clone(), a2]
    );
    fx.clock.advance(secs(10));
    assert_eq!(
        ok(
            "reservations_for_call",
            s.reservations_for_call("call-1").await
        ),
        vec![a1],
        "expired reservations must not be listed"
    );
    assert!(ok(
        "reservations_for_call",
        s.reservations_for_call("none").await
    )
    .is_empty());
}

// ---------------------------------------------------------------------------- call state

/// The text forms (what typed callers use) and the [`Value`] forms read and write one
/// document, with one version sequence and the same compare-and-set rule.
pub async fn call_state_as_text_is_the_same_document(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    let ttl = secs(3600);
    assert!(ok("get_call_text", s.get_call_text("call-t").await).is_none());
    let v1 = ok(
        "put_call_text_if",
        s.put_call_text_if("call-t", None, r#"{"step":1,"who":"a"}"#.into(), ttl)
            .await,
    )
    .written()
    .expect("create from text");
    let got = ok("get_call", s.get_call("call-t").await).expect("written");
    assert_eq!(
        (got.version, &got.value),
        (v1, &json!({"step": 1, "who": "a"}))
    );
    assert_eq!(got.expires_at, fx.clock.now() + ttl);
    assert_eq!(
        ok(
            "put_call_text_if",
            s.put_call_text_if("call-t", None, "{}".into(), ttl).await
        ),
        CasOutcome::Conflict { current: Some(v1) },
        "create-only from text on an existing key must conflict"
    );
    let v2 = ok(
        "put_call_if",
        s.put_call_if("call-t", Some(v1), &json!({"step": 2}), ttl)
            .await,
    )
    .written()
    .expect("update as a value");
    let text = ok("get_call_text", s.get_call_text("call-t").await).expect("present");
    assert_eq!(text.version, v2);
    let parsed: Value = serde_json::from_str(&text.value).expect("the text is JSON");
    assert_eq!(parsed, json!({"step": 2}));
    assert!(
        matches!(
            s.put_call_text_if("call-t", Some(v2), "{not json".into(), ttl)
                .await,
            Err(StoreError::InvalidInput { .. })
        ),
        "text that is not JSON is refused"
    );
    let typed: crate::model::Versioned<Value> =
        ok("get_call_as", s.get_call_as("call-t").await).expect("present");
    assert_eq!((typed.version, typed.value), (v2, json!({"step": 2})));
    // Text that is JSON by construction: the same document and versions, the same rules.
    let doc = crate::model::JsonText::serialize(&json!({"step": 3, "who": "b"})).expect("json");
    assert_eq!(
        ok(
            "put_call_json_if",
            s.put_call_json_if("call-t", Some(v1), doc.clone(), ttl)
                .await
        ),
        CasOutcome::Conflict { current: Some(v2) },
        "a stale version conflicts"
    );
    let v3 = ok(
        "put_call_json_if",
        s.put_call_json_if("call-t", Some(v2), doc, ttl).await,
    )
    .written()
    .expect("update from JSON text");
    let got = ok("get_call", s.get_call("call-t").await).expect("written");
    assert_eq!(
        (got.version, &got.value),
        (v3, &json!({"step": 3, "who": "b"}))
    );
    let huge =
        crate::model::JsonText::serialize(&"x".repeat(crate::model::MAX_DOC_BYTES)).expect("json");
    assert!(
        matches!(
            s.put_call_json_if("call-t", Some(v3), huge, ttl).await,
            Err(StoreError::InvalidInput { .. })
        ),
        "a document over the size limit is refused"
    );
}

/// Create-only, update with the right version, conflict with a stale one or on a missing doc.
pub async fn call_state_compare_and_set(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    let ttl = secs(3600);
    assert!(ok("get_call", s.get_call("call-1").await).is_none());
    assert_eq!(
        ok(
            "put_call_if",
            s.put_call_if("call-1", Some(1), &json!({}), ttl).await
        ),
        CasOutcome::Conflict { current: None },
        "update of a missing document must conflict"
    );

    let v1 = ok(
        "put_call_if",
        s.put_call_if("call-1", None, &json!({"step": 1}), ttl)
            .await,
    )
    .written()
    .expect("create on absent key must write");
    let got = ok("get_call", s.get_call("call-1").await).expect("written");
    assert_eq!((got.version, &got.value), (v1, &json!({"step": 1})));
    assert_eq!(got.updated_at, fx.clock.now());
    assert_eq!(got.expires_at, fx.clock.now() + ttl);

    assert_eq!(
        ok(
            "put_call_if",
            s.put_call_if("call-1", None, &json!({"step": 9}), ttl)
                .await
        ),
        CasOutcome::Conflict { current: Some(v1) },
        "create-only on an existing key must conflict"
    );
    fx.clock.advance(secs(1));
    let v2 = ok(
        "put_call_if",
        s.put_call_if("call-1", Some(v1), &json!({"step": 2}), ttl)
            .await,
    )
    .written()
    .expect("update with current version must write");
    assert_ne!(v2, v1, "every write gets a new version");
    assert_eq!(
        ok(
            "put_call_if",
            s.put_call_if("call-1", Some(v1), &json!({"step": 3}), ttl)
                .await
        ),
        CasOutcome::Conflict { current: Some(v2) },
        "stale version must conflict"
    );
    let got = ok("get_call", s.get_call("call-1").await).expect("written");
    assert_eq!(
        (got.version, &got.value),
        (v2, &json!({"step": 2})),
        "conflict must not write"
    );
    assert_eq!(got.updated_at, fx.clock.now());

    // Typed helpers round-trip through the same CAS.
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Doc {
        step: u32,
    }
    let typed = ok("get_call_as", s.get_call_as::<Doc>("call-1").await).expect("present");
    assert_eq!(typed.value, Doc { step: 2 });
    let v3 = ok(
        "put_call_as",
        s.put_call_as("call-1", Some(v2), &Doc { step: 3 }, ttl)
            .await,
    )
    .written()
    .expect("typed update");
    let err = s
        .get_call_as::<Vec<u8>>("call-1")
        .await
        .expect_err("wrong type must fail");
    assert!(
        matches!(err, StoreError::Corrupt { .. }),
        "decode failure is Corrupt: {err}"
    );

    // Keys are independent.
    assert!(ok(
        "put_call_if",
        s.put_call_if("call-2", None, &json!(null), ttl).await
    )
    .written()
    .is_some());
    assert_eq!(
        ok("get_call", s.get_call("call-1").await).map(|v| v.version),
        Some(v3)
    );

    assert!(ok("delete_call", s.delete_call("call-1").await));
    assert!(!ok("delete_call", s.delete_call("call-1").await));
    assert!(ok("get_call", s.get_call("call-1").await).is_none());
    assert_eq!(
        ok(
            "put_call_if",
            s.put_call_if("call-1", Some(v3), &json!({}), ttl).await
        ),
        CasOutcome::Conflict { current: None }
    );
}

/// Documents expire at their TTL (so abandoned calls go away); a write refreshes the TTL; a
/// re-created document never gets a version seen before, so a stale writer cannot win.
pub async fn call_state_expiry_and_versions_never_reused(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    let mut seen = std::collections::HashSet::new();
    let v1 = ok(
        "put_call_if",
        s.put_call_if("k", None, &json!(1), secs(60)).await,
    )
    .written()
    .expect("create");
    seen.insert(v1);
    fx.clock.advance(secs(50));
    let v2 = ok(
        "put_call_if",
        s.put_call_if("k", Some(v1), &json!(2), secs(60)).await,
    )
    .written()
    .expect("update");
    seen.insert(v2);
    fx.clock.advance(secs(59));
    assert!(
        ok("get_call", s.get_call("k").await).is_some(),
        "write must refresh the TTL"
    );
    fx.clock.advance(secs(1));
    assert!(
        ok("get_call", s.get_call("k").await).is_none(),
        "document must expire"
    );
    assert_eq!(
        ok(
            "put_call_if",
            s.put_call_if("k", Some(v2), &json!(3), secs(60)).await
        ),
        CasOutcome::Conflict { current: None },
        "update of an expired document must conflict"
    );
    assert!(
        !ok("delete_call", s.delete_call("k").await),
        "expired document is absent"
    );

    // Recreate and churn: no version ever repeats for the key.
    let mut expected = None;
    for round in 0..20 {
        let v = ok(
            "put_call_if",
            s.put_call_if("k", expected, &json!(round), secs(60)).await,
        )
        .written()
        .expect("write");
        assert!(seen.insert(v), "version {v} reused");
        expected = Some(v);
        if round % 5 == 4 {
            assert!(ok("delete_call", s.delete_call("k").await));
            expected = None;
        }
    }
}

/// Many tasks doing read-modify-write with compare-and-set on one document lose no update.
pub async fn concurrent_cas_loses_no_update(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let other = ok(
        "factory.open",
        f.open(&fx.locator, Arc::new(fx.clock.clone())).await,
    );
    ok(
        "put_call_if",
        fx.store
            .put_call_if("counter", None, &json!({"n": 0}), secs(600))
            .await,
    );
    const TASKS: usize = 8;
    const INCREMENTS: u64 = 15;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let s = if t % 2 == 0 {
            Arc::clone(&fx.store)
        } else {
            Arc::clone(&other)
        };
        handles.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            for _ in 0..INCREMENTS {
                loop {
                    let cur = ok("get_call", s.get_call("counter").await).expect("present");
                    let n = cur.value["n"].as_u64().expect("n is a number");
                    let next = json!({"n": n + 1});
                    match ok(
                        "put_call_if",
                        s.put_call_if("counter", Some(cur.version), &next, secs(600))
                            .await,
                    ) {
                        CasOutcome::Written { .. } => break,
                        CasOutcome::Conflict { .. } => conflicts += 1,
                    }
                }
            }
            conflicts
        }));
    }
    for h in handles {
        h.await.expect("task panicked");
    }
    let got = ok("get_call", fx.store.get_call("counter").await).expect("present");
    assert_eq!(
        got.value["n"].as_u64(),
        Some(TASKS as u64 * INCREMENTS),
        "compare-and-set lost an update"
    );
}

/// Archiving removes the live state and keeps an audit record until its TTL.
pub async fn archive_moves_call_to_audit_record(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    ok(
        "put_call_if",
        s.put_call_if("call-1", None, &json!({"live": true}), secs(600))
            .await,
    );
    let start = fx.clock.now();
    ok(
        "archive_call",
        s.archive_call("call-1", &json!({"outcome": "answered"}), secs(60))
            .await,
    );
    assert!(
        ok("get_call", s.get_call("call-1").await).is_none(),
        "live state must be gone"
    );
    let rec = ok("get_archived_call", s.get_archived_call("call-1").await).expect("archived");
    assert_eq!(rec.call_key, "call-1");
    assert_eq!(rec.doc, json!({"outcome": "answered"}));
    assert_eq!(rec.archived_at, start);
    assert_eq!(rec.expires_at, start + secs(60));

    // Archiving again replaces the record (idempotent end-of-call handling).
    fx.clock.advance(secs(1));
    ok(
        "archive_call",
        s.archive_call("call-1", &json!({"outcome": "final"}), secs(60))
            .await,
    );
    fx.clock.advance(secs(1));
    ok(
        "archive_call",
        s.archive_call("call-2", &json!({"outcome": "abandoned"}), secs(30))
            .await,
    );
    let recent = ok("list_archived_calls", s.list_archived_calls(10).await);
    let keys: Vec<&str> = recent.iter().map(|r| r.call_key.as_str()).collect();
    assert_eq!(keys, ["call-2", "call-1"], "most recently archived first");
    assert_eq!(recent[1].doc, json!({"outcome": "final"}));
    assert_eq!(
        ok("list_archived_calls", s.list_archived_calls(1).await).len(),
        1
    );

    fx.clock.advance(secs(30));
    assert!(ok("get_archived_call", s.get_archived_call("call-2").await).is_none());
    let keys: Vec<String> = ok("list_archived_calls", s.list_archived_calls(10).await)
        .into_iter()
        .map(|r| r.call_key)
        .collect();
    assert_eq!(keys, ["call-1"], "expired audit records must not be listed");
    fx.clock.advance(secs(30));
    assert!(ok("get_archived_call", s.get_archived_call("call-1").await).is_none());
}

// --------------------------------------------------------------------------- idempotency

/// `mark_once` is true once per key until the marker expires or is cleared.
pub async fn idempotency_markers(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    assert!(!ok("check_mark", s.check_mark("evt-1").await));
    assert!(
        ok("mark_once", s.mark_once("evt-1", secs(60)).await),
        "first mark"
    );
    assert!(
        !ok("mark_once", s.mark_once("evt-1", secs(60)).await),
        "second mark"
    );
    assert!(ok("check_mark", s.check_mark("evt-1").await));
    assert!(
        !ok("check_mark", s.check_mark("evt-2").await),
        "markers are per key"
    );

    fx.clock.advance(secs(59));
    assert!(
        !ok("mark_once", s.mark_once("evt-1", secs(600)).await),
        "a refused mark must not extend"
    );
    fx.clock.advance(secs(1));
    assert!(
        !ok("check_mark", s.check_mark("evt-1").await),
        "marker must expire"
    );
    assert!(
        ok("mark_once", s.mark_once("evt-1", secs(60)).await),
        "expired marker is set anew"
    );

    assert!(ok("clear_mark", s.clear_mark("evt-1").await));
    assert!(!ok("clear_mark", s.clear_mark("evt-1").await));
    assert!(!ok("check_mark", s.check_mark("evt-1").await));
    assert!(
        ok("mark_once", s.mark_once("evt-1", secs(60)).await),
        "cleared marker is set anew"
    );

    // Concurrent marks: exactly one winner.
    let mut handles = Vec::new();
    for _ in 0..16 {
        let s = Arc::clone(&fx.store);
        handles.push(tokio::spawn(async move {
            ok("mark_once", s.mark_once("evt-race", secs(60)).await)
        }));
    }
    let mut winners = 0;
    for h in handles {
        winners += usize::from(h.await.expect("task panicked"));
    }
    assert_eq!(winners, 1, "exactly one concurrent mark_once must win");
}

/// Member sets: put replaces a member, members expire one by one, removal reports whether a
/// live member went, sets are separate, and concurrent writers of different members all land
/// (no compare-and-set to lose).
pub async fn member_sets(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    let sorted = |mut v: Vec<(String, Value)>| {
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert!(ok("list_members", s.list_members("wl:support").await).is_empty());
    ok(
        "put_member",
        s.put_member("wl:support", "call-a", &json!({"n": 1}), secs(60))
            .await,
    );
    ok(
        "put_member",
        s.put_member("wl:support", "call-b", &json!({"n": 1}), secs(30))
            .await,
    );
    ok(
        "put_member",
        s.put_member("wl:sales", "call-c", &json!("other set"), secs(60))
            .await,
    );
    ok(
        "put_member",
        s.put_member(
            "wl:support",
            "call-a",
            &json!({"n": 2, "x": [1, 2]}),
            secs(60),
        )
        .await,
    );
    assert_eq!(
        sorted(ok("list_members", s.list_members("wl:support").await)),
        vec![
            ("call-a".to_owned(), json!({"n": 2, "x": [1, 2]})),
            ("call-b".to_owned(), json!({"n": 1})),
        ],
        "a put replaces its member; sets are separate"
    );

    fx.clock.advance(secs(30));
    assert_eq!(
        ok("list_members", s.list_members("wl:support").await),
        vec![("call-a".to_owned(), json!({"n": 2, "x": [1, 2]}))],
        "members expire one by one"
    );
    assert!(
        !ok(
            "remove_member",
            s.remove_member("wl:support", "call-b").await
        ),
        "an expired member is not removed live"
    );
    assert!(ok(
        "remove_member",
        s.remove_member("wl:support", "call-a").await
    ));
    assert!(!ok(
        "remove_member",
        s.remove_member("wl:support", "call-a").await
    ));
    assert!(ok("list_members", s.list_members("wl:support").await).is_empty());
    assert_eq!(
        ok("list_members", s.list_members("wl:sales").await).len(),
        1,
        "removing from one set leaves the other"
    );

    // Concurrent writers of different members: every write lands.
    let mut handles = Vec::new();
    for i in 0..24 {
        let s = Arc::clone(&fx.store);
        handles.push(tokio::spawn(async move {
            for round in 0..3 {
                ok(
                    "put_member",
                    s.put_member("wl:burst", &format!("call-{i}"), &json!(round), secs(60))
                        .await,
                );
            }
        }));
    }
    for h in handles {
        h.await.expect("task panicked");
    }
    let burst = ok("list_members", s.list_members("wl:burst").await);
    assert_eq!(burst.len(), 24, "{burst:?}");
    assert!(burst.iter().all(|(_, v)| *v == json!(2)), "{burst:?}");

    for bad in ["", &"k".repeat(10_000)] {
        let err = s
            .put_member(bad, "m", &json!(1), secs(1))
            .await
            .expect_err("invalid set key");
        assert!(!err.is_retryable(), "{err}");
    }
    let huge = json!("x".repeat(crate::model::MAX_DOC_BYTES + 1));
    let err = s
        .put_member("wl:support", "call-big", &huge, secs(1))
        .await
        .expect_err("a value over the document limit");
    assert!(!err.is_retryable(), "{err}");
}

/// The sweep removes expired entries of every kind and nothing live.
pub async fn sweep_removes_only_expired(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    agent(s, "oid-a", 2).await;
    ok("reserve", s.reserve(&id("oid-a"), "short", secs(10)).await).expect("free");
    let long = ok("reserve", s.reserve(&id("oid-a"), "long", secs(100)).await).expect("free");
    ok(
        "put_call_if",
        s.put_call_if("short", None, &json!(1), secs(10)).await,
    );
    ok(
        "put_call_if",
        s.put_call_if("long", None, &json!(1), secs(100)).await,
    );
    ok(
        "archive_call",
        s.archive_call("a-short", &json!(1), secs(10)).await,
    );
    ok(
        "archive_call",
        s.archive_call("a-long", &json!(1), secs(100)).await,
    );
    ok("mark_once", s.mark_once("short", secs(10)).await);
    ok("mark_once", s.mark_once("long", secs(100)).await);

    assert_eq!(ok("sweep_expired", s.sweep_expired().await).total(), 0);
    fx.clock.advance(secs(10));
    let report = ok("sweep_expired", s.sweep_expired().await);
    assert_eq!(
        (
            report.reservations,
            report.calls,
            report.archived_calls,
            report.marks
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(ok("sweep_expired", s.sweep_expired().await).total(), 0);
    assert_eq!(
        ok(
            "reservations_for_agent",
            s.reservations_for_agent(&id("oid-a")).await
        ),
        vec![long]
    );
    assert!(ok("get_call", s.get_call("long").await).is_some());
    assert!(ok("get_archived_call", s.get_archived_call("a-long").await).is_some());
    assert!(ok("check_mark", s.check_mark("long").await));
}

/// Bad input is a clear, non-retryable error, never a panic or a silent success.
pub async fn invalid_input_is_rejected(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    agent(s, "oid-a", 1).await;
    let mut errors: Vec<(&str, StoreError)> = Vec::new();
    let mut expect_invalid = |what: &'static str, r: Result<(), StoreError>| match r {
        Err(e @ StoreError::InvalidInput { .. }) => errors.push((what, e)),
        Err(e) => panic!("{what}: expected InvalidInput, got {e}"),
        Ok(()) => panic!("{what}: expected InvalidInput, got success"),
    };
    expect_invalid(
        "capacity 0",
        s.upsert_agent(&AgentProfile::new("oid-z").with_capacity(0))
            .await,
    );
    expect_invalid(
        "empty agent id",
        s.upsert_agent(&AgentProfile::new("")).await,
    );
    expect_invalid(
        "empty call key",
        s.reserve(&id("oid-a"), "", secs(30)).await.map(drop),
    );
    expect_invalid(
        "zero ttl",
        s.reserve(&id("oid-a"), "call-1", Duration::ZERO)
            .await
            .map(drop),
    );
    expect_invalid(
        "huge ttl",
        s.reserve(&id("oid-a"), "call-1", secs(10 * 365 * 24 * 3600))
            .await
            .map(drop),
    );
    expect_invalid(
        "oversized key",
        s.mark_once(&"k".repeat(crate::model::MAX_KEY_BYTES + 1), secs(1))
            .await
            .map(drop),
    );
    expect_invalid(
        "oversized document",
        s.put_call_if(
            "call-1",
            None,
            &json!("x".repeat(crate::model::MAX_DOC_BYTES)),
            secs(60),
        )
        .await
        .map(drop),
    );
    expect_invalid(
        "empty candidate",
        s.reserve_first_of(&[id("oid-a"), id("")], "call-1", secs(30))
            .await
            .map(drop),
    );
    for (what, e) in &errors {
        assert!(
            !e.is_retryable(),
            "{what}: invalid input must not be retryable"
        );
    }
    // Nothing was changed by the rejected calls.
    assert_eq!(state_of(s, "oid-a").await.active(), 0);
    assert!(ok("get_call", s.get_call("call-1").await).is_none());
    assert_eq!(ok("list_agents", s.list_agents().await).len(), 1);
}

/// A second handle (another replica) sees and respects the first one's writes.
pub async fn handles_share_one_store(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let other = ok(
        "factory.open",
        f.open(&fx.locator, Arc::new(fx.clock.clone())).await,
    );
    ok("ping", fx.store.ping().await);
    ok("ping", other.ping().await);
    agent(fx.store.as_ref(), "oid-a", 1).await;
    let r = ok(
        "reserve",
        fx.store.reserve(&id("oid-a"), "call-1", secs(30)).await,
    )
    .expect("free");
    assert!(
        ok(
            "reserve",
            other.reserve(&id("oid-a"), "call-2", secs(30)).await
        )
        .is_none(),
        "other replica must see the reservation"
    );
    assert_eq!(
        ok(
            "reservations_for_agent",
            other.reservations_for_agent(&id("oid-a")).await
        ),
        vec![r.clone()]
    );
    assert!(
        ok("release", other.release(&r, secs(5)).await),
        "any replica may release"
    );
    assert_eq!(
        state_of(fx.store.as_ref(), "oid-a").await.state(),
        AgentState::WrapUp
    );
    assert!(ok("mark_once", other.mark_once("evt", secs(5)).await));
    assert!(!ok("mark_once", fx.store.mark_once("evt", secs(5)).await));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_test_name_strips_the_crate() {
        assert_eq!(__child_test_name("conformance_sqlite"), "conformance_child");
        assert_eq!(
            __child_test_name("conformance_sqlite::suite"),
            "suite::conformance_child"
        );
    }
}
