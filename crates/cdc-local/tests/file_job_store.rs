//! The local job-state store against the JobStateStore conformance suite, and
//! its own bad-input cases.

use std::sync::Arc;
use std::time::Duration;

use cdc_core::job::{JobStateError, JobStateStore, Lease, conformance};
use cdc_local::FileJobStore;

/// The record of a run that succeeded at `at` with no tables.
fn succeeded(execution_id: &str, at: chrono::DateTime<chrono::Utc>) -> cdc_core::job::RunRecord {
    cdc_core::job::RunRecord {
        execution_id: execution_id.into(),
        start: at,
        end: at,
        outcome: cdc_core::job::RunOutcome::Succeeded,
        tables: vec![],
        failed_tables: vec![],
        error: None,
        warnings: vec![],
        full_listing: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileJobStore::new(dir.path(), Duration::from_secs(30 * 86400)).unwrap());
    conformance::run_all(store, "local").await;
}

#[tokio::test]
async fn history_older_than_the_retention_is_dropped() {
    // GIVEN a retention of one hour and a run that ended two hours ago
    let dir = tempfile::tempdir().unwrap();
    let store = FileJobStore::new(dir.path(), Duration::from_secs(3600)).unwrap();
    let lease = Lease::new(Duration::from_secs(600)).unwrap();
    let old = chrono::Utc::now() - chrono::Duration::hours(2);
    store.claim("j", "old", lease, old).await.unwrap();
    store.finish("j", succeeded("old", old), Default::default()).await.unwrap();
    // THEN it is not in the history
    assert!(store.history("j", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_corrupted_item_is_a_clear_error_never_a_takeover() {
    // GIVEN a job file with a wrong type in it
    let dir = tempfile::tempdir().unwrap();
    let store = FileJobStore::new(dir.path(), Duration::from_secs(3600)).unwrap();
    let lease = Lease::new(Duration::from_secs(600)).unwrap();
    store.claim("j", "exec-1", lease, chrono::Utc::now()).await.unwrap();
    let path = dir.path().join("job-j.json");
    let text = std::fs::read_to_string(&path).unwrap().replace("\"Running\"", "42");
    std::fs::write(&path, text).unwrap();
    // WHEN another execution claims THEN a Corrupt error names the job and the file
    let e = store.claim("j", "exec-2", lease, chrono::Utc::now()).await.unwrap_err();
    assert!(matches!(&e, JobStateError::Corrupt { job_id, .. } if job_id == "j"), "{e:?}");
    assert!(e.to_string().contains("job-j.json"), "{e}");
}

#[test]
fn an_invalid_lease_or_job_id_is_refused() {
    assert!(Lease::new(Duration::from_secs(1)).is_err());
    assert!(Lease::new(Duration::from_secs(10 * 86400)).is_err());
    let dir = tempfile::tempdir().unwrap();
    let store = FileJobStore::new(dir.path(), Duration::from_secs(3600)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt.block_on(store.get("../etc/passwd")).unwrap_err();
    assert!(e.to_string().contains("job id"), "{e}");
}

#[tokio::test]
async fn clearing_the_progress_hints_forgets_every_table_and_nothing_else() {
    // GIVEN a finished run that left a hint for one table
    let dir = tempfile::tempdir().unwrap();
    let store = FileJobStore::new(dir.path(), Duration::from_secs(3600)).unwrap();
    let lease = Lease::new(Duration::from_secs(600)).unwrap();
    let now = chrono::Utc::now();
    store.claim("j", "exec-1", lease, now).await.unwrap();
    let hint: cdc_core::job::ProgressHint = serde_json::from_value(serde_json::json!({
        "last_file": "cdc/public/t/20261201-000000000.parquet", "files": 3, "newest_modified": now,
    }))
    .unwrap();
    store.finish("j", succeeded("exec-1", now), [("t".to_string(), hint)].into()).await.unwrap();
    // WHEN the hints are cleared, twice
    let first = store.clear_progress_hints("j").unwrap();
    let second = store.clear_progress_hints("j").unwrap();
    // THEN the first cleared one, the second none, and the run history is kept
    assert_eq!((first, second), (1, 0));
    let job = store.get("j").await.unwrap().unwrap();
    assert!(job.progress_hints.is_empty());
    assert_eq!(store.history("j", 10).await.unwrap().len(), 1);
    // AND an unknown job is an error naming it
    let e = store.clear_progress_hints("nope").unwrap_err();
    assert!(matches!(&e, JobStateError::UnknownJob(j) if j == "nope"), "{e:?}");
}
