//! The job-state function: `claim` at the start of a run, `release` at its
//! end (the run's record, progress hints, what to notify), `fail` from the
//! state machine's Catch (mark the job failed first, then notify).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RunIds;
use crate::config::{PipelineConfig, TableKind};
use crate::dms::{ListingScope, UnexplainedObject, cdc_file_day};
use crate::error::PipelineError;
use crate::job::{
    Claim, Job, JobState, JobStateError, JobStateStore, Lease, ProgressHint, RunOutcome, RunRecord, TableLife,
    TableRunStats, TableState, TableUpdate,
};
use crate::notify::{FailureNotice, Notice, NotifyDecision, NotifyPolicy, RecoveryNotice, console_link};
use crate::ports::{RawCatalog, RawFile, RawListing, RawZone, raw_table_name};
use crate::unload::a_day_finished_between;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimOutcome {
    Claimed,
    Held,
    /// Nothing new since the last successful run: the execution ends here,
    /// having written nothing and called no warehouse.
    Idle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimOutput {
    pub outcome: ClaimOutcome,
    pub held_by: Option<String>,
    pub held_since: Option<DateTime<Utc>>,
    pub took_over_from: Option<String>,
    /// The config's fingerprint differs from the one recorded: run setup.
    pub setup_needed: bool,
    /// No raw file newer than the hints, no day finished since the last run,
    /// the last run succeeded: nothing to load. With [`ClaimOutcome::Idle`]
    /// the run ends at once; after a claim's write (the job was running or
    /// failed, or changed between the read and the write), it releases
    /// without calling the warehouse.
    pub nothing_new: bool,
    pub dimensions: Vec<String>,
    pub facts: Vec<String>,
    pub derived: Vec<String>,
    pub tables: Vec<String>,
    /// The raw zone's listing as hints, stored for the tables that load.
    pub hints: BTreeMap<String, ProgressHint>,
    /// Per raw catalog table (`raw_cdc_<t>`): why the catalog cannot serve
    /// it as it is; that table's load fails naming the same cause.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub catalog_problems: BTreeMap<String, String>,
    /// Per table, the newest change applied so far, as the job item holds
    /// it: the Lambda reports each as the table's freshness on every run,
    /// idle and held ones too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub newest_changes: BTreeMap<String, DateTime<Utc>>,
    /// This run lists the raw zone whole (due every `full_listing_every`),
    /// its loads and unloads too; else each table from its newest applied
    /// day minus the lateness window (docs/dms.md, bounded listings).
    #[serde(default)]
    pub full_listing: bool,
    pub started_at: DateTime<Utc>,
}

/// What the claim reads and writes.
#[derive(Clone, Copy)]
pub struct ClaimPorts<'a> {
    pub store: &'a dyn JobStateStore,
    pub raw: &'a dyn RawZone,
    pub raw_catalog: &'a dyn RawCatalog,
}

/// `claim`: reads the job and lists the raw zone first; with nothing new
/// (docs/architecture.md, idle runs) it ends there, writing nothing. Else
/// one atomic conditional write with a lease, then what this run must do.
/// When there is something to do, the raw catalog is synced with the
/// listing (new tables and day partitions registered), so every file
/// listed is one the warehouse can read.
pub async fn claim(
    cfg: &PipelineConfig,
    ports: ClaimPorts<'_>,
    ids: &RunIds,
    lease: Lease,
    now: DateTime<Utc>,
    unload_now: DateTime<Utc>,
) -> Result<ClaimOutput, PipelineError> {
    claim_when(cfg, ports, ids, (lease, now, unload_now), WhenIdle::End).await
}

/// The claim of a command that has work whatever the raw zone holds
/// (`cdc setup`): it takes the job even when nothing is new.
pub async fn claim_always(
    cfg: &PipelineConfig,
    ports: ClaimPorts<'_>,
    ids: &RunIds,
    lease: Lease,
    now: DateTime<Utc>,
    unload_now: DateTime<Utc>,
) -> Result<ClaimOutput, PipelineError> {
    claim_when(cfg, ports, ids, (lease, now, unload_now), WhenIdle::Claim).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WhenIdle {
    End,
    Claim,
}

async fn claim_when(
    cfg: &PipelineConfig,
    ports: ClaimPorts<'_>,
    ids: &RunIds,
    (lease, now, unload_now): (Lease, DateTime<Utc>, DateTime<Utc>),
    when_idle: WhenIdle,
) -> Result<ClaimOutput, PipelineError> {
    check_job_id(cfg, ids)?;
    let names = |kind| cfg.tables_of_kind(kind).map(|t| t.name.to_string()).collect::<Vec<_>>();
    let mut out = ClaimOutput {
        outcome: ClaimOutcome::Held,
        held_by: None,
        held_since: None,
        took_over_from: None,
        setup_needed: false,
        nothing_new: false,
        dimensions: names(TableKind::Dimension),
        facts: names(TableKind::Fact),
        derived: cfg.derived.iter().map(|d| d.name.to_string()).collect(),
        tables: cfg.tables.iter().map(|t| t.name.to_string()).collect(),
        hints: BTreeMap::new(),
        catalog_problems: BTreeMap::new(),
        newest_changes: BTreeMap::new(),
        full_listing: false,
        started_at: now,
    };
    let before = ports.store.get(&ids.job_id).await?;
    if let Some(job) = &before {
        out.newest_changes = newest_changes(cfg, job);
        if let Some(owner) = job.owner.as_deref().filter(|o| *o != ids.execution_id && !job.claimable_at(now)) {
            out.held_by = Some(owner.to_string());
            out.held_since = job.job_start;
            return Ok(out);
        }
    }
    out.full_listing = full_listing_due(cfg, before.as_ref(), now);
    let scopes = match &before {
        Some(job) if !out.full_listing => listing_scopes(cfg, job, now),
        _ => BTreeMap::new(),
    };
    let listing = RawListing::list_within(cfg, ports.raw, &scopes).await?;
    out.hints = hints_of(cfg, &listing);
    // A due full listing is work: the run records it, so it is not idle.
    let tables_pending = pending_table_work(&ports.store.table_states(&ids.job_id).await?);
    let idle = when_idle == WhenIdle::End
        && !out.full_listing
        && tables_pending.is_empty()
        && before.as_ref().is_some_and(|job| {
            job.state != JobState::Running && nothing_new(cfg, job, &listing, &out.hints, unload_now)
        });
    if idle {
        out.outcome = ClaimOutcome::Idle;
        out.nothing_new = true;
        return Ok(out);
    }
    let job = match ports.store.claim(&ids.job_id, &ids.execution_id, lease, now).await? {
        // The state machine retried this claim (its answer was lost, or the
        // listing after the write failed): the job is already ours.
        Claim::Held { owner, .. } if owner == ids.execution_id => ports
            .store
            .get(&ids.job_id)
            .await?
            .ok_or_else(|| PipelineError::retryable(format!("job {} vanished after its claim", ids.job_id)))?,
        // Taken between the read and the write.
        Claim::Held { owner, since, .. } => {
            out.held_by = Some(owner);
            out.held_since = since;
            return Ok(out);
        }
        Claim::Claimed { job, took_over_from } => {
            out.took_over_from = took_over_from;
            job
        }
    };
    out.outcome = ClaimOutcome::Claimed;
    out.setup_needed = setup_needed(cfg, &job);
    out.nothing_new = tables_pending.is_empty() && nothing_new(cfg, &job, &listing, &out.hints, unload_now);
    if !out.nothing_new {
        out.catalog_problems = sync_raw_catalog(cfg, ports, &listing).await?;
    }
    Ok(out)
}

/// Tables with work the raw zone's listing does not show: a resync
/// requested, a rebuild in flight, a reload waiting to settle.
fn pending_table_work(states: &BTreeMap<String, TableState>) -> Vec<String> {
    states
        .iter()
        .filter(|(_, s)| s.resync_requested.is_some() || matches!(s.life, TableLife::Resyncing | TableLife::Waiting))
        .map(|(t, _)| t.clone())
        .collect()
}

/// A claim's input as the state machine passes it: the execution's own
/// input (`$`) beside the ids, so `{"JobId": "101", "Resync": ["t"]}`
/// started from the console asks for a resync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimRequest {
    #[serde(flatten)]
    pub ids: RunIds,
    #[serde(default)]
    pub input: Option<serde_json::Value>,
}

/// Records the resyncs an execution's input asks for, before its claim, so
/// an execution that finds the job held does not lose them. An unknown
/// table or a malformed list is a ConfigError naming it, and nothing is
/// recorded.
pub async fn record_resync_requests(
    cfg: &PipelineConfig,
    store: &dyn JobStateStore,
    request: &ClaimRequest,
    now: DateTime<Utc>,
) -> Result<Vec<String>, PipelineError> {
    let Some(asked) = request.input.as_ref().and_then(|i| i.get("Resync")) else { return Ok(Vec::new()) };
    let tables: Vec<String> = serde_json::from_value(asked.clone()).map_err(|_| {
        PipelineError::config(format!("input field Resync must be a list of table names, found {asked}"))
    })?;
    for t in &tables {
        crate::load::table(cfg, t).map_err(|e| e.context("input field Resync"))?;
    }
    for t in &tables {
        store.update_table(&request.ids.job_id, t, TableUpdate::RequestResync { at: now }).await?;
        tracing::info!(table = %t, "resync requested");
    }
    Ok(tables)
}

/// Whether this run lists the raw zone whole: none did yet, or the last
/// one is `full_listing_every` old.
fn full_listing_due(cfg: &PipelineConfig, job: Option<&Job>, now: DateTime<Utc>) -> bool {
    let every = chrono::Duration::from_std(cfg.full_listing_every).unwrap_or(chrono::Duration::MAX);
    job.and_then(|j| j.last_full_listing).is_none_or(|at| now - at >= every)
}

/// Each table's listing from its hint: from the newest listed day (every
/// file of which was applied) minus the lateness window; whole for a table
/// without a hint, or whose last run left it work (its hint's files are
/// not all applied).
fn listing_scopes(cfg: &PipelineConfig, job: &Job, now: DateTime<Utc>) -> BTreeMap<String, ListingScope> {
    cfg.tables
        .iter()
        .map(|t| {
            let newest = job
                .progress_hints
                .get(t.name.as_str())
                .filter(|h| !h.work_left)
                .and_then(|h| cdc_file_day(&h.last_file));
            (
                t.name.to_string(),
                ListingScope::days_before(newest.as_deref(), t.listing_window_days(), now.date_naive()),
            )
        })
        .collect()
}

fn setup_needed(cfg: &PipelineConfig, job: &Job) -> bool {
    job.config_fingerprint.as_deref() != Some(cfg.fingerprint().as_str())
}

/// Nothing for a run to do: the config is set up, the last run succeeded,
/// no day finished since, and every table's listing is the one its hint
/// recorded when it last loaded.
fn nothing_new(
    cfg: &PipelineConfig,
    job: &Job,
    listing: &RawListing,
    hints: &BTreeMap<String, ProgressHint>,
    unload_now: DateTime<Utc>,
) -> bool {
    // A claim clears JobEnd; with no failure since, the last success is
    // when the previous run ended.
    let days: BTreeSet<String> = cfg.tables.iter().flat_map(|t| listing.days(t.name.as_str())).collect();
    let day_finished = job.last_success.is_none_or(|end| {
        a_day_finished_between(days.iter().map(String::as_str), cfg.unload.lateness, end, unload_now)
    });
    let same = |t: &str| match (job.progress_hints.get(t), hints.get(t)) {
        (Some(a), Some(b)) => a.same_listing(b),
        (a, b) => a.is_none() && b.is_none(),
    };
    !setup_needed(cfg, job)
        && job.consecutive_failures == 0
        && !day_finished
        && cfg.tables.iter().all(|t| same(t.name.as_str()))
}

/// The job's newest applied change per configured table.
fn newest_changes(cfg: &PipelineConfig, job: &Job) -> BTreeMap<String, DateTime<Utc>> {
    cfg.tables
        .iter()
        .filter_map(|t| Some((t.name.to_string(), job.progress_hints.get(t.name.as_str())?.newest_change?)))
        .collect()
}

/// Registers what the run is about to read; returns the per-table findings.
async fn sync_raw_catalog(
    cfg: &PipelineConfig,
    ports: ClaimPorts<'_>,
    listing: &RawListing,
) -> Result<BTreeMap<String, String>, PipelineError> {
    let sync = ports.raw_catalog.sync(cfg, listing, ports.raw).await.map_err(|e| e.context("raw catalog sync"))?;
    if !sync.created_tables.is_empty() || !sync.registered_partitions.is_empty() || !sync.added_columns.is_empty() {
        tracing::info!(
            created_tables = ?sync.created_tables,
            added_columns = ?sync.added_columns,
            registered_partitions = sync.registered_partitions.len(),
            "raw catalog synced"
        );
    }
    let mut problems = BTreeMap::new();
    for p in sync.problems {
        let Some(t) = cfg.table(&p.table) else { continue };
        let name = raw_table_name(t, p.kind);
        tracing::warn!(table = %name, problem = %p.error, "raw catalog table cannot be used as it is");
        problems.insert(name, p.error.to_string());
    }
    Ok(problems)
}

fn check_job_id(cfg: &PipelineConfig, ids: &RunIds) -> Result<(), PipelineError> {
    if ids.job_id != cfg.job_id {
        return Err(PipelineError::config(format!(
            "job id {:?} is not this pipeline's (its config says {:?})",
            ids.job_id, cfg.job_id
        )));
    }
    Ok(())
}

/// What the raw zone holds now, per table, as a progress hint.
fn hints_of(cfg: &PipelineConfig, listing: &RawListing) -> BTreeMap<String, ProgressHint> {
    cfg.tables
        .iter()
        .filter_map(|t| {
            let name = t.name.as_str();
            let hint = hint_of(listing.tables.get(name)?, listing.unexplained.get(name).map_or(&[], Vec::as_slice))?;
            Some((name.to_string(), hint))
        })
        .collect()
}

fn hint_of(files: &[RawFile], unexplained: &[UnexplainedObject]) -> Option<ProgressHint> {
    // The listing is in time order: the newest CDC file, else the full load's last.
    let last = files.last()?;
    let newest = files.iter().map(|f| f.modified).max()?;
    Some(ProgressHint {
        last_file: last.path.clone(),
        files: files.len() as u64,
        newest_modified: newest,
        unexplained: unexplained.len() as u64,
        unexplained_example: unexplained.first().map(|u| format!("{} ({})", u.path, u.reason)),
        newest_change: None,
        work_left: false,
    })
}

/// The run record's warnings: each table whose folders hold objects the
/// layout does not explain, with how many and one of them.
fn warnings_of(hints: &BTreeMap<String, ProgressHint>) -> Vec<String> {
    hints
        .iter()
        .filter(|(_, h)| h.unexplained > 0)
        .map(|(t, h)| {
            format!(
                "table {t}: {} object(s) the DMS layout does not explain, not applied, e.g. {}",
                h.unexplained,
                h.unexplained_example.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

/// One table's (or derived table's, or unload's) result, as a Map iteration
/// of the state machine ends: its figures, or the error it caught.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableResult {
    pub table: String,
    pub ok: bool,
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub changes: u64,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub seconds: f64,
    /// The newest commit time the table's loads applied, this run or
    /// before (the load poll carries it from batch to batch).
    #[serde(default)]
    pub newest_change: Option<DateTime<Utc>>,
    /// The loop stopped with work left (its work window was over, or it
    /// did its share of batches): the next execution goes on.
    #[serde(default)]
    pub deferred: bool,
    /// The caught error's name (`DataError`…) and cause.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    #[serde(default)]
    pub dimensions: Vec<TableResult>,
    #[serde(default)]
    pub facts: Vec<TableResult>,
    #[serde(default)]
    pub derived: Vec<TableResult>,
    #[serde(default)]
    pub unload: Vec<TableResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseInput {
    #[serde(flatten)]
    pub ids: RunIds,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub hints: BTreeMap<String, ProgressHint>,
    #[serde(default)]
    pub results: RunResults,
    /// The claim listed the raw zone whole (recorded with the run).
    #[serde(default)]
    pub full_listing: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseOutput {
    pub failed: bool,
    pub failed_step: Option<String>,
    pub failed_tables: Vec<String>,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    /// What the notify step sends, if anything.
    pub notice: Option<Notice>,
}

/// A caught error's message: the Lambda cause's `errorMessage` when the
/// cause is the JSON Lambda reports, else the cause as is.
pub fn cause_message(cause: &str) -> String {
    serde_json::from_str::<serde_json::Value>(cause)
        .ok()
        .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| cause.to_string())
}

/// `release`: records the run, stores the hints of the tables that loaded,
/// and ends the job Ready, or Failed when any table failed (docs/cdc-contract.md, rule 8).
pub async fn release(
    store: &dyn JobStateStore,
    policy: NotifyPolicy,
    input: &ReleaseInput,
    now: DateTime<Utc>,
) -> Result<ReleaseOutput, PipelineError> {
    let steps = [
        ("LoadDimensions", &input.results.dimensions),
        ("LoadFacts", &input.results.facts),
        ("RefreshDerived", &input.results.derived),
        ("Unload", &input.results.unload),
    ];
    let mut failed_tables: Vec<String> = Vec::new();
    let mut first: Option<(&str, &TableResult)> = None;
    for (step, results) in steps {
        for r in results.iter().filter(|r| !r.ok) {
            first.get_or_insert((step, r));
            if !failed_tables.contains(&r.table) {
                failed_tables.push(r.table.clone());
            }
        }
    }
    let before = owned_job(store, &input.ids).await?;
    let hints = loaded_hints(input, &before);
    let lives = store.table_states(&input.ids.job_id).await?;
    let mut warnings = warnings_of(&input.hints);
    warnings.extend(lifecycle_notes(&lives, input.started_at));
    let error_type = first.map(|(_, r)| r.error.clone().unwrap_or_else(|| "DataError".into()));
    let error_message = (!failed_tables.is_empty()).then(|| failure_summary(&input.results));
    let record = RunRecord {
        execution_id: input.ids.execution_id.clone(),
        start: input.started_at,
        end: now,
        outcome: if failed_tables.is_empty() { RunOutcome::Succeeded } else { RunOutcome::Failed },
        tables: input.results.dimensions.iter().chain(&input.results.facts).map(table_stats).collect(),
        failed_tables: failed_tables.clone(),
        error: error_type.as_ref().zip(error_message.as_ref()).map(|(t, m)| format!("{t}: {m}")),
        warnings,
        full_listing: input.full_listing,
    };
    store.finish(&input.ids.job_id, record, hints).await?;
    record_table_lives(store, input, &lives, now).await?;
    let failure = first.map(|(step, _)| Failure {
        failed_step: step.to_string(),
        failed_tables: failed_tables.clone(),
        error_type: error_type.clone().unwrap_or_default(),
        error_message: error_message.clone().unwrap_or_default(),
    });
    let notice = notice_for(policy, &before, &input.ids, failure.as_ref(), now);
    if failure.is_some() {
        throttled_incident(store, &input.ids, notice.as_ref(), now).await?;
    }
    Ok(ReleaseOutput {
        failed: failure.is_some(),
        failed_step: first.map(|(s, _)| s.to_string()),
        failed_tables,
        error_type,
        error_message,
        notice,
    })
}

/// The listing's hints of the tables that loaded, each with the newest
/// change applied to it so far, and whether this run left it work.
fn loaded_hints(input: &ReleaseInput, before: &Job) -> BTreeMap<String, ProgressHint> {
    let r = &input.results;
    let unload_deferred: BTreeSet<&str> = r.unload.iter().filter(|u| u.deferred).map(|u| u.table.as_str()).collect();
    r.dimensions
        .iter()
        .chain(&r.facts)
        .filter(|t| t.ok)
        .filter_map(|t| {
            let mut hint = input.hints.get(&t.table)?.clone();
            let earlier = before.progress_hints.get(&t.table).and_then(|h| h.newest_change);
            hint.newest_change = t.newest_change.max(earlier);
            hint.work_left = t.deferred || unload_deferred.contains(t.table.as_str());
            Some((t.table.clone(), hint))
        })
        .collect()
}

fn failure_summary(results: &RunResults) -> String {
    let all = results.dimensions.iter().chain(&results.facts).chain(&results.derived).chain(&results.unload);
    all.filter(|r| !r.ok)
        .map(|r| {
            let what = r.cause.as_deref().map(cause_message).unwrap_or_default();
            format!("{}: {}: {what}", r.table, r.error.as_deref().unwrap_or("error"))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn table_stats(r: &TableResult) -> TableRunStats {
    TableRunStats {
        table: r.table.clone(),
        files: r.files,
        changes: r.changes,
        rows: r.rows,
        seconds: r.seconds,
        error: (!r.ok).then(|| {
            format!(
                "{}: {}",
                r.error.as_deref().unwrap_or("error"),
                r.cause.as_deref().map(cause_message).unwrap_or_default()
            )
        }),
    }
}

/// Each loaded table's life after the run: a failed load marks its table
/// Failed with the error (one this run marked ResyncRequired keeps that); a table whose loop ended (not deferred) and was
/// Failed, Waiting or ResyncRequired since before this run, is Active again. States this run's steps wrote
/// (a reload waiting, a rebuild started) stay.
async fn record_table_lives(
    store: &dyn JobStateStore,
    input: &ReleaseInput,
    states: &BTreeMap<String, TableState>,
    now: DateTime<Utc>,
) -> Result<(), PipelineError> {
    for r in input.results.dimensions.iter().chain(&input.results.facts) {
        let stored = states.get(&r.table);
        // A table this run found waiting for a resync keeps that state and
        // its reason; its failed result carries the notice.
        let needs_resync = stored.is_some_and(|s| s.life == TableLife::ResyncRequired && s.updated >= input.started_at);
        let update = if !r.ok && needs_resync {
            continue;
        } else if !r.ok {
            let reason = table_stats(r).error;
            TableUpdate::Set { life: TableLife::Failed, reason, statement_id: None, at: now }
        } else if !r.deferred
            && stored.is_some_and(|s| {
                matches!(s.life, TableLife::Failed | TableLife::Waiting | TableLife::ResyncRequired)
                    && s.updated < input.started_at
            })
        {
            TableUpdate::Set { life: TableLife::Active, reason: None, statement_id: None, at: now }
        } else {
            continue;
        };
        store.update_table(&input.ids.job_id, &r.table, update).await?;
    }
    Ok(())
}

/// What this run's load steps did to tables' lives, for the run record: a
/// rebuild that committed (why: a reload, a resync), a reload that waits.
fn lifecycle_notes(states: &BTreeMap<String, TableState>, started_at: DateTime<Utc>) -> Vec<String> {
    let this_run = states.iter().filter(|(_, s)| s.updated >= started_at);
    let schema = states.iter().filter_map(|(table, s)| {
        let what = s.schema_change.as_deref().filter(|_| s.schema_changed.is_some_and(|at| at >= started_at))?;
        Some(format!("table {table} schema changed: {what}"))
    });
    schema
        .collect::<Vec<_>>()
        .into_iter()
        .chain(this_run.filter_map(|(table, s)| {
            let why = s.reason.as_deref()?;
            match s.life {
                TableLife::Active => Some(format!("table {table} rebuilt: {why}")),
                TableLife::Waiting => Some(format!("table {table} waits: {why}")),
                TableLife::Resyncing => Some(format!("table {table} rebuild still running: {why}")),
                TableLife::ResyncRequired => Some(format!("table {table} needs a resync: {why}")),
                TableLife::Failed => None,
            }
        }))
        .collect()
}

/// The job as this execution holds it; another owner is an error naming it.
/// The job, if this execution holds it: Running, with it as the owner, as
/// the stores define holding (a finished job keeps its last owner's name).
async fn owned_job(store: &dyn JobStateStore, ids: &RunIds) -> Result<Job, PipelineError> {
    let job = store.get(&ids.job_id).await?.ok_or_else(|| JobStateError::UnknownJob(ids.job_id.clone()))?;
    if job.state != JobState::Running || job.owner.as_deref() != Some(ids.execution_id.as_str()) {
        return Err(JobStateError::NotOwner {
            job_id: ids.job_id.clone(),
            execution_id: ids.execution_id.clone(),
            owner: job.owner.clone().filter(|_| job.state == JobState::Running),
        }
        .into());
    }
    Ok(job)
}

struct Failure {
    failed_step: String,
    failed_tables: Vec<String>,
    error_type: String,
    error_message: String,
}

fn notice_for(
    policy: NotifyPolicy,
    before: &Job,
    ids: &RunIds,
    failure: Option<&Failure>,
    now: DateTime<Utc>,
) -> Option<Notice> {
    match (policy.decide(before, failure.is_some(), now), failure) {
        (NotifyDecision::SendFailure, Some(f)) => Some(Notice::Failure(FailureNotice {
            job_id: ids.job_id.clone(),
            execution_id: ids.execution_id.clone(),
            console_link: console_link(&ids.execution_id),
            failed_step: f.failed_step.clone(),
            failed_tables: f.failed_tables.clone(),
            error_type: f.error_type.clone(),
            error_message: f.error_message.clone(),
            consecutive_failures: before.consecutive_failures + 1,
            last_success: before.last_success,
            failed_at: now,
        })),
        (NotifyDecision::SendRecovery, _) => Some(Notice::Recovery(RecoveryNotice {
            job_id: ids.job_id.clone(),
            execution_id: ids.execution_id.clone(),
            console_link: console_link(&ids.execution_id),
            failures_before: before.consecutive_failures,
            recovered_at: now,
        })),
        _ => None,
    }
}

/// The state machine's caught error (`{"Error": ..., "Cause": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailInput {
    #[serde(flatten)]
    pub ids: RunIds,
    pub failed_step: String,
    pub error: CaughtError,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailOutput {
    /// False when this execution did not hold the job (a failed claim, a
    /// lease another execution took over): nothing was changed.
    pub marked_failed: bool,
    pub notice: Option<Notice>,
}

/// `fail`: marks the job failed (only by its owner), then says what to
/// notify. A run that never held the job still tells people it failed.
pub async fn fail(
    store: &dyn JobStateStore,
    policy: NotifyPolicy,
    input: &FailInput,
    now: DateTime<Utc>,
) -> Result<FailOutput, PipelineError> {
    let message = cause_message(&input.error.cause);
    let failure = Failure {
        failed_step: input.failed_step.clone(),
        failed_tables: Vec::new(),
        error_type: input.error.error.clone(),
        error_message: message.clone(),
    };
    let before = match owned_job(store, &input.ids).await {
        Ok(job) => job,
        Err(e) => {
            tracing::warn!(error = %e, "the failed run does not hold the job; it is left as it is");
            let mut job =
                store.get(&input.ids.job_id).await.ok().flatten().unwrap_or_else(|| Job::new(&input.ids.job_id));
            // This execution marked the job failed already (a retried call
            // whose notice did not go out): its failure is in the count.
            if job.state == JobState::Failed && job.owner.as_deref() == Some(input.ids.execution_id.as_str()) {
                job.consecutive_failures = job.consecutive_failures.saturating_sub(1);
            }
            // Nobody's incident counter moved: notify unless one went out recently.
            let notice = notice_for(policy, &job, &input.ids, Some(&failure), now);
            throttled_incident(store, &input.ids, notice.as_ref(), now).await?;
            return Ok(FailOutput { marked_failed: false, notice });
        }
    };
    let record = RunRecord {
        execution_id: input.ids.execution_id.clone(),
        start: input.started_at.or(before.job_start).unwrap_or(now),
        end: now,
        outcome: RunOutcome::Failed,
        tables: Vec::new(),
        failed_tables: Vec::new(),
        error: Some(format!("{} in {}: {message}", input.error.error, input.failed_step)),
        warnings: Vec::new(),
        full_listing: false,
    };
    store.finish(&input.ids.job_id, record, BTreeMap::new()).await?;
    let notice = notice_for(policy, &before, &input.ids, Some(&failure), now);
    throttled_incident(store, &input.ids, notice.as_ref(), now).await?;
    Ok(FailOutput { marked_failed: true, notice })
}

/// A failure the policy keeps quiet is taken care of now; one with a notice
/// is once the notify step sent it (a notice lost on the way is then still
/// sent by the status-change handling: [`super::notify::execution_ended`]).
async fn throttled_incident(
    store: &dyn JobStateStore,
    ids: &RunIds,
    notice: Option<&Notice>,
    now: DateTime<Utc>,
) -> Result<(), PipelineError> {
    if notice.is_none() {
        store.record_incident(&ids.job_id, &ids.execution_id, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::FileKind;

    #[test]
    fn unexplained_objects_reach_the_hints_and_the_run_record_s_warnings() {
        // GIVEN a listing where accounts' folder holds a file and two objects the layout does not explain
        let cfg = PipelineConfig::parse(include_str!("../../../../config/pipeline.toml"), "demo").unwrap();
        let mut listing = RawListing::default();
        let file = RawFile {
            path: "raw/full/public/pgbench_accounts/LOAD00000001.parquet".into(),
            kind: FileKind::Full,
            partition: None,
            size: 1,
            modified: chrono::DateTime::UNIX_EPOCH,
            version: "v".into(),
        };
        listing.tables.insert("pgbench_accounts".into(), vec![file.clone()]);
        listing.tables.insert("pgbench_tellers".into(), vec![file]);
        let odd = |p: &str| UnexplainedObject { path: p.into(), reason: "not a DMS file".into(), setting: None };
        listing.unexplained.insert("pgbench_accounts".into(), vec![odd("raw/cdc/x.txt"), odd("raw/cdc/y.json")]);
        // WHEN the claim makes its hints and the release its warnings
        let hints = hints_of(&cfg, &listing);
        let warnings = warnings_of(&hints);
        // THEN the count and an example are kept, for that table only
        assert_eq!(hints["pgbench_accounts"].unexplained, 2);
        assert_eq!(hints["pgbench_tellers"].unexplained, 0);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("pgbench_accounts: 2 object(s)") && warnings[0].contains("raw/cdc/x.txt"));
    }
}
