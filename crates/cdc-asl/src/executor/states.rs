//! The state loop of a machine or sub-machine, each state type's work, and
//! Retry/Catch around Task, Parallel and Map states.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::fork::{run_map, run_parallel};
use super::run::{Context, Halt, Run, Scope, apply_result_path, quote, seconds, select_data, whole_number};
use super::task::run_task;
use crate::definition::{Catching, FailText, Graph, Seconds, State, StateKind, Transition, WaitFor};
use crate::error::{StateError, names};
use crate::history::EventKind;
use crate::intrinsics::IntrinsicError;
use crate::retry;
use crate::timestamp;

pub(super) type GraphFuture = Pin<Box<dyn Future<Output = Result<Value, Halt>> + Send>>;

/// Runs a machine or sub-machine from its StartAt to a terminal state.
pub(super) fn run_graph(run: Arc<Run>, graph: Arc<Graph>, input: Value, scope: Scope) -> GraphFuture {
    Box::pin(async move {
        let mut current = graph.start_at.clone();
        let mut input = input;
        loop {
            if run.past_deadline() {
                return Err(Halt::TimedOut);
            }
            let Some(state) = graph.states.get(&current) else {
                // Validation guarantees every transition target exists.
                return Err(Halt::Failed(StateError::runtime(format!("state '{current}' does not exist"))));
            };
            let entered = run.clock.now();
            run.record(
                &scope,
                EventKind::StateEntered {
                    name: state.name.clone(),
                    state_type: state.kind.type_name().to_string(),
                    input: input.clone(),
                },
            );
            match run_state(&run, state, input, &scope, entered).await {
                Ok((output, next)) => {
                    run.record(&scope, EventKind::StateExited { name: state.name.clone(), output: output.clone() });
                    match next {
                        Some(next) => {
                            current = next;
                            input = output;
                        }
                        None => return Ok(output),
                    }
                }
                Err(Halt::Failed(error)) => {
                    run.record(
                        &scope,
                        EventKind::StateFailed {
                            name: state.name.clone(),
                            error: error.error.clone(),
                            cause: error.cause.clone(),
                        },
                    );
                    return Err(Halt::Failed(error));
                }
                Err(halt) => return Err(halt),
            }
        }
    })
}

pub(super) fn next_of(transition: &Transition) -> Option<String> {
    match transition {
        Transition::Next(next) => Some(next.clone()),
        Transition::End => None,
    }
}

pub(super) async fn run_state(
    run: &Arc<Run>,
    state: &State,
    input: Value,
    scope: &Scope,
    entered: DateTime<Utc>,
) -> Result<(Value, Option<String>), Halt> {
    let name = state.name.as_str();
    match &state.kind {
        StateKind::Pass(pass) => {
            let context = run.context(name, entered, 0);
            let effective = select_data(&pass.io.input_path, input.clone(), &context, "InputPath")?;
            let effective = match &pass.parameters {
                Some(parameters) => run.render(parameters, &effective, &context)?,
                None => effective,
            };
            let result = pass.result.clone().unwrap_or(effective);
            let output = apply_result_path(&pass.result_path, input, result)?;
            let output = select_data(&pass.io.output_path, output, &context, "OutputPath")?;
            Ok((output, next_of(&pass.transition)))
        }
        StateKind::Succeed(io) => {
            let context = run.context(name, entered, 0);
            let effective = select_data(&io.input_path, input, &context, "InputPath")?;
            Ok((select_data(&io.output_path, effective, &context, "OutputPath")?, None))
        }
        StateKind::Fail(fail) => {
            let context = run.context(name, entered, 0);
            let error = fail_text(run, &fail.error, &input, &context, "ErrorPath")?;
            let cause = fail_text(run, &fail.cause, &input, &context, "CausePath")?;
            Err(Halt::Failed(StateError { error: error.unwrap_or_default(), cause }))
        }
        StateKind::Choice(choice) => {
            let context = run.context(name, entered, 0);
            let effective = select_data(&choice.io.input_path, input, &context, "InputPath")?;
            let mut chosen = None;
            for (i, rule) in choice.choices.iter().enumerate() {
                if rule.condition.evaluate(&effective, &context)? {
                    chosen = Some((Some(i), rule.next.clone()));
                    break;
                }
            }
            let (rule, next) = match (chosen, &choice.default) {
                (Some(found), _) => found,
                (None, Some(default)) => (None, default.clone()),
                (None, None) => {
                    return Err(Halt::Failed(StateError::new(
                        names::NO_CHOICE_MATCHED,
                        format!("No Choice rule of state '{name}' matched, and it has no Default"),
                    )));
                }
            };
            run.record(scope, EventKind::ChoiceMatched { name: name.to_string(), rule, next: next.clone() });
            Ok((select_data(&choice.io.output_path, effective, &context, "OutputPath")?, Some(next)))
        }
        StateKind::Wait(wait) => {
            let context = run.context(name, entered, 0);
            let effective = select_data(&wait.io.input_path, input, &context, "InputPath")?;
            let until = match &wait.wait {
                WaitFor::Seconds(Seconds::Fixed(n)) => entered + seconds(*n as f64),
                WaitFor::Seconds(Seconds::Path(path)) => {
                    entered + seconds(whole_number(path, &effective, &context, "SecondsPath", 0)? as f64)
                }
                WaitFor::Timestamp(t) => *t,
                WaitFor::TimestampPath(path) => {
                    let value = path.select(&effective, &context).map_err(|_| {
                        StateError::runtime(format!(
                            "Invalid path '{path}' in TimestampPath: no results for the input '{}'",
                            quote(&effective)
                        ))
                    })?;
                    value.as_str().and_then(timestamp::parse).ok_or_else(|| {
                        StateError::runtime(format!(
                            "The value of TimestampPath ('{path}') must be a timestamp, not {value}"
                        ))
                    })?
                }
            };
            run.record(scope, EventKind::WaitStarted { name: name.to_string(), until });
            run.sleep_until(until).await?;
            Ok((select_data(&wait.io.output_path, effective, &context, "OutputPath")?, next_of(&wait.transition)))
        }
        StateKind::Task(task) => {
            with_catching(run, state, &task.catching, input, scope, entered, &task.transition).await
        }
        StateKind::Parallel(parallel) => {
            with_catching(run, state, &parallel.catching, input, scope, entered, &parallel.transition).await
        }
        StateKind::Map(map) => with_catching(run, state, &map.catching, input, scope, entered, &map.transition).await,
    }
}

pub(super) fn fail_text(
    run: &Run,
    text: &FailText,
    input: &Value,
    context: &Context<'_>,
    field: &str,
) -> Result<Option<String>, Halt> {
    let value = match text {
        FailText::Static(text) => return Ok(text.clone()),
        FailText::Path(path) => path.select(input, context).map_err(|_| {
            StateError::runtime(format!(
                "Invalid path '{path}' in {field}: no results for the input '{}'",
                quote(input)
            ))
        })?,
        FailText::Intrinsic(call) => run.with_rng(|rng| call.evaluate(input, context, rng)).map_err(|e| match e {
            IntrinsicError::Path(e) => StateError::runtime(format!("{field}: {e}")),
            IntrinsicError::Failure(message) => StateError::new(names::INTRINSIC_FAILURE, message),
        })?,
    };
    match value {
        Value::String(text) => Ok(Some(text)),
        other => Err(Halt::Failed(StateError::runtime(format!("The value of {field} must be a string, not {other}")))),
    }
}

/// Runs a Task, Parallel or Map state under its Retry and Catch fields.
pub(super) async fn with_catching(
    run: &Arc<Run>,
    state: &State,
    catching: &Catching,
    input: Value,
    scope: &Scope,
    entered: DateTime<Utc>,
    transition: &Transition,
) -> Result<(Value, Option<String>), Halt> {
    let name = state.name.as_str();
    // A retrier's attempts count across every error it matches during this visit of the state.
    let mut used = vec![0u64; catching.retry.len()];
    let mut retry_count = 0u64;
    loop {
        let context = run.context(name, entered, retry_count);
        let attempt = match &state.kind {
            StateKind::Task(task) => run_task(run, name, task, &input, &context, scope).await,
            StateKind::Parallel(parallel) => run_parallel(run, name, parallel, &input, &context, scope).await,
            StateKind::Map(map) => run_map(run, name, map, &input, &context, scope).await,
            _ => Err(Halt::Failed(StateError::runtime(format!("state '{name}' cannot have Retry or Catch")))),
        };
        let error = match attempt {
            Ok(output) => return Ok((output, next_of(transition))),
            Err(Halt::Failed(error)) => error,
            Err(halt) => return Err(halt),
        };
        // The first retrier that matches decides; once spent, it falls through to Catch.
        if let Some(index) = catching.retry.iter().position(|r| retry::matches(&r.error_equals, &error)) {
            let retrier = &catching.retry[index];
            if used[index] < retrier.max_attempts {
                let unit = run.jitter_unit(scope, name, index, used[index]);
                let delay = retrier.delay_seconds(used[index], unit);
                used[index] += 1;
                retry_count += 1;
                run.record(
                    scope,
                    EventKind::RetryScheduled {
                        name: name.to_string(),
                        error: error.error.clone(),
                        retrier: index,
                        attempt: retry_count,
                        delay_seconds: delay,
                    },
                );
                run.sleep_until(run.clock.now() + seconds(delay)).await?;
                continue;
            }
        }
        if let Some((index, catcher)) =
            catching.catch.iter().enumerate().find(|(_, c)| retry::matches(&c.error_equals, &error))
        {
            run.record(
                scope,
                EventKind::CatchTaken {
                    name: name.to_string(),
                    error: error.error.clone(),
                    cause: error.cause.clone(),
                    catcher: index,
                    next: catcher.next.clone(),
                },
            );
            let output = apply_result_path(&catcher.result_path, input, error.to_output())?;
            return Ok((output, Some(catcher.next.clone())));
        }
        return Err(Halt::Failed(error));
    }
}
