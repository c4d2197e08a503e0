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

    /// How a step waits for this warehouse's statements within one
    /// invocation; the Data API's unless the backend says otherwise.
    fn poll_schedule(&self) -> PollSchedule {
        PollSchedule::DATA_API
    }

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

    /// Submits a batch whose end the caller waits for in the same call
    /// ([`run_to_completion`]): never under an idempotency key. A retried
    /// attempt must run it again, since it cannot hand on a statement it did
    /// not see end, and the Data API answers a reused `ClientToken` with the
    /// first statement, a FAILED one too, so a keyed read that failed once
    /// would fail every retry.
    async fn submit_awaited(&self, batch: StatementBatch) -> Result<StatementId, PipelineError> {
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
    fn poll_schedule(&self) -> PollSchedule {
        self.inner.poll_schedule()
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
    async fn submit_awaited(&self, batch: StatementBatch) -> Result<StatementId, PipelineError> {
        self.inner.submit_awaited(batch).await
    }
    async fn status(&self, id: &StatementId) -> Result<StatementState, PipelineError> {
        self.inner.status(id).await
    }
    async fn result(&self, id: &StatementId) -> Result<ResultSet, PipelineError> {
        self.inner.result(id).await
    }
}

/// How a step waits for a statement within one invocation: asks once at
/// once, then after `first`, and doubles the wait after every answer that
/// the statement still runs, up to `max`.
///
/// Each DescribeStatement is a Data API call, and the Data API throttles
/// calls per account (docs/redshift.md); a statement that takes seconds is
/// asked a handful of times, not every few milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSchedule {
    pub first: Duration,
    pub max: Duration,
}

impl PollSchedule {
    /// The Redshift Data API: 250 ms, doubling to 2 s.
    pub const DATA_API: PollSchedule = PollSchedule { first: Duration::from_millis(250), max: Duration::from_secs(2) };
    /// An engine in the same process: no API, no quota, only latency.
    pub const IN_PROCESS: PollSchedule =
        PollSchedule { first: Duration::from_millis(1), max: Duration::from_millis(20) };

    /// The waits between one status call and the next.
    pub fn waits(self) -> impl Iterator<Item = Duration> {
        std::iter::successors(Some(self.first), move |d| Some((*d * 2).min(self.max)))
    }
}

/// Submits a short batch and waits for it on the warehouse's
/// [`PollSchedule`]: for the small reads a step needs before it can plan
/// (progress lookups), not for loads.
pub async fn run_to_completion(warehouse: &dyn Warehouse, batch: StatementBatch) -> Result<ResultSet, PipelineError> {
    let label = batch.label.clone();
    let id = warehouse.submit_awaited(batch).await?;
    wait_for(warehouse, &id).await.map_err(|e| e.context(format!("{label} (statement {id})")))?;
    warehouse.result(&id).await
}

/// Waits until the statement has finished, on the warehouse's
/// [`PollSchedule`]; a failed or aborted statement is the error.
pub async fn wait_for(warehouse: &dyn Warehouse, id: &StatementId) -> Result<(), PipelineError> {
    let mut waits = warehouse.poll_schedule().waits();
    loop {
        match warehouse.status(id).await? {
            StatementState::Finished => return Ok(()),
            StatementState::Failed(e) => return Err(e),
            StatementState::Aborted(why) => return Err(PipelineError::retryable(format!("aborted: {why}"))),
            StatementState::Submitted | StatementState::Running => {
                tokio::time::sleep(waits.next().unwrap_or(Duration::from_secs(2))).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    /// A Data API-like warehouse whose every statement runs for `runs_for`,
    /// counting DescribeStatement-like status calls.
    struct Slow {
        started: Instant,
        runs_for: Duration,
        status_calls: AtomicUsize,
    }

    #[async_trait]
    impl Warehouse for Slow {
        fn dialect(&self) -> Dialect {
            Dialect::Redshift
        }
        async fn submit(&self, _: StatementBatch) -> Result<StatementId, PipelineError> {
            Ok(StatementId("s1".into()))
        }
        async fn submit_single(&self, _: SingleStatement) -> Result<StatementId, PipelineError> {
            Ok(StatementId("s1".into()))
        }
        async fn status(&self, _: &StatementId) -> Result<StatementState, PipelineError> {
            self.status_calls.fetch_add(1, Ordering::SeqCst);
            Ok(if self.started.elapsed() < self.runs_for { StatementState::Running } else { StatementState::Finished })
        }
        async fn result(&self, _: &StatementId) -> Result<ResultSet, PipelineError> {
            Ok(ResultSet::default())
        }
    }

    /// The Data API's `ClientToken` rule: a keyed submit seen before
    /// answers the first statement (Data API Reference, ExecuteStatement and
    /// BatchExecuteStatement: "ensure the idempotency of the request").
    /// Statements fail retryably until `fail_first` of them have been run.
    #[derive(Default)]
    struct Tokens {
        by_key: std::sync::Mutex<std::collections::HashMap<String, StatementId>>,
        runs: AtomicUsize,
        fail_first: usize,
    }

    #[async_trait]
    impl Warehouse for Tokens {
        fn dialect(&self) -> Dialect {
            Dialect::Redshift
        }
        fn poll_schedule(&self) -> PollSchedule {
            PollSchedule::IN_PROCESS
        }
        async fn submit(&self, _: StatementBatch) -> Result<StatementId, PipelineError> {
            Ok(StatementId(format!("s{}", self.runs.fetch_add(1, Ordering::SeqCst) + 1)))
        }
        async fn submit_idempotent(&self, batch: StatementBatch, key: &str) -> Result<StatementId, PipelineError> {
            if let Some(id) = self.by_key.lock().unwrap().get(key) {
                return Ok(id.clone());
            }
            let id = self.submit(batch).await?;
            self.by_key.lock().unwrap().insert(key.to_string(), id.clone());
            Ok(id)
        }
        async fn submit_single(&self, _: SingleStatement) -> Result<StatementId, PipelineError> {
            unreachable!("not used here")
        }
        async fn status(&self, id: &StatementId) -> Result<StatementState, PipelineError> {
            let n: usize = id.0[1..].parse().unwrap();
            Ok(match n <= self.fail_first {
                true => StatementState::Failed(PipelineError::retryable(format!("{id}: 1023 serializable isolation"))),
                false => StatementState::Finished,
            })
        }
        async fn result(&self, _: &StatementId) -> Result<ResultSet, PipelineError> {
            Ok(ResultSet::default())
        }
    }

    #[tokio::test]
    async fn a_retried_attempt_runs_its_failed_read_again_while_its_submit_keeps_the_first_statement() {
        // GIVEN a step attempt's keyed warehouse whose first statement fails retryably
        let w = Tokens { fail_first: 1, ..Tokens::default() };
        let attempt = IdempotentSubmits { inner: &w, key: Some("exec@2026-12-06T12:00:00Z".into()) };
        let read = || StatementBatch { label: "progress".into(), statements: vec!["SELECT 1".into()] };
        assert!(run_to_completion(&attempt, read()).await.is_err());
        // WHEN the Task retries the attempt, with the same key (the state's entered time)
        let again = run_to_completion(&attempt, read()).await;
        // THEN the read ran anew and succeeded (under the key it would get the FAILED one back)
        assert!(again.is_ok(), "{again:?}");
        assert_eq!(w.runs.load(Ordering::SeqCst), 2);
        // AND a submit the next state polls keeps the key: its retry gets the first statement
        let first = attempt.submit(read()).await.unwrap();
        assert_eq!(attempt.submit(read()).await.unwrap(), first);
        assert_eq!(w.runs.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn the_data_api_schedule_starts_at_250_ms_and_doubles_to_2_s() {
        let waits: Vec<u64> = PollSchedule::DATA_API.waits().take(6).map(|d| d.as_millis() as u64).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 2000, 2000]);
    }

    #[tokio::test]
    async fn a_read_of_1_6_s_asks_for_its_status_four_times_not_every_20_ms() {
        // GIVEN a statement that runs for 1.6 s on a Data API warehouse
        let w =
            Slow { started: Instant::now(), runs_for: Duration::from_millis(1600), status_calls: AtomicUsize::new(0) };
        // WHEN a step waits for it
        run_to_completion(&w, StatementBatch { label: "read".into(), statements: vec![] }).await.unwrap();
        // THEN it asked at 0, 0.25, 0.75 and 1.75 s (a 20 ms poll asked 81 times)
        assert_eq!(w.status_calls.load(Ordering::SeqCst), 4);
    }
}
