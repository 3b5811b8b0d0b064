//! `switchboard wallboard [-c FILE] [--listen ADDR] [--every SECS]`: the live wallboard for a
//! wall screen — one page (embedded in the binary, nothing fetched from elsewhere), fed by
//! server-sent events with the same statistics `switchboard stats --json` prints, read from
//! the store every replica shares (`switchboard_worker::stats::wallboard_router`).
//!
//! Config → `[stats]` checked (exit 64 naming the key) → a listen address off this machine
//! needs `stats.api_remote` (exit 64 naming it, still before any I/O) → open the store → serve
//! until SIGTERM/SIGINT; open pages' streams end with the server.
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use switchboard_store::SystemClock;
use switchboard_worker::config::ConfigError;
use switchboard_worker::shutdown;
use switchboard_worker::stats::{wallboard_router, StatsSource};

use super::common::{self, ConfigArgs};
use super::stats::StatsContext;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Where to serve the page. Addresses off this machine need `stats.api_remote = true`.
    #[arg(long, default_value = "127.0.0.1:8089", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Seconds between updates pushed to the open pages.
    #[arg(long, default_value_t = 2, value_name = "SECS")]
    pub every: u64,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = match args.config.load() {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if !args.listen.ip().is_loopback() && !cfg.stats.api_remote {
        return Ok(common::config_exit(ConfigError::new(
            "stats.api_remote",
            format!(
                "the wallboard on {} would answer other machines, and it names agents: set \
                 stats.api_remote = true to allow it (or listen on 127.0.0.1)",
                args.listen
            ),
        )));
    }
    if args.every == 0 {
        anyhow::bail!("--every must be at least 1 second");
    }
    let ctx = match StatsContext::open(&cfg).await? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let token = shutdown::on_signal();
    let source = StatsSource {
        store: ctx.store,
        clock: Arc::new(SystemClock),
        options: ctx.options,
        queues: ctx.queues,
        remote: cfg.stats.api_remote,
    };
    let router = wallboard_router(source, Duration::from_secs(args.every), token.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
    println!(
        "switchboard wallboard on http://{}/",
        listener.local_addr()?
    );
    common::serve_with_peer(listener, router, token)
        .await
        .context("serving the wallboard")?;
    Ok(ExitCode::SUCCESS)
}
