//! Error type of the generator.

use std::path::PathBuf;

/// Everything that can go wrong while generating the raw zone or the oracle.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// A file system operation failed; `path` names the file or folder.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A DuckDB call failed; `context` says what the generator was doing.
    #[error("DuckDB error while {context}: {source}")]
    DuckDb {
        context: String,
        #[source]
        source: duckdb::Error,
    },
    /// The configuration or layout cannot produce a valid raw zone.
    #[error("invalid generator configuration: {0}")]
    Config(String),
    /// The API was called out of order (e.g. a CDC cycle before the full load).
    #[error("generator used out of order: {0}")]
    State(String),
}

impl GenError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        GenError::Io { path: path.into(), source }
    }

    pub(crate) fn duckdb(context: impl Into<String>, source: duckdb::Error) -> Self {
        GenError::DuckDb { context: context.into(), source }
    }
}
