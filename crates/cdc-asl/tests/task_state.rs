//! Code under a handler knows which Task state called it, also inside Map
//! iterations running side by side.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::json;

use cdc_asl::{ExecutionStatus, Executor, HandlerRegistry, StateMachine, VirtualClock, current_task_state, handler_fn};

#[tokio::test]
async fn a_handler_sees_the_name_of_the_task_state_that_called_it() {
    // GIVEN a Task state, then a Map whose iterations call the same function from another state
    let definition = json!({
        "StartAt": "First call",
        "States": {
            "First call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "ResultPath": null, "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$.items", "End": true, "MaxConcurrency": 0,
                "ItemProcessor": {"StartAt": "Inner call", "States": {
                    "Inner call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true}}}}
        }
    });
    let machine = StateMachine::parse(&definition.to_string(), &BTreeMap::new()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let handlers = HandlerRegistry::new().with(
        "arn:aws:lambda:us-east-1:1:function:f",
        handler_fn(move |_, event| {
            let log = Arc::clone(&log);
            async move {
                tokio::task::yield_now().await;
                log.lock().unwrap().push(current_task_state());
                Ok(event)
            }
        }),
    );
    // WHEN it runs
    let clock = Arc::new(VirtualClock::new(chrono::Utc::now()));
    let execution = Executor::new(machine, handlers, clock).start("names", json!({"items": [1, 2, 3]})).await;
    // THEN each call saw its own state's name, and code outside any handler sees none
    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?}", execution.cause);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let inner = Some("Inner call".to_string());
    assert_eq!(seen, vec![Some("First call".to_string()), inner.clone(), inner.clone(), inner]);
    assert_eq!(current_task_state(), None);
}
