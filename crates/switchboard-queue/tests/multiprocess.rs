//! Several OS processes on one SQLite queue file.
//!
//! This test binary has its own `main` (`harness = false`): run normally it is the parent and
//! runs the tests below; re-executed with `SBQ_CHILD` set it becomes one child process (a
//! competing consumer, a consumer that gets SIGKILLed holding a lock, a session consumer, a
//! sender killed mid-stream). Children talk to the parent through stdout lines and take a
//! "go" line on stdin, so both consumers start competing at the same moment.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use switchboard_queue::sqlite::SqliteNamespace;
use switchboard_queue::{OutgoingMessage, QueueConfig, QueueReceiver, QueueSender};
use time::OffsetDateTime;

const CHILD_ENV: &str = "SBQ_CHILD";
const DB_ENV: &str = "SBQ_DB";
const QUEUE_ENV: &str = "SBQ_QUEUE";

type TestFn = fn() -> Result<(), String>;

const TESTS: &[(&str, TestFn)] = &[
    (
        "two_processes_compete_and_consume_each_message_once",
        compete,
    ),
    (
        "consumer_killed_mid_lock_is_redelivered_after_expiry",
        killed_consumer,
    ),
    (
        "sessions_are_exclusive_and_ordered_across_processes",
        sessions,
    ),
    (
        "sender_killed_mid_stream_leaves_only_whole_batches",
        killed_sender,
    ),
];

fn main() -> ExitCode {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        return child_main(&mode);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in TESTS {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    // The libtest arguments cargo may pass: filters, `--exact`, `--skip NAME`, and flags
    // (some with a value) that do not matter here.
    let (mut filters, mut skips, mut exact) = (Vec::new(), Vec::new(), false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--exact" => exact = true,
            "--skip" => skips.extend(it.next()),
            "--test-threads" | "--color" | "--format" | "--logfile" | "-Z" => {
                it.next();
            }
            flag if flag.starts_with('-') => {}
            filter => filters.push(filter),
        }
    }
    let matches = |name: &str, pattern: &str| {
        if exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    let selected: Vec<_> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| matches(name, f)))
        .filter(|(name, _)| !skips.iter().any(|s| name.contains(s.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let outcome = std::panic::catch_unwind(test).unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".to_owned()))
        });
        match outcome {
            Ok(()) => println!("test {name} ... ok"),
            Err(e) => {
                println!("test {name} ... FAILED\n    {e}");
                failed.push(*name);
            }
        }
    }
    let passed = selected.len() - failed.len();
    if failed.is_empty() {
        println!("\ntest result: ok. {passed} passed; 0 failed\n");
        ExitCode::SUCCESS
    } else {
        println!(
            "\ntest result: FAILED. {passed} passed; {} failed\n",
            failed.len()
        );
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------------------------
// Parent side

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what.into())
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

struct ChildProc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildProc {
    fn spawn(mode: &str, db: &Path, queue: &str) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(err)?;
        let mut child = Command::new(exe)
            .env(CHILD_ENV, mode)
            .env(DB_ENV, db)
            .env(QUEUE_ENV, queue)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(err)?;
        let stdout: ChildStdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines })
    }

    fn expect_line(&self, timeout: Duration) -> Result<String, String> {
        self.lines
            .recv_timeout(timeout)
            .map_err(|e| format!("child said nothing: {e}"))
    }

    fn go(&mut self) -> Result<(), String> {
        let stdin = self.child.stdin.as_mut().ok_or("no stdin")?;
        writeln!(stdin, "go").map_err(err)?;
        stdin.flush().map_err(err)
    }

    /// Waits for the child to exit successfully and returns everything it printed.
    fn finish(mut self, timeout: Duration) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            {
                Ok(line) => out.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    return Err("child did not finish in time".into());
                }
            }
        }
        let status = self.child.wait().map_err(err)?;
        check(status.success(), format!("child failed: {status}"))?;
        Ok(out)
    }
}

fn temp_db() -> Result<(tempfile::TempDir, PathBuf), String> {
    let dir = tempfile::tempdir().map_err(err)?;
    let path = dir.path().join("shared.db");
    Ok((dir, path))
}

/// Two consumer processes start at the same moment on 1,000 messages: no message is handed
/// to both, every message is completed exactly once, both do part of the work.
fn compete() -> Result<(), String> {
    const N: usize = 1000;
    let (_dir, db) = temp_db()?;
    let rt = runtime();
    rt.block_on(async {
        let ns = SqliteNamespace::open(&db).await.map_err(err)?;
        let q = ns
            .create_queue(
                "work",
                QueueConfig {
                    lock_duration: Duration::from_secs(120),
                    ..QueueConfig::default()
                },
            )
            .await
            .map_err(err)?;
        let msgs: Vec<_> = (0..N)
            .map(|i| OutgoingMessage::new(format!("m{i:04}"), format!("{i}")))
            .collect();
        for chunk in msgs.chunks(100) {
            q.send_batch(chunk.to_vec()).await.map_err(err)?;
        }
        Ok::<_, String>(())
    })?;

    let mut a = ChildProc::spawn("consume", &db, "work")?;
    let mut b = ChildProc::spawn("consume", &db, "work")?;
    check(
        a.expect_line(Duration::from_secs(30))? == "ready",
        "a not ready",
    )?;
    check(
        b.expect_line(Duration::from_secs(30))? == "ready",
        "b not ready",
    )?;
    a.go()?;
    b.go()?;
    let out_a = a.finish(Duration::from_secs(120))?;
    let out_b = b.finish(Duration::from_secs(120))?;

    let parse = |lines: &[String]| -> Result<Vec<(String, u32)>, String> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix("got "))
            .map(|rest| {
                let (id, count) = rest.split_once(' ').ok_or("bad line")?;
                Ok((id.to_owned(), count.parse().map_err(err)?))
            })
            .collect()
    };
    let got_a = parse(&out_a)?;
    let got_b = parse(&out_b)?;
    let ids_a: HashSet<_> = got_a.iter().map(|(id, _)| id.clone()).collect();
    let ids_b: HashSet<_> = got_b.iter().map(|(id, _)| id.clone()).collect();
    let both: Vec<_> = ids_a.intersection(&ids_b).collect();
    check(
        both.is_empty(),
        format!("delivered to both processes: {both:?}"),
    )?;
    check(
        ids_a.len() == got_a.len() && ids_b.len() == got_b.len(),
        "a process got a message twice",
    )?;
    check(
        got_a.iter().chain(&got_b).all(|(_, c)| *c == 1),
        "a message was redelivered although its lock never expired",
    )?;
    check(
        ids_a.len() + ids_b.len() == N,
        format!("consumed {} + {} of {N}", ids_a.len(), ids_b.len()),
    )?;
    check(
        !ids_a.is_empty() && !ids_b.is_empty(),
        format!("no competition: {} vs {}", ids_a.len(), ids_b.len()),
    )?;
    println!("    split {} / {}", ids_a.len(), ids_b.len());
    rt.block_on(async {
        let ns = SqliteNamespace::open(&db).await.map_err(err)?;
        let props = ns
            .queue("work")
            .await
            .map_err(err)?
            .runtime_properties()
            .await
            .map_err(err)?;
        check(
            props.total_message_count() == 0,
            format!("left over: {props:?}"),
        )
    })
}

/// A consumer holding a lock is SIGKILLed: the message stays locked until the lock expires,
/// then is redelivered with delivery count 2.
fn killed_consumer() -> Result<(), String> {
    const LOCK: Duration = Duration::from_secs(2);
    let (_dir, db) = temp_db()?;
    let rt = runtime();
    rt.block_on(async {
        let ns = SqliteNamespace::open(&db).await.map_err(err)?;
        let q = ns
            .create_queue(
                "work",
                QueueConfig {
                    lock_duration: LOCK,
                    ..QueueConfig::default()
                },
            )
            .await
            .map_err(err)?;
        q.send(OutgoingMessage::new("job", "x")).await.map_err(err)
    })?;

    let mut child = ChildProc::spawn("hold", &db, "work")?;
    let line = child.expect_line(Duration::from_secs(30))?;
    let fields: Vec<&str> = line.split(' ').collect();
    let (seq, locked_until_ms, count) = match fields.as_slice() {
        ["locked", seq, until, count] => (
            seq.parse::<i64>().map_err(err)?,
            until.parse::<i64>().map_err(err)?,
            count.parse::<u32>().map_err(err)?,
        ),
        _ => return Err(format!("unexpected child output {line:?}")),
    };
    check(count == 1, "first delivery")?;
    child.child.kill().map_err(err)?; // SIGKILL on Unix: no cleanup runs in the child.
    let status = child.child.wait().map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        check(
            status.signal() == Some(9),
            format!("child not killed by SIGKILL: {status}"),
        )?;
    }
    #[cfg(not(unix))]
    let _ = status;

    rt.block_on(async {
        let ns = SqliteNamespace::open(&db).await.map_err(err)?;
        let q = ns.queue("work").await.map_err(err)?;
        let now_ms = || switchboard_queue::clock::to_unix_ms(OffsetDateTime::now_utc());
        let early = q.receive(1, Duration::ZERO).await.map_err(err)?;
        // Only meaningful while the dead child's lock still has time left.
        if now_ms() < locked_until_ms - 200 {
            check(
                early.is_empty(),
                "the killed consumer's lock must still hold",
            )?;
        }
        let got = q.receive(1, Duration::from_secs(30)).await.map_err(err)?;
        let d = got
            .first()
            .ok_or("not redelivered after the lock expired")?;
        check(
            now_ms() >= locked_until_ms,
            "redelivered before the lock expired",
        )?;
        check(d.sequence_number == seq, "same message")?;
        check(
            d.delivery_count == 2,
            format!("delivery count {}", d.delivery_count),
        )?;
        q.complete(d).await.map_err(err)?;
        Ok(())
    })
}

/// Two processes consume 20 sessions: each session is held by one process at a time (their
/// hold intervals never overlap), its messages are handled in order, each exactly once.
fn sessions() -> Result<(), String> {
    const SESSIONS: usize = 20;
    const PER: usize = 10;
    let (_dir, db) = temp_db()?;
    let rt = runtime();
    rt.block_on(async {
        let ns = SqliteNamespace::open(&db).await.map_err(err)?;
        let q = ns
            .create_queue(
                "events",
                QueueConfig {
                    lock_duration: Duration::from_secs(120),
                    ..QueueConfig::sessions()
                },
            )
            .await
            .map_err(err)?;
        let mut batch = Vec::new();
        for i in 0..PER {
            for s in 0..SESSIONS {
                batch.push(
                    OutgoingMessage::new(format!("{s}-{i}"), format!("{i}"))
                        .with_session_id(format!("call-{s}")),
                );
            }
        }
        q.send_batch(batch).await.map_err(err)
    })?;
    let mut a = ChildProc::spawn("sessions", &db, "events")?;
    let mut b = ChildProc::spawn("sessions", &db, "events")?;
    check(
        a.expect_line(Duration::from_secs(30))? == "ready",
        "a not ready",
    )?;
    check(
        b.expect_line(Duration::from_secs(30))? == "ready",
        "b not ready",
    )?;
    a.go()?;
    b.go()?;
    let outputs = [
        a.finish(Duration::from_secs(120))?,
        b.finish(Duration::from_secs(120))?,
    ];

    // "hold <session> <from_ms> <to_ms> <idx,idx,...>"
    let mut holds: BTreeMap<String, Vec<(usize, i64, i64)>> = BTreeMap::new();
    // (from_ms, indexes) per session, to rebuild the handling order across processes.
    let mut handled: HashMap<String, Vec<(i64, Vec<usize>)>> = HashMap::new();
    for (proc, lines) in outputs.iter().enumerate() {
        for l in lines.iter().filter_map(|l| l.strip_prefix("hold ")) {
            let f: Vec<&str> = l.split(' ').collect();
            let [session, from, to, idxs] = f.as_slice() else {
                return Err(format!("bad line {l:?}"));
            };
            let from: i64 = from.parse().map_err(err)?;
            holds.entry((*session).to_owned()).or_default().push((
                proc,
                from,
                to.parse().map_err(err)?,
            ));
            let idxs = idxs
                .split(',')
                .filter(|i| !i.is_empty())
                .map(|i| i.parse::<usize>().map_err(err))
                .collect::<Result<Vec<_>, _>>()?;
            handled
                .entry((*session).to_owned())
                .or_default()
                .push((from, idxs));
        }
    }
    let order: HashMap<String, Vec<usize>> = handled
        .into_iter()
        .map(|(session, mut runs)| {
            runs.sort_by_key(|r| r.0);
            (session, runs.into_iter().flat_map(|r| r.1).collect())
        })
        .collect();
    for (session, hs) in &holds {
        for (i, x) in hs.iter().enumerate() {
            for y in &hs[i + 1..] {
                let overlap = x.1 < y.2 && y.1 < x.2;
                check(
                    !(overlap && x.0 != y.0),
                    format!("{session} held by both processes at once: {x:?} {y:?}"),
                )?;
            }
        }
    }
    check(
        order.len() == SESSIONS,
        format!("{} sessions consumed", order.len()),
    )?;
    for (session, idxs) in &order {
        let expected: Vec<usize> = (0..PER).collect();
        check(idxs == &expected, format!("{session}: {idxs:?}"))?;
    }
    let per_proc: Vec<usize> = (0..2)
        .map(|p| holds.values().flatten().filter(|h| h.0 == p).count())
        .collect();
    println!("    session holds per process: {per_proc:?}");
    Ok(())
}

/// A sender is SIGKILLed while sending batches of 50: the file stays consistent and holds only
/// whole batches, at least as many as it reported committed.
fn killed_sender() -> Result<(), String> {
    let (_dir, db) = temp_db()?;
    let rt = runtime();
    rt.block_on(async {
        let ns = SqliteNamespace::open(&db).await.map_err(err)?;
        ns.create_queue("work", QueueConfig::default())
            .await
            .map_err(err)?;
        Ok::<_, String>(())
    })?;
    let mut child = ChildProc::spawn("flood", &db, "work")?;
    let mut committed = 0;
    for _ in 0..20 {
        let line = child.expect_line(Duration::from_secs(30))?;
        committed = line
            .strip_prefix("sent ")
            .ok_or_else(|| format!("unexpected {line:?}"))?
            .parse::<u64>()
            .map_err(err)?;
    }
    child.child.kill().map_err(err)?;
    child.child.wait().map_err(err)?;

    let conn = rusqlite::Connection::open(&db).map_err(err)?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(err)?;
    check(integrity == "ok", format!("integrity_check: {integrity}"))?;
    drop(conn);
    rt.block_on(async {
        let ns = SqliteNamespace::open(&db).await.map_err(err)?;
        let q = ns.queue("work").await.map_err(err)?;
        let n = q
            .runtime_properties()
            .await
            .map_err(err)?
            .active_message_count;
        check(
            n >= committed,
            format!("{n} stored < {committed} reported committed"),
        )?;
        check(n % 50 == 0, format!("{n} messages: a batch was torn"))?;
        // And the queue still works.
        let got = q.receive(50, Duration::from_secs(5)).await.map_err(err)?;
        check(got.len() == 50, "receive after the crash")?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Child side

fn child_main(mode: &str) -> ExitCode {
    let result = (|| -> Result<(), String> {
        let db = std::env::var(DB_ENV).map_err(err)?;
        let queue = std::env::var(QUEUE_ENV).map_err(err)?;
        let rt = runtime();
        rt.block_on(async {
            let ns = SqliteNamespace::open(&db).await.map_err(err)?;
            let q = ns.queue(&queue).await.map_err(err)?;
            match mode {
                "consume" => child_consume(&q).await,
                "hold" => child_hold(&q).await,
                "sessions" => child_sessions(&q).await,
                "flood" => child_flood(&q).await,
                other => Err(format!("unknown child mode {other:?}")),
            }
        })
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("child {mode} failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn wait_for_go() -> Result<(), String> {
    say("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(err)?;
    check(line.trim() == "go", format!("expected go, got {line:?}"))
}

async fn child_consume(q: &switchboard_queue::sqlite::SqliteQueue) -> Result<(), String> {
    wait_for_go()?;
    loop {
        let got = q
            .receive(10, Duration::from_millis(1500))
            .await
            .map_err(err)?;
        if got.is_empty() {
            return Ok(());
        }
        // Hold the locks a moment so both processes have messages in flight at once.
        tokio::time::sleep(Duration::from_millis(1)).await;
        for d in got {
            q.complete(&d).await.map_err(err)?;
            say(&format!("got {} {}", d.message_id, d.delivery_count));
        }
    }
}

async fn child_hold(q: &switchboard_queue::sqlite::SqliteQueue) -> Result<(), String> {
    let got = q.receive(1, Duration::from_secs(10)).await.map_err(err)?;
    let d = got.first().ok_or("nothing to hold")?;
    say(&format!(
        "locked {} {} {}",
        d.sequence_number,
        switchboard_queue::clock::to_unix_ms(d.locked_until),
        d.delivery_count
    ));
    // Wait to be killed.
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

async fn child_sessions(q: &switchboard_queue::sqlite::SqliteQueue) -> Result<(), String> {
    let now_ms = || switchboard_queue::clock::to_unix_ms(OffsetDateTime::now_utc());
    wait_for_go()?;
    while let Some(s) = q
        .accept_next_session(Duration::from_millis(1500))
        .await
        .map_err(err)?
    {
        let from = now_ms();
        let mut idxs = Vec::new();
        loop {
            let got = s
                .receive(3, Duration::from_millis(100))
                .await
                .map_err(err)?;
            if got.is_empty() {
                break;
            }
            for d in got {
                s.complete(&d).await.map_err(err)?;
                idxs.push(String::from_utf8_lossy(&d.body).into_owned());
            }
        }
        let to = now_ms();
        say(&format!(
            "hold {} {from} {to} {}",
            s.session_id(),
            idxs.join(",")
        ));
        s.close().await.map_err(err)?;
    }
    Ok(())
}

async fn child_flood(q: &switchboard_queue::sqlite::SqliteQueue) -> Result<(), String> {
    let mut sent = 0u64;
    loop {
        let batch: Vec<_> = (0..50)
            .map(|i| OutgoingMessage::new(format!("f{}", sent + i), vec![b'x'; 512]))
            .collect();
        q.send_batch(batch).await.map_err(err)?;
        sent += 50;
        say(&format!("sent {sent}"));
    }
}
