use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::TableConfig;
use crate::error::PipelineError;

/// What one exported day holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct DayFiles {
    pub files: u64,
    pub bytes: u64,
}

/// Where an export writes, as the warehouse's SQL names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportTarget {
    /// An `s3://…/changedate=YYYYMMDD/` prefix (the final place: UNLOAD's
    /// CLEANPATH replaces it) or a local staging folder.
    pub location: String,
    /// Redshift's IAM_ROLE for UNLOAD (`default` or a role ARN).
    pub iam_role: Option<String>,
    /// The KMS key UNLOAD encrypts with (`KMS_KEY_ID … ENCRYPTED`, SSE-KMS);
    /// `None`: SSE-S3, UNLOAD's default.
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

/// The optimized zone: an S3 bucket on AWS, a folder locally, laid out as
/// `<table>/changedate=YYYYMMDD/part_*.parquet`.
#[async_trait]
pub trait OptimizedZone: Send + Sync {
    /// Fails, before anything is written, when the zone cannot be used: not
    /// writable, or inside the raw zone (whose listing it would pollute).
    async fn check(&self) -> Result<(), PipelineError>;

    /// Where the export of a day writes.
    fn export_target(&self, table: &TableConfig, day: &str) -> Result<ExportTarget, PipelineError>;

    /// Makes a finished export the day's content (an atomic folder swap
    /// locally; nothing to move on S3) and says what the day now holds.
    async fn publish(&self, table: &TableConfig, day: &str, target: &ExportTarget) -> Result<DayFiles, PipelineError>;

    /// The day's folder as readers address it.
    fn day_location(&self, table: &TableConfig, day: &str) -> String;

    /// The table's root as readers address it.
    fn table_location(&self, table: &TableConfig) -> String;
}

/// One registered partition of an optimized table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OptimizedPartition {
    pub day: String,
    pub location: String,
    pub rows: u64,
    pub files: DayFiles,
    pub registered_at: DateTime<Utc>,
}

/// The catalog the optimized tables are queried through: the Glue database
/// on AWS (Athena, Spectrum), a metastore file plus DuckDB views locally.
#[async_trait]
pub trait OptimizedCatalog: Send + Sync {
    /// Creates the table if absent (columns from the config, `changedate`
    /// as the partition key).
    async fn register_table(&self, table: &TableConfig, location: &str) -> Result<(), PipelineError>;

    /// Adds or replaces one day's partition; an existing one is fine.
    async fn register_partition(
        &self,
        table: &TableConfig,
        partition: &OptimizedPartition,
    ) -> Result<(), PipelineError>;
}
