//! Issue 19 §4 end to end against the simulator: a caller presses 1 and hangs up; when Alice
//! frees up, Switchboard calls her first (`CreateCall`), then adds the caller's number with
//! our number as caller id; they talk and the callback ends cleanly — also when the worker
//! is killed while the callback is pending, the other replicas serving it exactly once.

use std::time::Duration;

use serde_json::Value;
use switchboard_sim::{RecordedRequest, StartCall};
use switchboard_testkit::fixtures::*;
use switchboard_testkit::*;
use switchboard_worker::flow::{
    callback_key, CallbackCall, CallbackOutcome, Disposition, FlowInput, Internal, Phase,
};

const CUSTOMER: &str = "+14255550103";

/// Alice is the only sales agent and talks for 3 s; the sales queue offers a callback from
/// an estimated wait of 200 s (one caller ahead of an agent with a 300 s handle time).
fn options() -> StackOptions {
    let routing = FLOW
        .replace("skills = { sales = 3 }", "skills = { support = 1 }")
        .replace(
            "max_wait_secs = 60\noverflow = { phone = \"+14255550199\" }",
            "max_wait_secs = 120\noverflow = { phone = \"+14255550199\" }\n\
             announcements = { every_secs = 10, first_after_secs = 1, average_handle_secs = 300, \
             urls = [\"https://example.com/position-{position}.wav\"] }\n\
             callback = { offer_after_secs = 200, timeout_secs = 5, expire_after_secs = 3600, \
             attempts = 2, retry_after_secs = 1, agent_ring_timeout_secs = 5, \
             customer_ring_timeout_secs = 5, \
             prompt = { url = \"https://example.com/press-1.wav\" }, \
             confirmation = { url = \"https://example.com/we-call-you-back.wav\" } }",
        );
    assert_ne!(routing, FLOW);
    let mut opts = StackOptions {
        routing,
        ..StackOptions::default()
    };
    opts.agents[0] = agent(ALICE, "Alice").with_talk_time(Duration::from_secs(3));
    opts
}

fn sales_call(from: &str, dtmf: Option<&str>) -> StartCall {
    StartCall {
        to: Some(SALES_LINE.to_string()),
        from: Some(from.to_string()),
        dtmf: dtmf.map(str::to_owned),
        ..StartCall::default()
    }
}

/// Alice takes a first call; a second caller presses 1 and hangs up. Returns the second
/// call's correlation id once its callback waits for Alice.
async fn callback_pending(world: &Stack) -> String {
    let talking = world
        .sim
        .start_call(sales_call("+14255550101", None))
        .unwrap()
        .correlation_id;
    world
        .until(20, "Alice to take the first call", async || {
            let s = world.live(&talking).await?;
            matches!(s.phase, Phase::Talking { .. }).then_some(())
        })
        .await;
    let caller = world
        .sim
        .start_call(sales_call(CUSTOMER, Some("1")))
        .unwrap()
        .correlation_id;
    let archived = archived_state(&world.ended(&caller, 30).await);
    assert!(archived.wait.callback_requested, "{:?}", archived.wait);
    caller
}

/// Calls placed and participants added, as the simulator received them. A request sent again
/// with the same `Repeatability-Request-ID` (a replacement worker re-sending what a killed one
/// sent; the service answers it from its cache) is one request.
fn outbound(world: &Stack) -> (Vec<Value>, Vec<Value>) {
    let bodies = |op: &str| -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        world
            .sim
            .requests()
            .iter()
            .filter(|r| {
                r.operation.as_deref() == Some(op)
                    && r.status.is_some_and(|s| (200..300).contains(&s))
                    && r.header("repeatability-request-id")
                        .is_none_or(|id| seen.insert(id.to_owned()))
            })
            .filter_map(RecordedRequest::json)
            .collect()
    };
    (
        bodies("CreateCall"),
        bodies("CallConnection_AddParticipant"),
    )
}

fn finished(archived: &switchboard_store::ArchivedCall) -> CallbackCall {
    archived_state(archived).callback.expect("a callback state")
}

async fn assert_served_once(world: &Stack, caller: &str) {
    let key = callback_key(&caller.into());
    let archived = world.ended(key.as_str(), 60).await;
    let cb = finished(&archived);
    assert_eq!(cb.outcome, Some(CallbackOutcome::Completed), "{cb:?}");
    assert_eq!(cb.attempts, 1);
    let state = archived_state(&archived);
    assert!(
        matches!(state.phase, Phase::Ended { .. }),
        "{:?}",
        state.phase
    );
    assert_eq!(state.answered_by.as_ref().map(|a| a.as_str()), Some(ALICE));

    // The agent first: one call placed, to Alice; then the customer, with our number.
    let (creates, adds) = outbound(world);
    // One call placed at the simulator (a replayed repeatable request has no effect).
    assert_eq!(world.ledger().total.creates, 1, "{creates:?}");
    assert_eq!(
        creates[0]["targets"][0]["rawId"],
        format!("8:orgid:{ALICE}"),
        "{creates:?}"
    );
    let customer: Vec<&Value> = adds
        .iter()
        .filter(|a| a["participantToAdd"]["kind"] == "phoneNumber")
        .collect();
    assert_eq!(customer.len(), 1, "the customer added once: {adds:?}");
    assert_eq!(
        customer[0]["participantToAdd"]["phoneNumber"]["value"],
        CUSTOMER
    );
    assert_eq!(customer[0]["sourceCallerIdNumber"]["value"], SALES_LINE);
    // In that order: the customer's add comes after the call to Alice.
    let requests = world.sim.requests();
    let create_at = requests
        .iter()
        .find(|r| r.operation.as_deref() == Some("CreateCall"))
        .map(|r| r.seq);
    let customer_at = requests
        .iter()
        .filter(|r| r.operation.as_deref() == Some("CallConnection_AddParticipant"))
        .find(|r| {
            r.json()
                .is_some_and(|b| b["participantToAdd"]["kind"] == "phoneNumber")
        })
        .map(|r| r.seq);
    assert!(create_at < customer_at, "{create_at:?} {customer_at:?}");

    // Both were in the call: the simulator's timeline of the placed call shows Alice accept
    // and the customer join.
    let placed = world
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.correlation_id != caller)
        .find(|c| {
            world
                .sim
                .timeline(&c.correlation_id)
                .iter()
                .any(|e| e.what == "created")
        })
        .expect("the placed call");
    let timeline = world.sim.timeline(&placed.correlation_id);
    let accepted: Vec<String> = timeline
        .iter()
        .filter(|e| e.what == "accepted")
        .map(|e| e.detail.to_string())
        .collect();
    assert!(
        accepted.iter().any(|d| d.contains(ALICE)) && accepted.iter().any(|d| d.contains(CUSTOMER)),
        "{timeline:?}"
    );

    // The request left the queue and its final state is stored.
    assert!(world
        .store
        .list_members("callbacks:sales")
        .await
        .unwrap()
        .is_empty());
    let results = world
        .store
        .list_members("callback-results:sales")
        .await
        .unwrap();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].0, caller);
    assert_eq!(results[0].1["outcome"], "completed");
    assert_eq!(
        world.metrics.counter(
            "switchboard_callbacks_finished_total",
            &[("queue", "sales"), ("outcome", "completed")]
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_pressed_1_is_called_back_when_alice_frees_up() {
    let world = Stack::start_with(options()).await;
    let worker = world.worker().await;
    let caller = callback_pending(&world).await;
    assert_served_once(&world, &caller).await;

    // A late redelivery of the start (the caller's command re-run) does not call again.
    let key = callback_key(&caller.as_str().into());
    let served = finished(&world.ended(key.as_str(), 1).await);
    let start = FlowInput::internal(
        format!("callback-start:{caller}"),
        time::OffsetDateTime::now_utc(),
        Internal::CallbackStart {
            request: Box::new(served.request),
        },
    );
    let handled = worker.executor.handle(&key, start).await.unwrap();
    assert_eq!(handled.disposition, Disposition::Duplicate, "{handled:?}");
    assert_eq!(world.ledger().total.creates, 1);
    worker.stop().await;

    // The statistics count the callback as a wait Alice answered and a call she handled;
    // the caller's own wait ended by asking for the callback (neither answered nor abandoned).
    let routing = switchboard_routing::RoutingConfig::from_toml_str(&options().routing).unwrap();
    let members = switchboard_worker::stats::queue_members(
        &routing,
        &switchboard_routing::Roster::offline(&routing).unwrap(),
    );
    let s = switchboard_worker::stats::collect(
        world.store.as_ref(),
        &Default::default(),
        &members,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let sales = s.queues.iter().find(|q| q.queue == "sales").unwrap();
    assert_eq!(
        (
            sales.today.offered,
            sales.today.answered,
            sales.today.abandoned
        ),
        (3, 2, 0),
        "{sales:?}"
    );
    let alice = s.agents.iter().find(|a| a.id.as_str() == ALICE).unwrap();
    assert_eq!(alice.handled, 2, "{alice:?}");
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_while_the_callback_is_pending_leaves_it_to_the_other_replicas() {
    let mut opts = options();
    // Alice talks long enough for the kill to land while the callback waits for her.
    opts.agents[0] = agent(ALICE, "Alice").with_talk_time(Duration::from_secs(6));
    let world = Stack::start_with(opts).await;
    let first = world.worker().await;
    let caller = callback_pending(&world).await;
    let key = callback_key(&caller.as_str().into());
    world
        .until(20, "the callback to wait for Alice", async || {
            let s = world.live(key.as_str()).await?;
            matches!(s.phase, Phase::Waiting { .. }).then_some(())
        })
        .await;
    first.kill().await;
    // Two replicas race for the rest.
    let second = world.worker().await;
    let third = world.worker().await;
    assert_served_once(&world, &caller).await;
    second.stop().await;
    third.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_who_never_answers_is_called_per_policy_then_reported_failed() {
    let mut opts = options();
    // The customer's phone rings 1 s per attempt; they would pick up after 10 s.
    opts.routing = opts.routing.replace(
        "customer_ring_timeout_secs = 5",
        "customer_ring_timeout_secs = 1",
    );
    opts.timing.default_accept_delay = Duration::from_secs(10);
    let world = Stack::start_with(opts).await;
    let worker = world.worker().await;
    let caller = callback_pending(&world).await;
    let key = callback_key(&caller.as_str().into());
    let archived = world.ended(key.as_str(), 60).await;
    let cb = finished(&archived);
    assert_eq!(cb.outcome, Some(CallbackOutcome::Failed), "{cb:?}");
    assert_eq!(cb.attempts, 2, "the policy's attempts");
    // Alice was called for each attempt, and the customer rung each time with our number.
    let (_, adds) = outbound(&world);
    let customer: Vec<&Value> = adds
        .iter()
        .filter(|a| a["participantToAdd"]["kind"] == "phoneNumber")
        .collect();
    assert_eq!(customer.len(), 2, "{adds:?}");
    assert!(customer
        .iter()
        .all(|a| a["sourceCallerIdNumber"]["value"] == SALES_LINE
            && a["invitationTimeoutInSeconds"] == 1));
    assert_eq!(world.ledger().total.creates, 2);
    // Reported: the final state in the store, the counter, and Alice free again.
    let results = world
        .store
        .list_members("callback-results:sales")
        .await
        .unwrap();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].1["outcome"], "failed");
    assert_eq!(results[0].1["attempts"], 2);
    assert!(world
        .store
        .list_members("callbacks:sales")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        world.metrics.counter(
            "switchboard_callbacks_finished_total",
            &[("queue", "sales"), ("outcome", "failed")]
        ),
        1
    );
    world
        .until(10, "Alice to be free again", async || {
            let a = world.store.get_agent(&ALICE.into()).await.ok()??;
            (a.reserved == 0 && a.on_call == 0).then_some(())
        })
        .await;
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_call_answer_still_places_one_call_to_the_agent() {
    use switchboard_sim::{FaultKind, FaultRule, FaultSpec, Faults, LostAnswer};
    // The call to Alice is placed, and its answer lost: the worker sends it again (the same
    // repeatability id) and gets the same call back, with two replicas racing.
    let mut opts = options();
    opts.faults = Faults {
        operations: [(
            "CreateCall".to_string(),
            FaultSpec {
                latency: None,
                rules: vec![FaultRule::times(
                    FaultKind::Lost {
                        answer: LostAnswer::Reset,
                        status: None,
                        hang_ms: None,
                    },
                    1,
                )],
            },
        )]
        .into(),
        ..Faults::default()
    };
    let world = Stack::start_with(opts).await;
    let first = world.worker().await;
    let second = world.worker().await;
    let caller = callback_pending(&world).await;
    assert_served_once(&world, &caller).await;
    assert!(world.ledger().lost_answers >= 1, "{:?}", world.ledger());
    assert!(
        world.ledger().replayed_requests >= 1,
        "{:?}",
        world.ledger()
    );
    first.stop().await;
    second.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_while_the_customer_rings_leaves_the_callback_to_its_replacement() {
    let mut opts = options();
    // The customer picks up 2 s after their phone starts ringing: the kill lands meanwhile
    // (Alice stays on longer than that).
    opts.timing.default_accept_delay = Duration::from_secs(2);
    opts.agents[0] = agent(ALICE, "Alice").with_talk_time(Duration::from_secs(6));
    let world = Stack::start_with(opts).await;
    let first = world.worker().await;
    let caller = callback_pending(&world).await;
    let key = callback_key(&caller.as_str().into());
    world
        .until(30, "the customer's phone to ring", async || {
            let s = world.live(key.as_str()).await?;
            matches!(s.phase, Phase::CallingCustomer { .. }).then_some(())
        })
        .await;
    first.kill().await;
    let replacement = world.worker().await;
    assert_served_once(&world, &caller).await;
    replacement.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_who_declines_the_callback_is_released_and_the_next_agent_takes_it() {
    use switchboard_sim::Behaviour;
    use switchboard_store::AgentStatus;
    let mut opts = options();
    // Bob sells too, but is paused until the callback waits; then he declines it.
    opts.routing = opts
        .routing
        .replace("skills = { support = 1 }", "skills = { sales = 3 }");
    let world = Stack::start_with(opts).await;
    let worker = world.worker().await;
    world
        .store
        .set_agent_status(&BOB.into(), AgentStatus::Paused)
        .await
        .unwrap();
    let caller = callback_pending(&world).await;
    let key = callback_key(&caller.as_str().into());
    world
        .sim
        .set_agent_behaviour(
            BOB,
            Behaviour::Decline {
                after: Duration::from_millis(200),
            },
        )
        .unwrap();
    world
        .store
        .set_agent_status(&BOB.into(), AgentStatus::Available)
        .await
        .unwrap();
    let cb = finished(&world.ended(key.as_str(), 60).await);
    assert_eq!(cb.outcome, Some(CallbackOutcome::Completed), "{cb:?}");
    assert_eq!((cb.agent_failures, cb.attempts), (1, 1), "{cb:?}");
    // Bob was called first and declined; Alice took it; the customer was added once.
    let (creates, adds) = outbound(&world);
    let targets: Vec<&Value> = creates.iter().map(|c| &c["targets"][0]["rawId"]).collect();
    assert_eq!(
        targets,
        [
            &Value::from(format!("8:orgid:{BOB}")),
            &Value::from(format!("8:orgid:{ALICE}"))
        ],
        "{creates:?}"
    );
    let customer = adds
        .iter()
        .filter(|a| a["participantToAdd"]["kind"] == "phoneNumber")
        .count();
    assert_eq!(customer, 1, "{adds:?}");
    world
        .until(10, "Bob to be released", async || {
            let b = world.store.get_agent(&BOB.into()).await.ok()??;
            (b.reserved == 0 && b.on_call == 0).then_some(())
        })
        .await;
    worker.stop().await;
    world.shutdown().await;
}
