//! Step 9: position / estimated-wait announcements and the virtual-hold callback offer
//! (issue 19 §3, §4).

use switchboard_events::RecognizeCanceled;
use switchboard_routing::QueueName;

use super::*;

/// A driver whose `support` queue announces every 60 s (first after 30 s) and offers a
/// callback from an estimated wait of 10 minutes.
fn waiting_driver(callback: bool) -> Driver {
    let mut toml = ROUTING.replace(
        "[queues.support]\n",
        "[queues.support]\nannouncements = { every_secs = 60, first_after_secs = 30, text = \"You are number {position}. About {minutes} minutes.\" }\n",
    );
    if callback {
        toml.push_str(
            "\n[queues.support.callback]\noffer_after_secs = 600\nexpire_after_secs = 3600\nprompt = { url = \"https://example.com/press1.wav\" }\nconfirmation = { url = \"https://example.com/bye.wav\" }\n",
        );
    }
    let mut d = Driver::new();
    d.cfg = FlowConfig::new(
        RoutingConfig::from_toml_str(&toml).unwrap(),
        [MAIN, SALES, DIRECT, SUPPORT, ANNOUNCE, CHAIN],
    );
    d
}

/// Connects to `support`, finds nobody free, and returns the first wait-status timer.
fn waiting(d: &mut Driver) -> (u32, OffsetDateTime) {
    d.connect(SUPPORT);
    let t = d.internal(Internal::NoAgent {
        seq: 1,
        retry_after_ms: 5000,
        detail: "all busy".into(),
    });
    let timers: Vec<_> = t
        .commands
        .iter()
        .filter_map(|c| match &c.op {
            Op::Schedule {
                input: Internal::WaitStatusDue { n },
                at,
                ..
            } => Some((*n, *at)),
            _ => None,
        })
        .collect();
    assert_eq!(timers.len(), 1, "{:?}", ops(&t));
    timers[0]
}

fn status(n: u32, position: u32, secs: u64) -> Internal {
    Internal::WaitStatus {
        n,
        position,
        estimated_wait_secs: secs,
        staffed: 1,
    }
}

fn plays(t: &Transition) -> Vec<(PlaySource, bool, bool, String)> {
    t.commands
        .iter()
        .filter_map(|c| match &c.op {
            Op::Play {
                source,
                loop_playback,
                interrupt,
                operation_context,
                ..
            } => Some((
                source.clone(),
                *loop_playback,
                *interrupt,
                operation_context.clone(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_waiting_caller_hears_position_and_estimated_wait_then_hold_music_again() {
    let mut d = waiting_driver(false);
    let (n, at) = waiting(&mut d);
    assert_eq!((n, at), (1, t0() + Duration::from_secs(30)));
    d.advance(30);
    let t = d.internal(Internal::WaitStatusDue { n: 1 });
    match find(&t, "query_wait_status") {
        Op::QueryWaitStatus { n, call } => {
            assert_eq!(*n, 1);
            assert_eq!(call.queue.as_str(), "support");
            assert_eq!(call.waiting_since, t0());
        }
        other => panic!("{other:?}"),
    }
    // The numbers come from the executor (the shared waitlist), not from the state.
    let t = d.internal(status(1, 3, 190));
    assert_eq!(ops(&t), ["schedule", "play", "play"], "{}", t.decision);
    let p = plays(&t);
    assert_eq!(
        p[0].0,
        PlaySource::Text {
            text: "You are number 3. About 4 minutes.".into(),
            voice: None,
            locale: None
        }
    );
    assert!(p[0].2, "the announcement interrupts the looping hold music");
    assert!(p[0].3.starts_with("sb1:position:"));
    assert!(p[1].1 && !p[1].2, "hold music queued again behind it");
    assert!(p[1].3.starts_with("sb1:hold:"));
    match find(&t, "schedule") {
        Op::Schedule { input, at, .. } => {
            assert_eq!(input, &Internal::WaitStatusDue { n: 2 });
            assert_eq!(*at, d.now + Duration::from_secs(60));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.state().wait.announcements, 1);
    // The same answer again (a redelivery under another id) is stale: one announcement.
    let t = d.internal(status(1, 3, 190));
    assert_eq!(t.disposition, Disposition::Stale);
    // The announcement ending does not touch the hold music queued behind it.
    let hold = d.state().media.hold;
    let t = d.acs(cb!(PlayCompleted {
        operation_context: ctx(p[0].3.clone())
    }));
    assert_eq!(t.disposition, Disposition::Ignored);
    assert_eq!(d.state().media.hold, hold);
}

#[test]
fn no_announcement_while_an_agent_rings_and_none_after_the_call_left_the_queue() {
    let mut d = waiting_driver(false);
    waiting(&mut d);
    d.advance(5);
    d.internal(Internal::QueueRecheck { n: 1 });
    d.internal(Internal::Routed {
        seq: 2,
        reservation: reservation(A1, 2),
        detail: "freed".into(),
    });
    d.advance(25);
    let t = d.internal(Internal::WaitStatusDue { n: 1 });
    assert_eq!(ops(&t), ["query_wait_status"]);
    let t = d.internal(status(1, 1, 60));
    assert_eq!(ops(&t), ["schedule"], "{}", t.decision);
    // The agent answers: the next timer finds the call no longer waiting and stops.
    d.acs(participants(1, &[caller(), teams(A1)]));
    let t = d.internal(Internal::WaitStatusDue { n: 2 });
    assert!(t.commands.is_empty());
    assert!(!d.state().wait.scheduled);
}

#[test]
fn a_failed_status_read_keeps_the_announcements_going() {
    let mut d = waiting_driver(false);
    waiting(&mut d);
    d.advance(30);
    let t = d.internal(Internal::WaitStatusDue { n: 1 });
    let cmd = t.commands[0].clone();
    let t = d.internal(Internal::CommandFailed {
        command: Box::new(cmd),
        gone: false,
        reason: "store unavailable".into(),
    });
    assert_eq!(ops(&t), ["schedule"]);
    assert_eq!(d.state().wait.status, 2);
}

fn offered(d: &mut Driver) -> Transition {
    waiting(d);
    d.advance(30);
    d.internal(Internal::WaitStatusDue { n: 1 });
    d.internal(status(1, 12, 900))
}

#[test]
fn a_long_wait_offers_a_callback_and_pressing_1_keeps_the_place_and_ends_the_call() {
    let mut d = waiting_driver(true);
    let t = offered(&mut d);
    assert_eq!(
        ops(&t),
        ["schedule", "cancel_media", "recognize"],
        "{}",
        t.decision
    );
    match find(&t, "recognize") {
        Op::Recognize {
            prompt,
            target,
            max_tones,
            operation_context,
            ..
        } => {
            assert_eq!(
                prompt,
                &PlaySource::File {
                    url: "https://example.com/press1.wav".into()
                }
            );
            assert_eq!(target, &caller());
            assert_eq!(*max_tones, 1);
            assert_eq!(operation_context, "sb1:callback-offer:1");
        }
        other => panic!("{other:?}"),
    }
    d.advance(4);
    let t = d.acs(cb!(RecognizeCompleted {
        operation_context: ctx("sb1:callback-offer:1".into()),
        dtmf_result: Some(DtmfResult {
            tones: vec![Tone::One]
        }),
    }));
    assert_eq!(ops(&t), ["request_callback", "play"], "{}", t.decision);
    match find(&t, "request_callback") {
        Op::RequestCallback { request } => {
            assert_eq!(request.number, CALLER);
            assert_eq!(request.caller_id, SUPPORT);
            assert_eq!(request.correlation_id.as_str(), CORR);
            assert_eq!(request.call.queue.as_str(), "support");
            assert_eq!(
                request.call.waiting_since,
                t0(),
                "the caller keeps their place"
            );
            assert_eq!(request.expires_at, d.now + Duration::from_secs(3600));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.phase(), &Phase::CallbackAccepted);
    // Waiting is over: the re-check and the next status timer are stale.
    assert_eq!(
        d.internal(Internal::QueueRecheck { n: 1 }).disposition,
        Disposition::Stale
    );
    let t = d.internal(Internal::WaitStatusDue { n: 2 });
    assert!(t.commands.is_empty());
    let t = d.acs(cb!(PlayCompleted {
        operation_context: ctx("sb1:callback-confirm".into())
    }));
    assert_eq!(ops(&t), ["hang_up"], "{}", t.decision);
    assert!(d.phase().is_over());
}

#[test]
fn another_digit_or_silence_resumes_hold_music_and_the_offer_is_made_once() {
    let mut d = waiting_driver(true);
    offered(&mut d);
    let t = d.acs(cb!(RecognizeFailed {
        operation_context: ctx("sb1:callback-offer:1".into()),
        result_information: result(400, 8510),
    }));
    assert_eq!(ops(&t), ["play"], "{}", t.decision);
    assert!(plays(&t)[0].3.starts_with("sb1:hold:"));
    assert!(matches!(d.phase(), Phase::Waiting { .. }));
    d.advance(60);
    d.internal(Internal::WaitStatusDue { n: 2 });
    let t = d.internal(status(2, 11, 880));
    assert_eq!(
        ops(&t),
        ["schedule", "play", "play"],
        "announced, not offered again: {}",
        t.decision
    );
}

#[test]
fn an_agent_reserved_during_the_offer_withdraws_it() {
    let mut d = waiting_driver(true);
    offered(&mut d);
    d.internal(Internal::QueueRecheck { n: 1 });
    let t = d.internal(Internal::Routed {
        seq: 2,
        reservation: reservation(A1, 2),
        detail: "freed".into(),
    });
    assert_eq!(
        ops(&t),
        ["cancel_media", "play", "add_participant", "schedule"],
        "{}",
        t.decision
    );
    let t = d.acs(cb!(RecognizeCanceled {
        operation_context: ctx("sb1:callback-offer:1".into()),
    }));
    assert_eq!(t.disposition, Disposition::Stale);
    // A late "1" after the agent was found does nothing either.
    let t = d.acs(cb!(RecognizeCompleted {
        operation_context: ctx("sb1:callback-offer:1".into()),
        dtmf_result: Some(DtmfResult {
            tones: vec![Tone::One]
        }),
    }));
    assert_eq!(t.disposition, Disposition::Stale);
}

#[test]
fn no_callback_offer_below_the_threshold_or_to_a_teams_caller() {
    let mut d = waiting_driver(true);
    waiting(&mut d);
    d.advance(30);
    d.internal(Internal::WaitStatusDue { n: 1 });
    let t = d.internal(status(1, 2, 599));
    assert_eq!(ops(&t), ["schedule", "play", "play"], "{}", t.decision);
    assert!(!d.state().wait.callback_offered);

    let mut d = waiting_driver(true);
    d.acs(AcsEvent::IncomingCall(incoming(SUPPORT, teams(A3))));
    d.acs(cb!(CallConnected {}));
    d.internal(Internal::NoAgent {
        seq: 1,
        retry_after_ms: 5000,
        detail: "all busy".into(),
    });
    d.advance(30);
    d.internal(Internal::WaitStatusDue { n: 1 });
    let t = d.internal(status(1, 5, 1200));
    assert!(
        t.commands.iter().all(|c| c.op.name() != "recognize"),
        "a Teams caller has no number to call back: {}",
        t.decision
    );
    let q = d.cfg.queue("support").unwrap();
    assert_eq!(q.name, QueueName::from("support"));
}
