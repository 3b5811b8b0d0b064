//! Issue 15 §5, end to end: the Teams tenant's interop settings (one policy table) seed the
//! simulator and feed `switchboard doctor`. The agent the tenant refuses fails the invitation
//! with the service's 403 / 10124, the worker moves on to the next agent and counts it, and
//! the doctor explains why that agent cannot be reached — and that the next one can.

use std::time::Duration;

use serde_json::json;
use switchboard_sim::{StartCall, TenantPolicy};
use switchboard_testkit::fixtures::{ALICE, BOB, FLOW, SALES_LINE};
use switchboard_testkit::{archived_state, Stack};

async fn doctor(args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("doctor").args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") || k.starts_with("AZURE_") || k.starts_with("IDENTITY_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("SWITCHBOARD_LOG", "warn")
        .env("SWITCHBOARD_GRAPH_TOKEN", "local-graph-token");
    cmd.output().await.expect("run switchboard doctor")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_the_tenant_refuses_is_skipped_counted_and_diagnosed() {
    let world = Stack::start().await;
    // Bob (ranked first: longest-idle ties break by OID) has a custom External Access Policy
    // without ACS federation, assigned by UPN; everyone else has the Global one.
    let table = json!({
        "acsFederationConfiguration": {"EnableAcsUsers": true, "AllowedAcsResources": [world.sim.resource_id()]},
        "externalAccessPolicies": [
            {"Identity": "Global", "EnableAcsFederationAccess": true},
            {"Identity": "Tag:NoAcs", "EnableAcsFederationAccess": false}
        ],
        "userPolicies": {"bob@contoso.com": "NoAcs"}
    });
    let tenant: TenantPolicy = serde_json::from_value(table.clone()).unwrap();
    world.sim.set_tenant_policy(Some(tenant));
    let worker = world.worker().await;

    let call = world
        .sim
        .start_call(StartCall {
            to: Some(SALES_LINE.into()),
            from: Some("+14255550123".into()),
            ..StartCall::default()
        })
        .unwrap();
    let corr = call.correlation_id.clone();
    let state = archived_state(&world.ended(&corr, 40).await);
    assert_eq!(
        state.answered_by.as_ref().map(|a| a.as_str()),
        Some(ALICE),
        "{}",
        world.recorder.dump(&corr)
    );
    assert_eq!(state.invited[0].as_str(), BOB, "Bob was offered first");
    let failed = world.recorder.decisions(&corr, "AddParticipantFailed");
    assert!(
        failed.iter().any(|(d, text)| d == "applied"
            && text.contains("interop policy")
            && text.contains("403/10124")),
        "{failed:?}"
    );
    assert_eq!(
        world
            .metrics
            .counter("switchboard_agents_refused_by_policy_total", &[]),
        1
    );
    // Kept out of routing for the policy cool-down.
    let bob = world.store.get_agent(&BOB.into()).await.unwrap().unwrap();
    let until = bob.wrap_up_until.expect("policy cool-down");
    assert!(until > time::OffsetDateTime::now_utc() + Duration::from_secs(20 * 60));
    worker.stop().await;

    // The doctor, given the same table, names the failing setting and its fix for Bob…
    let dir = tempfile::tempdir().unwrap();
    let tenant_file = dir.path().join("tenant.json");
    std::fs::write(&tenant_file, table.to_string()).unwrap();
    let routing_file = dir.path().join("routing.toml");
    std::fs::write(&routing_file, FLOW).unwrap();
    let common = [
        "--config",
        routing_file.to_str().unwrap(),
        "--graph-url",
        world.sim.graph_base_url(),
        "--tenant-settings",
        tenant_file.to_str().unwrap(),
        "--resource-id",
        world.sim.resource_id(),
    ];
    let out = doctor(&[&["--agent", BOB][..], &common[..]].concat()).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("[ok  ] roster"), "{text}");
    assert!(text.contains("[ok  ] graph"), "{text}");
    assert!(
        text.contains("[FAIL] interop")
            && text.contains("custom policy \"NoAcs\"")
            && text.contains("EnableAcsFederationAccess = False"),
        "{text}"
    );
    assert!(
        text.contains(
            "Set-CsExternalAccessPolicy -Identity 'Tag:NoAcs' -EnableAcsFederationAccess $true"
        ),
        "{text}"
    );
    assert!(text.contains("verdict: NOT reachable"), "{text}");

    // …and finds nothing wrong with Alice, who took the call.
    let out = doctor(&[&["--agent", ALICE][..], &common[..]].concat()).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("verdict: reachable"), "{text}");
    world.shutdown().await;
}
