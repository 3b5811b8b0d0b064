//! The callback ingress: Call Automation callbacks in, durable queue messages out.
//!
//! `POST /api/callbacks` receives the JSON array of CloudEvents that Call Automation POSTs,
//! checks the `Authorization: Bearer` JWT ([`jwt`]), decodes the body with the events crate
//! (malformed → 400, nothing queued), and publishes **one message per event**: message id = event
//! id (so the queue's duplicate detection drops ACS's redeliveries), session id = correlationId
//! (one call's events are handled in order by one worker at a time), and the event type in the
//! application properties. It answers 2xx only after the publish is durable; a failed publish
//! answers 503 so ACS retries.
//!
//! `POST /api/incoming-calls` is the optional Event Grid webhook for users who route IncomingCall
//! over HTTP instead of Service Bus: it answers the subscription-validation handshake (Event Grid
//! schema `validationCode`, and the CloudEvents `OPTIONS` abuse-protection handshake) and
//! publishes IncomingCall notifications to the incoming-calls queue.
//!
//! `GET /healthz` is liveness; `GET /readyz` is ready once the signing keys are loaded.

pub mod jwt;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::telemetry::Metrics;
use jwt::{AuthError, JwtVerifier};

/// A message the ingress hands to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressMessage {
    /// Queue message id: the event id, so a redelivered callback is absorbed as a duplicate.
    pub message_id: String,
    /// The call's correlation id on the session queue; `None` on the plain queue.
    pub session_id: Option<String>,
    /// The call's correlation id, for tracing across hops.
    pub correlation_id: Option<String>,
    /// Always `application/json` (the event as delivered).
    pub content_type: &'static str,
    /// The event type.
    pub subject: String,
    /// Metadata (event type, source) for filters and tools.
    pub application_properties: BTreeMap<String, String>,
    /// The event JSON, as received.
    pub body: Vec<u8>,
}

/// Publishing failed; the caller answers 503 so the sender retries.
#[derive(Debug, thiserror::Error)]
#[error("publish failed: {0}")]
pub struct PublishError(pub String);

/// Where the ingress puts messages (the queue port, adapted by the binary).
#[async_trait::async_trait]
pub trait Publisher: Send + Sync {
    /// Publish all messages durably to the named queue, or fail as a whole.
    async fn publish(&self, queue: &str, messages: Vec<IngressMessage>)
        -> Result<(), PublishError>;
}

/// How callbacks are authenticated.
pub enum CallbackAuth {
    /// Verify Call Automation's signed JWT on every callback.
    Jwt(Arc<JwtVerifier>),
    /// Local experiments only.
    None,
}

/// Everything the ingress routes share.
pub struct IngressState {
    /// How callbacks are authenticated.
    pub auth: CallbackAuth,
    /// Event Grid webhook: `None` disables the route; `Some(None)` accepts without a token.
    pub eventgrid_auth: Option<Option<Arc<JwtVerifier>>>,
    /// Where events are published (the queue port).
    pub publisher: Arc<dyn Publisher>,
    /// Session queue name for callbacks (`call-events`).
    pub events_queue: String,
    /// Plain queue name for `IncomingCall` (`incoming-calls`).
    pub incoming_queue: String,
    /// Request and publish counters.
    pub metrics: Metrics,
}

/// Build the router (tests call it in-process or serve it on a real port).
pub fn router(state: Arc<IngressState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/api/callbacks", post(callbacks))
        .route(
            "/api/incoming-calls",
            post(eventgrid).options(eventgrid_options),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|State(s): State<Arc<IngressState>>| async move { s.metrics.render() }),
        )
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}

fn auth_error(e: &AuthError) -> Response {
    match e {
        AuthError::KeysUnavailable(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "KeysUnavailable",
            "signing keys are not available yet",
        ),
        // Detail stays in our logs; the client gets a coarse reason.
        _ => error(StatusCode::UNAUTHORIZED, "Unauthorized", e.to_string()),
    }
}

async fn readyz(State(s): State<Arc<IngressState>>) -> Response {
    match &s.auth {
        CallbackAuth::None => (StatusCode::OK, "ready").into_response(),
        CallbackAuth::Jwt(v) => {
            if v.has_keys().await || v.refresh().await.is_ok() {
                (StatusCode::OK, "ready").into_response()
            } else {
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "NotReady",
                    "signing keys not loaded",
                )
            }
        }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn callbacks(
    State(s): State<Arc<IngressState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let CallbackAuth::Jwt(v) = &s.auth {
        if let Err(e) = v.verify_header(header(&headers, "authorization")).await {
            tracing::warn!(error = %e, "callback rejected");
            s.metrics
                .inc("switchboard_ingress_rejected_total", &[("reason", "auth")]);
            return auth_error(&e);
        }
    }
    let messages = match split_callbacks(&body) {
        Ok(m) => m,
        Err(reason) => {
            tracing::warn!(%reason, "malformed callback body");
            s.metrics.inc(
                "switchboard_ingress_rejected_total",
                &[("reason", "malformed")],
            );
            return error(StatusCode::BAD_REQUEST, "BadRequest", reason);
        }
    };
    publish(&s, &s.events_queue, messages).await
}

async fn publish(s: &IngressState, queue: &str, messages: Vec<IngressMessage>) -> Response {
    let n = messages.len();
    for m in &messages {
        s.metrics.inc(
            "switchboard_ingress_events_total",
            &[("type", m.subject.as_str())],
        );
    }
    match s.publisher.publish(queue, messages).await {
        Ok(()) => (StatusCode::OK, Json(json!({"accepted": n}))).into_response(),
        Err(e) => {
            tracing::error!(error = %e, queue, "publish failed; asking the sender to retry");
            s.metrics
                .inc("switchboard_ingress_publish_failures_total", &[]);
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "PublishFailed",
                "try again later",
            )
        }
    }
}

/// Split a callback body into one queue message per event, keeping each event's bytes as sent.
pub fn split_callbacks(body: &[u8]) -> Result<Vec<IngressMessage>, String> {
    // Decode first: the worker must be able to read whatever we accept.
    let decoded = switchboard_events::decode(body).map_err(|e| e.to_string())?;
    let raws: Vec<&RawValue> = match serde_json::from_slice::<Vec<&RawValue>>(body) {
        Ok(v) => v,
        Err(_) => match serde_json::from_slice::<&RawValue>(body) {
            Ok(one) => vec![one],
            Err(e) => return Err(format!("not JSON: {e}")),
        },
    };
    if raws.len() != decoded.events.len() {
        return Err(format!(
            "decoded {} events from {} elements",
            decoded.events.len(),
            raws.len()
        ));
    }
    let mut out = Vec::with_capacity(raws.len());
    for (raw, ev) in raws.into_iter().zip(decoded.events.iter()) {
        let bytes = raw.get().as_bytes().to_vec();
        let correlation = ev.payload.correlation_id().map(|c| c.to_string());
        let message_id = match &ev.envelope.id {
            Some(id) if !id.as_ref().is_empty() => id.to_string(),
            // No id: derive one from the bytes so a redelivery still dedupes.
            _ => content_id(&bytes),
        };
        let mut props = BTreeMap::new();
        props.insert("type".to_string(), ev.payload.short_type().to_string());
        props.insert("eventType".to_string(), ev.envelope.event_type.clone());
        if let Some(c) = ev.payload.call_connection_id() {
            props.insert("callConnectionId".to_string(), c.to_string());
        }
        out.push(IngressMessage {
            message_id,
            session_id: correlation.clone(),
            correlation_id: correlation,
            content_type: "application/json",
            subject: ev.payload.short_type().to_string(),
            application_properties: props,
            body: bytes,
        });
    }
    Ok(out)
}

fn content_id(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
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

async fn eventgrid(
    State(s): State<Arc<IngressState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(auth) = &s.eventgrid_auth else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(v) = auth {
        if let Err(e) = v.verify_header(header(&headers, "authorization")).await {
            tracing::warn!(error = %e, "event grid delivery rejected");
            return auth_error(&e);
        }
    }
    // Subscription validation handshake (Event Grid schema).
    if header(&headers, "aeg-event-type") == Some("SubscriptionValidation") {
        let v: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return error(StatusCode::BAD_REQUEST, "BadRequest", e.to_string()),
        };
        let code = v
            .as_array()
            .and_then(|a| a.first())
            .and_then(|e| e.pointer("/data/validationCode"))
            .and_then(Value::as_str);
        return match code {
            Some(c) => Json(json!({"validationResponse": c})).into_response(),
            None => error(StatusCode::BAD_REQUEST, "BadRequest", "no validationCode"),
        };
    }
    let mut messages = match split_callbacks(&body) {
        Ok(m) => m,
        Err(reason) => return error(StatusCode::BAD_REQUEST, "BadRequest", reason),
    };
    // IncomingCall is not sessionful (Event Grid cannot set MessageId and SessionId together).
    for m in &mut messages {
        m.session_id = None;
        m.application_properties
            .insert("aeg-event-type".into(), "Notification".into());
    }
    publish(&s, &s.incoming_queue, messages).await
}
