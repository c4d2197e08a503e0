//! The failure path of `cdc run`: the job is marked failed, a notice goes to
//! the notifications file on the first failure, reminders are throttled, and
//! one recovery notice follows the fix.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use cdc_core::notify::Notice;
use cdc_dmsgen::{DmsLayout, Generator, GeneratorConfig};
use support::first_history_cdc_file;

const STATE_MACHINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachine/pipeline.asl.json");

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/pipeline.toml");

fn run(raw: &Path, warehouse: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdc"))
        .args(["run", "--config", CONFIG, "--state-machine", STATE_MACHINE, "--raw"])
        .arg(raw)
        .arg("--warehouse")
        .arg(warehouse)
        .args(extra)
        .output()
        .unwrap()
}

fn notices(file: &Path) -> Vec<Notice> {
    match std::fs::read_to_string(file) {
        Ok(text) => text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn failures_notify_once_then_remind_then_recover() {
    // GIVEN a raw zone whose first history CDC file is not Parquet
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let layout = DmsLayout::default();
    let cfg = GeneratorConfig { seed: 5, branches: 1, accounts_per_branch: 2_000, ..GeneratorConfig::default() };
    let mut generator = Generator::new(&raw, layout, cfg).unwrap();
    generator.full_load().unwrap();
    generator.cdc_cycle(500).unwrap();
    let bad = first_history_cdc_file(&raw);
    let good_bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, b"not a parquet file").unwrap();
    let warehouse = dir.path().join("warehouse.duckdb");
    let file = dir.path().join("job-state/notifications.jsonl");

    // WHEN the run fails THEN it exits non-zero and one failure notice names the table
    let out = run(&raw, &warehouse, &[]);
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let n = notices(&file);
    assert_eq!(n.len(), 1, "{n:#?}");
    let Notice::Failure(f) = &n[0] else { panic!("expected a failure notice: {n:#?}") };
    assert_eq!((f.job_id.as_str(), f.failed_step.as_str()), ("101", "LoadFacts"));
    assert_eq!(f.failed_tables, vec!["pgbench_history".to_string()]);
    assert_eq!((f.error_type.as_str(), f.consecutive_failures), ("DataError", 1));
    assert!(f.error_message.contains(bad.file_name().unwrap().to_str().unwrap()), "{}", f.error_message);
    assert!(
        f.execution_id.starts_with("arn:aws:states:local:000000000000:execution:cdc-pipeline:local-"),
        "{}",
        f.execution_id
    );

    // WHEN it fails again within the reminder interval THEN nobody is paged again
    assert!(!run(&raw, &warehouse, &[]).status.success());
    assert_eq!(notices(&file).len(), 1);

    // WHEN it fails again once the interval has passed (0 minutes) THEN a reminder goes out
    assert!(!run(&raw, &warehouse, &["--reminder-minutes", "0"]).status.success());
    let n = notices(&file);
    assert_eq!(n.len(), 2);
    let Notice::Failure(f) = &n[1] else { panic!("expected a reminder: {n:#?}") };
    assert_eq!(f.consecutive_failures, 3);

    // WHEN the file is fixed THEN the run succeeds and one recovery notice follows
    std::fs::write(&bad, good_bytes).unwrap();
    let out = run(&raw, &warehouse, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let n = notices(&file);
    assert_eq!(n.len(), 3);
    let Notice::Recovery(r) = &n[2] else { panic!("expected a recovery notice: {n:#?}") };
    assert_eq!(r.failures_before, 3);

    // AND a later healthy run says nothing
    generator.cdc_cycle(100).unwrap();
    assert!(run(&raw, &warehouse, &[]).status.success());
    assert_eq!(notices(&file).len(), 3);
}
