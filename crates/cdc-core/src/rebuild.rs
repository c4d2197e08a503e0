//! Rebuilding one table from a full load: after a DMS reload, or on request
//! (a resync). Planned here, run as one transaction
//! ([`crate::sql::rebuild`]); docs/table-lifecycle.md.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::config::{PipelineConfig, SchemaChangePolicy, TableConfig};
use crate::dms::{ListingScope, list_table_within};
use crate::error::PipelineError;
use crate::load::{SubmitOutcome, check_file_schema, columns_of, parse_timestamp};
use crate::load_plan::FullLoadSet;
use crate::ports::{Cell, FileColumn, FileColumnType, RawFile, RawZone, Warehouse, run_to_completion};
use crate::schema_change::ColumnChange;
use crate::sql::Dialect;
use crate::sql::rebuild::{REBUILD_OVERLAP, Rebuild, first_row_query, reads_cdc_file, rebuild_batch, rebuild_id};

/// Submits the table's rebuild from `set`, or says why it waits: a reload
/// DMS may still be writing (a file written within `pipeline.reload_settle`).
pub async fn submit_rebuild(
    cfg: &PipelineConfig,
    t: &TableConfig,
    warehouse: &dyn Warehouse,
    raw: &dyn RawZone,
    set: FullLoadSet,
    now: DateTime<Utc>,
) -> Result<SubmitOutcome, PipelineError> {
    let at = |e: PipelineError| e.context(format!("table {}", t.qualified()));
    if let Some(why) = still_written(cfg, &set, now) {
        tracing::info!(table = %t.qualified(), why, "rebuild waits");
        return Ok(SubmitOutcome::Waiting { why });
    }
    let mut schemas = raw.file_schemas(&set.full).await.map_err(at)?;
    for (f, columns) in set.full.iter().zip(&schemas) {
        check_file_schema(&cfg.dms, t, f, columns).map_err(|e| e.context(&set.why))?;
    }
    let since = first_row(cfg, t, warehouse, &set).await.map_err(at)? - REBUILD_OVERLAP;
    // The CDC files from `since`'s day on, wherever the claim's listing started.
    let day = since.format("%Y%m%d").to_string();
    let scope = ListingScope::days_before(Some(&day), 0, now.date_naive());
    let listing = list_table_within(cfg, t, raw, scope).await.map_err(at)?;
    let mut cdc: Vec<_> = listing.files.iter().filter(|f| reads_cdc_file(f, since)).cloned().collect();
    for f in set.unapplied_cdc {
        if !cdc.iter().any(|c| c.path == f.path) {
            cdc.push(f);
        }
    }
    let id = rebuild_id(&set.full, since, set.resync);
    // Every file's columns (the full load's read above): a reload may bring
    // new ones, and CDC files from before and after a column was added are
    // read together.
    schemas.extend(raw.file_schemas(&cdc).await.map_err(at)?);
    let read: Vec<_> = set.full.iter().chain(&cdc).cloned().collect();
    let (t, columns) = columns_of(cfg, t, &read, &schemas).map_err(|e| e.context(&set.why))?;
    if !columns.retyped.is_empty() {
        let why = crate::load::retype_reason(&columns.retyped);
        // A reload that changes a type under "fail" leaves the table as it was.
        if set.resync.is_none() && t.on_schema_change == SchemaChangePolicy::Fail {
            return Ok(crate::load::resync_required(&t, &format!("{}: {why}", set.why)));
        }
        if warehouse.dialect() == Dialect::Redshift {
            let known = read.iter().map(|f| f.path.as_str()).zip(&schemas).collect();
            spectrum_reads_one_type(cfg, &t, raw, &columns.retyped, &known).await.map_err(at)?;
        }
    }
    let t = &t;
    let batch = rebuild_batch(
        cfg,
        t,
        warehouse.dialect(),
        &Rebuild { id: id.clone(), full: &set.full, superseded: &set.superseded, cdc: &cdc, since, columns: &columns },
    );
    let statement_id = warehouse.submit(batch).await.map_err(at)?;
    let files = set.full.len() + cdc.len();
    tracing::info!(table = %t.qualified(), why = %set.why, full = set.full.len(), cdc = cdc.len(), %since,
        statement = %statement_id, "rebuild submitted");
    Ok(SubmitOutcome::Submitted { statement_id, files, backlog: 0, rebuild: Some(set.why) })
}

/// Why a reload is not rebuilt yet: DMS wrote one of its files less than
/// `pipeline.reload_settle` ago and may write more.
fn still_written(cfg: &PipelineConfig, set: &FullLoadSet, now: DateTime<Utc>) -> Option<String> {
    if set.resync.is_some() {
        return None;
    }
    let newest = set.newest_written()?;
    let settle = chrono::Duration::from_std(cfg.reload_settle).ok()?;
    (now < newest + settle).then(|| {
        format!(
            "{}; {} full-load files, the newest written at {newest}: the table is rebuilt once none was written for \
             {} s (pipeline.reload_settle)",
            set.why,
            set.full.len(),
            cfg.reload_settle.as_secs()
        )
    })
}

/// The set's first row's timestamp: a reload's rows carry their transfer time.
async fn first_row(
    cfg: &PipelineConfig,
    t: &TableConfig,
    warehouse: &dyn Warehouse,
    set: &FullLoadSet,
) -> Result<NaiveDateTime, PipelineError> {
    let rs = run_to_completion(warehouse, first_row_query(cfg, t, warehouse.dialect(), &set.full)).await?;
    rs.rows
        .first()
        .and_then(|row| rs.column("first_row").and_then(|i| row.get(i)))
        .and_then(Cell::as_text)
        .and_then(parse_timestamp)
        .ok_or_else(|| {
            let files: Vec<&str> = set.full.iter().map(|f| f.path.as_str()).collect();
            PipelineError::data(format!(
                "{}: the full-load files hold no row with a timestamp in column `{}` ({})",
                set.why,
                t.commit_ts_column,
                files.join(", ")
            ))
        })
}

/// Spectrum reads a Parquet column only as the type it was written as, and
/// scans every file under a raw Glue table's location, whatever `$path` the
/// query keeps (docs/redshift.md). So a raw folder whose files write a
/// retyped column both ways cannot be read by the Glue table with either
/// type; until the files written before the change leave it, the rebuild
/// fails here naming them, before anything is submitted. DuckDB reads each
/// file as written and has no such limit.
async fn spectrum_reads_one_type(
    cfg: &PipelineConfig,
    t: &TableConfig,
    raw: &dyn RawZone,
    retyped: &[ColumnChange],
    known: &HashMap<&str, &Vec<FileColumn>>,
) -> Result<(), PipelineError> {
    let listing = list_table_within(cfg, t, raw, ListingScope::Full).await?;
    // Only the footers the rebuild has not read already.
    let unread: Vec<RawFile> = listing.files.iter().filter(|f| !known.contains_key(f.path.as_str())).cloned().collect();
    let mut more = raw.file_schemas(&unread).await?.into_iter();
    let schemas: Vec<Vec<FileColumn>> = listing
        .files
        .iter()
        .map(|f| match known.get(f.path.as_str()) {
            Some(s) => (*s).clone(),
            None => more.next().unwrap_or_default(),
        })
        .collect();
    for c in retyped {
        let written = |columns: &Vec<FileColumn>| -> Option<FileColumnType> {
            columns.iter().find(|f| f.name.eq_ignore_ascii_case(c.name.as_str())).map(|f| f.ty.clone())
        };
        let new =
            listing.files.iter().zip(&schemas).find(|(f, _)| f.path == c.first_file).and_then(|(_, s)| written(s));
        let older: Vec<&str> = listing
            .files
            .iter()
            .zip(&schemas)
            .filter(|(_, s)| written(s).is_some_and(|ty| Some(&ty) != new.as_ref()))
            .map(|(f, _)| f.path.as_str())
            .collect();
        if let (Some(first), Some(last)) = (older.first(), older.last()) {
            return Err(PipelineError::data(format!(
                "{}: Redshift Spectrum reads a Parquet column only as the type it was written as, and {} files under \
                 {} still write `{}` as the old type (from {first} to {last}), so no Glue table can read the folder. \
                 Reload the table in DMS (its files then write the new type), move the files that write the old \
                 type out of the folder, then run `cdc resync {}` (docs/table-lifecycle.md, \"Type changes\")",
                c.describe(),
                older.len(),
                listing.described.join(" and "),
                c.name,
                t.name
            )));
        }
    }
    Ok(())
}
