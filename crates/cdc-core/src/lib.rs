//! Domain core of the Redshift CDC pipeline.
//!
//! It knows the pipeline configuration, the CDC correctness contract (as SQL in
//! two dialects: DuckDB for the embedded default, Redshift for AWS) and the ports
//! the outer world implements. It knows nothing of AWS or of DuckDB's API.

pub mod config;
pub mod cycle;
pub mod dms;
pub mod error;
pub mod ident;
pub mod job;
pub mod load;
pub mod load_plan;
pub mod notify;
pub mod ports;
pub mod rebuild;
pub mod schema_change;
pub mod setup;
pub mod sql;
pub mod steps;
pub mod unload;

pub use config::{ColumnType, PipelineConfig, SchemaChangePolicy, SequenceType, TableConfig, TableKind, TableMode};
pub use error::{ErrorKind, PipelineError};
