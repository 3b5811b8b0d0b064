//! Microsoft Entra bearer auth end to end: a static token, managed identity (Container Apps
//! and IMDS flavours) and client secret, each against a fake token endpoint on a real socket,
//! then used against the fake ACS.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use common::{fast_options, Auth, FakeAcs};
use serde_json::json;
use switchboard_callautomation::auth::{
    ClientSecretCredential, ManagedIdentityCredential, ManagedIdentitySource, StaticTokenCredential,
};
use switchboard_callautomation::*;
use switchboard_events::CallConnectionId;
use url::Url;

fn call() -> CallConnectionId {
    CallConnectionId::from("call-1")
}

/// What the fake token endpoint saw.
#[derive(Default)]
struct Seen {
    queries: Vec<HashMap<String, String>>,
    headers: Vec<HeaderMap>,
    forms: Vec<HashMap<String, String>>,
}

struct TokenServer {
    url: Url,
    seen: Arc<Mutex<Seen>>,
    /// Status to answer with (200 = issue a token).
    status: Arc<Mutex<u16>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = (Arc<Mutex<Seen>>, Arc<Mutex<u16>>);

async fn identity(
    State((seen, status)): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> axum::response::Response {
    seen.lock().unwrap().queries.push(q);
    seen.lock().unwrap().headers.push(headers);
    let status = *status.lock().unwrap();
    if status != 200 {
        let body = json!({"error": "invalid_request", "error_description": "Identity not found"});
        return (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    }
    let expires_on = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    Json(json!({
        "access_token": "mi-token-abc",
        "expires_on": expires_on.to_string(),
        "resource": "https://communication.azure.com/",
        "token_type": "Bearer"
    }))
    .into_response()
}

async fn aad(
    State((seen, status)): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    seen.lock().unwrap().forms.push(form);
    seen.lock().unwrap().headers.push(headers);
    let status = *status.lock().unwrap();
    if status != 200 {
        let body = json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."});
        return (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    }
    Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "aad-token-xyz"}))
        .into_response()
}

async fn token_server() -> TokenServer {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let status = Arc::new(Mutex::new(200));
    let app = Router::new()
        .route("/msi/token", get(identity))
        .route("/metadata/identity/oauth2/token", get(identity))
        .route("/{tenant}/oauth2/v2.0/token", post(aad))
        .with_state((seen.clone(), status.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TokenServer {
        url: Url::parse(&format!("http://{addr}/")).unwrap(),
        seen,
        status,
        task,
    }
}

#[tokio::test]
async fn static_token_is_sent_as_bearer_without_hmac() {
    let acs = FakeAcs::start(Auth::Bearer("static-token-1".into())).await;
    let client = acs.client_with(
        Credential::token(StaticTokenCredential::long_lived("static-token-1")),
        fast_options(),
    );
    client
        .get_call(&call(), RequestOptions::default())
        .await
        .unwrap();
    let r = &acs.requests()[0];
    assert_eq!(r.auth, Ok(()));
    assert_eq!(r.header("authorization"), Some("Bearer static-token-1"));
    assert!(r.header("x-ms-content-sha256").is_none());
    assert!(!format!("{client:?}").contains("static-token-1"));
}

#[tokio::test]
async fn container_apps_managed_identity_flow() {
    let tokens = token_server().await;
    let endpoint = tokens.url.join("msi/token").unwrap();
    let env = {
        let endpoint = endpoint.to_string();
        move |name: &str| match name {
            "IDENTITY_ENDPOINT" => Some(endpoint.clone()),
            "IDENTITY_HEADER" => Some("identity-header-secret".to_owned()),
            _ => None,
        }
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
    let acs = FakeAcs::start(Auth::Bearer("mi-token-abc".into())).await;
    let client = acs.client_with(Credential::token(credential), fast_options());
    client
        .get_call(&call(), RequestOptions::default())
        .await
        .unwrap();
    client
        .hang_up(&call(), RequestOptions::default())
        .await
        .unwrap();
    assert!(acs.requests().iter().all(|r| r.auth.is_ok()));

    let seen = tokens.seen.lock().unwrap();
    assert_eq!(seen.queries.len(), 1, "the token is cached across calls");
    let q = &seen.queries[0];
    assert_eq!(q["api-version"], "2019-08-01");
    assert_eq!(q["resource"], "https://communication.azure.com/");
    assert_eq!(q["client_id"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(
        seen.headers[0]["x-identity-header"],
        "identity-header-secret"
    );
}

#[tokio::test]
async fn imds_managed_identity_flow_system_assigned() {
    let tokens = token_server().await;
    let credential = ManagedIdentityCredential::with_source(
        ManagedIdentitySource::Imds {
            endpoint: tokens.url.join("metadata/identity/oauth2/token").unwrap(),
        },
        None,
    )
    .unwrap();
    let acs = FakeAcs::start(Auth::Bearer("mi-token-abc".into())).await;
    let client = acs.client_with(Credential::token(credential), fast_options());
    client
        .get_call(&call(), RequestOptions::default())
        .await
        .unwrap();
    let seen = tokens.seen.lock().unwrap();
    assert_eq!(seen.queries[0]["api-version"], "2018-02-01");
    assert!(!seen.queries[0].contains_key("client_id"));
    assert_eq!(seen.headers[0]["metadata"], "true");
}

#[tokio::test]
async fn client_secret_flow() {
    let tokens = token_server().await;
    let credential =
        ClientSecretCredential::new("contoso.onmicrosoft.com", "app-id-1", "very-secret")
            .unwrap()
            .with_authority_host(tokens.url.clone())
            .unwrap();
    let acs = FakeAcs::start(Auth::Bearer("aad-token-xyz".into())).await;
    let client = acs.client_with(Credential::token(credential), fast_options());
    client
        .get_call(&call(), RequestOptions::default())
        .await
        .unwrap();
    client
        .get_call(&call(), RequestOptions::default())
        .await
        .unwrap();
    let seen = tokens.seen.lock().unwrap();
    assert_eq!(seen.forms.len(), 1, "cached");
    let f = &seen.forms[0];
    assert_eq!(f["grant_type"], "client_credentials");
    assert_eq!(f["client_id"], "app-id-1");
    assert_eq!(f["client_secret"], "very-secret");
    assert_eq!(f["scope"], "https://communication.azure.com//.default");
}

#[tokio::test]
async fn token_failures_surface_as_auth_errors_and_acs_is_not_called() {
    let tokens = token_server().await;
    *tokens.status.lock().unwrap() = 401;
    let credential = ClientSecretCredential::new("t", "app", "wrong-secret")
        .unwrap()
        .with_authority_host(tokens.url.clone())
        .unwrap();
    let acs = FakeAcs::start(Auth::Bearer("x".into())).await;
    let client = acs.client_with(Credential::token(credential), fast_options());
    let err = client
        .get_call(&call(), RequestOptions::default())
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
    assert!(acs.requests().is_empty());

    // A 503 from the identity endpoint is retried (and here keeps failing).
    *tokens.status.lock().unwrap() = 503;
    let mi = ManagedIdentityCredential::with_source(
        ManagedIdentitySource::AppService {
            endpoint: tokens.url.join("msi/token").unwrap(),
            header: "h".into(),
        },
        None,
    )
    .unwrap();
    let client = acs.client_with(Credential::token(mi), fast_options());
    let err = client
        .get_call(&call(), RequestOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Auth { retryable: true });
    assert_eq!(err.attempts(), 3);
    assert!(acs.requests().is_empty());
    // Once the endpoint recovers, calls go through with the new token.
    *tokens.status.lock().unwrap() = 200;
    let acs = FakeAcs::start(Auth::Bearer("mi-token-abc".into())).await;
    let mi = ManagedIdentityCredential::with_source(
        ManagedIdentitySource::AppService {
            endpoint: tokens.url.join("msi/token").unwrap(),
            header: "h".into(),
        },
        None,
    )
    .unwrap();
    let client = acs.client_with(Credential::token(mi), fast_options());
    client
        .get_call(&call(), RequestOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn unauthorized_from_acs_is_not_retried() {
    let acs = FakeAcs::start(Auth::Bearer("right".into())).await;
    let client = acs.client_with(
        Credential::token(StaticTokenCredential::long_lived("wrong")),
        fast_options(),
    );
    let err = client
        .get_call(&call(), RequestOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(acs.requests().len(), 1);
}
