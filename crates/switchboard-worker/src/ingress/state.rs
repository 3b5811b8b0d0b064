//! What the ingress routes share, and their error answer.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::jwt::JwtVerifier;
use super::port::Publisher;
use crate::telemetry::Metrics;

/// How an endpoint authenticates its callers.
pub enum CallbackAuth {
    /// Verify a signed JWT on every request.
    Jwt(Arc<JwtVerifier>),
    /// No authentication: configuration allows it on a loopback address only.
    None,
}

/// Everything the ingress routes share.
pub struct IngressState {
    /// How callbacks are authenticated.
    pub auth: CallbackAuth,
    /// Event Grid webhook: `None` disables the route.
    pub eventgrid_auth: Option<CallbackAuth>,
    /// Where events are published (the queue port).
    pub publisher: Arc<dyn Publisher>,
    /// Session queue name for callbacks (`call-events`).
    pub events_queue: String,
    /// Plain queue name for `IncomingCall` (`incoming-calls`).
    pub incoming_queue: String,
    /// Request and publish counters.
    pub metrics: Metrics,
    /// Largest body read.
    pub max_body_bytes: usize,
    /// Largest queue message or batch published.
    pub max_message_bytes: usize,
}

pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}
