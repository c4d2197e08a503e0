//! The execution history: its events, their order and times, JSON, and the printer.

mod common;

use cdc_asl::{EventKind, HandlerRegistry, HistoryEvent, TaskError, handler_fn, render_history};
use chrono::TimeDelta;
use common::{run, t0};
use serde_json::{Value, json};

fn pipeline() -> Value {
    json!({"StartAt": "Start", "States": {
        "Start": {"Type": "Pass", "Result": {"tables": ["a", "b"]}, "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 5, "Next": "Load"},
        "Load": {
            "Type": "Map", "ItemsPath": "$.tables", "MaxConcurrency": 1,
            "ItemProcessor": {"StartAt": "LoadTable", "States": {"LoadTable": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "load", "Payload": {"table.$": "$"}},
                "Retry": [{"ErrorEquals": ["Retryable"], "IntervalSeconds": 3}],
                "ResultSelector": {"rows.$": "$.Payload.rows"},
                "End": true
            }}},
            "End": true
        }
    }})
}

fn load_handler() -> HandlerRegistry {
    let failed = std::sync::atomic::AtomicBool::new(false);
    HandlerRegistry::new().with(
        "load",
        handler_fn(move |_, event: Value| {
            let first_b = event["table"] == "b" && !failed.swap(true, std::sync::atomic::Ordering::SeqCst);
            async move {
                if first_b { Err(TaskError::lambda("Retryable", "lock timeout")) } else { Ok(json!({"rows": 10})) }
            }
        }),
    )
}

#[tokio::test]
async fn the_history_lists_every_step_in_order_with_clock_times() {
    // GIVEN a Pass, a 5 s Wait and a Map whose second item fails once
    let execution = run(&pipeline(), load_handler(), json!({})).await;
    assert_eq!(execution.output, Some(json!([{"rows": 10}, {"rows": 10}])));
    // THEN the events come in execution order, numbered from 1
    let types: Vec<&str> = execution.history.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "StateEntered",
            "StateExited",
            "StateEntered",
            "WaitStarted",
            "StateExited",
            "StateEntered",
            "MapStarted",
            "MapIterationStarted",
            "StateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "StateExited",
            "MapIterationSucceeded",
            "MapIterationStarted",
            "StateEntered",
            "TaskScheduled",
            "TaskFailed",
            "RetryScheduled",
            "TaskScheduled",
            "TaskSucceeded",
            "StateExited",
            "MapIterationSucceeded",
            "MapSucceeded",
            "StateExited",
            "ExecutionSucceeded",
        ]
    );
    assert!(execution.history.iter().enumerate().all(|(i, e)| e.id == i as u64 + 1));
    // THEN the times come from the virtual clock: the wait and the retry moved it 5 s and 3 s
    assert_eq!(execution.history[0].timestamp, t0());
    assert_eq!(execution.history.last().map(|e| e.timestamp), Some(t0() + TimeDelta::seconds(8)));
    assert_eq!(execution.stop_time - execution.start_time, TimeDelta::seconds(8));
    // THEN nested events carry their scope
    let scopes: Vec<&str> = execution.history.iter().filter(|e| e.depth == 1).map(|e| e.scope.as_str()).collect();
    assert!(scopes.iter().all(|s| *s == "Load[0]" || *s == "Load[1]"));
}

#[tokio::test]
async fn the_history_round_trips_through_json() {
    // GIVEN a finished execution WHEN serialized to JSON THEN status and history read back unchanged
    let execution = run(&pipeline(), load_handler(), json!({})).await;
    let text = serde_json::to_string(&execution).expect("serializes");
    let value: Value = serde_json::from_str(&text).expect("parses");
    assert_eq!(value["status"], "SUCCEEDED");
    assert_eq!(value["history"][0]["type"], "ExecutionStarted");
    let back: Vec<HistoryEvent> = serde_json::from_value(value["history"].clone()).expect("deserializes");
    assert_eq!(back, execution.history);
}

#[tokio::test]
async fn the_printer_writes_one_indented_line_per_event() {
    // GIVEN a finished execution WHEN its history is rendered
    // THEN one line per event, nested ones indented, JSON cut to the width
    let execution = run(&pipeline(), load_handler(), json!({})).await;
    let text = render_history(&execution.history, 40);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), execution.history.len());
    let retry = lines.iter().find(|l| l.contains("RetryScheduled")).expect("a retry line");
    assert!(retry.contains("LoadTable Retryable -> retry #1 (Retry[0]) after 3.000s"), "{retry}");
    assert!(retry.contains("+5.000s   [Load[1]] RetryScheduled"), "nested lines are indented and scoped: {retry}");
    let last = lines.last().copied().unwrap_or_default();
    assert!(last.contains("+8.000s ExecutionSucceeded"), "{last}");
    // Long JSON is cut
    assert!(lines.iter().all(|l| l.chars().count() < 200));
    assert!(matches!(execution.history[0].kind, EventKind::ExecutionStarted { .. }));
}
