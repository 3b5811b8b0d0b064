//! Why a process could not start: the one error assembly and the backends return.

use crate::config::ConfigError;

/// Why a process could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The configuration is wrong: fix it (exit code 64). Never worth a retry.
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    /// A backend could not be opened or reached. `retryable` says whether starting again
    /// later may work (network, throttling) or not (e.g. a corrupt database file).
    #[error("{what}: {message}")]
    Startup {
        /// Which part failed (`sqlite queue`, `redis`, …).
        what: &'static str,
        /// What went wrong.
        message: String,
        /// Whether starting again later may work.
        retryable: bool,
    },
}

impl AppError {
    /// A [`AppError::Startup`] from any error.
    pub fn startup(what: &'static str, e: impl std::fmt::Display, retryable: bool) -> Self {
        Self::Startup {
            what,
            message: e.to_string(),
            retryable,
        }
    }

    /// Whether starting again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Startup {
                retryable: true,
                ..
            }
        )
    }
}
