//! Routing fixtures: the roster, queues and rules tests share, as files under
//! `crates/switchboard-testkit/fixtures/routing/` (routing tables, without the `routing.`
//! prefix), and the numbers and agents the flow fixture names.
use std::time::Duration;

use switchboard_sim::{AgentSpec, Behaviour};
use toml::{Table, Value};

/// Alice and Bob sell, Carmen supports; an IVR on the main line, a direct partner line, a
/// closed line; short ring timeouts (`fixtures/routing/flow.toml`).
pub const FLOW: &str = include_str!("../fixtures/routing/flow.toml");
/// Alice, Bob and Carmen in one round-robin sales queue (`round_robin.toml`).
pub const ROUND_ROBIN: &str = include_str!("../fixtures/routing/round_robin.toml");
/// One skills-best-match support queue on +18005550101, no roster (`e2e_support.toml`).
pub const E2E_SUPPORT: &str = include_str!("../fixtures/routing/e2e_support.toml");
/// IVR → recorded sales queue, partners overflowing to a phone, no roster (`e2e_scenario.toml`).
pub const E2E_SCENARIO: &str = include_str!("../fixtures/routing/e2e_scenario.toml");
/// One longest-idle support queue with a long wait, no roster (`e2e_busy_day.toml`).
pub const E2E_BUSY_DAY: &str = include_str!("../fixtures/routing/e2e_busy_day.toml");

pub const ALICE: &str = "6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10";
pub const BOB: &str = "0b6f3d42-91e4-4c0b-8f2a-7d5e1a9c3b66";
pub const CARMEN: &str = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";

pub const SALES_LINE: &str = "+18005550101";
pub const MAIN_LINE: &str = "+18005550100";
pub const SUPPORT_LINE: &str = "+18005550103";
pub const PARTNER_LINE: &str = "+18005550102";
pub const CLOSED_LINE: &str = "+18005550104";
/// A number the simulator knows and the deployment does not serve.
pub const NOT_OURS: &str = "+18005550199";
/// Where the sales queue overflows to.
pub const OVERFLOW_NUMBER: &str = "+14255550199";

/// A routing fixture as a table.
pub fn routing_table(fixture: &str) -> Table {
    fixture.parse().expect("routing fixture is TOML")
}

/// Appends `[[agents]]` entry `oid` named `name` with one skill at `level`.
pub fn add_agent(routing: &mut Table, oid: &str, name: &str, skill: &str, level: u32) {
    let mut skills = Table::new();
    skills.insert(skill.into(), Value::Integer(level.into()));
    let mut agent = Table::new();
    agent.insert("oid".into(), Value::String(oid.into()));
    agent.insert("name".into(), Value::String(name.into()));
    agent.insert("skills".into(), Value::Table(skills));
    match routing
        .entry("agents")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(a) => a.push(Value::Table(agent)),
        other => panic!("routing.agents is not an array: {other}"),
    }
}

/// An agent who answers after 200 ms and hangs up after 800 ms of talk.
pub fn agent(oid: &str, name: &str) -> AgentSpec {
    AgentSpec::new(oid, name, format!("{}@contoso.com", name.to_lowercase()))
        .with_behaviour(Behaviour::Accept {
            after: Duration::from_millis(200),
        })
        .with_talk_time(Duration::from_millis(800))
}
