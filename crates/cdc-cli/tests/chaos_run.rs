//! The chaos run, short and with a fixed seed: faults at every Task state,
//! replays and concurrent starts lose, duplicate and stale nothing; and the
//! check it relies on does find a lost, a duplicated and a stale row.

use std::path::Path;
use std::sync::Arc;

use indicatif::ProgressBar;

use cdc_cli::chaos::faults::FaultKind;
use cdc_cli::chaos::oracle_check::{Damage, check};
use cdc_cli::chaos::{ChaosSettings, run_local};
use cdc_cli::run::JobArgs;
use cdc_core::PipelineConfig;
use cdc_dmsgen::{DmsLayout, Generator, GeneratorConfig};
use cdc_local::DuckDbWarehouse;

const STATE_MACHINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachine/pipeline.asl.json");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/pipeline.toml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_chaos_run_with_a_fixed_seed_loses_duplicates_and_stales_nothing() {
    // GIVEN 30 scheduled executions over generated data, faults at every point
    let dir = tempfile::tempdir().unwrap();
    let settings = ChaosSettings {
        seed: 7,
        executions: 30,
        rate: 0.05,
        out: dir.path().join("chaos"),
        config: CONFIG.into(),
        state_machine: STATE_MACHINE.into(),
        accounts: 500,
        transactions: 40,
        cycle_every: 2,
    };
    // WHEN the chaos run runs
    let report = run_local(&settings, &ProgressBar::hidden()).await.unwrap();
    // THEN no check after any execution found a row lost, duplicated or stale, and at the end every table equals the source
    assert!(report.clean(), "{}", report.render());
    assert_eq!(report.damage, Damage::default());
    // AND the optimized zone's days were exported and each equals its raw day
    assert!(report.unloaded_days > 0, "{}", report.render());
    // AND faults of every family entered: at the invoke, in the Data API, in the other services, between executions
    let kinds = &report.tally.by_kind;
    let families: [&[FaultKind]; 4] = [
        FaultKind::AT_INVOKE,
        FaultKind::AT_SUBMIT,
        &[FaultKind::S3Throttled, FaultKind::GlueThrottled, FaultKind::DynamoDbThrottled],
        &[FaultKind::Replay, FaultKind::ConcurrentStart],
    ];
    for family in families {
        assert!(family.iter().any(|k| kinds.contains_key(k)), "no fault of {family:?}: {}", report.render());
    }
    assert!(report.tally.total() >= 60, "{}", report.render());
    // AND executions failed and the pipeline recovered from them
    assert!(report.recoveries >= 1 && report.outcomes.failed + report.outcomes.aborted >= 1, "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_counts_a_lost_a_duplicated_and_a_stale_row() {
    // GIVEN a pipeline run without faults, its targets equal to the oracle
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let gen_cfg = GeneratorConfig { seed: 3, branches: 1, accounts_per_branch: 300, ..GeneratorConfig::default() };
    let mut generator = Generator::new(&raw, DmsLayout::default(), gen_cfg).unwrap();
    generator.full_load().unwrap();
    generator.cdc_cycle(50).unwrap();
    let cfg = PipelineConfig::load(Path::new(CONFIG)).unwrap();
    let wh_path = dir.path().join("warehouse.duckdb");
    let warehouse = Arc::new(DuckDbWarehouse::open(&wh_path).unwrap());
    let job = JobArgs { state_machine: STATE_MACHINE.into(), ..JobArgs::defaults(Some(dir.path().join("job-state"))) };
    let w = Arc::clone(&warehouse);
    let optimized = dir.path().join("optimized");
    let pipeline = job.pipeline(&cfg, &raw, &wh_path, &optimized, None, move || Ok(Arc::clone(&w))).unwrap();
    pipeline.run("clean").await.unwrap();
    let prefix = pipeline.raw.root().display().to_string();
    let conn = warehouse.connection().unwrap();
    let clean = check(&cfg, &conn, &generator, &prefix).unwrap();
    assert!(clean.damaged.is_empty() && clean.applied_files > 0, "{clean:?}");

    // WHEN one account row is deleted, one history row doubled and one teller's balance changed
    conn.execute_batch(
        "DELETE FROM public.pgbench_accounts WHERE aid = (SELECT min(aid) FROM public.pgbench_accounts);
         INSERT INTO public.pgbench_history (SELECT * FROM public.pgbench_history LIMIT 1);
         UPDATE public.pgbench_tellers SET tbalance = tbalance + 1 WHERE tid = (SELECT min(tid) FROM public.pgbench_tellers);",
    )
    .unwrap();
    let found = check(&cfg, &conn, &generator, &prefix).unwrap();

    // THEN each is counted in its table
    let damage_of = |t: &str| found.damaged.iter().find(|(n, _)| n == t).map(|(_, d)| *d).unwrap_or_default();
    assert_eq!(damage_of("pgbench_accounts"), Damage { lost: 1, duplicated: 0, differing: 0 });
    assert_eq!(damage_of("pgbench_history"), Damage { lost: 0, duplicated: 1, differing: 0 });
    assert_eq!(damage_of("pgbench_tellers"), Damage { lost: 0, duplicated: 0, differing: 1 });
    assert_eq!(found.total(), Damage { lost: 1, duplicated: 1, differing: 1 });
}
