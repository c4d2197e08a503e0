//! Definitions that cannot run are refused before anything runs, each error naming its state.

use std::collections::BTreeMap;

use cdc_asl::{DefinitionError, StateMachine};
use serde_json::{Value, json};

fn parse(definition: &Value) -> Result<StateMachine, DefinitionError> {
    StateMachine::parse(&definition.to_string(), &BTreeMap::new())
}

fn error_of(definition: Value) -> DefinitionError {
    match parse(&definition) {
        Ok(_) => panic!("expected {definition} to be refused"),
        Err(error) => error,
    }
}

/// A machine whose one state `S` is `state`, followed by a Succeed state `Done`.
fn with_state(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state, "Done": {"Type": "Succeed"}}})
}

#[test]
fn a_valid_definition_with_every_state_type_parses() {
    // GIVEN a definition using every state type
    let definition = json!({
        "Comment": "all state types",
        "StartAt": "Pass",
        "TimeoutSeconds": 3600,
        "States": {
            "Pass": {"Type": "Pass", "Next": "Task"},
            "Task": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f", "Payload.$": "$"},
                     "Retry": [{"ErrorEquals": ["States.TaskFailed"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Fail"}], "Next": "Choice"},
            "Choice": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "Wait"}], "Default": "Parallel"},
            "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Parallel"},
            "Parallel": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}], "Next": "Map"},
            "Map": {"Type": "Map", "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}, "Next": "Succeed"},
            "Succeed": {"Type": "Succeed"},
            "Fail": {"Type": "Fail", "Error": "E", "Cause": "C"}
        }
    });
    // THEN it parses, with its metadata
    let machine = parse(&definition).expect("valid");
    assert_eq!(machine.start_at(), "Pass");
    assert_eq!(machine.timeout_seconds(), Some(3600));
    assert_eq!(machine.comment(), Some("all state types"));
    assert_eq!(machine.state_names().len(), 8);
    assert_eq!(machine.lambda_functions(), ["f"]);
    assert_eq!(machine.with_name("pipeline").name(), "pipeline");
}

#[test]
fn substitutions_are_applied_and_leftovers_name_the_state() {
    // GIVEN a definition with ${LoadFunctionArn} and ${Concurrency} (outside a string, as CloudFormation allows)
    let text = r#"{"StartAt": "Load", "States": {"Load": {
        "Type": "Map", "MaxConcurrency": ${Concurrency},
        "ItemProcessor": {"StartAt": "Call", "States": {"Call": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${LoadFunctionArn}", "Payload.$": "$"}, "End": true}}},
        "End": true}}}"#;
    let subs = BTreeMap::from([
        ("LoadFunctionArn".to_string(), "arn:aws:lambda:eu-west-1:123456789012:function:load".to_string()),
        ("Concurrency".to_string(), "4".to_string()),
    ]);
    // WHEN both are given THEN it parses and names the function
    let machine = StateMachine::parse(text, &subs).expect("substituted");
    assert_eq!(machine.lambda_functions(), ["arn:aws:lambda:eu-west-1:123456789012:function:load"]);
    // WHEN the string one is missing THEN the error names the inner state and the field
    let only_concurrency = BTreeMap::from([("Concurrency".to_string(), "4".to_string())]);
    let error = StateMachine::parse(text, &only_concurrency).expect_err("refused");
    assert!(
        matches!(&error, DefinitionError::UnresolvedPlaceholder { name, field, .. }
        if name == "LoadFunctionArn" && field == "Parameters.FunctionName"),
        "{error}"
    );
    assert_eq!(error.state(), Some("Call"));
    assert_eq!(
        error.to_string(),
        "state 'Call' inside 'Load': placeholder ${LoadFunctionArn} has no substitution (field 'Parameters.FunctionName')"
    );
    // WHEN the one outside a string is missing THEN the text is not even JSON
    let only_arn = BTreeMap::from([("LoadFunctionArn".to_string(), "f".to_string())]);
    assert!(matches!(StateMachine::parse(text, &only_arn), Err(DefinitionError::Json(_))));
}

#[test]
fn dangling_transitions_name_the_state_and_field() {
    // GIVEN a Next, Default, Choice Next, Catch Next and StartAt naming no state
    // WHEN parsed THEN each error names the state and the field
    let cases = [
        (with_state(json!({"Type": "Pass", "Next": "Nowhere"})), "S", "Next"),
        (
            with_state(
                json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "Done"}], "Default": "Nowhere"}),
            ),
            "S",
            "Default",
        ),
        (
            with_state(
                json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "Nowhere"}], "Default": "Done"}),
            ),
            "S",
            "Choices[].Next",
        ),
        (
            with_state(json!({"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:1:function:f",
                              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Nowhere"}], "Next": "Done"})),
            "S",
            "Catch[].Next",
        ),
    ];
    for (definition, state, expected_field) in cases {
        let error = error_of(definition);
        assert!(
            matches!(&error, DefinitionError::DanglingTransition { field, target, .. }
            if field == expected_field && target == "Nowhere"),
            "{error}"
        );
        assert_eq!(error.state(), Some(state));
    }
    // A missing StartAt target is an error of the machine itself
    let error = error_of(json!({"StartAt": "Nowhere", "States": {"S": {"Type": "Succeed"}}}));
    assert!(matches!(&error, DefinitionError::DanglingTransition { field, .. } if field == "StartAt"), "{error}");
    assert_eq!(error.to_string(), "state machine: 'StartAt' names state 'Nowhere', which does not exist");
}

#[test]
fn structural_errors() {
    // GIVEN unknown types and fields, misplaced fields, bad transitions, unreachable states
    // WHEN parsed THEN each is refused, naming its state
    let unknown_type = error_of(with_state(json!({"Type": "Sleep", "Next": "Done"})));
    assert!(matches!(&unknown_type, DefinitionError::UnknownStateType { type_name, .. } if type_name == "Sleep"));
    assert_eq!(unknown_type.state(), Some("S"));

    let unknown_field = error_of(with_state(json!({"Type": "Pass", "Nxt": "Done", "End": true})));
    assert!(matches!(&unknown_field, DefinitionError::UnknownField { field, .. } if field == "Nxt"), "{unknown_field}");

    let misplaced = error_of(with_state(json!({"Type": "Pass", "ResultSelector": {}, "Next": "Done"})));
    assert!(
        matches!(&misplaced, DefinitionError::MisplacedField { field, state_type, .. } if field == "ResultSelector" && state_type == "Pass")
    );
    assert_eq!(misplaced.to_string(), "state 'S': field 'ResultSelector' is not allowed in a Pass state");

    let no_transition = error_of(with_state(json!({"Type": "Pass"})));
    assert!(matches!(no_transition, DefinitionError::MissingTransition { .. }));
    let both = error_of(with_state(json!({"Type": "Pass", "Next": "Done", "End": true})));
    assert!(matches!(both, DefinitionError::ConflictingTransition { .. }));
    let choice_end = error_of(with_state(
        json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "Done"}], "End": true}),
    ));
    assert!(matches!(choice_end, DefinitionError::MisplacedField { .. }));
    let missing_type = error_of(with_state(json!({"Next": "Done"})));
    assert!(matches!(missing_type, DefinitionError::MissingField { ref field, .. } if field == "Type"));
    let unreachable =
        error_of(json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "Orphan": {"Type": "Succeed"}}}));
    assert!(matches!(&unreachable, DefinitionError::UnreachableState { .. }));
    assert_eq!(unreachable.state(), Some("Orphan"));
    assert!(matches!(error_of(json!({"StartAt": "A", "States": {}})), DefinitionError::InvalidField { .. }));
    assert!(matches!(StateMachine::parse("{not json", &BTreeMap::new()), Err(DefinitionError::Json(_))));
    assert!(matches!(
        error_of(json!({"StartAt": "A", "Version": "2.0", "States": {"A": {"Type": "Succeed"}}})),
        DefinitionError::InvalidField { .. }
    ));
}

#[test]
fn bad_paths_are_refused_where_they_are_written() {
    // GIVEN a malformed path in each field that takes one
    // WHEN parsed THEN the error names the state and the field
    let cases = [
        (json!({"Type": "Pass", "InputPath": "$.a[", "Next": "Done"}), "InputPath"),
        (json!({"Type": "Pass", "OutputPath": "a.b", "Next": "Done"}), "OutputPath"),
        // ResultPath must be a reference path: no wildcard, and no context object
        (json!({"Type": "Pass", "ResultPath": "$.a[*]", "Next": "Done"}), "ResultPath"),
        (json!({"Type": "Pass", "ResultPath": "$$.Execution", "Next": "Done"}), "ResultPath"),
        (json!({"Type": "Pass", "Parameters": {"deep": {"x.$": "$..["}}, "Next": "Done"}), "Parameters.deep.x.$"),
        (
            json!({"Type": "Choice", "Choices": [{"Variable": "$.a..", "IsNull": true, "Next": "Done"}]}),
            "Choices[0].Variable",
        ),
        (
            json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEqualsPath": "b", "Next": "Done"}]}),
            "Choices[0].StringEqualsPath",
        ),
        (json!({"Type": "Wait", "SecondsPath": "$.a[?(@.x)]", "Next": "Done"}), "SecondsPath"),
        (
            json!({"Type": "Map", "ItemsPath": "$.a[*]", "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}, "Next": "Done"}),
            "ItemsPath",
        ),
        (json!({"Type": "Fail", "CausePath": "$.a.length()"}), "CausePath"),
    ];
    for (state, expected_field) in cases {
        let error = error_of(with_state(state.clone()));
        assert!(
            matches!(&error, DefinitionError::InvalidPath { field, .. } if field == expected_field),
            "{state}: {error}"
        );
        assert_eq!(error.state(), Some("S"));
    }
    let catch_path = error_of(with_state(json!({"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:1:function:f",
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$..x", "Next": "Done"}], "Next": "Done"})));
    assert!(
        matches!(&catch_path, DefinitionError::InvalidPath { field, .. } if field == "Catch[0].ResultPath"),
        "{catch_path}"
    );
}

#[test]
fn bad_intrinsics_are_refused() {
    // GIVEN unknown functions and malformed calls WHEN parsed THEN each is refused, naming state and field
    let unknown =
        error_of(with_state(json!({"Type": "Pass", "Parameters": {"x.$": "States.Frobnicate($.a)"}, "Next": "Done"})));
    assert!(
        matches!(&unknown, DefinitionError::UnknownIntrinsic { function, field, .. }
        if function == "States.Frobnicate" && field == "Parameters.x.$"),
        "{unknown}"
    );
    assert_eq!(unknown.state(), Some("S"));
    let nested_unknown = error_of(with_state(
        json!({"Type": "Pass", "Parameters": {"x.$": "States.Array(States.Nope())"}, "Next": "Done"}),
    ));
    assert!(matches!(nested_unknown, DefinitionError::UnknownIntrinsic { .. }));
    for bad in ["States.MathAdd(1)", "States.Format('{} {}', 1)", "States.Array(1,", "States.Format('\\n')"] {
        let error = error_of(with_state(json!({"Type": "Pass", "Parameters": {"x.$": bad}, "Next": "Done"})));
        assert!(matches!(error, DefinitionError::InvalidIntrinsic { .. }), "{bad}: {error}");
    }
    let fail = error_of(with_state(json!({"Type": "Fail", "ErrorPath": "States.Nope()"})));
    assert!(matches!(fail, DefinitionError::UnknownIntrinsic { .. }));
}

#[test]
fn nested_sub_machines_are_validated_recursively() {
    // GIVEN a bad state inside a Map inside a Parallel branch
    let definition = json!({"StartAt": "Fan", "States": {"Fan": {
        "Type": "Parallel", "End": true,
        "Branches": [{"StartAt": "Tables", "States": {"Tables": {
            "Type": "Map", "End": true,
            "ItemProcessor": {"StartAt": "Load", "States": {"Load": {"Type": "Pass", "Next": "Missing"}}}
        }}}]
    }}});
    // THEN the error names the innermost state and its parents
    let error = error_of(definition);
    assert_eq!(error.state(), Some("Load"));
    assert_eq!(
        error.to_string(),
        "state 'Load' inside 'Tables' inside 'Fan': 'Next' names state 'Missing', which does not exist"
    );

    // GIVEN a branch that jumps out of itself THEN the target does not exist in its scope
    let escape = error_of(json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "After", "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "After"}}}]},
        "After": {"Type": "Succeed"}
    }}));
    assert!(matches!(escape, DefinitionError::DanglingTransition { .. }));
    assert_eq!(escape.state(), Some("B"));

    // GIVEN the same state name in two branches THEN it is a duplicate, as in AWS
    let duplicate = error_of(json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "Same", "States": {"Same": {"Type": "Succeed"}}},
        {"StartAt": "Same", "States": {"Same": {"Type": "Succeed"}}}
    ]}}}));
    assert!(matches!(duplicate, DefinitionError::DuplicateStateName { ref name, .. } if name == "Same"));

    // GIVEN a Map without a processor or with both forms
    let map = |fields: Value| {
        let mut state = json!({"Type": "Map", "Next": "Done"});
        if let (Value::Object(s), Value::Object(f)) = (&mut state, fields) {
            s.extend(f);
        }
        error_of(with_state(state))
    };
    let processor = json!({"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}});
    assert!(matches!(map(json!({})), DefinitionError::MissingField { .. }));
    assert!(matches!(
        map(json!({"ItemProcessor": processor, "Iterator": processor})),
        DefinitionError::InvalidField { .. }
    ));
    assert!(matches!(
        map(json!({"ItemProcessor": processor, "Parameters": {}, "ItemSelector": {}})),
        DefinitionError::InvalidField { .. }
    ));
}

#[test]
fn retry_and_catch_rules() {
    // GIVEN retriers and catchers breaking AWS's rules WHEN parsed THEN each is refused
    let task = |fields: Value| {
        let mut state = json!({"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:1:function:f", "Next": "Done"});
        if let (Value::Object(s), Value::Object(f)) = (&mut state, fields) {
            s.extend(f);
        }
        with_state(state)
    };
    let not_last = error_of(task(
        json!({"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}, {"ErrorEquals": ["E"], "Next": "Done"}]}),
    ));
    assert!(
        matches!(&not_last, DefinitionError::InvalidField { field, .. } if field == "Catch[0].ErrorEquals"),
        "{not_last}"
    );
    let not_alone = error_of(task(json!({"Retry": [{"ErrorEquals": ["States.ALL", "E"]}]})));
    assert!(matches!(not_alone, DefinitionError::InvalidField { .. }));
    let bad_rate = error_of(task(json!({"Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}]})));
    assert!(matches!(bad_rate, DefinitionError::InvalidField { .. }));
    let heartbeat = error_of(task(json!({"TimeoutSeconds": 10, "HeartbeatSeconds": 10})));
    assert!(matches!(heartbeat, DefinitionError::InvalidField { .. }));
    let both = error_of(task(json!({"TimeoutSeconds": 10, "TimeoutSecondsPath": "$.t"})));
    assert!(matches!(both, DefinitionError::InvalidField { .. }));
    let on_pass = error_of(with_state(json!({"Type": "Pass", "Retry": [], "Next": "Done"})));
    assert!(matches!(on_pass, DefinitionError::MisplacedField { .. }));
}

#[test]
fn state_specific_rules() {
    // GIVEN Wait, Fail and Task states breaking their own rules WHEN parsed THEN each is refused
    let wait_two = error_of(with_state(
        json!({"Type": "Wait", "Seconds": 1, "Timestamp": "2016-03-14T01:59:00Z", "Next": "Done"}),
    ));
    assert!(matches!(wait_two, DefinitionError::InvalidField { .. }));
    let bad_timestamp = error_of(with_state(json!({"Type": "Wait", "Timestamp": "2016-03-14 01:59", "Next": "Done"})));
    assert!(matches!(bad_timestamp, DefinitionError::InvalidField { .. }));
    let fail_both = error_of(with_state(json!({"Type": "Fail", "Cause": "x", "CausePath": "$.c"})));
    assert!(matches!(fail_both, DefinitionError::InvalidField { .. }));
    let fail_next = error_of(with_state(json!({"Type": "Fail", "Next": "Done"})));
    assert!(matches!(fail_next, DefinitionError::MisplacedField { .. }));
    let no_function = error_of(with_state(
        json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"Payload.$": "$"}, "Next": "Done"}),
    ));
    assert!(matches!(&no_function, DefinitionError::MissingField { field, .. } if field == "Parameters.FunctionName"));
    let not_arn = error_of(with_state(json!({"Type": "Task", "Resource": "my-function", "Next": "Done"})));
    assert!(matches!(not_arn, DefinitionError::InvalidField { .. }));
    let dollar_not_string = error_of(with_state(json!({"Type": "Pass", "Parameters": {"x.$": 5}, "Next": "Done"})));
    assert!(matches!(dollar_not_string, DefinitionError::InvalidField { .. }));
}

#[test]
fn unsupported_features_are_refused_with_a_reason() {
    // GIVEN features that only run on AWS WHEN parsed THEN each is refused as unsupported
    let cases = [
        with_state(json!({"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync", "Next": "Done"})),
        with_state(
            json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Parameters": {"FunctionName": "f"}, "Next": "Done"}),
        ),
        with_state(
            json!({"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:HelloWorld", "Next": "Done"}),
        ),
        with_state(
            json!({"Type": "Map", "ItemReader": {}, "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}, "Next": "Done"}),
        ),
        with_state(
            json!({"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}, "Next": "Done"}),
        ),
        with_state(json!({"Type": "Pass", "Assign": {"x": 1}, "Next": "Done"})),
        json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
    ];
    for definition in cases {
        let error = error_of(definition.clone());
        assert!(matches!(error, DefinitionError::Unsupported { .. }), "{definition}: {error}");
    }
}
