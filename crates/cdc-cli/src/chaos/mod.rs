//! `cdc chaos`: the fault matrix and soak. The pipeline runs through the
//! deployed state machine file over generated DMS data while faults enter
//! at every Task state (docs/chaos.md): before and after a step's effect,
//! mid-step kills and stops, Lambda timeouts, Data API FAILED, ABORTED,
//! throttled and serialization conflicts, S3, Glue, DynamoDB and SNS
//! throttling, concurrent starts and whole-run replays. After every
//! execution each target table is checked against the oracle for exactly
//! the files its progress table lists; at the end, against the source.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

pub mod aws_run;
pub mod aws_wire;
pub mod fault_proxy;
pub mod faults;
pub mod faulty_ports;
pub mod invoke_faults;
pub mod local_run;
pub mod oracle_check;
pub mod report;
pub mod soak;

pub use aws_run::run_aws;
pub use local_run::run_local;
pub use report::ChaosReport;
pub use soak::ChaosSettings;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// DuckDB, folders and the job-state file; faults below the adapters.
    Local,
    /// The AWS adapters on moto and the Data API emulator (loopback, no
    /// account); faults as HTTP answers from a proxy in front of them.
    Aws,
}

#[derive(Args)]
pub struct ChaosArgs {
    /// Seed of the data and of every fault decision (Map iterations run side
    /// by side, so two runs of one seed may meet their faults in another order).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Scheduled executions (a concurrent start adds one more).
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    #[arg(long, value_enum, default_value_t = Target::Local)]
    pub target: Target,
    /// The chance that any one fault point fails at random, on top of the
    /// matrix's faults armed in turn.
    #[arg(long, default_value_t = 0.04)]
    pub fault_rate: f64,
    /// Working folder; recreated.
    #[arg(long, default_value = "chaos-out")]
    pub out: PathBuf,
    /// Pipeline configuration file.
    #[arg(long, default_value_os_t = crate::default_config())]
    pub config: PathBuf,
    /// The state machine definition each execution runs (the deployed file).
    #[arg(long, default_value_os_t = crate::pipeline_run::default_state_machine())]
    pub state_machine: PathBuf,
    #[arg(long, default_value_t = 2_000)]
    pub accounts: u32,
    /// pgbench transactions per CDC cycle.
    #[arg(long, default_value_t = 80)]
    pub transactions: usize,
    /// A CDC cycle is delivered before every N-th execution.
    #[arg(long, default_value_t = 2)]
    pub cycle_every: usize,
}

/// Runs the chaos run, prints its table, and fails on any row lost,
/// duplicated or differing.
pub async fn chaos(args: ChaosArgs) -> anyhow::Result<()> {
    anyhow::ensure!((0.0..=1.0).contains(&args.fault_rate), "--fault-rate must lie between 0 and 1");
    let settings = ChaosSettings {
        seed: args.seed,
        executions: args.runs,
        rate: args.fault_rate,
        out: args.out,
        config: args.config,
        state_machine: args.state_machine,
        accounts: args.accounts,
        transactions: args.transactions,
        cycle_every: args.cycle_every,
    };
    let bar = ProgressBar::new(args.runs as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} executions {msg} [{elapsed}]")?);
    let report = match args.target {
        Target::Local => run_local(&settings, &bar).await?,
        Target::Aws => run_aws(&settings, &bar).await?,
    };
    bar.finish_and_clear();
    println!("{}", report.render());
    anyhow::ensure!(report.clean(), "the chaos run found rows lost, duplicated or differing (see above)");
    Ok(())
}
