//! The warehouse of the embedded default: a DuckDB database file behind the
//! same submit/poll port as the Redshift Data API. Each batch runs as one
//! transaction on its own connection, on a blocking thread, so parallel table
//! loads really run in parallel and a poll sees `Running` meanwhile.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use duckdb::Connection;

use cdc_core::config::PipelineConfig;
use cdc_core::ports::{FileKind, ResultSet, SingleStatement, StatementId, StatementState, Warehouse};
use cdc_core::sql::{Dialect, StatementBatch, names};
use cdc_core::{PipelineError, TableConfig};

use crate::duckdb_errors::{self, classify};
use crate::folder_raw_zone::FolderRawZone;
use crate::values::cell;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot open DuckDB database {path}: {source}")]
    Open { path: PathBuf, source: duckdb::Error },
    #[error("DuckDB: {context}: {source}")]
    DuckDb { context: String, source: duckdb::Error },
}

impl From<LocalError> for PipelineError {
    fn from(e: LocalError) -> Self {
        PipelineError::config(e.to_string())
    }
}

#[derive(Debug, Clone)]
enum Entry {
    Running,
    Finished(ResultSet),
    Failed(PipelineError),
}

pub struct DuckDbWarehouse {
    root: Mutex<Connection>,
    statements: Arc<Mutex<HashMap<String, Entry>>>,
    /// Woken when any statement ends, for the status long-poll.
    ended: Arc<tokio::sync::Notify>,
    next_id: AtomicU64,
    /// Held while a statement runs: one transaction at a time. DuckDB's
    /// snapshot isolation lets two transactions that read a table's progress
    /// and then insert rows both commit; Redshift's LOCK, which the load
    /// batches open with there, makes the second wait (`Dialect::lock`).
    one_at_a_time: Arc<Mutex<()>>,
}

/// How long `status` waits for a running statement to end before it says
/// "running". A local engine can answer like this; it keeps a state machine
/// on a virtual clock (whose Waits take no time) from spinning its poll loop.
const LONG_POLL: std::time::Duration = std::time::Duration::from_millis(250);

impl DuckDbWarehouse {
    pub fn open(path: &Path) -> Result<Self, LocalError> {
        let conn = Connection::open(path).map_err(|source| LocalError::Open { path: path.to_path_buf(), source })?;
        Self::with_connection(conn)
    }

    pub fn open_in_memory() -> Result<Self, LocalError> {
        let conn = Connection::open_in_memory()
            .map_err(|source| LocalError::Open { path: PathBuf::from(":memory:"), source })?;
        Self::with_connection(conn)
    }

    fn with_connection(conn: Connection) -> Result<Self, LocalError> {
        // Loads never rely on insertion order; not keeping it lets DuckDB
        // parallelise inserts.
        conn.execute_batch("SET preserve_insertion_order = false")
            .map_err(|source| LocalError::DuckDb { context: "settings".into(), source })?;
        Ok(Self {
            root: Mutex::new(conn),
            statements: Arc::default(),
            ended: Arc::default(),
            next_id: AtomicU64::new(1),
            one_at_a_time: Arc::default(),
        })
    }

    /// A new connection to the same database, for reads outside the port
    /// (verification, status, benchmarks).
    pub fn connection(&self) -> Result<Connection, LocalError> {
        self.root
            .lock()
            .expect("root connection lock")
            .try_clone()
            .map_err(|source| LocalError::DuckDb { context: "new connection".into(), source })
    }

    /// Makes the raw zone queryable under the Glue catalog's names
    /// (`raw_full_<table>`, `raw_cdc_<table>` with `partition_0` and
    /// `"$path"`), as Redshift Spectrum shows it. Views over a glob, so files
    /// that arrive later are seen; a table without files gets no view.
    ///
    /// A view binds its columns from a file, so one unreadable file would
    /// stop every table: each table's views are made on their own, and a
    /// table whose views fail is returned (its views dropped) so the others
    /// still load; that table's load then names the bad file.
    pub fn expose_raw_zone(
        &self,
        cfg: &PipelineConfig,
        raw: &FolderRawZone,
    ) -> Result<Vec<(String, String)>, LocalError> {
        let conn = self.connection()?;
        let schema = format!("CREATE SCHEMA IF NOT EXISTS {};", cfg.raw_schema.quoted());
        conn.execute_batch(&schema)
            .map_err(|source| LocalError::DuckDb { context: "raw zone schema".into(), source })?;
        let mut problems = Vec::new();
        for t in &cfg.tables {
            let views = format!("{}{}", raw_view(cfg, t, raw, FileKind::Full), raw_view(cfg, t, raw, FileKind::Cdc));
            if let Err(e) = conn.execute_batch(&views) {
                problems.push((t.name.to_string(), e.to_string()));
                let drop = format!(
                    "DROP VIEW IF EXISTS {}; DROP VIEW IF EXISTS {};",
                    names::raw_full(cfg, t),
                    names::raw_cdc(cfg, t)
                );
                conn.execute_batch(&drop).map_err(|source| LocalError::DuckDb {
                    context: format!("raw zone views of {}", t.name),
                    source,
                })?;
            }
        }
        Ok(problems)
    }
}

/// A view over the table's files of one kind. `partition_0` is the day in a
/// CDC file's name, as on Redshift where days have folders; columns by name
/// across files, NULL where a file lacks one (as Spectrum reads Parquet).
fn raw_view(cfg: &PipelineConfig, t: &TableConfig, raw: &FolderRawZone, kind: FileKind) -> String {
    let d = Dialect::DuckDb;
    let (name, partition) = match kind {
        FileKind::Full => (names::raw_full(cfg, t), ""),
        FileKind::Cdc => (
            names::raw_cdc(cfg, t),
            ", NULLIF(regexp_extract(filename, '/([0-9]{8})-[0-9]+[.]parquet$', 1), '') AS partition_0",
        ),
    };
    if raw.has_files(cfg, t, kind) {
        format!(
            "CREATE OR REPLACE VIEW {name} AS SELECT *, filename AS \"$path\"{partition} FROM read_parquet({}, \
             filename = true, union_by_name = true);\n",
            d.literal(&raw.glob(cfg, t, kind))
        )
    } else {
        format!("DROP VIEW IF EXISTS {name};\n")
    }
}

#[async_trait]
impl Warehouse for DuckDbWarehouse {
    fn dialect(&self) -> Dialect {
        Dialect::DuckDb
    }
    fn poll_schedule(&self) -> cdc_core::ports::PollSchedule {
        cdc_core::ports::PollSchedule::IN_PROCESS
    }

    async fn submit(&self, batch: StatementBatch) -> Result<StatementId, PipelineError> {
        self.spawn(move |conn| run_batch(conn, &batch))
    }

    /// Runs on its own connection without BEGIN: DuckDB commits it by itself.
    async fn submit_single(&self, statement: SingleStatement) -> Result<StatementId, PipelineError> {
        self.spawn(move |conn| query(conn, &statement.sql).map_err(|e| classify(&statement.label, 0, &e.to_string())))
    }

    async fn status(&self, id: &StatementId) -> Result<StatementState, PipelineError> {
        let ended = self.ended.notified();
        tokio::pin!(ended);
        // Registered before the check, so an end between check and wait is not missed.
        ended.as_mut().enable();
        if let StatementState::Running = self.state_now(id)? {
            let _ = tokio::time::timeout(LONG_POLL, ended).await;
        }
        self.state_now(id)
    }

    async fn result(&self, id: &StatementId) -> Result<ResultSet, PipelineError> {
        match self.statements.lock().expect("statements lock").get(&id.0) {
            Some(Entry::Finished(rs)) => Ok(rs.clone()),
            Some(_) => Err(PipelineError::config(format!("statement {id} has not finished"))),
            None => Err(PipelineError::config(format!("unknown statement id {id}"))),
        }
    }
}

impl DuckDbWarehouse {
    /// Runs `work` on a new connection on a blocking thread; its outcome is
    /// what `status` and `result` report for the returned id.
    fn spawn(
        &self,
        work: impl FnOnce(&Connection) -> Result<ResultSet, PipelineError> + Send + 'static,
    ) -> Result<StatementId, PipelineError> {
        let conn = self.connection()?;
        let id = format!("duckdb-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        self.statements.lock().expect("statements lock").insert(id.clone(), Entry::Running);
        let statements = Arc::clone(&self.statements);
        let ended = Arc::clone(&self.ended);
        let key = id.clone();
        let one_at_a_time = Arc::clone(&self.one_at_a_time);
        tokio::task::spawn_blocking(move || {
            let turn = one_at_a_time.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let outcome = work(&conn);
            drop(turn);
            let entry = match outcome {
                Ok(rs) => Entry::Finished(rs),
                Err(e) => Entry::Failed(e),
            };
            statements.lock().expect("statements lock").insert(key, entry);
            ended.notify_waiters();
        });
        Ok(StatementId(id))
    }

    fn state_now(&self, id: &StatementId) -> Result<StatementState, PipelineError> {
        match self.statements.lock().expect("statements lock").get(&id.0) {
            None => Err(PipelineError::config(format!("unknown statement id {id}"))),
            Some(Entry::Running) => Ok(StatementState::Running),
            Some(Entry::Finished(_)) => Ok(StatementState::Finished),
            Some(Entry::Failed(e)) => Ok(StatementState::Failed(e.clone())),
        }
    }
}

/// BEGIN; every statement; COMMIT. Any error rolls the whole batch back.
fn run_batch(conn: &Connection, batch: &StatementBatch) -> Result<ResultSet, PipelineError> {
    let fail = |index: usize, e: duckdb::Error| classify(&batch.label, index, &e.to_string());
    conn.execute_batch("BEGIN TRANSACTION").map_err(|e| fail(0, e))?;
    let result: Result<ResultSet, PipelineError> = (|| {
        let mut last = ResultSet::default();
        for (i, sql) in batch.statements.iter().enumerate() {
            if i + 1 == batch.statements.len() {
                last = query(conn, sql).map_err(|e| fail(i, e))?;
            } else {
                conn.execute_batch(sql).map_err(|e| fail(i, e))?;
            }
        }
        conn.execute_batch("COMMIT").map_err(|e| fail(batch.statements.len(), e))?;
        Ok(last)
    })();
    if let Err(e) = &result {
        // The transaction may already be aborted; a failing ROLLBACK changes nothing.
        let _ = conn.execute_batch("ROLLBACK");
        if duckdb_errors::reads_bad_bytes(&e.message) {
            return Err(name_unreadable_file(conn, batch, e));
        }
    }
    result
}

/// A load that failed on a Parquet file's bytes (a corrupt page names no
/// file in DuckDB's message): the file it could not read, named, as a
/// DataError; running it again would fail the same way.
fn name_unreadable_file(conn: &Connection, batch: &StatementBatch, e: &PipelineError) -> PipelineError {
    let found = batch.statements.iter().find_map(|sql| duckdb_errors::unreadable_file(conn, sql));
    match found {
        Some((file, error)) => PipelineError::data(format!(
            "{}: file {file} is not readable Parquet (truncated or corrupt?): {error}",
            batch.label
        )),
        None => e.clone(),
    }
}

fn query(conn: &Connection, sql: &str) -> Result<ResultSet, duckdb::Error> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let mut out = ResultSet::default();
    while let Some(row) = rows.next()? {
        let n = row.as_ref().column_count();
        out.rows.push((0..n).map(|i| row.get_ref(i).map(cell)).collect::<Result<_, _>>()?);
    }
    drop(rows);
    out.columns = stmt.column_names();
    Ok(out)
}
