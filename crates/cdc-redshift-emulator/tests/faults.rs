//! The pipeline's Redshift adapter against the emulator's injected faults:
//! each failure mode reaches the port as the state machine must see it.

mod support;

use cdc_aws::client_config::MAX_ATTEMPTS;
use cdc_core::ErrorKind;
use cdc_core::ports::{Cell, StatementState, Warehouse};
use cdc_core::sql::{Dialect, setup};
use cdc_redshift_emulator::{SlowUntil, StatementFault, Throttle};
use support::*;

const SERIALIZABLE: &str = "ERROR: 1023 DETAIL: Serializable isolation violation on table - 153440, transactions \
                            forming the cycle are: 7382, 7390 (pid:1073)";

async fn table_with_one_row(wh: &dyn Warehouse) {
    run(wh, batch("prepare", &["CREATE TABLE public.t (a INTEGER)", "INSERT INTO public.t VALUES (1)"])).await.unwrap();
}

async fn count(wh: &dyn Warehouse) -> i64 {
    let rs = run(wh, batch("count", &["SELECT COUNT(*) AS n FROM public.t"])).await.unwrap();
    rs.rows[0][0].as_i64().unwrap()
}

fn failed(states: &[StatementState]) -> &cdc_core::PipelineError {
    match states.last() {
        Some(StatementState::Failed(e)) => e,
        other => panic!("expected Failed, got {other:?} after {states:?}"),
    }
}

#[tokio::test]
async fn an_injected_failure_is_failed_with_its_text_the_statement_id_and_the_label() {
    // GIVEN a table with one row, and the next INSERT into it failing for lack of a grant
    let emu = emulator();
    let wh = warehouse(&emu);
    table_with_one_row(&wh).await;
    emu.inject(
        "INSERT INTO public.t",
        StatementFault::Fail { error: "ERROR: permission denied for relation t".into() },
        1,
    );
    // WHEN a batch inserting two rows runs
    let id = wh
        .submit(batch("load public.t", &["INSERT INTO public.t VALUES (2)", "INSERT INTO public.t VALUES (3)"]))
        .await
        .unwrap();
    let states = wait(&wh, &id).await;
    // THEN Failed, a ConfigError naming label, statement and sub-statement, with Redshift's text
    let e = failed(&states);
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
    assert_eq!(
        e.message,
        format!("load public.t, statement {id} (sub-statement 1 of 2): ERROR: permission denied for relation t")
    );
    // AND the batch changed nothing
    assert_eq!(count(&wh).await, 1);
}

#[tokio::test]
async fn a_serializable_isolation_violation_is_retryable_and_a_retry_in_a_new_scope_runs() {
    let emu = emulator();
    let wh = warehouse(&emu);
    table_with_one_row(&wh).await;
    // GIVEN the load's second statement hits error 1023
    emu.inject("INSERT INTO public.t VALUES (3)", StatementFault::Fail { error: SERIALIZABLE.into() }, 1);
    let load = batch("load public.t", &["INSERT INTO public.t VALUES (2)", "INSERT INTO public.t VALUES (3)"]);
    let first = wh.with_idempotency_scope("exec-1/2026-11-02T00:05:00Z");
    let id = first.submit(load.clone()).await.unwrap();
    // THEN Retryable with Redshift's text, and nothing applied
    let e = failed(&wait(&wh, &id).await).clone();
    assert_eq!(e.kind, ErrorKind::Retryable, "{e}");
    assert!(e.message.contains("Serializable isolation violation") && e.message.contains(&id.0), "{e}");
    assert_eq!(count(&wh).await, 1);
    // WHEN the state machine enters the submit state again (a new scope) THEN the same SQL runs
    let retry = wh.with_idempotency_scope("exec-1/2026-11-02T00:05:09Z").submit(load).await.unwrap();
    assert_ne!(retry, id);
    assert_eq!(wait(&wh, &retry).await.last(), Some(&StatementState::Finished));
    assert_eq!(count(&wh).await, 3);
}

#[tokio::test]
async fn an_aborted_statement_is_aborted() {
    let emu = emulator();
    let wh = warehouse(&emu);
    table_with_one_row(&wh).await;
    emu.inject("INSERT INTO public.t", StatementFault::Abort, 1);
    let id = wh.submit(batch("unload t 20261101", &["INSERT INTO public.t VALUES (2)"])).await.unwrap();
    match wait(&wh, &id).await.last() {
        Some(StatementState::Aborted(why)) => {
            assert!(why.contains("unload t 20261101") && why.contains(&id.0), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(count(&wh).await, 1);
}

#[tokio::test]
async fn a_slow_statement_stays_running_for_several_polls_then_finishes() {
    let emu = emulator();
    let wh = warehouse(&emu);
    // GIVEN the next matching statement held for 4 DescribeStatement calls
    emu.inject("SELECT 42", StatementFault::Slow { until: SlowUntil::Describes(4) }, 1);
    let id = wh.submit(batch("slow", &["SELECT 42 AS answer"])).await.unwrap();
    let states = wait(&wh, &id).await;
    // THEN it was seen running (or submitted) until released, then finished
    let running = states.iter().filter(|s| matches!(s, StatementState::Running)).count();
    assert!(running >= 3, "{states:?}");
    assert_eq!(states.last(), Some(&StatementState::Finished));
    assert_eq!(wh.result(&id).await.unwrap().rows, vec![vec![Cell::Long(42)]]);
}

#[tokio::test]
async fn a_statement_held_until_released_runs_when_released() {
    let emu = emulator();
    let wh = warehouse(&emu);
    emu.inject("SELECT 7", StatementFault::Slow { until: SlowUntil::Released }, 1);
    let id = wh.submit(batch("held", &["SELECT 7"])).await.unwrap();
    for _ in 0..5 {
        let s = wh.status(&id).await.unwrap();
        assert!(matches!(s, StatementState::Running | StatementState::Submitted), "{s:?}");
    }
    emu.release_slow();
    assert_eq!(wait(&wh, &id).await.last(), Some(&StatementState::Finished));
}

#[tokio::test]
async fn throttled_calls_are_retried_by_the_sdk_and_retryable_once_the_attempts_are_spent() {
    let emu = emulator();
    let wh = warehouse(&emu);
    // GIVEN two throttled submits THEN the SDK's retries absorb them: one statement, three calls
    emu.throttle(Some("BatchExecuteStatement"), Throttle::ThrottlingException, 2);
    let id = wh.submit(batch("throttled", &["SELECT 1"])).await.unwrap();
    assert_eq!(wait(&wh, &id).await.last(), Some(&StatementState::Finished));
    assert_eq!(emu.calls().get("BatchExecuteStatement"), 3);
    // GIVEN the concurrency limit for two calls THEN absorbed too (the adapter's retry classifier)
    emu.reset_calls();
    emu.throttle(Some("BatchExecuteStatement"), Throttle::ActiveStatementsExceededException, 2);
    wh.submit(batch("limited", &["SELECT 1"])).await.unwrap();
    assert_eq!(emu.calls().get("BatchExecuteStatement"), 3);
    // GIVEN more throttled calls than attempts THEN Retryable, after MAX_ATTEMPTS calls
    emu.reset_calls();
    emu.throttle(None, Throttle::ActiveSessionsExceededException, MAX_ATTEMPTS + 1);
    let err = wh.status(&id).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Retryable, "{err}");
    assert!(err.message.contains("ActiveSessionsExceededException"), "{err}");
    assert_eq!(emu.calls().get("DescribeStatement"), u64::from(MAX_ATTEMPTS));
}

#[tokio::test]
async fn a_duplicate_submit_with_the_same_client_token_runs_once() {
    let emu = emulator();
    let wh = warehouse(&emu);
    table_with_one_row(&wh).await;
    let insert = batch("load public.t", &["INSERT INTO public.t VALUES (2)"]);
    // GIVEN a submit retried in the same scope (a Lambda retried after a timeout)
    let scoped = wh.with_idempotency_scope("exec-1/2026-11-02T00:05:00Z");
    let first = scoped.submit(insert.clone()).await.unwrap();
    let second = scoped.submit(insert.clone()).await.unwrap();
    // THEN the same statement, run once
    assert_eq!(first, second);
    wait(&wh, &first).await;
    assert_eq!(count(&wh).await, 2);
    // AND without a scope, each submit is its own statement
    let unscoped = wh.submit(insert).await.unwrap();
    assert_ne!(unscoped, first);
    wait(&wh, &unscoped).await;
    assert_eq!(count(&wh).await, 3);
}

#[tokio::test]
async fn an_idle_adapter_makes_no_calls_and_every_call_of_a_read_is_counted() {
    let emu = emulator();
    // GIVEN an adapter built as a Lambda builds it at cold start THEN no call was made
    let wh = warehouse(&emu);
    assert_eq!(emu.calls().total(), 0, "{:?}", emu.calls());
    // WHEN one short read runs THEN one submit, some polls, one result page
    run(&wh, batch("read", &["SELECT 1 AS one"])).await.unwrap();
    let calls = emu.calls();
    assert_eq!(calls.get("BatchExecuteStatement"), 1, "{calls:?}");
    assert!(calls.get("DescribeStatement") >= 2, "{calls:?}"); // status polls, then the result's describe
    assert_eq!(calls.get("GetStatementResult"), 1, "{calls:?}");
    // WHEN the counter is reset and nothing runs THEN zero again
    emu.reset_calls();
    assert_eq!(emu.calls().total(), 0);
}

#[tokio::test]
async fn the_setup_procedure_raises_our_data_errors_as_data_errors() {
    // GIVEN the demo setup, run through the adapter (procedure, tables, materialized view)
    let emu = emulator();
    let wh = warehouse(&emu);
    let cfg = demo_config();
    for part in setup::setup_batches(&cfg, Dialect::Redshift, None) {
        run(&wh, part).await.unwrap();
    }
    // WHEN a check finds an offending file THEN the batch fails with our message, a DataError
    let check = Dialect::Redshift.assert_empty(
        cfg.control_schema.quoted().as_str(),
        "SELECT 'null key (aid) in file s3://raw-bucket/cdc/public/t/20261101/bad.parquet'",
        "table public.t: ",
    );
    let id = wh.submit(batch("load public.t", &["CREATE TEMP TABLE x (a INTEGER)", &check])).await.unwrap();
    let e = failed(&wait(&wh, &id).await).clone();
    assert_eq!(e.kind, ErrorKind::DataError, "{e}");
    assert!(
        e.message.ends_with("table public.t: null key (aid) in file s3://raw-bucket/cdc/public/t/20261101/bad.parquet"),
        "{e}"
    );
    // AND a check that finds nothing lets the batch go on
    let clean = Dialect::Redshift.assert_empty(cfg.control_schema.quoted().as_str(), "SELECT NULL", "never");
    let rs = run(&wh, batch("clean", &[&clean, "SELECT 1 AS ok"])).await.unwrap();
    assert_eq!(rs.rows, vec![vec![Cell::Long(1)]]);
}
