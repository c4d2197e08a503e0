//! `cdc setup`: the warehouse objects the config needs, created now rather
//! than by the next run: the external schema over the Glue database (on
//! Redshift), target, progress and tombstone tables, materialized views.
//! It runs the very steps a run starts with, under the job state: it claims
//! the job (a run in progress makes it stop, saying who holds the job),
//! submits setup, polls it, records the config's fingerprint (so the next
//! run does not set up again) and releases the job. A failed setup marks the
//! job failed with the warehouse's error, as a failed run would.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, ValueEnum};

use cdc_aws::deployment::{AwsPorts, DeploymentSettings, load_config};
use cdc_core::PipelineConfig;
use cdc_core::steps::RunIds;
use cdc_core::steps::dispatch::StepContext;
use cdc_core::steps::job::{self, CaughtError, ClaimOutcome, ClaimPorts, FailInput, ReleaseInput};
use cdc_core::steps::load::{self, PollInput, TableInput};
use cdc_core::steps::{StepStatus, dispatch::Now};

use crate::run::{JobArgs, default_optimized_dir};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The DuckDB file standing in for Redshift.
    Local,
    /// Redshift through the Data API, set up from the deployment's variables
    /// (`PIPELINE_CONFIG`, `REDSHIFT_*`, `GLUE_DATABASE`, `JOB_TABLE`…, as
    /// the Lambda functions read them) and the usual AWS credentials.
    Aws,
}

#[derive(Args)]
pub struct SetupArgs {
    #[arg(long, value_enum, default_value_t = Target::Local)]
    pub target: Target,
    /// Pipeline configuration file (local; on AWS it is `PIPELINE_CONFIG`).
    #[arg(long, default_value_os_t = crate::default_config())]
    pub config: PathBuf,
    /// The raw zone folder (local).
    #[arg(long, required_if_eq("target", "local"))]
    pub raw: Option<PathBuf>,
    /// The DuckDB database file (local; created if absent).
    #[arg(long, required_if_eq("target", "local"))]
    pub warehouse: Option<PathBuf>,
    #[command(flatten)]
    pub job: JobArgs,
}

/// How often setup's statement is polled.
const POLL_EVERY: Duration = Duration::from_millis(500);

pub async fn setup(args: SetupArgs) -> anyhow::Result<()> {
    let ctx = match args.target {
        Target::Local => local_context(&args)?,
        Target::Aws => aws_context().await?,
    };
    let execution_id = format!("cdc-setup-{}-{}", Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id());
    set_up(&ctx, &execution_id, POLL_EVERY).await?;
    println!("setup done for job {} (config fingerprint {} recorded)", ctx.cfg.job_id, ctx.cfg.fingerprint());
    Ok(())
}

fn local_context(args: &SetupArgs) -> anyhow::Result<StepContext> {
    let cfg = PipelineConfig::load(&args.config)?;
    let (raw, warehouse) = (args.raw.as_ref().expect("clap requires it"), args.warehouse.as_ref().expect("clap"));
    let path = warehouse.clone();
    let open = move || Ok(Arc::new(cdc_local::DuckDbWarehouse::open(&path)?));
    let pipeline = args.job.pipeline(&cfg, raw, warehouse, &default_optimized_dir(warehouse), None, open)?;
    pipeline.context()
}

/// The steps' context on a deployment, from the functions' variables.
pub(crate) async fn aws_context() -> anyhow::Result<StepContext> {
    let settings = DeploymentSettings::from_env()?;
    let sdk = cdc_aws::client_config::load_from_env().await;
    let cfg = load_config(&sdk, &settings).await?;
    let ports = AwsPorts::new(&sdk, &settings)?;
    Ok(ports.step_context(cfg, &settings, Arc::new(Utc::now) as Now))
}

/// Claim, setup, fingerprint, release: see the module doc.
pub async fn set_up(ctx: &StepContext, execution_id: &str, poll_every: Duration) -> anyhow::Result<()> {
    let ids = RunIds { job_id: ctx.cfg.job_id.clone(), execution_id: execution_id.to_string() };
    let now = (ctx.now)();
    let ports = ClaimPorts { store: &*ctx.store, raw: &*ctx.raw, raw_catalog: &*ctx.raw_catalog };
    let claim = job::claim_always(&ctx.cfg, ports, &ids, ctx.lease, now, (ctx.unload_now)()).await?;
    if claim.outcome == ClaimOutcome::Held {
        bail!(
            "job {} is held by {} since {}: a run is in progress; set up after it ends",
            ids.job_id,
            claim.held_by.as_deref().unwrap_or("?"),
            claim.held_since.map(|t| t.to_rfc3339()).unwrap_or_else(|| "?".into())
        );
    }
    match run_setup(ctx, &ids, poll_every).await {
        Ok(()) => {
            let input = ReleaseInput {
                ids,
                started_at: now,
                hints: Default::default(),
                results: Default::default(),
                full_listing: false,
            };
            job::release(&*ctx.store, ctx.policy, &input, (ctx.now)()).await.context("releasing the job")?;
            Ok(())
        }
        Err(e) => {
            let error = CaughtError { error: e.kind.as_str().to_string(), cause: e.message.clone() };
            let input = FailInput { ids, failed_step: "Setup".into(), error, started_at: Some(now) };
            let failed = job::fail(&*ctx.store, ctx.policy, &input, (ctx.now)()).await;
            if let Ok(out) = &failed
                && let Some(notice) = &out.notice
            {
                ctx.notifier.send(notice).await.ok();
            }
            Err(anyhow::Error::new(e).context("setup failed; the job is marked failed"))
        }
    }
}

async fn run_setup(ctx: &StepContext, ids: &RunIds, poll_every: Duration) -> Result<(), cdc_core::PipelineError> {
    let now = (ctx.now)();
    let input = TableInput {
        ids: ids.clone(),
        table: String::new(),
        entered_time: Some(now.to_rfc3339()),
        execution_start: None,
        batches_done: 0,
        full_listing: true,
        resync: Vec::new(),
    };
    let external = ctx.raw_catalog.external_schema();
    let submitted = load::setup_submit(&ctx.cfg, &*ctx.warehouse, external.as_ref(), &input, now).await?;
    let mut poll = PollInput {
        ids: ids.clone(),
        table: String::new(),
        statement_id: submitted.statement_id.expect("a submitted setup has a statement"),
        submitted_at: now,
        part: 0,
        newest_change: None,
    };
    loop {
        let (wh, store) = (&*ctx.warehouse, &*ctx.store);
        let out = load::setup_poll(&ctx.cfg, wh, external.as_ref(), store, ctx.lease, &poll, (ctx.now)()).await?;
        if out.status == Some(StepStatus::Done) {
            return Ok(());
        }
        // A finished part's poll submitted the next one.
        if let (Some(id), Some(at)) = (out.statement_id, out.submitted_at) {
            (poll.statement_id, poll.submitted_at, poll.part) = (id, at, out.part);
        }
        tokio::time::sleep(poll_every).await;
    }
}
