//! `GET /api/stats` on the worker's status listener: the statistics as JSON, computed from
//! the store on every request (so every replica answers the same).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use switchboard_store::{Clock, Store};

use super::compute::{QueueMembers, StatsOptions, StatsSnapshot};
use super::read::collect;

/// What `/api/stats` reads.
#[derive(Clone)]
pub struct StatsSource {
    /// The shared store.
    pub store: Arc<dyn Store>,
    /// The store's clock.
    pub clock: Arc<dyn Clock>,
    /// Threshold and time zone.
    pub options: StatsOptions,
    /// The queues and their agents.
    pub queues: QueueMembers,
    /// Answer clients that are not on this machine (`stats.api_remote`).
    pub remote: bool,
}

impl std::fmt::Debug for StatsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsSource")
            .field("queues", &self.queues.len())
            .finish_non_exhaustive()
    }
}

impl StatsSource {
    /// The statistics now.
    pub async fn snapshot(&self) -> Result<StatsSnapshot, switchboard_store::StoreError> {
        collect(
            self.store.as_ref(),
            &self.options,
            &self.queues,
            self.clock.now(),
        )
        .await
    }
}

/// A router with `GET /api/stats` (`?queue=NAME` keeps one queue). A store that cannot be
/// read is a 503 with the reason, never a panic. Unless [`StatsSource::remote`], only
/// loopback clients get an answer (others a 403): serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so the peer is known — without
/// it every request is refused, since where it came from cannot be told.
pub fn stats_router(source: StatsSource) -> axum::Router {
    axum::Router::new().route(
        "/api/stats",
        axum::routing::get(move |q: Query<HashMap<String, String>>, req: Request| {
            let source = source.clone();
            async move {
                let peer = req
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip());
                if !source.remote && !peer.is_some_and(|ip| ip.is_loopback()) {
                    return refused(peer);
                }
                match source.snapshot().await {
                    Ok(mut s) => {
                        if let Some(name) = q.get("queue") {
                            s.queues.retain(|x| &x.queue == name);
                        }
                        axum::Json(s).into_response()
                    }
                    Err(e) => unavailable(&e.to_string()),
                }
            }
        }),
    )
}

fn refused(peer: Option<std::net::IpAddr>) -> Response {
    let who = peer.map_or("an unknown client".to_string(), |ip| ip.to_string());
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({
            "error": "StatsLoopbackOnly",
            "message": format!("/api/stats answers loopback clients only, not {who} (stats.api_remote)"),
        })),
    )
        .into_response()
}

fn unavailable(reason: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({ "error": "StatsUnavailable", "message": reason })),
    )
        .into_response()
}
