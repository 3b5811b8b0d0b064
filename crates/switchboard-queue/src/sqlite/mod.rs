//! The embedded queue: the port on one SQLite file (WAL, bundled SQLite).
//!
//! A [`SqliteNamespace`] is one file, like a Service Bus namespace: it holds several named
//! queues, each with its own [`QueueConfig`], their dead-letter queues and session state.
//! [`SqliteQueue`] implements [`QueueSender`] and [`QueueReceiver`];
//! [`SqliteDeadLetterQueue`] implements [`DeadLetterQueue`]; sessions are
//! [`SqliteSessionReceiver`]s.
//!
//! Several processes may open the same file at once (worker, ingress, simulator, replay CLI):
//! every transition is all or nothing inside a `BEGIN IMMEDIATE` transaction (a process
//! batches its transitions into one, each in a savepoint), and every time rule (lock expiry,
//! scheduled enqueue, time-to-live, the duplicate window) is evaluated from stored instants by
//! the next transaction that looks, so no process has to be alive for a lock to expire and
//! there is no background task to run. The file must be on a local disk (SQLite locking does not work
//! on network shares such as Azure Files), and processes sharing it must share a clock — same
//! host.
//!
//! Durability: with the default `synchronous = NORMAL`, committed messages survive a process
//! crash or kill; a power loss may lose the last commits but never corrupts the file. Set
//! [`SqliteOptions::synchronous_full`] to fsync every commit.
//!
//! The tables are prefixed `sbq_` so the store (or anything else) can share the file.
//!
//! Sessions cost as few write transactions as the consumer allows, since every write waits
//! for the one lock all processes share: an accept locks the session's first message with it
//! (returned by the first receive, given back undelivered on close); a zero-wait receive that
//! finds nothing only reads; and with [`SessionReceiver::release_when_drained`] a completion
//! locks the session's next message or, with none left, releases the session in its own
//! transaction. Locks are acquired through `switchboard_core::busy`'s handler (naps from
//! 50 µs), not SQLite's millisecond sleeps.
//!
//! # Layout
//! - `options`: [`SqliteOptions`], how the namespace uses SQLite.
//! - `db`: connections, pragmas, schema (with its version in `sbq_meta`), writes through the
//!   file's group writer (`switchboard_sqlite`), reads on the blocking pool.
//! - `ops`: every state transition as a synchronous function of one transaction, including
//!   the lazy time-driven sweep.
//! - `codec`: rows to [`Message`]/[`Delivery`], properties and queue config encodings.
//! - `wait`: how a waiting receive learns that something arrived (in-process notify,
//!   cross-process probe polling).

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::clock::from_unix_ms;
use crate::config::{validate_queue_name, QueueConfig};
use crate::error::QueueError;
use crate::message::{Delivery, Message, OutgoingMessage, Properties};
use crate::port::{
    DeadLetterQueue, QueueHandle, QueueReceiver, QueueRuntimeProperties, QueueSender,
    SessionReceiver,
};

mod codec;
mod db;
pub(crate) mod ops;
mod options;
mod wait;

use db::Db;
use ops::{LockRef, Settle, Target, Via};

pub use options::SqliteOptions;

/// One SQLite file holding named queues. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteNamespace {
    db: Arc<Db>,
}

impl SqliteNamespace {
    /// Opens (creating if needed) the file at `path` with default options.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, QueueError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// Opens (creating if needed) the file at `path`.
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, QueueError> {
        let path = path.as_ref().to_path_buf();
        let db = tokio::task::spawn_blocking(move || Db::open_blocking(&path, options))
            .await
            .map_err(|e| QueueError::Backend {
                op: "open",
                message: format!("blocking task failed: {e}"),
                retryable: false,
                source: Some(Box::new(e)),
            })??;
        Ok(Self { db: Arc::new(db) })
    }

    /// The file (canonical path).
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// Transactions and writes of the writer this namespace writes through (shared with every
    /// handle of the same file and settings in this process, the store's included).
    pub fn writer_stats(&self) -> switchboard_sqlite::WriterStats {
        self.db.writer_stats()
    }

    /// Creates a queue; fails with [`QueueError::QueueExists`] if the name is taken.
    pub async fn create_queue(
        &self,
        name: &str,
        config: QueueConfig,
    ) -> Result<SqliteQueue, QueueError> {
        self.create(name, config, false).await
    }

    /// Creates the queue, or updates its properties if it exists (all but `requires_session`,
    /// which cannot change: [`QueueError::InvalidOperation`]). Idempotent; what a service calls
    /// at startup.
    pub async fn ensure_queue(
        &self,
        name: &str,
        config: QueueConfig,
    ) -> Result<SqliteQueue, QueueError> {
        self.create(name, config, true).await
    }

    async fn create(
        &self,
        name: &str,
        config: QueueConfig,
        replace: bool,
    ) -> Result<SqliteQueue, QueueError> {
        validate_queue_name(name)?;
        config.validate()?;
        let queue = name.to_owned();
        self.db
            .write("create queue", move |conn, now| {
                ops::create_queue(conn, &queue, &config, replace, now)
            })
            .await?;
        Ok(self.handle_for(name))
    }

    /// Opens an existing queue ([`QueueError::QueueNotFound`] otherwise).
    pub async fn queue(&self, name: &str) -> Result<SqliteQueue, QueueError> {
        self.queue_config(name).await?;
        Ok(self.handle_for(name))
    }

    /// The properties of a queue.
    pub async fn queue_config(&self, name: &str) -> Result<QueueConfig, QueueError> {
        validate_queue_name(name)?;
        let queue = name.to_owned();
        self.db
            .read("load queue", move |conn, _| ops::load_config(conn, &queue))
            .await
    }

    /// Names of all queues in the file.
    pub async fn list_queues(&self) -> Result<Vec<String>, QueueError> {
        self.db
            .read("list queues", |conn, _| ops::list_queues(conn))
            .await
    }

    /// Deletes a queue with all its messages, dead letters and sessions. `false` if it did not
    /// exist.
    pub async fn delete_queue(&self, name: &str) -> Result<bool, QueueError> {
        let queue = name.to_owned();
        self.db
            .write("delete queue", move |conn, _| {
                ops::delete_queue(conn, &queue)
            })
            .await
    }

    fn handle_for(&self, name: &str) -> SqliteQueue {
        SqliteQueue {
            inner: Arc::new(QueueInner {
                name: name.to_owned(),
                notify: wait::notifier(self.db.path(), name),
                db: Arc::clone(&self.db),
            }),
        }
    }
}

struct QueueInner {
    name: String,
    db: Arc<Db>,
    notify: Arc<Notify>,
}

/// One queue in a [`SqliteNamespace`]: sender and receiver. Cheap to clone; clones share the
/// connection pool.
#[derive(Clone)]
pub struct SqliteQueue {
    inner: Arc<QueueInner>,
}

impl fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("name", &self.inner.name)
            .field("file", &self.inner.db.path())
            .finish()
    }
}

fn instant(ms: i64) -> Result<OffsetDateTime, QueueError> {
    from_unix_ms(ms).ok_or_else(|| QueueError::corrupt("lock", format!("bad instant {ms}")))
}

fn check_max(max: usize) -> Result<(), QueueError> {
    if max == 0 {
        Err(QueueError::invalid_argument("max must be at least 1"))
    } else {
        Ok(())
    }
}

impl SqliteQueue {
    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Its dead-letter queue.
    pub fn dead_letter_queue(&self) -> SqliteDeadLetterQueue {
        SqliteDeadLetterQueue {
            queue: self.clone(),
        }
    }

    /// Sender, receiver and dead-letter queue as trait objects.
    pub fn handle(&self) -> QueueHandle {
        QueueHandle {
            name: self.inner.name.clone(),
            sender: Arc::new(self.clone()),
            receiver: Arc::new(self.clone()),
            dead_letters: Arc::new(self.dead_letter_queue()),
        }
    }

    /// The queue's current properties.
    pub async fn config(&self) -> Result<QueueConfig, QueueError> {
        let queue = self.inner.name.clone();
        self.inner
            .db
            .read("load queue", move |conn, _| ops::load_config(conn, &queue))
            .await
    }

    fn wake(&self) {
        self.inner.notify.notify_waiters();
    }

    /// Runs a write transaction against this queue with its config loaded.
    async fn write<T, F>(&self, op: &'static str, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection, &str, &QueueConfig, i64) -> Result<T, QueueError>
            + Send
            + 'static,
    {
        let queue = self.inner.name.clone();
        self.inner
            .db
            .write(op, move |conn, now| {
                let config = ops::load_config(conn, &queue)?;
                f(conn, &queue, &config, now)
            })
            .await
    }

    async fn read<T, F>(&self, op: &'static str, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection, &str, i64) -> Result<T, QueueError> + Send + 'static,
    {
        let queue = self.inner.name.clone();
        self.inner
            .db
            .read(op, move |conn, now| f(conn, &queue, now))
            .await
    }

    async fn receive_via(
        &self,
        max: usize,
        wait: Duration,
        target: Target,
        session: Option<(String, String)>,
    ) -> Result<Vec<Delivery>, QueueError> {
        check_max(max)?;
        let dead_letters = matches!(target, Target::DeadLetter);
        let found = wait::wait_for(
            &self.inner.db,
            &self.inner.notify,
            &self.inner.name,
            target,
            wait,
            || {
                let session = session.clone();
                self.write("receive", move |conn, queue, config, now| {
                    let via = match &session {
                        Some((id, token)) => Via::Session { id, token },
                        None if dead_letters => Via::DeadLetter,
                        None => Via::Queue,
                    };
                    let got = ops::receive(conn, queue, config, now, max, via)?;
                    Ok((!got.is_empty()).then_some(got))
                })
            },
        )
        .await?;
        Ok(found.unwrap_or_default())
    }

    /// Whether a receive on `target` could take something now (a read).
    async fn probe(&self, target: &Target) -> Result<bool, QueueError> {
        let target = target.clone();
        self.read("probe", move |conn, queue, now| {
            ops::probe(conn, queue, now, &target).map(|p| p.ready)
        })
        .await
    }

    async fn settle_via(
        &self,
        delivery: &Delivery,
        action: Settle,
        session: Option<(String, String)>,
        dead_letters: bool,
    ) -> Result<(), QueueError> {
        let lock = LockRef::of(delivery);
        let op = match action {
            Settle::Complete => "complete",
            Settle::Abandon(_) => "abandon",
            Settle::DeadLetter { .. } => "dead-letter",
            Settle::Defer => "defer",
        };
        let woke = self
            .write(op, move |conn, queue, config, now| {
                let via = match &session {
                    Some((id, token)) => Via::Session { id, token },
                    None if dead_letters => Via::DeadLetter,
                    None => Via::Queue,
                };
                ops::settle(conn, queue, config, now, &lock, action, via)
            })
            .await?;
        if woke {
            self.wake();
        }
        Ok(())
    }

    async fn receive_deferred_via(
        &self,
        sequence_numbers: &[i64],
        session: Option<(String, String)>,
    ) -> Result<Vec<Delivery>, QueueError> {
        let seqs = sequence_numbers.to_vec();
        self.write("receive deferred", move |conn, queue, config, now| {
            let via = match &session {
                Some((id, token)) => Via::Session { id, token },
                None => Via::Queue,
            };
            ops::receive_deferred(conn, queue, config, now, &seqs, via)
        })
        .await?
    }

    fn session_receiver(
        &self,
        session_id: String,
        token: String,
        until: i64,
        prefetched: Vec<Delivery>,
    ) -> Result<Box<dyn SessionReceiver>, QueueError> {
        Ok(Box::new(SqliteSessionReceiver {
            queue: self.clone(),
            session_id,
            token,
            locked_until: Mutex::new(instant(until)?),
            closed: AtomicBool::new(false),
            prefetched: Mutex::new(prefetched),
            release_when_drained: AtomicBool::new(false),
            released: AtomicBool::new(false),
        }))
    }
}

#[async_trait]
impl QueueSender for SqliteQueue {
    fn queue_name(&self) -> &str {
        &self.inner.name
    }

    async fn send(&self, message: OutgoingMessage) -> Result<(), QueueError> {
        self.send_batch(vec![message]).await
    }

    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let visible = self
            .write("send", move |conn, queue, config, now| {
                ops::send(conn, queue, config, &messages, now)
            })
            .await?;
        if visible > 0 {
            self.wake();
        }
        Ok(())
    }

    async fn send_dead_letter(
        &self,
        message: OutgoingMessage,
        reason: &str,
        description: &str,
    ) -> Result<(), QueueError> {
        let (reason, description) = (reason.to_string(), description.to_string());
        self.write("send", move |conn, queue, config, now| {
            ops::send_dead_letter(conn, queue, config, &message, &reason, &description, now)
        })
        .await?;
        // Dead-letter receivers wait on the same signal.
        self.wake();
        Ok(())
    }
}

#[async_trait]
impl QueueReceiver for SqliteQueue {
    fn queue_name(&self) -> &str {
        &self.inner.name
    }

    fn concurrent_accepts(&self) -> usize {
        self.inner.db.options().concurrent_accepts.max(1)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.receive_via(max, wait, Target::Queue, None).await
    }

    async fn receive_deferred(
        &self,
        sequence_numbers: &[i64],
    ) -> Result<Vec<Delivery>, QueueError> {
        self.receive_deferred_via(sequence_numbers, None).await
    }

    async fn peek(
        &self,
        from_sequence_number: i64,
        max: usize,
    ) -> Result<Vec<Message>, QueueError> {
        check_max(max)?;
        self.read("peek", move |conn, queue, _| {
            ops::peek(conn, queue, from_sequence_number, max, false)
        })
        .await
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.settle_via(delivery, Settle::Complete, None, false)
            .await
    }

    async fn abandon(
        &self,
        delivery: &Delivery,
        properties_to_modify: Option<Properties>,
    ) -> Result<(), QueueError> {
        self.settle_via(delivery, Settle::Abandon(properties_to_modify), None, false)
            .await
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        reason: &str,
        description: &str,
    ) -> Result<(), QueueError> {
        let action = Settle::DeadLetter {
            reason: reason.to_owned(),
            description: description.to_owned(),
        };
        self.settle_via(delivery, action, None, false).await
    }

    async fn defer(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.settle_via(delivery, Settle::Defer, None, false).await
    }

    async fn renew_lock(&self, delivery: &Delivery) -> Result<OffsetDateTime, QueueError> {
        let lock = LockRef::of(delivery);
        let until = self
            .write("renew lock", move |conn, queue, config, now| {
                ops::renew_lock(conn, queue, config, now, &lock, Via::Queue)
            })
            .await?;
        instant(until)
    }

    async fn accept_next_session(
        &self,
        wait: Duration,
    ) -> Result<Option<Box<dyn SessionReceiver>>, QueueError> {
        let found = wait::wait_for(
            &self.inner.db,
            &self.inner.notify,
            &self.inner.name,
            Target::AnySession,
            wait,
            || {
                self.write("accept session", |conn, queue, config, now| {
                    ops::accept_next_session(conn, queue, config, now)
                })
            },
        )
        .await?;
        found
            .map(|(id, token, until, first)| {
                self.session_receiver(id, token, until, first.into_iter().collect())
            })
            .transpose()
    }

    async fn accept_session(
        &self,
        session_id: &str,
    ) -> Result<Box<dyn SessionReceiver>, QueueError> {
        let id = session_id.to_owned();
        let (token, until) = self
            .write("accept session", move |conn, queue, config, now| {
                ops::accept_session(conn, queue, config, now, &id)
            })
            .await?;
        self.session_receiver(session_id.to_owned(), token, until, Vec::new())
    }

    async fn runtime_properties(&self) -> Result<QueueRuntimeProperties, QueueError> {
        self.read("runtime properties", |conn, queue, now| {
            ops::runtime_properties(conn, queue, now)
        })
        .await
    }
}

/// The dead-letter queue of a [`SqliteQueue`].
#[derive(Clone, Debug)]
pub struct SqliteDeadLetterQueue {
    queue: SqliteQueue,
}

#[async_trait]
impl DeadLetterQueue for SqliteDeadLetterQueue {
    fn queue_name(&self) -> &str {
        self.queue.name()
    }

    async fn peek(
        &self,
        from_sequence_number: i64,
        max: usize,
    ) -> Result<Vec<Message>, QueueError> {
        check_max(max)?;
        self.queue
            .read("peek dead letters", move |conn, queue, _| {
                ops::peek(conn, queue, from_sequence_number, max, true)
            })
            .await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.queue
            .receive_via(max, wait, Target::DeadLetter, None)
            .await
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.queue
            .settle_via(delivery, Settle::Complete, None, true)
            .await
    }

    async fn abandon(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.queue
            .settle_via(delivery, Settle::Abandon(None), None, true)
            .await
    }

    async fn resubmit(&self, sequence_number: i64) -> Result<String, QueueError> {
        let id = self
            .queue
            .write("resubmit", move |conn, queue, config, now| {
                ops::resubmit(conn, queue, config, now, sequence_number, None)
            })
            .await?;
        self.queue.wake();
        Ok(id)
    }

    async fn resubmit_delivery(&self, delivery: &Delivery) -> Result<String, QueueError> {
        let lock = LockRef::of(delivery);
        let id = self
            .queue
            .write("resubmit", move |conn, queue, config, now| {
                ops::resubmit(conn, queue, config, now, lock.seq, Some(&lock))
            })
            .await?;
        self.queue.wake();
        Ok(id)
    }

    async fn purge(&self) -> Result<u64, QueueError> {
        self.queue
            .write("purge", |conn, queue, _, _| {
                ops::purge_dead_letters(conn, queue)
            })
            .await
    }
}

/// A lock on one session of a [`SqliteQueue`].
pub struct SqliteSessionReceiver {
    queue: SqliteQueue,
    session_id: String,
    token: String,
    locked_until: Mutex<OffsetDateTime>,
    closed: AtomicBool,
    /// Messages the accept locked with the session and no receive has returned yet, oldest
    /// first.
    prefetched: Mutex<Vec<Delivery>>,
    /// The consumer's hint ([`SessionReceiver::release_when_drained`]).
    release_when_drained: AtomicBool,
    /// A completion gave the session up (nothing was left in it).
    released: AtomicBool,
}

impl fmt::Debug for SqliteSessionReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteSessionReceiver")
            .field("queue", &self.queue.name())
            .field("session_id", &self.session_id)
            .field("locked_until", &self.locked_until())
            .finish_non_exhaustive()
    }
}

impl SqliteSessionReceiver {
    fn session(&self) -> Option<(String, String)> {
        Some((self.session_id.clone(), self.token.clone()))
    }

    /// Up to `max` prefetched messages, oldest first.
    fn take_prefetched(&self, max: usize) -> Vec<Delivery> {
        let mut prefetched = self
            .prefetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let n = max.min(prefetched.len());
        prefetched.drain(..n).collect()
    }

    /// Sequence numbers of the prefetched messages never returned (released on close).
    fn unreturned(&self) -> Vec<i64> {
        self.take_prefetched(usize::MAX)
            .iter()
            .map(|d| d.message.sequence_number)
            .collect()
    }
}

#[async_trait]
impl SessionReceiver for SqliteSessionReceiver {
    fn session_id(&self) -> &str {
        &self.session_id
    }

    fn locked_until(&self) -> OffsetDateTime {
        *self
            .locked_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        check_max(max)?;
        if self.released.load(Ordering::SeqCst) {
            // Given up by the completion that left it empty: nothing is ours to take.
            return Ok(Vec::new());
        }
        let target = Target::Session(self.session_id.clone());
        let mut got = self.take_prefetched(max);
        if !got.is_empty() {
            // What the accept locked comes first; the rest of `max` only if already there.
            if got.len() < max {
                let more = self
                    .queue
                    .receive_via(max - got.len(), Duration::ZERO, target, self.session())
                    .await?;
                got.extend(more);
            }
            return Ok(got);
        }
        let lock_held = {
            let until = self.locked_until();
            let now_ms = self.queue.inner.db.clock().now_ms();
            until.unix_timestamp_nanos() / 1_000_000 > i128::from(now_ms)
        };
        if wait.is_zero() && lock_held && !self.queue.probe(&target).await? {
            // Nothing to take now and no waiting asked for: a read answers that, without the
            // write lock every process contends for (a consumer asks this after each message
            // it settles, to see whether the call has another). With the lock expired the
            // receive goes on, to report it lost.
            return Ok(Vec::new());
        }
        self.queue
            .receive_via(max, wait, target, self.session())
            .await
    }

    async fn receive_deferred(
        &self,
        sequence_numbers: &[i64],
    ) -> Result<Vec<Delivery>, QueueError> {
        self.queue
            .receive_deferred_via(sequence_numbers, self.session())
            .await
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let prefetched_none = self
            .prefetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty();
        if !(self.release_when_drained.load(Ordering::SeqCst) && prefetched_none) {
            return self
                .queue
                .settle_via(delivery, Settle::Complete, self.session(), false)
                .await;
        }
        // One transaction for the completion and what the consumer does next anyway (a
        // receive, then a close when it finds nothing).
        let lock = LockRef::of(delivery);
        let (id, token) = (self.session_id.clone(), self.token.clone());
        let after = self
            .queue
            .write("complete", move |conn, queue, config, now| {
                ops::complete_then_next_or_release(conn, queue, config, now, &lock, &id, &token)
            })
            .await?;
        match after {
            ops::AfterComplete::Next(next) => self
                .prefetched
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(*next),
            ops::AfterComplete::Released(woke) => {
                self.released.store(true, Ordering::SeqCst);
                self.closed.store(true, Ordering::SeqCst);
                if woke {
                    self.queue.wake();
                }
            }
        }
        Ok(())
    }

    async fn abandon(
        &self,
        delivery: &Delivery,
        properties_to_modify: Option<Properties>,
    ) -> Result<(), QueueError> {
        self.queue
            .settle_via(
                delivery,
                Settle::Abandon(properties_to_modify),
                self.session(),
                false,
            )
            .await
    }

    fn release_when_drained(&self) {
        self.release_when_drained.store(true, Ordering::SeqCst);
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        reason: &str,
        description: &str,
    ) -> Result<(), QueueError> {
        let action = Settle::DeadLetter {
            reason: reason.to_owned(),
            description: description.to_owned(),
        };
        self.queue
            .settle_via(delivery, action, self.session(), false)
            .await
    }

    async fn defer(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.queue
            .settle_via(delivery, Settle::Defer, self.session(), false)
            .await
    }

    async fn renew_session_lock(&self) -> Result<OffsetDateTime, QueueError> {
        let (id, token) = (self.session_id.clone(), self.token.clone());
        let until = self
            .queue
            .write("renew session lock", move |conn, queue, config, now| {
                ops::renew_session(conn, queue, config, now, &id, &token)
            })
            .await?;
        let until = instant(until)?;
        *self
            .locked_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = until;
        Ok(until)
    }

    async fn session_state(&self) -> Result<Option<Bytes>, QueueError> {
        let (id, token) = (self.session_id.clone(), self.token.clone());
        let state = self
            .queue
            .read("session state", move |conn, queue, now| {
                ops::session_state(conn, queue, now, &id, &token)
            })
            .await?;
        Ok(state.map(Bytes::from))
    }

    async fn set_session_state(&self, state: Option<Bytes>) -> Result<(), QueueError> {
        let (id, token) = (self.session_id.clone(), self.token.clone());
        self.queue
            .write("set session state", move |conn, queue, _, now| {
                ops::set_session_state(conn, queue, now, &id, &token, state.as_deref())
            })
            .await
    }

    async fn close(self: Box<Self>) -> Result<(), QueueError> {
        if self.released.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.closed.store(true, Ordering::SeqCst);
        let (id, token) = (self.session_id.clone(), self.token.clone());
        let unreturned = self.unreturned();
        let released = self
            .queue
            .write("close session", move |conn, queue, config, _| {
                ops::close_session(conn, queue, config, &id, &token, &unreturned)
            })
            .await?;
        if released {
            self.queue.wake();
        }
        Ok(())
    }
}

impl Drop for SqliteSessionReceiver {
    /// Best-effort release when dropped without `close`, so the session does not sit locked
    /// until expiry. Without a Tokio runtime the lock simply expires.
    fn drop(&mut self) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let queue = self.queue.clone();
        let (id, token) = (self.session_id.clone(), self.token.clone());
        let unreturned = self.unreturned();
        runtime.spawn(async move {
            let result = queue
                .write("close session", move |conn, q, config, _| {
                    ops::close_session(conn, q, config, &id, &token, &unreturned)
                })
                .await;
            match result {
                Ok(true) => queue.wake(),
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "releasing a dropped session lock failed"),
            }
        });
    }
}

#[cfg(test)]
mod tests;
