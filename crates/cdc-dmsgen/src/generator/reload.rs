//! A DMS reload of one table ("Reload table data"): a new full load written
//! while the task keeps capturing changes (docs/table-lifecycle.md).

use std::path::PathBuf;

use cdc_core::dms::Layout;
use cdc_core::sql::rebuild::REBUILD_OVERLAP;

use super::{Generator, ROW_TRANSFER_US};
use crate::error::GenError;
use crate::model::{FileName, FullRow, Micros, Table, file_name};
use crate::report::{CallStats, CycleReport};
use crate::writer::Target;

/// How a reload's full-load files land. DMS's documentation does not say
/// what its `TargetTablePrepMode` does to a table's earlier objects on an S3
/// target (docs/dms.md), so both cases are produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadNaming {
    /// As many files as the table's last full load, written over its names.
    InPlace,
    /// This many files from `LOAD00000001`: fewer than the last load's leave
    /// its higher-numbered files behind, stale (older LastModified); more
    /// add new names.
    NewSet { files: usize },
}

impl Generator {
    /// Reloads `table`: first the source drifts from what DMS captured (for
    /// `pgbench_accounts`, one account is deleted by a statement DMS missed,
    /// so only the reload shows it gone), then the table's rows are scanned
    /// into a new full load, each carrying its transfer time, written as
    /// `naming` says with the scan's end as LastModified. The oracle then
    /// holds the reload's rows plus the CDC changes committed from its first
    /// row, less the rebuild's overlap, on.
    pub fn reload(&mut self, table: &str, naming: ReloadNaming) -> Result<CycleReport, GenError> {
        let t = Table::by_name(table).ok_or_else(|| GenError::Config(format!("no table {table:?} to reload")))?;
        if !self.full_loaded || !self.held_full.is_empty() {
            return Err(GenError::State(format!("reload of {table} before its full load was written")));
        }
        if t == Table::Accounts {
            self.miss_one_delete();
        }
        let mut rows = Vec::new();
        let (mut cursor, mut position) = (None, 0usize);
        while let Some(row) = self.scan_next(t, cursor.as_ref(), position) {
            cursor = row.key();
            position += 1;
            let ts = Micros(self.clock.0 + position as i64 * ROW_TRANSFER_US);
            rows.push(FullRow { row, ts, file: None });
        }
        let first =
            rows.first().map(|r| r.ts).ok_or_else(|| GenError::State(format!("{table} has no row to reload")))?;
        self.clock = rows.last().map_or(self.clock, |r| r.ts);
        self.capture.advance_to(self.clock);
        let mut stats = CallStats::new();
        let count = match naming {
            ReloadNaming::InPlace => self.full_files[t.index()].max(1),
            ReloadNaming::NewSet { files } => files.max(1),
        };
        self.write_reload_files(t, &mut rows, count, &mut stats)?;
        let overlap = REBUILD_OVERLAP.as_micros() as i64;
        self.log.full_rows.retain(|r| r.row.table() != t);
        self.log.full_rows.extend(rows);
        self.log.rebuilt_since[t.index()] = Some(Micros(first.0 - overlap));
        tracing::info!(table, files = count, now = %self.now(), "reload written");
        Ok(stats.report)
    }

    /// One account deleted at the source by a statement DMS did not capture.
    fn miss_one_delete(&mut self) {
        if let Some(aid) = self.db.accounts.keys().next().copied() {
            self.db.accounts.remove(&aid);
        }
    }

    fn write_reload_files(
        &mut self,
        t: Table,
        rows: &mut [FullRow],
        count: usize,
        stats: &mut CallStats,
    ) -> Result<Vec<PathBuf>, GenError> {
        let refs: Vec<&FullRow> = rows.iter().collect();
        let per_file = refs.len().div_ceil(count).max(1);
        let layout = Layout::new(&self.layout.dms);
        let files: Vec<(Target, &[&FullRow])> = refs
            .chunks(per_file)
            .enumerate()
            .map(|(n, chunk)| {
                let rel = PathBuf::from(layout.full_load_key(&self.layout.schema, t.name(), n as u32 + 1));
                (Target { rel, mtime: self.clock }, chunk)
            })
            .collect();
        self.full_files[t.index()] = files.len();
        let names: Vec<FileName> = files.iter().map(|(t, _)| file_name(&t.rel)).collect();
        let written = self.writer.write_full(t, &files)?;
        stats.report.files_written += written.len();
        for (n, row) in rows.iter_mut().enumerate() {
            row.file = Some(names[n / per_file].clone());
        }
        Ok(written)
    }
}
