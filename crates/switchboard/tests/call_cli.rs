//! `switchboard call …`: the real binary against a strict fake ACS (axum on 127.0.0.1:0) that
//! verifies each request's HMAC signature, routes it with the contract's operation table and
//! validates its body against the spec schema.

use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use switchboard_contract::hmac::{self, AccessKey};

const KEY: &str = "Y2xpLXRlc3Qta2V5LWJ5dGVzLTAxMjM0NTY3ODk=";
const AGENT: &str = "8:orgid:1c1e7c5f-0000-4000-8000-0000000000a1";

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Value,
    operation: String,
    signed: bool,
    schema_errors: Vec<String>,
}

#[derive(Default)]
struct Fake {
    seen: Mutex<Vec<Seen>>,
    /// Next status to answer with instead of the operation's success (one-shot).
    fail_next: Mutex<Option<(u16, Value)>>,
}

async fn handle(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = AccessKey::from_base64(KEY).unwrap();
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let hash = hmac::content_hash(&body);
    let sts = hmac::string_to_sign(
        method.as_str(),
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        get("x-ms-date"),
        get("host"),
        &hash,
    );
    let signed = get("x-ms-content-sha256") == hash
        && hmac::parse_authorization(get("authorization"))
            .is_some_and(|(_, sig)| key.verify(&sts, sig));
    let Some((op, _)) = switchboard_contract::find_operation(method.as_str(), uri.path()) else {
        return (StatusCode::NOT_FOUND, "no route").into_response();
    };
    let value: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let schema_errors = match (&op.body, body.is_empty()) {
        (Some(_), false) => op
            .validate_body(&value)
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect(),
        _ => Vec::new(),
    };
    fake.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers: headers.clone(),
        body: value,
        operation: op.operation_id.clone(),
        signed,
        schema_errors,
    });
    if !signed {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"code": "Unauthorized", "message": "bad signature"}})),
        )
            .into_response();
    }
    if let Some((status, body)) = fake.fail_next.lock().unwrap().take() {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    }
    let status = op.responses[0].status;
    let example = op.examples.iter().find_map(|name| {
        switchboard_contract::spec()
            .example(name)?
            .get("responses")?
            .get(status.to_string())?
            .get("body")
            .cloned()
    });
    let code = StatusCode::from_u16(status).unwrap();
    match (op.response_definition(status), example) {
        (Some(_), Some(body)) => (code, axum::Json(body)).into_response(),
        (Some(_), None) => (code, axum::Json(json!({}))).into_response(),
        (None, _) => code.into_response(),
    }
}

struct Server {
    addr: std::net::SocketAddr,
    fake: Arc<Fake>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start() -> Self {
        let fake = Arc::new(Fake::default());
        let app = Router::new().fallback(handle).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, fake, task }
    }

    fn connection_string(&self) -> String {
        format!("endpoint=http://{}/;accesskey={KEY}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.fake.seen.lock().unwrap())
    }
}

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
    let s = Server::start().await;
    let cs = s.connection_string();
    let out = run(
        &[
            "create",
            "--target",
            AGENT,
            "--callback-uri",
            "https://app.contoso.com/callback",
            "--source-display-name",
            "Contoso support",
            "--source-caller-id",
            "+18440123456",
            "--repeatability-id",
            "6529654d-ea69-5268-bdb8-aacfc9664fdc",
            "--first-sent",
            "2026-03-12T10:00:00Z",
        ],
        &[("SWITCHBOARD_ACS_CONNECTION_STRING", cs.as_str())],
    )
    .await;
    let json = stdout_json(&out);
    assert_eq!(
        json["callConnectionId"],
        "18dea47f-b081-4107-9a5c-4300819d2c6c"
    );
    let seen = s.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!((r.operation.as_str(), r.signed), ("CreateCall", true));
    assert!(r.schema_errors.is_empty(), "{:?}", r.schema_errors);
    assert_eq!(
        r.headers["repeatability-request-id"],
        "6529654d-ea69-5268-bdb8-aacfc9664fdc"
    );
    assert_eq!(
        r.headers["repeatability-first-sent"],
        "Thu, 12 Mar 2026 10:00:00 GMT"
    );
    assert_eq!(r.body["targets"][0]["rawId"], AGENT);
    assert_eq!(r.body["targets"][0]["kind"], "microsoftTeamsUser");
    assert_eq!(r.body["sourceCallerIdNumber"]["value"], "+18440123456");
}

#[tokio::test]
async fn add_participant_get_participant_and_hangups() {
    let s = Server::start().await;
    let cs = s.connection_string();
    let cs_arg = ["--connection-string", cs.as_str()];

    let out = run(
        &[
            &cs_arg[..],
            &[
                "add",
                "call-1",
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
    assert_eq!(
        stdout_json(&out)["invitationId"],
        "7b4244f8-d2ff-46d1-a629-4f9fb5f73d40"
    );

    let out = run(
        &[&cs_arg[..], &["participant", "call-1", "4:+14255550123"]].concat(),
        &[],
    )
    .await;
    assert!(stdout_json(&out)["identifier"].is_object());

    let out = run(&[&cs_arg[..], &["hangup", "call-1"]].concat(), &[]).await;
    assert_eq!(stdout_json(&out)["operation"], "CallConnection_HangupCall");
    let out = run(
        &[&cs_arg[..], &["hangup", "call-1", "--for-everyone"]].concat(),
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
                "srv-1",
                "--format",
                "wav",
            ],
        ]
        .concat(),
        &[],
    )
    .await;
    assert!(stdout_json(&out)["recordingId"].is_string());

    let seen = s.seen();
    let ops: Vec<(&str, &str)> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.operation.as_str()))
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
    assert!(seen.iter().all(|r| r.signed && r.schema_errors.is_empty()));
    assert_eq!(seen[0].body["invitationTimeoutInSeconds"], 30);
    assert_eq!(
        seen[0].body["customCallingContext"]["voipHeaders"]["x-queue"],
        "billing"
    );
    assert_eq!(
        seen[1].path,
        "/calling/callConnections/call-1/participants/4%3A%2B14255550123"
    );
    assert!(seen[3].headers.contains_key("repeatability-request-id"));
    assert_eq!(seen[4].body["recordingFormatType"], "wav");
    assert_eq!(seen[4].body["callLocator"]["kind"], "serverCallLocator");
}

#[tokio::test]
async fn bad_input_exits_2_with_a_clear_message_and_sends_nothing() {
    let s = Server::start().await;
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
    assert!(s.seen().is_empty(), "nothing reached the service");
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
    let s = Server::start().await;
    let cs = s.connection_string();
    *s.fake.fail_next.lock().unwrap() = Some((
        404,
        json!({"error": {"code": "8522", "message": "Call not found."}}),
    ));
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
    let wrong = format!("endpoint=http://{}/;accesskey=d3Jvbmcta2V5", s.addr);
    let out = run(&["--connection-string", &wrong, "get", "c1"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
    assert_eq!(s.seen().len(), 2);
}
