//! Errors: [`SimError`] for the library API; `ApiError` / `GraphError` (crate-private) for
//! what the HTTP surfaces answer (the service's own error bodies).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Errors of the simulator's Rust API (start-up and in-process control).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration cannot work (bad access key, bad PEM, …).
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from [`SimConfig::bind`](crate::SimConfig::bind).
        addr: std::net::SocketAddr,
        /// Usually "address in use"; port 0 avoids that.
        source: std::io::Error,
    },
    /// A control request named a call the simulator does not know.
    #[error("unknown call {0:?}")]
    UnknownCall(String),
    /// A control request named an agent the simulator does not know.
    #[error("unknown agent {0:?}")]
    UnknownAgent(String),
    /// A control request that cannot be carried out as asked.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The simulator was shut down.
    #[error("the simulator has shut down")]
    ShutDown,
}

impl SimError {
    /// Whether trying again unchanged can succeed. Only a bind failure can (the port may free
    /// up); everything else needs a different input.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SimError::Bind { .. })
    }
}

/// An error answer of the Call Automation surface: an HTTP status and a
/// `CommunicationErrorResponse` body `{"error":{"code","message"}}`. ACS puts the subcode (as a
/// string) in `code`, e.g. `{"error":{"code":"8523","message":"Invalid request, …"}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Extra response headers (`Retry-After`, `Repeatability-Result`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// Add a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 400 / 8523: something in the request is invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "8523", message)
    }

    /// 404 / 8522: the call (or participant) is gone or never existed.
    pub fn call_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "8522",
            format!("Call {id} not found. It may have ended. DiagCode: 404#8522.@"),
        )
    }

    /// 404 / 8522 for something other than a call.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "8522", message)
    }

    /// 400 / 8501: mid-call action on a call that is not established.
    pub fn not_established() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "8501",
            "Action is invalid when call is not in Established state.",
        )
    }

    /// 405 / 8520: not supported (by ACS, or by the simulator; the message says which).
    pub fn not_supported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "8520", message)
    }

    /// 405 / 8522: text-to-speech or speech recognition on a call answered / created
    /// without `callIntelligenceOptions.cognitiveServicesEndpoint` (ADR 0009).
    pub fn cognitive_services_not_configured() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "8522",
            "Request not allowed when Cognitive Service Configuration not set during call setup.",
        )
    }

    /// 409 / 8519: conflicting operation.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "8519", message)
    }

    /// 401: signature or token refused.
    pub fn unauthorized(reason: &str) -> Self {
        // ACS's gateway answers "Denied"; the reason helps whoever debugs a signing bug.
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Denied",
            format!("Denied by the resource provider. {reason}"),
        )
        .with_header("WWW-Authenticate", "HMAC-SHA256")
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        resp
    }
}

/// An error answer of the Graph surface: `{"error":{"code","message","innerError":{…}}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GraphError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after: Option<u32>,
}

impl GraphError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let now = time::OffsetDateTime::now_utc();
        let date = crate::wire::event_grid_time(now);
        let date = date.get(..19).map(str::to_owned).unwrap_or_default();
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": date,
                    "request-id": uuid::Uuid::new_v4().to_string(),
                    "client-request-id": uuid::Uuid::new_v4().to_string(),
                }
            }
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acs_error_body_shape() {
        let e = ApiError::invalid("Invalid request, x");
        assert_eq!(
            e.body(),
            json!({"error": {"code": "8523", "message": "Invalid request, x"}})
        );
        let resp = ApiError::unauthorized("bad signature").into_response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(!SimError::UnknownCall("x".into()).is_retryable());
    }
}
