//! Fault answers beyond the built-in throttle / status / reset of each surface: canned
//! responses, and the Entra endpoints' own error dialect.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::entra::identity_error;
use crate::faults::{CannedResponse, Lost, RequestFault};

/// How the request log names a fault.
pub(super) fn name(fault: &RequestFault) -> String {
    match fault {
        RequestFault::Throttle { retry_after_secs } => format!("throttle {retry_after_secs}s"),
        RequestFault::Status(s) => format!("status {s}"),
        RequestFault::Reset => "reset".to_owned(),
        RequestFault::Respond(c) => format!("respond {}", c.status),
        RequestFault::Lost(Lost::Reset) => "lost: reset".to_owned(),
        RequestFault::Lost(Lost::Status(s)) => format!("lost: status {s}"),
        RequestFault::Lost(Lost::Timeout(d)) => format!("lost: timeout {} ms", d.as_millis()),
    }
}

/// Wait, then answer exactly as configured. Headers and status were checked when the
/// faults were set, so nothing here can fail.
pub(super) async fn canned(c: CannedResponse) -> Response {
    if c.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(c.delay_ms)).await;
    }
    let status = StatusCode::from_u16(c.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match &c.body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => status.into_response(),
    };
    for (k, v) in &c.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// Throttling and server errors as the identity platform reports them.
pub(super) fn entra(fault: &RequestFault) -> Response {
    match fault {
        RequestFault::Throttle { retry_after_secs } => {
            let mut r = identity_error(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                50196,
                "The server is temporarily unavailable because of too many requests.",
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            r
        }
        other => {
            let s = match other {
                RequestFault::Status(s) => *s,
                _ => 500,
            };
            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (error, code) = if status == StatusCode::SERVICE_UNAVAILABLE {
                ("temporarily_unavailable", 90006)
            } else {
                ("server_error", 90100)
            };
            identity_error(
                status,
                error,
                code,
                "The service could not handle the request.",
            )
        }
    }
}
