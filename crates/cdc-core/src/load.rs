//! One table's load, in the two steps the state machine drives: `submit`
//! plans from the warehouse's progress and the raw zone's listing, checks the
//! new files' schemas and submits one transaction; `poll` reports its state.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{ColumnType, PipelineConfig, SchemaChangePolicy, TableConfig};
use crate::dms::{DmsSettings, ListingScope, list_table_within};
use crate::error::PipelineError;
use crate::load_plan::{self, Applied, Planned};
use crate::ports::{
    Cell, FileColumn, FileColumnType, FileKind, RawFile, RawZone, StatementId, StatementState, Warehouse,
    run_to_completion, wait_for,
};
use crate::rebuild;
use crate::schema_change;
use crate::sql::merge;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SubmitOutcome {
    /// No file the table has not applied: no transaction was started.
    NothingNew,
    Submitted {
        statement_id: StatementId,
        files: usize,
        /// New files left for the next run (over `max_files_per_load`).
        backlog: usize,
        /// Set when the statement rebuilds the table: why (a DMS reload, a
        /// resync).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rebuild: Option<String>,
    },
    /// A DMS reload is still being written: the table waits, loading
    /// nothing, until it is rebuilt from the whole reload.
    Waiting { why: String },
    /// The files changed a column's type under `on_schema_change = "fail"`:
    /// nothing was submitted, and the table waits for `cdc resync`.
    ResyncRequired { why: String },
}

/// How this run loads a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadRun {
    pub now: DateTime<Utc>,
    /// List from the newest applied day minus the lateness window, not whole.
    pub bounded: bool,
    /// Rebuild the table from its full load and the CDC after it, for the
    /// resync requested at this time (the same request, the same rebuild:
    /// a retried submit sends the same statements).
    pub resync: Option<DateTime<Utc>>,
}

impl LoadRun {
    /// A whole listing, no resync: what a local run does.
    pub fn whole(now: DateTime<Utc>) -> Self {
        Self { now, bounded: false, resync: None }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadStats {
    pub files: u64,
    pub changes: u64,
    pub upserts: u64,
    pub deletes: u64,
    /// Newest commit timestamp applied by this load (UTC, no zone).
    pub max_commit_ts: Option<NaiveDateTime>,
    /// The statement rebuilt the table (its rebuild's id).
    pub rebuild: Option<String>,
    /// The columns the statement added to the table, described.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_changes: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    Running,
    Done(LoadStats),
    /// The load ended without effect for a reason that passes (a
    /// serialization conflict, an abort): submitting it again is the cure,
    /// polling it again never is.
    Retry(PipelineError),
    /// The load ended without effect because text columns must be widened
    /// first (`on_schema_change = "add_columns"`): [`widen_columns`], then
    /// submit it again. `(column, longest value in characters)`.
    Widen(Vec<(String, u32)>),
}

pub fn table<'a>(cfg: &'a PipelineConfig, name: &str) -> Result<&'a TableConfig, PipelineError> {
    cfg.table(name).ok_or_else(|| PipelineError::config(format!("table {name:?} is not in the pipeline config")))
}

/// Plans and submits the table's next load: its new files, or its rebuild
/// after a DMS reload or on request.
pub async fn submit_load(
    cfg: &PipelineConfig,
    t: &TableConfig,
    warehouse: &dyn Warehouse,
    raw: &dyn RawZone,
    run: LoadRun,
) -> Result<SubmitOutcome, PipelineError> {
    let at = |e: PipelineError| e.context(format!("table {}", t.qualified()));
    // The progress first: it says from which day on the listing must go.
    let applied = Applied::read(cfg, t, warehouse).await.map_err(at)?;
    // The configured columns plus those the files added before.
    let effective = schema_change::effective(t, &applied.added);
    let t = &effective;
    let scope = if run.bounded { applied.listing_scope(run.now.date_naive()) } else { ListingScope::Full };
    let listing = list_table_within(cfg, t, raw, scope).await.map_err(at)?;
    if let Some(e) = listing.layout_error(t) {
        return Err(e);
    }
    if let Some(requested) = run.resync {
        let set = load_plan::current_full_load(&listing, &applied, requested).ok_or_else(|| {
            PipelineError::data(format!(
                "table {}: a resync rebuilds from the latest full load, and there is no full-load file under {}",
                t.qualified(),
                listing.described.join(" or ")
            ))
        })?;
        return rebuild::submit_rebuild(cfg, t, warehouse, raw, set, run.now).await;
    }
    let mut new = match load_plan::plan_files(cfg, t, warehouse, &listing, applied).await.map_err(at)? {
        Planned::Load(new) => new,
        Planned::Reload(set) => return rebuild::submit_rebuild(cfg, t, warehouse, raw, set, run.now).await,
    };
    if new.is_empty() {
        return Ok(SubmitOutcome::NothingNew);
    }
    let backlog = new.len().saturating_sub(cfg.max_files_per_load);
    new.truncate(cfg.max_files_per_load);
    let (loaded, columns) = read_columns(cfg, t, raw, &new).await?;
    if let Some(first) = columns.retyped.first() {
        // Redshift cannot alter such a column in place: the table is
        // rebuilt with the new type, as a resync rebuilds it.
        let why = retype_reason(&columns.retyped);
        if t.on_schema_change == SchemaChangePolicy::Fail {
            return Ok(resync_required(t, &why));
        }
        // Named by the first retyped file, so a retried submit sends the same rebuild.
        let requested = new.iter().find(|f| f.path == first.first_file).map_or(run.now, |f| f.modified);
        // Read again rather than kept from the plan: this is rare, every load plans.
        let progress = Applied::read(cfg, t, warehouse).await.map_err(at)?;
        let mut set = load_plan::current_full_load(&listing, &progress, requested).ok_or_else(|| {
            PipelineError::data(format!(
                "table {}: {why}, and the table is rebuilt with it from its latest full load, but there is no \
                 full-load file under {}",
                t.qualified(),
                listing.described.join(" or ")
            ))
        })?;
        set.why = format!("{why}: rebuilt with the new type");
        return rebuild::submit_rebuild(cfg, t, warehouse, raw, set, run.now).await;
    }
    let t = loaded;
    let batch = merge::load_batch_with_columns(cfg, &t, warehouse.dialect(), &new, &columns);
    let statement_id = warehouse.submit(batch).await.map_err(at)?;
    tracing::info!(table = %t.qualified(), files = new.len(), backlog, statement = %statement_id,
        added = columns.added.len(), "load submitted");
    Ok(SubmitOutcome::Submitted { statement_id, files: new.len(), backlog, rebuild: None })
}

/// Widens text columns whose values outgrew them (a failed load's
/// [`PollOutcome::Widen`]): per column one `ALTER TABLE … ALTER COLUMN … TYPE`
/// outside a transaction (Redshift runs it nowhere else; docs/redshift.md)
/// on the target, and on the paired copies (append) or tombstones (a key),
/// then the record in `<table>__columns`. Widening first and recording after
/// is the safe order: a crash between leaves a wider column and the next
/// load widening again, never a record the target does not hold. Returns
/// the changes made (none when another run widened them already).
pub async fn widen_columns(
    cfg: &PipelineConfig,
    t: &TableConfig,
    warehouse: &dyn Warehouse,
    columns: &[(String, u32)],
    found_by: &StatementId,
) -> Result<Vec<schema_change::ColumnChange>, PipelineError> {
    let at = |e: PipelineError| e.context(format!("table {}: widening text columns", t.qualified()));
    let applied = Applied::read(cfg, t, warehouse).await.map_err(at)?;
    let effective = schema_change::effective(t, &applied.added);
    let mut changes = Vec::new();
    for (name, chars) in columns {
        let Some(c) = effective.columns.iter().find(|c| c.name.as_str() == name) else { continue };
        let Some(ty) = schema_change::widened(c.ty, *chars) else { continue };
        for statement in merge::widen_statements(cfg, &effective, warehouse.dialect(), &c.name, ty) {
            let id = warehouse.submit_single(statement).await.map_err(at)?;
            wait_for(warehouse, &id).await.map_err(at)?;
        }
        let change = schema_change::ColumnChange {
            name: c.name.clone(),
            ty,
            change: schema_change::ChangeKind::Widened,
            first_file: format!("a value of {chars} characters, found by statement {found_by}"),
            from: Some(c.ty),
        };
        tracing::info!(table = %t.qualified(), column = %c.name, to = %ty, "text column widened");
        changes.push(change);
    }
    if !changes.is_empty() {
        run_to_completion(warehouse, merge::record_column_changes(cfg, t, warehouse.dialect(), &changes))
            .await
            .map_err(at)?;
    }
    Ok(changes)
}

/// Checks the files' columns against the effective table `t` and returns
/// the table the batch loads (with the columns the files add) and how the
/// files' columns stand ([`schema_change::BatchColumns`]).
pub(crate) async fn read_columns(
    cfg: &PipelineConfig,
    t: &TableConfig,
    raw: &dyn RawZone,
    files: &[RawFile],
) -> Result<(TableConfig, schema_change::BatchColumns), PipelineError> {
    let schemas = raw.file_schemas(files).await.map_err(|e| e.context(format!("table {}", t.qualified())))?;
    columns_of(cfg, t, files, &schemas)
}

/// [`read_columns`] for schemas already read (`schemas[i]` is `files[i]`'s).
pub(crate) fn columns_of(
    cfg: &PipelineConfig,
    t: &TableConfig,
    files: &[RawFile],
    schemas: &[Vec<FileColumn>],
) -> Result<(TableConfig, schema_change::BatchColumns), PipelineError> {
    let (mut extras, mut retyped) = (Vec::with_capacity(files.len()), Vec::with_capacity(files.len()));
    for (f, columns) in files.iter().zip(schemas) {
        let check = check_file_schema(&cfg.dms, t, f, columns)?;
        extras.push(check.extras);
        retyped.push(check.retyped);
    }
    let added = schema_change::additions(t, files, &extras)?;
    let retyped = schema_change::retypes(t, files, &retyped)?;
    let changes: Vec<_> = added.iter().chain(&retyped).cloned().collect();
    let loaded = schema_change::effective(t, &changes);
    let mut columns = schema_change::batch_columns(&loaded, files, schemas, added);
    columns.retyped = retyped;
    Ok((loaded, columns))
}

/// The type changes a batch found, as the table's state and the run record
/// name them.
pub fn retype_reason(retyped: &[schema_change::ColumnChange]) -> String {
    retyped.iter().map(|c| c.describe()).collect::<Vec<_>>().join("; ")
}

/// A type change `why` under `on_schema_change = "fail"`: nothing is
/// submitted, and the table waits for a resync, which adopts the new type.
pub fn resync_required(t: &TableConfig, why: &str) -> SubmitOutcome {
    SubmitOutcome::ResyncRequired {
        why: format!(
            "{why}; on_schema_change = \"fail\": nothing was loaded; run `cdc resync {}` to rebuild the table with \
             the new type",
            t.name
        ),
    }
}

/// The failure of a table's load that waits for a resync (its reason as
/// [`resync_required`] gives it).
pub fn resync_required_error(t: &TableConfig, why: &str) -> PipelineError {
    PipelineError::data(format!("table {}: {why}", t.qualified()))
}

/// The state of a submitted load; its figures once finished.
pub async fn poll_load(
    t: &TableConfig,
    warehouse: &dyn Warehouse,
    id: &StatementId,
) -> Result<PollOutcome, PipelineError> {
    let at = format!("table {} (statement {id})", t.qualified());
    match warehouse.status(id).await.map_err(|e| e.context(&at))? {
        StatementState::Submitted | StatementState::Running => Ok(PollOutcome::Running),
        StatementState::Failed(e) if e.kind == crate::ErrorKind::Retryable => Ok(PollOutcome::Retry(e.context(&at))),
        StatementState::Failed(e) if t.on_schema_change == SchemaChangePolicy::AddColumns => {
            match merge::columns_to_widen(&e.message) {
                Some(columns) => Ok(PollOutcome::Widen(columns)),
                None => Err(e.context(&at)),
            }
        }
        StatementState::Failed(e) => Err(e.context(&at)),
        StatementState::Aborted(why) => {
            Ok(PollOutcome::Retry(PipelineError::retryable(format!("{at}: load aborted: {why}"))))
        }
        StatementState::Finished => {
            let rs = warehouse.result(id).await.map_err(|e| e.context(&at))?;
            stats_from(&rs).map(PollOutcome::Done).map_err(|e| e.context(&at))
        }
    }
}

/// Submit and wait: what the local `run` does per table between Map states.
pub async fn load_table(
    cfg: &PipelineConfig,
    t: &TableConfig,
    warehouse: &dyn Warehouse,
    raw: &dyn RawZone,
    poll_every: Duration,
) -> Result<LoadStats, PipelineError> {
    let (id, backlog) = match submit_load(cfg, t, warehouse, raw, LoadRun::whole(Utc::now())).await? {
        SubmitOutcome::NothingNew | SubmitOutcome::Waiting { .. } => return Ok(LoadStats::default()),
        // Local runs have no table state: the table fails with the reason.
        SubmitOutcome::ResyncRequired { why } => return Err(resync_required_error(t, &why)),
        SubmitOutcome::Submitted { statement_id, backlog, .. } => (statement_id, backlog),
    };
    loop {
        match poll_load(t, warehouse, &id).await? {
            PollOutcome::Running => tokio::time::sleep(poll_every).await,
            PollOutcome::Retry(e) => return Err(e),
            PollOutcome::Widen(columns) => {
                widen_columns(cfg, t, warehouse, &columns, &id).await?;
                return Box::pin(load_table(cfg, t, warehouse, raw, poll_every)).await;
            }
            PollOutcome::Done(stats) if backlog > 0 => {
                // Take the rest now; each load stays one bounded transaction.
                let mut more = Box::pin(load_table(cfg, t, warehouse, raw, poll_every)).await?;
                more.merge(&stats);
                return Ok(more);
            }
            PollOutcome::Done(stats) => return Ok(stats),
        }
    }
}

impl LoadStats {
    fn merge(&mut self, other: &LoadStats) {
        self.files += other.files;
        self.changes += other.changes;
        self.upserts += other.upserts;
        self.deletes += other.deletes;
        self.max_commit_ts = self.max_commit_ts.max(other.max_commit_ts);
        self.rebuild = self.rebuild.take().or_else(|| other.rebuild.clone());
        self.schema_changes = match (self.schema_changes.take(), &other.schema_changes) {
            (Some(a), Some(b)) => Some(format!("{b}; {a}")),
            (a, b) => a.or_else(|| b.clone()),
        };
    }
}

fn stats_from(rs: &crate::ports::ResultSet) -> Result<LoadStats, PipelineError> {
    let row = rs.rows.first().ok_or_else(|| PipelineError::retryable("load finished without its figures row"))?;
    let get = |name: &str| -> u64 {
        rs.column(name).and_then(|i| row.get(i)).and_then(Cell::as_i64).unwrap_or(0).max(0) as u64
    };
    let max_commit_ts =
        rs.column("max_commit_ts").and_then(|i| row.get(i)).and_then(Cell::as_text).and_then(parse_timestamp);
    let text = |name: &str| rs.column(name).and_then(|i| row.get(i)).and_then(Cell::as_text).map(str::to_string);
    Ok(LoadStats {
        rebuild: text("rebuild"),
        schema_changes: text("schema_changes"),
        files: get("files"),
        changes: get("changes"),
        upserts: get("upserts"),
        deletes: get("deletes"),
        max_commit_ts,
    })
}

/// Timestamps as both warehouses print them (`2026-11-01 20:00:00[.ffffff]`).
pub fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()
}

/// A new file must carry the table's columns (plus what DMS adds), with
/// types the target can hold. Checked before any SQL runs, so the error
/// names the file and the column instead of an engine's cast failure.
///
/// Under `on_schema_change = "add_columns"` (the default) a file may lack a
/// column that is not a key (it loads as NULL) and may carry new columns,
/// returned for [`crate::schema_change::additions`]; under `"fail"` either is
/// an error naming the file and the column.
pub fn check_file_schema(
    dms: &DmsSettings,
    t: &TableConfig,
    file: &RawFile,
    columns: &[FileColumn],
) -> Result<FileCheck, PipelineError> {
    let at = format!("table {}: file {}", t.qualified(), file.path);
    let mut retyped = Vec::new();
    let err = |what: String| PipelineError::data(format!("{at}: {what}"));
    let find = |name: &str| columns.iter().find(|c| c.name.eq_ignore_ascii_case(name));
    let adds = t.on_schema_change == SchemaChangePolicy::AddColumns;
    for c in &t.columns {
        let Some(found) = find(c.name.as_str()) else {
            if t.key.contains(&c.name) {
                return Err(err(format!("key column `{}` is missing", c.name)));
            }
            if adds {
                continue;
            }
            return Err(err(format!(
                "column `{}` is missing (on_schema_change = \"fail\"; \"add_columns\" loads it as NULL)",
                c.name
            )));
        };
        if !accepts(c.ty, &found.ty) {
            if schema_change::retyped(c.ty, &found.ty).is_none() {
                return Err(err(format!(
                    "column `{}` is {:?} in the file, the table needs {}",
                    c.name, found.ty, c.ty
                )));
            }
            // The key is the target's DISTKEY and SORTKEY and every
            // tombstone's: no rebuild can change its type (docs/table-lifecycle.md).
            if t.key.contains(&c.name) {
                return Err(err(format!(
                    "key column `{}` is {:?} in the file and {} in the table: the pipeline does not change a key \
                     column's type; recreate the table with the new type and run `cdc resync {}`",
                    c.name, found.ty, c.ty, t.name
                )));
            }
            retyped.push((c.name.clone(), found.ty.clone()));
        }
    }
    let ts = find(t.commit_ts_column.as_str())
        .ok_or_else(|| err(format!("timestamp column `{}` is missing", t.commit_ts_column)))?;
    // DMS's TimestampColumnName writes a string `yyyy-MM-dd HH:mm:ss.SSSSSS`
    // (docs/dms.md); a transformation rule may write a TIMESTAMP. The load
    // casts either.
    if !matches!(ts.ty, FileColumnType::Timestamp | FileColumnType::String) {
        return Err(err(format!(
            "timestamp column `{}` is {:?}, neither a timestamp nor DMS's timestamp text",
            t.commit_ts_column, ts.ty
        )));
    }
    let mut known: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    known.push(t.commit_ts_column.as_str());
    known.push(crate::config::OP_COLUMN);
    if let Some(seq) = &t.sequence_column {
        known.push(seq.as_str());
    }
    if file.kind == FileKind::Cdc {
        check_op(dms, &at, find(crate::config::OP_COLUMN))?;
        if let Some(seq) = &t.sequence_column {
            let s = find(seq.as_str()).ok_or_else(|| err(format!("sequence column `{seq}` is missing")))?;
            if s.ty != FileColumnType::String {
                return Err(err(format!("sequence column `{seq}` is {:?}, not text", s.ty)));
            }
        }
    }
    let extras: Vec<FileColumn> =
        columns.iter().filter(|c| !known.iter().any(|k| c.name.eq_ignore_ascii_case(k))).cloned().collect();
    match extras.first() {
        Some(extra) if !adds => Err(err(format!(
            "column `{}` is not in the target table (on_schema_change = \"fail\"): add it to the pipeline config, \
             or set on_schema_change = \"add_columns\" to add it to the target",
            extra.name
        ))),
        _ => Ok(FileCheck { extras, retyped }),
    }
}

/// What [`check_file_schema`] found in a file besides the table's columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileCheck {
    /// Columns the table lacks (only under `add_columns`).
    pub extras: Vec<FileColumn>,
    /// Columns the file writes as a wider type, with that type
    /// ([`schema_change::retyped`]).
    pub retyped: Vec<(crate::ident::Ident, FileColumnType)>,
}

/// A CDC file carries `Op` exactly when the `[dms]` settings say DMS writes
/// it (docs/dms.md); a file that disagrees means the settings do not match
/// the endpoint's, a ConfigError naming them.
/// `at` names the table and the file, as [`check_file_schema`]'s errors do.
fn check_op(dms: &DmsSettings, at: &str, op: Option<&FileColumn>) -> Result<(), PipelineError> {
    let mismatch = |what: &str| {
        PipelineError::config(format!(
            "{at}: {what}; DMS leaves `Op` out of CDC files exactly when dms.cdc_inserts_only is true and \
             dms.include_op_for_full_load is false (now {} and {}): set them as the endpoint has them",
            dms.cdc_inserts_only, dms.include_op_for_full_load
        ))
    };
    match (op, dms.cdc_files_carry_op()) {
        (None, true) => Err(mismatch("column `Op` is missing from a CDC file")),
        (Some(_), false) => Err(mismatch("a CDC file carries column `Op`")),
        (Some(op), true) if op.ty != FileColumnType::String => {
            Err(PipelineError::data(format!("{at}: column `Op` is {:?}, not text", op.ty)))
        }
        _ => Ok(()),
    }
}

/// Whether a file column of type `f` loads into a target column of type `ty`
/// without loss.
fn accepts(ty: ColumnType, f: &FileColumnType) -> bool {
    use FileColumnType as F;
    match ty {
        ColumnType::SmallInt => matches!(f, F::Int16),
        ColumnType::Integer => matches!(f, F::Int16 | F::Int32),
        ColumnType::BigInt => matches!(f, F::Int16 | F::Int32 | F::Int64),
        ColumnType::Real => matches!(f, F::Float32),
        ColumnType::Double => matches!(f, F::Float32 | F::Float64),
        ColumnType::Boolean => matches!(f, F::Boolean),
        ColumnType::Date => matches!(f, F::Date),
        ColumnType::Timestamp => matches!(f, F::Timestamp),
        ColumnType::Varchar(_) | ColumnType::Char(_) => matches!(f, F::String),
        ColumnType::Numeric(p, s) => match f {
            F::Int16 | F::Int32 => p - s >= 10,
            F::Int64 => p - s >= 19,
            F::Decimal(fp, fs) => *fs <= s && fp - fs <= p - s,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PipelineConfig;

    fn accounts() -> TableConfig {
        let cfg = PipelineConfig::parse(include_str!("../../../config/pipeline.toml"), "demo").unwrap();
        cfg.table("pgbench_accounts").unwrap().clone()
    }

    fn file(kind: FileKind) -> RawFile {
        RawFile {
            path: "raw/cdc/public/pgbench_accounts/20261101/x.parquet".into(),
            kind,
            partition: Some("20261101".into()),
            size: 10,
            modified: chrono::Utc::now(),
            version: String::new(),
        }
    }

    fn cdc_columns() -> Vec<FileColumn> {
        [
            ("Op", FileColumnType::String),
            ("changets", FileColumnType::Timestamp),
            ("AR_H_CHANGE_SEQ", FileColumnType::String),
            ("aid", FileColumnType::Int32),
            ("bid", FileColumnType::Int32),
            ("abalance", FileColumnType::Int32),
            ("filler", FileColumnType::String),
        ]
        .into_iter()
        .map(|(n, ty)| FileColumn { name: n.into(), ty })
        .collect()
    }

    #[test]
    fn a_dms_cdc_file_passes() {
        check_file_schema(&DmsSettings::default(), &accounts(), &file(FileKind::Cdc), &cdc_columns()).unwrap();
    }

    #[test]
    fn under_fail_missing_wrong_type_and_new_columns_name_file_and_column() {
        let mut t = accounts();
        t.on_schema_change = SchemaChangePolicy::Fail;
        let f = file(FileKind::Cdc);
        let mut missing = cdc_columns();
        missing.retain(|c| c.name != "abalance");
        let e = check_file_schema(&DmsSettings::default(), &t, &f, &missing).unwrap_err();
        assert!(e.message.contains("`abalance` is missing") && e.message.contains("x.parquet"), "{e}");

        let mut wrong = cdc_columns();
        wrong[5].ty = FileColumnType::String;
        let e = check_file_schema(&DmsSettings::default(), &t, &f, &wrong).unwrap_err();
        assert!(e.message.contains("`abalance`") && e.message.contains("integer"), "{e}");

        let mut extra = cdc_columns();
        extra.push(FileColumn { name: "email".into(), ty: FileColumnType::String });
        let e = check_file_schema(&DmsSettings::default(), &t, &f, &extra).unwrap_err();
        assert!(
            e.message.contains("`email` is not in the target table") && e.message.contains("on_schema_change"),
            "{e}"
        );
        assert_eq!(e.kind, crate::ErrorKind::DataError);
    }

    #[test]
    fn under_add_columns_new_columns_are_returned_and_only_keys_must_be_present() {
        // GIVEN the default policy
        let t = accounts();
        assert_eq!(t.on_schema_change, SchemaChangePolicy::AddColumns);
        let f = file(FileKind::Cdc);
        // WHEN a file carries a new column THEN it is returned, not refused
        let mut extra = cdc_columns();
        extra.push(FileColumn { name: "email".into(), ty: FileColumnType::String });
        let found = check_file_schema(&DmsSettings::default(), &t, &f, &extra).unwrap();
        assert_eq!(found.extras, vec![FileColumn { name: "email".into(), ty: FileColumnType::String }]);
        // AND a file without a non-key column passes (it loads as NULL)
        let mut dropped = cdc_columns();
        dropped.retain(|c| c.name != "filler");
        assert_eq!(check_file_schema(&DmsSettings::default(), &t, &f, &dropped).unwrap(), FileCheck::default());
        // BUT a file without the key column is refused naming it
        let mut keyless = cdc_columns();
        keyless.retain(|c| c.name != "aid");
        let e = check_file_schema(&DmsSettings::default(), &t, &f, &keyless).unwrap_err();
        assert!(e.message.contains("key column `aid` is missing"), "{e}");
        // AND a changed type is still refused
        let mut wrong = cdc_columns();
        wrong[5].ty = FileColumnType::String;
        assert!(check_file_schema(&DmsSettings::default(), &t, &f, &wrong).is_err());
    }

    #[test]
    fn an_integer_written_as_bigint_is_a_type_change_except_in_the_key() {
        let (t, f) = (accounts(), file(FileKind::Cdc));
        // GIVEN a file writing abalance (integer) as INT64
        let mut wider = cdc_columns();
        wider[5].ty = FileColumnType::Int64;
        // WHEN it is checked THEN the column is returned as retyped, under either policy
        let found = check_file_schema(&DmsSettings::default(), &t, &f, &wider).unwrap();
        assert_eq!(found.retyped, vec![(crate::ident::Ident::new("abalance").unwrap(), FileColumnType::Int64)]);
        let fail = TableConfig { on_schema_change: SchemaChangePolicy::Fail, ..t.clone() };
        assert_eq!(check_file_schema(&DmsSettings::default(), &fail, &f, &wider).unwrap().retyped.len(), 1);
        // AND the batch's effective table has it as bigint, named with its first file
        let cfg = PipelineConfig::parse(include_str!("../../../config/pipeline.toml"), "demo").unwrap();
        let (loaded, columns) = columns_of(&cfg, &t, &[f.clone()], &[wider]).unwrap();
        assert_eq!(loaded.columns.iter().find(|c| c.name.as_str() == "abalance").unwrap().ty, ColumnType::BigInt);
        assert_eq!(
            columns.retyped[0].describe(),
            format!("column abalance changed type from integer to bigint (first in {})", f.path)
        );
        // BUT the key column written as INT64 is refused naming it and both types
        let mut key = cdc_columns();
        key[3].ty = FileColumnType::Int64;
        let e = check_file_schema(&DmsSettings::default(), &t, &f, &key).unwrap_err();
        assert!(
            e.message.contains("key column `aid`") && e.message.contains("Int64") && e.message.contains("integer"),
            "{e}"
        );
        // AND a narrower file still loads into the wider column, changing nothing
        let mut narrower = cdc_columns();
        narrower[5].ty = FileColumnType::Int16;
        assert_eq!(check_file_schema(&DmsSettings::default(), &t, &f, &narrower).unwrap(), FileCheck::default());
    }

    #[test]
    fn op_is_in_cdc_files_exactly_as_the_dms_settings_say() {
        let inserts_only = DmsSettings { cdc_inserts_only: true, ..DmsSettings::default() };
        let mut without_op = cdc_columns();
        without_op.remove(0);
        // GIVEN inserts-only CDC without IncludeOpForFullLoad: files without `Op` pass
        check_file_schema(&inserts_only, &accounts(), &file(FileKind::Cdc), &without_op).unwrap();
        // AND a file with `Op` is refused as a settings mismatch naming both keys
        let e = check_file_schema(&inserts_only, &accounts(), &file(FileKind::Cdc), &cdc_columns()).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::ConfigError);
        assert!(
            e.message.contains("dms.cdc_inserts_only") && e.message.contains("dms.include_op_for_full_load"),
            "{e}"
        );
        // GIVEN DMS's defaults: a CDC file without `Op` is refused the same way
        let e = check_file_schema(&DmsSettings::default(), &accounts(), &file(FileKind::Cdc), &without_op).unwrap_err();
        assert!(e.message.contains("`Op` is missing") && e.message.contains("x.parquet"), "{e}");
        // AND a full-load file passes with `Op` (IncludeOpForFullLoad) or without
        check_file_schema(&DmsSettings::default(), &accounts(), &file(FileKind::Full), &without_op).unwrap();
        check_file_schema(&DmsSettings::default(), &accounts(), &file(FileKind::Full), &cdc_columns()).unwrap();
    }

    #[test]
    fn the_timestamp_column_may_be_dms_s_text_but_nothing_else() {
        // GIVEN a CDC file whose timestamp column is DMS's TimestampColumnName text
        let mut text = cdc_columns();
        text[1].ty = FileColumnType::String;
        // THEN it passes (the load casts it), and an integer timestamp is refused naming the column
        check_file_schema(&DmsSettings::default(), &accounts(), &file(FileKind::Cdc), &text).unwrap();
        let mut number = cdc_columns();
        number[1].ty = FileColumnType::Int64;
        let e = check_file_schema(&DmsSettings::default(), &accounts(), &file(FileKind::Cdc), &number).unwrap_err();
        assert!(e.message.contains("`changets`") && e.message.contains("Int64"), "{e}");
    }

    #[test]
    fn widening_is_accepted_narrowing_is_not() {
        assert!(accepts(ColumnType::BigInt, &FileColumnType::Int32));
        assert!(!accepts(ColumnType::Integer, &FileColumnType::Int64));
        assert!(accepts(ColumnType::Numeric(12, 2), &FileColumnType::Decimal(10, 2)));
        assert!(!accepts(ColumnType::Numeric(12, 2), &FileColumnType::Decimal(12, 4)));
    }
}
