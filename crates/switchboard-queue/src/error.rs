//! The one error type of the queue port.
//!
//! The variants mirror the Service Bus exceptions a consumer has to tell apart
//! (`MessageLockLost`, `SessionLockLost`, `SessionCannotBeLocked`, `MessageNotFound`,
//! `MessageSizeExceeded`, `MessagingEntityNotFound`, ...), so the worker reacts the same way on
//! both backends. [`QueueError::is_retryable`] answers "may the *same call* succeed later?";
//! [`QueueError::kind`] gives a coarse, matchable classification for metrics and logs.
//!
//! Normal outcomes are not errors: an empty receive after the wait, a duplicate message that
//! duplicate detection drops, no session available — those are values.

use std::error::Error as StdError;

/// Boxed source error, so backends can attach their own error types.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The lock on the message is gone: it expired, the message was already settled, or the
    /// lock token is not the current one (another receiver holds the message now). Service
    /// Bus: `MessageLockLost`. Not retryable: the message is (or will be) redelivered to
    /// someone, so the handler must stop and let that delivery do the work.
    #[error("the lock on message {sequence_number} in {queue:?} was lost (expired, settled, or taken over by another receiver)")]
    LockLost {
        /// The queue.
        queue: String,
        /// The message's sequence number.
        sequence_number: i64,
    },

    /// The session lock expired, was released, or was taken over. Service Bus:
    /// `SessionLockLost`. Every message received through that session receiver is unlocked
    /// too; close the receiver and accept a session again.
    #[error("the lock on session {session_id:?} in {queue:?} was lost")]
    SessionLockLost {
        /// The queue.
        queue: String,
        /// The session.
        session_id: String,
    },

    /// Another receiver holds the session. Service Bus: `SessionCannotBeLocked`. Retryable
    /// (the holder's lock ends eventually), but usually the caller should accept another
    /// session instead.
    #[error("session {session_id:?} in {queue:?} is locked by another receiver")]
    SessionCannotBeLocked {
        /// The queue.
        queue: String,
        /// The session.
        session_id: String,
    },

    /// No message with this sequence number is available: it does not exist, is not deferred
    /// (for `receive_deferred`), is not a dead letter (for `resubmit`), or — for
    /// `receive_deferred`, as on Service Bus — another receiver holds its lock. Service Bus:
    /// `MessageNotFound`.
    #[error("message {sequence_number} in {queue:?} does not exist, is not in the expected state, or is locked")]
    MessageNotFound {
        /// The queue.
        queue: String,
        /// The sequence number asked for.
        sequence_number: i64,
    },

    /// The dead letter exists but another receiver holds a valid lock on it (from
    /// [`crate::DeadLetterQueue::resubmit`]). Retryable: the lock ends when that receiver
    /// settles or its lock expires.
    #[error("message {sequence_number} in {queue:?} is locked by another receiver")]
    MessageLocked {
        /// The queue.
        queue: String,
        /// The message's sequence number.
        sequence_number: i64,
    },

    /// The queue does not exist. Service Bus: `MessagingEntityNotFound`.
    #[error("queue {queue:?} does not exist")]
    QueueNotFound {
        /// The queue asked for.
        queue: String,
    },

    /// `create_queue` for a name that is taken. Service Bus: `MessagingEntityAlreadyExists`.
    #[error("queue {queue:?} already exists")]
    QueueExists {
        /// The queue.
        queue: String,
    },

    /// The message (or batch) is over the queue's size limit. Service Bus:
    /// `MessageSizeExceeded`.
    #[error("message too large: {size} bytes, the limit is {max} bytes")]
    MessageTooLarge {
        /// Size of the message or batch as counted (body + properties + ids).
        size: usize,
        /// The queue's limit.
        max: usize,
    },

    /// The caller passed something the queue refuses (empty message id, a session queue
    /// message without session id, `max = 0`, a bad queue name, a bad configuration).
    /// Retrying the same input fails the same way.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The call is not allowed in this state (non-session receive on a session queue, renewing
    /// the lock of a session message, settling a delivery through the wrong receiver,
    /// dead-lettering a dead-lettered message). Service Bus: `InvalidOperationException`.
    #[error("invalid operation: {0}")]
    InvalidOperation(String),

    /// The backend failed. `retryable` says whether trying again can help: SQLite busy past
    /// its timeout or an I/O hiccup is retryable; a corrupt row or a schema from a newer
    /// version is not.
    #[error("queue backend failed during {op}: {message}")]
    Backend {
        /// The operation that failed.
        op: &'static str,
        /// What went wrong.
        message: String,
        /// Whether the same call may succeed later.
        retryable: bool,
        /// The backend's error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

/// Coarse classification of a [`QueueError`], for matching, metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`QueueError::LockLost`].
    LockLost,
    /// [`QueueError::SessionLockLost`].
    SessionLockLost,
    /// [`QueueError::SessionCannotBeLocked`].
    SessionCannotBeLocked,
    /// [`QueueError::MessageNotFound`].
    MessageNotFound,
    /// [`QueueError::MessageLocked`].
    MessageLocked,
    /// [`QueueError::QueueNotFound`].
    QueueNotFound,
    /// [`QueueError::QueueExists`].
    QueueExists,
    /// [`QueueError::MessageTooLarge`].
    MessageTooLarge,
    /// [`QueueError::InvalidArgument`].
    InvalidArgument,
    /// [`QueueError::InvalidOperation`].
    InvalidOperation,
    /// [`QueueError::Backend`].
    Backend,
}

impl QueueError {
    /// Whether the same call may succeed if tried again later (after a backoff).
    ///
    /// Lock loss is deliberately *not* retryable: settling again with the same lock token
    /// cannot succeed, and the message is redelivered to whoever receives it next.
    pub fn is_retryable(&self) -> bool {
        match self {
            QueueError::SessionCannotBeLocked { .. } | QueueError::MessageLocked { .. } => true,
            QueueError::Backend { retryable, .. } => *retryable,
            QueueError::LockLost { .. }
            | QueueError::SessionLockLost { .. }
            | QueueError::MessageNotFound { .. }
            | QueueError::QueueNotFound { .. }
            | QueueError::QueueExists { .. }
            | QueueError::MessageTooLarge { .. }
            | QueueError::InvalidArgument(_)
            | QueueError::InvalidOperation(_) => false,
        }
    }

    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            QueueError::LockLost { .. } => ErrorKind::LockLost,
            QueueError::SessionLockLost { .. } => ErrorKind::SessionLockLost,
            QueueError::SessionCannotBeLocked { .. } => ErrorKind::SessionCannotBeLocked,
            QueueError::MessageNotFound { .. } => ErrorKind::MessageNotFound,
            QueueError::MessageLocked { .. } => ErrorKind::MessageLocked,
            QueueError::QueueNotFound { .. } => ErrorKind::QueueNotFound,
            QueueError::QueueExists { .. } => ErrorKind::QueueExists,
            QueueError::MessageTooLarge { .. } => ErrorKind::MessageTooLarge,
            QueueError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            QueueError::InvalidOperation(_) => ErrorKind::InvalidOperation,
            QueueError::Backend { .. } => ErrorKind::Backend,
        }
    }

    /// Shorthand for [`QueueError::InvalidArgument`].
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        QueueError::InvalidArgument(message.into())
    }

    /// Shorthand for [`QueueError::InvalidOperation`].
    pub fn invalid_operation(message: impl Into<String>) -> Self {
        QueueError::InvalidOperation(message.into())
    }

    /// A non-retryable backend error without a source (corrupt data, incompatible schema).
    pub fn corrupt(op: &'static str, message: impl Into<String>) -> Self {
        QueueError::Backend {
            op,
            message: message.into(),
            retryable: false,
            source: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_follows_service_bus_guidance() {
        let lock_lost = QueueError::LockLost {
            queue: "q".into(),
            sequence_number: 1,
        };
        assert!(!lock_lost.is_retryable());
        assert_eq!(lock_lost.kind(), ErrorKind::LockLost);

        let busy_session = QueueError::SessionCannotBeLocked {
            queue: "q".into(),
            session_id: "s".into(),
        };
        assert!(busy_session.is_retryable());

        let busy = QueueError::Backend {
            op: "receive",
            message: "database is locked".into(),
            retryable: true,
            source: None,
        };
        assert!(busy.is_retryable());
        assert!(!QueueError::corrupt("receive", "bad row").is_retryable());
        assert!(!QueueError::invalid_argument("x").is_retryable());
    }

    #[test]
    fn messages_name_the_queue_and_message() {
        let e = QueueError::LockLost {
            queue: "call-events".into(),
            sequence_number: 42,
        };
        let text = e.to_string();
        assert!(
            text.contains("call-events") && text.contains("42"),
            "{text}"
        );
    }
}
