//! `switchboard events inspect`: decode message bodies and print one line per event.
//!
//! Each FILE holds one queue message body (`-` reads stdin); with `--fixture` each FILE is a
//! fixture message (`tests/fixtures/messages/*.json`) and its `body` is inspected. Every event
//! found prints one line on stdout (`--format json`: the summary object from
//! `switchboard_events::inspect_json`; `--format text`: a `key=value` line). A file that
//! cannot be read or decoded prints one line on stderr naming it and the reason, the other
//! files are still processed, and the exit code is 1. Bad elements inside an otherwise good
//! callback array are reported the same way after the good events are printed.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use switchboard_events::{decode, inspect_json, inspect_text, load_fixture, Decoded};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print one line per event found in each message body.
    Inspect(InspectArgs),
}

#[derive(Debug, clap::Args)]
struct InspectArgs {
    /// Output format: one JSON object per line, or a compact text line.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Treat each FILE as a fixture message document and inspect its `body`.
    #[arg(long)]
    fixture: bool,
    /// Files holding one message body each; `-` reads standard input.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Json,
    Text,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        // File and stdin reads are small and sequential; doing them on the runtime thread
        // keeps output ordering trivial.
        Command::Inspect(a) => inspect(&a),
    }
}

fn inspect(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut failed = false;
    for path in &args.files {
        let name = path.display().to_string();
        let body = match read_body(path, args.fixture) {
            Ok(b) => b,
            Err(reason) => {
                failed = true;
                report(&mut out, &name, &reason)?;
                continue;
            }
        };
        match decode(&body) {
            Ok(decoded) => {
                print_events(&mut out, &decoded, args.format)?;
                for e in &decoded.errors {
                    failed = true;
                    report(&mut out, &name, &e.to_string())?;
                }
            }
            Err(e) => {
                failed = true;
                report(
                    &mut out,
                    &name,
                    &format!("{} ({})", e, e.dead_letter_reason()),
                )?;
            }
        }
    }
    finish(out.flush())?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn read_body(path: &PathBuf, fixture: bool) -> Result<Vec<u8>, String> {
    let bytes = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        buf
    } else {
        std::fs::read(path).map_err(|e| format!("cannot read file: {e}"))?
    };
    if !fixture {
        return Ok(bytes);
    }
    if path.as_os_str() == "-" {
        let text = String::from_utf8(bytes).map_err(|_| "fixture is not UTF-8".to_owned())?;
        let f: switchboard_events::FixtureMessage =
            serde_json::from_str(&text).map_err(|e| format!("not a fixture message: {e}"))?;
        return Ok(f.body.into_bytes());
    }
    load_fixture(path)
        .map(|f| f.body.into_bytes())
        .map_err(|e| format!("not a fixture message: {e}"))
}

fn print_events(out: &mut impl Write, decoded: &Decoded, format: Format) -> anyhow::Result<()> {
    for event in &decoded.events {
        let line = match format {
            Format::Json => inspect_json(event).to_string(),
            Format::Text => inspect_text(event),
        };
        finish(writeln!(out, "{line}"))?;
    }
    Ok(())
}

/// One stderr line naming the file. Stdout is flushed first so the two streams interleave
/// in file order when both go to a terminal.
fn report(out: &mut impl Write, name: &str, reason: &str) -> anyhow::Result<()> {
    finish(out.flush())?;
    eprintln!("switchboard events inspect: {name}: {reason}");
    Ok(())
}

/// A closed stdout (e.g. `| head`) ends the command quietly instead of as an error.
fn finish(r: io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other.context("cannot write to standard output"),
    }
}
