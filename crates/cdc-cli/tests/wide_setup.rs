//! A pipeline of many tables sets up in several batches (the Data API takes
//! at most 40 statements in one): the state machine's setup poll submits
//! each next batch, on the local executor and warehouse.

use std::sync::Arc;

use cdc_asl::{EventKind, ExecutionStatus};
use cdc_cli::run::JobArgs;
use cdc_core::PipelineConfig;
use cdc_core::job::JobStateStore;
use cdc_local::DuckDbWarehouse;

const STATE_MACHINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachine/pipeline.asl.json");

fn wide_config(n: usize) -> PipelineConfig {
    let mut text = String::from(
        "[pipeline]\njob_id = \"7\"\nraw_schema = \"raw\"\ntarget_schema = \"public\"\ncontrol_schema = \"ctl\"\n",
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[tables]]\nschema = \"public\"\nname = \"t{i:02}\"\nkind = \"dimension\"\nmode = \"upsert\"\n\
             key = [\"id\"]\ncommit_ts_column = \"changets\"\nlateness_window = \"2d\"\n\
             columns = [{{ name = \"id\", type = \"integer\" }}, {{ name = \"v\", type = \"varchar(10)\" }}]\n"
        ));
    }
    PipelineConfig::parse(&text, "wide").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_tables_set_up_in_several_batches_through_the_state_machine() {
    // GIVEN 20 tables (61 setup statements), a new warehouse, and a raw zone DMS has not
    // written to yet (so each load fails, naming its table, after setup)
    let dir = tempfile::tempdir().unwrap();
    let (raw, wh_path) = (dir.path().join("raw"), dir.path().join("w.duckdb"));
    std::fs::create_dir_all(&raw).unwrap();
    let cfg = wide_config(20);
    let mut job = JobArgs::defaults(None);
    job.state_machine = STATE_MACHINE.into();
    let path = wh_path.clone();
    let open = move || Ok(Arc::new(DuckDbWarehouse::open(&path)?));
    let pipeline = job.pipeline(&cfg, &raw, &wh_path, &dir.path().join("optimized"), None, open).unwrap();

    // WHEN the first run starts
    let run = pipeline.run("wide").await.unwrap();

    // THEN setup went through its batches, and only the loads failed
    assert_eq!(run.execution.status, ExecutionStatus::Failed);
    let (_, release) = run.release.as_ref().expect("the run got to its release");
    assert_eq!(release.failed_step.as_deref(), Some("LoadDimensions"), "{release:?}");
    assert_eq!(release.failed_tables.len(), 20);
    let polls = run
        .execution
        .history
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::StateEntered { name, .. } if name == "Poll setup"))
        .count();
    assert!(polls >= 2, "setup took {polls} polls");
    // AND every table exists, and the fingerprint is recorded once the last batch finished
    let conn = DuckDbWarehouse::open(&wh_path).unwrap().connection().unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 20);
    let store = job.store(&wh_path).unwrap();
    let state = store.get("7").await.unwrap().unwrap();
    assert_eq!(state.config_fingerprint.as_deref(), Some(cfg.fingerprint().as_str()));
}
