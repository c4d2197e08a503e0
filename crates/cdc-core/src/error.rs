//! The error classes every part of the pipeline agrees on (docs/architecture.md).
//! The state machine retries `Retryable` and catches the other two.

use std::fmt;

/// What a caller may do about an error. The `Display` form is the exact
/// `errorType` string the Lambda handlers return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// Throttling, transient network trouble, serialization conflicts: try again.
    Retryable,
    /// A bad file or a bad row: retrying the same input fails the same way.
    DataError,
    /// The configuration or environment is wrong: a person must fix it.
    ConfigError,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "Retryable",
            ErrorKind::DataError => "DataError",
            ErrorKind::ConfigError => "ConfigError",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that crossed a port, classified so the orchestration can react.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct PipelineError {
    pub kind: ErrorKind,
    pub message: String,
}

impl PipelineError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Retryable, message)
    }
    pub fn data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::DataError, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ConfigError, message)
    }
    /// The same error with a prefix naming where it happened (table, file, statement).
    pub fn context(self, prefix: impl fmt::Display) -> Self {
        Self { kind: self.kind, message: format!("{prefix}: {}", self.message) }
    }
}
