//! A first run over a long history on the AWS path (S3, Glue and DynamoDB
//! in moto, the Data API emulator): days of DMS files, loaded and unloaded
//! over several executions, each bounded in its batches and reaching
//! Release well under Step Functions' 25,000-event history limit, the job
//! free between them, the targets equal to the oracle at the end.

mod aws_support;
mod support;

use std::sync::Arc;

use aws_support::stack_with_config;
use cdc_asl::ExecutionStatus;
use cdc_core::job::{JobState, JobStateStore};
use support::run_summary;

/// Step Functions' history limit of a Standard execution.
const HISTORY_LIMIT: usize = 25_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_first_run_over_days_of_history_proceeds_over_several_executions_to_the_oracle() {
    // GIVEN eight days of DMS history in S3, a CDC cycle a day, and a config
    // that takes 4 files per load and 3 batches (or days) per table and
    // execution. (The work window is tested on the local path, where the
    // steps share the executor's virtual clock: here the Data API emulator
    // runs statements in real time while each poll's Wait adds 10 virtual
    // seconds, so virtual time says nothing about an execution's length.)
    let config = std::fs::read_to_string(aws_support::CONFIG)
        .unwrap()
        .replace("max_files_per_load = 500", "max_files_per_load = 4\nmax_batches_per_run = 3");
    let mut stack = stack_with_config(31, &config).await;
    for _ in 0..8 {
        stack.generator.cdc_cycle(40).unwrap();
        stack.generator.pause(chrono::Duration::days(1)).unwrap();
    }
    stack.generator.finish().unwrap();
    stack.deliver().await;
    // Polls paced in real time (aws_support::paced_polls): at 100 ms, the
    // statements of a suite run on two busy cores added up to the timeout.
    let paced = aws_support::paced_polls();
    // WHEN scheduled executions run until one finds nothing new
    let mut runs = Vec::new();
    loop {
        let run = stack.run_with(&format!("first-{}", runs.len()), stack.context(), Some(Arc::clone(&paced))).await;
        let idle = run.was_idle();
        runs.push(run);
        if idle || runs.len() == 40 {
            break;
        }
    }
    // THEN it took several executions, each succeeding through Release
    let summary: Vec<String> = runs.iter().map(run_summary).collect();
    assert!(runs.last().unwrap().was_idle(), "still working after {} executions:\n{}", runs.len(), summary.join("\n"));
    let working = &runs[..runs.len() - 1];
    assert!(working.len() >= 4, "{} executions", working.len());
    let mut most_events = 0;
    for run in working {
        assert_eq!(
            run.execution.status,
            ExecutionStatus::Succeeded,
            "{}: {:?}",
            run.execution.name,
            run.execution.cause
        );
        assert!(run.release.is_some(), "{} never reached Release", run.execution.name);
        most_events = most_events.max(run.execution.history.len());
    }
    // AND each stayed far under the history limit (a fifth at most), and the job is free after them
    eprintln!("{} executions; the longest history {most_events} events", working.len());
    assert!(most_events * 5 < HISTORY_LIMIT, "{most_events} events");
    let job = stack.ports.store.get(&stack.cfg.job_id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Ready);
    // AND the targets equal the oracle, which is the source database's truth
    stack.assert_matches_oracle("after the first run's executions").await;
    assert!(stack.verify().source_checked);
}
