//! `switchboard worker`: consume the queues and drive calls until SIGTERM/SIGINT.
//!
//! Load config → preflight (exit 64 naming the key, no I/O yet) → open queue and store, resolve
//! the roster → serve `/metrics`, `/healthz`, `/scaling` (the session-aware scaling signal) and,
//! with `stats.api` (the default), `GET /api/stats` (queue statistics from the store, also
//! kept as `switchboard_stats_*` gauges; with `stats.wallboard` the wallboard page too) on
//! `worker.metrics_port` — the status port, never a
//! public one → run the consumer until the shutdown signal, then drain within
//! `worker.grace_period_secs`.
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use switchboard_worker::app::{
    build_worker, preflight_with, spawn_queue_sampler, worker_status_router, WorkerHooks,
};
use switchboard_worker::config::Role;
use switchboard_worker::shutdown;
use switchboard_worker::stats::{
    spawn_gauges, stats_router, wallboard_router, StatsOptions, StatsSource,
};
use switchboard_worker::telemetry::Metrics;

use super::common::{self, ConfigArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Validate the configuration and exit (0 = valid, 64 = invalid) without any network I/O.
    #[arg(long)]
    pub check: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = match args.config.load() {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let Err(e) = preflight_with(&cfg, Role::Worker, &common::engines()) {
        return Ok(common::config_exit(e));
    }
    if args.check {
        println!("configuration ok (worker)");
        return Ok(ExitCode::SUCCESS);
    }
    let token = shutdown::on_signal();
    let metrics = Metrics::new();
    let exporter = common::otlp_exporter(&cfg, "switchboard-worker", &metrics, token.clone());
    let app = match build_worker(
        &cfg,
        WorkerHooks {
            engines: common::engines(),
            metrics: Some(metrics.clone()),
            ..WorkerHooks::default()
        },
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return common::startup_exit(e),
    };
    if let Some(port) = cfg.worker.metrics_port {
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .with_context(|| format!("worker.metrics_port {port}"))?;
        let addr = listener.local_addr()?;
        println!("switchboard worker metrics on http://{addr}/metrics");
        let mut router = worker_status_router(app.metrics.clone(), app.backends.queues.clone());
        if cfg.stats.api {
            // Statistics come from the store; the options were validated in preflight.
            let source = StatsSource {
                store: app.executor.store().clone(),
                clock: app.executor.clock().clone(),
                options: StatsOptions::from_config(&cfg.stats)?,
                queues: app.executor.queue_members(),
                remote: cfg.stats.api_remote,
            };
            router = router.merge(if cfg.stats.wallboard {
                // The page and its stream, `/api/stats` included.
                wallboard_router(
                    source.clone(),
                    Duration::from_secs(cfg.stats.refresh_secs.min(5)),
                    token.clone(),
                )
            } else {
                stats_router(source.clone())
            });
            spawn_gauges(
                source.store,
                source.clock,
                source.options,
                source.queues,
                app.metrics.clone(),
                Duration::from_secs(cfg.stats.refresh_secs),
                token.clone(),
            );
        }
        let t = token.clone();
        tokio::spawn(async move {
            if let Err(e) = common::serve_with_peer(listener, router, t).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    spawn_queue_sampler(
        app.backends.queues.clone(),
        app.metrics.clone(),
        Duration::from_secs(5),
        token.clone(),
    );
    tracing::info!(backends = %app.backends.describe, concurrency = cfg.worker.concurrency, "worker started");
    println!("switchboard worker ready ({})", app.backends.describe);
    app.runner.run(token).await;
    common::flush(exporter).await;
    tracing::info!("worker stopped");
    Ok(ExitCode::SUCCESS)
}
