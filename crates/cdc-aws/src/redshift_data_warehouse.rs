//! The warehouse on Amazon Redshift through the Data API (docs/architecture.md,
//! docs/cdc-contract.md), the twin of the local DuckDB warehouse: one batch, one
//! transaction, submitted then polled.
//!
//! - `submit` is one `BatchExecuteStatement`, which runs its statements as
//!   one transaction; `submit_single` one `ExecuteStatement`, which runs
//!   outside a transaction block, for the statements Redshift refuses in one. Before anything is sent the batch is checked against
//!   the Data API's documented limits (at most 40 statements, each at most
//!   100 KB), so an oversized batch is a `ConfigError` naming its label rather
//!   than a ValidationException. `StatementName` is the batch label, and each
//!   statement starts with a comment carrying it (`/* cdc: load public.t */`):
//!   Redshift keeps it in `SYS_QUERY_HISTORY`/`STL_QUERY`, and a poll (often
//!   another Lambda invocation) reads it back from DescribeStatement, which
//!   does not return `StatementName`. `ClientToken`: see [`client_token`].
//! - `status` is one `DescribeStatement`: SUBMITTED and PICKED → Submitted,
//!   STARTED → Running, FINISHED → Finished, FAILED → Failed (classified by
//!   [`statement_error`], with Redshift's text, the statement id, the label
//!   and the failed sub-statement), ABORTED → Aborted.
//! - `result` reads the rows of the batch's last sub-statement (`<id>:<n>`,
//!   from DescribeStatement's `SubStatements`) with `GetStatementResult`,
//!   following `NextToken`. Data API fields map to cells one to one; BLOBs,
//!   which our SQL never selects, become base64 text.
//!
//! SDK errors go through [`crate::sdk_error`]: throttling, the Data API's
//! concurrency limits (active statements, sessions, waiting requests) and 5xx
//! are `Retryable`; a validation error, an unknown statement id
//! (ResourceNotFound) and denied access are `ConfigError`. The concurrency
//! limits answer HTTP 400, which the SDK's standard retry strategy does not
//! retry, so this adapter adds a retry classifier that treats them as
//! throttling: they are absorbed with backoff inside one call, like a
//! ThrottlingException.

mod client_token;
mod fields;
pub mod statement_error;
pub mod target;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_redshiftdata::Client;
use aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementError;
use aws_sdk_redshiftdata::operation::describe_statement::{DescribeStatementError, DescribeStatementOutput};
use aws_sdk_redshiftdata::operation::execute_statement::ExecuteStatementError;
use aws_sdk_redshiftdata::operation::get_statement_result::GetStatementResultError;
use aws_sdk_redshiftdata::types::{StatementStatusString, StatusString};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use cdc_core::PipelineError;
use cdc_core::ports::{ResultSet, SingleStatement, StatementId, StatementState, Warehouse};
use cdc_core::sql::{Dialect, StatementBatch};

pub use self::client_token::client_token;
use self::statement_error::{FailedAt, statement_failed};
pub use self::target::{ClusterAuth, RedshiftTarget};
use crate::sdk_error::to_pipeline_error;

/// The Data API's limit on one SQL statement, in bytes of its UTF-8 text
/// ("The maximum query statement size is 100 KB"), read as KiB the way the
/// core's own limit test reads it.
pub const MAX_STATEMENT_BYTES: usize = 100 * 1024;
/// `Sqls` of BatchExecuteStatement holds 1 to 40 statements (the API model).
pub const MAX_STATEMENTS_PER_BATCH: usize = 40;
/// `StatementName` holds at most 500 characters (the API model).
pub const MAX_STATEMENT_NAME_CHARS: usize = 500;

/// Start of the comment each submitted statement carries; see the module doc.
const LABEL_TAG: &str = "/* cdc: ";
/// Labels are short; a long one is cut in the comment (not in `StatementName`).
const MAX_TAG_LABEL_CHARS: usize = 200;

/// Error codes of the Data API's concurrency limits.
const ACTIVE_LIMIT_CODES: &[&str] =
    &["ActiveStatementsExceededException", "ActiveSessionsExceededException", "ActiveWaitingRequestsExceededException"];

/// The Redshift Data API behind the warehouse port.
#[derive(Debug, Clone)]
pub struct RedshiftDataWarehouse {
    client: Client,
    target: RedshiftTarget,
    scope: Option<String>,
}

impl RedshiftDataWarehouse {
    /// An adapter on `client` (its configuration, with the concurrency-limit
    /// retry classifier added) for `target`. Without an idempotency scope
    /// ([`Self::with_idempotency_scope`]) no `ClientToken` is sent, and the
    /// SDK's own token covers only its retries within one call.
    pub fn new(client: &Client, target: RedshiftTarget) -> Result<Self, PipelineError> {
        target.validate()?;
        let conf = client.config().to_builder().retry_classifier(ActiveLimitsAreThrottling).build();
        Ok(Self { client: Client::from_conf(conf), target, scope: None })
    }

    /// From an SDK configuration (see [`crate::client_config::load_from_env`])
    /// and the `REDSHIFT_*` variables of [`target`].
    pub fn from_env(sdk: &SdkConfig) -> Result<Self, PipelineError> {
        Self::new(&Client::new(sdk), RedshiftTarget::from_env()?)
    }

    /// The same adapter deriving each batch's `ClientToken` from `scope` and
    /// the batch; see [`client_token`] for what the scope must be.
    pub fn with_idempotency_scope(&self, scope: impl Into<String>) -> Self {
        Self { scope: Some(scope.into()), ..self.clone() }
    }

    pub fn target(&self) -> &RedshiftTarget {
        &self.target
    }

    pub fn idempotency_scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    async fn describe(&self, id: &StatementId) -> Result<DescribeStatementOutput, PipelineError> {
        self.client
            .describe_statement()
            .id(&id.0)
            .send()
            .await
            .map_err(|e| to_pipeline_error(&e, &format!("Redshift Data API DescribeStatement of statement {id}")))
    }
}

/// The statements as sent: checked against the Data API's limits, each
/// tagged with the label.
pub fn prepare_sqls(batch: &StatementBatch) -> Result<Vec<String>, PipelineError> {
    let label = &batch.label;
    if batch.statements.is_empty() {
        return Err(PipelineError::config(format!("batch {label:?} has no statement")));
    }
    if batch.statements.len() > MAX_STATEMENTS_PER_BATCH {
        return Err(PipelineError::config(format!(
            "batch {label:?} has {} statements; the Redshift Data API takes at most {MAX_STATEMENTS_PER_BATCH} \
             per BatchExecuteStatement",
            batch.statements.len()
        )));
    }
    let tag = label_tag(label);
    batch
        .statements
        .iter()
        .enumerate()
        .map(|(i, sql)| {
            let tagged = format!("{tag}{sql}");
            if tagged.len() > MAX_STATEMENT_BYTES {
                return Err(PipelineError::config(format!(
                    "batch {label:?}: statement {} of {} is {} bytes; the Redshift Data API refuses statements over \
                     {MAX_STATEMENT_BYTES} bytes (100 KB). It starts: {}",
                    i + 1,
                    batch.statements.len(),
                    tagged.len(),
                    prefix(sql, 120)
                )));
            }
            Ok(tagged)
        })
        .collect()
}

/// `/* cdc: <label> */ `, the label made safe inside a comment.
fn label_tag(label: &str) -> String {
    let clean: String = prefix(label, MAX_TAG_LABEL_CHARS).replace("*/", "* /").replace(['\n', '\r'], " ");
    format!("{LABEL_TAG}{clean} */ ")
}

/// The label a statement text carries, if it was submitted by this adapter.
pub fn label_of(sql: &str) -> Option<&str> {
    let rest = sql.trim_start().strip_prefix(LABEL_TAG)?;
    rest.find(" */").map(|end| &rest[..end])
}

fn prefix(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

#[async_trait]
impl Warehouse for RedshiftDataWarehouse {
    fn dialect(&self) -> Dialect {
        Dialect::Redshift
    }

    async fn submit(&self, batch: StatementBatch) -> Result<StatementId, PipelineError> {
        let sqls = prepare_sqls(&batch)?;
        let mut request = self
            .client
            .batch_execute_statement()
            .set_sqls(Some(sqls))
            .database(self.target.database())
            .statement_name(prefix(&batch.label, MAX_STATEMENT_NAME_CHARS))
            .set_cluster_identifier(self.target.cluster_id().map(str::to_string))
            .set_workgroup_name(self.target.workgroup().map(str::to_string))
            .set_db_user(self.target.db_user().map(str::to_string))
            .set_secret_arn(self.target.secret_arn().map(str::to_string));
        if let Some(scope) = &self.scope {
            request = request.client_token(client_token(scope, &self.target, &batch));
        }
        let context = format!("Redshift Data API BatchExecuteStatement of batch {:?} on {}", batch.label, self.target);
        let out = request.send().await.map_err(|e| to_pipeline_error(&e, &context))?;
        let id = answered_id(out.id(), &context)?;
        tracing::info!(label = %batch.label, statement = %id, target = %self.target, "batch submitted");
        Ok(id)
    }

    /// `key` becomes the idempotency scope of the `ClientToken` (see
    /// [`client_token`]): the step attempt's execution id and entry time.
    async fn submit_idempotent(&self, batch: StatementBatch, key: &str) -> Result<StatementId, PipelineError> {
        self.with_idempotency_scope(key).submit(batch).await
    }

    /// One `ExecuteStatement`, which runs outside a transaction block (the
    /// Data API runs a single statement with Redshift's auto-commit;
    /// BatchExecuteStatement would wrap it in a transaction).
    async fn submit_single(&self, statement: SingleStatement) -> Result<StatementId, PipelineError> {
        // The same limits and label tag as a batch of one.
        let as_batch = StatementBatch { label: statement.label.clone(), statements: vec![statement.sql] };
        let sql = prepare_sqls(&as_batch)?.pop().expect("one statement");
        let mut request = self
            .client
            .execute_statement()
            .sql(sql)
            .database(self.target.database())
            .statement_name(prefix(&as_batch.label, MAX_STATEMENT_NAME_CHARS))
            .set_cluster_identifier(self.target.cluster_id().map(str::to_string))
            .set_workgroup_name(self.target.workgroup().map(str::to_string))
            .set_db_user(self.target.db_user().map(str::to_string))
            .set_secret_arn(self.target.secret_arn().map(str::to_string));
        if let Some(scope) = &self.scope {
            // Not the token of a batch holding the same statement.
            let scope = format!("{scope}\u{0}execute-statement");
            request = request.client_token(client_token(&scope, &self.target, &as_batch));
        }
        let context = format!("Redshift Data API ExecuteStatement of {:?} on {}", as_batch.label, self.target);
        let out = request.send().await.map_err(|e| to_pipeline_error(&e, &context))?;
        let id = answered_id(out.id(), &context)?;
        tracing::info!(label = %as_batch.label, statement = %id, target = %self.target, "statement submitted");
        Ok(id)
    }

    async fn submit_single_idempotent(
        &self,
        statement: SingleStatement,
        key: &str,
    ) -> Result<StatementId, PipelineError> {
        self.with_idempotency_scope(key).submit_single(statement).await
    }

    async fn status(&self, id: &StatementId) -> Result<StatementState, PipelineError> {
        let out = self.describe(id).await?;
        let status = out.status().ok_or_else(|| {
            PipelineError::retryable(format!("Redshift Data API DescribeStatement of statement {id}: no status"))
        })?;
        Ok(match status {
            StatusString::Submitted | StatusString::Picked => StatementState::Submitted,
            StatusString::Started => StatementState::Running,
            StatusString::Finished => StatementState::Finished,
            StatusString::Failed => StatementState::Failed(failure(id, &out)),
            StatusString::Aborted => StatementState::Aborted(aborted(id, &out)),
            other => {
                return Err(PipelineError::retryable(format!(
                    "Redshift Data API DescribeStatement of statement {id}: unexpected status {}",
                    other.as_str()
                )));
            }
        })
    }

    async fn result(&self, id: &StatementId) -> Result<ResultSet, PipelineError> {
        let out = self.describe(id).await?;
        if out.status() != Some(&StatusString::Finished) {
            return Err(PipelineError::config(format!(
                "statement {id} has not finished (status {}); its result cannot be read",
                out.status().map_or("none", |s| s.as_str())
            )));
        }
        // A batch's rows belong to its sub-statements; ours are the last one's.
        let (result_id, has_result_set) = match out.sub_statements().last() {
            Some(last) => (last.id().to_string(), last.has_result_set()),
            None => (id.0.clone(), out.has_result_set()),
        };
        if has_result_set == Some(false) {
            return Ok(ResultSet::default());
        }
        let context = format!("Redshift Data API GetStatementResult of statement {result_id}");
        let mut rs = ResultSet::default();
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_statement_result()
                .id(&result_id)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| to_pipeline_error(&e, &context))?;
            if rs.columns.is_empty() {
                rs.columns = page
                    .column_metadata()
                    .iter()
                    .map(|c| c.name().or(c.label()).unwrap_or_default().to_string())
                    .collect();
            }
            for record in page.records() {
                rs.rows
                    .push(record.iter().map(fields::cell).collect::<Result<_, _>>().map_err(|e| e.context(&context))?);
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => next_token = Some(t.to_string()),
                _ => return Ok(rs),
            }
        }
    }
}

/// The statement id a submit answered with; an answer without one is a
/// passing fault (the next attempt's ClientToken finds the statement).
fn answered_id(id: Option<&str>, context: &str) -> Result<StatementId, PipelineError> {
    id.filter(|id| !id.is_empty())
        .map(|id| StatementId(id.to_string()))
        .ok_or_else(|| PipelineError::retryable(format!("{context}: the answer carries no statement id")))
}

/// The classified error of a FAILED statement: the failed sub-statement's
/// text when the batch reports one, else the statement's own.
fn failure(id: &StatementId, out: &DescribeStatementOutput) -> PipelineError {
    let subs = out.sub_statements();
    let failed = subs.iter().position(|s| s.status() == Some(&StatementStatusString::Failed));
    let error = failed.and_then(|i| subs[i].error()).or(out.error());
    let label = subs.first().and_then(|s| s.query_string()).or(out.query_string()).and_then(label_of);
    let at = FailedAt { statement_id: &id.0, label, sub_statement: failed.map(|i| (i + 1, subs.len())) };
    statement_failed(error, &at)
}

fn aborted(id: &StatementId, out: &DescribeStatementOutput) -> String {
    let label = out.sub_statements().first().and_then(|s| s.query_string()).or(out.query_string()).and_then(label_of);
    let what = match label {
        Some(l) => format!("{l}, statement {id}"),
        None => format!("statement {id}"),
    };
    match out.error().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => format!("{what} was aborted: {e}"),
        None => format!("{what} was aborted (cancelled, or stopped by the cluster)"),
    }
}

/// Makes the SDK retry the Data API's concurrency limits with backoff, as it
/// retries throttling.
#[derive(Debug)]
struct ActiveLimitsAreThrottling;

impl ClassifyRetry for ActiveLimitsAreThrottling {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let Some(err) = err.as_operation_error() else {
            return RetryAction::NoActionIndicated;
        };
        let code = err
            .downcast_ref::<BatchExecuteStatementError>()
            .and_then(|e| e.code())
            .or_else(|| err.downcast_ref::<ExecuteStatementError>().and_then(|e| e.code()))
            .or_else(|| err.downcast_ref::<DescribeStatementError>().and_then(|e| e.code()))
            .or_else(|| err.downcast_ref::<GetStatementResultError>().and_then(|e| e.code()));
        match code {
            Some(code) if ACTIVE_LIMIT_CODES.contains(&code) => RetryAction::throttling_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "Redshift Data API concurrency limits"
    }
}

#[cfg(test)]
mod tests {
    use cdc_core::ErrorKind;

    use super::*;

    fn batch(statements: Vec<String>) -> StatementBatch {
        StatementBatch { label: "load public.t".into(), statements }
    }

    #[test]
    fn statements_are_tagged_with_the_label_and_it_reads_back() {
        let sqls = prepare_sqls(&batch(vec!["SELECT 1".into(), "SELECT 2".into()])).unwrap();
        assert_eq!(sqls, ["/* cdc: load public.t */ SELECT 1", "/* cdc: load public.t */ SELECT 2"]);
        assert_eq!(label_of(&sqls[0]), Some("load public.t"));
        assert_eq!(label_of("SELECT 1"), None);
        // A label cannot end the comment early.
        let tricky = StatementBatch { label: "a */ DROP TABLE x; /*\nb".into(), statements: vec!["SELECT 1".into()] };
        let sqls = prepare_sqls(&tricky).unwrap();
        assert_eq!(sqls[0], "/* cdc: a * / DROP TABLE x; /* b */ SELECT 1");
    }

    #[test]
    fn batches_over_the_data_api_limits_are_refused_naming_the_label() {
        // GIVEN a statement one byte over 100 KB once tagged
        let tag = label_tag("load public.t").len();
        let at_limit = "x".repeat(MAX_STATEMENT_BYTES - tag);
        assert!(prepare_sqls(&batch(vec![at_limit.clone()])).is_ok());
        let err = prepare_sqls(&batch(vec!["SELECT 1".into(), format!("{at_limit}y")])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ConfigError);
        assert!(err.message.contains("\"load public.t\"") && err.message.contains("statement 2 of 2"), "{err}");
        // GIVEN 41 statements, or none
        let err = prepare_sqls(&batch(vec!["SELECT 1".into(); 41])).unwrap_err();
        assert!(err.message.contains("41 statements") && err.message.contains("load public.t"), "{err}");
        assert_eq!(prepare_sqls(&batch(vec![])).unwrap_err().kind, ErrorKind::ConfigError);
    }
}
