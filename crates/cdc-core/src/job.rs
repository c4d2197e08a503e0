//! Job state (docs/architecture.md): who runs the pipeline now, until when,
//! and what the runs did. The seed's item (`JobId`, `JobState`, `JobStart`,
//! `JobEnd`) read then written lets two executions run together and leaves a
//! failed run `Running` until a person edits it; here the claim is one atomic
//! conditional write with a lease that expires, and release or failure never
//! needs a hand edit.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::PipelineError;

mod table_state;
pub use table_state::{TableLife, TableState, TableUpdate, apply as apply_table_update, schema_changes_of};

/// `JobState` values, spelled as the seed's users know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    Ready,
    Running,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Ready => "Ready",
            JobState::Running => "Running",
            JobState::Failed => "Failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Ready" => Some(JobState::Ready),
            "Running" => Some(JobState::Running),
            "Failed" => Some(JobState::Failed),
            _ => None,
        }
    }
}

/// What the last run left per table, copied from the warehouse after each
/// commit so an idle run can skip the warehouse (docs/architecture.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressHint {
    /// The newest applied file's path.
    pub last_file: String,
    /// Files in the listing the hint was made from (bounded listings count
    /// the days they cover).
    pub files: u64,
    /// The newest modification time among applied files.
    pub newest_modified: DateTime<Utc>,
    /// Objects under the table's folders the DMS layout does not explain
    /// (reported, never applied; docs/dms.md).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unexplained: u64,
    /// One of them, with why, for the run record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unexplained_example: Option<String>,
    /// The newest commit time applied to the table so far (its freshness,
    /// reported by every run's claim, idle ones too). Not part of the
    /// listing: [`ProgressHint::same_listing`] ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_change: Option<DateTime<Utc>>,
    /// The run that stored the hint left work for the table (a load or an
    /// unload deferred past its work window): the next run is not idle.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub work_left: bool,
}

impl ProgressHint {
    /// Whether two hints describe the same raw-zone listing (nothing new):
    /// the newest file, and the newest modification time, which any object
    /// written since moves (S3 sets LastModified on every write). Not the
    /// file count: two bounded listings that start at different days count
    /// different files of the same raw zone.
    pub fn same_listing(&self, other: &ProgressHint) -> bool {
        !self.work_left
            && !other.work_left
            && self.last_file == other.last_file
            && self.newest_modified == other.newest_modified
            && self.unexplained == other.unexplained
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The job item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: String,
    pub state: JobState,
    /// The execution holding the job (Running) or that ran it last.
    pub owner: Option<String>,
    pub job_start: Option<DateTime<Utc>>,
    pub job_end: Option<DateTime<Utc>>,
    pub lease_expires: Option<DateTime<Utc>>,
    pub config_fingerprint: Option<String>,
    pub progress_hints: BTreeMap<String, ProgressHint>,
    pub consecutive_failures: u32,
    pub last_success: Option<DateTime<Utc>>,
    /// When a failure notification was last sent, for throttling.
    pub last_notified: Option<DateTime<Utc>>,
    /// When a run last listed the raw zone whole (`RunRecord::full_listing`).
    #[serde(default)]
    pub last_full_listing: Option<DateTime<Utc>>,
}

impl Job {
    pub fn new(job_id: &str) -> Self {
        Self {
            job_id: job_id.to_string(),
            state: JobState::Ready,
            owner: None,
            job_start: None,
            job_end: None,
            lease_expires: None,
            config_fingerprint: None,
            progress_hints: BTreeMap::new(),
            consecutive_failures: 0,
            last_success: None,
            last_notified: None,
            last_full_listing: None,
        }
    }

    /// Whether an execution may claim the job now: absent items are created
    /// by the claim; `Ready` and `Failed` jobs are free; a `Running` job is
    /// free once its lease expired. Every adapter's atomic write encodes
    /// exactly this rule.
    pub fn claimable_at(&self, now: DateTime<Utc>) -> bool {
        match self.state {
            JobState::Ready | JobState::Failed => true,
            JobState::Running => self.lease_expires.is_none_or(|l| l <= now),
        }
    }
}

/// A lease length, bounded so a typo cannot hold the job for a year or
/// expire before a poll can extend it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease(Duration);

impl Lease {
    pub const MIN: Duration = Duration::from_secs(30);
    pub const MAX: Duration = Duration::from_secs(24 * 3600);

    pub fn new(d: Duration) -> Result<Self, PipelineError> {
        if d < Self::MIN || d > Self::MAX {
            return Err(PipelineError::config(format!(
                "lease of {}s is out of range ({}s to {}s)",
                d.as_secs(),
                Self::MIN.as_secs(),
                Self::MAX.as_secs()
            )));
        }
        Ok(Self(d))
    }
    pub fn duration(self) -> Duration {
        self.0
    }
    pub fn expiry_from(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.0).expect("lease within range")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This execution holds the job now.
    Claimed {
        job: Job,
        /// Set when an expired lease of another execution was taken over.
        took_over_from: Option<String>,
    },
    /// Another execution holds the job: a normal outcome, the run is skipped.
    Held { owner: String, since: Option<DateTime<Utc>>, lease_expires: Option<DateTime<Utc>> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunOutcome {
    Succeeded,
    Failed,
    /// A person reset the job; the record carries the reason.
    Reset,
    /// The execution's lease expired and another execution took over.
    TakenOver,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableRunStats {
    pub table: String,
    pub files: u64,
    pub changes: u64,
    pub rows: u64,
    pub seconds: f64,
    pub error: Option<String>,
}

/// One record per run, newest first in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub execution_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub outcome: RunOutcome,
    pub tables: Vec<TableRunStats>,
    pub failed_tables: Vec<String>,
    /// Error type and message of a failed run, or a reset's reason.
    pub error: Option<String>,
    /// What the run found but did not fail on: objects in the raw zone the
    /// DMS layout does not explain, per table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The run's claim listed the raw zone whole (the periodic full
    /// listing), not from each table's newest applied day on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full_listing: bool,
}

impl RunRecord {
    /// A record of something that happened to a run rather than a run's
    /// result (a takeover, a manual reset): no tables, a note saying what.
    pub fn event(
        execution_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        outcome: RunOutcome,
        note: String,
    ) -> Self {
        Self {
            execution_id: execution_id.to_string(),
            start,
            end,
            outcome,
            tables: Vec::new(),
            failed_tables: Vec::new(),
            error: Some(note),
            warnings: Vec::new(),
            full_listing: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobStateError {
    #[error("job {job_id} is held by {owner:?}, not by {execution_id}")]
    NotOwner { job_id: String, execution_id: String, owner: Option<String> },
    #[error("job {0} does not exist")]
    UnknownJob(String),
    #[error("job {job_id}: the stored item is unusable: {detail}")]
    Corrupt { job_id: String, detail: String },
    #[error("job state store: {0}")]
    Store(PipelineError),
}

impl From<JobStateError> for PipelineError {
    fn from(e: JobStateError) -> Self {
        match e {
            JobStateError::Store(p) => p,
            JobStateError::NotOwner { .. } => PipelineError::config(e.to_string()),
            JobStateError::UnknownJob(_) | JobStateError::Corrupt { .. } => PipelineError::config(e.to_string()),
        }
    }
}

/// The job-state store: DynamoDB on AWS, a locked file locally.
#[async_trait]
pub trait JobStateStore: Send + Sync {
    /// One atomic conditional write; see [`Job::claimable_at`].
    async fn claim(
        &self,
        job_id: &str,
        execution_id: &str,
        lease: Lease,
        now: DateTime<Utc>,
    ) -> Result<Claim, JobStateError>;

    /// Pushes the lease out; only the owner may. Returns the new expiry.
    async fn extend(
        &self,
        job_id: &str,
        execution_id: &str,
        lease: Lease,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, JobStateError>;

    /// Ends the owner's run as `Ready` (or `Failed` when `record.outcome` is
    /// `Failed`), records it in the history and stores the progress hints.
    async fn finish(
        &self,
        job_id: &str,
        record: RunRecord,
        hints: BTreeMap<String, ProgressHint>,
    ) -> Result<Job, JobStateError>;

    async fn set_config_fingerprint(
        &self,
        job_id: &str,
        execution_id: &str,
        fingerprint: &str,
    ) -> Result<(), JobStateError>;

    async fn set_last_notified(&self, job_id: &str, at: DateTime<Utc>) -> Result<(), JobStateError>;

    /// Records that a failed execution's incident was taken care of (its
    /// notice sent, or deliberately throttled), once per execution: true
    /// when this call recorded it, false when it already was. The job item
    /// need not exist (a claim that failed never made one). The records
    /// expire with the run history.
    async fn record_incident(
        &self,
        job_id: &str,
        execution_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, JobStateError>;

    /// Whether [`JobStateStore::record_incident`] recorded this execution.
    async fn incident_recorded(&self, job_id: &str, execution_id: &str) -> Result<bool, JobStateError>;

    async fn get(&self, job_id: &str) -> Result<Option<Job>, JobStateError>;

    /// Every table's state (docs/table-lifecycle.md); a table never
    /// recorded is absent (Active). Needs no job item.
    async fn table_states(&self, job_id: &str) -> Result<BTreeMap<String, TableState>, JobStateError>;

    /// Applies one change to a table's state as [`apply_table_update`]
    /// does, atomically for that table, whoever holds the job: a resync
    /// request is recorded even while another execution runs.
    async fn update_table(&self, job_id: &str, table: &str, update: TableUpdate) -> Result<(), JobStateError>;

    /// Newest first.
    async fn history(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>, JobStateError>;

    /// A person's reset: the job becomes `Ready`, the reason goes into the history.
    async fn reset(&self, job_id: &str, reason: &str, now: DateTime<Utc>) -> Result<Job, JobStateError>;
}

/// A manual reset must say why; the reason goes into the run history.
pub fn check_reset_reason(reason: &str) -> Result<(), JobStateError> {
    if reason.trim().is_empty() {
        return Err(JobStateError::Store(PipelineError::config("a reset needs a reason (--reason \"...\")")));
    }
    Ok(())
}

#[cfg(feature = "conformance")]
pub mod conformance;
