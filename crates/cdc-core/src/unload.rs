//! Unload to the optimized zone: every finished CDC day of every table,
//! exported once, caught up after a missed run, and exported again whole when
//! late DMS files land in a day already exported.
//!
//! Seed 000 exported only yesterday's partition: a day missed by a failed or
//! skipped run was never exported. Here the plan compares the raw zone's day
//! folders with the record of exported days, so any run catches up, and a
//! re-run with nothing new does nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{PipelineConfig, TableConfig};
use crate::dms::ListingScope;
use crate::error::PipelineError;
use crate::ports::{
    ExportTarget, FileKind, OptimizedCatalog, OptimizedPartition, OptimizedZone, RawFile, RawZone, ResultSet,
    StatementId, Warehouse, run_to_completion,
};
use crate::sql::unload::{DayExport, DayRecord, export_day, record_day, unloaded_days_query};

/// The raw files of one day folder, as the export saw them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySource {
    pub files: u64,
    pub bytes: u64,
    /// Newest modification time, `YYYY-MM-DD HH:MM:SS.ffffff` (what a
    /// warehouse TIMESTAMP keeps).
    pub newest_modified: String,
}

/// A day already exported, from the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnloadedDay {
    pub table: String,
    pub day: String,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    pub source: DaySource,
    pub unloaded_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnloadReason {
    /// Finished and never exported (includes days a missed run left).
    Finished,
    /// Exported before; raw files arrived or changed since.
    LateFiles,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedDay {
    pub table: String,
    pub day: String,
    pub reason: UnloadReason,
    pub source: DaySource,
}

/// Whether the UTC day `YYYYMMDD` is over, with DMS's lateness allowed.
pub fn day_is_finished(day: &str, lateness: std::time::Duration, now: DateTime<Utc>) -> Result<bool, PipelineError> {
    let date = parse_day(day)?;
    let end = date.succ_opt().unwrap_or(date).and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    let lateness =
        chrono::Duration::from_std(lateness).map_err(|_| PipelineError::config("unload lateness too long"))?;
    Ok(end + lateness <= now)
}

/// Whether a day became finished after `since` and by `now`: a run that
/// found nothing new in the raw zone must still export such a day.
pub fn a_day_finished_between<'a>(
    days: impl IntoIterator<Item = &'a str>,
    lateness: std::time::Duration,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    days.into_iter().any(|d| {
        day_is_finished(d, lateness, now).unwrap_or(false) && !day_is_finished(d, lateness, since).unwrap_or(true)
    })
}

fn parse_day(day: &str) -> Result<NaiveDate, PipelineError> {
    if day.len() != 8 {
        return Err(PipelineError::data(format!("day folder {day:?} is not YYYYMMDD")));
    }
    NaiveDate::parse_from_str(day, "%Y%m%d")
        .map_err(|_| PipelineError::data(format!("day folder {day:?} is not a date (YYYYMMDD)")))
}

fn timestamp_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// Groups a table's CDC files by day folder.
pub fn day_sources(files: &[RawFile]) -> BTreeMap<String, DaySource> {
    let mut out: BTreeMap<String, (u64, u64, DateTime<Utc>)> = BTreeMap::new();
    for f in files.iter().filter(|f| f.kind == FileKind::Cdc) {
        let Some(day) = &f.partition else { continue };
        let e = out.entry(day.clone()).or_insert((0, 0, f.modified));
        e.0 += 1;
        e.1 += f.size;
        e.2 = e.2.max(f.modified);
    }
    out.into_iter()
        .map(|(day, (files, bytes, newest))| (day, DaySource { files, bytes, newest_modified: timestamp_text(newest) }))
        .collect()
}

/// The table's days to export now: finished days never exported, and
/// exported days whose raw files changed since.
pub fn plan_table(
    cfg: &PipelineConfig,
    t: &TableConfig,
    sources: &BTreeMap<String, DaySource>,
    recorded: &[UnloadedDay],
    now: DateTime<Utc>,
) -> Result<Vec<PlannedDay>, PipelineError> {
    let mut out = Vec::new();
    for (day, source) in sources {
        if !day_is_finished(day, cfg.unload.lateness, now)? {
            continue;
        }
        let before = recorded.iter().find(|r| r.table == t.name.as_str() && &r.day == day);
        let reason = match before {
            None => UnloadReason::Finished,
            Some(r) if &r.source == source => continue,
            // Fewer files than exported: raw files were removed (an S3
            // lifecycle rule, a hand). Exporting the day again from what is
            // left would drop their rows from the optimized zone.
            Some(r) if source.files < r.source.files => {
                if source.newest_modified > r.source.newest_modified {
                    return Err(PipelineError::data(format!(
                        "table {} day {day}: late files arrived, but the day lists {} raw files where its export \
                         read {}: some are gone, and exporting the day again would lose their rows; its export is \
                         kept as it is (restore the files to export the day again)",
                        t.qualified(),
                        source.files,
                        r.source.files
                    )));
                }
                tracing::warn!(table = %t.qualified(), day, exported = r.source.files, listed = source.files,
                    "raw files of an exported day are gone; the export keeps their rows");
                continue;
            }
            // Written since the export (late files): the day again, whole.
            Some(_) => UnloadReason::LateFiles,
        };
        out.push(PlannedDay { table: t.name.to_string(), day: day.clone(), reason, source: source.clone() });
    }
    Ok(out)
}

/// Every exported day, from the warehouse's record.
pub async fn recorded_days(cfg: &PipelineConfig, warehouse: &dyn Warehouse) -> Result<Vec<UnloadedDay>, PipelineError> {
    let rs = run_to_completion(warehouse, unloaded_days_query(cfg, warehouse.dialect())).await?;
    rs.rows.iter().map(|row| recorded_row(&rs, row)).collect()
}

fn recorded_row(rs: &ResultSet, row: &[crate::ports::Cell]) -> Result<UnloadedDay, PipelineError> {
    let get = |name: &str| rs.column(name).and_then(|i| row.get(i));
    let text = |name: &str| {
        get(name)
            .and_then(|c| c.as_text().map(str::to_string))
            .ok_or_else(|| PipelineError::config(format!("unloaded_days: column {name} missing or not text")))
    };
    let num = |name: &str| {
        get(name)
            .and_then(|c| c.as_i64())
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| PipelineError::config(format!("unloaded_days: column {name} missing or not a count")))
    };
    Ok(UnloadedDay {
        table: text("table_name")?,
        day: text("changedate")?,
        rows: num("row_count")?,
        files: num("file_count")?,
        bytes: num("byte_count")?,
        source: DaySource {
            files: num("source_files")?,
            bytes: num("source_bytes")?,
            newest_modified: text("source_newest_modified")?,
        },
        unloaded_at: text("unloaded_at")?,
    })
}

/// The table's CDC files as the layout reads them, within `scope`.
pub async fn cdc_files(
    cfg: &PipelineConfig,
    t: &TableConfig,
    raw: &dyn RawZone,
    scope: ListingScope,
) -> Result<Vec<RawFile>, PipelineError> {
    Ok(crate::dms::list_cdc_folder(cfg, t, raw, scope).await?.of_kind(FileKind::Cdc).cloned().collect())
}

/// The listing an unload needs: days are exported oldest first, so every
/// day before the newest exported one was exported, and only files arriving
/// within the unload's lateness can still change one; whole before any day
/// was exported.
pub fn unload_scope(cfg: &PipelineConfig, t: &TableConfig, recorded: &[UnloadedDay], today: NaiveDate) -> ListingScope {
    let newest = recorded.iter().filter(|d| d.table == t.name.as_str()).map(|d| d.day.as_str()).max();
    ListingScope::days_before(newest, cfg.unload.lateness.as_secs().div_ceil(86_400), today)
}

/// Plans every table's export.
pub async fn plan_unload(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    raw: &dyn RawZone,
    now: DateTime<Utc>,
) -> Result<Vec<PlannedDay>, PipelineError> {
    let recorded = recorded_days(cfg, warehouse).await?;
    let mut out = Vec::new();
    for t in &cfg.tables {
        let files =
            cdc_files(cfg, t, raw, ListingScope::Full).await.map_err(|e| e.context(format!("table {}", t.name)))?;
        out.extend(plan_table(cfg, t, &day_sources(&files), &recorded, now)?);
    }
    Ok(out)
}

/// Starts one day's export; the statement writes to the returned target.
pub async fn submit_day(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    zone: &dyn OptimizedZone,
    day: &PlannedDay,
) -> Result<(StatementId, ExportTarget), PipelineError> {
    let t = crate::load::table(cfg, &day.table)?;
    parse_day(&day.day)?;
    let target = zone.export_target(t, &day.day)?;
    let export = DayExport {
        table: t,
        day: &day.day,
        location: &target.location,
        iam_role: target.iam_role.as_deref(),
        kms_key_id: target.kms_key_id.as_deref(),
    };
    let id = warehouse.submit(export_day(cfg, &export, warehouse.dialect())).await?;
    Ok((id, target))
}

/// After the export statement finished: publishes the day, records it (so a
/// re-run is a no-op) and registers its partition. A crash between these
/// steps leaves the day unrecorded, and the next run exports it again.
pub async fn complete_day(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    zone: &dyn OptimizedZone,
    catalog: &dyn OptimizedCatalog,
    day: &PlannedDay,
    target: &ExportTarget,
    rows: u64,
) -> Result<UnloadedDay, PipelineError> {
    let t = crate::load::table(cfg, &day.table)?;
    let files = zone.publish(t, &day.day, target).await?;
    let record = DayRecord {
        table: t,
        day: &day.day,
        rows,
        files: files.files,
        bytes: files.bytes,
        source_files: day.source.files,
        source_bytes: day.source.bytes,
        source_newest_modified: &day.source.newest_modified,
    };
    run_to_completion(warehouse, record_day(cfg, &record, warehouse.dialect())).await?;
    catalog.register_table(t, &zone.table_location(t)).await?;
    let partition = OptimizedPartition {
        day: day.day.clone(),
        location: zone.day_location(t, &day.day),
        rows,
        files,
        registered_at: Utc::now(),
    };
    catalog.register_partition(t, &partition).await?;
    Ok(UnloadedDay {
        table: day.table.clone(),
        day: day.day.clone(),
        rows,
        files: files.files,
        bytes: files.bytes,
        source: day.source.clone(),
        unloaded_at: timestamp_text(Utc::now()),
    })
}

/// The row count an export batch returned.
pub fn exported_rows(rs: &ResultSet) -> Result<u64, PipelineError> {
    rs.rows
        .first()
        .and_then(|r| r.first())
        .and_then(|c| c.as_i64())
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| PipelineError::retryable("the export returned no row count"))
}

/// One day exported from start to end (submit, wait, complete).
pub async fn unload_day(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    zone: &dyn OptimizedZone,
    catalog: &dyn OptimizedCatalog,
    day: &PlannedDay,
) -> Result<UnloadedDay, PipelineError> {
    let at = |e: PipelineError| e.context(format!("unload {} {}", day.table, day.day));
    let (id, target) = submit_day(cfg, warehouse, zone, day).await.map_err(at)?;
    let rows = wait_rows(warehouse, &id).await.map_err(at)?;
    complete_day(cfg, warehouse, zone, catalog, day, &target, rows).await.map_err(at)
}

async fn wait_rows(warehouse: &dyn Warehouse, id: &StatementId) -> Result<u64, PipelineError> {
    crate::ports::wait_for(warehouse, id).await?;
    exported_rows(&warehouse.result(id).await?)
}

/// What an unload step did.
#[derive(Debug, Default)]
pub struct UnloadRun {
    pub days: Vec<(PlannedDay, UnloadedDay)>,
    /// Per table: the first day that failed; that table's later days wait.
    pub failures: Vec<(String, PipelineError)>,
}

/// Plans and exports every due day: tables side by side, each table's days
/// oldest first, stopping a table at its first failure so its record never
/// skips a day.
pub async fn run_unload(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    raw: &dyn RawZone,
    zone: &dyn OptimizedZone,
    catalog: &dyn OptimizedCatalog,
    now: DateTime<Utc>,
) -> Result<UnloadRun, PipelineError> {
    zone.check().await?;
    let planned = plan_unload(cfg, warehouse, raw, now).await?;
    let per_table = cfg.tables.iter().map(|t| {
        let days: Vec<&PlannedDay> = planned.iter().filter(|p| p.table == t.name.as_str()).collect();
        async move {
            let mut done = Vec::new();
            for day in days {
                match unload_day(cfg, warehouse, zone, catalog, day).await {
                    Ok(d) => done.push((day.clone(), d)),
                    Err(e) => return (done, Some((day.table.clone(), e))),
                }
            }
            (done, None)
        }
    });
    let mut run = UnloadRun::default();
    for (done, failure) in futures::future::join_all(per_table).await {
        run.days.extend(done);
        run.failures.extend(failure);
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_day_is_finished_after_its_midnight_plus_lateness() {
        let hour = Duration::from_secs(3600);
        // GIVEN a lateness of one hour
        assert!(!day_is_finished("20261122", hour, at("2026-11-23T00:59:59Z")).unwrap());
        assert!(day_is_finished("20261122", hour, at("2026-11-23T01:00:00Z")).unwrap());
        assert!(!day_is_finished("20261123", hour, at("2026-11-23T12:00:00Z")).unwrap());
        // AND a folder that is not a day is a data error naming it
        let e = day_is_finished("2026112", hour, at("2026-11-23T12:00:00Z")).unwrap_err();
        assert!(e.message.contains("\"2026112\""), "{e}");
        assert!(day_is_finished("20261340", hour, at("2026-11-23T12:00:00Z")).is_err());
    }

    #[test]
    fn an_idle_run_still_notices_a_day_that_finished_since_the_last_run() {
        let hour = Duration::from_secs(3600);
        let days = ["20261121", "20261122"];
        // GIVEN the last run at 00:30 (22 Nov unfinished) WHEN now is 01:05 THEN 22 Nov finished since
        assert!(a_day_finished_between(days, hour, at("2026-11-23T00:30:00Z"), at("2026-11-23T01:05:00Z")));
        // WHEN the last run was already past 01:00 THEN nothing finished since
        assert!(!a_day_finished_between(days, hour, at("2026-11-23T01:01:00Z"), at("2026-11-23T01:05:00Z")));
    }
}
