//! `switchboard dlq list|show|resubmit|purge`: the dead-letter queues of the deployment's
//! queues (SQLite or Service Bus `$DeadLetterQueue`), through the queue port.
//!
//! Browsing peeks (nothing is locked). `resubmit` sends a copy back to its queue with the
//! dead-letter properties removed and a message id derived from the old one, then removes
//! the dead letter; `purge` deletes (all, or those dead-lettered before `--older-than`).
//! Messages are named by sequence number or message id; a name that matches nothing exits 1.
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use switchboard_queue::{Message, PropertyValue, QueueHandle};
use switchboard_worker::backend::{open_queues, Queues};
use switchboard_worker::config::Role;
use time::OffsetDateTime;

use super::common::{self, ConfigArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    Incoming,
    Events,
    /// Events the ingress refused (forged or foreign types, malformed elements, oversized
    /// events), each with its reason.
    Rejects,
    All,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Which queue's dead letters.
    #[arg(long, value_enum, default_value = "all", global = true)]
    pub queue: Which,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Dead letters, oldest first: sequence number, message id, reason, age.
    List {
        /// At most this many per queue.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// One dead letter in full: reason, description, delivery count, properties, body.
    Show {
        /// Sequence number or message id.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters back to their queue (new message id derived from the old one).
    Resubmit {
        /// Sequence numbers or message ids.
        ids: Vec<String>,
        /// Every dead letter of the selected queue(s).
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Say what would be resubmitted; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete dead letters.
    Purge {
        /// Only those enqueued longer ago than this (`90s`, `30m`, `12h`, `7d`).
        #[arg(long, value_parser = parse_duration)]
        older_than: Option<Duration>,
        /// Do not ask (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
}

/// `90s`, `30m`, `12h`, `7d` (or plain seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 90s, 30m, 12h or 7d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{s}`: unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = match args.config.load_for(Role::QueueTool) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let Command::Purge { yes: false, .. } = &args.command {
        if !std::io::stdin().is_terminal() {
            eprintln!("switchboard: purge deletes dead letters; pass --yes to confirm");
            return Ok(ExitCode::from(2));
        }
    }
    let queues = match open_queues(&cfg, &common::engines()).await {
        Ok(q) => q,
        Err(e) => return common::startup_exit(e),
    };
    let selected = select(&queues, args.queue);
    match args.command {
        Command::List { limit, json } => list(&selected, limit, json).await,
        Command::Show { id, json } => show(&selected, &id, json).await,
        Command::Resubmit { ids, all, dry_run } => resubmit(&selected, &ids, all, dry_run).await,
        Command::Purge { older_than, yes } => purge(&selected, older_than, yes).await,
    }
}

fn select(q: &Queues, which: Which) -> Vec<&QueueHandle> {
    match which {
        Which::Incoming => vec![&q.incoming],
        Which::Events => vec![&q.events],
        Which::Rejects => vec![&q.rejects],
        Which::All => vec![&q.incoming, &q.events, &q.rejects],
    }
}

/// Every dead letter of `q`, oldest first, up to `limit`.
async fn peek_all(q: &QueueHandle, limit: usize) -> anyhow::Result<Vec<Message>> {
    let mut out = Vec::new();
    let mut from = 0i64;
    while out.len() < limit {
        let page = q
            .dead_letters
            .peek(from, (limit - out.len()).min(100))
            .await
            .with_context(|| format!("browsing the dead letters of {}", q.name))?;
        let Some(last) = page.last() else { break };
        from = last.sequence_number + 1;
        out.extend(page);
    }
    Ok(out)
}

fn age(m: &Message) -> String {
    let secs = (OffsetDateTime::now_utc() - m.enqueued_time)
        .whole_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn summary(m: &Message) -> serde_json::Value {
    json!({
        "queue": m.queue,
        "sequenceNumber": m.sequence_number,
        "messageId": m.message_id,
        "sessionId": m.session_id,
        "deadLetterReason": m.dead_letter_reason,
        "deadLetterErrorDescription": m.dead_letter_error_description,
        "deliveryCount": m.delivery_count,
        "enqueuedTime": m.enqueued_time.format(&time::format_description::well_known::Rfc3339).ok(),
    })
}

async fn list(queues: &[&QueueHandle], limit: usize, json: bool) -> anyhow::Result<ExitCode> {
    let mut all = Vec::new();
    for q in queues {
        all.extend(peek_all(q, limit).await?);
    }
    if json {
        let items: Vec<_> = all.iter().map(summary).collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        println!("no dead letters");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<16} {:>6}  {:<38} {:>4}  {:>5}  reason",
        "queue", "seq", "message id", "dlv", "age"
    );
    for m in &all {
        let reason = m.dead_letter_reason.as_deref().unwrap_or("-");
        let desc = m
            .dead_letter_error_description
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| format!(": {}", truncate(d, 70)))
            .unwrap_or_default();
        println!(
            "{:<16} {:>6}  {:<38} {:>4}  {:>5}  {reason}{desc}",
            m.queue,
            m.sequence_number,
            truncate(&m.message_id, 38),
            m.delivery_count,
            age(m)
        );
    }
    println!("{} dead letter(s)", all.len());
    Ok(ExitCode::SUCCESS)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The dead letters `id` names: a sequence number, else a message id.
async fn find(queues: &[&QueueHandle], id: &str) -> anyhow::Result<Vec<Message>> {
    let mut found = Vec::new();
    for q in queues {
        for m in peek_all(q, usize::MAX).await? {
            let by_seq = id.parse::<i64>().is_ok_and(|n| n == m.sequence_number);
            if by_seq || m.message_id == id {
                found.push(m);
            }
        }
    }
    Ok(found)
}

async fn show(queues: &[&QueueHandle], id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let found = find(queues, id).await?;
    if found.is_empty() {
        eprintln!("switchboard: no dead letter {id}");
        return Ok(ExitCode::FAILURE);
    }
    for m in &found {
        let body: serde_json::Value = serde_json::from_slice(&m.body)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&m.body).into()));
        let props: serde_json::Map<String, serde_json::Value> = m
            .application_properties
            .iter()
            .map(|(k, v)| (k.clone(), property_json(v)))
            .collect();
        if json {
            let mut s = summary(m);
            s["applicationProperties"] = serde_json::Value::Object(props);
            s["correlationId"] = json!(m.correlation_id);
            s["contentType"] = json!(m.content_type);
            s["body"] = body;
            println!("{}", serde_json::to_string_pretty(&s)?);
            continue;
        }
        println!("queue            {}", m.queue);
        println!("sequence number  {}", m.sequence_number);
        println!("message id       {}", m.message_id);
        if let Some(s) = &m.session_id {
            println!("session id       {s}");
        }
        println!(
            "reason           {}",
            m.dead_letter_reason.as_deref().unwrap_or("-")
        );
        println!(
            "description      {}",
            m.dead_letter_error_description.as_deref().unwrap_or("-")
        );
        println!("delivery count   {}", m.delivery_count);
        println!("enqueued         {} ({} ago)", m.enqueued_time, age(m));
        for (k, v) in &props {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("property         {k} = {v}");
        }
        println!("body:\n{}", serde_json::to_string_pretty(&body)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// A property as JSON: strings, numbers and booleans as themselves (non-finite floats, which
/// JSON cannot hold, as their text).
fn property_json(v: &PropertyValue) -> serde_json::Value {
    match v {
        PropertyValue::String(s) => json!(s),
        PropertyValue::Int(i) => json!(i),
        PropertyValue::Bool(b) => json!(b),
        PropertyValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| json!(f.to_string())),
    }
}

async fn resubmit(
    queues: &[&QueueHandle],
    ids: &[String],
    all: bool,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    if !all && ids.is_empty() {
        eprintln!("switchboard: name dead letters to resubmit, or pass --all");
        return Ok(ExitCode::from(2));
    }
    let mut targets: Vec<(&QueueHandle, Message)> = Vec::new();
    let mut missing = Vec::new();
    if all {
        for q in queues {
            for m in peek_all(q, usize::MAX).await? {
                targets.push((q, m));
            }
        }
    } else {
        for id in ids {
            let mut hit = false;
            for q in queues {
                for m in peek_all(q, usize::MAX).await? {
                    let by_seq = id.parse::<i64>().is_ok_and(|n| n == m.sequence_number);
                    if by_seq || &m.message_id == id {
                        hit = true;
                        targets.push((q, m));
                    }
                }
            }
            if !hit {
                missing.push(id.clone());
            }
        }
    }
    let mut done = 0usize;
    for (q, m) in &targets {
        if dry_run {
            println!(
                "would resubmit {} seq {} ({})",
                q.name, m.sequence_number, m.message_id
            );
            continue;
        }
        let new_id = q
            .dead_letters
            .resubmit(m.sequence_number)
            .await
            .with_context(|| format!("resubmitting {} seq {}", q.name, m.sequence_number))?;
        println!(
            "resubmitted {} seq {} ({}) as {new_id}",
            q.name, m.sequence_number, m.message_id
        );
        done += 1;
    }
    for id in &missing {
        eprintln!("switchboard: no dead letter {id}");
    }
    if !dry_run {
        println!("{done} resubmitted");
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn purge(
    queues: &[&QueueHandle],
    older_than: Option<Duration>,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    if !yes {
        print!("delete dead letters? type yes: ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if line.trim() != "yes" {
            println!("nothing deleted");
            return Ok(ExitCode::FAILURE);
        }
    }
    let mut total = 0u64;
    for q in queues {
        let n = match older_than {
            None => q
                .dead_letters
                .purge()
                .await
                .with_context(|| format!("purging {}", q.name))?,
            Some(age) => purge_older(q, age).await?,
        };
        println!("{}: {n} dead letter(s) deleted", q.name);
        total += n;
    }
    println!("{total} deleted");
    Ok(ExitCode::SUCCESS)
}

/// Deletes the dead letters enqueued before now − `age`: receives them under lock and
/// completes the old ones, releasing the others untouched.
async fn purge_older(q: &QueueHandle, age: Duration) -> anyhow::Result<u64> {
    let cutoff = OffsetDateTime::now_utc() - age;
    let old: std::collections::BTreeSet<i64> = peek_all(q, usize::MAX)
        .await?
        .into_iter()
        .filter(|m| m.enqueued_time < cutoff)
        .map(|m| m.sequence_number)
        .collect();
    let mut left = old.clone();
    let mut deleted = 0u64;
    let mut idle_rounds = 0;
    while !left.is_empty() && idle_rounds < 3 {
        let batch = q
            .dead_letters
            .receive(100, Duration::from_millis(500))
            .await
            .with_context(|| format!("receiving dead letters of {}", q.name))?;
        if batch.is_empty() {
            idle_rounds += 1;
            continue;
        }
        let mut progressed = false;
        let mut held = Vec::new();
        for d in batch {
            if left.remove(&d.sequence_number) {
                q.dead_letters.complete(&d).await?;
                deleted += 1;
                progressed = true;
            } else {
                held.push(d);
            }
        }
        // Release the young ones only after the batch, so the next receive gets new ones.
        for d in held {
            q.dead_letters.abandon(&d).await?;
        }
        if !progressed {
            idle_rounds += 1;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("x").is_err());
    }
}
