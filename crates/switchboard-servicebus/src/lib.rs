//! switchboard-servicebus: the Switchboard queue port ([`switchboard_queue`]) on Azure Service
//! Bus over AMQP 1.0 (the `azservicebus` 0.25 client), and — behind the `test-peer` feature —
//! an AMQP 1.0 peer that speaks the Service Bus dialect, so the adapter is tested (and the
//! whole system run) without Azure.
//!
//! # How data flows
//! [`ServiceBusNamespace::connect`] opens an AMQP connection to the namespace for links with a
//! SAS connection string or Microsoft Entra (managed identity, optionally user-assigned;
//! workload identity); the first session accept opens four more, so that many accepts (which
//! wait on the broker) run side by side.
//! [`ServiceBusNamespace::queue`] hands out a [`switchboard_queue::QueueHandle`]:
//!
//! - **send**: an [`switchboard_queue::OutgoingMessage`] becomes an AMQP message (ids in the
//!   properties section, session id as `group-id`, application properties, TTL,
//!   `x-opt-scheduled-enqueue-time`) on a sender link; a batch goes as one batched transfer.
//! - **receive**: peek-lock receiver links (prefetch configurable, 0 by default) kept in a small
//!   pool per queue so concurrent receives do not queue; a receive returns as soon as one
//!   message is there (plus what is already on its way). Bodies decode from data sections,
//!   AMQP values (string/binary) and sequences ([`convert::decode_body`]).
//! - **settle** through the link that received (complete, abandon with properties,
//!   dead-letter with reason/description, defer); deferred messages by sequence number through
//!   `$management`. Locks are tracked here too, so a settle after `locked_until` is
//!   [`switchboard_queue::QueueError::LockLost`] (or `SessionLockLost`), never a generic error.
//! - **sessions**: accept the next available session or a named one; session lock renewal,
//!   state, and per-session FIFO come from the broker.
//! - **dead letters**: the `$DeadLetterQueue` sub-queue (peek, receive, resubmit with a derived
//!   message id, purge via receive-and-delete).
//!
//! Queues are provisioned outside the application (Bicep): the adapter has no `ensure_queue`;
//! give [`ServiceBusNamespace::queue`] the provisioned properties.
//!
//! # Reconnects
//! The SDK retries each operation with exponential backoff
//! ([`ServiceBusOptions::max_retries`], [`ServiceBusOptions::retry_delay`]) and re-opens its
//! connection; when a link still fails with a retryable error the adapter drops it and opens a
//! new one on the next call. Deliveries of a dropped link have lost their lock
//! ([`switchboard_queue::QueueError::LockLost`]) and are redelivered by the broker.
//!
//! # Layout
//! - [`options`]: [`ServiceBusOptions`], [`ServiceBusAuth`], [`Secret`] (redacted `Debug`).
//! - [`client`]: [`ServiceBusNamespace`] and the sender / receiver / session receiver /
//!   dead-letter queue implementations of the port.
//! - [`convert`]: the AMQP message layout Service Bus uses, both directions.
//! - `error`: broker error conditions as [`switchboard_queue::QueueError`]s.
//! - `peer` (feature `test-peer`): `TestPeer`, the AMQP 1.0 test broker on the embedded
//!   SQLite queue.
#![forbid(unsafe_code)]
// missing_docs flags public items reachable from outside the crate that have no doc comment;
// pub(crate) and private items are not checked.
#![warn(missing_docs)]

pub mod client;
pub mod convert;
mod credential;
mod error;
mod link_wait;
mod management;
pub mod options;
#[cfg(feature = "test-peer")]
pub mod peer;

pub use client::ServiceBusNamespace;
pub use options::{Secret, ServiceBusAuth, ServiceBusOptions};
