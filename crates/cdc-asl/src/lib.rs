//! A local interpreter for the Amazon States Language, so the local demo
//! runs the very state machine file that is deployed to AWS Step Functions.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cdc_asl::DefinitionError> {
//! use std::{collections::BTreeMap, sync::Arc};
//! use cdc_asl::{Executor, HandlerRegistry, StateMachine, SystemClock, handler_fn};
//!
//! let definition = std::fs::read_to_string("statemachine/pipeline.asl.json").unwrap_or_default();
//! let substitutions = BTreeMap::from([("LoadFunctionArn".to_string(), "load".to_string())]);
//! let machine = StateMachine::parse(&definition, &substitutions)?.with_name("pipeline");
//! let handlers = HandlerRegistry::new().with("load", handler_fn(|_name, event| async move { Ok(event) }));
//! let execution = Executor::new(machine, handlers, Arc::new(SystemClock)).start("run-1", serde_json::json!({})).await;
//! println!("{:?} {}", execution.status, cdc_asl::render_history(&execution.history, 120));
//! # Ok(()) }
//! ```
//!
//! # Supported
//!
//! - Loading: `DefinitionSubstitutions`-style `${Name}` replacement, then
//!   validation before anything runs, each error naming its state: dangling
//!   `Next`/`Default`/Catch `Next`, a missing `StartAt` target, unknown state
//!   types, unknown or misplaced fields, bad paths and reference paths, bad
//!   intrinsic calls, leftover placeholders, states without `Next`/`End`,
//!   duplicate and unreachable states, misplaced `States.ALL`, nested
//!   Map/Parallel sub-machines.
//! - States: Pass, Task, Choice (every comparison operator and its `...Path`
//!   form, `And`/`Or`/`Not`, the `Is...` tests, `Default`), Wait (`Seconds`,
//!   `SecondsPath`, `Timestamp`, `TimestampPath`), Succeed, Fail (`Error`,
//!   `Cause`, `ErrorPath`, `CausePath`), Parallel, inline Map (`ItemsPath`,
//!   `ItemSelector`/`Parameters`, `ItemProcessor`/`Iterator`,
//!   `MaxConcurrency`/`MaxConcurrencyPath`).
//! - The JSONPath pipeline in AWS order: InputPath → Parameters → task →
//!   ResultSelector → ResultPath → OutputPath; `.$` fields, the `$$` context
//!   object (Execution, StateMachine, State, Map.Item), `null` paths.
//! - JSONPath in the Jayway dialect AWS uses (wildcards, slices, unions,
//!   `..`, filters with comparisons and `&&`/`||`/`!`).
//! - All 18 intrinsic functions of the JSONPath language (`States.Format` ...
//!   `States.UUID`), nested, with AWS's escapes.
//! - Retry (defaults 1 s, 3 attempts, x2.0; `MaxDelaySeconds`,
//!   `JitterStrategy` FULL with a seeded, repeatable jitter) and Catch, with
//!   `States.ALL`, `States.TaskFailed`, `States.Timeout` (Task
//!   `TimeoutSeconds`/`TimeoutSecondsPath`), `States.Runtime` (never retried
//!   or caught), `States.NoChoiceMatched`, `States.IntrinsicFailure`, and the
//!   machine's `TimeoutSeconds` (status `TimedOut`).
//! - Tasks: `arn:aws:states:::lambda:invoke` (AWS's response shape around
//!   the handler's output in `Payload`), a Lambda function ARN as `Resource`
//!   (the output as is), and any other request-response integration
//!   dispatched to a handler registered under its exact `Resource`.
//! - A [`Clock`]: [`SystemClock`], or [`VirtualClock`] on which no Wait,
//!   retry interval or timeout takes real time.
//! - An execution history with a JSON form and a one-line-per-event printer.
//!
//! # Not supported (refused when the definition is loaded)
//!
//! Distributed Map (`ItemReader`, `ItemBatcher`, `ResultWriter`, tolerated
//! failures, `Label`, `ProcessorConfig.Mode: DISTRIBUTED`), activities,
//! `.sync` and `.waitForTaskToken` integrations, JSONata and workflow
//! variables (`QueryLanguage: JSONata`, `Assign`, `Output`, `Arguments`),
//! task `Credentials`. In JSONPath: regular-expression filters (`=~`), path
//! functions (`length()`), `in`/`nin`/`subsetof`-style operators and several
//! names in one bracket. `HeartbeatSeconds` is validated but not enforced
//! (only activities and callbacks send heartbeats); payload size limits
//! (`States.DataLimitExceeded`) are not enforced.
//!
//! # Where it knowingly differs from AWS
//!
//! - A Lambda function with no registered handler fails the task with
//!   `Lambda.ResourceNotFoundException` (what Lambda reports for an unknown
//!   function, so a Catch can see it); another integration `Resource` with
//!   no handler is `States.Runtime`. [`Executor::missing_handlers`] lists
//!   both before anything runs.
//! - A handler that panics fails its task with `States.TaskFailed`.
//! - A Lambda error's cause is `{"errorMessage":...,"errorType":...}` only
//!   (no stack trace or request id), built by [`TaskError::lambda`].
//! - `States.Runtime` is never retried or caught, even when named explicitly.
//! - A `.$` path that finds nothing is `States.Runtime` (AWS's docs also list
//!   `States.ParameterPathFailure`; the service reports `States.Runtime`).
//! - On a [`VirtualClock`], a Task timeout is judged when the handler returns,
//!   by how far the (shared) clock moved meanwhile; a handler that never
//!   returns is not cut off. [`SystemClock`] races a real timer.
//! - The history's event names follow the console's vocabulary but are not
//!   AWS's exact event types; `ChoiceMatched`, `RetryScheduled`, `CatchTaken`
//!   and `StateFailed` are additions. Events of concurrent Map iterations and
//!   Parallel branches interleave in the order they happen.
//! - `States.MathRandom`'s end is exclusive and its seeded sequence is not
//!   AWS's; `States.UUID`, jitter and Lambda request ids come from
//!   [`ExecutorOptions::rng_seed`].

mod choice;
mod clock;
mod definition;
mod error;
mod executor;
mod handler;
mod history;
mod intrinsics;
mod path;
mod retry;
mod template;
mod timestamp;

pub use clock::{Clock, SystemClock, VirtualClock};
pub use definition::{DEFAULT_MACHINE_NAME, StateMachine};
pub use error::{DefinitionError, Location, names};
pub use executor::{Execution, ExecutionStatus, Executor, ExecutorOptions, current_task_state};
pub use handler::{HandlerRegistry, TaskError, TaskHandler, handler_fn};
pub use history::{EventKind, HistoryEvent, render_history};
