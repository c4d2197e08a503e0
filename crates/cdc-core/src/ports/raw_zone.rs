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

impl FileColumnType {
    /// A Parquet column's type from its schema element's physical type
    /// (`INT32`…), converted type (`UTF8`, `DECIMAL`…) and logical type
    /// (`StringType`…, as DuckDB's `parquet_schema()` and the Thrift names
    /// spell them), so every raw zone adapter types a file alike.
    pub fn from_parquet(
        physical: &str,
        converted: Option<&str>,
        logical: Option<&str>,
        precision: Option<i64>,
        scale: Option<i64>,
    ) -> Self {
        let logical = logical.unwrap_or("");
        let is = |c: &str| converted == Some(c);
        if is("DECIMAL") || logical.starts_with("DecimalType") {
            let p = precision.and_then(|p| u8::try_from(p).ok()).unwrap_or(38);
            let s = scale.and_then(|s| u8::try_from(s).ok()).unwrap_or(0);
            return Self::Decimal(p, s);
        }
        match physical {
            "BOOLEAN" => Self::Boolean,
            "INT32" if is("DATE") || logical.starts_with("DateType") => Self::Date,
            "INT32" if is("INT_8") || is("INT_16") => Self::Int16,
            "INT32" if converted.is_none_or(|c| c == "INT_32") => Self::Int32,
            "INT64"
                if converted.is_some_and(|c| c.starts_with("TIMESTAMP")) || logical.starts_with("TimestampType") =>
            {
                Self::Timestamp
            }
            "INT64" if converted.is_none_or(|c| c == "INT_64") => Self::Int64,
            "INT96" => Self::Timestamp,
            "FLOAT" => Self::Float32,
            "DOUBLE" => Self::Float64,
            "BYTE_ARRAY" if is("UTF8") || is("ENUM") || logical.starts_with("StringType") => Self::String,
            _ => Self::Other(format!("{physical}/{}", converted.unwrap_or("-"))),
        }
    }
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
