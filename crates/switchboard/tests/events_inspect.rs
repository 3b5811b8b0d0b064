//! `switchboard events inspect`, run as the real binary on fixture bodies.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn messages() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/messages")
}

/// Writes a fixture's raw body to `dir/<name>.body` and returns the path.
fn body_file(dir: &Path, fixture: &str) -> PathBuf {
    let f = switchboard_events::load_fixture(messages().join(format!("{fixture}.json"))).unwrap();
    let path = dir.join(format!("{fixture}.body"));
    std::fs::write(&path, f.body_bytes()).unwrap();
    path
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            pipe.write_all(bytes).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8(out.stderr.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn good_files_print_one_json_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let a = body_file(dir.path(), "synthetic-addparticipantfailed-408-teams-agent");
    let b = body_file(dir.path(), "synthetic-eventgrid-incomingcall-pstn-aeg");
    let c = body_file(
        dir.path(),
        "py-2026-03-12_test_play_with_invalid_file_sources_with_play_media-RESERIALIZED-single__ParticipantsUpdated_2",
    );
    let out = run(
        &[
            "events",
            "inspect",
            "--format",
            "json",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            c.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 3);
    let agent = "3f2b8c1e-5a7d-4e90-9b61-2c4d8e7f1a05";
    assert_eq!(
        got[0],
        json!({
            "type": "AddParticipantFailed",
            "eventType": "Microsoft.Communication.AddParticipantFailed",
            "schema": "cloudevents",
            "id": "4e310f75-76c2-5cce-b3f1-144e93543941",
            "time": "2026-03-20T10:16:10.1234567Z",
            "callConnectionId": "42005a80-7c1d-4f3e-9b2a-5d6e7f809a1b",
            "serverCallId": "aHR0cHM6Ly9hcGkuZmxpZ2h0cHJveHkuc2t5cGUuY29tL2FwaS92Mi9jcC9jb252LXVzZWEyLTAxLmNvbnYuc2t5cGUuY29tL2NvbnYvU3ludGhldGljQ2FsbD9pPTEmZT0x",
            "correlationId": "9c3e1f7a-2b4d-4c6e-8f01-a2b3c4d5e6f7",
            "operationContext": format!("switchboard:add:{agent}"),
            "result": {
                "code": 408,
                "subCode": 10004,
                "message": format!("addParticipants failed for participant 8:orgid:{agent}. Underlying reason: Request Timeout. DiagCode: 408#10004.@")
            },
            "participant": {
                "rawId": format!("8:orgid:{agent}"),
                "kind": "microsoftTeamsUser",
                "userId": agent,
                "isAnonymous": false,
                "cloud": "public"
            }
        })
    );
    assert_eq!(got[1]["type"], "IncomingCall");
    assert_eq!(got[1]["schema"], "eventgrid");
    assert_eq!(got[1]["id"], "5f0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d");
    assert_eq!(got[1]["callConnectionId"], Value::Null);
    assert_eq!(got[1]["operationContext"], Value::Null);
    assert_eq!(got[1]["result"], Value::Null);
    assert_eq!(
        got[1]["to"],
        json!({"rawId": "4:+18005550199", "kind": "phoneNumber", "phoneNumber": "+18005550199", "isAnonymous": false})
    );
    assert_eq!(got[1]["from"]["phoneNumber"], "+14255550123");
    assert_eq!(got[1]["callerDisplayName"], "");
    assert_eq!(got[1]["hasIncomingCallContext"], true);
    // The token itself is never printed.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("eyJhbGciOiJub25l"));
    assert_eq!(got[2]["type"], "ParticipantsUpdated");
    assert_eq!(got[2]["sequenceNumber"], 4);
    assert_eq!(got[2]["time"], "2026-09-15T11:36:13.3637761Z");
    let p1 = &got[2]["participants"][1];
    assert_eq!(p1["kind"], "communicationUser");
    assert_eq!(p1["isMuted"], false);
    assert_eq!(p1["isOnHold"], true);
}

#[test]
fn bad_file_among_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good1 = body_file(
        dir.path(),
        "java-2025-06-15_createVOIPCallAndAnswerThenAddParticipantFinallyRemoveParticipantAutomatedTest__CallConnected",
    );
    let bad = dir.path().join("garbage.body");
    std::fs::write(&bad, b"{\"id\": ").unwrap();
    let empty = dir.path().join("empty.body");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.body");
    let good2 = body_file(dir.path(), "synthetic-calltransferfailed-busy");
    let out = run(
        &[
            "events",
            "inspect",
            good1.to_str().unwrap(),
            bad.to_str().unwrap(),
            empty.to_str().unwrap(),
            missing.to_str().unwrap(),
            good2.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out.stdout);
    assert_eq!(
        got.iter()
            .map(|v| v["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["CallConnected", "CallTransferFailed"]
    );
    assert_eq!(
        got[1]["transferTarget"]["userId"],
        "3f2b8c1e-5a7d-4e90-9b61-2c4d8e7f1a05"
    );
    assert_eq!(got[1]["transferee"]["phoneNumber"], "+14255550123");
    let err = stderr_lines(&out);
    assert_eq!(err.len(), 3, "{err:?}");
    assert!(
        err[0].contains(bad.to_str().unwrap())
            && err[0].contains("not valid JSON")
            && err[0].contains("(NotJson)"),
        "{}",
        err[0]
    );
    assert!(
        err[1].contains(empty.to_str().unwrap()) && err[1].contains("message body is empty"),
        "{}",
        err[1]
    );
    assert!(
        err[2].contains(missing.to_str().unwrap()) && err[2].contains("cannot read file"),
        "{}",
        err[2]
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn partial_array_prints_good_events_and_reports_bad_elements() {
    let dir = tempfile::tempdir().unwrap();
    let f = body_file(dir.path(), "synthetic-partial-batch");
    let out = run(&["events", "inspect", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out.stdout);
    assert_eq!(
        got.iter()
            .map(|v| v["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["CallConnected", "PlayCompleted"]
    );
    let err = stderr_lines(&out);
    assert_eq!(err.len(), 1);
    assert!(err[0].contains("synthetic-partial-batch.body: array element 1: Microsoft.Communication.ParticipantsUpdated"), "{}", err[0]);
}

#[test]
fn stdin_dash() {
    let f = switchboard_events::load_fixture(
        messages().join("synthetic-incomingcall-data-anonymous-pstn.json"),
    )
    .unwrap();
    let out = run(&["events", "inspect", "-"], Some(f.body_bytes()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "IncomingCall");
    assert_eq!(got[0]["schema"], "data");
    assert_eq!(got[0]["id"], Value::Null);
    assert_eq!(got[0]["time"], Value::Null);
    assert_eq!(
        got[0]["from"],
        json!({"rawId": "4:anonymous", "kind": "phoneNumber", "phoneNumber": null, "isAnonymous": true})
    );
    assert_eq!(got[0]["callerDisplayName"], Value::Null);

    // Garbage on stdin is reported under the name `-`.
    let out = run(&["events", "inspect", "-"], Some(b"42"));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr_lines(&out);
    assert_eq!(err, ["switchboard events inspect: -: message body is not an event: expected a JSON object or array, got number (NotAnEvent)"]);
}

#[test]
fn text_format_and_fixture_mode() {
    let fixture = messages()
        .join("net-2024-09-01-preview_RemoveAUserCallTest__RemoveParticipantSucceeded.json");
    let out = run(
        &[
            "events",
            "inspect",
            "--format",
            "text",
            "--fixture",
            fixture.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.trim_end();
    assert!(!line.contains('\n'));
    assert!(
        line.starts_with(
            "RemoveParticipantSucceeded callConnectionId=02004780-0b77-4386-b0df-b8d15a7f7ceb "
        ),
        "{line}"
    );
    assert!(
        line.contains(" operationContext=MyTestOperationcontext "),
        "{line}"
    );
    assert!(line.contains(" participant=Sanitized "), "{line}");
    assert!(line.contains(" result=200/0 "), "{line}");
    assert!(
        line.ends_with(" time=2025-09-26T06:21:31.2421932Z"),
        "{line}"
    );

    // --fixture on something that is not a fixture document names the file.
    let dir = tempfile::tempdir().unwrap();
    let not_fixture = body_file(dir.path(), "synthetic-recognizecompleted-dtmf");
    let out = run(
        &[
            "events",
            "inspect",
            "--fixture",
            not_fixture.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_lines(&out);
    assert!(err[0].contains("not a fixture message"), "{err:?}");
}

#[test]
fn every_fixture_through_the_binary() {
    // All fixtures at once in --fixture mode: one line per event, one stderr line per
    // failure, counts matching what the library decodes.
    let mut paths: Vec<PathBuf> = std::fs::read_dir(messages())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let (mut events, mut failures) = (0, 0);
    for p in &paths {
        let f = switchboard_events::load_fixture(p).unwrap();
        match switchboard_events::decode(f.body_bytes()) {
            Ok(d) => {
                events += d.events.len();
                failures += d.errors.len();
            }
            Err(_) => failures += 1,
        }
    }
    let mut args = vec![
        "events".to_owned(),
        "inspect".to_owned(),
        "--fixture".to_owned(),
    ];
    args.extend(paths.iter().map(|p| p.to_str().unwrap().to_owned()));
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&arg_refs, None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out.stdout).len(), events);
    assert_eq!(stderr_lines(&out).len(), failures);
    assert!(events > 70 && failures >= 13, "{events} {failures}");
}

#[test]
fn usage_errors() {
    let out = run(&["events", "inspect"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FILE"));
    let out = run(&["events", "inspect", "--format", "yaml", "-"], Some(b""));
    assert!(!out.status.success());
}
