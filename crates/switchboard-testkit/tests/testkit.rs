//! The testkit's own checks: the generated configuration loads as written, every routing
//! fixture is a valid routing table, and a stack answers and routes a call.
use std::net::SocketAddr;
use std::path::PathBuf;

use switchboard_testkit::fixtures::{self, SALES_LINE};
use switchboard_testkit::{archived_state, DeploymentConfig, SimEndpoints, Stack};
use switchboard_worker::app::routing_config;
use switchboard_worker::config::IngressAuth;

fn deployment() -> DeploymentConfig {
    let sim = SimEndpoints {
        connection_string: "endpoint=http://127.0.0.1:1/;accesskey=a2V5".into(),
        resource_id: "rid".into(),
        openid_config_url: "http://127.0.0.1:1/.well-known/openid-configuration".into(),
        callback_issuer: "iss".into(),
        graph_base_url: "http://127.0.0.1:1/graph".into(),
        cognitive_services_endpoint: "https://ai.example.cognitiveservices.azure.com/".into(),
    };
    let addr: SocketAddr = "127.0.0.1:8089".parse().unwrap();
    DeploymentConfig::new(sim, addr, PathBuf::from("/data/q.db"))
}

#[test]
fn the_generated_configuration_loads_with_every_setting() {
    let mut d = deployment();
    d.numbers = vec![SALES_LINE.into()];
    d.lock_duration_secs = 4;
    d.concurrency = 3;
    d.command_deadline_ms = 8000;
    d.grace_period_secs = Some(3);
    d.metrics_port = Some(0);
    d.eventgrid_webhook = true;
    d.graph_token = Some("t".into());
    d.routing = fixtures::routing_table(fixtures::E2E_SUPPORT);
    fixtures::add_agent(&mut d.routing, fixtures::ALICE, "Alice", "support", 3);
    d.store_extra.insert("kind".into(), "redis".into());
    d.store_extra
        .insert("redis_url".into(), "redis://127.0.0.1:6379".into());
    let c = d.config();
    assert_eq!(c.acs.numbers, vec![SALES_LINE.to_string()]);
    assert_eq!(
        c.acs.callback_url.as_deref(),
        Some("http://127.0.0.1:8089/api/callbacks")
    );
    assert_eq!(c.acs.command_deadline_ms, 8000);
    assert_eq!(c.queue.kind, "sqlite");
    assert_eq!(c.queue_sqlite_path(), PathBuf::from("/data/q.db"));
    assert_eq!(c.queue.lock_duration_secs, 4);
    assert_eq!(c.store.kind, "redis");
    assert_eq!(c.worker.concurrency, 3);
    assert_eq!(c.worker.grace_period_secs, 3);
    assert_eq!(c.worker.metrics_port, Some(0));
    assert_eq!(c.ingress.auth, IngressAuth::Jwt);
    assert_eq!(c.ingress.port, 8089);
    assert!(c.ingress.eventgrid_webhook);
    assert!(c.graph.enabled);
    assert_eq!(c.graph.base_url, "http://127.0.0.1:1/graph");
    let routing = routing_config(&c).unwrap();
    assert_eq!(routing.agents.len(), 1);
}

#[test]
fn every_routing_fixture_is_a_valid_routing_table() {
    for (name, text) in [
        ("flow", fixtures::FLOW),
        ("round_robin", fixtures::ROUND_ROBIN),
        ("e2e_support", fixtures::E2E_SUPPORT),
        ("e2e_scenario", fixtures::E2E_SCENARIO),
        ("e2e_busy_day", fixtures::E2E_BUSY_DAY),
    ] {
        let mut d = deployment();
        d.routing = fixtures::routing_table(text);
        routing_config(&d.config()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_answers_and_routes_a_call() {
    let stack = Stack::start().await;
    let worker = stack.worker().await;
    let call = stack.place_call(SALES_LINE);
    let archived = stack.ended(&call, 30).await;
    assert!(
        archived_state(&archived).answered_by.is_some(),
        "an agent took the call"
    );
    stack.drained(10).await;
    assert_eq!(stack.ledger().calls[&call].effects.answers, 1);
    assert!(stack.dead_letters().await.is_empty());
    worker.stop().await;
    stack.shutdown().await;
}
