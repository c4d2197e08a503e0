//! The local path's faults enter below the adapters: each port is wrapped so
//! that a call may fail the way its AWS service fails, with the error the
//! AWS adapter would make of it (its own classifiers, `cdc_aws::sdk_error`
//! and the Data API's statement errors). The steps, their error mapping
//! and the state machine's Retry/Catch then handle them as on AWS.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use cdc_aws::redshift_data_warehouse::statement_error::{FailedAt, statement_failed};
use cdc_aws::sdk_error::classify_code;
use cdc_core::job::{
    Claim, Job, JobStateError, JobStateStore, Lease, ProgressHint, RunRecord, TableState, TableUpdate,
};
use cdc_core::notify::{Notice, Notifier};
use cdc_core::ports::{
    DayFiles, ExportTarget, FileColumn, OptimizedCatalog, OptimizedPartition, OptimizedZone, PollSchedule, RawCatalog,
    RawCatalogSync, RawFile, RawListing, RawObject, RawZone, ResultSet, SingleStatement, StatementId, StatementState,
    Warehouse,
};
use cdc_core::sql::setup::ExternalSchema;
use cdc_core::sql::{Dialect, StatementBatch};
use cdc_core::{PipelineConfig, PipelineError, TableConfig};

use super::faults::{FaultKind, Injector};

/// What a throttled AWS call becomes in the adapters: the code and status
/// classified as they classify them.
fn throttled(service: &str, call: &str, code: &str, status: u16) -> PipelineError {
    let kind = classify_code(Some(code), Some(status));
    PipelineError::new(kind, format!("{service} {call}: {code} (HTTP {status}, injected by the chaos run)"))
}

fn s3(call: &str) -> PipelineError {
    throttled("S3", call, "SlowDown", 503)
}
fn glue(call: &str) -> PipelineError {
    throttled("Glue", call, "ThrottlingException", 400)
}
fn dynamodb(call: &str) -> JobStateError {
    JobStateError::Store(throttled("DynamoDB", call, "ProvisionedThroughputExceededException", 400))
}

/// Errors of FAILED statements, as DescribeStatement's `Error` reports them.
pub(super) const FAILED_ERRORS: &[&str] = &[
    "FATAL: terminating connection due to administrator command",
    "ERROR: Spectrum Scan Error DETAIL: S3ServiceException:Please reduce your request rate.,Status 503",
    "ERROR: Disk Full DETAIL: error: Disk Full code: 1016",
];
pub(super) const SERIALIZATION_ERROR: &str = "ERROR: 1023 DETAIL: Serializable isolation violation on table - 100233, \
                                   transactions forming the cycle are: 5341, 5342 (pid:7410)";

/// The warehouse, failing the Data API's ways: a throttled call (before
/// its effect), or a statement that FAILED or was ABORTED and so changed
/// nothing (it is never handed to the warehouse).
pub struct FaultyWarehouse {
    pub inner: Arc<dyn Warehouse>,
    pub faults: Arc<Injector>,
    doomed: Mutex<HashMap<String, StatementState>>,
    next: AtomicU64,
}

impl FaultyWarehouse {
    pub fn new(inner: Arc<dyn Warehouse>, faults: Arc<Injector>) -> Self {
        Self { inner, faults, doomed: Mutex::default(), next: AtomicU64::new(1) }
    }

    /// `Some(id)`: the submit is answered here with a statement that ends badly.
    fn submit_fault(&self, call: &str) -> Result<Option<StatementId>, PipelineError> {
        let Some(kind) = self.faults.decide(FaultKind::AT_SUBMIT) else { return Ok(None) };
        let id = format!("chaos-{}", self.next.fetch_add(1, Ordering::SeqCst));
        let at = FailedAt { statement_id: &id, label: None, sub_statement: Some((1, 1)) };
        let fate = match kind {
            FaultKind::DataApiThrottled => {
                return Err(throttled("Redshift Data API", call, "ThrottlingException", 400));
            }
            FaultKind::StatementAborted => StatementState::Aborted(format!(
                "statement {id} was aborted: Query cancelled on user's request (injected by the chaos run)"
            )),
            FaultKind::SerializationConflict => {
                StatementState::Failed(statement_failed(Some(SERIALIZATION_ERROR), &at))
            }
            _ => {
                let text = FAILED_ERRORS[self.faults.pick(FAILED_ERRORS.len())];
                StatementState::Failed(statement_failed(Some(text), &at))
            }
        };
        self.doomed.lock().expect("doomed lock").insert(id.clone(), fate);
        Ok(Some(StatementId(id)))
    }

    fn describe_fault(&self, call: &str) -> Result<(), PipelineError> {
        match self.faults.decide(&[FaultKind::DataApiThrottled]) {
            Some(_) => Err(throttled("Redshift Data API", call, "ThrottlingException", 400)),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Warehouse for FaultyWarehouse {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }
    fn poll_schedule(&self) -> PollSchedule {
        self.inner.poll_schedule()
    }
    async fn submit(&self, batch: StatementBatch) -> Result<StatementId, PipelineError> {
        match self.submit_fault("BatchExecuteStatement")? {
            Some(id) => Ok(id),
            None => self.inner.submit(batch).await,
        }
    }
    async fn submit_idempotent(&self, batch: StatementBatch, key: &str) -> Result<StatementId, PipelineError> {
        match self.submit_fault("BatchExecuteStatement")? {
            Some(id) => Ok(id),
            None => self.inner.submit_idempotent(batch, key).await,
        }
    }
    async fn submit_single(&self, statement: SingleStatement) -> Result<StatementId, PipelineError> {
        match self.submit_fault("ExecuteStatement")? {
            Some(id) => Ok(id),
            None => self.inner.submit_single(statement).await,
        }
    }
    async fn submit_single_idempotent(
        &self,
        statement: SingleStatement,
        key: &str,
    ) -> Result<StatementId, PipelineError> {
        match self.submit_fault("ExecuteStatement")? {
            Some(id) => Ok(id),
            None => self.inner.submit_single_idempotent(statement, key).await,
        }
    }
    async fn status(&self, id: &StatementId) -> Result<StatementState, PipelineError> {
        if let Some(fate) = self.doomed.lock().expect("doomed lock").get(&id.0) {
            return Ok(fate.clone());
        }
        self.describe_fault("DescribeStatement")?;
        self.inner.status(id).await
    }
    async fn result(&self, id: &StatementId) -> Result<ResultSet, PipelineError> {
        if self.doomed.lock().expect("doomed lock").contains_key(&id.0) {
            return Err(PipelineError::config(format!("statement {} has no result: it did not finish", id.0)));
        }
        self.describe_fault("GetStatementResult")?;
        self.inner.result(id).await
    }
}

/// The raw zone, throttled as S3 throttles.
pub struct FaultyRawZone {
    pub inner: Arc<dyn RawZone>,
    pub faults: Arc<Injector>,
}

#[async_trait]
impl RawZone for FaultyRawZone {
    async fn list_objects(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<RawObject>, PipelineError> {
        if self.faults.decide(&[FaultKind::S3Throttled]).is_some() {
            return Err(s3("ListObjectsV2"));
        }
        self.inner.list_objects(prefix, start_after).await
    }
    async fn file_schemas(&self, files: &[RawFile]) -> Result<Vec<Vec<FileColumn>>, PipelineError> {
        if self.faults.decide(&[FaultKind::S3Throttled]).is_some() {
            return Err(s3("GetObject"));
        }
        self.inner.file_schemas(files).await
    }
    fn describe_prefix(&self, prefix: &str) -> String {
        self.inner.describe_prefix(prefix)
    }
}

/// The raw zone's catalog, throttled as Glue throttles.
pub struct FaultyRawCatalog {
    pub inner: Arc<dyn RawCatalog>,
    pub faults: Arc<Injector>,
}

#[async_trait]
impl RawCatalog for FaultyRawCatalog {
    fn external_schema(&self) -> Option<ExternalSchema> {
        self.inner.external_schema()
    }
    async fn ensure_tables(
        &self,
        cfg: &PipelineConfig,
        listing: &RawListing,
        raw: &dyn RawZone,
    ) -> Result<RawCatalogSync, PipelineError> {
        if self.faults.decide(&[FaultKind::GlueThrottled]).is_some() {
            return Err(glue("GetTable"));
        }
        self.inner.ensure_tables(cfg, listing, raw).await
    }
    async fn register_partitions(
        &self,
        cfg: &PipelineConfig,
        table: &TableConfig,
        days: &BTreeSet<String>,
    ) -> Result<Vec<String>, PipelineError> {
        if self.faults.decide(&[FaultKind::GlueThrottled]).is_some() {
            return Err(glue("BatchCreatePartition"));
        }
        self.inner.register_partitions(cfg, table, days).await
    }
}

/// The optimized zone's writes to S3 and its catalog's to Glue, throttled.
pub struct FaultyOptimized {
    pub zone: Arc<dyn OptimizedZone>,
    pub catalog: Arc<dyn OptimizedCatalog>,
    pub faults: Arc<Injector>,
}

#[async_trait]
impl OptimizedZone for FaultyOptimized {
    async fn check(&self) -> Result<(), PipelineError> {
        self.zone.check().await
    }
    fn export_target(&self, table: &TableConfig, day: &str) -> Result<ExportTarget, PipelineError> {
        self.zone.export_target(table, day)
    }
    async fn publish(&self, table: &TableConfig, day: &str, target: &ExportTarget) -> Result<DayFiles, PipelineError> {
        if self.faults.decide(&[FaultKind::S3Throttled]).is_some() {
            return Err(s3("ListObjectsV2"));
        }
        self.zone.publish(table, day, target).await
    }
    fn day_location(&self, table: &TableConfig, day: &str) -> String {
        self.zone.day_location(table, day)
    }
    fn table_location(&self, table: &TableConfig) -> String {
        self.zone.table_location(table)
    }
}

#[async_trait]
impl OptimizedCatalog for FaultyOptimized {
    async fn register_table(&self, table: &TableConfig, location: &str) -> Result<(), PipelineError> {
        if self.faults.decide(&[FaultKind::GlueThrottled]).is_some() {
            return Err(glue("CreateTable"));
        }
        self.catalog.register_table(table, location).await
    }
    async fn register_partition(&self, table: &TableConfig, p: &OptimizedPartition) -> Result<(), PipelineError> {
        if self.faults.decide(&[FaultKind::GlueThrottled]).is_some() {
            return Err(glue("BatchCreatePartition"));
        }
        self.catalog.register_partition(table, p).await
    }
}

/// The job-state store, throttled as DynamoDB throttles (the request is
/// refused: nothing is written).
pub struct FaultyStore {
    pub inner: Arc<dyn JobStateStore>,
    pub faults: Arc<Injector>,
}

impl FaultyStore {
    fn check(&self, call: &str) -> Result<(), JobStateError> {
        match self.faults.decide(&[FaultKind::DynamoDbThrottled]) {
            Some(_) => Err(dynamodb(call)),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl JobStateStore for FaultyStore {
    async fn claim(
        &self,
        job_id: &str,
        execution_id: &str,
        lease: Lease,
        now: DateTime<Utc>,
    ) -> Result<Claim, JobStateError> {
        self.check("UpdateItem")?;
        self.inner.claim(job_id, execution_id, lease, now).await
    }
    async fn extend(
        &self,
        job_id: &str,
        execution_id: &str,
        lease: Lease,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, JobStateError> {
        self.check("UpdateItem")?;
        self.inner.extend(job_id, execution_id, lease, now).await
    }
    async fn finish(
        &self,
        job_id: &str,
        record: RunRecord,
        hints: BTreeMap<String, ProgressHint>,
    ) -> Result<Job, JobStateError> {
        self.check("TransactWriteItems")?;
        self.inner.finish(job_id, record, hints).await
    }
    async fn set_config_fingerprint(
        &self,
        job_id: &str,
        execution_id: &str,
        fingerprint: &str,
    ) -> Result<(), JobStateError> {
        self.check("UpdateItem")?;
        self.inner.set_config_fingerprint(job_id, execution_id, fingerprint).await
    }
    async fn set_last_notified(&self, job_id: &str, at: DateTime<Utc>) -> Result<(), JobStateError> {
        self.check("UpdateItem")?;
        self.inner.set_last_notified(job_id, at).await
    }
    async fn record_incident(
        &self,
        job_id: &str,
        execution_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, JobStateError> {
        self.check("PutItem")?;
        self.inner.record_incident(job_id, execution_id, at).await
    }
    async fn incident_recorded(&self, job_id: &str, execution_id: &str) -> Result<bool, JobStateError> {
        self.check("GetItem")?;
        self.inner.incident_recorded(job_id, execution_id).await
    }
    async fn get(&self, job_id: &str) -> Result<Option<Job>, JobStateError> {
        self.check("GetItem")?;
        self.inner.get(job_id).await
    }
    async fn table_states(&self, job_id: &str) -> Result<BTreeMap<String, TableState>, JobStateError> {
        self.check("Query")?;
        self.inner.table_states(job_id).await
    }
    async fn update_table(&self, job_id: &str, table: &str, update: TableUpdate) -> Result<(), JobStateError> {
        self.check("UpdateItem")?;
        self.inner.update_table(job_id, table, update).await
    }
    async fn history(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>, JobStateError> {
        self.check("Query")?;
        self.inner.history(job_id, limit).await
    }
    async fn reset(&self, job_id: &str, reason: &str, now: DateTime<Utc>) -> Result<Job, JobStateError> {
        self.check("UpdateItem")?;
        self.inner.reset(job_id, reason, now).await
    }
}

/// The notifier, throttled as SNS throttles.
pub struct FaultyNotifier {
    pub inner: Arc<dyn Notifier>,
    pub faults: Arc<Injector>,
}

#[async_trait]
impl Notifier for FaultyNotifier {
    async fn send(&self, notice: &Notice) -> Result<(), PipelineError> {
        if self.faults.decide(&[FaultKind::SnsThrottled]).is_some() {
            return Err(throttled("SNS", "Publish", "Throttled", 429));
        }
        self.inner.send(notice).await
    }
}
