//! The round-robin strategy through the real pipeline: its cursor lives in the store, so the
//! rotation goes on across calls and across a worker restart (and is shared by replicas).

use switchboard_sim::StartCall;
use switchboard_testkit::fixtures::*;
use switchboard_testkit::*;

async fn answered_by(world: &Stack) -> String {
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
    let world = Stack::start_with(StackOptions {
        routing: ROUND_ROBIN.to_string(),
        ..StackOptions::default()
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
