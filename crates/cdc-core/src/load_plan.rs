//! Which listed files a load applies. Every file under a table's folders is
//! applied, already applied, or fails the table naming it (docs/dms.md):
//! - a file never applied is new, however old its day (a late file);
//! - an applied CDC file whose size or version (ETag, or modification time
//!   locally) changed was rewritten, which DMS never does to a CDC file;
//! - an applied full-load file that changed is a DMS reload: the table is
//!   rebuilt from the new full load (docs/table-lifecycle.md).
//!
//! The progress table is read file by file for recent days only; older days
//! come as a count, a byte total and the newest modification time per day,
//! and only a day whose listing disagrees with its summary is read file by
//! file (a file written since is newer than every file the day had).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{NaiveDate, NaiveDateTime, Timelike};

use crate::config::{ColumnType, PipelineConfig, TableConfig};
use crate::dms::{ListingScope, TableListing};
use crate::error::PipelineError;
use crate::ident::Ident;
use crate::load::parse_timestamp;
use crate::ports::{Cell, FileKind, RawFile, ResultSet, Warehouse, run_to_completion};
use crate::schema_change::{ChangeKind, ColumnChange};
use crate::sql::rebuild::SUPERSEDED_KIND;
use crate::sql::setup;

/// A file as the progress table recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AppliedFile {
    /// `None` when recorded by a release that did not keep it.
    size: Option<u64>,
    version: Option<String>,
    /// A full-load file a rebuild left out: an older reload's file that the
    /// newer one did not write again.
    superseded: bool,
}

/// One old day's applied files, summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DaySummary {
    files: u64,
    bytes: Option<u64>,
    /// The newest modification time the files had when applied (to the
    /// microsecond, as the warehouse keeps it).
    newest_modified: Option<NaiveDateTime>,
}

/// What the table has applied, as read for one plan.
#[derive(Debug, Default)]
pub struct Applied {
    files: HashMap<String, AppliedFile>,
    /// The first day read file by file; older days are in `summaries`.
    oldest: Option<String>,
    summaries: BTreeMap<String, DaySummary>,
    /// The columns the files added to the table, in order.
    pub added: Vec<ColumnChange>,
}

impl Applied {
    /// The table's progress, recent days file by file, older ones summed.
    pub async fn read(cfg: &PipelineConfig, t: &TableConfig, warehouse: &dyn Warehouse) -> Result<Self, PipelineError> {
        let mut applied = Applied::default();
        let query = setup::applied_files_query(cfg, t, warehouse.dialect());
        applied.add_rows(&run_to_completion(warehouse, query).await?);
        Ok(applied)
    }

    /// The listing a load needs: from the first day read file by file (the
    /// newest applied day minus the lateness window) on; whole before any
    /// CDC file was applied.
    pub fn listing_scope(&self, today: NaiveDate) -> ListingScope {
        ListingScope::days_before(self.oldest.as_deref(), 0, today)
    }

    fn is_empty(&self) -> bool {
        self.files.is_empty() && self.summaries.is_empty()
    }

    fn add_rows(&mut self, rs: &ResultSet) {
        let col = |name: &str| rs.column(name);
        let (file, day, size, version, count, oldest) =
            (col("file"), col("partition_0"), col("size"), col("version"), col("files"), col("oldest_partition"));
        let kind = col("kind");
        let modified = col("newest_modified");
        let text =
            |row: &[Cell], i: Option<usize>| i.and_then(|i| row.get(i)).and_then(Cell::as_text).map(str::to_string);
        let number = |row: &[Cell], i: Option<usize>| {
            i.and_then(|i| row.get(i)).and_then(Cell::as_i64).and_then(|n| u64::try_from(n).ok())
        };
        let (column, column_type, ordinal) = (col("column_name"), col("column_type"), col("ordinal"));
        let change = col("change");
        let mut added: Vec<(i64, ColumnChange)> = Vec::new();
        for row in &rs.rows {
            if text(row, kind).as_deref() == Some(setup::ADDED_COLUMN_KIND) {
                // Written by the load that added it, so always well formed.
                let name = text(row, column).and_then(|n| Ident::new(&n).ok());
                let ty = text(row, column_type).and_then(|t| ColumnType::parse(&t).ok());
                if let (Some(name), Some(ty)) = (name, ty) {
                    let first_file = text(row, file).unwrap_or_default();
                    let at = ordinal.and_then(|i| row.get(i)).and_then(Cell::as_i64).unwrap_or(i64::MAX);
                    let change = text(row, change).and_then(|c| ChangeKind::parse(&c)).unwrap_or(ChangeKind::Added);
                    added.push((at, ColumnChange { name, ty, change, first_file, from: None }));
                }
                continue;
            }
            if let Some(o) = text(row, oldest) {
                self.oldest = Some(o);
            }
            match (text(row, file), text(row, day), number(row, count)) {
                (Some(f), _, _) => {
                    let superseded = text(row, kind).as_deref() == Some(SUPERSEDED_KIND);
                    self.files
                        .insert(f, AppliedFile { size: number(row, size), version: text(row, version), superseded });
                }
                (None, Some(d), Some(files)) => {
                    let newest_modified = text(row, modified).as_deref().and_then(parse_timestamp);
                    self.summaries.insert(d, DaySummary { files, bytes: number(row, size), newest_modified });
                }
                _ => {}
            }
        }
        added.sort_by_key(|(at, _)| *at);
        self.added.extend(added.into_iter().map(|(_, a)| a));
    }
}

/// What a load finds to do.
#[derive(Debug)]
pub enum Planned {
    /// The listed files the table has not applied, in the listing's time
    /// order (full-load files first).
    Load(Vec<RawFile>),
    /// DMS wrote the table's full load again: the table is rebuilt from it.
    Reload(FullLoadSet),
}

/// A full load to rebuild a table from.
#[derive(Debug, Clone, PartialEq)]
pub struct FullLoadSet {
    pub full: Vec<RawFile>,
    /// Listed full-load files of an older load that this one did not write
    /// again: recorded, never applied.
    pub superseded: Vec<RawFile>,
    /// What made it a reload, for the log and the run record.
    pub why: String,
    /// When a resync asked for it (`None`: a reload found it). A resync
    /// waits for no settling, and each request is a rebuild of its own, even
    /// from the same files.
    pub resync: Option<chrono::DateTime<chrono::Utc>>,
    /// Listed CDC files never applied, whatever their day: the rebuild
    /// records them too (their changes from before it are in the full
    /// load), so no listed file is left waiting.
    pub unapplied_cdc: Vec<RawFile>,
}

impl FullLoadSet {
    /// When DMS wrote the set's newest file.
    pub fn newest_written(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.full.iter().map(|f| f.modified).max()
    }
}

/// The table's current full load, for the resync `requested` then: the
/// listed full-load files no rebuild superseded, rebuilt at once as a
/// rebuild of its own; or, when DMS is writing a reload (a full-load file
/// applied before changed), that reload, which waits to settle as any does.
/// `None` when the table has no full-load file.
pub fn current_full_load(
    listing: &TableListing,
    applied: &Applied,
    requested: chrono::DateTime<chrono::Utc>,
) -> Option<FullLoadSet> {
    let full_files = || listing.of_kind(FileKind::Full);
    let reloaded: Vec<(&RawFile, String)> = full_files()
        .filter_map(|f| applied.files.get(&f.path).filter(|a| changed(a, f)).map(|a| (f, describe_change(a, f))))
        .collect();
    if !reloaded.is_empty() {
        let new: Vec<RawFile> = full_files().filter(|f| !applied.files.contains_key(&f.path)).cloned().collect();
        return Some(reload_set(listing, &new, &reloaded));
    }
    // No file changed here, so a superseded record is a superseded file.
    let (superseded, full): (Vec<RawFile>, Vec<RawFile>) =
        full_files().cloned().partition(|f| applied.files.get(&f.path).is_some_and(|a| a.superseded));
    (!full.is_empty()).then(|| FullLoadSet {
        full,
        superseded,
        why: "resync requested".into(),
        resync: Some(requested),
        unapplied_cdc: Vec::new(),
    })
}

/// What the load does next: the new files, or a rebuild from a reload;
/// an error naming the files when a CDC file was rewritten.
pub async fn plan_files(
    cfg: &PipelineConfig,
    t: &TableConfig,
    warehouse: &dyn Warehouse,
    listing: &TableListing,
    mut applied: Applied,
) -> Result<Planned, PipelineError> {
    let d = warehouse.dialect();
    if listing.files.is_empty() && applied.is_empty() {
        return Err(PipelineError::data(format!(
            "neither full-load nor CDC files under {}",
            listing.described.join(" or ")
        )));
    }
    let (unsettled, settled) = old_days(&applied, listing);
    if !unsettled.is_empty() {
        let days: Vec<&str> = unsettled.iter().map(String::as_str).collect();
        applied.add_rows(&run_to_completion(warehouse, setup::applied_in_days_query(cfg, t, d, &days)).await?);
    }
    let mut new = Vec::new();
    let (mut rewritten, mut reloaded) = (Vec::new(), Vec::new());
    for f in &listing.files {
        if f.partition.as_ref().is_some_and(|day| settled.contains(day)) {
            continue;
        }
        match applied.files.get(&f.path) {
            None => new.push(f.clone()),
            Some(a) if changed(a, f) => match f.kind {
                FileKind::Cdc => rewritten.push(describe_change(a, f)),
                FileKind::Full => reloaded.push((f, describe_change(a, f))),
            },
            Some(_) => {}
        }
    }
    if !rewritten.is_empty() {
        return Err(PipelineError::data(format!(
            "CDC files applied before were written again under the same name ({}); DMS never rewrites a \
             CDC file, so the raw zone was changed by something else. Restore the files as applied, or resync the \
             table (cdc resync)",
            rewritten.join("; ")
        )));
    }
    if reloaded.is_empty() {
        return Ok(Planned::Load(new));
    }
    Ok(Planned::Reload(reload_set(listing, &new, &reloaded)))
}

/// A reload's files are the full-load files DMS wrote from the first one
/// it wrote again (or newly) on; older listed ones belong to an earlier
/// load (DMS numbers every load from LOAD00000001, so a smaller reload
/// leaves the old load's higher numbers behind).
fn reload_set(listing: &TableListing, new: &[RawFile], reloaded: &[(&RawFile, String)]) -> FullLoadSet {
    let written = reloaded.iter().map(|(f, _)| *f).chain(new.iter().filter(|f| f.kind == FileKind::Full));
    let start = written.map(|f| f.modified).min().unwrap_or_default();
    let (full, superseded): (Vec<RawFile>, Vec<RawFile>) =
        listing.of_kind(FileKind::Full).cloned().partition(|f| f.modified >= start);
    let changes: Vec<&str> = reloaded.iter().map(|(_, why)| why.as_str()).collect();
    let why = format!("reload detected: full-load files applied before were written again ({})", changes.join("; "));
    let unapplied_cdc = new.iter().filter(|f| f.kind == FileKind::Cdc).cloned().collect();
    FullLoadSet { full, superseded, why, resync: None, unapplied_cdc }
}

/// Days older than those read file by file: the ones whose listing differs
/// from their summary (to read file by file), and the ones that match it
/// (every file applied).
fn old_days(applied: &Applied, listing: &TableListing) -> (Vec<String>, BTreeSet<String>) {
    let Some(oldest) = &applied.oldest else { return (Vec::new(), BTreeSet::new()) };
    let mut listed: BTreeMap<&str, (u64, u64, Option<NaiveDateTime>)> = BTreeMap::new();
    for f in listing.of_kind(FileKind::Cdc) {
        if let Some(day) = f.partition.as_deref().filter(|d| *d < oldest.as_str()) {
            let e = listed.entry(day).or_default();
            e.0 += 1;
            e.1 += f.size;
            e.2 = e.2.max(Some(microseconds(f.modified)));
        }
    }
    // A set: every listed file is looked up in it, a year of files in a year of days.
    let (mut unsettled, mut settled) = (Vec::new(), BTreeSet::new());
    for (day, (files, bytes, newest)) in listed {
        match applied.summaries.get(day) {
            // Nothing of the day applied: every file of it is new.
            None => {}
            // A file written since (rewritten, or a new one in place of a
            // removed one) is newer than every file the day had when applied.
            Some(s)
                if s.files == files
                    && s.bytes.is_none_or(|b| b == bytes)
                    && s.newest_modified.is_none_or(|m| Some(m) == newest) =>
            {
                settled.insert(day.to_string());
            }
            Some(_) => unsettled.push(day.to_string()),
        }
    }
    (unsettled, settled)
}

/// A modification time as the warehouse keeps it.
fn microseconds(t: chrono::DateTime<chrono::Utc>) -> NaiveDateTime {
    let t = t.naive_utc();
    t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
}

fn changed(a: &AppliedFile, f: &RawFile) -> bool {
    a.size.is_some_and(|s| s != f.size) || a.version.as_ref().is_some_and(|v| !f.version.is_empty() && v != &f.version)
}

fn describe_change(a: &AppliedFile, f: &RawFile) -> String {
    let was = match (&a.size, &a.version) {
        (Some(s), Some(v)) => format!("{s} bytes, version {v}"),
        (Some(s), None) => format!("{s} bytes"),
        (None, Some(v)) => format!("version {v}"),
        (None, None) => "unknown".into(),
    };
    format!("{} applied as {was}, now {} bytes, version {}", f.path, f.size, f.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(day: &str, name: &str, size: u64) -> RawFile {
        RawFile {
            path: format!("cdc/s/t/{day}/{name}"),
            kind: FileKind::Cdc,
            partition: Some(day.into()),
            size,
            modified: chrono::DateTime::UNIX_EPOCH,
            version: "v1".into(),
        }
    }

    #[test]
    fn an_old_day_is_read_file_by_file_only_when_its_listing_differs_from_its_summary() {
        // GIVEN days read file by file from 20261110, and summaries of two older days
        let mut applied = Applied { oldest: Some("20261110".into()), ..Applied::default() };
        let epoch = Some(chrono::DateTime::UNIX_EPOCH.naive_utc());
        applied.summaries.insert("20261101".into(), DaySummary { files: 2, bytes: Some(30), newest_modified: epoch });
        applied.summaries.insert("20261102".into(), DaySummary { files: 1, bytes: Some(10), newest_modified: epoch });
        // AND a listing where 1101 matches, 1102 gained a late file, 1103 was never applied
        let listing = TableListing {
            files: vec![
                file("20261101", "a", 10),
                file("20261101", "b", 20),
                file("20261102", "a", 10),
                file("20261102", "late", 5),
                file("20261103", "a", 1),
                file("20261111", "a", 1),
            ],
            ..TableListing::default()
        };
        // WHEN the old days are sorted
        let (unsettled, settled) = old_days(&applied, &listing);
        // THEN only 1102 is read file by file, 1101 is applied whole, 1103 and 1111 are left to the file check
        assert_eq!(unsettled, vec!["20261102".to_string()]);
        assert_eq!(settled, BTreeSet::from(["20261101".to_string()]));
    }

    #[test]
    fn a_size_or_version_change_is_a_rewrite_and_unknowns_are_not() {
        let f = file("20261101", "a", 10);
        let same = AppliedFile { size: Some(10), version: Some("v1".into()), superseded: false };
        assert!(!changed(&same, &f));
        assert!(changed(&AppliedFile { size: Some(11), ..same.clone() }, &f));
        assert!(changed(&AppliedFile { version: Some("v0".into()), ..same.clone() }, &f));
        // AND a row recorded before sizes and versions were kept is not suspected
        assert!(!changed(&AppliedFile { size: None, version: None, superseded: false }, &f));
    }
}
