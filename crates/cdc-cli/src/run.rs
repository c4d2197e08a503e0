//! `cdc run`: one cycle of the pipeline on an existing raw zone.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use comfy_table::Table;

use cdc_core::PipelineConfig;
use cdc_core::cycle::{CycleRun, run_cycle};
use cdc_local::{DuckDbWarehouse, FolderRawZone};

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
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let cfg = PipelineConfig::load(&args.config)?;
    for w in cfg.warnings() {
        eprintln!("warning: {w}");
    }
    let warehouse = DuckDbWarehouse::open(&args.warehouse)?;
    let raw = FolderRawZone::new(&args.raw)?;
    let started = Instant::now();
    let cycle = run_once(&cfg, &warehouse, &raw).await?;
    print_cycle(&cycle);
    println!("run took {:.2} s", started.elapsed().as_secs_f64());
    fail_on_errors(&cycle)
}

/// Setup (idempotent), the raw zone's catalog views, then one cycle.
pub async fn run_once(cfg: &PipelineConfig, warehouse: &DuckDbWarehouse, raw: &FolderRawZone) -> anyhow::Result<CycleRun> {
    cdc_core::setup::run_setup(cfg, warehouse).await.context("setup")?;
    warehouse.expose_raw_zone(cfg, raw).context("raw zone views")?;
    Ok(run_cycle(cfg, warehouse, raw, Duration::from_millis(5)).await)
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
            Err(e) => table.add_row([t.table.clone(), "".into(), "".into(), "".into(), "".into(), format!("{:.2}", t.seconds), e.to_string()]),
        };
    }
    println!("{table}");
}

pub fn fail_on_errors(cycle: &CycleRun) -> anyhow::Result<()> {
    let mut problems: Vec<String> = cycle
        .failed_tables()
        .iter()
        .map(|t| format!("{}: {}", t.table, t.result.as_ref().err().map(ToString::to_string).unwrap_or_default()))
        .collect();
    problems.extend(cycle.derived_failures.iter().map(|(n, e)| format!("{n}: {e}")));
    if problems.is_empty() {
        return Ok(());
    }
    bail!("the run failed for {} table(s):\n  {}", problems.len(), problems.join("\n  "))
}
