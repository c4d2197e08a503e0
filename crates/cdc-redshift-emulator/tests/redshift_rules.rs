//! The rules where Redshift is stricter than DuckDB (`cdc_redshift_emulator::rules`),
//! each through the Data API: the statement Redshift refuses is refused, and
//! the SQL our pipeline needs still runs. Each test fails if the emulator
//! turns lenient again (no CHECK constraints, no rtrim rewrite, no BOOLEAN
//! overload, no transaction-block check, …).

mod support;

use std::time::Duration;

use aws_sdk_redshiftdata::types::{ExecutionMode, StatusString};
use cdc_core::ports::{ResultSet, Warehouse};
use support::*;

/// Today's setup.sql procedure, as the core generates it.
const OLD_PROCEDURE: &str = "CREATE OR REPLACE PROCEDURE \"cdc_control\".cdc_assert_empty(query VARCHAR(65535), \
     message VARCHAR(1024)) AS $$\nDECLARE\n  bad_file VARCHAR(1024);\nBEGIN\n  EXECUTE query INTO bad_file;\n  IF \
     bad_file IS NOT NULL THEN\n    RAISE EXCEPTION '%', message || bad_file;\n  END IF;\nEND;\n$$ LANGUAGE plpgsql";

async fn ok(wh: &dyn Warehouse, statements: &[&str]) -> ResultSet {
    run(wh, batch("test", statements)).await.unwrap_or_else(|e| panic!("{statements:?}: {e}"))
}

async fn refused(wh: &dyn Warehouse, statements: &[&str]) -> String {
    match run(wh, batch("test", statements)).await {
        Ok(rs) => panic!("{statements:?} ran: {rs:?}"),
        Err(e) => e.message,
    }
}

async fn one(wh: &dyn Warehouse, sql: &str) -> Vec<Vec<String>> {
    texts(&ok(wh, &[sql]).await)
}

// --- 1. PL/pgSQL ------------------------------------------------------------

#[tokio::test]
async fn a_raise_with_an_expression_argument_is_refused_at_create_procedure() {
    let emu = emulator();
    let wh = warehouse(&emu);
    let e = refused(&wh, &["CREATE SCHEMA IF NOT EXISTS cdc_control", OLD_PROCEDURE]).await;
    assert!(e.contains("syntax error at or near \"||\""), "{e}");
    assert!(e.contains("simple variables, not expressions") && e.contains("c_PLpgSQL-statements.html"), "{e}");
    // Nothing was recorded: the procedure does not exist.
    ok(&wh, &["CREATE SCHEMA IF NOT EXISTS cdc_control"]).await;
    let e = refused(&wh, &["CALL cdc_control.cdc_assert_empty('SELECT 1', 'm')"]).await;
    assert!(e.contains("does not exist"), "{e}");
}

#[tokio::test]
async fn the_fixed_procedure_runs_its_body_and_raises_the_message() {
    let emu = emulator();
    let wh = warehouse(&emu);
    ok(
        &wh,
        &[
            "CREATE SCHEMA IF NOT EXISTS cdc_control",
            FIXED_PROCEDURE,
            "CREATE TABLE public.files (file VARCHAR(100), bad BOOLEAN)",
            "INSERT INTO public.files VALUES ('s3://b/ok.parquet', FALSE), ('s3://b/it''s bad.parquet', TRUE)",
        ],
    )
    .await;
    // A query returning a row: RAISE EXCEPTION with message || value.
    let e =
        refused(&wh, &["CALL cdc_control.cdc_assert_empty('SELECT file FROM public.files WHERE bad', 'M: ')"]).await;
    assert!(e.ends_with("ERROR: M: s3://b/it's bad.parquet"), "{e}");
    // No row, or a NULL value: nothing raised.
    ok(&wh, &["CALL cdc_control.cdc_assert_empty('SELECT file FROM public.files WHERE FALSE', 'x')"]).await;
    ok(&wh, &["CALL cdc_control.cdc_assert_empty('SELECT NULL', 'x')"]).await;
    // Levels and formats.
    ok(
        &wh,
        &["CREATE PROCEDURE public.p(v VARCHAR(10)) AS $$ DECLARE n INTEGER := 2; w VARCHAR(20); BEGIN RAISE NOTICE \
             'n is %', n; w := v || '!'; IF n > 1 THEN RAISE EXCEPTION '100%% %, %', w, n; ELSE NULL; END IF; END; \
             $$ LANGUAGE plpgsql"],
    )
    .await;
    let e = refused(&wh, &["CALL public.p('a')"]).await;
    assert!(e.ends_with("ERROR: 100% a!, 2"), "{e}");
}

// --- 2. byte lengths ----------------------------------------------------------

#[tokio::test]
async fn values_longer_in_bytes_than_their_column_are_refused() {
    let emu = emulator();
    let wh = warehouse(&emu);
    ok(&wh, &["CREATE TABLE public.t (v VARCHAR(4), c CHAR(2), m VARCHAR(MAX))"]).await;
    // 4 bytes fit, even as two characters; trailing blanks beyond the width pass.
    ok(&wh, &["INSERT INTO public.t VALUES ('éé', 'ab', 'x'), ('abcd   ', 'a ', 'y')"]).await;
    let e = refused(&wh, &["INSERT INTO public.t (v) VALUES ('ééa')"]).await;
    assert!(e.contains("ERROR: value too long for type character varying(4)"), "{e}");
    assert!(e.contains("DETAIL: Constraint Error"), "the DuckDB text stays on the DETAIL line: {e}");
    let e = refused(&wh, &["UPDATE public.t SET v = 'abcde'"]).await;
    assert!(e.contains("value too long for type character varying(4)"), "{e}");
    let e = refused(&wh, &["INSERT INTO public.t (c) SELECT 'abc'"]).await;
    assert!(e.contains("ERROR: value too long for type character(2)"), "{e}");
    let e = refused(&wh, &["INSERT INTO public.t (c) VALUES ('é')"]).await;
    assert!(e.contains("ERROR: Multibyte character not supported for CHAR (Hint: Try using VARCHAR)"), "{e}");
    // Temporary tables and the defaults (VARCHAR = 256 bytes, CHAR = 1).
    let e = refused(
        &wh,
        &[
            "CREATE TEMP TABLE f (file VARCHAR, kind CHAR)",
            "INSERT INTO f VALUES (REPEAT('x', 256), 'C')",
            "INSERT INTO f VALUES (REPEAT('x', 257), 'C')",
        ],
    )
    .await;
    assert!(e.contains("character varying(256)"), "{e}");
    let e = refused(&wh, &["CREATE TEMP TABLE f (kind CHAR)", "INSERT INTO f VALUES ('CD')"]).await;
    assert!(e.contains("character(1)"), "{e}");
    assert_eq!(one(&wh, "SELECT COUNT(*) FROM public.t").await, [["2"]]);
}

// --- 3. truncating casts ----------------------------------------------------------

#[tokio::test]
async fn casts_to_sized_character_types_keep_the_bytes_that_fit() {
    let emu = emulator();
    let wh = warehouse(&emu);
    let rows = one(
        &wh,
        "SELECT CAST('héllo' AS VARCHAR(3)), 'City of South San Francisco'::char(20), CAST('héllo' AS VARCHAR), \
         CAST(12345 AS VARCHAR(2)), CAST(NULL AS VARCHAR(2)), LEN(CAST(REPEAT('é', 84) AS VARCHAR(84)))",
    )
    .await;
    assert_eq!(rows, [["hé", "City of South San Fr", "héllo", "12", "NULL", "42"]]);
}

// --- 4. BOOLEAN to text ----------------------------------------------------------

#[tokio::test]
async fn boolean_to_text_casts_are_refused_even_when_no_row_is_cast() {
    let emu = emulator();
    let wh = warehouse(&emu);
    ok(&wh, &["CREATE TABLE public.b (flag BOOLEAN, n INTEGER)"]).await;
    for sql in [
        "SELECT CAST(flag AS VARCHAR(65535)) FROM public.b",
        "SELECT CAST(b.flag AS VARCHAR) FROM public.b b",
        "SELECT flag::text FROM public.b",
        "SELECT b.flag::varchar(5) FROM public.b b",
        "SELECT CAST(TRUE AS CHAR(5))",
    ] {
        let e = refused(&wh, &[sql]).await;
        assert!(e.contains("ERROR: cannot cast type boolean to character varying"), "{sql}: {e}");
    }
    // Overload resolution picks the refusing overload only for BOOLEAN.
    assert_eq!(
        one(&wh, "SELECT CAST(n AS VARCHAR(5)), CAST(7 AS VARCHAR), CAST(DATE '2026-11-01' AS VARCHAR(10)) FROM (SELECT 1 AS n) x").await,
        [["1", "7", "2026-11-01"]]
    );
    assert_eq!(
        one(&wh, "SELECT CASE WHEN flag THEN 'true' ELSE 'false' END FROM (SELECT TRUE AS flag) x").await,
        [["true"]]
    );
}

// --- 5. trailing blanks ----------------------------------------------------------

#[tokio::test]
async fn trailing_blanks_do_not_count_when_text_is_compared() {
    let emu = emulator();
    let wh = warehouse(&emu);
    ok(
        &wh,
        &[
            "CREATE TABLE public.a (k VARCHAR(5), n INTEGER)",
            "CREATE TABLE public.b (k VARCHAR(5))",
            "INSERT INTO public.a VALUES ('a', 1), ('a ', 2)",
            "INSERT INTO public.b VALUES ('a  ')",
        ],
    )
    .await;
    let wh = &wh;
    let q = move |sql: &'static str| one(wh, sql);
    assert_eq!(q("SELECT COUNT(*) FROM public.a x JOIN public.b y ON x.k = y.k").await, [["2"]]);
    assert_eq!(q("SELECT COUNT(*) FROM public.a WHERE k = 'a'").await, [["2"]]);
    assert_eq!(q("SELECT COUNT(*) FROM public.a WHERE k <> 'a   '").await, [["0"]]);
    assert_eq!(q("SELECT COUNT(*) FROM public.a WHERE k IN ('a ', 'b')").await, [["2"]]);
    assert_eq!(q("SELECT SUM(CASE k WHEN 'a' THEN 1 ELSE 0 END) FROM public.a").await, [["2"]]);
    assert_eq!(
        q("SELECT COUNT(*) FROM (SELECT ROW_NUMBER() OVER (PARTITION BY k ORDER BY n) AS rn FROM public.a) r WHERE rn = 1")
            .await,
        [["1"]]
    );
    // LIKE and the length functions see the blanks.
    assert_eq!(q("SELECT COUNT(*) FROM public.a WHERE k LIKE 'a'").await, [["1"]]);
    assert_eq!(
        q("SELECT LEN(k), LENGTH(k), OCTET_LENGTH(k) FROM public.a ORDER BY n").await,
        [["1", "1", "1"], ["2", "2", "2"]]
    );
    // The join stays a hash join.
    let plan = format!("{:?}", q("EXPLAIN SELECT * FROM public.a x JOIN public.b y ON x.k = y.k").await).to_lowercase();
    assert!(plan.contains("hash join") || plan.contains("hash_join"), "{plan}");
}

// --- 6. transaction blocks ----------------------------------------------------------

async fn single(client: &aws_sdk_redshiftdata::Client, sql: &str) -> Result<(), String> {
    let id = client
        .execute_statement()
        .workgroup_name(WORKGROUP)
        .database(DATABASE)
        .sql(sql)
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    finished(client, &id).await
}

async fn finished(client: &aws_sdk_redshiftdata::Client, id: &str) -> Result<(), String> {
    for _ in 0..12_000 {
        let d = client.describe_statement().id(id).send().await.unwrap();
        match d.status() {
            Some(StatusString::Finished) => return Ok(()),
            Some(StatusString::Failed | StatusString::Aborted) => return Err(d.error().unwrap_or_default().into()),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    panic!("statement {id} did not end");
}

#[tokio::test]
async fn statements_redshift_refuses_in_a_transaction_block_fail_in_any_batch() {
    let emu = emulator();
    let wh = warehouse(&emu);
    for sql in [
        "VACUUM public.t",
        "ALTER TABLE public.t ALTER COLUMN v TYPE VARCHAR(10)",
        "ALTER TABLE public.t APPEND FROM public.u",
        "CREATE EXTERNAL TABLE s.x (a INT) LOCATION 's3://b/x/'",
        "CREATE DATABASE other",
        "DROP LIBRARY l",
    ] {
        let e = refused(&wh, &["CREATE TABLE public.t (v VARCHAR(3))", sql]).await;
        assert!(e.contains("cannot run inside a transaction block"), "{sql}: {e}");
        // The batch rolled back: the table was not created.
        let e = refused(&wh, &["SELECT * FROM public.t"]).await;
        assert!(e.contains("does not exist"), "{e}");
    }
    // AUTO_COMMIT: each statement commits; the restricted one is still refused.
    let client = data_api_client(&emu.endpoint_url());
    let id = client
        .batch_execute_statement()
        .workgroup_name(WORKGROUP)
        .database(DATABASE)
        .execution_mode(ExecutionMode::AutoCommit)
        .sqls("CREATE TABLE public.kept (a INTEGER)")
        .sqls("VACUUM public.kept")
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    let e = finished(&client, &id).await.unwrap_err();
    assert!(e.contains("VACUUM cannot run inside a transaction block"), "{e}");
    assert_eq!(one(&wh, "SELECT COUNT(*) FROM public.kept").await, [["0"]]);
}

#[tokio::test]
async fn statements_on_external_tables_fail_in_any_batch() {
    let emu = emulator();
    let wh = warehouse(&emu);
    let schema = "CREATE EXTERNAL SCHEMA IF NOT EXISTS spectrum FROM DATA CATALOG DATABASE 'raw' IAM_ROLE 'arn:aws:iam::1:role/r'";
    for (sql, statement) in [
        ("INSERT INTO spectrum.t SELECT 1", "INSERT (external table)"),
        ("DROP TABLE IF EXISTS spectrum.t", "DROP EXTERNAL TABLE"),
        ("ALTER TABLE spectrum.t ADD PARTITION (d = '1') LOCATION 's3://b/d=1/'", "ALTER EXTERNAL TABLE"),
        ("ALTER TABLE spectrum.t RENAME TO u", "RENAME EXTERNAL TABLE"),
        ("GRANT SELECT ON EXTERNAL TABLE spectrum.t TO bob", "GRANT (external resources)"),
    ] {
        let e = refused(&wh, &[schema, sql]).await;
        assert!(e.contains(&format!("ERROR: {statement} cannot run inside a transaction block")), "{sql}: {e}");
    }
    // The same statements on a local table are not restricted.
    ok(&wh, &["CREATE TABLE public.t (a INTEGER)", "INSERT INTO public.t SELECT 1", "DROP TABLE public.t"]).await;
}

#[tokio::test]
async fn truncate_commits_the_work_before_it() {
    let emu = emulator();
    let wh = warehouse(&emu);
    let e = refused(
        &wh,
        &[
            "CREATE TABLE public.t (a INTEGER)",
            "CREATE TABLE public.u (a INTEGER)",
            "INSERT INTO public.t VALUES (1)",
            "TRUNCATE public.u",
            "INSERT INTO public.t VALUES (2)",
            "SELECT * FROM public.nope",
        ],
    )
    .await;
    assert!(e.contains("does not exist"), "{e}");
    // What ran before the TRUNCATE was committed; the insert after it rolled back.
    assert_eq!(one(&wh, "SELECT a FROM public.t").await, [["1"]]);
}

#[tokio::test]
async fn execute_statement_runs_outside_a_transaction_block() {
    let emu = emulator();
    let wh = warehouse(&emu);
    let client = data_api_client(&emu.endpoint_url());
    ok(&wh, &["CREATE TABLE public.t (v VARCHAR(3), n INTEGER)", "INSERT INTO public.t VALUES ('abc', 1)"]).await;
    single(&client, "VACUUM").await.unwrap();
    single(&client, "VACUUM public.t").await.unwrap();
    single(&client, "ALTER TABLE public.t ALTER COLUMN v TYPE VARCHAR(10)").await.unwrap();
    ok(&wh, &["INSERT INTO public.t VALUES ('abcdefghij', 2)"]).await;
    let e = refused(&wh, &["INSERT INTO public.t VALUES ('abcdefghijk', 3)"]).await;
    assert!(e.contains("character varying(10)"), "{e}");
    let e = single(&client, "ALTER TABLE public.t ALTER COLUMN v TYPE VARCHAR(5)").await.unwrap_err();
    assert!(e.contains("target column size should be greater or equal to current maximum column size"), "{e}");
    let e = single(&client, "ALTER TABLE public.t ALTER COLUMN v TYPE INTEGER").await.unwrap_err();
    assert!(e.contains("not supported"), "{e}");
    let e = single(&client, "ALTER TABLE public.t ALTER COLUMN n TYPE VARCHAR(20)").await.unwrap_err();
    assert!(e.contains("only change the size of a VARCHAR column"), "{e}");
    assert_eq!(one(&wh, "SELECT v FROM public.t ORDER BY n").await, [["abc"], ["abcdefghij"]]);
}

// --- 7. materialized views ----------------------------------------------------------

#[tokio::test]
async fn materialized_views_refuse_what_redshift_refuses() {
    let emu = emulator();
    let wh = warehouse(&emu);
    ok(&wh, &["CREATE TABLE public.h (bid INTEGER, delta INTEGER)", "CREATE VIEW public.v AS SELECT * FROM public.h"])
        .await;
    for (query, rule) in [
        ("SELECT bid, SUM(delta) AS s FROM public.h GROUP BY bid ORDER BY bid", "ORDER BY"),
        ("SELECT bid FROM public.h LIMIT 5", "LIMIT"),
        ("SELECT bid FROM public.h OFFSET 5", "OFFSET"),
        ("SELECT bid FROM public.v", "standard views"),
        ("SELECT table_name FROM information_schema.tables", "system tables"),
        ("SELECT * FROM pg_class", "system tables"),
        ("SELECT f_double(bid) AS d FROM public.h", "user-defined functions"),
        ("SELECT public.twice(bid) AS d FROM public.h", "user-defined functions"),
        ("SELECT CURRENT_SCHEMA() AS s FROM public.h", "leader node-only"),
    ] {
        let e = refused(&wh, &[&format!("CREATE MATERIALIZED VIEW public.mv AS {query}")]).await;
        assert!(e.contains("materialized views cannot reference") && e.contains(rule), "{query}: {e}");
    }
    let e = refused(
        &wh,
        &["CREATE TEMP TABLE tmp AS SELECT 1 AS a", "CREATE MATERIALIZED VIEW public.mv AS SELECT a FROM tmp"],
    )
    .await;
    assert!(e.contains("temporary tables"), "{e}");
    // What the pipeline creates still works; ORDER BY inside a window is fine.
    ok(
        &wh,
        &["CREATE MATERIALIZED VIEW public.mv AS SELECT bid, SUM(delta) AS s, ROW_NUMBER() OVER (ORDER BY bid) AS r \
           FROM public.h GROUP BY bid"],
    )
    .await;
}

// --- 8. UNLOAD MAXFILESIZE ----------------------------------------------------------

#[tokio::test]
async fn a_parquet_maxfilesize_below_32_mb_is_refused() {
    let emu = emulator();
    let wh = warehouse(&emu);
    let e = refused(
        &wh,
        &["UNLOAD ('SELECT 1') TO 's3://b/p/' IAM_ROLE 'arn:aws:iam::1:role/r' FORMAT AS PARQUET MAXFILESIZE 5 MB"],
    )
    .await;
    assert!(e.contains("below 32 MB") && e.contains("r_UNLOAD.html"), "{e}");
    let e = refused(&wh, &["UNLOAD ('SELECT 1') TO 's3://b/p/' FORMAT AS PARQUET MAXFILESIZE 7 GB"]).await;
    assert!(e.contains("between 5 MB and 6.2 GB"), "{e}");
}

#[tokio::test]
async fn alter_table_adds_one_column_per_statement_inside_a_transaction_block() {
    // GIVEN a table with a row
    let emu = emulator();
    let wh = warehouse(&emu);
    ok(&wh, &["CREATE TABLE public.t (a INTEGER)", "INSERT INTO public.t VALUES (1)"]).await;
    // WHEN one batch adds two columns, one per statement, and writes them
    ok(
        &wh,
        &[
            "ALTER TABLE public.t ADD COLUMN b VARCHAR(65535)",
            "ALTER TABLE public.t ADD COLUMN c BIGINT",
            "INSERT INTO public.t VALUES (2, 'x', 3)",
        ],
    )
    .await;
    // THEN the older row has NULLs
    assert_eq!(one(&wh, "SELECT a, b, c FROM public.t ORDER BY a").await, [["1", "NULL", "NULL"], ["2", "x", "3"]]);
    // AND two columns in one ALTER TABLE are refused, naming the rule, and the batch rolls back
    let e = refused(
        &wh,
        &["INSERT INTO public.t VALUES (4, 'y', 5)", "ALTER TABLE public.t ADD COLUMN d INTEGER, ADD COLUMN e INTEGER"],
    )
    .await;
    assert!(e.contains("only one column in each ALTER TABLE statement"), "{e}");
    assert_eq!(one(&wh, "SELECT COUNT(*) FROM public.t").await, [["2"]]);
}

#[tokio::test]
async fn a_distkey_or_sortkey_column_cannot_be_dropped_but_a_column_can_be_replaced_in_a_batch() {
    // GIVEN a table keyed on id (its DISTKEY and SORTKEY) with an integer n
    let emu = emulator();
    let wh = warehouse(&emu);
    ok(
        &wh,
        &[
            "CREATE TABLE public.t (id INTEGER, n INTEGER, ts TIMESTAMP) DISTKEY(id) SORTKEY(id)",
            "INSERT INTO public.t VALUES (1, 10, NULL)",
        ],
    )
    .await;
    // WHEN one batch replaces n by a bigint: add, copy, drop, rename (the pipeline's type change)
    ok(
        &wh,
        &[
            "ALTER TABLE public.t ADD COLUMN _cdc_retyped BIGINT",
            "UPDATE public.t SET _cdc_retyped = n",
            "ALTER TABLE public.t DROP COLUMN n",
            "ALTER TABLE public.t RENAME COLUMN _cdc_retyped TO n",
            "INSERT INTO public.t (id, n) VALUES (2, 5000000000)",
        ],
    )
    .await;
    // THEN the values are kept, in the new type
    assert_eq!(one(&wh, "SELECT id, n FROM public.t ORDER BY id").await, [["1", "10"], ["2", "5000000000"]]);
    // AND dropping the key column is refused with the page's sentence, and the batch rolls back
    let e = refused(&wh, &["INSERT INTO public.t (id, n) VALUES (3, 1)", "ALTER TABLE public.t DROP COLUMN id"]).await;
    assert!(e.contains("you can't drop a column that is the distribution key (DISTKEY) or a sort key"), "{e}");
    assert_eq!(one(&wh, "SELECT COUNT(*) FROM public.t").await, [["2"]]);
    // AND a sort key given as a column attribute, renamed, is still refused under its new name
    ok(&wh, &["CREATE TABLE public.u (a INTEGER SORTKEY, b INTEGER)", "ALTER TABLE public.u RENAME COLUMN a TO k"])
        .await;
    let e = refused(&wh, &["ALTER TABLE public.u DROP k"]).await;
    assert!(e.contains("column \"k\" of table public.u"), "{e}");
    ok(&wh, &["ALTER TABLE public.u DROP COLUMN b"]).await;
}

// --- 13. LOCK ------------------------------------------------------------------

/// A load as the pipeline writes one: insert the row and the marker unless
/// the marker is there (its progress check), after a slow first read so the
/// two overlap.
fn guarded_load(lock: bool) -> Vec<String> {
    let digits = "(SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                  UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
    let mut s: Vec<String> = lock.then(|| "LOCK public.marker".to_string()).into_iter().collect();
    s.push(format!("SELECT COUNT(*) FROM {digits} a, {digits} b, {digits} c, {digits} d, {digits} e, {digits} f"));
    s.push("INSERT INTO public.rows_in SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM public.marker)".into());
    s.push("INSERT INTO public.marker SELECT 'f1' WHERE NOT EXISTS (SELECT 1 FROM public.marker)".into());
    s
}

async fn two_loads_side_by_side(wh: &dyn Warehouse, lock: bool) -> Vec<Vec<String>> {
    ok(
        wh,
        &[
            "DROP TABLE IF EXISTS public.rows_in",
            "DROP TABLE IF EXISTS public.marker",
            "CREATE TABLE public.rows_in (v BIGINT)",
            "CREATE TABLE public.marker (f VARCHAR(8))",
        ],
    )
    .await;
    let load = guarded_load(lock);
    let refs: Vec<&str> = load.iter().map(String::as_str).collect();
    let first = wh.submit(batch("load a", &refs)).await.unwrap();
    let second = wh.submit(batch("load b", &refs)).await.unwrap();
    for id in [first, second] {
        let end = wait(wh, &id).await.pop();
        assert!(matches!(end, Some(cdc_core::ports::StatementState::Finished)), "{end:?}");
    }
    one(wh, "SELECT COUNT(*) FROM public.rows_in").await
}

#[tokio::test]
async fn without_lock_two_guarded_loads_side_by_side_both_apply_and_with_lock_the_second_waits() {
    let emu = emulator();
    let wh = warehouse(&emu);
    // GIVEN two loads that each insert only when the marker is absent
    // WHEN they run side by side without LOCK THEN both insert: snapshot
    // isolation lets concurrent transactions add different rows to one table
    assert_eq!(two_loads_side_by_side(&wh, false).await, [["2"]]);
    // WHEN each opens with LOCK on the marker THEN the second waits for the first and reads its marker
    assert_eq!(two_loads_side_by_side(&wh, true).await, [["1"]]);
}

#[tokio::test]
async fn a_lock_of_a_missing_table_fails_naming_it_and_a_failed_batch_releases_its_lock() {
    let emu = emulator();
    let wh = warehouse(&emu);
    // GIVEN no table public.nowhere WHEN a batch locks it THEN it fails naming the table
    let e = refused(&wh, &["LOCK public.nowhere", "SELECT 1"]).await;
    assert!(e.contains("relation \"public.nowhere\" does not exist"), "{e}");
    // AND a batch that locked a table and then failed let it go: the next LOCK of it runs at once
    ok(&wh, &["CREATE TABLE public.held (v INTEGER)"]).await;
    let e = refused(&wh, &["LOCK TABLE public.held", "SELECT 1 / 0 FROM public.nowhere"]).await;
    assert!(e.contains("does not exist"), "{e}");
    let done = tokio::time::timeout(Duration::from_secs(10), ok(&wh, &["LOCK public.held", "SELECT 1"])).await;
    assert!(done.is_ok(), "the failed batch still holds public.held");
}
