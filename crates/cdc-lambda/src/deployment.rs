//! What a function builds once per execution environment: the settings
//! from its variables and every AWS client. The pipeline config (an S3
//! object, so it changes without a rebuild or redeploy) is read on the
//! first invocation and then revalidated by ETag on each one, so a warm
//! environment never runs a config older than the object.

use std::sync::Arc;

use aws_config::SdkConfig;
use chrono::Utc;
use tokio::sync::Mutex;

use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use cdc_aws::deployment::{AwsPorts, DeploymentSettings, FetchedConfig, load_config_with, s3_client_with};
use cdc_core::PipelineError;
use cdc_core::steps::dispatch::StepContext;

/// One function's deployment: settings and ports, or why they are wrong.
pub struct Deployment {
    /// Reads the pipeline config object.
    s3: aws_sdk_s3::Client,
    built: Result<(DeploymentSettings, AwsPorts), PipelineError>,
    current: Mutex<Option<Current>>,
}

/// The step context on the config as last read, and that read's ETag.
struct Current {
    context: Arc<StepContext>,
    etag: Option<String>,
}

impl Deployment {
    /// From the process environment (the Lambda's variables and credentials),
    /// with the pipeline's retry and timeout settings.
    pub async fn from_env() -> Self {
        let sdk = cdc_aws::client_config::load_from_env().await;
        Self::new(sdk, |name| std::env::var(name).ok())
    }

    /// From any variable source and SDK config (the tests' moto and Data API emulator).
    pub fn new(sdk: SdkConfig, lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self::with_interceptors(sdk, lookup, &[])
    }

    /// With interceptors on every client (the tests record each SDK call
    /// for the IAM check).
    pub fn with_interceptors(
        sdk: SdkConfig,
        lookup: impl Fn(&str) -> Option<String>,
        interceptors: &[SharedInterceptor],
    ) -> Self {
        let built = DeploymentSettings::from_lookup(lookup).and_then(|settings| {
            let ports = AwsPorts::with_interceptors(&sdk, &settings, interceptors)?;
            Ok((settings, ports))
        });
        Self { s3: s3_client_with(&sdk, interceptors), built, current: Mutex::new(None) }
    }

    /// Whether the settings were good; an error names the variable.
    pub fn check(&self) -> Result<(), PipelineError> {
        self.built.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// The step context on the current pipeline config.
    pub async fn context(&self) -> Result<Arc<StepContext>, PipelineError> {
        let (settings, ports) = self.built.as_ref().map_err(Clone::clone)?;
        let mut current = self.current.lock().await;
        let known = current.as_ref().and_then(|c| c.etag.as_deref());
        if let Some(FetchedConfig { config, etag }) = load_config_with(&self.s3, settings, known).await? {
            if current.is_some() {
                tracing::info!(config = %settings.config_uri(), "the pipeline config changed; using the new one");
            }
            let context = Arc::new(ports.step_context(config, settings, Arc::new(Utc::now)));
            *current = Some(Current { context, etag });
        }
        Ok(Arc::clone(&current.as_ref().expect("a context was read").context))
    }
}
