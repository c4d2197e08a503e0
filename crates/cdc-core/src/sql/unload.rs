//! The export of one finished CDC day to the optimized zone, and its record.
//!
//! Redshift: `UNLOAD` with `CLEANPATH`, so a re-export replaces the day's
//! folder whole (ALLOWOVERWRITE, the seed's choice, leaves older part files
//! behind when a re-export writes fewer files). DuckDB: `COPY ... TO` a
//! staging folder that the local zone then swaps in atomically.

use super::{Dialect, StatementBatch, names};
use crate::config::{OP_COLUMN, PipelineConfig, TableConfig};
use crate::dms::Layout;

/// One day of one table to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayExport<'a> {
    pub table: &'a TableConfig,
    /// `YYYYMMDD`, the day of the raw CDC files (docs/dms.md).
    pub day: &'a str,
    /// Where the SQL writes: an `s3://…/` prefix or a local folder.
    pub location: &'a str,
    /// Redshift's IAM_ROLE value (`default` or a role ARN); unused by DuckDB.
    pub iam_role: Option<&'a str>,
    /// SSE-KMS key of the written files (`KMS_KEY_ID … ENCRYPTED`); unused by DuckDB.
    pub kms_key_id: Option<&'a str>,
}

/// The raw day's columns in a fixed order: the change's operation, its commit
/// time and sequence, then the table's columns.
fn columns(cfg: &PipelineConfig, t: &TableConfig) -> Vec<String> {
    // A timestamp whatever the raw file holds: DMS's TimestampColumnName
    // writes text (docs/dms.md); the optimized zone keeps a TIMESTAMP.
    let ts = format!("CAST({0} AS TIMESTAMP) AS {0}", t.commit_ts_column.quoted());
    // Inserts-only CDC files carry no `Op`; the optimized zone keeps one schema.
    let op = match cfg.dms.cdc_files_carry_op() {
        true => format!("\"{OP_COLUMN}\""),
        false => format!("'I' AS \"{OP_COLUMN}\""),
    };
    let mut cols = vec![op, ts];
    if let Some(seq) = &t.sequence_column {
        cols.push(seq.quoted());
    }
    cols.extend(t.columns.iter().filter(|c| c.name != t.commit_ts_column).map(|c| c.name.quoted()));
    cols
}

/// Sorted by key then commit order: a key's history sits together, and
/// readers filtering on the key or on time skip most row groups.
fn order_by(t: &TableConfig) -> String {
    let mut keys: Vec<String> = t.key.iter().map(|k| k.quoted()).collect();
    keys.push(t.commit_ts_column.quoted());
    if let Some(seq) = &t.sequence_column {
        keys.push(seq.quoted());
    }
    keys.join(", ")
}

/// The day's rows: those of the CDC files named for the day (the day every
/// part of the pipeline gives a file, docs/dms.md), which also leaves out
/// full-load files sharing the folder. Where days have folders, the day's
/// partition first, so Spectrum reads that folder only.
fn day_filter(cfg: &PipelineConfig, e: &DayExport<'_>, d: Dialect) -> String {
    let named = format!("\"$path\" LIKE {}", d.literal(&format!("%/{}-%.parquet", e.day)));
    match d {
        Dialect::Redshift if Layout::new(&cfg.dms).has_day_folders() => {
            format!("partition_0 = {} AND {named}", d.literal(e.day))
        }
        _ => named,
    }
}

fn day_select(cfg: &PipelineConfig, e: &DayExport<'_>, d: Dialect) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} ORDER BY {}",
        columns(cfg, e.table).join(", "),
        names::raw_cdc(cfg, e.table),
        day_filter(cfg, e, d),
        order_by(e.table)
    )
}

/// Writes the day and returns its row count (column `row_count`).
pub fn export_day(cfg: &PipelineConfig, e: &DayExport<'_>, d: Dialect) -> StatementBatch {
    // Redshift is given the configured MAXFILESIZE and rounds it down to a
    // multiple of 32 MB for Parquet; DuckDB is given that rounded size, so
    // both write the same files.
    let size_mb = match d {
        Dialect::Redshift => cfg.unload.max_file_size_mb,
        Dialect::DuckDb => cfg.unload.effective_file_size_mb(),
    };
    let statements = match d {
        Dialect::Redshift => vec![
            format!(
                "UNLOAD ({}) TO {} IAM_ROLE {}{} FORMAT AS PARQUET PARALLEL OFF MAXFILESIZE {size_mb} MB CLEANPATH",
                d.literal(&day_select(cfg, e, d)),
                d.literal(e.location),
                match e.iam_role {
                    Some(role) if role != "default" => d.literal(role),
                    _ => "default".to_string(),
                },
                // SSE-KMS instead of UNLOAD's default SSE-S3 (docs/aws.md).
                e.kms_key_id.map(|k| format!(" KMS_KEY_ID {} ENCRYPTED", d.literal(k))).unwrap_or_default()
            ),
            // The session's last UNLOAD, so the count matches what was written.
            "SELECT pg_last_unload_count() AS row_count".to_string(),
        ],
        Dialect::DuckDb => vec![
            format!(
                "COPY ({}) TO {} (FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE 20480, FILE_SIZE_BYTES '{size_mb}MB', \
                 FILENAME_PATTERN 'part_{{i}}')",
                day_select(cfg, e, d),
                d.literal(e.location)
            ),
            format!(
                "SELECT COUNT(*) AS row_count FROM {} WHERE {}",
                names::raw_cdc(cfg, e.table),
                day_filter(cfg, e, d)
            ),
        ],
    };
    StatementBatch { label: format!("unload {} {}", e.table.name, e.day), statements }
}

/// What an export wrote and from which raw files: a day whose raw files
/// change afterwards (late files) is exported again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRecord<'a> {
    pub table: &'a TableConfig,
    pub day: &'a str,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    pub source_files: u64,
    pub source_bytes: u64,
    /// `YYYY-MM-DD HH:MM:SS.ffffff`, the newest raw file's modification time.
    pub source_newest_modified: &'a str,
}

pub fn create_unloaded_days(cfg: &PipelineConfig, d: Dialect) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (table_name {} NOT NULL, changedate CHAR(8) NOT NULL, \
         unloaded_at TIMESTAMP NOT NULL, row_count BIGINT NOT NULL, file_count BIGINT NOT NULL, \
         byte_count BIGINT NOT NULL, source_files BIGINT NOT NULL, source_bytes BIGINT NOT NULL, \
         source_newest_modified TIMESTAMP NOT NULL)",
        names::unloaded_days(cfg),
        d.text_type(127)
    )
}

/// Replaces the day's record, one transaction.
pub fn record_day(cfg: &PipelineConfig, r: &DayRecord<'_>, d: Dialect) -> StatementBatch {
    let log = names::unloaded_days(cfg);
    let table = d.literal(r.table.name.as_str());
    let day = d.literal(r.day);
    StatementBatch {
        label: format!("record unload {} {}", r.table.name, r.day),
        statements: vec![
            format!("DELETE FROM {log} WHERE table_name = {table} AND changedate = {day}"),
            format!(
                "INSERT INTO {log} VALUES ({table}, {day}, {}, {}, {}, {}, {}, {}, CAST({} AS TIMESTAMP))",
                d.now(),
                r.rows,
                r.files,
                r.bytes,
                r.source_files,
                r.source_bytes,
                d.literal(r.source_newest_modified)
            ),
        ],
    }
}

/// Every recorded day, for planning.
pub fn unloaded_days_query(cfg: &PipelineConfig, d: Dialect) -> StatementBatch {
    let ts = match d {
        Dialect::DuckDb => "strftime(source_newest_modified, '%Y-%m-%d %H:%M:%S.%f')",
        Dialect::Redshift => "TO_CHAR(source_newest_modified, 'YYYY-MM-DD HH24:MI:SS.US')",
    };
    StatementBatch {
        label: "unloaded days".into(),
        statements: vec![format!(
            "SELECT table_name, changedate, row_count, file_count, byte_count, source_files, source_bytes, \
             {ts} AS source_newest_modified, {} AS unloaded_at FROM {} ORDER BY table_name, changedate",
            match d {
                Dialect::DuckDb => "strftime(unloaded_at, '%Y-%m-%d %H:%M:%S')",
                Dialect::Redshift => "TO_CHAR(unloaded_at, 'YYYY-MM-DD HH24:MI:SS')",
            },
            names::unloaded_days(cfg)
        )],
    }
}
