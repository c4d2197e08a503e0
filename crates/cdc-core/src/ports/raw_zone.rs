use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::PipelineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum FileKind {
    /// A full-load file, `LOAD<8 hex digits>.parquet`.
    Full,
    /// A CDC file, named by the time DMS wrote it (docs/dms.md).
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
    /// A CDC file's day (`YYYYMMDD`, the date in its name; Glue's
    /// `partition_0` where days have folders); `None` for full-load files.
    pub partition: Option<String>,
    pub size: u64,
    pub modified: DateTime<Utc>,
    /// What changes when the object is rewritten: S3's ETag, or locally the
    /// digest of its bytes. Compared with the applied file's, with the size.
    #[serde(default)]
    pub version: String,
}

/// One object under a prefix of the raw zone, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawObject {
    /// The key relative to the listed prefix (`2024/01/05/20240105-000100000.parquet`).
    pub rel: String,
    /// The path exactly as the warehouse reports it for the object's rows.
    pub path: String,
    pub size: u64,
    pub modified: DateTime<Utc>,
    /// S3's ETag; locally a digest of the bytes (the same bytes written
    /// again keep it, as they keep a single-part upload's ETag).
    pub version: String,
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

/// The raw zone: DMS output in S3, or a folder locally. It lists objects;
/// what they are is the layout's business ([`crate::dms::Layout`]), so both
/// adapters read every DMS layout alike.
#[async_trait]
pub trait RawZone: Send + Sync {
    /// Every object under `prefix` (relative to the zone's root, ending in
    /// `/`), subfolders included, sorted by key; with `start_after` (a key
    /// relative to `prefix`), only those whose relative key sorts after it,
    /// so a listing costs what is past it, not the folder's whole history
    /// (S3's `StartAfter`).
    async fn list_objects(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<RawObject>, PipelineError>;

    /// The Parquet schema of each file, in the order given; one call for many
    /// files, since reading footers one by one dominates a small load. A file
    /// that is not readable Parquet is a `DataError` naming it.
    async fn file_schemas(&self, files: &[RawFile]) -> Result<Vec<Vec<FileColumn>>, PipelineError>;

    /// A prefix as its user finds it (`s3://bucket/raw/full/public/t/`, a
    /// folder), for messages.
    fn describe_prefix(&self, prefix: &str) -> String;
}
