//! The table of every SDK call the functions make, recorded, not written by
//! hand: each function gets its own deployment (as in Lambda) with the
//! `CallRecorder` interceptor on every client, and runs its events/ files;
//! then the state machine runs CDC cycles on the same recorded ports until
//! finished days are unloaded. The distinct calls, each with its function,
//! IAM action, resource and request-context keys, must equal the reviewed
//! `tests/iam/sdk-calls.tsv` (`UPDATE_GOLDEN=1` rewrites it; review the
//! diff). Table names are written `{table}` and digits `N`: which table or
//! day a call touched depends on the run, the permission it needs does not. `tests/tests/iam_policy.rs` holds every row of it against the
//! function's role in template.yaml.

mod support;

use std::collections::BTreeMap;

use cdc_aws::iam_record::{parse_table, to_table_with};
use cdc_lambda::{Deployment, Function};
use support::aws_support::SDK_CALLS_TABLE;
use support::{event, lambda_sdk, ok, stack, submit_and_poll, with};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sdk_calls_table() {
    // GIVEN DMS's full load in S3 and one recorded deployment per function, as in Lambda
    let mut stack = stack(51).await;
    stack.deliver().await;
    let deployments: BTreeMap<&str, Deployment> = Function::ALL
        .iter()
        .map(|f| {
            let vars = stack.vars.clone();
            let d = Deployment::with_interceptors(
                lambda_sdk(&stack),
                move |k| vars.get(k).cloned(),
                &[stack.recorder.shared()],
            );
            (f.name(), d)
        })
        .collect();
    let d = |f: Function| &deployments[f.name()];

    // WHEN every function runs its events files: claim, setup, loads, refresh, unload, release
    let claim = ok(d(Function::JobState), Function::JobState, event("job-state-claim")).await;
    assert_eq!(claim["outcome"], "claimed", "{claim}");
    let setup = submit_and_poll(
        d(Function::DimensionLoad),
        Function::DimensionLoad,
        "dimension-load-setup-submit",
        "dimension-load-setup-poll",
        "",
    )
    .await;
    assert_eq!(setup["status"], "done", "{setup}");
    for t in claim["dimensions"].as_array().unwrap() {
        let (f, t) = (Function::DimensionLoad, t.as_str().unwrap());
        let out = submit_and_poll(d(f), f, "dimension-load-load-submit", "dimension-load-load-poll", t).await;
        assert_eq!(out["status"], "done", "{t}: {out}");
    }
    for t in claim["facts"].as_array().unwrap() {
        let (f, t) = (Function::FactLoad, t.as_str().unwrap());
        let out = submit_and_poll(d(f), f, "fact-load-load-submit", "fact-load-load-poll", t).await;
        assert_eq!(out["status"], "done", "{t}: {out}");
    }
    for t in claim["derived"].as_array().unwrap() {
        let (f, t) = (Function::FactLoad, t.as_str().unwrap());
        let out = submit_and_poll(d(f), f, "fact-load-refresh-submit", "fact-load-refresh-poll", t).await;
        assert_eq!(out["status"], "done", "{t}: {out}");
    }
    let f = Function::Unload;
    submit_and_poll(d(f), f, "unload-submit", "unload-poll", "pgbench_accounts").await;
    let release = with(
        event("job-state-release"),
        &[("started_at", claim["started_at"].clone()), ("hints", claim["hints"].clone())],
    );
    ok(d(Function::JobState), Function::JobState, release).await;
    // AND the failure path: the job failed, one notice published
    ok(d(Function::JobState), Function::JobState, event("job-state-claim")).await;
    let failed = ok(d(Function::JobState), Function::JobState, event("job-state-fail")).await;
    let notice = with(event("notify"), &[("notice", failed["notice"].clone())]);
    ok(d(Function::Notify), Function::Notify, notice).await;

    // AND a release with a failed table records an incident (one conditional PutItem)
    let claim = ok(d(Function::JobState), Function::JobState, event("job-state-claim")).await;
    assert_eq!(claim["outcome"], "claimed", "{claim}");
    let mut results = event("job-state-release")["results"].clone();
    results["unload"] = serde_json::json!([{ "table": "pgbench_accounts", "ok": false, "error": "DataError" }]);
    let release = with(
        event("job-state-release"),
        &[("started_at", claim["started_at"].clone()), ("hints", claim["hints"].clone()), ("results", results)],
    );
    ok(d(Function::JobState), Function::JobState, release).await;

    // AND the state machine runs CDC cycles on the recorded ports until finished
    // days are unloaded, the source adding a column first (the raw table gets it)
    // and widening pgbench_tellers.filler past its varchar(84) (ExecuteStatement)
    stack.generator.add_column("pgbench_history").unwrap();
    stack.generator.widen_teller_filler(120);
    stack.generator.cdc_cycle(150).unwrap();
    stack.deliver().await;
    stack.run("cdc-1").await;
    stack.generator.finish().unwrap();
    stack.deliver().await;
    let last = stack.run("last").await;
    let unloaded = &last.release.as_ref().expect("released").0.results.unload;
    assert!(unloaded.iter().any(|r| r.ok), "a day was unloaded: {unloaded:?}");

    // THEN the recorded table is the reviewed one
    let tables: Vec<String> = stack.cfg.tables.iter().map(|t| t.name.to_string()).collect();
    let table = to_table_with(&stack.recorder.rows(), &tables);
    assert!(!table.contains("UNMAPPED"), "an SDK call cdc_aws::iam_record does not map:\n{table}");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(std::path::Path::new(SDK_CALLS_TABLE).parent().unwrap()).unwrap();
        std::fs::write(SDK_CALLS_TABLE, &table).unwrap();
    }
    let reviewed = std::fs::read_to_string(SDK_CALLS_TABLE).unwrap_or_default();
    let reviewed_rows = parse_table(&reviewed).unwrap_or_default();
    let recorded_rows = parse_table(&table).unwrap();
    let added: Vec<_> = recorded_rows.iter().filter(|r| !reviewed_rows.contains(r)).collect();
    let removed: Vec<_> = reviewed_rows.iter().filter(|r| !recorded_rows.contains(r)).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "the SDK calls differ from tests/iam/sdk-calls.tsv; review, then UPDATE_GOLDEN=1.\nnew: {added:#?}\ngone: {removed:#?}"
    );
}
