//! Each handler invoked in process with its events/ file
//! (`LambdaEvent::new(event, Context::default())`), built by the same cold
//! start as in Lambda from the variables template.yaml sets, against moto
//! and the Data API emulator. One run of the pipeline's steps in the
//! state machine's order ends with every target table equal to the
//! generator's oracle; then the failure paths.

mod support;

use std::collections::HashMap;

use serde_json::{Value, json};

use cdc_core::job::JobStateStore;
use cdc_lambda::{Deployment, Function};
use support::{deployment, event, invoke, lambda_sdk, ok, stack, submit_and_poll, with};

fn result_of(out: &Value) -> Value {
    json!({"table": out["table"], "ok": true, "files": out["files"], "changes": out["changes"], "rows": out["rows"], "seconds": out["seconds"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_events_files_run_the_pipeline_steps_and_the_targets_match_the_oracle() {
    // GIVEN DMS's full load in S3, an empty warehouse, and the functions' variables
    let stack = stack(31).await;
    stack.deliver().await;
    let d = deployment(&stack);
    assert!(d.check().is_ok());

    // WHEN the job state function gets events/job-state-claim.json
    let claim = ok(&d, Function::JobState, event("job-state-claim")).await;
    // THEN the job is claimed and setup is needed on an empty warehouse
    assert_eq!(claim["outcome"], "claimed", "{claim}");
    assert_eq!(claim["setup_needed"], true);

    // WHEN setup, every dimension, every fact and every derived table run through their events files
    let setup =
        submit_and_poll(&d, Function::DimensionLoad, "dimension-load-setup-submit", "dimension-load-setup-poll", "")
            .await;
    assert_eq!(setup["status"], "done", "{setup}");
    let mut results: HashMap<&str, Vec<Value>> = HashMap::new();
    for t in claim["dimensions"].as_array().unwrap() {
        let t = t.as_str().unwrap();
        let out =
            submit_and_poll(&d, Function::DimensionLoad, "dimension-load-load-submit", "dimension-load-load-poll", t)
                .await;
        assert_eq!(out["status"], "done", "{t}: {out}");
        assert!(out["changes"].as_u64().unwrap() > 0, "{t}: {out}");
        results.entry("dimensions").or_default().push(result_of(&out));
    }
    for t in claim["facts"].as_array().unwrap() {
        let t = t.as_str().unwrap();
        let out = submit_and_poll(&d, Function::FactLoad, "fact-load-load-submit", "fact-load-load-poll", t).await;
        assert_eq!(out["status"], "done", "{t}: {out}");
        results.entry("facts").or_default().push(result_of(&out));
    }
    for t in claim["derived"].as_array().unwrap() {
        let t = t.as_str().unwrap();
        let out =
            submit_and_poll(&d, Function::FactLoad, "fact-load-refresh-submit", "fact-load-refresh-poll", t).await;
        assert_eq!(out["status"], "done", "{t}: {out}");
        results.entry("derived").or_default().push(json!({"table": t, "ok": true}));
    }
    // THEN every target table equals the oracle
    stack.assert_matches_oracle("after the load events").await;

    // WHEN the unload events run for a table (a full load has no finished CDC day: nothing to export)
    let unload = submit_and_poll(&d, Function::Unload, "unload-submit", "unload-poll", "pgbench_accounts").await;
    assert!(matches!(unload["status"].as_str(), Some("nothing_new") | Some("done")), "{unload}");

    // WHEN the release event carries this run's results
    let release = with(
        event("job-state-release"),
        &[("started_at", claim["started_at"].clone()), ("hints", claim["hints"].clone()), ("results", json!(results))],
    );
    let released = ok(&d, Function::JobState, release).await;
    // THEN the run is recorded as a success and the job is free for the next one
    assert_eq!(released["failed"], false, "{released}");
    let next = ok(&d, Function::JobState, with(event("job-state-claim"), &[("execution_id", json!("run-2"))])).await;
    assert_ne!(next["outcome"], "held", "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fail_and_notify_events_mark_the_job_failed_and_publish_one_notice() {
    // GIVEN a claimed job
    let stack = stack(32).await;
    stack.deliver().await;
    let d = deployment(&stack);
    ok(&d, Function::JobState, event("job-state-claim")).await;

    // WHEN the fail event reports a caught ConfigError
    let failed = ok(&d, Function::JobState, event("job-state-fail")).await;
    // THEN the job is failed and a notice is due, naming the step
    let notice = failed["notice"].clone();
    assert!(notice.is_object(), "{failed}");
    assert_eq!(notice["failed_step"], "Load dimensions");
    let job = stack.ports.store.get("101").await.unwrap().unwrap();
    assert_eq!(job.state, cdc_core::job::JobState::Failed);

    // WHEN the notify event publishes it
    let sent = ok(&d, Function::Notify, with(event("notify"), &[("notice", notice)])).await;
    // THEN exactly one message reached the topic's subscriber, naming the job
    let got = stack.notices(1).await;
    assert_eq!(got.len(), 1, "{sent} {got:?}");
    assert!(got[0].to_string().contains("101"), "{:?}", got[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_settings_bad_events_and_a_broken_config_object_are_config_errors_that_name_the_cause() {
    let stack = stack(33).await;
    stack.deliver().await;

    // GIVEN a deployment missing JOB_TABLE
    let mut vars = stack.vars.clone();
    vars.remove("JOB_TABLE");
    let broken = Deployment::new(lambda_sdk(&stack), move |k| vars.get(k).cloned());
    // WHEN any event arrives THEN ConfigError naming the variable
    assert!(broken.check().is_err());
    let e = invoke(&broken, Function::JobState, event("job-state-claim")).await.unwrap_err();
    assert_eq!(e.error_type, "ConfigError");
    assert!(e.error_message.contains("JOB_TABLE"), "{}", e.error_message);

    let d = deployment(&stack);
    // GIVEN a poll event without its statement id THEN ConfigError naming the action and the field
    let mut poll = event("dimension-load-load-poll");
    poll.as_object_mut().unwrap().remove("statement_id");
    let e = invoke(&d, Function::DimensionLoad, poll).await.unwrap_err();
    assert_eq!(e.error_type, "ConfigError");
    assert!(e.error_message.contains("load_poll") && e.error_message.contains("statement_id"), "{}", e.error_message);
    // GIVEN an action another function owns THEN ConfigError naming both
    let e = invoke(&d, Function::Notify, event("job-state-claim")).await.unwrap_err();
    assert!(e.error_type == "ConfigError" && e.error_message.contains("notify") && e.error_message.contains("claim"));
    // GIVEN an event that is not an object THEN ConfigError
    let e = invoke(&d, Function::JobState, json!("claim")).await.unwrap_err();
    assert_eq!(e.error_type, "ConfigError", "{}", e.error_message);
    // GIVEN a table the config does not have THEN ConfigError naming it
    let unknown = with(event("dimension-load-load-submit"), &[("table", json!("no_such_table"))]);
    let e = invoke(&d, Function::DimensionLoad, unknown).await.unwrap_err();
    assert!(e.error_message.contains("no_such_table"), "{}", e.error_message);

    // GIVEN a warm function WHEN a user breaks the config object
    ok(&d, Function::JobState, event("job-state-claim")).await;
    stack.put_config("[pipeline]\njob_id = \"101\"\nunknown_key = 1\n").await;
    // THEN the next invocation sees the change: ConfigError naming the object
    let e = invoke(&d, Function::JobState, event("job-state-claim")).await.unwrap_err();
    assert_eq!(e.error_type, "ConfigError");
    assert!(e.error_message.contains("s3://cdc-config/cdc/pipeline.toml"), "{}", e.error_message);
    // WHEN it is fixed THEN the same warm function works again, no redeploy
    let good = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/pipeline.toml")).unwrap();
    stack.put_config(&good).await;
    let again = ok(&d, Function::JobState, event("job-state-claim")).await;
    assert_eq!(again["outcome"], "claimed", "{again}");
}
