//! Group commit for the embedded SQLite engines (the queue and the store).
//!
//! SQLite lets one connection at a time write a file. The engines used to run each write as
//! its own `BEGIN IMMEDIATE … COMMIT` on Tokio's blocking pool, one after another: under load
//! a process's writes queued behind each other, and each paid for a whole transaction (the
//! lock, WAL frames for every page it touched, the commit), two thread hand-offs, and often a
//! pooled connection whose page cache the previous writer had just invalidated. Writes were
//! the serial part of a worker: its throughput stayed the same from 8 to 32 calls handled at
//! once.
//!
//! A [`GroupWriter`] owns one connection and one thread. Callers queue writes to it; the
//! thread takes every write queued (up to [`WriterOptions::max_batch`]), opens one
//! `BEGIN IMMEDIATE`, runs each write in its own savepoint, commits once, and only then
//! answers the callers. What a caller sees is what it saw with a transaction of its own:
//! - a write is all or nothing: one that returns `Err`, panics, or whose caller stopped
//!   waiting is rolled back to its savepoint, and nothing of it stays;
//! - writes apply in the order they were queued, each seeing the ones before it;
//! - success is reported only after the commit, so an answered write is as durable as the
//!   connection's `synchronous` setting makes any commit;
//! - if the batch's transaction fails as a whole (begin, commit, or SQLite rolling it back
//!   on its own after an I/O or disk-full error), every write of the batch fails with that
//!   error, and none of them happened;
//! - `now` (the caller's clock, Unix ms) is read once the write lock is held, so instants
//!   follow commit order across processes.
//!
//! A write whose caller's future is dropped before the batch reaches it does not run.
//!
//! The writer also decides when the WAL is copied back into the file (SQLite's own
//! `wal_autocheckpoint` is off on its connection): after answering a batch, at most once per
//! [`WriterOptions::checkpoint_interval`], once the WAL holds
//! [`WriterOptions::checkpoint_frames`] frames. See the `checkpoint` module for why.
//!
//! [`shared`] gives every handle of one file in a process the same writer (the queue and the
//! store share the embedded file): one connection writes, so the writers of one process
//! never wait for each other's lock or empty each other's page cache.
//!
//! Reads do not go through the writer: [`snapshot_now`] lets a reader run on the caller's
//! thread when it can take its snapshot without waiting.
//!
//! Data flow: [`GroupWriter::write`] boxes the closure with a one-shot reply channel and
//! sends it over a `std::sync::mpsc` channel → the writer thread (`batch_loop`) collects a
//! batch, runs it (`run_batch`), sends each reply, then checkpoints if due.
#![forbid(unsafe_code)]

mod checkpoint;
mod read;
mod wal;
pub use read::{read_now, snapshot_now};
pub use wal::enable_wal;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::{mpsc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

/// Why a write did not happen, for the caller's own error type (see [`MapFailure`]).
#[derive(Debug)]
pub enum Failure<'a> {
    /// SQLite failed the batch's transaction as a whole (begin, savepoint, commit).
    Sql(&'a rusqlite::Error),
    /// The write panicked; its savepoint was rolled back.
    Panicked,
    /// The writer thread is gone (it could not start, or it stopped).
    Closed,
}

impl Failure<'_> {
    /// Whether trying the same write again may succeed: a lock wait that ran out of time, an
    /// I/O or resource failure, a batch undone by another write in it (a deferred constraint
    /// fails the commit of every write in the batch), or a writer that stopped.
    pub fn is_retryable(&self) -> bool {
        use rusqlite::ErrorCode as C;
        match self {
            Failure::Sql(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                C::DatabaseBusy
                    | C::DatabaseLocked
                    | C::OperationAborted
                    | C::ConstraintViolation
                    | C::SystemIoFailure
                    | C::DiskFull
                    | C::CannotOpen
                    | C::OutOfMemory
            ),
            Failure::Sql(_) => false,
            Failure::Panicked => false,
            Failure::Closed => true,
        }
    }
}

impl std::fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Sql(e) => write!(f, "{e}"),
            Failure::Panicked => f.write_str("the write panicked (rolled back)"),
            Failure::Closed => f.write_str("the SQLite writer thread has stopped"),
        }
    }
}

/// Turns a [`Failure`] of operation `op` into the caller's error.
pub type MapFailure<E> = fn(&'static str, Failure<'_>) -> E;

/// A caller's clock: Unix milliseconds.
pub type NowMs = Arc<dyn Fn() -> i64 + Send + Sync>;

/// How a [`GroupWriter`] runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WriterOptions {
    /// How long the writer may wait, in all, for another process's write lock
    /// (`switchboard_core::busy`'s budget; the connection must use that busy handler).
    pub busy_budget: Duration,
    /// The most writes one transaction holds.
    pub max_batch: usize,
    /// WAL frames (pages) after a commit from which the writer checkpoints (see the
    /// `checkpoint` module's docs for why the writer, not SQLite, decides).
    pub checkpoint_frames: u32,
    /// The least time between two checkpoints of one writer.
    pub checkpoint_interval: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            busy_budget: switchboard_core::busy::DEFAULT_BUDGET,
            max_batch: 64,
            // SQLite's own default threshold.
            checkpoint_frames: 1_000,
            checkpoint_interval: Duration::from_millis(100),
        }
    }
}

/// Counters of a writer, for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions begun.
    pub batches: u64,
    /// Writes run in them.
    pub writes: u64,
    /// Checkpoints run (`PASSIVE` or `RESTART`).
    pub checkpoints: u64,
    /// Frames in the WAL after the last commit, as SQLite reported it (0 before the first).
    pub wal_frames: u64,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    writes: AtomicU64,
    checkpoints: AtomicU64,
    wal_frames: AtomicU64,
}

/// One connection's writes, run in batches on a thread of its own. Cheap to share (`Arc`);
/// the thread ends once the writer is dropped and every queued write has been answered.
pub struct GroupWriter {
    jobs: mpsc::Sender<Box<dyn Job>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWriter")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl GroupWriter {
    /// Starts the writer thread (named `name`) owning `conn`, which must not be in a
    /// transaction and must use `switchboard_core::busy::handler`.
    pub fn start(name: &str, conn: Connection, options: WriterOptions) -> std::io::Result<Self> {
        let (jobs, queued) = mpsc::channel::<Box<dyn Job>>();
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || batch_loop(&conn, &queued, &options, &c))?;
        Ok(Self { jobs, counters })
    }

    /// Runs `f` in a savepoint of the next batch's transaction, with `now` read from `clock`
    /// once the write lock is held, and returns its result once the batch committed. `map`
    /// builds the error for a write that failed for a reason other than its own `Err`.
    pub async fn write<T, E, F>(
        &self,
        op: &'static str,
        map: MapFailure<E>,
        clock: &NowMs,
        f: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Pending {
            op,
            map,
            clock: Arc::clone(clock),
            f: Some(f),
            out: None,
            reply,
        };
        if self.jobs.send(Box::new(job)).is_err() {
            return Err(map(op, Failure::Closed));
        }
        // Dropping this future drops `answer`: the writer sees it and skips or undoes `f`.
        answer
            .await
            .unwrap_or_else(|_| Err(map(op, Failure::Closed)))
    }

    /// Transactions and writes so far.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
            checkpoints: self.counters.checkpoints.load(Ordering::Relaxed),
            wal_frames: self.counters.wal_frames.load(Ordering::Relaxed),
        }
    }
}

/// A queued write, type-erased for the channel.
trait Job: Send {
    /// Whether its caller still waits for the answer.
    fn wanted(&self) -> bool;
    /// Runs it inside the batch's transaction; whether its changes are to be kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller: `committed` is the batch's outcome.
    fn finish(self: Box<Self>, committed: Result<(), &rusqlite::Error>);
}

struct Pending<T, E, F> {
    op: &'static str,
    map: MapFailure<E>,
    clock: NowMs,
    f: Option<F>,
    out: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Job for Pending<T, E, F>
where
    T: Send,
    E: Send,
    F: FnOnce(&Connection, i64) -> Result<T, E> + Send,
{
    fn wanted(&self) -> bool {
        !self.reply.is_closed()
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let clock = &self.clock;
        let out = catch_unwind(AssertUnwindSafe(|| f(conn, clock())))
            .unwrap_or_else(|_| Err((self.map)(self.op, Failure::Panicked)));
        let keep = out.is_ok();
        self.out = Some(out);
        keep
    }

    fn finish(self: Box<Self>, committed: Result<(), &rusqlite::Error>) {
        let Pending {
            op,
            map,
            out,
            reply,
            ..
        } = *self;
        let answer = match (out, committed) {
            // Its own error stands whatever became of the batch: it was rolled back anyway.
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(e)) => Err(map(op, Failure::Sql(e))),
            // Never ran: its caller had gone (nobody reads this), or the batch failed first.
            (None, Err(e)) => Err(map(op, Failure::Sql(e))),
            (None, Ok(())) => Err(map(op, Failure::Closed)),
        };
        let _ = reply.send(answer);
    }
}

fn batch_loop(
    conn: &Connection,
    queued: &mpsc::Receiver<Box<dyn Job>>,
    options: &WriterOptions,
    counters: &Counters,
) {
    switchboard_core::busy::set_budget(options.busy_budget);
    let mut checkpointer = match checkpoint::Checkpointer::install(conn, options) {
        Ok(c) => Some(c),
        Err(e) => {
            // SQLite's own checkpoints stay on: slower under load, never wrong.
            tracing::warn!(error = %e, "could not take over WAL checkpoints");
            None
        }
    };
    let max = options.max_batch.max(1);
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max);
    while let Ok(first) = queued.recv() {
        batch.push(first);
        while batch.len() < max {
            match queued.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        batch.retain(|job| job.wanted());
        if batch.is_empty() {
            continue;
        }
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let outcome = run_batch(conn, &mut batch);
        if outcome.is_err() && !conn.is_autocommit() {
            // Best effort: the error that matters is the one the callers get.
            let _ = conn.execute_batch("ROLLBACK");
        }
        // Only a commit that wrote reports frames (an empty batch leaves the WAL as it was).
        // Counted before the answers, so a caller that got its answer sees its commit here.
        let frames = match (&outcome, checkpoint::take_wal_frames()) {
            (Ok(()), Some(frames)) => {
                counters
                    .wal_frames
                    .store(u64::from(frames), Ordering::Relaxed);
                Some(frames)
            }
            _ => None,
        };
        for job in batch.drain(..) {
            job.finish(outcome.as_ref().map(|_| ()));
        }
        if let (Some(frames), Some(c)) = (frames, checkpointer.as_mut()) {
            match c.after_commit(conn, frames) {
                Ok(false) => {}
                Ok(true) => {
                    counters.checkpoints.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "checkpoint failed; the next one copies its frames")
                }
            }
        }
    }
}

/// One transaction: every write of `batch` in its own savepoint, then the commit.
fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), rusqlite::Error> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    for job in batch.iter_mut() {
        conn.prepare_cached("SAVEPOINT w")?.execute([])?;
        let keep = job.run(conn) && job.wanted();
        if conn.is_autocommit() {
            // SQLite ended the whole transaction itself (after SQLITE_FULL, SQLITE_IOERR, …),
            // or the write did: the writes before this one are gone too.
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some("the batch's transaction was rolled back by a write in it".into()),
            ));
        }
        if !keep {
            conn.prepare_cached("ROLLBACK TO w")?.execute([])?;
        }
        conn.prepare_cached("RELEASE w")?.execute([])?;
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok(())
}

/// What makes two handles' writes safe to share one connection: the same file and the same
/// settings (the engines open their connections alike otherwise: WAL, our busy handler).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WriterKey {
    /// The file, canonical (two spellings of one path must meet).
    pub path: PathBuf,
    /// `PRAGMA synchronous = FULL` rather than `NORMAL`.
    pub synchronous_full: bool,
    /// How the writer runs.
    pub options: WriterOptions,
}

impl WriterKey {
    /// The key of a file (canonical path) written with these settings, the writer's other
    /// options at their defaults.
    pub fn new(path: PathBuf, synchronous_full: bool, busy_budget: Duration) -> Self {
        Self {
            path,
            synchronous_full,
            options: WriterOptions {
                busy_budget,
                ..WriterOptions::default()
            },
        }
    }
}

/// Statements each engine keeps prepared on the writer it shares (the queue's and the store's).
const SHARED_STATEMENT_CACHE: usize = 128;

/// The running writer for `key` in this process, or a new one on the connection `connect`
/// opens (with `key`'s settings). Handles keep it alive; the last one dropped stops it.
pub fn shared<E>(
    key: WriterKey,
    name: &str,
    connect: impl FnOnce(&Path) -> Result<Connection, E>,
    thread_error: impl FnOnce(std::io::Error) -> E,
) -> Result<Arc<GroupWriter>, E> {
    type Registry = Mutex<HashMap<WriterKey, Weak<GroupWriter>>>;
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let mut writers = REGISTRY
        .get_or_init(Registry::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(w) = writers.get(&key).and_then(Weak::upgrade) {
        return Ok(w);
    }
    // Opening under the registry lock: two handles opened at once must not start two writers.
    let conn = connect(&key.path)?;
    conn.set_prepared_statement_cache_capacity(SHARED_STATEMENT_CACHE);
    let writer =
        Arc::new(GroupWriter::start(name, conn, key.options.clone()).map_err(thread_error)?);
    writers.retain(|_, w| w.strong_count() > 0);
    writers.insert(key, Arc::downgrade(&writer));
    Ok(writer)
}

#[cfg(test)]
mod tests;
