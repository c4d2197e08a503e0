//! The unload function: per table, the next due day is exported (submit),
//! then polled until it is written, published, recorded and registered.
//! The state machine loops a table's days oldest first, tables side by side.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::load::{TableInput, extend_lease};
use super::{RunIds, StepStatus};
use crate::config::PipelineConfig;
use crate::dms::ListingScope;
use crate::error::{ErrorKind, PipelineError};
use crate::job::{JobStateStore, Lease};
use crate::load::table;
use crate::ports::{ExportTarget, OptimizedCatalog, OptimizedZone, RawZone, StatementId, StatementState, Warehouse};
use crate::unload::{
    PlannedDay, cdc_files, complete_day, day_sources, exported_rows, plan_table, recorded_days, submit_day,
    unload_scope,
};

/// Every field always present, so the state machine's paths never miss.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnloadStepOutput {
    pub table: String,
    pub status: Option<StepStatus>,
    pub statement_id: Option<StatementId>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub day: Option<PlannedDay>,
    pub target: Option<ExportTarget>,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    /// Why a day is to be submitted again (`status` `retry`).
    pub cause: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnloadPollInput {
    #[serde(flatten)]
    pub ids: RunIds,
    pub table: String,
    pub statement_id: StatementId,
    pub submitted_at: DateTime<Utc>,
    pub day: PlannedDay,
    pub target: ExportTarget,
}

/// Starts the export of the table's oldest due day, if any.
#[allow(clippy::too_many_arguments)]
pub async fn unload_submit(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    raw: &dyn RawZone,
    zone: &dyn OptimizedZone,
    input: &TableInput,
    unload_now: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<UnloadStepOutput, PipelineError> {
    let t = table(cfg, &input.table)?;
    let warehouse = &input.submitter(warehouse);
    zone.check().await?;
    let recorded = recorded_days(cfg, warehouse).await?;
    let scope = if input.full_listing { ListingScope::Full } else { unload_scope(cfg, t, &recorded, now.date_naive()) };
    let files = cdc_files(cfg, t, raw, scope).await?;
    let due = plan_table(cfg, t, &day_sources(&files), &recorded, unload_now)?;
    let Some(day) = due.into_iter().next() else {
        return Ok(UnloadStepOutput {
            table: input.table.clone(),
            status: Some(StepStatus::NothingNew),
            ..UnloadStepOutput::default()
        });
    };
    if let Some(why) = input.deferral(cfg, now) {
        tracing::info!(table = %input.table, day = %day.day, why, "unload deferred to the next execution");
        let status = Some(StepStatus::Deferred);
        return Ok(UnloadStepOutput { table: input.table.clone(), status, ..UnloadStepOutput::default() });
    }
    let (id, target) = submit_day(cfg, warehouse, zone, &day).await?;
    Ok(UnloadStepOutput {
        table: input.table.clone(),
        status: Some(StepStatus::Submitted),
        statement_id: Some(id),
        submitted_at: Some(now),
        day: Some(day),
        target: Some(target),
        ..UnloadStepOutput::default()
    })
}

#[allow(clippy::too_many_arguments)]
pub async fn unload_poll(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    zone: &dyn OptimizedZone,
    catalog: &dyn OptimizedCatalog,
    store: &dyn JobStateStore,
    lease: Lease,
    input: &UnloadPollInput,
    now: DateTime<Utc>,
) -> Result<UnloadStepOutput, PipelineError> {
    extend_lease(store, &input.ids, lease, now).await?;
    let at = format!("unload {} {} (statement {})", input.table, input.day.day, input.statement_id);
    let mut out = UnloadStepOutput {
        table: input.table.clone(),
        status: Some(StepStatus::Running),
        statement_id: Some(input.statement_id.clone()),
        submitted_at: Some(input.submitted_at),
        day: Some(input.day.clone()),
        target: Some(input.target.clone()),
        ..UnloadStepOutput::default()
    };
    match warehouse.status(&input.statement_id).await? {
        StatementState::Submitted | StatementState::Running => return Ok(out),
        // Ended without effect (a serialization conflict, a dropped
        // connection, a cancel): polling it again would see the same end,
        // so the state machine submits the day again (its retry path).
        StatementState::Failed(e) if e.kind == ErrorKind::Retryable => return Ok(retry(out, e.context(at))),
        StatementState::Aborted(why) => {
            return Ok(retry(out, PipelineError::retryable(format!("{at} was aborted: {why}"))));
        }
        StatementState::Failed(e) => return Err(e.context(at)),
        StatementState::Finished => {}
    }
    let rows = exported_rows(&warehouse.result(&input.statement_id).await?).map_err(|e| e.context(&at))?;
    let done = complete_day(cfg, warehouse, zone, catalog, &input.day, &input.target, rows)
        .await
        .map_err(|e| e.context(&at))?;
    out.status = Some(StepStatus::Done);
    out.rows = done.rows;
    out.files = done.files;
    out.bytes = done.bytes;
    Ok(out)
}

fn retry(mut out: UnloadStepOutput, why: PipelineError) -> UnloadStepOutput {
    tracing::warn!(table = %out.table, error = %why, "unload ended without effect; the state machine submits the day again");
    out.status = Some(StepStatus::Retry);
    out.cause = Some(why.to_string());
    out
}
