//! `cdc`: the pipeline on a laptop. `demo` generates DMS-style data and runs
//! the pipeline cycle by cycle, checking the warehouse against the oracle;
//! `run` runs one cycle on an existing raw zone and warehouse; `bench` prints
//! performance figures.

use cdc_cli::{bench, chaos, demo, resync, run, setup, status};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "cdc", version, about = "Serverless CDC pipeline for Amazon Redshift, run locally on DuckDB")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate DMS-format data, run full load + CDC cycles, verify every cycle.
    Demo(demo::DemoArgs),
    /// Run one pipeline cycle against an existing raw zone and warehouse.
    Run(run::RunArgs),
    /// Create the warehouse objects the config needs (locally or on Redshift), under the job state.
    Setup(setup::SetupArgs),
    /// The job state, per-table progress and lag, and the recent runs.
    Status(status::StatusArgs),
    /// Make a stuck or failed job Ready again, with a reason for the history.
    Reset(status::ResetArgs),
    /// Rebuild tables from their latest full load and the CDC since, the others loading on.
    Resync(resync::ResyncArgs),
    /// Faults at every step, replays and races, with rows lost, duplicated or stale counted.
    Chaos(chaos::ChaosArgs),
    /// Benchmarks that print figures (not tests).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Demo(args) => runtime.block_on(demo::demo(args)),
        Command::Run(args) => runtime.block_on(run::run(args)),
        Command::Setup(args) => runtime.block_on(setup::setup(args)),
        Command::Status(args) => runtime.block_on(status::status(args)),
        Command::Reset(args) => runtime.block_on(status::reset(args)),
        Command::Resync(args) => runtime.block_on(resync::resync(args)),
        Command::Chaos(args) => runtime.block_on(chaos::chaos(args)),
        Command::Bench(cmd) => runtime.block_on(bench::bench(cmd)),
    }
}
