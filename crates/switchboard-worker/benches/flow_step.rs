//! How fast is the call-flow brain? Times the pure `step` over a whole call (IncomingCall to
//! CallDisconnected, nine inputs) and the JSON round trip of the call state document that
//! every handled event pays (load + save). Plain `Instant` loops; run with
//! `cargo bench -p switchboard-worker --bench flow_step`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use switchboard_events::{
    AcsEvent, AddParticipantSucceeded, CallConnected, CallDisconnected, CallParticipant,
    CommunicationIdentifier, IncomingCall, IncomingCallContext, OperationContext,
    ParticipantsUpdated,
};
use switchboard_routing::RoutingConfig;
use switchboard_store::{Reservation, ReservationState, ReservationToken};
use switchboard_worker::flow::{step, CallState, FlowConfig, FlowInput, Internal};
use time::OffsetDateTime;

const AGENT: &str = "6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10";

fn inputs(corr: &str, t: OffsetDateTime) -> Vec<FlowInput> {
    let cc = || Some(format!("cc-{corr}").into());
    let co = || Some(corr.into());
    let caller = CommunicationIdentifier::phone("+14255550123");
    let agent = CommunicationIdentifier::teams_user(AGENT);
    let who = |list: Vec<CommunicationIdentifier>| {
        list.into_iter()
            .map(|identifier| CallParticipant {
                identifier,
                is_muted: Some(false),
                is_on_hold: Some(false),
            })
            .collect()
    };
    let reservation = Reservation {
        token: ReservationToken::new("tok"),
        agent: AGENT.into(),
        call_key: corr.into(),
        state: ReservationState::Reserved,
        created_at: t,
        expires_at: t + Duration::from_secs(60),
    };
    vec![
        FlowInput::acs(
            "e1",
            t,
            AcsEvent::IncomingCall(IncomingCall {
                to: CommunicationIdentifier::phone("+18005550101"),
                from: caller.clone(),
                caller_display_name: None,
                server_call_id: Some("srv".into()),
                correlation_id: co(),
                incoming_call_context: Some(IncomingCallContext::new("ctx")),
                custom_context: None,
                on_behalf_of_callee: None,
            }),
        ),
        FlowInput::acs(
            "e2",
            t,
            AcsEvent::CallConnected(CallConnected {
                call_connection_id: cc(),
                correlation_id: co(),
                ..Default::default()
            }),
        ),
        FlowInput::internal(
            "e2/route:1/routed",
            t,
            Internal::Routed {
                seq: 1,
                reservation,
                detail: String::new(),
            },
        ),
        FlowInput::internal(
            "e2/route:1/routed/add:1/invited",
            t,
            Internal::Invited {
                seq: 1,
                invitation_id: "inv".into(),
            },
        ),
        FlowInput::acs(
            "e3",
            t,
            AcsEvent::ParticipantsUpdated(ParticipantsUpdated {
                call_connection_id: cc(),
                correlation_id: co(),
                sequence_number: Some(1),
                participants: who(vec![caller.clone()]),
                ..Default::default()
            }),
        ),
        FlowInput::acs(
            "e4",
            t,
            AcsEvent::AddParticipantSucceeded(AddParticipantSucceeded {
                call_connection_id: cc(),
                correlation_id: co(),
                operation_context: Some(OperationContext::from(format!("sb1:add:1:{AGENT}"))),
                participant: Some(agent.clone()),
                ..Default::default()
            }),
        ),
        FlowInput::acs(
            "e5",
            t,
            AcsEvent::ParticipantsUpdated(ParticipantsUpdated {
                call_connection_id: cc(),
                correlation_id: co(),
                sequence_number: Some(2),
                participants: who(vec![caller.clone(), agent]),
                ..Default::default()
            }),
        ),
        FlowInput::acs(
            "e6",
            t,
            AcsEvent::ParticipantsUpdated(ParticipantsUpdated {
                call_connection_id: cc(),
                correlation_id: co(),
                sequence_number: Some(3),
                participants: who(vec![caller]),
                ..Default::default()
            }),
        ),
        FlowInput::acs(
            "e7",
            t,
            AcsEvent::CallDisconnected(CallDisconnected {
                call_connection_id: cc(),
                correlation_id: co(),
                ..Default::default()
            }),
        ),
    ]
}

fn main() {
    let routing = RoutingConfig::from_toml_str(
        r#"
        default_queue = "sales"
        [[agents]]
        oid = "6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10"
        [queues.sales]
        hold_music = { url = "https://example.com/hold.wav", loop = true }
        recording = true
        "#,
    )
    .expect("routing");
    let cfg = FlowConfig::new(routing, ["+18005550101"]);
    let t = OffsetDateTime::now_utc();
    let calls: Vec<Vec<FlowInput>> = (0..1000).map(|i| inputs(&format!("c{i}"), t)).collect();

    // Warm up, and check the sequence really ends the call.
    let mut last: Option<CallState> = None;
    for input in &calls[0] {
        let tr = step(last.as_ref(), input, &cfg, t);
        if let Some(mut s) = tr.state {
            s.outbox.clear();
            last = Some(s);
        }
    }
    let final_state = last.expect("state");
    assert_eq!(final_state.phase.name(), "ended", "{:?}", final_state.phase);

    let rounds = 20;
    let started = Instant::now();
    let mut steps = 0u64;
    for _ in 0..rounds {
        for call in &calls {
            let mut state: Option<CallState> = None;
            for input in call {
                let tr = step(state.as_ref(), input, &cfg, t);
                steps += 1;
                if let Some(mut s) = tr.state {
                    s.outbox.clear();
                    state = Some(s);
                }
            }
            black_box(&state);
        }
    }
    let took = started.elapsed();
    println!(
        "step: {steps} steps in {:.3} s = {:.2} µs/step, {:.0} steps/s ({:.0} whole calls/s)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / steps as f64,
        steps as f64 / took.as_secs_f64(),
        (rounds * calls.len()) as f64 / took.as_secs_f64(),
    );

    // The document each handled event loads and saves.
    let json = serde_json::to_vec(&final_state).expect("serialize");
    let n = 20_000;
    let started = Instant::now();
    for _ in 0..n {
        let s: CallState = serde_json::from_slice(black_box(&json)).expect("decode");
        black_box(serde_json::to_vec(&s).expect("encode"));
    }
    let took = started.elapsed();
    println!(
        "call state: {} bytes JSON at the end of a call; decode+encode {:.2} µs",
        json.len(),
        took.as_secs_f64() * 1e6 / n as f64
    );
}
