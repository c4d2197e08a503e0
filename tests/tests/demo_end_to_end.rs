//! The local demo at a small scale, end to end: generator → raw zone → the
//! pipeline on DuckDB → oracle check after every cycle.

use std::path::PathBuf;

use cdc_cli::demo::{DemoArgs, demo};

fn config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/pipeline.toml")
}

fn small(out: &std::path::Path, layouts: &str) -> DemoArgs {
    DemoArgs {
        config: config(),
        out: out.join("demo"),
        scale: 2,
        accounts_per_branch: 300,
        cycles: 3,
        transactions: 400,
        seed: 11,
        trace: false,
        state_machine: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../statemachine/pipeline.asl.json"),
        layouts: layouts.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_verifies_every_cycle_against_the_oracle() {
    // GIVEN a small pgbench source and three CDC cycles crossing midnight, in
    // each of the eight DMS S3 layouts
    // (two of them with Op in the full-load files; files held back since the
    // first cycle arrive in days older than the listing window)
    let out = tempfile::tempdir().unwrap();
    // WHEN the demo runs THEN every cycle's oracle check passes, in every layout
    demo(small(out.path(), "all")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_only_cdc_without_op_follows_the_oracle() {
    // GIVEN DMS's CdcInsertsOnly: CDC files without `Op`, updates and deletes left out
    let out = tempfile::tempdir().unwrap();
    // WHEN the demo runs THEN every cycle's oracle check passes
    demo(small(out.path(), "inserts-only")).await.unwrap();
}
