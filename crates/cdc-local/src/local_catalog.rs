//! The catalog of the embedded default, Glue's twin: one metastore file per
//! optimized table (`_catalog/<table>.json`: location, columns, partition
//! key, partitions) that any tool can read, and a DuckDB view over the
//! table's partitions (`<raw_schema>.optimized_<table>`), as Spectrum shows
//! the Glue table through the external schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use cdc_core::config::OP_COLUMN;
use cdc_core::ports::{OptimizedCatalog, OptimizedPartition};
use cdc_core::sql::{Dialect, names};
use cdc_core::{PipelineConfig, PipelineError, TableConfig};

use duckdb::Connection;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogTable {
    pub name: String,
    pub location: String,
    /// (name, type) in file order.
    pub columns: Vec<(String, String)>,
    pub partition_key: String,
    pub partitions: BTreeMap<String, OptimizedPartition>,
}

pub struct LocalCatalog {
    dir: PathBuf,
    cfg: PipelineConfig,
    /// A connection of the warehouse, for the views.
    conn: Mutex<Connection>,
}

impl LocalCatalog {
    /// `conn`: a connection of the warehouse (`DuckDbWarehouse::connection`).
    pub fn new(optimized_root: &Path, cfg: &PipelineConfig, conn: Connection) -> Self {
        Self { dir: optimized_root.join("_catalog"), cfg: cfg.clone(), conn: Mutex::new(conn) }
    }

    fn file(&self, t: &TableConfig) -> PathBuf {
        self.dir.join(format!("{}.json", t.name))
    }

    pub fn table(&self, t: &TableConfig) -> Result<Option<CatalogTable>, PipelineError> {
        let path = self.file(t);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| PipelineError::config(format!("catalog file {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PipelineError::config(format!("catalog file {}: {e}", path.display()))),
        }
    }

    fn write(&self, t: &TableConfig, table: &CatalogTable) -> Result<(), PipelineError> {
        let err = |e: std::io::Error| PipelineError::config(format!("catalog {}: {e}", self.dir.display()));
        std::fs::create_dir_all(&self.dir).map_err(err)?;
        let tmp = self.dir.join(format!(".{}.json.tmp", t.name));
        let text = serde_json::to_string_pretty(table).expect("catalog serializes");
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, self.file(t)).map_err(err)
    }

    /// The view reads every published day; created once a day holds a file,
    /// since DuckDB binds a view's columns from one.
    fn refresh_view(&self, t: &TableConfig, table: &CatalogTable) -> Result<(), PipelineError> {
        if !table.partitions.values().any(|p| p.files.files > 0) {
            return Ok(());
        }
        let glob = format!("{}/changedate=*/*.parquet", table.location);
        let sql = format!(
            "CREATE SCHEMA IF NOT EXISTS {}; CREATE OR REPLACE VIEW {} AS SELECT * FROM read_parquet({}, \
             hive_partitioning = true, hive_types = {{'changedate': VARCHAR}});",
            self.cfg.raw_schema.quoted(),
            names::optimized(&self.cfg, t),
            Dialect::DuckDb.literal(&glob)
        );
        let conn = self.conn.lock().expect("catalog connection lock");
        conn.execute_batch(&sql).map_err(|e| PipelineError::config(format!("optimized view of {}: {e}", t.name)))
    }
}

/// The optimized files' columns, in the order the export writes them: the
/// raw day's, so `Op` and the sequence are DMS's text (as in Glue).
fn columns(t: &TableConfig) -> Vec<(String, String)> {
    let mut cols = vec![(OP_COLUMN.to_string(), "varchar".to_string())];
    cols.push((t.commit_ts_column.to_string(), "timestamp".to_string()));
    if let Some(seq) = &t.sequence_column {
        cols.push((seq.to_string(), "varchar".to_string()));
    }
    cols.extend(
        t.columns.iter().filter(|c| c.name != t.commit_ts_column).map(|c| (c.name.to_string(), c.ty.to_string())),
    );
    cols
}

#[async_trait]
impl OptimizedCatalog for LocalCatalog {
    async fn register_table(&self, t: &TableConfig, location: &str) -> Result<(), PipelineError> {
        let columns = columns(t);
        match self.table(t)? {
            Some(existing) if existing.columns == columns && existing.location == location => Ok(()),
            // A config change altered the columns: the table is redefined,
            // its partitions kept (Glue's UpdateTable does the same).
            Some(mut existing) => {
                existing.columns = columns;
                existing.location = location.to_string();
                self.write(t, &existing)
            }
            None => self.write(
                t,
                &CatalogTable {
                    name: format!("optimized_{}", t.name),
                    location: location.to_string(),
                    columns,
                    partition_key: "changedate".into(),
                    partitions: BTreeMap::new(),
                },
            ),
        }
    }

    async fn register_partition(&self, t: &TableConfig, p: &OptimizedPartition) -> Result<(), PipelineError> {
        let mut table = self
            .table(t)?
            .ok_or_else(|| PipelineError::config(format!("optimized table {} is not registered", t.name)))?;
        table.partitions.insert(p.day.clone(), p.clone());
        self.write(t, &table)?;
        self.refresh_view(t, &table)
    }
}
