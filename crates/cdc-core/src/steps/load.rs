//! The load functions (dimension and fact): setup, one table's load, one
//! derived table's refresh, each as a submit and a poll. Every poll first
//! extends the job's lease, so a long statement never outlives it, and a run
//! whose lease was taken over stops at its next poll.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{RunIds, StepStatus};
use crate::config::PipelineConfig;
use crate::error::{ErrorKind, PipelineError};
use crate::job::{JobStateStore, Lease, TableLife, TableState, TableUpdate};
use crate::load::{LoadRun, PollOutcome, SubmitOutcome, poll_load, submit_load, table, widen_columns};
use crate::ports::{IdempotentSubmits, RawZone, StatementId, StatementState, Warehouse};
use crate::sql::setup;

/// A submit step's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableInput {
    #[serde(flatten)]
    pub ids: RunIds,
    /// The table or derived table; empty for setup.
    #[serde(default)]
    pub table: String,
    /// When the submit state was entered (`$$.State.EnteredTime`): the same
    /// for every retry of the Task, new each time the state is entered again.
    #[serde(default)]
    pub entered_time: Option<String>,
    /// Loops only: when the execution started (`$$.Execution.StartTime`)
    /// and how many batches (or days) this loop has done, so it stops
    /// taking new work in time ([`TableInput::deferral`]).
    #[serde(default)]
    pub execution_start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub batches_done: u32,
    /// Whether this run lists the raw zone whole (the claim's periodic full
    /// listing) or from the newest applied day minus the lateness window.
    /// Whole when absent, so an input without it misses nothing.
    #[serde(default = "whole")]
    pub full_listing: bool,
    /// Tables whose rebuild was requested (`cdc resync`, or `Resync` in the
    /// execution's input): this table is rebuilt when it is one of them.
    #[serde(default)]
    pub resync: Vec<String>,
}

fn whole() -> bool {
    true
}

impl TableInput {
    /// Why this loop takes no new work now, if it should not: the
    /// execution's work window passed, or the loop did its share of
    /// batches. The work left waits for the next execution.
    pub fn deferral(&self, cfg: &PipelineConfig, now: DateTime<Utc>) -> Option<String> {
        if self.batches_done >= cfg.max_batches_per_run {
            return Some(format!("{} batches done, the most per run", self.batches_done));
        }
        let start = self.execution_start?;
        let window = chrono::Duration::from_std(cfg.work_window).ok()?;
        (now >= start + window).then(|| {
            format!("the execution started at {start}, {} s ago: its work window is over", (now - start).num_seconds())
        })
    }

    /// The warehouse as this attempt submits to it: with the execution id
    /// and entry time as idempotency key, a retried submit whose first
    /// answer was lost gets the first statement back instead of running twice.
    pub fn submitter<'a>(&self, warehouse: &'a dyn Warehouse) -> IdempotentSubmits<'a> {
        let key = self.entered_time.as_ref().map(|at| format!("{}@{at}", self.ids.execution_id));
        IdempotentSubmits { inner: warehouse, key }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollInput {
    #[serde(flatten)]
    pub ids: RunIds,
    /// The table or derived table; empty for setup.
    #[serde(default)]
    pub table: String,
    pub statement_id: StatementId,
    pub submitted_at: DateTime<Utc>,
    /// Setup only: which of its batches the statement is (from 0).
    #[serde(default)]
    pub part: usize,
    /// Loads only: the newest change the earlier batches of this run
    /// applied, carried so the last poll reports the table's newest.
    #[serde(default)]
    pub newest_change: Option<DateTime<Utc>>,
}

/// Every field always present, so the state machine's paths never miss.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepOutput {
    pub table: String,
    pub status: Option<StepStatus>,
    pub statement_id: Option<StatementId>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// New files left for another load (over `max_files_per_load`).
    pub backlog: u64,
    pub files: u64,
    pub changes: u64,
    pub rows: u64,
    pub seconds: f64,
    /// Why a `retry` status: the statement's error.
    pub cause: Option<String>,
    /// Setup only: which of its batches the statement is (from 0).
    pub part: usize,
    /// A load: the newest commit time applied by it or by the batches
    /// before it in this run (the table's freshness, which the Lambda
    /// reports as a metric).
    pub newest_change: Option<DateTime<Utc>>,
}

impl StepOutput {
    fn submitted(table: &str, id: StatementId, now: DateTime<Utc>) -> Self {
        Self {
            table: table.to_string(),
            status: Some(StepStatus::Submitted),
            statement_id: Some(id),
            submitted_at: Some(now),
            ..Self::default()
        }
    }

    fn polled(input: &PollInput, status: StepStatus, now: DateTime<Utc>) -> Self {
        Self {
            table: input.table.clone(),
            status: Some(status),
            statement_id: Some(input.statement_id.clone()),
            submitted_at: Some(input.submitted_at),
            seconds: (now - input.submitted_at).num_milliseconds().max(0) as f64 / 1000.0,
            ..Self::default()
        }
    }
}

/// The lease extension every poll starts with.
pub async fn extend_lease(
    store: &dyn JobStateStore,
    ids: &RunIds,
    lease: Lease,
    now: DateTime<Utc>,
) -> Result<(), PipelineError> {
    store.extend(&ids.job_id, &ids.execution_id, lease, now).await?;
    Ok(())
}

/// A statement's state; `Done` once finished, its failure as the error.
async fn statement_state(warehouse: &dyn Warehouse, id: &StatementId, what: &str) -> Result<bool, PipelineError> {
    match warehouse.status(id).await? {
        StatementState::Submitted | StatementState::Running => Ok(false),
        StatementState::Finished => Ok(true),
        StatementState::Failed(e) => Err(e.context(format!("{what} (statement {id})"))),
        StatementState::Aborted(why) => {
            Err(PipelineError::retryable(format!("{what} (statement {id}) was aborted: {why}")))
        }
    }
}

pub async fn setup_submit(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    external: Option<&setup::ExternalSchema>,
    input: &TableInput,
    now: DateTime<Utc>,
) -> Result<StepOutput, PipelineError> {
    let first = setup::setup_batches(cfg, warehouse.dialect(), external).swap_remove(0);
    let id = input.submitter(warehouse).submit(first).await?;
    Ok(StepOutput::submitted("", id, now))
}

/// When a setup batch finished, the next one is submitted (the poll goes
/// on with it); once the last finished, the config's fingerprint is
/// recorded with the job, so setup runs again only after a config change.
pub async fn setup_poll(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    external: Option<&setup::ExternalSchema>,
    store: &dyn JobStateStore,
    lease: Lease,
    input: &PollInput,
    now: DateTime<Utc>,
) -> Result<StepOutput, PipelineError> {
    extend_lease(store, &input.ids, lease, now).await?;
    let what = format!("setup part {}", input.part + 1);
    if !statement_state(warehouse, &input.statement_id, &what).await? {
        return Ok(StepOutput { part: input.part, ..StepOutput::polled(input, StepStatus::Running, now) });
    }
    let mut batches = setup::setup_batches(cfg, warehouse.dialect(), external);
    if input.part + 1 < batches.len() {
        // Keyed on the finished statement: a retried poll submits the next part once.
        let key = format!("{}@after-{}", input.ids.execution_id, input.statement_id);
        let next = batches.swap_remove(input.part + 1);
        let id = IdempotentSubmits { inner: warehouse, key: Some(key) }.submit(next).await?;
        let mut out = StepOutput::submitted("", id, now);
        out.status = Some(StepStatus::Running);
        out.part = input.part + 1;
        return Ok(out);
    }
    store.set_config_fingerprint(&input.ids.job_id, &input.ids.execution_id, &cfg.fingerprint()).await?;
    Ok(StepOutput::polled(input, StepStatus::Done, now))
}

pub async fn load_submit(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    raw: &dyn RawZone,
    store: &dyn JobStateStore,
    input: &TableInput,
    now: DateTime<Utc>,
) -> Result<StepOutput, PipelineError> {
    let t = table(cfg, &input.table)?;
    if let Some(why) = input.deferral(cfg, now) {
        tracing::info!(table = %input.table, why, "load deferred to the next execution");
        return Ok(StepOutput {
            table: input.table.clone(),
            status: Some(StepStatus::Deferred),
            ..StepOutput::default()
        });
    }
    let job = input.ids.job_id.as_str();
    let mut state = store.table_states(job).await?.remove(&input.table);
    if let Some(running) = rebuild_in_flight(warehouse, store, job, &input.table, &mut state, now).await? {
        // An earlier execution's rebuild: this loop polls it.
        return Ok(StepOutput::submitted(&input.table, running, now));
    }
    // The request's time names the rebuild; one in the input alone (no
    // state recorded) is named by the execution's start.
    let listed = input.resync.contains(&input.table).then(|| input.execution_start.unwrap_or(now));
    let resync = state.as_ref().and_then(|s| s.resync_requested).or(listed);
    let run = LoadRun { now, bounded: !input.full_listing, resync };
    match submit_load(cfg, t, &input.submitter(warehouse), raw, run).await? {
        SubmitOutcome::NothingNew => {
            Ok(StepOutput { table: input.table.clone(), status: Some(StepStatus::NothingNew), ..StepOutput::default() })
        }
        // A reload still being written: nothing loaded, the cause says why.
        SubmitOutcome::Waiting { why } => {
            let update =
                TableUpdate::Set { life: TableLife::Waiting, reason: Some(why.clone()), statement_id: None, at: now };
            store.update_table(job, &input.table, update).await?;
            Ok(StepOutput {
                table: input.table.clone(),
                status: Some(StepStatus::NothingNew),
                cause: Some(why),
                ..StepOutput::default()
            })
        }
        // A type change under on_schema_change = "fail": the table waits
        // for a resync, and fails this run (so the failure is notified)
        // while the others load; the release keeps its state.
        SubmitOutcome::ResyncRequired { why } => {
            tracing::warn!(table = %input.table, why, "table needs a resync");
            let update = TableUpdate::Set {
                life: TableLife::ResyncRequired,
                reason: Some(why.clone()),
                statement_id: None,
                at: now,
            };
            store.update_table(job, &input.table, update).await?;
            Err(crate::load::resync_required_error(t, &why))
        }
        SubmitOutcome::Submitted { statement_id, backlog, rebuild, .. } => {
            if let Some(why) = rebuild {
                // Kept before the poll starts: an execution that ends while
                // the rebuild runs leaves its statement to the next one.
                let update = TableUpdate::Set {
                    life: TableLife::Resyncing,
                    reason: Some(why),
                    statement_id: Some(statement_id.clone()),
                    at: now,
                };
                store.update_table(job, &input.table, update).await?;
            }
            let mut out = StepOutput::submitted(&input.table, statement_id, now);
            out.backlog = backlog as u64;
            Ok(out)
        }
    }
}

/// The statement of a rebuild an earlier execution submitted and did not
/// see end, when it is still running. One that finished committed (its
/// marker row is in the warehouse): the table is recorded rebuilt. One that
/// failed, or that the Data API no longer knows, is submitted again; the
/// marker makes a rebuild that did commit a no-op.
async fn rebuild_in_flight(
    warehouse: &dyn Warehouse,
    store: &dyn JobStateStore,
    job: &str,
    table: &str,
    state: &mut Option<TableState>,
    now: DateTime<Utc>,
) -> Result<Option<StatementId>, PipelineError> {
    let Some(s) = state.as_ref().filter(|s| s.life == TableLife::Resyncing) else { return Ok(None) };
    let Some(id) = s.statement_id.clone() else { return Ok(None) };
    match warehouse.status(&id).await {
        Ok(StatementState::Submitted | StatementState::Running) => Ok(Some(id)),
        Ok(StatementState::Finished) => {
            let update = TableUpdate::Rebuilt { submitted_at: s.updated, at: now };
            store.update_table(job, table, update.clone()).await?;
            *state = Some(crate::job::apply_table_update(state.take(), &update));
            Ok(None)
        }
        Ok(_) | Err(_) => Ok(None),
    }
}

pub async fn load_poll(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    store: &dyn JobStateStore,
    lease: Lease,
    input: &PollInput,
    now: DateTime<Utc>,
) -> Result<StepOutput, PipelineError> {
    extend_lease(store, &input.ids, lease, now).await?;
    let t = table(cfg, &input.table)?;
    match poll_load(t, warehouse, &input.statement_id).await? {
        PollOutcome::Running => Ok(carried(StepOutput::polled(input, StepStatus::Running, now), input)),
        PollOutcome::Widen(columns) => {
            // The load changed nothing: widen outside a transaction, then the
            // state machine submits it again (its retry path).
            let changes = widen_columns(cfg, t, warehouse, &columns, &input.statement_id).await?;
            let what: Vec<String> = changes.iter().map(|c| c.describe()).collect();
            if !what.is_empty() {
                let update =
                    TableUpdate::SchemaChanged { what: what.join("; "), at: now, by: input.ids.execution_id.clone() };
                store.update_table(&input.ids.job_id, &input.table, update).await?;
            }
            let cause = format!("text columns widened before the load runs again: {}", what.join("; "));
            let out = StepOutput { cause: Some(cause), ..StepOutput::polled(input, StepStatus::Retry, now) };
            Ok(carried(out, input))
        }
        PollOutcome::Retry(e) => {
            tracing::warn!(table = %input.table, error = %e, "load ended without effect; the state machine submits it again");
            let out = StepOutput { cause: Some(e.to_string()), ..StepOutput::polled(input, StepStatus::Retry, now) };
            Ok(carried(out, input))
        }
        PollOutcome::Done(stats) => {
            if stats.rebuild.is_some() {
                let update = TableUpdate::Rebuilt { submitted_at: input.submitted_at, at: now };
                store.update_table(&input.ids.job_id, &input.table, update).await?;
            }
            if let Some(what) = stats.schema_changes.clone() {
                // For the run record and `cdc status`; the warehouse holds the columns.
                let update = TableUpdate::SchemaChanged { what, at: now, by: input.ids.execution_id.clone() };
                store.update_table(&input.ids.job_id, &input.table, update).await?;
            }
            let mut out = StepOutput::polled(input, StepStatus::Done, now);
            out.files = stats.files;
            out.changes = stats.changes;
            out.rows = stats.upserts + stats.deletes;
            out.newest_change = stats.max_commit_ts.map(|ts| ts.and_utc());
            Ok(carried(out, input))
        }
    }
}

/// The newest change of this batch or of the ones before it.
fn carried(mut out: StepOutput, input: &PollInput) -> StepOutput {
    out.newest_change = out.newest_change.max(input.newest_change);
    out
}

pub async fn refresh_submit(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    input: &TableInput,
    now: DateTime<Utc>,
) -> Result<StepOutput, PipelineError> {
    let dt = cfg
        .derived
        .iter()
        .find(|d| d.name.as_str() == input.table)
        .ok_or_else(|| PipelineError::config(format!("derived table {:?} is not in the config", input.table)))?;
    let id = input.submitter(warehouse).submit(setup::refresh_derived(cfg, dt, warehouse.dialect())).await?;
    Ok(StepOutput::submitted(&input.table, id, now))
}

pub async fn refresh_poll(
    warehouse: &dyn Warehouse,
    store: &dyn JobStateStore,
    lease: Lease,
    input: &PollInput,
    now: DateTime<Utc>,
) -> Result<StepOutput, PipelineError> {
    extend_lease(store, &input.ids, lease, now).await?;
    let what = format!("derived table {}", input.table);
    match statement_state(warehouse, &input.statement_id, &what).await {
        Ok(done) => Ok(StepOutput::polled(input, if done { StepStatus::Done } else { StepStatus::Running }, now)),
        // Ended without effect: the state machine submits the refresh again.
        Err(e) if e.kind == ErrorKind::Retryable => {
            tracing::warn!(table = %input.table, error = %e, "refresh ended without effect; the state machine submits it again");
            Ok(StepOutput { cause: Some(e.to_string()), ..StepOutput::polled(input, StepStatus::Retry, now) })
        }
        Err(e) => Err(e),
    }
}
