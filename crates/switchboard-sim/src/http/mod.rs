//! The HTTP server: one router for every surface.
//!
//! | prefix | surface |
//! |---|---|
//! | `/calling/...` | Call Automation REST (HMAC / bearer, `api-version`, repeatability, spec validation) |
//! | `/calling/.well-known/acsopenidconfiguration`, `/calling/keys` | callback token discovery |
//! | `/v1.0/...` | Microsoft Graph subset (users, presence) |
//! | `/{tenant}/oauth2/v2.0/token`, `/msi/token`, `/metadata/identity/oauth2/token` | Entra token endpoints |
//! | `/__sim/...` | control API (no auth; local use) |
//!
//! Every request but the control API's goes into the request log (`record`).

pub(crate) mod calling;
pub(crate) mod control;
pub(crate) mod entra;
mod fault_answers;
pub(crate) mod graph;
pub(crate) mod record;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::Serialize;
use switchboard_contract::hmac::AccessKey;

use crate::engine::Engine;
use crate::error::{ApiError, GraphError};
use crate::faults::{Lost, RequestFault};
use crate::jwt::{JWKS_PATH, OPENID_CONFIG_PATH};
use crate::net::ConnMeta;
use crate::secret::Secret;

/// Where the simulator is and how to talk to it: the CLI's ready line and `GET /__sim/info`.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SimInfo {
    /// `127.0.0.1:PORT`.
    pub address: String,
    /// ACS endpoint (`http://127.0.0.1:PORT/`).
    pub endpoint: String,
    /// `endpoint=…;accesskey=…` for the Call Automation client. Contains the access key.
    pub connection_string: Secret,
    /// Signing keys of callback tokens (`/calling/keys`).
    pub jwks_url: String,
    /// OpenID discovery document for callback tokens.
    pub openid_configuration_url: String,
    /// The ACS resource id: audience of callback tokens.
    pub resource_id: String,
    /// Issuer of callback tokens.
    pub callback_issuer: String,
    /// Base URL of the Graph subset (append `/v1.0/...`).
    pub graph_base_url: String,
    /// Base URL of the control API.
    pub control_url: String,
    /// An Azure AI services endpoint to answer / create calls with
    /// (`callIntelligenceOptions.cognitiveServicesEndpoint`): text-to-speech and speech
    /// recognition are refused on calls set up without one (ADR 0009).
    pub cognitive_services_endpoint: String,
}

/// Shared state of all handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    pub engine: Arc<Engine>,
    pub key: AccessKey,
    pub bearer: Option<Secret>,
    pub graph_bearer: Option<Secret>,
    pub max_skew: Duration,
    pub info: Arc<SimInfo>,
    pub requests: Arc<crate::request_log::RequestLog>,
    pub entra: Arc<crate::entra::EntraConfig>,
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(OPENID_CONFIG_PATH, get(openid_configuration))
        .route(JWKS_PATH, get(jwks))
        .route("/calling/{*rest}", any(calling::handle))
        .route("/v1.0/users", get(graph::search_users))
        .route("/v1.0/users/{id}", get(graph::get_user))
        .route("/v1.0/users/{id}/presence", get(graph::get_presence))
        .route(
            "/v1.0/communications/getPresencesByUserId",
            post(graph::get_presences),
        )
        .route("/v1.0/{segment}", get(graph::get_user_by_key))
        .route("/{tenant}/oauth2/v2.0/token", post(entra::token))
        .route(
            crate::entra::APP_SERVICE_IDENTITY_PATH,
            get(entra::app_service),
        )
        .route(crate::entra::IMDS_IDENTITY_PATH, get(entra::imds))
        .nest("/__sim", control::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.requests),
            record::record,
        ))
        .with_state(state)
}

async fn openid_configuration(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(
        app.engine
            .signer
            .openid_configuration(&app.engine.cfg.base_url),
    )
}

async fn jwks(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(app.engine.signer.jwks())
}

async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The requested resource does not exist.",
    )
    .into_response()
}

/// Which error dialect a fault answers in.
#[derive(Clone, Copy)]
pub(crate) enum Surface {
    Acs,
    Graph,
    Entra,
}

/// Apply request faults for `operation`: sleep the latency, then maybe answer for it. A
/// [`RequestFault::Lost`] answers at once here (Graph and Entra reads have no effect to lose);
/// Call Automation uses [`roll_faults`] and [`lose_answer`] to handle the request first.
pub(crate) async fn apply_faults(
    app: &AppState,
    operation: &str,
    surface: Surface,
    conn: &ConnMeta,
) -> Option<Response> {
    let fault = roll_faults(app, operation, conn).await?;
    Some(match fault {
        RequestFault::Lost(lost) => lose_answer(lost, surface, conn).await,
        other => fault_answer(other, surface, conn).await,
    })
}

/// Sleep the latency for `operation` and throw its dice; the fault (if any) is noted in the
/// request log.
pub(crate) async fn roll_faults(
    app: &AppState,
    operation: &str,
    conn: &ConnMeta,
) -> Option<RequestFault> {
    record::note(|r| r.operation = Some(operation.to_owned()));
    let (latency, fault) = app.engine.faults.on_request(operation);
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    let fault = fault?;
    tracing::debug!(operation, ?fault, remote = %conn.remote, "injecting fault");
    let name = fault_answers::name(&fault);
    let kind = name
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(':');
    *app.engine
        .ledger_mut()
        .faults_injected
        .entry(kind.to_owned())
        .or_default() += 1;
    record::note(|r| r.fault = Some(name));
    Some(fault)
}

/// What the client sees of a request whose answer is lost (the effect, if any, happened).
pub(crate) async fn lose_answer(lost: Lost, surface: Surface, conn: &ConnMeta) -> Response {
    match lost {
        Lost::Reset => fault_answer(RequestFault::Reset, surface, conn).await,
        Lost::Status(s) => fault_answer(RequestFault::Status(s), surface, conn).await,
        Lost::Timeout(hang) => {
            tokio::time::sleep(hang).await;
            fault_answer(RequestFault::Reset, surface, conn).await
        }
    }
}

/// The answer a fault gives instead of the request's own.
pub(crate) async fn fault_answer(
    fault: RequestFault,
    surface: Surface,
    conn: &ConnMeta,
) -> Response {
    match (fault, surface) {
        (RequestFault::Lost(lost), surface) => Box::pin(lose_answer(lost, surface, conn)).await,
        (RequestFault::Respond(canned), _) => fault_answers::canned(canned).await,
        (f @ (RequestFault::Throttle { .. } | RequestFault::Status(_)), Surface::Entra) => {
            fault_answers::entra(&f)
        }
        (RequestFault::Reset, _) => {
            conn.reset();
            // Never written: the socket fails first.
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        (RequestFault::Throttle { retry_after_secs }, Surface::Acs) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Rate limit is exceeded. Try again later.",
        )
        .with_header("Retry-After", retry_after_secs.to_string())
        .into_response(),
        (RequestFault::Throttle { retry_after_secs }, Surface::Graph) => {
            let mut e = GraphError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests. Please retry after the number of seconds in the Retry-After header.",
            );
            e.retry_after = Some(retry_after_secs);
            e.into_response()
        }
        (RequestFault::Status(s), surface) => {
            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (code, msg) = match status {
                StatusCode::BAD_REQUEST => ("BadRequest", "The request is invalid."),
                StatusCode::UNAUTHORIZED => ("Unauthorized", "The request is not authorized."),
                StatusCode::FORBIDDEN => {
                    ("Forbidden", "The caller may not perform this operation.")
                }
                StatusCode::NOT_FOUND => ("NotFound", "The requested resource does not exist."),
                StatusCode::CONFLICT => {
                    ("Conflict", "The request conflicts with the current state.")
                }
                StatusCode::SERVICE_UNAVAILABLE => (
                    "ServiceUnavailable",
                    "The service is temporarily unavailable.",
                ),
                StatusCode::BAD_GATEWAY => ("BadGateway", "Bad gateway."),
                StatusCode::GATEWAY_TIMEOUT => ("GatewayTimeout", "Gateway timeout."),
                _ => ("InternalServerError", "An internal server error occurred."),
            };
            match surface {
                Surface::Acs => ApiError::new(status, code, msg).into_response(),
                Surface::Graph => GraphError::new(status, code, msg).into_response(),
                // Answered by the Entra arm above.
                Surface::Entra => status.into_response(),
            }
        }
    }
}
