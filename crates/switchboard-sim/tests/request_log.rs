//! The request log over the control API, and the Entra token endpoints over HTTP: what a
//! client test relies on, from the outside.

use serde_json::{json, Value};
use switchboard_sim::{
    CannedResponse, EntraApp, EntraConfig, FaultKind, FaultRule, FaultSpec, Faults, Secret,
    SimConfig, Simulator,
};

#[tokio::test]
async fn tokens_are_logged_redacted_and_accepted_by_graph() {
    let sim = Simulator::start(SimConfig {
        random_seed: Some(3),
        graph_bearer: Some(Secret::new("graph-token-1")),
        entra: EntraConfig {
            apps: vec![EntraApp::new("app-1", "app-secret-1")],
            identity_header: Some(Secret::new("identity-1")),
            ..EntraConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let base = sim.base_url();

    let token: Value = http
        .post(format!("{base}/contoso/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "app-1"),
            ("client_secret", "app-secret-1"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["access_token"], "graph-token-1");
    assert_eq!(token["token_type"], "Bearer");

    let wrong = http
        .post(format!("{base}/contoso/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "app-1"),
            ("client_secret", "nope"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS7000215"));

    let mi: Value = http
        .get(format!(
            "{base}/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com"
        ))
        .header("X-IDENTITY-HEADER", "identity-1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mi["access_token"], "graph-token-1");
    assert!(mi["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
    let refused = http
        .get(format!(
            "{base}/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // The token works on Graph.
    let me = http
        .get(format!("{base}/v1.0/users/nobody"))
        .bearer_auth("graph-token-1")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 404);

    let log: Vec<Value> = http
        .get(format!("{}/requests", sim.control_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = serde_json::to_string(&log).unwrap();
    for secret in ["app-secret-1", "identity-1", "graph-token-1\""] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let surfaces: Vec<&str> = log.iter().map(|r| r["surface"].as_str().unwrap()).collect();
    assert_eq!(
        surfaces,
        [
            "entraToken",
            "entraToken",
            "managedIdentity",
            "managedIdentity",
            "graph"
        ]
    );
    assert_eq!(log[0]["auth"]["result"], "clientSecret");
    assert_eq!(log[0]["body"]["client_secret"], "<redacted>");
    assert_eq!(log[0]["body"]["client_id"], "app-1");
    assert_eq!(log[1]["auth"]["result"], "failed");
    assert_eq!(log[2]["headers"]["x-identity-header"], "<redacted>");
    assert_eq!(log[4]["headers"]["authorization"], "Bearer <redacted>");
    assert_eq!(log[4]["operation"], "Graph_GetUser");
    assert_eq!(log[4]["status"], 404);
    // In-process, the values are there for tests to compare.
    assert_eq!(
        sim.requests()[4].header("authorization"),
        Some("Bearer graph-token-1")
    );

    let cleared = http
        .delete(format!("{}/requests", sim.control_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn canned_responses_answer_verbatim_once_and_are_logged() {
    let sim = Simulator::start(SimConfig {
        random_seed: Some(3),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut faults = Faults::default();
    faults.operations.insert(
        "Graph_GetUser".into(),
        FaultSpec {
            latency: None,
            rules: vec![FaultRule::times(
                FaultKind::Respond(
                    CannedResponse::json(418, json!({"teapot": true}))
                        .header("x-ms-retry-after-ms", "1500"),
                ),
                1,
            )],
        },
    );
    sim.set_faults(faults).unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/v1.0/users/x", sim.base_url());
    let first = http.get(&url).bearer_auth("t").send().await.unwrap();
    assert_eq!(first.status(), 418);
    assert_eq!(first.headers()["x-ms-retry-after-ms"], "1500");
    assert_eq!(
        first.json::<Value>().await.unwrap(),
        json!({"teapot": true})
    );
    let second = http.get(&url).bearer_auth("t").send().await.unwrap();
    assert_eq!(second.status(), 404, "the rule fired once");
    let log = sim.requests();
    assert_eq!(log[0].fault.as_deref(), Some("respond 418"));
    assert_eq!(log[0].status, Some(418));
    assert_eq!(log[1].fault, None);

    // A response status that is not HTTP is refused up front.
    let mut bad = Faults::default();
    bad.global.rules = vec![FaultRule::always(FaultKind::Respond(
        CannedResponse::status(42),
    ))];
    assert!(sim.set_faults(bad).is_err());
    sim.shutdown().await;
}
