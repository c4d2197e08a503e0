//! The chaos run's schedule, the same on both paths: an execution every 5
//! virtual minutes, a CDC cycle delivered every few, the matrix's next pair
//! armed before each, replays and concurrent starts between them, the
//! oracle check after each; then faults off, everything delivered, and
//! clean executions until one finds nothing new.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta};
use indicatif::ProgressBar;

use cdc_asl::{Clock, ExecutionStatus, VirtualClock};
use cdc_core::job::{JobStateStore, RunOutcome};
use cdc_core::steps::dispatch::{Now, StepContext};
use cdc_dmsgen::{GenError, Generator, raw_zone_files};

use super::faults::{BETWEEN_EXECUTIONS, FaultKind, Injector};
use super::invoke_faults::InvokeFaults;
use super::oracle_check::Check;
use super::report::Tracker;
use crate::pipeline_run::{Intercept, PipelineRun, StateMachineRun};

/// The schedule of template.yaml's EventBridge rule.
const SCHEDULE: TimeDelta = TimeDelta::minutes(5);
/// Pairs of the fault matrix armed per execution.
const ARMED_PER_EXECUTION: usize = 1;
/// Clean executions allowed after the faults stop, to finish the work (a
/// killed execution's lease alone takes 12 of them to expire).
const CLEANUP_EXECUTIONS: usize = 40;

pub struct ChaosSettings {
    pub seed: u64,
    pub executions: usize,
    /// The chance that any one fault point fails at random.
    pub rate: f64,
    pub out: PathBuf,
    pub config: PathBuf,
    pub state_machine: PathBuf,
    pub accounts: u32,
    /// pgbench transactions per CDC cycle.
    pub transactions: usize,
    /// A CDC cycle is delivered before every `cycle_every`-th execution.
    pub cycle_every: usize,
}

/// What the generator writes next.
pub enum Delivery {
    /// A CDC cycle of this many source transactions.
    Cycle(usize),
    /// Everything it still holds back (the end of the run).
    Rest,
}

/// One path's pipeline, data and checks.
#[async_trait(?Send)]
pub trait ChaosTarget {
    fn clock(&self) -> &Arc<VirtualClock>;
    fn faults(&self) -> &Arc<Injector>;
    /// The generator writes, and the new files reach the raw zone.
    async fn deliver(&mut self, what: Delivery) -> anyhow::Result<()>;
    /// One delivery's files uploaded again, the same bytes under their
    /// names, and the progress hints cleared.
    async fn replay(&self) -> anyhow::Result<()>;
    /// One execution of the state machine file, faults at every invoke and call.
    async fn execute(&self, name: &str) -> anyhow::Result<PipelineRun>;
    /// Every target table against the oracle for its applied files.
    fn check(&self) -> anyhow::Result<Check>;
    /// How many times the job was taken over after a lease expired, from its history.
    async fn takeovers(&self) -> anyhow::Result<u64>;
}

/// Takeovers in a job's history.
pub async fn takeovers_in(store: &dyn JobStateStore, job_id: &str) -> anyhow::Result<u64> {
    let history = store.history(job_id, usize::MAX).await.context("reading the job's history")?;
    Ok(history.iter().filter(|r| r.outcome == RunOutcome::TakenOver).count() as u64)
}

/// Runs the schedule; returns the tracker and how many clean executions the end took.
pub async fn soak(w: &mut impl ChaosTarget, s: &ChaosSettings, bar: &ProgressBar) -> anyhow::Result<(Tracker, usize)> {
    let first = w.clock().now();
    let mut t = Tracker::new(first);
    for i in 0..s.executions {
        if i > 0 && i % s.cycle_every.max(1) == 0 {
            w.deliver(Delivery::Cycle(s.transactions)).await?;
        }
        tick_to(w.clock(), first + SCHEDULE * i as i32);
        let faults = Arc::clone(w.faults());
        faults.arm_next(ARMED_PER_EXECUTION);
        if faults.decide_at(BETWEEN_EXECUTIONS, &[FaultKind::Replay]).is_some() {
            w.replay().await?;
        }
        let runs = match faults.decide_at(BETWEEN_EXECUTIONS, &[FaultKind::ConcurrentStart]) {
            Some(_) => {
                let (a, b) = (format!("chaos-{i:04}-a"), format!("chaos-{i:04}-b"));
                let (a, b) = tokio::join!(w.execute(&a), w.execute(&b));
                vec![a?, b?]
            }
            None => vec![w.execute(&format!("chaos-{i:04}")).await?],
        };
        let check = w.check()?;
        t.observe(&runs, &check, w.clock().now());
        bar.set_message(format!("{} faults, {} rows wrong", faults.tally().total(), t.damage_total()));
        bar.inc(1);
    }
    let clean = finish(w, &mut t).await?;
    t.set_takeovers(w.takeovers().await?);
    Ok((t, clean))
}

/// Faults off, every held file delivered, then clean executions until one
/// finds nothing new after the work is done. Returns how many ran.
async fn finish(w: &mut impl ChaosTarget, t: &mut Tracker) -> anyhow::Result<usize> {
    w.faults().set_enabled(false);
    w.deliver(Delivery::Rest).await?;
    for n in 0..CLEANUP_EXECUTIONS {
        tick_to(w.clock(), w.clock().now() + SCHEDULE);
        let run = w.execute(&format!("chaos-clean-{n:02}")).await?;
        let done = run.was_idle() && run.execution.status == ExecutionStatus::Succeeded;
        let check = w.check()?;
        t.observe(std::slice::from_ref(&run), &check, w.clock().now());
        if done {
            return Ok(n + 1);
        }
    }
    anyhow::bail!("the pipeline did not come to rest within {CLEANUP_EXECUTIONS} clean executions after the faults")
}

/// The schedule's next start, unless the last execution ran past it.
fn tick_to(clock: &VirtualClock, at: DateTime<chrono::Utc>) {
    let behind = at - clock.now();
    if behind > TimeDelta::zero() {
        clock.advance(behind);
    }
}

/// One execution of the state machine file on `ctx`, with the invoke
/// faults (the same hook on both paths).
pub fn execution<'a>(
    state_machine: &'a Path,
    ctx: StepContext,
    clock: &Arc<VirtualClock>,
    faults: &Arc<Injector>,
    intercept: Option<Intercept>,
) -> StateMachineRun<'a> {
    StateMachineRun {
        state_machine,
        ctx: Arc::new(ctx),
        clock: Arc::clone(clock),
        intercept,
        hook: Some(Arc::new(InvokeFaults { faults: Arc::clone(faults), clock: Arc::clone(clock) })),
    }
}

/// Days finish on the data's clock, as in the demo.
pub fn data_clock(generator: &Generator) -> Now {
    let data_now = generator.now();
    Arc::new(move || data_now)
}

/// The working folder, emptied.
pub fn recreate(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
}

/// The generated raw zone and the files of each delivery (the full load,
/// then each CDC cycle), for replays.
pub struct Deliveries {
    pub raw_root: PathBuf,
    pub generator: Generator,
    pub files: Vec<Vec<String>>,
}

impl Deliveries {
    /// The generator over `raw_root`, its full load written.
    pub fn new(raw_root: &Path, mut generator: Generator) -> Result<Self, GenError> {
        generator.full_load()?;
        Ok(Self { raw_root: raw_root.to_path_buf(), generator, files: vec![raw_zone_files(raw_root)] })
    }

    /// The generator writes; returns the files it added (names below the root).
    pub fn write(&mut self, what: Delivery) -> Result<Vec<String>, GenError> {
        let before: HashSet<String> = raw_zone_files(&self.raw_root).into_iter().collect();
        match what {
            Delivery::Cycle(transactions) => self.generator.cdc_cycle(transactions).map(|_| ())?,
            Delivery::Rest => self.generator.finish().map(|_| ())?,
        }
        let added: Vec<String> = raw_zone_files(&self.raw_root).into_iter().filter(|f| !before.contains(f)).collect();
        self.files.push(added.clone());
        Ok(added)
    }
}
