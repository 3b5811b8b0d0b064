//! The Graph client, the presence cache and roster resolution against the ACS simulator's
//! Graph subset on a real socket (127.0.0.1, port 0), Graph's JSON shapes and errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::sim_graph::{self, fail_always, fail_next, recover, requests_to, status, throttled};
use switchboard_events::TeamsUserId;
use switchboard_routing::graph::auth::StaticTokenCredential;
use switchboard_routing::graph::throttle::RateLimit;
use switchboard_routing::graph::{GraphClient, GraphClientOptions, GraphError, ResolveError};
use switchboard_routing::presence::Availability;
use switchboard_routing::presence_cache::{PresenceCache, PresenceCacheOptions};
use switchboard_routing::{AgentRef, Roster, RoutingConfig};
use switchboard_sim::{AgentSpec, SimHandle};

const TOKEN: &str = "test-token-7f3a";
const ANN: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const ANNA: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const BOB: &str = "bbbbbbbb-0000-4000-8000-000000000003";
const BOB2: &str = "bbbbbbbb-0000-4000-8000-000000000004";
const GUEST: &str = "cccccccc-0000-4000-8000-000000000005";
const DOLLAR: &str = "dddddddd-0000-4000-8000-000000000006";
const QUOTE: &str = "eeeeeeee-0000-4000-8000-000000000007";

fn users() -> Vec<AgentSpec> {
    use sim_graph::user;
    vec![
        user(ANN, "Ann Lee", "ann@contoso.com", "Available", "Available"),
        user(ANNA, "Anna Smith", "anna@contoso.com", "Busy", "InACall"),
        user(BOB, "Bob Jones", "bob@contoso.com", "Away", "Away"),
        user(
            BOB2,
            "Bob Jones",
            "bob.jones@contoso.com",
            "Available",
            "Available",
        ),
        user(
            GUEST,
            "Gus Guest",
            "gus_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "AvailableIdle",
            "Available",
        ),
        user(
            DOLLAR,
            "Dee Dollar",
            "$dee@contoso.com",
            "Offline",
            "OffWork",
        ),
        user(
            QUOTE,
            "Pat \"PJ\" O'Neil",
            "pj@contoso.com",
            "Available",
            "Available",
        ),
    ]
}

fn options() -> GraphClientOptions {
    GraphClientOptions {
        timeout: Duration::from_secs(5),
        max_retries: 3,
        max_retry_wait: Duration::from_secs(5),
        rate_limit: RateLimit::GRAPH_PRESENCE,
    }
}

async fn setup() -> (SimHandle, GraphClient) {
    let fake = sim_graph::start(users(), TOKEN, None).await;
    let client = GraphClient::new(
        fake.graph_base_url(),
        Arc::new(StaticTokenCredential::long_lived(TOKEN)),
        Some(options()),
    )
    .expect("client");
    (fake, client)
}

#[tokio::test]
async fn resolves_a_display_name_with_search_and_consistency_level() {
    let (fake, client) = setup().await;
    let user = client
        .resolve(&AgentRef::DisplayName("ann lee".into()))
        .await
        .unwrap();
    assert_eq!(user.id, ANN);
    assert_eq!(user.user_principal_name.as_deref(), Some("ann@contoso.com"));

    let log = fake.requests();
    let req = log.last().unwrap();
    assert_eq!(req.path, "/v1.0/users");
    assert_eq!(req.header("consistencylevel"), Some("eventual"));
    assert_eq!(req.header("authorization"), Some("Bearer test-token-7f3a"));
    let q = req.query.as_deref().unwrap();
    assert!(q.contains("$search=%22displayName%3Aann%20lee%22"), "{q}");
    assert!(
        q.contains("$select=id%2CdisplayName%2CuserPrincipalName%2Cmail"),
        "{q}"
    );
}

#[tokio::test]
async fn display_name_search_is_prefix_but_resolution_is_exact() {
    let (_fake, client) = setup().await;
    // "Ann" finds "Ann Lee" and "Anna Smith" by prefix; neither is exactly "Ann".
    match client.resolve(&AgentRef::DisplayName("Ann".into())).await {
        Err(ResolveError::NotFound { candidates, .. }) => {
            let ids: Vec<&str> = candidates.iter().map(|u| u.id.as_str()).collect();
            assert_eq!(ids, vec![ANN, ANNA]);
        }
        other => panic!("expected not found with candidates, got {other:?}"),
    }
    let all = client.search_users_by_display_name("Ann").await.unwrap();
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn two_users_with_the_same_name_are_ambiguous() {
    let (_fake, client) = setup().await;
    let err = client
        .resolve(&AgentRef::DisplayName("Bob Jones".into()))
        .await
        .unwrap_err();
    match &err {
        ResolveError::Ambiguous { matches, .. } => assert_eq!(matches.len(), 2),
        other => panic!("expected ambiguous, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("use the OID or UPN"), "{err}");
}

#[tokio::test]
async fn quotes_in_a_display_name_are_escaped() {
    let (_fake, client) = setup().await;
    let user = client
        .resolve(&AgentRef::DisplayName("Pat \"PJ\" O'Neil".into()))
        .await
        .unwrap();
    assert_eq!(user.id, QUOTE);
}

#[tokio::test]
async fn resolves_upns_including_guests_and_dollar_upns() {
    let (fake, client) = setup().await;
    let u = client
        .resolve(&AgentRef::Upn("BOB@contoso.com".into()))
        .await
        .unwrap();
    assert_eq!(u.id, BOB);

    let u = client
        .resolve(&AgentRef::Upn(
            "gus_fabrikam.com#EXT#@contoso.onmicrosoft.com".into(),
        ))
        .await
        .unwrap();
    assert_eq!(u.id, GUEST);
    let path = fake.requests().last().unwrap().path.clone();
    // `#` must be encoded or it would start a URL fragment and the lookup would be wrong.
    assert_eq!(
        path,
        "/v1.0/users/gus_fabrikam.com%23EXT%23@contoso.onmicrosoft.com"
    );

    let u = client
        .resolve(&AgentRef::Upn("$dee@contoso.com".into()))
        .await
        .unwrap();
    assert_eq!(u.id, DOLLAR);
    assert!(fake
        .requests()
        .last()
        .unwrap()
        .path
        .starts_with("/v1.0/users('"));

    let u = client.resolve(&AgentRef::Oid(ANNA.into())).await.unwrap();
    assert_eq!(u.display_name.as_deref(), Some("Anna Smith"));

    match client
        .resolve(&AgentRef::Upn("nobody@contoso.com".into()))
        .await
    {
        Err(ResolveError::NotFound { .. }) => {}
        other => panic!("expected not found, got {other:?}"),
    }
}

#[tokio::test]
async fn presence_batches_respect_the_650_id_limit() {
    let (fake, client) = setup().await;
    let mut ids: Vec<TeamsUserId> = (0..1_000)
        .map(|i| TeamsUserId::from(format!("ffffffff-0000-4000-8000-{i:012}")))
        .collect();
    ids.push(ANN.into());
    ids.push(ANNA.into());
    let presences = client.get_presences_by_user_id(&ids).await.unwrap();
    // Graph answers every id; ids it knows no presence for come back as PresenceUnknown.
    assert_eq!(presences.len(), 1_002);
    let unknown = presences
        .iter()
        .filter(|p| p.availability == Availability::PresenceUnknown)
        .count();
    assert_eq!(unknown, 1_000);
    let ann = presences.iter().find(|p| p.id == ANN).unwrap();
    assert_eq!(ann.availability, Availability::Available);
    let anna = presences.iter().find(|p| p.id == ANNA).unwrap();
    assert_eq!(anna.availability, Availability::Busy);
    assert_eq!(anna.activity, "InACall");

    let sizes: Vec<usize> = fake
        .requests()
        .iter()
        .filter(|l| l.path == "/v1.0/communications/getPresencesByUserId")
        .map(|l| l.json().unwrap()["ids"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![650, 352]);

    let single = client
        .get_presence(&TeamsUserId::from(GUEST))
        .await
        .unwrap();
    assert_eq!(single.availability, Availability::AvailableIdle);
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let (fake, client) = setup().await;
    fail_next(&fake, [throttled(0), status(503)]);
    let p = client.get_presence(&TeamsUserId::from(ANN)).await.unwrap();
    assert_eq!(p.availability, Availability::Available);
    assert_eq!(
        requests_to(&fake, &format!("/v1.0/users/{ANN}/presence")),
        3
    );
}

#[tokio::test]
async fn a_long_retry_after_fails_fast_instead_of_stalling() {
    let (fake, client) = setup().await;
    fail_next(&fake, [throttled(120)]);
    let err = client
        .get_presences_by_user_id(&[TeamsUserId::from(ANN)])
        .await
        .unwrap_err();
    match &err {
        GraphError::Throttled { retry_after } => assert_eq!(*retry_after, Duration::from_secs(120)),
        other => panic!("expected throttled, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(fake.requests().len(), 1, "not retried");
}

#[tokio::test]
async fn retries_stop_after_max_retries() {
    let (fake, client) = setup().await;
    fail_always(&fake, throttled(0));
    let err = client.get_user(ANN).await.unwrap_err();
    assert!(matches!(err, GraphError::Throttled { .. }), "{err:?}");
    assert_eq!(fake.requests().len(), 4, "1 attempt + 3 retries");
}

#[tokio::test]
async fn auth_failures_are_final_and_never_leak_the_token() {
    let fake = sim_graph::start(users(), TOKEN, None).await;
    let client = GraphClient::new(
        fake.graph_base_url(),
        Arc::new(StaticTokenCredential::long_lived("wrong-secret-token")),
        Some(options()),
    )
    .unwrap();
    let err = client.get_user(ANN).await.unwrap_err();
    match &err {
        GraphError::Unauthorized { status, code, .. } => {
            assert_eq!(*status, 401);
            assert_eq!(code, "InvalidAuthenticationToken");
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(fake.requests().len(), 1);
    let shown = format!("{err} {err:?} {client:?}");
    assert!(!shown.contains("wrong-secret-token"), "{shown}");

    fail_next(&fake, [status(403)]);
    let client = GraphClient::new(
        fake.graph_base_url(),
        Arc::new(StaticTokenCredential::long_lived(TOKEN)),
        Some(options()),
    )
    .unwrap();
    assert!(matches!(
        client.get_presence(&TeamsUserId::from(ANN)).await,
        Err(GraphError::Unauthorized { status: 403, .. })
    ));
}

#[tokio::test]
async fn unreachable_graph_is_a_retryable_transport_error() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut opts = options();
    opts.max_retries = 1;
    let client = GraphClient::new(
        &format!("http://127.0.0.1:{port}"),
        Arc::new(StaticTokenCredential::long_lived(TOKEN)),
        Some(opts),
    )
    .unwrap();
    let err = client.get_user(ANN).await.unwrap_err();
    assert!(matches!(err, GraphError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
}

fn cache(client: &GraphClient, ttl: Duration) -> PresenceCache {
    PresenceCache::new(
        client.clone(),
        PresenceCacheOptions {
            ttl,
            refresh_timeout: Duration::from_secs(5),
            error_backoff: Duration::ZERO,
        },
    )
}

#[tokio::test]
async fn presence_cache_serves_within_ttl() {
    let (fake, client) = setup().await;
    let cache = cache(&client, Duration::from_secs(3_600));
    let ids = [TeamsUserId::from(ANN), TeamsUserId::from(BOB)];
    let view = cache.view(&ids).await;
    assert_eq!(view.len(), 2);
    assert_eq!(view.get(&ids[1]).unwrap().availability, Availability::Away);

    fake.set_agent_presence(BOB, "Available", "Available")
        .unwrap();
    let view = cache.view(&ids).await;
    assert_eq!(
        view.get(&ids[1]).unwrap().availability,
        Availability::Away,
        "cached"
    );
    assert_eq!(
        requests_to(&fake, "/v1.0/communications/getPresencesByUserId"),
        1
    );

    // Only the id not cached yet is fetched.
    let more = [TeamsUserId::from(ANN), TeamsUserId::from(GUEST)];
    let view = cache.view(&more).await;
    assert_eq!(view.len(), 2);
    let last = fake.requests().last().unwrap().json().unwrap();
    assert_eq!(last["ids"], serde_json::json!([GUEST]));

    cache.clear().await;
    let view = cache.view(&ids).await;
    assert_eq!(
        view.get(&ids[1]).unwrap().availability,
        Availability::Available
    );
}

#[tokio::test]
async fn presence_cache_refreshes_after_ttl() {
    let (fake, client) = setup().await;
    let cache = cache(&client, Duration::ZERO);
    let ids = [TeamsUserId::from(BOB)];
    assert_eq!(
        cache.view(&ids).await.get(&ids[0]).unwrap().availability,
        Availability::Away
    );
    fake.set_agent_presence(BOB, "Available", "Available")
        .unwrap();
    assert_eq!(
        cache.view(&ids).await.get(&ids[0]).unwrap().availability,
        Availability::Available
    );
}

#[tokio::test]
async fn graph_outage_keeps_last_readings_and_never_fails() {
    let (fake, client) = setup().await;
    let cache = cache(&client, Duration::ZERO);
    let ids = [TeamsUserId::from(ANN), TeamsUserId::from(GUEST)];
    let first = cache.view(&ids[..1]).await;
    let first_seen = first.get(&ids[0]).unwrap().observed_at;

    fail_always(&fake, status(500));
    let view = cache.view(&ids).await;
    // ANN keeps its last reading (with the original time, so the engine can call it stale);
    // GUEST was never read and is unknown.
    assert_eq!(view.get(&ids[0]).unwrap().observed_at, first_seen);
    assert!(view.get(&ids[1]).is_none());
    let err = cache.last_error().await.unwrap();
    assert!(err.contains("500"), "{err}");

    recover(&fake);
    let view = cache.view(&ids).await;
    assert_eq!(view.len(), 2);
    assert!(cache.last_error().await.is_none());
}

#[tokio::test]
async fn missing_permission_falls_back_to_an_empty_view() {
    let (fake, client) = setup().await;
    fail_always(&fake, status(403));
    let cache = cache(&client, Duration::ZERO);
    let view = cache.view(&[TeamsUserId::from(ANN)]).await;
    assert!(view.is_empty());
    assert!(cache.last_error().await.unwrap().contains("403"));
}

#[tokio::test]
async fn after_a_failure_graph_is_left_alone_for_the_backoff() {
    let (fake, client) = setup().await;
    let cache = PresenceCache::new(
        client,
        PresenceCacheOptions {
            ttl: Duration::ZERO,
            refresh_timeout: Duration::from_secs(5),
            error_backoff: Duration::from_secs(3_600),
        },
    );
    fail_next(&fake, [status(400)]);
    let ids = [TeamsUserId::from(ANN)];
    assert!(cache.view(&ids).await.is_empty());
    assert!(cache.view(&ids).await.is_empty());
    assert_eq!(fake.requests().len(), 1, "second view did not call Graph");
}

#[tokio::test]
async fn roster_resolves_upns_and_names_and_lists_failures() {
    let (fake, client) = setup().await;
    let cfg = RoutingConfig::from_toml_str(&format!(
        r#"
        [[agents]]
        oid = "{BOB}"
        name = "Robert"
        [[agents]]
        upn = "ann@contoso.com"
        [[agents]]
        name = "Anna Smith"
        skills = {{ sales = 2 }}
        "#
    ))
    .unwrap();
    let roster = Roster::resolve(&cfg, &client).await.unwrap();
    let oids: Vec<&str> = roster.agents().iter().map(|a| a.oid.as_str()).collect();
    assert_eq!(oids, vec![BOB, ANN, ANNA], "configuration order");
    assert_eq!(
        roster.agents()[0].display_name,
        "Robert",
        "config name wins"
    );
    assert_eq!(
        roster.agents()[1].display_name,
        "Ann Lee",
        "Graph fills the name"
    );
    assert_eq!(roster.agents()[2].upn.as_deref(), Some("anna@contoso.com"));
    // The OID entry was not looked up.
    assert!(!fake.requests().iter().any(|l| l.path.contains(BOB)));

    let cfg = RoutingConfig::from_toml_str(&format!(
        r#"
        [[agents]]
        name = "Bob Jones"
        [[agents]]
        upn = "ghost@contoso.com"
        [[agents]]
        oid = "{ANN}"
        [[agents]]
        upn = "ann@contoso.com"
        "#
    ))
    .unwrap();
    let err = Roster::resolve(&cfg, &client).await.unwrap_err();
    let idx: Vec<usize> = err.failures.iter().map(|f| f.0).collect();
    assert_eq!(idx, vec![0, 1, 3]);
    assert!(err.failures[2].2.contains("same user"), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn oid_only_agents_get_names_from_graph_best_effort() {
    let (fake, client) = setup().await;
    let cfg = RoutingConfig::from_toml_str(&format!(
        "[[agents]]\noid = \"{BOB}\"\n[[agents]]\noid = \"{ANN}\"\nname = \"Annie\"\n[[agents]]\noid = \"99999999-0000-4000-8000-000000000000\"\n"
    ))
    .unwrap();
    let mut roster = Roster::resolve(&cfg, &client).await.unwrap();
    assert_eq!(roster.agents()[0].display_name, BOB, "no name yet");
    let updated = roster.fill_names_from_graph(&client).await;
    assert_eq!(updated, 2);
    assert_eq!(roster.agents()[0].display_name, "Bob Jones");
    assert_eq!(roster.agents()[0].upn.as_deref(), Some("bob@contoso.com"));
    assert_eq!(
        roster.agents()[1].display_name,
        "Annie",
        "configured name kept"
    );
    assert_eq!(roster.agents()[1].upn.as_deref(), Some("ann@contoso.com"));
    // Unknown user: unchanged, no error.
    assert_eq!(
        roster.agents()[2].display_name,
        "99999999-0000-4000-8000-000000000000"
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn roster_resolution_during_an_outage_is_retryable() {
    let (fake, client) = setup().await;
    fail_always(&fake, throttled(600));
    let cfg = RoutingConfig::from_toml_str("[[agents]]\nupn = \"ann@contoso.com\"\n").unwrap();
    let err = Roster::resolve(&cfg, &client).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
