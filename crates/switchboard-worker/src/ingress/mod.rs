//! The callback ingress: Call Automation callbacks in, durable queue messages out. It is the
//! only door the internet has into a deployment, so it lets nothing forged in and drops
//! nothing valid.
//!
//! `POST /api/callbacks` receives the JSON array of CloudEvents that Call Automation POSTs.
//! The `Authorization: Bearer` JWT ([`jwt`]) is checked **before the body is read**; the body
//! is then read up to `ingress.max_body_bytes` (413 beyond). [`batch`] splits it: one queue
//! message per accepted event (message id = event id, so the queue's duplicate detection drops
//! ACS's redeliveries; session id = correlationId, so one call's events are handled in order),
//! and each refused element — malformed, missing fields, an unknown type, a foreign type, or a
//! forged internal `Switchboard.*` type — a dead letter on the rejects queue with its reason
//! (`switchboard dlq list --queue rejects`). `publish` sends the events in batches that fit
//! the queue's message size limit and answers 2xx once everything valid is durable; only a
//! retryable publish failure answers 503.
//!
//! `POST /api/incoming-calls` is the optional Event Grid webhook for IncomingCall: Microsoft
//! Entra protected delivery (the token's issuer, audience and Event Grid's application are
//! checked), the subscription-validation handshake (Event Grid schema `validationCode`, and
//! the CloudEvents `OPTIONS` abuse-protection handshake), then the same split into the
//! incoming-calls queue.
//!
//! Answers to a refused token are a bare 401 `Unauthorized`; the reason goes to the logs and
//! to `switchboard_ingress_auth_failures_total{endpoint, reason}`. Every request runs under a
//! timeout and a concurrency limit. `GET /healthz` is liveness; `GET /readyz` is ready once
//! the signing keys are in the cache (it never fetches). `/metrics` is served only on the
//! status listener ([`status_router`]), never on the public port.

pub mod batch;
pub mod coalesce;
pub mod jwt;
mod message;
mod port;
pub(crate) mod publish;
mod state;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use jwt::AuthError;
pub use message::{outgoing, IngressMessage};
pub use port::{PublishError, Publisher, RejectMessage};
use state::error;
pub use state::{CallbackAuth, IngressState};

/// What the ingress would publish for a callback body, or its first refusal (the replay
/// tool plans exactly what the ingress would do).
pub fn split_callbacks(body: &[u8]) -> Result<Vec<IngressMessage>, String> {
    let s = batch::split(body);
    match s.rejected.first() {
        Some(r) => Err(format!("{}: {}", r.reason, r.description)),
        None => Ok(s.accepted),
    }
}

/// Limits of the public router.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request taking longer (slow body included) is cut off: 408.
    pub request_timeout: Duration,
    /// Requests served at once; more wait for a slot (within their timeout).
    pub max_concurrent_requests: usize,
}

/// The public router: the two endpoints, `/healthz` and `/readyz`, under the timeout and the
/// concurrency limit. No `/metrics` here (see [`status_router`]).
pub fn router(state: Arc<IngressState>, limits: Limits) -> Router {
    let slots = Arc::new(Semaphore::new(limits.max_concurrent_requests.max(1)));
    let timeout = limits.request_timeout;
    Router::new()
        .route("/api/callbacks", post(callbacks))
        .route(
            "/api/incoming-calls",
            post(eventgrid).options(eventgrid_options),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let slots = slots.clone();
            async move { guarded(slots, timeout, req, next).await }
        }))
        .with_state(state)
}

/// `/metrics`, `/healthz` and `/readyz` for the status listener.
pub fn status_router(state: Arc<IngressState>) -> Router {
    crate::telemetry::router(state.metrics.clone()).route(
        "/readyz",
        get(move || {
            let s = state.clone();
            async move { readyz(State(s)).await }
        }),
    )
}

/// Hand-rolled timeout and concurrency limit (tokio only, no extra tower features): waiting
/// for a slot counts against the request's time.
async fn guarded(slots: Arc<Semaphore>, timeout: Duration, req: Request, next: Next) -> Response {
    let run = async move {
        let _permit = slots.acquire_owned().await;
        next.run(req).await
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => error(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            "request took too long",
        ),
    }
}

async fn readyz(State(s): State<Arc<IngressState>>) -> Response {
    let mut ready = match &s.auth {
        CallbackAuth::None => true,
        CallbackAuth::Jwt(v) => v.has_keys(),
    };
    if let Some(CallbackAuth::Jwt(v)) = &s.eventgrid_auth {
        ready &= v.has_keys();
    }
    if ready {
        (StatusCode::OK, "ready").into_response()
    } else {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NotReady",
            "signing keys not loaded",
        )
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Check the caller; `Err` is the answer. Coarse on purpose: the reason is logged and counted,
/// never told.
async fn authenticate(
    s: &IngressState,
    auth: &CallbackAuth,
    headers: &HeaderMap,
    endpoint: &'static str,
) -> Result<(), Response> {
    let CallbackAuth::Jwt(v) = auth else {
        return Ok(());
    };
    match v.verify_header(header(headers, "authorization")).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::info!(error = %e, endpoint, "request refused");
            s.metrics.inc(
                "switchboard_ingress_auth_failures_total",
                &[("endpoint", endpoint), ("reason", e.label())],
            );
            Err(match e {
                AuthError::KeysUnavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "5")],
                    "Service Unavailable",
                )
                    .into_response(),
                _ => (
                    StatusCode::UNAUTHORIZED,
                    [("www-authenticate", "Bearer")],
                    "Unauthorized",
                )
                    .into_response(),
            })
        }
    }
}

/// Read the body (after authentication) up to the limit. A declared length over the limit
/// is refused before reading anything.
async fn read_body(
    s: &IngressState,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, Response> {
    let declared = header(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    let result = match declared {
        Some(n) if n > s.max_body_bytes as u64 => None,
        _ => Some(axum::body::to_bytes(body, s.max_body_bytes).await),
    };
    let too_large = match result {
        Some(Ok(b)) => return Ok(b),
        None => true,
        // http-body-util's `LengthLimitError` (not re-exported by axum) somewhere in the chain.
        Some(Err(e)) => {
            let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            let mut hit = false;
            while let Some(x) = src {
                hit |= x.to_string().contains("length limit exceeded");
                src = x.source();
            }
            hit
        }
    };
    let reason = if too_large { "too_large" } else { "truncated" };
    s.metrics.inc(
        "switchboard_ingress_bad_bodies_total",
        &[("reason", reason)],
    );
    Err(if too_large {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!("the body exceeds {} bytes", s.max_body_bytes),
        )
    } else {
        error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body could not be read",
        )
    })
}

async fn callbacks(State(s): State<Arc<IngressState>>, headers: HeaderMap, body: Body) -> Response {
    if let Err(r) = authenticate(&s, &s.auth, &headers, "callbacks").await {
        return r;
    }
    let body = match read_body(&s, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let split = batch::split(&body);
    publish::deliver(&s, &s.events_queue, "callbacks", split).await
}

async fn eventgrid_options(State(s): State<Arc<IngressState>>, headers: HeaderMap) -> Response {
    if s.eventgrid_auth.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    // CloudEvents webhook abuse protection: echo the origin we accept.
    let origin = header(&headers, "webhook-request-origin").unwrap_or("eventgrid.azure.net");
    let mut resp = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(origin) {
        resp.headers_mut().insert("webhook-allowed-origin", v);
    }
    resp.headers_mut()
        .insert("webhook-allowed-rate", HeaderValue::from_static("120"));
    resp
}

async fn eventgrid(State(s): State<Arc<IngressState>>, headers: HeaderMap, body: Body) -> Response {
    let Some(auth) = &s.eventgrid_auth else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Err(r) = authenticate(&s, auth, &headers, "incoming-calls").await {
        return r;
    }
    let body = match read_body(&s, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // Subscription validation handshake (Event Grid schema).
    if header(&headers, "aeg-event-type") == Some("SubscriptionValidation") {
        let code = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            v.as_array()
                .and_then(|a| a.first())
                .and_then(|e| e.pointer("/data/validationCode"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        return match code {
            Some(c) => Json(json!({"validationResponse": c})).into_response(),
            None => error(StatusCode::BAD_REQUEST, "BadRequest", "no validationCode"),
        };
    }
    let mut split = batch::split(&body);
    // IncomingCall goes to a plain (not session-enabled) queue, as Event Grid delivers it in
    // Azure: one event per call has no order to keep (infra/modules/servicebus.bicep).
    for m in &mut split.accepted {
        m.session_id = None;
        m.application_properties
            .insert("aeg-event-type".into(), "Notification".into());
    }
    publish::deliver(&s, &s.incoming_queue, "incoming-calls", split).await
}
