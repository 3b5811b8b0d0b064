//! Serving a callback request (issue 19 §4): the agent first, then the customer with our
//! number as caller id; agents who do not answer are replaced, an unanswered customer is
//! called again after the pause, up to the policy's attempts, then the callback is reported
//! failed.

use switchboard_events::{CallConnectionId, CreateCallFailed};
use switchboard_routing::{CallRequirements, QueueName};

use super::*;
use crate::flow::callback::{callback_key, CallbackOutcome, CallbackRequest};

const LEG1: &str = "leg-1";
const LEG2: &str = "leg-2";

fn request(attempts: u32) -> CallbackRequest {
    CallbackRequest {
        correlation_id: CorrelationId::from(CORR),
        call: CallRequirements::new(CorrelationId::from(CORR), QueueName::from("sales"), t0()),
        number: CALLER.into(),
        caller_id: SALES.into(),
        requested_at: t0(),
        expires_at: t0() + Duration::from_secs(3600),
        attempts,
        retry_after_secs: 60,
        agent_ring_timeout_secs: 20,
        customer_ring_timeout_secs: 25,
    }
}

fn on_leg<T>(
    leg: &str,
    ctx: Option<String>,
    f: impl FnOnce(Option<CallConnectionId>, Option<OperationContext>) -> T,
) -> T {
    f(Some(leg.into()), ctx.map(OperationContext::from))
}

fn connected(leg: &str, seq: u32) -> AcsEvent {
    on_leg(leg, Some(format!("sb1:callback-agent:{seq}")), |cc, oc| {
        AcsEvent::CallConnected(CallConnected {
            call_connection_id: cc,
            operation_context: oc,
            ..Default::default()
        })
    })
}

fn customer_failed(leg: &str, attempt: u32) -> AcsEvent {
    on_leg(
        leg,
        Some(format!("sb1:callback-customer:{attempt}")),
        |cc, oc| {
            AcsEvent::AddParticipantFailed(AddParticipantFailed {
                call_connection_id: cc,
                operation_context: oc,
                result_information: result(408, 0),
                ..Default::default()
            })
        },
    )
}

fn customer_joined(leg: &str, attempt: u32) -> AcsEvent {
    on_leg(
        leg,
        Some(format!("sb1:callback-customer:{attempt}")),
        |cc, oc| {
            AcsEvent::AddParticipantSucceeded(AddParticipantSucceeded {
                call_connection_id: cc,
                operation_context: oc,
                ..Default::default()
            })
        },
    )
}

/// Starts the callback and reserves `agent` on the route it asks for; returns the offer.
fn reserve(d: &mut Driver, agent: &str, n: u32) -> u32 {
    let seq = d.state().seq;
    assert_eq!(*d.phase(), Phase::Routing { seq });
    let t = d.internal(Internal::Routed {
        seq,
        reservation: reservation(agent, n),
        detail: "best".into(),
    });
    assert_eq!(ops(&t), ["call_agent", "schedule"], "{}", t.decision);
    seq
}

/// Agent answers on `leg`: the customer is added with our number as caller id.
fn agent_answers(d: &mut Driver, leg: &str, seq: u32) -> Transition {
    d.internal(Internal::CallbackDialled {
        seq,
        call_connection_id: leg.into(),
    });
    d.acs(connected(leg, seq))
}

fn started(attempts: u32) -> Driver {
    let mut d = Driver::new();
    let t = d.internal(Internal::CallbackStart {
        request: Box::new(request(attempts)),
    });
    assert_eq!(ops(&t), ["route"], "{}", t.decision);
    let s = d.state();
    assert_eq!(s.correlation_id, callback_key(&CORR.into()));
    assert_eq!(s.waiting_since, Some(t0()), "the caller's place is kept");
    // Routed as if just arrived: a callback waits past the queue's max_wait.
    let Op::Route { call, .. } = find(&t, "route") else {
        unreachable!()
    };
    assert_eq!(call.waiting_since, d.now);
    d
}

#[test]
fn agent_first_then_the_customer_with_our_number_then_completed() {
    let mut d = started(3);
    let seq = reserve(&mut d, A1, 1);
    let t = agent_answers(&mut d, LEG1, seq);
    assert_eq!(
        ops(&t),
        ["confirm", "add_customer", "schedule"],
        "{}",
        t.decision
    );
    assert_eq!(
        *find(&t, "add_customer"),
        Op::AddCustomer {
            number: CALLER.into(),
            caller_id: SALES.into(),
            invitation_timeout_secs: 25,
            operation_context: "sb1:callback-customer:1".into(),
        }
    );
    d.acs(customer_joined(LEG1, 1));
    assert!(matches!(d.phase(), Phase::Talking { .. }));
    d.advance(90);
    let t = d.acs(AcsEvent::CallDisconnected(CallDisconnected {
        call_connection_id: Some(LEG1.into()),
        ..Default::default()
    }));
    assert_eq!(ops(&t), ["release", "finish_callback", "archive"]);
    let Op::Release { wrap_up_secs, .. } = find(&t, "release") else {
        unreachable!()
    };
    assert_eq!(
        *wrap_up_secs, 15,
        "the agent's wrap-up after a conversation"
    );
    let Op::FinishCallback { callback } = find(&t, "finish_callback") else {
        unreachable!()
    };
    assert_eq!(callback.outcome, Some(CallbackOutcome::Completed));
    assert_eq!(callback.attempts, 1);
}

#[test]
fn an_agent_who_declines_is_released_and_the_next_agent_is_called() {
    let mut d = started(3);
    let seq = reserve(&mut d, A1, 1);
    d.internal(Internal::CallbackDialled {
        seq,
        call_connection_id: LEG1.into(),
    });
    let t = d.acs(AcsEvent::CreateCallFailed(CreateCallFailed {
        call_connection_id: Some(LEG1.into()),
        result_information: result(603, 0),
        ..Default::default()
    }));
    assert_eq!(ops(&t), ["release", "route"], "{}", t.decision);
    let Op::Route { excluded, .. } = find(&t, "route") else {
        unreachable!()
    };
    assert_eq!(excluded, &[TeamsUserId::from(A1)]);
    // A2 does not answer in time: our ring timeout ends their call and moves on.
    let seq2 = reserve(&mut d, A2, 2);
    d.internal(Internal::CallbackDialled {
        seq: seq2,
        call_connection_id: LEG2.into(),
    });
    d.advance(25);
    let t = d.internal(Internal::RingTimeout { seq: seq2 });
    assert_eq!(ops(&t), ["end_leg", "release", "route"], "{}", t.decision);
    assert_eq!(
        *find(&t, "end_leg"),
        Op::EndLeg {
            call_connection_id: LEG2.into()
        }
    );
    // The first leg's late events are stale.
    let t = d.acs(connected(LEG1, seq));
    assert_eq!(t.disposition, Disposition::Stale);
    let cb = d.state().callback.as_ref().unwrap();
    assert_eq!((cb.agent_failures, cb.attempts), (2, 0));
}

#[test]
fn an_unanswered_customer_is_called_again_after_the_pause_then_reported_failed() {
    let mut d = started(2);
    // Attempt 1.
    let seq = reserve(&mut d, A1, 1);
    agent_answers(&mut d, LEG1, seq);
    let t = d.acs(customer_failed(LEG1, 1));
    assert_eq!(
        ops(&t),
        ["end_leg", "release", "schedule"],
        "{}",
        t.decision
    );
    let Op::Release { wrap_up_secs, .. } = find(&t, "release") else {
        unreachable!()
    };
    assert_eq!(*wrap_up_secs, 0, "the agent is free at once");
    let Op::Schedule { input, at, .. } = find(&t, "schedule") else {
        unreachable!()
    };
    assert_eq!(*at, d.now + Duration::from_secs(60));
    let Internal::QueueRecheck { n } = input.clone() else {
        unreachable!()
    };
    // The freed agent's pull during the pause does not cut it short.
    let t = d.internal(Internal::CallbackDue);
    assert_eq!(t.disposition, Disposition::Stale, "{}", t.decision);
    d.advance(60);
    let t = d.internal(Internal::QueueRecheck { n });
    assert_eq!(ops(&t), ["route"]);
    // Attempt 2 (the last).
    let seq = reserve(&mut d, A1, 2);
    agent_answers(&mut d, LEG2, seq);
    // No outcome at all for the last attempt: its timer gives up on it.
    d.advance(30);
    let t = d.internal(Internal::CallbackCustomerOverdue { seq });
    assert_eq!(
        ops(&t),
        ["end_leg", "release", "finish_callback", "archive"],
        "{}",
        t.decision
    );
    let Op::FinishCallback { callback } = find(&t, "finish_callback") else {
        unreachable!()
    };
    assert_eq!(callback.outcome, Some(CallbackOutcome::Failed));
    assert_eq!(callback.attempts, 2);
    assert!(matches!(d.phase(), Phase::Ended { .. }));
    // The outcome that comes after all is stale.
    let t = d.acs(customer_failed(LEG2, 2));
    assert_ne!(t.disposition, Disposition::Applied);
}

#[test]
fn nobody_free_waits_and_an_expired_request_is_reported() {
    let mut d = started(3);
    let seq = d.state().seq;
    let t = d.internal(Internal::Overflow {
        seq,
        target: OverflowTarget::Hangup,
        detail: "max wait".into(),
    });
    assert_eq!(ops(&t), ["schedule"], "a callback never overflows");
    let Phase::Waiting { recheck } = *d.phase() else {
        unreachable!()
    };
    d.advance(3600);
    let t = d.internal(Internal::QueueRecheck { n: recheck });
    assert_eq!(ops(&t), ["finish_callback", "archive"]);
    let Op::FinishCallback { callback } = find(&t, "finish_callback") else {
        unreachable!()
    };
    assert_eq!(callback.outcome, Some(CallbackOutcome::Expired));
}

#[test]
fn a_second_start_is_a_duplicate_or_stale() {
    let mut d = started(3);
    let input = FlowInput::internal(
        "callback-start:corr-1",
        d.now,
        Internal::CallbackStart {
            request: Box::new(request(3)),
        },
    );
    let t = d.feed(&input);
    assert_ne!(t.disposition, Disposition::Applied);
}

#[test]
fn hours_of_rechecks_keep_timer_ids_short() {
    let mut d = Driver::new();
    let start = FlowInput::internal(
        "callback-start:corr-1",
        d.now,
        Internal::CallbackStart {
            request: Box::new(request(3)),
        },
    );
    let mut t = d.feed(&start);
    let mut longest = 0;
    for _ in 0..500 {
        // Inputs carry the ids the executor gives them: a route's result is derived from
        // the route command, a timer comes back with its scheduled id.
        let route = t.commands.iter().find(|c| c.op.name() == "route").unwrap();
        let Op::Route { seq, .. } = route.op else {
            unreachable!()
        };
        let no_agent = FlowInput::internal(
            route.key.derived_id("no-agent"),
            d.now,
            Internal::NoAgent {
                seq,
                retry_after_ms: 1000,
                detail: "all busy".into(),
            },
        );
        let waited = d.feed(&no_agent);
        let Op::Schedule { id, input, .. } = find(&waited, "schedule").clone() else {
            unreachable!()
        };
        longest = longest.max(id.len());
        d.advance(1);
        t = d.feed(&FlowInput::internal(id, d.now, input));
        assert_eq!(ops(&t), ["route"], "{}", t.decision);
    }
    assert!(longest < 100, "timer ids grow: {longest} characters");
}
