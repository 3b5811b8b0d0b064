//! `switchboard replay PATH…`: put fixture messages (or raw message bodies) on the queues, the
//! way they arrive in production.
//!
//! Each file is a fixture (`tests/fixtures/messages/*.json`: body + properties + expectation)
//! or, if it is not one, a raw message body. Routing (`--queue auto`): IncomingCall (Event
//! Grid or CloudEvents envelope, or bare data) → the incoming queue with the fixture's message
//! id and properties; Call Automation callbacks → split per event exactly as the ingress does
//! (message id = event id, session = correlation id) onto the events queue. Message ids never
//! come from randomness, so replaying the same files twice is absorbed by duplicate detection;
//! `--new-ids` (id `~rN` per `--repeat` copy) and `--id-suffix` derive new ids
//! deterministically to send them again.
//! Bodies that do not decode are skipped unless `--include-invalid` (they then go to the
//! incoming queue, where the worker dead-letters them).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use switchboard_events::fixture::FixtureMessage;
use switchboard_events::AcsEvent;
use switchboard_queue::{OutgoingMessage, PropertyValue, QueueHandle};
use switchboard_worker::backend::{open_queues, Queues};
use switchboard_worker::config::Role;
use switchboard_worker::ingress::split_callbacks;

use super::common::{self, ConfigArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// IncomingCall → incoming queue; callbacks → events queue (per event, session = call).
    Auto,
    /// Everything to the incoming queue, as one message per file.
    Incoming,
    /// Everything to the events queue, split per event.
    Events,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Which queue each message goes to.
    #[arg(long, value_enum, default_value = "auto")]
    pub queue: Target,
    /// Show what would be sent; send nothing (no queue is opened).
    #[arg(long)]
    pub dry_run: bool,
    /// Send every message this many times. Without `--new-ids` the copies keep the event id,
    /// so duplicate detection absorbs them (a way to exercise dedupe).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Give copy N (1-based) of every message the id `<event id>~rN`: derived, never random,
    /// so `--repeat 3 --new-ids` delivers each message three times.
    #[arg(long)]
    pub new_ids: bool,
    /// Append `~SUFFIX` to every message id, so a second replay is not dropped as a duplicate.
    #[arg(long)]
    pub id_suffix: Option<String>,
    /// Also send bodies that do not decode (to the incoming queue), to exercise dead-lettering.
    #[arg(long)]
    pub include_invalid: bool,
    /// Fixture files, raw bodies, or directories of them (recursively, `*.json`).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Where one prepared message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Dest {
    Incoming,
    Events,
}

struct Planned {
    source: String,
    dest: Dest,
    message: OutgoingMessage,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = match args.config.load_for(Role::QueueTool) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if args.repeat == 0 {
        eprintln!("switchboard: --repeat must be at least 1");
        return Ok(ExitCode::from(2));
    }

    let mut files = Vec::new();
    let mut unreadable = 0usize;
    for p in &args.paths {
        if let Err(e) = collect(p, &mut files) {
            eprintln!("cannot read {}: {e}", p.display());
            unreadable += 1;
        }
    }
    files.sort();

    let mut planned = Vec::new();
    let mut skipped = 0usize;
    for file in &files {
        let text = match std::fs::read(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("cannot read {}: {e}", file.display());
                unreadable += 1;
                continue;
            }
        };
        match plan(file, &text, args.queue, args.include_invalid) {
            Ok(mut msgs) => planned.append(&mut msgs),
            Err(reason) => {
                println!("skipped  {}: {reason}", file.display());
                skipped += 1;
            }
        }
    }

    // Copies and suffixes: ids stay derived from the originals, never random.
    let mut out = Vec::with_capacity(planned.len() * args.repeat as usize);
    for copy in 0..args.repeat {
        for p in &planned {
            let mut m = p.message.clone();
            if let Some(s) = &args.id_suffix {
                m.message_id = format!("{}~{s}", m.message_id);
            }
            if args.new_ids {
                m.message_id = copy_id(&m.message_id, copy);
            }
            out.push(Planned {
                source: p.source.clone(),
                dest: p.dest,
                message: m,
            });
        }
    }

    let queues = if args.dry_run {
        None
    } else {
        match open_queues(&cfg, &common::engines()).await {
            Ok(q) => Some(q),
            Err(e) => return common::startup_exit(e),
        }
    };
    let mut sent: BTreeMap<Dest, usize> = BTreeMap::new();
    for p in &out {
        let name = match p.dest {
            Dest::Incoming => &cfg.queue.incoming_queue,
            Dest::Events => &cfg.queue.events_queue,
        };
        if let Some(q) = &queues {
            queue_of(q, p.dest)
                .sender
                .send(p.message.clone())
                .await
                .with_context(|| format!("sending {} to {name}", p.message.message_id))?;
        }
        println!(
            "{}  {} → {name} (id {}{})",
            if args.dry_run { "would send" } else { "sent" },
            p.source,
            p.message.message_id,
            p.message
                .session_id
                .as_deref()
                .map(|s| format!(", session {s}"))
                .unwrap_or_default()
        );
        *sent.entry(p.dest).or_default() += 1;
    }
    println!(
        "{} {} message(s): {} to {}, {} to {}; {} file(s) skipped, {} unreadable",
        if args.dry_run {
            "would replay"
        } else {
            "replayed"
        },
        out.len(),
        sent.get(&Dest::Incoming).copied().unwrap_or(0),
        cfg.queue.incoming_queue,
        sent.get(&Dest::Events).copied().unwrap_or(0),
        cfg.queue.events_queue,
        skipped,
        unreadable
    );
    Ok(if unreadable > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The id of copy `copy` (0-based) under `--new-ids`: a pure function of (id, copy).
fn copy_id(id: &str, copy: u32) -> String {
    format!("{id}~r{}", u64::from(copy) + 1)
}

fn queue_of(q: &Queues, dest: Dest) -> &QueueHandle {
    match dest {
        Dest::Incoming => &q.incoming,
        Dest::Events => &q.events,
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let p = entry?.path();
            if p.is_dir() {
                collect(&p, out)?;
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p);
            }
        }
        Ok(())
    } else {
        std::fs::metadata(path)?;
        out.push(path.to_path_buf());
        Ok(())
    }
}

/// The messages one file becomes, or why it is skipped.
fn plan(
    file: &Path,
    text: &[u8],
    target: Target,
    include_invalid: bool,
) -> Result<Vec<Planned>, String> {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A fixture has `body`, `expect` and `provenance`; anything else is a raw body.
    let fixture = serde_json::from_slice::<FixtureMessage>(text).ok();
    let (name, body, meta) = match &fixture {
        Some(f) => (
            if f.name.is_empty() {
                stem
            } else {
                f.name.clone()
            },
            f.body_bytes().to_vec(),
            Some(f.metadata()),
        ),
        None => (stem, text.to_vec(), None),
    };
    let fallback_id = || {
        meta.as_ref()
            .and_then(|m| m.message_id.clone())
            .unwrap_or_else(|| format!("replay-{name}"))
    };
    let raw_message = |dest: Dest| {
        let mut m =
            OutgoingMessage::new(fallback_id(), body.clone()).with_content_type("application/json");
        if let Some(meta) = &meta {
            for (k, v) in &meta.application_properties {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                m.application_properties
                    .insert(k.clone(), PropertyValue::String(v));
            }
            if dest == Dest::Events {
                if let Some(s) = &meta.session_id {
                    m = m.with_session_id(s.clone());
                }
            }
        }
        Planned {
            source: name.clone(),
            dest,
            message: m,
        }
    };

    let decoded = switchboard_events::decode(&body);
    let valid = decoded
        .as_ref()
        .is_ok_and(|d| !d.events.is_empty() && d.errors.is_empty());
    if !valid {
        if !include_invalid {
            let why = match &decoded {
                Err(e) => e.to_string(),
                Ok(d) if d.events.is_empty() => "no events".to_string(),
                Ok(d) => format!("{} element(s) do not decode", d.errors.len()),
            };
            return Err(format!(
                "does not decode ({why}); --include-invalid sends it"
            ));
        }
        return Ok(vec![raw_message(Dest::Incoming)]);
    }
    let Ok(decoded) = decoded else {
        return Err("does not decode".to_string());
    };
    let incoming_call = decoded
        .events
        .iter()
        .all(|e| matches!(e.payload, AcsEvent::IncomingCall(_)));
    let dest = match target {
        Target::Incoming => Dest::Incoming,
        Target::Events => Dest::Events,
        Target::Auto if incoming_call => Dest::Incoming,
        Target::Auto => Dest::Events,
    };
    if dest == Dest::Incoming {
        return Ok(vec![raw_message(Dest::Incoming)]);
    }
    // Callbacks: exactly what the ingress would publish for this body.
    let split = split_callbacks(&body).map_err(|e| format!("cannot split: {e}"))?;
    let mut out = Vec::with_capacity(split.len());
    for m in split {
        let Some(session) = m.session_id.clone() else {
            return Err(format!(
                "event {} has no correlation id, so no session on {}",
                m.message_id, "the events queue"
            ));
        };
        let mut o = OutgoingMessage::new(m.message_id, m.body)
            .with_content_type(m.content_type)
            .with_subject(m.subject)
            .with_session_id(session);
        if let Some(c) = m.correlation_id {
            o = o.with_correlation_id(c);
        }
        for (k, v) in m.application_properties {
            o.application_properties.insert(k, PropertyValue::String(v));
        }
        out.push(Planned {
            source: name.clone(),
            dest: Dest::Events,
            message: o,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ids_are_derived_and_distinct() {
        assert_eq!(copy_id("evt-1", 0), "evt-1~r1");
        assert_eq!(copy_id("evt-1", 0), copy_id("evt-1", 0));
        assert_ne!(copy_id("evt-1", 0), copy_id("evt-1", 1));
        assert_ne!(copy_id("evt-1", 1), copy_id("evt-2", 1));
    }

    #[test]
    fn callbacks_split_per_event_with_the_correlation_id_as_session() {
        let body = br#"[{"id":"e1","source":"calling/callConnections/c1","type":"Microsoft.Communication.CallConnected","specversion":"1.0","time":"2026-03-12T10:00:00Z","data":{"callConnectionId":"c1","serverCallId":"s1","correlationId":"corr-1"}},
{"id":"e2","source":"calling/callConnections/c1","type":"Microsoft.Communication.CallDisconnected","specversion":"1.0","time":"2026-03-12T10:01:00Z","data":{"callConnectionId":"c1","serverCallId":"s1","correlationId":"corr-1"}}]"#;
        let planned = plan(Path::new("x.json"), body, Target::Auto, false).unwrap();
        assert_eq!(planned.len(), 2);
        assert!(planned.iter().all(|p| p.dest == Dest::Events));
        let ids: Vec<_> = planned
            .iter()
            .map(|p| p.message.message_id.as_str())
            .collect();
        assert_eq!(ids, ["e1", "e2"]);
        assert!(planned
            .iter()
            .all(|p| p.message.session_id.as_deref() == Some("corr-1")));
        // Forced to the incoming queue: one message, the body untouched.
        let one = plan(Path::new("x.json"), body, Target::Incoming, false).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].message.body.as_ref(), &body[..]);
    }

    #[test]
    fn undecodable_bodies_are_skipped_unless_asked_for() {
        let why = plan(Path::new("bad.json"), b"not json", Target::Auto, false)
            .err()
            .unwrap_or_default();
        assert!(why.contains("--include-invalid"), "{why}");
        let sent = plan(Path::new("bad.json"), b"not json", Target::Auto, true).unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].dest, Dest::Incoming);
        assert_eq!(sent[0].message.message_id, "replay-bad");
    }
}
