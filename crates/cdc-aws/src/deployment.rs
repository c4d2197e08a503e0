//! One deployment's AWS ports, from the environment template.yaml gives
//! every function, so a Lambda (and the AWS integration tests, through the
//! same code) builds them once at cold start.
//!
//! | variable | meaning |
//! |---|---|
//! | `PIPELINE_CONFIG` | `s3://bucket/key` of the pipeline config (TOML), read at cold start |
//! | `REDSHIFT_*` | the Data API target, see [`crate::redshift_data_warehouse::target`] |
//! | `REDSHIFT_IAM_ROLE` | role ARN Spectrum and UNLOAD use; empty: the cluster's default role |
//! | `RAW_LOCATION` | `s3://bucket/prefix` where DMS writes |
//! | `OPTIMIZED_LOCATION` | `s3://bucket/prefix` of the optimized zone |
//! | `OPTIMIZED_KMS_KEY_ID` | KMS key UNLOAD encrypts the optimized files with (SSE-KMS); empty: SSE-S3 |
//! | `GLUE_DATABASE` | Glue database of the raw and optimized tables |
//! | `JOB_TABLE` | DynamoDB job-state table |
//! | `NOTIFY_TOPIC_ARN` | SNS topic of failure and recovery notices |
//! | `LEASE_SECONDS` | job lease (default 3600: longer than the state machine's timeout) |
//! | `HISTORY_DAYS` | how long run records are kept (default 90) |
//! | `REMINDER_MINUTES` | least time between two notices of one failure (default 60) |
//!
//! Every problem names its variable, so a wrong template parameter fails
//! the cold start with one clear line.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

use cdc_core::job::Lease;
use cdc_core::notify::NotifyPolicy;
use cdc_core::steps::dispatch::{Now, StepContext};
use cdc_core::{PipelineConfig, PipelineError};

use crate::redshift_data_warehouse::target::RedshiftTarget;
use crate::{
    DynamoDbJobStore, GlueCatalog, GlueRawCatalog, RedshiftDataWarehouse, S3Location, S3OptimizedZone, S3RawZone,
    SnsNotifier,
};

pub const ENV_PIPELINE_CONFIG: &str = "PIPELINE_CONFIG";
pub const ENV_REDSHIFT_IAM_ROLE: &str = "REDSHIFT_IAM_ROLE";
pub const ENV_RAW_LOCATION: &str = "RAW_LOCATION";
pub const ENV_OPTIMIZED_LOCATION: &str = "OPTIMIZED_LOCATION";
pub const ENV_OPTIMIZED_KMS_KEY_ID: &str = "OPTIMIZED_KMS_KEY_ID";
pub const ENV_GLUE_DATABASE: &str = "GLUE_DATABASE";
pub const ENV_JOB_TABLE: &str = "JOB_TABLE";
pub const ENV_NOTIFY_TOPIC_ARN: &str = "NOTIFY_TOPIC_ARN";
pub const ENV_LEASE_SECONDS: &str = "LEASE_SECONDS";
pub const ENV_HISTORY_DAYS: &str = "HISTORY_DAYS";
pub const ENV_REMINDER_MINUTES: &str = "REMINDER_MINUTES";

/// Every variable a function reads, for the template check.
pub const ALL_VARIABLES: &[&str] = &[
    ENV_PIPELINE_CONFIG,
    crate::redshift_data_warehouse::target::ENV_CLUSTER_ID,
    crate::redshift_data_warehouse::target::ENV_WORKGROUP,
    crate::redshift_data_warehouse::target::ENV_DATABASE,
    crate::redshift_data_warehouse::target::ENV_DB_USER,
    crate::redshift_data_warehouse::target::ENV_SECRET_ARN,
    ENV_REDSHIFT_IAM_ROLE,
    ENV_RAW_LOCATION,
    ENV_OPTIMIZED_LOCATION,
    ENV_OPTIMIZED_KMS_KEY_ID,
    ENV_GLUE_DATABASE,
    ENV_JOB_TABLE,
    ENV_NOTIFY_TOPIC_ARN,
    ENV_LEASE_SECONDS,
    ENV_HISTORY_DAYS,
    ENV_REMINDER_MINUTES,
];

/// A deployment's settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentSettings {
    pub config_location: S3Location,
    pub config_key: String,
    pub target: RedshiftTarget,
    pub iam_role: Option<String>,
    pub raw: S3Location,
    pub optimized: S3Location,
    /// The KMS key UNLOAD writes the optimized files with (SSE-KMS).
    pub optimized_kms_key: Option<String>,
    pub glue_database: String,
    pub job_table: String,
    pub topic_arn: String,
    pub lease: Lease,
    pub history: Duration,
    pub policy: NotifyPolicy,
}

impl DeploymentSettings {
    pub fn from_env() -> Result<Self, PipelineError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From any variable source, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, PipelineError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let required = |name: &str| get(name).ok_or_else(|| PipelineError::config(format!("{name} is not set")));
        let location = |name: &str| {
            S3Location::parse(&required(name)?).map_err(|e| PipelineError::config(format!("{name}: {}", e.message)))
        };
        let number = |name: &str, default: u64| -> Result<u64, PipelineError> {
            match get(name) {
                None => Ok(default),
                Some(v) => {
                    v.parse::<u64>().map_err(|_| PipelineError::config(format!("{name} {v:?} is not a whole number")))
                }
            }
        };
        let (config_location, config_key) = config_object(&required(ENV_PIPELINE_CONFIG)?)?;
        let lease = Lease::new(Duration::from_secs(number(ENV_LEASE_SECONDS, 3600)?))
            .map_err(|e| PipelineError::config(format!("{ENV_LEASE_SECONDS}: {}", e.message)))?;
        let settings = Self {
            config_location,
            config_key,
            target: RedshiftTarget::from_lookup(&lookup)?,
            iam_role: get(ENV_REDSHIFT_IAM_ROLE),
            raw: location(ENV_RAW_LOCATION)?,
            optimized: location(ENV_OPTIMIZED_LOCATION)?,
            optimized_kms_key: get(ENV_OPTIMIZED_KMS_KEY_ID),
            glue_database: required(ENV_GLUE_DATABASE)?,
            job_table: required(ENV_JOB_TABLE)?,
            topic_arn: required(ENV_NOTIFY_TOPIC_ARN)?,
            lease,
            history: Duration::from_secs(number(ENV_HISTORY_DAYS, 90)?.max(1) * 86_400),
            policy: NotifyPolicy { reminder_interval: Duration::from_secs(number(ENV_REMINDER_MINUTES, 60)? * 60) },
        };
        if !settings.topic_arn.starts_with("arn:") {
            return Err(PipelineError::config(format!(
                "{ENV_NOTIFY_TOPIC_ARN} {:?} is not an SNS topic ARN",
                settings.topic_arn
            )));
        }
        Ok(settings)
    }

    /// `s3://bucket/key` of the pipeline config, as set.
    pub fn config_uri(&self) -> String {
        format!("s3://{}/{}", self.config_location.bucket(), self.config_key)
    }
}

/// `s3://bucket/key`: the bucket's location and the object's key.
fn config_object(uri: &str) -> Result<(S3Location, String), PipelineError> {
    let bad = |why: &str| PipelineError::config(format!("{ENV_PIPELINE_CONFIG} {uri:?} {why}"));
    let rest = uri.strip_prefix("s3://").ok_or_else(|| bad("does not start with s3://"))?;
    let (bucket, key) = rest.split_once('/').ok_or_else(|| bad("names no object (s3://bucket/key)"))?;
    if key.is_empty() || key.ends_with('/') {
        return Err(bad("names a folder, not an object"));
    }
    let location = S3Location::new(bucket, "").map_err(|e| bad(&e.message))?;
    Ok((location, key.to_string()))
}

/// Reads and checks the pipeline config object; errors name it.
pub async fn load_config(sdk: &SdkConfig, settings: &DeploymentSettings) -> Result<PipelineConfig, PipelineError> {
    let fetched = load_config_if_changed(sdk, settings, None).await?;
    Ok(fetched.expect("an unconditional read returns the object").config)
}

/// The pipeline config as read, with the object's ETag to ask next time
/// whether it changed.
#[derive(Debug, Clone)]
pub struct FetchedConfig {
    pub config: PipelineConfig,
    pub etag: Option<String>,
}

/// Reads the pipeline config unless its ETag is still `known_etag`
/// (a conditional GET: a 304 costs no transfer and no parse). `None`: unchanged.
pub async fn load_config_if_changed(
    sdk: &SdkConfig,
    settings: &DeploymentSettings,
    known_etag: Option<&str>,
) -> Result<Option<FetchedConfig>, PipelineError> {
    load_config_with(&s3_client(sdk), settings, known_etag).await
}

/// [`load_config_if_changed`] with a client built once (the Lambda's).
pub async fn load_config_with(
    s3: &aws_sdk_s3::Client,
    settings: &DeploymentSettings,
    known_etag: Option<&str>,
) -> Result<Option<FetchedConfig>, PipelineError> {
    let uri = settings.config_uri();
    let request = s3.get_object().bucket(settings.config_location.bucket()).key(&settings.config_key);
    let object = match request.set_if_none_match(known_etag.map(str::to_string)).send().await {
        Ok(object) => object,
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) => return Ok(None),
        Err(e) => {
            return Err(crate::sdk_error::to_pipeline_error(&e, &format!("S3 GetObject of the pipeline config {uri}")));
        }
    };
    // A server that ignores If-None-Match still tells by the ETag.
    if known_etag.is_some() && object.e_tag.as_deref() == known_etag {
        return Ok(None);
    }
    let etag = object.e_tag.clone();
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| PipelineError::retryable(format!("reading the pipeline config {uri}: {e}")))?
        .into_bytes();
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| PipelineError::config(format!("the pipeline config {uri} is not UTF-8 text")))?;
    let config = PipelineConfig::parse(text, &uri).map_err(|e| PipelineError::config(e.to_string()))?;
    Ok(Some(FetchedConfig { config, etag }))
}

/// An S3 client; path-style addressing when an endpoint is set
/// (`AWS_ENDPOINT_URL`): local S3 servers (moto, MinIO) do not resolve
/// bucket host names, while AWS itself gets virtual-hosted requests.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    s3_client_with(sdk, &[])
}

/// [`s3_client`] with interceptors (the tests' [`crate::iam_record::CallRecorder`]).
pub fn s3_client_with(sdk: &SdkConfig, interceptors: &[SharedInterceptor]) -> aws_sdk_s3::Client {
    let local = sdk.endpoint_url().is_some();
    let mut b = aws_sdk_s3::config::Builder::from(sdk).force_path_style(local);
    for i in interceptors {
        b.push_interceptor(i.clone());
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// Every AWS port of one deployment, each client built once.
#[derive(Clone)]
pub struct AwsPorts {
    pub warehouse: Arc<RedshiftDataWarehouse>,
    pub raw: Arc<S3RawZone>,
    pub raw_catalog: Arc<GlueRawCatalog>,
    pub zone: Arc<S3OptimizedZone>,
    pub catalog: Arc<GlueCatalog>,
    pub store: Arc<DynamoDbJobStore>,
    pub notifier: Arc<SnsNotifier>,
}

impl AwsPorts {
    pub fn new(sdk: &SdkConfig, settings: &DeploymentSettings) -> Result<Self, PipelineError> {
        Self::with_interceptors(sdk, settings, &[])
    }

    /// Every client with `interceptors` pushed onto its config (the tests
    /// record each SDK call for the IAM check this way).
    pub fn with_interceptors(
        sdk: &SdkConfig,
        settings: &DeploymentSettings,
        interceptors: &[SharedInterceptor],
    ) -> Result<Self, PipelineError> {
        let s3 = s3_client_with(sdk, interceptors);
        let mut glue = aws_sdk_glue::config::Builder::from(sdk);
        let mut data = aws_sdk_redshiftdata::config::Builder::from(sdk);
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk);
        let mut sns = aws_sdk_sns::config::Builder::from(sdk);
        for i in interceptors {
            glue.push_interceptor(i.clone());
            data.push_interceptor(i.clone());
            dynamodb.push_interceptor(i.clone());
            sns.push_interceptor(i.clone());
        }
        let glue = aws_sdk_glue::Client::from_conf(glue.build());
        let role = settings.iam_role.as_deref();
        Ok(Self {
            warehouse: Arc::new(RedshiftDataWarehouse::new(
                &aws_sdk_redshiftdata::Client::from_conf(data.build()),
                settings.target.clone(),
            )?),
            raw: Arc::new(S3RawZone::new(s3.clone(), settings.raw.clone())),
            raw_catalog: Arc::new(
                GlueRawCatalog::new(glue.clone(), &settings.glue_database, settings.raw.clone())
                    .with_spectrum_role(role),
            ),
            zone: Arc::new(
                S3OptimizedZone::new(s3, settings.optimized.clone(), settings.raw.clone(), role)
                    .with_kms_key(settings.optimized_kms_key.as_deref()),
            ),
            catalog: Arc::new(GlueCatalog::new(glue, &settings.glue_database)),
            store: Arc::new(DynamoDbJobStore::new(
                aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
                &settings.job_table,
                settings.history,
            )?),
            notifier: Arc::new(SnsNotifier::new(aws_sdk_sns::Client::from_conf(sns.build()), &settings.topic_arn)),
        })
    }

    /// The steps' context on these ports; `now` is the clock (real time on AWS).
    pub fn step_context(&self, cfg: PipelineConfig, settings: &DeploymentSettings, now: Now) -> StepContext {
        StepContext {
            cfg,
            warehouse: self.warehouse.clone(),
            raw: self.raw.clone(),
            raw_catalog: self.raw_catalog.clone(),
            zone: self.zone.clone(),
            catalog: self.catalog.clone(),
            store: self.store.clone(),
            notifier: self.notifier.clone(),
            policy: settings.policy,
            lease: settings.lease,
            unload_now: Arc::clone(&now),
            now,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        ("PIPELINE_CONFIG", "s3://cfg-bucket/cdc/pipeline.toml"),
        ("REDSHIFT_WORKGROUP", "analytics"),
        ("REDSHIFT_DATABASE", "dev"),
        ("RAW_LOCATION", "s3://raw-bucket/dms"),
        ("OPTIMIZED_LOCATION", "s3://opt-bucket/cdc/"),
        ("GLUE_DATABASE", "cdc_raw"),
        ("JOB_TABLE", "cdc-job-state"),
        ("NOTIFY_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:cdc"),
        ("REDSHIFT_IAM_ROLE", ""),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = GOOD.iter().filter(|(k, _)| extra.iter().all(|(e, _)| e != k)).copied().collect();
        v.extend(extra.iter().filter(|(_, val)| !val.is_empty()));
        v
    }

    #[test]
    fn a_complete_environment_reads_with_defaults() {
        // GIVEN the variables the template sets WHEN read
        let s = DeploymentSettings::from_lookup(env(GOOD)).unwrap();
        // THEN each lands where it belongs, empty means unset, and the defaults apply
        assert_eq!(s.config_uri(), "s3://cfg-bucket/cdc/pipeline.toml");
        assert_eq!((s.raw.bucket(), s.raw.prefix()), ("raw-bucket", "dms/"));
        assert_eq!(s.iam_role, None);
        assert_eq!(s.lease.duration(), Duration::from_secs(3600));
        assert_eq!(s.history, Duration::from_secs(90 * 86_400));
        assert_eq!(s.policy.reminder_interval, Duration::from_secs(3600));
    }

    #[test]
    fn every_bad_variable_is_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("JOB_TABLE", "")], "JOB_TABLE is not set"),
            (&[("PIPELINE_CONFIG", "s3://bucket/")], "PIPELINE_CONFIG \"s3://bucket/\" names a folder"),
            (&[("PIPELINE_CONFIG", "/etc/pipeline.toml")], "PIPELINE_CONFIG \"/etc/pipeline.toml\" does not start"),
            (&[("RAW_LOCATION", "raw-bucket/dms")], "RAW_LOCATION: "),
            (&[("LEASE_SECONDS", "ten")], "LEASE_SECONDS \"ten\" is not a whole number"),
            (&[("LEASE_SECONDS", "5")], "LEASE_SECONDS: lease of 5s is out of range"),
            (&[("NOTIFY_TOPIC_ARN", "cdc-topic")], "NOTIFY_TOPIC_ARN \"cdc-topic\" is not an SNS topic ARN"),
            (&[("REDSHIFT_WORKGROUP", "")], "REDSHIFT_CLUSTER_ID"),
        ];
        for (change, expected) in cases {
            let err = DeploymentSettings::from_lookup(env(&with(change))).unwrap_err();
            assert_eq!(err.kind, cdc_core::ErrorKind::ConfigError, "{change:?}");
            assert!(err.message.contains(expected), "{change:?}: {}", err.message);
        }
    }
}
