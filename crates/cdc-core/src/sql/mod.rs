//! SQL for both warehouses, generated from the configuration.
//!
//! Every statement is built here, in the core, so the DuckDB run on a laptop
//! and the Redshift run on AWS follow the same plan; only the few constructs the
//! two engines spell differently go through [`Dialect`].

mod dialect;
pub mod merge;
pub mod names;
pub mod rebuild;
pub mod setup;
pub mod unload;

pub use dialect::{DATA_ERROR_MARKER, Dialect};

/// Statements that must run as one transaction, with a label for logs and for
/// the Data API's `StatementName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementBatch {
    pub label: String,
    pub statements: Vec<String>,
}
