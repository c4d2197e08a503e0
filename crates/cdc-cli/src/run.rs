//! `cdc run`: one pipeline run on an existing raw zone, under the job state.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use comfy_table::Table;

use cdc_core::PipelineConfig;
use cdc_core::cycle::CycleRun;
use cdc_core::job::Lease;
use cdc_core::notify::NotifyPolicy;
use cdc_core::unload::{UnloadReason, UnloadRun};
use cdc_local::{DuckDbWarehouse, FileJobStore, FolderRawZone, JsonlNotifier};

use crate::job_run::{JobRun, Notification, RunReport, UnloadTarget, run_job};

#[derive(Args)]
pub struct RunArgs {
    /// Pipeline configuration file.
    #[arg(long, default_value_os_t = crate::default_config())]
    pub config: PathBuf,
    /// The raw zone folder (DMS layout: full/ and cdc/).
    #[arg(long)]
    pub raw: PathBuf,
    /// The DuckDB database file standing in for Redshift (created if absent).
    #[arg(long)]
    pub warehouse: PathBuf,
    /// The optimized zone folder finished days are exported to (default:
    /// `optimized/` beside the warehouse).
    #[arg(long)]
    pub optimized: Option<PathBuf>,
    #[command(flatten)]
    pub job: JobArgs,
}

/// Where the job state lives and how long a run may hold the job.
#[derive(Args, Clone)]
pub struct JobArgs {
    /// Folder of the job-state file (default: `job-state/` beside the warehouse).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// How long a run holds the job before another may take it over (seconds).
    #[arg(long, default_value_t = JobArgs::LEASE_SECONDS)]
    pub lease_seconds: u64,
    /// How long run records are kept (days).
    #[arg(long, default_value_t = JobArgs::HISTORY_DAYS)]
    pub history_days: u64,
    /// Failure and recovery notices, one JSON line each (default:
    /// `notifications.jsonl` in the job-state folder).
    #[arg(long)]
    pub notify_file: Option<PathBuf>,
    /// While a job keeps failing, remind at most this often (minutes).
    #[arg(long, default_value_t = JobArgs::REMINDER_MINUTES)]
    pub reminder_minutes: u64,
}

impl JobArgs {
    pub const LEASE_SECONDS: u64 = 900;
    pub const HISTORY_DAYS: u64 = 30;
    pub const REMINDER_MINUTES: u64 = 60;

    /// The defaults, with the job state in `state_dir` (or beside the warehouse).
    pub fn defaults(state_dir: Option<PathBuf>) -> Self {
        Self {
            state_dir,
            lease_seconds: Self::LEASE_SECONDS,
            history_days: Self::HISTORY_DAYS,
            notify_file: None,
            reminder_minutes: Self::REMINDER_MINUTES,
        }
    }

    fn state_dir(&self, warehouse: &Path) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(|| default_state_dir(warehouse))
    }

    pub fn store(&self, warehouse: &Path) -> anyhow::Result<FileJobStore> {
        Ok(FileJobStore::new(&self.state_dir(warehouse), Duration::from_secs(self.history_days * 86_400))?)
    }

    pub fn notifier(&self, warehouse: &Path) -> anyhow::Result<JsonlNotifier> {
        let path = self.notify_file.clone().unwrap_or_else(|| self.state_dir(warehouse).join("notifications.jsonl"));
        Ok(JsonlNotifier::new(&path)?)
    }

    pub fn notify_policy(&self) -> NotifyPolicy {
        NotifyPolicy { reminder_interval: Duration::from_secs(self.reminder_minutes * 60) }
    }
    pub fn lease(&self) -> anyhow::Result<Lease> {
        Ok(Lease::new(Duration::from_secs(self.lease_seconds))?)
    }
}

pub fn default_optimized_dir(warehouse: &Path) -> PathBuf {
    warehouse.parent().unwrap_or(Path::new(".")).join("optimized")
}

pub fn default_state_dir(warehouse: &Path) -> PathBuf {
    warehouse.parent().unwrap_or(Path::new(".")).join("job-state")
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let cfg = PipelineConfig::load(&args.config)?;
    for w in cfg.warnings() {
        eprintln!("warning: {w}");
    }
    let store = args.job.store(&args.warehouse)?;
    let notifier = args.job.notifier(&args.warehouse)?;
    let notification = Notification { notifier: &notifier, policy: args.job.notify_policy() };
    let raw = FolderRawZone::new(&args.raw)?;
    let started = Instant::now();
    let path = args.warehouse.clone();
    let open = || Ok(Arc::new(DuckDbWarehouse::open(&path)?));
    let optimized = args.optimized.clone().unwrap_or_else(|| default_optimized_dir(&args.warehouse));
    let unload = UnloadTarget { root: optimized, now: chrono::Utc::now() };
    let outcome = run_job(&cfg, &store, &raw, args.job.lease()?, notification, &unload, open).await?;
    match outcome {
        JobRun::Skipped { owner, since } => {
            let since = since.map_or("an unknown time".into(), |s| s.to_rfc3339());
            println!("skipped: job {} is held by {owner}, since {since}", cfg.job_id);
            Ok(())
        }
        JobRun::Idle => {
            println!("nothing new in the raw zone; the warehouse was not touched");
            Ok(())
        }
        JobRun::Ran(report) => {
            print_cycle(&report.cycle);
            print_unload(&report.unload);
            println!("run took {:.2} s", started.elapsed().as_secs_f64());
            fail_on_errors(&report)
        }
    }
}

pub fn print_cycle(cycle: &CycleRun) {
    let mut table = Table::new();
    table.set_header(["table", "files", "changes", "upserts", "deletes", "seconds", "result"]);
    for t in &cycle.tables {
        match &t.result {
            Ok(s) => table.add_row([
                t.table.clone(),
                s.files.to_string(),
                s.changes.to_string(),
                s.upserts.to_string(),
                s.deletes.to_string(),
                format!("{:.2}", t.seconds),
                "ok".into(),
            ]),
            Err(e) => table.add_row([
                t.table.clone(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
                format!("{:.2}", t.seconds),
                e.to_string(),
            ]),
        };
    }
    println!("{table}");
}

/// The days exported to the optimized zone, if any.
pub fn print_unload(unload: &UnloadRun) {
    if unload.days.is_empty() && unload.failures.is_empty() {
        return;
    }
    let mut table = Table::new();
    table.set_header(["table", "day", "reason", "rows", "files", "bytes", "from raw files"]);
    for (planned, done) in &unload.days {
        let reason = match planned.reason {
            UnloadReason::Finished => "finished",
            UnloadReason::LateFiles => "late files",
        };
        table.add_row([
            done.table.clone(),
            done.day.clone(),
            reason.to_string(),
            done.rows.to_string(),
            done.files.to_string(),
            done.bytes.to_string(),
            done.source.files.to_string(),
        ]);
    }
    for (t, e) in &unload.failures {
        table.add_row([t.clone(), String::new(), format!("failed: {e}")]);
    }
    println!("{table}");
}

pub fn fail_on_errors(report: &RunReport) -> anyhow::Result<()> {
    let cycle = &report.cycle;
    let mut problems: Vec<String> = cycle
        .failed_tables()
        .iter()
        .map(|t| format!("{}: {}", t.table, t.result.as_ref().err().map(ToString::to_string).unwrap_or_default()))
        .collect();
    problems.extend(cycle.derived_failures.iter().map(|(n, e)| format!("{n}: {e}")));
    problems.extend(report.unload.failures.iter().map(|(n, e)| format!("{n} (unload): {e}")));
    if problems.is_empty() {
        return Ok(());
    }
    bail!("the run failed for {} table(s):\n  {}", problems.len(), problems.join("\n  "))
}
