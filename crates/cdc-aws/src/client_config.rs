//! The SDK configuration every AWS client of the pipeline is built from.
//!
//! Region, credentials and endpoint come from the environment the usual way
//! (Lambda's variables, `AWS_PROFILE`, `AWS_REGION`…). `AWS_ENDPOINT_URL`
//! (or a service's own `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SNS`…)
//! points the real clients at a local server such as moto; aws-config reads
//! it itself, so no code path differs between AWS and a local emulation.
//!
//! Retries are set here, explicitly, rather than left to defaults that may
//! change between SDK releases: standard mode (exponential backoff with
//! jitter and a client-side retry quota) with 5 attempts, so throttling and
//! 5xx errors are absorbed inside one Lambda invocation before they surface
//! as `Retryable` to the state machine, which retries at its own pace.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

/// Attempts per call, the first included.
pub const MAX_ATTEMPTS: u32 = 5;

/// Standard retry mode with [`MAX_ATTEMPTS`].
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// Bounds so a dead connection fails an attempt (then retried) instead of
/// eating the Lambda's whole timeout.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(30))
        .build()
}

/// The configuration from the environment, with this crate's retry and
/// timeout settings (they win over `AWS_MAX_ATTEMPTS` and `AWS_RETRY_MODE`).
/// HTTPS trusts the compiled-in Amazon Trust Services roots unless `SSL_CERT_FILE` or
/// `SSL_CERT_DIR` is set (see [`crate::https_client`]).
pub async fn load_from_env() -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(retry_config()).timeout_config(timeout_config());
    if let Some(client) = crate::https_client::for_environment(|name| std::env::var(name).ok()) {
        loader = loader.http_client(client);
    }
    loader.load().await
}
