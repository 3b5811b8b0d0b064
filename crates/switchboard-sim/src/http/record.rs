//! Feeds the request log: a middleware records each request on arrival (so a request that
//! hangs is visible while it hangs) and its status when answered; the pipeline adds what it
//! learns on the way — operation, auth verdict, schema verdict, injected fault — through
//! [`note`], which finds the request's entry through a task-local, so no handler signature
//! has to carry the log.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::request_log::{RecordedRequest, RequestLog};

/// Bodies larger than this are refused (413) before they reach a handler, as axum's own
/// default limit would.
const MAX_BODY: usize = 2 * 1024 * 1024;

#[derive(Clone)]
struct Slot {
    log: Arc<RequestLog>,
    seq: u64,
}

tokio::task_local! {
    static CURRENT: Slot;
}

/// Change the entry of the request being handled (no-op outside a recorded request).
pub(crate) fn note(f: impl FnOnce(&mut RecordedRequest)) {
    let _ = CURRENT.try_with(|s| s.log.update(s.seq, f));
}

/// Whether the request being handled is recorded (so verdicts only the log needs are
/// computed only then).
pub(crate) fn recording() -> bool {
    CURRENT.try_with(|_| ()).is_ok()
}

/// The middleware. The control API is not recorded: it is the observer, not the observed.
pub(crate) async fn record(
    State(log): State<Arc<RequestLog>>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path().starts_with("/__sim") {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let seq = log.begin(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &bytes,
    );
    let slot = Slot {
        log: Arc::clone(&log),
        seq,
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    let resp = CURRENT.scope(slot, next.run(req)).await;
    let status = resp.status().as_u16();
    log.update(seq, |r| {
        // A reset connection answered nothing, whatever the placeholder response says.
        if r.fault.as_deref() != Some("reset") {
            r.status = Some(status);
        }
    });
    resp
}
