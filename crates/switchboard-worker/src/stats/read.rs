//! Reading the statistics: the store's calls in progress, today's archived calls and the
//! agents, into [`compute`]; and the task that keeps the gauges fresh.

use std::sync::Arc;
use std::time::Duration;

use switchboard_routing::{Roster, RoutingConfig};
use switchboard_store::{Store, StoreError};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::compute::{compute, today_start, QueueMembers, StatsInput, StatsOptions, StatsSnapshot};
use super::render::publish_gauges;
use crate::flow::CallState;
use crate::telemetry::Metrics;

/// Most live calls and finished calls read for one snapshot.
pub const MAX_CALLS_READ: usize = 200_000;

/// The queues of a routing configuration with the roster agents whose skills meet each
/// queue's requirements (enabled agents only).
pub fn queue_members(routing: &RoutingConfig, roster: &Roster) -> QueueMembers {
    routing
        .queues
        .iter()
        .map(|(name, q)| {
            let ids = roster
                .agents()
                .iter()
                .filter(|a| a.entry.enabled)
                .filter(|a| a.snapshot(Default::default()).meets(&q.required_skills))
                .map(|a| a.oid.clone())
                .collect();
            (name.to_string(), Some(ids))
        })
        .collect()
}

/// Reads the store and computes the statistics at the store clock's `now`.
pub async fn collect(
    store: &dyn Store,
    options: &StatsOptions,
    queues: &QueueMembers,
    now: OffsetDateTime,
) -> Result<StatsSnapshot, StoreError> {
    let since = today_start(now, options.time_zone).min(now - time::Duration::hours(1));
    let finished = store.list_archived_since(since, MAX_CALLS_READ).await?;
    let live = store.list_calls(MAX_CALLS_READ).await?;
    let agents = store.list_agents().await?;
    // Documents that are not call states (the deployment's sealing key lives in the call
    // table too) or that an older build wrote are skipped, never an error.
    let finished: Vec<CallState> = finished
        .into_iter()
        .filter_map(|r| serde_json::from_value(r.doc).ok())
        .collect();
    let live: Vec<CallState> = live
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_value(v.value).ok())
        .collect();
    Ok(compute(&StatsInput {
        now,
        options,
        live: &live,
        finished: &finished,
        agents: &agents,
        queues,
    }))
}

/// Refreshes the statistics gauges ([`publish_gauges`]) every `every` until `stop`.
/// A failed read keeps the previous values and is logged.
pub fn spawn_gauges(
    store: Arc<dyn Store>,
    clock: Arc<dyn switchboard_store::Clock>,
    options: StatsOptions,
    queues: QueueMembers,
    metrics: Metrics,
    every: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match collect(store.as_ref(), &options, &queues, clock.now()).await {
                Ok(s) => publish_gauges(&metrics, &s),
                Err(e) => tracing::warn!(error = %e, "statistics could not be read"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    })
}
