//! Where the ingress publishes: the [`Publisher`] port (the binary adapts the queue port to
//! it), and its error with the retryable/permanent distinction.

use super::batch::Rejected;
use super::message::IngressMessage;

/// Publishing failed.
#[derive(Debug, thiserror::Error)]
#[error("publish failed: {message}")]
pub struct PublishError {
    /// What went wrong.
    pub message: String,
    /// Whether the same publish may succeed later (answer 503) or never will.
    pub retryable: bool,
}

impl PublishError {
    /// A failure that may pass (the queue is unreachable, busy).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure that will repeat (the queue refuses these messages).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// A refused element on its way to the rejects queue.
#[derive(Debug, Clone)]
pub struct RejectMessage {
    /// The queue the element was meant for.
    pub queue: String,
    /// The endpoint it came through (`callbacks`, `incoming-calls`).
    pub endpoint: &'static str,
    /// What was refused and why.
    pub rejected: Rejected,
}

/// Where the ingress puts messages (the queue port, adapted by the binary).
#[async_trait::async_trait]
pub trait Publisher: Send + Sync {
    /// Publish all messages durably to the named queue in one send, or fail as a whole.
    async fn publish(&self, queue: &str, messages: Vec<IngressMessage>)
        -> Result<(), PublishError>;

    /// Keep a refused element as a dead letter with its reason.
    async fn reject(&self, reject: RejectMessage) -> Result<(), PublishError>;
}
