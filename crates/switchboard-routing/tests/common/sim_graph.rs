//! Microsoft Graph for tests: the ACS simulator's Graph subset (and its Entra token
//! endpoints) in-process on 127.0.0.1:0, with helpers for the directory and for faults.
//!
//! Shared by the routing crate's tests and the CLI test (included with `#[path]`).
#![allow(dead_code)]

use switchboard_sim::{
    AgentSpec, EntraApp, EntraConfig, FaultKind, FaultRule, FaultSpec, Faults, Secret, SimConfig,
    SimHandle, Simulator,
};

/// A directory user with a presence.
pub fn user(id: &str, name: &str, upn: &str, availability: &str, activity: &str) -> AgentSpec {
    AgentSpec::new(id, name, upn).with_presence(availability, activity)
}

/// Graph with `users`, accepting only bearer `token`; the Entra token endpoint hands that
/// token to `app` (client id, secret) when given.
pub async fn start(users: Vec<AgentSpec>, token: &str, app: Option<(&str, &str)>) -> SimHandle {
    let sim = Simulator::start(SimConfig {
        random_seed: Some(11),
        graph_bearer: Some(Secret::new(token)),
        entra: EntraConfig {
            apps: app
                .map(|(id, secret)| vec![EntraApp::new(id, secret)])
                .unwrap_or_default(),
            identity_header: Some(Secret::new("identity-header")),
            ..EntraConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .expect("start the simulator");
    sim.seed_agents(users).expect("seed users");
    sim
}

/// Graph's 429 with `Retry-After: secs`.
pub fn throttled(secs: u32) -> FaultKind {
    FaultKind::Throttle {
        retry_after_secs: secs,
    }
}

/// An error status with Graph's error body.
pub fn status(status: u16) -> FaultKind {
    FaultKind::Status { status }
}

/// The next requests (whatever their operation) fail with `kinds`, one each, in order.
pub fn fail_next(sim: &SimHandle, kinds: impl IntoIterator<Item = FaultKind>) {
    set_global(
        sim,
        kinds.into_iter().map(|k| FaultRule::times(k, 1)).collect(),
    );
}

/// Every request fails with `kind` until [`recover`].
pub fn fail_always(sim: &SimHandle, kind: FaultKind) {
    set_global(sim, vec![FaultRule::always(kind)]);
}

/// No more faults.
pub fn recover(sim: &SimHandle) {
    sim.set_faults(Faults::default()).expect("clear faults");
}

fn set_global(sim: &SimHandle, rules: Vec<FaultRule>) {
    sim.set_faults(Faults {
        global: FaultSpec {
            latency: None,
            rules,
        },
        ..Faults::default()
    })
    .expect("set faults");
}

/// How many requests went to `path`.
pub fn requests_to(sim: &SimHandle, path: &str) -> usize {
    sim.requests().iter().filter(|r| r.path == path).count()
}
