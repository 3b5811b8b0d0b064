//! The primitives a delivery is settled with: where its lock lives ([`Lock`]: the message's
//! own, or its session's), how it ends ([`Settlement`]), and the time limits and retry
//! backoff both the receive loop (`mod.rs`) and one delivery's handling (`settle.rs`) use.

use std::time::Duration;

use switchboard_queue::{Delivery, QueueError, QueueReceiver, SessionReceiver};
use time::OffsetDateTime;

/// Longest wait for a settlement or a session close: past it the connection is treated as
/// not answering and the message (or session) is left to come back when its lock expires.
pub(super) const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest one message may be handled before it is abandoned (and redelivered).
pub(super) const MAX_HANDLE_TIME: Duration = Duration::from_secs(120);

/// How a message was settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Settlement {
    Complete,
    Abandon { reason: String },
    DeadLetter { reason: String, description: String },
}

impl Settlement {
    pub(super) fn label(&self) -> &'static str {
        match self {
            Self::Complete => "completed",
            Self::Abandon { .. } => "abandoned",
            Self::DeadLetter { .. } => "dead_lettered",
        }
    }
}

/// Where a delivery is settled: its own lock, or its session's.
#[derive(Clone, Copy)]
pub(super) enum Lock<'a> {
    Message(&'a dyn QueueReceiver),
    Session(&'a dyn SessionReceiver),
}

impl Lock<'_> {
    pub(super) async fn settle(&self, d: &Delivery, s: &Settlement) -> Result<(), QueueError> {
        match (self, s) {
            (Self::Message(r), Settlement::Complete) => r.complete(d).await,
            (Self::Session(r), Settlement::Complete) => r.complete(d).await,
            (Self::Message(r), Settlement::Abandon { .. }) => r.abandon(d, None).await,
            (Self::Session(r), Settlement::Abandon { .. }) => r.abandon(d, None).await,
            (
                Self::Message(r),
                Settlement::DeadLetter {
                    reason,
                    description,
                },
            ) => r.dead_letter(d, reason, description).await,
            (
                Self::Session(r),
                Settlement::DeadLetter {
                    reason,
                    description,
                },
            ) => r.dead_letter(d, reason, description).await,
        }
    }

    pub(super) async fn renew(&self, d: &Delivery) -> Result<OffsetDateTime, QueueError> {
        match self {
            Self::Message(r) => r.renew_lock(d).await,
            Self::Session(r) => r.renew_session_lock().await,
        }
    }
}

/// `base · 2^(n-1)`, capped.
pub(super) fn backoff(base: Duration, max: Duration, n: u32) -> Duration {
    let exp = n.saturating_sub(1).min(16);
    base.saturating_mul(1u32 << exp).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_millis(100);
        let m = Duration::from_secs(1);
        assert_eq!(backoff(b, m, 1), Duration::from_millis(100));
        assert_eq!(backoff(b, m, 2), Duration::from_millis(200));
        assert_eq!(backoff(b, m, 4), Duration::from_millis(800));
        assert_eq!(backoff(b, m, 5), m);
        assert_eq!(backoff(b, m, u32::MAX), m);
    }
}
