//! The notify function, the one path of every notice:
//! - `notify`: sends the notice `release` or `fail` decided on, records a
//!   failure notice's time for the next run's throttling, and the
//!   execution's incident as taken care of;
//! - `execution_ended`: the EventBridge rule on the state machine's
//!   FAILED, TIMED_OUT and ABORTED executions. An execution whose failure
//!   the state machine handled (notified, or throttled) has its incident
//!   record and is left alone; any other (a timeout, an abort, a failure
//!   the failure path could not handle) releases the job's lease if the
//!   execution still held it, and is notified under the same throttle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RunIds;
use super::job::{CaughtError, FailInput, fail};
use crate::error::PipelineError;
use crate::job::JobStateStore;
use crate::notify::{Notice, Notifier, NotifyPolicy};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyInput {
    #[serde(flatten)]
    pub ids: RunIds,
    #[serde(default)]
    pub notice: Option<Notice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyOutput {
    pub sent: bool,
}

pub async fn notify(
    store: &dyn JobStateStore,
    notifier: &dyn Notifier,
    input: &NotifyInput,
    now: DateTime<Utc>,
) -> Result<NotifyOutput, PipelineError> {
    let Some(notice) = &input.notice else { return Ok(NotifyOutput { sent: false }) };
    send(store, notifier, &input.ids, notice, now).await?;
    Ok(NotifyOutput { sent: true })
}

async fn send(
    store: &dyn JobStateStore,
    notifier: &dyn Notifier,
    ids: &RunIds,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Result<(), PipelineError> {
    notifier.send(notice).await?;
    if matches!(notice, Notice::Failure(_)) {
        // Only an existing job can be throttled; a failed first claim has none.
        if let Err(e) = store.set_last_notified(&ids.job_id, now).await {
            tracing::warn!(error = %e, "could not record the notification time");
        }
        store.record_incident(&ids.job_id, &ids.execution_id, now).await?;
    }
    Ok(())
}

/// The input the rule's input transformer makes: the job (a template
/// parameter) and the event's `detail`, as EventBridge delivers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionEndedInput {
    pub job_id: String,
    pub detail: ExecutionStatusChange,
}

/// The `detail` of a "Step Functions Execution Status Change" event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionStatusChange {
    #[serde(rename = "executionArn")]
    pub execution_arn: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED.
    pub status: String,
    /// Epoch milliseconds.
    #[serde(rename = "startDate", default)]
    pub start_date: Option<i64>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionEndedOutput {
    /// The state machine's failure path already took care of it.
    pub already_handled: bool,
    /// The execution held the job, which is now Failed and free.
    pub released: bool,
    pub sent: bool,
}

/// The statuses the rule sends; any other is ignored.
const ENDED_BADLY: [&str; 3] = ["FAILED", "TIMED_OUT", "ABORTED"];

pub async fn execution_ended(
    store: &dyn JobStateStore,
    notifier: &dyn Notifier,
    policy: NotifyPolicy,
    input: &ExecutionEndedInput,
    now: DateTime<Utc>,
) -> Result<ExecutionEndedOutput, PipelineError> {
    let d = &input.detail;
    let ids = RunIds { job_id: input.job_id.clone(), execution_id: d.execution_arn.clone() };
    let quiet = |already_handled| ExecutionEndedOutput { already_handled, released: false, sent: false };
    if !ENDED_BADLY.contains(&d.status.as_str()) {
        tracing::info!(status = %d.status, "execution did not end badly; nothing to do");
        return Ok(quiet(false));
    }
    if store.incident_recorded(&ids.job_id, &ids.execution_id).await? {
        return Ok(quiet(true));
    }
    let error = CaughtError {
        error: d
            .error
            .clone()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| format!("States.{}", status_name(&d.status))),
        cause: d.cause.clone().unwrap_or_else(|| format!("the execution ended {}", d.status)),
    };
    let started_at = d.start_date.and_then(DateTime::from_timestamp_millis);
    let input = FailInput { ids: ids.clone(), failed_step: format!("Execution {}", d.status), error, started_at };
    // Marks the job failed and frees it when this execution still held it,
    // records the run, and decides on the notice under the policy.
    let failed = fail(store, policy, &input, now).await?;
    if let Some(notice) = &failed.notice {
        send(store, notifier, &ids, notice, now).await?;
    }
    Ok(ExecutionEndedOutput { already_handled: false, released: failed.marked_failed, sent: failed.notice.is_some() })
}

/// `TIMED_OUT` as the error name Step Functions gives it (`States.Timeout`).
fn status_name(status: &str) -> &'static str {
    match status {
        "TIMED_OUT" => "Timeout",
        "ABORTED" => "Aborted",
        _ => "Failed",
    }
}
