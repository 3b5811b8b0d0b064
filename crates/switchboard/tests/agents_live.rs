//! `switchboard agents list` shows live state from the deployment's store: a reservation made
//! through the store port (as a worker makes it) appears in the listing of the real binary.
use std::process::Command;
use std::time::Duration;

use switchboard_store::{AgentProfile, SqliteStore, Store};

const ALICE: &str = "6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10";
const BOB: &str = "0b6f3d42-91e4-4c0b-8f2a-7d5e1a9c3b66";

#[tokio::test]
async fn live_column_comes_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchboard.db");
    let store = SqliteStore::open(&db).await.unwrap();
    for id in [ALICE, BOB] {
        store.upsert_agent(&AgentProfile::new(id)).await.unwrap();
    }
    store
        .reserve(&ALICE.into(), "call-1", Duration::from_secs(300))
        .await
        .unwrap()
        .expect("alice reserved");
    let cfg = dir.path().join("switchboard.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[queue]
sqlite_path = "{db}"

[routing]
[[routing.agents]]
oid = "{ALICE}"
name = "Alice"
skills = {{ sales = 5 }}

[[routing.agents]]
oid = "{BOB}"
name = "Bob"
skills = {{ sales = 3 }}
"#,
            db = db.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["agents", "list", "--json", "--config"])
        .arg(&cfg)
        .env_remove("SWITCHBOARD_SQLITE_PATH")
        .env_remove("SWITCHBOARD_GRAPH_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let live = |oid: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["oid"] == oid)
            .unwrap_or_else(|| panic!("{oid} listed: {stdout}"))["live"]
            .clone()
    };
    assert_eq!(live(ALICE)["reserved"], 1, "{stdout}");
    assert_eq!(live(BOB)["reserved"], 0, "{stdout}");
}
