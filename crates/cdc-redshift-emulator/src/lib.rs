//! A Redshift Data API emulator for tests: the real AWS SDK client (and the
//! pipeline's `RedshiftDataWarehouse`) talks to it over HTTP on a loopback
//! port, through `endpoint_url` or `AWS_ENDPOINT_URL`, and DuckDB runs the
//! SQL. Test support only; the Lambdas never use it.
//!
//! # Protocol
//!
//! `POST /`, `X-Amz-Target: RedshiftData.<Operation>`, JSON bodies
//! (`application/x-amz-json-1.1`), errors as `{"__type": …, "Message": …}`
//! with HTTP 400, as the service answers. Signatures are not checked.
//! Operations: ExecuteStatement, BatchExecuteStatement, DescribeStatement,
//! GetStatementResult (pages of [`EmulatorConfig::page_rows`] rows with
//! `NextToken`), CancelStatement, ListStatements. The service's checks that
//! matter to a client are made: 100 KB per SQL text, 1 to 40 statements per
//! batch, exactly one of ClusterIdentifier and WorkgroupName, statement ids
//! in UUID form (`<id>:<n>` for a sub-statement), unknown ids answered
//! ResourceNotFoundException, `ClientToken` idempotency (the same token and
//! request within 8 hours returns the first statement's id and runs nothing;
//! the same token with another request is a ValidationException).
//!
//! # Execution
//!
//! Statements run asynchronously: a submit answers at once; the statement
//! then runs on a blocking thread with its own DuckDB connection (its
//! session: temporary tables and `pg_last_unload_count()` are its own), a
//! batch as one transaction, like the local DuckDB warehouse. DescribeStatement
//! reports SUBMITTED, PICKED, STARTED, then FINISHED, FAILED or ABORTED, per
//! batch and per sub-statement. DuckDB's errors are worded as Redshift words
//! them (`relation "x" does not exist`; a write-write conflict between
//! concurrent transactions becomes `1023 … Serializable isolation violation`),
//! the DuckDB text following on a `DETAIL:` line.
//!
//! # SQL translation
//!
//! Our Redshift SQL (every golden file of `cdc-core`: setup, loads, the
//! applied-files queries, derived refresh, unload, the unload record) runs
//! through a small token-level translation ([`translate`]) and a few
//! statements the emulator carries out itself ([`statement`]):
//! - string literals with Redshift's backslash escapes; comments dropped;
//! - `GETDATE()`, `SYSDATE`, `DATEADD`, `DATEDIFF`, `TO_CHAR`, `TO_DATE`,
//!   `TO_TIMESTAMP` (datetime formats translated element by element), `NVL`,
//!   `pg_last_unload_count()`, `VARCHAR(MAX)`;
//! - `DISTSTYLE`, `DISTKEY`, `SORTKEY`, `ENCODE`, `BACKUP` dropped from CREATE TABLE;
//! - `CREATE [OR REPLACE] PROCEDURE` checked and recorded (schema, name,
//!   parameters, body); `CALL` runs the PL/pgSQL body with a small
//!   interpreter ([`rules::plpgsql`]);
//! - `CREATE MATERIALIZED VIEW x AS q` → a table filled by `q`, with `q`
//!   remembered; `REFRESH MATERIALIZED VIEW x` recomputes it; `DROP
//!   MATERIALIZED VIEW [IF EXISTS] x` drops both;
//! - `CREATE EXTERNAL SCHEMA s FROM DATA CATALOG DATABASE 'db' …` maps `s`
//!   to a Glue database; `s.t` then reads the Glue table through S3
//!   ([`spectrum`]: `"$path"` and partition columns included);
//! - `UNLOAD ('select') TO 's3://…' FORMAT AS PARQUET … [PARALLEL OFF]
//!   [MAXFILESIZE n MB] [CLEANPATH|ALLOWOVERWRITE]` writes through the S3 API
//!   ([`unload`]);
//! - the rules where Redshift is stricter than DuckDB ([`rules`], each with
//!   its documentation sentence and link): character lengths in bytes
//!   (CHECK constraints), truncating casts to sized character types, no
//!   BOOLEAN-to-text cast, trailing blanks ignored in comparisons,
//!   statements refused inside a transaction block (BatchExecuteStatement in
//!   either `ExecutionMode`; TRUNCATE commits; ExecuteStatement runs outside
//!   a block, where `VACUUM` and `ALTER TABLE … ALTER COLUMN … TYPE
//!   VARCHAR(n)` work), materialized view limitations, Parquet MAXFILESIZE
//!   rounding, Spectrum's `surplus_char_handling`;
//! - everything else goes to DuckDB as it is, on a session where NULLs sort
//!   as the largest value and `/` on integers is integer division, as on
//!   Redshift, and unqualified names live in `public`.
//!
//! Metadata (procedures, materialized views, external schemas) lives in the
//! DuckDB schema `__redshift_emulator`, written in the batch's transaction,
//! so a failed setup leaves none behind.
//!
//! # What is not emulated
//!
//! - Redshift's planner, distribution and sort keys (dropped), compression
//!   encodings, WLM, and Redshift's table-level locking: concurrent batches
//!   conflict only when DuckDB's optimistic concurrency control says so
//!   (then as error 1023), which is rarer than on Redshift;
//! - PL/pgSQL beyond the subset our procedures use (DECLARE, BEGIN … END,
//!   `EXECUTE … INTO`, `:=`, IF/ELSE, RAISE, NULL): loops, cursors,
//!   exception blocks, OUT parameters and NONATOMIC mode are refused at
//!   CREATE PROCEDURE, since nothing of ours needs them;
//! - a value whose surplus over its VARCHAR(n)/CHAR(n) width is all blanks is
//!   accepted but stored untruncated (Redshift truncates it): a CHECK
//!   constraint can refuse a value, not change it; CHAR blank padding (DuckDB
//!   has no fixed-length type) and the multibyte error's exact INSERT wording
//!   (undocumented; the COPY wording is used); the width of a column made
//!   by CREATE TABLE AS (DuckDB keeps no length for it, so later writes into
//!   it are not checked);
//! - in an AUTO_COMMIT batch, a failed statement ends the batch (earlier ones
//!   stay committed); the docs' "a failure of one statement does not affect
//!   the others" does not say whether the later ones still run;
//! - trailing blanks in GROUP BY, DISTINCT, and comparisons of expressions
//!   other than column references and literals (the docs are silent on
//!   grouping; rewriting every expression would need a parser, not tokens);
//! - Redshift-only functions and types other than the ones listed above
//!   (they fail as unknown functions);
//! - identifiers are case-insensitive as in Redshift, but case-sensitive
//!   identifier mode (`enable_case_sensitive_identifier`) is not;
//! - COPY, CREATE/DROP TABLESPACE, REINDEX and the other statements of
//!   SVL_MULTI_STATEMENT_VIOLATIONS the emulator does not run at all (they
//!   fail as unsupported, in or out of a batch);
//! - transaction control (BEGIN/COMMIT/ROLLBACK) inside a batch, named
//!   parameters, sessions (`SessionId`, `SessionKeepAliveSeconds`), result
//!   formats other than JSON (GetStatementResultV2), DescribeTable,
//!   ListDatabases/Schemas/Tables, EventBridge events (`WithEvent`);
//! - authentication: cluster, workgroup, database, user and secret are echoed
//!   back, never checked, and any database name reaches the same DuckDB
//!   database;
//! - Spectrum's `"$size"` and other pseudo-columns, non-Parquet external
//!   data, complex Glue types, external tables created with SQL;
//! - UNLOAD formats other than Parquet, PARTITION BY, MANIFEST, encryption;
//!   one slice writes all parts;
//! - cancelling a statement takes effect between sub-statements, or
//!   interrupts the DuckDB query running at that moment.
//!
//! # Test controls
//!
//! Through [`Emulator`] or over HTTP: faults ([`faults`]) — the next
//! statement matching a pattern FAILED with a given error text, ABORTED, or
//! slow (STARTED until released or for N DescribeStatement calls), and the
//! next K calls throttled; and a call counter per operation. HTTP controls:
//! `POST /__emulator/faults` (a [`server::FaultRequest`] as JSON, e.g.
//! `{"type":"statement","pattern":"INSERT INTO","fault":{"kind":"fail","error":"ERROR: 1023 …"}}`
//! or `{"type":"throttle","operation":"BatchExecuteStatement","error":"ThrottlingException","calls":2}`),
//! `POST /__emulator/faults/clear`, `POST /__emulator/release`,
//! `GET /__emulator/calls`, `POST /__emulator/calls/reset`.

pub mod api;
pub mod catalog;
mod engine;
pub mod errors;
pub mod faults;
pub mod registry;
pub mod rules;
pub mod server;
pub mod spectrum;
mod state;
pub mod statement;
pub mod translate;
pub mod unload;
pub mod values;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use duckdb::Connection;

pub use crate::faults::{CallCounts, SlowUntil, StatementFault, Throttle};
use crate::registry::Registry;
use crate::spectrum::{Aws, Spectrum};
use crate::state::Shared;

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("Redshift emulator: {0}")]
    Io(#[from] std::io::Error),
    #[error("Redshift emulator: DuckDB: {0}")]
    DuckDb(#[from] duckdb::Error),
}

/// How to start an [`Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The DuckDB database file; in memory when `None`.
    pub database: Option<PathBuf>,
    /// Where S3 and Glue are (moto in the tests): needed for external tables
    /// and UNLOAD, which fail saying so without it.
    pub aws: Option<aws_config::SdkConfig>,
    /// Rows per GetStatementResult page.
    pub page_rows: usize,
    /// Address to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self { database: None, aws: None, page_rows: 1000, bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)) }
    }
}

/// A running emulator; stops when dropped.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Emulator {
    /// Starts the server on its own thread and runtime (so it works from any
    /// test, async or not) and returns once it listens.
    pub fn start(config: EmulatorConfig) -> Result<Self, EmulatorError> {
        let conn = match &config.database {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        engine::init_database(&conn)?;
        let spectrum = Spectrum::new(config.aws.as_ref().map(Aws::new))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("redshift-emulator")
            .enable_all()
            .build()?;
        // Bound here, made a Tokio listener on the server thread: `start`
        // may be called from inside another runtime, where `block_on` panics.
        let listener = std::net::TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            root: Mutex::new(conn),
            registry: Mutex::new(Registry::default()),
            faults: Default::default(),
            calls: Default::default(),
            spectrum,
            locks: Default::default(),
            runtime: runtime.handle().clone(),
            page_rows: config.page_rows.max(1),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("redshift-emulator-server".into()).spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => server::serve(listener, serving, rx).await,
                    Err(e) => tracing::error!(error = %e, "the emulator cannot listen"),
                }
            })
        })?;
        tracing::info!(%addr, "Redshift Data API emulator listening");
        Ok(Self { shared, addr, shutdown: Some(tx), thread: Some(thread) })
    }

    /// `http://127.0.0.1:<port>`, for `endpoint_url` or `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Makes the next statement (or the next `times`) whose SQL contains
    /// `pattern` meet `fault`.
    pub fn inject(&self, pattern: impl Into<String>, fault: StatementFault, times: u32) {
        self.shared.faults.add_statement_fault(pattern, fault, times);
    }

    /// Answers the next `calls` calls of `operation` (any operation when
    /// `None`) with `throttle`.
    pub fn throttle(&self, operation: Option<&str>, throttle: Throttle, calls: u32) {
        self.shared.faults.add_throttle(operation, throttle, calls);
    }

    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Lets every slowed statement go on.
    pub fn release_slow(&self) {
        release_held(&self.shared);
    }

    /// Data API calls received so far, per operation.
    pub fn calls(&self) -> CallCounts {
        self.shared.calls.snapshot()
    }

    pub fn reset_calls(&self) {
        self.shared.calls.reset();
    }

    /// A connection to the emulator's DuckDB database, for a test to look at
    /// what the statements did.
    pub fn connection(&self) -> Result<Connection, EmulatorError> {
        Ok(self.shared.root.lock().expect("root connection lock").try_clone()?)
    }
}

pub(crate) fn release_held(shared: &Shared) {
    for st in shared.registry.lock().expect("registry lock").all() {
        st.control.release();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Statements still running or held would keep the runtime alive.
        for st in self.shared.registry.lock().expect("registry lock").all() {
            if !st.status.is_done() {
                st.control.cancel();
            }
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
