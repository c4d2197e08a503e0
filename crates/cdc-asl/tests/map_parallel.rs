//! Map and Parallel states, checked against the AWS developer guide's examples.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cdc_asl::{EventKind, ExecutionStatus, HandlerRegistry, TaskError, handler_fn, names};
use common::{entered, events, run};
use serde_json::{Value, json};

/// The documented Map input of https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-map-state.html
fn shipment() -> Value {
    json!({
        "ship-date": "2016-03-14T01:59:00Z",
        "detail": {
            "delivery-partner": "UQS",
            "shipped": [
                {"prod": "R31", "dest-code": 9511, "quantity": 1344},
                {"prod": "S39", "dest-code": 9511, "quantity": 40},
                {"prod": "R31", "dest-code": 9833, "quantity": 12},
                {"prod": "R40", "dest-code": 9860, "quantity": 887},
                {"prod": "R40", "dest-code": 9511, "quantity": 1220}
            ]
        }
    })
}

/// `ship-val` records what it received and answers with a validation result.
fn ship_val() -> (HandlerRegistry, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let handlers = HandlerRegistry::new().with(
        "ship-val",
        handler_fn(move |_, event: Value| {
            log.lock().map(|mut l| l.push(event.clone())).unwrap_or(());
            async move { Ok(json!({"valid": true, "checked": event})) }
        }),
    );
    (handlers, received)
}

fn validate_all(extra: Value) -> Value {
    let mut state = json!({
        "Type": "Map",
        "InputPath": "$.detail",
        "ItemsPath": "$.shipped",
        "MaxConcurrency": 0,
        "Iterator": {"StartAt": "Validate", "States": {"Validate": {
            "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ship-val", "End": true
        }}},
        "ResultPath": "$.detail.shipped",
        "End": true
    });
    if let (Value::Object(state), Value::Object(extra)) = (&mut state, extra) {
        state.extend(extra);
    }
    json!({"StartAt": "Validate-All", "States": {"Validate-All": state}})
}

#[tokio::test]
async fn map_example_from_the_docs() {
    // GIVEN the documented Validate-All Map state
    let (handlers, received) = ship_val();
    // WHEN it runs on the documented input
    let execution = run(&validate_all(json!({})), handlers, shipment()).await;
    // THEN each item went to ship-val, and detail.shipped holds the outputs in item order
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    let items = shipment()["detail"]["shipped"].as_array().cloned().unwrap_or_default();
    let mut got = received.lock().expect("not poisoned").clone();
    got.sort_by_key(|v| v.to_string());
    let mut want = items.clone();
    want.sort_by_key(|v| v.to_string());
    assert_eq!(got, want);
    let mut expected = shipment();
    expected["detail"]["shipped"] =
        Value::Array(items.into_iter().map(|item| json!({"valid": true, "checked": item})).collect());
    assert_eq!(execution.output, Some(expected));
}

#[tokio::test]
async fn map_example_with_parameters_from_the_docs() {
    // GIVEN the documented Parameters with $$.Map.Item.Value and the courier from the Map's input
    let definition =
        validate_all(json!({"Parameters": {"parcel.$": "$$.Map.Item.Value", "courier.$": "$.delivery-partner"}}));
    let (handlers, received) = ship_val();
    let execution = run(&definition, handlers, shipment()).await;
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    // THEN an invocation received the documented input
    let got = received.lock().expect("not poisoned").clone();
    assert!(got.contains(&json!({"parcel": {"prod": "R31", "dest-code": 9511, "quantity": 1344}, "courier": "UQS"})));
    assert_eq!(got.len(), 5);
    // ItemSelector is the current name of the same field
    let definition =
        validate_all(json!({"ItemSelector": {"parcel.$": "$$.Map.Item.Value", "courier.$": "$.delivery-partner"}}));
    let (handlers, received) = ship_val();
    run(&definition, handlers, shipment()).await;
    assert!(received.lock().expect("not poisoned").iter().all(|e| e["courier"] == "UQS"));
}

// Example from https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html (Map states)
#[tokio::test]
async fn map_context_index_and_value_from_the_docs() {
    // GIVEN the documented ExampleMapState WHEN run on bob, meg and joe
    // THEN the documented index and value of each
    let definition = json!({"StartAt": "ExampleMapState", "States": {"ExampleMapState": {
        "Type": "Map",
        "Parameters": {"ContextIndex.$": "$$.Map.Item.Index", "ContextValue.$": "$$.Map.Item.Value"},
        "Iterator": {"StartAt": "TestPass", "States": {"TestPass": {"Type": "Pass", "End": true}}},
        "End": true
    }}});
    let execution =
        run(&definition, HandlerRegistry::new(), json!([{"who": "bob"}, {"who": "meg"}, {"who": "joe"}])).await;
    assert_eq!(
        execution.output,
        Some(json!([
            {"ContextIndex": 0, "ContextValue": {"who": "bob"}},
            {"ContextIndex": 1, "ContextValue": {"who": "meg"}},
            {"ContextIndex": 2, "ContextValue": {"who": "joe"}}
        ]))
    );
}

// Example from https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemspath.html
#[tokio::test]
async fn items_path_example_from_the_docs() {
    // GIVEN the documented PiratesSay Map WHEN run THEN one iteration per pirate phrase
    let definition = json!({"StartAt": "PiratesSay", "States": {"PiratesSay": {
        "Type": "Map",
        "ItemsPath": "$.ThingsPiratesSay",
        "ItemProcessor": {"StartAt": "SayWord", "States": {"SayWord": {"Type": "Pass", "End": true}}},
        "End": true
    }}});
    let input = json!({
        "ThingsPiratesSay": [{"say": "Avast!"}, {"say": "Yar!"}, {"say": "Walk the Plank!"}],
        "ThingsGiantsSay": [{"say": "Fee!"}, {"say": "Fi!"}, {"say": "Fo!"}, {"say": "Fum!"}]
    });
    let execution = run(&definition, HandlerRegistry::new(), input.clone()).await;
    assert_eq!(execution.output, Some(input["ThingsPiratesSay"].clone()));
    assert_eq!(events(&execution, "MapIterationSucceeded").len(), 3);
}

#[tokio::test]
async fn map_result_selector_and_output_path() {
    // GIVEN ItemSelector, an inline processor, ResultSelector, ResultPath and OutputPath
    // WHEN the Map runs THEN each step applies in AWS order
    let definition = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map",
        "ItemsPath": "$.n",
        "ItemSelector": {"v.$": "States.MathAdd($$.Map.Item.Value, 10)"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "OutputPath": "$.v", "End": true}}},
        "ResultSelector": {"count.$": "States.ArrayLength($)", "values.$": "$"},
        "ResultPath": "$.out",
        "OutputPath": "$.out",
        "End": true
    }}});
    let execution = run(&definition, HandlerRegistry::new(), json!({"n": [1, 2, 3]})).await;
    assert_eq!(execution.output, Some(json!({"count": 3, "values": [11, 12, 13]})));
}

#[tokio::test]
async fn map_items_must_be_an_array() {
    // GIVEN an ItemsPath that selects an object, or nothing
    // WHEN the Map runs THEN States.Runtime; an empty array gives []
    let definition = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
        "End": true
    }, "Caught": {"Type": "Succeed"}}});
    for input in [json!({"items": {"a": 1}}), json!({"other": []})] {
        let execution = run(&definition, HandlerRegistry::new(), input.clone()).await;
        // THEN States.Runtime, which even a States.ALL catcher does not absorb
        assert_eq!(execution.error.as_deref(), Some(names::RUNTIME), "{input}");
    }
    let empty = run(&definition, HandlerRegistry::new(), json!({"items": []})).await;
    assert_eq!(empty.output, Some(json!([])));
}

/// A handler that counts how many of its calls run at once.
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
    calls: AtomicUsize,
}

fn counting(barrier: Option<Arc<tokio::sync::Barrier>>) -> (HandlerRegistry, Arc<InFlight>) {
    let stats = Arc::new(InFlight { now: AtomicUsize::new(0), max: AtomicUsize::new(0), calls: AtomicUsize::new(0) });
    let shared = stats.clone();
    let handlers = HandlerRegistry::new().with(
        "work",
        handler_fn(move |_, item: Value| {
            let stats = shared.clone();
            let barrier = barrier.clone();
            async move {
                let now = stats.now.fetch_add(1, Ordering::SeqCst) + 1;
                stats.max.fetch_max(now, Ordering::SeqCst);
                stats.calls.fetch_add(1, Ordering::SeqCst);
                match barrier {
                    Some(barrier) => {
                        barrier.wait().await;
                    }
                    None => tokio::time::sleep(std::time::Duration::from_millis(15)).await,
                }
                stats.now.fetch_sub(1, Ordering::SeqCst);
                Ok(json!({"done": item}))
            }
        }),
    );
    (handlers, stats)
}

fn work_map(max_concurrency: u64) -> Value {
    json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "MaxConcurrency": max_concurrency,
        "ItemProcessor": {"StartAt": "W", "States": {"W": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "work", "Payload.$": "$"}, "OutputPath": "$.Payload", "End": true
        }}},
        "End": true
    }}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_bounds_the_handler_calls_in_flight() {
    // GIVEN 7 items and MaxConcurrency 2
    let (handlers, stats) = counting(None);
    let items: Vec<Value> = (0..7).map(|i| json!(i)).collect();
    // WHEN the Map runs
    let execution = run(&work_map(2), handlers, Value::Array(items.clone())).await;
    // THEN at most (and at some point exactly) 2 calls ran at once, and the output is in item order
    assert_eq!(stats.calls.load(Ordering::SeqCst), 7);
    assert_eq!(stats.max.load(Ordering::SeqCst), 2);
    let expected: Vec<Value> = items.iter().map(|i| json!({"done": i})).collect();
    assert_eq!(execution.output, Some(Value::Array(expected)));
    assert!(matches!(events(&execution, "MapStarted")[0], EventKind::MapStarted { items: 7, max_concurrency: 2, .. }));

    // GIVEN MaxConcurrency 1 THEN the calls run one by one
    let (handlers, stats) = counting(None);
    run(&work_map(1), handlers, json!([1, 2, 3])).await;
    assert_eq!(stats.max.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_zero_runs_every_item_at_once() {
    // GIVEN 6 items, MaxConcurrency 0, and handlers that wait until all 6 are in flight
    // (with any bound below 6 this would never finish)
    let barrier = Arc::new(tokio::sync::Barrier::new(6));
    let (handlers, stats) = counting(Some(barrier));
    let definition = work_map(0);
    let execution =
        tokio::time::timeout(std::time::Duration::from_secs(10), run(&definition, handlers, json!([0, 1, 2, 3, 4, 5])))
            .await
            .expect("all six items ran concurrently");
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(stats.max.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn max_concurrency_path() {
    // GIVEN MaxConcurrencyPath WHEN read from the input THEN it bounds the Map; a non-number is States.Runtime
    let definition = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrencyPath": "$.limit",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
        "End": true
    }}});
    let execution = run(&definition, HandlerRegistry::new(), json!({"items": [1, 2], "limit": 1})).await;
    assert!(matches!(events(&execution, "MapStarted")[0], EventKind::MapStarted { max_concurrency: 1, .. }));
    let bad = run(&definition, HandlerRegistry::new(), json!({"items": [1], "limit": "many"})).await;
    assert_eq!(bad.error.as_deref(), Some(names::RUNTIME));
}

#[tokio::test]
async fn a_failing_iteration_fails_the_map_with_its_error() {
    // GIVEN item 2 of 4 fails with DataError, one item at a time
    let handlers = HandlerRegistry::new().with(
        "work",
        handler_fn(|_, item: Value| async move {
            if item == json!(2) { Err(TaskError::lambda("DataError", "item 2 is bad")) } else { Ok(item) }
        }),
    );
    let execution = run(&work_map(1), handlers, json!([0, 1, 2, 3])).await;
    // THEN the Map fails with the iteration's error and item 3 never starts
    assert_eq!(execution.error.as_deref(), Some("DataError"));
    assert_eq!(events(&execution, "MapIterationStarted").len(), 3);
    assert!(matches!(events(&execution, "MapIterationFailed")[0], EventKind::MapIterationFailed { index: 2, .. }));
    assert_eq!(events(&execution, "MapFailed").len(), 1);
}

#[tokio::test]
async fn map_retry_reruns_every_iteration() {
    // GIVEN a Map with a Retry, whose item 1 fails on its first call only
    // ("the retry policy applies to all the Map state iterations")
    let calls = Arc::new(AtomicUsize::new(0));
    let failed_once = Arc::new(AtomicUsize::new(0));
    let (c, f) = (calls.clone(), failed_once.clone());
    let handlers = HandlerRegistry::new().with(
        "work",
        handler_fn(move |_, item: Value| {
            c.fetch_add(1, Ordering::SeqCst);
            let fail = item == json!(1) && f.fetch_add(1, Ordering::SeqCst) == 0;
            async move { if fail { Err(TaskError::lambda("Flaky", "once")) } else { Ok(item) } }
        }),
    );
    let mut definition = work_map(1);
    definition["States"]["M"]["Retry"] = json!([{"ErrorEquals": ["Flaky"]}]);
    let execution = run(&definition, handlers, json!([0, 1, 2])).await;
    // THEN the whole Map ran again: items 0 and 1, then 0, 1 and 2
    assert_eq!(execution.output, Some(json!([0, 1, 2])));
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

/// The Parallel examples of https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-parallel-state.html,
/// with Lambda functions in place of the page's activities (which only run on AWS).
#[tokio::test]
async fn parallel_fun_with_math_from_the_docs() {
    // GIVEN the documented FunWithMath Parallel state
    let definition = json!({"Comment": "Parallel Example.", "StartAt": "FunWithMath", "States": {"FunWithMath": {
        "Type": "Parallel",
        "End": true,
        "Branches": [
            {"StartAt": "Add", "States": {"Add": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:Add", "End": true}}},
            {"StartAt": "Subtract", "States": {"Subtract": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:Subtract", "End": true}}}
        ]
    }}});
    let handlers = HandlerRegistry::new()
        .with(
            "Add",
            handler_fn(|_, v: Value| async move { Ok(json!(v[0].as_i64().unwrap_or(0) + v[1].as_i64().unwrap_or(0))) }),
        )
        .with(
            "Subtract",
            handler_fn(|_, v: Value| async move { Ok(json!(v[0].as_i64().unwrap_or(0) - v[1].as_i64().unwrap_or(0))) }),
        );
    // WHEN it is given [3, 2] THEN "the output of the Parallel state would be an array": [5, 1]
    let execution = run(&definition, handlers, json!([3, 2])).await;
    assert_eq!(execution.output, Some(json!([5, 1])));
    assert_eq!(events(&execution, "ParallelBranchSucceeded").len(), 2);
}

#[tokio::test]
async fn parallel_branch_failure_stops_the_state() {
    // GIVEN one branch that fails and one that waits a day
    let definition = json!({"StartAt": "P", "States": {"P": {
        "Type": "Parallel",
        "Branches": [
            {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 86400, "Next": "After"}, "After": {"Type": "Pass", "End": true}}},
            {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "BranchBroke", "Cause": "on purpose"}}}
        ],
        "Catch": [{"ErrorEquals": ["BranchBroke"], "ResultPath": "$.error", "Next": "Recovered"}],
        "End": true
    }, "Recovered": {"Type": "Pass", "End": true}}});
    let execution = run(&definition, HandlerRegistry::new(), json!({"in": 1})).await;
    // THEN the Parallel state fails with the branch's own error, and the catch gets it
    assert_eq!(execution.output, Some(json!({"in": 1, "error": {"Error": "BranchBroke", "Cause": "on purpose"}})));
    assert!(entered(&execution).contains(&"Recovered".to_string()));
    assert_eq!(events(&execution, "ParallelFailed").len(), 1);
}

#[tokio::test]
async fn parallel_parameters_result_selector_and_nested_map() {
    // GIVEN Parameters feeding two branches, one of them a Map
    let definition = json!({"StartAt": "P", "States": {"P": {
        "Type": "Parallel",
        "Parameters": {"xs.$": "$.numbers", "label": "fixed"},
        "Branches": [
            {"StartAt": "Label", "States": {"Label": {"Type": "Pass", "OutputPath": "$.label", "End": true}}},
            {"StartAt": "Double", "States": {"Double": {
                "Type": "Map", "ItemsPath": "$.xs",
                "ItemSelector": {"x.$": "$$.Map.Item.Value"},
                "ItemProcessor": {"StartAt": "Twice", "States": {"Twice": {"Type": "Pass", "Parameters": {"y.$": "States.MathAdd($.x, $.x)"}, "OutputPath": "$.y", "End": true}}},
                "End": true
            }}}
        ],
        "ResultSelector": {"label.$": "$[0]", "doubled.$": "$[1]"},
        "ResultPath": "$.result",
        "End": true
    }}});
    let execution = run(&definition, HandlerRegistry::new(), json!({"numbers": [1, 2, 3]})).await;
    assert_eq!(
        execution.output,
        Some(json!({"numbers": [1, 2, 3], "result": {"label": "fixed", "doubled": [2, 4, 6]}}))
    );
    // Nested events carry their scope and depth
    let twice: Vec<_> = execution
        .history
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::StateEntered { name, .. } if name == "Twice"))
        .map(|e| (e.scope.clone(), e.depth))
        .collect();
    assert_eq!(twice.len(), 3);
    assert!(twice.contains(&("P#1/Double[2]".to_string(), 2)), "{twice:?}");
}
