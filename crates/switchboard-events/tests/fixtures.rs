//! Every fixture in `tests/fixtures/messages` decoded with exact expectations.
//!
//! Three layers:
//! 1. each fixture's own `expect` (types in order / dead-letter reason), which the import
//!    script derived from the raw JSON independently of this crate;
//! 2. a snapshot per fixture in `tests/fixtures/expected/<name>.json` holding the full
//!    `inspect` summary of every event (or the error), reviewed by hand when written;
//!    regenerate with `SWITCHBOARD_UPDATE_SNAPSHOTS=1 cargo test -p switchboard-events
//!    --test fixtures` and review the diff;
//! 3. hand-written assertions below for the behaviours the worker depends on.

use std::path::PathBuf;

use serde_json::{json, Value};
use switchboard_events::{
    decode, encode, inspect_json, load_fixture_dir, AcsEvent, AegEventType, CommunicationCloud,
    CommunicationIdentifier, DecodeError, Decoded, FixtureMessage, Outcome, Schema,
};

fn fixtures_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn all() -> Vec<FixtureMessage> {
    load_fixture_dir(fixtures_root().join("messages")).expect("fixtures load")
}

fn fixture(name: &str) -> FixtureMessage {
    all()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

fn decoded(name: &str) -> Decoded {
    decode(fixture(name).body_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn snapshot_of(result: &Result<Decoded, DecodeError>) -> Value {
    match result {
        Ok(d) => json!({
            "schema": d.schema.as_str(),
            "isArray": d.is_array,
            "events": d.events.iter().map(inspect_json).collect::<Vec<_>>(),
            "errors": d.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        }),
        Err(e) => json!({"deadLetterReason": e.dead_letter_reason(), "error": e.to_string()}),
    }
}

#[test]
fn fixture_set_is_complete() {
    let fixtures = all();
    let live = fixtures
        .iter()
        .filter(|f| !f.provenance.starts_with("synthetic:"))
        .count();
    // 63 captured payloads, plus our own synthetic and malformed messages.
    assert_eq!(live, 63);
    assert!(fixtures.len() >= 85, "{}", fixtures.len());
    for f in &fixtures {
        assert!(f.message_id.is_some(), "{}", f.name);
    }
}

#[test]
fn every_fixture_meets_its_expectation() {
    let failures: Vec<String> = all().iter().filter_map(|f| f.verify().err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fixture_matches_its_snapshot() {
    let update = std::env::var_os("SWITCHBOARD_UPDATE_SNAPSHOTS").is_some();
    let dir = fixtures_root().join("expected");
    let mut mismatches = Vec::new();
    let mut names = Vec::new();
    for f in all() {
        let got = snapshot_of(&decode(f.body_bytes()));
        let path = dir.join(format!("{}.json", f.name));
        names.push(format!("{}.json", f.name));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
            std::fs::write(&path, text).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let want: Value = serde_json::from_str(&text).unwrap();
                if want != got {
                    mismatches.push(format!("{}:\n  want {want}\n  got  {got}", f.name));
                }
            }
            Err(_) => mismatches.push(format!("{}: no snapshot at {}", f.name, path.display())),
        }
    }
    // No stale snapshots for fixtures that no longer exist.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && !names.contains(&name) {
            mismatches.push(format!("stale snapshot {name}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn every_decodable_fixture_round_trips_through_encode() {
    for f in all() {
        let Ok(d) = decode(f.body_bytes()) else {
            continue;
        };
        let body = encode(&d.events, d.is_array).unwrap();
        let again = decode(&body).unwrap_or_else(|e| panic!("{}: re-decode: {e}", f.name));
        assert_eq!(again.events, d.events, "{}", f.name);
        assert_eq!(again.schema, d.schema, "{}", f.name);
    }
}

#[test]
fn every_live_time_parses() {
    for f in all() {
        let Ok(d) = decode(f.body_bytes()) else {
            continue;
        };
        for e in &d.events {
            assert_eq!(e.envelope.time_raw, None, "{}: unparsed time", f.name);
            if e.envelope.schema != Schema::Data {
                assert!(e.envelope.time.is_some(), "{}: no time", f.name);
            }
        }
    }
}

#[test]
fn callbacks_know_their_call_connection() {
    // Every Call Automation callback in the set names its call leg, in data or subject,
    // and the two agree.
    for f in all() {
        let Ok(d) = decode(f.body_bytes()) else {
            continue;
        };
        for e in &d.events {
            if matches!(
                e.payload,
                AcsEvent::IncomingCall(_) | AcsEvent::Unknown { .. }
            ) {
                continue;
            }
            let cc = e
                .call_connection_id()
                .unwrap_or_else(|| panic!("{}", f.name));
            if let Some(from_path) = e.envelope.call_connection_id_from_path() {
                assert_eq!(cc, from_path, "{}", f.name);
            }
        }
    }
}

#[test]
fn eventgrid_incoming_call_with_aeg_properties() {
    let f = fixture("synthetic-eventgrid-incomingcall-pstn-aeg");
    let d = decode(f.body_bytes()).unwrap();
    assert_eq!((d.schema, d.is_array), (Schema::EventGrid, false));
    let e = &d.events[0];
    let AcsEvent::IncomingCall(ic) = &e.payload else {
        panic!("{:?}", e.payload)
    };
    assert_eq!(ic.normalized_to(), "+18005550199");
    assert_eq!(ic.from, CommunicationIdentifier::phone("+14255550123"));
    assert_eq!(
        ic.custom_context.as_ref().unwrap().sip_headers["X-MS-Custom-Intent"],
        "billing"
    );
    assert_eq!(e.envelope.data_version.as_deref(), Some("1.0"));
    assert_eq!(e.envelope.metadata_version.as_deref(), Some("1"));
    assert!(e
        .envelope
        .topic
        .as_deref()
        .unwrap()
        .ends_with("/switchboard-acs"));
    let meta = f.metadata();
    let aeg = meta.event_grid();
    assert_eq!(aeg.event_type, Some(AegEventType::Notification));
    assert_eq!(aeg.delivery_count, Some(0));
    assert_eq!(
        aeg.subscription_name.as_deref(),
        Some("SWITCHBOARD-INCOMING")
    );
    // aeg-output-event-id is the event's own id.
    assert_eq!(aeg.output_event_id, e.envelope.id);
    assert_eq!(e.call_connection_id(), None);

    let f = fixture("synthetic-cloudevents-incomingcall-pstn-aeg");
    let d = decode(f.body_bytes()).unwrap();
    assert_eq!((d.schema, d.is_array), (Schema::CloudEvents, false));
    assert_eq!(f.metadata().aeg_data_version(), None);
    assert_eq!(f.metadata().aeg_metadata_version().as_deref(), Some("1.0"));
    assert_eq!(d.events[0].short_type(), "IncomingCall");
}

#[test]
fn docs_incoming_calls_in_both_schemas() {
    let eg = decoded("docs-restapispecs-eventgridschema__IncomingCall");
    let ce = decoded("docs-restapispecs-cloudeventsschema__IncomingCall");
    assert_eq!(eg.schema, Schema::EventGrid);
    assert_eq!(ce.schema, Schema::CloudEvents);
    let (AcsEvent::IncomingCall(a), AcsEvent::IncomingCall(b)) =
        (&eg.events[0].payload, &ce.events[0].payload)
    else {
        panic!()
    };
    assert_eq!(a.to, b.to);
    assert_eq!(
        a.on_behalf_of_callee,
        Some(CommunicationIdentifier::communication_user("{caller-id}"))
    );
    assert_eq!(b.on_behalf_of_callee, None);
    assert_eq!(
        eg.events[0].envelope.id.as_ref().unwrap(),
        "e80026e7-e298-46ba-bc42-dab0eda92581"
    );
    assert_eq!(
        eg.events[0].envelope.time,
        Some(time::macros::datetime!(2023-04-04 17:18:42.5542219 UTC))
    );
}

#[test]
fn data_only_incoming_calls() {
    let d = decoded("py-2023-06-noversion_test_play_media_in_a_call__IncomingCall-dataOnly");
    assert_eq!(d.schema, Schema::Data);
    let AcsEvent::IncomingCall(ic) = &d.events[0].payload else {
        panic!()
    };
    assert_eq!(
        ic.normalized_to(),
        "8:acs:1bdaa2b9-9507-4542-bb64-a7b22c00a8d4_00000019-5677-73e6-99c6-593a0d001c71"
    );
    // The context is a multi-kilobyte token, present but not printed.
    let ctx = ic.incoming_call_context.as_ref().unwrap();
    assert!(ctx.len() > 4000);
    assert!(!format!("{ic:?}").contains(&ctx.expose()[..40]));

    let d = decoded("synthetic-incomingcall-data-anonymous-pstn");
    let AcsEvent::IncomingCall(ic) = &d.events[0].payload else {
        panic!()
    };
    assert_eq!(ic.from, CommunicationIdentifier::phone("anonymous"));
    assert_eq!(ic.from.phone_number(), None);
    assert_eq!(ic.normalized_to(), "+18005550199");
    assert_eq!(ic.caller_display_name, None);
}

#[test]
fn teams_participants() {
    let d = decoded("synthetic-participantsupdated-teams-agents");
    let AcsEvent::ParticipantsUpdated(p) = &d.events[0].payload else {
        panic!()
    };
    assert_eq!(p.sequence_number, Some(5));
    let kinds: Vec<&str> = p.participants.iter().map(|p| p.identifier.kind()).collect();
    assert_eq!(
        kinds,
        [
            "phoneNumber",
            "communicationUser",
            "microsoftTeamsUser",
            "microsoftTeamsUser",
            "teamsExtensionUser",
            "microsoftTeamsApp"
        ]
    );
    let agent = "3f2b8c1e-5a7d-4e90-9b61-2c4d8e7f1a05";
    assert_eq!(
        p.participants[2].identifier,
        CommunicationIdentifier::teams_user(agent)
    );
    assert_eq!(
        p.participants[3].identifier,
        CommunicationIdentifier::MicrosoftTeamsUser {
            user_id: "b71d9e22-4c3a-4f1b-8e6d-0a9b8c7d6e5f".into(),
            is_anonymous: false,
            cloud: CommunicationCloud::Gcch
        }
    );
    assert_eq!(
        (p.participants[3].is_muted, p.participants[3].is_on_hold),
        (Some(true), None)
    );
    assert_eq!(p.participants[4].identifier.teams_user_id().unwrap(), agent);
    assert_eq!(p.participants[4].is_on_hold, Some(true));
    // `\u002B` escapes in the body decode to '+'.
    assert_eq!(
        p.participants[0].identifier.phone_number(),
        Some("+14255550123")
    );
}

#[test]
fn add_participant_failures_classify() {
    let d = decoded("synthetic-addparticipantfailed-408-teams-agent");
    let e = &d.events[0];
    let r = e.result_information().unwrap();
    assert!(r.is_timeout());
    assert_eq!(r.outcome(), Outcome::Timeout);
    let AcsEvent::AddParticipantFailed(a) = &e.payload else {
        panic!()
    };
    assert_eq!(
        a.participant.as_ref().unwrap().teams_user_id().unwrap(),
        "3f2b8c1e-5a7d-4e90-9b61-2c4d8e7f1a05"
    );
    assert_eq!(
        e.operation_context().unwrap(),
        "switchboard:add:3f2b8c1e-5a7d-4e90-9b61-2c4d8e7f1a05"
    );

    let d = decoded("synthetic-addparticipantfailed-603-declined");
    let r = d.events[0].result_information().unwrap();
    assert!(r.is_declined());
    assert_eq!(r.outcome(), Outcome::Declined);

    // A live CancelAddParticipantSucceeded reports 487: cancelled, which is its success.
    let d = decoded("java-2025-06-15_createVOIPCallAndAnswerThenAddParticipantFinallyCancelAddParticipant__CancelAddParticipantSucceeded");
    let r = d.events[0].result_information().unwrap();
    assert_eq!((r.code, r.sub_code), (Some(487), Some(5234)));
    assert_eq!(r.outcome(), Outcome::Cancelled);
    let AcsEvent::CancelAddParticipantSucceeded(c) = &d.events[0].payload else {
        panic!()
    };
    assert_eq!(
        c.invitation_id.as_ref().unwrap(),
        "8737c343-bc96-4b06-b9da-9e647edc7690"
    );
}

#[test]
fn transfers() {
    let d = decoded("synthetic-calltransferfailed-busy");
    let AcsEvent::CallTransferFailed(t) = &d.events[0].payload else {
        panic!()
    };
    assert_eq!(
        t.transferee,
        Some(CommunicationIdentifier::phone("+14255550123"))
    );
    assert!(t.result_information.as_ref().unwrap().is_busy());

    let d =
        decoded("java-fixture-2023-07_CallAutomationEventParserUnitTests__CallTransferAccepted");
    let AcsEvent::CallTransferAccepted(t) = &d.events[0].payload else {
        panic!()
    };
    assert_eq!(
        t.transfer_target.as_ref().unwrap().raw_id(),
        "8:acs:3afbe310-c6d9-4b6f-a11e-c2aeb352f207_0000001a-0f2f-2234-655d-573a0d00443e"
    );
    assert_eq!(t.result_information.as_ref().unwrap().sub_code, Some(7015));
    // The 2023 fixture is pretty-printed with a trailing newline: still one array event.
    assert!(d.is_array);
}

#[test]
fn payload_eras() {
    // 2022 pre-GA: flat participants, no version, no resultInformation, no isOnHold.
    let d = decoded("net-2022-11-noversion_RemoveAUserCallTest__ParticipantsUpdated");
    let AcsEvent::ParticipantsUpdated(p) = &d.events[0].payload else {
        panic!()
    };
    assert_eq!(p.version, None);
    assert_eq!(p.result_information, None);
    assert_eq!(p.sequence_number, None);
    assert_eq!(p.participants.len(), 2);
    assert_eq!(p.participants[0].is_muted, None);

    // A participant with only a (sanitised) rawId is kept as unknown.
    let d = decoded(
        "net-2022-11-noversion_RecordingOperationsTest__ParticipantsUpdated-rawIdOnlyParticipant",
    );
    let AcsEvent::ParticipantsUpdated(p) = &d.events[0].payload else {
        panic!()
    };
    assert_eq!(
        p.participants[1].identifier,
        CommunicationIdentifier::Unknown {
            raw_id: "Sanitized".into()
        }
    );

    // 2022-08 preview: source/subject end with the event name; data has a `type` field.
    let d =
        decoded("java-fixture-2022-08-preview_CallAutomationEventParserUnitTests__CallConnected");
    assert!(!d.is_array);
    let e = &d.events[0];
    assert_eq!(
        e.call_connection_id().unwrap(),
        "401f3500-62bd-46a9-8c09-9e1b06caca01"
    );
    assert_eq!(
        e.envelope.call_connection_id_from_path().unwrap(),
        "401f3500-62bd-46a9-8c09-9e1b06caca01"
    );
    assert_eq!(e.server_call_id(), None);

    // 2023-10 preview: operationContext present, no resultInformation.
    let d =
        decoded("net-2023-10-03-preview_CancelAddParticipantTest__CancelAddParticipantSucceeded");
    assert_eq!(d.events[0].operation_context().unwrap(), "context");
    assert_eq!(d.events[0].result_information(), None);
    assert_eq!(d.events[0].payload.version(), Some("2023-10-03-preview"));

    // 2026-03-12: isOnHold true, 5-digit fraction in time.
    let d = decoded("py-2026-03-12_test_play_with_invalid_file_sources_with_play_media-RESERIALIZED-single__ParticipantsUpdated_2");
    let AcsEvent::ParticipantsUpdated(p) = &d.events[0].payload else {
        panic!()
    };
    assert_eq!(p.participants[1].is_on_hold, Some(true));
    let d = decoded("py-2026-03-12_test_play_with_invalid_file_sources_with_play_media-RESERIALIZED-single__ParticipantsUpdated");
    assert_eq!(
        d.events[0].envelope.time,
        Some(time::macros::datetime!(2026-09-15 11:36:08.05571 UTC))
    );
}

#[test]
fn recording_state_changed_subject_is_not_a_call_connection() {
    let d = decoded("py-2024-09-01-preview_test_start_recording_with_call_connection_id-RESERIALIZED-single__RecordingStateChanged");
    let e = &d.events[0];
    assert!(e
        .envelope
        .subject
        .as_deref()
        .unwrap()
        .starts_with("calling/recordings/"));
    assert_eq!(e.envelope.call_connection_id_from_path(), None);
    assert_eq!(
        e.call_connection_id().unwrap(),
        "05002380-aaae-4b05-ac29-0cab5fef4e29"
    );
    let AcsEvent::RecordingStateChanged(r) = &e.payload else {
        panic!()
    };
    assert_eq!(r.state.as_ref().unwrap().as_str(), "active");
    assert!(r
        .recording_id
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with("eyJQbGF0Zm9ybUVuZHBvaW50SWQi"));
    assert_eq!(
        switchboard_events::parse_timestamp(r.start_date_time.as_deref().unwrap()),
        Some(time::macros::datetime!(2025-03-17 05:20:58.2137966 UTC))
    );
}

#[test]
fn play_failed_and_dtmf() {
    let d = decoded("py-2026-03-12_test_play_with_invalid_file_sources_with_play_media-RESERIALIZED-single__PlayFailed");
    let AcsEvent::PlayFailed(p) = &d.events[0].payload else {
        panic!()
    };
    assert_eq!(p.failed_play_source_index, Some(0));
    let r = p.result_information.as_ref().unwrap();
    assert_eq!((r.code, r.sub_code), (Some(400), Some(8535)));

    let d = decoded("synthetic-recognizecompleted-dtmf");
    let AcsEvent::RecognizeCompleted(r) = &d.events[0].payload else {
        panic!()
    };
    assert_eq!(r.dtmf_result.as_ref().unwrap().digits(), "2#");
}

#[test]
fn partial_batch_and_unknown_types() {
    let d = decoded("synthetic-partial-batch");
    assert_eq!(d.events.len(), 2);
    assert_eq!(d.errors.len(), 1);
    let (reason, text) = d.dead_letter().unwrap();
    assert_eq!(reason, "PartiallyInvalidBatch");
    assert!(
        text.contains("array element 1: Microsoft.Communication.ParticipantsUpdated"),
        "{text}"
    );

    let d = decoded("synthetic-unknown-event-types");
    assert!(d.events.iter().all(|e| e.short_type() == "Unknown"));
    let AcsEvent::Unknown { data, .. } = &d.events[1].payload else {
        panic!()
    };
    assert_eq!(data, &json!("free text"));
}

#[test]
fn malformed_fixtures_dead_letter_with_reasons() {
    for (name, reason) in [
        ("malformed-empty-body", "EmptyBody"),
        ("malformed-whitespace-body", "EmptyBody"),
        ("malformed-truncated-json", "NotJson"),
        ("malformed-not-json-text", "NotJson"),
        ("malformed-json-scalar", "NotAnEvent"),
        ("malformed-object-not-event", "NotAnEvent"),
        ("malformed-cloudevent-without-specversion", "NotAnEvent"),
        ("malformed-empty-array", "EmptyArray"),
        ("malformed-array-missing-type", "InvalidEvents"),
        ("malformed-data-not-object", "InvalidEvent"),
        ("malformed-participant-without-identity", "InvalidEvent"),
        ("malformed-incomingcall-missing-to", "InvalidEvent"),
    ] {
        let err = decode(fixture(name).body_bytes()).unwrap_err();
        assert_eq!(err.dead_letter_reason(), reason, "{name}: {err}");
        assert!(!err.is_retryable());
    }
    let err = decode(fixture("malformed-incomingcall-missing-to").body_bytes()).unwrap_err();
    assert!(err.to_string().contains("missing field `to`"), "{err}");
}

#[test]
fn idempotency_keys_across_the_fixture_set() {
    use std::collections::BTreeMap;
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in all() {
        let Ok(d) = decode(f.body_bytes()) else {
            continue;
        };
        for e in &d.events {
            let key = e
                .idempotency_key()
                .unwrap_or_else(|| panic!("{}: event without idempotency key", f.name));
            seen.entry(key).or_default().push(f.name.clone());
        }
    }
    let dups: Vec<Vec<String>> = seen.into_values().filter(|v| v.len() > 1).collect();
    // The only collision is the docs example published in both schemas: the same event
    // (same id and time), which the worker must indeed handle once. The sanitised .NET
    // captures that share the id `Sanitized` (e.g. ParticipantsUpdated seq 1 and 3) stay
    // distinct.
    assert_eq!(
        dups,
        [vec![
            "docs-restapispecs-cloudeventsschema__IncomingCall".to_owned(),
            "docs-restapispecs-eventgridschema__IncomingCall".to_owned()
        ]]
    );
}
