//! `cdc resync TABLE…`: rebuild tables from the raw zone (their latest full
//! load plus the CDC changes since) without stopping the others
//! (docs/table-lifecycle.md). Locally it runs one execution of the state
//! machine with `{"JobId": …, "Resync": [TABLE…]}` as its input, exactly as
//! a console start on AWS would. With `--target aws` it records the requests
//! in the deployment's DynamoDB job table, then starts an execution of the
//! deployed state machine with the same input (`--state-machine-arn`, or
//! `STATE_MACHINE_ARN`: the stack's `PipelineStateMachineArn` output). The
//! request is recorded first, so an execution that finds the job held, or
//! a start that fails, loses nothing: the next execution takes it up.

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
    /// AWS: the state machine to start (the stack's `PipelineStateMachineArn`
    /// output; default: the STATE_MACHINE_ARN variable); without it the
    /// request waits for the next scheduled execution.
    #[arg(long)]
    pub state_machine_arn: Option<String>,
    #[command(flatten)]
    pub job: JobArgs,
}

pub async fn resync(args: ResyncArgs) -> anyhow::Result<()> {
    if args.target == Target::Aws {
        let ctx = crate::setup::aws_context().await?;
        let sfn = aws_sdk_sfn::Client::new(&cdc_aws::client_config::load_from_env().await);
        let arn = args.state_machine_arn.clone().or_else(|| std::env::var("STATE_MACHINE_ARN").ok());
        let started = resync_on_aws(&ctx, &sfn, arn.as_deref().filter(|a| !a.is_empty()), &args.tables).await?;
        match started {
            Some(execution) => println!(
                "resync of {} recorded for job {} and execution {execution} started; cdc status --target aws shows \
                 the tables' state",
                args.tables.join(", "),
                ctx.cfg.job_id
            ),
            None => println!(
                "resync of {} recorded for job {}; no state machine given (--state-machine-arn or \
                 STATE_MACHINE_ARN), so the next execution (the schedule's, within 5 minutes, or Start execution \
                 with {{\"JobId\": \"{}\"}}) rebuilds them; cdc status --target aws shows their state",
                args.tables.join(", "),
                ctx.cfg.job_id,
                ctx.cfg.job_id
            ),
        }
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

/// Records the tables' resync requests in the job table, then, given the
/// state machine, starts an execution with `{"JobId", "Resync"}` as its
/// input; returns the execution's ARN. A failed start is an error after
/// the requests are recorded: the next execution still rebuilds them.
pub async fn resync_on_aws(
    ctx: &cdc_core::steps::dispatch::StepContext,
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: Option<&str>,
    tables: &[String],
) -> anyhow::Result<Option<String>> {
    check_tables(&ctx.cfg, tables)?;
    for t in tables {
        ctx.store.update_table(&ctx.cfg.job_id, t, TableUpdate::RequestResync { at: Utc::now() }).await?;
    }
    let Some(arn) = state_machine_arn else { return Ok(None) };
    let input = json!({ "JobId": ctx.cfg.job_id, "Resync": tables });
    let out = sfn
        .start_execution()
        .state_machine_arn(arn)
        .name(aws_execution_name(Utc::now()))
        .input(input.to_string())
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "the resync of {} is recorded, but starting {arn} failed: {}; the next execution rebuilds them",
                tables.join(", "),
                aws_sdk_sfn::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(Some(out.execution_arn().to_string()))
}

/// A new execution's name: at most 80 characters, none of those Step
/// Functions refuses (whitespace, brackets, `?*`, `"#%\\^|~`$&,;:/`,
/// control characters; StartExecution in the Step Functions API
/// Reference), unique to the millisecond.
fn aws_execution_name(now: chrono::DateTime<Utc>) -> String {
    format!("resync-{}", now.format("%Y%m%dT%H%M%S%3f"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_keep_to_what_step_functions_accepts() {
        let name = aws_execution_name(Utc::now());
        let refused = |c: char| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c);
        assert!(name.len() <= 80 && !name.chars().any(refused), "{name}");
        assert!(name.starts_with("resync-2"), "{name}");
    }
}
