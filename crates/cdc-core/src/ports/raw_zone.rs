use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::TableConfig;
use crate::error::PipelineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum FileKind {
    /// `full/<schema>/<table>/LOAD*.parquet`
    Full,
    /// `cdc/<schema>/<table>/<YYYYMMDD>/*.parquet`
    Cdc,
}

impl FileKind {
    /// The code stored in the progress table.
    pub fn code(self) -> &'static str {
        match self {
            FileKind::Full => "F",
            FileKind::Cdc => "C",
        }
    }
}

/// One Parquet file of the raw zone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RawFile {
    /// The path exactly as the warehouse reports it for the file's rows
    /// (`"$path"` on Spectrum, `filename` in DuckDB).
    pub path: String,
    pub kind: FileKind,
    /// The day folder (`YYYYMMDD`, Glue's `partition_0`); `None` for full-load files.
    pub partition: Option<String>,
    pub size: u64,
    pub modified: DateTime<Utc>,
}

/// Column types as found in a Parquet file's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileColumnType {
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    Date,
    Timestamp,
    String,
    Decimal(u8, u8),
    /// Anything else, with the engine's own name for it.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileColumn {
    pub name: String,
    pub ty: FileColumnType,
}

/// The raw zone: DMS output in S3, or a folder locally.
#[async_trait]
pub trait RawZone: Send + Sync {
    /// Files of one kind for the table, sorted by path. For CDC files, only
    /// day folders from `from_partition` on, when given.
    async fn list_files(
        &self,
        table: &TableConfig,
        kind: FileKind,
        from_partition: Option<&str>,
    ) -> Result<Vec<RawFile>, PipelineError>;

    /// The Parquet schema of each file, in the order given; one call for many
    /// files, since reading footers one by one dominates a small load. A file
    /// that is not readable Parquet is a `DataError` naming it.
    async fn file_schemas(&self, files: &[RawFile]) -> Result<Vec<Vec<FileColumn>>, PipelineError>;

    /// Where the table's files are expected, for messages.
    fn describe_location(&self, table: &TableConfig) -> String;
}
