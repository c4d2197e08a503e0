//! The Lambda edge the five functions share (`functions/*` are one line
//! each): the deployment built once per execution environment from the
//! variables template.yaml sets, one handler that runs a step through
//! [`cdc_core::steps::dispatch`], and errors as the state machine's error
//! types (`Retryable`, `DataError`, `ConfigError`: docs/architecture.md).
//!
//! Logs are `tracing` lines, JSON when the template's `LoggingConfig` sets
//! `AWS_LAMBDA_LOG_FORMAT=JSON`, each inside a span carrying the job and
//! execution ids. Claims and finished loads also print each table's
//! freshness in CloudWatch's embedded metric format.

mod deployment;
mod freshness;
mod invoke;

pub use cdc_core::steps::dispatch::Function;
pub use deployment::Deployment;
pub use freshness::{FRESHNESS_METRIC, METRIC_NAMESPACE, freshness_records};
pub use invoke::{diagnostic, handle};
pub use lambda_runtime::Error;

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

/// A function's `main`: logging, the cold start, then the Runtime API loop.
pub async fn serve(function: Function) -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deployment = Arc::new(Deployment::from_env().await);
    if let Err(e) = deployment.check() {
        // Every invocation answers with this error (a ConfigError the state
        // machine catches and notifies), so it is logged once here.
        tracing::error!(function = function.name(), error = %e, "the function's settings are wrong");
    }
    // Boxed: the steps' futures (through the AWS SDK) are deeper than the
    // compiler's default layout depth in the functions' crates.
    let runtime = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deployment = Arc::clone(&deployment);
        Box::pin(async move { handle(&deployment, function, event).await })
    }));
    Box::pin(runtime).await
}
