//! Handlers of the Entra token endpoints (see [`crate::entra`] for what they hand out).
//! Errors use each endpoint's own dialect: the identity platform's
//! `{"error","error_description","error_codes",…}`, App Service's `{"statusCode","message"}`
//! and IMDS's `{"error","error_description"}`.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::record::note;
use super::{apply_faults, AppState, Surface};
use crate::auth::constant_time_eq;
use crate::entra::{Audience, DEFAULT_GRAPH_TOKEN, IDENTITY_OPERATION, TOKEN_OPERATION};
use crate::net::ConnMeta;
use crate::request_log::AuthCheck;

/// The identity platform's error body.
pub(crate) fn identity_error(
    status: StatusCode,
    error: &str,
    code: u32,
    description: &str,
) -> Response {
    let now = time::OffsetDateTime::now_utc();
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description}"),
        "error_codes": [code],
        "timestamp": crate::wire::event_grid_time(now),
        "trace_id": uuid::Uuid::new_v4().to_string(),
        "correlation_id": uuid::Uuid::new_v4().to_string(),
    });
    (status, Json(body)).into_response()
}

/// The token for `audience`, or why there is none.
fn token_for(app: &AppState, audience: Audience) -> Result<String, String> {
    match audience {
        Audience::Graph => Ok(app
            .graph_bearer
            .as_ref()
            .map(|t| t.expose().to_owned())
            .unwrap_or_else(|| DEFAULT_GRAPH_TOKEN.to_owned())),
        Audience::Acs => app
            .bearer
            .as_ref()
            .map(|t| t.expose().to_owned())
            .ok_or_else(|| {
                "the simulator's Call Automation surface accepts no bearer token (start it with accept_bearer)".to_owned()
            }),
    }
}

fn expires_on(app: &AppState) -> i64 {
    let lifetime = i64::try_from(app.entra.token_lifetime_secs).unwrap_or(3_600);
    time::OffsetDateTime::now_utc().unix_timestamp() + lifetime
}

/// `POST /{tenant}/oauth2/v2.0/token`: the client credentials grant.
pub(crate) async fn token(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(r) = apply_faults(&app, TOKEN_OPERATION, Surface::Entra, &conn).await {
        return r;
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let bad = StatusCode::BAD_REQUEST;
    if tenant.trim().is_empty() {
        return identity_error(
            bad,
            "invalid_request",
            900023,
            "Specified tenant identifier is neither a valid DNS name, nor a valid external domain.",
        );
    }
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return identity_error(
                bad,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            )
        }
        None => {
            return identity_error(
                bad,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        }
    }
    let Some(client_id) = field("client_id") else {
        return identity_error(
            bad,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(secret) = field("client_secret") else {
        return identity_error(bad, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
    };
    if !app.entra.apps.is_empty() {
        let Some(registered) = app.entra.apps.iter().find(|a| a.client_id == client_id) else {
            note(|r| {
                r.auth = AuthCheck::Failed {
                    reason: format!("unknown client id {client_id}"),
                }
            });
            return identity_error(bad, "unauthorized_client", 700016, &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."));
        };
        if !constant_time_eq(
            secret.as_bytes(),
            registered.client_secret.expose().as_bytes(),
        ) {
            note(|r| {
                r.auth = AuthCheck::Failed {
                    reason: "invalid client secret".into(),
                }
            });
            return identity_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.");
        }
    }
    note(|r| r.auth = AuthCheck::ClientSecret);
    let Some(scope) = field("scope") else {
        return identity_error(
            bad,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    };
    if !scope.trim_end().ends_with("/.default") {
        return identity_error(bad, "invalid_scope", 1002012, &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."));
    }
    let audience = match Audience::parse(scope) {
        Some(a) => a,
        None => {
            return identity_error(
                bad,
                "invalid_resource",
                500011,
                &format!(
                "The resource principal named {scope} was not found in the tenant named {tenant}."
            ),
            )
        }
    };
    match token_for(&app, audience) {
        Ok(token) => {
            let lifetime = app.entra.token_lifetime_secs;
            Json(json!({
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": token,
            }))
            .into_response()
        }
        Err(why) => identity_error(bad, "invalid_resource", 500011, &why),
    }
}

fn query(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// `GET /msi/token`: App Service / Container Apps, api-version 2019-08-01.
pub(crate) async fn app_service(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(r) = apply_faults(&app, IDENTITY_OPERATION, Surface::Entra, &conn).await {
        return r;
    }
    let fail = |status: StatusCode, message: &str| {
        (
            status,
            Json(json!({"statusCode": status.as_u16(), "message": message})),
        )
            .into_response()
    };
    let q = query(raw.as_deref());
    let presented = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let header_ok = match (presented, &app.entra.identity_header) {
        (None, _) => false,
        (Some(p), Some(expected)) => constant_time_eq(p.as_bytes(), expected.expose().as_bytes()),
        (Some(_), None) => true,
    };
    if !header_ok {
        note(|r| {
            r.auth = AuthCheck::Failed {
                reason: "missing or wrong X-IDENTITY-HEADER".into(),
            }
        });
        return fail(
            StatusCode::UNAUTHORIZED,
            "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.",
        );
    }
    note(|r| r.auth = AuthCheck::IdentityHeader);
    if param(&q, "api-version") != Some("2019-08-01") {
        return fail(
            StatusCode::BAD_REQUEST,
            "The api-version query parameter must be 2019-08-01.",
        );
    }
    let Some(resource) = param(&q, "resource") else {
        return fail(
            StatusCode::BAD_REQUEST,
            "The resource query parameter is required.",
        );
    };
    let Some(audience) = Audience::parse(resource) else {
        return fail(
            StatusCode::BAD_REQUEST,
            &format!("No token can be issued for resource '{resource}'."),
        );
    };
    match token_for(&app, audience) {
        Ok(token) => {
            let mut body = json!({
                "access_token": token,
                "expires_on": expires_on(&app).to_string(),
                "resource": audience.resource(),
                "token_type": "Bearer",
            });
            if let Some(id) = param(&q, "client_id") {
                body["client_id"] = Value::String(id.to_owned());
            }
            Json(body).into_response()
        }
        Err(why) => fail(StatusCode::BAD_REQUEST, &why),
    }
}

/// `GET /metadata/identity/oauth2/token`: IMDS, api-version 2018-02-01.
pub(crate) async fn imds(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(r) = apply_faults(&app, IDENTITY_OPERATION, Surface::Entra, &conn).await {
        return r;
    }
    let fail = |error: &str, description: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    let metadata = headers
        .get("metadata")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !metadata {
        note(|r| {
            r.auth = AuthCheck::Failed {
                reason: "missing Metadata: true".into(),
            }
        });
        return fail("invalid_request", "Required metadata header not specified");
    }
    note(|r| r.auth = AuthCheck::IdentityHeader);
    let q = query(raw.as_deref());
    if param(&q, "api-version").is_none() {
        return fail(
            "invalid_request",
            "Required query variable 'api-version' is missing",
        );
    }
    let Some(audience) = param(&q, "resource").and_then(Audience::parse) else {
        return fail(
            "invalid_resource",
            "The resource is missing or not one the simulator issues tokens for",
        );
    };
    match token_for(&app, audience) {
        Ok(token) => {
            let lifetime = app.entra.token_lifetime_secs;
            let on = expires_on(&app);
            Json(json!({
                "access_token": token,
                "refresh_token": "",
                "expires_in": lifetime.to_string(),
                "expires_on": on.to_string(),
                "not_before": (on - i64::try_from(lifetime).unwrap_or(0)).to_string(),
                "resource": audience.resource(),
                "token_type": "Bearer",
            }))
            .into_response()
        }
        Err(why) => fail("invalid_resource", &why),
    }
}
