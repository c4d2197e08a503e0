//! Retry, Catch and timeouts, checked against the AWS developer guide's
//! error-handling page (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cdc_asl::{
    Clock as _, EventKind, ExecutionStatus, Executor, ExecutorOptions, HandlerRegistry, StateMachine, SystemClock,
    TaskError, VirtualClock, handler_fn, names,
};
use chrono::TimeDelta;
use common::{entered, executor, machine, retry_delays, run, t0};
use serde_json::{Value, json};

const FAIL_FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:FailFunction";

/// A handler that fails with the given errors in turn, then succeeds with `"ok"`.
fn failing(errors: &[&str]) -> (HandlerRegistry, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let errors: Vec<String> = errors.iter().map(|e| (*e).to_string()).collect();
    let counter = calls.clone();
    let handlers = HandlerRegistry::new().with(
        "FailFunction",
        handler_fn(move |_, _| {
            let call = counter.fetch_add(1, Ordering::SeqCst);
            let outcome = match errors.get(call) {
                Some(error) => Err(TaskError::lambda(error.clone(), format!("failure {call}"))),
                None => Ok(json!("ok")),
            };
            async move { outcome }
        }),
    );
    (handlers, calls)
}

fn task_with(fields: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": FAIL_FUNCTION, "End": true});
    if let (Value::Object(state), Value::Object(fields)) = (&mut state, fields) {
        state.extend(fields);
    }
    json!({"StartAt": "HelloWorld", "States": {
        "HelloWorld": state,
        "fallback": {"Type": "Pass", "Result": "Hello, AWS Step Functions!", "End": true},
        "RecoveryState": {"Type": "Pass", "End": true},
        "EndState": {"Type": "Pass", "End": true},
        "Z": {"Type": "Pass", "End": true}
    }})
}

/// The definition with only the states a test reaches (unreachable states are refused).
fn reachable(definition: Value, keep: &[&str]) -> Value {
    let mut definition = definition;
    if let Some(states) = definition["States"].as_object_mut() {
        states.retain(|name, _| name == "HelloWorld" || keep.contains(&name.as_str()));
    }
    definition
}

#[tokio::test]
async fn retry_example_from_the_docs_waits_3_then_4_5_seconds() {
    // GIVEN "a Retry [that] makes 2 retry attempts after waiting for 3 and 4.5 seconds"
    let definition = reachable(
        task_with(
            json!({"Retry": [{"ErrorEquals": ["States.Timeout", "Oops"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 1.5}]}),
        ),
        &[],
    );
    let (handlers, calls) = failing(&["Oops", "Oops", "Oops"]);
    let (executor, clock) = executor(&definition, handlers);
    // WHEN the task keeps failing
    let execution = executor.start("r", json!({})).await;
    // THEN it is retried after 3 s and 4.5 s, then fails
    assert_eq!(retry_delays(&execution), [3.0, 4.5]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some("Oops"));
    assert_eq!(clock.now(), t0() + TimeDelta::milliseconds(7_500));
}

#[tokio::test]
async fn backoff_doubles_and_respects_max_attempts_and_max_delay() {
    // GIVEN IntervalSeconds 3, BackoffRate 2, MaxAttempts 3 THEN 3, 6, 12 s
    let definition = reachable(
        task_with(
            json!({"Retry": [{"ErrorEquals": ["Oops"], "IntervalSeconds": 3, "BackoffRate": 2, "MaxAttempts": 3}]}),
        ),
        &[],
    );
    let (handlers, calls) = failing(&["Oops"; 10]);
    let execution = run(&definition, handlers, json!({})).await;
    assert_eq!(retry_delays(&execution), [3.0, 6.0, 12.0]);
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // GIVEN MaxDelaySeconds 5 THEN the interval stops growing at 5 s
    let capped = reachable(
        task_with(
            json!({"Retry": [{"ErrorEquals": ["Oops"], "IntervalSeconds": 3, "MaxAttempts": 4, "MaxDelaySeconds": 5}]}),
        ),
        &[],
    );
    let (handlers, _) = failing(&["Oops"; 10]);
    assert_eq!(retry_delays(&run(&capped, handlers, json!({})).await), [3.0, 5.0, 5.0, 5.0]);

    // GIVEN MaxAttempts 0 THEN the error is never retried
    let never = reachable(task_with(json!({"Retry": [{"ErrorEquals": ["Oops"], "MaxAttempts": 0}]})), &[]);
    let (handlers, calls) = failing(&["Oops"]);
    let execution = run(&never, handlers, json!({})).await;
    assert!(retry_delays(&execution).is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn two_retryable_failures_then_success() {
    // GIVEN a handler that fails twice with Retryable, then succeeds
    let definition =
        reachable(task_with(json!({"Retry": [{"ErrorEquals": ["Retryable"], "IntervalSeconds": 2}]})), &[]);
    let (handlers, calls) = failing(&["Retryable", "Retryable"]);
    let (executor, clock) = executor(&definition, handlers);
    // WHEN it runs
    let execution = executor.start("r", json!({})).await;
    // THEN the history shows two retries, after 2 s and 4 s of virtual time, and the third call succeeds
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.output, Some(json!("ok")));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let retries: Vec<(u64, f64)> = execution
        .history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RetryScheduled { attempt, delay_seconds, error, .. } if error == "Retryable" => {
                Some((*attempt, *delay_seconds))
            }
            _ => None,
        })
        .collect();
    assert_eq!(retries, [(1, 2.0), (2, 4.0)]);
    let scheduled: Vec<_> =
        execution.history.iter().filter(|e| e.kind.type_name() == "TaskScheduled").map(|e| e.timestamp).collect();
    assert_eq!(scheduled, [t0(), t0() + TimeDelta::seconds(2), t0() + TimeDelta::seconds(6)]);
    assert_eq!(clock.now(), t0() + TimeDelta::seconds(6));
}

#[tokio::test]
async fn retry_count_is_in_the_context_object() {
    // GIVEN a lambda:invoke task passing $$.State.RetryCount to the function
    let definition = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "FailFunction", "Payload": {"retry.$": "$$.State.RetryCount"}},
        "Retry": [{"ErrorEquals": ["States.ALL"]}],
        "ResultSelector": {"seen.$": "$.Payload"},
        "End": true
    }}});
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let handlers = HandlerRegistry::new().with(
        "FailFunction",
        handler_fn(move |_, payload: Value| {
            let retry = payload["retry"].as_u64().unwrap_or(99);
            log.lock().map(|mut l| l.push(retry)).unwrap_or(());
            async move { if retry < 2 { Err(TaskError::lambda("Flaky", "not yet")) } else { Ok(json!(retry)) } }
        }),
    );
    let execution = run(&definition, handlers, json!({})).await;
    // THEN each attempt saw its retry count
    assert_eq!(execution.output, Some(json!({"seen": 2})));
    assert_eq!(*seen.lock().expect("not poisoned"), [0, 1, 2]);
}

#[tokio::test]
async fn complex_retry_scenario_from_the_docs() {
    // GIVEN the documented state X: retrier 1 for ErrorA/ErrorB (1 s, x2, 2 attempts),
    // retrier 2 for ErrorC (5 s), and a catch-all to Z
    let definition = json!({"StartAt": "X", "States": {
        "X": {
            "Type": "Task",
            "Resource": FAIL_FUNCTION,
            "Next": "Y",
            "Retry": [
                {"ErrorEquals": ["ErrorA", "ErrorB"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 2},
                {"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5}
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}]
        },
        "Y": {"Type": "Succeed"},
        "Z": {"Type": "Pass", "End": true}
    }});
    // WHEN the task fails with ErrorA, ErrorB, ErrorC, ErrorB
    let (handlers, calls) = failing(&["ErrorA", "ErrorB", "ErrorC", "ErrorB", "ErrorB"]);
    let execution = run(&definition, handlers, json!({})).await;
    // THEN it waits 1 s, 2 s (retrier 1), 5 s (retrier 2); the fourth error finds
    // retrier 1 spent, so the Catch sends it to Z
    assert_eq!(retry_delays(&execution), [1.0, 2.0, 5.0]);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(entered(&execution), ["X", "Z"]);
    assert_eq!(execution.output.as_ref().map(|o| o["Error"].clone()), Some(json!("ErrorB")));
}

#[tokio::test]
async fn catch_example_with_error_info_from_the_docs() {
    // GIVEN the documented Catch: java.lang.Exception into $.error-info then RecoveryState, else EndState
    let catch = json!({"Catch": [
        {"ErrorEquals": ["java.lang.Exception"], "ResultPath": "$.error-info", "Next": "RecoveryState"},
        {"ErrorEquals": ["States.ALL"], "Next": "EndState"}
    ]});
    let definition = reachable(task_with(catch), &["RecoveryState", "EndState"]);
    // WHEN the function raises java.lang.Exception
    let (handlers, _) = failing(&["java.lang.Exception"]);
    let execution = run(&definition, handlers, json!({"foo": "bar"})).await;
    // THEN "the error output is added to the input as a field named error-info" and sent to RecoveryState
    assert_eq!(entered(&execution), ["HelloWorld", "RecoveryState"]);
    let cause = json!({"errorMessage": "failure 0", "errorType": "java.lang.Exception"}).to_string();
    assert_eq!(
        execution.output,
        Some(json!({"foo": "bar", "error-info": {"Error": "java.lang.Exception", "Cause": cause}}))
    );
    // WHEN it raises anything else THEN "the error output overwrites the input" and goes to EndState
    let (handlers, _) = failing(&["Other"]);
    let execution = run(&definition, handlers, json!({"foo": "bar"})).await;
    assert_eq!(entered(&execution), ["HelloWorld", "EndState"]);
    assert_eq!(execution.output.as_ref().map(|o| o["Error"].clone()), Some(json!("Other")));
    assert!(matches!(common::events(&execution, "CatchTaken")[0], EventKind::CatchTaken { catcher: 1, .. }));
}

// Example from https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html
// ("Use ResultPath to Include Both Error and Input in a Catch").
#[tokio::test]
async fn catch_resultpath_keeps_the_input() {
    // GIVEN a Parallel whose branch fails with "Error here" (and no cause), caught into $.error
    let definition = json!({"StartAt": "Work", "States": {
        "Work": {
            "Type": "Parallel",
            "Branches": [{"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Error here"}}}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "NextTask", "ResultPath": "$.error"}],
            "End": true
        },
        "NextTask": {"Type": "Succeed"}
    }});
    // WHEN it runs on {"foo": "bar"} THEN the documented output
    let execution = run(&definition, HandlerRegistry::new(), json!({"foo": "bar"})).await;
    assert_eq!(execution.output, Some(json!({"foo": "bar", "error": {"Error": "Error here"}})));
}

#[tokio::test]
async fn handled_error_examples_from_the_docs() {
    // GIVEN "Handling a failure using Retry": HandledError retried twice (1 s, 2 s)
    let retry = reachable(
        task_with(
            json!({"Retry": [{"ErrorEquals": ["HandledError"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}]}),
        ),
        &[],
    );
    let (handlers, calls) = failing(&["HandledError"; 5]);
    let execution = run(&retry, handlers, json!({})).await;
    assert_eq!((retry_delays(&execution), calls.load(Ordering::SeqCst)), (vec![1.0, 2.0], 3));
    assert_eq!(execution.error.as_deref(), Some("HandledError"));

    // GIVEN the States.TaskFailed variant THEN any error of the function is retried the same way
    let any = reachable(
        task_with(
            json!({"Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}]}),
        ),
        &[],
    );
    let (handlers, _) = failing(&["SomethingElse"; 5]);
    assert_eq!(retry_delays(&run(&any, handlers, json!({})).await), [1.0, 2.0]);

    // GIVEN "Handling a failure using Catch" THEN the fallback state's result is the output
    for error_equals in ["HandledError", "States.TaskFailed"] {
        let catch = reachable(
            task_with(json!({"Catch": [{"ErrorEquals": [error_equals], "Next": "fallback"}]})),
            &["fallback"],
        );
        let (handlers, _) = failing(&["HandledError"]);
        let execution = run(&catch, handlers, json!({})).await;
        assert_eq!(execution.output, Some(json!("Hello, AWS Step Functions!")), "{error_equals}");
    }
}

#[tokio::test]
async fn states_all_does_not_catch_or_retry_states_runtime() {
    // GIVEN a task whose Parameters path fails, under Retry and Catch on States.ALL
    let definition = reachable(
        task_with(json!({
            "Parameters": {"x.$": "$.missing"},
            "Retry": [{"ErrorEquals": ["States.ALL"]}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "fallback"}]
        })),
        &["fallback"],
    );
    let (handlers, calls) = failing(&[]);
    // WHEN it runs
    let execution = run(&definition, handlers, json!({})).await;
    // THEN "A retry or catch on States.ALL will not catch States.Runtime errors"
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some(names::RUNTIME));
    assert!(retry_delays(&execution).is_empty());
    assert!(common::events(&execution, "CatchTaken").is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// A handler that takes `seconds` of virtual time.
fn slow(clock: &Arc<VirtualClock>, seconds: i64) -> HandlerRegistry {
    let clock = clock.clone();
    HandlerRegistry::new().with(
        "sleep10",
        handler_fn(move |_, _| {
            clock.advance(TimeDelta::seconds(seconds));
            async { Ok(json!("done")) }
        }),
    )
}

fn sleep10(fields: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:sleep10", "TimeoutSeconds": 2, "End": true});
    if let (Value::Object(state), Value::Object(fields)) = (&mut state, fields) {
        state.extend(fields);
    }
    json!({"StartAt": "HelloWorld", "States": {"HelloWorld": state, "fallback": {"Type": "Pass", "Result": "Hello, AWS Step Functions!", "End": true}}})
}

#[tokio::test]
async fn task_timeout_on_the_virtual_clock_with_retry_and_catch() {
    // GIVEN "Handling a timeout using Retry": a 10 s task under TimeoutSeconds 2, retried twice
    let definition = sleep10(
        json!({"Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}]}),
    );
    let mut definition = definition;
    definition["States"].as_object_mut().map(|s| s.remove("fallback"));
    let clock = Arc::new(VirtualClock::new(t0()));
    let executor = Executor::new(machine(&definition), slow(&clock, 10), clock.clone());
    // WHEN it runs THEN every attempt times out and the execution fails with States.Timeout
    let execution = executor.start("t", json!({})).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some(names::TIMEOUT));
    assert_eq!(common::events(&execution, "TaskTimedOut").len(), 3);
    assert_eq!(retry_delays(&execution), [1.0, 2.0]);

    // GIVEN "Handling a timeout using Catch" THEN the fallback runs
    let definition = sleep10(json!({"Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "fallback"}]}));
    let clock = Arc::new(VirtualClock::new(t0()));
    let execution = Executor::new(machine(&definition), slow(&clock, 10), clock.clone()).start("t", json!({})).await;
    assert_eq!(execution.output, Some(json!("Hello, AWS Step Functions!")));

    // GIVEN a task that finishes within its timeout THEN it succeeds
    let definition = sleep10(json!({}));
    let mut definition = definition;
    definition["States"].as_object_mut().map(|s| s.remove("fallback"));
    let clock = Arc::new(VirtualClock::new(t0()));
    let execution = Executor::new(machine(&definition), slow(&clock, 2), clock.clone()).start("t", json!({})).await;
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn states_task_failed_does_not_match_a_timeout() {
    // GIVEN a Catch on States.TaskFailed only
    let definition = sleep10(json!({"Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "fallback"}]}));
    let clock = Arc::new(VirtualClock::new(t0()));
    let execution = Executor::new(machine(&definition), slow(&clock, 10), clock.clone()).start("t", json!({})).await;
    // THEN the timeout is not caught
    assert_eq!(execution.error.as_deref(), Some(names::TIMEOUT));
}

#[tokio::test]
async fn task_timeout_path_is_read_from_the_input() {
    // GIVEN TimeoutSecondsPath and a handler taking 10 virtual seconds
    // WHEN the timeout read from the input is 5, 60 or 0 THEN timeout, success, runtime error
    let definition = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:sleep10",
        "TimeoutSecondsPath": "$.params.maxTime", "End": true
    }}});
    let clock = Arc::new(VirtualClock::new(t0()));
    let executor = Executor::new(machine(&definition), slow(&clock, 10), clock.clone());
    assert_eq!(executor.start("a", json!({"params": {"maxTime": 5}})).await.error.as_deref(), Some(names::TIMEOUT));
    assert_eq!(executor.start("b", json!({"params": {"maxTime": 60}})).await.status, ExecutionStatus::Succeeded);
    assert_eq!(executor.start("c", json!({"params": {"maxTime": 0}})).await.error.as_deref(), Some(names::RUNTIME));
}

#[tokio::test]
async fn task_timeout_on_the_system_clock_cuts_a_hanging_handler() {
    // GIVEN a handler that would take 30 s of real time, under TimeoutSeconds 1
    let definition = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:hang", "TimeoutSeconds": 1, "End": true
    }}});
    let handlers = HandlerRegistry::new().with(
        "hang",
        handler_fn(|_, _| async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            Ok(json!(null))
        }),
    );
    let started = std::time::Instant::now();
    let execution = Executor::new(machine(&definition), handlers, Arc::new(SystemClock)).start("t", json!({})).await;
    // THEN it times out after about a second
    assert_eq!(execution.error.as_deref(), Some(names::TIMEOUT));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn machine_timeout_ends_the_execution_timed_out() {
    // GIVEN TimeoutSeconds 10 at the top and a 100 s Wait
    let definition = json!({"TimeoutSeconds": 10, "StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 100, "Next": "Done"},
        "Done": {"Type": "Succeed"}
    }});
    let (executor, clock) = executor(&definition, HandlerRegistry::new());
    // WHEN it runs THEN it stops TimedOut with States.Timeout at t0 + 10 s
    let execution = executor.start("t", json!({})).await;
    assert_eq!(execution.status, ExecutionStatus::TimedOut);
    assert_eq!(execution.error.as_deref(), Some(names::TIMEOUT));
    assert_eq!(clock.now(), t0() + TimeDelta::seconds(10));
    assert_eq!(execution.history.last().map(|e| e.kind.type_name()), Some("ExecutionTimedOut"));
    assert!(!entered(&execution).contains(&"Done".to_string()));

    // GIVEN the time runs out inside a task (the handler takes 20 virtual seconds)
    let definition = json!({"TimeoutSeconds": 10, "StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:sleep10",
        "Retry": [{"ErrorEquals": ["States.ALL"]}], "End": true
    }}});
    let clock = Arc::new(VirtualClock::new(t0()));
    let execution = Executor::new(machine(&definition), slow(&clock, 20), clock.clone()).start("t", json!({})).await;
    // THEN no retry is attempted: the execution itself timed out
    assert_eq!(execution.status, ExecutionStatus::TimedOut);
    assert!(retry_delays(&execution).is_empty());

    // GIVEN retries that would outlast the machine timeout THEN it times out while waiting
    let definition = json!({"TimeoutSeconds": 5, "StartAt": "HelloWorld", "States": {"HelloWorld": {
        "Type": "Task", "Resource": FAIL_FUNCTION, "Retry": [{"ErrorEquals": ["Oops"], "IntervalSeconds": 4}], "End": true
    }}});
    let (handlers, _) = failing(&["Oops"; 5]);
    let (executor, clock) = common::executor(&definition, handlers);
    let execution = executor.start("t", json!({})).await;
    assert_eq!(execution.status, ExecutionStatus::TimedOut);
    assert_eq!(clock.now(), t0() + TimeDelta::seconds(5));
}

#[tokio::test]
async fn full_jitter_is_bounded_and_repeatable_for_a_seed() {
    // GIVEN FULL jitter over 2, 4, 8, 16 s
    let definition = reachable(
        task_with(
            json!({"Retry": [{"ErrorEquals": ["Oops"], "IntervalSeconds": 2, "MaxAttempts": 4, "JitterStrategy": "FULL"}]}),
        ),
        &[],
    );
    let delays = |seed: u64| {
        let definition = definition.clone();
        async move {
            let (handlers, _) = failing(&["Oops"; 10]);
            let clock = Arc::new(VirtualClock::new(t0()));
            let executor = Executor::new(machine(&definition), handlers, clock)
                .with_options(ExecutorOptions { rng_seed: Some(seed) });
            retry_delays(&executor.start("j", json!({})).await)
        }
    };
    let first = delays(42).await;
    // THEN each delay lies in [0, backoff), the same seed repeats them, another seed does not
    assert_eq!(first.len(), 4);
    for (delay, backoff) in first.iter().zip([2.0, 4.0, 8.0, 16.0]) {
        assert!((0.0..backoff).contains(delay), "{delay} not in [0, {backoff})");
    }
    assert_eq!(delays(42).await, first);
    assert_ne!(delays(43).await, first);
}

#[tokio::test]
async fn handler_panics_and_unknown_functions_are_task_errors() {
    // GIVEN a handler that panics, under a Catch on States.TaskFailed
    let definition = reachable(
        task_with(json!({"Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "fallback"}]})),
        &["fallback"],
    );
    let handlers =
        HandlerRegistry::new().with("FailFunction", handler_fn(|_, _| async { panic!("index out of bounds") }));
    let execution = run(&definition, handlers, json!({})).await;
    // THEN the panic is a States.TaskFailed error, caught like any other
    assert_eq!(execution.output, Some(json!("Hello, AWS Step Functions!")));
    let failed = common::events(&execution, "TaskFailed");
    assert!(matches!(failed[0], EventKind::TaskFailed { error, cause: Some(cause), .. }
        if error == names::TASK_FAILED && cause.contains("index out of bounds")));

    // GIVEN no handler for the function THEN Lambda's ResourceNotFoundException, as AWS reports it
    let plain = reachable(task_with(json!({})), &[]);
    let execution = run(&plain, HandlerRegistry::new(), json!({})).await;
    assert_eq!(execution.error.as_deref(), Some(names::LAMBDA_RESOURCE_NOT_FOUND));
    assert!(execution.cause.unwrap_or_default().contains("FailFunction"));
}

#[tokio::test]
async fn missing_handlers_are_listed_before_running() {
    let definition = json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "load", "Payload.$": "$"}, "Next": "B"},
        "B": {"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:notify", "Next": "C"},
        "C": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "Parameters": {"Message.$": "$"}, "End": true}
    }});
    let machine = StateMachine::parse(&definition.to_string(), &Default::default()).expect("valid");
    let handlers = HandlerRegistry::new().with("notify", handler_fn(|_, p| async move { Ok(p) }));
    let executor = Executor::new(machine, handlers, Arc::new(VirtualClock::new(t0())));
    assert_eq!(executor.missing_handlers(), ["load", "arn:aws:states:::sns:publish"]);
    // GIVEN only the SNS task WHEN it is reached without a handler THEN States.Runtime:
    // a local wiring mistake, not something a Catch should absorb
    let sns = json!({"StartAt": "C", "States": {"C": definition["States"]["C"].clone()}});
    let execution = run(&sns, HandlerRegistry::new(), json!({})).await;
    assert_eq!(execution.error.as_deref(), Some(names::RUNTIME));
}

#[tokio::test]
async fn abort_stops_the_execution() {
    // GIVEN a task that never finishes and an abort signal sent once it started
    let definition = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:hang", "End": true
    }}});
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started_tx = std::sync::Mutex::new(Some(started_tx));
    let handlers = HandlerRegistry::new().with(
        "hang",
        handler_fn(move |_, _| {
            if let Some(tx) = started_tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(());
            }
            std::future::pending::<Result<Value, TaskError>>()
        }),
    );
    let executor = Executor::new(machine(&definition), handlers, Arc::new(VirtualClock::new(t0())));
    let execution = executor
        .start_with_abort("a", json!({}), async move {
            let _ = started_rx.await;
        })
        .await;
    // THEN the execution is Aborted
    assert_eq!(execution.status, ExecutionStatus::Aborted);
    assert_eq!(execution.history.last().map(|e| e.kind.type_name()), Some("ExecutionAborted"));
}
