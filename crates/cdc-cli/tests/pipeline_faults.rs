//! The deployed state machine file, run by the local executor with the real
//! steps and ports, under fault injection: transient errors are retried, a
//! table's data error fails the run after the others loaded (and the next
//! run retries only it), a held job is skipped, an idle run never touches the
//! warehouse, and a long poll loop never outlives the job's lease.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use cdc_asl::{EventKind, ExecutionStatus, TaskError, VirtualClock};
use cdc_cli::pipeline_run::{LazyWarehouse, LocalPipeline, PipelineRun};
use cdc_cli::run::JobArgs;
use cdc_cli::verify::verify;
use cdc_core::PipelineConfig;
use cdc_core::job::{Claim, Job, JobStateError, JobStateStore, Lease, ProgressHint, RunRecord};
use cdc_core::notify::Notice;
use cdc_core::ports::{ResultSet, SingleStatement, StatementId, StatementState, Warehouse};
use cdc_core::sql::{Dialect, StatementBatch};
use cdc_core::steps::dispatch::Function;
use cdc_dmsgen::{DmsLayout, Generator, GeneratorConfig};
use cdc_local::{DuckDbWarehouse, FileJobStore, FolderRawZone};
use support::{first_history_cdc_file, run_summary};

const STATE_MACHINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachine/pipeline.asl.json");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/pipeline.toml");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

struct Fixture {
    dir: tempfile::TempDir,
    cfg: PipelineConfig,
    generator: Generator,
    warehouse: Arc<DuckDbWarehouse>,
    opened: Arc<AtomicUsize>,
}

impl Fixture {
    /// A small raw zone: a full load and one CDC cycle.
    fn new(seed: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = DmsLayout::default();
        let gen_cfg = GeneratorConfig { seed, branches: 1, accounts_per_branch: 2_000, ..GeneratorConfig::default() };
        let mut generator = Generator::new(&dir.path().join("raw"), layout, gen_cfg).unwrap();
        generator.full_load().unwrap();
        generator.cdc_cycle(300).unwrap();
        let warehouse = Arc::new(DuckDbWarehouse::open(&dir.path().join("warehouse.duckdb")).unwrap());
        let cfg = PipelineConfig::load(Path::new(CONFIG)).unwrap();
        Self { dir, cfg, generator, warehouse, opened: Arc::default() }
    }

    fn raw_root(&self) -> PathBuf {
        self.dir.path().join("raw")
    }

    fn job_args(&self) -> JobArgs {
        JobArgs { state_machine: STATE_MACHINE.into(), ..JobArgs::defaults(Some(self.dir.path().join("job-state"))) }
    }

    /// The local pipeline on the executor's virtual clock (the steps share
    /// it), its warehouse's statements running for `polls` polls first.
    fn slow_pipeline(&self, polls: usize) -> LocalPipeline {
        let clock = Arc::new(VirtualClock::new(Utc::now()));
        let mut p = self.pipeline();
        let steps_clock = Arc::clone(&clock);
        p.now = Some(Arc::new(move || cdc_asl::Clock::now(&*steps_clock)));
        p.clock = Some(clock);
        let raw = Arc::new(FolderRawZone::new(&self.raw_root()).unwrap());
        let w = Arc::clone(&self.warehouse);
        let optimized = self.dir.path().join("optimized");
        let lazy = Arc::new(LazyWarehouse::new(&self.cfg, raw, &optimized, move || Ok(Arc::clone(&w))));
        p.warehouse = Arc::new(SlowWarehouse { inner: lazy.clone(), polls, seen: Mutex::default() });
        p.catalog = lazy;
        p
    }

    /// The local pipeline on another state machine file.
    fn pipeline_with(&self, state_machine: String) -> LocalPipeline {
        LocalPipeline { state_machine: state_machine.into(), ..self.pipeline() }
    }

    fn store(&self) -> FileJobStore {
        self.job_args().store(&self.dir.path().join("warehouse.duckdb")).unwrap()
    }

    /// The local pipeline; counts how often the warehouse is opened.
    fn pipeline(&self) -> LocalPipeline {
        let w = Arc::clone(&self.warehouse);
        let opened = Arc::clone(&self.opened);
        let wh_path = self.dir.path().join("warehouse.duckdb");
        let now = None;
        self.job_args()
            .pipeline(&self.cfg, &self.raw_root(), &wh_path, &self.dir.path().join("optimized"), now, move || {
                opened.fetch_add(1, Ordering::SeqCst);
                Ok(Arc::clone(&w))
            })
            .unwrap()
    }

    /// Tables whose target differs from the oracle.
    fn mismatched(&self) -> Vec<String> {
        let conn = self.warehouse.connection().unwrap();
        let v = verify(&self.cfg, &conn, &self.generator).unwrap();
        v.tables.iter().filter(|t| !t.ok()).map(|t| t.table.clone()).collect()
    }

    fn notices(&self) -> Vec<Notice> {
        let file = self.dir.path().join("job-state/notifications.jsonl");
        std::fs::read_to_string(file)
            .map(|t| t.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
            .unwrap_or_default()
    }
}

fn retries_of(run: &PipelineRun, state: &str) -> usize {
    run.execution
        .history
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::RetryScheduled { name, .. } if name == state))
        .count()
}

/// The top-level states the execution entered, in order.
fn states_entered(run: &PipelineRun) -> Vec<String> {
    run.execution
        .history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StateEntered { name, .. } if e.depth == 0 => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn entered(run: &PipelineRun, state: &str) -> usize {
    run.execution
        .history
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::StateEntered { name, .. } if name == state))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_error_is_retried_and_the_run_succeeds() {
    // GIVEN the accounts load's submit throttled twice, then fine
    let f = Fixture::new(21);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut p = f.pipeline();
    let seen = Arc::clone(&calls);
    p.intercept = Some(Arc::new(move |func, payload: &Value| {
        let accounts = payload["table"] == "pgbench_accounts" && payload["action"] == "load_submit";
        if func == Function::DimensionLoad && accounts && seen.fetch_add(1, Ordering::SeqCst) < 2 {
            return Some(Err(TaskError::lambda("Retryable", "ActiveStatementsExceededException: too many")));
        }
        None
    }));
    // WHEN the pipeline runs
    let run = p.run("retried").await.unwrap();
    // THEN it succeeded after two retries of that state, and every table equals the oracle
    assert_eq!(run.execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", run.execution.error, run.execution.cause);
    assert_eq!(retries_of(&run, "Dimension: Submit load"), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(f.mismatched().is_empty(), "{:?}", f.mismatched());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_error_in_one_table_fails_the_run_after_the_others_loaded() {
    // GIVEN a history CDC file that is not Parquet
    let f = Fixture::new(22);
    let bad = first_history_cdc_file(&f.raw_root());
    let good = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, b"garbage").unwrap();

    // WHEN the pipeline runs
    let run = f.pipeline().run("bad-history").await.unwrap();

    // THEN the execution fails with DataError, the other tables are loaded
    assert_eq!(run.execution.status, ExecutionStatus::Failed);
    assert_eq!(run.execution.error.as_deref(), Some("DataError"));
    assert_eq!(f.mismatched(), vec!["pgbench_history".to_string()]);
    // AND the job is marked failed, and the notice names the table and step
    let job = f.store().get("101").await.unwrap().unwrap();
    assert_eq!((job.state.as_str(), job.consecutive_failures), ("Failed", 1));
    let notices = f.notices();
    let [Notice::Failure(n)] = notices.as_slice() else { panic!("one failure notice expected: {notices:#?}") };
    assert_eq!((n.failed_step.as_str(), n.failed_tables.clone()), ("LoadFacts", vec!["pgbench_history".to_string()]));
    assert!(n.error_message.contains(bad.file_name().unwrap().to_str().unwrap()), "{}", n.error_message);
    // AND the status-change rule finds the failure already handled: still one notice
    let handled = run.status_change.as_ref().expect("the rule's notify call");
    assert!(handled.already_handled && !handled.sent, "{handled:?}");

    // WHEN the file is fixed and the next run starts
    std::fs::write(&bad, good).unwrap();
    let run = f.pipeline().run("fixed").await.unwrap();

    // THEN it succeeds, loads only the failed table, and everything equals the oracle
    assert_eq!(run.execution.status, ExecutionStatus::Succeeded, "{:?}", run.execution.cause);
    let (input, _) = run.release.as_ref().unwrap();
    let files: BTreeMap<&str, u64> =
        input.results.dimensions.iter().chain(&input.results.facts).map(|t| (t.table.as_str(), t.files)).collect();
    assert_eq!(files["pgbench_accounts"], 0);
    assert_eq!(files["pgbench_branches"], 0);
    assert!(files["pgbench_history"] > 0);
    assert!(f.mismatched().is_empty(), "{:?}", f.mismatched());
    assert!(matches!(f.notices().last(), Some(Notice::Recovery(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cdc_file_the_generator_writes_again_fails_its_table_naming_it_and_the_others_load() {
    // GIVEN a loaded raw zone
    let mut f = Fixture::new(23);
    let run = f.pipeline().run("first").await.unwrap();
    assert_eq!(run.execution.status, ExecutionStatus::Succeeded, "{:?}", run.execution.cause);
    // WHEN DMS (the generator) writes an applied accounts file again, one
    // change shorter, and a new cycle of files arrives
    let rewritten = f.generator.rewrite_cdc_file("pgbench_accounts").unwrap();
    f.generator.cdc_cycle(200).unwrap();
    let run = f.pipeline().run("rewritten").await.unwrap();
    // THEN the run fails with DataError naming the file, accounts keeps the
    // first version (the oracle's), and every other table loads the new cycle
    assert_eq!(run.execution.status, ExecutionStatus::Failed);
    assert_eq!(run.execution.error.as_deref(), Some("DataError"));
    let notices = f.notices();
    let Some(Notice::Failure(n)) = notices.last() else { panic!("a failure notice expected: {notices:#?}") };
    assert_eq!(n.failed_tables, vec!["pgbench_accounts".to_string()]);
    let name = rewritten.file_name().unwrap().to_str().unwrap();
    assert!(n.error_message.contains(name) && n.error_message.contains("written again"), "{}", n.error_message);
    // (accounts lacks only the new cycle's changes, which the oracle has)
    assert_eq!(f.mismatched(), vec!["pgbench_accounts".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_job_is_skipped_and_nothing_is_loaded() {
    // GIVEN another execution holds the job
    let f = Fixture::new(23);
    let lease = Lease::new(Duration::from_secs(600)).unwrap();
    assert!(matches!(
        f.store().claim("101", "other-execution", lease, Utc::now()).await.unwrap(),
        Claim::Claimed { .. }
    ));
    // WHEN the pipeline runs
    let run = f.pipeline().run("second").await.unwrap();
    // THEN it ends successfully as skipped, without opening the warehouse or loading anything
    assert_eq!(run.execution.status, ExecutionStatus::Succeeded);
    assert_eq!(run.skipped_by(), Some("other-execution"));
    assert_eq!(f.opened.load(Ordering::SeqCst), 0);
    assert_eq!(entered(&run, "Load dimensions"), 0);
    assert_eq!(f.store().get("101").await.unwrap().unwrap().owner.as_deref(), Some("other-execution"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_run_enters_three_states_writes_nothing_and_makes_no_warehouse_call() {
    // GIVEN a run that loaded everything
    let f = Fixture::new(24);
    let first = f.pipeline().run("first").await.unwrap();
    assert_eq!(first.execution.status, ExecutionStatus::Succeeded, "{:?}", first.execution.cause);
    let opened = f.opened.load(Ordering::SeqCst);
    let (job, history) = (f.store().get("101").await.unwrap(), f.store().history("101", 100).await.unwrap());
    // WHEN the next run finds no new file
    let run = f.pipeline().run("idle").await.unwrap();
    // THEN it ends after the claim and a Choice, at most 4 states (issue 20's goal)
    assert_eq!(run.execution.status, ExecutionStatus::Succeeded);
    assert!(run.was_idle(), "{:#?}\n{:#?}", run.claim, f.store().get("101").await.unwrap());
    assert_eq!(states_entered(&run), vec!["Claim", "What next?", "Idle"]);
    // AND the job item and its history are as they were: no write
    assert_eq!(f.store().get("101").await.unwrap(), job);
    assert_eq!(f.store().history("101", 100).await.unwrap(), history);
    // AND the warehouse was never opened
    assert_eq!(f.opened.load(Ordering::SeqCst), opened);
    // AND the claim still reports each table's newest applied change (the freshness metric)
    let claim = run.claim.as_ref().unwrap();
    assert_eq!(claim.newest_changes.len(), f.cfg.tables.len(), "{:?}", claim.newest_changes);

    // WHEN the state machine before issue 20 runs the same idle case
    let old = f.pipeline_with(FIXTURES.to_string() + "/pipeline-before-issue-20.asl.json").run("old").await.unwrap();
    // THEN the count finds its fault: it went on past the claim (10 states when it worked)
    assert!(states_entered(&old).len() > 4, "{:?}", states_entered(&old));
}

/// A warehouse whose statements say "running" for a number of polls first.
struct SlowWarehouse {
    inner: Arc<dyn Warehouse>,
    polls: usize,
    seen: Mutex<BTreeMap<String, usize>>,
}

#[async_trait]
impl Warehouse for SlowWarehouse {
    fn dialect(&self) -> Dialect {
        Dialect::DuckDb
    }
    /// The wrapped warehouse's: "slow" here counts polls, not time.
    fn poll_schedule(&self) -> cdc_core::ports::PollSchedule {
        self.inner.poll_schedule()
    }
    async fn submit(&self, batch: StatementBatch) -> Result<StatementId, cdc_core::PipelineError> {
        self.inner.submit(batch).await
    }
    async fn submit_single(&self, statement: SingleStatement) -> Result<StatementId, cdc_core::PipelineError> {
        self.inner.submit_single(statement).await
    }
    async fn status(&self, id: &StatementId) -> Result<StatementState, cdc_core::PipelineError> {
        let n = {
            let mut seen = self.seen.lock().unwrap();
            let n = seen.entry(id.0.clone()).or_default();
            *n += 1;
            *n
        };
        if n <= self.polls {
            return Ok(StatementState::Running);
        }
        self.inner.status(id).await
    }
    async fn result(&self, id: &StatementId) -> Result<ResultSet, cdc_core::PipelineError> {
        self.inner.result(id).await
    }
}

/// Records, at every call of the running execution, whether its lease had
/// already lapsed (the job would have been free for another execution).
struct LeaseWatch {
    inner: FileJobStore,
    lapses: Mutex<Vec<String>>,
}

impl LeaseWatch {
    async fn check(&self, job_id: &str, what: &str, now: DateTime<Utc>) {
        if let Ok(Some(job)) = self.inner.get(job_id).await
            && let Some(expires) = job.lease_expires
            && expires < now
        {
            self.lapses.lock().unwrap().push(format!("{what} at {now}: lease had expired at {expires}"));
        }
    }
}

#[async_trait]
impl JobStateStore for LeaseWatch {
    async fn claim(&self, job_id: &str, exec: &str, lease: Lease, now: DateTime<Utc>) -> Result<Claim, JobStateError> {
        self.inner.claim(job_id, exec, lease, now).await
    }
    async fn extend(
        &self,
        job_id: &str,
        exec: &str,
        lease: Lease,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, JobStateError> {
        self.check(job_id, "extend", now).await;
        self.inner.extend(job_id, exec, lease, now).await
    }
    async fn finish(
        &self,
        job_id: &str,
        record: RunRecord,
        hints: BTreeMap<String, ProgressHint>,
    ) -> Result<Job, JobStateError> {
        self.check(job_id, "finish", record.end).await;
        self.inner.finish(job_id, record, hints).await
    }
    async fn set_config_fingerprint(&self, job_id: &str, exec: &str, fp: &str) -> Result<(), JobStateError> {
        self.inner.set_config_fingerprint(job_id, exec, fp).await
    }
    async fn set_last_notified(&self, job_id: &str, at: DateTime<Utc>) -> Result<(), JobStateError> {
        self.inner.set_last_notified(job_id, at).await
    }
    async fn record_incident(&self, job_id: &str, exec: &str, now: DateTime<Utc>) -> Result<bool, JobStateError> {
        self.inner.record_incident(job_id, exec, now).await
    }
    async fn incident_recorded(&self, job_id: &str, exec: &str) -> Result<bool, JobStateError> {
        self.inner.incident_recorded(job_id, exec).await
    }
    async fn table_states(&self, job_id: &str) -> Result<BTreeMap<String, cdc_core::job::TableState>, JobStateError> {
        self.inner.table_states(job_id).await
    }
    async fn update_table(
        &self,
        job_id: &str,
        table: &str,
        update: cdc_core::job::TableUpdate,
    ) -> Result<(), JobStateError> {
        self.inner.update_table(job_id, table, update).await
    }
    async fn get(&self, job_id: &str) -> Result<Option<Job>, JobStateError> {
        self.inner.get(job_id).await
    }
    async fn history(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>, JobStateError> {
        self.inner.history(job_id, limit).await
    }
    async fn reset(&self, job_id: &str, reason: &str, now: DateTime<Utc>) -> Result<Job, JobStateError> {
        self.inner.reset(job_id, reason, now).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_loop_longer_than_the_lease_keeps_extending_it() {
    // GIVEN a 60 s lease and statements that stay running for 20 polls of 10 s
    // each (200 s on the executor's virtual clock, which the steps share)
    // AND the pgbench tables only: with the two types tables as well, every
    // statement taking 200 s puts the run past the state machine's
    // TimeoutSeconds (3000 s; the unload Map, 4 tables at a time, then needs
    // two rounds), which is not what this test is about
    let mut f = Fixture::new(25);
    f.cfg.tables.retain(|t| !cdc_dmsgen::TYPES_TABLES.contains(&t.name.as_str()));
    let watch = Arc::new(LeaseWatch { inner: f.store(), lapses: Mutex::default() });
    let mut p = f.slow_pipeline(20);
    p.lease = Lease::new(Duration::from_secs(60)).unwrap();
    p.store = watch.clone() as Arc<dyn JobStateStore>;
    // WHEN the pipeline runs
    let run = p.run("slow").await.unwrap();
    // THEN it succeeds, polled for longer than the lease, and the lease never lapsed
    assert_eq!(run.execution.status, ExecutionStatus::Succeeded, "{:?}", run.execution.cause);
    let span = run.execution.stop_time - run.execution.start_time;
    assert!(span > chrono::Duration::seconds(200), "virtual run took {span}");
    assert!(entered(&run, "Dimension: Poll load") >= 20 * 3);
    let lapses = watch.lapses.lock().unwrap().clone();
    if !lapses.is_empty() {
        eprintln!("{}", cdc_asl::render_history(&run.execution.history, 100));
    }
    assert!(lapses.is_empty(), "{lapses:#?}");
    assert!(f.mismatched().is_empty(), "{:?}", f.mismatched());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_execution_frees_the_job_and_is_notified_once_through_the_rule() {
    // GIVEN statements that never finish, on the executor's virtual clock
    let f = Fixture::new(26);
    let p = f.slow_pipeline(usize::MAX);
    // WHEN the execution runs past the state machine's TimeoutSeconds
    let run = p.run("stuck").await.unwrap();
    assert_eq!(run.execution.status, ExecutionStatus::TimedOut, "{:?}", run.execution.cause);
    // THEN the status-change rule's call frees the job it still held, and notifies once
    let ended = run.status_change.as_ref().expect("the rule's notify call");
    assert!(ended.released && ended.sent && !ended.already_handled, "{ended:?}");
    let job = f.store().get("101").await.unwrap().unwrap();
    assert_eq!((job.state.as_str(), job.lease_expires), ("Failed", None));
    let notices = f.notices();
    let [Notice::Failure(n)] = notices.as_slice() else { panic!("one failure notice expected: {notices:#?}") };
    assert_eq!(n.error_type, "States.Timeout");
    // AND the rule delivering the same event again sends nothing more
    let again = f.pipeline().context().unwrap();
    let event = serde_json::json!({"action": "execution_ended", "job_id": "101", "detail": {
        "executionArn": run.execution.execution_arn, "status": "TIMED_OUT"}});
    let out = cdc_core::steps::dispatch::dispatch(&again, Function::Notify, &event).await.unwrap();
    assert_eq!(out["already_handled"], true);
    assert_eq!(f.notices().len(), 1);

    // WHEN the next scheduled run starts, an hour before the old lease would have expired
    let next = f.pipeline().run("next").await.unwrap();
    // THEN it is not skipped: it loads everything, and the targets equal the oracle
    assert_eq!(next.execution.status, ExecutionStatus::Succeeded, "{:?}", next.execution.cause);
    assert_eq!(next.skipped_by(), None);
    assert!(f.mismatched().is_empty(), "{:?}", f.mismatched());
}

/// The load batches of each table in a run (`Count batch` per Map iteration).
fn batches_per_table(run: &PipelineRun) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in &run.execution.history {
        if let EventKind::StateEntered { name, .. } = &e.kind
            && name.ends_with(": Count batch")
        {
            *out.entry(e.scope.clone()).or_default() += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_backlog_proceeds_over_several_executions_each_reaching_release() {
    // GIVEN a backlog of dozens of files per table, 8 files per load batch,
    // and at most 2 batches per table and execution
    let mut f = Fixture::new(27);
    for _ in 0..5 {
        f.generator.cdc_cycle(150).unwrap();
    }
    f.generator.finish().unwrap();
    f.cfg.max_files_per_load = 8;
    f.cfg.max_batches_per_run = 2;
    // WHEN executions run until one finds nothing new
    let mut runs = Vec::new();
    loop {
        let run = f.pipeline().run(&format!("run-{}", runs.len())).await.unwrap();
        let idle = run.was_idle();
        runs.push(run);
        if idle || runs.len() == 40 {
            break;
        }
    }
    // THEN it took several executions, each succeeding through Release within its share of batches
    let summary: Vec<String> = runs.iter().map(run_summary).collect();
    assert!(runs.len() >= 4 && runs.last().unwrap().was_idle(), "{} executions:\n{}", runs.len(), summary.join("\n"));
    for run in &runs[..runs.len() - 1] {
        assert_eq!(
            run.execution.status,
            ExecutionStatus::Succeeded,
            "{}: {:?}",
            run.execution.name,
            run.execution.cause
        );
        assert_eq!(entered(run, "Release"), 1, "{}", run.execution.name);
        let batches = batches_per_table(run);
        assert!(batches.values().all(|n| *n <= 2), "{}: {batches:?}", run.execution.name);
    }
    // AND the runs before the last left work, recorded in the hints
    let (input, _) = runs[0].release.as_ref().unwrap();
    assert!(input.results.facts.iter().chain(&input.results.dimensions).any(|t| t.deferred), "{:?}", input.results);
    // AND the targets equal the oracle
    assert!(f.mismatched().is_empty(), "{:?}", f.mismatched());

    // WHEN the state machine before issue 20 runs the same backlog from scratch
    let mut old = Fixture::new(27);
    for _ in 0..5 {
        old.generator.cdc_cycle(150).unwrap();
    }
    old.generator.finish().unwrap();
    old.cfg.max_files_per_load = 8;
    old.cfg.max_batches_per_run = 2;
    let run = old.pipeline_with(FIXTURES.to_string() + "/pipeline-before-issue-20.asl.json").run("old").await.unwrap();
    // THEN its loops knew no bound: one execution took every batch
    let batches = batches_per_table(&run);
    assert!(batches.values().any(|n| *n > 2), "{batches:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_stop_taking_work_when_the_work_window_is_over_and_the_run_still_releases() {
    // GIVEN statements that take 6 polls (a minute of the executor's virtual
    // clock, which the steps share), one file per batch, and a 2-minute work window
    let mut f = Fixture::new(28);
    for _ in 0..3 {
        f.generator.cdc_cycle(150).unwrap();
    }
    f.cfg.tables.retain(|t| !cdc_dmsgen::TYPES_TABLES.contains(&t.name.as_str()));
    f.cfg.max_files_per_load = 1;
    f.cfg.work_window = Duration::from_secs(120);
    let p = f.slow_pipeline(6);
    // WHEN the pipeline runs
    let run = p.run("windowed").await.unwrap();
    // THEN it releases and succeeds well inside the timeout, with loads deferred to the next execution
    assert_eq!(run.execution.status, ExecutionStatus::Succeeded, "{:?}", run.execution.cause);
    assert_eq!(entered(&run, "Release"), 1);
    let span = (run.execution.stop_time - run.execution.start_time).num_seconds();
    assert!(span < 1200, "virtual run took {span} s");
    let (input, _) = run.release.as_ref().unwrap();
    let deferred: Vec<&str> = input
        .results
        .dimensions
        .iter()
        .chain(&input.results.facts)
        .filter(|t| t.deferred)
        .map(|t| t.table.as_str())
        .collect();
    assert!(!deferred.is_empty(), "{:?}", input.results);
    // AND the hints say so, so the next execution is not idle and finishes the work
    let job = f.store().get("101").await.unwrap().unwrap();
    assert!(
        deferred.iter().all(|t| job.progress_hints.get(*t).is_some_and(|h| h.work_left)),
        "{:?}",
        job.progress_hints
    );
    // (whole batches now: on a busy machine, hundreds of one-file batches
    // polled in real time add up to the timeout on the executor's clock)
    for i in 0.. {
        let mut next = f.pipeline();
        next.cfg.work_window = Duration::from_secs(40 * 60);
        next.cfg.max_files_per_load = 500;
        let finished = next.run(&format!("next-{i}")).await.unwrap();
        assert_eq!(finished.execution.status, ExecutionStatus::Succeeded, "{:?}", finished.execution.cause);
        assert!(i > 0 || !finished.was_idle(), "the run after the deferred one was idle");
        if finished.was_idle() || i == 10 {
            break;
        }
    }
    assert!(f.mismatched().is_empty(), "{:?}", f.mismatched());
}

/// Ends statements of the batches whose label starts with one of `labels`
/// without running them: ABORTED for an unload, a serialization conflict for
/// a refresh; the first `times` of each, or all when `times` is `usize::MAX`.
struct EndsWithoutEffect {
    inner: Arc<dyn Warehouse>,
    times: usize,
    ended: Mutex<BTreeMap<String, usize>>,
    doomed: Mutex<BTreeMap<String, StatementState>>,
}

impl EndsWithoutEffect {
    fn fate(&self, label: &str) -> Option<StatementState> {
        let kind = ["unload ", "refresh "].into_iter().find(|p| label.starts_with(p))?;
        let mut ended = self.ended.lock().unwrap();
        let n = ended.entry(kind.to_string()).or_default();
        if *n >= self.times {
            return None;
        }
        *n += 1;
        Some(match kind {
            "unload " => StatementState::Aborted("Query cancelled on user's request".into()),
            _ => StatementState::Failed(cdc_core::PipelineError::retryable(
                "ERROR: 1023 DETAIL: Serializable isolation violation on table - 100233",
            )),
        })
    }
}

#[async_trait]
impl Warehouse for EndsWithoutEffect {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }
    fn poll_schedule(&self) -> cdc_core::ports::PollSchedule {
        self.inner.poll_schedule()
    }
    async fn submit(&self, batch: StatementBatch) -> Result<StatementId, cdc_core::PipelineError> {
        match self.fate(&batch.label) {
            Some(fate) => {
                let id = format!("ended-{}", self.doomed.lock().unwrap().len());
                self.doomed.lock().unwrap().insert(id.clone(), fate);
                Ok(StatementId(id))
            }
            None => self.inner.submit(batch).await,
        }
    }
    async fn submit_single(&self, statement: SingleStatement) -> Result<StatementId, cdc_core::PipelineError> {
        self.inner.submit_single(statement).await
    }
    async fn status(&self, id: &StatementId) -> Result<StatementState, cdc_core::PipelineError> {
        if let Some(fate) = self.doomed.lock().unwrap().get(&id.0) {
            return Ok(fate.clone());
        }
        self.inner.status(id).await
    }
    async fn result(&self, id: &StatementId) -> Result<ResultSet, cdc_core::PipelineError> {
        self.inner.result(id).await
    }
}

fn ending_without_effect(f: &Fixture, times: usize) -> LocalPipeline {
    let mut p = f.pipeline();
    let inner = Arc::clone(&p.warehouse);
    p.warehouse = Arc::new(EndsWithoutEffect { inner, times, ended: Mutex::default(), doomed: Mutex::default() });
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unload_or_refresh_that_ends_without_effect_is_submitted_again_and_the_run_succeeds() {
    // GIVEN the first unload statement ABORTED and the first refresh in a serialization conflict
    let f = Fixture::new(41);
    // WHEN the pipeline runs
    let run = ending_without_effect(&f, 1).run("ended-once").await.unwrap();
    // THEN each was submitted again (not polled again), and the run succeeded with every table right
    assert_eq!(run.execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", run.execution.error, run.execution.cause);
    assert_eq!((entered(&run, "Count day retry"), entered(&run, "Count refresh retry")), (1, 1));
    assert!(f.mismatched().is_empty(), "{:?}", f.mismatched());
    assert!(f.notices().is_empty(), "no failure to notify: {:#?}", f.notices());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unload_that_keeps_ending_without_effect_fails_the_run_after_three_submits_more() {
    // GIVEN every unload statement ABORTED (and every refresh in a conflict)
    let f = Fixture::new(42);
    // WHEN the pipeline runs
    let run = ending_without_effect(&f, usize::MAX).run("ended-always").await.unwrap();
    // THEN a table's day was submitted 3 times more, then the run failed naming the abort
    assert_eq!(run.execution.status, ExecutionStatus::Failed);
    assert!(entered(&run, "Day retries spent") >= 1);
    let (input, _) = run.release.as_ref().expect("released");
    let failed: Vec<_> = input.results.unload.iter().filter(|t| !t.ok).collect();
    assert!(!failed.is_empty(), "{:?}", input.results.unload);
    let cause = failed[0].cause.as_deref().unwrap_or_default();
    assert!(cause.contains("was aborted"), "{cause}");
    // AND the loads before it succeeded
    let loads = input.results.dimensions.iter().chain(&input.results.facts);
    assert!(loads.clone().all(|t| t.ok), "{:?}", loads.collect::<Vec<_>>());
}

/// A notifier whose first `failures` sends are throttled (SNS's `Throttling`).
struct ThrottledNotifier {
    inner: Arc<dyn cdc_core::notify::Notifier>,
    failures: AtomicUsize,
}

#[async_trait]
impl cdc_core::notify::Notifier for ThrottledNotifier {
    async fn send(&self, notice: &Notice) -> Result<(), cdc_core::PipelineError> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(cdc_core::PipelineError::retryable("SNS Publish: Throttling (HTTP 400, injected)"));
        }
        self.inner.send(notice).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rule_s_notify_call_is_tried_again_as_lambda_retries_an_asynchronous_invocation() {
    // GIVEN an execution that times out, and a notifier throttled twice
    let f = Fixture::new(27);
    let p = f.slow_pipeline(usize::MAX);
    let mut ctx = p.context().unwrap();
    ctx.notifier = Arc::new(ThrottledNotifier { inner: Arc::clone(&ctx.notifier), failures: AtomicUsize::new(2) });
    let clock = p.clock.clone().unwrap();
    let run = cdc_cli::pipeline_run::StateMachineRun {
        state_machine: Path::new(STATE_MACHINE),
        ctx: Arc::new(ctx),
        clock: Arc::clone(&clock),
        intercept: None,
        hook: None,
    };
    // WHEN the execution ends and the status-change rule calls the notify function
    let run = run.run("stuck").await.unwrap();
    assert_eq!(run.execution.status, ExecutionStatus::TimedOut, "{:?}", run.execution.cause);
    // THEN its third attempt, three minutes on, sent the notice (Lambda tries twice more: 1 min, then 2 min)
    let ended = run.status_change.as_ref().expect("the rule's notify call succeeded in the end");
    assert!(ended.sent && !ended.already_handled, "{ended:?}");
    assert!(cdc_asl::Clock::now(&*clock) - run.execution.stop_time >= chrono::TimeDelta::minutes(3));
    // AND the job is free and failed once, and one notice went out, counting this failure once
    let job = f.store().get("101").await.unwrap().unwrap();
    assert_eq!((job.state.as_str(), job.lease_expires, job.consecutive_failures), ("Failed", None, 1));
    let notices = f.notices();
    let [Notice::Failure(n)] = notices.as_slice() else { panic!("one failure notice expected: {notices:#?}") };
    assert_eq!((n.error_type.as_str(), n.consecutive_failures), ("States.Timeout", 1));
}
