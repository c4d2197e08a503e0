//! The ports: what the core needs from the outside world. AWS adapters and the
//! local (embedded default) adapters implement them.

#[cfg(feature = "conformance")]
pub mod catalog_conformance;
mod optimized_zone;
mod raw_catalog;
mod raw_zone;
mod warehouse;
#[cfg(feature = "conformance")]
pub mod warehouse_conformance;

pub use optimized_zone::{DayFiles, ExportTarget, OptimizedCatalog, OptimizedPartition, OptimizedZone};
pub use raw_catalog::{RawCatalog, RawCatalogSync, RawListing, RawTableProblem, raw_table_name};
pub use raw_zone::{FileColumn, FileColumnType, FileKind, RawFile, RawObject, RawZone};
pub use warehouse::{
    Cell, IdempotentSubmits, PollSchedule, ResultSet, SingleStatement, StatementId, StatementState, Warehouse,
    run_to_completion, wait_for,
};
