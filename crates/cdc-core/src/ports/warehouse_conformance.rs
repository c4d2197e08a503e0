//! The conformance suite every `Warehouse` adapter must pass (compiled with
//! the `conformance` feature, for adapters' tests only): the port's contract
//! as the steps rely on it, in SQL both dialects read alike. Each case uses
//! its own tables under `schema`, so cases share a warehouse.

use std::time::Duration;

use super::warehouse::{Cell, ResultSet, SingleStatement, StatementId, StatementState, Warehouse};
use crate::error::PipelineError;
use crate::sql::StatementBatch;

const POLL: Duration = Duration::from_millis(10);

/// Every case, in `schema` (created if absent).
pub async fn run_all(wh: &dyn Warehouse, schema: &str) {
    must_run(wh, "schema", &[&format!("CREATE SCHEMA IF NOT EXISTS {schema}")]).await;
    rows_of_the_last_statement_come_back_typed(wh, schema).await;
    a_large_result_comes_back_whole(wh).await;
    a_batch_is_one_transaction(wh, schema).await;
    an_empty_result_keeps_its_columns(wh, schema).await;
    batches_run_side_by_side(wh, schema).await;
    concurrent_batches_are_serializable(wh, schema).await;
    a_single_statement_commits_on_its_own(wh, schema).await;
    an_unknown_statement_is_an_error(wh).await;
}

fn batch(label: &str, statements: &[&str]) -> StatementBatch {
    StatementBatch { label: label.into(), statements: statements.iter().map(|s| s.to_string()).collect() }
}

/// Submits and polls to the end; `Ok` with the rows once finished.
async fn run(wh: &dyn Warehouse, b: StatementBatch) -> Result<ResultSet, PipelineError> {
    let id = wh.submit(b).await?;
    wait(wh, &id).await
}

async fn wait(wh: &dyn Warehouse, id: &StatementId) -> Result<ResultSet, PipelineError> {
    for _ in 0..6000 {
        match wh.status(id).await? {
            StatementState::Submitted | StatementState::Running => tokio::time::sleep(POLL).await,
            StatementState::Finished => return wh.result(id).await,
            StatementState::Failed(e) => return Err(e),
            StatementState::Aborted(why) => return Err(PipelineError::retryable(why)),
        }
    }
    panic!("statement {id} did not end within a minute");
}

async fn must_run(wh: &dyn Warehouse, label: &str, statements: &[&str]) -> ResultSet {
    run(wh, batch(label, statements)).await.unwrap_or_else(|e| panic!("{label}: {e}"))
}

/// The digits 0 to 9 as a derived table `d(n)`, in SQL both dialects read.
fn digits() -> String {
    let selects: Vec<String> = (0..10).map(|n| format!("SELECT {n} AS n")).collect();
    format!("({})", selects.join(" UNION ALL "))
}

pub async fn rows_of_the_last_statement_come_back_typed(wh: &dyn Warehouse, schema: &str) {
    // GIVEN a batch that creates a table, fills it, and reads it last
    let t = format!("{schema}.conf_typed");
    let rs = must_run(
        wh,
        "typed rows",
        &[
            &format!("DROP TABLE IF EXISTS {t}"),
            &format!("CREATE TABLE {t} (id BIGINT, name VARCHAR(20), flag BOOLEAN)"),
            &format!("INSERT INTO {t} VALUES (1, 'a', TRUE), (2, NULL, FALSE), (3, 'c''s', NULL)"),
            &format!("SELECT id, name, flag FROM {t} ORDER BY id"),
        ],
    )
    .await;
    // THEN the rows are the last statement's, in order, typed, NULLs as NULL
    assert_eq!(rs.columns, ["id", "name", "flag"]);
    assert_eq!(
        rs.rows,
        vec![
            vec![Cell::Long(1), Cell::Text("a".into()), Cell::Bool(true)],
            vec![Cell::Long(2), Cell::Null, Cell::Bool(false)],
            vec![Cell::Long(3), Cell::Text("c's".into()), Cell::Null],
        ]
    );
}

pub async fn a_large_result_comes_back_whole(wh: &dyn Warehouse) {
    // GIVEN 2,000 rows (several pages of the Data API's results)
    let d = digits();
    let sql = format!(
        "SELECT a.n * 200 + b.n * 20 + c.n * 2 + e.n AS k FROM {d} a CROSS JOIN {d} b CROSS JOIN {d} c \
         CROSS JOIN (SELECT 0 AS n UNION ALL SELECT 1 AS n) e ORDER BY k"
    );
    // WHEN read THEN every row comes back once, in order
    let rs = must_run(wh, "large result", &[&sql]).await;
    let keys: Vec<i64> = rs.rows.iter().map(|r| r[0].as_i64().expect("a number")).collect();
    assert_eq!(keys, (0..2000).collect::<Vec<i64>>());
}

pub async fn a_batch_is_one_transaction(wh: &dyn Warehouse, schema: &str) {
    // GIVEN an empty table
    let t = format!("{schema}.conf_tx");
    must_run(wh, "tx table", &[&format!("DROP TABLE IF EXISTS {t}"), &format!("CREATE TABLE {t} (id BIGINT)")]).await;
    // WHEN a batch inserts a row and then fails
    let failed = run(
        wh,
        batch(
            "tx failing",
            &[&format!("INSERT INTO {t} VALUES (1)"), &format!("SELECT * FROM {schema}.conf_no_such_table")],
        ),
    )
    .await;
    // THEN it is reported failed, naming the missing table, and its insert was rolled back
    let e = failed.expect_err("a batch reading a missing table fails");
    assert!(e.message.contains("conf_no_such_table"), "{e}");
    let rs = must_run(wh, "tx count", &[&format!("SELECT COUNT(*) AS n FROM {t}")]).await;
    assert_eq!(rs.rows[0][0].as_i64(), Some(0), "the failed batch's insert is gone");
    // AND the next batch runs as usual
    must_run(wh, "tx after", &[&format!("INSERT INTO {t} VALUES (2)")]).await;
    let rs = must_run(wh, "tx count", &[&format!("SELECT COUNT(*) AS n FROM {t}")]).await;
    assert_eq!(rs.rows[0][0].as_i64(), Some(1));
}

pub async fn an_empty_result_keeps_its_columns(wh: &dyn Warehouse, schema: &str) {
    let t = format!("{schema}.conf_empty");
    let rs = must_run(
        wh,
        "empty result",
        &[
            &format!("DROP TABLE IF EXISTS {t}"),
            &format!("CREATE TABLE {t} (id BIGINT, name VARCHAR(5))"),
            &format!("SELECT id, name FROM {t} WHERE id < 0"),
        ],
    )
    .await;
    assert_eq!(rs.columns, ["id", "name"]);
    assert!(rs.rows.is_empty());
}

pub async fn batches_run_side_by_side(wh: &dyn Warehouse, schema: &str) {
    // GIVEN two tables, WHEN a batch per table is submitted before either is polled
    let ids: Vec<StatementId> = submit_side_by_side(wh, schema).await;
    // THEN both finish with their own rows
    for (i, id) in ids.iter().enumerate() {
        let rs = wait(wh, id).await.unwrap_or_else(|e| panic!("batch {i}: {e}"));
        assert_eq!(rs.rows, vec![vec![Cell::Long(i as i64 + 10)]], "batch {i}");
    }
}

async fn submit_side_by_side(wh: &dyn Warehouse, schema: &str) -> Vec<StatementId> {
    let mut ids = Vec::new();
    for i in 0..2 {
        let t = format!("{schema}.conf_side_{i}");
        let b = batch(
            &format!("side {i}"),
            &[
                &format!("DROP TABLE IF EXISTS {t}"),
                &format!("CREATE TABLE {t} (v BIGINT)"),
                &format!("INSERT INTO {t} VALUES ({})", i + 10),
                &format!("SELECT v FROM {t}"),
            ],
        );
        ids.push(wh.submit(b).await.unwrap_or_else(|e| panic!("side {i}: {e}")));
    }
    ids
}

/// Two batches that each read a marker and write only when it is absent
/// (a load and its retry, a killed execution's load and the takeover's),
/// opened with the dialect's lock of the marker and submitted side by side:
/// as if one ran after the other. The second waits for the first (Redshift's
/// LOCK), or fails with a serialization error (Retryable) and is submitted
/// again by the caller.
pub async fn concurrent_batches_are_serializable(wh: &dyn Warehouse, schema: &str) {
    // GIVEN an empty target and an empty marker table
    let (t, m) = (format!("{schema}.conf_serial_t"), format!("{schema}.conf_serial_m"));
    must_run(
        wh,
        "serial tables",
        &[
            &format!("DROP TABLE IF EXISTS {t}"),
            &format!("DROP TABLE IF EXISTS {m}"),
            &format!("CREATE TABLE {t} (v BIGINT)"),
            &format!("CREATE TABLE {m} (f VARCHAR(8))"),
        ],
    )
    .await;
    let d = digits();
    let guarded = || {
        // Opened as the pipeline opens its loads: with the dialect's lock of the marker table.
        let mut statements: Vec<String> = wh.dialect().lock(&m).into_iter().collect();
        statements.extend([
            // Long enough that both transactions have begun before either commits.
            format!("SELECT COUNT(*) FROM {d} a, {d} b, {d} c, {d} e, {d} f, {d} g"),
            format!("INSERT INTO {t} SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM {m} WHERE f = 'f1')"),
            format!("INSERT INTO {m} SELECT 'f1' WHERE NOT EXISTS (SELECT 1 FROM {m} WHERE f = 'f1')"),
        ]);
        StatementBatch { label: "serial load".into(), statements }
    };
    // WHEN the same guarded load is submitted twice before either is polled
    let first = wh.submit(guarded()).await.expect("first submit");
    let second = wh.submit(guarded()).await.expect("second submit");
    for id in [first, second] {
        if let Err(e) = wait(wh, &id).await {
            // A serialization conflict: the caller submits it again.
            assert_eq!(e.kind, crate::error::ErrorKind::Retryable, "{e}");
            run(wh, guarded()).await.expect("the load submitted again");
        }
    }
    // THEN the target holds the row once
    let rs = must_run(wh, "serial count", &[&format!("SELECT COUNT(*) FROM {t}")]).await;
    assert_eq!(rs.rows, vec![vec![Cell::Long(1)]], "two guarded loads side by side applied twice");
}

pub async fn a_single_statement_commits_on_its_own(wh: &dyn Warehouse, schema: &str) {
    // GIVEN an empty table
    let t = format!("{schema}.conf_single");
    must_run(wh, "single table", &[&format!("DROP TABLE IF EXISTS {t}"), &format!("CREATE TABLE {t} (v BIGINT)")])
        .await;
    let single = |sql: String| SingleStatement { label: "single".into(), sql };
    // WHEN one statement is submitted on its own
    let id = wh.submit_single(single(format!("INSERT INTO {t} VALUES (7)"))).await.expect("submitted");
    wait(wh, &id).await.unwrap_or_else(|e| panic!("single insert: {e}"));
    // THEN it committed: a later batch sees its row
    let rs = must_run(wh, "single count", &[&format!("SELECT COUNT(*) AS n FROM {t}")]).await;
    assert_eq!(rs.rows[0][0].as_i64(), Some(1));
    // AND a query on its own returns its rows
    let id = wh.submit_single(single(format!("SELECT v FROM {t}"))).await.expect("submitted");
    assert_eq!(wait(wh, &id).await.expect("single query").rows, vec![vec![Cell::Long(7)]]);
    // AND a failing one is reported, naming what is missing
    let id = wh.submit_single(single(format!("SELECT * FROM {schema}.conf_no_such_single"))).await.expect("submitted");
    let e = wait(wh, &id).await.expect_err("reading a missing table fails");
    assert!(e.message.contains("conf_no_such_single"), "{e}");
}

pub async fn an_unknown_statement_is_an_error(wh: &dyn Warehouse) {
    let unknown = StatementId("00000000-0000-4000-8000-000000000000".into());
    assert!(wh.status(&unknown).await.is_err(), "status of an unknown statement");
}
