//! Property tests: `decode` never panics, whatever it is fed, and typed events survive an
//! encode/decode round trip.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use switchboard_events::{
    decode, decode_value, encode, AcsEvent, CallParticipant, CommunicationCloud,
    CommunicationIdentifier, DecodeError, Event, ResultInformation, KNOWN_EVENT_TYPES,
};

/// Arbitrary JSON, biased towards the keys and shapes events use so that the interesting
/// code paths (typed data with wrong field types, nulls...) are reached, not just the
/// "not an event" early exit.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type".to_owned()),
        Just("eventType".to_owned()),
        Just("specversion".to_owned()),
        Just("data".to_owned()),
        Just("time".to_owned()),
        Just("id".to_owned()),
        Just("rawId".to_owned()),
        Just("kind".to_owned()),
        Just("participants".to_owned()),
        Just("identifier".to_owned()),
        Just("resultInformation".to_owned()),
        Just("to".to_owned()),
        Just("from".to_owned()),
        Just("incomingCallContext".to_owned()),
        "[a-zA-Z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(json!("Microsoft.Communication.ParticipantsUpdated")),
        Just(json!("8:orgid:abc")),
        Just(json!("2025-06-16T19:25:59.7038152+00:00")),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An array of envelope-shaped objects with random types and random data.
fn event_array() -> impl Strategy<Value = Value> {
    let event_type = prop_oneof![
        prop::sample::select(KNOWN_EVENT_TYPES)
            .prop_map(|t| format!("Microsoft.Communication.{t}")),
        ".{0,30}",
    ];
    let element = (
        any::<bool>(),
        event_type,
        json_value(),
        proptest::option::of(".{0,40}"),
    )
        .prop_map(|(cloud_events, t, data, time)| {
            let mut m = Map::new();
            if cloud_events {
                m.insert("specversion".into(), json!("1.0"));
                m.insert("type".into(), json!(t));
            } else {
                m.insert("eventType".into(), json!(t));
            }
            m.insert("data".into(), data);
            if let Some(time) = time {
                m.insert("time".into(), json!(time));
            }
            Value::Object(m)
        });
    prop::collection::vec(element, 0..6).prop_map(Value::Array)
}

fn identifier() -> impl Strategy<Value = CommunicationIdentifier> {
    let part = "[a-z0-9-]{1,16}";
    prop_oneof![
        part.prop_map(|p| CommunicationIdentifier::communication_user(format!("8:acs:r_{p}"))),
        "\\+[1-9][0-9]{6,13}".prop_map(CommunicationIdentifier::phone),
        part.prop_map(CommunicationIdentifier::teams_user),
        (
            part,
            prop_oneof![
                Just(CommunicationCloud::Dod),
                Just(CommunicationCloud::Gcch)
            ]
        )
            .prop_map(|(p, cloud)| CommunicationIdentifier::MicrosoftTeamsUser {
                user_id: p,
                is_anonymous: false,
                cloud
            }),
        part.prop_map(|p| CommunicationIdentifier::Unknown {
            raw_id: format!("99:{p}")
        }),
    ]
}

fn result_info() -> impl Strategy<Value = Option<ResultInformation>> {
    proptest::option::of(
        (100i32..700, 0i32..10000, ".{0,20}").prop_map(|(c, s, m)| ResultInformation::new(c, s, m)),
    )
}

type Ids = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<ResultInformation>,
);

fn ids() -> impl Strategy<Value = Ids> {
    (
        proptest::option::of("[a-f0-9-]{8,36}"),
        proptest::option::of("[a-f0-9-]{8,36}"),
        proptest::option::of("[a-z:]{1,20}"),
        result_info(),
    )
}

fn typed_event() -> impl Strategy<Value = AcsEvent> {
    prop_oneof![
        (
            ids(),
            prop::collection::vec(
                (
                    identifier(),
                    proptest::option::of(any::<bool>()),
                    proptest::option::of(any::<bool>())
                ),
                0..4
            ),
            proptest::option::of(0i64..1000)
        )
            .prop_map(
                |((cc, corr, op, r), ps, seq)| AcsEvent::ParticipantsUpdated(
                    switchboard_events::ParticipantsUpdated {
                        call_connection_id: cc.map(Into::into),
                        correlation_id: corr.map(Into::into),
                        operation_context: op.map(Into::into),
                        result_information: r,
                        sequence_number: seq,
                        participants: ps
                            .into_iter()
                            .map(|(identifier, is_muted, is_on_hold)| CallParticipant {
                                identifier,
                                is_muted,
                                is_on_hold
                            })
                            .collect(),
                        ..Default::default()
                    }
                )
            ),
        (ids(), proptest::option::of(identifier())).prop_map(|((cc, corr, op, r), p)| {
            AcsEvent::AddParticipantFailed(switchboard_events::AddParticipantFailed {
                call_connection_id: cc.map(Into::into),
                correlation_id: corr.map(Into::into),
                operation_context: op.map(Into::into),
                result_information: r,
                participant: p,
                ..Default::default()
            })
        }),
        (
            ids(),
            proptest::option::of(identifier()),
            proptest::option::of(identifier())
        )
            .prop_map(|((cc, corr, op, r), target, transferee)| {
                AcsEvent::CallTransferFailed(switchboard_events::CallTransferFailed {
                    call_connection_id: cc.map(Into::into),
                    correlation_id: corr.map(Into::into),
                    operation_context: op.map(Into::into),
                    result_information: r,
                    transfer_target: target,
                    transferee,
                    ..Default::default()
                })
            }),
        (identifier(), identifier(), proptest::option::of(".{0,20}")).prop_map(
            |(to, from, name)| {
                AcsEvent::IncomingCall(switchboard_events::IncomingCall {
                    to,
                    from,
                    caller_display_name: name,
                    server_call_id: None,
                    correlation_id: Some("corr".into()),
                    incoming_call_context: Some(switchboard_events::IncomingCallContext::new(
                        "tok",
                    )),
                    custom_context: None,
                    on_behalf_of_callee: None,
                })
            }
        ),
    ]
}

fn check_error(e: &DecodeError) {
    // Errors are always non-retryable, always have a reason and a description.
    assert!(!e.is_retryable());
    assert!(!e.dead_letter_reason().is_empty());
    assert!(!e.to_string().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = decode(&bytes) { check_error(&e); }
    }

    #[test]
    fn never_panics_on_arbitrary_json(v in json_value()) {
        let text = serde_json::to_vec(&v).unwrap();
        match decode(&text) {
            Ok(d) => prop_assert!(!d.events.is_empty()),
            Err(e) => check_error(&e),
        }
    }

    #[test]
    fn arrays_account_for_every_element(v in event_array()) {
        let n = v.as_array().map(Vec::len).unwrap_or(0);
        match decode_value(v) {
            Ok(d) => {
                prop_assert!(d.is_array);
                prop_assert_eq!(d.events.len() + d.errors.len(), n, "nothing silently dropped");
                for (i, e) in d.errors.iter().enumerate() {
                    prop_assert!(e.index.is_some(), "element error {} has no index", i);
                }
            }
            Err(DecodeError::EmptyArray) => prop_assert_eq!(n, 0),
            Err(DecodeError::AllInvalid(errs)) => prop_assert_eq!(errs.len(), n),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn typed_events_round_trip(events in prop::collection::vec(typed_event(), 1..4), secs in 0i64..4_000_000_000) {
        let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        let wrapped: Vec<Event> = events
            .into_iter()
            .enumerate()
            .map(|(i, p)| Event::callback(p, format!("id-{i}"), t))
            .collect();
        let body = encode(&wrapped, true).unwrap();
        let d = decode(&body).unwrap();
        prop_assert!(d.errors.is_empty(), "{:?}", d.errors);
        prop_assert_eq!(d.events, wrapped);
    }
}
