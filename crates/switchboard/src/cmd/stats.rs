//! `switchboard stats [-c FILE] [--queue Q] [--json] [--watch]`: queue and agent statistics,
//! read from the store every worker replica shares (the same numbers `GET /api/stats` on a
//! worker's status port serves; see `switchboard_worker::stats` for the definitions).
//!
//! The table shows, per queue, the live figures (waiting, longest wait, estimated wait,
//! agents by state) and the last 5 minutes, the last hour and today (offered, answered,
//! abandoned, overflowed, transferred, service level, average speed of answer, average
//! handle time); then one line per agent. `--watch` redraws it in place every `--every`
//! seconds until Ctrl-C; `--json` prints the snapshot as JSON (with `--watch`, one line per
//! refresh). A bad `[stats]` key exits 64 before the store is opened.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use switchboard_routing::{Roster, RoutingConfig};
use switchboard_store::{Clock, Store, SystemClock};
use switchboard_worker::config::{Config, Role};
use switchboard_worker::stats::{self, QueueMembers, StatsSnapshot};

use super::common::{self, ConfigArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only this queue.
    #[arg(long, value_name = "QUEUE")]
    pub queue: Option<String>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Keep refreshing (the table is redrawn in place) until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between refreshes with --watch.
    #[arg(long, default_value_t = 2, value_name = "SECS")]
    pub every: u64,
}

/// The store and what the statistics need from the configuration.
pub struct StatsContext {
    pub store: Arc<dyn Store>,
    pub options: stats::StatsOptions,
    pub queues: QueueMembers,
}

impl StatsContext {
    /// Opens the configured store. `Err(code)` (64) on a bad key, before any I/O.
    pub async fn open(cfg: &Config) -> anyhow::Result<Result<Self, ExitCode>> {
        let options = match stats::StatsOptions::from_config(&cfg.stats) {
            Ok(o) => o,
            Err(e) => return Ok(Err(common::config_exit(e))),
        };
        if let Err(e) = cfg
            .stats
            .validate()
            .and_then(|()| common::engines().validate(cfg, Role::Worker).map(|_| ()))
        {
            return Ok(Err(common::config_exit(e)));
        }
        let queues = match &cfg.routing {
            Some(t) => match RoutingConfig::from_toml_table(t.clone()) {
                Ok(r) => members(&r),
                Err(e) => return Ok(Err(common::config_exit(e))),
            },
            None => QueueMembers::new(),
        };
        let store = switchboard_worker::backend::open_store(cfg, &common::engines())
            .await
            .map_err(anyhow::Error::new)
            .context("opening the store")?;
        Ok(Ok(Self {
            store,
            options,
            queues,
        }))
    }

    /// The statistics now.
    pub async fn snapshot(&self) -> anyhow::Result<StatsSnapshot> {
        stats::collect(
            self.store.as_ref(),
            &self.options,
            &self.queues,
            SystemClock.now(),
        )
        .await
        .context("reading statistics from the store")
    }
}

/// Queue membership from the roster's OIDs (no Graph here): agents configured by UPN only
/// make the roster unresolvable offline, and then every agent counts for every queue.
fn members(routing: &RoutingConfig) -> QueueMembers {
    match Roster::offline(routing) {
        Ok(roster) => stats::queue_members(routing, &roster),
        Err(_) => routing
            .queues
            .keys()
            .map(|q| (q.to_string(), None))
            .collect(),
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = match args.config.load() {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let ctx = match StatsContext::open(&cfg).await? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let Some(q) = &args.queue {
        if !ctx.queues.is_empty() && !ctx.queues.contains_key(q) {
            let known: Vec<&str> = ctx.queues.keys().map(String::as_str).collect();
            anyhow::bail!("no queue {q:?} (configured: {})", known.join(", "));
        }
    }
    loop {
        let mut s = ctx.snapshot().await?;
        if let Some(q) = &args.queue {
            s.queues.retain(|x| &x.queue == q);
        }
        let mut out = std::io::stdout().lock();
        if args.json {
            let text = if args.watch {
                serde_json::to_string(&s)?
            } else {
                serde_json::to_string_pretty(&s)?
            };
            writeln!(out, "{text}")?;
        } else {
            if args.watch {
                // Home the cursor and clear the screen: the table is redrawn in place.
                write!(out, "\x1b[H\x1b[2J")?;
            }
            write!(out, "{}", stats::render_table(&s))?;
        }
        out.flush()?;
        drop(out);
        if !args.watch {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            () = tokio::time::sleep(Duration::from_secs(args.every.max(1))) => {}
        }
    }
}
