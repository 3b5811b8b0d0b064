//! Service Bus errors as [`QueueError`]s.
//!
//! azservicebus surfaces broker errors as `azure_core::Error` carrying the AMQP error
//! condition (`com.microsoft:message-lock-lost`, `com.microsoft:session-lock-lost`,
//! `com.microsoft:session-cannot-be-locked`, `com.microsoft:message-not-found`,
//! `amqp:not-found`, ...) in its text, so the mapping reads the condition from there. What is
//! not recognised is a [`QueueError::Backend`], retryable when it looks like a transport
//! problem (the SDK has already retried it with backoff).

use switchboard_queue::QueueError;

/// What the failed call was about, so the error can name it.
#[derive(Clone, Debug)]
pub(crate) enum Subject<'a> {
    /// The queue as a whole.
    Queue,
    /// One message.
    Message(i64),
    /// A session.
    Session(&'a str),
}

/// What fe2o3-amqp (under azservicebus) reports, lowercased, once the AMQP session or
/// connection under a link has ended. azservicebus keeps one AMQP session per connection for
/// all its links, and fe2o3 ends that session when a detach arrives for a link whose local end
/// was dropped (an attach cut short by a timeout is one), so every link on the connection
/// fails at once. Nothing on that connection works again, but a retry on a new one will.
const CONNECTION_ENDED: &[&str] = &[
    "illegalsessionstate",
    "illegalconnectionstate",
    "expectimmediatedetach",
    "unattachedhandle",
    "connection scope is disposed",
    "session has dropped",
];

/// Whether `text` (any case) says the AMQP session or connection under a link has ended.
pub(crate) fn connection_ended(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    CONNECTION_ENDED.iter().any(|m| text.contains(m))
}

pub(crate) fn map(
    op: &'static str,
    queue: &str,
    subject: Subject<'_>,
    e: impl std::fmt::Display + std::fmt::Debug,
) -> QueueError {
    let text = format!("{e} {e:?}").to_ascii_lowercase();
    classify(op, queue, subject, &text, e.to_string())
}

pub(crate) fn classify(
    op: &'static str,
    queue: &str,
    subject: Subject<'_>,
    text: &str,
    display: String,
) -> QueueError {
    let queue = queue.to_owned();
    let seq = match subject {
        Subject::Message(s) => s,
        _ => 0,
    };
    if text.contains("session-lock-lost") || text.contains("sessionlocklost") {
        let session_id = match subject {
            Subject::Session(s) => s.to_owned(),
            _ => String::new(),
        };
        return QueueError::SessionLockLost { queue, session_id };
    }
    if text.contains("session-cannot-be-locked") || text.contains("sessioncannotbelocked") {
        let session_id = match subject {
            Subject::Session(s) => s.to_owned(),
            _ => String::new(),
        };
        return QueueError::SessionCannotBeLocked { queue, session_id };
    }
    if text.contains("message-lock-lost") || text.contains("messagelocklost") {
        return QueueError::LockLost {
            queue,
            sequence_number: seq,
        };
    }
    if text.contains("message-not-found") || text.contains("messagenotfound") {
        return QueueError::MessageNotFound {
            queue,
            sequence_number: seq,
        };
    }
    if text.contains("amqp:not-found") || text.contains("entity-not-found") {
        return QueueError::QueueNotFound { queue };
    }
    if text.contains("unauthorized") || text.contains("unauthorized-access") {
        return QueueError::Backend {
            op,
            message: format!("not authorised: {display}"),
            retryable: false,
            source: None,
        };
    }
    let retryable = [
        "timeout",
        "timed out",
        "connection",
        "io error",
        "detach",
        "closed",
        "server-busy",
        "reset",
        "broken pipe",
        "refused",
    ]
    .iter()
    .any(|needle| text.contains(needle))
        || connection_ended(text);
    QueueError::Backend {
        op,
        message: display,
        retryable,
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_queue::ErrorKind;

    #[test]
    fn broker_conditions_map_to_their_kinds() {
        let k = |text: &str, subject| {
            classify("op", "q", subject, &text.to_ascii_lowercase(), text.into()).kind()
        };
        assert_eq!(
            k(
                "Rejected: com.microsoft:message-lock-lost",
                Subject::Message(3)
            ),
            ErrorKind::LockLost
        );
        assert_eq!(
            k("com.microsoft:session-lock-lost", Subject::Session("s")),
            ErrorKind::SessionLockLost
        );
        assert_eq!(
            k(
                "com.microsoft:session-cannot-be-locked",
                Subject::Session("s")
            ),
            ErrorKind::SessionCannotBeLocked
        );
        assert_eq!(
            k(
                "status 404 com.microsoft:message-not-found",
                Subject::Message(1)
            ),
            ErrorKind::MessageNotFound
        );
        assert_eq!(
            k(
                "amqp:not-found: The messaging entity could not be found",
                Subject::Queue
            ),
            ErrorKind::QueueNotFound
        );
        let io = classify(
            "op",
            "q",
            Subject::Queue,
            "connection reset by peer",
            "x".into(),
        );
        assert!(io.is_retryable());
        let auth = classify(
            "op",
            "q",
            Subject::Queue,
            "amqp:unauthorized-access",
            "x".into(),
        );
        assert!(!auth.is_retryable());
        let ended = classify(
            "op",
            "q",
            Subject::Queue,
            "local error: illegalsessionstate",
            "x".into(),
        );
        assert!(ended.is_retryable());
    }
}
