//! `switchboard sim`: run the local ACS simulator until SIGINT/SIGTERM.
//!
//! Prints exactly one JSON line on stdout once it listens (the "ready" line: address,
//! endpoint, connectionString, jwksUrl, openidConfigurationUrl, resourceId, callbackIssuer,
//! graphBaseUrl, controlUrl, cognitiveServicesEndpoint); everything else goes to stderr. Bad configuration exits 64.
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use switchboard_sim::{
    EventGridSink, EventSchema, HttpSink, HttpSinkMode, JsonlSink, Secret, Seed, SimConfig,
    Simulator,
};

/// Exit code for a configuration error (EX_CONFIG-style usage error).
const EXIT_CONFIG: u8 = 64;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SchemaArg {
    /// Event Grid schema (`eventType`, `dataVersion`, …).
    Eventgrid,
    /// CloudEvents 1.0.
    Cloudevents,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to listen on (0 = pick a free port; the ready line says which).
    #[arg(long, default_value_t = 0, env = "SWITCHBOARD_SIM_PORT")]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Base64 access key for HMAC auth (generated when absent).
    #[arg(long, env = "SWITCHBOARD_SIM_ACCESS_KEY", hide_env_values = true)]
    access_key: Option<String>,
    /// Seed file (JSON): agents, numbers, faults, timing (see the simulator's examples/seed.json).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// ACS resource id: the audience of callback tokens (generated when absent).
    #[arg(long)]
    resource_id: Option<String>,
    /// Seed for every random choice (ids, fault dice) so runs repeat.
    #[arg(long)]
    random_seed: Option<u64>,
    /// Multiply every simulated delay (0.1 = ten times faster).
    #[arg(long)]
    time_scale: Option<f64>,
    /// Deliver IncomingCall events to this URL, as an Event Grid webhook subscription would.
    #[arg(long)]
    sink_url: Option<String>,
    /// Append IncomingCall messages (body + aeg-* properties) to this JSON Lines file.
    #[arg(long)]
    sink_jsonl: Option<PathBuf>,
    /// Schema of IncomingCall events.
    #[arg(long, value_enum, default_value = "eventgrid")]
    schema: SchemaArg,
    /// Also accept `Authorization: Bearer <token>` on Call Automation requests.
    #[arg(long, env = "SWITCHBOARD_SIM_BEARER", hide_env_values = true)]
    accept_bearer: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard sim: invalid configuration: {e:#}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let sink: Option<Arc<dyn EventGridSink>> = match (&args.sink_url, &args.sink_jsonl) {
        (Some(_), Some(_)) => {
            eprintln!(
                "switchboard sim: invalid configuration: use --sink-url or --sink-jsonl, not both"
            );
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
        (Some(url), None) => {
            if url.starts_with("http://") || url.starts_with("https://") {
                Some(HttpSink::new(url.clone(), HttpSinkMode::Webhook))
            } else {
                eprintln!("switchboard sim: invalid configuration: --sink-url {url:?} is not an http(s) URL");
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
        }
        (None, Some(path)) => Some(JsonlSink::new(path.clone())),
        (None, None) => None,
    };
    let sim = match Simulator::start(cfg).await {
        Ok(s) => s,
        Err(e @ switchboard_sim::SimError::Config(_)) => {
            eprintln!("switchboard sim: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
        Err(e) => return Err(e).context("starting the simulator"),
    };
    if let Some(sink) = sink {
        sim.set_sink(sink);
    }
    // Handlers first: a supervisor may signal as soon as it has read the ready line.
    let stop = install_signal_handlers()?;
    let ready = serde_json::to_string(sim.info()).context("encoding the ready line")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{ready}").context("writing the ready line")?;
        out.flush().context("flushing stdout")?;
    }
    tracing::info!(address = %sim.addr(), "simulator ready; stop with Ctrl-C or SIGTERM");
    stop.await?;
    tracing::info!("stopping the simulator");
    sim.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

fn config(args: &Args) -> anyhow::Result<SimConfig> {
    let mut cfg = SimConfig {
        bind: SocketAddr::new(args.bind, args.port),
        access_key: args.access_key.clone().map(Secret::new),
        resource_id: args.resource_id.clone().unwrap_or_default(),
        accept_bearer: args.accept_bearer.clone().map(Secret::new),
        random_seed: args.random_seed,
        ..SimConfig::default()
    };
    cfg.event_grid.schema = match args.schema {
        SchemaArg::Eventgrid => EventSchema::EventGrid,
        SchemaArg::Cloudevents => EventSchema::CloudEvents,
    };
    if let Some(path) = &args.seed {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the seed file {}", path.display()))?;
        let seed = Seed::from_json(&text)
            .with_context(|| format!("the seed file {} is not valid", path.display()))?;
        cfg.seed = Some(seed);
    }
    if let Some(scale) = args.time_scale {
        anyhow::ensure!(
            scale.is_finite() && scale >= 0.0,
            "--time-scale must be a non-negative number"
        );
        cfg.timing.time_scale = scale;
        if let Some(t) = cfg.seed.as_mut().and_then(|s| s.timing.as_mut()) {
            t.time_scale = scale;
        }
    }
    Ok(cfg)
}

/// Installs the SIGTERM/SIGINT handlers now; the returned future resolves on the first signal.
#[cfg(unix)]
fn install_signal_handlers() -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>>
{
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    })
}

#[cfg(not(unix))]
fn install_signal_handlers() -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>>
{
    Ok(async { tokio::signal::ctrl_c().await.context("waiting for Ctrl-C") })
}
