//! `switchboard calls list|show`: the call history — one record per finished call (times,
//! queues, agents tried with their outcomes, result, recording id), read from the archived
//! call states in the shared store, which keeps them `stats.history_days` days.
//!
//! `list` filters by `--since` (`30m`, `2h`, `7d`, `today` or an RFC 3339 instant), `--queue`
//! (any queue the call waited in) and `--result`, newest first, and prints a table, `--json`
//! (an array of records) or `--csv` (RFC 4180, one header line). `show ID` prints one record
//! (a call still in progress is shown from its live state).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use switchboard_store::{Clock as _, SystemClock};
use switchboard_worker::flow::CallState;
use switchboard_worker::stats::{today_start, CallRecord};
use time::{Duration, OffsetDateTime};

use super::common::ConfigArgs;
use super::stats::StatsContext;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CallsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CallsCommand {
    /// Finished calls, newest first.
    List(ListArgs),
    /// One call's record.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Calls that ended since: `30m`, `2h`, `7d`, `today`, or an RFC 3339 instant
    /// (default: everything kept).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only calls that waited in this queue.
    #[arg(long, value_name = "QUEUE")]
    pub queue: Option<String>,
    /// Only calls with this result.
    #[arg(long, value_name = "RESULT", value_parser = ["answered", "abandoned", "overflowed", "transferred", "ended"])]
    pub result: Option<String>,
    /// At most this many calls.
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    /// Print JSON (an array of records).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV (RFC 4180) with a header line.
    #[arg(long)]
    pub csv: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The call's id (its correlation id).
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        CallsCommand::List(a) => list(a).await,
        CallsCommand::Show(a) => show(a).await,
    }
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let cfg = match args.config.load() {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let ctx = match StatsContext::open(&cfg).await? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let now = SystemClock.now();
    let since = match &args.since {
        Some(s) => {
            parse_since(s, now, ctx.options.time_zone).with_context(|| format!("--since {s:?}"))?
        }
        None => OffsetDateTime::UNIX_EPOCH,
    };
    let archived = ctx
        .store
        .list_archived_since(since, args.limit)
        .await
        .context("reading the call history from the store")?;
    let records: Vec<CallRecord> = archived
        .iter()
        // Only call states are archived; anything an older build wrote is skipped.
        .filter_map(|a| serde_json::from_value::<CallState>(a.doc.clone()).ok())
        .map(|s| CallRecord::from_state(&s))
        .filter(|r| {
            args.queue
                .as_ref()
                .is_none_or(|q| &r.queue == q || r.queues.contains(q))
        })
        .filter(|r| args.result.as_deref().is_none_or(|x| r.result == x))
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&records)?)?;
    } else if args.csv {
        writeln!(out, "{}", CallRecord::CSV_HEADER)?;
        for r in &records {
            writeln!(out, "{}", r.csv_row())?;
        }
    } else {
        writeln!(
            out,
            "{:<38} {:<20} {:<12} {:<11} {:>5} {:>5}  {:<16} ANSWERED BY",
            "CALL", "STARTED", "QUEUE", "RESULT", "WAIT", "TALK", "FROM"
        )?;
        for r in &records {
            writeln!(
                out,
                "{:<38} {:<20} {:<12} {:<11} {:>4}s {:>4}s  {:<16} {}",
                r.id,
                short_time(r.started_at),
                r.queues.last().unwrap_or(&r.queue),
                r.result,
                r.wait_secs,
                r.talk_secs,
                r.from,
                r.answered_by.as_ref().map_or("-", |a| a.as_str()),
            )?;
        }
        writeln!(out, "{} call(s)", records.len())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

async fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let cfg = match args.config.load() {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let ctx = match StatsContext::open(&cfg).await? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = &ctx.store;
    let (state, finished) = match store.get_archived_call(&args.id).await? {
        Some(a) => (a.doc, true),
        None => match store.get_call(&args.id).await? {
            Some(v) => (v.value, false),
            None => anyhow::bail!(
                "no call {:?} (finished calls are kept stats.history_days = {} days)",
                args.id,
                cfg.stats.history_days
            ),
        },
    };
    let state: CallState = serde_json::from_value(state)
        .with_context(|| format!("call {:?}: not a call state this build can read", args.id))?;
    let r = CallRecord::from_state(&state);
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let t = |v: Option<OffsetDateTime>| v.map_or("-".to_string(), rfc3339);
    writeln!(out, "call         {}", r.id)?;
    writeln!(
        out,
        "status       {}",
        if finished { "finished" } else { "in progress" }
    )?;
    writeln!(out, "from         {}", r.from)?;
    writeln!(out, "to           {}", r.to)?;
    writeln!(out, "started      {}", rfc3339(r.started_at))?;
    writeln!(out, "answered     {}", t(r.answered_at))?;
    writeln!(out, "ended        {}", t(r.ended_at))?;
    writeln!(out, "queue        {}", r.queue)?;
    writeln!(out, "waited in    {}", r.queues.join(" → "))?;
    writeln!(out, "wait         {}s", r.wait_secs)?;
    writeln!(out, "talk         {}s", r.talk_secs)?;
    writeln!(
        out,
        "answered by  {}",
        r.answered_by.as_ref().map_or("-", |a| a.as_str())
    )?;
    writeln!(out, "result       {}", r.result)?;
    writeln!(out, "reason       {}", r.reason)?;
    writeln!(
        out,
        "recording    {}",
        r.recording_id.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "agents tried")?;
    for o in &r.agents {
        writeln!(
            out,
            "  {}  {:<38} {}",
            rfc3339(o.at),
            o.agent.as_str(),
            o.outcome
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `30m`, `2h`, `7d` (ago), `today` (since midnight at `tz`, the configured time zone),
/// or an RFC 3339 instant.
fn parse_since(
    s: &str,
    now: OffsetDateTime,
    tz: time::UtcOffset,
) -> anyhow::Result<OffsetDateTime> {
    let s = s.trim();
    if s == "today" {
        return Ok(today_start(now, tz));
    }
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let split = s.len().saturating_sub(1);
    let (n, unit) = (s.get(..split).unwrap_or(""), s.get(split..).unwrap_or(""));
    let n: i64 = n
        .parse()
        .ok()
        .filter(|n| *n >= 0)
        .context("expected `30m`, `2h`, `7d`, `today` or an RFC 3339 instant")?;
    let d = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n.min(100_000)),
        _ => anyhow::bail!("unknown unit {unit:?}: use s, m, h or d (e.g. `2h`)"),
    };
    Ok(now - d)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `2026-12-07 10:31:05` (UTC), for the table.
fn short_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_and_instants_and_rejects_the_rest() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let utc = time::UtcOffset::UTC;
        let p = |s: &str| parse_since(s, now, utc);
        assert_eq!(p("2h").unwrap(), now - Duration::hours(2));
        assert_eq!(p("30m").unwrap(), now - Duration::minutes(30));
        assert_eq!(p("7d").unwrap(), now - Duration::days(7));
        // 1_800_000_000 is 2027-01-15T08:00:00Z.
        assert_eq!(p("2027-01-15T08:00:00Z").unwrap(), now);
        assert_eq!(p("today").unwrap(), now - Duration::hours(8));
        // At UTC-05:00 it is 03:00 on the 15th: that day began at 05:00Z.
        let est = time::UtcOffset::from_hms(-5, 0, 0).unwrap();
        assert_eq!(
            parse_since("today", now, est).unwrap(),
            now - Duration::hours(3)
        );
        for bad in ["", "h", "-2h", "2w", "yesterday", "2027-01-15"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
