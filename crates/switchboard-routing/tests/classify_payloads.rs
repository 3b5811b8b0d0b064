//! Classification of real IncomingCall payloads (see `fixtures/README.md`).

use std::path::PathBuf;

use serde_json::Value;
use switchboard_routing::{classify, IncomingCallInfo, RoutingConfig};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The IncomingCall `data` object, whether the file is an Event Grid envelope or data only.
fn incoming(name: &str) -> IncomingCallInfo {
    let v = fixture(name);
    let data = v.get("data").cloned().unwrap_or(v);
    serde_json::from_value(data).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const FILES: [&str; 4] = [
    "docs-restapispecs-eventgridschema__IncomingCall.json",
    "java-2025-06-15_createVOIPCallAndAnswerThenAddParticipantFinallyRemoveParticipantAutomatedTest__IncomingCall-dataOnly.json",
    "net-2022-11-noversion_RemoveAUserCallTest__IncomingCall-dataOnly.json",
    "py-2026-03-12_test_play_with_invalid_file_sources_with_play_media-RESERIALIZED-single__IncomingCall-dataOnly.json",
];

fn cfg() -> RoutingConfig {
    RoutingConfig::from_toml_str(
        r#"
        default_queue = "general"
        [queues.general]
        [queues.acs-app]
        [queues.crm]
        [queues.voip]

        [[rules]]
        header = { name = "myheader1", value = "3556*" }
        queue = "crm"

        [[rules]]
        header = { name = "customHeader", value = "customvalue" }
        queue = "voip"

        [[rules]]
        dialed = ["8:acs:6d889502-3d7a-41a8-befa-d21fd80e8767_*"]
        queue = "acs-app"
        "#,
    )
    .unwrap()
}

#[test]
fn every_fixture_parses() {
    for f in FILES {
        let call = incoming(f);
        assert!(!call.from.raw_id().is_empty(), "{f}");
    }
}

#[test]
fn docs_example_custom_sip_header_classifies() {
    let call = incoming(FILES[0]);
    assert_eq!(call.header("X-MS-Custom-myheader1"), Some("35567842"));
    assert_eq!(call.header("myheader2"), Some("customsipheadervalue"));
    assert_eq!(call.header("customHeader"), Some("customValue"));
    assert_eq!(classify(&call, None, &cfg()), "crm".into());
}

#[test]
fn voip_header_classifies_when_no_sip_rule_matches() {
    let mut call = incoming(FILES[0]);
    call.custom_context.sip_headers.clear();
    assert_eq!(classify(&call, None, &cfg()), "voip".into());
}

#[test]
fn live_acs_user_callee_matches_by_raw_id_prefix() {
    let call = incoming(FILES[3]);
    assert_eq!(classify(&call, None, &cfg()), "acs-app".into());
}

#[test]
fn live_payloads_without_custom_context_go_to_the_default_queue() {
    for f in &FILES[1..3] {
        assert_eq!(
            classify(&incoming(f), None, &cfg()),
            "general".into(),
            "{f}"
        );
    }
}

#[test]
fn typed_incoming_call_events_convert_to_the_same_facts() {
    for f in FILES {
        let v = fixture(f);
        let data = v.get("data").cloned().unwrap_or(v);
        let typed: switchboard_events::IncomingCall =
            serde_json::from_value(data).unwrap_or_else(|e| panic!("{f}: {e}"));
        let from_event = IncomingCallInfo::from(&typed);
        assert_eq!(from_event, incoming(f), "{f}");
        assert_eq!(
            classify(&from_event, None, &cfg()),
            classify(&incoming(f), None, &cfg()),
            "{f}"
        );
    }
}
