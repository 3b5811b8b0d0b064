//! `switchboard agents` and `switchboard doctor`: the real binary against the ACS
//! simulator's Microsoft Graph subset and Entra token endpoints (in-process, 127.0.0.1 port 0).

#[path = "../../switchboard-routing/tests/common/sim_graph.rs"]
mod sim_graph;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use sim_graph::{fail_always, requests_to, throttled, user};
use switchboard_sim::AgentSpec;

const TOKEN: &str = "cli-test-token";
const ANN: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const ANNA: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const BOB: &str = "bbbbbbbb-0000-4000-8000-000000000003";
const CARMEN: &str = "cccccccc-0000-4000-8000-000000000004";
const RESOURCE: &str = "faced04c-2ced-433d-90db-063e424b87b1";

fn users() -> Vec<AgentSpec> {
    vec![
        user(ANN, "Ann Lee", "ann@contoso.com", "Available", "Available"),
        user(ANNA, "Anna Smith", "anna@contoso.com", "Busy", "InACall"),
        user(BOB, "Bob Jones", "bob@contoso.com", "Away", "Away"),
        user(
            CARMEN,
            "Carmen Ruiz",
            "carmen@contoso.com",
            "AvailableIdle",
            "Available",
        ),
    ]
}

/// Runs the binary with a clean environment (no config or Graph settings leak in).
async fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(args);
    for var in [
        "SWITCHBOARD_CONFIG",
        "SWITCHBOARD_GRAPH_URL",
        "SWITCHBOARD_GRAPH_TOKEN",
        "SWITCHBOARD_ACS_RESOURCE_ID",
        "SWITCHBOARD_GRAPH_TENANT_ID",
        "SWITCHBOARD_GRAPH_CLIENT_SECRET",
        "SWITCHBOARD_GRAPH_MANAGED_IDENTITY",
        "AZURE_CLIENT_ID",
        "AZURE_AUTHORITY_HOST",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("SWITCHBOARD_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().await.expect("run switchboard")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn roster_toml() -> String {
    format!(
        r#"
        default_queue = "support"
        [[agents]]
        oid = "{ANN}"
        name = "Ann"
        skills = {{ support = 3 }}
        [[agents]]
        upn = "anna@contoso.com"
        skills = {{ sales = 2 }}
        capacity = 2
        [[agents]]
        name = "Carmen Ruiz"
        [[agents]]
        oid = "{BOB}"
        enabled = false
        [queues.support]
        [queues.sales]
        "#
    )
}

#[tokio::test]
async fn resolve_prints_oid_name_and_upn_as_json() {
    let fake = sim_graph::start(users(), TOKEN, None).await;
    let out = run(
        &[
            "agents",
            "resolve",
            "Ann Lee",
            "--graph-url",
            fake.graph_base_url(),
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", TOKEN)],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["oid"], ANN);
    assert_eq!(v["displayName"], "Ann Lee");
    assert_eq!(v["upn"], "ann@contoso.com");
    let log = fake.requests();
    assert_eq!(log[0].header("consistencylevel"), Some("eventual"));

    // By UPN, with the token from the flag this time.
    let out = run(
        &[
            "agents",
            "resolve",
            "carmen@contoso.com",
            "--graph-url",
            fake.graph_base_url(),
            "--graph-token",
            TOKEN,
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["oid"], CARMEN);
}

#[tokio::test]
async fn resolve_with_client_secret_gets_a_graph_token_from_entra() {
    let fake = sim_graph::start(users(), TOKEN, Some(("switchboard-app", "app-secret"))).await;
    let secret_env = [
        ("SWITCHBOARD_GRAPH_TENANT_ID", "contoso.onmicrosoft.com"),
        ("AZURE_CLIENT_ID", "switchboard-app"),
        ("SWITCHBOARD_GRAPH_CLIENT_SECRET", "app-secret"),
    ];
    let url = fake.base_url();
    let out = run(
        &[
            "agents",
            "resolve",
            "Ann Lee",
            "--graph-url",
            &url,
            "--authority-host",
            &url,
        ],
        &secret_env,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["oid"], ANN);
    let log = fake.requests();
    assert_eq!(log[0].path, "/contoso.onmicrosoft.com/oauth2/v2.0/token");
    assert_eq!(
        log[0].form_field("scope").as_deref(),
        Some("https://graph.microsoft.com/.default")
    );
    assert_eq!(
        log[0].form_field("grant_type").as_deref(),
        Some("client_credentials")
    );
    assert_eq!(
        log[1].header("authorization"),
        Some("Bearer cli-test-token")
    );

    // A wrong secret: Entra's refusal, never the secret itself.
    let out = run(
        &[
            "agents",
            "resolve",
            "Ann Lee",
            "--graph-url",
            &url,
            "--authority-host",
            &url,
        ],
        &[
            ("SWITCHBOARD_GRAPH_TENANT_ID", "contoso.onmicrosoft.com"),
            ("AZURE_CLIENT_ID", "switchboard-app"),
            ("SWITCHBOARD_GRAPH_CLIENT_SECRET", "wrong-secret-value"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("AADSTS7000215"), "{err}");
    assert!(!err.contains("wrong-secret-value"), "{err}");

    // Half-configured client-secret auth says what is missing.
    let out = run(
        &["agents", "resolve", "Ann Lee", "--graph-url", &url],
        &[("SWITCHBOARD_GRAPH_CLIENT_SECRET", "app-secret")],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--tenant-id"), "{}", stderr(&out));
}

#[tokio::test]
async fn resolve_with_the_managed_identity() {
    let fake = sim_graph::start(users(), TOKEN, None).await;
    let url = fake.base_url();
    let endpoint = format!("{url}/msi/token");
    let out = run(
        &[
            "agents",
            "resolve",
            "bob@contoso.com",
            "--graph-url",
            &url,
            "--managed-identity",
        ],
        &[
            ("IDENTITY_ENDPOINT", endpoint.as_str()),
            ("IDENTITY_HEADER", "identity-header"),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["oid"], BOB);
    let log = fake.requests();
    assert_eq!(log[0].path, "/msi/token");
    assert_eq!(
        log[1].header("authorization"),
        Some("Bearer cli-test-token")
    );
}

#[tokio::test]
async fn resolve_explains_no_exact_match() {
    let fake = sim_graph::start(users(), TOKEN, None).await;
    let out = run(
        &[
            "agents",
            "resolve",
            "Ann",
            "--graph-url",
            fake.graph_base_url(),
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no Microsoft Graph user matches"), "{err}");
    assert!(
        err.contains("Ann Lee") && err.contains("Anna Smith"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[tokio::test]
async fn resolve_without_a_token_says_how_to_set_one() {
    let out = run(&["agents", "resolve", "Ann Lee"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("SWITCHBOARD_GRAPH_TOKEN"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn resolve_with_a_bad_token_reports_graphs_refusal_without_the_token() {
    let fake = sim_graph::start(users(), TOKEN, None).await;
    let out = run(
        &[
            "agents",
            "resolve",
            "Ann Lee",
            "--graph-url",
            fake.graph_base_url(),
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", "not-the-right-one")],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("InvalidAuthenticationToken"), "{err}");
    assert!(!err.contains("not-the-right-one"), "{err}");
}

#[tokio::test]
async fn list_shows_roster_with_live_presence() {
    let fake = sim_graph::start(users(), TOKEN, None).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "routing.toml", &roster_toml());
    let out = run(
        &[
            "agents",
            "list",
            "--config",
            &cfg,
            "--graph-url",
            fake.graph_base_url(),
            "--json",
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", TOKEN)],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let oids: Vec<&str> = rows.iter().map(|r| r["oid"].as_str().unwrap()).collect();
    assert_eq!(
        oids,
        vec![ANN, ANNA, CARMEN, BOB],
        "roster order, UPN and name resolved"
    );
    assert_eq!(rows[0]["display_name"], "Ann", "configured label kept");
    assert_eq!(rows[0]["presence"]["availability"], "Available");
    assert_eq!(rows[0]["presence_status"]["status"], "routable");
    assert_eq!(rows[1]["presence"]["availability"], "Busy");
    assert_eq!(rows[1]["presence_status"]["status"], "not-routable");
    assert_eq!(rows[1]["capacity"], 2);
    assert_eq!(rows[2]["presence"]["availability"], "AvailableIdle");
    assert_eq!(rows[3]["enabled"], false);
    assert_eq!(rows[3]["display_name"], "Bob Jones", "filled in from Graph");
    assert!(
        rows[0]["live"].is_null(),
        "no live state source in the CLI yet"
    );
    // One batched presence request for the whole roster.
    assert_eq!(
        requests_to(&fake, "/v1.0/communications/getPresencesByUserId"),
        1
    );

    let out = run(
        &[
            "agents",
            "list",
            "--config",
            &cfg,
            "--graph-url",
            fake.graph_base_url(),
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", TOKEN)],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert!(
        lines[0].contains("AVAILABILITY") && lines[0].contains("LIVE"),
        "{table}"
    );
    assert!(
        lines[1].contains(ANN) && lines[1].contains("yes"),
        "{table}"
    );
    assert!(
        lines[2].contains("anna@contoso.com") && lines[2].contains("InACall"),
        "{table}"
    );
    assert!(lines[4].contains("disabled"), "{table}");
    // Bob is configured by OID alone: the listing shows Graph's name and UPN for him.
    assert!(
        lines[4].starts_with("Bob Jones") && lines[4].contains("bob@contoso.com"),
        "{table}"
    );
}

#[tokio::test]
async fn list_survives_a_graph_presence_outage() {
    let fake = sim_graph::start(users(), TOKEN, None).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "routing.toml",
        &format!("[[agents]]\noid = \"{ANN}\"\n[[agents]]\noid = \"{BOB}\"\n"),
    );
    fail_always(&fake, throttled(600));
    let out = run(
        &[
            "agents",
            "list",
            "--config",
            &cfg,
            "--graph-url",
            fake.graph_base_url(),
            "--json",
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", TOKEN)],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r["presence_status"]["status"] == "unknown"));
    assert!(
        stderr(&out).contains("presence unavailable"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn list_without_graph_needs_oids() {
    let dir = tempfile::tempdir().unwrap();
    let only_oids = write(
        dir.path(),
        "oids.toml",
        &format!("[[agents]]\noid = \"{ANN}\"\n"),
    );
    let out = run(&["agents", "list", "--config", &only_oids, "--json"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(rows[0]["presence_status"]["status"], "unknown");

    let with_names = write(dir.path(), "names.toml", &roster_toml());
    let out = run(&["agents", "list", "--config", &with_names], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("agents[1] (upn anna@contoso.com)"), "{err}");
    assert!(err.contains("SWITCHBOARD_GRAPH_TOKEN"), "{err}");

    let bad = write(dir.path(), "bad.toml", "[[agents]]\noid = \"not-a-guid\"\n");
    let out = run(&["agents", "list", "--config", &bad], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("agents[0].oid"), "{}", stderr(&out));
}

fn tenant_json(global_allows: bool) -> String {
    format!(
        r#"{{
          "AcsFederationConfiguration": {{"Identity": "Global", "EnableAcsUsers": true, "AllowedAcsResources": ["{RESOURCE}"], "BlockedAcsResources": []}},
          "ExternalAccessPolicies": [
            {{"Identity": "Global", "EnableAcsFederationAccess": {global_allows}}},
            {{"Identity": "Tag:ContactCenter", "EnableAcsFederationAccess": true}}
          ],
          "UserPolicies": {{"carmen@contoso.com": "ContactCenter"}}
        }}"#
    )
}

#[tokio::test]
async fn doctor_reports_a_reachable_agent() {
    let fake = sim_graph::start(users(), TOKEN, None).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "routing.toml", &roster_toml());
    let tenant = write(dir.path(), "tenant.json", &tenant_json(true));
    let out = run(
        &[
            "doctor",
            "--agent",
            "ann@contoso.com",
            "--config",
            &cfg,
            "--graph-url",
            fake.graph_base_url(),
            "--tenant-settings",
            &tenant,
            "--resource-id",
            RESOURCE,
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", TOKEN)],
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("[ok  ] roster"), "{text}");
    assert!(text.contains("[ok  ] graph"), "{text}");
    assert!(
        text.contains("[ok  ] presence") && text.contains("Available / Available"),
        "{text}"
    );
    assert!(text.contains("EnableAcsUsers = True"), "{text}");
    assert!(text.contains("verdict: reachable"), "{text}");
}

#[tokio::test]
async fn doctor_explains_an_unreachable_agent_with_fixes() {
    let fake = sim_graph::start(users(), TOKEN, None).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "routing.toml", &roster_toml());
    let tenant = write(dir.path(), "tenant.json", &tenant_json(false));

    // Ann has the Global policy, which does not allow ACS federation.
    let out = run(
        &[
            "doctor",
            "--agent",
            ANN,
            "--config",
            &cfg,
            "--graph-url",
            fake.graph_base_url(),
            "--tenant-settings",
            &tenant,
            "--resource-id",
            RESOURCE,
            "--json",
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["reachable"], false);
    assert_eq!(report["user"]["upn"], "ann@contoso.com");
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert!(failed[0]["detail"].as_str().unwrap().contains("(Global)"));
    assert_eq!(
        failed[0]["fixes"][0],
        "Set-CsExternalAccessPolicy -Identity Global -EnableAcsFederationAccess $true"
    );

    // Carmen has the custom policy, which allows it: reachable. Looked up by display name.
    let out = run(
        &[
            "doctor",
            "--agent",
            "Carmen Ruiz",
            "--config",
            &cfg,
            "--graph-url",
            fake.graph_base_url(),
            "--tenant-settings",
            &tenant,
            "--resource-id",
            RESOURCE,
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("custom policy \"ContactCenter\""),
        "{}",
        stdout(&out)
    );

    // A busy agent is a warning, not a failure; a resource not allowed is a failure.
    let out = run(
        &[
            "doctor",
            "--agent",
            "anna@contoso.com",
            "--config",
            &cfg,
            "--graph-url",
            fake.graph_base_url(),
            "--tenant-settings",
            &tenant,
            "--resource-id",
            "00000000-0000-0000-0000-000000000000",
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.contains("[warn] presence") && text.contains("Busy / InACall"),
        "{text}"
    );
    assert!(text.contains("not in AllowedAcsResources"), "{text}");
    assert!(
        text.contains(&format!(
            "'{RESOURCE}', '00000000-0000-0000-0000-000000000000'"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn doctor_flags_agents_missing_from_the_roster_or_disabled() {
    let fake = sim_graph::start(users(), TOKEN, None).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "routing.toml",
        &format!("[[agents]]\noid = \"{BOB}\"\nenabled = false\n"),
    );
    let out = run(
        &[
            "doctor",
            "--agent",
            "ann@contoso.com",
            "--config",
            &cfg,
            "--graph-url",
            fake.graph_base_url(),
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.contains("[FAIL] roster") && text.contains(&format!("oid = \"{ANN}\"")),
        "{text}"
    );
    assert!(text.contains("[skip] interop"), "{text}");

    let out = run(
        &[
            "doctor",
            "--agent",
            "bob@contoso.com",
            "--config",
            &cfg,
            "--graph-url",
            fake.graph_base_url(),
        ],
        &[("SWITCHBOARD_GRAPH_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("enabled = false"), "{}", stdout(&out));

    // Without Graph: only what the files say.
    let out = run(&["doctor", "--agent", BOB, "--config", &cfg], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.contains("[skip] graph") && text.contains("[skip] presence"),
        "{text}"
    );
}

#[tokio::test]
async fn doctor_rejects_an_unreadable_settings_file() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = write(dir.path(), "tenant.json", "{ not json");
    let out = run(
        &["doctor", "--agent", ANN, "--tenant-settings", &tenant],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("tenant.json"), "{}", stderr(&out));
}

/// The same commands against the local ACS simulator's Graph subset, which is what
/// `switchboard demo` and a laptop setup use instead of Microsoft Graph.
#[tokio::test]
async fn agents_and_doctor_work_against_the_simulator() {
    use switchboard_sim::{AgentSpec, SimConfig, Simulator};

    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("start simulator");
    sim.seed_agents(vec![
        AgentSpec::new(ANN, "Ann Lee", "ann@contoso.com"),
        AgentSpec::new(BOB, "Bob Jones", "bob@contoso.com"),
    ])
    .unwrap();
    sim.set_agent_presence(BOB, "DoNotDisturb", "Presenting")
        .unwrap();
    let graph = sim.graph_base_url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "routing.toml",
        "[[agents]]\nname = \"Ann Lee\"\n[[agents]]\nupn = \"bob@contoso.com\"\n",
    );
    let token = [("SWITCHBOARD_GRAPH_TOKEN", "sim-token")];

    let out = run(
        &["agents", "resolve", "Ann Lee", "--graph-url", &graph],
        &token,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["oid"], ANN);

    let out = run(
        &[
            "agents",
            "list",
            "--config",
            &cfg,
            "--graph-url",
            &graph,
            "--json",
        ],
        &token,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(rows[0]["oid"], ANN);
    assert_eq!(rows[0]["presence_status"]["status"], "routable");
    assert_eq!(rows[1]["oid"], BOB);
    assert_eq!(rows[1]["presence"]["availability"], "DoNotDisturb");
    assert_eq!(rows[1]["presence_status"]["status"], "not-routable");

    let out = run(
        &[
            "doctor",
            "--agent",
            "bob@contoso.com",
            "--config",
            &cfg,
            "--graph-url",
            &graph,
        ],
        &token,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("[warn] presence"), "{}", stdout(&out));
    sim.shutdown().await;
}
