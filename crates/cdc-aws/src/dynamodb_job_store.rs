//! The job-state store on DynamoDB (docs/architecture.md), the twin of the
//! local `FileJobStore`: same semantics, checked by the same conformance
//! suite.
//!
//! # One table, three kinds of items
//!
//! The table of template.yaml (`JobId` HASH, `RecordKey` RANGE, TTL on
//! `ExpiresAt`) holds, per job, the job item (`RecordKey = JOB`) and its run
//! history (`RecordKey = RUN#<end, fixed-width UTC>#<execution>`), and the
//! incident records of failed executions (`INCIDENT#<execution>`). One table
//! rather than a job table and a history table because:
//! - `finish` must change the job and add its run record atomically; both
//!   items share a partition key, so one `TransactWriteItems` on one table
//!   does it, with one IAM resource and one set of alarms;
//! - the history of a job is one Query on its partition key, newest first
//!   with `ScanIndexForward=false` since the sort key starts with the end
//!   instant, and the status command reads job and history from one place;
//! - history items expire through the table's TTL (`ExpiresAt` = end +
//!   retention, epoch seconds); the job item has no `ExpiresAt` and stays.
//!   TTL deletion lags up to 48 hours, so reads skip items already past
//!   `ExpiresAt` themselves.
//!
//! # Claims and ownership
//!
//! A claim reads the job item (strongly consistent) and refuses a corrupt one
//! before writing anything; then it writes once, conditionally. The condition
//! is the claim rule of [`Job::claimable_at`] restricted to the case the read
//! saw: `attribute_not_exists(RecordKey)` for a new job, `JobState IN (Ready,
//! Failed)` for a free one, and `JobState = Running AND Owner = <seen owner>
//! AND LeaseExpires <= now` for an expired lease; the last one is a
//! transaction with the `TakenOver` history record, so a takeover is never
//! unrecorded. Whatever happens between the read and the write, two
//! executions can never both hold the job: the write's condition fails for
//! one of them (`ConditionalCheckFailedException`), which then sees the
//! winner in the item returned with `ReturnValuesOnConditionCheckFailure =
//! ALL_OLD` and answers `Claim::Held`.
//!
//! `extend`, `finish` and `set_config_fingerprint` write on the condition
//! `JobState = Running AND Owner = <execution>`; a stale owner gets
//! `NotOwner` naming the current owner. `finish` writes the job update and
//! the run record in one `TransactWriteItems`, whose idempotency token the
//! SDK reuses on retries, so a retried finish does not add a second record.

mod conditional_write;
mod expression;
mod incident;
mod item;
mod table;
mod table_state;

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, Utc};

use cdc_core::PipelineError;
use cdc_core::job::{
    Claim, Job, JobState, JobStateError, JobStateStore, Lease, ProgressHint, RunOutcome, RunRecord, TableState,
    TableUpdate,
};

use self::conditional_write::Written;
use self::expression::Expression;
use self::item::{Item, decode_job, decode_run, encode_hints, job_key, n, s, ts};
use crate::sdk_error::to_pipeline_error;

pub use self::incident::INCIDENT_PREFIX;
pub use self::item::{EXPIRES_AT, JOB_ID, JOB_RECORD, RECORD_KEY, RUN_PREFIX};

/// A claim whose conditional write keeps failing because the item keeps
/// changing (claimable each time it is read, taken each time it is written)
/// gives up after this many writes, as `Retryable`.
const CLAIM_ATTEMPTS: usize = 3;

/// Only the owner of a running job may change it.
const OWNER_CONDITION: &str = "#JobState = :running AND #Owner = :exec";

pub struct DynamoDbJobStore {
    client: Client,
    table: String,
    retention: chrono::Duration,
}

impl DynamoDbJobStore {
    /// `table`: the job-state table (template.yaml); `retention`: how long
    /// run records are kept (the history items' TTL).
    pub fn new(
        client: Client,
        table: impl Into<String>,
        retention: std::time::Duration,
    ) -> Result<Self, PipelineError> {
        let table = table.into();
        if table.is_empty() {
            return Err(PipelineError::config("the job-state table name is empty"));
        }
        let retention = chrono::Duration::from_std(retention)
            .map_err(|_| PipelineError::config("history retention is too long"))?;
        Ok(Self { client, table, retention })
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    fn store_error<E>(&self, err: &SdkError<E, HttpResponse>, operation: &str) -> JobStateError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        JobStateError::Store(to_pipeline_error(err, &format!("DynamoDB {operation} on table {}", self.table)))
    }

    /// The job item, strongly consistent (a claim must see the last write).
    async fn read(&self, job_id: &str) -> Result<Option<Item>, JobStateError> {
        check_job_id(job_id)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(job_key(job_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.store_error(&e, "GetItem"))?;
        Ok(out.item)
    }

    async fn read_job(&self, job_id: &str) -> Result<Option<Job>, JobStateError> {
        self.read(job_id).await?.map(|i| decode_job(job_id, &i)).transpose()
    }

    /// The job, if `execution_id` holds it.
    async fn owned_job(&self, job_id: &str, execution_id: &str) -> Result<Job, JobStateError> {
        let job = self.read_job(job_id).await?.ok_or_else(|| JobStateError::UnknownJob(job_id.to_string()))?;
        check_owner(job_id, execution_id, job)
    }

    /// The item after a failed condition: the one DynamoDB returned, or a
    /// fresh read when none came back.
    async fn item_after_conflict(&self, job_id: &str, returned: Option<Item>) -> Result<Option<Item>, JobStateError> {
        match returned {
            Some(item) => Ok(Some(item)),
            None => self.read(job_id).await,
        }
    }

    /// The error for an owner's write whose condition failed.
    async fn lost_ownership(&self, job_id: &str, execution_id: &str, returned: Option<Item>) -> JobStateError {
        let item = match self.item_after_conflict(job_id, returned).await {
            Ok(Some(item)) => item,
            Ok(None) => return JobStateError::UnknownJob(job_id.to_string()),
            Err(e) => return e,
        };
        match decode_job(job_id, &item).and_then(|job| check_owner(job_id, execution_id, job)) {
            Err(e) => e,
            // Owned again by the time we looked: still, this write was refused.
            Ok(job) => JobStateError::NotOwner {
                job_id: job_id.to_string(),
                execution_id: execution_id.to_string(),
                owner: job.owner,
            },
        }
    }

    /// The claim's one conditional write for the job as read (`None`:
    /// absent). Returns the claim, or the item as it is now when it changed.
    async fn write_claim(
        &self,
        job_id: &str,
        execution_id: &str,
        lease: Lease,
        now: DateTime<Utc>,
        current: Option<&Job>,
    ) -> Result<Result<Claim, Option<Item>>, JobStateError> {
        let took_over_from = current.filter(|j| j.state == JobState::Running).and_then(|j| j.owner.clone());
        let condition = match current {
            None => "attribute_not_exists(#RecordKey)",
            Some(_) if took_over_from.is_some() => {
                "#JobState = :running AND #Owner = :old_owner AND #LeaseExpires <= :now"
            }
            Some(_) => "#JobState IN (:ready, :failed)",
        };
        let expiry = lease.expiry_from(now);
        let mut expr = Expression::new(condition)
            .update(
                "SET #JobState = :running, #Owner = :exec, #JobStart = :now, #LeaseExpires = :lease, \
                 #ConsecutiveFailures = if_not_exists(#ConsecutiveFailures, :zero) REMOVE #JobEnd",
            )
            .value(":running", s(JobState::Running.as_str()))
            .value(":ready", s(JobState::Ready.as_str()))
            .value(":failed", s(JobState::Failed.as_str()))
            .value(":exec", s(execution_id))
            .value(":now", ts(now)?)
            .value(":lease", ts(expiry)?)
            .value(":zero", n(0));
        let written = match (&took_over_from, current) {
            (Some(old), Some(before)) => {
                expr = expr.value(":old_owner", s(old));
                let record = RunRecord::event(
                    old,
                    before.job_start.unwrap_or(now),
                    now,
                    RunOutcome::TakenOver,
                    format!("lease expired; taken over by {execution_id}"),
                );
                self.update_with_record(job_id, &expr, &record).await?
            }
            _ => self.update(job_id, &expr).await?,
        };
        match written {
            Written::ConditionFailed(item) => Ok(Err(self.item_after_conflict(job_id, item).await?)),
            Written::Done => {
                let mut job = current.cloned().unwrap_or_else(|| Job::new(job_id));
                job.state = JobState::Running;
                job.owner = Some(execution_id.to_string());
                job.job_start = Some(now);
                job.job_end = None;
                job.lease_expires = Some(expiry);
                Ok(Ok(Claim::Claimed { job, took_over_from }))
            }
        }
    }

    /// One page of the job's items whose `RecordKey` starts with `prefix`
    /// (run records, table states), consistently read, in key order or
    /// newest first.
    async fn query_page(
        &self,
        job_id: &str,
        prefix: &str,
        forward: bool,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, JobStateError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#JobId = :job AND begins_with(#RecordKey, :prefix)")
            .expression_attribute_names("#JobId", JOB_ID)
            .expression_attribute_names("#RecordKey", RECORD_KEY)
            .expression_attribute_values(":job", s(job_id))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(forward)
            .consistent_read(true)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| self.store_error(&e, "Query"))
    }

    /// Creates the table as template.yaml declares it, if it is missing (for
    /// local use and tests; on AWS the stack owns the table).
    pub async fn ensure_table(&self) -> Result<(), PipelineError> {
        table::ensure_table(&self.client, &self.table).await
    }

    /// Forgets every table's progress hint, so the next run compares every
    /// raw file again (an operator who uploaded files anew, as the chaos
    /// run's replays do). The job must exist.
    pub async fn clear_progress_hints(&self, job_id: &str) -> Result<(), JobStateError> {
        check_job_id(job_id)?;
        let expr = Expression::new("attribute_exists(#RecordKey)").update("REMOVE #ProgressHints");
        match self.update(job_id, &expr).await? {
            Written::Done => Ok(()),
            Written::ConditionFailed(_) => Err(JobStateError::UnknownJob(job_id.to_string())),
        }
    }
}

fn check_job_id(job_id: &str) -> Result<(), JobStateError> {
    if job_id.is_empty() {
        return Err(JobStateError::Store(PipelineError::config("the job id is empty")));
    }
    Ok(())
}

fn check_owner(job_id: &str, execution_id: &str, job: Job) -> Result<Job, JobStateError> {
    if job.state != JobState::Running || job.owner.as_deref() != Some(execution_id) {
        return Err(JobStateError::NotOwner {
            job_id: job_id.to_string(),
            execution_id: execution_id.to_string(),
            owner: job.owner.filter(|_| job.state == JobState::Running),
        });
    }
    Ok(job)
}

#[async_trait]
impl JobStateStore for DynamoDbJobStore {
    async fn claim(
        &self,
        job_id: &str,
        execution_id: &str,
        lease: Lease,
        now: DateTime<Utc>,
    ) -> Result<Claim, JobStateError> {
        let mut seen = self.read(job_id).await?;
        for attempt in 0..CLAIM_ATTEMPTS {
            let current = seen.as_ref().map(|i| decode_job(job_id, i)).transpose()?;
            if let Some(job) = current.as_ref().filter(|j| !j.claimable_at(now)) {
                // A write of ours that DynamoDB applied but whose answer was
                // lost (the SDK retried it) shows up as our own claim.
                if attempt > 0 && job.owner.as_deref() == Some(execution_id) && job.job_start == Some(now) {
                    return Ok(Claim::Claimed { job: job.clone(), took_over_from: None });
                }
                return Ok(Claim::Held {
                    owner: job.owner.clone().unwrap_or_default(),
                    since: job.job_start,
                    lease_expires: job.lease_expires,
                });
            }
            match self.write_claim(job_id, execution_id, lease, now, current.as_ref()).await? {
                Ok(claim) => return Ok(claim),
                Err(changed) => seen = changed,
            }
        }
        Err(JobStateError::Store(PipelineError::retryable(format!(
            "claim of job {job_id}: the item changed under {CLAIM_ATTEMPTS} conditional writes in a row"
        ))))
    }

    async fn extend(
        &self,
        job_id: &str,
        execution_id: &str,
        lease: Lease,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, JobStateError> {
        let job = self.owned_job(job_id, execution_id).await?;
        let expiry = lease.expiry_from(now);
        // Never shortened: polls of parallel tables may arrive out of order.
        if let Some(current) = job.lease_expires.filter(|current| *current >= expiry) {
            return Ok(current);
        }
        let expr = Expression::new(format!("{OWNER_CONDITION} AND #LeaseExpires < :lease"))
            .update("SET #LeaseExpires = :lease")
            .value(":running", s(JobState::Running.as_str()))
            .value(":exec", s(execution_id))
            .value(":lease", ts(expiry)?);
        match self.update(job_id, &expr).await? {
            Written::Done => Ok(expiry),
            Written::ConditionFailed(item) => {
                // Still ours with a later lease (another poll won the race): fine.
                let later = item
                    .as_ref()
                    .and_then(|i| decode_job(job_id, i).ok())
                    .filter(|j| j.state == JobState::Running && j.owner.as_deref() == Some(execution_id))
                    .and_then(|j| j.lease_expires)
                    .filter(|c| *c >= expiry);
                match later {
                    Some(current) => Ok(current),
                    None => Err(self.lost_ownership(job_id, execution_id, item).await),
                }
            }
        }
    }

    async fn finish(
        &self,
        job_id: &str,
        record: RunRecord,
        hints: BTreeMap<String, ProgressHint>,
    ) -> Result<Job, JobStateError> {
        let mut job = self.owned_job(job_id, &record.execution_id).await?;
        let failed = record.outcome == RunOutcome::Failed;
        job.state = if failed { JobState::Failed } else { JobState::Ready };
        job.job_end = Some(record.end);
        job.lease_expires = None;
        let mut update = String::from(
            "SET #JobState = :state, #JobEnd = :end, #ConsecutiveFailures = :failures, #ProgressHints = :hints",
        );
        if failed {
            job.consecutive_failures = job.consecutive_failures.saturating_add(1);
            update.push_str(" REMOVE #LeaseExpires");
        } else {
            job.consecutive_failures = 0;
            job.last_success = Some(record.end);
            // The incident is over; the next failure is a new one.
            job.last_notified = None;
            update.push_str(", #LastSuccess = :end REMOVE #LeaseExpires, #LastNotified");
        }
        if record.full_listing {
            job.last_full_listing = Some(record.start);
            update = update.replacen(" REMOVE ", ", #LastFullListing = :listed REMOVE ", 1);
        }
        // Only the owner writes hints, and the condition keeps us the owner,
        // so merging into what was read loses nothing.
        job.progress_hints.extend(hints);
        let mut expr = Expression::new(OWNER_CONDITION)
            .update(update)
            .value(":running", s(JobState::Running.as_str()))
            .value(":exec", s(&record.execution_id))
            .value(":state", s(job.state.as_str()))
            .value(":end", ts(record.end)?)
            .value(":failures", n(job.consecutive_failures))
            .value(":hints", encode_hints(&job.progress_hints)?);
        if record.full_listing {
            expr = expr.value(":listed", ts(record.start)?);
        }
        match self.update_with_record(job_id, &expr, &record).await? {
            Written::Done => Ok(job),
            Written::ConditionFailed(item) => Err(self.lost_ownership(job_id, &record.execution_id, item).await),
        }
    }

    async fn set_config_fingerprint(
        &self,
        job_id: &str,
        execution_id: &str,
        fingerprint: &str,
    ) -> Result<(), JobStateError> {
        self.owned_job(job_id, execution_id).await?;
        let expr = Expression::new(OWNER_CONDITION)
            .update("SET #ConfigFingerprint = :fingerprint")
            .value(":running", s(JobState::Running.as_str()))
            .value(":exec", s(execution_id))
            .value(":fingerprint", s(fingerprint));
        match self.update(job_id, &expr).await? {
            Written::Done => Ok(()),
            Written::ConditionFailed(item) => Err(self.lost_ownership(job_id, execution_id, item).await),
        }
    }

    async fn set_last_notified(&self, job_id: &str, at: DateTime<Utc>) -> Result<(), JobStateError> {
        // Read first so a corrupt item is reported, as every other call does.
        self.read_job(job_id).await?.ok_or_else(|| JobStateError::UnknownJob(job_id.to_string()))?;
        let expr =
            Expression::new("attribute_exists(#RecordKey)").update("SET #LastNotified = :at").value(":at", ts(at)?);
        match self.update(job_id, &expr).await? {
            Written::Done => Ok(()),
            Written::ConditionFailed(_) => Err(JobStateError::UnknownJob(job_id.to_string())),
        }
    }

    async fn record_incident(
        &self,
        job_id: &str,
        execution_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, JobStateError> {
        self.put_incident(job_id, execution_id, now).await
    }

    async fn incident_recorded(&self, job_id: &str, execution_id: &str) -> Result<bool, JobStateError> {
        self.get_incident(job_id, execution_id).await
    }

    async fn table_states(&self, job_id: &str) -> Result<BTreeMap<String, TableState>, JobStateError> {
        self.query_table_states(job_id).await
    }

    async fn update_table(&self, job_id: &str, table: &str, update: TableUpdate) -> Result<(), JobStateError> {
        self.write_table_update(job_id, table, &update).await
    }

    async fn get(&self, job_id: &str) -> Result<Option<Job>, JobStateError> {
        self.read_job(job_id).await
    }

    async fn history(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>, JobStateError> {
        check_job_id(job_id)?;
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // Items past ExpiresAt may linger up to 48 h before TTL deletes them.
        let now = Utc::now().timestamp();
        let page_size = i32::try_from(limit.clamp(1, 100)).unwrap_or(100);
        let mut start = None;
        loop {
            let page = self.query_page(job_id, RUN_PREFIX, false, Some(page_size), start).await?;
            for item in page.items() {
                let (record, expires_at) = decode_run(job_id, item)?;
                if expires_at >= now {
                    out.push(record);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(out),
            }
        }
    }

    async fn reset(&self, job_id: &str, reason: &str, now: DateTime<Utc>) -> Result<Job, JobStateError> {
        cdc_core::job::check_reset_reason(reason)?;
        let mut job = self.read_job(job_id).await?.ok_or_else(|| JobStateError::UnknownJob(job_id.to_string()))?;
        let record = RunRecord::event(
            "manual-reset",
            job.job_start.unwrap_or(now),
            now,
            RunOutcome::Reset,
            format!("reset by hand: {reason}"),
        );
        // A person's decision: it applies whoever holds the job now.
        let expr = Expression::new("attribute_exists(#RecordKey)")
            .update("SET #JobState = :ready, #JobEnd = :now REMOVE #LeaseExpires")
            .value(":ready", s(JobState::Ready.as_str()))
            .value(":now", ts(now)?);
        match self.update_with_record(job_id, &expr, &record).await? {
            Written::Done => {
                job.state = JobState::Ready;
                job.lease_expires = None;
                job.job_end = Some(now);
                Ok(job)
            }
            Written::ConditionFailed(_) => Err(JobStateError::UnknownJob(job_id.to_string())),
        }
    }
}
