//! `cdc resync TABLE…`: rebuild tables from the raw zone (their latest full
//! load plus the CDC changes since) without stopping the others
//! (docs/table-lifecycle.md). Locally it runs one execution of the state
//! machine with `{"JobId": …, "Resync": [TABLE…]}` as its input, exactly as
//! a console start on AWS would; with `--target aws` it records the requests
//! in the deployment's DynamoDB job table, where the next execution (the
//! 5-minute schedule, or a console start) takes them up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use chrono::Utc;
use clap::Args;
use serde_json::json;

use cdc_core::PipelineConfig;
use cdc_core::job::TableUpdate;
use cdc_local::DuckDbWarehouse;

use crate::pipeline_run::execution_name;
use crate::run::{JobArgs, default_optimized_dir, fail_on_errors, print_results};
use crate::setup::Target;

#[derive(Args)]
pub struct ResyncArgs {
    /// The tables to rebuild (names from the pipeline config).
    #[arg(required = true)]
    pub tables: Vec<String>,
    #[arg(long, value_enum, default_value_t = Target::Local)]
    pub target: Target,
    #[arg(long, default_value_os_t = crate::default_config())]
    pub config: PathBuf,
    /// Local: the raw zone folder (as given to `cdc run`).
    #[arg(long, default_value = "demo-out/seed/raw")]
    pub raw: PathBuf,
    /// Local: the DuckDB warehouse file (as given to `cdc run`).
    #[arg(long, default_value = "demo-out/seed/warehouse.duckdb")]
    pub warehouse: PathBuf,
    #[command(flatten)]
    pub job: JobArgs,
}

pub async fn resync(args: ResyncArgs) -> anyhow::Result<()> {
    if args.target == Target::Aws {
        let ctx = crate::setup::aws_context().await?;
        check_tables(&ctx.cfg, &args.tables)?;
        for t in &args.tables {
            ctx.store.update_table(&ctx.cfg.job_id, t, TableUpdate::RequestResync { at: Utc::now() }).await?;
        }
        println!(
            "resync of {} recorded for job {}; the next execution (the schedule's, or Start execution with \
             {{\"JobId\": \"{}\"}}) rebuilds them; cdc status --target aws shows their state",
            args.tables.join(", "),
            ctx.cfg.job_id,
            ctx.cfg.job_id
        );
        return Ok(());
    }
    let cfg = PipelineConfig::load(&args.config)?;
    check_tables(&cfg, &args.tables)?;
    let started = Instant::now();
    let path = args.warehouse.clone();
    let optimized = default_optimized_dir(&args.warehouse);
    let pipeline = args.job.pipeline(&cfg, &args.raw, &args.warehouse, &optimized, None, move || {
        Ok(Arc::new(DuckDbWarehouse::open(&path)?))
    })?;
    let input = json!({ "JobId": cfg.job_id, "Resync": args.tables });
    let run = pipeline.run_with_input(&execution_name(), input).await?;
    args.job.keep_history(&args.warehouse, &run)?;
    if let Some(owner) = run.skipped_by() {
        println!("job {} is held by {owner}: the resync is recorded, and its next run rebuilds the tables", cfg.job_id);
        return Ok(());
    }
    print_results(&run);
    println!("resync of {}: {:.2} s", args.tables.join(", "), started.elapsed().as_secs_f64());
    fail_on_errors(&run)
}

fn check_tables(cfg: &PipelineConfig, tables: &[String]) -> anyhow::Result<()> {
    for t in tables {
        if cfg.table(t).is_none() {
            let known: Vec<&str> = cfg.tables.iter().map(|t| t.name.as_str()).collect();
            bail!("table {t:?} is not in the pipeline config (tables: {})", known.join(", "));
        }
    }
    Ok(())
}
