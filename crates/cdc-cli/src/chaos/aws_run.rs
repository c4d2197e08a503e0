//! The chaos run on the AWS path: the same schedule and checks as the local
//! path, with the steps on the AWS adapters (S3, Glue, DynamoDB, SNS, the
//! Redshift Data API) over moto and the Data API emulator on loopback.
//! Faults come as HTTP answers from the fault proxy every client talks
//! through ([`super::fault_proxy`]), and at the invoke from the same hook as
//! locally. The run's own actions (DMS delivering files, replays, clearing
//! hints, the checks) go straight to moto and the emulator, unfaulted.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use chrono::Utc;
use indicatif::ProgressBar;

use cdc_asl::{Clock, VirtualClock};
use cdc_aws::deployment::{AwsPorts, s3_client};
use cdc_aws::iam_record::SharedInterceptor;
use cdc_dmsgen::{DmsLayout, Generator, GeneratorConfig};
use cdc_local::FolderRawZone;

use super::fault_proxy::{FaultProxy, StateHeader};
use super::faults::Injector;
use super::oracle_check::{self, Check};
use super::report::ChaosReport;
use super::soak::{
    ChaosSettings, ChaosTarget, Deliveries, Delivery, data_clock, execution, recreate, soak, takeovers_in,
};
use crate::aws_loopback::{LoopbackAws, OPTIMIZED_BUCKET, OPTIMIZED_PREFIX, RAW_BUCKET};
use crate::pipeline_run::{PipelineRun, paced_polls};
use crate::verify::verify;

/// Real time per poll of a running statement (see [`paced_polls`]).
const POLL_PACE: Duration = Duration::from_millis(100);
/// The SDK's first retry backoff: the default is a second, which only
/// stretches the run's wall time. The attempts (3, the default) are kept.
const SDK_BACKOFF: Duration = Duration::from_millis(20);

pub async fn run_aws(s: &ChaosSettings, bar: &ProgressBar) -> anyhow::Result<ChaosReport> {
    let started = Instant::now();
    let mut w = World::new(s).await?;
    let (t, clean) = soak(&mut w, s, bar).await?;
    let conn = w.aws.emulator.connection()?;
    let v = verify(&w.aws.cfg, &conn, &w.data.generator)?;
    let days = w.verify_unload(&conn, &s.out.join("optimized")).await?;
    let mut report = t.report("aws", s.seed, w.faults.tally(), clean, &v, started.elapsed().as_secs_f64());
    report.unloaded_days = days;
    Ok(report)
}

struct World {
    data: Deliveries,
    /// The steps' ports: every client through the proxy.
    ports: AwsPorts,
    /// Straight to moto: the run's own job-state actions.
    direct: AwsPorts,
    s3: aws_sdk_s3::Client,
    clock: Arc<VirtualClock>,
    faults: Arc<Injector>,
    state_machine: std::path::PathBuf,
    /// Stops before the services it stands in front of.
    _proxy: FaultProxy,
    aws: LoopbackAws,
}

impl World {
    async fn new(s: &ChaosSettings) -> anyhow::Result<Self> {
        recreate(&s.out)?;
        let config_text =
            std::fs::read_to_string(&s.config).with_context(|| format!("reading {}", s.config.display()))?;
        let aws = LoopbackAws::start(&config_text).await?;
        let faults = Arc::new(Injector::new(s.seed, s.rate));
        let proxy = FaultProxy::start(aws.moto.endpoint_url(), &aws.emulator.endpoint_url(), Arc::clone(&faults))?;
        let through_proxy = aws
            .sdk
            .to_builder()
            .endpoint_url(proxy.endpoint_url())
            .retry_config(RetryConfig::standard().with_max_attempts(3).with_initial_backoff(SDK_BACKOFF))
            .build();
        let ports = AwsPorts::with_interceptors(&through_proxy, &aws.settings, &[SharedInterceptor::new(StateHeader)])?;
        let direct = AwsPorts::new(&aws.sdk, &aws.settings)?;

        let raw_root = s.out.join("raw");
        let gen_cfg = GeneratorConfig {
            seed: s.seed,
            branches: 1,
            accounts_per_branch: s.accounts,
            ..GeneratorConfig::default()
        };
        let data = Deliveries::new(&raw_root, Generator::new(&raw_root, DmsLayout::default(), gen_cfg)?)?;
        let w = Self {
            s3: s3_client(&aws.sdk),
            data,
            ports,
            direct,
            clock: Arc::new(VirtualClock::new(Utc::now())),
            faults,
            state_machine: s.state_machine.clone(),
            _proxy: proxy,
            aws,
        };
        w.upload(&w.data.files[0]).await?;
        Ok(w)
    }

    /// DMS writing files to the raw bucket: each a PUT of its bytes (a new
    /// LastModified; the same ETag for the same bytes).
    async fn upload(&self, files: &[String]) -> anyhow::Result<()> {
        for rel in files {
            let body = aws_sdk_s3::primitives::ByteStream::from_path(self.data.raw_root.join(rel)).await?;
            self.s3
                .put_object()
                .bucket(RAW_BUCKET)
                .key(rel)
                .body(body)
                .send()
                .await
                .with_context(|| format!("uploading s3://{RAW_BUCKET}/{rel}"))?;
        }
        Ok(())
    }

    /// Every day the record says was exported, against its raw day: the
    /// optimized bucket is copied to `mirror` and read as the folder zone is.
    async fn verify_unload(&self, conn: &duckdb::Connection, mirror: &Path) -> anyhow::Result<usize> {
        let prefix = format!("{OPTIMIZED_PREFIX}/");
        let mut pages = self.s3.list_objects_v2().bucket(OPTIMIZED_BUCKET).prefix(&prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            for object in page?.contents() {
                let key = object.key().unwrap_or_default();
                let got = self.s3.get_object().bucket(OPTIMIZED_BUCKET).key(key).send().await?;
                let bytes = got.body.collect().await?.into_bytes();
                let path = mirror.join(key.strip_prefix(&prefix).unwrap_or(key));
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            }
        }
        // The raw bucket holds the generator's bytes under the same names.
        let raw = FolderRawZone::new(&self.data.raw_root)?;
        crate::demo::verify_unload(&self.aws.cfg, conn, &raw, mirror).await
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
        let added = self.data.write(what)?;
        self.upload(&added).await
    }

    async fn replay(&self) -> anyhow::Result<()> {
        let files = &self.data.files[self.faults.pick(self.data.files.len())];
        self.upload(files).await?;
        match self.direct.store.clear_progress_hints(&self.aws.cfg.job_id).await {
            Ok(()) | Err(cdc_core::job::JobStateError::UnknownJob(_)) => Ok(()),
            Err(e) => Err(e).context("clearing the progress hints"),
        }
    }

    async fn execute(&self, name: &str) -> anyhow::Result<PipelineRun> {
        let steps_clock = Arc::clone(&self.clock);
        let mut ctx =
            self.ports.step_context(self.aws.cfg.clone(), &self.aws.settings, Arc::new(move || steps_clock.now()));
        ctx.unload_now = data_clock(&self.data.generator);
        let paced = Some(paced_polls(POLL_PACE));
        execution(&self.state_machine, ctx, &self.clock, &self.faults, paced).run(name).await
    }

    async fn takeovers(&self) -> anyhow::Result<u64> {
        takeovers_in(self.direct.store.as_ref(), &self.aws.cfg.job_id).await
    }

    fn check(&self) -> anyhow::Result<Check> {
        let conn = self.aws.emulator.connection()?;
        oracle_check::check(&self.aws.cfg, &conn, &self.data.generator, &format!("s3://{RAW_BUCKET}"))
    }
}
