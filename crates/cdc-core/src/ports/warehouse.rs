use std::time::Duration;

use async_trait::async_trait;

use crate::error::PipelineError;
use crate::sql::{Dialect, StatementBatch};

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct StatementId(pub String);

impl std::fmt::Display for StatementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The states of a submitted batch, as the Redshift Data API reports them.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementState {
    Submitted,
    Running,
    Finished,
    /// The transaction was rolled back; the error says why, classified.
    Failed(PipelineError),
    Aborted(String),
}

impl StatementState {
    pub fn is_done(&self) -> bool {
        matches!(self, StatementState::Finished | StatementState::Failed(_) | StatementState::Aborted(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    Text(String),
}

impl Cell {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Cell::Long(v) => Some(*v),
            Cell::Text(s) => s.parse().ok(),
            _ => None,
        }
    }
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl ResultSet {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.eq_ignore_ascii_case(name))
    }
}

/// The warehouse, asynchronous in shape on every backend (docs/architecture.md):
/// submit a batch that runs as one transaction, then poll its state.
#[async_trait]
pub trait Warehouse: Send + Sync {
    fn dialect(&self) -> Dialect;

    async fn submit(&self, batch: StatementBatch) -> Result<StatementId, PipelineError>;

    /// Submits `batch` so that a second submit of the same batch with the
    /// same `key` runs nothing and returns the first statement's id (the
    /// Data API's `ClientToken`): for a retried step whose first attempt's
    /// answer was lost. A backend whose submit cannot be lost in flight (the
    /// embedded DuckDB) just submits.
    async fn submit_idempotent(&self, batch: StatementBatch, key: &str) -> Result<StatementId, PipelineError> {
        let _ = key;
        self.submit(batch).await
    }

    /// Submits one statement to run outside a transaction block, committing
    /// by itself (Redshift's auto-commit; the Data API's ExecuteStatement):
    /// for the statements Redshift refuses inside a transaction block, such
    /// as `ALTER TABLE … ALTER COLUMN … TYPE` or `VACUUM` (docs/redshift.md).
    /// Polled with [`Warehouse::status`] and [`Warehouse::result`] like a batch.
    async fn submit_single(&self, statement: SingleStatement) -> Result<StatementId, PipelineError>;

    /// [`Warehouse::submit_single`] with an idempotency key, as
    /// [`Warehouse::submit_idempotent`] for batches.
    async fn submit_single_idempotent(
        &self,
        statement: SingleStatement,
        key: &str,
    ) -> Result<StatementId, PipelineError> {
        let _ = key;
        self.submit_single(statement).await
    }

    async fn status(&self, id: &StatementId) -> Result<StatementState, PipelineError>;

    /// The rows of the batch's last statement, once it has finished.
    async fn result(&self, id: &StatementId) -> Result<ResultSet, PipelineError>;
}

/// One statement that must run outside a transaction block, with a label
/// for logs and the Data API's `StatementName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleStatement {
    pub label: String,
    pub sql: String,
}

/// A warehouse whose every submit carries the step attempt's idempotency
/// key, if it has one (see [`Warehouse::submit_idempotent`]): what a step
/// hands to the domain code, so the reads and the load it plans are all covered.
pub struct IdempotentSubmits<'a> {
    pub inner: &'a dyn Warehouse,
    pub key: Option<String>,
}

#[async_trait]
impl Warehouse for IdempotentSubmits<'_> {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }
    async fn submit(&self, batch: StatementBatch) -> Result<StatementId, PipelineError> {
        match &self.key {
            Some(key) => self.inner.submit_idempotent(batch, key).await,
            None => self.inner.submit(batch).await,
        }
    }
    async fn submit_single(&self, statement: SingleStatement) -> Result<StatementId, PipelineError> {
        match &self.key {
            Some(key) => self.inner.submit_single_idempotent(statement, key).await,
            None => self.inner.submit_single(statement).await,
        }
    }
    async fn status(&self, id: &StatementId) -> Result<StatementState, PipelineError> {
        self.inner.status(id).await
    }
    async fn result(&self, id: &StatementId) -> Result<ResultSet, PipelineError> {
        self.inner.result(id).await
    }
}

/// Submits a short batch and waits for it: for the small reads a step needs
/// before it can plan (progress lookups), not for loads.
pub async fn run_to_completion(
    warehouse: &dyn Warehouse,
    batch: StatementBatch,
    poll_every: Duration,
) -> Result<ResultSet, PipelineError> {
    let label = batch.label.clone();
    let id = warehouse.submit(batch).await?;
    loop {
        match warehouse.status(&id).await? {
            StatementState::Finished => return warehouse.result(&id).await,
            StatementState::Failed(e) => return Err(e.context(format!("{label} (statement {id})"))),
            StatementState::Aborted(why) => {
                return Err(PipelineError::retryable(format!("{label} (statement {id}) was aborted: {why}")));
            }
            StatementState::Submitted | StatementState::Running => tokio::time::sleep(poll_every).await,
        }
    }
}
