//! The Glue Data Catalog as the pipeline's catalogs: the optimized tables
//! ([`GlueCatalog`], an `OptimizedCatalog`) and the raw zone's tables
//! ([`GlueRawCatalog`], a `RawCatalog`), all in one Glue database, which
//! Redshift sees as the external schema `raw_schema`.
//!
//! Tables are created and partitions registered by the run itself, not by a
//! crawler, so a day folder is queryable the moment the run lists it.
//! Every call is idempotent: a table that exists is compared and left (or,
//! for the optimized tables this crate owns, updated); a partition that
//! exists is fine (or, for optimized days, updated so its location and
//! figures are current). `AlreadyExistsException` from a concurrent run is
//! treated as success. An `EntityNotFoundException` is absence where absence
//! is expected (GetTable) and a `ConfigError` naming the database or table
//! everywhere else.

pub mod optimized;
mod raw;
pub mod table_def;

use std::collections::BTreeSet;

use aws_sdk_glue::Client;
use aws_sdk_glue::operation::create_table::CreateTableError;
use aws_sdk_glue::operation::get_table::GetTableError;
use aws_sdk_glue::types::{PartitionInput, Table, TableInput};
use cdc_core::PipelineError;

use crate::sdk_error::{classify_code, to_pipeline_error};

pub use raw::GlueRawCatalog;

/// Glue's limit of partitions per BatchCreatePartition.
const PARTITIONS_PER_BATCH: usize = 100;

/// The optimized tables' catalog (see `optimized.rs`).
pub struct GlueCatalog {
    glue: Glue,
}

impl GlueCatalog {
    pub fn new(client: Client, database: &str) -> Self {
        Self { glue: Glue { client, database: database.to_string() } }
    }

    pub fn database(&self) -> &str {
        &self.glue.database
    }
}

/// A client and the database every call names.
#[derive(Clone)]
struct Glue {
    client: Client,
    database: String,
}

impl Glue {
    fn at(&self, call: &str, table: &str) -> String {
        format!("Glue {call} on table {}.{table}", self.database)
    }

    /// The table, or `None` when the database has no such table.
    async fn table(&self, name: &str) -> Result<Option<Table>, PipelineError> {
        match self.client.get_table().database_name(&self.database).name(name).send().await {
            Ok(out) => Ok(out.table),
            Err(e) => match e.as_service_error() {
                // A missing database ("Database … not found") is not absence of the table.
                Some(GetTableError::EntityNotFoundException(nf))
                    if !nf.message().is_some_and(|m| m.to_ascii_lowercase().starts_with("database")) =>
                {
                    Ok(None)
                }
                _ => Err(to_pipeline_error(&e, &self.at("GetTable", name))),
            },
        }
    }

    /// Creates the table; `false` when a concurrent run created it first.
    async fn create_table(&self, input: TableInput) -> Result<bool, PipelineError> {
        let name = input.name().to_string();
        match self.client.create_table().database_name(&self.database).table_input(input).send().await {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.as_service_error(), Some(CreateTableError::AlreadyExistsException(_))) => Ok(false),
            Err(e) => Err(to_pipeline_error(&e, &self.at("CreateTable", &name))),
        }
    }

    async fn update_table(&self, input: TableInput) -> Result<(), PipelineError> {
        let name = input.name().to_string();
        self.client
            .update_table()
            .database_name(&self.database)
            .table_input(input)
            .send()
            .await
            .map_err(|e| to_pipeline_error(&e, &self.at("UpdateTable", &name)))?;
        Ok(())
    }

    /// The first partition value of every partition of the table.
    async fn partition_values(&self, table: &str) -> Result<BTreeSet<String>, PipelineError> {
        let mut pages = self
            .client
            .get_partitions()
            .database_name(&self.database)
            .table_name(table)
            .exclude_column_schema(true)
            .into_paginator()
            .send();
        let mut out = BTreeSet::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| to_pipeline_error(&e, &self.at("GetPartitions", table)))?;
            out.extend(page.partitions().iter().filter_map(|p| p.values().first().cloned()));
        }
        Ok(out)
    }

    /// Creates the partitions, in batches; returns the values of those that
    /// existed already. Any other per-partition failure is an error naming
    /// the table and the partition.
    async fn create_partitions(&self, table: &str, inputs: Vec<PartitionInput>) -> Result<Vec<String>, PipelineError> {
        let mut existing = Vec::new();
        let mut inputs = inputs.into_iter().peekable();
        while inputs.peek().is_some() {
            let batch: Vec<PartitionInput> = inputs.by_ref().take(PARTITIONS_PER_BATCH).collect();
            let out = self
                .client
                .batch_create_partition()
                .database_name(&self.database)
                .table_name(table)
                .set_partition_input_list(Some(batch))
                .send()
                .await
                .map_err(|e| to_pipeline_error(&e, &self.at("BatchCreatePartition", table)))?;
            for error in out.errors() {
                let values = error.partition_values().join("/");
                let code = error.error_detail().and_then(|d| d.error_code());
                if code == Some("AlreadyExistsException") {
                    existing.extend(error.partition_values().first().cloned());
                    continue;
                }
                let message = error.error_detail().and_then(|d| d.error_message()).unwrap_or("no message");
                return Err(PipelineError::new(
                    classify_code(code, None),
                    format!(
                        "{} partition {values}: {}: {message}",
                        self.at("BatchCreatePartition", table),
                        code.unwrap_or("unknown error")
                    ),
                ));
            }
        }
        Ok(existing)
    }
}
