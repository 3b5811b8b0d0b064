//! The queue's state transitions, each a synchronous function run inside one
//! `BEGIN IMMEDIATE` transaction by [`super::db::Db::write`] (or a read transaction for peeks
//! and probes). `now` is Unix milliseconds, read after the write lock was taken.
//!
//! # Time-driven transitions are lazy
//! Nothing runs in the background. Every receiving transaction first calls [`sweep`], which
//! applies what time made true since the last one: scheduled messages become active; expired
//! locks are released (or, at the delivery limit, the message is dead-lettered with
//! `MaxDeliveryCountExceeded`); unlocked messages past their time-to-live are dead-lettered
//! (`TTLExpiredException`) or dropped. So correctness never depends on a timer firing, a crashed
//! process leaves nothing to clean up, and every process agrees on what a lock means because
//! the rule is "expired means `locked_until <= now`".
//!
//! # Locks
//! A message is locked when `lock_token` is set and `locked_until_ms > now`. A session message's
//! lock also records the session lock it was taken under (`session_lock`), and its
//! `locked_until_ms` moves with the session lock (renewal updates both), so when a session lock
//! ends every message lock of that session ends at the same instant.

use std::collections::HashSet;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use crate::clock::duration_ms;
use crate::config::QueueConfig;
use crate::error::QueueError;
use crate::message::{
    max_delivery_description, resubmitted_message_id, Delivery, Message, OutgoingMessage,
    Properties, PropertyValue, DESCRIPTION_TTL_EXPIRED, MAX_ID_LEN,
    REASON_MAX_DELIVERY_COUNT_EXCEEDED, REASON_TTL_EXPIRED, RESUBMITTED_FROM_PROPERTY,
};
use crate::port::QueueRuntimeProperties;

use super::codec::{
    decode_config, decode_properties, encode_properties, RawMessage, MESSAGE_COLUMNS, STATE_ACTIVE,
    STATE_DEAD_LETTERED, STATE_DEFERRED, STATE_SCHEDULED,
};
use super::db::SqlResultExt;

/// Which receiver a receive or settle goes through.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Via<'a> {
    /// A non-session receiver of the queue.
    Queue,
    /// A session receiver holding `token` on session `id`.
    Session { id: &'a str, token: &'a str },
    /// The dead-letter queue.
    DeadLetter,
}

/// What to do with a locked message.
#[derive(Clone, Debug)]
pub(crate) enum Settle {
    Complete,
    Abandon(Option<Properties>),
    DeadLetter { reason: String, description: String },
    Defer,
}

/// The parts of a [`Delivery`] settlement needs (cheap to move into a blocking task).
#[derive(Clone, Debug)]
pub(crate) struct LockRef {
    pub queue: String,
    pub seq: i64,
    pub token: String,
}

impl LockRef {
    pub(crate) fn of(d: &Delivery) -> Self {
        Self {
            queue: d.queue.clone(),
            seq: d.sequence_number,
            token: d.lock_token.to_string(),
        }
    }
}

fn lock_lost(queue: &str, seq: i64) -> QueueError {
    QueueError::LockLost {
        queue: queue.to_owned(),
        sequence_number: seq,
    }
}

fn session_lock_lost(queue: &str, id: &str) -> QueueError {
    QueueError::SessionLockLost {
        queue: queue.to_owned(),
        session_id: id.to_owned(),
    }
}

fn not_found(queue: &str, seq: i64) -> QueueError {
    QueueError::MessageNotFound {
        queue: queue.to_owned(),
        sequence_number: seq,
    }
}

// ---------------------------------------------------------------------------------------------
// Queues

/// The queue's properties, or `QueueNotFound`.
pub(crate) fn load_config(conn: &Connection, queue: &str) -> Result<QueueConfig, QueueError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT config FROM sbq_queues WHERE name = ?1")
        .and_then(|mut s| s.query_row([queue], |r| r.get(0)).optional())
        .op("load queue")?;
    let text = text.ok_or_else(|| QueueError::QueueNotFound {
        queue: queue.to_owned(),
    })?;
    // Every receive, send and settle reads its queue's properties (another process may have
    // changed them), but they rarely change: the text last decoded on this thread is kept
    // with its decoding, and text equal to it is not decoded again.
    thread_local! {
        static DECODED: std::cell::RefCell<Vec<(String, String, QueueConfig)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let hit = DECODED.with_borrow(|seen| {
        seen.iter()
            .find(|(q, t, _)| q == queue && *t == text)
            .map(|(_, _, config)| config.clone())
    });
    if let Some(config) = hit {
        return Ok(config);
    }
    let config = decode_config(&text)
        .map_err(|e| QueueError::corrupt("load queue", format!("{queue:?}: {e}")))?;
    DECODED.with_borrow_mut(|seen| {
        seen.retain(|(q, _, _)| q != queue);
        // A handful of queues per process; bounded all the same.
        if seen.len() >= 16 {
            seen.remove(0);
        }
        seen.push((queue.to_owned(), text, config.clone()));
    });
    Ok(config)
}

/// Creates the queue. `replace`: update the properties of an existing queue (all but
/// `requires_session`) instead of failing with `QueueExists`.
pub(crate) fn create_queue(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    replace: bool,
    now: i64,
) -> Result<(), QueueError> {
    match load_config(conn, queue) {
        Ok(existing) => {
            if !replace {
                return Err(QueueError::QueueExists {
                    queue: queue.to_owned(),
                });
            }
            if existing.requires_session != config.requires_session {
                return Err(QueueError::invalid_operation(format!(
                    "queue {queue:?} exists with requires_session = {}; it cannot change",
                    existing.requires_session
                )));
            }
            if existing != *config {
                conn.execute(
                    "UPDATE sbq_queues SET config = ?2 WHERE name = ?1",
                    params![queue, super::codec::encode_config(config)],
                )
                .op("update queue")?;
            }
            Ok(())
        }
        Err(QueueError::QueueNotFound { .. }) => {
            conn.execute(
                "INSERT INTO sbq_queues (name, config, created_ms) VALUES (?1, ?2, ?3)",
                params![queue, super::codec::encode_config(config), now],
            )
            .op("create queue")?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Deletes the queue and everything in it. `false` if it did not exist.
pub(crate) fn delete_queue(conn: &Connection, queue: &str) -> Result<bool, QueueError> {
    let n = conn
        .execute("DELETE FROM sbq_queues WHERE name = ?1", [queue])
        .op("delete queue")?;
    for sql in [
        "DELETE FROM sbq_messages WHERE queue = ?1",
        "DELETE FROM sbq_sessions WHERE queue = ?1",
        "DELETE FROM sbq_dedupe WHERE queue = ?1",
    ] {
        conn.execute(sql, [queue]).op("delete queue")?;
    }
    Ok(n > 0)
}

pub(crate) fn list_queues(conn: &Connection) -> Result<Vec<String>, QueueError> {
    let mut stmt = conn
        .prepare("SELECT name FROM sbq_queues ORDER BY name")
        .op("list queues")?;
    let names = stmt
        .query_map([], |r| r.get(0))
        .op("list queues")?
        .collect::<rusqlite::Result<Vec<String>>>()
        .op("list queues")?;
    Ok(names)
}

// ---------------------------------------------------------------------------------------------
// Time-driven transitions

/// Applies every transition time has made due (see the module docs). Idempotent.
pub(crate) fn sweep(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    now: i64,
) -> Result<(), QueueError> {
    const OP: &str = "sweep";
    conn.prepare_cached(
        "UPDATE sbq_messages SET state = 0 WHERE queue = ?1 AND state = 3 AND enqueued_ms <= ?2",
    )
    .and_then(|mut s| s.execute(params![queue, now]))
    .op(OP)?;

    // Locks that expired: the delivery that held them failed. At the limit, dead-letter;
    // otherwise make the message receivable again (its count was raised when it was locked).
    // (`+state`: keeps SQLite on the small lock index instead of scanning every active row.)
    conn.prepare_cached(
        "UPDATE sbq_messages SET state = 2, dl_reason = ?3, dl_description = ?4,
             lock_token = NULL, locked_until_ms = NULL, session_lock = NULL
         WHERE queue = ?1 AND lock_token IS NOT NULL AND locked_until_ms <= ?2
           AND delivery_count >= ?5 AND +state IN (0, 1)",
    )
    .and_then(|mut s| {
        s.execute(params![
            queue,
            now,
            REASON_MAX_DELIVERY_COUNT_EXCEEDED,
            max_delivery_description(config.max_delivery_count),
            config.max_delivery_count
        ])
    })
    .op(OP)?;
    conn.prepare_cached(
        "UPDATE sbq_messages SET lock_token = NULL, locked_until_ms = NULL, session_lock = NULL
         WHERE queue = ?1 AND lock_token IS NOT NULL AND locked_until_ms <= ?2",
    )
    .and_then(|mut s| s.execute(params![queue, now]))
    .op(OP)?;

    // Time-to-live applies to unlocked active messages only: a receiver holding a lock may
    // still complete an expired message (as on Service Bus); deferred ones are checked when
    // received by sequence number; dead letters never expire.
    if config.dead_lettering_on_message_expiration {
        conn.prepare_cached(
            "UPDATE sbq_messages SET state = 2, dl_reason = ?3, dl_description = ?4
             WHERE queue = ?1 AND state = 0 AND expires_ms <= ?2 AND lock_token IS NULL",
        )
        .and_then(|mut s| {
            s.execute(params![
                queue,
                now,
                REASON_TTL_EXPIRED,
                DESCRIPTION_TTL_EXPIRED
            ])
        })
        .op(OP)?;
    } else {
        conn.prepare_cached(
            "DELETE FROM sbq_messages
             WHERE queue = ?1 AND state = 0 AND expires_ms <= ?2 AND lock_token IS NULL",
        )
        .and_then(|mut s| s.execute(params![queue, now]))
        .op(OP)?;
    }
    Ok(())
}

/// Expires one message now (dead-letter or drop, per the queue).
fn expire_one(conn: &Connection, config: &QueueConfig, seq: i64) -> Result<(), QueueError> {
    if config.dead_lettering_on_message_expiration {
        conn.execute(
            "UPDATE sbq_messages SET state = 2, dl_reason = ?2, dl_description = ?3,
                 lock_token = NULL, locked_until_ms = NULL, session_lock = NULL
             WHERE seq = ?1",
            params![seq, REASON_TTL_EXPIRED, DESCRIPTION_TTL_EXPIRED],
        )
        .op("expire")?;
    } else {
        conn.execute("DELETE FROM sbq_messages WHERE seq = ?1", [seq])
            .op("expire")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Send

fn validate_id(what: &str, id: &str) -> Result<(), QueueError> {
    let len = id.chars().count();
    if len == 0 || len > MAX_ID_LEN {
        return Err(QueueError::invalid_argument(format!(
            "{what} must be 1 to {MAX_ID_LEN} characters, got {len}"
        )));
    }
    Ok(())
}

pub(crate) fn validate_session_id(id: &str) -> Result<(), QueueError> {
    validate_id("session_id", id)
}

fn validate_outgoing(m: &OutgoingMessage, config: &QueueConfig) -> Result<(), QueueError> {
    validate_id("message_id", &m.message_id)?;
    match &m.session_id {
        Some(s) => validate_session_id(s)?,
        None if config.requires_session => {
            return Err(QueueError::invalid_argument(format!(
                "message {:?} has no session_id, and the queue requires sessions",
                m.message_id
            )))
        }
        None => {}
    }
    if let Some(c) = &m.correlation_id {
        if c.chars().count() > MAX_ID_LEN {
            return Err(QueueError::invalid_argument(format!(
                "correlation_id must be at most {MAX_ID_LEN} characters"
            )));
        }
    }
    if m.time_to_live == Some(Duration::ZERO) {
        return Err(QueueError::invalid_argument(
            "time_to_live must be positive",
        ));
    }
    let size = m.size();
    if size > config.max_message_size {
        return Err(QueueError::MessageTooLarge {
            size,
            max: config.max_message_size,
        });
    }
    Ok(())
}

/// Sends a batch atomically. Returns how many became receivable at once (not scheduled, not
/// dropped as duplicates), so the caller knows whether to wake receivers.
pub(crate) fn send(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    messages: &[OutgoingMessage],
    now: i64,
) -> Result<usize, QueueError> {
    for m in messages {
        validate_outgoing(m, config)?;
    }
    let total: usize = messages.iter().map(OutgoingMessage::size).sum();
    if total > config.max_message_size {
        return Err(QueueError::MessageTooLarge {
            size: total,
            max: config.max_message_size,
        });
    }
    if let Some(window) = config.duplicate_detection_window {
        conn.prepare_cached("DELETE FROM sbq_dedupe WHERE queue = ?1 AND sent_ms <= ?2")
            .and_then(|mut s| s.execute(params![queue, now.saturating_sub(duration_ms(window))]))
            .op("send")?;
    }
    let mut visible = 0;
    for m in messages {
        if let Some((_, true)) = insert(conn, queue, config, m, now)? {
            visible += 1;
        }
    }
    Ok(visible)
}

/// Inserts a message directly as a dead letter (see
/// [`crate::QueueSender::send_dead_letter`]): no duplicate detection, no schedule, no TTL.
pub(crate) fn send_dead_letter(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    m: &OutgoingMessage,
    reason: &str,
    description: &str,
    now: i64,
) -> Result<(), QueueError> {
    validate_outgoing(m, config)?;
    conn.prepare_cached(
        "INSERT INTO sbq_messages (queue, state, message_id, session_id, correlation_id,
             content_type, subject, properties, body, enqueued_ms, dl_reason, dl_description)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut s| {
        s.execute(params![
            queue,
            STATE_DEAD_LETTERED,
            m.message_id,
            m.session_id,
            m.correlation_id,
            m.content_type,
            m.subject,
            encode_properties(&m.application_properties),
            &m.body[..],
            now,
            reason,
            description
        ])
    })
    .op("send")?;
    Ok(())
}

/// Inserts one validated message. `None` if duplicate detection dropped it; otherwise its
/// sequence number and whether it is receivable now. Callers have already purged the dedupe
/// history outside the window.
fn insert(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    m: &OutgoingMessage,
    now: i64,
) -> Result<Option<(i64, bool)>, QueueError> {
    const OP: &str = "send";
    if config.duplicate_detection_window.is_some() {
        let seen = conn
            .prepare_cached("SELECT 1 FROM sbq_dedupe WHERE queue = ?1 AND message_id = ?2")
            .and_then(|mut s| s.exists(params![queue, m.message_id]))
            .op(OP)?;
        if seen {
            tracing::debug!(queue, message_id = %m.message_id, "duplicate message dropped");
            return Ok(None);
        }
        conn.prepare_cached(
            "INSERT INTO sbq_dedupe (queue, message_id, sent_ms) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut s| s.execute(params![queue, m.message_id, now]))
        .op(OP)?;
    }
    let scheduled_ms = m.scheduled_enqueue_time.map(crate::clock::to_unix_ms);
    let enqueued_ms = scheduled_ms.filter(|&t| t > now).unwrap_or(now);
    let state = if enqueued_ms > now {
        STATE_SCHEDULED
    } else {
        STATE_ACTIVE
    };
    let ttl = match (m.time_to_live, config.default_message_time_to_live) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let ttl_ms = ttl.map(|t| duration_ms(t).max(1));
    let expires_ms = ttl_ms.map(|t| enqueued_ms.saturating_add(t));
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO sbq_messages (queue, state, message_id, session_id, correlation_id,
                 content_type, subject, properties, body, enqueued_ms, scheduled_ms, ttl_ms,
                 expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             RETURNING seq",
        )
        .and_then(|mut s| {
            s.query_row(
                params![
                    queue,
                    state,
                    m.message_id,
                    m.session_id,
                    m.correlation_id,
                    m.content_type,
                    m.subject,
                    encode_properties(&m.application_properties),
                    &m.body[..],
                    enqueued_ms,
                    scheduled_ms,
                    ttl_ms,
                    expires_ms
                ],
                |r| r.get(0),
            )
        })
        .op(OP)?;
    Ok(Some((seq, state == STATE_ACTIVE)))
}

// ---------------------------------------------------------------------------------------------
// Receive

/// The session lock's expiry if `token` still holds session `id`, else `SessionLockLost`.
pub(crate) fn check_session_lock(
    conn: &Connection,
    queue: &str,
    id: &str,
    token: &str,
    now: i64,
) -> Result<i64, QueueError> {
    let until: Option<Option<i64>> = conn
        .prepare_cached(
            "SELECT locked_until_ms FROM sbq_sessions
             WHERE queue = ?1 AND session_id = ?2 AND lock_token = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![queue, id, token], |r| r.get(0))
                .optional()
        })
        .op("check session lock")?;
    match until.flatten() {
        Some(until) if until > now => Ok(until),
        _ => Err(session_lock_lost(queue, id)),
    }
}

/// Locks one message for a delivery and returns it.
fn lock_message(
    conn: &Connection,
    seq: i64,
    locked_until: i64,
    session_lock: Option<&str>,
) -> Result<Delivery, QueueError> {
    let token = Uuid::new_v4().to_string();
    let raw = conn
        .prepare_cached(&format!(
            "UPDATE sbq_messages
             SET lock_token = ?2, locked_until_ms = ?3, session_lock = ?4,
                 delivery_count = delivery_count + 1
             WHERE seq = ?1
             RETURNING {MESSAGE_COLUMNS}"
        ))
        .and_then(|mut s| {
            s.query_row(
                params![seq, token, locked_until, session_lock],
                RawMessage::from_row,
            )
        })
        .op("lock message")?;
    raw.into_delivery()
}

/// Peek-lock receive of up to `max` messages through `via`.
pub(crate) fn receive(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    now: i64,
    max: usize,
    via: Via<'_>,
) -> Result<Vec<Delivery>, QueueError> {
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    let (seqs, locked_until, session_lock) = match via {
        Via::Queue => {
            if config.requires_session {
                return Err(QueueError::invalid_operation(format!(
                    "queue {queue:?} requires sessions: accept a session to receive"
                )));
            }
            sweep(conn, queue, config, now)?;
            let seqs = select_seqs(
                conn,
                "SELECT seq FROM sbq_messages
                 WHERE queue = ?1 AND state = 0 AND lock_token IS NULL ORDER BY seq LIMIT ?2",
                params![queue, limit],
            )?;
            (
                seqs,
                now.saturating_add(duration_ms(config.lock_duration)),
                None,
            )
        }
        Via::Session { id, token } => {
            let until = check_session_lock(conn, queue, id, token, now)?;
            sweep(conn, queue, config, now)?;
            let seqs = select_seqs(
                conn,
                "SELECT seq FROM sbq_messages
                 WHERE queue = ?1 AND session_id = ?3 AND state = 0 AND lock_token IS NULL
                 ORDER BY seq LIMIT ?2",
                params![queue, limit, id],
            )?;
            (seqs, until, Some(token))
        }
        Via::DeadLetter => {
            sweep(conn, queue, config, now)?;
            let seqs = select_seqs(
                conn,
                "SELECT seq FROM sbq_messages
                 WHERE queue = ?1 AND state = 2 AND lock_token IS NULL ORDER BY seq LIMIT ?2",
                params![queue, limit],
            )?;
            (
                seqs,
                now.saturating_add(duration_ms(config.lock_duration)),
                None,
            )
        }
    };
    seqs.into_iter()
        .map(|seq| lock_message(conn, seq, locked_until, session_lock))
        .collect()
}

fn select_seqs(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<i64>, QueueError> {
    let mut stmt = conn.prepare_cached(sql).op("receive")?;
    let seqs = stmt
        .query_map(params, |r| r.get(0))
        .op("receive")?
        .collect::<rusqlite::Result<Vec<i64>>>()
        .op("receive")?;
    Ok(seqs)
}

/// Receives deferred messages by sequence number. The outer error aborts (rolls back); the
/// inner one is the answer after committing (expired deferred messages found on the way are
/// dead-lettered or dropped even when the call then reports them not found).
pub(crate) fn receive_deferred(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    now: i64,
    sequence_numbers: &[i64],
    via: Via<'_>,
) -> Result<Result<Vec<Delivery>, QueueError>, QueueError> {
    let (locked_until, session) = match via {
        Via::Queue => {
            if config.requires_session {
                return Err(QueueError::invalid_operation(format!(
                    "queue {queue:?} requires sessions: receive deferred session messages through the session receiver"
                )));
            }
            (now.saturating_add(duration_ms(config.lock_duration)), None)
        }
        Via::Session { id, token } => (
            check_session_lock(conn, queue, id, token, now)?,
            Some((id, token)),
        ),
        Via::DeadLetter => {
            return Err(QueueError::invalid_operation(
                "dead letters cannot be deferred",
            ))
        }
    };
    sweep(conn, queue, config, now)?;
    let mut seen = HashSet::new();
    let wanted: Vec<i64> = sequence_numbers
        .iter()
        .copied()
        .filter(|s| seen.insert(*s))
        .collect();
    let mut first_error = None;
    for &seq in &wanted {
        // (state, session_id, lock_token, expires_ms)
        type Row = (i64, Option<String>, Option<String>, Option<i64>);
        let row: Option<Row> = conn
            .prepare_cached(
                "SELECT state, session_id, lock_token, expires_ms FROM sbq_messages
                 WHERE queue = ?1 AND seq = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![queue, seq], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
            })
            .op("receive deferred")?;
        let problem = match row {
            None => Some(not_found(queue, seq)),
            Some((state, _, _, _)) if state != STATE_DEFERRED => Some(not_found(queue, seq)),
            Some((_, session_id, _, _))
                if session.is_some_and(|(id, _)| session_id.as_deref() != Some(id)) =>
            {
                Some(not_found(queue, seq))
            }
            Some((_, _, _, Some(expires))) if expires <= now => {
                expire_one(conn, config, seq)?;
                Some(not_found(queue, seq))
            }
            // The sweep released every expired lock, so a lock here is live. Service Bus
            // reports this as MessageNotFound too ("either the message is already locked or
            // does not exist"); doing the same keeps callers' handling backend-independent.
            Some((_, _, Some(_), _)) => Some(not_found(queue, seq)),
            Some(_) => None,
        };
        if let (Some(p), None) = (problem, &first_error) {
            first_error = Some(p);
        }
    }
    if let Some(e) = first_error {
        return Ok(Err(e));
    }
    let session_lock = session.map(|(_, token)| token);
    let deliveries = wanted
        .into_iter()
        .map(|seq| lock_message(conn, seq, locked_until, session_lock))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Ok(deliveries))
}

// ---------------------------------------------------------------------------------------------
// Settle

/// Checks the lock behind `lock` and returns the row's `(state, delivery_count, properties)`.
fn check_lock(
    conn: &Connection,
    queue: &str,
    now: i64,
    lock: &LockRef,
    via: Via<'_>,
) -> Result<(i64, i64, String), QueueError> {
    if lock.queue != queue {
        return Err(QueueError::invalid_operation(format!(
            "delivery of message {} belongs to queue {:?}, not {queue:?}",
            lock.seq, lock.queue
        )));
    }
    if let Via::Session { id, token } = via {
        check_session_lock(conn, queue, id, token, now)?;
    }
    type Row = (
        i64,
        i64,
        Option<String>,
        Option<i64>,
        Option<String>,
        String,
    );
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT state, delivery_count, lock_token, locked_until_ms, session_lock, properties
             FROM sbq_messages WHERE queue = ?1 AND seq = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![queue, lock.seq], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()
        })
        .op("check lock")?;
    let Some((state, count, token, until, session_lock, props)) = row else {
        return Err(lock_lost(queue, lock.seq));
    };
    let live = token.as_deref() == Some(lock.token.as_str()) && until.is_some_and(|u| u > now);
    if !live {
        return Err(lock_lost(queue, lock.seq));
    }
    match via {
        Via::DeadLetter if state != STATE_DEAD_LETTERED => {
            return Err(QueueError::invalid_operation(format!(
                "message {} is not a dead letter: settle it through its queue receiver",
                lock.seq
            )))
        }
        Via::Queue | Via::Session { .. } if state == STATE_DEAD_LETTERED => {
            return Err(QueueError::invalid_operation(format!(
                "message {} is a dead letter: settle it through the dead-letter queue",
                lock.seq
            )))
        }
        Via::Queue if session_lock.is_some() => {
            return Err(QueueError::invalid_operation(format!(
                "message {} was received through a session: settle it through that session receiver",
                lock.seq
            )))
        }
        Via::Session { token, .. } if session_lock.as_deref() != Some(token) => {
            return Err(lock_lost(queue, lock.seq))
        }
        _ => {}
    }
    Ok((state, count, props))
}

fn release(conn: &Connection, seq: i64, new_state: i64) -> Result<(), QueueError> {
    conn.prepare_cached(
        "UPDATE sbq_messages SET state = ?2, lock_token = NULL, locked_until_ms = NULL,
             session_lock = NULL
         WHERE seq = ?1",
    )
    .and_then(|mut s| s.execute(params![seq, new_state]))
    .op("settle")?;
    Ok(())
}

fn move_to_dead_letters(
    conn: &Connection,
    seq: i64,
    reason: &str,
    description: &str,
) -> Result<(), QueueError> {
    conn.prepare_cached(
        "UPDATE sbq_messages SET state = 2, dl_reason = ?2, dl_description = ?3,
             lock_token = NULL, locked_until_ms = NULL, session_lock = NULL
         WHERE seq = ?1",
    )
    .and_then(|mut s| s.execute(params![seq, reason, description]))
    .op("dead-letter")?;
    Ok(())
}

/// Settles a locked message. Returns whether a message became receivable (to wake waiters).
pub(crate) fn settle(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    now: i64,
    lock: &LockRef,
    action: Settle,
    via: Via<'_>,
) -> Result<bool, QueueError> {
    let (state, count, props) = check_lock(conn, queue, now, lock, via)?;
    let seq = lock.seq;
    match action {
        Settle::Complete => {
            conn.prepare_cached("DELETE FROM sbq_messages WHERE seq = ?1")
                .and_then(|mut s| s.execute([seq]))
                .op("complete")?;
            Ok(false)
        }
        Settle::Abandon(modify) => {
            if let Some(modify) = modify.filter(|m| !m.is_empty()) {
                let mut merged = decode_properties(&props)
                    .map_err(|e| QueueError::corrupt("abandon", format!("message {seq}: {e}")))?;
                merged.extend(modify);
                conn.prepare_cached("UPDATE sbq_messages SET properties = ?2 WHERE seq = ?1")
                    .and_then(|mut s| s.execute(params![seq, encode_properties(&merged)]))
                    .op("abandon")?;
            }
            let at_limit = count >= i64::from(config.max_delivery_count);
            if !matches!(via, Via::DeadLetter) && at_limit {
                move_to_dead_letters(
                    conn,
                    seq,
                    REASON_MAX_DELIVERY_COUNT_EXCEEDED,
                    &max_delivery_description(config.max_delivery_count),
                )?;
            } else {
                release(conn, seq, state)?;
            }
            Ok(true)
        }
        Settle::DeadLetter {
            reason,
            description,
        } => {
            if matches!(via, Via::DeadLetter) {
                return Err(QueueError::invalid_operation(
                    "a dead letter cannot be dead-lettered again",
                ));
            }
            move_to_dead_letters(conn, seq, &reason, &description)?;
            Ok(true)
        }
        Settle::Defer => {
            if matches!(via, Via::DeadLetter) {
                return Err(QueueError::invalid_operation(
                    "dead letters cannot be deferred",
                ));
            }
            release(conn, seq, STATE_DEFERRED)?;
            Ok(false)
        }
    }
}

/// What follows a session's completion when its consumer closes drained sessions.
pub(crate) enum AfterComplete {
    /// The session's next receivable message, locked under the session.
    Next(Box<Delivery>),
    /// None left: the session lock was given up; whether that made anything receivable.
    Released(bool),
}

/// Completes `lock` in session `id` and, in the same transaction, locks the session's next
/// receivable message or, with none, releases the session (see
/// [`crate::SessionReceiver::release_when_drained`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn complete_then_next_or_release(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    now: i64,
    lock: &LockRef,
    id: &str,
    token: &str,
) -> Result<AfterComplete, QueueError> {
    let via = Via::Session { id, token };
    settle(conn, queue, config, now, lock, Settle::Complete, via)?;
    let until = check_session_lock(conn, queue, id, token, now)?;
    match lock_first_in_session(conn, queue, id, until, token)? {
        Some(next) => Ok(AfterComplete::Next(Box::new(next))),
        None => close_session(conn, queue, config, id, token, &[]).map(AfterComplete::Released),
    }
}

/// Extends a (non-session) message lock; returns the new expiry.
pub(crate) fn renew_lock(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    now: i64,
    lock: &LockRef,
    via: Via<'_>,
) -> Result<i64, QueueError> {
    if lock.queue == queue {
        let is_session: Option<Option<String>> = conn
            .prepare_cached("SELECT session_lock FROM sbq_messages WHERE queue = ?1 AND seq = ?2")
            .and_then(|mut s| {
                s.query_row(params![queue, lock.seq], |r| r.get(0))
                    .optional()
            })
            .op("renew lock")?;
        if matches!(is_session, Some(Some(_))) {
            return Err(QueueError::invalid_operation(
                "session messages are locked by their session: renew the session lock",
            ));
        }
    }
    check_lock(conn, queue, now, lock, via)?;
    let until = now.saturating_add(duration_ms(config.lock_duration));
    conn.prepare_cached("UPDATE sbq_messages SET locked_until_ms = ?2 WHERE seq = ?1")
        .and_then(|mut s| s.execute(params![lock.seq, until]))
        .op("renew lock")?;
    Ok(until)
}

// ---------------------------------------------------------------------------------------------
// Sessions

fn require_sessions(queue: &str, config: &QueueConfig) -> Result<(), QueueError> {
    if config.requires_session {
        Ok(())
    } else {
        Err(QueueError::invalid_operation(format!(
            "queue {queue:?} does not require sessions: use a plain receiver"
        )))
    }
}

fn lock_session(
    conn: &Connection,
    queue: &str,
    id: &str,
    config: &QueueConfig,
    now: i64,
) -> Result<(String, i64), QueueError> {
    let token = Uuid::new_v4().to_string();
    let until = now.saturating_add(duration_ms(config.lock_duration));
    conn.prepare_cached(
        "INSERT INTO sbq_sessions (queue, session_id, lock_token, locked_until_ms)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (queue, session_id) DO UPDATE
         SET lock_token = excluded.lock_token, locked_until_ms = excluded.locked_until_ms",
    )
    .and_then(|mut s| s.execute(params![queue, id, token, until]))
    .op("accept session")?;
    Ok((token, until))
}

/// A session locked by [`accept_next_session`]: id, lock token, locked until (Unix ms), and
/// its first receivable message, already locked under the session.
pub(crate) type AcceptedSession = (String, String, i64, Option<Delivery>);

/// Locks the session holding the oldest receivable message whose session is not locked, and
/// that message with it (prefetch: the one transaction a consumer would otherwise follow with
/// a receive of its own).
pub(crate) fn accept_next_session(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    now: i64,
) -> Result<Option<AcceptedSession>, QueueError> {
    require_sessions(queue, config)?;
    sweep(conn, queue, config, now)?;
    let id: Option<String> = conn
        .prepare_cached(
            "SELECT m.session_id FROM sbq_messages m
             WHERE m.queue = ?1 AND m.state = 0 AND m.lock_token IS NULL
               AND m.session_id IS NOT NULL
               AND NOT EXISTS (
                   SELECT 1 FROM sbq_sessions s
                   WHERE s.queue = ?1 AND s.session_id = m.session_id
                     AND s.lock_token IS NOT NULL AND s.locked_until_ms > ?2)
             ORDER BY m.seq LIMIT 1",
        )
        .and_then(|mut s| s.query_row(params![queue, now], |r| r.get(0)).optional())
        .op("accept session")?;
    let Some(id) = id else {
        return Ok(None);
    };
    let (token, until) = lock_session(conn, queue, &id, config, now)?;
    let prefetched = lock_first_in_session(conn, queue, &id, until, &token)?;
    Ok(Some((id, token, until, prefetched)))
}

/// Locks the oldest receivable message of session `id` under its lock `token`, if any.
fn lock_first_in_session(
    conn: &Connection,
    queue: &str,
    id: &str,
    until: i64,
    token: &str,
) -> Result<Option<Delivery>, QueueError> {
    let first = select_seqs(
        conn,
        "SELECT seq FROM sbq_messages
         WHERE queue = ?1 AND session_id = ?2 AND state = 0 AND lock_token IS NULL
         ORDER BY seq LIMIT 1",
        params![queue, id],
    )?;
    first
        .first()
        .map(|&seq| lock_message(conn, seq, until, Some(token)))
        .transpose()
}

/// Locks the named session, messages or not.
pub(crate) fn accept_session(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    now: i64,
    id: &str,
) -> Result<(String, i64), QueueError> {
    require_sessions(queue, config)?;
    validate_session_id(id)?;
    let held: Option<(Option<String>, Option<i64>)> = conn
        .prepare_cached(
            "SELECT lock_token, locked_until_ms FROM sbq_sessions
             WHERE queue = ?1 AND session_id = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![queue, id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .op("accept session")?;
    if let Some((Some(_), Some(until))) = held {
        if until > now {
            return Err(QueueError::SessionCannotBeLocked {
                queue: queue.to_owned(),
                session_id: id.to_owned(),
            });
        }
    }
    sweep(conn, queue, config, now)?;
    lock_session(conn, queue, id, config, now)
}

/// Extends the session lock and the locks of its messages.
pub(crate) fn renew_session(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    now: i64,
    id: &str,
    token: &str,
) -> Result<i64, QueueError> {
    check_session_lock(conn, queue, id, token, now)?;
    let until = now.saturating_add(duration_ms(config.lock_duration));
    conn.prepare_cached(
        "UPDATE sbq_sessions SET locked_until_ms = ?4
         WHERE queue = ?1 AND session_id = ?2 AND lock_token = ?3",
    )
    .and_then(|mut s| s.execute(params![queue, id, token, until]))
    .op("renew session lock")?;
    conn.prepare_cached(
        "UPDATE sbq_messages SET locked_until_ms = ?3
         WHERE queue = ?1 AND session_lock = ?2 AND lock_token IS NOT NULL",
    )
    .and_then(|mut s| s.execute(params![queue, token, until]))
    .op("renew session lock")?;
    Ok(until)
}

/// Releases the session lock if `token` still holds it; its unsettled messages are abandoned
/// (dead-lettered at the delivery limit). `unreturned`: messages the accept prefetched that
/// the consumer never received — released as never delivered (their delivery count is given
/// back), not abandoned. Returns whether anything was released.
pub(crate) fn close_session(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    id: &str,
    token: &str,
    unreturned: &[i64],
) -> Result<bool, QueueError> {
    const OP: &str = "close session";
    let held: Option<bool> = conn
        .prepare_cached(
            "SELECT state IS NOT NULL FROM sbq_sessions
             WHERE queue = ?1 AND session_id = ?2 AND lock_token = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![queue, id, token], |r| r.get(0))
                .optional()
        })
        .op(OP)?;
    let Some(has_state) = held else {
        return Ok(false);
    };
    for seq in unreturned {
        conn.prepare_cached(
            "UPDATE sbq_messages SET delivery_count = delivery_count - 1
             WHERE seq = ?1 AND session_lock = ?2 AND lock_token IS NOT NULL
               AND delivery_count > 0",
        )
        .and_then(|mut s| s.execute(params![seq, token]))
        .op(OP)?;
    }
    // Messages locked under a session are active or deferred (a dead letter never carries a
    // session lock), so no state filter: it would lead SQLite onto the big state index.
    conn.prepare_cached(
        "UPDATE sbq_messages SET state = 2, dl_reason = ?3, dl_description = ?4,
             lock_token = NULL, locked_until_ms = NULL, session_lock = NULL
         WHERE queue = ?1 AND session_lock = ?2 AND lock_token IS NOT NULL
           AND delivery_count >= ?5",
    )
    .and_then(|mut s| {
        s.execute(params![
            queue,
            token,
            REASON_MAX_DELIVERY_COUNT_EXCEEDED,
            max_delivery_description(config.max_delivery_count),
            config.max_delivery_count
        ])
    })
    .op(OP)?;
    conn.prepare_cached(
        "UPDATE sbq_messages SET lock_token = NULL, locked_until_ms = NULL, session_lock = NULL
         WHERE queue = ?1 AND session_lock = ?2 AND lock_token IS NOT NULL",
    )
    .and_then(|mut s| s.execute(params![queue, token]))
    .op(OP)?;
    // A session row without state carries nothing once unlocked: drop it so the table only
    // holds live sessions and sessions with state.
    let sql = if has_state {
        "UPDATE sbq_sessions SET lock_token = NULL, locked_until_ms = NULL
         WHERE queue = ?1 AND session_id = ?2"
    } else {
        "DELETE FROM sbq_sessions WHERE queue = ?1 AND session_id = ?2"
    };
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params![queue, id]))
        .op(OP)?;
    Ok(true)
}

pub(crate) fn session_state(
    conn: &Connection,
    queue: &str,
    now: i64,
    id: &str,
    token: &str,
) -> Result<Option<Vec<u8>>, QueueError> {
    check_session_lock(conn, queue, id, token, now)?;
    let state: Option<Vec<u8>> = conn
        .prepare_cached("SELECT state FROM sbq_sessions WHERE queue = ?1 AND session_id = ?2")
        .and_then(|mut s| s.query_row(params![queue, id], |r| r.get(0)))
        .op("session state")?;
    Ok(state)
}

pub(crate) fn set_session_state(
    conn: &Connection,
    queue: &str,
    now: i64,
    id: &str,
    token: &str,
    state: Option<&[u8]>,
) -> Result<(), QueueError> {
    check_session_lock(conn, queue, id, token, now)?;
    conn.prepare_cached("UPDATE sbq_sessions SET state = ?3 WHERE queue = ?1 AND session_id = ?2")
        .and_then(|mut s| s.execute(params![queue, id, state]))
        .op("set session state")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Browse, dead letters, counts

/// Messages with sequence number ≥ `from`, in order, without locking: the queue's own
/// (`dead_letters = false`) or its dead letters.
pub(crate) fn peek(
    conn: &Connection,
    queue: &str,
    from: i64,
    max: usize,
    dead_letters: bool,
) -> Result<Vec<Message>, QueueError> {
    load_config(conn, queue)?;
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    let cond = if dead_letters {
        "state = 2"
    } else {
        "state <> 2"
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM sbq_messages
             WHERE queue = ?1 AND seq >= ?2 AND {cond} ORDER BY seq LIMIT ?3"
        ))
        .op("peek")?;
    let rows = stmt
        .query_map(params![queue, from, limit], RawMessage::from_row)
        .op("peek")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .op("peek")?;
    rows.into_iter().map(RawMessage::into_message).collect()
}

/// Sends a copy of dead letter `seq` to the queue and deletes the dead letter. `lock`: the
/// caller received it and must still hold this lock; otherwise it must not be locked.
pub(crate) fn resubmit(
    conn: &Connection,
    queue: &str,
    config: &QueueConfig,
    now: i64,
    seq: i64,
    lock: Option<&LockRef>,
) -> Result<String, QueueError> {
    if let Some(lock) = lock {
        check_lock(conn, queue, now, lock, Via::DeadLetter)?;
    }
    sweep(conn, queue, config, now)?;
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM sbq_messages WHERE queue = ?1 AND seq = ?2 AND state = 2"
        ))
        .and_then(|mut s| {
            s.query_row(params![queue, seq], RawMessage::from_row)
                .optional()
        })
        .op("resubmit")?
        .ok_or_else(|| not_found(queue, seq))?;
    if lock.is_none() && raw.lock_token.is_some() {
        // The sweep released expired locks, so this one is live.
        return Err(QueueError::MessageLocked {
            queue: queue.to_owned(),
            sequence_number: seq,
        });
    }
    let mut props = decode_properties(&raw.properties)
        .map_err(|e| QueueError::corrupt("resubmit", format!("message {seq}: {e}")))?;
    props.insert(
        RESUBMITTED_FROM_PROPERTY.to_owned(),
        PropertyValue::String(raw.message_id.clone()),
    );
    let message_id = resubmitted_message_id(queue, &raw.message_id, seq);
    let copy = OutgoingMessage {
        message_id: message_id.clone(),
        session_id: raw.session_id,
        correlation_id: raw.correlation_id,
        content_type: raw.content_type,
        subject: raw.subject,
        application_properties: props,
        body: raw.body.into(),
        scheduled_enqueue_time: None,
        time_to_live: raw
            .ttl_ms
            .and_then(|t| u64::try_from(t).ok())
            .map(Duration::from_millis),
    };
    send(conn, queue, config, std::slice::from_ref(&copy), now)?;
    conn.prepare_cached("DELETE FROM sbq_messages WHERE seq = ?1")
        .and_then(|mut s| s.execute([seq]))
        .op("resubmit")?;
    Ok(message_id)
}

pub(crate) fn purge_dead_letters(conn: &Connection, queue: &str) -> Result<u64, QueueError> {
    load_config(conn, queue)?;
    let n = conn
        .prepare_cached("DELETE FROM sbq_messages WHERE queue = ?1 AND state = 2")
        .and_then(|mut s| s.execute([queue]))
        .op("purge")?;
    Ok(u64::try_from(n).unwrap_or(u64::MAX))
}

pub(crate) fn runtime_properties(
    conn: &Connection,
    queue: &str,
    now: i64,
) -> Result<QueueRuntimeProperties, QueueError> {
    load_config(conn, queue)?;
    let counts: (i64, i64, i64, i64) = conn
        .prepare_cached(
            "SELECT
                 COALESCE(SUM(state = 0 OR (state = 3 AND enqueued_ms <= ?2)), 0),
                 COALESCE(SUM(state = 3 AND enqueued_ms > ?2), 0),
                 COALESCE(SUM(state = 1), 0),
                 COALESCE(SUM(state = 2), 0)
             FROM sbq_messages WHERE queue = ?1",
        )
        .and_then(|mut s| {
            s.query_row(params![queue, now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
        })
        .op("runtime properties")?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(QueueRuntimeProperties {
        active_message_count: n(counts.0),
        scheduled_message_count: n(counts.1),
        deferred_message_count: n(counts.2),
        dead_letter_message_count: n(counts.3),
    })
}

// ---------------------------------------------------------------------------------------------
// Probes for waiting receivers

/// What a waiting receiver waits for.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Queue,
    Session(String),
    AnySession,
    DeadLetter,
}

/// Whether a receiving transaction could find something now, and the next instant at which
/// time alone may change that (a scheduled message due, a lock expiring).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Probe {
    pub ready: bool,
    pub next_change_ms: Option<i64>,
}

/// When a session's next scheduled message becomes due. Without `INDEXED BY` SQLite answers
/// `MIN(enqueued_ms)` from the queue-wide schedule index and looks up every scheduled message
/// of the queue to check its session: one table seek per pending timer of every call, on each
/// probe of a drained session (a third of a broker peer's CPU at 60 calls in flight).
pub(crate) const SESSION_NEXT_DUE: &str = "SELECT MIN(enqueued_ms)
     FROM sbq_messages INDEXED BY sbq_messages_by_session
     WHERE queue = ?1 AND session_id = ?3 AND state = 3 AND ?2 IS NOT NULL";

/// Read-only check used between polls, so idle receivers never take the write lock.
pub(crate) fn probe(
    conn: &Connection,
    queue: &str,
    now: i64,
    target: &Target,
) -> Result<Probe, QueueError> {
    const OP: &str = "probe";
    let scheduled_due = "EXISTS (SELECT 1 FROM sbq_messages
        WHERE queue = ?1 AND state = 3 AND enqueued_ms <= ?2)";
    let (ready_sql, next_sql) = match target {
        Target::Queue => (
            format!(
                "SELECT EXISTS (SELECT 1 FROM sbq_messages WHERE queue = ?1 AND state = 0
                     AND (lock_token IS NULL OR locked_until_ms <= ?2)) OR {scheduled_due}"
            ),
            "SELECT MIN(t) FROM (
                 SELECT MIN(enqueued_ms) AS t FROM sbq_messages WHERE queue = ?1 AND state = 3
                 UNION ALL
                 SELECT MIN(locked_until_ms) FROM sbq_messages
                 WHERE queue = ?1 AND lock_token IS NOT NULL AND locked_until_ms > ?2)"
                .to_owned(),
        ),
        Target::Session(_) => (
            "SELECT EXISTS (SELECT 1 FROM sbq_messages WHERE queue = ?1 AND session_id = ?3
                 AND (state = 0 AND (lock_token IS NULL OR locked_until_ms <= ?2)
                      OR state = 3 AND enqueued_ms <= ?2))"
                .to_owned(),
            SESSION_NEXT_DUE.to_owned(),
        ),
        Target::AnySession => (
            format!(
                "SELECT EXISTS (SELECT 1 FROM sbq_messages m
                     WHERE m.queue = ?1 AND m.state = 0 AND m.session_id IS NOT NULL
                       AND (m.lock_token IS NULL OR m.locked_until_ms <= ?2)
                       AND NOT EXISTS (SELECT 1 FROM sbq_sessions s
                           WHERE s.queue = ?1 AND s.session_id = m.session_id
                             AND s.lock_token IS NOT NULL AND s.locked_until_ms > ?2))
                 OR {scheduled_due}"
            ),
            "SELECT MIN(t) FROM (
                 SELECT MIN(enqueued_ms) AS t FROM sbq_messages WHERE queue = ?1 AND state = 3
                 UNION ALL
                 SELECT MIN(locked_until_ms) FROM sbq_sessions
                 WHERE queue = ?1 AND lock_token IS NOT NULL AND locked_until_ms > ?2)"
                .to_owned(),
        ),
        // Dead letters also appear when a sweep moves expired messages; count those as ready
        // so the receiving transaction runs the sweep.
        Target::DeadLetter => (
            "SELECT EXISTS (SELECT 1 FROM sbq_messages WHERE queue = ?1 AND state = 2
                     AND (lock_token IS NULL OR locked_until_ms <= ?2))
                 OR EXISTS (SELECT 1 FROM sbq_messages WHERE queue = ?1
                     AND lock_token IS NOT NULL AND locked_until_ms <= ?2)
                 OR EXISTS (SELECT 1 FROM sbq_messages WHERE queue = ?1 AND state = 0
                     AND expires_ms <= ?2 AND lock_token IS NULL)"
                .to_owned(),
            "SELECT MIN(t) FROM (
                 SELECT MIN(locked_until_ms) AS t FROM sbq_messages
                 WHERE queue = ?1 AND lock_token IS NOT NULL AND locked_until_ms > ?2
                 UNION ALL
                 SELECT MIN(expires_ms) FROM sbq_messages
                 WHERE queue = ?1 AND state = 0 AND expires_ms IS NOT NULL)"
                .to_owned(),
        ),
    };
    let session = match target {
        Target::Session(id) => Some(id.as_str()),
        _ => None,
    };
    let run = |sql: &str| -> rusqlite::Result<Option<i64>> {
        let mut stmt = conn.prepare_cached(sql)?;
        match session {
            Some(id) => stmt.query_row(params![queue, now, id], |r| r.get(0)),
            None => stmt.query_row(params![queue, now], |r| r.get(0)),
        }
    };
    let ready = run(&ready_sql).op(OP)?.unwrap_or(0) != 0;
    let next_change_ms = if ready { None } else { run(&next_sql).op(OP)? };
    Ok(Probe {
        ready,
        next_change_ms,
    })
}
