//! The queue port: the traits the worker, the ingress and the CLI code against, implemented by
//! the embedded SQLite queue ([`crate::sqlite`]) and, later, by the Azure Service Bus adapter.
//!
//! All traits are object safe and `Send + Sync`; hold them as `Arc<dyn …>` (a
//! [`QueueHandle`] bundles the three views of one queue). Every method is one round trip to the
//! backend and, on the SQLite queue, one transaction.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use time::OffsetDateTime;

use crate::error::QueueError;
use crate::message::{Delivery, Message, OutgoingMessage, Properties};

/// Publishes to one queue.
#[async_trait]
pub trait QueueSender: Send + Sync {
    /// The queue this sender publishes to.
    fn queue_name(&self) -> &str;

    /// Sends one message. With duplicate detection on, a message whose id was sent within the
    /// window is accepted and silently dropped (as Service Bus does), so retrying a send whose
    /// outcome is unknown is safe.
    async fn send(&self, message: OutgoingMessage) -> Result<(), QueueError>;

    /// Sends several messages atomically: all are enqueued or none is. The batch as a whole
    /// must fit the queue's `max_message_size` (a Service Bus batch limit). An empty batch is
    /// a no-op.
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<(), QueueError>;

    /// Puts a message straight into this queue's dead-letter sub-queue with a reason and a
    /// description, without it ever being receivable: for input the sender has refused (the
    /// ingress's rejected events), kept for an operator rather than dropped. The message must
    /// fit the queue's `max_message_size`. The SQLite queue applies no duplicate detection
    /// here; Service Bus applies the queue's own.
    ///
    /// Service Bus accepts sends to a dead-letter queue only through the dead-letter operation
    /// of a received message, so its adapter sends the message carrying
    /// [`crate::PENDING_DEAD_LETTER_REASON`] and dead-letters it on receive: use this only on a
    /// queue no other process receives from (the deployment's `ingress-rejects` queue).
    async fn send_dead_letter(
        &self,
        message: OutgoingMessage,
        reason: &str,
        description: &str,
    ) -> Result<(), QueueError>;
}

/// Receives from one queue with peek-lock, and settles what it received.
///
/// Settling methods take the [`Delivery`] the receive returned. They fail with
/// [`QueueError::LockLost`] when the lock expired or the message was settled already — the
/// message is then (or will be) redelivered, so the handler must not assume its work counted.
#[async_trait]
pub trait QueueReceiver: Send + Sync {
    /// The queue this receiver reads.
    fn queue_name(&self) -> &str;

    /// Receives up to `max` messages (at least 1), locking each for the queue's lock duration
    /// and incrementing its delivery count. Returns as soon as at least one message is
    /// available; waits up to `wait` for the first one, then returns an empty vector. Messages
    /// come in sequence-number order. Fails with [`QueueError::InvalidOperation`] on a session
    /// queue.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError>;

    /// Receives deferred messages by sequence number, locked. Fails with
    /// [`QueueError::MessageNotFound`] if any is not a deferred message of this queue or is
    /// locked by another receiver (as Service Bus reports it; an expired one is dead-lettered
    /// or dropped first, then reported not found), and locks none of them then.
    async fn receive_deferred(&self, sequence_numbers: &[i64])
        -> Result<Vec<Delivery>, QueueError>;

    /// Reads up to `max` messages with sequence number ≥ `from_sequence_number` without
    /// locking them (active, scheduled and deferred ones; locked ones too).
    async fn peek(&self, from_sequence_number: i64, max: usize)
        -> Result<Vec<Message>, QueueError>;

    /// Removes the message: done.
    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError>;

    /// Releases the lock so the message is delivered again (a deferred message stays
    /// deferred), after merging `properties_to_modify` into its application properties. If its
    /// delivery count has reached the queue's `max_delivery_count`, it is dead-lettered with
    /// reason `MaxDeliveryCountExceeded` instead.
    async fn abandon(
        &self,
        delivery: &Delivery,
        properties_to_modify: Option<Properties>,
    ) -> Result<(), QueueError>;

    /// Moves the message to the dead-letter queue with a reason and description (stored as the
    /// `DeadLetterReason` and `DeadLetterErrorDescription` properties).
    async fn dead_letter(
        &self,
        delivery: &Delivery,
        reason: &str,
        description: &str,
    ) -> Result<(), QueueError>;

    /// Sets the message aside: it is no longer returned by `receive`, only by
    /// [`QueueReceiver::receive_deferred`] with its sequence number (keep it).
    async fn defer(&self, delivery: &Delivery) -> Result<(), QueueError>;

    /// Extends the message lock by the queue's lock duration from now, returning the new
    /// `locked_until`. Not for session messages (renew the session lock instead).
    async fn renew_lock(&self, delivery: &Delivery) -> Result<OffsetDateTime, QueueError>;

    /// Locks the next session that has a receivable message and no live lock (oldest message
    /// first). Waits up to `wait` for one; `None` if none became available. Fails with
    /// [`QueueError::InvalidOperation`] on a non-session queue.
    async fn accept_next_session(
        &self,
        wait: Duration,
    ) -> Result<Option<Box<dyn SessionReceiver>>, QueueError>;

    /// How many [`QueueReceiver::accept_next_session`] calls this receiver runs side by side;
    /// a consumer gains nothing from more. Default: one (the embedded queue says how many in
    /// its options).
    fn concurrent_accepts(&self) -> usize {
        1
    }

    /// Locks one named session, whether or not it has messages. Fails with
    /// [`QueueError::SessionCannotBeLocked`] if another receiver holds it.
    async fn accept_session(
        &self,
        session_id: &str,
    ) -> Result<Box<dyn SessionReceiver>, QueueError>;

    /// Message counts by state (Service Bus `QueueRuntimeProperties`).
    async fn runtime_properties(&self) -> Result<QueueRuntimeProperties, QueueError>;
}

/// An exclusive lock on one session of a session queue: only this receiver gets the session's
/// messages while the lock lives, in sequence-number order.
///
/// The session lock is the lock of every message received through it: renew the session lock
/// (not the messages') during long work, and settle messages through this receiver. When the
/// session lock expires or is released, unsettled messages become available again (their
/// delivery counts stay incremented). Close the receiver when done; dropping it without closing
/// releases the lock on a best-effort basis (if a Tokio runtime is around).
#[async_trait]
pub trait SessionReceiver: Send + Sync + fmt::Debug {
    /// The locked session.
    fn session_id(&self) -> &str;

    /// Until when the session lock holds, as of the last accept or renewal.
    fn locked_until(&self) -> OffsetDateTime;

    /// Receives up to `max` messages of this session, FIFO. Same waiting rule as
    /// [`QueueReceiver::receive`]. Fails with [`QueueError::SessionLockLost`] once the lock is
    /// gone.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError>;

    /// Receives deferred messages of this session by sequence number.
    async fn receive_deferred(&self, sequence_numbers: &[i64])
        -> Result<Vec<Delivery>, QueueError>;

    /// See [`QueueReceiver::complete`].
    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError>;

    /// See [`QueueReceiver::abandon`]. The message is the next one this session delivers.
    async fn abandon(
        &self,
        delivery: &Delivery,
        properties_to_modify: Option<Properties>,
    ) -> Result<(), QueueError>;

    /// See [`QueueReceiver::dead_letter`].
    async fn dead_letter(
        &self,
        delivery: &Delivery,
        reason: &str,
        description: &str,
    ) -> Result<(), QueueError>;

    /// See [`QueueReceiver::defer`].
    async fn defer(&self, delivery: &Delivery) -> Result<(), QueueError>;

    /// Extends the session lock (and so every message lock of this session) by the lock
    /// duration from now.
    async fn renew_session_lock(&self) -> Result<OffsetDateTime, QueueError>;

    /// A hint that the consumer closes this session as soon as a receive finds nothing to
    /// take. A backend may then settle a completion and act on what follows in one step: hand
    /// over the session's next message (the next receive returns it) or, with none left, give
    /// the session up (the next receive returns nothing and `close` has nothing left to do).
    /// The default ignores the hint.
    fn release_when_drained(&self) {}

    /// The session state blob, if one was set. Kept while the session has no messages.
    async fn session_state(&self) -> Result<Option<Bytes>, QueueError>;

    /// Sets (`Some`) or clears (`None`) the session state.
    async fn set_session_state(&self, state: Option<Bytes>) -> Result<(), QueueError>;

    /// Releases the session lock. Unsettled messages become available again. Closing after the
    /// lock was lost is not an error.
    async fn close(self: Box<Self>) -> Result<(), QueueError>;
}

/// The dead-letter sub-queue of one queue. Time-to-live does not apply here, and messages here
/// cannot be dead-lettered again.
#[async_trait]
pub trait DeadLetterQueue: Send + Sync {
    /// The parent queue.
    fn queue_name(&self) -> &str;

    /// Reads up to `max` dead-lettered messages with sequence number ≥ `from_sequence_number`,
    /// oldest first, without locking.
    async fn peek(&self, from_sequence_number: i64, max: usize)
        -> Result<Vec<Message>, QueueError>;

    /// Receives dead-lettered messages under peek-lock (same waiting rule as
    /// [`QueueReceiver::receive`]).
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError>;

    /// Removes a received dead letter.
    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError>;

    /// Releases the lock on a received dead letter.
    async fn abandon(&self, delivery: &Delivery) -> Result<(), QueueError>;

    /// Sends a copy of the dead letter with this sequence number back to the main queue and
    /// removes it from the dead-letter queue: same body, session id, correlation id, content
    /// type, subject and application properties (without the dead-letter ones, plus
    /// [`crate::RESUBMITTED_FROM_PROPERTY`]); a new message with a new sequence number and
    /// delivery count 0. Its message id is derived from the old one and the sequence number,
    /// so duplicate detection does not drop it. Returns the new message id. Fails with
    /// [`QueueError::MessageNotFound`] if there is no such dead letter and
    /// [`QueueError::MessageLocked`] if a receiver holds it.
    async fn resubmit(&self, sequence_number: i64) -> Result<String, QueueError>;

    /// [`DeadLetterQueue::resubmit`] for a dead letter received from this queue (its lock must
    /// still hold).
    async fn resubmit_delivery(&self, delivery: &Delivery) -> Result<String, QueueError>;

    /// Deletes every dead letter; returns how many.
    async fn purge(&self) -> Result<u64, QueueError>;
}

/// Message counts of a queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueRuntimeProperties {
    /// Receivable or locked messages.
    pub active_message_count: u64,
    /// Messages waiting for their scheduled enqueue time.
    pub scheduled_message_count: u64,
    /// Deferred messages.
    pub deferred_message_count: u64,
    /// Messages in the dead-letter queue.
    pub dead_letter_message_count: u64,
}

impl QueueRuntimeProperties {
    /// All messages, dead letters included.
    pub fn total_message_count(&self) -> u64 {
        self.active_message_count
            + self.scheduled_message_count
            + self.deferred_message_count
            + self.dead_letter_message_count
    }
}

/// The three views of one queue, ready to share: clone it freely.
#[derive(Clone)]
pub struct QueueHandle {
    /// The queue's name.
    pub name: String,
    /// Publishes to it.
    pub sender: Arc<dyn QueueSender>,
    /// Receives and settles.
    pub receiver: Arc<dyn QueueReceiver>,
    /// Its dead-letter queue.
    pub dead_letters: Arc<dyn DeadLetterQueue>,
}

impl fmt::Debug for QueueHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueHandle")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
