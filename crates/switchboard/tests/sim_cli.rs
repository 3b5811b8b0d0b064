//! `switchboard sim` as a process: one JSON ready line on stdout, a working server behind
//! it, a clean stop on SIGTERM and SIGINT, exit 64 on bad configuration.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../switchboard-sim/examples/seed.json"
);

struct Sim {
    child: Child,
    ready: serde_json::Value,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> Sim {
    let mut child = Command::new(BIN)
        .arg("sim")
        .args(args)
        .env("SWITCHBOARD_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a ready line");
    let ready: serde_json::Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("ready line is JSON ({e}): {line:?}"));
    Sim { child, ready }
}

/// A tiny HTTP/1.1 GET without extra dependencies.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the simulator did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(sig)
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

#[cfg(unix)]
#[test]
fn ready_line_serves_and_stops_on_sigterm() {
    let mut sim = spawn(&[
        "--port",
        "0",
        "--seed",
        SEED,
        "--random-seed",
        "1",
        "--resource-id",
        "res-123",
    ]);
    let r = &sim.ready;
    let addr = r["address"].as_str().unwrap().to_owned();
    assert!(addr.starts_with("127.0.0.1:"));
    assert_eq!(r["endpoint"], format!("http://{addr}/"));
    assert!(r["connectionString"]
        .as_str()
        .unwrap()
        .starts_with(&format!("endpoint=http://{addr}/;accesskey=")));
    assert_eq!(r["resourceId"], "res-123");
    assert_eq!(r["jwksUrl"], format!("http://{addr}/calling/keys"));
    assert_eq!(
        r["openidConfigurationUrl"],
        format!("http://{addr}/calling/.well-known/acsopenidconfiguration")
    );
    assert_eq!(r["graphBaseUrl"], format!("http://{addr}"));
    assert_eq!(r["controlUrl"], format!("http://{addr}/__sim"));
    // Text prompts need it on answer (ADR 0009): the ready line hands one out.
    assert_eq!(
        r["cognitiveServicesEndpoint"],
        "https://switchboard-sim.cognitiveservices.azure.com/"
    );

    let (status, body) = http_get(&addr, "/__sim/health");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(&addr, "/__sim/agents");
    assert_eq!(status, 200);
    let agents: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(agents.as_array().unwrap().len(), 5, "seeded from the file");
    let (status, body) = http_get(&addr, "/calling/keys");
    assert_eq!(status, 200);
    assert!(body.contains("RS256"));

    signal(&sim.child, "-TERM");
    let status = wait_exit(&mut sim.child);
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    sim.child
        .stdout
        .take()
        .map(|mut o| o.read_to_string(&mut rest));
    assert!(
        rest.trim().is_empty(),
        "exactly one line on stdout, got more: {rest:?}"
    );
    let mut err = String::new();
    sim.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("simulator"), "logs go to stderr: {err}");
    assert!(
        !err.contains(r["connectionString"].as_str().unwrap()),
        "no secrets in logs"
    );
}

#[cfg(unix)]
#[test]
fn stops_on_sigint() {
    let mut sim = spawn(&["--time-scale", "0.5"]);
    signal(&sim.child, "-INT");
    assert!(wait_exit(&mut sim.child).success());
}

#[test]
fn bad_configuration_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let bad_seed = dir.path().join("seed.json");
    std::fs::write(&bad_seed, r#"{"agents": [{"id": 1}]}"#).unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec!["--seed".into(), bad_seed.display().to_string()],
        vec![
            "--seed".into(),
            dir.path().join("missing.json").display().to_string(),
        ],
        vec!["--access-key".into(), "not base64!!".into()],
        vec!["--time-scale=-1".into()],
        vec!["--sink-url".into(), "ftp://x".into()],
    ];
    for args in cases {
        let out = Command::new(BIN).arg("sim").args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "no ready line for {args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("invalid configuration") || err.contains("access key"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
