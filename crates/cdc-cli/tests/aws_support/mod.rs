//! The AWS side on loopback for the pipeline: moto (S3, Glue, DynamoDB, SNS,
//! SQS) and the Redshift Data API emulator on moto's S3 and Glue; the ports
//! built by `cdc_aws::deployment` from the variables template.yaml sets; the
//! deployed state machine file run by the local executor on them.

#![allow(dead_code)] // Each test uses its own part of this module.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use serde_json::Value;

use cdc_asl::VirtualClock;
use cdc_aws::deployment::{AwsPorts, DeploymentSettings, s3_client};
use cdc_aws::iam_record::{ArnScope, CallRecorder};
use cdc_aws::{RedshiftDataWarehouse, RedshiftTarget};
use cdc_cli::pipeline_run::{Intercept, PipelineRun, StateMachineRun};
use cdc_cli::verify::{TypedCheck, Verification, typed_failures, verify, verify_typed_values};
use cdc_core::PipelineConfig;
use cdc_core::ports::Warehouse;
use cdc_core::steps::dispatch::StepContext;
use cdc_dmsgen::{DmsLayout, Generator, GeneratorConfig};
use cdc_moto::MotoServer;
use cdc_redshift_emulator::Emulator;

pub const STATE_MACHINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachine/pipeline.asl.json");
pub const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/pipeline.toml");
pub const GLUE_DATABASE: &str = cdc_cli::aws_loopback::GLUE_DATABASE;
/// The Serverless workgroup's id; `REDSHIFT_WORKGROUP` is its ARN, as template.yaml sets it.
pub const WORKGROUP_ID: &str = cdc_cli::aws_loopback::WORKGROUP_ID;
use cdc_cli::aws_loopback::{CONFIG_BUCKET, CONFIG_KEY, LoopbackAws, RAW_BUCKET};
/// The reviewed table of the SDK calls the functions make (see `cdc_aws::iam_record`).
pub const SDK_CALLS_TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/iam/sdk-calls.tsv");

pub struct AwsStack {
    pub cfg: PipelineConfig,
    /// The functions' variables, as template.yaml would set them here.
    pub vars: HashMap<&'static str, String>,
    pub settings: DeploymentSettings,
    pub ports: AwsPorts,
    pub sdk: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub generator: Generator,
    pub emulator: Emulator,
    pub clock: Arc<VirtualClock>,
    /// Every SDK call the ports made inside a function's step, for the IAM check.
    pub recorder: CallRecorder,
    raw_root: PathBuf,
    _dir: tempfile::TempDir,
    /// Declared last so it drops last: the emulator reads through it.
    pub moto: MotoServer,
}

/// A fresh stack: buckets, the config object, the Glue database, the job
/// table, a topic with a queue subscribed, and a small DMS raw zone holding
/// a full load (not uploaded yet).
pub async fn stack(seed: u64) -> AwsStack {
    stack_with_config(seed, &std::fs::read_to_string(CONFIG).unwrap()).await
}

/// [`stack`] with another pipeline config (its `[dms]` decides where the
/// generator puts the files).
pub async fn stack_with_config(seed: u64, config_text: &str) -> AwsStack {
    let aws =
        LoopbackAws::start(config_text).await.expect("moto and the emulator start (run scripts/python-tools first)");
    let recorder = CallRecorder::new(ArnScope::new("aws", cdc_moto::REGION, cdc_moto::ACCOUNT_ID));
    // The Data API is the emulator, every other service moto.
    let ports = aws.ports(&aws.sdk, &[recorder.shared()]).unwrap();
    let LoopbackAws { cfg, vars, settings, sdk, topic_arn, emulator, moto } = aws;
    let s3 = s3_client(&sdk);
    let (sqs, queue_url) = queue_on(&sdk, &topic_arn).await;

    let dir = tempfile::tempdir().unwrap();
    let raw_root = dir.path().join("raw");
    // Any layout but the seed's writes the timestamp as DMS's text.
    let seed_layout =
        cdc_core::dms::DmsSettings { timestamp_column_name: None, ..cfg.dms.clone() } == cdc_dmsgen::seed_settings();
    let layout = DmsLayout { dms: cfg.dms.clone(), ts_as_text: !seed_layout, ..DmsLayout::default() };
    let gen_cfg = GeneratorConfig {
        seed,
        branches: 1,
        accounts_per_branch: 400,
        txns_during_full_load: 40,
        max_rows_per_file: 200,
        full_file_rows: 150,
        ..GeneratorConfig::default()
    };
    let mut generator = Generator::new(&raw_root, layout, gen_cfg).unwrap();
    generator.full_load().unwrap();
    let clock = Arc::new(VirtualClock::new(Utc::now()));
    AwsStack {
        cfg,
        vars,
        settings,
        ports,
        sdk,
        s3,
        sqs,
        queue_url,
        generator,
        emulator,
        clock,
        recorder,
        raw_root,
        _dir: dir,
        moto,
    }
}

pub fn warehouse_on(emulator: &Emulator, target: &RedshiftTarget) -> RedshiftDataWarehouse {
    RedshiftDataWarehouse::new(&data_api_client(emulator), target.clone()).unwrap()
}

pub fn data_api_client(emulator: &Emulator) -> aws_sdk_redshiftdata::Client {
    data_api_client_with(emulator, &[])
}

pub fn data_api_client_with(
    emulator: &Emulator,
    interceptors: &[cdc_aws::iam_record::SharedInterceptor],
) -> aws_sdk_redshiftdata::Client {
    cdc_cli::aws_loopback::data_api_client(&emulator.endpoint_url(), interceptors)
}

/// A queue subscribed to the alert topic, to read the notices it delivers.
async fn queue_on(sdk: &SdkConfig, topic: &str) -> (aws_sdk_sqs::Client, String) {
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let queue_url = sqs.create_queue().queue_name("cdc-alerts-inbox").send().await.unwrap().queue_url.unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attrs.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    sns.subscribe().topic_arn(topic).protocol("sqs").endpoint(queue_arn).send().await.unwrap();
    (sqs, queue_url)
}

/// Every SDK call a test's steps made must be a call the reviewed table
/// `tests/iam/sdk-calls.tsv` lists for that function (whose rows the IAM
/// check holds against template.yaml): a new call fails the test that makes
/// it until the table is regenerated (`UPDATE_GOLDEN=1`, the
/// `sdk_calls_table` test in crates/cdc-lambda/tests/iam_calls.rs) and reviewed.
impl Drop for AwsStack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let text = std::fs::read_to_string(SDK_CALLS_TABLE).unwrap_or_default();
        let known: std::collections::BTreeSet<(String, String)> = cdc_aws::iam_record::parse_table(&text)
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.function, r.operation))
            .collect();
        let unknown: std::collections::BTreeSet<(String, String)> = self
            .recorder
            .rows()
            .into_iter()
            .map(|r| (r.function, r.operation))
            .filter(|k| !known.contains(k))
            .collect();
        assert!(
            unknown.is_empty(),
            "SDK calls missing from tests/iam/sdk-calls.tsv (so from the IAM check of template.yaml): {unknown:?}; \
             regenerate it with UPDATE_GOLDEN=1 (crates/cdc-lambda/tests/iam_calls.rs) and review the diff"
        );
    }
}

impl AwsStack {
    /// Replaces the pipeline config object (a user editing it).
    pub async fn put_config(&self, text: &str) {
        let body = text.as_bytes().to_vec().into();
        self.s3.put_object().bucket(CONFIG_BUCKET).key(CONFIG_KEY).body(body).send().await.unwrap();
    }

    /// Uploads one local file to the raw bucket at `key`.
    pub async fn upload_raw(&self, key: &str, file: &Path) {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(file).await.unwrap();
        self.s3.put_object().bucket(RAW_BUCKET).key(key).body(body).send().await.unwrap();
    }

    /// Uploads every raw file not uploaded yet (DMS writing to S3).
    pub async fn deliver(&self) {
        for rel in cdc_dmsgen::raw_zone_files(&self.raw_root) {
            let exists = self.s3.head_object().bucket(RAW_BUCKET).key(&rel).send().await.is_ok();
            if !exists {
                let body = aws_sdk_s3::primitives::ByteStream::from_path(self.raw_root.join(&rel)).await.unwrap();
                self.s3.put_object().bucket(RAW_BUCKET).key(&rel).body(body).send().await.unwrap();
            }
        }
    }

    /// Uploads again the files the generator wrote after `since` (its
    /// clock), as DMS's writes over existing keys reach S3: a reload's files
    /// get a new LastModified and ETag, the files it left alone keep theirs.
    pub async fn deliver_written_since(&self, since: DateTime<Utc>) {
        for rel in cdc_dmsgen::raw_zone_files(&self.raw_root) {
            let modified: DateTime<Utc> =
                std::fs::metadata(self.raw_root.join(&rel)).unwrap().modified().unwrap().into();
            if modified > since {
                let body = aws_sdk_s3::primitives::ByteStream::from_path(self.raw_root.join(&rel)).await.unwrap();
                self.s3.put_object().bucket(RAW_BUCKET).key(&rel).body(body).send().await.unwrap();
            }
        }
    }

    /// Removes from the raw bucket the files of `table` the generator wrote
    /// at or before `until` (its clock), as an operator moves files out of
    /// a table's folder; returns how many. `deliver` would upload them again.
    pub async fn remove_raw_written_until(&self, table: &str, until: DateTime<Utc>) -> usize {
        let mut removed = 0;
        for rel in cdc_dmsgen::raw_zone_files(&self.raw_root) {
            let modified: DateTime<Utc> =
                std::fs::metadata(self.raw_root.join(&rel)).unwrap().modified().unwrap().into();
            if rel.contains(&format!("/{table}/")) && modified <= until {
                self.s3.delete_object().bucket(RAW_BUCKET).key(&rel).send().await.unwrap();
                removed += 1;
            }
        }
        removed
    }

    /// [`AwsStack::run`] with its polls paced ([`paced_polls`]).
    pub async fn run_paced(&self, name: &str) -> PipelineRun {
        self.run_with(name, self.context(), Some(paced_polls())).await
    }

    /// An execution started with this input (`{"JobId": …, "Resync": […]}`),
    /// its polls paced ([`paced_polls`]).
    pub async fn run_with_input(&self, name: &str, input: serde_json::Value) -> PipelineRun {
        let run = StateMachineRun {
            state_machine: Path::new(STATE_MACHINE),
            ctx: Arc::new(self.context()),
            clock: self.clock.clone(),
            intercept: Some(paced_polls()),
            hook: None,
        };
        run.run_with_input(name, input).await.unwrap()
    }

    /// The steps' context on the AWS ports; days count as finished by the
    /// generator's clock (its commit times are its own).
    pub fn context(&self) -> StepContext {
        let mut ctx = self.ports.step_context(self.cfg.clone(), &self.settings, Arc::new(Utc::now));
        let unload_now: DateTime<Utc> = self.generator.now();
        ctx.unload_now = Arc::new(move || unload_now);
        ctx
    }

    pub async fn run(&self, name: &str) -> PipelineRun {
        self.run_with(name, self.context(), None).await
    }

    pub async fn run_with(&self, name: &str, ctx: StepContext, intercept: Option<Intercept>) -> PipelineRun {
        let run = StateMachineRun {
            state_machine: Path::new(STATE_MACHINE),
            ctx: Arc::new(ctx),
            clock: self.clock.clone(),
            intercept,
            hook: None,
        };
        run.run(name).await.unwrap()
    }

    /// Every target table against the oracle, in the emulator's database.
    pub fn verify(&self) -> Verification {
        let conn = self.emulator.connection().unwrap();
        verify(&self.cfg, &conn, &self.generator).unwrap()
    }

    /// Every target table against the oracle (in SQL, in the emulator's
    /// database), then the types tables value for value through the Data API.
    pub async fn assert_matches_oracle(&self, when: &str) {
        let v = self.verify();
        for t in &v.tables {
            assert!(t.ok(), "{when}: {} differs from the oracle: {:?}", t.table, t.samples);
            assert!(t.rows > 0, "{when}: {} is empty", t.table);
        }
        self.assert_types_match(when).await;
    }

    /// The types tables read through the Data API (the emulator) hold the
    /// generator's values, value for value.
    pub async fn assert_types_match(&self, when: &str) -> Vec<TypedCheck> {
        let checks = verify_typed_values(&self.cfg, self.warehouse().as_ref(), &self.generator).await.unwrap();
        assert_eq!(checks.len(), cdc_dmsgen::TYPES_TABLES.len(), "{when}: the types tables are in the config");
        if let Some(differences) = typed_failures(&checks) {
            panic!("{when}: the types tables differ from the source values:\n{differences}");
        }
        for c in &checks {
            assert!(c.rows > 0, "{when}: {} is empty", c.table);
        }
        checks
    }

    /// The messages the topic delivered to the queue, as JSON bodies.
    pub async fn notices(&self, wait_for: usize) -> Vec<Value> {
        let mut out = Vec::new();
        for _ in 0..20 {
            let got =
                self.sqs.receive_message().queue_url(&self.queue_url).max_number_of_messages(10).send().await.unwrap();
            for m in got.messages.unwrap_or_default() {
                let envelope: Value = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
                out.push(envelope);
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle.unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            if out.len() >= wait_for {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out
    }

    /// A target table's rows, sorted, as text: to see that a failed load changed nothing.
    pub fn snapshot(&self, table: &str) -> Vec<String> {
        let conn = self.emulator.connection().unwrap();
        let mut stmt =
            conn.prepare(&format!("SELECT CAST(t AS VARCHAR) AS r FROM \"public\".\"{table}\" t ORDER BY r")).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    pub fn warehouse(&self) -> Arc<dyn Warehouse> {
        self.ports.warehouse.clone()
    }
}

/// Each poll takes 300 ms of real time, as the Wait before it would (see
/// [`cdc_cli::pipeline_run::paced_polls`]).
pub fn paced_polls() -> Intercept {
    cdc_cli::pipeline_run::paced_polls(Duration::from_millis(300))
}
