//! One invocation: the step the payload's `action` names, inside a span
//! with the job and execution ids, its error as the Lambda `errorType`
//! the state machine's Retry and Catch match on.

use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

use cdc_core::PipelineError;
use cdc_core::steps::dispatch::{Function, dispatch, in_function};

use crate::Deployment;
use crate::freshness::freshness_records;

/// The Runtime API's error body: `errorType` is the error class
/// (`Retryable`, `DataError`, `ConfigError`), `errorMessage` names the
/// table, file, field or variable.
pub fn diagnostic(e: &PipelineError) -> Diagnostic {
    Diagnostic { error_type: e.kind.as_str().to_string(), error_message: e.message.clone() }
}

/// Runs one step for `event` on the deployment's ports.
pub async fn handle(
    deployment: &Deployment,
    function: Function,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic> {
    let payload = event.payload;
    let field = |name: &str| payload.get(name).and_then(Value::as_str).unwrap_or("").to_string();
    let span = tracing::info_span!(
        "step",
        function = function.name(),
        action = %field("action"),
        job_id = %field("job_id"),
        execution_id = %execution_id(&payload),
        table = %field("table"),
        request_id = %event.context.request_id,
    );
    async {
        let outcome = run(deployment, function, &payload).await;
        match &outcome {
            Ok(out) => {
                let status = out.get("status").and_then(Value::as_str).unwrap_or("");
                tracing::info!(status, "step done");
                for record in freshness_records(function, &payload, out, Utc::now()) {
                    // The embedded metric format: one JSON line on stdout.
                    println!("{record}");
                }
            }
            Err(e) => tracing::warn!(error_type = e.kind.as_str(), error = %e.message, "step failed"),
        }
        outcome.map_err(|e| diagnostic(&e))
    }
    .instrument(span)
    .await
}

/// The execution a payload is for; the status-change rule's event names it
/// in its detail.
fn execution_id(payload: &Value) -> &str {
    payload
        .get("execution_id")
        .or_else(|| payload.get("detail").and_then(|d| d.get("executionArn")))
        .and_then(Value::as_str)
        .unwrap_or("")
}

async fn run(deployment: &Deployment, function: Function, payload: &Value) -> Result<Value, PipelineError> {
    if !payload.is_object() {
        return Err(PipelineError::config(format!(
            "function {}: the event is not a JSON object: {payload}",
            function.name()
        )));
    }
    // The config read is this function's call too (the IAM check records it).
    in_function(function, async {
        let ctx = deployment.context().await?;
        dispatch(&ctx, function, payload).await
    })
    .await
}
