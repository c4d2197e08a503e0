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
    let mut values: Vec<&dyn ToSql> = Vec::with_capacity(head.len() + 6 + tail.len());
    values.extend_from_slice(head);
    row.push_values(&mut values);
    values.extend_from_slice(tail);
    app.append_row(values.as_slice())
}

fn stage_name(kind: &str, table: Table) -> String {
    format!("{kind}_{}", table.name())
}

/// Writes the Parquet files. A staging table per (kind, table) is filled with
/// the Appender and copied out with `COPY ... (FORMAT parquet)`.
pub(crate) struct ParquetWriter {
    conn: Connection,
    root: PathBuf,
    /// `CREATE OR REPLACE TABLE` of each staging table, `[cdc, full]` per table.
    /// Recreating beats `DELETE FROM`: deleted rows stay in DuckDB's row
    /// groups and every later scan would wade through them.
    create: [[String; 2]; 4],
}

impl ParquetWriter {
    pub(crate) fn new(root: &Path, layout: &DmsLayout) -> Result<Self, GenError> {
        let conn =
            Connection::open_in_memory().map_err(|e| GenError::duckdb("opening the in-memory writer database", e))?;
        // One thread: small files gain nothing from parallelism, and row order
        // and bytes stay deterministic.
        conn.execute_batch("SET threads = 1; SET preserve_insertion_order = true;")
            .map_err(|e| GenError::duckdb("configuring the writer database", e))?;
        let ts = (layout.ts_column.as_str(), "TIMESTAMP");
        let seq = (layout.seq_column.as_str(), "VARCHAR");
        let create = Table::ALL.map(|table| {
            [
                (stage_name("cdc", table), column_defs(&[("Op", "VARCHAR"), ts, seq], table, &[])),
                (stage_name("full", table), column_defs(&[ts], table, &[])),
            ]
            .map(|(name, cols)| format!("CREATE OR REPLACE TABLE {} ({cols})", quote_ident(&name)))
        });
        Ok(ParquetWriter { conn, root: root.to_path_buf(), create })
    }

    /// A CDC file: `Op`, commit ts, sequence, then the row image.
    pub(crate) fn write_cdc<'c>(
        &self,
        rel: &Path,
        table: Table,
        changes: impl Iterator<Item = &'c Change>,
        mtime: Micros,
    ) -> Result<PathBuf, GenError> {
        self.write(&stage_name("cdc", table), &self.create[table.index()][0], rel, mtime, |app| {
            for c in changes {
                let seq = crate::model::seq_string(c.ts, c.seq);
                append_row(app, &[&c.op.code(), &c.ts, &seq], &c.row, &[])?;
            }
            Ok(())
        })
    }

    /// A full-load file: transfer ts, then the row.
    pub(crate) fn write_full(
        &self,
        rel: &Path,
        table: Table,
        rows: &[&FullRow],
        mtime: Micros,
    ) -> Result<PathBuf, GenError> {
        self.write(&stage_name("full", table), &self.create[table.index()][1], rel, mtime, |app| {
            for r in rows {
                append_row(app, &[&r.ts], &r.row, &[])?;
            }
            Ok(())
        })
    }

    /// Fills the staging table, copies it to a temporary name in the target
    /// folder, sets its mtime to the simulated write time, then renames it:
    /// readers never see a partial file, and the temporary name does not end
    /// in `.parquet`, so listers skip it.
    fn write(
        &self,
        stage: &str,
        create: &str,
        rel: &Path,
        mtime: Micros,
        fill: impl FnOnce(&mut Appender<'_>) -> duckdb::Result<()>,
    ) -> Result<PathBuf, GenError> {
        let target = self.root.join(rel);
        let ctx = |what: &str| format!("{what} for {}", target.display());
        let dir =
            target.parent().ok_or_else(|| GenError::Config(format!("{} has no parent folder", target.display())))?;
        fs::create_dir_all(dir).map_err(|e| GenError::io(dir, e))?;
        let file_name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".tmp-{file_name}.partial"));

        let t0 = std::time::Instant::now();
        let stage_q = quote_ident(stage);
        self.conn
            .execute_batch(create)
            .map_err(|e| GenError::duckdb(ctx("creating the staging table"), e))?;
        {
            let mut app = self.conn.appender(stage).map_err(|e| GenError::duckdb(ctx("opening the appender"), e))?;
            fill(&mut app).map_err(|e| GenError::duckdb(ctx("appending rows"), e))?;
            app.flush().map_err(|e| GenError::duckdb(ctx("flushing the appender"), e))?;
        }
        let t1 = std::time::Instant::now();
        let tmp_str = tmp.to_string_lossy();
        self.conn
            .execute_batch(&format!("COPY {stage_q} TO {} (FORMAT parquet)", sql_string(&tmp_str)))
            .map_err(|e| GenError::duckdb(ctx("copying to Parquet"), e))?;

        let t2 = std::time::Instant::now();
        set_mtime(&tmp, mtime)?;
        fs::rename(&tmp, &target).map_err(|e| GenError::io(&target, e))?;
        let t3 = std::time::Instant::now();
        unsafe { PROF[0] += (t1-t0).as_micros() as u64; PROF[1] += (t2-t1).as_micros() as u64; PROF[2] += (t3-t2).as_micros() as u64; if target.to_string_lossy().contains("LOAD") || rand::random_bool(0.01) { let p = PROF; eprintln!("prof {:?}", p); } }
        tracing::debug!(file = %target.display(), "wrote");
        Ok(target)
    }
}

/// Sets a file's mtime to a simulated time, so write order is visible and
/// deterministic (a late file gets a newer mtime than the files around it).
fn set_mtime(path: &Path, mtime: Micros) -> Result<(), GenError> {
    let when: SystemTime = UNIX_EPOCH + Duration::from_micros(u64::try_from(mtime.0).unwrap_or(0));
    File::options().write(true).open(path).and_then(|f| f.set_modified(when)).map_err(|e| GenError::io(path, e))
}

pub(crate) static mut PROF: [u64; 3] = [0; 3];
