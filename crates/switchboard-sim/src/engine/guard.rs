//! What operations share at their edges: finding the live call and checking it is
//! established before acting, checking callback URIs, and the [`Reply`] they answer with.
//!
//! Its own module because both `ops` and `media` need these, and `ops` uses `media`'s
//! play-source parsing: with the helpers in `ops`, the two would depend on each other.

use axum::http::StatusCode;
use serde_json::Value;

use super::model::{ConnState, SimCall};
use crate::error::ApiError;

/// A successful answer: status and optional JSON body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
        }
    }

    pub fn empty(status: StatusCode) -> Self {
        Self { status, body: None }
    }
}

/// Require an absolute http(s) URL. (ACS insists on https; the simulator also takes http,
/// because local receivers rarely have certificates — see ADR 0001.)
pub(crate) fn check_callback_uri(uri: &str, field: &str) -> Result<(), ApiError> {
    match url::Url::parse(uri) {
        Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => Ok(()),
        _ => Err(ApiError::invalid(format!(
            "Invalid request, the field {field} is invalid: {uri:?} is not an absolute http(s) URI."
        ))),
    }
}

/// The call behind a call connection id, if that leg is still alive.
pub(crate) fn live_call<'a>(
    calls: &'a mut std::collections::HashMap<String, SimCall>,
    by_connection: &std::collections::HashMap<String, String>,
    ccid: &str,
) -> Result<&'a mut SimCall, ApiError> {
    let corr = by_connection
        .get(ccid)
        .ok_or_else(|| ApiError::call_not_found(ccid))?;
    let call = calls
        .get_mut(corr)
        .ok_or_else(|| ApiError::call_not_found(ccid))?;
    match call.conn.as_ref() {
        Some(c) if c.state != ConnState::Disconnected => Ok(call),
        _ => Err(ApiError::call_not_found(ccid)),
    }
}

pub(crate) fn established(call: &SimCall) -> Result<(), ApiError> {
    match call.conn.as_ref() {
        Some(c) if c.is_established() => Ok(()),
        _ => Err(ApiError::not_established()),
    }
}
