//! Transfers to Teams (a user, a voice application) as a routing target and as an overflow
//! target, and agents the Teams tenant's interop policy refuses (issue 15 §5).

use switchboard_routing::{QueueName, TransferTarget};

use super::*;

const CQ_APP: &str = "8a3d1f0e-5b7c-4e2a-9c6d-1f0e2d3c4b5a";

fn teams_app(id: &str) -> CommunicationIdentifier {
    CommunicationIdentifier::MicrosoftTeamsApp {
        app_id: id.into(),
        cloud: Default::default(),
    }
}

fn queue_mut<'d>(d: &'d mut Driver, name: &str) -> &'d mut switchboard_routing::CallQueueConfig {
    d.cfg
        .routing
        .queues
        .get_mut(&QueueName::from(name))
        .unwrap()
}

fn transfer_of(
    t: &Transition,
) -> (
    CommunicationIdentifier,
    Option<CommunicationIdentifier>,
    Option<String>,
) {
    match find(t, "transfer") {
        Op::Transfer {
            target,
            transferee,
            source_caller_id,
            ..
        } => (target.clone(), transferee.clone(), source_caller_id.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_queue_routes_its_calls_to_a_teams_call_queue_by_blind_transfer() {
    let mut d = Driver::new();
    queue_mut(&mut d, "sales").transfer_to = Some(TransferTarget::TeamsApp {
        app_id: CQ_APP.into(),
    });
    let t = d.connect(SALES);
    // No agents of ours, no recording, no announcement: straight to the voice app.
    assert_eq!(ops(&t), ["transfer"], "{}", t.decision);
    let (target, transferee, caller_id) = transfer_of(&t);
    assert_eq!(target, teams_app(CQ_APP));
    assert_eq!(target.raw_id(), format!("28:orgid:{CQ_APP}"));
    assert_eq!(
        transferee,
        Some(caller()),
        "the PSTN caller is the transferee"
    );
    assert_eq!(caller_id, None, "a Teams target needs no PSTN caller id");
    assert!(matches!(d.phase(), Phase::Transferring { .. }));
    d.acs(cb!(CallTransferAccepted {}));
    assert!(d.phase().is_over());
}

#[test]
fn a_queue_routes_its_calls_to_one_teams_user() {
    let mut d = Driver::new();
    queue_mut(&mut d, "sales").transfer_to = Some(TransferTarget::TeamsUser { oid: A3.into() });
    let t = d.connect(SALES);
    assert_eq!(transfer_of(&t).0, teams(A3));
}

#[test]
fn overflow_to_a_teams_voice_app() {
    let mut d = Driver::new();
    queue_mut(&mut d, "sales").overflow = OverflowTarget::TeamsApp {
        app_id: CQ_APP.into(),
    };
    d.connect(SALES);
    let t = d.internal(Internal::Overflow {
        seq: 1,
        target: OverflowTarget::TeamsApp {
            app_id: CQ_APP.into(),
        },
        detail: "max wait".into(),
    });
    assert!(ops(&t).contains(&"transfer"), "{:?}", ops(&t));
    assert_eq!(transfer_of(&t).0, teams_app(CQ_APP));
}

#[test]
fn an_agent_refused_by_the_tenant_policy_is_skipped_and_counted() {
    let mut d = Driver::new();
    d.ringing_a1();
    let t = d.acs(cb!(AddParticipantFailed {
        operation_context: ctx(format!("sb1:add:1:{A1}")),
        participant: Some(teams(A1)),
        result_information: result(403, 10124),
    }));
    assert_eq!(ops(&t), ["release", "route"], "{}", t.decision);
    match find(&t, "release") {
        Op::Release {
            reservation,
            wrap_up_secs,
            reason,
        } => {
            assert_eq!(reservation.agent, A1);
            assert_eq!(*wrap_up_secs, 30 * 60, "kept out until an admin fixes it");
            assert_eq!(reason.as_deref(), Some(command::RELEASE_TENANT_POLICY));
        }
        other => panic!("{other:?}"),
    }
    match find(&t, "route") {
        Op::Route { excluded, .. } => assert!(excluded.contains(&TeamsUserId::from(A1))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_transfer_refused_by_the_tenant_policy_is_not_retried() {
    let mut d = Driver::new();
    queue_mut(&mut d, "sales").transfer_to = Some(TransferTarget::TeamsUser { oid: A3.into() });
    d.connect(SALES);
    let t = d.acs(cb!(CallTransferFailed {
        operation_context: ctx("sb1:transfer:1".into()),
        result_information: result(403, 10124),
    }));
    assert!(!ops(&t).contains(&"transfer"), "{:?}", ops(&t));
    assert!(ops(&t).contains(&"hang_up"), "{:?}", ops(&t));
}
