//! Faults at a function's invoke, where the Lambda service would make them.
//! The error names are the ones Step Functions reports for the Lambda
//! integration (*Handle Lambda service exceptions*, Step Functions
//! Developer Guide): throttled invokes are `Lambda.TooManyRequestsException`,
//! service faults `Lambda.ServiceException`, and a function timeout, being
//! unhandled, `Lambda.Unknown`. The state machine retries the first two and
//! catches the third.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use cdc_asl::{TaskError, VirtualClock};
use cdc_core::steps::dispatch::Function;

use super::faults::{FaultKind, Injector};
use crate::pipeline_run::{ExecutionStop, StepCall, TaskHook};

/// template.yaml's function `Timeout`.
const LAMBDA_TIMEOUT_SECONDS: i64 = 60;

pub struct InvokeFaults {
    pub faults: Arc<Injector>,
    /// A timed-out function takes its whole timeout of the execution's time.
    pub clock: Arc<VirtualClock>,
}

#[async_trait]
impl TaskHook for InvokeFaults {
    async fn call(
        &self,
        f: Function,
        _payload: &Value,
        step: StepCall<'_>,
        stop: &ExecutionStop,
    ) -> Result<Value, TaskError> {
        let Some(kind) = self.faults.decide(FaultKind::AT_INVOKE) else { return step.await };
        let name = f.name();
        match kind {
            FaultKind::InvokeThrottled => {
                Err(TaskError::new("Lambda.TooManyRequestsException", format!("Rate Exceeded. ({name}, injected)")))
            }
            FaultKind::AnswerLost => {
                let _ = step.await;
                Err(TaskError::new(
                    "Lambda.ServiceException",
                    format!("{name} ran; its answer was lost (injected by the chaos run)"),
                ))
            }
            FaultKind::LambdaTimeout => {
                if self.faults.chance(0.5) {
                    let _ = step.await;
                }
                self.clock.advance(chrono::TimeDelta::seconds(LAMBDA_TIMEOUT_SECONDS));
                Err(TaskError::new(
                    "Lambda.Unknown",
                    format!(
                        "The cause could not be determined because Lambda did not return an error type. Returned \
                         payload: {{\"errorMessage\":\"Task timed out after {LAMBDA_TIMEOUT_SECONDS}.00 seconds\"}} \
                         ({name}, injected)"
                    ),
                ))
            }
            FaultKind::Killed | FaultKind::Stopped => {
                if self.faults.chance(0.5) {
                    let _ = step.await;
                }
                match kind {
                    FaultKind::Killed => stop.kill(),
                    _ => stop.stop(),
                }
                // The execution ends here; this call never answers.
                std::future::pending().await
            }
            // Only invoke faults are offered here.
            _ => step.await,
        }
    }
}
