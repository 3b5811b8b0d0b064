//! Deterministic tests of the SQLite queue's time rules and edge cases, with a manual clock:
//! time moves when the test says so, boundaries are exact, nothing sleeps.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::clock::{to_unix_ms, Clock, ManualClock};
use crate::message::MessageState;
use crate::message::{REASON_MAX_DELIVERY_COUNT_EXCEEDED, REASON_TTL_EXPIRED};
use crate::ErrorKind;

const NOW: Duration = Duration::ZERO;

struct Fixture {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    ns: SqliteNamespace,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_fixed_instant();
    let ns = SqliteNamespace::open_with(
        dir.path().join("q.db"),
        SqliteOptions {
            clock: Arc::new(clock.clone()),
            ..SqliteOptions::default()
        },
    )
    .await
    .unwrap();
    Fixture {
        _dir: dir,
        clock,
        ns,
    }
}

fn msg(id: &str) -> OutgoingMessage {
    OutgoingMessage::new(id, Bytes::from_static(b"{}"))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn cfg(lock_secs: u64) -> QueueConfig {
    QueueConfig {
        lock_duration: secs(lock_secs),
        ..QueueConfig::default()
    }
}

async fn one(q: &SqliteQueue) -> Delivery {
    let mut got = q.receive(1, NOW).await.unwrap();
    assert_eq!(got.len(), 1, "expected a message");
    got.remove(0)
}

async fn none(q: &SqliteQueue) {
    let got = q.receive(10, NOW).await.unwrap();
    assert!(
        got.is_empty(),
        "expected nothing, got {:?}",
        got.iter().map(|d| &d.message_id).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn lock_expires_exactly_at_locked_until() {
    let f = fixture().await;
    let q = f.ns.create_queue("q", cfg(30)).await.unwrap();
    q.send(msg("m")).await.unwrap();
    let d = one(&q).await;
    assert_eq!(d.locked_until, f.clock.now() + secs(30));
    f.clock.advance(secs(30) - Duration::from_millis(1));
    none(&q).await;
    q.renew_lock(&d).await.unwrap();
    f.clock.advance(secs(30));
    // Renewed at t+29.999 s for 30 s: expires at t+59.999 s, which is now.
    let again = one(&q).await;
    assert_eq!(again.delivery_count, 2);
    let err = q.complete(&d).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockLost);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn time_to_live_boundary_and_queue_default() {
    let f = fixture().await;
    let q =
        f.ns.create_queue(
            "q",
            QueueConfig {
                dead_lettering_on_message_expiration: true,
                default_message_time_to_live: Some(secs(60)),
                ..cfg(30)
            },
        )
        .await
        .unwrap();
    q.send(msg("own-ttl").with_time_to_live(secs(10)))
        .await
        .unwrap();
    q.send(msg("longer-than-default").with_time_to_live(secs(600)))
        .await
        .unwrap();
    let peeked = q.peek(0, 10).await.unwrap();
    assert_eq!(peeked[0].time_to_live, Some(secs(10)));
    assert_eq!(
        peeked[1].time_to_live,
        Some(secs(60)),
        "the queue default caps it"
    );
    assert_eq!(peeked[1].expires_at, Some(f.clock.now() + secs(60)));

    f.clock.advance(secs(10) - Duration::from_millis(1));
    let d = one(&q).await;
    assert_eq!(d.message_id, "own-ttl");
    // Expired while locked: the holder may still finish it, as on Service Bus.
    f.clock.advance(secs(5));
    q.abandon(&d, None).await.unwrap();
    let d = one(&q).await;
    assert_eq!(d.message_id, "longer-than-default");
    q.abandon(&d, None).await.unwrap();
    let dl = q.dead_letter_queue().peek(0, 10).await.unwrap();
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0].message_id, "own-ttl");
    assert_eq!(
        dl[0].dead_letter_reason.as_deref(),
        Some(REASON_TTL_EXPIRED)
    );
    f.clock.advance(secs(60));
    none(&q).await;
    assert_eq!(q.dead_letter_queue().peek(0, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn duplicate_window_boundary() {
    let f = fixture().await;
    let q =
        f.ns.create_queue(
            "q",
            QueueConfig {
                duplicate_detection_window: Some(secs(600)),
                ..cfg(30)
            },
        )
        .await
        .unwrap();
    q.send(msg("a")).await.unwrap();
    f.clock.advance(secs(600) - Duration::from_millis(1));
    q.send(msg("a")).await.unwrap();
    assert_eq!(
        q.runtime_properties().await.unwrap().active_message_count,
        1
    );
    f.clock.advance(Duration::from_millis(1));
    q.send(msg("a")).await.unwrap();
    assert_eq!(
        q.runtime_properties().await.unwrap().active_message_count,
        2
    );
}

#[tokio::test]
async fn scheduled_boundary_and_enqueued_time() {
    let f = fixture().await;
    let q = f.ns.create_queue("q", cfg(30)).await.unwrap();
    let at = f.clock.now() + secs(90);
    q.send(msg("timer").scheduled_at(at)).await.unwrap();
    let p = q.runtime_properties().await.unwrap();
    assert_eq!((p.active_message_count, p.scheduled_message_count), (0, 1));
    assert_eq!(
        q.peek(0, 1).await.unwrap()[0].state,
        MessageState::Scheduled
    );
    f.clock.advance(secs(90) - Duration::from_millis(1));
    none(&q).await;
    f.clock.advance(Duration::from_millis(1));
    let d = one(&q).await;
    assert_eq!(d.enqueued_time, at);
    assert_eq!(d.scheduled_enqueue_time, Some(at));
    assert_eq!(d.state, MessageState::Active);
}

#[tokio::test]
async fn expired_deferred_message_is_dead_lettered_when_asked_for() {
    let f = fixture().await;
    let q =
        f.ns.create_queue(
            "q",
            QueueConfig {
                dead_lettering_on_message_expiration: true,
                ..cfg(30)
            },
        )
        .await
        .unwrap();
    q.send(msg("d").with_time_to_live(secs(60))).await.unwrap();
    let d = one(&q).await;
    q.defer(&d).await.unwrap();
    f.clock.advance(secs(120));
    // Deferred messages do not expire on their own...
    none(&q).await;
    assert_eq!(
        q.runtime_properties().await.unwrap().deferred_message_count,
        1
    );
    // ...only when someone asks for them.
    let err = q.receive_deferred(&[d.sequence_number]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MessageNotFound);
    let dl = q.dead_letter_queue().peek(0, 10).await.unwrap();
    assert_eq!(dl.len(), 1);
    assert_eq!(
        dl[0].dead_letter_reason.as_deref(),
        Some(REASON_TTL_EXPIRED)
    );
}

#[tokio::test]
async fn receive_deferred_is_all_or_nothing() {
    let f = fixture().await;
    let q = f.ns.create_queue("q", cfg(30)).await.unwrap();
    q.send_batch(vec![msg("a"), msg("b")]).await.unwrap();
    let got = q.receive(2, NOW).await.unwrap();
    q.defer(&got[0]).await.unwrap();
    q.complete(&got[1]).await.unwrap();
    let seq = got[0].sequence_number;
    let err = q
        .receive_deferred(&[seq, got[1].sequence_number])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MessageNotFound);
    // Not locked by the failed call:
    let back = q.receive_deferred(&[seq, seq]).await.unwrap();
    assert_eq!(back.len(), 1, "duplicates in the request are ignored");
    assert_eq!(q.receive_deferred(&[]).await.unwrap().len(), 0);
}

#[tokio::test]
async fn deferred_lock_expiry_at_the_limit_dead_letters() {
    let f = fixture().await;
    let q =
        f.ns.create_queue(
            "q",
            QueueConfig {
                max_delivery_count: 2,
                ..cfg(30)
            },
        )
        .await
        .unwrap();
    q.send(msg("d")).await.unwrap();
    let d = one(&q).await;
    q.defer(&d).await.unwrap();
    let again = q.receive_deferred(&[d.sequence_number]).await.unwrap();
    assert_eq!(again[0].delivery_count, 2);
    f.clock.advance(secs(30));
    none(&q).await;
    let dl = q.dead_letter_queue().peek(0, 10).await.unwrap();
    assert_eq!(
        dl[0].dead_letter_reason.as_deref(),
        Some(REASON_MAX_DELIVERY_COUNT_EXCEEDED)
    );
}

#[tokio::test]
async fn session_close_and_expiry_at_the_limit_dead_letter() {
    let f = fixture().await;
    let q =
        f.ns.create_queue(
            "q",
            QueueConfig {
                max_delivery_count: 2,
                requires_session: true,
                ..cfg(30)
            },
        )
        .await
        .unwrap();
    q.send_batch(vec![
        msg("a").with_session_id("s"),
        msg("b").with_session_id("s"),
    ])
    .await
    .unwrap();
    // Delivery 1 of both: the session lock expires.
    let s = q.accept_session("s").await.unwrap();
    assert_eq!(s.receive(2, NOW).await.unwrap().len(), 2);
    f.clock.advance(secs(30));
    let err = s.receive(1, NOW).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionLockLost);
    // Delivery 2 of both: closed without settling → both hit the limit.
    let s2 = q
        .accept_next_session(NOW)
        .await
        .unwrap()
        .expect("session offered again");
    let got = s2.receive(2, NOW).await.unwrap();
    assert!(got.iter().all(|d| d.delivery_count == 2));
    s2.close().await.unwrap();
    let dl = q.dead_letter_queue().peek(0, 10).await.unwrap();
    assert_eq!(dl.len(), 2);
    assert!(q.accept_next_session(NOW).await.unwrap().is_none());
    drop(s);
}

#[tokio::test]
async fn dropping_a_session_receiver_releases_its_lock() {
    let f = fixture().await;
    let q =
        f.ns.create_queue("q", QueueConfig::sessions())
            .await
            .unwrap();
    q.send(msg("m").with_session_id("s")).await.unwrap();
    let s = q.accept_next_session(NOW).await.unwrap().unwrap();
    drop(s);
    // The release runs on a spawned task; wait for it through the queue, not a timer.
    let again = q
        .accept_next_session(Duration::from_secs(10))
        .await
        .unwrap()
        .expect("released by drop");
    assert_eq!(again.session_id(), "s");
    again.close().await.unwrap();
}

#[tokio::test]
async fn settling_through_the_wrong_receiver_is_refused() {
    let f = fixture().await;
    let a = f.ns.create_queue("a", cfg(30)).await.unwrap();
    let b = f.ns.create_queue("b", cfg(30)).await.unwrap();
    let sq =
        f.ns.create_queue("s", QueueConfig::sessions())
            .await
            .unwrap();
    a.send(msg("m")).await.unwrap();
    let d = one(&a).await;
    let err = b.complete(&d).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOperation);
    a.complete(&d).await.unwrap();

    sq.send(msg("m").with_session_id("s")).await.unwrap();
    let s = sq.accept_session("s").await.unwrap();
    let d = s.receive(1, NOW).await.unwrap().remove(0);
    assert_eq!(
        sq.complete(&d).await.unwrap_err().kind(),
        ErrorKind::InvalidOperation
    );
    assert_eq!(
        sq.renew_lock(&d).await.unwrap_err().kind(),
        ErrorKind::InvalidOperation
    );
    let other = sq.accept_session("t").await.unwrap();
    assert_eq!(
        other.complete(&d).await.unwrap_err().kind(),
        ErrorKind::LockLost
    );
    s.complete(&d).await.unwrap();

    a.send(msg("x")).await.unwrap();
    let d = one(&a).await;
    a.dead_letter(&d, "r", "d").await.unwrap();
    let dl = a
        .dead_letter_queue()
        .receive(1, NOW)
        .await
        .unwrap()
        .remove(0);
    let err = a.defer(&dl).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOperation);
}

#[tokio::test]
async fn queue_administration() {
    let f = fixture().await;
    f.ns.create_queue("q", cfg(30)).await.unwrap();
    let err = f.ns.create_queue("q", cfg(30)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QueueExists);
    f.ns.ensure_queue("q", cfg(45)).await.unwrap();
    assert_eq!(
        f.ns.queue_config("q").await.unwrap().lock_duration,
        secs(45)
    );
    let err =
        f.ns.ensure_queue("q", QueueConfig::sessions())
            .await
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOperation);
    let err = f.ns.queue("missing").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QueueNotFound);
    let err = f.ns.create_queue("bad name", cfg(30)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err =
        f.ns.create_queue(
            "z",
            QueueConfig {
                max_delivery_count: 0,
                ..cfg(30)
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    let q = f.ns.ensure_queue("r", cfg(30)).await.unwrap();
    q.send(msg("m")).await.unwrap();
    assert_eq!(f.ns.list_queues().await.unwrap(), ["q", "r"]);
    assert!(f.ns.delete_queue("r").await.unwrap());
    assert!(!f.ns.delete_queue("r").await.unwrap());
    assert_eq!(
        q.send(msg("m")).await.unwrap_err().kind(),
        ErrorKind::QueueNotFound
    );
    // A new queue with the old name starts empty.
    let r = f.ns.create_queue("r", cfg(30)).await.unwrap();
    none(&r).await;
}

#[tokio::test]
async fn validation_errors_are_clear() {
    let f = fixture().await;
    let q = f.ns.create_queue("q", cfg(30)).await.unwrap();
    for (m, kind) in [
        (msg(&"x".repeat(129)), ErrorKind::InvalidArgument),
        (msg("m").with_session_id(""), ErrorKind::InvalidArgument),
        (
            msg("m").with_correlation_id("c".repeat(129)),
            ErrorKind::InvalidArgument,
        ),
        (
            msg("m").with_time_to_live(Duration::ZERO),
            ErrorKind::InvalidArgument,
        ),
        (
            OutgoingMessage::new("m", vec![0u8; 256 * 1024]),
            ErrorKind::MessageTooLarge,
        ),
    ] {
        assert_eq!(q.send(m).await.unwrap_err().kind(), kind);
    }
    assert_eq!(
        q.receive(0, NOW).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        q.peek(0, 0).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let sq =
        f.ns.create_queue("s", QueueConfig::sessions())
            .await
            .unwrap();
    assert_eq!(
        sq.accept_session(&"s".repeat(129))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[tokio::test]
async fn corrupt_rows_are_errors_not_panics() {
    let f = fixture().await;
    let q = f.ns.create_queue("q", cfg(30)).await.unwrap();
    q.send(msg("m")).await.unwrap();
    let conn = rusqlite::Connection::open(f.ns.path()).unwrap();
    conn.execute("UPDATE sbq_messages SET properties = 'not json'", [])
        .unwrap();
    let err = q.receive(1, NOW).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("properties"), "{err}");
    conn.execute("UPDATE sbq_queues SET config = '{}'", [])
        .unwrap();
    let err = q.send(msg("n")).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let f = fixture().await;
    let conn = rusqlite::Connection::open(f.ns.path()).unwrap();
    conn.execute(
        "UPDATE sbq_meta SET value = '99' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    let err = SqliteNamespace::open(f.ns.path()).await.unwrap_err();
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[tokio::test]
async fn busy_file_is_a_retryable_error() {
    let f = fixture().await;
    let path = f.ns.path().to_path_buf();
    let ns = SqliteNamespace::open_with(
        &path,
        SqliteOptions {
            busy_timeout: Duration::from_millis(50),
            ..SqliteOptions::default()
        },
    )
    .await
    .unwrap();
    let q = ns.create_queue("q", cfg(30)).await.unwrap();
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = q.send(msg("m")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    assert!(err.is_retryable(), "{err}");
    blocker.execute_batch("ROLLBACK").unwrap();
    q.send(msg("m")).await.unwrap();
}

#[tokio::test]
async fn everything_survives_reopening_the_file() {
    let f = fixture().await;
    let path = f.ns.path().to_path_buf();
    let clock: Arc<dyn Clock> = Arc::new(f.clock.clone());
    let (seq_locked, seq_deferred) = {
        let q = f.ns.create_queue("q", cfg(30)).await.unwrap();
        let sq =
            f.ns.create_queue("s", QueueConfig::sessions())
                .await
                .unwrap();
        q.send_batch(vec![
            msg("locked"),
            msg("deferred"),
            msg("dead"),
            msg("waiting"),
        ])
        .await
        .unwrap();
        let got = q.receive(3, NOW).await.unwrap();
        q.defer(&got[1]).await.unwrap();
        q.dead_letter(&got[2], "r", "d").await.unwrap();
        let s = sq.accept_session("call").await.unwrap();
        s.set_session_state(Some(Bytes::from_static(b"state")))
            .await
            .unwrap();
        s.close().await.unwrap();
        (got[0].sequence_number, got[1].sequence_number)
    };
    drop(f.ns);
    let ns = SqliteNamespace::open_with(
        &path,
        SqliteOptions {
            clock,
            ..SqliteOptions::default()
        },
    )
    .await
    .unwrap();
    let q = ns.queue("q").await.unwrap();
    // The lock taken before the restart still holds.
    let d = one(&q).await;
    assert_eq!(d.message_id, "waiting");
    none(&q).await;
    f.clock.advance(secs(30));
    let d = one(&q).await;
    assert_eq!(
        (d.message_id.as_str(), d.sequence_number, d.delivery_count),
        ("locked", seq_locked, 2)
    );
    let deferred = q.receive_deferred(&[seq_deferred]).await.unwrap();
    assert_eq!(deferred[0].message_id, "deferred");
    assert_eq!(q.dead_letter_queue().peek(0, 10).await.unwrap().len(), 1);
    let s = ns
        .queue("s")
        .await
        .unwrap()
        .accept_session("call")
        .await
        .unwrap();
    assert_eq!(
        s.session_state().await.unwrap(),
        Some(Bytes::from_static(b"state"))
    );
    // Sequence numbers keep increasing after a restart.
    q.send(msg("after")).await.unwrap();
    let peeked = q.peek(0, 10).await.unwrap();
    assert!(peeked.last().unwrap().sequence_number > seq_deferred);
}

#[tokio::test]
async fn namespaces_share_the_file_and_wake_each_other() {
    let f = fixture().await;
    let q = f.ns.create_queue("q", cfg(30)).await.unwrap();
    // Real clock here: the wake-up path is what is under test.
    let other = SqliteNamespace::open(f.ns.path()).await.unwrap();
    let q2 = other.queue("q").await.unwrap();
    let waiter = tokio::spawn(async move { q2.receive(1, Duration::from_secs(30)).await });
    tokio::task::yield_now().await;
    q.send(msg("ping")).await.unwrap();
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(got[0].message_id, "ping");
}

#[tokio::test]
async fn probe_reports_readiness_and_the_next_change() {
    let f = fixture().await;
    let q = f.ns.create_queue("q", cfg(30)).await.unwrap();
    let t0 = to_unix_ms(f.clock.now());
    let probe = |target: ops::Target| {
        let db = Arc::clone(&q.inner.db);
        async move {
            db.read("probe", move |conn, now| {
                ops::probe(conn, "q", now, &target)
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(
        probe(ops::Target::Queue).await,
        ops::Probe {
            ready: false,
            next_change_ms: None
        }
    );
    q.send(msg("later").scheduled_at(f.clock.now() + secs(5)))
        .await
        .unwrap();
    assert_eq!(
        probe(ops::Target::Queue).await,
        ops::Probe {
            ready: false,
            next_change_ms: Some(t0 + 5_000)
        }
    );
    q.send(msg("now")).await.unwrap();
    assert!(probe(ops::Target::Queue).await.ready);
    let d = one(&q).await;
    assert_eq!(
        probe(ops::Target::Queue).await,
        ops::Probe {
            ready: false,
            next_change_ms: Some(t0 + 5_000)
        }
    );
    f.clock.advance(secs(5));
    assert!(
        probe(ops::Target::Queue).await.ready,
        "scheduled message due"
    );
    let later = one(&q).await;
    q.complete(&later).await.unwrap();
    assert_eq!(
        probe(ops::Target::Queue).await,
        ops::Probe {
            ready: false,
            next_change_ms: Some(t0 + 30_000)
        },
        "next change: the lock of {d:?}"
    );
    assert!(!probe(ops::Target::DeadLetter).await.ready);
    f.clock.advance(secs(25));
    assert!(probe(ops::Target::Queue).await.ready, "lock expired");
    assert!(probe(ops::Target::DeadLetter).await.ready, "a sweep is due");
}

#[tokio::test]
async fn a_cancelled_receive_rolls_back_its_locks() {
    let f = fixture().await;
    let q = f.ns.create_queue("q", cfg(30)).await.unwrap();
    q.send(msg("m")).await.unwrap();
    // Hold the file's write lock so the receive's transaction is in flight (waiting in
    // SQLite) when it is cancelled.
    let blocker = rusqlite::Connection::open(f.ns.path()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let receiving = {
        let q = q.clone();
        tokio::spawn(async move { q.receive(1, NOW).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    receiving.abort();
    assert!(receiving.await.unwrap_err().is_cancelled());
    blocker.execute_batch("ROLLBACK").unwrap();
    // The next receive waits behind the cancelled transaction (one writer at a time) and must
    // find the message unlocked and never delivered.
    let d = one(&q).await;
    assert_eq!(d.message_id, "m");
    assert_eq!(
        d.delivery_count, 1,
        "the cancelled receive must not have counted"
    );
}

/// Awaits `f` while another connection holds the file's write lock, as another process's
/// transaction would.
async fn while_another_process_writes<T>(
    path: impl AsRef<std::path::Path>,
    f: impl std::future::Future<Output = T>,
) -> T {
    let blocker = rusqlite::Connection::open(path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = f.await;
    blocker.execute_batch("ROLLBACK").unwrap();
    out
}

/// A session queue `q` holding `a` then `b` in session `s`.
async fn session_queue_with_a_and_b(f: &Fixture) -> SqliteQueue {
    let q =
        f.ns.create_queue("q", QueueConfig::sessions())
            .await
            .unwrap();
    q.send_batch(vec![
        msg("a").with_session_id("s"),
        msg("b").with_session_id("s"),
    ])
    .await
    .unwrap();
    q
}

#[tokio::test]
async fn an_accepted_session_brings_its_first_message_and_gives_it_back_undelivered() {
    let f = fixture().await;
    let q = session_queue_with_a_and_b(&f).await;
    // Accepted and closed without a receive: the prefetched message was never delivered.
    let s = q.accept_next_session(NOW).await.unwrap().unwrap();
    s.close().await.unwrap();
    let s = q.accept_next_session(NOW).await.unwrap().unwrap();
    // The first message came with the accept: receiving it needs no transaction, so it
    // arrives even while another process holds the write lock.
    let first = while_another_process_writes(f.ns.path(), s.receive(1, NOW)).await;
    let first = first.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].message_id, "a");
    assert_eq!(
        first[0].delivery_count, 1,
        "a prefetch counted as a delivery"
    );
    // The prefetched message is locked under the session: no other consumer can take it, and
    // settling it works as for a received one.
    s.complete(&first[0]).await.unwrap();
    let second = s.receive(2, NOW).await.unwrap();
    assert_eq!(
        second
            .iter()
            .map(|d| d.message_id.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );
    s.complete(&second[0]).await.unwrap();
    assert!(s.receive(1, NOW).await.unwrap().is_empty());
    s.close().await.unwrap();
    assert_eq!(
        q.runtime_properties().await.unwrap().total_message_count(),
        0
    );
}

#[tokio::test]
async fn an_empty_session_receive_without_waiting_takes_no_write_lock() {
    let f = fixture().await;
    let path = f.ns.path().to_path_buf();
    let ns = SqliteNamespace::open_with(
        &path,
        SqliteOptions {
            busy_timeout: Duration::from_millis(50),
            clock: Arc::new(f.clock.clone()),
            ..SqliteOptions::default()
        },
    )
    .await
    .unwrap();
    let q = ns.create_queue("q", QueueConfig::sessions()).await.unwrap();
    q.send(msg("m").with_session_id("s")).await.unwrap();
    let s = q.accept_next_session(NOW).await.unwrap().unwrap();
    let got = s.receive(1, NOW).await.unwrap();
    s.complete(&got[0]).await.unwrap();
    // Another process holds the write lock: asking whether the call has another message must
    // not wait for it (nor fail with busy).
    let next = while_another_process_writes(&path, s.receive(1, NOW)).await;
    assert!(next.unwrap().is_empty());
    // A message that is there is still received.
    q.send(msg("n").with_session_id("s")).await.unwrap();
    assert_eq!(s.receive(1, NOW).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_drained_session_is_given_up_by_the_completion_that_empties_it() {
    let f = fixture().await;
    let q = session_queue_with_a_and_b(&f).await;
    let s = q.accept_next_session(NOW).await.unwrap().unwrap();
    s.release_when_drained();
    let a = s.receive(1, NOW).await.unwrap();
    // Completing `a` hands `b` over in the same transaction: it is received while another
    // process holds the write lock.
    s.complete(&a[0]).await.unwrap();
    let b = while_another_process_writes(f.ns.path(), s.receive(1, NOW)).await;
    let b = b.unwrap();
    assert_eq!(b[0].message_id, "b");
    assert_eq!(b[0].delivery_count, 1);
    // Completing the last message gives the session up: another consumer can take the
    // session's next message at once, before this one's close.
    s.complete(&b[0]).await.unwrap();
    assert!(s.receive(1, NOW).await.unwrap().is_empty());
    q.send(msg("c").with_session_id("s")).await.unwrap();
    let other = q
        .accept_next_session(NOW)
        .await
        .unwrap()
        .expect("the session was released with its last completion");
    assert_eq!(other.receive(1, NOW).await.unwrap()[0].message_id, "c");
    s.close().await.unwrap();
    // The first receiver's close did not touch the new holder's lock.
    assert!(q.accept_session("s").await.is_err());
    assert_eq!(other.receive(1, NOW).await.unwrap().len(), 0);
}

/// A drained session's probe asks when its next scheduled message is due. It must read that
/// session's rows only: the queue-wide schedule index would visit every call's pending timer.
#[tokio::test]
async fn a_sessions_next_due_time_reads_only_that_session() {
    let f = fixture().await;
    f.ns.create_queue("q", cfg(30)).await.unwrap();
    let conn = rusqlite::Connection::open(f.ns.path()).unwrap();
    let plan: Vec<String> = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            super::ops::SESSION_NEXT_DUE
        ))
        .unwrap()
        .query_map(rusqlite::params!["q", 0, "s"], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|p| p.contains("sbq_messages_by_session (queue=? AND session_id=? AND state=?)")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|p| p.contains("schedule")), "{plan:?}");
}

/// Session accepts run side by side (the runner starts `concurrent_accepts` of them): those
/// that reach the writer together share a transaction, and each sees the session the one
/// before it locked, so no two take the same call.
#[tokio::test]
async fn accepts_side_by_side_never_take_the_same_session() {
    let f = fixture().await;
    let q =
        f.ns.create_queue(
            "q",
            QueueConfig {
                requires_session: true,
                ..cfg(30)
            },
        )
        .await
        .unwrap();
    assert_eq!(q.concurrent_accepts(), 2, "the default");
    // Earlier rounds' sessions stay held, so each round's accepts see only its two.
    let mut held = Vec::new();
    for round in 0..20 {
        let a = format!("a{round}");
        let b = format!("b{round}");
        q.send_batch(vec![
            msg(&format!("{a}-1")).with_session_id(&a),
            msg(&format!("{a}-2")).with_session_id(&a),
            msg(&format!("{b}-1")).with_session_id(&b),
        ])
        .await
        .unwrap();
        let (x, y, z) = tokio::join!(
            q.accept_next_session(NOW),
            q.accept_next_session(NOW),
            q.accept_next_session(NOW)
        );
        let sessions: Vec<_> = [x, y, z].into_iter().filter_map(|r| r.unwrap()).collect();
        let mut got: Vec<String> = sessions.iter().map(|s| s.session_id().to_owned()).collect();
        got.sort();
        held.extend(sessions);
        assert_eq!(
            got,
            vec![a, b],
            "round {round}: two sessions, each taken once"
        );
    }
}
