//! The chaos run on the local path: generated DMS data, the deployed state
//! machine file run by the interpreter every 5 virtual minutes, faults
//! below every port and at every invoke, replays and concurrent starts
//! between executions, and the oracle check after each execution.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use indicatif::ProgressBar;

use cdc_asl::{Clock, ExecutionStatus, VirtualClock};
use cdc_core::PipelineConfig;
use cdc_core::steps::dispatch::{Now, StepContext};
use cdc_dmsgen::{DmsLayout, Generator, GeneratorConfig, raw_zone_files};
use cdc_local::{DuckDbWarehouse, FileJobStore};

use super::faults::{BETWEEN_EXECUTIONS, FaultKind, Injector};
use super::faulty_ports::{
    FaultyNotifier, FaultyOptimized, FaultyRawCatalog, FaultyRawZone, FaultyStore, FaultyWarehouse,
};
use super::invoke_faults::InvokeFaults;
use super::oracle_check::{self, Check};
use super::report::{ChaosReport, Tracker};
use crate::pipeline_run::{LocalPipeline, PipelineRun, StateMachineRun};
use crate::run::JobArgs;
use crate::verify::verify;

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

struct World {
    cfg: PipelineConfig,
    raw_root: PathBuf,
    /// How the progress tables name the raw zone's root.
    raw_prefix: String,
    generator: Generator,
    warehouse: Arc<DuckDbWarehouse>,
    pipeline: LocalPipeline,
    store: FileJobStore,
    clock: Arc<VirtualClock>,
    faults: Arc<Injector>,
    state_machine: PathBuf,
    /// The files of each delivery (the full load, then each CDC cycle), for replays.
    deliveries: Vec<Vec<String>>,
}

pub async fn run_local(s: &ChaosSettings, bar: &ProgressBar) -> anyhow::Result<ChaosReport> {
    let started = Instant::now();
    let mut w = World::new(s)?;
    let mut t = Tracker::new(w.clock.now());
    let first = w.clock.now();
    for i in 0..s.executions {
        if i > 0 && i % s.cycle_every.max(1) == 0 {
            w.deliver(|g| g.cdc_cycle(s.transactions).map(|_| ()))?;
        }
        w.tick_to(first + SCHEDULE * i as i32);
        w.faults.arm_next(ARMED_PER_EXECUTION);
        if w.faults.decide_at(BETWEEN_EXECUTIONS, &[FaultKind::Replay]).is_some() {
            w.replay()?;
        }
        let runs = match w.faults.decide_at(BETWEEN_EXECUTIONS, &[FaultKind::ConcurrentStart]) {
            Some(_) => {
                let (a, b) = (format!("chaos-{i:04}-a"), format!("chaos-{i:04}-b"));
                let (a, b) = tokio::join!(w.execute(&a), w.execute(&b));
                vec![a?, b?]
            }
            None => vec![w.execute(&format!("chaos-{i:04}")).await?],
        };
        let check = w.check()?;
        t.observe(&runs, &check, w.clock.now());
        bar.set_message(format!("{} faults, {} rows wrong", w.faults.tally().total(), t.damage_total()));
        bar.inc(1);
    }
    let clean = w.finish(&mut t).await?;
    let conn = w.warehouse.connection()?;
    let v = verify(&w.cfg, &conn, &w.generator)?;
    // Every day the record says was exported equals its raw day.
    let days = crate::demo::verify_unload(&w.cfg, &conn, &w.pipeline.raw, &s.out.join("optimized")).await?;
    let mut report = t.report("local", s.seed, w.faults.tally(), clean, &v, started.elapsed().as_secs_f64());
    report.unloaded_days = days;
    Ok(report)
}

impl World {
    fn new(s: &ChaosSettings) -> anyhow::Result<Self> {
        if s.out.exists() {
            std::fs::remove_dir_all(&s.out).with_context(|| format!("clearing {}", s.out.display()))?;
        }
        std::fs::create_dir_all(&s.out).with_context(|| format!("creating {}", s.out.display()))?;
        let cfg = PipelineConfig::load(&s.config)?;
        let raw_root = s.out.join("raw");
        let gen_cfg = GeneratorConfig {
            seed: s.seed,
            branches: 1,
            accounts_per_branch: s.accounts,
            ..GeneratorConfig::default()
        };
        let mut generator = Generator::new(&raw_root, DmsLayout::default(), gen_cfg)?;
        generator.full_load()?;
        let wh_path = s.out.join("warehouse.duckdb");
        let warehouse = Arc::new(DuckDbWarehouse::open(&wh_path)?);
        let job =
            JobArgs { state_machine: s.state_machine.clone(), ..JobArgs::defaults(Some(s.out.join("job-state"))) };
        let w = Arc::clone(&warehouse);
        let mut pipeline =
            job.pipeline(&cfg, &raw_root, &wh_path, &s.out.join("optimized"), None, move || Ok(Arc::clone(&w)))?;
        // The lease clock is the executions' virtual clock: leases expire
        // and are taken over in virtual minutes.
        let clock = Arc::new(VirtualClock::new(Utc::now()));
        let steps_clock = Arc::clone(&clock);
        pipeline.now = Some(Arc::new(move || steps_clock.now()));
        pipeline.clock = Some(Arc::clone(&clock));
        // The pipeline's raw zone names files below its canonical root.
        let raw_prefix = pipeline.raw.root().display().to_string();
        let deliveries = vec![raw_zone_files(&raw_root)];
        Ok(Self {
            store: job.store(&wh_path)?,
            cfg,
            raw_root,
            raw_prefix,
            generator,
            warehouse,
            pipeline,
            clock,
            faults: Arc::new(Injector::new(s.seed, s.rate)),
            state_machine: s.state_machine.clone(),
            deliveries,
        })
    }

    /// Lets the generator write, and remembers which files it added.
    fn deliver(
        &mut self,
        write: impl FnOnce(&mut Generator) -> Result<(), cdc_dmsgen::GenError>,
    ) -> anyhow::Result<()> {
        let before: std::collections::HashSet<String> = raw_zone_files(&self.raw_root).into_iter().collect();
        write(&mut self.generator)?;
        let added = raw_zone_files(&self.raw_root).into_iter().filter(|f| !before.contains(f)).collect();
        self.deliveries.push(added);
        Ok(())
    }

    /// The schedule's next start, unless the last execution ran past it.
    fn tick_to(&self, at: DateTime<Utc>) {
        let behind = at - self.clock.now();
        if behind > TimeDelta::zero() {
            self.clock.advance(behind);
        }
    }

    /// One execution of the state machine file with faults in every port
    /// and at every invoke.
    async fn execute(&self, name: &str) -> anyhow::Result<PipelineRun> {
        let run = StateMachineRun {
            state_machine: &self.state_machine,
            ctx: Arc::new(self.faulty_context()?),
            clock: Arc::clone(&self.clock),
            intercept: None,
            hook: Some(Arc::new(InvokeFaults { faults: Arc::clone(&self.faults), clock: Arc::clone(&self.clock) })),
        };
        run.run(name).await
    }

    fn faulty_context(&self) -> anyhow::Result<StepContext> {
        let mut ctx = self.pipeline.context()?;
        let faults = &self.faults;
        let optimized = Arc::new(FaultyOptimized {
            zone: Arc::clone(&ctx.zone),
            catalog: Arc::clone(&ctx.catalog),
            faults: Arc::clone(faults),
        });
        ctx.warehouse = Arc::new(FaultyWarehouse::new(Arc::clone(&ctx.warehouse), Arc::clone(faults)));
        ctx.raw = Arc::new(FaultyRawZone { inner: Arc::clone(&ctx.raw), faults: Arc::clone(faults) });
        ctx.raw_catalog =
            Arc::new(FaultyRawCatalog { inner: Arc::clone(&ctx.raw_catalog), faults: Arc::clone(faults) });
        ctx.zone = optimized.clone();
        ctx.catalog = optimized;
        ctx.store = Arc::new(FaultyStore { inner: Arc::clone(&ctx.store), faults: Arc::clone(faults) });
        ctx.notifier = Arc::new(FaultyNotifier { inner: Arc::clone(&ctx.notifier), faults: Arc::clone(faults) });
        // Days finish on the data's clock, as in the demo.
        let data_now = self.generator.now();
        let unload_now: Now = Arc::new(move || data_now);
        ctx.unload_now = unload_now;
        Ok(ctx)
    }

    /// A whole delivery uploaded again: the same bytes under their names
    /// with a new modification time (a re-upload's LastModified is the
    /// upload's time: the data's clock, which every file written follows),
    /// and the progress hints cleared so the next run compares it all.
    fn replay(&self) -> anyhow::Result<()> {
        let files = &self.deliveries[self.faults.pick(self.deliveries.len())];
        let uploaded = std::time::SystemTime::from(self.generator.now());
        for rel in files {
            rewrite_same_bytes(&self.raw_root.join(rel), uploaded)?;
        }
        match self.store.clear_progress_hints(&self.cfg.job_id) {
            Ok(_) | Err(cdc_core::job::JobStateError::UnknownJob(_)) => Ok(()),
            Err(e) => Err(e).context("clearing the progress hints"),
        }
    }

    fn check(&self) -> anyhow::Result<Check> {
        let conn = self.warehouse.connection()?;
        oracle_check::check(&self.cfg, &conn, &self.generator, &self.raw_prefix)
    }

    /// Faults off, every held file delivered, then clean executions until
    /// one finds nothing new after the work is done. Returns how many ran.
    async fn finish(&mut self, t: &mut Tracker) -> anyhow::Result<usize> {
        self.faults.set_enabled(false);
        self.deliver(|g| g.finish().map(|_| ()))?;
        for n in 0..CLEANUP_EXECUTIONS {
            self.tick_to(self.clock.now() + SCHEDULE);
            let run = self.execute(&format!("chaos-clean-{n:02}")).await?;
            let done = run.was_idle() && run.execution.status == ExecutionStatus::Succeeded;
            let check = self.check()?;
            t.observe(std::slice::from_ref(&run), &check, self.clock.now());
            if done {
                return Ok(n + 1);
            }
        }
        anyhow::bail!("the pipeline did not come to rest within {CLEANUP_EXECUTIONS} clean executions after the faults")
    }
}

/// Writes a file's bytes again under its name, through a hidden file and a
/// rename, as DMS and the generator write, modified at `uploaded` (never
/// before its last write).
fn rewrite_same_bytes(path: &Path, uploaded: std::time::SystemTime) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let before = std::fs::metadata(path).and_then(|m| m.modified()).with_context(|| format!("{}", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let hidden = path.with_file_name(format!(".{name}.replay"));
    std::fs::write(&hidden, bytes).with_context(|| format!("writing {}", hidden.display()))?;
    let at = uploaded.max(before + std::time::Duration::from_millis(1));
    std::fs::File::options()
        .write(true)
        .open(&hidden)
        .and_then(|f| f.set_modified(at))
        .with_context(|| format!("dating {}", hidden.display()))?;
    std::fs::rename(&hidden, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
