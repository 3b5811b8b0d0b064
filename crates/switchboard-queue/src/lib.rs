//! switchboard-queue: the queue port Switchboard's worker and ingress talk to, with Azure
//! Service Bus semantics; the embedded SQLite queue that implements it on one file; and the
//! conformance suite every implementation (SQLite now, Service Bus next) must pass unchanged.
//!
//! # How data flows
//! Event Grid (or the callback ingress) *sends* an [`OutgoingMessage`] through a
//! [`QueueSender`]. A worker *receives* it under a peek-lock through a [`QueueReceiver`] (or, on
//! a session queue, through the [`SessionReceiver`] it got from
//! [`QueueReceiver::accept_next_session`]): the [`Delivery`] carries the message, a lock token
//! and `locked_until`. The worker then *settles* it with the same receiver:
//!
//! | outcome | call | what happens |
//! |---|---|---|
//! | done | `complete` | removed |
//! | transient failure | `abandon(props)` | delivered again (count + 1); at `max_delivery_count` → dead-letter `MaxDeliveryCountExceeded` |
//! | poison | `dead_letter(reason, description)` | moved to the [`DeadLetterQueue`] |
//! | not yet | `defer` | kept, receivable only by sequence number (`receive_deferred`) |
//! | crashed / too slow | (nothing) | lock expires → delivered again, exactly as abandon |
//! | long work | `renew_lock` / `renew_session_lock` | lock extended |
//!
//! Settling after the lock expired fails with [`QueueError::LockLost`] (or
//! [`QueueError::SessionLockLost`]): the message is then redelivered to someone, so work must
//! be idempotent — delivery is at-least-once, as on Service Bus.
//!
//! # Semantics (same on every backend)
//! - **Peek-lock**: a received message is invisible to other receivers until settled or until
//!   its lock (`QueueConfig::lock_duration`) expires. Each lock raises `delivery_count` (1 on
//!   first delivery).
//! - **Sessions** (`QueueConfig::requires_session`): every message has a session id; one
//!   receiver at a time holds a session (exclusive lock, renewable, expiring), and receives its
//!   messages in send order. Session state is an optional blob per session.
//! - **Duplicate detection** (`QueueConfig::duplicate_detection_window`): a message id sent
//!   again within the window is accepted and dropped. Message ids should derive from the event
//!   (its id), so retried sends are harmless.
//! - **Scheduled messages** (`OutgoingMessage::scheduled_enqueue_time`) stay invisible until
//!   due. **Time-to-live**: an expired message is never delivered; it is dead-lettered with
//!   `TTLExpiredException` if `dead_lettering_on_message_expiration`, else dropped.
//! - **Dead-letter queue**: browse (`peek`), receive/complete, `resubmit` (a copy with a derived
//!   new message id goes back to the main queue), `purge`. Dead-lettered messages carry
//!   `DeadLetterReason`/`DeadLetterErrorDescription` as application properties.
//! - **Sequence numbers** are unique and increase in enqueue order within a queue.
//!
//! # Using it
//! ```no_run
//! # async fn demo() -> Result<(), switchboard_queue::QueueError> {
//! use std::time::Duration;
//! use switchboard_queue::{sqlite::SqliteNamespace, OutgoingMessage, QueueConfig};
//!
//! let ns = SqliteNamespace::open("switchboard.db").await?;
//! let events = ns.ensure_queue("call-events", QueueConfig::sessions()).await?.handle();
//! events.sender.send(
//!     OutgoingMessage::new("evt-1", r#"{"type":"CallConnected"}"#)
//!         .with_session_id("call-correlation-id"),
//! ).await?;
//! if let Some(session) = events.receiver.accept_next_session(Duration::from_secs(5)).await? {
//!     for d in session.receive(10, Duration::from_secs(1)).await? {
//!         // ... handle d.body idempotently ...
//!         session.complete(&d).await?;
//!     }
//!     session.close().await?;
//! }
//! # Ok(()) }
//! ```
//!
//! # Notes for callers
//! - **Which queues.** Event Grid delivers `IncomingCall` to a *non-session* queue (by choice:
//!   one event per call has no order to keep); the callback ingress publishes Call Automation events to
//!   a *session* queue with `session_id` = the call's correlation id, so one worker at a time
//!   handles one call, in order. Map the worker's `lock_duration_secs`/`max_delivery_count`
//!   straight onto [`QueueConfig`].
//! - **Ids.** Use the event id (or `aeg-output-event-id`) as `message_id`, so duplicate
//!   detection absorbs retried publishes.
//! - **Long handlers** renew before `locked_until` (session receivers renew the session lock;
//!   message locks of session messages follow it).
//! - **Cancellation.** Dropping a `receive` (or `accept_next_session`) future is safe: the
//!   embedded queue rolls the transaction back unless it was already committing. On Service
//!   Bus a cancelled receive can leave messages locked until their lock expires; either way
//!   they are redelivered (count + 1), never lost.
//! - **Settle through the receiver that received**: a session message through its
//!   [`SessionReceiver`], a dead letter through the [`DeadLetterQueue`]. Anything else is
//!   [`QueueError::InvalidOperation`].
//!
//! # Implementing the port on Service Bus
//! The traits map one to one onto the Service Bus receiver/sender/session-receiver APIs. Put
//! the SDK's received-message object in [`Delivery::backend`] to settle with it. Service Bus's
//! minimum lock duration is 5 s and minimum duplicate window 20 s: report them from
//! `conformance::Harness::short_lock`/`conformance::Harness::short_dedupe_window` and the
//! suite adapts its waits. Use [`resubmitted_message_id`] for resubmitted dead letters so both
//! backends derive the same id. Then run the unchanged suite with
//! `queue_conformance_tests!` (the calling crate needs `tokio` with its test macros, and this
//! crate's `conformance` feature in its `[dev-dependencies]`).
//!
//! # Layout
//! - [`port`]: the traits ([`QueueSender`], [`QueueReceiver`], [`SessionReceiver`],
//!   [`DeadLetterQueue`]), [`QueueHandle`] bundling them, [`QueueRuntimeProperties`].
//! - [`message`]: [`OutgoingMessage`], [`Message`], [`Delivery`], [`PropertyValue`], and the
//!   broker's well-known property names and dead-letter reasons.
//! - [`config`]: [`QueueConfig`], mirroring the Service Bus queue properties, and the queue-name
//!   rule.
//! - [`error`]: [`QueueError`] with [`QueueError::is_retryable`] and [`ErrorKind`].
//! - [`clock`]: where the embedded queue reads time from (system clock, or a manual one in tests).
//! - [`sqlite`]: the embedded implementation: one SQLite file (WAL), several named queues, safe
//!   for several processes at once, durable across restarts.
//! - `conformance` (feature `conformance`, tests only): the suite of checks and the
//!   `queue_conformance_tests!` macro that turns them into tests for any backend.
#![forbid(unsafe_code)]
// missing_docs flags public items reachable from outside the crate that have no doc comment;
// pub(crate) and private items are not checked.
#![warn(missing_docs)]

pub mod clock;
pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod message;
pub mod port;
pub mod sqlite;

pub use config::QueueConfig;
pub use error::{ErrorKind, QueueError};
pub use message::{
    max_delivery_description, resubmitted_message_id, BackendHandle, Delivery, Message,
    MessageState, OutgoingMessage, Properties, PropertyValue, DEAD_LETTER_ERROR_DESCRIPTION,
    DEAD_LETTER_REASON, DESCRIPTION_TTL_EXPIRED, MAX_ID_LEN, PENDING_DEAD_LETTER_DESCRIPTION,
    PENDING_DEAD_LETTER_REASON, REASON_MAX_DELIVERY_COUNT_EXCEEDED, REASON_TTL_EXPIRED,
    RESUBMITTED_FROM_PROPERTY,
};
pub use port::{
    DeadLetterQueue, QueueHandle, QueueReceiver, QueueRuntimeProperties, QueueSender,
    SessionReceiver,
};
