//! Choice and Wait states, checked against the AWS developer guide's examples.

mod common;

use cdc_asl::{Clock, EventKind, ExecutionStatus, HandlerRegistry, names};
use chrono::TimeDelta;
use common::{at, entered, executor, executor_at, run, t0};
use serde_json::{Value, json};

/// The Choice example of https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-choice-state.html,
/// with Pass states standing in for its Lambda tasks.
fn choice_state_x() -> Value {
    json!({"StartAt": "ChoiceStateX", "States": {
        "ChoiceStateX": {
            "Type": "Choice",
            "Choices": [
                {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
                {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
                {"And": [
                    {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                    {"Variable": "$.value", "NumericLessThan": 30}
                ], "Next": "ValueInTwenties"}
            ],
            "Default": "DefaultState"
        },
        "Public": {"Type": "Pass", "Next": "NextState"},
        "ValueIsZero": {"Type": "Pass", "Next": "NextState"},
        "ValueInTwenties": {"Type": "Pass", "Next": "NextState"},
        "DefaultState": {"Type": "Fail", "Cause": "No Matches!"},
        "NextState": {"Type": "Succeed"}
    }})
}

#[tokio::test]
async fn choice_example_from_the_docs() {
    // GIVEN {"type": "Private", "value": 22} THEN "Step Functions transitions to the ValueInTwenties state"
    let execution = run(&choice_state_x(), HandlerRegistry::new(), json!({"type": "Private", "value": 22})).await;
    assert_eq!(entered(&execution), ["ChoiceStateX", "ValueInTwenties", "NextState"]);
    assert_eq!(execution.output, Some(json!({"type": "Private", "value": 22})));

    // GIVEN other inputs THEN the other rules and the Default are taken
    let public = run(&choice_state_x(), HandlerRegistry::new(), json!({"type": "Public", "value": 22})).await;
    assert_eq!(entered(&public)[1], "Public");
    let zero = run(&choice_state_x(), HandlerRegistry::new(), json!({"type": "Private", "value": 0})).await;
    assert_eq!(entered(&zero)[1], "ValueIsZero");
    let none = run(&choice_state_x(), HandlerRegistry::new(), json!({"type": "Private", "value": 50})).await;
    assert_eq!(entered(&none)[1], "DefaultState");
    assert_eq!(none.status, ExecutionStatus::Failed);
    assert_eq!((none.error, none.cause.as_deref()), (None, Some("No Matches!")));
    let matched = common::events(&execution, "ChoiceMatched");
    assert!(matches!(matched[0], EventKind::ChoiceMatched { rule: Some(2), next, .. } if next == "ValueInTwenties"));
}

#[tokio::test]
async fn choice_example_without_type_fails_at_runtime() {
    // GIVEN the same machine: "If the state input doesn't contain the $.type field, the execution fails"
    let execution = run(&choice_state_x(), HandlerRegistry::new(), json!({"value": 22})).await;
    // THEN it fails with States.Runtime
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some(names::RUNTIME));
    assert!(execution.cause.unwrap_or_default().contains("Invalid path '$.type'"));
}

#[tokio::test]
async fn no_match_without_default_is_states_no_choice_matched() {
    // GIVEN a Choice without Default
    let definition = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}]},
        "One": {"Type": "Succeed"}
    }});
    // WHEN no rule matches THEN States.NoChoiceMatched
    let execution = run(&definition, HandlerRegistry::new(), json!({"n": 2})).await;
    assert_eq!(execution.error.as_deref(), Some(names::NO_CHOICE_MATCHED));
}

// The IsPresent/StringEquals example of the Choice page, and the comparison with another input field.
#[tokio::test]
async fn is_present_guards_and_path_comparisons() {
    // GIVEN the docs' IsPresent guard, a ...Path comparison and IsNull
    // WHEN run on inputs meant for each rule THEN each input reaches its state
    let definition = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"And": [
                {"Variable": "$.keyThatMightNotExist", "IsPresent": true},
                {"Variable": "$.keyThatMightNotExist", "StringEquals": "foo"}
            ], "Next": "Foo"},
            {"Variable": "$.foo", "StringEqualsPath": "$.bar", "Next": "Same"},
            {"Variable": "$.possiblyNullValue", "IsNull": true, "Next": "Null"}
        ], "Default": "Other"},
        "Foo": {"Type": "Succeed"}, "Same": {"Type": "Succeed"}, "Null": {"Type": "Succeed"}, "Other": {"Type": "Succeed"}
    }});
    let cases = [
        (json!({"keyThatMightNotExist": "foo"}), "Foo"),
        (json!({"foo": "x", "bar": "x", "possiblyNullValue": 1}), "Same"),
        (json!({"foo": "x", "bar": "y", "possiblyNullValue": null}), "Null"),
        (json!({"foo": "x", "bar": "y", "possiblyNullValue": 3}), "Other"),
    ];
    for (input, expected) in cases {
        let execution = run(&definition, HandlerRegistry::new(), input.clone()).await;
        assert_eq!(entered(&execution)[1], expected, "{input}");
    }
}

#[tokio::test]
async fn choice_uses_the_effective_input_and_context() {
    // GIVEN InputPath narrows the input and a rule reads the context object
    let definition = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "InputPath": "$.inner", "Choices": [
            {"Variable": "$$.Execution.Name", "StringMatches": "te*", "Next": "Named"}
        ]},
        "Named": {"Type": "Succeed"}
    }});
    let execution = run(&definition, HandlerRegistry::new(), json!({"inner": {"a": 1}})).await;
    assert_eq!(entered(&execution), ["C", "Named"]);
    assert_eq!(execution.output, Some(json!({"a": 1})));
}

// Examples from https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-wait-state.html
#[tokio::test]
async fn wait_seconds_moves_the_virtual_clock() {
    // GIVEN the documented wait_ten_seconds state
    let definition = json!({"StartAt": "wait_ten_seconds", "States": {
        "wait_ten_seconds": {"Type": "Wait", "Seconds": 10, "Next": "NextState"},
        "NextState": {"Type": "Succeed"}
    }});
    let (executor, clock) = executor(&definition, HandlerRegistry::new());
    // WHEN it runs THEN ten virtual seconds pass, and no real ones
    let started = std::time::Instant::now();
    let execution = executor.start("w", json!({"k": 1})).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(clock.now(), t0() + TimeDelta::seconds(10));
    assert_eq!(execution.output, Some(json!({"k": 1})));
    assert!(
        matches!(common::events(&execution, "WaitStarted")[0], EventKind::WaitStarted { until, .. } if *until == t0() + TimeDelta::seconds(10))
    );
}

#[tokio::test]
async fn wait_until_a_timestamp_or_a_path() {
    // GIVEN the documented wait_until states, starting at midnight of 2016-03-14
    let start = at("2016-03-14T00:00:00Z");
    let fixed = json!({"StartAt": "wait_until", "States": {"wait_until": {"Type": "Wait", "Timestamp": "2016-03-14T01:59:00Z", "End": true}}});
    let (executor, clock) = executor_at(&fixed, HandlerRegistry::new(), start);
    executor.start("w", json!({})).await;
    // THEN the clock reads 01:59
    assert_eq!(clock.now(), at("2016-03-14T01:59:00Z"));

    let from_input = json!({"StartAt": "wait_until", "States": {"wait_until": {"Type": "Wait", "TimestampPath": "$.expirydate", "End": true}}});
    let (executor, clock) = executor_at(&from_input, HandlerRegistry::new(), start);
    let execution = executor.start("w", json!({"expirydate": "2016-03-14T01:59:00Z"})).await;
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(clock.now(), at("2016-03-14T01:59:00Z"));

    // GIVEN SecondsPath
    let seconds = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.delay", "End": true}}});
    let (executor, clock) = common::executor(&seconds, HandlerRegistry::new());
    executor.start("w", json!({"delay": 90})).await;
    assert_eq!(clock.now(), t0() + TimeDelta::seconds(90));
    // A timestamp in the past does not wait at all
    let (executor, clock) = common::executor(&fixed, HandlerRegistry::new());
    executor.start("w", json!({})).await;
    assert_eq!(clock.now(), t0());
}

#[tokio::test]
async fn wait_paths_with_bad_values_fail_at_runtime() {
    // GIVEN SecondsPath/TimestampPath values that are not whole seconds or timestamps
    // WHEN the Wait runs THEN States.Runtime
    let seconds = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.delay", "End": true}}});
    for input in [json!({"delay": "ten"}), json!({"delay": -1}), json!({})] {
        let execution = run(&seconds, HandlerRegistry::new(), input.clone()).await;
        assert_eq!(execution.error.as_deref(), Some(names::RUNTIME), "{input}");
    }
    let stamp = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.t", "End": true}}});
    let execution = run(&stamp, HandlerRegistry::new(), json!({"t": "tomorrow"})).await;
    assert_eq!(execution.error.as_deref(), Some(names::RUNTIME));
}

#[tokio::test]
async fn fail_state_error_and_cause_paths() {
    // GIVEN a Fail state taking its error from the input and its cause from an intrinsic
    let definition = json!({"StartAt": "F", "States": {"F": {
        "Type": "Fail",
        "ErrorPath": "$.code",
        "CausePath": "States.Format('table {} failed', $.table)"
    }}});
    let execution = run(&definition, HandlerRegistry::new(), json!({"code": "LoadFailed", "table": "orders"})).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some("LoadFailed"));
    assert_eq!(execution.cause.as_deref(), Some("table orders failed"));
    // The documented static form
    let fixed = json!({"StartAt": "FailState", "States": {"FailState": {"Type": "Fail", "Cause": "Invalid response.", "Error": "ErrorA"}}});
    let execution = run(&fixed, HandlerRegistry::new(), json!({})).await;
    assert_eq!((execution.error.as_deref(), execution.cause.as_deref()), (Some("ErrorA"), Some("Invalid response.")));
}
