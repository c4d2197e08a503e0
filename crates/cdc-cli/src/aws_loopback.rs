//! The AWS side of the pipeline on loopback, set up as template.yaml deploys
//! it: moto (S3, Glue, DynamoDB, SNS) and the Redshift Data API emulator
//! reading moto's S3 and Glue; the raw, optimized and config buckets, the
//! config object, the Glue database, the job table, the alert topic, and the
//! functions' variables. The tests of the AWS path and `cdc chaos --target
//! aws` run on it. Nothing here is deployed: the Lambdas never link it.

use std::collections::HashMap;

use anyhow::Context;
use aws_config::SdkConfig;

use cdc_aws::deployment::{AwsPorts, DeploymentSettings, load_config, s3_client};
use cdc_aws::iam_record::SharedInterceptor;
use cdc_core::PipelineConfig;
use cdc_moto::MotoServer;
use cdc_redshift_emulator::{Emulator, EmulatorConfig};

pub const RAW_BUCKET: &str = "cdc-raw";
pub const OPTIMIZED_BUCKET: &str = "cdc-optimized";
/// Where the optimized zone's tables start in its bucket.
pub const OPTIMIZED_PREFIX: &str = "cdc";
pub const CONFIG_BUCKET: &str = "cdc-config";
pub const CONFIG_KEY: &str = "cdc/pipeline.toml";
pub const GLUE_DATABASE: &str = "cdc_raw";
pub const JOB_TABLE: &str = "cdc-job-state";
/// The Serverless workgroup's id; `REDSHIFT_WORKGROUP` is its ARN, as template.yaml sets it.
pub const WORKGROUP_ID: &str = "cdcaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

/// moto and the emulator, with what the deployment creates.
pub struct LoopbackAws {
    pub cfg: PipelineConfig,
    /// The functions' variables, as template.yaml would set them here.
    pub vars: HashMap<&'static str, String>,
    pub settings: DeploymentSettings,
    /// Straight to moto.
    pub sdk: SdkConfig,
    pub topic_arn: String,
    pub emulator: Emulator,
    /// Declared last so it drops last: the emulator reads through it.
    pub moto: MotoServer,
}

impl LoopbackAws {
    /// Starts moto (from the venv `scripts/python-tools` makes) and the
    /// emulator, and creates the buckets, the config object holding
    /// `config_text`, the Glue database, the topic and the job table.
    pub async fn start(config_text: &str) -> anyhow::Result<Self> {
        let moto = MotoServer::start().context("starting moto_server (run scripts/python-tools first)")?;
        let sdk = moto.sdk_config().await;
        let s3 = s3_client(&sdk);
        for bucket in [RAW_BUCKET, OPTIMIZED_BUCKET, CONFIG_BUCKET] {
            s3.create_bucket().bucket(bucket).send().await.with_context(|| format!("creating bucket {bucket}"))?;
        }
        let body = config_text.as_bytes().to_vec();
        s3.put_object().bucket(CONFIG_BUCKET).key(CONFIG_KEY).body(body.into()).send().await?;
        let glue = aws_sdk_glue::Client::new(&sdk);
        let db = aws_sdk_glue::types::DatabaseInput::builder().name(GLUE_DATABASE).build()?;
        glue.create_database().database_input(db).send().await.context("creating the Glue database")?;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let topic = sns.create_topic().name("cdc-alerts").send().await?;
        let topic_arn = topic.topic_arn.context("CreateTopic answered no ARN")?;

        let vars = variables(&topic_arn);
        let settings = DeploymentSettings::from_lookup(|k| vars.get(k).cloned())?;
        let cfg = load_config(&sdk, &settings).await?;
        let emulator = Emulator::start(EmulatorConfig { aws: Some(sdk.clone()), ..Default::default() })?;
        AwsPorts::new(&sdk, &settings)?.store.ensure_table().await?;
        Ok(Self { cfg, vars, settings, sdk, topic_arn, emulator, moto })
    }

    /// The ports on `sdk` (moto, or a proxy in front of it), with the Data
    /// API on the emulator and `interceptors` on every client.
    pub fn ports(&self, sdk: &SdkConfig, interceptors: &[SharedInterceptor]) -> anyhow::Result<AwsPorts> {
        let mut ports = AwsPorts::with_interceptors(sdk, &self.settings, interceptors)?;
        let data_api = data_api_client(&self.emulator.endpoint_url(), interceptors);
        ports.warehouse =
            std::sync::Arc::new(cdc_aws::RedshiftDataWarehouse::new(&data_api, self.settings.target.clone())?);
        Ok(ports)
    }
}

/// template.yaml's function variables for this loopback deployment.
fn variables(topic_arn: &str) -> HashMap<&'static str, String> {
    let workgroup =
        format!("arn:aws:redshift-serverless:{}:{}:workgroup/{WORKGROUP_ID}", cdc_moto::REGION, cdc_moto::ACCOUNT_ID);
    HashMap::from([
        ("PIPELINE_CONFIG", format!("s3://{CONFIG_BUCKET}/{CONFIG_KEY}")),
        ("REDSHIFT_WORKGROUP", workgroup),
        ("REDSHIFT_DATABASE", "dev".into()),
        ("REDSHIFT_IAM_ROLE", format!("arn:aws:iam::{}:role/cdc-redshift", cdc_moto::ACCOUNT_ID)),
        ("RAW_LOCATION", format!("s3://{RAW_BUCKET}")),
        ("OPTIMIZED_LOCATION", format!("s3://{OPTIMIZED_BUCKET}/{OPTIMIZED_PREFIX}")),
        ("GLUE_DATABASE", GLUE_DATABASE.into()),
        ("JOB_TABLE", JOB_TABLE.into()),
        ("NOTIFY_TOPIC_ARN", topic_arn.to_string()),
    ])
}

/// A Data API client on `endpoint` (the emulator, or a proxy in front of it).
pub fn data_api_client(endpoint: &str, interceptors: &[SharedInterceptor]) -> aws_sdk_redshiftdata::Client {
    use aws_sdk_redshiftdata::config;
    let mut conf = config::Builder::new()
        .behavior_version(config::BehaviorVersion::latest())
        .region(config::Region::new(cdc_moto::REGION))
        .credentials_provider(config::Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .retry_config(config::retry::RetryConfig::standard().with_max_attempts(5));
    for i in interceptors {
        conf.push_interceptor(i.clone());
    }
    aws_sdk_redshiftdata::Client::from_conf(conf.build())
}
