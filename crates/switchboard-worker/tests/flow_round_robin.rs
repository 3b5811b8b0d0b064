//! The round-robin strategy through the real pipeline: its cursor lives in the store, so the
//! rotation goes on across calls and across a worker restart (and is shared by replicas).

mod flow_support;

use flow_support::*;
use switchboard_sim::StartCall;

/// Three agents in one round-robin queue. Ring order is OID order: Bob, Alice, Carmen.
const ROUND_ROBIN: &str = r#"
default_queue = "sales"

[agent_defaults]
wrap_up_secs = 0

[[agents]]
oid = "6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10"
name = "Alice"
skills = { sales = 1 }

[[agents]]
oid = "0b6f3d42-91e4-4c0b-8f2a-7d5e1a9c3b66"
name = "Bob"
skills = { sales = 1 }

[[agents]]
oid = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
name = "Carmen"
skills = { sales = 1 }

[queues.sales]
strategy = "round-robin"
required_skills = { sales = 1 }
ring_timeout_secs = 5
wait_retry_secs = 1
overflow = "hangup"

[[rules]]
dialed = ["+18005550101"]
queue = "sales"
"#;

async fn answered_by(world: &World) -> String {
    let call = world
        .sim
        .start_call(StartCall {
            to: Some(SALES_LINE.to_string()),
            from: Some("+14255550123".into()),
            ..StartCall::default()
        })
        .unwrap();
    let archived = world.ended(&call.correlation_id, 30).await;
    archived_state(&archived)
        .answered_by
        .expect("an agent took the call")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_rotates_through_agents_and_survives_a_worker_restart() {
    let world = World::start_with(WorldOptions {
        routing: ROUND_ROBIN.to_string(),
        ..WorldOptions::default()
    })
    .await;
    let mut got = Vec::new();
    let worker = world.worker().await;
    got.push(answered_by(&world).await);
    got.push(answered_by(&world).await);
    worker.stop().await;

    // A new worker (a new executor over the same store file) continues the rotation.
    let worker = world.worker().await;
    got.push(answered_by(&world).await);
    got.push(answered_by(&world).await);
    worker.stop().await;

    assert_eq!(got, [BOB, ALICE, CARMEN, BOB], "ring order is OID order");
    world.shutdown().await;
}
