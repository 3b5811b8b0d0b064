use std::path::Path;

use rusqlite::OpenFlags;

use super::*;

#[derive(Debug, PartialEq, Eq)]
enum TestError {
    Own(String),
    Writer { op: &'static str, retryable: bool },
}

fn map(op: &'static str, f: Failure<'_>) -> TestError {
    TestError::Writer {
        op,
        retryable: f.is_retryable(),
    }
}

fn connect(path: &Path) -> Connection {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )
    .unwrap();
    conn.busy_handler(Some(switchboard_core::busy::handler))
        .unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    conn
}

fn clock() -> NowMs {
    Arc::new(|| 42)
}

struct Rig {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    writer: Arc<GroupWriter>,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let conn = connect(&path);
    conn.execute_batch(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE t (id INTEGER PRIMARY KEY, at INTEGER NOT NULL,
             parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
    )
    .unwrap();
    let writer = GroupWriter::start("test-writer", conn, WriterOptions::default()).unwrap();
    Rig {
        _dir: dir,
        path,
        writer: Arc::new(writer),
    }
}

impl Rig {
    fn ids(&self) -> Vec<i64> {
        let conn = connect(&self.path);
        let mut st = conn.prepare("SELECT id FROM t ORDER BY id").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Holds the file's write lock from another connection until the returned sender fires
    /// (or is dropped), so writes queued meanwhile wait for the same batch.
    fn hold_write_lock(&self) -> std::sync::mpsc::Sender<()> {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (locked, is_locked) = std::sync::mpsc::channel();
        let path = self.path.clone();
        std::thread::spawn(move || {
            let conn = connect(&path);
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            locked.send(()).unwrap();
            let _ = wait.recv();
            conn.execute_batch("COMMIT").unwrap();
        });
        is_locked.recv().unwrap();
        release
    }

    /// Queues `f` as write `op` from a task of its own.
    fn spawn_write<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connection, i64) -> Result<T, TestError> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<T, TestError>> {
        let writer = Arc::clone(&self.writer);
        tokio::spawn(async move { writer.write(op, map, &clock(), f).await })
    }

    fn insert(
        &self,
        id: i64,
    ) -> impl std::future::Future<Output = Result<i64, TestError>> + Send + 'static {
        let writer = Arc::clone(&self.writer);
        async move {
            writer
                .write("insert", map, &clock(), move |c, now| {
                    c.execute("INSERT INTO t (id, at) VALUES (?1, ?2)", [id, now])
                        .map_err(|e| TestError::Own(e.to_string()))?;
                    Ok(id)
                })
                .await
        }
    }
}

/// What a write of a batch that failed as a whole gets.
fn gone<T>(op: &'static str) -> Result<T, TestError> {
    Err(TestError::Writer {
        op,
        retryable: true,
    })
}

/// Lets every spawned write reach the channel (they are queued in spawn order).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn writes_queued_behind_a_lock_share_one_transaction() {
    let rig = rig();
    let release = rig.hold_write_lock();
    let tasks: Vec<_> = (1..=10).map(|i| tokio::spawn(rig.insert(i))).collect();
    settle().await;
    release.send(()).unwrap();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), Ok(i as i64 + 1));
    }
    assert_eq!(rig.ids(), (1..=10).collect::<Vec<_>>());
    let stats = rig.writer.stats();
    assert_eq!(stats.writes, 10);
    // The first write may have been taken alone before the others were queued.
    assert!(stats.batches <= 2, "{stats:?}");
}

#[tokio::test]
async fn a_failing_write_rolls_back_only_itself() {
    let rig = rig();
    let release = rig.hold_write_lock();
    let first = tokio::spawn(rig.insert(1));
    settle().await;
    let failing = rig.spawn_write("half", |c, now| -> Result<(), TestError> {
        c.execute("INSERT INTO t (id, at) VALUES (2, ?1)", [now])
            .unwrap();
        Err(TestError::Own("changed my mind".into()))
    });
    let panicking = rig.spawn_write("panics", |c, now| -> Result<(), TestError> {
        c.execute("INSERT INTO t (id, at) VALUES (3, ?1)", [now])
            .unwrap();
        panic!("a bug in a write");
    });
    let last = tokio::spawn(rig.insert(4));
    settle().await;
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap(), Ok(1));
    assert_eq!(
        failing.await.unwrap(),
        Err(TestError::Own("changed my mind".into()))
    );
    assert_eq!(
        panicking.await.unwrap(),
        Err(TestError::Writer {
            op: "panics",
            retryable: false
        })
    );
    assert_eq!(last.await.unwrap(), Ok(4));
    assert_eq!(rig.ids(), vec![1, 4]);
    // The writer thread survived the panic.
    assert_eq!(rig.insert(5).await, Ok(5));
}

#[tokio::test]
async fn a_failed_commit_fails_every_write_of_the_batch_and_the_writer_goes_on() {
    let rig = rig();
    let release = rig.hold_write_lock();
    // Taken alone by the writer, which then waits for the lock: what follows is one batch.
    let blocker = tokio::spawn(rig.insert(100));
    settle().await;
    let ok = tokio::spawn(rig.insert(1));
    // A deferred foreign key is checked at COMMIT only: this write succeeds, the commit fails.
    let orphan = rig.spawn_write("orphan", |c, now| {
        c.execute("INSERT INTO t (id, at, parent) VALUES (2, ?1, 99)", [now])
            .map_err(|e| TestError::Own(e.to_string()))
    });
    settle().await;
    release.send(()).unwrap();
    assert_eq!(blocker.await.unwrap(), Ok(100));
    assert_eq!(ok.await.unwrap(), gone("insert"));
    assert_eq!(orphan.await.unwrap(), gone("orphan"));
    assert_eq!(rig.writer.stats().batches, 2);
    assert_eq!(rig.ids(), vec![100]);
    assert_eq!(rig.insert(3).await, Ok(3));
    assert_eq!(rig.ids(), vec![3, 100]);
}

#[tokio::test]
async fn a_write_that_ends_the_transaction_fails_the_whole_batch() {
    let rig = rig();
    let release = rig.hold_write_lock();
    let blocker = tokio::spawn(rig.insert(100));
    settle().await;
    let ok = tokio::spawn(rig.insert(1));
    settle().await;
    let rogue = rig.spawn_write("rogue", |c, _| {
        c.execute_batch("ROLLBACK")
            .map_err(|e| TestError::Own(e.to_string()))
    });
    settle().await;
    let after = tokio::spawn(rig.insert(2));
    settle().await;
    release.send(()).unwrap();
    assert_eq!(blocker.await.unwrap(), Ok(100));
    assert_eq!(ok.await.unwrap(), gone("insert"));
    assert_eq!(rogue.await.unwrap(), gone("rogue"));
    // Queued after the rogue write: it never ran in that transaction.
    assert_eq!(after.await.unwrap(), gone("insert"));
    assert_eq!(rig.ids(), vec![100]);
    assert_eq!(rig.insert(3).await, Ok(3));
}

#[tokio::test]
async fn a_write_whose_caller_left_does_not_run() {
    let rig = rig();
    let release = rig.hold_write_lock();
    let blocker = tokio::spawn(rig.insert(1));
    settle().await;
    // Queued behind the lock, then abandoned before the writer reaches it.
    let abandoned = tokio::spawn(rig.insert(2));
    settle().await;
    abandoned.abort();
    let _ = abandoned.await;
    release.send(()).unwrap();
    assert_eq!(blocker.await.unwrap(), Ok(1));
    assert_eq!(rig.insert(3).await, Ok(3));
    assert_eq!(rig.ids(), vec![1, 3]);
}

#[tokio::test]
async fn writes_read_their_own_clock_and_a_broken_one_fails_only_its_write() {
    let rig = rig();
    assert_eq!(rig.insert(7).await, Ok(7));
    let conn = connect(&rig.path);
    let at: i64 = conn
        .query_row("SELECT at FROM t WHERE id = 7", [], |r| r.get(0))
        .unwrap();
    assert_eq!(at, 42);

    let broken: NowMs = Arc::new(|| panic!("clock broke"));
    let r = rig
        .writer
        .write("w", map, &broken, |_, _| Ok::<_, TestError>(()))
        .await;
    assert_eq!(
        r,
        Err(TestError::Writer {
            op: "w",
            retryable: false
        })
    );
    assert_eq!(rig.insert(8).await, Ok(8));
}

#[tokio::test]
async fn handles_of_one_file_and_settings_share_a_writer_while_one_lives() {
    let dir = tempfile::tempdir().unwrap();
    let key = |path: &Path, full| WriterKey {
        path: path.to_path_buf(),
        synchronous_full: full,
        options: WriterOptions::default(),
    };
    let a = dir.path().join("a.db");
    let b = dir.path().join("b.db");
    let open = |p: &Path| Ok::<_, std::io::Error>(connect(p));
    let first = shared(key(&a, false), "t", open, |e| e).unwrap();
    let again = shared(
        key(&a, false),
        "t",
        |_: &Path| panic!("not opened again"),
        |e| e,
    )
    .unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    let stricter = shared(key(&a, true), "t", open, |e| e).unwrap();
    assert!(!Arc::ptr_eq(&first, &stricter));
    let other = shared(key(&b, false), "t", open, |e| e).unwrap();
    assert!(!Arc::ptr_eq(&first, &other));
    let weak = Arc::downgrade(&first);
    drop((first, again));
    assert!(weak.upgrade().is_none());
    let fresh = shared(key(&a, false), "t", open, |e| e).unwrap();
    assert_eq!(fresh.stats(), WriterStats::default());
}

#[test]
fn a_snapshot_taken_now_reads_what_was_committed_and_keeps_it() {
    let rig = rig();
    let writer = connect(&rig.path);
    writer
        .execute("INSERT INTO t (id, at) VALUES (1, 1)", [])
        .unwrap();
    let reader = connect(&rig.path);
    let tx = snapshot_now(&reader, Duration::from_secs(5))
        .unwrap()
        .expect("nobody holds a lock");
    // A commit after the snapshot is not seen by it.
    writer
        .execute("INSERT INTO t (id, at) VALUES (2, 2)", [])
        .unwrap();
    let n: i64 = tx
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    tx.commit().unwrap();
}

#[test]
fn a_snapshot_that_would_wait_is_refused_at_once_and_the_budget_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    connect(&path)
        .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)")
        .unwrap();
    // A connection in exclusive locking mode keeps others from reading the file at all
    // once it has written: the one case a WAL reader must wait for a lock, made to last.
    let hog = connect(&path);
    hog.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .unwrap();
    hog.execute("INSERT INTO t (id, at) VALUES (1, 1)", [])
        .unwrap();
    let reader = Connection::open(&path).unwrap();
    reader
        .busy_handler(Some(switchboard_core::busy::handler))
        .unwrap();
    let started = std::time::Instant::now();
    let got = snapshot_now(&reader, Duration::from_millis(300)).unwrap();
    assert!(got.is_none(), "the reader would have had to wait");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "refused without napping through the budget: {:?}",
        started.elapsed()
    );
    // The budget given applies again to what the thread runs next: a plain read now waits
    // for it (about 300 ms) before it gives up.
    let started = std::time::Instant::now();
    let err = reader
        .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    // Once the lock is gone, the snapshot is taken at once.
    drop(hog);
    let tx = snapshot_now(&reader, Duration::from_secs(5)).unwrap();
    assert!(tx.is_some());
}

/// A writer with these checkpoint settings, on a fresh WAL file with a table of blobs, and
/// the main file's path.
fn checkpoint_rig(frames: u32, interval: Duration) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let conn = connect(&path);
    conn.execute_batch("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)")
        .unwrap();
    let options = WriterOptions {
        checkpoint_frames: frames,
        checkpoint_interval: interval,
        ..WriterOptions::default()
    };
    let writer = GroupWriter::start("test-checkpoints", conn, options).unwrap();
    Rig {
        _dir: dir,
        path,
        writer: Arc::new(writer),
    }
}

impl Rig {
    /// One write (one transaction) of `rows` blobs of 3,000 bytes: about a page each.
    async fn write_pages(&self, rows: usize) {
        self.writer
            .write("blobs", map, &clock(), move |c, _| {
                let mut st = c
                    .prepare_cached("INSERT INTO blobs (b) VALUES (zeroblob(3000))")
                    .unwrap();
                for _ in 0..rows {
                    st.execute([]).unwrap();
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Returns once the writer finished everything it did after the writes before this one
    /// (a checkpoint runs after the batch's callers are answered; writes run in order).
    async fn barrier(&self) {
        self.write_pages(0).await;
    }

    fn main_file_len(&self) -> u64 {
        std::fs::metadata(&self.path).unwrap().len()
    }
}

#[tokio::test]
async fn sqlite_does_not_checkpoint_the_writers_commits_on_its_own() {
    let rig = checkpoint_rig(u32::MAX, Duration::ZERO);
    let before = rig.main_file_len();
    // Past SQLite's own threshold (1,000 frames), in commits of 100 pages.
    for _ in 0..12 {
        rig.write_pages(100).await;
    }
    rig.barrier().await;
    let stats = rig.writer.stats();
    assert!(stats.wal_frames >= 1_200, "{stats:?}");
    assert_eq!(stats.checkpoints, 0);
    // `wal_autocheckpoint` would have copied the first 1,000 frames back by now.
    assert_eq!(rig.main_file_len(), before);
}

#[tokio::test]
async fn the_writer_checkpoints_past_its_threshold_at_most_once_per_interval() {
    let rig = checkpoint_rig(50, Duration::from_secs(3_600));
    for _ in 0..3 {
        rig.write_pages(10).await;
    }
    rig.barrier().await;
    assert_eq!(rig.writer.stats().checkpoints, 0, "below the threshold");
    let before = rig.main_file_len();
    rig.write_pages(20).await;
    rig.barrier().await;
    assert_eq!(rig.writer.stats().checkpoints, 1);
    assert!(
        rig.main_file_len() > before + 50 * 3_000,
        "the frames were copied back"
    );
    for _ in 0..5 {
        rig.write_pages(20).await;
    }
    rig.barrier().await;
    assert_eq!(
        rig.writer.stats().checkpoints,
        1,
        "not again within the interval"
    );
}

#[tokio::test]
async fn after_a_checkpoint_the_next_write_starts_the_wal_from_the_top() {
    // A plain checkpoint (60 frames, threshold 50) and one that restarts the WAL (over 16
    // times the threshold of 2).
    for (threshold, rows) in [(50, 60), (2, 40)] {
        let rig = checkpoint_rig(threshold, Duration::ZERO);
        rig.write_pages(rows).await;
        let stats = rig.writer.stats();
        assert!(stats.wal_frames >= rows as u64, "{stats:?}");
        rig.barrier().await;
        assert_eq!(rig.writer.stats().checkpoints, 1);
        rig.write_pages(1).await;
        let stats = rig.writer.stats();
        assert!(stats.wal_frames < 5, "the WAL restarted: {stats:?}");
        rig.barrier().await;
        assert_eq!(
            rig.writer.stats().checkpoints,
            if threshold < 3 { 2 } else { 1 },
            "a WAL of 3 frames is past a threshold of 2 only"
        );
    }
}

#[test]
fn the_bundled_sqlite_is_built_with_the_repositorys_flags() {
    // `.cargo/config.toml` sets them (LIBSQLITE3_FLAGS); a build that missed it (cargo run
    // from outside the repository, a Dockerfile that copies the config too late) fails here.
    let conn = Connection::open_in_memory().unwrap();
    let mut st = conn.prepare("PRAGMA compile_options").unwrap();
    let options: Vec<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
        "{options:?}"
    );
    assert!(
        !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
        "{options:?}"
    );
}
