//! The live wallboard: one HTML page for a wall screen (embedded in the binary: no build
//! step, no CDN, nothing fetched from elsewhere at run time), the statistics as JSON
//! (`GET /api/stats`, the same handler as the worker's) and as server-sent events
//! (`GET /api/stats/stream`, event `stats`, the same JSON).
//!
//! Like `/api/stats`, every route answers loopback clients only unless the source allows
//! remote ones (`stats.api_remote`); serve it with
//! `into_make_service_with_connect_info::<SocketAddr>()` so the peer is known.
//!
//! One task computes the snapshot every `every` and only while somebody watches, whatever
//! the number of screens: each stream subscribes to a [`watch`] channel, so ten wall screens
//! cost the store one read per tick, not ten. On shutdown the task ends, the channel closes
//! and every stream ends with it, so a graceful shutdown is not held up by open pages.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::api::{stats_router, StatsSource};

/// The page (`GET /`).
pub const PAGE: &str = include_str!("wallboard.html");

/// What the stream carries: the snapshot as JSON, or why it could not be read.
type Latest = Option<Arc<Result<String, String>>>;

/// The wallboard's routes (`/`, `/api/stats`, `/api/stats/stream`) and the task feeding the
/// stream, which ends with `stop`.
pub fn wallboard_router(
    source: StatsSource,
    every: Duration,
    stop: CancellationToken,
) -> axum::Router {
    let remote = source.remote;
    let (tx, rx) = watch::channel::<Latest>(None);
    let feeder = source.clone();
    tokio::spawn(async move {
        loop {
            if tx.receiver_count() > 1 {
                // `rx` kept by the router counts as one; more means a page is open.
                let next = match feeder.snapshot().await {
                    Ok(s) => serde_json::to_string(&s).map_err(|e| e.to_string()),
                    Err(e) => {
                        tracing::warn!(error = %e, "wallboard: statistics could not be read");
                        Err(e.to_string())
                    }
                };
                tx.send_replace(Some(Arc::new(next)));
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    });
    axum::Router::new()
        .route("/", axum::routing::get(page))
        .route(
            "/api/stats/stream",
            axum::routing::get(move || {
                let rx = rx.clone();
                async move { Sse::new(events(rx)).keep_alive(KeepAlive::default()) }
            }),
        )
        .merge(stats_router(source))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| loopback_unless(remote, req, next),
        ))
}

/// The wall screen is usually elsewhere on the network, but what it shows (agents' names and
/// states) is not for everybody who can reach the port: the operator opens it on purpose.
async fn loopback_unless(remote: bool, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if remote || peer.is_some_and(|ip| ip.is_loopback()) {
        return next.run(req).await;
    }
    (
        StatusCode::FORBIDDEN,
        "the wallboard answers clients on this machine only (stats.api_remote)\n",
    )
        .into_response()
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page's own inline style and script, its own origin for data, nothing else.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}

/// The stream of one page: the current snapshot at once (when there is one), then every new
/// one; ends when the feeding task does.
fn events(rx: watch::Receiver<Latest>) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold((rx, true), |(mut rx, first)| async move {
        loop {
            if !first || rx.borrow().is_none() {
                rx.changed().await.ok()?;
            }
            let latest = rx.borrow_and_update().clone();
            if let Some(latest) = latest {
                let event = match latest.as_ref() {
                    Ok(json) => Event::default().event("stats").data(json.as_str()),
                    Err(reason) => Event::default().event("unavailable").data(reason.as_str()),
                };
                // Reconnect after 2 s when the connection drops (EventSource does it alone).
                return Some((Ok(event.retry(Duration::from_secs(2))), (rx, false)));
            }
        }
    })
}
