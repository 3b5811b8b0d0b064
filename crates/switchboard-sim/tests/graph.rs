//! The Graph subset: `$search` with and without `ConsistencyLevel`, users by id and UPN,
//! presence single and batch (live: busy while in a simulated call), auth, throttling.

mod common;

use common::*;
use serde_json::{json, Value};
use switchboard_sim::{FaultKind, FaultRule, FaultSpec, Faults, Secret, SimConfig};

async fn graph(
    h: &Harness,
    path: &str,
    token: Option<&str>,
    eventual: bool,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = h.http.get(format!("{}{path}", h.sim.graph_base_url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if eventual {
        req = req.header("ConsistencyLevel", "eventual");
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn search_requires_consistency_level_and_matches_word_prefixes() {
    let h = start().await;
    let q = "/v1.0/users?$search=%22displayName:adel%22&$select=id,displayName,userPrincipalName";
    let (s, _, body) = graph(&h, q, Some("t"), false).await;
    assert_eq!(s, 400);
    assert_eq!(body["error"]["code"], "Request_UnsupportedQuery");
    assert!(body["error"]["innerError"]["request-id"].is_string());

    let (s, _, body) = graph(&h, q, Some("t"), true).await;
    assert_eq!(s, 200);
    assert_eq!(
        body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName,userPrincipalName)"
    );
    let users = body["value"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], AGENT_ACCEPT);
    assert_eq!(users[0]["userPrincipalName"], "adelev@contoso.com");
    assert!(users[0].get("mail").is_none(), "$select applied");

    let (_, _, body) = graph(
        &h,
        "/v1.0/users?$search=%22displayName:vance%22%20OR%20%22mail:diegos%22",
        Some("t"),
        true,
    )
    .await;
    let ids: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&AGENT_ACCEPT) && ids.contains(&AGENT_DECLINE));

    let (s, _, _) = graph(&h, "/v1.0/users?$search=displayName:adel", Some("t"), true).await;
    assert_eq!(s, 400, "Graph requires quotes");
    let (_, _, body) = graph(&h, "/v1.0/users?$top=2", Some("t"), false).await;
    assert_eq!(body["value"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn users_and_presence() {
    let h = start().await;
    let (s, _, u) = graph(&h, &format!("/v1.0/users/{AGENT_ACCEPT}"), Some("t"), false).await;
    assert_eq!(s, 200);
    assert_eq!(u["displayName"], "Adele Vance");
    assert_eq!(u["givenName"], "Adele");
    assert_eq!(u["surname"], "Vance");
    let (s, _, u) = graph(&h, "/v1.0/users/ADELEV@contoso.com", Some("t"), false).await;
    assert_eq!(s, 200);
    assert_eq!(u["id"], AGENT_ACCEPT);
    let (s, _, e) = graph(&h, "/v1.0/users/nobody", Some("t"), false).await;
    assert_eq!(s, 404);
    assert_eq!(e["error"]["code"], "Request_ResourceNotFound");

    let (s, _, p) = graph(
        &h,
        &format!("/v1.0/users/{AGENT_ACCEPT}/presence"),
        Some("t"),
        false,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(p["availability"], "Available");
    assert_eq!(p["activity"], "Available");
    assert_eq!(p["outOfOfficeSettings"]["isOutOfOffice"], false);

    // Batch, with an unknown id.
    let r = h
        .http
        .post(format!(
            "{}/v1.0/communications/getPresencesByUserId",
            h.sim.graph_base_url()
        ))
        .bearer_auth("t")
        .json(&json!({"ids": [AGENT_ACCEPT, AGENT_BUSY, "00000000-0000-0000-0000-000000000000"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let v = body["value"].as_array().unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[1]["availability"], "Busy");
    assert_eq!(v[1]["activity"], "InACall");
    assert_eq!(v[2]["availability"], "PresenceUnknown");

    // Presence follows simulated calls and runtime changes.
    let (_, ccid) = h.connected_call().await;
    h.add(&ccid, AGENT_ACCEPT, "a").await;
    h.cb.expect(&ccid, "AddParticipantSucceeded").await;
    let (_, _, p) = graph(
        &h,
        &format!("/v1.0/users/{AGENT_ACCEPT}/presence"),
        Some("t"),
        false,
    )
    .await;
    assert_eq!(
        (p["availability"].as_str(), p["activity"].as_str()),
        (Some("Busy"), Some("InACall"))
    );
    h.sim
        .set_agent_presence(AGENT_DECLINE, "Away", "Away")
        .unwrap();
    let (_, _, p) = graph(
        &h,
        &format!("/v1.0/users/{AGENT_DECLINE}/presence"),
        Some("t"),
        false,
    )
    .await;
    assert_eq!(p["availability"], "Away");

    // Bad batches.
    for bad in [json!({}), json!({"ids": []}), json!({"ids": [1]})] {
        let r = h
            .http
            .post(format!(
                "{}/v1.0/communications/getPresencesByUserId",
                h.sim.graph_base_url()
            ))
            .bearer_auth("t")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let many: Vec<String> = (0..651).map(|i| format!("id-{i}")).collect();
    let r = h
        .http
        .post(format!(
            "{}/v1.0/communications/getPresencesByUserId",
            h.sim.graph_base_url()
        ))
        .bearer_auth("t")
        .json(&json!({"ids": many}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn bearer_token_required() {
    let h = start().await;
    let (s, _, e) = graph(&h, "/v1.0/users", None, false).await;
    assert_eq!(s, 401);
    assert_eq!(e["error"]["code"], "InvalidAuthenticationToken");
    let strict = start_with(SimConfig {
        graph_bearer: Some(Secret::new("graph-token")),
        ..test_config()
    })
    .await;
    assert_eq!(
        graph(&strict, "/v1.0/users", Some("other"), false).await.0,
        401
    );
    assert_eq!(
        graph(&strict, "/v1.0/users", Some("graph-token"), false)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn throttling_with_retry_after() {
    let h = start().await;
    let mut f = Faults::default();
    f.operations.insert(
        "Graph_GetPresencesByUserId".into(),
        FaultSpec {
            latency: None,
            rules: vec![FaultRule::times(
                FaultKind::Throttle {
                    retry_after_secs: 7,
                },
                1,
            )],
        },
    );
    h.sim.set_faults(f).unwrap();
    let url = format!(
        "{}/v1.0/communications/getPresencesByUserId",
        h.sim.graph_base_url()
    );
    let r = h
        .http
        .post(&url)
        .bearer_auth("t")
        .json(&json!({"ids": [AGENT_ACCEPT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    let r = h
        .http
        .post(&url)
        .bearer_auth("t")
        .json(&json!({"ids": [AGENT_ACCEPT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
