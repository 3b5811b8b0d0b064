//! What the long-running subcommands share: loading the configuration (exit code 64 on a bad
//! key, before any network I/O), the engines this build offers, and serving a router on a
//! listener until shutdown.
use std::path::PathBuf;
use std::process::ExitCode;

use switchboard_worker::app::AppError;
use switchboard_worker::backend::EngineHooks;
use switchboard_worker::config::{Config, ConfigError, Role, EXIT_CONFIG};
use tokio_util::sync::CancellationToken;

/// `--config FILE` (or `SWITCHBOARD_CONFIG`).
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML); `SWITCHBOARD_*` environment variables override it.
    #[arg(long, short = 'c', env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ConfigArgs {
    /// Load the file plus the environment. `Err(code)` after printing the error.
    pub fn load(&self) -> Result<Config, ExitCode> {
        Config::load(self.config.as_deref(), &Config::process_env()).map_err(config_exit)
    }

    /// [`Self::load`], then validate for `role` (still no network I/O).
    pub fn load_for(&self, role: Role) -> Result<Config, ExitCode> {
        let cfg = self.load()?;
        cfg.validate(role).map_err(config_exit)?;
        engines().validate(&cfg, role).map_err(config_exit)?;
        Ok(cfg)
    }
}

/// Print a configuration error (naming the key) and return the exit code for it.
pub fn config_exit(e: ConfigError) -> ExitCode {
    eprintln!("switchboard: {e}");
    ExitCode::from(EXIT_CONFIG)
}

/// A startup failure: configuration → exit 64, anything else → an error with context.
pub fn startup_exit(e: AppError) -> anyhow::Result<ExitCode> {
    match e {
        AppError::Config(c) => Ok(config_exit(c)),
        other => Err(anyhow::Error::new(other).context("cannot start")),
    }
}

/// The distributed engines compiled into this binary.
pub fn engines() -> EngineHooks {
    crate::engines::hooks()
}

/// Serve `router` on `listener` until `token` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    token: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { token.cancelled().await })
        .await
}

/// [`serve`], with the client's address known to handlers (`ConnectInfo<SocketAddr>`):
/// the worker's status port answers `/api/stats` to loopback clients only.
pub async fn serve_with_peer(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    token: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { token.cancelled().await })
    .await
}

/// Start the OpenTelemetry exporters when `telemetry.otlp_endpoint` (or
/// `OTEL_EXPORTER_OTLP_ENDPOINT`) is set: traces and logs in batches, the metrics registry
/// every 15 s, all three flushed once more when `token` fires (the returned task ends then).
pub fn otlp_exporter(
    cfg: &Config,
    service_name: &str,
    metrics: &switchboard_worker::telemetry::Metrics,
    token: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let endpoint = cfg.telemetry.otlp_endpoint.clone()?;
    let otel = match switchboard_worker::otel::start(&endpoint, service_name) {
        Ok(otel) => otel,
        Err(e) => {
            tracing::warn!(%endpoint, error = %e, "OTLP export disabled");
            return None;
        }
    };
    // What was counted before the export started (startup gauges) goes out too.
    metrics.mirror_current();
    tracing::info!(%endpoint, "exporting traces, metrics and logs over OTLP/HTTP");
    Some(tokio::spawn(async move {
        token.cancelled().await;
        // The SDK's shutdown blocks until its export threads are done, and those exports run
        // on this runtime: off the runtime's threads.
        let _ = tokio::task::spawn_blocking(move || otel.shutdown()).await;
    }))
}

/// Wait (briefly) for the exporter's final push.
pub async fn flush(exporter: Option<tokio::task::JoinHandle<()>>) {
    if let Some(task) = exporter {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
}
