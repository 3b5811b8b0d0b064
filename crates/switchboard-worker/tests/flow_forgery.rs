//! Internal messages are taken on their seal, not their body: a `Switchboard.*` message put
//! straight onto the call-events queue without the deployment's seal changes no call and is
//! dead-lettered with its reason; the same message sealed the way workers seal it does act
//! (so the forgery was a real threat, and the test can fail).

use std::time::Duration;

use base64::Engine as _;
use switchboard_contract::hmac::{content_hash, AccessKey};
use switchboard_queue::OutgoingMessage;
use switchboard_sim::StartCall;
use switchboard_testkit::fixtures::*;
use switchboard_testkit::*;
use switchboard_worker::flow::Phase;

/// "The call no longer exists": the flow forgets the call and frees its agent.
fn call_gone(corr: &str, id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "Switchboard.CommandFailed",
        "id": id,
        "correlationId": corr,
        "time": "2026-03-12T10:00:00Z",
        "input": {
            "type": "commandFailed",
            "command": {
                "key": {"eventId": id, "action": "hangup", "firstSent": "2026-03-12T10:00:00Z"},
                "op": {"op": "hangUp", "forEveryone": true}
            },
            "gone": true,
            "reason": "forged"
        }
    }))
    .unwrap()
}

fn message(corr: &str, id: &str) -> OutgoingMessage {
    OutgoingMessage::new(id, call_gone(corr, id))
        .with_session_id(corr)
        .with_correlation_id(corr)
        .with_content_type("application/json")
        .with_property("type", "Switchboard.CommandFailed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_internal_messages_on_the_queue_change_no_call() {
    let world = Stack::start_with(StackOptions {
        agents: vec![agent(ALICE, "Alice").with_talk_time(Duration::from_secs(30))],
        ..StackOptions::default()
    })
    .await;
    let _worker = world.worker().await;
    let corr = world
        .sim
        .start_call(StartCall {
            to: Some(SALES_LINE.to_string()),
            ..StartCall::default()
        })
        .unwrap()
        .correlation_id;
    world
        .until(20, "the agent to take the call", async || {
            let s = world.live(&corr).await?;
            matches!(s.phase, Phase::Talking { .. }).then_some(())
        })
        .await;

    // 1. Unsealed, straight onto the session queue (what an ingress bug, or anyone with send
    //    rights, could do).
    let events = &world.queues.events.sender;
    events.send(message(&corr, "forged-1")).await.unwrap();
    // 2. Sealed with a key that is not the deployment's.
    let wrong =
        AccessKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([9u8; 32]))
            .unwrap();
    let m = message(&corr, "forged-2");
    let mac = wrong.sign(&format!("{}\n{}", m.message_id, content_hash(&m.body)));
    events.send(m.with_property("sb-seal", mac)).await.unwrap();

    let dead = world
        .until(20, "both forgeries to be dead-lettered", async || {
            let dl: Vec<_> = world
                .dead_letters()
                .await
                .into_iter()
                .filter(|m| m.message_id.starts_with("forged-"))
                .collect();
            (dl.len() == 2).then_some(dl)
        })
        .await;
    for m in &dead {
        assert_eq!(
            m.dead_letter_reason.as_deref(),
            Some("ForgedInternalMessage"),
            "{m:?}"
        );
    }
    let state = world.live(&corr).await.expect("the call is still live");
    assert!(
        matches!(state.phase, Phase::Talking { .. }),
        "{:?}",
        state.phase
    );
    assert!(world
        .store
        .get_archived_call(&corr)
        .await
        .unwrap()
        .is_none());

    // Control: the same input sealed with the deployment's key (kept in the store, as a
    // worker seals it) does end the call on our side.
    let doc = world
        .store
        .get_call("switchboard:internal-seal-key")
        .await
        .unwrap()
        .expect("the first worker generated the deployment's key");
    let key = AccessKey::from_base64(doc.value["key"].as_str().unwrap()).unwrap();
    let m = message(&corr, "sealed-1");
    let mac = key.sign(&format!("{}\n{}", m.message_id, content_hash(&m.body)));
    events.send(m.with_property("sb-seal", mac)).await.unwrap();
    let archived = world.ended(&corr, 20).await;
    assert!(
        archived_state(&archived).answered_by.is_some(),
        "the call was talking when the sealed input arrived"
    );
    world.shutdown().await;
}
