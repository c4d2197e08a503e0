//! Input and output processing, checked against the AWS developer guide's examples.

mod common;

use cdc_asl::{ExecutionStatus, HandlerRegistry, TaskError, handler_fn, names};
use common::{entered, run};
use serde_json::{Value, json};

fn hello_handler() -> HandlerRegistry {
    // The tutorial's HelloFunction: "Hello, " + event.who + "!".
    HandlerRegistry::new().with(
        "HelloFunction",
        handler_fn(|_, event: Value| async move {
            let who = event["who"].as_str().unwrap_or("nobody").to_string();
            Ok(json!(format!("Hello, {who}!")))
        }),
    )
}

fn one_task(extra: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:HelloFunction", "End": true});
    if let (Value::Object(state), Value::Object(extra)) = (&mut state, extra) {
        state.extend(extra);
    }
    json!({"StartAt": "HelloWorld", "States": {"HelloWorld": state}})
}

// Example from https://docs.aws.amazon.com/step-functions/latest/dg/input-output-example.html
#[tokio::test]
async fn inputpath_resultpath_outputpath_example() {
    // GIVEN the documented Task with InputPath $.lambda, ResultPath $.data.lambdaresult, OutputPath $.data
    let definition =
        one_task(json!({"InputPath": "$.lambda", "ResultPath": "$.data.lambdaresult", "OutputPath": "$.data"}));
    let input = json!({
        "comment": "An input comment.",
        "data": {"val1": 23, "val2": 17},
        "extra": "foo",
        "lambda": {"who": "AWS Step Functions"}
    });
    // WHEN it runs on the documented input
    let execution = run(&definition, hello_handler(), input).await;
    // THEN the output is the documented data node with the result inside
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.output, Some(json!({"val1": 23, "val2": 17, "lambdaresult": "Hello, AWS Step Functions!"})));
}

// Examples from https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html
#[tokio::test]
async fn resultpath_examples() {
    let input = json!({
        "comment": "This is a test of the input and output of a Task state.",
        "details": "Default example",
        "who": "AWS Step Functions"
    });
    // GIVEN no ResultPath (or "$") THEN the result replaces the input
    let replaced = run(&one_task(json!({})), hello_handler(), input.clone()).await;
    assert_eq!(replaced.output, Some(json!("Hello, AWS Step Functions!")));
    let dollar = run(&one_task(json!({"ResultPath": "$"})), hello_handler(), input.clone()).await;
    assert_eq!(dollar.output, Some(json!("Hello, AWS Step Functions!")));

    // GIVEN "ResultPath": null THEN the input passes through unchanged
    let discarded = run(&one_task(json!({"ResultPath": null})), hello_handler(), input.clone()).await;
    assert_eq!(discarded.output, Some(input.clone()));

    // GIVEN "ResultPath": "$.taskresult" THEN the result is added to the input
    // (the page's sample output also rewords "comment"; the input is kept as given)
    let appended = run(&one_task(json!({"ResultPath": "$.taskresult"})), hello_handler(), input.clone()).await;
    let mut expected = input.clone();
    expected["taskresult"] = json!("Hello, AWS Step Functions!");
    assert_eq!(appended.output, Some(expected));

    // GIVEN "ResultPath": "$.strings.lambdaresult" THEN the result becomes a child of strings
    let child_input = json!({
        "comment": "An input comment.",
        "strings": {"string1": "foo", "string2": "bar", "string3": "baz"},
        "who": "AWS Step Functions"
    });
    let child = run(&one_task(json!({"ResultPath": "$.strings.lambdaresult"})), hello_handler(), child_input).await;
    assert_eq!(
        child.output,
        Some(json!({
            "comment": "An input comment.",
            "strings": {"string1": "foo", "string2": "bar", "string3": "baz", "lambdaresult": "Hello, AWS Step Functions!"},
            "who": "AWS Step Functions"
        }))
    );

    // GIVEN "ResultPath": "$.comment" THEN the existing node is overwritten
    let amended = run(&one_task(json!({"ResultPath": "$.comment"})), hello_handler(), input.clone()).await;
    let mut expected = input;
    expected["comment"] = json!("Hello, AWS Step Functions!");
    assert_eq!(amended.output, Some(expected));
}

// Example from https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html
#[tokio::test]
async fn inputpath_selects_part_of_the_input() {
    // GIVEN the documented dataset input and "InputPath": "$.dataset2" on a Pass state
    let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.dataset2", "End": true}}});
    let input = json!({
        "comment": "Example for InputPath.",
        "dataset1": {"val1": 1, "val2": 2, "val3": 3},
        "dataset2": {"val1": "a", "val2": "b", "val3": "c"}
    });
    // WHEN it runs THEN only dataset2 passes
    let execution = run(&definition, HandlerRegistry::new(), input).await;
    assert_eq!(execution.output, Some(json!({"val1": "a", "val2": "b", "val3": "c"})));
}

// Example from https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html (ResultSelector)
#[tokio::test]
async fn resultselector_example() {
    // GIVEN the documented EMR result, served by a request-response integration handler
    // (the page uses createCluster.sync, which only runs on AWS; the data flow is the same)
    let resource = "arn:aws:states:::elasticmapreduce:createCluster";
    let handlers = HandlerRegistry::new().with(
        resource,
        handler_fn(|_, _| async {
            Ok(json!({
                "resourceType": "elasticmapreduce",
                "resource": "createCluster.sync",
                "output": {
                    "SdkHttpMetadata": {"HttpHeaders": {"Content-Length": "1112"}, "HttpStatusCode": 200},
                    "SdkResponseMetadata": {"RequestId": "1234-5678-9012"},
                    "ClusterId": "AKIAIOSFODNN7EXAMPLE"
                }
            }))
        }),
    );
    let definition = json!({"StartAt": "Create Cluster", "States": {"Create Cluster": {
        "Type": "Task",
        "Resource": resource,
        "Parameters": {"Name": "MyCluster"},
        "ResultSelector": {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"},
        "ResultPath": "$.EMROutput",
        "End": true
    }}});
    // WHEN it runs on {"OtherDataFromInput": {}}
    let execution = run(&definition, handlers, json!({"OtherDataFromInput": {}})).await;
    // THEN the documented output
    assert_eq!(
        execution.output,
        Some(
            json!({"OtherDataFromInput": {}, "EMROutput": {"ResourceType": "elasticmapreduce", "ClusterId": "AKIAIOSFODNN7EXAMPLE"}})
        )
    );
}

// Example from https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-pass-state.html
#[tokio::test]
async fn pass_state_example() {
    // GIVEN the documented No-op Pass state
    let definition = json!({"StartAt": "No-op", "States": {
        "No-op": {"Type": "Pass", "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355}, "ResultPath": "$.coords", "Next": "End"},
        "End": {"Type": "Succeed"}
    }});
    // WHEN it runs on {"georefOf": "Home"} THEN the coordinates are added
    let execution = run(&definition, HandlerRegistry::new(), json!({"georefOf": "Home"})).await;
    assert_eq!(
        execution.output,
        Some(json!({"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}}))
    );
}

// Example from https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html
#[tokio::test]
async fn context_object_in_a_pass_state() {
    // GIVEN the documented Pass state reading $$.Execution.StartTime and $$.Execution.Name
    let definition = json!({"StartAt": "Get execution context data", "States": {"Get execution context data": {
        "Type": "Pass",
        "Parameters": {"startTime.$": "$$.Execution.StartTime", "execName.$": "$$.Execution.Name"},
        "ResultPath": "$.executionContext",
        "End": true
    }}});
    // WHEN it runs (on a virtual clock at 2024-01-01T00:00:00Z, execution name "test")
    let execution = run(&definition, HandlerRegistry::new(), json!({"k": "v"})).await;
    // THEN both values are inserted
    assert_eq!(
        execution.output,
        Some(json!({"k": "v", "executionContext": {"startTime": "2024-01-01T00:00:00.000Z", "execName": "test"}}))
    );
}

#[tokio::test]
async fn every_context_field_is_available() {
    // GIVEN a Pass state that copies the whole context object
    let definition = json!({"StartAt": "Ctx", "States": {"Ctx": {
        "Type": "Pass",
        "Parameters": {
            "id.$": "$$.Execution.Id", "input.$": "$$.Execution.Input", "machine.$": "$$.StateMachine.Id",
            "state.$": "$$.State.Name", "entered.$": "$$.State.EnteredTime", "retries.$": "$$.State.RetryCount"
        },
        "End": true
    }}});
    // WHEN it runs
    let execution = run(&definition, HandlerRegistry::new(), json!({"a": 1})).await;
    // THEN the ARNs follow the AWS format with the local account and region
    assert_eq!(
        execution.output,
        Some(json!({
            "id": "arn:aws:states:local:000000000000:execution:StateMachine:test",
            "input": {"a": 1},
            "machine": "arn:aws:states:local:000000000000:stateMachine:StateMachine",
            "state": "Ctx",
            "entered": "2024-01-01T00:00:00.000Z",
            "retries": 0
        }))
    );
    assert_eq!(execution.execution_arn, "arn:aws:states:local:000000000000:execution:StateMachine:test");
}

#[tokio::test]
async fn null_paths_give_an_empty_object() {
    // GIVEN "InputPath": null on one state and "OutputPath": null on the next
    let definition = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "InputPath": null, "ResultPath": "$.seen", "Next": "B"},
        "B": {"Type": "Pass", "OutputPath": null, "End": true}
    }});
    // WHEN it runs THEN A sees {} (and keeps its input), B outputs {}
    let execution = run(&definition, HandlerRegistry::new(), json!({"x": 1})).await;
    assert_eq!(execution.output, Some(json!({})));
    let exited: Vec<&cdc_asl::EventKind> = common::events(&execution, "StateExited");
    assert!(
        matches!(exited[0], cdc_asl::EventKind::StateExited { output, .. } if *output == json!({"x": 1, "seen": {}}))
    );
}

// Intrinsic example from https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html,
// run through a Pass state's Parameters.
#[tokio::test]
async fn intrinsics_in_parameters() {
    // GIVEN the documented intrinsic examples in a Pass state's Parameters
    // WHEN it runs THEN the documented values
    let definition = json!({"StartAt": "P", "States": {"P": {
        "Type": "Pass",
        "Parameters": {
            "foo.$": "States.Array('Foo', 2020, $.someJson, null)",
            "greeting.$": "States.Format('Hello, my name is {}.', $.name)",
            "json.$": "States.JsonToString($.someJson)"
        },
        "End": true
    }}});
    let input = json!({"someJson": {"random": "abcdefg"}, "zebra": "stripe", "name": "Arnav"});
    let execution = run(&definition, HandlerRegistry::new(), input).await;
    assert_eq!(
        execution.output,
        Some(json!({
            "foo": ["Foo", 2020, {"random": "abcdefg"}, null],
            "greeting": "Hello, my name is Arnav.",
            "json": "{\"random\":\"abcdefg\"}"
        }))
    );
}

#[tokio::test]
async fn runtime_path_errors_are_states_runtime() {
    // GIVEN an InputPath, a Parameters path and a ResultPath that cannot apply to the input
    let cases = [
        json!({"Type": "Pass", "InputPath": "$.missing", "End": true}),
        json!({"Type": "Pass", "Parameters": {"x.$": "$.missing"}, "End": true}),
        json!({"Type": "Pass", "OutputPath": "$.missing", "End": true}),
    ];
    for state in cases {
        let definition = json!({"StartAt": "S", "States": {"S": state}});
        // WHEN each runs THEN the execution fails with States.Runtime
        let execution = run(&definition, HandlerRegistry::new(), json!({"present": 1})).await;
        assert_eq!(execution.status, ExecutionStatus::Failed, "{state}");
        assert_eq!(execution.error.as_deref(), Some(names::RUNTIME), "{state}");
    }
    // A ResultPath below a string cannot be applied
    let definition =
        json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "Result": 1, "ResultPath": "$.x", "End": true}}});
    let execution = run(&definition, HandlerRegistry::new(), json!("just a string")).await;
    assert_eq!(execution.error.as_deref(), Some(names::RUNTIME));
    assert!(execution.cause.unwrap_or_default().contains("Unable to apply ResultPath '$.x'"));
}

#[tokio::test]
async fn intrinsic_failure_is_catchable() {
    // GIVEN a Parallel whose branch calls an intrinsic on bad data, caught by States.IntrinsicFailure
    let definition = json!({"StartAt": "Par", "States": {
        "Par": {
            "Type": "Parallel",
            "Branches": [{"StartAt": "Bad", "States": {"Bad": {"Type": "Pass", "Parameters": {"j.$": "States.StringToJson($.s)"}, "End": true}}}],
            "Catch": [{"ErrorEquals": ["States.IntrinsicFailure"], "ResultPath": "$.err", "Next": "Handled"}],
            "End": true
        },
        "Handled": {"Type": "Succeed"}
    }});
    // WHEN it runs on a string that is not JSON
    let execution = run(&definition, HandlerRegistry::new(), json!({"s": "{not json"})).await;
    // THEN the error is caught and recorded under $.err
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.output.as_ref().map(|o| o["err"]["Error"].clone()), Some(json!("States.IntrinsicFailure")));
    assert_eq!(entered(&execution), ["Par", "Bad", "Handled"]);
}

#[tokio::test]
async fn lambda_invoke_wraps_the_payload_like_aws() {
    // GIVEN the optimized integration with the usual Parameters
    let definition = json!({"StartAt": "Invoke", "States": {"Invoke": {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:load:$LATEST", "Payload.$": "$"},
        "End": true
    }}});
    let handlers = HandlerRegistry::new()
        .with("load", handler_fn(|name, payload| async move { Ok(json!({"called": name, "got": payload})) }));
    // WHEN it runs
    let execution = run(&definition, handlers, json!({"table": "orders"})).await;
    // THEN the result has the Lambda Invoke response shape around the handler's output
    let output = execution.output.expect("succeeded");
    assert_eq!(output["StatusCode"], 200);
    assert_eq!(output["ExecutedVersion"], "$LATEST");
    assert_eq!(
        output["Payload"],
        json!({"called": "arn:aws:lambda:eu-west-1:123456789012:function:load:$LATEST", "got": {"table": "orders"}})
    );
    assert_eq!(output["SdkHttpMetadata"]["HttpStatusCode"], 200);
    let request_id = output["SdkResponseMetadata"]["RequestId"].as_str().expect("a request id");
    assert_eq!(output["SdkHttpMetadata"]["HttpHeaders"]["x-amzn-RequestId"], request_id);
    assert_eq!(request_id.len(), 36);
}

#[tokio::test]
async fn lambda_errors_use_the_error_type_as_the_error_name() {
    // GIVEN a function that raises DataError
    let definition = one_task(json!({}));
    let handlers = HandlerRegistry::new()
        .with("HelloFunction", handler_fn(|_, _| async { Err(TaskError::lambda("DataError", "row 7 has no key")) }));
    // WHEN it runs THEN the execution fails with the error type and the JSON cause
    let execution = run(&definition, handlers, json!({})).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some("DataError"));
    let cause: Value = serde_json::from_str(execution.cause.as_deref().unwrap_or("")).expect("the cause is JSON");
    assert_eq!(cause, json!({"errorMessage": "row 7 has no key", "errorType": "DataError"}));
}
