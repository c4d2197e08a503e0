//! One pipeline run under the job state, as the state machine will drive it:
//! claim (skip when held) → nothing new? release without touching the
//! warehouse → setup when the config changed → the cycle → release with the
//! run's record and the progress hints, or mark the job failed.

use std::collections::{BTreeMap, BTreeSet};

use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};

use cdc_core::cycle::CycleRun;
use cdc_core::job::{Claim, Job, JobStateStore, Lease, ProgressHint, RunOutcome, RunRecord, TableRunStats};
use cdc_core::notify::{Notifier, NotifyPolicy, RunFailure, notify_run_end};
use cdc_core::ports::{FileKind, RawFile, RawZone};
use cdc_core::unload::{UnloadRun, a_day_finished_between, run_unload};
use cdc_core::{PipelineConfig, PipelineError, TableKind};
use cdc_local::{DuckDbWarehouse, FolderOptimizedZone, FolderRawZone, LocalCatalog};

pub enum JobRun {
    /// Another execution holds the job.
    Skipped {
        owner: String,
        since: Option<chrono::DateTime<Utc>>,
    },
    /// No raw file is newer than what the last run applied: the warehouse
    /// was not opened.
    Idle,
    Ran(Box<RunReport>),
}

/// What a run that reached the warehouse did.
pub struct RunReport {
    pub cycle: CycleRun,
    pub unload: UnloadRun,
}

/// Where finished days go, and the clock that says which days are finished
/// (the demo's generator has its own).
pub struct UnloadTarget {
    pub root: PathBuf,
    pub now: DateTime<Utc>,
}

pub fn execution_id() -> String {
    format!("local-{}-{}", Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id())
}

/// Where a failed run tells people, and how often.
pub struct Notification<'a> {
    pub notifier: &'a dyn Notifier,
    pub policy: NotifyPolicy,
}

/// Runs the pipeline once under the job's lease. `open_warehouse` is called
/// only once the job is held and there is something to load, so a second
/// process started at once never touches the warehouse file.
pub async fn run_job<F>(
    cfg: &PipelineConfig,
    store: &dyn JobStateStore,
    raw: &FolderRawZone,
    lease: Lease,
    notification: Notification<'_>,
    unload: &UnloadTarget,
    open_warehouse: F,
) -> anyhow::Result<JobRun>
where
    F: FnOnce() -> anyhow::Result<std::sync::Arc<DuckDbWarehouse>>,
{
    let execution = execution_id();
    let started = Utc::now();
    let job = match store.claim(&cfg.job_id, &execution, lease, started).await? {
        Claim::Held { owner, since, .. } => return Ok(JobRun::Skipped { owner, since }),
        Claim::Claimed { job, took_over_from } => {
            if let Some(old) = took_over_from {
                eprintln!("note: took over job {} from {old}, whose lease had expired", cfg.job_id);
            }
            job
        }
    };
    let outcome = run_claimed(cfg, store, raw, &job, &execution, unload, open_warehouse).await;
    let end = Utc::now();
    let record = |outcome, tables, failed_tables, error| RunRecord {
        execution_id: execution.clone(),
        start: started,
        end,
        outcome,
        tables,
        failed_tables,
        error,
    };
    // Mark the job failed (or release it) first, so the next run can claim
    // it at once; then notify.
    let (result, failure) = match outcome {
        Ok((run, hints)) => {
            let (tables, failed) = match &run {
                JobRun::Ran(report) => table_stats(report),
                _ => (Vec::new(), Vec::new()),
            };
            let failure = match &run {
                JobRun::Ran(report) => run_failure(cfg, report),
                _ => None,
            };
            let outcome = if failure.is_some() { RunOutcome::Failed } else { RunOutcome::Succeeded };
            let error = failure.as_ref().map(|f| format!("{}: {}", f.error_type, f.error_message));
            store.finish(&cfg.job_id, record(outcome, tables, failed, error), hints).await?;
            (Ok(run), failure)
        }
        Err((step, e)) => {
            let kind = e.downcast_ref::<PipelineError>().map_or("ConfigError", |p| p.kind.as_str());
            let failure = RunFailure {
                failed_step: step.to_string(),
                failed_tables: Vec::new(),
                error_type: kind.to_string(),
                error_message: format!("{e:#}"),
            };
            let message = format!("{kind}: {e:#}");
            store
                .finish(&cfg.job_id, record(RunOutcome::Failed, Vec::new(), Vec::new(), Some(message)), BTreeMap::new())
                .await?;
            (Err(e), Some(failure))
        }
    };
    let notified = notify_run_end(
        store,
        notification.notifier,
        notification.policy,
        &job,
        &execution,
        failure.as_ref(),
        Utc::now(),
    )
    .await;
    if let Err(e) = notified {
        eprintln!("warning: the failure notification could not be sent: {e}");
    }
    result
}

/// The first failed step of a run and every table that failed in it or later.
fn run_failure(cfg: &PipelineConfig, report: &RunReport) -> Option<RunFailure> {
    let cycle = &report.cycle;
    let kind_of = |name: &str| cfg.tables.iter().find(|t| t.name.as_str() == name).map(|t| t.kind.clone());
    let mut failed: Vec<(&str, &str, &PipelineError)> = cycle
        .failed_tables()
        .into_iter()
        .filter_map(|t| {
            let step = match kind_of(&t.table)? {
                TableKind::Dimension => "LoadDimensions",
                TableKind::Fact => "LoadFacts",
            };
            Some((step, t.table.as_str(), t.result.as_ref().err()?))
        })
        .collect();
    failed.extend(cycle.derived_failures.iter().map(|(n, e)| ("RefreshDerived", n.as_str(), e)));
    failed.extend(report.unload.failures.iter().map(|(n, e)| ("Unload", n.as_str(), e)));
    let (step, _, first) = *failed.first()?;
    Some(RunFailure {
        failed_step: step.to_string(),
        failed_tables: failed.iter().fold(Vec::new(), |mut names, (_, t, _)| {
            // A table can fail its load and its unload; name it once.
            if !names.iter().any(|n| n == t) {
                names.push(t.to_string());
            }
            names
        }),
        error_type: first.kind.as_str().to_string(),
        error_message: failed.iter().map(|(_, t, e)| format!("{t}: {}", e.message)).collect::<Vec<_>>().join("; "),
    })
}

async fn run_claimed<F>(
    cfg: &PipelineConfig,
    store: &dyn JobStateStore,
    raw: &FolderRawZone,
    job: &Job,
    execution: &str,
    unload: &UnloadTarget,
    open_warehouse: F,
) -> Result<(JobRun, BTreeMap<String, ProgressHint>), (&'static str, anyhow::Error)>
where
    F: FnOnce() -> anyhow::Result<std::sync::Arc<DuckDbWarehouse>>,
{
    let fingerprint = cfg.fingerprint();
    let config_changed = job.config_fingerprint.as_deref() != Some(fingerprint.as_str());
    let (listing, days) = current_hints(cfg, raw).await.map_err(|e| ("ListRawFiles", e))?;
    // Idle: same config, no new raw file, the last run succeeded, and no
    // day finished since it (that day must still be exported).
    let day_finished = job.job_end.is_none_or(|end| {
        a_day_finished_between(days.iter().map(String::as_str), cfg.unload.lateness, end, unload.now)
    });
    if !config_changed
        && job.consecutive_failures == 0
        && !day_finished
        && cfg.tables.iter().all(|t| job.progress_hints.get(t.name.as_str()) == listing.get(t.name.as_str()))
    {
        return Ok((JobRun::Idle, BTreeMap::new()));
    }
    let warehouse = open_warehouse().map_err(|e| ("OpenWarehouse", e))?;
    if config_changed {
        let setup = async {
            cdc_core::setup::run_setup(cfg, &*warehouse).await.context("setup")?;
            store.set_config_fingerprint(&cfg.job_id, execution, &fingerprint).await?;
            anyhow::Ok(())
        };
        setup.await.map_err(|e| ("Setup", e))?;
    }
    let unreadable = warehouse.expose_raw_zone(cfg, raw).context("raw zone views").map_err(|e| ("Setup", e))?;
    for (table, problem) in unreadable {
        eprintln!("warning: {table}: its raw files cannot be read as a table: {problem}");
    }
    let cycle = cdc_core::cycle::run_cycle(cfg, &*warehouse, raw, std::time::Duration::from_millis(5)).await;
    let unload = unload_days(cfg, &warehouse, raw, unload).await.map_err(|e| ("Unload", e))?;
    // A hint only for tables whose load committed: a failed table is looked
    // at again next run.
    let hints = listing
        .into_iter()
        .filter(|(name, _)| cycle.tables.iter().any(|t| &t.table == name && t.result.is_ok()))
        .collect();
    Ok((JobRun::Ran(Box::new(RunReport { cycle, unload })), hints))
}

async fn unload_days(
    cfg: &PipelineConfig,
    warehouse: &DuckDbWarehouse,
    raw: &FolderRawZone,
    target: &UnloadTarget,
) -> anyhow::Result<UnloadRun> {
    let zone = FolderOptimizedZone::new(&target.root, raw.root())?;
    let catalog = LocalCatalog::new(zone.root(), cfg, warehouse.connection()?);
    Ok(run_unload(cfg, warehouse, raw, &zone, &catalog, target.now).await?)
}

/// What the raw zone holds now, per table, in the form of a progress hint,
/// and every CDC day folder.
async fn current_hints(
    cfg: &PipelineConfig,
    raw: &FolderRawZone,
) -> anyhow::Result<(BTreeMap<String, ProgressHint>, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    let mut days = BTreeSet::new();
    for t in &cfg.tables {
        let mut files: Vec<RawFile> = raw.list_files(t, FileKind::Full, None).await?;
        files.extend(raw.list_files(t, FileKind::Cdc, None).await?);
        days.extend(files.iter().filter_map(|f| f.partition.clone()));
        if let Some(hint) = hint_of(&files) {
            out.insert(t.name.to_string(), hint);
        }
    }
    Ok((out, days))
}

fn hint_of(files: &[RawFile]) -> Option<ProgressHint> {
    // The newest CDC file by name (DMS names them by time), else the full load's last.
    let last = files.iter().max_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)))?;
    let newest = files.iter().map(|f| f.modified).max()?;
    Some(ProgressHint { last_file: last.path.clone(), files: files.len() as u64, newest_modified: newest })
}

fn table_stats(report: &RunReport) -> (Vec<TableRunStats>, Vec<String>) {
    let cycle = &report.cycle;
    let mut failed = Vec::new();
    let tables = cycle
        .tables
        .iter()
        .map(|t| match &t.result {
            Ok(s) => TableRunStats {
                table: t.table.clone(),
                files: s.files,
                changes: s.changes,
                rows: s.upserts + s.deletes,
                seconds: t.seconds,
                error: None,
            },
            Err(e) => {
                failed.push(t.table.clone());
                TableRunStats {
                    table: t.table.clone(),
                    seconds: t.seconds,
                    error: Some(e.to_string()),
                    ..Default::default()
                }
            }
        })
        .collect();
    failed.extend(cycle.derived_failures.iter().map(|(n, _)| n.clone()));
    failed.extend(report.unload.failures.iter().map(|(n, _)| format!("{n} (unload)")));
    (tables, failed)
}
