//! `cdc run`: one pipeline run on an existing raw zone, under the job state.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use comfy_table::Table;

use cdc_asl::ExecutionStatus;
use cdc_core::PipelineConfig;
use cdc_core::job::Lease;
use cdc_core::notify::NotifyPolicy;
use cdc_local::{DuckDbWarehouse, FileJobStore, FolderRawZone, JsonlNotifier};

use crate::pipeline_run::{LazyWarehouse, LocalPipeline, PipelineRun, execution_name, status_line};

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
    /// The state machine definition the run executes (the deployed file).
    #[arg(long, default_value_os_t = crate::pipeline_run::default_state_machine())]
    pub state_machine: PathBuf,
    /// Print the execution history (states entered and exited, retries, catches).
    #[arg(long)]
    pub trace: bool,
}

impl JobArgs {
    // Longer than the state machine's TimeoutSeconds (3000), as docs/architecture.md says;
    // every poll extends it anyway.
    pub const LEASE_SECONDS: u64 = 3600;
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
            state_machine: crate::pipeline_run::default_state_machine(),
            trace: false,
        }
    }

    /// The local pipeline: the state machine with the embedded default's ports.
    pub fn pipeline(
        &self,
        cfg: &PipelineConfig,
        raw_root: &Path,
        warehouse: &Path,
        optimized: &Path,
        unload_now: Option<chrono::DateTime<chrono::Utc>>,
        open: impl Fn() -> anyhow::Result<Arc<DuckDbWarehouse>> + Send + Sync + 'static,
    ) -> anyhow::Result<LocalPipeline> {
        let raw = Arc::new(FolderRawZone::new(raw_root)?);
        let lazy = Arc::new(LazyWarehouse::new(cfg, Arc::clone(&raw), optimized, open));
        Ok(LocalPipeline {
            cfg: cfg.clone(),
            state_machine: self.state_machine.clone(),
            warehouse: lazy.clone(),
            catalog: lazy,
            raw,
            optimized: optimized.to_path_buf(),
            store: Arc::new(self.store(warehouse)?),
            notifier: Arc::new(self.notifier(warehouse)?),
            policy: self.notify_policy(),
            lease: self.lease()?,
            unload_now,
            now: None,
            clock: None,
            intercept: None,
        })
    }

    /// Keeps the execution history beside the job state, as the console
    /// keeps it with the execution.
    pub fn keep_history(&self, warehouse: &Path, run: &PipelineRun) -> anyhow::Result<()> {
        let dir = self.state_dir(warehouse).join("executions");
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(format!("{}.json", run.execution.name));
        std::fs::write(&file, serde_json::to_vec_pretty(&run.execution.history)?)?;
        Ok(())
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
    let started = Instant::now();
    let path = args.warehouse.clone();
    let optimized = args.optimized.clone().unwrap_or_else(|| default_optimized_dir(&args.warehouse));
    let pipeline = args.job.pipeline(&cfg, &args.raw, &args.warehouse, &optimized, None, move || {
        Ok(Arc::new(DuckDbWarehouse::open(&path)?))
    })?;
    let name = execution_name();
    let run = pipeline.run(&name).await?;
    args.job.keep_history(&args.warehouse, &run)?;
    if args.job.trace {
        println!("{}", cdc_asl::render_history(&run.execution.history, 160));
    }
    if let Some(owner) = run.skipped_by() {
        let since = run.claim.as_ref().and_then(|c| c.held_since).map_or("an unknown time".into(), |s| s.to_rfc3339());
        println!("skipped: job {} is held by {owner}, since {since}", cfg.job_id);
        return Ok(());
    }
    if run.was_idle() && run.execution.status == ExecutionStatus::Succeeded {
        println!("nothing new in the raw zone; the warehouse was not touched");
        return Ok(());
    }
    print_results(&run);
    println!("run {}: {} in {:.2} s", run.execution.name, status_line(&run), started.elapsed().as_secs_f64());
    fail_on_errors(&run)
}

/// Per table and step: what the run did, or the error it caught.
pub fn print_results(run: &PipelineRun) {
    let Some((input, _)) = &run.release else { return };
    let r = &input.results;
    let mut table = Table::new();
    table.set_header(["step", "table", "files", "changes", "rows", "seconds", "result"]);
    let steps = [("load", &r.dimensions), ("load", &r.facts), ("derived", &r.derived), ("unload (days)", &r.unload)];
    for (step, results) in steps {
        for t in results {
            let result = if t.ok {
                "ok".to_string()
            } else {
                let cause = t.cause.as_deref().map(cdc_core::steps::job::cause_message).unwrap_or_default();
                format!("{}: {cause}", t.error.as_deref().unwrap_or("error"))
            };
            table.add_row([
                step.to_string(),
                t.table.clone(),
                t.files.to_string(),
                t.changes.to_string(),
                t.rows.to_string(),
                format!("{:.2}", t.seconds),
                result,
            ]);
        }
    }
    println!("{table}");
}

pub fn fail_on_errors(run: &PipelineRun) -> anyhow::Result<()> {
    if run.execution.status == ExecutionStatus::Succeeded {
        return Ok(());
    }
    let tables = run.release.as_ref().map(|(_, out)| out.failed_tables.join(", ")).unwrap_or_default();
    let tables = if tables.is_empty() { String::new() } else { format!(" (failed tables: {tables})") };
    bail!("execution {} {}{tables}", run.execution.name, status_line(run))
}
