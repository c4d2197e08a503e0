//! Parquet files in the DMS raw-zone layout, written through an in-memory DuckDB.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use duckdb::{Appender, Connection, ToSql};

use crate::config::DmsLayout;
use crate::error::GenError;
use crate::model::{Change, FullRow, Micros, Row, Table};

/// `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `col TYPE, ...` for the table columns, optionally wrapped by DMS columns.
pub(crate) fn column_defs(head: &[(&str, &str)], table: Table, tail: &[(&str, &str)]) -> String {
    head.iter()
        .chain(table.columns())
        .chain(tail)
        .map(|(name, ty)| format!("{} {ty}", quote_ident(name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends one row: `head` values, the row's columns, then `tail` values.
pub(crate) fn append_row(
    app: &mut Appender<'_>,
    head: &[&dyn ToSql],
    row: &Row,
    tail: &[&dyn ToSql],
) -> duckdb::Result<()> {
    let mut values: Vec<&dyn ToSql> = Vec::with_capacity(head.len() + 14 + tail.len());
    values.extend_from_slice(head);
    row.push_values(&mut values);
    values.extend_from_slice(tail);
    app.append_row(values.as_slice())
}

fn stage_name(kind: &str, table: Table) -> String {
    format!("{kind}_{}", table.name())
}

/// Staging column naming the output file of each row; PARTITION_BY keeps it
/// out of the written files.
const PART_COLUMN: &str = "dmsgen_file";

/// Staging area under the raw root (same file system, so the final rename is
/// atomic) but outside `full/` and `cdc/`, where the raw-zone listers look.
const STAGING_DIR: &str = ".dmsgen-staging";

/// One output file: where it goes and its simulated write time (mtime).
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub rel: PathBuf,
    pub mtime: Micros,
}

/// Most files one `COPY` writes, below DuckDB's open-file limit for
/// partitioned writes (`partitioned_write_max_open_files`, 100), so a
/// partition never spills into a second file.
const MAX_FILES_PER_COPY: usize = 64;
/// Most rows one `COPY` buffers (unless one file alone has more).
const MAX_ROWS_PER_COPY: usize = 250_000;

/// A timestamp as DMS writes its TimestampColumnName column: `yyyy-MM-dd HH:mm:ss.SSSSSS`.
fn dms_timestamp_text(ts: Micros) -> String {
    ts.to_datetime().format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// Writes the Parquet files through an in-memory DuckDB.
///
/// Many files of one table go through one staging table (filled with the
/// Appender) and one `COPY ... PARTITION_BY`: DuckDB's per-statement cost
/// is about a millisecond, which dominated when each small file had its own
/// COPY. `ORDER_BY` keeps each file's rows in write order (the partitioned
/// writer sorts by partition and does not keep insertion order).
pub(crate) struct ParquetWriter {
    conn: Connection,
    root: PathBuf,
    /// `CREATE OR REPLACE TABLE` of each staging table, `[cdc, full]` per
    /// table. Recreating beats `DELETE FROM`: deleted rows would stay in
    /// DuckDB's row groups and slow every later scan.
    create: [[String; 2]; Table::COUNT],
    /// `ORDER_BY` of each staging table, `[cdc, full]` per table: the
    /// sequence for CDC, the scan order (key, or insertion order for an
    /// append-only table) for the full load.
    order: [[String; 2]; Table::COUNT],
    /// Timestamps written as DMS's `yyyy-MM-dd HH:mm:ss.SSSSSS` strings.
    ts_as_text: bool,
    /// CDC files carry `Op` (all but inserts-only CDC without IncludeOpForFullLoad).
    cdc_op: bool,
    /// Full-load files carry `Op` = `I` (IncludeOpForFullLoad).
    full_op: bool,
    /// Per table: `, <value> AS "<column>"` for each column the source
    /// added, appended to every file written since.
    added: [String; Table::COUNT],
    /// Per table: ` REPLACE (CAST("<column>" AS BIGINT) AS "<column>")` for
    /// the columns the source made bigint, written so from then on.
    retyped: [String; Table::COUNT],
    ts_column: String,
}

impl ParquetWriter {
    pub(crate) fn new(root: &Path, layout: &DmsLayout) -> Result<Self, GenError> {
        let conn =
            Connection::open_in_memory().map_err(|e| GenError::duckdb("opening the in-memory writer database", e))?;
        // One thread keeps bytes deterministic; one sorted run per COPY keeps
        // each partition in a single file.
        conn.execute_batch(
            "SET threads = 1; SET preserve_insertion_order = true; SET partitioned_write_flush_threshold = 1000000000000;",
        )
            .map_err(|e| GenError::duckdb("configuring the writer database", e))?;
        // DMS's TimestampColumnName column is a string (see DmsLayout::ts_as_text).
        let ts = (layout.ts_column.as_str(), if layout.ts_as_text { "VARCHAR" } else { "TIMESTAMP" });
        let seq = (layout.seq_column.as_str(), "VARCHAR");
        let part = (PART_COLUMN, "INTEGER");
        let op = ("Op", "VARCHAR");
        // Where DMS puts `Op` (docs/dms.md): first, when it writes one.
        let (cdc_op, full_op) = (layout.dms.cdc_files_carry_op(), layout.dms.include_op_for_full_load);
        let cdc_cols: Vec<(&str, &str)> = if cdc_op { vec![part, op, ts, seq] } else { vec![part, ts, seq] };
        let full_cols: Vec<(&str, &str)> = if full_op { vec![part, op, ts] } else { vec![part, ts] };
        let create = Table::ALL.map(|table| {
            [
                (stage_name("cdc", table), column_defs(&cdc_cols, table, &[])),
                (stage_name("full", table), column_defs(&full_cols, table, &[])),
            ]
            .map(|(name, cols)| format!("CREATE OR REPLACE TABLE {} ({cols})", quote_ident(&name)))
        });
        let order = Table::ALL.map(|table| {
            let full: Vec<String> = table.scan_order().iter().map(|c| quote_ident(c)).collect();
            [quote_ident(&layout.seq_column), full.join(", ")].map(|cols| sql_string(&cols))
        });
        Ok(ParquetWriter {
            conn,
            root: root.to_path_buf(),
            create,
            order,
            ts_as_text: layout.ts_as_text,
            cdc_op,
            full_op,
            added: Default::default(),
            retyped: Default::default(),
            ts_column: layout.ts_column.clone(),
        })
    }

    /// Files of `table` written from now on carry `column` after the row.
    pub(crate) fn add_column(&mut self, table: Table, column: &crate::generator::AddedSourceColumn) {
        let value = column.value_at(&quote_ident(&self.ts_column));
        self.added[table.index()].push_str(&format!(", {value} AS {}", quote_ident(column.name)));
    }

    /// Files of `table` written from now on carry `column` as INT64.
    pub(crate) fn retype_to_bigint(&mut self, table: Table, column: &str) {
        let c = quote_ident(column);
        let list = &mut self.retyped[table.index()];
        let entry = format!("CAST({c} AS BIGINT) AS {c}");
        *list = match list.strip_prefix(" REPLACE (").and_then(|l| l.strip_suffix(')')) {
            Some(before) => format!(" REPLACE ({before}, {entry})"),
            None => format!(" REPLACE ({entry})"),
        };
    }

    /// What a file of `table` selects from its staging table beyond its
    /// rows as staged: retyped columns, then added ones; `None` for the rows as staged.
    fn projection(&self, table: Table) -> Option<String> {
        let (retyped, added) = (&self.retyped[table.index()], &self.added[table.index()]);
        (!retyped.is_empty() || !added.is_empty()).then(|| format!("*{retyped}{added}"))
    }

    /// A timestamp as the files carry it: a TIMESTAMP, or DMS's text (kept in `text`).
    fn ts_cell<'a>(&self, ts: &'a Micros, text: &'a mut Option<String>) -> &'a dyn ToSql {
        if self.ts_as_text { &*text.insert(dms_timestamp_text(*ts)) } else { ts }
    }

    /// CDC files of one table: `Op`, commit ts, sequence, then the row image.
    /// Each file's changes must be in sequence order.
    pub(crate) fn write_cdc(&self, table: Table, files: &[(Target, Vec<&Change>)]) -> Result<Vec<PathBuf>, GenError> {
        let mut written = Vec::with_capacity(files.len());
        for batch in batches(files, |(_, rows)| rows.len()) {
            let targets: Vec<&Target> = batch.iter().map(|(t, _)| t).collect();
            let (create, order) = (&self.create[table.index()][0], &self.order[table.index()][0]);
            let projection = self.projection(table);
            written.extend(self.write(&stage_name("cdc", table), create, order, projection, &targets, |app| {
                for (n, (_, changes)) in batch.iter().enumerate() {
                    let part = n as i32;
                    for c in changes {
                        let seq = crate::model::seq_string(c.ts, c.seq);
                        let mut text = None;
                        let ts = self.ts_cell(&c.ts, &mut text);
                        let op = c.op.code();
                        let head: &[&dyn ToSql] =
                            if self.cdc_op { &[&part, &op, ts, &seq] } else { &[&part, ts, &seq] };
                        append_row(app, head, &c.row, &[])?;
                    }
                }
                Ok(())
            })?);
        }
        Ok(written)
    }

    /// Full-load files of one table: transfer ts, then the row, in scan order.
    pub(crate) fn write_full(&self, table: Table, files: &[(Target, &[&FullRow])]) -> Result<Vec<PathBuf>, GenError> {
        let mut written = Vec::with_capacity(files.len());
        for batch in batches(files, |(_, rows)| rows.len()) {
            let targets: Vec<&Target> = batch.iter().map(|(t, _)| t).collect();
            let (create, order) = (&self.create[table.index()][1], &self.order[table.index()][1]);
            let projection = self.projection(table);
            written.extend(self.write(&stage_name("full", table), create, order, projection, &targets, |app| {
                for (n, (_, rows)) in batch.iter().enumerate() {
                    let part = n as i32;
                    for r in rows.iter() {
                        let mut text = None;
                        let ts = self.ts_cell(&r.ts, &mut text);
                        let head: &[&dyn ToSql] = if self.full_op { &[&part, &"I", ts] } else { &[&part, ts] };
                        append_row(app, head, &r.row, &[])?;
                    }
                }
                Ok(())
            })?);
        }
        Ok(written)
    }

    /// Fills the staging table, copies it partitioned by file into a fresh
    /// staging folder, then gives each file its simulated mtime and renames it
    /// to its final name: readers never see a partial file. Files are renamed
    /// in `targets` order.
    fn write(
        &self,
        stage: &str,
        create: &str,
        order: &str,
        projection: Option<String>,
        targets: &[&Target],
        fill: impl FnOnce(&mut Appender<'_>) -> duckdb::Result<()>,
    ) -> Result<Vec<PathBuf>, GenError> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let staging = self.root.join(STAGING_DIR);
        if staging.exists() {
            // Left over from an interrupted run: COPY wants an empty folder.
            fs::remove_dir_all(&staging).map_err(|e| GenError::io(&staging, e))?;
        }
        let ctx = |what: &str| format!("{what} for {stage} ({} files)", targets.len());
        self.conn.execute_batch(create).map_err(|e| GenError::duckdb(ctx("creating the staging table"), e))?;
        {
            let mut app = self.conn.appender(stage).map_err(|e| GenError::duckdb(ctx("opening the appender"), e))?;
            fill(&mut app).map_err(|e| GenError::duckdb(ctx("appending rows"), e))?;
            app.flush().map_err(|e| GenError::duckdb(ctx("flushing the appender"), e))?;
        }
        // Columns the source added come after the row, as DMS appends them.
        let source = match projection {
            None => quote_ident(stage),
            Some(p) => format!("(SELECT {p} FROM {})", quote_ident(stage)),
        };
        let copy = format!(
            "COPY {source} TO {} (FORMAT parquet, PARTITION_BY ({}), ORDER_BY {order}, FILENAME_PATTERN 'f', FILE_EXTENSION 'partial')",
            sql_string(&staging.to_string_lossy()),
            quote_ident(PART_COLUMN)
        );
        self.conn.execute_batch(&copy).map_err(|e| GenError::duckdb(ctx("copying to Parquet"), e))?;

        let mut written = Vec::with_capacity(targets.len());
        for (n, target) in targets.iter().enumerate() {
            let part_dir = staging.join(format!("{PART_COLUMN}={n}"));
            let staged = single_file(&part_dir)?;
            let dest = self.root.join(&target.rel);
            let dir = dest.parent().ok_or_else(|| GenError::Config(format!("{} has no folder", dest.display())))?;
            fs::create_dir_all(dir).map_err(|e| GenError::io(dir, e))?;
            set_mtime(&staged, target.mtime)?;
            fs::rename(&staged, &dest).map_err(|e| GenError::io(&dest, e))?;
            tracing::debug!(file = %dest.display(), "wrote");
            written.push(dest);
        }
        fs::remove_dir_all(&staging).map_err(|e| GenError::io(&staging, e))?;
        Ok(written)
    }
}

/// Splits `files` into consecutive runs of at most MAX_FILES_PER_COPY files
/// and (unless a single file is bigger) MAX_ROWS_PER_COPY rows.
fn batches<T>(files: &[T], rows: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut acc) = (0, 0);
    for (i, f) in files.iter().enumerate() {
        let n = rows(f);
        if i > start && (i - start == MAX_FILES_PER_COPY || acc + n > MAX_ROWS_PER_COPY) {
            out.push(&files[start..i]);
            (start, acc) = (i, 0);
        }
        acc += n;
    }
    if start < files.len() {
        out.push(&files[start..]);
    }
    out
}

/// The one file DuckDB wrote for a partition (several would mean a split file).
fn single_file(dir: &Path) -> Result<PathBuf, GenError> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| GenError::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| GenError::io(dir, e))?;
    match (files.pop(), files.is_empty()) {
        (Some(file), true) => Ok(file),
        _ => Err(GenError::io(dir, std::io::Error::other("expected exactly one Parquet file per partition"))),
    }
}

/// Sets a file's mtime to a simulated time, so write order is visible and
/// deterministic (a late file gets a newer mtime than the files around it).
fn set_mtime(path: &Path, mtime: Micros) -> Result<(), GenError> {
    let when: SystemTime = UNIX_EPOCH + Duration::from_micros(u64::try_from(mtime.0).unwrap_or(0));
    File::options().write(true).open(path).and_then(|f| f.set_modified(when)).map_err(|e| GenError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_file_and_row_limits() {
        // GIVEN 150 files of 3000 rows and one huge file
        let mut sizes = vec![3000usize; 150];
        sizes.insert(10, 1_000_000);
        // WHEN they are split into COPY batches
        let b = batches(&sizes, |n| *n);
        // THEN no batch has more than 64 files, the huge file is alone, and nothing is lost
        assert!(b.iter().all(|x| x.len() <= MAX_FILES_PER_COPY));
        assert!(b.iter().any(|x| x == &[1_000_000]));
        assert!(b.iter().filter(|x| x.len() > 1).all(|x| x.iter().sum::<usize>() <= MAX_ROWS_PER_COPY));
        assert_eq!(b.iter().map(|x| x.len()).sum::<usize>(), 151);
    }
}
