//! The raw zone as a folder laid out exactly as DMS writes to S3:
//! `full/<schema>/<table>/LOAD*.parquet`, `cdc/<schema>/<table>/<YYYYMMDD>/*.parquet`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use duckdb::Connection;

use cdc_core::ports::{FileColumn, FileColumnType, FileKind, RawFile, RawZone};
use cdc_core::sql::Dialect;
use cdc_core::{PipelineError, TableConfig};

pub struct FolderRawZone {
    root: PathBuf,
    /// Reads Parquet footers; DuckDB is already linked in the local build.
    reader: Mutex<Connection>,
}

impl FolderRawZone {
    pub fn new(root: &Path) -> Result<Self, PipelineError> {
        let root = std::path::absolute(root)
            .map_err(|e| PipelineError::config(format!("raw zone {}: {e}", root.display())))?;
        let reader = Connection::open_in_memory()
            .map_err(|e| PipelineError::config(format!("DuckDB for reading Parquet schemas: {e}")))?;
        Ok(Self { root, reader: Mutex::new(reader) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn table_dir(&self, t: &TableConfig, kind: FileKind) -> PathBuf {
        let top = match kind {
            FileKind::Full => "full",
            FileKind::Cdc => "cdc",
        };
        self.root.join(top).join(t.schema.as_str()).join(t.name.as_str())
    }

    /// The glob a catalog view reads.
    pub fn glob(&self, t: &TableConfig, kind: FileKind) -> String {
        let dir = self.table_dir(t, kind);
        match kind {
            FileKind::Full => format!("{}/*.parquet", dir.display()),
            FileKind::Cdc => format!("{}/*/*.parquet", dir.display()),
        }
    }

    pub fn has_files(&self, t: &TableConfig, kind: FileKind) -> bool {
        self.list(t, kind, None).is_ok_and(|f| !f.is_empty())
    }

    fn list(&self, t: &TableConfig, kind: FileKind, from: Option<&str>) -> Result<Vec<RawFile>, PipelineError> {
        let dir = self.table_dir(t, kind);
        let mut out = Vec::new();
        match kind {
            FileKind::Full => collect_parquet(&dir, kind, None, &mut out)?,
            FileKind::Cdc => {
                for day in subdirs(&dir)? {
                    let name = day.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
                    let is_day = name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit());
                    if is_day && from.is_none_or(|f| name.as_str() >= f) {
                        collect_parquet(&day, kind, Some(name), &mut out)?;
                    }
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

fn io_err(path: &Path, e: std::io::Error) -> PipelineError {
    PipelineError::retryable(format!("raw zone {}: {e}", path.display()))
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, PipelineError> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err(dir, e)),
        Ok(entries) => {
            let mut out = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| io_err(dir, e))?;
                if entry.file_type().map_err(|e| io_err(dir, e))?.is_dir() {
                    out.push(entry.path());
                }
            }
            Ok(out)
        }
    }
}

/// Finished Parquet files only: writers use a temporary name, then rename.
fn collect_parquet(
    dir: &Path,
    kind: FileKind,
    partition: Option<String>,
    out: &mut Vec<RawFile>,
) -> Result<(), PipelineError> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(|e| io_err(dir, e))?,
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.ends_with(".parquet") || name.starts_with('.') {
            continue;
        }
        let meta = entry.metadata().map_err(|e| io_err(&entry.path(), e))?;
        if !meta.is_file() {
            continue;
        }
        let modified: DateTime<Utc> = meta.modified().map_err(|e| io_err(&entry.path(), e))?.into();
        out.push(RawFile {
            path: entry.path().display().to_string(),
            kind,
            partition: partition.clone(),
            size: meta.len(),
            modified,
        });
    }
    Ok(())
}

#[async_trait]
impl RawZone for FolderRawZone {
    async fn list_files(
        &self,
        table: &TableConfig,
        kind: FileKind,
        from_partition: Option<&str>,
    ) -> Result<Vec<RawFile>, PipelineError> {
        self.list(table, kind, from_partition)
    }

    async fn file_columns(&self, file: &RawFile) -> Result<Vec<FileColumn>, PipelineError> {
        let reader = self.reader.lock().expect("parquet reader lock");
        let sql = format!("DESCRIBE SELECT * FROM read_parquet({})", Dialect::DuckDb.literal(&file.path));
        let read = || -> Result<Vec<FileColumn>, duckdb::Error> {
            let mut stmt = reader.prepare(&sql)?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            rows.map(|r| r.map(|(name, ty)| FileColumn { name, ty: file_type(&ty) })).collect()
        };
        read().map_err(|e| {
            PipelineError::data(format!("file {} is not readable Parquet (empty, truncated or corrupt?): {e}", file.path))
        })
    }

    fn describe_location(&self, table: &TableConfig) -> String {
        format!(
            "{} and {}",
            self.table_dir(table, FileKind::Full).display(),
            self.table_dir(table, FileKind::Cdc).display()
        )
    }
}

/// DuckDB's type names for Parquet columns, as the port's types.
fn file_type(duck: &str) -> FileColumnType {
    let t = duck.to_ascii_uppercase();
    match t.as_str() {
        "SMALLINT" | "TINYINT" => FileColumnType::Int16,
        "INTEGER" => FileColumnType::Int32,
        "BIGINT" => FileColumnType::Int64,
        "FLOAT" => FileColumnType::Float32,
        "DOUBLE" => FileColumnType::Float64,
        "BOOLEAN" => FileColumnType::Boolean,
        "DATE" => FileColumnType::Date,
        "TIMESTAMP" | "TIMESTAMP_S" | "TIMESTAMP_MS" | "TIMESTAMP_NS" | "TIMESTAMP WITH TIME ZONE" => {
            FileColumnType::Timestamp
        }
        "VARCHAR" => FileColumnType::String,
        _ => match t.strip_prefix("DECIMAL(").and_then(|r| r.strip_suffix(')')) {
            Some(ps) => {
                let mut it = ps.split(',').map(|n| n.trim().parse::<u8>());
                match (it.next(), it.next()) {
                    (Some(Ok(p)), Some(Ok(s))) => FileColumnType::Decimal(p, s),
                    _ => FileColumnType::Other(duck.to_string()),
                }
            }
            None => FileColumnType::Other(duck.to_string()),
        },
    }
}
