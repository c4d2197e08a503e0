//! The emulator speaks the Data API: the real SDK client submits, polls,
//! pages results, cancels and lists, and gets the service's errors.

mod support;

use std::time::Duration;

use aws_sdk_redshiftdata::types::{Field, StatusString};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cdc_core::ports::{Cell, Warehouse};
use cdc_redshift_emulator::{SlowUntil, StatementFault};
use support::*;

async fn describe_until_done(
    client: &aws_sdk_redshiftdata::Client,
    id: &str,
) -> aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput {
    for _ in 0..12_000 {
        let d = client.describe_statement().id(id).send().await.unwrap();
        if matches!(d.status(), Some(StatusString::Finished | StatusString::Failed | StatusString::Aborted)) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("statement {id} did not end");
}

#[tokio::test]
async fn a_batch_runs_as_sub_statements_and_its_rows_come_in_pages_with_data_api_types() {
    // GIVEN an emulator paging results by 7 rows
    let emu = emulator();
    let client = data_api_client(&emu.endpoint_url());
    let values: Vec<String> = (1..=20)
        .map(|i| {
            format!(
                "({i}, 'n{i}', TIMESTAMP '2026-11-01 20:00:00' + INTERVAL '{i} seconds', {}, {i}.25, {i}.5)",
                i % 2 == 0
            )
        })
        .collect();
    // WHEN a batch creates a table, fills it and selects from it
    let out = client
        .batch_execute_statement()
        .workgroup_name(WORKGROUP)
        .database(DATABASE)
        .statement_name("types")
        .sqls("CREATE TABLE public.typed (id INTEGER, name VARCHAR(10), ts TIMESTAMP, ok BOOLEAN, amount DECIMAL(10,2), ratio DOUBLE PRECISION)")
        .sqls(format!("INSERT INTO public.typed VALUES {}", values.join(", ")))
        .sqls("SELECT id, name, ts, ok, amount, ratio, NULL AS nothing FROM public.typed ORDER BY id")
        .send()
        .await
        .unwrap();
    let id = out.id().unwrap().to_string();
    assert_eq!((out.workgroup_name(), out.database()), (Some(WORKGROUP), Some(DATABASE)));
    let d = describe_until_done(&client, &id).await;
    // THEN it finished, with three sub-statements; only the last has a result set
    assert_eq!(d.status(), Some(&StatusString::Finished), "{d:?}");
    let subs = d.sub_statements();
    assert_eq!(subs.iter().map(|s| s.id().to_string()).collect::<Vec<_>>(), [1, 2, 3].map(|n| format!("{id}:{n}")));
    assert_eq!(subs.iter().map(|s| s.has_result_set()).collect::<Vec<_>>(), [Some(false), Some(false), Some(true)]);
    assert_eq!(subs[1].result_rows(), 20);
    // AND the rows come in pages of 7, typed as the Data API types them
    let pages: Vec<_> = client
        .get_statement_result()
        .id(format!("{id}:3"))
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.iter().map(|p| p.records().len()).collect::<Vec<_>>(), [7, 7, 6]);
    assert_eq!(pages[0].total_num_rows(), 20);
    let names: Vec<&str> = pages[0].column_metadata().iter().filter_map(|c| c.name()).collect();
    assert_eq!(names, ["id", "name", "ts", "ok", "amount", "ratio", "nothing"]);
    let types: Vec<&str> = pages[0].column_metadata().iter().filter_map(|c| c.type_name()).collect();
    assert_eq!(&types[..6], ["int4", "varchar", "timestamp", "bool", "numeric", "float8"]);
    assert_eq!(
        pages[0].records()[1],
        vec![
            Field::LongValue(2),
            Field::StringValue("n2".into()),
            Field::StringValue("2026-11-01 20:00:02".into()),
            Field::BooleanValue(true),
            Field::StringValue("2.25".into()),
            Field::DoubleValue(2.5),
            Field::IsNull(true),
        ]
    );
    // AND a batch's own id has no result: a sub-statement's has
    let err = client.get_statement_result().id(&id).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
}

#[tokio::test]
async fn the_service_s_validation_errors_are_answered() {
    let emu = emulator();
    let client = data_api_client(&emu.endpoint_url());
    let batch = |sqls: Vec<String>| {
        client.batch_execute_statement().workgroup_name(WORKGROUP).database(DATABASE).set_sqls(Some(sqls))
    };
    // 41 statements, a statement over 100 KB, no target, both targets
    let cases = [
        batch(vec!["SELECT 1".into(); 41]),
        batch(vec![format!("SELECT '{}'", "x".repeat(100 * 1024))]),
        client.batch_execute_statement().database(DATABASE).sqls("SELECT 1"),
        batch(vec!["SELECT 1".into()]).cluster_identifier("c1"),
    ];
    for (i, req) in cases.into_iter().enumerate() {
        let err = req.send().await.unwrap_err();
        assert_eq!(err.code(), Some("ValidationException"), "case {i}: {err:?}");
    }
    // An unknown statement, and an id that is no statement id
    let err = client.describe_statement().id("d9b6c0c9-0747-4bf4-b142-e8883122f766").send().await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    let err = client.describe_statement().id("not-an-id").send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(emu.calls().get("BatchExecuteStatement"), 4);
    assert_eq!(emu.calls().get("DescribeStatement"), 2);
}

#[tokio::test]
async fn a_failing_sub_statement_rolls_the_batch_back_and_is_reported() {
    let emu = emulator();
    let client = data_api_client(&emu.endpoint_url());
    // GIVEN a batch whose third statement reads a missing table
    let out = client
        .batch_execute_statement()
        .workgroup_name(WORKGROUP)
        .database(DATABASE)
        .sqls("CREATE TABLE public.kept (a INTEGER)")
        .sqls("INSERT INTO public.kept VALUES (1)")
        .sqls("SELECT * FROM public.missing_table")
        .sqls("SELECT 1")
        .send()
        .await
        .unwrap();
    let d = describe_until_done(&client, out.id().unwrap()).await;
    // THEN FAILED with Redshift's words, the failed sub-statement marked, the rest not run
    assert_eq!(d.status(), Some(&StatusString::Failed));
    assert!(d.error().unwrap().starts_with("ERROR: relation \"missing_table\" does not exist"), "{:?}", d.error());
    let states: Vec<&str> = d.sub_statements().iter().filter_map(|s| s.status()).map(|s| s.as_str()).collect();
    assert_eq!(states, ["FINISHED", "FINISHED", "FAILED", "ABORTED"]);
    // AND nothing of it stayed
    let out = client
        .execute_statement()
        .workgroup_name(WORKGROUP)
        .database(DATABASE)
        .sql("SELECT * FROM public.kept")
        .send()
        .await
        .unwrap();
    let d = describe_until_done(&client, out.id().unwrap()).await;
    assert!(d.error().unwrap_or_default().contains("relation \"kept\" does not exist"), "{d:?}");
}

#[tokio::test]
async fn a_cancelled_statement_is_aborted_and_cannot_be_cancelled_again() {
    let emu = emulator();
    let client = data_api_client(&emu.endpoint_url());
    // GIVEN a statement held STARTED
    emu.inject("held", StatementFault::Slow { until: SlowUntil::Released }, 1);
    let out = client
        .execute_statement()
        .workgroup_name(WORKGROUP)
        .database(DATABASE)
        .sql("SELECT 'held'")
        .send()
        .await
        .unwrap();
    let id = out.id().unwrap();
    let mut status = None;
    for _ in 0..500 {
        status = client.describe_statement().id(id).send().await.unwrap().status().cloned();
        if status == Some(StatusString::Started) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, Some(StatusString::Started));
    // WHEN it is cancelled THEN it ends ABORTED
    assert_eq!(client.cancel_statement().id(id).send().await.unwrap().status(), Some(true));
    assert_eq!(describe_until_done(&client, id).await.status(), Some(&StatusString::Aborted));
    let err = client.cancel_statement().id(id).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
}

#[tokio::test]
async fn statements_are_listed_by_name_and_status_and_a_client_token_is_honoured() {
    let emu = emulator();
    let client = data_api_client(&emu.endpoint_url());
    let submit = |name: &str, sql: &str, token: Option<&str>| {
        client
            .execute_statement()
            .workgroup_name(WORKGROUP)
            .database(DATABASE)
            .statement_name(name)
            .sql(sql)
            .set_client_token(token.map(str::to_string))
            .send()
    };
    let a = submit("load a", "SELECT 1", Some("token-1")).await.unwrap();
    // GIVEN the same token and request THEN the same statement, not a new one
    let again = submit("load a", "SELECT 1", Some("token-1")).await.unwrap();
    assert_eq!(a.id(), again.id());
    // GIVEN the same token with another request THEN refused
    let err = submit("load a", "SELECT 2", Some("token-1")).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    let b = submit("unload b", "SELECT * FROM public.nope", None).await.unwrap();
    describe_until_done(&client, a.id().unwrap()).await;
    describe_until_done(&client, b.id().unwrap()).await;
    let listed = |status: Option<&str>, prefix: Option<&str>| {
        client
            .list_statements()
            .set_status(status.map(Into::into))
            .set_statement_name(prefix.map(str::to_string))
            .send()
    };
    let finished = listed(None, None).await.unwrap();
    assert_eq!(finished.statements().iter().map(|s| s.id()).collect::<Vec<_>>(), [a.id().unwrap()]);
    let all = listed(Some("ALL"), None).await.unwrap();
    assert_eq!(all.statements().len(), 2);
    let unloads = listed(Some("ALL"), Some("unload")).await.unwrap();
    assert_eq!(unloads.statements()[0].status().map(|s| s.as_str()), Some("FAILED"));
    assert_eq!(unloads.statements().len(), 1);
}

#[tokio::test]
async fn redshift_sql_means_what_it_means_on_redshift() {
    let emu = emulator();
    let wh = warehouse(&emu);
    let rs = run(
        &wh,
        batch("semantics", &[
            "CREATE TEMP TABLE n (x INTEGER)",
            "INSERT INTO n VALUES (2), (NULL), (1)",
            "SELECT 7 / 2 AS int_division, \
             'a\\\\b' AS backslash, \
             'it''s' AS quote, \
             TO_CHAR(DATEADD(day, -2, TO_DATE('20261101', 'YYYYMMDD')), 'YYYYMMDD') AS two_days_before, \
             TO_CHAR(DATEADD(second, -90, CAST('2026-11-01 00:00:30' AS TIMESTAMP)), 'YYYY-MM-DD HH24:MI:SS.US') AS earlier, \
             DATEDIFF(day, CAST('2026-11-01' AS DATE), CAST('2026-11-03' AS DATE)) AS days, \
             NVL(NULL, 'x') AS nvl, \
             GETDATE() <= SYSDATE AS now_ok, \
             (SELECT MIN(x) FROM n) AS smallest",
        ]),
    )
    .await
    .unwrap();
    assert_eq!(
        rs.columns,
        ["int_division", "backslash", "quote", "two_days_before", "earlier", "days", "nvl", "now_ok", "smallest"]
    );
    assert_eq!(
        rs.rows,
        vec![vec![
            Cell::Long(3),
            Cell::Text("a\\b".into()),
            Cell::Text("it's".into()),
            Cell::Text("20261030".into()),
            Cell::Text("2026-10-31 23:59:00.000000".into()),
            Cell::Long(2),
            Cell::Text("x".into()),
            Cell::Bool(true),
            Cell::Long(1),
        ]]
    );
    // NULLs sort as the largest value: first when descending, last when ascending.
    let order = |dir: &'static str| {
        let wh = &wh;
        async move {
            let sql = format!("SELECT x FROM n ORDER BY x {dir}");
            let rs = run(
                wh,
                batch("order", &["CREATE TEMP TABLE n (x INTEGER)", "INSERT INTO n VALUES (2), (NULL), (1)", &sql]),
            )
            .await
            .unwrap();
            texts(&rs).into_iter().map(|r| r[0].clone()).collect::<Vec<_>>()
        }
    };
    assert_eq!(order("DESC").await, ["NULL", "2", "1"]);
    assert_eq!(order("ASC").await, ["1", "2", "NULL"]);
    assert_eq!(wh.dialect(), cdc_core::sql::Dialect::Redshift);
}
