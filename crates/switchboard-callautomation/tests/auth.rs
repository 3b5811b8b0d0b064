//! Microsoft Entra bearer auth end to end: a static token, managed identity (Container Apps
//! and IMDS flavours) and client secret, each against the simulator's token endpoints on a
//! real socket, then used against the simulator's Call Automation surface.

mod common;

use common::{fast_options, Acs};
use switchboard_callautomation::auth::{
    ClientSecretCredential, ManagedIdentityCredential, ManagedIdentitySource, StaticTokenCredential,
};
use switchboard_callautomation::*;
use switchboard_events::CallConnectionId;
use switchboard_sim::{
    AuthCheck, EntraApp, EntraConfig, FaultKind, FaultRule, FaultSpec, Faults, RecordedRequest,
    RequestSurface, Secret, SimConfig,
};

/// A simulator accepting bearer `token` on Call Automation, whose token endpoints hand it out.
async fn acs_with_entra(token: &str, entra: EntraConfig) -> Acs {
    Acs::start_with(SimConfig {
        accept_bearer: Some(Secret::new(token)),
        entra,
        ..SimConfig::default()
    })
    .await
}

/// The requests that reached `surface`.
fn on(acs: &Acs, surface: RequestSurface) -> Vec<RecordedRequest> {
    acs.requests()
        .into_iter()
        .filter(|r| r.surface == surface)
        .collect()
}

#[tokio::test]
async fn static_token_is_sent_as_bearer_without_hmac() {
    let acs = Acs::bearer("static-token-1").await;
    let call = acs.connected_call().await.id;
    let client = acs.client_with(
        Credential::token(StaticTokenCredential::long_lived("static-token-1")),
        fast_options(),
    );
    client
        .get_call(&call, RequestOptions::default())
        .await
        .unwrap();
    let r = &acs.requests()[0];
    assert_eq!(r.auth, AuthCheck::Bearer);
    assert_eq!(r.header("authorization"), Some("Bearer static-token-1"));
    assert!(r.header("x-ms-content-sha256").is_none());
    assert!(!format!("{client:?}").contains("static-token-1"));
}

#[tokio::test]
async fn container_apps_managed_identity_flow() {
    let acs = acs_with_entra(
        "mi-token-abc",
        EntraConfig {
            identity_header: Some(Secret::new("identity-header-secret")),
            ..EntraConfig::default()
        },
    )
    .await;
    let call = acs.connected_call().await.id;
    let endpoint = format!("{}/msi/token", acs.sim.base_url());
    let env = move |name: &str| match name {
        "IDENTITY_ENDPOINT" => Some(endpoint.clone()),
        "IDENTITY_HEADER" => Some("identity-header-secret".to_owned()),
        _ => None,
    };
    let credential = ManagedIdentityCredential::from_env(
        env,
        Some("11111111-2222-3333-4444-555555555555".into()),
    )
    .unwrap();
    assert!(matches!(
        credential.source(),
        ManagedIdentitySource::AppService { .. }
    ));
    let client = acs.client_with(Credential::token(credential), fast_options());
    client
        .get_call(&call, RequestOptions::default())
        .await
        .unwrap();
    client
        .hang_up(&call, RequestOptions::default())
        .await
        .unwrap();
    let calls = on(&acs, RequestSurface::CallAutomation);
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|r| r.auth == AuthCheck::Bearer));

    let seen = on(&acs, RequestSurface::ManagedIdentity);
    assert_eq!(seen.len(), 1, "the token is cached across calls");
    let q = &seen[0];
    assert_eq!(q.path, "/msi/token");
    assert_eq!(q.query_param("api-version").as_deref(), Some("2019-08-01"));
    assert_eq!(
        q.query_param("resource").as_deref(),
        Some("https://communication.azure.com/")
    );
    assert_eq!(
        q.query_param("client_id").as_deref(),
        Some("11111111-2222-3333-4444-555555555555")
    );
    assert_eq!(
        q.header("x-identity-header"),
        Some("identity-header-secret")
    );
    assert_eq!(q.auth, AuthCheck::IdentityHeader);
}

#[tokio::test]
async fn imds_managed_identity_flow_system_assigned() {
    let acs = acs_with_entra("mi-token-abc", EntraConfig::default()).await;
    let call = acs.connected_call().await.id;
    let credential = ManagedIdentityCredential::with_source(
        ManagedIdentitySource::Imds {
            endpoint: acs
                .endpoint()
                .join("metadata/identity/oauth2/token")
                .unwrap(),
        },
        None,
    )
    .unwrap();
    let client = acs.client_with(Credential::token(credential), fast_options());
    client
        .get_call(&call, RequestOptions::default())
        .await
        .unwrap();
    let seen = on(&acs, RequestSurface::ManagedIdentity);
    assert_eq!(
        seen[0].query_param("api-version").as_deref(),
        Some("2018-02-01")
    );
    assert!(seen[0].query_param("client_id").is_none());
    assert_eq!(seen[0].header("metadata"), Some("true"));
}

#[tokio::test]
async fn client_secret_flow() {
    let acs = acs_with_entra(
        "aad-token-xyz",
        EntraConfig {
            apps: vec![EntraApp::new("app-id-1", "very-secret")],
            ..EntraConfig::default()
        },
    )
    .await;
    let call = acs.connected_call().await.id;
    let credential =
        ClientSecretCredential::new("contoso.onmicrosoft.com", "app-id-1", "very-secret")
            .unwrap()
            .with_authority_host(acs.endpoint())
            .unwrap();
    let client = acs.client_with(Credential::token(credential), fast_options());
    client
        .get_call(&call, RequestOptions::default())
        .await
        .unwrap();
    client
        .get_call(&call, RequestOptions::default())
        .await
        .unwrap();
    let seen = on(&acs, RequestSurface::EntraToken);
    assert_eq!(seen.len(), 1, "cached");
    let f = &seen[0];
    assert_eq!(f.path, "/contoso.onmicrosoft.com/oauth2/v2.0/token");
    assert_eq!(
        f.form_field("grant_type").as_deref(),
        Some("client_credentials")
    );
    assert_eq!(f.form_field("client_id").as_deref(), Some("app-id-1"));
    assert_eq!(
        f.form_field("client_secret").as_deref(),
        Some("very-secret")
    );
    assert_eq!(
        f.form_field("scope").as_deref(),
        Some("https://communication.azure.com//.default")
    );
    // What the control API would show: the secret is not in it.
    assert!(!serde_json::to_string(f).unwrap().contains("very-secret"));
}

#[tokio::test]
async fn token_failures_surface_as_auth_errors_and_acs_is_not_called() {
    let acs = acs_with_entra(
        "mi-token-abc",
        EntraConfig {
            apps: vec![EntraApp::new("app", "the-right-secret")],
            ..EntraConfig::default()
        },
    )
    .await;
    let call = acs.connected_call().await.id;
    let credential = ClientSecretCredential::new("t", "app", "wrong-secret")
        .unwrap()
        .with_authority_host(acs.endpoint())
        .unwrap();
    let client = acs.client_with(Credential::token(credential), fast_options());
    let err = client
        .get_call(&call, RequestOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Auth { retryable: false });
    assert_eq!(err.attempts(), 1, "a rejected secret is not retried");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        source.contains("HTTP 401") && source.contains("AADSTS7000215"),
        "{source}"
    );
    assert!(!source.contains("wrong-secret"));
    assert!(on(&acs, RequestSurface::CallAutomation).is_empty());

    // A 503 from the identity endpoint is retried (and here keeps failing).
    let mut faults = Faults::default();
    faults.operations.insert(
        "ManagedIdentity_Token".into(),
        FaultSpec {
            latency: None,
            rules: vec![FaultRule::always(FaultKind::Status { status: 503 })],
        },
    );
    acs.sim.set_faults(faults).unwrap();
    let mi = || {
        ManagedIdentityCredential::with_source(
            ManagedIdentitySource::AppService {
                endpoint: acs.endpoint().join("msi/token").unwrap(),
                header: "h".into(),
            },
            None,
        )
        .unwrap()
    };
    let client = acs.client_with(Credential::token(mi()), fast_options());
    let err = client
        .get_call(&call, RequestOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Auth { retryable: true });
    assert_eq!(err.attempts(), 3);
    assert!(on(&acs, RequestSurface::CallAutomation).is_empty());
    // Once the endpoint recovers, calls go through with the new token.
    acs.sim.set_faults(Faults::default()).unwrap();
    let client = acs.client_with(Credential::token(mi()), fast_options());
    client
        .get_call(&call, RequestOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn unauthorized_from_acs_is_not_retried() {
    let acs = Acs::bearer("right").await;
    let client = acs.client_with(
        Credential::token(StaticTokenCredential::long_lived("wrong")),
        fast_options(),
    );
    let err = client
        .get_call(&CallConnectionId::from("call-1"), RequestOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(acs.requests().len(), 1);
}
