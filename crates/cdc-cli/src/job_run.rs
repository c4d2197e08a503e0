//! One pipeline run under the job state, as the state machine will drive it:
//! claim (skip when held) → nothing new? release without touching the
//! warehouse → setup when the config changed → the cycle → release with the
//! run's record and the progress hints, or mark the job failed.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::Utc;

use cdc_core::PipelineConfig;
use cdc_core::cycle::CycleRun;
use cdc_core::job::{Claim, Job, JobStateStore, Lease, ProgressHint, RunOutcome, RunRecord, TableRunStats};
use cdc_core::ports::{FileKind, RawFile, RawZone};
use cdc_local::{DuckDbWarehouse, FolderRawZone};

pub enum JobRun {
    /// Another execution holds the job.
    Skipped {
        owner: String,
        since: Option<chrono::DateTime<Utc>>,
    },
    /// No raw file is newer than what the last run applied: the warehouse
    /// was not opened.
    Idle,
    Ran(CycleRun),
}

pub fn execution_id() -> String {
    format!("local-{}-{}", Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id())
}

/// Runs the pipeline once under the job's lease. `open_warehouse` is called
/// only once the job is held and there is something to load, so a second
/// process started at once never touches the warehouse file.
pub async fn run_job<F>(
    cfg: &PipelineConfig,
    store: &dyn JobStateStore,
    raw: &FolderRawZone,
    lease: Lease,
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
    let outcome = run_claimed(cfg, store, raw, &job, &execution, open_warehouse).await;
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
    match outcome {
        Ok((run, hints)) => {
            let (tables, failed) = match &run {
                JobRun::Ran(cycle) => table_stats(cycle),
                _ => (Vec::new(), Vec::new()),
            };
            let outcome = if failed.is_empty() { RunOutcome::Succeeded } else { RunOutcome::Failed };
            let error = (!failed.is_empty()).then(|| format!("DataError: failed tables: {}", failed.join(", ")));
            store.finish(&cfg.job_id, record(outcome, tables, failed, error), hints).await?;
            Ok(run)
        }
        Err(e) => {
            // Mark the job failed first, so the next run can claim it at once.
            let message = format!("{e:#}");
            store
                .finish(&cfg.job_id, record(RunOutcome::Failed, Vec::new(), Vec::new(), Some(message)), BTreeMap::new())
                .await?;
            Err(e)
        }
    }
}

async fn run_claimed<F>(
    cfg: &PipelineConfig,
    store: &dyn JobStateStore,
    raw: &FolderRawZone,
    job: &Job,
    execution: &str,
    open_warehouse: F,
) -> anyhow::Result<(JobRun, BTreeMap<String, ProgressHint>)>
where
    F: FnOnce() -> anyhow::Result<std::sync::Arc<DuckDbWarehouse>>,
{
    let fingerprint = cfg.fingerprint();
    let config_changed = job.config_fingerprint.as_deref() != Some(fingerprint.as_str());
    let listing = current_hints(cfg, raw).await?;
    if !config_changed
        && cfg.tables.iter().all(|t| job.progress_hints.get(t.name.as_str()) == listing.get(t.name.as_str()))
    {
        return Ok((JobRun::Idle, BTreeMap::new()));
    }
    let warehouse = open_warehouse()?;
    if config_changed {
        cdc_core::setup::run_setup(cfg, &*warehouse).await.context("setup")?;
        store.set_config_fingerprint(&cfg.job_id, execution, &fingerprint).await?;
    }
    warehouse.expose_raw_zone(cfg, raw).context("raw zone views")?;
    let cycle = cdc_core::cycle::run_cycle(cfg, &*warehouse, raw, std::time::Duration::from_millis(5)).await;
    // A hint only for tables whose load committed: a failed table is looked
    // at again next run.
    let hints = listing
        .into_iter()
        .filter(|(name, _)| cycle.tables.iter().any(|t| &t.table == name && t.result.is_ok()))
        .collect();
    Ok((JobRun::Ran(cycle), hints))
}

/// What the raw zone holds now, per table, in the form of a progress hint.
async fn current_hints(cfg: &PipelineConfig, raw: &FolderRawZone) -> anyhow::Result<BTreeMap<String, ProgressHint>> {
    let mut out = BTreeMap::new();
    for t in &cfg.tables {
        let mut files: Vec<RawFile> = raw.list_files(t, FileKind::Full, None).await?;
        files.extend(raw.list_files(t, FileKind::Cdc, None).await?);
        if let Some(hint) = hint_of(&files) {
            out.insert(t.name.to_string(), hint);
        }
    }
    Ok(out)
}

fn hint_of(files: &[RawFile]) -> Option<ProgressHint> {
    // The newest CDC file by name (DMS names them by time), else the full load's last.
    let last = files.iter().max_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)))?;
    let newest = files.iter().map(|f| f.modified).max()?;
    Some(ProgressHint { last_file: last.path.clone(), files: files.len() as u64, newest_modified: newest })
}

fn table_stats(cycle: &CycleRun) -> (Vec<TableRunStats>, Vec<String>) {
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
    (tables, failed)
}
