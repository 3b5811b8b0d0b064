//! `switchboard ingress` refuses unauthenticated endpoints off loopback: exit 64 naming the
//! key, before any network I/O (`--check` does none at all).

use std::process::Command;

fn check(toml: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.toml");
    std::fs::write(&path, toml).unwrap();
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["ingress", "--check", "-c"])
        .arg(&path)
        .output()
        .unwrap()
}

#[test]
fn the_webhook_without_authentication_does_not_start_off_loopback() {
    let out = check(
        "[acs]\nresource_id = \"r\"\n[ingress]\nbind = \"0.0.0.0\"\neventgrid_webhook = true\neventgrid_auth = \"none\"\n",
    );
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ingress.eventgrid_auth"),
        "{out:?}"
    );

    let out = check(
        "[acs]\nresource_id = \"r\"\n[ingress]\nbind = \"127.0.0.1\"\neventgrid_webhook = true\neventgrid_auth = \"none\"\n",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn unauthenticated_callbacks_do_not_start_off_loopback() {
    let out = check("[ingress]\nbind = \"0.0.0.0\"\nauth = \"none\"\n");
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ingress.auth"),
        "{out:?}"
    );
}
