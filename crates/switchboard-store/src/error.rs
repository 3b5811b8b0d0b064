//! The one error type of the store port.
//!
//! Variants are coarse on purpose: a caller only needs to know whether trying the same
//! operation again can succeed ([`StoreError::is_retryable`]). Outcomes that are part of normal
//! operation — a compare-and-set conflict, an agent with no free capacity, a reservation that
//! expired — are *not* errors; they are values of the operation's result type.

use std::error::Error as StdError;

/// Boxed source error, so backends can attach their own error types.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or stayed busy/locked past its timeout (SQLite
    /// `SQLITE_BUSY`/`SQLITE_LOCKED`, I/O errors, a dropped Redis connection). Nothing was
    /// changed, or the change is atomic and idempotent to redo: retry with backoff.
    #[error("store unavailable during {op}: {source}")]
    Unavailable {
        /// The store operation that failed.
        op: &'static str,
        /// The backend's error.
        #[source]
        source: BoxError,
    },

    /// The caller passed something the store refuses (empty key, zero TTL, capacity 0, a
    /// document over the size limit). Retrying the same input fails the same way.
    #[error("invalid store input for {op}: {message}")]
    InvalidInput {
        /// The store operation that was called.
        op: &'static str,
        /// What is wrong, naming the argument.
        message: String,
    },

    /// Data in the store cannot be decoded (a row written by an incompatible version, a
    /// document that does not match the type asked for). Not retryable.
    #[error("corrupt or incompatible data in the store during {op}: {message}")]
    Corrupt {
        /// The store operation that found it.
        op: &'static str,
        /// What could not be decoded.
        message: String,
    },

    /// Any other backend failure (schema error, constraint violation, a bug). Not retryable.
    #[error("store backend failed during {op}: {source}")]
    Backend {
        /// The store operation that failed.
        op: &'static str,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// Whether the same operation may succeed if tried again (after a backoff).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// Shorthand for [`StoreError::InvalidInput`].
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        StoreError::InvalidInput {
            op,
            message: message.into(),
        }
    }

    /// Shorthand for [`StoreError::Corrupt`].
    pub fn corrupt(op: &'static str, message: impl Into<String>) -> Self {
        StoreError::Corrupt {
            op,
            message: message.into(),
        }
    }

    /// The operation during which the error happened.
    pub fn op(&self) -> &'static str {
        match self {
            StoreError::Unavailable { op, .. }
            | StoreError::InvalidInput { op, .. }
            | StoreError::Corrupt { op, .. }
            | StoreError::Backend { op, .. } => op,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_is_retryable() {
        let io = std::io::Error::other("connection reset");
        assert!(StoreError::Unavailable {
            op: "reserve",
            source: Box::new(io)
        }
        .is_retryable());
        assert!(!StoreError::invalid("reserve", "ttl must be > 0").is_retryable());
        assert!(!StoreError::corrupt("get_call", "bad json").is_retryable());
        let backend = StoreError::Backend {
            op: "put_call_if",
            source: "constraint".into(),
        };
        assert!(!backend.is_retryable());
        assert_eq!(backend.op(), "put_call_if");
        assert_eq!(
            StoreError::invalid("reserve", "ttl must be > 0").to_string(),
            "invalid store input for reserve: ttl must be > 0"
        );
    }
}
