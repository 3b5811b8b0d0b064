//! Issue 19 §3–§4 end to end against the simulator: waiting callers hear their place in the
//! queue, read from the shared waitlist (not one worker's memory), and a caller with a long
//! estimated wait presses 1, keeps their place as a stored callback request, and the call
//! ends — also when the worker handling it is killed while the confirmation plays.

use std::time::Duration;

use switchboard_sim::StartCall;
use switchboard_testkit::fixtures::*;
use switchboard_testkit::*;
use switchboard_worker::flow::{CallbackRequest, Phase};

/// Alice is the only sales agent and talks for a minute; the sales queue announces from
/// recordings after 1 s and offers a callback from an estimated wait of 500 s (average
/// handle time 300 s: the second caller waiting is estimated at 600 s).
fn options() -> StackOptions {
    let routing = FLOW
        .replace("skills = { sales = 3 }", "skills = { support = 1 }")
        .replace(
            "max_wait_secs = 60\noverflow = { phone = \"+14255550199\" }",
            "max_wait_secs = 120\noverflow = { phone = \"+14255550199\" }\n\
             announcements = { every_secs = 10, first_after_secs = 1, average_handle_secs = 300, \
             urls = [\"https://example.com/position-{position}.wav\"] }\n\
             callback = { offer_after_secs = 500, timeout_secs = 5, expire_after_secs = 3600, \
             prompt = { url = \"https://example.com/press-1.wav\" }, \
             confirmation = { url = \"https://example.com/we-call-you-back.wav\" } }",
        );
    assert_ne!(routing, FLOW);
    let mut opts = StackOptions {
        routing,
        ..StackOptions::default()
    };
    opts.agents[0] = agent(ALICE, "Alice").with_talk_time(Duration::from_secs(60));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_callers_hear_their_place_and_the_second_one_takes_a_callback() {
    let world = Stack::start_with(options()).await;
    let worker = world.worker().await;
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
    let first = world
        .sim
        .start_call(sales_call("+14255550102", None))
        .unwrap()
        .correlation_id;
    world
        .until(20, "the first waiting caller to be listed", async || {
            let s = world.live(&first).await?;
            matches!(s.phase, Phase::Waiting { .. }).then_some(())
        })
        .await;
    let second = world
        .sim
        .start_call(sales_call("+14255550103", Some("1")))
        .unwrap()
        .correlation_id;

    // The first waiting caller hears "position 1"; the second is behind them (position 2,
    // about 600 s) and is offered the callback instead, presses 1, and the call ends.
    world
        .until(30, "the first waiting caller's announcement", async || {
            let s = world.live(&first).await?;
            (s.wait.announcements >= 1).then_some(())
        })
        .await;
    let said = world.recorder.decisions(&first, "WaitStatus");
    assert!(
        said.iter()
            .any(|(_, d)| d.contains("announcing position 1")),
        "{said:?}"
    );
    let archived = archived_state(&world.ended(&second, 40).await);
    assert!(archived.wait.callback_requested, "{:?}", archived.wait);
    assert_eq!(
        archived.phase,
        Phase::Ended {
            reason: "callback requested".into()
        }
    );
    let offered = world.recorder.decisions(&second, "WaitStatus");
    assert!(
        offered
            .iter()
            .any(|(_, d)| d.contains("position 2, about 600 s: offering a callback")),
        "{offered:?}"
    );
    let fx = world.effects(&second);
    assert_eq!(fx.recognizes, 1, "{fx:?}");
    assert_eq!(fx.adds, 0, "no agent was rung: {fx:?}");

    // The request is in the shared store, with the caller's place and our number as caller id.
    let members = world.store.list_members("callbacks:sales").await.unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    let (key, value) = &members[0];
    assert_eq!(key, &second);
    let request: CallbackRequest = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(request.number, "+14255550103");
    assert_eq!(request.caller_id, SALES_LINE);
    assert_eq!(
        request.call.waiting_since,
        archived.waiting_since.unwrap(),
        "the caller keeps their place"
    );
    // The first waiting caller now counts the request: still position 1 (it came later).
    worker.stop().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_while_the_callback_is_confirmed_leaves_the_request_and_the_call_ends() {
    let mut opts = options();
    // Long confirmation: the kill lands while it plays.
    opts.timing.play_duration = Duration::from_secs(2);
    let world = Stack::start_with(opts).await;
    let worker = world.worker().await;
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
    let first = world
        .sim
        .start_call(sales_call("+14255550102", None))
        .unwrap()
        .correlation_id;
    world
        .until(20, "the first waiting caller to be listed", async || {
            let s = world.live(&first).await?;
            matches!(s.phase, Phase::Waiting { .. }).then_some(())
        })
        .await;
    let second = world
        .sim
        .start_call(sales_call("+14255550103", Some("1")))
        .unwrap()
        .correlation_id;
    world
        .until(40, "the callback to be accepted", async || {
            let s = world.live(&second).await?;
            (s.phase == Phase::CallbackAccepted).then_some(())
        })
        .await;
    worker.kill().await;
    let replacement = world.worker().await;
    let archived = archived_state(&world.ended(&second, 40).await);
    assert_eq!(
        archived.phase,
        Phase::Ended {
            reason: "callback requested".into()
        }
    );
    let members = world.store.list_members("callbacks:sales").await.unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].0, second);
    assert_eq!(world.effects(&second).recognizes, 1);
    replacement.stop().await;
    world.shutdown().await;
}
