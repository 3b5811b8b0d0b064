//! `switchboard call …`: the real binary against the ACS simulator (in-process, 127.0.0.1
//! port 0), which verifies each request's HMAC signature, routes it with the spec's
//! operation table, validates its body against the spec schema and acts on it in its
//! simulated world; its request log records all of that.

#[path = "../../switchboard-callautomation/tests/common/mod.rs"]
mod acs;

use std::process::Output;

use acs::{Acs, KEY_B64 as KEY};
use serde_json::Value;
use switchboard_sim::{AuthCheck, SchemaCheck};

const AGENT: &str = "8:orgid:a1b2c3d4-0000-4000-8000-000000000001";

/// Runs `switchboard call …` with a clean environment plus `envs`.
async fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("call").args(args);
    cmd.env_remove("SWITCHBOARD_ACS_CONNECTION_STRING");
    cmd.env_remove("RUST_LOG");
    cmd.env("SWITCHBOARD_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn create_with_repeatability_from_the_environment() {
    let s = Acs::hmac().await;
    let cs = s.connection_string();
    let out = run(
        &[
            "create",
            "--target",
            AGENT,
            "--callback-uri",
            acs::CALLBACK,
            "--source-display-name",
            "Contoso support",
            "--source-caller-id",
            acs::NUMBER,
            "--repeatability-id",
            "6529654d-ea69-5268-bdb8-aacfc9664fdc",
            "--first-sent",
            "2026-03-12T10:00:00Z",
        ],
        &[("SWITCHBOARD_ACS_CONNECTION_STRING", cs.as_str())],
    )
    .await;
    let json = stdout_json(&out);
    let id = json["callConnectionId"].as_str().unwrap();
    assert!(s.sim.call(id).is_some(), "the simulator placed call {id}");
    let seen = s.take_requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(
        (r.operation.as_deref(), &r.auth),
        (Some("CreateCall"), &AuthCheck::Hmac)
    );
    assert_eq!(r.schema, SchemaCheck::Valid);
    assert_eq!(
        r.header("repeatability-request-id"),
        Some("6529654d-ea69-5268-bdb8-aacfc9664fdc")
    );
    assert_eq!(
        r.header("repeatability-first-sent"),
        Some("Thu, 12 Mar 2026 10:00:00 GMT")
    );
    let body = r.json().unwrap();
    assert_eq!(body["targets"][0]["rawId"], AGENT);
    assert_eq!(body["targets"][0]["kind"], "microsoftTeamsUser");
    assert_eq!(body["sourceCallerIdNumber"]["value"], acs::NUMBER);
}

#[tokio::test]
async fn add_participant_get_participant_and_hangups() {
    let s = Acs::hmac().await;
    // One call for the participant commands, one each for the two ways of hanging up, one
    // to record.
    let call = s.connected_call().await.id;
    let (hang_up, terminate) = (s.connected_call().await.id, s.connected_call().await.id);
    let recorded = s.connected_call().await;
    let cs = s.connection_string();
    let cs_arg = ["--connection-string", cs.as_str()];

    let out = run(
        &[
            &cs_arg[..],
            &[
                "add",
                call.as_str(),
                "--participant",
                AGENT,
                "--invitation-timeout",
                "30",
                "--voip-header",
                "x-queue=billing",
                "--operation-context",
                "offer-1",
            ],
        ]
        .concat(),
        &[],
    )
    .await;
    let invitation = s.sim.call(call.as_str()).unwrap().invitations[0]
        .invitation_id
        .clone();
    assert_eq!(stdout_json(&out)["invitationId"], invitation.as_str());

    let out = run(
        &[
            &cs_arg[..],
            &["participant", call.as_str(), "4:+14255550123"],
        ]
        .concat(),
        &[],
    )
    .await;
    assert!(stdout_json(&out)["identifier"].is_object());

    let out = run(&[&cs_arg[..], &["hangup", hang_up.as_str()]].concat(), &[]).await;
    assert_eq!(stdout_json(&out)["operation"], "CallConnection_HangupCall");
    let out = run(
        &[
            &cs_arg[..],
            &["hangup", terminate.as_str(), "--for-everyone"],
        ]
        .concat(),
        &[],
    )
    .await;
    assert_eq!(
        stdout_json(&out)["operation"],
        "CallConnection_TerminateCall"
    );

    let out = run(
        &[
            &cs_arg[..],
            &[
                "recording",
                "start",
                "--server-call-id",
                recorded.server_call_id.as_str(),
                "--format",
                "wav",
            ],
        ]
        .concat(),
        &[],
    )
    .await;
    assert!(stdout_json(&out)["recordingId"].is_string());

    let seen = s.take_requests();
    let ops: Vec<(&str, &str)> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.operation.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        ops,
        [
            ("POST", "CallConnection_AddParticipant"),
            ("GET", "CallConnection_GetParticipant"),
            ("DELETE", "CallConnection_HangupCall"),
            ("POST", "CallConnection_TerminateCall"),
            ("POST", "CallRecording_StartRecording"),
        ]
    );
    assert!(seen
        .iter()
        .all(|r| r.auth == AuthCheck::Hmac && r.schema == SchemaCheck::Valid));
    let add = seen[0].json().unwrap();
    assert_eq!(add["invitationTimeoutInSeconds"], 30);
    assert_eq!(
        add["customCallingContext"]["voipHeaders"]["x-queue"],
        "billing"
    );
    assert_eq!(
        seen[1].path,
        format!("/calling/callConnections/{call}/participants/4%3A%2B14255550123")
    );
    assert!(seen[3].has_header("repeatability-request-id"));
    let record = seen[4].json().unwrap();
    assert_eq!(record["recordingFormatType"], "wav");
    assert_eq!(record["callLocator"]["kind"], "serverCallLocator");
}

#[tokio::test]
async fn bad_input_exits_2_with_a_clear_message_and_sends_nothing() {
    let s = Acs::hmac().await;
    let cs = s.connection_string();
    let cases: &[(&[&str], &str)] = &[
        (
            &["add", "c1", "--participant", "bob"],
            "unrecognised id \"bob\"",
        ),
        (&["add", "c1", "--participant", "4:555-0123"], "not E.164"),
        (
            &[
                "add",
                "c1",
                "--participant",
                AGENT,
                "--invitation-timeout",
                "181",
            ],
            "181 is not in 0..=180",
        ),
        (&["participant", "c1", "8:orgid:"], "Teams user id missing"),
        (
            &[
                "create",
                "--target",
                AGENT,
                "--callback-uri",
                "https://cb",
                "--first-sent",
                "now",
            ],
            "--repeatability-id",
        ),
        (
            &[
                "create",
                "--target",
                AGENT,
                "--callback-uri",
                "https://cb",
                "--repeatability-id",
                "x",
            ],
            "is not a UUID",
        ),
        (
            &[
                "hangup",
                "c1",
                "--repeatability-id",
                "6529654d-ea69-5268-bdb8-aacfc9664fdc",
            ],
            "--for-everyone only",
        ),
        (&["play", "c1"], "--file"),
        (
            &[
                "recording",
                "start",
                "--call-connection-id",
                "c",
                "--format",
                "flac",
            ],
            "wav, mp3, mp4",
        ),
    ];
    for (args, expected) in cases {
        let out = run(args, &[("SWITCHBOARD_ACS_CONNECTION_STRING", cs.as_str())]).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
    }
    assert!(s.requests().is_empty(), "nothing reached the service");
}

#[tokio::test]
async fn missing_or_bad_connection_string_exits_2_without_echoing_the_key() {
    let out = run(&["get", "c1"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no connection string"),
        "{}",
        stderr(&out)
    );

    for (cs, expected) in [
        (
            format!("endpoint=ftp://x;accesskey={KEY}"),
            "scheme must be http or https",
        ),
        (format!("accesskey={KEY}"), "no endpoint"),
        (
            "endpoint=https://x.communication.azure.com/".to_owned(),
            "no accesskey",
        ),
        (
            "endpoint=https://x/;accesskey=not*base64".to_owned(),
            "not valid base64",
        ),
    ] {
        let out = run(&["--connection-string", &cs, "get", "c1"], &[]).await;
        assert_eq!(out.status.code(), Some(2), "{cs}");
        let err = stderr(&out);
        assert!(err.contains(expected), "{cs}: {err}");
        assert!(!err.contains(KEY), "the key leaked: {err}");
    }
}

#[tokio::test]
async fn service_errors_exit_1_and_explain() {
    let s = Acs::hmac().await;
    let cs = s.connection_string();
    // The simulator has never seen "gone-call": its 404 / 8522.
    let out = run(
        &[
            "--connection-string",
            &cs,
            "play",
            "gone-call",
            "--text",
            "hello",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("call connection not found") && err.contains("8522"),
        "{err}"
    );
    // A wrong key is refused by the service with 401, not retried.
    let wrong = format!("endpoint={};accesskey=d3Jvbmcta2V5", s.sim.endpoint());
    let out = run(&["--connection-string", &wrong, "get", "c1"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
    assert_eq!(s.requests().len(), 2);
}
