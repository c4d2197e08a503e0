//! The notify function: sends the notice `release` or `fail` decided on,
//! and records a failure notice's time for the next run's throttling.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RunIds;
use crate::error::PipelineError;
use crate::job::JobStateStore;
use crate::notify::{Notice, Notifier};

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
    notifier.send(notice).await?;
    if matches!(notice, Notice::Failure(_)) {
        // Only an existing job can be throttled; a failed first claim has none.
        if let Err(e) = store.set_last_notified(&input.ids.job_id, now).await {
            tracing::warn!(error = %e, "could not record the notification time");
        }
    }
    Ok(NotifyOutput { sent: true })
}
