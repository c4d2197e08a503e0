//! `cdc status` and `cdc reset`: the job state, per-table progress and lag,
//! and the run history, readable while a run is going (the state file is
//! never locked for longer than a read).

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use comfy_table::Table;

use cdc_core::PipelineConfig;
use cdc_core::job::JobStateStore;

use crate::run::JobArgs;
use crate::setup::Target;

#[derive(Args)]
pub struct StatusArgs {
    /// `aws`: the DynamoDB job table of a deployment, from the functions'
    /// variables (`PIPELINE_CONFIG`, `JOB_TABLE`…) and the usual AWS credentials.
    #[arg(long, value_enum, default_value_t = Target::Local)]
    pub target: Target,
    #[arg(long, default_value_os_t = crate::default_config())]
    pub config: PathBuf,
    /// Folder of the job-state file (as given to `run`, or `<demo out>/job-state`).
    #[arg(long, default_value = "demo-out/job-state")]
    pub state_dir: PathBuf,
    /// Run records to show.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ResetArgs {
    #[arg(long, value_enum, default_value_t = Target::Local)]
    pub target: Target,
    #[arg(long, default_value_os_t = crate::default_config())]
    pub config: PathBuf,
    #[arg(long, default_value = "demo-out/job-state")]
    pub state_dir: PathBuf,
    /// Why, for the run history.
    #[arg(long)]
    pub reason: String,
}

/// The job's id and its state store: the local file, or a deployment's DynamoDB table.
async fn store(
    target: Target,
    config: &std::path::Path,
    state_dir: &std::path::Path,
) -> anyhow::Result<(String, std::sync::Arc<dyn JobStateStore>)> {
    if target == Target::Aws {
        let ctx = crate::setup::aws_context().await?;
        return Ok((ctx.cfg.job_id, ctx.store));
    }
    let cfg = PipelineConfig::load(config)?;
    if !state_dir.is_dir() {
        bail!("no job state at {}: has the pipeline run here?", state_dir.display());
    }
    let job = JobArgs::defaults(Some(state_dir.to_path_buf()));
    Ok((cfg.job_id, std::sync::Arc::new(job.store(state_dir)?)))
}

pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let (job_id, store) = store(args.target, &args.config, &args.state_dir).await?;
    let job = store.get(&job_id).await?.with_context(|| format!("job {job_id} has never run here"))?;
    let history = store.history(&job_id, args.runs).await?;
    let lives = store.table_states(&job_id).await?;
    if args.json {
        let all = serde_json::json!({ "job": job, "tables": lives, "history": history });
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    let at =
        |t: Option<chrono::DateTime<Utc>>| t.map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
    println!(
        "job {}: {} (owner {}, started {}, ended {}, lease until {})",
        job.job_id,
        job.state.as_str(),
        job.owner.as_deref().unwrap_or("-"),
        at(job.job_start),
        at(job.job_end),
        at(job.lease_expires)
    );
    println!("consecutive failures: {}, last success: {}", job.consecutive_failures, at(job.last_success));
    let mut tables = Table::new();
    tables.set_header(["table", "state", "files applied", "unexplained objects", "newest file", "newest file age"]);
    for (name, hint) in &job.progress_hints {
        let age = (Utc::now() - hint.newest_modified).num_seconds();
        tables.add_row([
            name.clone(),
            lives.get(name).map_or("Active", |s| s.shown().as_str()).to_string(),
            hint.files.to_string(),
            hint.unexplained.to_string(),
            hint.last_file.clone(),
            format!("{age} s"),
        ]);
    }
    println!("{tables}");
    // Why a table is not simply Active: its failure, its wait, its rebuild.
    for (name, s) in lives.iter().filter(|(_, s)| s.shown() != cdc_core::job::TableLife::Active) {
        let requested = s.resync_requested.map(|t| format!(", resync requested at {}", t.format("%Y-%m-%d %H:%M:%S")));
        let statement = s.statement_id.as_ref().map(|id| format!(", statement {id}"));
        println!(
            "table {name}: {} since {}{}{}: {}",
            s.shown().as_str(),
            s.updated.format("%Y-%m-%d %H:%M:%S"),
            requested.unwrap_or_default(),
            statement.unwrap_or_default(),
            s.reason.as_deref().unwrap_or("-")
        );
    }
    // The last change a load made to a table's columns.
    for (name, s) in &lives {
        if let (Some(what), Some(at)) = (&s.schema_change, s.schema_changed) {
            println!("table {name}: schema changed at {}: {what}", at.format("%Y-%m-%d %H:%M:%S"));
        }
    }
    let mut runs = Table::new();
    runs.set_header(["execution", "start", "seconds", "outcome", "files", "changes", "rows", "failed tables / note"]);
    for r in &history {
        let sum = |f: fn(&cdc_core::job::TableRunStats) -> u64| r.tables.iter().map(f).sum::<u64>().to_string();
        runs.add_row([
            r.execution_id.clone(),
            r.start.format("%Y-%m-%d %H:%M:%S").to_string(),
            format!("{:.1}", (r.end - r.start).num_milliseconds() as f64 / 1000.0),
            format!("{:?}", r.outcome),
            sum(|t| t.files),
            sum(|t| t.changes),
            sum(|t| t.rows),
            if r.failed_tables.is_empty() { r.error.clone().unwrap_or_default() } else { r.failed_tables.join(", ") },
        ]);
    }
    println!("{runs}");
    // What runs reported without failing: objects the DMS layout does not explain.
    for r in history.iter().filter(|r| !r.warnings.is_empty()) {
        for w in &r.warnings {
            println!("warning ({}): {w}", r.execution_id);
        }
    }
    Ok(())
}

pub async fn reset(args: ResetArgs) -> anyhow::Result<()> {
    let (job_id, store) = store(args.target, &args.config, &args.state_dir).await?;
    let job = store.reset(&job_id, &args.reason, Utc::now()).await?;
    println!("job {} is {} again; the reset is in the run history", job.job_id, job.state.as_str());
    Ok(())
}
