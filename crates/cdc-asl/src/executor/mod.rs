//! Runs a [`StateMachine`]: the public entry point. The state loop lives in
//! `states`, tasks in `task`, Map and Parallel in `fork`, and the state
//! shared by an execution's branches in `run`.

mod fork;
mod run;
mod states;
mod task;
pub use task::current_task_state;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::definition::StateMachine;
use crate::error::names;
use crate::handler::HandlerRegistry;
use crate::history::{EventKind, HistoryEvent};
use crate::timestamp;
use run::{Halt, Run, Scope, seconds};
use states::run_graph;

/// The account and region in the ARNs of local executions.
const ACCOUNT: &str = "000000000000";
const REGION: &str = "local";

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

/// A finished execution, as `DescribeExecution` and `GetExecutionHistory` would show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub execution_arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub start_time: DateTime<Utc>,
    pub stop_time: DateTime<Utc>,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEvent>,
}

/// Settings of an [`Executor`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutorOptions {
    /// Seeds retry jitter, `States.UUID`, `States.MathRandom` and Lambda
    /// request ids. With a seed, runs are repeatable; without one they
    /// are random.
    pub rng_seed: Option<u64>,
}

/// Runs executions of one state machine against in-process task handlers.
pub struct Executor {
    machine: Arc<StateMachine>,
    handlers: HandlerRegistry,
    clock: Arc<dyn Clock>,
    options: ExecutorOptions,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("machine", &self.machine.name()).field("handlers", &self.handlers).finish()
    }
}

impl Executor {
    pub fn new(machine: StateMachine, handlers: HandlerRegistry, clock: Arc<dyn Clock>) -> Self {
        Executor { machine: Arc::new(machine), handlers, clock, options: ExecutorOptions::default() }
    }

    pub fn with_options(mut self, options: ExecutorOptions) -> Self {
        self.options = options;
        self
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    /// The Lambda functions and resources the definition names literally
    /// that have no handler: a local run would fail when it reached them.
    pub fn missing_handlers(&self) -> Vec<String> {
        let lambdas = self.machine.lambda_functions().into_iter().filter(|f| self.handlers.lambda(f).is_none());
        let services = self.machine.service_resources().into_iter().filter(|r| self.handlers.resource(r).is_none());
        lambdas.chain(services).collect()
    }

    /// `arn:aws:states:local:000000000000:execution:<machine>:<name>`.
    pub fn execution_arn(&self, name: &str) -> String {
        format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{}:{name}", self.machine.name())
    }

    /// Runs an execution to its end.
    pub async fn start(&self, name: &str, input: Value) -> Execution {
        self.start_with_abort(name, input, futures::future::pending::<()>()).await
    }

    /// Runs an execution until it ends or `abort` completes, which stops it
    /// as `StopExecution` would (status `Aborted`).
    pub async fn start_with_abort(
        &self,
        name: &str,
        input: Value,
        abort: impl Future<Output = ()> + Send,
    ) -> Execution {
        let seed = self.options.rng_seed.unwrap_or_else(|| rand::rng().next_u64());
        let start_time = self.clock.now();
        let execution_arn = self.execution_arn(name);
        let machine_name = self.machine.name();
        let context_base = json!({
            "Execution": {
                "Id": execution_arn,
                "Input": input,
                "Name": name,
                "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/{machine_name}-role"),
                "StartTime": timestamp::format(start_time),
            },
            "StateMachine": {
                "Id": format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine_name}"),
                "Name": machine_name,
            },
        });
        let deadline = self.machine.timeout_seconds().map(|s| start_time + seconds(s as f64));
        let run = Arc::new(Run {
            clock: self.clock.clone(),
            handlers: self.handlers.clone(),
            seed,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            history: Mutex::new(Vec::new()),
            context_base,
            deadline,
        });
        let top = Scope::top();
        run.record(&top, EventKind::ExecutionStarted { execution_arn: execution_arn.clone(), input: input.clone() });

        let work = run_graph(run.clone(), self.machine.graph.clone(), input.clone(), top.clone());
        // A real clock enforces the machine timeout with a timer as well, so a
        // hanging handler cannot hold the execution past it.
        let timer = {
            let clock = self.clock.clone();
            async move {
                match deadline {
                    Some(deadline) if !clock.is_virtual() => clock.sleep_until(deadline).await,
                    _ => futures::future::pending::<()>().await,
                }
            }
        };
        let outcome = tokio::select! {
            result = work => Some(result),
            () = timer => Some(Err(Halt::TimedOut)),
            () = abort => None,
        };

        let (status, output, error, cause) = match outcome {
            Some(Ok(output)) => {
                run.record(&top, EventKind::ExecutionSucceeded { output: output.clone() });
                (ExecutionStatus::Succeeded, Some(output), None, None)
            }
            Some(Err(Halt::Failed(e))) => {
                run.record(&top, EventKind::ExecutionFailed { error: e.error.clone(), cause: e.cause.clone() });
                (ExecutionStatus::Failed, None, Some(e.error).filter(|e| !e.is_empty()), e.cause)
            }
            Some(Err(Halt::TimedOut)) => {
                let timeout = self.machine.timeout_seconds().unwrap_or_default();
                let cause = format!("The execution ran longer than the state machine's TimeoutSeconds ({timeout} s).");
                run.record(
                    &top,
                    EventKind::ExecutionTimedOut { error: names::TIMEOUT.to_string(), cause: Some(cause.clone()) },
                );
                (ExecutionStatus::TimedOut, None, Some(names::TIMEOUT.to_string()), Some(cause))
            }
            None => {
                run.record(&top, EventKind::ExecutionAborted);
                (ExecutionStatus::Aborted, None, None, None)
            }
        };
        let history = std::mem::take(&mut *run.history.lock().unwrap_or_else(PoisonError::into_inner));
        Execution {
            execution_arn,
            name: name.to_string(),
            status,
            start_time,
            stop_time: self.clock.now(),
            input,
            output,
            error,
            cause,
            history,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualClock;

    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync>(_: &T) {}

    #[test]
    fn executions_can_be_spawned_and_executors_shared() {
        // GIVEN an executor WHEN an execution is started THEN the future is Send and the executor Send + Sync,
        // so a caller can run executions on tokio::spawn and share one executor between them
        let definition = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#;
        let machine = StateMachine::parse(definition, &Default::default()).expect("valid");
        let executor = Executor::new(machine, HandlerRegistry::new(), Arc::new(VirtualClock::new(Utc::now())));
        assert_send_sync(&executor);
        let execution = executor.start("x", json!({}));
        assert_send(&execution);
        assert_eq!(executor.execution_arn("x"), "arn:aws:states:local:000000000000:execution:StateMachine:x");
    }
}
