//! The raw-zone catalog of the embedded default: there is nothing to
//! register, and this adapter says so instead of pretending.
//!
//! On AWS the warehouse sees a DMS file only once Glue knows its table and
//! day partition. Locally, DuckDB reads the raw folder through views over
//! globs (`DuckDbWarehouse::expose_raw_zone`) whose `partition_0` comes from
//! each file's path: a new file, or a new day folder, is visible to the very
//! next query. So the sync a run starts with has no work here.
//!
//! Why not call `expose_raw_zone` from here: the views live in the
//! warehouse file and need its connection, and the run's start is exactly
//! where an idle run must not open the warehouse (docs/architecture.md). The
//! warehouse (re)creates the views itself each time a run opens it, which
//! is when a table whose first files just arrived gets its view.

use std::collections::BTreeSet;

use async_trait::async_trait;

use cdc_core::ports::{RawCatalog, RawCatalogSync, RawListing, RawZone};
use cdc_core::{PipelineConfig, PipelineError, TableConfig};

/// The no-op raw catalog of the local pipeline; see the module doc.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalRawCatalog;

#[async_trait]
impl RawCatalog for LocalRawCatalog {
    /// Creates nothing and finds nothing: the views read the folders as they are.
    async fn ensure_tables(
        &self,
        _cfg: &PipelineConfig,
        _listing: &RawListing,
        _raw: &dyn RawZone,
    ) -> Result<RawCatalogSync, PipelineError> {
        Ok(RawCatalogSync::default())
    }

    /// Registers nothing: a day folder is a partition as soon as it exists.
    async fn register_partitions(
        &self,
        _cfg: &PipelineConfig,
        _table: &TableConfig,
        _days: &BTreeSet<String>,
    ) -> Result<Vec<String>, PipelineError> {
        Ok(Vec::new())
    }
}
