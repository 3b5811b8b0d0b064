//! Unit tests of the state machine: every step of the flow, duplicates, reordering, stale
//! results, timers, overflow, IVR and recording — no I/O.

use std::time::Duration;

use proptest::prelude::*;
use switchboard_events::{
    AcsEvent, AddParticipantFailed, AddParticipantSucceeded, CallConnected, CallDisconnected,
    CallParticipant, CallTransferAccepted, CallTransferFailed, CommunicationIdentifier,
    CorrelationId, DtmfResult, IncomingCall, IncomingCallContext, InvitationId, OperationContext,
    ParticipantsUpdated, PlayCanceled, PlayCompleted, RecognizeCompleted, RecognizeFailed,
    RecordingId, RecordingState, RecordingStateChanged, ResultInformation, TeamsUserId, Tone,
};
use switchboard_routing::queue::PlaySource;
use switchboard_routing::{OverflowTarget, RoutingConfig};
use switchboard_store::{Reservation, ReservationState, ReservationToken};
use time::macros::datetime;
use time::OffsetDateTime;

use super::*;

const CALLER: &str = "+14255550123";
const CORR: &str = "corr-1";
const CC: &str = "cc-1";
const A1: &str = "6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10";
const A2: &str = "0b6f3d42-91e4-4c0b-8f2a-7d5e1a9c3b66";
const A3: &str = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";

const MAIN: &str = "+18005550100"; // IVR menu
const SALES: &str = "+18005550101"; // recording, announcement, hold music, overflow to phone
const DIRECT: &str = "+18005550102"; // direct mode
const SUPPORT: &str = "+18005550103"; // default queue: overflow to voicemail
const ANNOUNCE: &str = "+18005550104"; // overflow announcement
const CHAIN: &str = "+18005550105"; // overflow to queue `support`

const ROUTING: &str = r#"
default_queue = "support"

[agent_defaults]
wrap_up_secs = 15

[[agents]]
oid = "6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10"
skills = { sales = 5, support = 5 }

[[agents]]
oid = "0b6f3d42-91e4-4c0b-8f2a-7d5e1a9c3b66"
skills = { sales = 3, support = 3 }
wrap_up_secs = 30

[queues.main]
ivr = { prompt = { text = "For sales press 1, for support press 2." }, options = { "1" = "sales", "2" = "support" }, fallback = "support", timeout_secs = 8, max_tries = 2 }

[queues.sales]
announcement = { text = "Welcome to sales." }
hold_music = { url = "https://example.com/hold.wav", loop = true }
recording = true
max_attempts = 2
ring_timeout_secs = 20
overflow = { phone = "+14255550199" }

[queues.support]
hold_music = { url = "https://example.com/hold.wav", loop = true }
overflow = { voicemail = { greeting = { text = "Please leave a message." }, max_duration_secs = 60 } }

[queues.partner]
direct = true
overflow = "hangup"

[queues.closed]
overflow = { announcement = { text = "We are closed." } }

[queues.chain]
overflow = { queue = "support" }

[[rules]]
dialed = ["+18005550100"]
queue = "main"

[[rules]]
dialed = ["+18005550101"]
queue = "sales"

[[rules]]
dialed = ["+18005550102"]
queue = "partner"

[[rules]]
dialed = ["+18005550104"]
queue = "closed"

[[rules]]
dialed = ["+18005550105"]
queue = "chain"
"#;

fn cfg() -> FlowConfig {
    let routing = RoutingConfig::from_toml_str(ROUTING).unwrap();
    FlowConfig::new(routing, [MAIN, SALES, DIRECT, SUPPORT, ANNOUNCE, CHAIN])
}

fn t0() -> OffsetDateTime {
    datetime!(2026-03-12 10:00:00 UTC)
}

fn incoming(to: &str, from: CommunicationIdentifier) -> IncomingCall {
    IncomingCall {
        to: CommunicationIdentifier::phone(to),
        from,
        caller_display_name: None,
        server_call_id: Some("server-1".into()),
        correlation_id: Some(CORR.into()),
        incoming_call_context: Some(IncomingCallContext::new("ctx-token")),
        custom_context: None,
        on_behalf_of_callee: None,
    }
}

fn caller() -> CommunicationIdentifier {
    CommunicationIdentifier::phone(CALLER)
}

fn teams(oid: &str) -> CommunicationIdentifier {
    CommunicationIdentifier::teams_user(oid)
}

fn ctx(s: String) -> Option<OperationContext> {
    Some(OperationContext::from(s))
}

fn result(code: i32, sub: i32) -> Option<ResultInformation> {
    Some(ResultInformation::new(code, sub, "test"))
}

fn reservation(agent: &str, n: u32) -> Reservation {
    Reservation {
        token: ReservationToken::new(format!("tok-{n}")),
        agent: TeamsUserId::from(agent),
        call_key: CORR.into(),
        state: ReservationState::Reserved,
        created_at: t0(),
        expires_at: t0() + Duration::from_secs(60),
    }
}

macro_rules! cb {
    ($ty:ident { $($f:ident : $v:expr),* $(,)? }) => {
        AcsEvent::$ty($ty {
            call_connection_id: Some(CC.into()),
            correlation_id: Some(CORR.into()),
            $($f: $v,)*
            ..Default::default()
        })
    };
}

fn participants(seq: i64, who: &[CommunicationIdentifier]) -> AcsEvent {
    cb!(ParticipantsUpdated {
        sequence_number: Some(seq),
        participants: who
            .iter()
            .map(|i| CallParticipant {
                identifier: i.clone(),
                is_muted: Some(false),
                is_on_hold: Some(false),
            })
            .collect(),
    })
}

/// Drives the machine like the executor does: applies inputs, keeps the state, clears the
/// outbox (as if every command ran), and advances a fake clock.
struct Driver {
    cfg: FlowConfig,
    state: Option<CallState>,
    now: OffsetDateTime,
    n: u32,
}

impl Driver {
    fn new() -> Self {
        Self {
            cfg: cfg(),
            state: None,
            now: t0(),
            n: 0,
        }
    }

    fn id(&mut self) -> String {
        self.n += 1;
        format!("ev-{}", self.n)
    }

    fn input(&mut self, kind: InputKind) -> FlowInput {
        let id = self.id();
        FlowInput {
            id,
            time: self.now,
            kind,
        }
    }

    fn feed(&mut self, input: &FlowInput) -> Transition {
        let t = step(self.state.as_ref(), input, &self.cfg, self.now);
        if let Some(s) = &t.state {
            assert_eq!(t.disposition, Disposition::Applied);
            let mut s = s.clone();
            assert!(
                s.outbox.ends_with(&t.commands),
                "the outbox ends with the new commands"
            );
            s.outbox.clear();
            self.state = Some(s);
        } else {
            assert_ne!(t.disposition, Disposition::Applied);
            assert!(t.commands.is_empty(), "no commands without a state change");
        }
        t
    }

    fn acs(&mut self, e: AcsEvent) -> Transition {
        let input = self.input(InputKind::Acs(e));
        self.feed(&input)
    }

    fn internal(&mut self, i: Internal) -> Transition {
        let input = self.input(InputKind::Internal(i));
        self.feed(&input)
    }

    fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
    }

    fn state(&self) -> &CallState {
        self.state.as_ref().expect("state")
    }

    fn phase(&self) -> &Phase {
        &self.state().phase
    }

    /// IncomingCall to `to` from the PSTN caller, then CallConnected.
    fn connect(&mut self, to: &str) -> Transition {
        let t = self.acs(AcsEvent::IncomingCall(incoming(to, caller())));
        assert_eq!(ops(&t), ["answer"], "{}", t.decision);
        self.acs(cb!(CallConnected {}))
    }

    /// Connect to the sales queue and ring A1 on offer 1 (invitation `inv-1`).
    fn ringing_a1(&mut self) {
        let t = self.connect(SALES);
        assert_eq!(route_seq(&t), Some(1));
        let t = self.internal(Internal::Routed {
            seq: 1,
            reservation: reservation(A1, 1),
            detail: "best".into(),
        });
        assert_eq!(ops(&t), ["add_participant", "schedule"]);
        self.internal(Internal::Invited {
            seq: 1,
            invitation_id: InvitationId::from("inv-1"),
        });
    }
}

fn ops(t: &Transition) -> Vec<&'static str> {
    t.commands.iter().map(|c| c.op.name()).collect()
}

fn route_seq(t: &Transition) -> Option<u32> {
    t.commands.iter().find_map(|c| match &c.op {
        Op::Route { seq, .. } => Some(*seq),
        _ => None,
    })
}

fn find<'t>(t: &'t Transition, name: &str) -> &'t Op {
    &t.commands
        .iter()
        .find(|c| c.op.name() == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", ops(t)))
        .op
}

// ------------------------------------------------------------------ step 1: IncomingCall

#[test]
fn calls_to_numbers_we_do_not_serve_are_ignored_never_answered() {
    let mut d = Driver::new();
    let t = d.acs(AcsEvent::IncomingCall(incoming("+19995550000", caller())));
    assert_eq!(t.disposition, Disposition::Ignored);
    assert!(
        t.decision.contains("not a number we serve"),
        "{}",
        t.decision
    );
    assert!(d.state.is_none());
}

#[test]
fn incoming_call_is_answered_once() {
    let mut d = Driver::new();
    let ic = d.input(InputKind::Acs(AcsEvent::IncomingCall(incoming(
        SALES,
        caller(),
    ))));
    let t = d.feed(&ic);
    assert_eq!(t.disposition, Disposition::Applied);
    match find(&t, "answer") {
        Op::Answer {
            incoming_call_context,
            operation_context,
            cognitive_services_endpoint,
        } => {
            assert_eq!(incoming_call_context.expose(), "ctx-token");
            assert_eq!(operation_context, "sb1:answer");
            assert_eq!(cognitive_services_endpoint, &None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.commands[0].key.event_id, ic.id);
    assert_eq!(t.commands[0].key.action, "answer");
    assert_eq!(t.commands[0].key.first_sent, ic.time);
    assert_eq!(d.phase(), &Phase::Answering);
    assert_eq!(d.state().queue.as_str(), "sales");
    assert_eq!(d.state().correlation_id, CORR);

    // The same event again (Event Grid redelivery): nothing.
    let t = d.feed(&ic);
    assert_eq!(t.disposition, Disposition::Duplicate);
    // Another IncomingCall for the same call (different event id): nothing either.
    let t = d.acs(AcsEvent::IncomingCall(incoming(SALES, caller())));
    assert_eq!(t.disposition, Disposition::Duplicate);
    assert!(t.commands.is_empty());
}

#[test]
fn incoming_call_without_context_or_correlation_is_ignored() {
    let mut d = Driver::new();
    let mut ic = incoming(SALES, caller());
    ic.incoming_call_context = None;
    assert_eq!(
        d.acs(AcsEvent::IncomingCall(ic)).disposition,
        Disposition::Ignored
    );
    let mut ic = incoming(SALES, caller());
    ic.correlation_id = None;
    assert_eq!(
        d.acs(AcsEvent::IncomingCall(ic)).disposition,
        Disposition::Ignored
    );
    assert!(d.state.is_none());
}

#[test]
fn unknown_dialed_number_that_we_serve_goes_to_the_default_queue() {
    let mut d = Driver::new();
    d.acs(AcsEvent::IncomingCall(incoming(SUPPORT, caller())));
    assert_eq!(d.state().queue.as_str(), "support");
}

// ------------------------------------------------------------------ steps 2–3: connect, queue

#[test]
fn connected_call_enters_its_queue_recording_announcement_hold_music_route() {
    let mut d = Driver::new();
    let t = d.connect(SALES);
    assert_eq!(
        ops(&t),
        ["start_recording", "play", "play", "route"],
        "{}",
        t.decision
    );
    match &t.commands[1].op {
        Op::Play {
            loop_playback,
            operation_context,
            ..
        } => {
            assert!(!loop_playback);
            assert_eq!(operation_context, "sb1:announce:1");
        }
        other => panic!("{other:?}"),
    }
    match &t.commands[2].op {
        Op::Play {
            loop_playback,
            operation_context,
            source,
            ..
        } => {
            assert!(loop_playback, "hold music loops");
            assert_eq!(operation_context, "sb1:hold:2");
            assert_eq!(
                source,
                &PlaySource::File {
                    url: "https://example.com/hold.wav".into()
                }
            );
        }
        other => panic!("{other:?}"),
    }
    match &t.commands[3].op {
        Op::Route {
            seq,
            call,
            excluded,
        } => {
            assert_eq!(*seq, 1);
            assert_eq!(call.queue.as_str(), "sales");
            assert_eq!(call.attempts, 0);
            assert_eq!(call.waiting_since, t0());
            assert!(excluded.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.phase(), &Phase::Routing { seq: 1 });
    assert_eq!(d.state().call_connection_id.as_ref().unwrap(), CC);
    assert!(
        d.state().incoming_call_context.is_none(),
        "context dropped once answered"
    );

    // A second CallConnected (another event id) is stale.
    let t = d.acs(cb!(CallConnected {}));
    assert_eq!(t.disposition, Disposition::Stale);
}

#[test]
fn reserved_agent_is_added_with_invitation_timeout_and_a_ring_timer() {
    let mut d = Driver::new();
    d.connect(SALES);
    let t = d.internal(Internal::Routed {
        seq: 1,
        reservation: reservation(A1, 1),
        detail: "longest idle".into(),
    });
    match find(&t, "add_participant") {
        Op::AddParticipant {
            agent,
            invitation_timeout_secs,
            operation_context,
            seq,
        } => {
            assert_eq!(agent, A1);
            assert_eq!(*invitation_timeout_secs, 20);
            assert_eq!(operation_context, &format!("sb1:add:1:{A1}"));
            assert_eq!(*seq, 1);
        }
        other => panic!("{other:?}"),
    }
    match find(&t, "schedule") {
        Op::Schedule { input, at, id } => {
            assert_eq!(input, &Internal::RingTimeout { seq: 1 });
            assert_eq!(*at, t0() + Duration::from_secs(25), "ring timeout + grace");
            assert!(id.ends_with("/ring-timeout:1"), "{id}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(d.phase(), Phase::Ringing { seq: 1, agent, invitation: None, .. } if agent == A1)
    );
    assert_eq!(d.state().attempts, 1);
    assert_eq!(d.state().tried, vec![TeamsUserId::from(A1)]);
    d.internal(Internal::Invited {
        seq: 1,
        invitation_id: "inv-1".into(),
    });
    assert!(matches!(d.phase(), Phase::Ringing { invitation: Some(i), .. } if i == "inv-1"));
}

// ------------------------------------------------------------------ step 4: agent joins

#[test]
fn agent_joins_stops_hold_music_and_confirms_the_reservation() {
    let mut d = Driver::new();
    d.ringing_a1();
    let t = d.acs(cb!(AddParticipantSucceeded {
        operation_context: ctx(format!("sb1:add:1:{A1}")),
        participant: Some(teams(A1)),
    }));
    assert_eq!(ops(&t), ["cancel_media", "confirm"]);
    assert!(matches!(d.phase(), Phase::Talking { agent, .. } if agent == A1));
    assert_eq!(d.state().answered_by.as_ref().unwrap(), A1);
    // The ring timer fires later: stale.
    let t = d.internal(Internal::RingTimeout { seq: 1 });
    assert_eq!(t.disposition, Disposition::Stale);
}

#[test]
fn participants_update_listing_the_agent_before_add_succeeded_counts_as_joined() {
    let mut d = Driver::new();
    d.ringing_a1();
    let t = d.acs(participants(5, &[caller(), teams(A1)]));
    assert_eq!(ops(&t), ["cancel_media", "confirm"]);
    assert!(matches!(d.phase(), Phase::Talking { .. }));
    // The reordered AddParticipantSucceeded arrives afterwards: nothing more.
    let t = d.acs(cb!(AddParticipantSucceeded {
        operation_context: ctx(format!("sb1:add:1:{A1}")),
        participant: Some(teams(A1)),
    }));
    assert_eq!(t.disposition, Disposition::Stale);
}

#[test]
fn add_succeeded_without_operation_context_matches_by_participant() {
    // 2023 payloads carry no operationContext.
    let mut d = Driver::new();
    d.ringing_a1();
    let t = d.acs(cb!(AddParticipantSucceeded {
        participant: Some(teams(A1))
    }));
    assert_eq!(t.disposition, Disposition::Applied);
    assert!(matches!(d.phase(), Phase::Talking { .. }));
}

#[test]
fn older_participant_lists_are_ignored() {
    let mut d = Driver::new();
    d.ringing_a1();
    d.acs(participants(5, &[caller(), teams(A1)]));
    let t = d.acs(participants(4, &[caller()]));
    assert_eq!(t.disposition, Disposition::Stale);
    let t = d.acs(participants(5, &[caller()]));
    assert_eq!(t.disposition, Disposition::Stale);
    assert!(
        matches!(d.phase(), Phase::Talking { .. }),
        "agent still talking"
    );
}

#[test]
fn a_late_first_participant_list_does_not_make_the_agent_leave() {
    // AddParticipantSucceeded arrives first; then the first (older-but-unseen) list without
    // the agent. The agent was never seen in a list, so this is not "agent left".
    let mut d = Driver::new();
    d.ringing_a1();
    d.acs(cb!(AddParticipantSucceeded {
        operation_context: ctx(format!("sb1:add:1:{A1}")),
        participant: Some(teams(A1))
    }));
    let t = d.acs(participants(1, &[caller()]));
    assert_eq!(t.disposition, Disposition::Applied);
    assert!(t.commands.is_empty(), "{:?}", ops(&t));
    assert!(matches!(d.phase(), Phase::Talking { .. }));
}

#[test]
fn the_list_of_the_agent_joining_delivered_after_the_list_of_their_leaving_ends_the_call() {
    // Callbacks reordered: AddParticipantSucceeded, then #3 (the agent already gone), then
    // #2 (the agent there). Together they say the agent came and went.
    let mut d = Driver::new();
    d.ringing_a1();
    d.acs(cb!(AddParticipantSucceeded {
        operation_context: ctx(format!("sb1:add:1:{A1}")),
        participant: Some(teams(A1))
    }));
    d.acs(participants(1, &[caller()]));
    let t = d.acs(participants(3, &[caller()]));
    assert!(t.commands.is_empty(), "{:?}", ops(&t));
    let t = d.acs(participants(2, &[caller(), teams(A1)]));
    assert_eq!(t.disposition, Disposition::Applied, "{}", t.decision);
    assert!(ops(&t).contains(&"hang_up"), "{:?}", ops(&t));
    // An older list without the agent is still just stale.
    let mut d = Driver::new();
    d.ringing_a1();
    d.acs(participants(5, &[caller(), teams(A1)]));
    let t = d.acs(participants(4, &[caller(), teams(A1)]));
    assert_eq!(t.disposition, Disposition::Stale);
}

// ------------------------------------------------------------------ step 5: offer fails

#[test]
fn ring_no_answer_releases_with_cool_down_and_tries_the_next_agent() {
    let mut d = Driver::new();
    d.ringing_a1();
    d.advance(20);
    let t = d.acs(cb!(AddParticipantFailed {
        operation_context: ctx(format!("sb1:add:1:{A1}")),
        participant: Some(teams(A1)),
        result_information: result(408, 10004),
    }));
    assert_eq!(ops(&t), ["release", "route"], "{}", t.decision);
    match find(&t, "release") {
        Op::Release {
            reservation,
            wrap_up_secs,
            ..
        } => {
            assert_eq!(reservation.agent, A1);
            assert_eq!(*wrap_up_secs, 60, "no-answer cool-down");
        }
        other => panic!("{other:?}"),
    }
    match find(&t, "route") {
        Op::Route {
            seq,
            call,
            excluded,
        } => {
            assert_eq!(*seq, 2);
            assert_eq!(call.attempts, 1);
            assert_eq!(excluded, &vec![TeamsUserId::from(A1)]);
            assert_eq!(call.waiting_since, t0(), "max wait counts from queue entry");
        }
        other => panic!("{other:?}"),
    }
    assert!(d.state().reservation.is_none());
    assert_eq!(d.phase(), &Phase::Routing { seq: 2 });
}

#[test]
fn declined_and_busy_use_their_cool_downs() {
    for (code, sub, secs) in [(603, 0, 10), (486, 0, 5), (500, 0, 0)] {
        let mut d = Driver::new();
        d.ringing_a1();
        let t = d.acs(cb!(AddParticipantFailed {
            operation_context: ctx(format!("sb1:add:1:{A1}")),
            participant: Some(teams(A1)),
            result_information: result(code, sub),
        }));
        match find(&t, "release") {
            Op::Release { wrap_up_secs, .. } => assert_eq!(*wrap_up_secs, secs, "{code}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn stale_add_failed_for_an_older_offer_is_ignored() {
    let mut d = Driver::new();
    d.ringing_a1();
    d.acs(cb!(AddParticipantFailed {
        operation_context: ctx(format!("sb1:add:1:{A1}")),
        participant: Some(teams(A1)),
        result_information: result(603, 8538),
    }));
    d.internal(Internal::Routed {
        seq: 2,
        reservation: reservation(A2, 2),
        detail: String::new(),
    });
    // A duplicate of the first failure with a different event id (e.g. the 487 after our
    // own cancel): offer 1 is history.
    let t = d.acs(cb!(AddParticipantFailed {
        operation_context: ctx(format!("sb1:add:1:{A1}")),
        participant: Some(teams(A1)),
        result_information: result(487, 0),
    }));
    assert_eq!(t.disposition, Disposition::Stale);
    assert!(matches!(d.phase(), Phase::Ringing { seq: 2, .. }));
}

#[test]
fn missing_outcome_cancels_the_invitation_and_moves_on() {
    let mut d = Driver::new();
    d.ringing_a1();
    d.advance(25);
    let t = d.internal(Internal::RingTimeout { seq: 1 });
    assert_eq!(ops(&t), ["cancel_add_participant", "release", "route"]);
    match find(&t, "cancel_add_participant") {
        Op::CancelAddParticipant {
            invitation_id,
            operation_context,
        } => {
            assert_eq!(invitation_id, "inv-1");
            assert_eq!(operation_context, "sb1:cancel:1");
        }
        other => panic!("{other:?}"),
    }
    // The cancel's own AddParticipantFailed (487) then arrives: stale.
    let t = d.acs(cb!(AddParticipantFailed {
        operation_context: ctx(format!("sb1:add:1:{A1}")),
        participant: Some(teams(A1)),
        result_information: result(487, 5300),
    }));
    assert_eq!(t.disposition, Disposition::Stale);
    // A ring timeout of an older offer is stale too.
    let t = d.internal(Internal::RingTimeout { seq: 1 });
    assert_eq!(t.disposition, Disposition::Stale);
}

#[test]
fn agent_joining_after_their_offer_was_withdrawn_is_removed() {
    let mut d = Driver::new();
    d.ringing_a1();
    d.internal(Internal::RingTimeout { seq: 1 });
    d.internal(Internal::Routed {
        seq: 2,
        reservation: reservation(A2, 2),
        detail: String::new(),
    });
    // Cancel lost the race: A1 answered.
    let t = d.acs(cb!(AddParticipantSucceeded {
        operation_context: ctx(format!("sb1:add:1:{A1}")),
        participant: Some(teams(A1)),
    }));
    assert_eq!(ops(&t), ["remove_participant"]);
    match find(&t, "remove_participant") {
        Op::RemoveParticipant { participant, .. } => assert_eq!(participant, &teams(A1)),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(d.phase(), Phase::Ringing { seq: 2, .. }),
        "still ringing A2"
    );
    // The same late join seen in a participant list: already handled.
    let t = d.acs(participants(7, &[caller(), teams(A1)]));
    assert!(!ops(&t).contains(&"remove_participant"));
}

#[test]
fn invitation_id_learned_after_moving_on_is_cancelled() {
    let mut d = Driver::new();
    d.connect(SALES);
    d.internal(Internal::Routed {
        seq: 1,
        reservation: reservation(A1, 1),
        detail: String::new(),
    });
    d.internal(Internal::RingTimeout { seq: 1 });
    let t = d.internal(Internal::Invited {
        seq: 1,
        invitation_id: "inv-late".into(),
    });
    assert_eq!(ops(&t), ["cancel_add_participant"]);
}

#[test]
fn stale_route_result_releases_its_reservation() {
    let mut d = Driver::new();
    d.ringing_a1();
    let t = d.internal(Internal::Routed {
        seq: 1,
        reservation: reservation(A2, 9),
        detail: String::new(),
    });
    assert_eq!(ops(&t), ["release"]);
    assert!(matches!(d.phase(), Phase::Ringing { agent, .. } if agent == A1));
}

#[test]
fn add_participant_rejected_by_call_automation_tries_the_next_agent() {
    let mut d = Driver::new();
    d.ringing_a1();
    let failed = Command {
        key: RepeatKey {
            event_id: "ev-x".into(),
            action: "add:1".into(),
            first_sent: t0(),
        },
        op: Op::AddParticipant {
            agent: A1.into(),
            invitation_timeout_secs: 20,
            operation_context: format!("sb1:add:1:{A1}"),
            seq: 1,
        },
    };
    let t = d.internal(Internal::CommandFailed {
        command: Box::new(failed),
        gone: false,
        reason: "403 not interop-enabled".into(),
    });
    assert_eq!(ops(&t), ["release", "route"]);
}

// ------------------------------------------------------------------ waiting and overflow

#[test]
fn nobody_free_waits_and_rechecks_on_a_timer() {
    let mut d = Driver::new();
    d.connect(SALES);
    let t = d.internal(Internal::NoAgent {
        seq: 1,
        retry_after_ms: 5000,
        detail: "2 at capacity".into(),
    });
    assert_eq!(ops(&t), ["schedule", "join_waitlist"]);
    match find(&t, "join_waitlist") {
        Op::JoinWaitlist { n, call, excluded } => {
            assert_eq!(*n, 1);
            assert_eq!(call.queue.as_str(), "sales");
            assert!(excluded.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match find(&t, "schedule") {
        Op::Schedule { input, at, .. } => {
            assert_eq!(input, &Internal::QueueRecheck { n: 1 });
            assert_eq!(*at, t0() + Duration::from_secs(5));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.phase(), &Phase::Waiting { recheck: 1 });
    d.advance(5);
    let t = d.internal(Internal::QueueRecheck { n: 1 });
    assert_eq!(route_seq(&t), Some(2));
    assert!(
        t.commands.iter().all(|c| c.op.name() != "play"),
        "hold music keeps playing"
    );
    // Re-check 1 again (timer delivered twice): stale now.
    let t = d.internal(Internal::QueueRecheck { n: 1 });
    assert_eq!(t.disposition, Disposition::Stale);
}

#[test]
fn max_attempts_overflow_transfers_to_the_overflow_number() {
    let mut d = Driver::new();
    d.ringing_a1();
    d.acs(cb!(AddParticipantFailed {
        operation_context: ctx(format!("sb1:add:1:{A1}")),
        participant: Some(teams(A1)),
        result_information: result(408, 0),
    }));
    // The routing engine says: attempts exhausted.
    let t = d.internal(Internal::Overflow {
        seq: 2,
        target: OverflowTarget::Phone {
            number: "+14255550199".into(),
        },
        detail: "max attempts reached (2)".into(),
    });
    assert_eq!(ops(&t), ["cancel_media", "transfer"], "{}", t.decision);
    match find(&t, "transfer") {
        Op::Transfer {
            target,
            operation_context,
            transferee,
            source_caller_id,
        } => {
            assert_eq!(target, &CommunicationIdentifier::phone("+14255550199"));
            assert_eq!(operation_context, "sb1:transfer:1");
            // The PSTN caller is the transferee; the PSTN target sees our dialled number.
            assert_eq!(transferee.as_ref(), Some(&caller()));
            assert_eq!(source_caller_id.as_deref(), Some(SALES));
        }
        other => panic!("{other:?}"),
    }
    // Step 6: accepted → our leg is done.
    let t = d.acs(cb!(CallTransferAccepted {
        operation_context: ctx("sb1:transfer:1".into())
    }));
    assert!(t.commands.is_empty());
    assert!(matches!(d.phase(), Phase::Ending { .. }));
    let t = d.acs(cb!(CallDisconnected {}));
    assert_eq!(ops(&t), ["archive"]);
    assert!(matches!(d.phase(), Phase::Ended { reason } if reason.contains("transferred")));
}

#[test]
fn failed_transfer_is_retried_then_the_call_is_ended() {
    let mut d = Driver::new();
    d.connect(SALES);
    d.internal(Internal::Overflow {
        seq: 1,
        target: OverflowTarget::Phone {
            number: "+14255550199".into(),
        },
        detail: String::new(),
    });
    let t = d.acs(cb!(CallTransferFailed {
        operation_context: ctx("sb1:transfer:1".into()),
        result_information: result(500, 0),
    }));
    assert_eq!(ops(&t), ["transfer"]);
    // A stale failure of attempt 1 again: ignored.
    let t = d.acs(cb!(CallTransferFailed {
        operation_context: ctx("sb1:transfer:1".into()),
        result_information: result(500, 0),
    }));
    assert_eq!(t.disposition, Disposition::Stale);
    let t = d.acs(cb!(CallTransferFailed {
        operation_context: ctx("sb1:transfer:2".into()),
        result_information: result(500, 0),
    }));
    assert_eq!(ops(&t), ["hang_up"]);
    assert!(matches!(d.phase(), Phase::Ending { .. }));
}

#[test]
fn overflow_to_voicemail_plays_greeting_records_then_hangs_up() {
    let mut d = Driver::new();
    d.connect(SUPPORT);
    let t = d.internal(Internal::Overflow {
        seq: 1,
        target: d.cfg.routing.queue("support").unwrap().overflow.clone(),
        detail: "no eligible agents".into(),
    });
    assert_eq!(ops(&t), ["cancel_media", "play"]);
    let t = d.acs(cb!(PlayCompleted {
        operation_context: ctx("sb1:voicemail-greeting".into())
    }));
    assert_eq!(ops(&t), ["start_recording", "schedule"]);
    assert_eq!(d.phase(), &Phase::VoicemailRecording);
    d.advance(60);
    let t = d.internal(Internal::VoicemailDone);
    assert_eq!(ops(&t), ["hang_up"]);
}

#[test]
fn overflow_announcement_then_hang_up() {
    let mut d = Driver::new();
    d.connect(ANNOUNCE);
    let t = d.internal(Internal::Overflow {
        seq: 1,
        target: d.cfg.routing.queue("closed").unwrap().overflow.clone(),
        detail: String::new(),
    });
    assert_eq!(ops(&t), ["play"]);
    assert_eq!(d.phase(), &Phase::OverflowAnnouncement);
    let t = d.acs(cb!(PlayCompleted {
        operation_context: ctx("sb1:overflow-announcement".into())
    }));
    assert_eq!(ops(&t), ["hang_up"]);
}

#[test]
fn overflow_into_another_queue_and_loops_end_the_call() {
    let mut d = Driver::new();
    d.connect(CHAIN);
    let t = d.internal(Internal::Overflow {
        seq: 1,
        target: OverflowTarget::Queue {
            queue: "support".into(),
        },
        detail: String::new(),
    });
    assert_eq!(
        ops(&t),
        ["play", "route"],
        "support's hold music, then route"
    );
    assert_eq!(d.state().queue.as_str(), "support");
    assert_eq!(d.state().attempts, 0, "attempts restart in the new queue");
    let t = d.internal(Internal::Overflow {
        seq: 2,
        target: OverflowTarget::Queue {
            queue: "chain".into(),
        },
        detail: String::new(),
    });
    assert_eq!(ops(&t), ["hang_up"], "{}", t.decision);
}

#[test]
fn routing_failure_overflows() {
    let mut d = Driver::new();
    d.connect(ANNOUNCE);
    let cmd = d.state().history.len();
    assert!(cmd > 0);
    let route = Command {
        key: RepeatKey {
            event_id: "x".into(),
            action: "route:1".into(),
            first_sent: t0(),
        },
        op: Op::Route {
            seq: 1,
            call: switchboard_routing::CallRequirements::new(CORR, "closed", t0()),
            excluded: vec![],
        },
    };
    let t = d.internal(Internal::CommandFailed {
        command: Box::new(route),
        gone: false,
        reason: "store corrupt".into(),
    });
    assert_eq!(ops(&t), ["play"]);
    assert_eq!(d.phase(), &Phase::OverflowAnnouncement);
}

// ------------------------------------------------------------------ IVR

#[test]
fn ivr_menu_then_choice_routes_to_the_chosen_queue() {
    let mut d = Driver::new();
    let t = d.connect(MAIN);
    assert_eq!(ops(&t), ["recognize"]);
    match find(&t, "recognize") {
        Op::Recognize {
            target,
            max_tones,
            initial_silence_timeout_secs,
            operation_context,
            ..
        } => {
            assert_eq!(target, &caller());
            assert_eq!(*max_tones, 1);
            assert_eq!(*initial_silence_timeout_secs, 8);
            assert_eq!(operation_context, "sb1:ivr:1");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.phase(), &Phase::Triage { try_no: 1 });
    let t = d.acs(cb!(RecognizeCompleted {
        operation_context: ctx("sb1:ivr:1".into()),
        dtmf_result: Some(DtmfResult {
            tones: vec![Tone::One]
        }),
    }));
    assert_eq!(d.state().queue.as_str(), "sales");
    assert_eq!(d.state().ivr.choice.as_deref(), Some("1"));
    assert_eq!(ops(&t), ["start_recording", "play", "play", "route"]);
}

#[test]
fn ivr_unknown_choice_and_silence_replay_then_fall_back() {
    let mut d = Driver::new();
    d.connect(MAIN);
    let t = d.acs(cb!(RecognizeCompleted {
        operation_context: ctx("sb1:ivr:1".into()),
        dtmf_result: Some(DtmfResult {
            tones: vec![Tone::Nine]
        }),
    }));
    // "9" is unknown and the menu has a fallback: classify sends it there at once.
    assert_eq!(d.state().queue.as_str(), "support", "{}", t.decision);

    let mut d = Driver::new();
    d.connect(MAIN);
    let t = d.acs(cb!(RecognizeFailed {
        operation_context: ctx("sb1:ivr:1".into()),
        result_information: result(400, 8510),
    }));
    assert_eq!(ops(&t), ["recognize"], "menu again");
    assert_eq!(d.phase(), &Phase::Triage { try_no: 2 });
    // A late failure of try 1: stale.
    let t = d.acs(cb!(RecognizeFailed {
        operation_context: ctx("sb1:ivr:1".into()),
        result_information: result(400, 8510),
    }));
    assert_eq!(t.disposition, Disposition::Stale);
    let t = d.acs(cb!(RecognizeFailed {
        operation_context: ctx("sb1:ivr:2".into()),
        result_information: result(400, 8510),
    }));
    assert_eq!(d.state().queue.as_str(), "support", "{}", t.decision);
    assert_eq!(route_seq(&t), Some(1));
}

#[test]
fn no_recognize_while_a_teams_user_is_in_the_call() {
    // Teams caller: recognize is unsupported, the menu is skipped.
    let mut d = Driver::new();
    d.acs(AcsEvent::IncomingCall(incoming(MAIN, teams(A3))));
    let t = d.acs(cb!(CallConnected {}));
    assert!(!ops(&t).contains(&"recognize"), "{:?}", ops(&t));
    assert_eq!(d.state().queue.as_str(), "support", "menu fallback");
    assert!(d.state().ivr.skipped.is_some());

    // A Teams user already listed in the call before CallConnected.
    let mut d = Driver::new();
    d.acs(AcsEvent::IncomingCall(incoming(MAIN, caller())));
    d.acs(participants(1, &[caller(), teams(A3)]));
    let t = d.acs(cb!(CallConnected {}));
    assert!(!ops(&t).contains(&"recognize"));
}

// ------------------------------------------------------------------ step 7: recording notice
// In `tests/notice.rs` (declared after `cb!`, which it uses).
mod callback_call;
mod notice;
mod teams;
mod waiting;

// ------------------------------------------------------------------ step 8: the end

#[test]
fn agent_leaving_ends_the_call_with_wrap_up() {
    let mut d = Driver::new();
    d.ringing_a1();
    d.acs(participants(3, &[caller(), teams(A1)]));
    let t = d.acs(participants(4, &[caller()]));
    assert_eq!(ops(&t), ["release", "hang_up"]);
    match find(&t, "release") {
        Op::Release { wrap_up_secs, .. } => assert_eq!(*wrap_up_secs, 15, "roster wrap-up"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        find(&t, "hang_up"),
        Op::HangUp { for_everyone: true }
    ));
    let t = d.acs(cb!(CallDisconnected {}));
    assert_eq!(ops(&t), ["archive"]);
    assert!(matches!(d.phase(), Phase::Ended { reason } if reason == "agent left"));
    let t = d.acs(cb!(CallDisconnected {}));
    assert_eq!(t.disposition, Disposition::Stale);
}

#[test]
fn caller_hanging_up_while_ringing_withdraws_the_invitation() {
    let mut d = Driver::new();
    d.ringing_a1();
    d.acs(participants(2, &[caller()]));
    let t = d.acs(participants(3, &[]));
    assert_eq!(ops(&t), ["cancel_add_participant", "release", "hang_up"]);
    match find(&t, "release") {
        Op::Release { wrap_up_secs, .. } => assert_eq!(*wrap_up_secs, 0, "never talked"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn disconnect_while_talking_releases_with_wrap_up_and_archives() {
    let mut d = Driver::new();
    d.connect(SALES);
    d.internal(Internal::Routed {
        seq: 1,
        reservation: reservation(A2, 1),
        detail: String::new(),
    });
    d.acs(cb!(AddParticipantSucceeded {
        operation_context: ctx(format!("sb1:add:1:{A2}")),
        participant: Some(teams(A2))
    }));
    let t = d.acs(cb!(CallDisconnected {}));
    assert_eq!(ops(&t), ["release", "archive"]);
    match find(&t, "release") {
        Op::Release { wrap_up_secs, .. } => assert_eq!(*wrap_up_secs, 30, "A2's own wrap-up"),
        other => panic!("{other:?}"),
    }
    assert!(d.state().reservation.is_none());
    assert!(d.state().ended_at.is_some());
}

#[test]
fn disconnect_while_ringing_releases_without_wrap_up() {
    let mut d = Driver::new();
    d.ringing_a1();
    let t = d.acs(cb!(CallDisconnected {}));
    assert_eq!(ops(&t), ["release", "archive"]);
    match find(&t, "release") {
        Op::Release { wrap_up_secs, .. } => assert_eq!(*wrap_up_secs, 0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn call_gone_ends_the_call_and_drops_pending_work() {
    let mut d = Driver::new();
    d.ringing_a1();
    // Pretend the executor still has work queued when Call Automation says 404.
    let pending = Command {
        key: RepeatKey {
            event_id: "e".into(),
            action: "schedule:ring-timeout:1".into(),
            first_sent: t0(),
        },
        op: Op::Schedule {
            id: "e/ring-timeout:1".into(),
            input: Internal::RingTimeout { seq: 1 },
            at: t0(),
        },
    };
    let mut state = d.state().clone();
    state.outbox.push(pending.clone());
    let failed = Command {
        key: RepeatKey {
            event_id: "e".into(),
            action: "add:1".into(),
            first_sent: t0(),
        },
        op: Op::AddParticipant {
            agent: A1.into(),
            invitation_timeout_secs: 20,
            operation_context: format!("sb1:add:1:{A1}"),
            seq: 1,
        },
    };
    let input = FlowInput::internal(
        "e/add:1/failed",
        t0(),
        Internal::CommandFailed {
            command: Box::new(failed),
            gone: true,
            reason: "404".into(),
        },
    );
    let t = step(Some(&state), &input, &d.cfg, t0());
    let s = t.state.unwrap();
    assert!(matches!(s.phase, Phase::Ended { .. }));
    let names: Vec<_> = s.outbox.iter().map(|c| c.op.name()).collect();
    assert_eq!(
        names,
        ["release", "archive"],
        "the pending schedule is dropped"
    );
}

#[test]
fn events_for_calls_without_state_are_orphans() {
    let cfg = cfg();
    for e in [
        cb!(CallConnected {}),
        cb!(CallDisconnected {}),
        participants(1, &[]),
    ] {
        let t = step(None, &FlowInput::acs("x", t0(), e), &cfg, t0());
        assert_eq!(t.disposition, Disposition::Orphan);
        assert!(t.state.is_none() && t.commands.is_empty());
    }
    let t = step(
        None,
        &FlowInput::internal("y", t0(), Internal::RingTimeout { seq: 1 }),
        &cfg,
        t0(),
    );
    assert_eq!(t.disposition, Disposition::Orphan);
}

// ------------------------------------------------------------------ direct mode

#[test]
fn direct_mode_redirects_to_the_reserved_agent_without_answering() {
    let mut d = Driver::new();
    let t = d.acs(AcsEvent::IncomingCall(incoming(DIRECT, caller())));
    assert_eq!(ops(&t), ["route"]);
    assert_eq!(d.phase(), &Phase::DirectRouting { seq: 1 });
    let t = d.internal(Internal::Routed {
        seq: 1,
        reservation: reservation(A1, 1),
        detail: String::new(),
    });
    assert_eq!(ops(&t), ["redirect", "release", "archive"]);
    match find(&t, "redirect") {
        Op::Redirect {
            target,
            incoming_call_context,
        } => {
            assert_eq!(target, &teams(A1));
            assert_eq!(incoming_call_context.expose(), "ctx-token");
        }
        other => panic!("{other:?}"),
    }
    match find(&t, "release") {
        Op::Release { wrap_up_secs, .. } => assert_eq!(*wrap_up_secs, 20),
        other => panic!("{other:?}"),
    }
}

#[test]
fn direct_mode_without_a_free_agent_answers_and_queues() {
    let mut d = Driver::new();
    d.acs(AcsEvent::IncomingCall(incoming(DIRECT, caller())));
    let t = d.internal(Internal::NoAgent {
        seq: 1,
        retry_after_ms: 1000,
        detail: String::new(),
    });
    assert_eq!(ops(&t), ["answer"]);
    let t = d.acs(cb!(CallConnected {}));
    assert_eq!(route_seq(&t), Some(2));
    assert_eq!(d.phase(), &Phase::Routing { seq: 2 });

    let mut d = Driver::new();
    d.acs(AcsEvent::IncomingCall(incoming(DIRECT, caller())));
    let t = d.internal(Internal::Overflow {
        seq: 1,
        target: OverflowTarget::Hangup,
        detail: String::new(),
    });
    assert_eq!(ops(&t), ["reject", "archive"]);
}

#[test]
fn failed_redirect_falls_back_to_answering() {
    let mut d = Driver::new();
    d.acs(AcsEvent::IncomingCall(incoming(DIRECT, caller())));
    let input = d.input(InputKind::Internal(Internal::Routed {
        seq: 1,
        reservation: reservation(A1, 1),
        detail: String::new(),
    }));
    let t = step(d.state.as_ref(), &input, &d.cfg, d.now);
    let mut s = t.state.unwrap();
    // The executor ran the redirect (first in the outbox) and it was refused.
    let redirect = s.outbox.remove(0);
    let failed = FlowInput::internal(
        redirect.key.derived_id("failed"),
        redirect.key.first_sent,
        Internal::CommandFailed {
            command: Box::new(redirect),
            gone: false,
            reason: "400".into(),
        },
    );
    let t = step(Some(&s), &failed, &d.cfg, d.now);
    let s = t.state.unwrap();
    let names: Vec<_> = s.outbox.iter().map(|c| c.op.name()).collect();
    assert_eq!(names, ["release", "answer"]);
    assert_eq!(s.phase, Phase::Answering);
}

// ------------------------------------------------------------------ determinism, storage

#[test]
fn step_is_deterministic_and_ids_come_from_the_input_first_sent_from_the_decision() {
    let mut d = Driver::new();
    d.connect(SALES);
    let input = FlowInput::internal(
        "route-result",
        t0() + Duration::from_secs(3),
        Internal::Routed {
            seq: 1,
            reservation: reservation(A1, 1),
            detail: String::new(),
        },
    );
    let a = step(d.state.as_ref(), &input, &d.cfg, d.now);
    let b = step(d.state.as_ref(), &input, &d.cfg, d.now);
    assert_eq!(a, b);
    for c in &a.commands {
        assert_eq!(c.key.event_id, "route-result");
        // First-Sent is when the command was decided (and first sent), not the input's time:
        // an input delivered late must not carry a First-Sent the service refuses.
        assert_eq!(c.key.first_sent, d.now);
    }
    let late = step(
        d.state.as_ref(),
        &input,
        &d.cfg,
        d.now + Duration::from_secs(600),
    );
    assert!(late
        .commands
        .iter()
        .all(|c| c.key.first_sent == d.now + Duration::from_secs(600)));
    let actions: std::collections::BTreeSet<_> = a.commands.iter().map(|c| &c.key.action).collect();
    assert_eq!(
        actions.len(),
        a.commands.len(),
        "actions are unique per input"
    );
}

#[test]
fn state_round_trips_through_json_with_the_context_redacted_in_debug() {
    let mut d = Driver::new();
    d.ringing_a1();
    let mut s = d.state().clone();
    s.incoming_call_context = Some(IncomingCallContext::new("secret-token"));
    let json = serde_json::to_value(&s).unwrap();
    let back: CallState = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
    assert!(!format!("{s:?}").contains("secret-token"));
}

#[test]
fn applied_ids_and_history_are_bounded() {
    let mut d = Driver::new();
    d.cfg.applied_limit = 4;
    d.cfg.history_limit = 3;
    d.connect(SALES);
    for seq in 10..20 {
        d.acs(participants(seq, &[caller()]));
    }
    assert_eq!(d.state().applied.len(), 4);
    assert_eq!(d.state().history.len(), 3);
}

// ------------------------------------------------------------------ properties

fn arb_event() -> impl Strategy<Value = InputKind> {
    let agents = prop::sample::select(vec![A1, A2, A3]);
    prop_oneof![
        Just(InputKind::Acs(AcsEvent::IncomingCall(incoming(
            SALES,
            caller()
        )))),
        Just(InputKind::Acs(cb!(CallConnected {}))),
        Just(InputKind::Acs(cb!(CallDisconnected {}))),
        (1u32..4, agents.clone()).prop_map(|(seq, a)| InputKind::Acs(cb!(
            AddParticipantSucceeded {
                operation_context: ctx(format!("sb1:add:{seq}:{a}")),
                participant: Some(teams(a)),
            }
        ))),
        (
            1u32..4,
            agents.clone(),
            prop::sample::select(vec![408, 603, 486, 487])
        )
            .prop_map(|(seq, a, code)| InputKind::Acs(cb!(AddParticipantFailed {
                operation_context: ctx(format!("sb1:add:{seq}:{a}")),
                participant: Some(teams(a)),
                result_information: result(code, 0),
            }))),
        (
            0i64..6,
            prop::collection::vec(agents.clone(), 0..2),
            any::<bool>()
        )
            .prop_map(|(seq, a, with_caller)| {
                let mut who: Vec<_> = a.into_iter().map(teams).collect();
                if with_caller {
                    who.push(caller());
                }
                InputKind::Acs(participants(seq, &who))
            }),
        Just(InputKind::Acs(cb!(RecordingStateChanged {
            recording_id: Some(RecordingId::from("r1")),
            state: Some(RecordingState::Active),
        }))),
        (1u32..4).prop_map(|n| InputKind::Acs(cb!(PlayCompleted {
            operation_context: ctx(format!("sb1:notice:{n}"))
        }))),
        (1u32..4, agents.clone()).prop_map(|(seq, a)| InputKind::Internal(Internal::Routed {
            seq,
            reservation: reservation(a, seq),
            detail: String::new(),
        })),
        (1u32..4).prop_map(|seq| InputKind::Internal(Internal::NoAgent {
            seq,
            retry_after_ms: 1000,
            detail: String::new()
        })),
        (1u32..4).prop_map(|seq| InputKind::Internal(Internal::Overflow {
            seq,
            target: OverflowTarget::Phone {
                number: "+14255550199".into()
            },
            detail: String::new()
        })),
        (1u32..4).prop_map(|seq| InputKind::Internal(Internal::RingTimeout { seq })),
        (1u32..4).prop_map(|n| InputKind::Internal(Internal::QueueRecheck { n })),
        (1u32..4).prop_map(|seq| InputKind::Internal(Internal::Invited {
            seq,
            invitation_id: format!("inv-{seq}").into(),
        })),
        Just(InputKind::Acs(cb!(CallTransferAccepted {}))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Any sequence of events, in any order, with duplicates: no panic; a redelivered input
    /// is always a no-op; at most one reservation is held; archive comes last and only when
    /// the call has ended; once ended, nothing but releases follows.
    #[test]
    fn any_event_order_keeps_the_invariants(events in prop::collection::vec((arb_event(), any::<bool>()), 1..40)) {
        let cfg = cfg();
        let mut state: Option<CallState> = None;
        let mut now = t0();
        for (i, (kind, redeliver)) in events.into_iter().enumerate() {
            now += Duration::from_secs(1);
            let input = FlowInput { id: format!("p-{i}"), time: now, kind };
            let t = step(state.as_ref(), &input, &cfg, now);
            if let Some(mut s) = t.state.clone() {
                let archive_at = t.commands.iter().position(|c| c.op == Op::Archive);
                if let Some(pos) = archive_at {
                    prop_assert_eq!(pos, t.commands.len() - 1, "archive is last");
                    let ended = matches!(s.phase, Phase::Ended { .. });
                    prop_assert!(ended, "archive only when ended");
                }
                if let Some(prev) = &state {
                    if matches!(prev.phase, Phase::Ended { .. }) {
                        let only_releases = t.commands.iter().all(|c| matches!(c.op, Op::Release { .. }));
                        prop_assert!(only_releases);
                    }
                }
                s.outbox.clear();
                state = Some(s);
                if redeliver {
                    let again = step(state.as_ref(), &input, &cfg, now);
                    prop_assert_eq!(again.disposition, Disposition::Duplicate);
                    prop_assert!(again.commands.is_empty());
                }
            } else {
                prop_assert!(t.commands.is_empty());
            }
            if let Some(s) = &state {
                if matches!(s.phase, Phase::Ended { .. }) {
                    prop_assert!(s.reservation.is_none(), "ended calls hold no agent");
                }
                if let Phase::Ringing { agent, .. } | Phase::Talking { agent, .. } = &s.phase {
                    prop_assert_eq!(s.reservation.as_ref().map(|r| &r.agent), Some(agent));
                }
            }
        }
    }
}

#[test]
fn correlation_id_is_the_call_key() {
    let mut d = Driver::new();
    d.acs(AcsEvent::IncomingCall(incoming(SALES, caller())));
    assert_eq!(d.state().correlation_id, CorrelationId::from(CORR));
}

#[test]
fn an_incoming_call_past_its_ringing_window_is_expired_not_answered() {
    let mut d = Driver::new();
    let ic = d.input(InputKind::Acs(AcsEvent::IncomingCall(incoming(
        SALES,
        caller(),
    ))));
    let fresh = step(None, &ic, &d.cfg, ic.time + Duration::from_secs(29));
    assert_eq!(fresh.disposition, Disposition::Applied);
    let old = step(None, &ic, &d.cfg, ic.time + Duration::from_secs(600));
    assert_eq!(old.disposition, Disposition::Expired);
    assert!(old.commands.is_empty() && old.state.is_none());
    assert_eq!(Disposition::Expired.as_str(), "expired");
}
