//! `optimized_<table>`: the exported days, partitioned by `changedate`.
//!
//! The table's columns are the export's (the local catalog's, in Hive
//! spelling). This crate owns the table: a config change that alters the
//! columns, or a moved location, updates it in place (its partitions stay,
//! as Glue keeps them across UpdateTable). A table of that name partitioned
//! another way is someone else's: a `ConfigError` naming it.
//!
//! A day is registered with BatchCreatePartition; when it exists (a
//! re-export after late files) it is updated, so its location and figures
//! (`numRows`, `numFiles`, `totalSize`, Hive's statistic names) are current.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_glue::types::PartitionInput;

use cdc_core::config::OP_COLUMN;
use cdc_core::ports::{OptimizedCatalog, OptimizedPartition};
use cdc_core::{PipelineError, TableConfig};

use super::GlueCatalog;
use super::table_def::{self, GlueColumn, folder};

/// The partition key, as the folders name it (`changedate=YYYYMMDD`).
pub const PARTITION_KEY: &str = "changedate";

pub fn table_name(t: &TableConfig) -> String {
    format!("optimized_{}", t.name)
}

/// The exported files' columns, in the order the export writes them. The
/// export copies the raw day, so `Op` and the sequence are the text DMS
/// wrote (Spectrum reads a Parquet column only as the type it was written
/// as), whatever type the target stores the sequence in.
pub fn columns(t: &TableConfig) -> Vec<GlueColumn> {
    let mut cols = vec![GlueColumn::new(OP_COLUMN, "string")];
    cols.push(GlueColumn::new(t.commit_ts_column.as_str(), "timestamp"));
    if let Some(seq) = &t.sequence_column {
        cols.push(GlueColumn::new(seq.as_str(), "string"));
    }
    cols.extend(
        t.columns
            .iter()
            .filter(|c| c.name != t.commit_ts_column)
            .map(|c| GlueColumn::new(c.name.as_str(), table_def::hive_type(c.ty))),
    );
    cols
}

fn description(t: &TableConfig) -> String {
    format!("CDC changes of {} per day, exported by the pipeline", t.qualified())
}

impl GlueCatalog {
    fn partition(&self, t: &TableConfig, p: &OptimizedPartition) -> Result<PartitionInput, PipelineError> {
        let parameters = HashMap::from([
            ("numRows".to_string(), p.rows.to_string()),
            ("numFiles".to_string(), p.files.files.to_string()),
            ("totalSize".to_string(), p.files.bytes.to_string()),
            ("cdc.registered_at".to_string(), p.registered_at.to_rfc3339()),
        ]);
        table_def::partition_input(&p.day, &columns(t), &folder(&p.location), parameters)
    }
}

#[async_trait]
impl OptimizedCatalog for GlueCatalog {
    async fn register_table(&self, t: &TableConfig, location: &str) -> Result<(), PipelineError> {
        let name = table_name(t);
        let (columns, location) = (columns(t), folder(location));
        let input = || table_def::table_input(&name, &columns, &location, Some(PARTITION_KEY), &description(t));
        let Some(existing) = self.glue.table(&name).await? else {
            self.glue.create_table(input()?).await?;
            return Ok(());
        };
        if table_def::partition_keys_of(&existing) != [PARTITION_KEY] {
            return Err(PipelineError::config(format!(
                "Glue table {}.{name} is partitioned by {:?}, not by {PARTITION_KEY}: drop or rename it",
                self.glue.database,
                table_def::partition_keys_of(&existing)
            )));
        }
        let current_location = existing.storage_descriptor().and_then(|sd| sd.location()).map(folder);
        if table_def::columns_of(&existing) != columns || current_location.as_deref() != Some(location.as_str()) {
            self.glue.update_table(input()?).await?;
        }
        Ok(())
    }

    async fn register_partition(&self, t: &TableConfig, p: &OptimizedPartition) -> Result<(), PipelineError> {
        let name = table_name(t);
        let input = self.partition(t, p)?;
        let existed = self.glue.create_partitions(&name, vec![input.clone()]).await.map_err(|e| {
            if e.kind == cdc_core::ErrorKind::ConfigError {
                e.context(format!("optimized table {name} (is it registered?)"))
            } else {
                e
            }
        })?;
        if existed.is_empty() {
            return Ok(());
        }
        self.glue
            .client
            .update_partition()
            .database_name(&self.glue.database)
            .table_name(&name)
            .partition_value_list(&p.day)
            .partition_input(input)
            .send()
            .await
            .map_err(|e| crate::sdk_error::to_pipeline_error(&e, &self.glue.at("UpdatePartition", &name)))?;
        Ok(())
    }
}
