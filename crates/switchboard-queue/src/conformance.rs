//! The conformance suite of the queue port: every implementation (the embedded SQLite queue,
//! the Azure Service Bus adapter) must pass all of it unchanged.
//!
//! Each check is a public async function taking a [`Harness`], which creates fresh queues for
//! the backend under test. [`queue_conformance_tests!`](crate::queue_conformance_tests) expands
//! to one `#[tokio::test]` per check:
//!
//! ```ignore
//! switchboard_queue::queue_conformance_tests!(async { MyHarness::new().await });
//! ```
//!
//! Checks fail by panicking (they are test code); backend errors that are not the point of a
//! check are returned as `Err`. Timing: checks that need a lock, a schedule, a TTL or a
//! duplicate-detection window to pass use the harness's shortest durations and wait with
//! `receive(.., wait)` rather than fixed sleeps where they can; assertions that something is
//! *still* locked use a long lock, so a slow machine cannot make them fail.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use time::OffsetDateTime;

use crate::config::QueueConfig;
use crate::error::{ErrorKind, QueueError};
use crate::message::{
    Delivery, MessageState, OutgoingMessage, Properties, PropertyValue,
    DEAD_LETTER_ERROR_DESCRIPTION, DEAD_LETTER_REASON, REASON_MAX_DELIVERY_COUNT_EXCEEDED,
    REASON_TTL_EXPIRED, RESUBMITTED_FROM_PROPERTY,
};
use crate::port::{QueueHandle, QueueReceiver, SessionReceiver};

/// Creates queues on the backend under test.
#[async_trait]
pub trait Harness: Send + Sync {
    /// A new, empty queue with these properties, under a name no other check uses. A backend
    /// whose minimum lock duration or window is longer may raise the values, as long as it
    /// reports those minimums through [`Harness::short_lock`] and
    /// [`Harness::short_dedupe_window`].
    async fn create_queue(&self, config: QueueConfig) -> Result<QueueHandle, QueueError>;

    /// A second, independent client of the same queue (its own connections), to play another
    /// replica.
    async fn reconnect(&self, queue: &QueueHandle) -> Result<QueueHandle, QueueError>;

    /// The shortest lock duration the backend accepts (Service Bus: 5 s). Checks that wait for
    /// a lock to expire use this.
    fn short_lock(&self) -> Duration;

    /// The shortest duplicate-detection window the backend accepts (Service Bus: 20 s).
    fn short_dedupe_window(&self) -> Duration;
}

/// Long enough that no check ever sees it expire.
const LONG_LOCK: Duration = Duration::from_secs(120);

fn long_lock() -> QueueConfig {
    QueueConfig {
        lock_duration: LONG_LOCK,
        ..QueueConfig::default()
    }
}

fn short(h: &dyn Harness) -> QueueConfig {
    QueueConfig {
        lock_duration: h.short_lock(),
        ..QueueConfig::default()
    }
}

fn msg(id: &str) -> OutgoingMessage {
    OutgoingMessage::new(id, Bytes::from(format!("body of {id}")))
}

/// Generous wait for something that should arrive: many lock durations.
fn patience(h: &dyn Harness) -> Duration {
    (h.short_lock() * 10).max(Duration::from_secs(5))
}

/// A short wait for something that should *not* arrive.
fn brief() -> Duration {
    Duration::from_millis(300)
}

fn ids(ds: &[Delivery]) -> Vec<String> {
    ds.iter().map(|d| d.message_id.clone()).collect()
}

async fn receive_exactly(
    r: &dyn QueueReceiver,
    n: usize,
    wait: Duration,
) -> Result<Vec<Delivery>, QueueError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let batch = r.receive(n - got.len(), left).await?;
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
    assert_eq!(got.len(), n, "expected {n} messages, got {:?}", ids(&got));
    Ok(got)
}

async fn receive_one(r: &dyn QueueReceiver, wait: Duration) -> Result<Delivery, QueueError> {
    Ok(receive_exactly(r, 1, wait).await?.remove(0))
}

async fn session_receive_exactly(
    s: &dyn SessionReceiver,
    n: usize,
    wait: Duration,
) -> Result<Vec<Delivery>, QueueError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let batch = s.receive(n - got.len(), left).await?;
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
    assert_eq!(
        got.len(),
        n,
        "expected {n} session messages, got {:?}",
        ids(&got)
    );
    Ok(got)
}

fn expect_kind<T: std::fmt::Debug>(result: Result<T, QueueError>, kind: ErrorKind, what: &str) {
    match result {
        Err(e) => assert_eq!(e.kind(), kind, "{what}: wrong error {e}"),
        Ok(v) => panic!("{what}: expected {kind:?}, got Ok({v:?})"),
    }
}

// ---------------------------------------------------------------------------------------------
// Basic delivery

/// Every field sent comes back; a first delivery has count 1 and a lock; sequence numbers
/// increase in send order.
pub async fn round_trip_preserves_every_field(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    let body = Bytes::from_static(&[0, 159, 146, 150, 255, b'{', b'}']);
    let sent = OutgoingMessage::new("evt-1", body.clone())
        .with_session_id("call-1")
        .with_correlation_id("corr-1")
        .with_content_type("application/cloudevents+json")
        .with_subject("Microsoft.Communication.CallConnected")
        .with_property("aeg-event-type", "Notification")
        .with_property("attempt", 3)
        .with_property("urgent", true)
        .with_property("score", 0.25);
    q.sender.send(sent.clone()).await?;
    q.sender.send(msg("evt-2")).await?;
    let got = receive_exactly(q.receiver.as_ref(), 2, patience(h)).await?;
    let (d, second) = (&got[0], &got[1]);
    assert_eq!(d.message_id, "evt-1");
    assert_eq!(d.body, body);
    assert_eq!(d.session_id.as_deref(), Some("call-1"));
    assert_eq!(d.correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(
        d.content_type.as_deref(),
        Some("application/cloudevents+json")
    );
    assert_eq!(
        d.subject.as_deref(),
        Some("Microsoft.Communication.CallConnected")
    );
    assert_eq!(d.application_properties, sent.application_properties);
    assert_eq!(d.delivery_count, 1);
    assert_eq!(d.state, MessageState::Active);
    assert_eq!(d.queue, q.name);
    assert!(
        d.locked_until > d.enqueued_time,
        "lock must end after enqueue"
    );
    assert!(d.dead_letter_reason.is_none());
    assert!(
        second.sequence_number > d.sequence_number,
        "sequence numbers increase in send order"
    );
    assert_ne!(d.lock_token, second.lock_token);
    for d in &got {
        q.receiver.complete(d).await?;
    }
    assert!(q.receiver.receive(1, brief()).await?.is_empty());
    Ok(())
}

/// An empty queue returns nothing after the wait; a waiting receive returns as soon as a
/// message is sent.
pub async fn receive_waits_for_a_message(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    assert!(q.receiver.receive(5, brief()).await?.is_empty());
    expect_kind(
        q.receiver.receive(0, Duration::ZERO).await,
        ErrorKind::InvalidArgument,
        "max = 0",
    );
    let sender = Arc::clone(&q.sender);
    let send = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sender.send(msg("late")).await
    });
    let got = q.receiver.receive(5, patience(h)).await?;
    assert_eq!(ids(&got), ["late"]);
    send.await
        .map_err(|e| QueueError::invalid_operation(e.to_string()))??;
    Ok(())
}

/// While a message is locked, no other receiver (another client included) gets it.
pub async fn locked_message_is_invisible_to_other_receivers(
    h: &dyn Harness,
) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    let other = h.reconnect(&q).await?;
    q.sender.send(msg("m")).await?;
    let d = receive_one(q.receiver.as_ref(), patience(h)).await?;
    assert!(q.receiver.receive(1, brief()).await?.is_empty());
    assert!(other.receiver.receive(1, brief()).await?.is_empty());
    q.receiver.abandon(&d, None).await?;
    let again = receive_one(other.receiver.as_ref(), patience(h)).await?;
    assert_eq!(again.message_id, "m");
    assert_eq!(again.delivery_count, 2);
    other.receiver.complete(&again).await?;
    Ok(())
}

/// At-least-once: a delivery never settled (its consumer died) comes back once the lock
/// expires, with delivery count 2 and a new lock; the old lock can no longer settle it.
pub async fn unsettled_message_is_redelivered_after_lock_expiry(
    h: &dyn Harness,
) -> Result<(), QueueError> {
    let q = h.create_queue(short(h)).await?;
    let other = h.reconnect(&q).await?;
    q.sender.send(msg("m")).await?;
    let first = receive_one(q.receiver.as_ref(), patience(h)).await?;
    let second = receive_one(other.receiver.as_ref(), patience(h)).await?;
    assert_eq!(second.message_id, "m");
    assert_eq!(second.sequence_number, first.sequence_number);
    assert_eq!(second.delivery_count, 2);
    assert_ne!(second.lock_token, first.lock_token);
    assert!(second.locked_until > first.locked_until);
    expect_kind(
        q.receiver.complete(&first).await,
        ErrorKind::LockLost,
        "complete with an expired lock",
    );
    other.receiver.complete(&second).await?;
    assert!(q.receiver.receive(1, brief()).await?.is_empty());
    Ok(())
}

/// Complete removes the message; settling it again is `LockLost`.
pub async fn complete_is_final(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    q.sender.send(msg("m")).await?;
    let d = receive_one(q.receiver.as_ref(), patience(h)).await?;
    q.receiver.complete(&d).await?;
    expect_kind(
        q.receiver.complete(&d).await,
        ErrorKind::LockLost,
        "second complete",
    );
    expect_kind(
        q.receiver.abandon(&d, None).await,
        ErrorKind::LockLost,
        "abandon after complete",
    );
    expect_kind(
        q.receiver.renew_lock(&d).await,
        ErrorKind::LockLost,
        "renew after complete",
    );
    assert!(q.receiver.receive(1, brief()).await?.is_empty());
    assert!(q.receiver.peek(0, 10).await?.is_empty());
    Ok(())
}

/// Abandon makes the message receivable again at once, with the property changes merged in.
pub async fn abandon_redelivers_with_modified_properties(
    h: &dyn Harness,
) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    q.sender
        .send(
            msg("m")
                .with_property("keep", "yes")
                .with_property("attempt", 1),
        )
        .await?;
    let d = receive_one(q.receiver.as_ref(), patience(h)).await?;
    let mut changes = Properties::new();
    changes.insert("attempt".into(), 2.into());
    changes.insert("last-error".into(), "agent did not answer".into());
    q.receiver.abandon(&d, Some(changes)).await?;
    let again = receive_one(q.receiver.as_ref(), patience(h)).await?;
    assert_eq!(again.delivery_count, 2);
    let expected: Properties = BTreeMap::from([
        ("attempt".to_owned(), PropertyValue::Int(2)),
        ("keep".to_owned(), PropertyValue::from("yes")),
        (
            "last-error".to_owned(),
            PropertyValue::from("agent did not answer"),
        ),
    ]);
    assert_eq!(again.application_properties, expected);
    q.receiver.complete(&again).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Delivery count and dead letters

/// The delivery count rises on each delivery; abandoned at `max_delivery_count`, the message is
/// dead-lettered with reason `MaxDeliveryCountExceeded`.
pub async fn max_delivery_count_dead_letters_on_abandon(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h
        .create_queue(QueueConfig {
            max_delivery_count: 3,
            ..long_lock()
        })
        .await?;
    q.sender.send(msg("poison").with_property("p", 1)).await?;
    for expected in 1..=3 {
        let d = receive_one(q.receiver.as_ref(), patience(h)).await?;
        assert_eq!(d.delivery_count, expected);
        q.receiver.abandon(&d, None).await?;
    }
    assert!(q.receiver.receive(1, brief()).await?.is_empty());
    let dead = q.dead_letters.peek(0, 10).await?;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let dead = &dead[0];
    assert_eq!(dead.message_id, "poison");
    assert_eq!(dead.state, MessageState::DeadLettered);
    assert_eq!(
        dead.dead_letter_reason.as_deref(),
        Some(REASON_MAX_DELIVERY_COUNT_EXCEEDED)
    );
    assert_eq!(
        dead.property(DEAD_LETTER_REASON)
            .and_then(PropertyValue::as_str),
        Some(REASON_MAX_DELIVERY_COUNT_EXCEEDED)
    );
    assert!(dead.dead_letter_error_description.is_some());
    assert_eq!(dead.property("p"), Some(&PropertyValue::Int(1)));
    assert_eq!(dead.delivery_count, 3);
    Ok(())
}

/// Lock expiry counts as a failed delivery too: after `max_delivery_count` expiries the
/// message is dead-lettered.
pub async fn max_delivery_count_dead_letters_on_lock_expiry(
    h: &dyn Harness,
) -> Result<(), QueueError> {
    let q = h
        .create_queue(QueueConfig {
            max_delivery_count: 2,
            ..short(h)
        })
        .await?;
    q.sender.send(msg("stuck")).await?;
    let first = receive_one(q.receiver.as_ref(), patience(h)).await?;
    assert_eq!(first.delivery_count, 1);
    let second = receive_one(q.receiver.as_ref(), patience(h)).await?;
    assert_eq!(second.delivery_count, 2);
    let dead = q.dead_letters.receive(1, patience(h)).await?;
    assert_eq!(
        dead.len(),
        1,
        "the message must reach the dead-letter queue"
    );
    assert_eq!(dead[0].message_id, "stuck");
    assert_eq!(
        dead[0].dead_letter_reason.as_deref(),
        Some(REASON_MAX_DELIVERY_COUNT_EXCEEDED)
    );
    q.dead_letters.complete(&dead[0]).await?;
    assert!(q.receiver.receive(1, brief()).await?.is_empty());
    Ok(())
}

/// Dead-lettering by the consumer keeps body and properties and records reason and
/// description both as fields and as the `DeadLetterReason`/`DeadLetterErrorDescription`
/// properties.
pub async fn dead_letter_records_reason_and_description(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    q.sender
        .send(msg("bad").with_property("kind", "IncomingCall"))
        .await?;
    let d = receive_one(q.receiver.as_ref(), patience(h)).await?;
    q.receiver
        .dead_letter(
            &d,
            "UnparseableEvent",
            "missing field `incomingCallContext`",
        )
        .await?;
    expect_kind(
        q.receiver.complete(&d).await,
        ErrorKind::LockLost,
        "complete after dead-letter",
    );
    assert!(q.receiver.receive(1, brief()).await?.is_empty());
    let dead = q.dead_letters.receive(1, patience(h)).await?;
    assert_eq!(dead.len(), 1);
    let dead = &dead[0];
    assert_eq!(dead.body, d.body);
    assert_eq!(dead.dead_letter_reason.as_deref(), Some("UnparseableEvent"));
    assert_eq!(
        dead.dead_letter_error_description.as_deref(),
        Some("missing field `incomingCallContext`")
    );
    assert_eq!(
        dead.property(DEAD_LETTER_ERROR_DESCRIPTION)
            .and_then(PropertyValue::as_str),
        Some("missing field `incomingCallContext`")
    );
    assert_eq!(
        dead.property("kind"),
        Some(&PropertyValue::from("IncomingCall"))
    );
    q.dead_letters.complete(dead).await?;
    assert!(q.dead_letters.peek(0, 10).await?.is_empty());
    Ok(())
}

/// A message sent with `send_dead_letter` is a dead letter with its reason, description and
/// properties, never receivable from the queue; one over the size limit is refused.
pub async fn send_dead_letter_lands_in_the_dead_letter_queue(
    h: &dyn Harness,
) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    q.sender
        .send_dead_letter(
            msg("refused")
                .with_property("type", "Switchboard.Overflow")
                .with_correlation_id("c1"),
            "ForbiddenEventType",
            "internal types are not accepted from outside",
        )
        .await?;
    let dead = q.dead_letters.receive(1, patience(h)).await?;
    assert_eq!(ids(&dead), ["refused"]);
    let d = &dead[0];
    assert_eq!(d.body, Bytes::from("body of refused"));
    assert_eq!(d.correlation_id.as_deref(), Some("c1"));
    assert_eq!(d.dead_letter_reason.as_deref(), Some("ForbiddenEventType"));
    assert_eq!(
        d.dead_letter_error_description.as_deref(),
        Some("internal types are not accepted from outside")
    );
    assert_eq!(
        d.property("type"),
        Some(&PropertyValue::from("Switchboard.Overflow"))
    );
    q.dead_letters.complete(d).await?;
    assert!(q.receiver.receive(1, brief()).await?.is_empty());
    // Too large: refused, nothing recorded.
    let big = OutgoingMessage::new("big", Bytes::from(vec![b'x'; 300 * 1024]));
    expect_kind(
        q.sender.send_dead_letter(big, "r", "d").await,
        ErrorKind::MessageTooLarge,
        "an oversized dead letter",
    );
    assert!(q.dead_letters.peek(0, 10).await?.is_empty());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Defer, dedupe, schedule, expiry, renew

/// A deferred message is only receivable by sequence number; abandoning it keeps it deferred;
/// once completed it is not found.
pub async fn defer_and_receive_deferred(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    q.sender.send(msg("later")).await?;
    q.sender.send(msg("now")).await?;
    let d = receive_one(q.receiver.as_ref(), patience(h)).await?;
    assert_eq!(d.message_id, "later");
    let seq = d.sequence_number;
    q.receiver.defer(&d).await?;
    let next = receive_one(q.receiver.as_ref(), patience(h)).await?;
    assert_eq!(next.message_id, "now");
    q.receiver.complete(&next).await?;
    assert!(q.receiver.receive(1, brief()).await?.is_empty());

    let got = q.receiver.receive_deferred(&[seq]).await?;
    assert_eq!(ids(&got), ["later"]);
    assert_eq!(got[0].delivery_count, 2);
    assert_eq!(got[0].state, MessageState::Deferred);
    // Service Bus: "Failed to lock one or more specified messages. Either the message is
    // already locked or does not exist (MessageNotFound)".
    expect_kind(
        q.receiver.receive_deferred(&[seq]).await,
        ErrorKind::MessageNotFound,
        "deferred message already locked",
    );
    q.receiver.abandon(&got[0], None).await?;
    assert!(
        q.receiver.receive(1, brief()).await?.is_empty(),
        "still deferred"
    );
    let again = q.receiver.receive_deferred(&[seq]).await?;
    q.receiver.complete(&again[0]).await?;
    expect_kind(
        q.receiver.receive_deferred(&[seq]).await,
        ErrorKind::MessageNotFound,
        "completed deferred message",
    );
    expect_kind(
        q.receiver.receive_deferred(&[seq + 1_000_000]).await,
        ErrorKind::MessageNotFound,
        "unknown sequence number",
    );
    Ok(())
}

/// With duplicate detection, a message id seen within the window is accepted and dropped
/// (within a batch too); after the window it is accepted again.
pub async fn duplicate_detection_drops_repeats_within_the_window(
    h: &dyn Harness,
) -> Result<(), QueueError> {
    let window = h.short_dedupe_window();
    let q = h
        .create_queue(QueueConfig {
            duplicate_detection_window: Some(window),
            ..long_lock()
        })
        .await?;
    let started = tokio::time::Instant::now();
    q.sender.send(msg("a")).await?;
    q.sender.send(msg("a")).await?;
    q.sender
        .send_batch(vec![msg("b"), msg("b"), msg("a")])
        .await?;
    let got = receive_exactly(q.receiver.as_ref(), 2, patience(h)).await?;
    assert_eq!(ids(&got), ["a", "b"]);
    for d in &got {
        q.receiver.complete(d).await?;
    }
    // Completing does not reset the window.
    q.sender.send(msg("a")).await?;
    assert!(
        q.receiver.receive(1, brief()).await?.is_empty() || started.elapsed() >= window,
        "a repeat within the window must be dropped"
    );
    tokio::time::sleep_until(started + window + window / 2 + Duration::from_millis(200)).await;
    q.sender.send(msg("a")).await?;
    let again = receive_one(q.receiver.as_ref(), patience(h)).await?;
    assert_eq!(again.message_id, "a");
    q.receiver.complete(&again).await?;
    Ok(())
}

/// A scheduled message is invisible until its time, then delivered with that enqueue time.
pub async fn scheduled_message_is_invisible_until_due(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    let delay = (h.short_lock() * 4).max(Duration::from_secs(2));
    let at = truncate_ms(OffsetDateTime::now_utc() + delay);
    let sent_at = tokio::time::Instant::now();
    q.sender.send(msg("timer").scheduled_at(at)).await?;
    q.sender
        .send(msg("past").scheduled_at(at - Duration::from_secs(3600)))
        .await?;
    let first = receive_one(q.receiver.as_ref(), brief()).await?;
    assert_eq!(
        first.message_id, "past",
        "a schedule in the past is immediate"
    );
    q.receiver.complete(&first).await?;
    if sent_at.elapsed() < delay {
        assert!(q.receiver.receive(1, Duration::ZERO).await?.is_empty());
    }
    let peeked = q.receiver.peek(0, 10).await?;
    assert_eq!(peeked.len(), 1);
    let d = receive_one(q.receiver.as_ref(), delay + patience(h)).await?;
    assert_eq!(d.message_id, "timer");
    assert!(
        sent_at.elapsed() >= delay - Duration::from_millis(50),
        "delivered {:?} after send, scheduled for {delay:?}",
        sent_at.elapsed()
    );
    assert_eq!(d.scheduled_enqueue_time, Some(at));
    assert!(d.enqueued_time >= at);
    q.receiver.complete(&d).await?;
    Ok(())
}

fn truncate_ms(t: OffsetDateTime) -> OffsetDateTime {
    let ms = crate::clock::to_unix_ms(t);
    crate::clock::from_unix_ms(ms).unwrap_or(t)
}

/// Past its time-to-live a message is not delivered: dead-lettered with `TTLExpiredException`
/// when the queue says so, dropped otherwise. The queue default applies too.
pub async fn expired_messages_are_dead_lettered_or_dropped(
    h: &dyn Harness,
) -> Result<(), QueueError> {
    let ttl = h.short_lock();
    let dl = h
        .create_queue(QueueConfig {
            dead_lettering_on_message_expiration: true,
            ..long_lock()
        })
        .await?;
    let dropping = h
        .create_queue(QueueConfig {
            default_message_time_to_live: Some(ttl),
            ..long_lock()
        })
        .await?;
    dl.sender
        .send(msg("short-lived").with_time_to_live(ttl))
        .await?;
    dl.sender.send(msg("keeper")).await?;
    dropping.sender.send(msg("short-lived")).await?;
    tokio::time::sleep(ttl * 2 + Duration::from_millis(100)).await;

    let got = dl.receiver.receive(10, brief()).await?;
    assert_eq!(ids(&got), ["keeper"]);
    dl.receiver.complete(&got[0]).await?;
    let dead = dl.dead_letters.receive(1, patience(h)).await?;
    assert_eq!(ids(&dead), ["short-lived"]);
    assert_eq!(
        dead[0].dead_letter_reason.as_deref(),
        Some(REASON_TTL_EXPIRED)
    );
    assert_eq!(dead[0].time_to_live, Some(ttl));
    dl.dead_letters.complete(&dead[0]).await?;

    assert!(dropping.receiver.receive(10, brief()).await?.is_empty());
    assert!(dropping.dead_letters.receive(1, brief()).await?.is_empty());
    assert!(dropping.receiver.peek(0, 10).await?.is_empty());
    Ok(())
}

/// Renewing extends the lock past its first expiry: nobody else gets the message, and the
/// holder can still complete it.
pub async fn renew_lock_extends_the_lock(h: &dyn Harness) -> Result<(), QueueError> {
    let lock = h.short_lock() * 4;
    let q = h
        .create_queue(QueueConfig {
            lock_duration: lock,
            ..QueueConfig::default()
        })
        .await?;
    let other = h.reconnect(&q).await?;
    q.sender.send(msg("long job")).await?;
    let received_at = tokio::time::Instant::now();
    let d = receive_one(q.receiver.as_ref(), patience(h)).await?;
    tokio::time::sleep(lock / 2).await;
    let renewed_at = tokio::time::Instant::now();
    let until = q.receiver.renew_lock(&d).await?;
    assert!(until > d.locked_until, "renewal must move the expiry later");
    // Past the first expiry, before the renewed one.
    tokio::time::sleep_until(received_at + lock + lock / 8).await;
    let in_time = renewed_at.elapsed() < lock - lock / 8;
    let stolen = other.receiver.receive(1, Duration::ZERO).await?;
    if in_time {
        assert!(stolen.is_empty(), "the renewed lock must still hold");
        q.receiver.complete(&d).await?;
    }
    Ok(())
}

/// Several receivers (two clients) share the work: each message is completed exactly once.
pub async fn competing_receivers_get_each_message_once(h: &dyn Harness) -> Result<(), QueueError> {
    const N: usize = 200;
    let q = h.create_queue(long_lock()).await?;
    let other = h.reconnect(&q).await?;
    let batch: Vec<_> = (0..N).map(|i| msg(&format!("m{i:03}"))).collect();
    for chunk in batch.chunks(50) {
        q.sender.send_batch(chunk.to_vec()).await?;
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let receiver = if i % 2 == 0 {
            Arc::clone(&q.receiver)
        } else {
            Arc::clone(&other.receiver)
        };
        let seen = Arc::clone(&seen);
        tasks.push(tokio::spawn(async move {
            loop {
                let got = receiver.receive(7, Duration::from_millis(500)).await?;
                if got.is_empty() {
                    return Ok::<_, QueueError>(());
                }
                for d in got {
                    assert_eq!(d.delivery_count, 1, "no message may be delivered twice");
                    receiver.complete(&d).await?;
                    seen.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(d.message_id.clone());
                }
            }
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| QueueError::invalid_operation(e.to_string()))??;
    }
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(seen.len(), N, "each message completed once");
    assert_eq!(unique.len(), N);
    Ok(())
}

/// A batch is all or nothing: one bad message (too large, no id) fails the whole batch.
pub async fn batch_send_is_atomic(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h
        .create_queue(QueueConfig {
            max_message_size: 64 * 1024,
            ..long_lock()
        })
        .await?;
    let huge = OutgoingMessage::new("huge", vec![b'x'; 65 * 1024]);
    expect_kind(
        q.sender.send_batch(vec![msg("ok-1"), huge.clone()]).await,
        ErrorKind::MessageTooLarge,
        "batch with a huge message",
    );
    expect_kind(
        q.sender.send(huge).await,
        ErrorKind::MessageTooLarge,
        "huge message",
    );
    expect_kind(
        q.sender.send_batch(vec![msg("ok-2"), msg("")]).await,
        ErrorKind::InvalidArgument,
        "batch with an empty message id",
    );
    assert!(q.receiver.receive(10, brief()).await?.is_empty());
    q.sender.send_batch(Vec::new()).await?;
    q.sender
        .send_batch(vec![msg("b1"), msg("b2"), msg("b3")])
        .await?;
    let got = receive_exactly(q.receiver.as_ref(), 3, patience(h)).await?;
    assert_eq!(ids(&got), ["b1", "b2", "b3"]);
    Ok(())
}

/// Peek reads without locking or counting a delivery.
pub async fn peek_does_not_lock(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    q.sender
        .send_batch(vec![msg("p1"), msg("p2"), msg("p3")])
        .await?;
    let peeked = q.receiver.peek(0, 10).await?;
    assert_eq!(
        peeked
            .iter()
            .map(|m| m.message_id.as_str())
            .collect::<Vec<_>>(),
        ["p1", "p2", "p3"]
    );
    assert!(peeked.iter().all(|m| m.delivery_count == 0));
    let from_second = q.receiver.peek(peeked[1].sequence_number, 10).await?;
    assert_eq!(from_second.len(), 2);
    let d = receive_one(q.receiver.as_ref(), patience(h)).await?;
    assert_eq!(d.message_id, "p1");
    assert_eq!(d.delivery_count, 1);
    let peeked = q.receiver.peek(0, 1).await?;
    assert_eq!(peeked[0].message_id, "p1", "peek shows locked messages too");
    assert_eq!(peeked[0].delivery_count, 1);
    Ok(())
}

/// Counts by state.
pub async fn runtime_properties_count_by_state(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    q.sender
        .send_batch(vec![msg("a"), msg("b"), msg("c")])
        .await?;
    q.sender
        .send(msg("d").scheduled_at(OffsetDateTime::now_utc() + Duration::from_secs(3600)))
        .await?;
    let got = receive_exactly(q.receiver.as_ref(), 3, patience(h)).await?;
    q.receiver.defer(&got[0]).await?;
    q.receiver.dead_letter(&got[1], "r", "d").await?;
    q.receiver.abandon(&got[2], None).await?;
    let p = q.receiver.runtime_properties().await?;
    assert_eq!(p.active_message_count, 1, "{p:?}");
    assert_eq!(p.scheduled_message_count, 1, "{p:?}");
    assert_eq!(p.deferred_message_count, 1, "{p:?}");
    assert_eq!(p.dead_letter_message_count, 1, "{p:?}");
    assert_eq!(p.total_message_count(), 4);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sessions

fn sessions(lock: Duration) -> QueueConfig {
    QueueConfig {
        lock_duration: lock,
        ..QueueConfig::sessions()
    }
}

/// One receiver holds a session at a time; closing hands it over.
pub async fn sessions_are_exclusive(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(sessions(LONG_LOCK)).await?;
    let other = h.reconnect(&q).await?;
    q.sender
        .send_batch(vec![
            msg("m1").with_session_id("s1"),
            msg("m2").with_session_id("s1"),
        ])
        .await?;
    let a = q
        .receiver
        .accept_next_session(patience(h))
        .await?
        .ok_or_else(|| QueueError::invalid_operation("no session offered"))?;
    assert_eq!(a.session_id(), "s1");
    assert!(a.locked_until() > OffsetDateTime::now_utc());
    assert!(other.receiver.accept_next_session(brief()).await?.is_none());
    expect_kind(
        other
            .receiver
            .accept_session("s1")
            .await
            .map(|s| s.session_id().to_owned()),
        ErrorKind::SessionCannotBeLocked,
        "accepting a held session",
    );
    a.close().await?;
    let b = other
        .receiver
        .accept_next_session(patience(h))
        .await?
        .ok_or_else(|| QueueError::invalid_operation("session not handed over"))?;
    assert_eq!(b.session_id(), "s1");
    let got = session_receive_exactly(b.as_ref(), 2, patience(h)).await?;
    assert_eq!(ids(&got), ["m1", "m2"]);
    assert!(got.iter().all(|d| d.delivery_count == 1));
    for d in &got {
        b.complete(d).await?;
    }
    b.close().await?;
    Ok(())
}

/// Inside a session messages come in send order, other sessions' messages never; an abandoned
/// message is the next one delivered.
pub async fn sessions_deliver_in_order(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(sessions(LONG_LOCK)).await?;
    let mut batch = Vec::new();
    for i in 0..10 {
        batch.push(msg(&format!("s1-{i}")).with_session_id("s1"));
        batch.push(msg(&format!("s2-{i}")).with_session_id("s2"));
    }
    q.sender.send_batch(batch).await?;
    let s = q.receiver.accept_session("s1").await?;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.extend(session_receive_exactly(s.as_ref(), 1, patience(h)).await?);
    }
    assert_eq!(ids(&got), ["s1-0", "s1-1", "s1-2"]);
    s.complete(&got[0]).await?;
    s.complete(&got[1]).await?;
    s.abandon(&got[2], None).await?;
    let rest = session_receive_exactly(s.as_ref(), 8, patience(h)).await?;
    let expected: Vec<String> = (2..10).map(|i| format!("s1-{i}")).collect();
    assert_eq!(ids(&rest), expected);
    assert_eq!(
        rest[0].delivery_count, 2,
        "the abandoned message comes first again"
    );
    assert!(rest
        .windows(2)
        .all(|w| w[0].sequence_number < w[1].sequence_number));
    for d in &rest {
        s.complete(d).await?;
    }
    assert!(s.receive(1, brief()).await?.is_empty());
    s.close().await?;
    Ok(())
}

/// Several receivers work on several sessions at once; each session is held by one receiver at
/// a time, its messages processed in order, every message exactly once.
pub async fn sessions_are_processed_concurrently(h: &dyn Harness) -> Result<(), QueueError> {
    const SESSIONS: usize = 6;
    const PER_SESSION: usize = 8;
    let q = h.create_queue(sessions(LONG_LOCK)).await?;
    let other = h.reconnect(&q).await?;
    let mut batch = Vec::new();
    for i in 0..PER_SESSION {
        for s in 0..SESSIONS {
            batch.push(msg(&format!("{s}:{i}")).with_session_id(format!("call-{s}")));
        }
    }
    q.sender.send_batch(batch).await?;

    #[derive(Default)]
    struct Book {
        active: HashSet<String>,
        done: HashMap<String, Vec<usize>>,
        max_parallel: usize,
    }
    let book = Arc::new(Mutex::new(Book::default()));
    let mut tasks = Vec::new();
    for w in 0..3 {
        let receiver = if w == 0 {
            Arc::clone(&other.receiver)
        } else {
            Arc::clone(&q.receiver)
        };
        let book = Arc::clone(&book);
        tasks.push(tokio::spawn(async move {
            while let Some(s) = receiver
                .accept_next_session(Duration::from_millis(500))
                .await?
            {
                let id = s.session_id().to_owned();
                {
                    let mut b = book.lock().unwrap_or_else(PoisonError::into_inner);
                    assert!(b.active.insert(id.clone()), "session {id} held twice");
                    b.max_parallel = b.max_parallel.max(b.active.len());
                }
                loop {
                    let got = s.receive(3, Duration::from_millis(200)).await?;
                    if got.is_empty() {
                        break;
                    }
                    for d in got {
                        let idx: usize = d
                            .message_id
                            .split(':')
                            .nth(1)
                            .and_then(|i| i.parse().ok())
                            .unwrap_or(usize::MAX);
                        // Simulated work, so sessions overlap in time.
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        s.complete(&d).await?;
                        book.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .done
                            .entry(id.clone())
                            .or_default()
                            .push(idx);
                    }
                }
                book.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .active
                    .remove(&id);
                s.close().await?;
            }
            Ok::<_, QueueError>(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| QueueError::invalid_operation(e.to_string()))??;
    }
    let b = book.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(b.done.len(), SESSIONS);
    for (id, order) in &b.done {
        let expected: Vec<usize> = (0..PER_SESSION).collect();
        assert_eq!(order, &expected, "session {id} out of order or incomplete");
    }
    assert!(
        b.max_parallel >= 2,
        "sessions were never processed concurrently"
    );
    Ok(())
}

/// When a session lock expires, another receiver takes the session and gets the unsettled
/// message again (count 2); the old holder's settle and renew fail with `SessionLockLost`.
pub async fn session_lock_expiry_hands_the_session_over(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(sessions(h.short_lock())).await?;
    let other = h.reconnect(&q).await?;
    q.sender.send(msg("m").with_session_id("s")).await?;
    let a = q.receiver.accept_session("s").await?;
    let first = session_receive_exactly(a.as_ref(), 1, patience(h)).await?;
    let b = other
        .receiver
        .accept_next_session(patience(h))
        .await?
        .ok_or_else(|| QueueError::invalid_operation("expired session not offered"))?;
    assert_eq!(b.session_id(), "s");
    let again = session_receive_exactly(b.as_ref(), 1, patience(h)).await?;
    assert_eq!(again[0].message_id, "m");
    assert_eq!(again[0].delivery_count, 2);
    expect_kind(
        a.complete(&first[0]).await,
        ErrorKind::SessionLockLost,
        "complete after expiry",
    );
    expect_kind(
        a.renew_session_lock().await,
        ErrorKind::SessionLockLost,
        "renew after expiry",
    );
    expect_kind(
        a.receive(1, Duration::ZERO).await,
        ErrorKind::SessionLockLost,
        "receive after expiry",
    );
    b.complete(&again[0]).await?;
    a.close().await?;
    b.close().await?;
    Ok(())
}

/// Renewing the session lock keeps the session past its first expiry.
pub async fn session_lock_renewal_keeps_the_session(h: &dyn Harness) -> Result<(), QueueError> {
    let lock = h.short_lock() * 4;
    let q = h.create_queue(sessions(lock)).await?;
    let other = h.reconnect(&q).await?;
    q.sender.send(msg("m").with_session_id("s")).await?;
    let accepted_at = tokio::time::Instant::now();
    let a = q.receiver.accept_session("s").await?;
    let first_until = a.locked_until();
    let d = session_receive_exactly(a.as_ref(), 1, patience(h)).await?;
    tokio::time::sleep(lock / 2).await;
    let renewed_at = tokio::time::Instant::now();
    let until = a.renew_session_lock().await?;
    assert!(until > first_until);
    assert_eq!(a.locked_until(), until);
    tokio::time::sleep_until(accepted_at + lock + lock / 8).await;
    if renewed_at.elapsed() < lock - lock / 8 {
        expect_kind(
            other
                .receiver
                .accept_session("s")
                .await
                .map(|s| s.session_id().to_owned()),
            ErrorKind::SessionCannotBeLocked,
            "session after its first expiry, renewed",
        );
        a.complete(&d[0]).await?;
    }
    a.close().await?;
    Ok(())
}

/// Closing a session with an unsettled message releases it to the next receiver.
pub async fn session_close_releases_unsettled_messages(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(sessions(LONG_LOCK)).await?;
    q.sender
        .send_batch(vec![
            msg("m1").with_session_id("s"),
            msg("m2").with_session_id("s"),
        ])
        .await?;
    let a = q.receiver.accept_session("s").await?;
    let first = session_receive_exactly(a.as_ref(), 2, patience(h)).await?;
    a.complete(&first[1]).await?;
    a.close().await?;
    let b = q
        .receiver
        .accept_next_session(patience(h))
        .await?
        .ok_or_else(|| QueueError::invalid_operation("released session not offered"))?;
    let again = session_receive_exactly(b.as_ref(), 1, patience(h)).await?;
    assert_eq!(again[0].message_id, "m1");
    assert_eq!(again[0].delivery_count, 2);
    b.complete(&again[0]).await?;
    b.close().await?;
    Ok(())
}

/// Session state survives the session lock and can be cleared.
pub async fn session_state_persists(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(sessions(LONG_LOCK)).await?;
    let a = q.receiver.accept_session("call-42").await?;
    assert_eq!(a.session_state().await?, None);
    a.set_session_state(Some(Bytes::from_static(b"{\"step\":\"ivr\"}")))
        .await?;
    a.close().await?;
    let b = q.receiver.accept_session("call-42").await?;
    assert_eq!(
        b.session_state().await?,
        Some(Bytes::from_static(b"{\"step\":\"ivr\"}"))
    );
    b.set_session_state(None).await?;
    assert_eq!(b.session_state().await?, None);
    b.close().await?;
    Ok(())
}

/// Session queues need session ids and session receivers; plain queues refuse sessions; a
/// session receiver only sees its session's deferred messages.
pub async fn session_rules_are_enforced(h: &dyn Harness) -> Result<(), QueueError> {
    let sq = h.create_queue(sessions(LONG_LOCK)).await?;
    let plain = h.create_queue(long_lock()).await?;
    expect_kind(
        sq.sender.send(msg("no-session")).await,
        ErrorKind::InvalidArgument,
        "message without session id on a session queue",
    );
    expect_kind(
        sq.receiver.receive(1, Duration::ZERO).await,
        ErrorKind::InvalidOperation,
        "plain receive on a session queue",
    );
    expect_kind(
        plain
            .receiver
            .accept_next_session(Duration::ZERO)
            .await
            .map(|s| s.map(|s| s.session_id().to_owned())),
        ErrorKind::InvalidOperation,
        "accepting a session on a plain queue",
    );
    expect_kind(
        plain
            .receiver
            .accept_session("s")
            .await
            .map(|s| s.session_id().to_owned()),
        ErrorKind::InvalidOperation,
        "accepting a named session on a plain queue",
    );
    // A plain queue accepts (and ignores) session ids.
    plain
        .sender
        .send(msg("with-session").with_session_id("x"))
        .await?;
    let d = receive_one(plain.receiver.as_ref(), patience(h)).await?;
    assert_eq!(d.session_id.as_deref(), Some("x"));
    plain.receiver.complete(&d).await?;

    sq.sender.send(msg("d1").with_session_id("s1")).await?;
    let s1 = sq.receiver.accept_session("s1").await?;
    let d1 = session_receive_exactly(s1.as_ref(), 1, patience(h)).await?;
    s1.defer(&d1[0]).await?;
    s1.close().await?;
    let s2 = sq.receiver.accept_session("s2").await?;
    expect_kind(
        s2.receive_deferred(&[d1[0].sequence_number]).await,
        ErrorKind::MessageNotFound,
        "another session's deferred message",
    );
    s2.close().await?;
    let s1 = sq.receiver.accept_session("s1").await?;
    let back = s1.receive_deferred(&[d1[0].sequence_number]).await?;
    assert_eq!(ids(&back), ["d1"]);
    s1.complete(&back[0]).await?;
    s1.close().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Dead-letter queue operations

/// Browse, receive, resubmit and purge the dead-letter queue.
pub async fn dead_letter_queue_browse_resubmit_purge(h: &dyn Harness) -> Result<(), QueueError> {
    let q = h.create_queue(long_lock()).await?;
    q.sender
        .send_batch(
            (1..=4)
                .map(|i| {
                    msg(&format!("d{i}"))
                        .with_property("n", i)
                        .with_correlation_id("c")
                })
                .collect(),
        )
        .await?;
    let got = receive_exactly(q.receiver.as_ref(), 4, patience(h)).await?;
    for (i, d) in got.iter().enumerate().take(3) {
        q.receiver
            .dead_letter(d, &format!("reason-{i}"), "described")
            .await?;
    }
    q.receiver.complete(&got[3]).await?;

    let dead = q.dead_letters.peek(0, 10).await?;
    assert_eq!(
        dead.iter()
            .map(|m| m.message_id.as_str())
            .collect::<Vec<_>>(),
        ["d1", "d2", "d3"]
    );
    assert_eq!(dead[1].dead_letter_reason.as_deref(), Some("reason-1"));
    let tail = q.dead_letters.peek(dead[1].sequence_number, 10).await?;
    assert_eq!(tail.len(), 2);
    assert_eq!(q.dead_letters.peek(0, 1).await?.len(), 1);

    // Receive one and complete it: gone.
    let first = q.dead_letters.receive(1, patience(h)).await?;
    assert_eq!(ids(&first), ["d1"]);
    expect_kind(
        q.receiver.complete(&first[0]).await,
        ErrorKind::InvalidOperation,
        "settling a dead letter through the main receiver",
    );
    q.dead_letters.complete(&first[0]).await?;

    // Resubmit by sequence number: a new message in the main queue.
    let old = &dead[1];
    let new_id = q.dead_letters.resubmit(old.sequence_number).await?;
    assert_ne!(new_id, old.message_id);
    let back = receive_one(q.receiver.as_ref(), patience(h)).await?;
    assert_eq!(back.message_id, new_id);
    assert_eq!(back.body, old.body);
    assert_eq!(back.correlation_id.as_deref(), Some("c"));
    assert_eq!(back.delivery_count, 1);
    assert!(back.sequence_number > old.sequence_number);
    assert_eq!(back.property("n"), Some(&PropertyValue::Int(2)));
    assert_eq!(
        back.property(RESUBMITTED_FROM_PROPERTY)
            .and_then(PropertyValue::as_str),
        Some("d2")
    );
    assert!(back.property(DEAD_LETTER_REASON).is_none());
    assert!(back.dead_letter_reason.is_none());
    q.receiver.complete(&back).await?;
    expect_kind(
        q.dead_letters.resubmit(old.sequence_number).await,
        ErrorKind::MessageNotFound,
        "resubmitting twice",
    );

    // Resubmit a received dead letter.
    let d3 = q.dead_letters.receive(1, patience(h)).await?;
    assert_eq!(ids(&d3), ["d3"]);
    expect_kind(
        q.dead_letters.resubmit(d3[0].sequence_number).await,
        ErrorKind::MessageLocked,
        "resubmitting a dead letter someone holds",
    );
    q.dead_letters.resubmit_delivery(&d3[0]).await?;
    let back = receive_one(q.receiver.as_ref(), patience(h)).await?;
    assert_eq!(
        back.property(RESUBMITTED_FROM_PROPERTY)
            .and_then(PropertyValue::as_str),
        Some("d3")
    );
    q.receiver.dead_letter(&back, "again", "").await?;

    // Purge.
    q.sender.send(msg("d5")).await?;
    let d5 = receive_one(q.receiver.as_ref(), patience(h)).await?;
    q.receiver.dead_letter(&d5, "x", "y").await?;
    assert_eq!(q.dead_letters.purge().await?, 2);
    assert!(q.dead_letters.peek(0, 10).await?.is_empty());
    assert!(q.receiver.peek(0, 10).await?.is_empty());
    Ok(())
}

/// Expands to one `#[tokio::test]` per conformance check. The argument is an expression
/// evaluating to a future that yields the [`Harness`](crate::conformance::Harness); it is
/// evaluated once per test.
#[macro_export]
macro_rules! queue_conformance_tests {
    ($make_harness:expr) => {
        $crate::queue_conformance_tests!(@each $make_harness;
            round_trip_preserves_every_field,
            receive_waits_for_a_message,
            locked_message_is_invisible_to_other_receivers,
            unsettled_message_is_redelivered_after_lock_expiry,
            complete_is_final,
            abandon_redelivers_with_modified_properties,
            max_delivery_count_dead_letters_on_abandon,
            max_delivery_count_dead_letters_on_lock_expiry,
            dead_letter_records_reason_and_description,
            send_dead_letter_lands_in_the_dead_letter_queue,
            defer_and_receive_deferred,
            duplicate_detection_drops_repeats_within_the_window,
            scheduled_message_is_invisible_until_due,
            expired_messages_are_dead_lettered_or_dropped,
            renew_lock_extends_the_lock,
            competing_receivers_get_each_message_once,
            batch_send_is_atomic,
            peek_does_not_lock,
            runtime_properties_count_by_state,
            sessions_are_exclusive,
            sessions_deliver_in_order,
            sessions_are_processed_concurrently,
            session_lock_expiry_hands_the_session_over,
            session_lock_renewal_keeps_the_session,
            session_close_releases_unsettled_messages,
            session_state_persists,
            session_rules_are_enforced,
            dead_letter_queue_browse_resubmit_purge,
        );
    };
    (@each $make_harness:expr; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let harness = $make_harness.await;
                if let Err(e) = $crate::conformance::$check(&harness).await {
                    panic!("{}: backend error: {e}", stringify!($check));
                }
            }
        )*
    };
}
