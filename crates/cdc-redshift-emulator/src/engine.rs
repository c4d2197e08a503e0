//! Runs one submitted statement (a batch or a single SQL) on its own DuckDB
//! connection, as one transaction, on a blocking thread, and records every
//! state change for DescribeStatement.
//!
//! Order of events: STARTED; a slowed statement waits to be released; the
//! statements are sorted into steps (`crate::statement`); the external
//! tables they read are refreshed from Glue and S3 (outside the
//! transaction); BEGIN; each sub-statement in turn (STARTED, then FINISHED
//! with its rows, or FAILED, which rolls back what is not committed and
//! leaves the rest ABORTED); COMMIT. A batch in AUTO_COMMIT mode commits
//! after each sub-statement; TRUNCATE commits in any mode; statements
//! Redshift refuses inside a transaction block fail in any batch
//! ([`crate::rules::transaction_block`]). A cancel is seen before each
//! sub-statement and interrupts a running DuckDB query.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime};

use duckdb::Connection;
use duckdb::arrow::datatypes::DataType;
use sqlparser::tokenizer::Token;

use crate::errors::{is_interrupt, redshift_text};
use crate::faults::StatementFault;
use crate::registry::{Control, Statement, Status};
use crate::rules::plpgsql::{self, Evaluate, Variable};
use crate::rules::transaction_block::{self, Restricted};
use crate::state::Shared;
use crate::statement::{QualifiedName, Step, parse};
use crate::translate::{Session, keyword, significant, to_duckdb_on, tokenize, translate_tokens};
use crate::values::{Field, QueryResult, column_meta, field};

/// Where the emulator keeps what DuckDB has no object for.
pub const META_SCHEMA: &str = "__redshift_emulator";

/// Creates the emulator's own tables and the `public` schema.
pub fn init_database(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(&format!(
        "CREATE SCHEMA IF NOT EXISTS public;
         CREATE SCHEMA IF NOT EXISTS {META_SCHEMA};
         CREATE TABLE IF NOT EXISTS {META_SCHEMA}.procedures (schema_name VARCHAR, name VARCHAR, body VARCHAR);
         CREATE TABLE IF NOT EXISTS {META_SCHEMA}.external_schemas (schema_name VARCHAR, glue_database VARCHAR);
         CREATE TABLE IF NOT EXISTS {META_SCHEMA}.materialized_views (schema_name VARCHAR, name VARCHAR, query VARCHAR);"
    ))?;
    crate::rules::table_keys::init(conn)?;
    crate::rules::install_macros(conn)
}

/// How a submitted statement runs: an ExecuteStatement outside a
/// transaction block (auto-commit), or a BatchExecuteStatement in one of its
/// `ExecutionMode`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    Single,
    #[default]
    Transaction,
    AutoCommit,
}

/// A new session: its own connection, with Redshift's defaults where
/// DuckDB's differ (NULLs sort as the largest value; integer `/` is integer
/// division; unqualified names live in `public`).
pub fn open_session(shared: &Shared) -> duckdb::Result<Connection> {
    let conn = shared.root.lock().expect("root connection lock").try_clone()?;
    conn.execute_batch(
        "SET default_null_order = 'nulls_last_on_asc_first_on_desc';
         SET integer_division = true;
         SET schema = 'public';",
    )?;
    Ok(conn)
}

static NEXT_QUERY_ID: AtomicI64 = AtomicI64::new(1000);

enum Outcome {
    Rows(QueryResult),
    Affected(i64),
}

/// [`run`], with a panic (an emulator bug) reported as the statement's
/// failure rather than leaving it STARTED forever.
pub fn run_guarded(
    shared: &Shared,
    id: &str,
    sqls: &[String],
    mode: Mode,
    fault: Option<(usize, StatementFault)>,
    control: &Control,
) {
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(shared, id, sqls, mode, fault, control)));
    if let Err(panic) = outcome {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        fail(shared, id, 0, format!("ERROR: internal error of the Redshift emulator: {what}"));
    }
}

/// Carries out statement `id`; see the module doc.
pub fn run(
    shared: &Shared,
    id: &str,
    sqls: &[String],
    mode: Mode,
    fault: Option<(usize, StatementFault)>,
    control: &Control,
) {
    set_status(shared, id, Status::Picked);
    set_status(shared, id, Status::Started);
    control.wait_while_held();
    if control.is_cancelled() {
        return abort(shared, id, 0, None);
    }
    if let Some((_, StatementFault::Abort)) = &fault {
        return abort(shared, id, 0, None);
    }
    let mut steps = Vec::with_capacity(sqls.len());
    let mut restrictions = Vec::with_capacity(sqls.len());
    for (k, sql) in sqls.iter().enumerate() {
        let restricted = if mode == Mode::Single {
            None
        } else {
            tokenize(sql).ok().and_then(|t| transaction_block::restricted(&significant(&t)))
        };
        let several_columns = tokenize(sql).ok().and_then(|t| crate::rules::add_column::refused(&significant(&t)));
        if let Some(Restricted::Always(statement)) = &restricted {
            // Refused when its turn comes, whether or not the emulator could run it.
            steps.push(Step::Refused(transaction_block::error(statement)));
        } else if let Some(error) = several_columns {
            steps.push(Step::Refused(error));
        } else {
            match parse(sql) {
                Ok(step) => steps.push(step),
                Err(e) => return fail(shared, id, k, e.0),
            }
        }
        restrictions.push(restricted);
    }
    let conn = match open_session(shared) {
        Ok(c) => c,
        Err(e) => return fail(shared, id, 0, redshift_text(&e.to_string())),
    };
    // A statement refused because it names an external table is refused
    // before the external tables are read (it reads none).
    for (k, restricted) in restrictions.iter().enumerate() {
        if let Some(Restricted::IfExternal { statement, schema }) = restricted {
            let in_batch =
                steps.iter().any(|s| matches!(s, Step::CreateExternalSchema { schema: x, .. } if x == schema));
            match is_external_schema(&conn, schema) {
                Ok(known) if known || in_batch => steps[k] = Step::Refused(transaction_block::error(statement)),
                Ok(_) => {}
                Err(e) => return fail(shared, id, k, redshift_text(&e.to_string())),
            }
        }
    }
    if let Err((k, error)) = refresh_external_tables(shared, &conn, &steps) {
        return fail(shared, id, k, error);
    }
    control.set_interrupt(Some(conn.interrupt_handle()));
    let failed_at = match fault {
        Some((k, StatementFault::Fail { error })) => Some((k, error)),
        _ => None,
    };
    let outcome = in_transaction(shared, id, &conn, &steps, mode, failed_at, control);
    shared.locks.release_all(id);
    control.set_interrupt(None);
    match outcome {
        Ok(()) => set_status(shared, id, Status::Finished),
        Err((k, _)) if control.is_cancelled() => abort(shared, id, k, None),
        Err((k, error)) => fail(shared, id, k, error),
    }
}

fn in_transaction(
    shared: &Shared,
    id: &str,
    conn: &Connection,
    steps: &[Step],
    mode: Mode,
    failed_at: Option<(usize, String)>,
    control: &Control,
) -> Result<(), (usize, String)> {
    let at = |k: usize| move |e: duckdb::Error| (k, redshift_text(&e.to_string()));
    // LOCKs that open the batch wait before the transaction, and so its
    // snapshot, begins (rule 13).
    for (k, step) in steps.iter().enumerate() {
        let Step::Lock(tables) = step else { break };
        shared.locks.acquire(id, tables, &|| control.is_cancelled()).map_err(|e| (k, e))?;
    }
    conn.execute_batch("BEGIN TRANSACTION").map_err(at(0))?;
    let mut session = Session::default();
    let result = (|| {
        for (k, step) in steps.iter().enumerate() {
            if control.is_cancelled() {
                return Err((k, "ERROR: Query cancelled on user's request".to_string()));
            }
            sub_started(shared, id, k);
            let started = Instant::now();
            if let Some((_, error)) = failed_at.as_ref().filter(|(f, _)| *f == k) {
                return Err((k, error.clone()));
            }
            let running = Running { id, control };
            let outcome = execute(shared, &running, conn, step, mode, &mut session).map_err(|e| (k, e))?;
            sub_finished(shared, id, k, outcome, started);
            // TRUNCATE commits the transaction it runs in (r_TRUNCATE.html);
            // AUTO_COMMIT commits each statement.
            let truncate = matches!(step, Step::Sql(sql) if first_keyword(sql).as_deref() == Some("TRUNCATE"));
            if (truncate || mode == Mode::AutoCommit) && k + 1 < steps.len() {
                conn.execute_batch("COMMIT; BEGIN TRANSACTION").map_err(at(k))?;
            }
        }
        conn.execute_batch("COMMIT").map_err(at(steps.len().saturating_sub(1)))
    })();
    if result.is_err() {
        // The transaction may already be aborted; a failing ROLLBACK changes nothing.
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

fn first_keyword(sql: &str) -> Option<String> {
    tokenize(sql).ok().and_then(|t| significant(&t).first().and_then(|t| keyword(t)))
}

fn is_external_schema(conn: &Connection, schema: &str) -> duckdb::Result<bool> {
    conn.query_row(
        &format!("SELECT count(*) > 0 FROM {META_SCHEMA}.external_schemas WHERE schema_name = ?"),
        [schema],
        |r| r.get(0),
    )
}

/// The statement a step belongs to, and its cancel flag.
struct Running<'a> {
    id: &'a str,
    control: &'a Control,
}

fn execute(
    shared: &Shared,
    running: &Running<'_>,
    conn: &Connection,
    step: &Step,
    mode: Mode,
    session: &mut Session,
) -> Result<Outcome, String> {
    let duck = |e: duckdb::Error| {
        let text = e.to_string();
        if is_interrupt(&text) { "ERROR: Query cancelled on user's request".to_string() } else { redshift_text(&text) }
    };
    match step {
        Step::Sql(sql) => {
            let keys = crate::rules::table_keys::classify(sql);
            crate::rules::table_keys::check(conn, keys.as_ref())?;
            let duck_sql = to_duckdb_on(conn, sql, *session).map_err(|e| e.0)?;
            let outcome = run_sql(conn, &duck_sql).map_err(duck)?;
            crate::rules::table_keys::record(conn, keys.as_ref()).map_err(duck)?;
            Ok(outcome)
        }
        Step::Refused(error) => Err(error.clone()),
        Step::Lock(tables) => {
            for t in tables {
                crate::rules::table_locks::must_exist(conn, t)?;
            }
            // Already held when it opened the batch; else taken here.
            shared.locks.acquire(running.id, tables, &|| running.control.is_cancelled())?;
            Ok(Outcome::Affected(0))
        }
        // Only reached outside a transaction block (Mode::Single): a batch
        // refuses both before running them.
        Step::Vacuum => Ok(Outcome::Affected(0)),
        Step::AlterColumnType(a) => {
            debug_assert_eq!(mode, Mode::Single);
            transaction_block::alter_column_type_run(conn, a).map(|()| Outcome::Affected(0))
        }
        Step::CreateProcedure { name, params, body } => {
            schema_must_exist(conn, &name.schema)?;
            plpgsql::parse(body, params).map_err(|e| e.to_string())?;
            let stored = serde_json::json!({ "params": params, "body": body }).to_string();
            meta_replace(conn, "procedures", name, Some(&stored)).map_err(duck)?;
            Ok(Outcome::Affected(0))
        }
        Step::CreateExternalSchema { schema, glue_database, if_not_exists } => {
            let known: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM {META_SCHEMA}.external_schemas WHERE schema_name = ?"),
                    [schema],
                    |r| r.get(0),
                )
                .map_err(duck)?;
            if known > 0 {
                return if *if_not_exists {
                    Ok(Outcome::Affected(0))
                } else {
                    Err(format!("ERROR: Schema \"{schema}\" already exists"))
                };
            }
            conn.execute(&format!("INSERT INTO {META_SCHEMA}.external_schemas VALUES (?, ?)"), [schema, glue_database])
                .map_err(duck)?;
            conn.execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {}", crate::translate::duck_ident(schema)))
                .map_err(duck)?;
            Ok(Outcome::Affected(0))
        }
        Step::CreateMaterializedView { name, query } => {
            let external = |schema: &str| is_external_schema(conn, schema).unwrap_or(false);
            crate::rules::materialized_views::check(conn, query, &external)?;
            let columns = crate::catalog::ColumnTypes::load(conn, query).map_err(duck)?;
            let query = translate_tokens(query.clone(), *session, &columns).map_err(|e| e.0)?;
            conn.execute_batch(&format!("CREATE TABLE {} AS {query}", name.quoted())).map_err(duck)?;
            meta_replace(conn, "materialized_views", name, Some(&query)).map_err(duck)?;
            Ok(Outcome::Affected(0))
        }
        Step::RefreshMaterializedView { name } => {
            let query =
                materialized_view(conn, name).map_err(duck)?.ok_or_else(|| not_a_materialized_view(conn, name))?;
            conn.execute_batch(&format!("DELETE FROM {0}; INSERT INTO {0} {query}", name.quoted())).map_err(duck)?;
            Ok(Outcome::Affected(0))
        }
        Step::DropMaterializedView { name, if_exists } => {
            if materialized_view(conn, name).map_err(duck)?.is_none() {
                return if *if_exists {
                    Ok(Outcome::Affected(0))
                } else {
                    Err(format!("ERROR: materialized view \"{name}\" does not exist"))
                };
            }
            conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", name.quoted())).map_err(duck)?;
            meta_replace(conn, "materialized_views", name, None).map_err(duck)?;
            Ok(Outcome::Affected(0))
        }
        Step::Call { name, args } => call(conn, name, args, *session).map(|()| Outcome::Affected(0)),
        Step::Unload(spec) => {
            let rows = crate::unload::unload(conn, &shared.runtime, shared.spectrum.aws(), spec, *session)?;
            session.last_unload_count = Some(rows);
            Ok(Outcome::Affected(i64::try_from(rows).unwrap_or(i64::MAX)))
        }
    }
}

/// `CALL <schema>.<name>(args)`: the recorded PL/pgSQL body runs
/// ([`plpgsql`]) with the arguments bound to the parameters.
fn call(conn: &Connection, name: &QualifiedName, args: &[Option<String>], session: Session) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Stored {
        params: Vec<Variable>,
        body: String,
    }
    let mut stmt = conn
        .prepare(&format!("SELECT body FROM {META_SCHEMA}.procedures WHERE schema_name = ? AND name = ?"))
        .map_err(|e| redshift_text(&e.to_string()))?;
    let recorded: Option<String> = stmt
        .query([&name.schema, &name.name])
        .and_then(|mut rows| rows.next()?.map(|r| r.get(0)).transpose())
        .map_err(|e| redshift_text(&e.to_string()))?;
    let signature = vec!["character varying"; args.len()].join(", ");
    let missing = || format!("ERROR: procedure {name}({signature}) does not exist");
    let stored: Stored = serde_json::from_str(&recorded.ok_or_else(missing)?)
        .map_err(|_| format!("ERROR: procedure {name} was recorded by an older Redshift emulator: create it again"))?;
    if stored.params.len() != args.len() {
        return Err(missing());
    }
    let body = plpgsql::parse(&stored.body, &stored.params).map_err(|e| e.to_string())?;
    plpgsql::run(&body, &stored.params, args, &mut OnConnection { conn, session }).map_err(|e| e.to_string())
}

/// Evaluates a procedure's expressions and EXECUTE commands on the session.
struct OnConnection<'a> {
    conn: &'a Connection,
    session: Session,
}

impl Evaluate for OnConnection<'_> {
    fn first_value(&mut self, redshift_sql: &str) -> Result<Option<String>, String> {
        let sql = to_duckdb_on(self.conn, redshift_sql, self.session).map_err(|e| e.0)?;
        self.conn
            .prepare(&sql)
            .and_then(|mut stmt| {
                let mut rows = stmt.query([])?;
                match rows.next()? {
                    Some(row) => Ok(cell(row, 0)?.text()),
                    None => Ok(None),
                }
            })
            .map_err(|e| redshift_text(&e.to_string()))
    }
}

fn run_sql(conn: &Connection, sql: &str) -> duckdb::Result<Outcome> {
    if !returns_rows(sql) {
        return conn.execute(sql, []).map(|n| Outcome::Affected(i64::try_from(n).unwrap_or(i64::MAX)));
    }
    let mut stmt = conn.prepare(sql)?;
    let mut out = QueryResult::default();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let n = row.as_ref().column_count();
        out.rows.push((0..n).map(|i| cell(row, i)).collect::<Result<_, _>>()?);
    }
    drop(rows);
    out.columns = stmt.column_names().iter().enumerate().map(|(i, n)| column_meta(n, &stmt.column_type(i))).collect();
    Ok(Outcome::Rows(out))
}

/// A value of a row; a column typed NULL (`SELECT NULL`) is read without
/// asking duckdb-rs, which has no value type for it.
fn cell(row: &duckdb::Row<'_>, i: usize) -> duckdb::Result<Field> {
    if row.as_ref().column_type(i) == DataType::Null {
        return Ok(Field::Null);
    }
    row.get_ref(i).map(field)
}

/// Whether a DuckDB statement is a query with a result set.
fn returns_rows(sql: &str) -> bool {
    let first = tokenize(sql).ok().and_then(|t| significant(&t).first().and_then(|t| keyword(t)));
    matches!(
        first.as_deref(),
        Some("SELECT" | "WITH" | "VALUES" | "SHOW" | "DESCRIBE" | "EXPLAIN" | "TABLE" | "FROM" | "SUMMARIZE")
    )
}

fn schema_must_exist(conn: &Connection, schema: &str) -> Result<(), String> {
    let n: i64 = conn
        .query_row("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = ?", [schema], |r| r.get(0))
        .map_err(|e| redshift_text(&e.to_string()))?;
    if n == 0 { Err(format!("ERROR: schema \"{schema}\" does not exist")) } else { Ok(()) }
}

/// Replaces (or, with `None`, removes) an object's row in a metadata table.
fn meta_replace(conn: &Connection, table: &str, name: &QualifiedName, value: Option<&str>) -> duckdb::Result<()> {
    conn.execute(
        &format!("DELETE FROM {META_SCHEMA}.{table} WHERE schema_name = ? AND name = ?"),
        [&name.schema, &name.name],
    )?;
    if let Some(v) = value {
        conn.execute(
            &format!("INSERT INTO {META_SCHEMA}.{table} VALUES (?, ?, ?)"),
            [name.schema.as_str(), name.name.as_str(), v],
        )?;
    }
    Ok(())
}

fn materialized_view(conn: &Connection, name: &QualifiedName) -> duckdb::Result<Option<String>> {
    let mut stmt = conn
        .prepare(&format!("SELECT query FROM {META_SCHEMA}.materialized_views WHERE schema_name = ? AND name = ?"))?;
    let mut rows = stmt.query([&name.schema, &name.name])?;
    rows.next()?.map(|r| r.get(0)).transpose()
}

fn not_a_materialized_view(conn: &Connection, name: &QualifiedName) -> String {
    let exists: i64 = conn
        .query_row(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [&name.schema, &name.name],
            |r| r.get(0),
        )
        .unwrap_or(0);
    if exists > 0 {
        format!("ERROR: \"{name}\" is not a materialized view")
    } else {
        format!("ERROR: relation \"{name}\" does not exist")
    }
}

/// Refreshes the views of every external table the steps read; on failure,
/// the index of the first step reading the table, and the error.
fn refresh_external_tables(shared: &Shared, conn: &Connection, steps: &[Step]) -> Result<(), (usize, String)> {
    let mut externals: HashMap<String, String> = HashMap::new();
    let known = conn
        .prepare(&format!("SELECT schema_name, glue_database FROM {META_SCHEMA}.external_schemas"))
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<(String, String)>, _>>()
        })
        .map_err(|e| (0, redshift_text(&e.to_string())))?;
    externals.extend(known);
    for step in steps {
        if let Step::CreateExternalSchema { schema, glue_database, .. } = step {
            externals.entry(schema.clone()).or_insert_with(|| glue_database.clone());
        }
    }
    if externals.is_empty() {
        return Ok(());
    }
    let mut done = BTreeSet::new();
    for (k, step) in steps.iter().enumerate() {
        for (schema, table) in step_relations(conn, step) {
            let Some(glue_db) = externals.get(&schema) else { continue };
            if !done.insert((schema.clone(), table.clone())) {
                continue;
            }
            let refresh_conn = shared
                .root
                .lock()
                .expect("root connection lock")
                .try_clone()
                .map_err(|e| (k, redshift_text(&e.to_string())))?;
            shared.spectrum.refresh(&shared.runtime, &refresh_conn, &schema, glue_db, &table).map_err(|e| (k, e))?;
        }
    }
    Ok(())
}

/// The `schema.table` names a step reads or writes.
fn step_relations(conn: &Connection, step: &Step) -> Vec<(String, String)> {
    let from_text = |sql: &str| tokenize(sql).map(|t| relations(&t)).unwrap_or_default();
    match step {
        Step::Sql(sql) => from_text(sql),
        Step::CreateMaterializedView { query, .. } => relations(query),
        Step::RefreshMaterializedView { name } => {
            materialized_view(conn, name).ok().flatten().map(|q| from_text(&q)).unwrap_or_default()
        }
        // A procedure's string arguments may be queries it runs.
        Step::Call { args, .. } => args.iter().flatten().flat_map(|q| from_text(q)).collect(),
        Step::Unload(spec) => from_text(&spec.query),
        _ => Vec::new(),
    }
}

/// Every `a.b` that is not part of `x.a.b` or `a.b.c` (those are columns).
pub fn relations(tokens: &[Token]) -> Vec<(String, String)> {
    let sig = significant(tokens);
    let mut out = Vec::new();
    for i in 0..sig.len().saturating_sub(2) {
        let (Token::Word(a), Token::Period, Token::Word(b)) = (sig[i], sig[i + 1], sig[i + 2]) else { continue };
        let preceded = i > 0 && sig[i - 1] == &Token::Period;
        let followed = sig.get(i + 3) == Some(&&Token::Period);
        if !preceded && !followed {
            out.push((a.value.to_lowercase(), b.value.to_lowercase()));
        }
    }
    out
}

// --- state changes, recorded for DescribeStatement -------------------------

fn update(shared: &Shared, id: &str, f: impl FnOnce(&mut Statement)) {
    if let Some(st) = shared.registry.lock().expect("registry lock").get_mut(id) {
        f(st);
        st.updated_at = SystemTime::now();
    }
}

fn set_status(shared: &Shared, id: &str, status: Status) {
    update(shared, id, |st| st.status = status);
}

fn sub_started(shared: &Shared, id: &str, k: usize) {
    update(shared, id, |st| {
        if let Some(sub) = st.subs.get_mut(k) {
            sub.status = Status::Started;
            sub.updated_at = SystemTime::now();
            sub.query_id = NEXT_QUERY_ID.fetch_add(1, Ordering::Relaxed);
        }
    });
}

fn sub_finished(shared: &Shared, id: &str, k: usize, outcome: Outcome, started: Instant) {
    update(shared, id, |st| {
        if let Some(sub) = st.subs.get_mut(k) {
            sub.status = Status::Finished;
            sub.updated_at = SystemTime::now();
            sub.duration = started.elapsed();
            match outcome {
                Outcome::Rows(rs) => {
                    sub.result_rows = rs.rows.len() as i64;
                    sub.result = Some(std::sync::Arc::new(rs));
                }
                Outcome::Affected(n) => sub.result_rows = n,
            }
        }
    });
}

/// Sub-statement `k` failed: the statement is FAILED with its error, the
/// sub-statements after it never ran.
fn fail(shared: &Shared, id: &str, k: usize, error: String) {
    tracing::debug!(statement = id, sub_statement = k + 1, %error, "statement failed");
    update(shared, id, |st| {
        for (i, sub) in st.subs.iter_mut().enumerate().skip(k) {
            sub.status = if i == k { Status::Failed } else { Status::Aborted };
            sub.error = (i == k).then(|| error.clone());
            sub.updated_at = SystemTime::now();
        }
        st.status = Status::Failed;
        st.error = Some(error);
    });
}

fn abort(shared: &Shared, id: &str, from: usize, error: Option<String>) {
    update(shared, id, |st| {
        for sub in st.subs.iter_mut().skip(from) {
            sub.status = Status::Aborted;
            sub.updated_at = SystemTime::now();
        }
        st.status = Status::Aborted;
        st.error = error;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_relations_are_found_and_columns_are_not() {
        let t = tokenize("SELECT a.b, x.y.z FROM \"cdc_database\".\"Raw_T\" r JOIN s.t ON r.c = t.d.e").unwrap();
        assert_eq!(
            relations(&t),
            vec![
                ("a".into(), "b".into()),
                ("cdc_database".into(), "raw_t".into()),
                ("s".into(), "t".into()),
                ("r".into(), "c".into()),
            ]
        );
    }
}
