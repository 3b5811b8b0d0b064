//! `switchboard wallboard`: off this machine only with `stats.api_remote` (exit 64 naming it,
//! before the store is opened); on loopback it serves the page, `/api/stats` and the event
//! stream from the store, and SIGTERM ends it (open streams included) with exit 0. The page
//! itself is tested in a real browser: crates/switchboard-worker/tests/wallboard_browser.rs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn command(dir: &Path, toml: &str) -> Command {
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("wallboard").arg("-c").arg(&path);
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn toml(dir: &Path) -> String {
    format!(
        "[store]\nsqlite_path = {:?}\n[routing]\ndefault_queue = \"support\"\n[routing.queues.support]\n",
        dir.join("store.db").display().to_string()
    )
}

#[test]
fn off_this_machine_it_needs_api_remote_and_says_so_before_opening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), &toml(dir.path()))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("stats.api_remote"), "{err}");
    assert!(!dir.path().join("store.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_serves_the_page_the_figures_and_the_stream_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path(), &toml(dir.path()))
        .args(["--listen", "127.0.0.1:0", "--every", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let base = line
        .strip_prefix("switchboard wallboard on ")
        .unwrap_or_else(|| panic!("address line: {line}"))
        .trim_end_matches('/')
        .to_string();
    let http = reqwest::Client::new();

    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert!(page.status().is_success());
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("api/stats/stream"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing fetched from elsewhere"
    );

    let stats: serde_json::Value = http
        .get(format!("{base}/api/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["queues"][0]["queue"], "support");

    // The stream: an event `stats` carrying the same JSON shape, within a tick or two.
    let mut stream = http
        .get(format!("{base}/api/stats/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !text.contains("\n\n") || !text.contains("event: stats") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("a stats event within 20 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = text
        .lines()
        .skip_while(|l| *l != "event: stats")
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("a data line in {text:?}"));
    let pushed: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(pushed["queues"], stats["queues"], "same figures, pushed");

    // SIGTERM with the stream still open: the server ends it and exits 0.
    let started = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the wallboard did not stop within 10 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    drop(stream);
}
