//! Task states: dispatch to a handler, timeouts, and the Lambda response shape.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde_json::{Value, json};

use super::run::{Context, Halt, Raced, Run, Scope, finish, quote, seconds, select_data, whole_number};
use crate::definition::{Seconds, TaskState, TaskTarget};
use crate::error::{StateError, names};
use crate::handler::{TaskError, TaskHandler};
use crate::history::EventKind;

pub(super) async fn run_task(
    run: &Arc<Run>,
    name: &str,
    task: &TaskState,
    input: &Value,
    context: &Context<'_>,
    scope: &Scope,
) -> Result<Value, Halt> {
    let effective = select_data(&task.io.input_path, input.clone(), context, "InputPath")?;
    let parameters = match &task.parameters {
        Some(parameters) => run.render(parameters, &effective, context)?,
        None => effective.clone(),
    };
    let timeout = match &task.timeout {
        None => None,
        Some(Seconds::Fixed(n)) => Some(*n),
        Some(Seconds::Path(path)) => Some(whole_number(path, &effective, context, "TimeoutSecondsPath", 1)?),
    };
    let (function_name, payload, handler) = match task.target {
        TaskTarget::LambdaInvoke => {
            let Some(function) = parameters.get("FunctionName").and_then(Value::as_str) else {
                return Err(Halt::Failed(StateError::runtime(format!(
                    "Parameters.FunctionName of state '{name}' must be a string; the parameters were '{}'",
                    quote(&parameters)
                ))));
            };
            let payload = parameters.get("Payload").cloned().unwrap_or_else(|| json!({}));
            (Some(function.to_string()), payload, run.handlers.lambda(function))
        }
        TaskTarget::LambdaArn => (Some(task.resource.clone()), parameters, run.handlers.lambda(&task.resource)),
        TaskTarget::Service => (None, parameters, run.handlers.resource(&task.resource)),
    };
    run.record(
        scope,
        EventKind::TaskScheduled {
            name: name.to_string(),
            resource: task.resource.clone(),
            function_name: function_name.clone(),
            payload: payload.clone(),
            timeout_seconds: timeout,
        },
    );
    let outcome = match handler {
        Some(handler) => {
            let target = function_name.as_deref().unwrap_or(&task.resource);
            let task_deadline = timeout.map(|t| run.clock.now() + seconds(t as f64));
            let call = TASK_STATE.scope(name.to_string(), invoke(handler, target, payload));
            match run.race(call, task_deadline).await {
                Raced::Done(outcome) => outcome,
                Raced::TaskTimedOut => {
                    let cause =
                        format!("The task ran longer than its TimeoutSeconds ({} s).", timeout.unwrap_or_default());
                    run.record(
                        scope,
                        EventKind::TaskTimedOut {
                            name: name.to_string(),
                            resource: task.resource.clone(),
                            error: names::TIMEOUT.to_string(),
                            cause: Some(cause.clone()),
                        },
                    );
                    return Err(Halt::Failed(StateError::new(names::TIMEOUT, cause)));
                }
                Raced::ExecutionTimedOut => return Err(Halt::TimedOut),
            }
        }
        None => match &function_name {
            Some(function) => {
                Err(TaskError::new(names::LAMBDA_RESOURCE_NOT_FOUND, format!("Function not found: {function}")))
            }
            None => {
                return Err(Halt::Failed(StateError::runtime(format!(
                    "No handler is registered for the resource '{}' of state '{name}'",
                    task.resource
                ))));
            }
        },
    };
    let result = match outcome {
        Ok(value) => value,
        Err(failure) => {
            run.record(
                scope,
                EventKind::TaskFailed {
                    name: name.to_string(),
                    resource: task.resource.clone(),
                    error: failure.error.clone(),
                    cause: Some(failure.cause.clone()),
                },
            );
            return Err(Halt::Failed(StateError { error: failure.error, cause: Some(failure.cause) }));
        }
    };
    let result = if task.target == TaskTarget::LambdaInvoke {
        let request_id = run.with_rng(crate::intrinsics::new_uuid);
        lambda_invoke_output(result, &request_id, run.clock.now())
    } else {
        result
    };
    run.record(
        scope,
        EventKind::TaskSucceeded { name: name.to_string(), resource: task.resource.clone(), output: result.clone() },
    );
    finish(run, &task.io, task.result_selector.as_ref(), &task.result_path, input, result, context)
}

tokio::task_local! {
    /// The Task state whose handler is running, for code below the handler
    /// that reports or injects faults per state ([`current_task_state`]).
    static TASK_STATE: String;
}

/// The name of the Task state whose handler this code runs under, if any.
/// Work the handler moves to another task (`tokio::spawn`) does not see it.
pub fn current_task_state() -> Option<String> {
    TASK_STATE.try_with(Clone::clone).ok()
}

/// Calls a handler; a panic becomes a `States.TaskFailed` error of the task.
pub(super) async fn invoke(
    handler: Arc<dyn TaskHandler>,
    function_name: &str,
    payload: Value,
) -> Result<Value, TaskError> {
    match AssertUnwindSafe(handler.invoke(function_name, payload)).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(TaskError::new(names::TASK_FAILED, format!("The handler of '{function_name}' panicked: {message}")))
        }
    }
}

/// What `arn:aws:states:::lambda:invoke` returns: the function's output in
/// `Payload`, wrapped in the Lambda Invoke API response.
pub(super) fn lambda_invoke_output(payload: Value, request_id: &str, now: DateTime<Utc>) -> Value {
    let length = payload.to_string().len().to_string();
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": [request_id],
                "Content-Length": [length],
                "Date": [date],
                "Content-Type": ["application/json"]
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Length": length,
                "Content-Type": "application/json",
                "Date": date,
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id
            },
            "HttpStatusCode": 200
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200
    })
}
