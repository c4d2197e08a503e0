//! Table lifecycle through the deployed state machine file, run by the local
//! executor with the real steps (docs/table-lifecycle.md): a resync asked in
//! an execution's input is recorded before the claim, so a skipped execution
//! does not lose it; a reload DMS is still writing leaves its table Waiting
//! (the others load) until it settles; a rebuild an earlier execution left
//! behind is reconciled from the warehouse; a failed table is marked Failed
//! with its reason and Active once it loads; an unknown table in `Resync`
//! fails the claim naming it.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use cdc_asl::ExecutionStatus;
use cdc_cli::pipeline_run::{LocalPipeline, PipelineRun};
use cdc_cli::run::JobArgs;
use cdc_cli::verify::verify;
use cdc_core::PipelineConfig;
use cdc_core::job::{Claim, JobStateStore, Lease, TableLife, TableState, TableUpdate};
use cdc_dmsgen::{DmsLayout, Generator, GeneratorConfig, ReloadNaming};
use cdc_local::{DuckDbWarehouse, FileJobStore};

const STATE_MACHINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachine/pipeline.asl.json");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/pipeline.toml");

struct Fixture {
    dir: tempfile::TempDir,
    cfg: PipelineConfig,
    generator: Generator,
    warehouse: Arc<DuckDbWarehouse>,
}

impl Fixture {
    /// A small raw zone (a full load, one CDC cycle), loaded by one run.
    async fn loaded(seed: u64) -> Self {
        Self::loaded_with(seed, |text| text.to_string()).await
    }

    /// [`Fixture::loaded`] with the config as `edit` makes it.
    async fn loaded_with(seed: u64, edit: impl Fn(&str) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let gen_cfg = GeneratorConfig { seed, branches: 1, accounts_per_branch: 2_000, ..GeneratorConfig::default() };
        let mut generator = Generator::new(&dir.path().join("raw"), DmsLayout::default(), gen_cfg).unwrap();
        generator.full_load().unwrap();
        generator.cdc_cycle(300).unwrap();
        let warehouse = Arc::new(DuckDbWarehouse::open(&dir.path().join("warehouse.duckdb")).unwrap());
        let cfg = PipelineConfig::parse(&edit(&std::fs::read_to_string(CONFIG).unwrap()), "test").unwrap();
        let f = Self { dir, cfg, generator, warehouse };
        f.succeeds(f.pipeline().run("first").await.unwrap());
        assert!(f.mismatched().is_empty());
        f
    }

    fn raw_root(&self) -> PathBuf {
        self.dir.path().join("raw")
    }

    fn job_args(&self) -> JobArgs {
        JobArgs { state_machine: STATE_MACHINE.into(), ..JobArgs::defaults(Some(self.dir.path().join("job-state"))) }
    }

    fn store(&self) -> FileJobStore {
        self.job_args().store(&self.dir.path().join("warehouse.duckdb")).unwrap()
    }

    fn pipeline(&self) -> LocalPipeline {
        let w = Arc::clone(&self.warehouse);
        let wh_path = self.dir.path().join("warehouse.duckdb");
        self.job_args()
            .pipeline(&self.cfg, &self.raw_root(), &wh_path, &self.dir.path().join("optimized"), None, move || {
                Ok(Arc::clone(&w))
            })
            .unwrap()
    }

    fn mismatched(&self) -> Vec<String> {
        let conn = self.warehouse.connection().unwrap();
        let v = verify(&self.cfg, &conn, &self.generator).unwrap();
        v.tables.iter().filter(|t| !t.ok()).map(|t| t.table.clone()).collect()
    }

    async fn state(&self, table: &str) -> Option<TableState> {
        self.store().table_states("101").await.unwrap().remove(table)
    }

    fn succeeds(&self, run: PipelineRun) -> PipelineRun {
        assert_eq!(run.execution.status, ExecutionStatus::Succeeded, "{:?}", run.execution.cause);
        run
    }

    fn files_loaded(run: &PipelineRun, table: &str) -> u64 {
        let (input, _) = run.release.as_ref().expect("a release");
        input.results.dimensions.iter().chain(&input.results.facts).find(|t| t.table == table).map_or(0, |t| t.files)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_asked_while_the_job_is_held_is_kept_and_the_next_run_rebuilds_only_that_table() {
    // GIVEN a loaded pipeline whose tellers target was emptied by hand
    let f = Fixture::loaded(41).await;
    f.warehouse.connection().unwrap().execute_batch("DELETE FROM public.pgbench_tellers").unwrap();
    assert_eq!(f.mismatched(), ["pgbench_tellers"]);
    // AND another execution holding the job
    let lease = Lease::new(Duration::from_secs(600)).unwrap();
    assert!(matches!(f.store().claim("101", "other", lease, Utc::now()).await.unwrap(), Claim::Claimed { .. }));
    // WHEN an execution is started with {"JobId": "101", "Resync": ["pgbench_tellers"]}
    let input = json!({ "JobId": "101", "Resync": ["pgbench_tellers"] });
    let run = f.succeeds(f.pipeline().run_with_input("asked", input).await.unwrap());
    // THEN it is skipped, and the request is recorded all the same
    assert_eq!(run.skipped_by(), Some("other"));
    let state = f.state("pgbench_tellers").await.expect("a state for tellers");
    assert_eq!(state.shown(), TableLife::ResyncRequired);
    // WHEN the other execution is gone and the next scheduled run starts (nothing new in the raw zone)
    f.store().reset("101", "the other execution was stopped", Utc::now()).await.unwrap();
    let run = f.succeeds(f.pipeline().run("next").await.unwrap());
    // THEN it is not idle: tellers is rebuilt from its full load and CDC, the others load nothing
    assert!(!run.was_idle());
    assert!(Fixture::files_loaded(&run, "pgbench_tellers") > 0);
    assert_eq!(Fixture::files_loaded(&run, "pgbench_accounts"), 0);
    assert!(f.mismatched().is_empty(), "{:?}", f.mismatched());
    // AND the table is Active with its request done, and the run after is idle
    let state = f.state("pgbench_tellers").await.unwrap();
    assert_eq!((state.shown(), state.resync_requested), (TableLife::Active, None));
    assert!(f.succeeds(f.pipeline().run("after").await.unwrap()).was_idle());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_dms_is_still_writing_leaves_its_table_waiting_and_the_others_load() {
    // GIVEN a loaded pipeline, then DMS reloading accounts (one account deleted
    // at the source without a captured change) and more changes
    let mut f = Fixture::loaded(42).await;
    f.generator.reload("pgbench_accounts", ReloadNaming::InPlace).unwrap();
    f.generator.cdc_cycle(200).unwrap();
    // AND the reload's last file written a moment ago
    let last = f.raw_root().join("full/public/pgbench_accounts/LOAD00000001.parquet");
    std::fs::File::options().write(true).open(&last).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
    // WHEN the pipeline runs
    let run = f.succeeds(f.pipeline().run("while-written").await.unwrap());
    // THEN accounts waits, saying why, and every other table loaded its changes
    let state = f.state("pgbench_accounts").await.expect("a state for accounts");
    assert_eq!(state.shown(), TableLife::Waiting);
    assert!(state.reason.as_deref().is_some_and(|r| r.contains("reload detected")), "{state:?}");
    assert_eq!(Fixture::files_loaded(&run, "pgbench_accounts"), 0);
    assert_eq!(f.mismatched(), ["pgbench_accounts"]);
    // AND the run record says so
    let record = &f.store().history("101", 1).await.unwrap()[0];
    assert!(
        record.warnings.iter().any(|w| w.starts_with("table pgbench_accounts waits: reload detected")),
        "{record:?}"
    );
    // WHEN the reload has settled (the steps' clock past pipeline.reload_settle) and the next run starts
    let mut later = f.pipeline();
    let clock = Arc::new(cdc_asl::VirtualClock::new(Utc::now() + chrono::Duration::hours(1)));
    let steps_clock = Arc::clone(&clock);
    later.now = Some(Arc::new(move || cdc_asl::Clock::now(&*steps_clock)));
    later.clock = Some(clock);
    let run = f.succeeds(later.run("settled").await.unwrap());
    // THEN it is not idle, accounts is rebuilt and equals the oracle (the missed delete included), and is Active
    assert!(!run.was_idle());
    let state = f.state("pgbench_accounts").await.unwrap();
    assert!(f.mismatched().is_empty(), "{:?} {state:?} {}", f.mismatched(), support::run_summary(&run));
    assert_eq!(state.shown(), TableLife::Active);
    // AND the run record names the rebuild and why
    let record = &f.store().history("101", 1).await.unwrap()[0];
    assert!(
        record.warnings.iter().any(|w| w.starts_with("table pgbench_accounts rebuilt: reload detected")),
        "{record:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_an_earlier_execution_left_is_reconciled_from_the_warehouse() {
    // GIVEN a loaded pipeline, and a resync of branches an earlier execution
    // submitted and committed, then ended before recording it
    let f = Fixture::loaded(43).await;
    let t = f.cfg.table("pgbench_branches").unwrap();
    let submitted = Utc::now();
    f.store().update_table("101", "pgbench_branches", TableUpdate::RequestResync { at: submitted }).await.unwrap();
    let run = cdc_core::load::LoadRun { resync: Some(submitted), ..cdc_core::load::LoadRun::whole(submitted) };
    let raw = cdc_local::FolderRawZone::new(&f.raw_root()).unwrap();
    let out = cdc_core::load::submit_load(&f.cfg, t, f.warehouse.as_ref(), &raw, run).await.unwrap();
    let cdc_core::load::SubmitOutcome::Submitted { statement_id, .. } = out else { panic!("{out:?}") };
    cdc_core::ports::wait_for(f.warehouse.as_ref(), &statement_id).await.unwrap();
    let resyncing = TableUpdate::Set {
        life: TableLife::Resyncing,
        reason: Some("resync requested".into()),
        statement_id: Some(statement_id),
        at: submitted,
    };
    f.store().update_table("101", "pgbench_branches", resyncing).await.unwrap();
    // WHEN the next execution runs
    let run = f.succeeds(f.pipeline().run("next").await.unwrap());
    // THEN it finds the statement finished, records the table rebuilt, and rebuilds nothing again
    assert_eq!(Fixture::files_loaded(&run, "pgbench_branches"), 0);
    let state = f.state("pgbench_branches").await.unwrap();
    assert_eq!((state.shown(), state.resync_requested, state.statement_id), (TableLife::Active, None, None));
    assert!(f.mismatched().is_empty(), "{:?}", f.mismatched());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_table_is_marked_with_its_reason_and_active_again_once_it_loads() {
    // GIVEN a loaded pipeline, then a new history CDC file that is not Parquet
    let mut f = Fixture::loaded(44).await;
    f.generator.cdc_cycle(100).unwrap();
    let newest = support::history_cdc_files(&f.raw_root()).pop().unwrap();
    let good = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, b"garbage").unwrap();
    // WHEN the pipeline runs
    let run = f.pipeline().run("bad").await.unwrap();
    // THEN history is Failed, naming the file; the others are not
    assert_eq!(run.execution.status, ExecutionStatus::Failed);
    let state = f.state("pgbench_history").await.expect("a state for history");
    assert_eq!(state.shown(), TableLife::Failed);
    let name = newest.file_name().unwrap().to_str().unwrap();
    assert!(state.reason.as_deref().is_some_and(|r| r.contains(name)), "{state:?}");
    assert!(f.state("pgbench_accounts").await.is_none_or(|s| s.shown() == TableLife::Active));
    // WHEN the file is fixed and the next run loads it
    std::fs::write(&newest, good).unwrap();
    f.succeeds(f.pipeline().run("fixed").await.unwrap());
    // THEN history is Active again
    assert_eq!(f.state("pgbench_history").await.unwrap().shown(), TableLife::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_table_in_resync_fails_the_claim_naming_it_and_records_nothing() {
    // GIVEN a loaded pipeline
    let f = Fixture::loaded(45).await;
    // WHEN an execution asks to resync a table the config does not have
    let input = json!({ "JobId": "101", "Resync": ["pgbench_tellers", "no_such_table"] });
    let run = f.pipeline().run_with_input("typo", input).await.unwrap();
    // THEN it fails as a ConfigError naming the table, and no request is recorded
    assert_eq!(run.execution.status, ExecutionStatus::Failed);
    assert_eq!(run.execution.error.as_deref(), Some("ConfigError"));
    assert!(run.execution.cause.as_deref().is_some_and(|c| c.contains("no_such_table")), "{:?}", run.execution.cause);
    assert!(f.store().table_states("101").await.unwrap().values().all(|s| s.resync_requested.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_longer_than_its_column_is_widened_and_the_state_machine_loads_it_again() {
    // GIVEN tellers' filler configured as varchar(5), the source writing 7 characters
    let narrow = |text: &str| {
        text.replacen(
            "{ name = \"filler\", type = \"varchar(84)\" }",
            "{ name = \"filler\", type = \"varchar(5)\" }",
            1,
        )
    };
    // WHEN the first run loads everything (Fixture::loaded_with checks it succeeds and matches the oracle)
    let f = Fixture::loaded_with(41, narrow).await;
    // THEN the run record names the widening, and the table's state keeps it
    let record = &f.store().history("101", 1).await.unwrap()[0];
    let named = "table pgbench_tellers schema changed: column filler widened to varchar(7)";
    assert!(record.warnings.iter().any(|w| w.contains(named)), "{:?}", record.warnings);
    let tellers = &f.store().table_states("101").await.unwrap()["pgbench_tellers"];
    assert_eq!(tellers.shown(), TableLife::Active);
    assert!(tellers.schema_change.as_deref().unwrap_or_default().contains("widened to varchar(7)"), "{tellers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_fail_a_type_change_fails_the_run_keeps_the_table_resync_required_and_a_resync_adopts_it() {
    // GIVEN accounts under on_schema_change = "fail", loaded
    let fail = |text: &str| {
        text.replacen("name = \"pgbench_accounts\"\n", "name = \"pgbench_accounts\"\non_schema_change = \"fail\"\n", 1)
    };
    let mut f = Fixture::loaded_with(45, fail).await;
    assert_eq!(f.cfg.table("pgbench_accounts").unwrap().on_schema_change, cdc_core::SchemaChangePolicy::Fail);
    // WHEN the source makes abalance a bigint and the pipeline runs
    f.generator.retype_to_bigint("pgbench_accounts", "abalance").unwrap();
    f.generator.cdc_cycle(100).unwrap();
    let run = f.pipeline().run("retyped").await.unwrap();
    // THEN the run fails on accounts alone (notified), the others load
    assert_eq!(run.execution.status, ExecutionStatus::Failed);
    assert_eq!(f.mismatched(), vec!["pgbench_accounts".to_string()]);
    // AND accounts is ResyncRequired, its reason naming the column, both types and the command
    let accounts = f.state("pgbench_accounts").await.unwrap();
    assert_eq!(accounts.shown(), TableLife::ResyncRequired, "{accounts:?}");
    let reason = accounts.reason.unwrap_or_default();
    assert!(reason.contains("column abalance changed type from integer to bigint"), "{reason}");
    assert!(reason.contains("cdc resync pgbench_accounts"), "{reason}");
    // WHEN an execution is started with a resync of accounts
    let input = json!({ "JobId": "101", "Resync": ["pgbench_accounts"] });
    f.succeeds(f.pipeline().run_with_input("resync", input).await.unwrap());
    // THEN accounts is rebuilt with the new type and every table equals the oracle
    assert!(f.mismatched().is_empty(), "{:?}", f.mismatched());
    let accounts = f.state("pgbench_accounts").await.unwrap();
    assert_eq!(accounts.shown(), TableLife::Active, "{accounts:?}");
    assert!(accounts.schema_change.unwrap_or_default().contains("changed type from integer to bigint"));
}
