//! `switchboard`: the one command-line entry point.
//!
//! # Layout
//! Each subcommand lives in its own file under `cmd/` with an `Args` struct (clap) and a
//! `run(args) -> anyhow::Result<ExitCode>` function. This file only parses the command line,
//! sets up logging on stderr and dispatches; all real work lives in the library crates.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// mimalloc instead of glibc's malloc for Rust's allocations: glibc's allocator was ~13% of a
// worker's CPU under load (`_int_malloc`, `malloc_consolidate`, `unlink_chunk`, …); with
// mimalloc CPU per call fell 6-11% (issue 18, README "Side by side"). Built without
// transparent huge pages (`no_thp`: with THP in `madvise` mode a worker's RSS grew from ~30 to
// 46-73 MiB), and the image sets `MIMALLOC_PURGE_DELAY=0` so freed pages go back at once.
// SQLite's own allocations still use glibc (`MALLOC_ARENA_MAX` in the Dockerfile).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;
mod engines;
mod local;

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Route ACS calls to Microsoft Teams agents"
)]
struct Cli {
    /// Log filter (tracing env-filter syntax); also read from RUST_LOG.
    #[arg(long, global = true, env = "SWITCHBOARD_LOG", default_value = "info")]
    log: String,
    /// Emit logs as JSON lines on stderr.
    #[arg(long, global = true, env = "SWITCHBOARD_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode queue message bodies into typed ACS events.
    Events(cmd::events::Args),
    /// Call Automation operations against ACS (or the local simulator).
    Call(cmd::call::Args),
    /// Run the local ACS simulator (Call Automation, callbacks, Teams agents, Graph, Event Grid).
    Sim(cmd::sim::Args),
    /// Agent roster: resolve names through Microsoft Graph, list with live availability.
    Agents(cmd::agents::Args),
    /// Explain why an agent can or cannot be reached (Teams interop eligibility).
    Doctor(cmd::doctor::Args),
    /// Run a worker: consume the queue and drive calls.
    Worker(cmd::worker::Args),
    /// Run the callback ingress: validate Call Automation callbacks and queue them.
    Ingress(cmd::ingress::Args),
    /// Run the whole flow on one machine against the simulator and print timelines.
    Demo(cmd::demo::Args),
    /// Put fixture messages onto the queue.
    Replay(cmd::replay::Args),
    /// Inspect and manage the dead-letter queue.
    Dlq(cmd::dlq::Args),
    /// Drive concurrent calls through the full pipeline and report throughput and latency.
    Bench(cmd::bench::Args),
    /// Queue and agent statistics from the shared store (a table, `--watch`, or `--json`).
    Stats(cmd::stats::Args),
    /// The call history: finished calls (`list` with filters, `--json`, `--csv`; `show ID`).
    Calls(cmd::calls::Args),
    /// The live wallboard: one page for a wall screen, updated by server-sent events.
    Wallboard(cmd::wallboard::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own timeline; INFO logs from a dozen tasks would bury it.
    let quiet_default =
        matches!(cli.command, Command::Demo(_) | Command::Bench(_)) && cli.log == "info";
    let json = cli.log_json || config_wants_json_logs(&cli.command);
    init_tracing(if quiet_default { "warn" } else { &cli.log }, json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Events(a) => cmd::events::run(a).await,
            Command::Call(a) => cmd::call::run(a).await,
            Command::Sim(a) => cmd::sim::run(a).await,
            Command::Agents(a) => cmd::agents::run(a).await,
            Command::Doctor(a) => cmd::doctor::run(a).await,
            Command::Worker(a) => cmd::worker::run(a).await,
            Command::Ingress(a) => cmd::ingress::run(a).await,
            Command::Demo(a) => cmd::demo::run(a).await,
            Command::Replay(a) => cmd::replay::run(a).await,
            Command::Dlq(a) => cmd::dlq::run(a).await,
            Command::Bench(a) => cmd::bench::run(a).await,
            Command::Stats(a) => cmd::stats::run(a).await,
            Command::Calls(a) => cmd::calls::run(a).await,
            Command::Wallboard(a) => cmd::wallboard::run(a).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `[telemetry] json_logs = true` in the worker's or ingress's configuration file. Logging
/// starts before the configuration is validated, so a file that does not parse is ignored
/// here (validation reports it properly right after).
fn config_wants_json_logs(command: &Command) -> bool {
    let path = match command {
        Command::Worker(a) => a.config.config.as_ref(),
        Command::Ingress(a) => a.config.config.as_ref(),
        _ => None,
    };
    path.and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| switchboard_worker::config::Config::from_toml_str(&t).ok())
        .is_some_and(|c| c.telemetry.json_logs)
}

fn init_tracing(filter: &str, json: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    // The OpenTelemetry layer (traces and logs) stays empty until the worker or ingress starts
    // its exporters (`telemetry.otlp_endpoint`); it sits directly on the registry.
    let _ = tracing_subscriber::registry()
        .with(switchboard_worker::otel::layer())
        .with(filter)
        .with(fmt)
        .try_init();
}
