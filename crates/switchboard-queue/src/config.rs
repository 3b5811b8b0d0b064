//! Queue properties, mirroring the Service Bus queue description (`LockDuration`,
//! `MaxDeliveryCount`, `RequiresDuplicateDetection` + `DuplicateDetectionHistoryTimeWindow`,
//! `RequiresSession`, `DeadLetteringOnMessageExpiration`, `DefaultMessageTimeToLive`,
//! `MaxMessageSizeInKilobytes`), and the queue-name rule.

use std::time::Duration;

use crate::error::QueueError;

/// Service Bus's longest lock duration.
pub const MAX_LOCK_DURATION: Duration = Duration::from_secs(5 * 60);
/// Service Bus's longest duplicate-detection window.
pub const MAX_DUPLICATE_DETECTION_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Service Bus standard tier's message size limit (256 KiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 * 1024;
/// Service Bus premium tier's largest message size limit (100 MiB).
pub const MAX_MESSAGE_SIZE: usize = 100 * 1024 * 1024;
/// Longest queue name Service Bus accepts.
pub const MAX_QUEUE_NAME_LEN: usize = 260;

/// Properties of one queue. Fixed when the queue is created (the SQLite queue lets
/// [`crate::sqlite::SqliteNamespace::ensure_queue`] change all but `requires_session`, like
/// the Service Bus admin API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// `LockDuration`: how long a peek-lock (or a session lock) holds. Service Bus allows
    /// 5 s – 5 min; the embedded queue accepts from 1 ms so tests need not sleep long.
    /// Default 60 s.
    pub lock_duration: Duration,
    /// `MaxDeliveryCount`: after this many deliveries without completion the message is
    /// dead-lettered with reason `MaxDeliveryCountExceeded`. At least 1. Default 10.
    pub max_delivery_count: u32,
    /// `DuplicateDetectionHistoryTimeWindow` when `RequiresDuplicateDetection`: a message
    /// whose id was sent within this window is accepted and dropped. `None` (default): off.
    pub duplicate_detection_window: Option<Duration>,
    /// `RequiresSession`: every message must have a session id and is received through a
    /// session receiver. Cannot change after creation. Default off.
    pub requires_session: bool,
    /// `DeadLetteringOnMessageExpiration`: expired messages go to the dead-letter queue
    /// (reason `TTLExpiredException`) instead of being dropped. Default off.
    pub dead_lettering_on_message_expiration: bool,
    /// `DefaultMessageTimeToLive`. `None` (default): messages do not expire unless they say so.
    pub default_message_time_to_live: Option<Duration>,
    /// Largest message (or batch) accepted, in bytes as [`crate::OutgoingMessage::size`]
    /// counts them. Default 256 KiB (standard tier).
    pub max_message_size: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            lock_duration: Duration::from_secs(60),
            max_delivery_count: 10,
            duplicate_detection_window: None,
            requires_session: false,
            dead_lettering_on_message_expiration: false,
            default_message_time_to_live: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

impl QueueConfig {
    /// The default properties with sessions required.
    pub fn sessions() -> Self {
        Self {
            requires_session: true,
            ..Self::default()
        }
    }

    /// Checks every property against the allowed range.
    pub fn validate(&self) -> Result<(), QueueError> {
        if self.lock_duration < Duration::from_millis(1) || self.lock_duration > MAX_LOCK_DURATION {
            return Err(QueueError::invalid_argument(format!(
                "lock_duration must be between 1 ms and 5 min, got {:?}",
                self.lock_duration
            )));
        }
        if self.max_delivery_count == 0 {
            return Err(QueueError::invalid_argument(
                "max_delivery_count must be at least 1",
            ));
        }
        if let Some(w) = self.duplicate_detection_window {
            if w < Duration::from_millis(1) || w > MAX_DUPLICATE_DETECTION_WINDOW {
                return Err(QueueError::invalid_argument(format!(
                    "duplicate_detection_window must be between 1 ms and 7 days, got {w:?}"
                )));
            }
        }
        if let Some(ttl) = self.default_message_time_to_live {
            if ttl < Duration::from_millis(1) {
                return Err(QueueError::invalid_argument(
                    "default_message_time_to_live must be at least 1 ms",
                ));
            }
        }
        if self.max_message_size == 0 || self.max_message_size > MAX_MESSAGE_SIZE {
            return Err(QueueError::invalid_argument(format!(
                "max_message_size must be between 1 byte and 100 MiB, got {}",
                self.max_message_size
            )));
        }
        Ok(())
    }
}

/// Checks a queue name against the Service Bus rule: 1–260 characters, letters, digits,
/// `.`, `-`, `_` and `/`, starting and ending with a letter or digit.
pub fn validate_queue_name(name: &str) -> Result<(), QueueError> {
    let bad = |why: &str| {
        Err(QueueError::invalid_argument(format!(
            "invalid queue name {name:?}: {why}"
        )))
    };
    if name.is_empty() || name.len() > MAX_QUEUE_NAME_LEN {
        return bad("must be 1 to 260 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
    {
        return bad("only letters, digits, '.', '-', '_' and '/' are allowed");
    }
    let alnum_edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum_edge(name.chars().next()) || !alnum_edge(name.chars().last()) {
        return bad("must start and end with a letter or digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_are_service_bus_defaults_and_valid() {
        let c = QueueConfig::default();
        assert_eq!(c.lock_duration, Duration::from_secs(60));
        assert_eq!(c.max_delivery_count, 10);
        assert!(c.validate().is_ok());
        assert!(QueueConfig::sessions().requires_session);
    }

    #[test]
    fn out_of_range_properties_are_refused() {
        let cases = [
            QueueConfig {
                lock_duration: Duration::ZERO,
                ..QueueConfig::default()
            },
            QueueConfig {
                lock_duration: Duration::from_secs(301),
                ..QueueConfig::default()
            },
            QueueConfig {
                max_delivery_count: 0,
                ..QueueConfig::default()
            },
            QueueConfig {
                duplicate_detection_window: Some(Duration::from_secs(8 * 24 * 3600)),
                ..QueueConfig::default()
            },
            QueueConfig {
                default_message_time_to_live: Some(Duration::ZERO),
                ..QueueConfig::default()
            },
            QueueConfig {
                max_message_size: 0,
                ..QueueConfig::default()
            },
        ];
        for c in cases {
            let err = c.validate().expect_err("must be refused");
            assert_eq!(
                err.kind(),
                crate::error::ErrorKind::InvalidArgument,
                "{c:?}"
            );
        }
    }

    #[test]
    fn queue_names_follow_service_bus_rules() {
        for ok in [
            "incoming-calls",
            "call-events",
            "a",
            "tenant/queue.v2",
            "Q_1",
        ] {
            assert!(validate_queue_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "a b", "queue$", "ünïcode", &"a".repeat(261)] {
            assert!(validate_queue_name(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn queue_name_validation_never_panics_and_accepts_exactly_the_rule(name in "\\PC{0,300}") {
            let ok = validate_queue_name(&name).is_ok();
            let expected = !name.is_empty()
                && name.len() <= MAX_QUEUE_NAME_LEN
                && name.chars().all(|c| c.is_ascii_alphanumeric() || ".-_/".contains(c))
                && name.starts_with(|c: char| c.is_ascii_alphanumeric())
                && name.ends_with(|c: char| c.is_ascii_alphanumeric());
            prop_assert_eq!(ok, expected);
        }

        #[test]
        fn generated_valid_names_are_accepted(name in "[a-z0-9]([a-z0-9._/-]{0,50}[a-z0-9])?") {
            prop_assert!(validate_queue_name(&name).is_ok());
        }
    }
}
