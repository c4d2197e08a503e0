//! The whole AWS path, offline: the deployed state machine file run by the
//! local executor, its steps on the AWS adapters (S3 raw and optimized zones,
//! Glue catalogs, DynamoDB job state, SNS notices, Redshift Data API), built
//! from the deployment's variables, against moto and the Data API emulator.
//! From an empty warehouse (setup, full load) through CDC cycles and unload,
//! every target table checked against the generator's oracle after every
//! run; then the fault runs.

mod aws_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use aws_support::{AwsStack, GLUE_DATABASE, data_api_client, stack, stack_with_config};
use cdc_asl::{EventKind, ExecutionStatus};
use cdc_cli::resync::resync_on_aws;
use cdc_cli::verify::{typed_failures, verify_typed_values};
use cdc_core::PipelineError;
use cdc_core::job::{JobState, JobStateStore, TableLife};
use cdc_core::ports::{ResultSet, SingleStatement, StatementId, StatementState, Warehouse};
use cdc_core::sql::{Dialect, StatementBatch};
use cdc_dmsgen::ReloadNaming;
use cdc_redshift_emulator::{SlowUntil, StatementFault, Throttle};

const ACCOUNTS_LOAD: &str = "cdc: load public.pgbench_accounts */";
const TELLERS_LOAD: &str = "cdc: load public.pgbench_tellers */";

fn succeeded(run: &cdc_cli::pipeline_run::PipelineRun, when: &str) {
    assert_eq!(
        run.execution.status,
        ExecutionStatus::Succeeded,
        "{when}: {:?} {:?}",
        run.execution.error,
        run.execution.cause
    );
}

async fn job_state(stack: &AwsStack) -> cdc_core::job::Job {
    stack.ports.store.get(&stack.cfg.job_id).await.unwrap().expect("the job item exists")
}

/// The deployment's config with reloads settling after 1 s.
fn settling_in_a_second() -> String {
    std::fs::read_to_string(aws_support::CONFIG)
        .unwrap()
        .replace("[pipeline]\n", "[pipeline]\nreload_settle = \"1s\"\n")
}

/// Whether the execution entered a state, by name.
fn entered(run: &cdc_cli::pipeline_run::PipelineRun, state: &str) -> usize {
    run.execution
        .history
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::StateEntered { name, .. } if name == state))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reloads_in_both_naming_cases_and_a_resync_run_through_the_state_machine_to_the_oracle() {
    // GIVEN the AWS path loaded from a full load and a cycle, reloads settling after 1 s
    let config = settling_in_a_second();
    let mut stack = stack_with_config(13, &config).await;
    stack.generator.cdc_cycle(100).unwrap();
    stack.deliver().await;
    succeeded(&stack.run_paced("first").await, "first run");
    // WHEN the source adds a column to history (CDC files carry it from now
    // on) and to tellers, DMS reloads accounts (with a delete it missed) into
    // a set of another size and tellers over its files (carrying the new
    // column), changes go on, and the writes settle
    stack.generator.add_column("pgbench_history").unwrap();
    stack.generator.add_column("pgbench_tellers").unwrap();
    // AND the source widens tellers.filler (configured varchar(84)) past its length
    stack.generator.widen_teller_filler(120);
    let before = stack.generator.now();
    stack.generator.reload("pgbench_accounts", ReloadNaming::NewSet { files: 2 }).unwrap();
    stack.generator.reload("pgbench_tellers", ReloadNaming::InPlace).unwrap();
    stack.generator.cdc_cycle(100).unwrap();
    stack.deliver().await;
    stack.deliver_written_since(before).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let run = stack.run_paced("reloaded").await;
    // THEN the run succeeds and every table equals the oracle (each reload
    // plus the changes since, the added columns and the wide fillers compared too)
    succeeded(&run, "reloaded run");
    stack.assert_matches_oracle("after the reloads").await;
    // AND the raw Glue tables got the column, and the run record names both changes
    let glue = aws_sdk_glue::Client::new(&stack.sdk);
    for raw in ["raw_cdc_pgbench_history", "raw_full_pgbench_tellers"] {
        let table = glue.get_table().database_name(GLUE_DATABASE).name(raw).send().await.unwrap().table.unwrap();
        let columns: Vec<&str> = table.storage_descriptor().unwrap().columns().iter().map(|c| c.name()).collect();
        assert_eq!(columns.last(), Some(&"note"), "{raw}: {columns:?}");
    }
    let warnings = &stack.context().store.history("101", 1).await.unwrap()[0].warnings;
    let changes = |table: &str| -> String {
        let head = format!("table {table} schema changed: ");
        warnings.iter().find_map(|w| w.strip_prefix(&head)).unwrap_or_default().to_string()
    };
    assert!(changes("pgbench_history").starts_with("column note varchar added"), "{warnings:?}");
    // AND tellers names both its changes: the filler widened through
    // ExecuteStatement and the state machine's retry path, then the column added
    let tellers = changes("pgbench_tellers");
    assert!(tellers.starts_with("column filler widened to varchar(120)"), "{tellers}");
    assert!(tellers.contains("; column note varchar added"), "{tellers}");
    let store = stack.context().store;
    let states = store.table_states("101").await.unwrap();
    assert!(states.values().all(|s| s.shown() == TableLife::Active), "{states:?}");

    // WHEN branches is emptied by hand and an execution is started with Resync for it
    stack.emulator.connection().unwrap().execute_batch("DELETE FROM public.pgbench_branches").unwrap();
    let run =
        stack.run_with_input("resync", serde_json::json!({ "JobId": "101", "Resync": ["pgbench_branches"] })).await;
    // THEN it rebuilds branches from the raw zone, and everything equals the oracle again
    succeeded(&run, "resync run");
    stack.assert_matches_oracle("after the resync").await;
    let branches = &store.table_states("101").await.unwrap()["pgbench_branches"];
    assert_eq!((branches.shown(), branches.resync_requested), (TableLife::Active, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_integer_made_bigint_waits_for_the_old_files_to_leave_then_rebuilds_with_the_new_type() {
    // GIVEN the AWS path loaded from a full load and a cycle, reloads settling after 1 s
    let config = settling_in_a_second();
    let mut stack = stack_with_config(17, &config).await;
    stack.generator.cdc_cycle(100).unwrap();
    stack.deliver().await;
    succeeded(&stack.run_paced("first").await, "first run");
    // WHEN the source makes pgbench_accounts.abalance a bigint and DMS writes INT64 from then on
    let retyped_at = stack.generator.now();
    stack.generator.retype_to_bigint("pgbench_accounts", "abalance").unwrap();
    stack.generator.cdc_cycle(100).unwrap();
    stack.deliver().await;
    stack.run_paced("retyped").await;
    // THEN accounts fails before anything is submitted: Spectrum cannot read
    // a folder whose files write the column both ways; the reason names the
    // change and the way out, and the other tables load
    let states = stack.ports.store.table_states("101").await.unwrap();
    let accounts = &states["pgbench_accounts"];
    let reason = accounts.reason.clone().unwrap_or_default();
    assert_eq!(accounts.shown(), TableLife::Failed, "{accounts:?}");
    for part in ["column abalance changed type from integer to bigint", "Spectrum", "move the files", "cdc resync"] {
        assert!(reason.contains(part), "{part}: {reason}");
    }
    let v = stack.verify();
    assert!(v.tables.iter().filter(|t| t.table != "pgbench_accounts").all(|t| t.ok()), "{:?}", v.tables);
    // AND the raw Glue table of the CDC files has the new type
    let glue = aws_sdk_glue::Client::new(&stack.sdk);
    let raw = glue.get_table().database_name(GLUE_DATABASE).name("raw_cdc_pgbench_accounts").send().await.unwrap();
    let columns = raw.table.unwrap().storage_descriptor.unwrap().columns.unwrap_or_default();
    assert_eq!(columns.iter().find(|c| c.name == "abalance").and_then(|c| c.r#type.as_deref()), Some("bigint"));

    // WHEN the operator does as the reason says: DMS reloads the table (its
    // files now write INT64), the files written before the change leave the
    // folder, and an execution is started with Resync
    let before = stack.generator.now();
    stack.generator.reload("pgbench_accounts", ReloadNaming::InPlace).unwrap();
    stack.generator.cdc_cycle(100).unwrap();
    stack.deliver().await;
    stack.deliver_written_since(before).await;
    assert!(stack.remove_raw_written_until("pgbench_accounts", retyped_at).await > 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let run =
        stack.run_with_input("resync", serde_json::json!({ "JobId": "101", "Resync": ["pgbench_accounts"] })).await;
    // THEN every load succeeds: the rebuild changes the column's type, and every table equals the oracle
    let results = run.release.as_ref().map(|(input, _)| input.results.clone()).unwrap_or_default();
    let loads: Vec<_> = results.dimensions.iter().chain(&results.facts).collect();
    assert!(loads.len() == 6 && loads.iter().all(|r| r.ok), "{loads:?}");
    stack.assert_matches_oracle("after the type change").await;
    // AND only an exported day that lost files to the move and got a late
    // file since may fail its unload, keeping its export (docs/dms.md,
    // "Files that vanish"), as the documentation of the procedure says
    if run.execution.status != ExecutionStatus::Succeeded {
        let cause = run.execution.cause.clone().unwrap_or_default();
        assert!(cause.contains("some are gone") && cause.contains("its export is kept as it is"), "{cause}");
    }
    let conn = stack.emulator.connection().unwrap();
    let ty: String = conn
        .query_row(
            "SELECT column_type FROM (DESCRIBE public.pgbench_accounts) WHERE column_name = 'abalance'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ty, "BIGINT");
    let accounts = &stack.ports.store.table_states("101").await.unwrap()["pgbench_accounts"];
    assert_eq!(accounts.shown(), TableLife::Active, "{accounts:?}");
    assert!(accounts.schema_change.as_deref().unwrap_or_default().contains("changed type"), "{accounts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn from_an_empty_warehouse_through_cdc_cycles_and_unload_the_targets_match_the_oracle() {
    // GIVEN an empty Redshift, an empty Glue database, and DMS's full load in S3
    let mut stack = stack(11).await;
    stack.deliver().await;

    // WHEN the first run starts
    let run = stack.run("run-1").await;
    // THEN it set up (external schema included), registered the raw tables, loaded everything
    succeeded(&run, "first run");
    assert!(run.claim.as_ref().unwrap().setup_needed);
    stack.assert_matches_oracle("after the full load").await;
    let glue = aws_sdk_glue::Client::new(&stack.sdk);
    let tables = glue.get_tables().database_name(GLUE_DATABASE).send().await.unwrap();
    let names: Vec<&str> = tables.table_list().iter().map(|t| t.name()).collect();
    assert!(names.contains(&"raw_full_pgbench_accounts"), "{names:?}");

    // WHEN DMS delivers two CDC cycles (new day folders, late files) with a run after each
    for cycle in 0..2 {
        stack.generator.cdc_cycle(150).unwrap();
        stack.deliver().await;
        stack.emulator.reset_calls();
        let run = stack.run(&format!("cdc-{cycle}")).await;
        // THEN each run's new day partitions were registered and the targets match the oracle
        succeeded(&run, "cdc run");
        // AND it asked for each statement's status a few times, not every few
        // milliseconds (steps wait 250 ms, then double; docs/redshift.md)
        // (the state machine's Poll states ask once per entry, after a Wait
        // that the virtual clock skips here; the rest is the steps' own waits)
        let calls = stack.emulator.calls();
        let statements = calls.get("BatchExecuteStatement") + calls.get("ExecuteStatement");
        let polls = run
            .execution
            .history
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::StateEntered { name, .. } if name.contains("Poll")))
            .count() as u64;
        let in_steps = calls.get("DescribeStatement").saturating_sub(polls);
        eprintln!("cdc-{cycle}: {statements} statements, {polls} poll states, {in_steps} DescribeStatement in steps");
        assert!(in_steps <= 3 * statements, "{in_steps} in-step polls for {statements} statements: {calls:?}");
        assert!(!run.claim.as_ref().unwrap().setup_needed, "setup runs once");
        stack.assert_matches_oracle(&format!("after CDC cycle {cycle}")).await;
    }
    let partitions =
        glue.get_partitions().database_name(GLUE_DATABASE).table_name("raw_cdc_pgbench_accounts").send().await.unwrap();
    assert!(!partitions.partitions().is_empty(), "day partitions registered by the runs, no crawler");

    // WHEN everything is delivered and a last run goes past the last day's lateness
    stack.generator.finish().unwrap();
    stack.deliver().await;
    let run = stack.run("last").await;
    succeeded(&run, "last run");
    // THEN the targets match the oracle, and the oracle matches the source database's truth
    let v = stack.verify();
    assert!(v.source_checked);
    assert!(v.tables.iter().all(|t| t.ok()), "{:?}", v.tables.iter().filter(|t| !t.ok()).collect::<Vec<_>>());
    // AND the types tables hold the source's values, value for value, read through the Data API
    let typed = stack.assert_types_match("after the last run").await;
    let events = typed.iter().find(|c| c.table == "type_events").unwrap();
    assert_eq!(events.rows, stack.generator.source_typed_rows("type_events").unwrap().len());
    // AND the finished days were unloaded to the optimized bucket and registered in Glue
    let unloaded = &run.release.as_ref().unwrap().0.results.unload;
    assert!(unloaded.iter().all(|r| r.ok), "{unloaded:?}");
    let objects = stack.s3.list_objects_v2().bucket("cdc-optimized").prefix("cdc/").send().await.unwrap();
    assert!(objects.contents().iter().any(|o| o.key().unwrap().contains("changedate=")), "no unloaded day");
    let optimized = glue.get_tables().database_name(GLUE_DATABASE).send().await.unwrap();
    assert!(optimized.table_list().iter().any(|t| t.name().starts_with("optimized_")));

    // WHEN a scheduled run finds nothing new
    stack.emulator.reset_calls();
    let idle = stack.run("idle").await;
    // THEN it succeeds without a single Data API call (a Serverless workgroup stays asleep)
    succeeded(&idle, "idle run");
    assert!(idle.was_idle());
    assert_eq!(stack.emulator.calls().total(), 0, "{:?}", stack.emulator.calls());
    assert_eq!(job_state(&stack).await.state, JobState::Ready);

    // WHEN two values in Redshift change behind the pipeline's back: a numeric by its last
    // digit, and a text by a trailing space
    let conn = stack.emulator.connection().unwrap();
    conn.execute_batch(
        "UPDATE \"public\".\"type_samples\" SET c_numeric = COALESCE(c_numeric, 0) + 0.0001 WHERE k_text = 'a  ' AND k_int = 1; \
         UPDATE \"public\".\"type_samples\" SET c_text = COALESCE(c_text, '') || ' ' WHERE k_text = 'K' AND k_int = 7;",
    )
    .unwrap();
    // THEN the value-for-value check names both: table, key, column, expected and actual value
    let checks = verify_typed_values(&stack.cfg, stack.warehouse().as_ref(), &stack.generator).await.unwrap();
    let differences = typed_failures(&checks).expect("the changed values are found");
    let lines: Vec<&str> = differences.lines().collect();
    assert_eq!(lines.len(), 2, "{differences}");
    assert!(
        lines.iter().any(|l| l.starts_with(
            "type_samples row (k_text = text \"a  \", k_int = integer 1): column c_numeric: expected numeric"
        )),
        "{differences}"
    );
    assert!(lines.iter().any(|l| l.contains("k_text = text \"K\"") && l.contains("column c_text")), "{differences}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_statement_failed_mid_run_fails_the_job_notifies_and_the_next_run_recovers() {
    // GIVEN a loaded warehouse and a CDC cycle delivered
    let mut stack = stack(12).await;
    stack.deliver().await;
    succeeded(&stack.run("initial").await, "initial run");
    stack.notices(0).await;
    stack.generator.cdc_cycle(150).unwrap();
    stack.deliver().await;
    let accounts_before = stack.snapshot("pgbench_accounts");

    // WHEN Redshift fails the accounts load with its own error text
    stack.emulator.inject(
        ACCOUNTS_LOAD,
        StatementFault::Fail { error: "ERROR: Invalid digit, Value 'x', Pos 0, Type: Integer".into() },
        1,
    );
    let run = stack.run("failing").await;

    // THEN the execution fails naming the table, the other tables loaded, accounts is untouched
    assert_eq!(run.execution.status, ExecutionStatus::Failed);
    let release = &run.release.as_ref().unwrap().1;
    assert_eq!(release.failed_tables, vec!["pgbench_accounts".to_string()]);
    assert_eq!(stack.snapshot("pgbench_accounts"), accounts_before, "nothing half-applied");
    let v = stack.verify();
    for t in v.tables.iter().filter(|t| t.table == "pgbench_tellers" || t.table == "pgbench_branches") {
        assert!(t.ok(), "{} should have loaded: {:?}", t.table, t.samples);
    }
    stack.assert_types_match("after the failed accounts load").await;
    // AND the job is Failed in DynamoDB, and the topic carried one notice naming table and Redshift's text
    let job = job_state(&stack).await;
    assert_eq!((job.state, job.consecutive_failures), (JobState::Failed, 1));
    let notices = stack.notices(1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    let message = notices[0]["Message"].as_str().unwrap();
    assert!(message.contains("pgbench_accounts") && message.contains("Invalid digit"), "{message}");

    // WHEN the next run starts with the fault gone
    let run = stack.run("recovering").await;
    // THEN it loads accounts, everything matches the oracle, and a recovery notice follows
    succeeded(&run, "recovering run");
    stack.assert_matches_oracle("after the recovery").await;
    assert_eq!(job_state(&stack).await.state, JobState::Ready);
    let notices = stack.notices(1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0]["Subject"].as_str().unwrap().to_lowercase().contains("recover"), "{:?}", notices[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aborted_conflicting_and_throttled_statements_are_retried_and_the_run_succeeds() {
    // GIVEN a delivered full load
    let stack = stack(13).await;
    stack.deliver().await;
    // AND Redshift aborts the accounts load, fails the tellers load with a serialization
    // conflict, and throttles the Data API's submits past the SDK's own retries
    stack.emulator.inject(ACCOUNTS_LOAD, StatementFault::Abort, 1);
    stack.emulator.inject(
        TELLERS_LOAD,
        StatementFault::Fail {
            error: "ERROR: 1023 DETAIL: Serializable isolation violation on table - 100123, transactions forming the cycle are: 1, 2".into(),
        },
        1,
    );
    stack.emulator.throttle(Some("BatchExecuteStatement"), Throttle::ThrottlingException, 6);

    // WHEN the run starts
    let run = stack.run("faulty").await;

    // THEN it succeeds: both loads were submitted again, the throttled submit retried
    succeeded(&run, "run with transient faults");
    assert!(entered(&run, "Dimension: Retry load?") >= 2, "the two loads were resubmitted");
    let retried = run.execution.history.iter().any(|e| matches!(&e.kind, EventKind::RetryScheduled { .. }));
    assert!(retried, "the throttled submit was retried by the state machine");
    stack.assert_matches_oracle("after the retried loads").await;
}

/// A warehouse whose first submit of a batch with `pattern` in its label
/// goes through but whose answer is lost, as when a Lambda times out after
/// its call reached the Data API.
struct LosesFirstAnswer {
    inner: Arc<dyn Warehouse>,
    pattern: &'static str,
    lost: AtomicBool,
}

#[async_trait]
impl Warehouse for LosesFirstAnswer {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }
    fn poll_schedule(&self) -> cdc_core::ports::PollSchedule {
        self.inner.poll_schedule()
    }
    async fn submit(&self, batch: StatementBatch) -> Result<StatementId, PipelineError> {
        self.inner.submit(batch).await
    }
    async fn submit_idempotent(&self, batch: StatementBatch, key: &str) -> Result<StatementId, PipelineError> {
        let hit = batch.label.contains(self.pattern);
        let id = self.inner.submit_idempotent(batch, key).await?;
        if hit && !self.lost.swap(true, Ordering::SeqCst) {
            return Err(PipelineError::retryable(format!("the answer of statement {id} was lost")));
        }
        Ok(id)
    }
    async fn submit_single(&self, statement: SingleStatement) -> Result<StatementId, PipelineError> {
        self.inner.submit_single(statement).await
    }
    async fn status(&self, id: &StatementId) -> Result<StatementState, PipelineError> {
        self.inner.status(id).await
    }
    async fn result(&self, id: &StatementId) -> Result<ResultSet, PipelineError> {
        self.inner.result(id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_submit_retried_after_its_answer_was_lost_runs_once() {
    // GIVEN a delivered full load, and the answer of the history load's first submit lost
    let stack = stack(14).await;
    stack.deliver().await;
    let mut ctx = stack.context();
    ctx.warehouse = Arc::new(LosesFirstAnswer {
        inner: stack.warehouse(),
        pattern: "load public.pgbench_history",
        lost: AtomicBool::new(false),
    });

    // WHEN the run starts
    let run = stack.run_with("lost-answer", ctx, None).await;

    // THEN the Task's retry sent the same ClientToken: one history load ran, and the data is right
    succeeded(&run, "run with a lost answer");
    let listed = data_api_client(&stack.emulator)
        .list_statements()
        .statement_name("load public.pgbench_history")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.statements().len(), 1, "{:?}", listed.statements());
    stack.assert_matches_oracle("after the retried submit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_execution_started_while_another_runs_is_skipped_without_touching_the_warehouse() {
    // GIVEN a delivered full load, and a scheduled execution held inside its setup statement
    let stack = stack(15).await;
    stack.deliver().await;
    stack.emulator.inject("cdc: setup */", StatementFault::Slow { until: SlowUntil::Released }, 1);
    let manual = async {
        // (the scheduled one polls its setup once it holds the job)
        while stack.emulator.calls().get("DescribeStatement") == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // WHEN a manual execution starts meanwhile
        let calls_before = stack.emulator.calls().get("BatchExecuteStatement");
        let run = stack.run("manual").await;
        let calls_after = stack.emulator.calls().get("BatchExecuteStatement");
        stack.emulator.release_slow();
        (run, calls_after - calls_before)
    };
    let (scheduled, (manual, manual_submits)) = tokio::join!(stack.run("scheduled"), manual);

    // THEN the manual one was skipped, naming the holder, and submitted nothing
    let holder = manual.skipped_by().expect("the manual execution was skipped");
    assert!(holder.ends_with(":scheduled"), "{holder}");
    assert_eq!(manual_submits, 0);
    succeeded(&manual, "the skipped execution");
    // AND the scheduled one went on and loaded everything
    succeeded(&scheduled, "the scheduled execution");
    assert!(scheduled.skipped_by().is_none());
    stack.assert_matches_oracle("after the scheduled run").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cdc_resync_on_aws_records_the_request_then_starts_an_execution_with_the_resync_input() {
    // GIVEN a deployment and its state machine (moto's Step Functions)
    let stack = stack(19).await;
    let sfn = aws_sdk_sfn::Client::new(&stack.sdk);
    let definition =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachine/pipeline.asl.json")).unwrap();
    let created = sfn
        .create_state_machine()
        .name("cdc-pipeline")
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/cdc-state-machine")
        .send()
        .await
        .unwrap();
    let arn = created.state_machine_arn();
    let ctx = stack.context();
    // WHEN `cdc resync --target aws pgbench_accounts` runs with the state machine's ARN
    let tables = vec!["pgbench_accounts".to_string()];
    let started = resync_on_aws(&ctx, &sfn, Some(arn), &tables).await.unwrap().expect("an execution started");
    // THEN the request is in the job table first (an execution that finds the job held loses nothing)
    let accounts = &ctx.store.table_states("101").await.unwrap()["pgbench_accounts"];
    assert!(accounts.resync_requested.is_some() && accounts.shown() == TableLife::ResyncRequired, "{accounts:?}");
    // AND an execution of that state machine was started with the console's Resync input
    let execution = sfn.describe_execution().execution_arn(&started).send().await.unwrap();
    assert_eq!(execution.state_machine_arn(), arn);
    let input: serde_json::Value = serde_json::from_str(execution.input().unwrap()).unwrap();
    assert_eq!(input, serde_json::json!({ "JobId": "101", "Resync": ["pgbench_accounts"] }));
    // AND without a state machine the request is recorded and nothing is started
    let branches = vec!["pgbench_branches".to_string()];
    assert_eq!(resync_on_aws(&ctx, &sfn, None, &branches).await.unwrap(), None);
    assert!(ctx.store.table_states("101").await.unwrap()["pgbench_branches"].resync_requested.is_some());
    // AND a start that fails says the request is kept, and an unknown table records nothing
    let gone = "arn:aws:states:us-east-1:123456789012:stateMachine:no-such-machine";
    let e = resync_on_aws(&ctx, &sfn, Some(gone), &branches).await.unwrap_err().to_string();
    assert!(e.contains("is recorded, but starting") && e.contains("no-such-machine"), "{e}");
    let e = resync_on_aws(&ctx, &sfn, Some(arn), &["nope".to_string()]).await.unwrap_err().to_string();
    assert!(e.contains("\"nope\" is not in the pipeline config"), "{e}");
    assert!(!ctx.store.table_states("101").await.unwrap().contains_key("nope"));
}
