//! `cdc setup` on the AWS path (moto and the Data API emulator): the same
//! steps a run starts with, under the job state.

mod aws_support;

use std::time::Duration;

use aws_support::stack;
use cdc_cli::setup::set_up;
use cdc_core::job::{JobState, JobStateStore, Lease};
use cdc_redshift_emulator::StatementFault;

const POLL: Duration = Duration::from_millis(10);

fn table_exists(stack: &aws_support::AwsStack, schema: &str, table: &str) -> bool {
    let conn = stack.emulator.connection().unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
            |r| r.get(0),
        )
        .unwrap();
    n == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn setup_creates_the_objects_records_the_fingerprint_and_the_next_run_does_not_repeat_it() {
    // GIVEN an empty Redshift and a delivered full load
    let stack = stack(31).await;
    stack.deliver().await;
    // WHEN `cdc setup` runs
    set_up(&stack.context(), "cli-setup", POLL).await.unwrap();
    // THEN the target and control tables exist, the job is Ready with the config's fingerprint
    assert!(table_exists(&stack, "public", "pgbench_accounts"));
    assert!(table_exists(&stack, "cdc_control", "unloaded_days"));
    let job = stack.ports.store.get(&stack.cfg.job_id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Ready);
    assert_eq!(job.config_fingerprint.as_deref(), Some(stack.cfg.fingerprint().as_str()));
    // AND the next run loads without setting up again, and matches the oracle
    let run = stack.run("after-setup").await;
    assert!(!run.claim.as_ref().unwrap().setup_needed);
    stack.assert_matches_oracle("after setup and one run").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_setup_names_redshift_s_error_and_marks_the_job_failed() {
    // GIVEN Redshift refusing setup (the role cannot read the Glue database)
    let stack = stack(32).await;
    stack.emulator.inject(
        "cdc: setup part 1 of 2 */",
        StatementFault::Fail { error: "ERROR: permission denied for Glue database cdc_raw".into() },
        1,
    );
    // WHEN `cdc setup` runs
    let err = set_up(&stack.context(), "cli-setup", POLL).await.unwrap_err();
    // THEN the error carries Redshift's text, the job is Failed, and a notice went out
    let text = format!("{err:#}");
    assert!(text.contains("permission denied for Glue database cdc_raw"), "{text}");
    let job = stack.ports.store.get(&stack.cfg.job_id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.config_fingerprint, None, "a failed setup records no fingerprint");
    assert_eq!(stack.notices(1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn setup_during_a_run_stops_naming_the_run_and_touches_nothing() {
    // GIVEN a run holding the job
    let stack = stack(33).await;
    let lease = Lease::new(Duration::from_secs(600)).unwrap();
    stack.ports.store.claim(&stack.cfg.job_id, "scheduled-run", lease, chrono::Utc::now()).await.unwrap();
    stack.emulator.reset_calls();
    // WHEN `cdc setup` runs
    let err = set_up(&stack.context(), "cli-setup", POLL).await.unwrap_err();
    // THEN it names the holder and made no Data API call
    assert!(format!("{err:#}").contains("held by scheduled-run"), "{err:#}");
    assert_eq!(stack.emulator.calls().total(), 0);
}
