//! `switchboard ingress`: the callback endpoint. Verifies each Call Automation callback's JWT
//! and publishes its events onto the session queue (session = correlation id) before
//! answering 2xx. Serves `/healthz` and `/readyz` (signing keys loaded) publicly, and
//! `/metrics` only on the status listener (`ingress.status_bind`:`ingress.status_port`,
//! loopback by default).
use std::process::ExitCode;

use anyhow::Context as _;
use switchboard_worker::app::build_ingress;
use switchboard_worker::config::Role;
use switchboard_worker::shutdown;
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
    let cfg = match args.config.load_for(Role::Ingress) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let addr = match cfg.ingress_addr() {
        Ok(a) => a,
        Err(e) => return Ok(common::config_exit(e)),
    };
    if args.check {
        println!("configuration ok (ingress)");
        return Ok(ExitCode::SUCCESS);
    }
    let token = shutdown::on_signal();
    let metrics = Metrics::new();
    let exporter = common::otlp_exporter(&cfg, "switchboard-ingress", &metrics, token.clone());
    let app = match build_ingress(&cfg, &common::engines(), Some(metrics.clone())).await {
        Ok(a) => a,
        Err(e) => return common::startup_exit(e),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (ingress.bind / ingress.port)"))?;
    let local = listener.local_addr()?;
    let status = match cfg.ingress.status_port {
        Some(port) => {
            let at = format!("{}:{port}", cfg.ingress.status_bind);
            let l = tokio::net::TcpListener::bind(&at).await.with_context(|| {
                format!("cannot listen on {at} (ingress.status_bind / ingress.status_port)")
            })?;
            let status_local = l.local_addr()?;
            tracing::info!(%status_local, "ingress status listener (/metrics)");
            println!("switchboard ingress status on http://{status_local}");
            Some(tokio::spawn(common::serve(
                l,
                app.status_router,
                token.clone(),
            )))
        }
        None => None,
    };
    tracing::info!(%local, "ingress listening");
    println!("switchboard ingress listening on http://{local}");
    common::serve(listener, app.router, token)
        .await
        .context("ingress server")?;
    if let Some(s) = status {
        let _ = s.await;
    }
    common::flush(exporter).await;
    tracing::info!("ingress stopped");
    Ok(ExitCode::SUCCESS)
}
