//! Adapters of the embedded default: a DuckDB database file stands in for
//! Redshift, a folder for the raw-zone S3 bucket.

mod duckdb_errors;
mod duckdb_warehouse;
mod file_job_store;
mod folder_optimized_zone;
mod folder_raw_zone;
mod jsonl_notifier;
mod local_catalog;
mod local_paths;
mod local_raw_catalog;
mod values;

pub use duckdb_warehouse::{DuckDbWarehouse, LocalError};
pub use file_job_store::FileJobStore;
pub use folder_optimized_zone::FolderOptimizedZone;
pub use folder_raw_zone::FolderRawZone;
pub use jsonl_notifier::JsonlNotifier;
pub use local_catalog::{CatalogTable, LocalCatalog};
pub use local_raw_catalog::LocalRawCatalog;
