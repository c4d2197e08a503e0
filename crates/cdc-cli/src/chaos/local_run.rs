//! The chaos run on the local path: generated DMS data, the deployed state
//! machine file run by the interpreter every 5 virtual minutes, faults
//! below every port and at every invoke, replays and concurrent starts
//! between executions, and the oracle check after each execution.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use async_trait::async_trait;
use chrono::Utc;
use indicatif::ProgressBar;

use cdc_asl::{Clock, VirtualClock};
use cdc_core::PipelineConfig;
use cdc_core::steps::dispatch::StepContext;
use cdc_dmsgen::{DmsLayout, Generator, GeneratorConfig};
use cdc_local::{DuckDbWarehouse, FileJobStore};

use super::faults::Injector;
use super::faulty_ports::{
    FaultyNotifier, FaultyOptimized, FaultyRawCatalog, FaultyRawZone, FaultyStore, FaultyWarehouse,
};
use super::oracle_check::{self, Check};
use super::report::ChaosReport;
use super::soak::{
    ChaosSettings, ChaosTarget, Deliveries, Delivery, data_clock, execution, recreate, soak, takeovers_in,
};
use crate::pipeline_run::{LocalPipeline, PipelineRun};
use crate::run::JobArgs;
use crate::verify::verify;

struct World {
    cfg: PipelineConfig,
    /// How the progress tables name the raw zone's root.
    raw_prefix: String,
    data: Deliveries,
    warehouse: Arc<DuckDbWarehouse>,
    pipeline: LocalPipeline,
    store: FileJobStore,
    clock: Arc<VirtualClock>,
    faults: Arc<Injector>,
    state_machine: PathBuf,
}

pub async fn run_local(s: &ChaosSettings, bar: &ProgressBar) -> anyhow::Result<ChaosReport> {
    let started = Instant::now();
    let mut w = World::new(s)?;
    let (t, clean) = soak(&mut w, s, bar).await?;
    let conn = w.warehouse.connection()?;
    let v = verify(&w.cfg, &conn, &w.data.generator)?;
    // Every day the record says was exported equals its raw day.
    let days = crate::demo::verify_unload(&w.cfg, &conn, &w.pipeline.raw, &s.out.join("optimized")).await?;
    let mut report = t.report("local", s.seed, w.faults.tally(), clean, &v, started.elapsed().as_secs_f64());
    report.unloaded_days = days;
    Ok(report)
}

impl World {
    fn new(s: &ChaosSettings) -> anyhow::Result<Self> {
        recreate(&s.out)?;
        let cfg = PipelineConfig::load(&s.config)?;
        let raw_root = s.out.join("raw");
        let gen_cfg = GeneratorConfig {
            seed: s.seed,
            branches: 1,
            accounts_per_branch: s.accounts,
            ..GeneratorConfig::default()
        };
        let data = Deliveries::new(&raw_root, Generator::new(&raw_root, DmsLayout::default(), gen_cfg)?)?;
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
        Ok(Self {
            store: job.store(&wh_path)?,
            cfg,
            raw_prefix,
            data,
            warehouse,
            pipeline,
            clock,
            faults: Arc::new(Injector::new(s.seed, s.rate)),
            state_machine: s.state_machine.clone(),
        })
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
        ctx.unload_now = data_clock(&self.data.generator);
        Ok(ctx)
    }
}

#[async_trait(?Send)]
impl ChaosTarget for World {
    fn clock(&self) -> &Arc<VirtualClock> {
        &self.clock
    }
    fn faults(&self) -> &Arc<Injector> {
        &self.faults
    }

    async fn deliver(&mut self, what: Delivery) -> anyhow::Result<()> {
        self.data.write(what)?;
        Ok(())
    }

    /// A re-upload's modification time is the upload's time: the data's
    /// clock, which every file written follows.
    async fn replay(&self) -> anyhow::Result<()> {
        let files = &self.data.files[self.faults.pick(self.data.files.len())];
        let uploaded = std::time::SystemTime::from(self.data.generator.now());
        for rel in files {
            rewrite_same_bytes(&self.data.raw_root.join(rel), uploaded)?;
        }
        match self.store.clear_progress_hints(&self.cfg.job_id) {
            Ok(_) | Err(cdc_core::job::JobStateError::UnknownJob(_)) => Ok(()),
            Err(e) => Err(e).context("clearing the progress hints"),
        }
    }

    async fn execute(&self, name: &str) -> anyhow::Result<PipelineRun> {
        let ctx = self.faulty_context()?;
        execution(&self.state_machine, ctx, &self.clock, &self.faults, None).run(name).await
    }

    async fn takeovers(&self) -> anyhow::Result<u64> {
        takeovers_in(&self.store, &self.cfg.job_id).await
    }

    fn check(&self) -> anyhow::Result<Check> {
        let conn = self.warehouse.connection()?;
        oracle_check::check(&self.cfg, &conn, &self.data.generator, &self.raw_prefix)
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
