//! The error every configuration loader returns: the offending key, and what is wrong with
//! it, so an operator can fix the file or variable without reading code.

/// A configuration error: which key, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("configuration error at `{key}`: {message}")]
pub struct ConfigError {
    /// Dotted path of the offending key (`agents[2].oid`), an environment variable name, or
    /// `<file>` for the document as a whole.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error at `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The same error with `prefix.` in front of the key, for a table read on its own but
    /// embedded in a larger configuration file (the routing `[routing]` table).
    pub fn prefixed(self, prefix: &str) -> Self {
        if prefix.is_empty() {
            return self;
        }
        let key = if self.key == "<file>" || self.key == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", self.key)
        };
        Self { key, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_key() {
        let e = ConfigError::new("queue.lock_duration_secs", "must be between 1 and 300");
        assert_eq!(
            e.to_string(),
            "configuration error at `queue.lock_duration_secs`: must be between 1 and 300"
        );
    }

    #[test]
    fn prefixing() {
        let e = ConfigError::new("agents[0].oid", "bad");
        assert_eq!(e.clone().prefixed("").key, "agents[0].oid");
        assert_eq!(e.prefixed("routing").key, "routing.agents[0].oid");
        assert_eq!(
            ConfigError::new("<file>", "x").prefixed("routing").key,
            "routing"
        );
        assert_eq!(
            ConfigError::new(".", "x").prefixed("routing").key,
            "routing"
        );
    }
}
