//! `switchboard stats` and `switchboard calls`: a bad `[stats]` key is a configuration error
//! naming the key (exit 64, before the store is opened), bad filters are usage errors, and
//! an empty store gives empty output in every format. (With real calls: tests/e2e/stats.rs.)

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, toml: &str, args: &[&str]) -> Output {
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(args).arg("-c").arg(&path);
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") {
            cmd.env_remove(k);
        }
    }
    cmd.output().unwrap()
}

fn store(dir: &Path) -> String {
    format!(
        "[store]\nsqlite_path = {:?}\n",
        dir.join("store.db").display().to_string()
    )
}

#[test]
fn a_bad_stats_key_exits_64_naming_it_before_the_store_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("time_zone = \"Europe/Paris\"", "stats.time_zone"),
        ("history_days = 0", "stats.history_days"),
        ("service_level_secs = 0", "stats.service_level_secs"),
        ("refresh_secs = 0", "stats.refresh_secs"),
        ("api = \"yes\"", "stats.api"),
        ("window = 5", "stats.window"),
        ("wallboard = true\napi = false", "stats.wallboard"),
    ];
    for (line, key) in cases {
        let toml = format!("{}[stats]\n{line}\n", store(dir.path()));
        for args in [
            &["stats", "--json"][..],
            &["calls", "list", "--csv"],
            &["calls", "show", "c-1"],
            &["worker", "--check"],
        ] {
            let out = run(dir.path(), &toml, args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(64), "{args:?} {line}: {err}");
            assert!(err.contains(key), "{args:?} {line}: {err}");
        }
    }
    assert!(
        !dir.path().join("store.db").exists(),
        "no store was opened for a bad configuration"
    );
}

#[test]
fn an_empty_store_gives_empty_statistics_and_history_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{}[stats]\ntime_zone = \"+01:00\"\nservice_level_secs = 30\n[routing]\ndefault_queue = \"support\"\n[routing.queues.support]\n",
        store(dir.path())
    );
    let out = run(dir.path(), &toml, &["stats", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["serviceLevelSecs"], 30);
    assert!(v["todaySince"].as_str().unwrap().ends_with("+01:00"), "{v}");
    assert_eq!(v["queues"][0]["queue"], "support");
    assert_eq!(v["queues"][0]["waiting"], 0);
    assert_eq!(v["queues"][0]["today"]["offered"], 0);
    assert!(v["queues"][0]["today"]["serviceLevelPct"].is_null());

    let out = run(dir.path(), &toml, &["stats"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("QUEUE") && table.contains("support"),
        "{table}"
    );

    let out = run(dir.path(), &toml, &["stats", "--queue", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no queue \"nope\""));

    let out = run(dir.path(), &toml, &["calls", "list", "--csv"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "id,started_at,answered_at,ended_at,from,to,queue,queues,wait_secs,talk_secs,answered_by,agents,result,reason,recording_id"
    );
    let out = run(
        dir.path(),
        &toml,
        &["calls", "list", "--json", "--since", "today"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");

    let out = run(
        dir.path(),
        &toml,
        &["calls", "list", "--since", "yesterday"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since \"yesterday\""));
    let out = run(dir.path(), &toml, &["calls", "list", "--result", "won"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown result");
    let out = run(dir.path(), &toml, &["calls", "list", "--json", "--csv"]);
    assert_eq!(out.status.code(), Some(2), "one format at a time");
}

#[test]
fn watch_redraws_in_place_until_ctrl_c() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.toml");
    std::fs::write(&path, store(dir.path())).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["stats", "--watch", "--every", "1", "-c"])
        .arg(&path)
        .stdout(std::process::Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stdout.read_to_string(&mut all);
        all
    });
    // Two refreshes, then Ctrl-C.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stats --watch ignored Ctrl-C"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let out = reader.join().unwrap();
    let redraws = out.matches("\x1b[H\x1b[2J").count();
    assert!(
        redraws >= 2,
        "cursor home + clear before each table: {out:?}"
    );
    assert_eq!(out.matches("QUEUE").count(), redraws, "{out:?}");
}
