//! The client's error: what went wrong, in which operation, after how many attempts, and
//! whether trying again later may help.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::auth::AuthError;

/// `CommunicationError` from the common document: the service's error detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommunicationError {
    /// Error code (ACS uses numeric strings such as `"8523"` and words such as `"Unauthorized"`).
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// The field or object the error is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Further errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<CommunicationError>,
    /// A more specific error.
    #[serde(
        default,
        rename = "innererror",
        skip_serializing_if = "Option::is_none"
    )]
    pub inner_error: Option<Box<CommunicationError>>,
}

impl fmt::Display for CommunicationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(inner) = &self.inner_error {
            write!(f, " ({inner})")?;
        }
        Ok(())
    }
}

/// `CommunicationErrorResponse`: the body of every non-success answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunicationErrorResponse {
    /// The error.
    pub error: CommunicationError,
}

/// What kind of failure an [`Error`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request could not be sent or its answer not received (connect error, reset).
    Transport,
    /// An attempt ran past the per-request timeout, or the total deadline ran out.
    Timeout,
    /// The call connection does not exist (any more): HTTP 404 on a
    /// `/calling/callConnections/{id}` operation. For a worker this means "the call is gone".
    CallNotFound {
        /// The service's error detail, if the body had one.
        error: Option<CommunicationError>,
    },
    /// The service answered with a status the operation does not document as success.
    Status {
        /// The HTTP status.
        status: u16,
        /// The service's error detail, if the body was a `CommunicationErrorResponse`.
        error: Option<CommunicationError>,
    },
    /// No credential could be obtained (token endpoint failure, bad configuration).
    Auth {
        /// Whether the token source may succeed if asked again.
        retryable: bool,
    },
    /// The request was rejected before sending (bad id, out-of-range value, bad endpoint).
    InvalidInput,
    /// A success answer could not be read as the documented model.
    Decode,
}

/// HTTP statuses worth retrying: request timeout, throttling, transient server errors.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// A failed Call Automation operation. Boxed inside, so `Result<T, Error>` stays small.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    operation: &'static str,
    message: String,
    attempts: u32,
    request_id: Option<String>,
    /// The request may have reached the service and taken effect although no success
    /// answer came back (see [`Error::may_have_been_applied`]).
    maybe_applied: bool,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(
        kind: ErrorKind,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self(Box::new(Inner {
            kind,
            operation,
            message: message.into(),
            attempts: 0,
            request_id: None,
            maybe_applied: false,
            source: None,
        }))
    }

    /// Marks the error as one after which the request may have taken effect.
    pub(crate) fn maybe_applied(mut self, maybe: bool) -> Self {
        self.0.maybe_applied = maybe;
        self
    }

    pub(crate) fn invalid_input(operation: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, operation, message)
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.0.attempts = attempts;
        self
    }

    pub(crate) fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.0.request_id = request_id;
        self
    }

    pub(crate) fn from_auth(operation: &'static str, e: AuthError) -> Self {
        let retryable = e.is_retryable();
        Self::new(
            ErrorKind::Auth { retryable },
            operation,
            "could not obtain a token",
        )
        .with_source(e)
    }

    /// The kind of failure.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The operation (`operationId` from the spec, e.g. `CallConnection_AddParticipant`).
    pub fn operation(&self) -> &'static str {
        self.0.operation
    }

    /// How many HTTP attempts were made (0 if the request was rejected before sending).
    pub fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// The HTTP status, for status errors.
    pub fn status(&self) -> Option<u16> {
        match &self.0.kind {
            ErrorKind::Status { status, .. } => Some(*status),
            ErrorKind::CallNotFound { .. } => Some(404),
            _ => None,
        }
    }

    /// The service's error detail, if there was one.
    pub fn communication_error(&self) -> Option<&CommunicationError> {
        match &self.0.kind {
            ErrorKind::Status { error, .. } | ErrorKind::CallNotFound { error } => error.as_ref(),
            _ => None,
        }
    }

    /// The service's request id (`x-ms-request-id`, else `X-Microsoft-Skype-Chain-ID`), for
    /// support tickets.
    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// True when the request may have reached the service and taken effect although no
    /// success answer arrived: the connection broke after the request was sent, the answer
    /// did not come in time, a server or gateway error other than a 503 that asks to retry
    /// later, or a success answer that could not be read. False when it certainly did not
    /// take effect: no connection could be made, or the service refused it (4xx, 429, 503
    /// with `Retry-After`). An operation without repeatability headers must not be sent again
    /// after an error for which this is true: its effect could happen twice.
    pub fn may_have_been_applied(&self) -> bool {
        self.0.maybe_applied
    }

    /// True when the call connection no longer exists: the worker should stop driving it.
    pub fn is_call_not_found(&self) -> bool {
        matches!(self.0.kind, ErrorKind::CallNotFound { .. })
    }

    /// Whether the same request may succeed later: transport errors, timeouts, 408, 429 and
    /// 5xx gateway/availability statuses, and retryable token failures. A caller that has
    /// already used up the client's own retries can use this to decide between abandoning a
    /// queue message (retry later) and dead-lettering it.
    pub fn is_retryable(&self) -> bool {
        match &self.0.kind {
            ErrorKind::Transport | ErrorKind::Timeout => true,
            ErrorKind::Status { status, .. } => is_retryable_status(*status),
            ErrorKind::Auth { retryable } => *retryable,
            ErrorKind::CallNotFound { .. } | ErrorKind::InvalidInput | ErrorKind::Decode => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.0.operation)?;
        match &self.0.kind {
            ErrorKind::Transport => write!(f, "transport error: {}", self.0.message)?,
            ErrorKind::Timeout => write!(f, "timed out: {}", self.0.message)?,
            ErrorKind::CallNotFound { error } => {
                write!(f, "call connection not found (HTTP 404)")?;
                if let Some(e) = error {
                    write!(f, ": {e}")?;
                }
            }
            ErrorKind::Status { status, error } => {
                write!(f, "HTTP {status}")?;
                match error {
                    Some(e) => write!(f, ": {e}")?,
                    None if !self.0.message.is_empty() => write!(f, ": {}", self.0.message)?,
                    None => {}
                }
            }
            ErrorKind::Auth { .. } => write!(f, "authentication failed: {}", self.0.message)?,
            ErrorKind::InvalidInput => write!(f, "invalid input: {}", self.0.message)?,
            ErrorKind::Decode => write!(f, "unreadable response: {}", self.0.message)?,
        }
        if self.0.attempts > 1 {
            write!(f, " (after {} attempts)", self.0.attempts)?;
        }
        if let Some(id) = &self.0.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_by_kind() {
        let status = |s| {
            Error::new(
                ErrorKind::Status {
                    status: s,
                    error: None,
                },
                "Op",
                "",
            )
        };
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(status(s).is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 412, 501] {
            assert!(!status(s).is_retryable(), "{s}");
        }
        assert!(Error::new(ErrorKind::Transport, "Op", "reset").is_retryable());
        assert!(Error::new(ErrorKind::Timeout, "Op", "").is_retryable());
        assert!(!Error::invalid_input("Op", "bad").is_retryable());
        assert!(!Error::new(ErrorKind::Decode, "Op", "").is_retryable());
        let gone = Error::new(ErrorKind::CallNotFound { error: None }, "Op", "");
        assert!(gone.is_call_not_found() && !gone.is_retryable());
        assert_eq!(gone.status(), Some(404));
        assert!(Error::new(ErrorKind::Auth { retryable: true }, "Op", "").is_retryable());
    }

    #[test]
    fn display_includes_service_error_attempts_and_request_id() {
        let e = Error::new(
            ErrorKind::Status {
                status: 400,
                error: Some(CommunicationError {
                    code: "8523".into(),
                    message: "Invalid request.".into(),
                    target: None,
                    details: vec![],
                    inner_error: None,
                }),
            },
            "CreateCall",
            "",
        )
        .with_attempts(3)
        .with_request_id(Some("rid-1".into()));
        assert_eq!(
            e.to_string(),
            "CreateCall: HTTP 400: 8523: Invalid request. (after 3 attempts) [request id rid-1]"
        );
        assert_eq!(e.communication_error().unwrap().code, "8523");
    }

    #[test]
    fn communication_error_parses_nested() {
        let r: CommunicationErrorResponse = serde_json::from_str(
            r#"{"error":{"code":"Conflict","message":"m","target":"t",
                "details":[{"code":"d","message":"dm"}],
                "innererror":{"code":"i","message":"im"}}}"#,
        )
        .unwrap();
        assert_eq!(r.error.details.len(), 1);
        assert_eq!(r.error.inner_error.as_ref().unwrap().code, "i");
        assert_eq!(r.error.to_string(), "Conflict: m (i: im)");
    }
}
