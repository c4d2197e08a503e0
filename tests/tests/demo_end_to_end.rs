//! The local demo at a small scale, end to end: generator → raw zone → the
//! pipeline on DuckDB → oracle check after every cycle.

use std::path::PathBuf;

use cdc_cli::demo::{DemoArgs, demo};

fn config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/pipeline.toml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_verifies_every_cycle_against_the_oracle() {
    // GIVEN a small pgbench source and three CDC cycles crossing midnight, in
    // each of the eight DMS S3 layouts
    let out = tempfile::tempdir().unwrap();
    let args = DemoArgs {
        config: config(),
        out: out.path().join("demo"),
        scale: 2,
        accounts_per_branch: 300,
        cycles: 3,
        transactions: 400,
        seed: 11,
        trace: false,
        state_machine: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../statemachine/pipeline.asl.json"),
        layouts: "all".into(),
    };
    // WHEN the demo runs THEN every cycle's oracle check passes, in every layout
    demo(args).await.unwrap();
}
