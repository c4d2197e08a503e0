//! The Redshift Data API warehouse without a server: aws-smithy-mocks
//! answers each HTTP attempt, so the SDK's deserialisers and the retry
//! strategy `client_config` sets (plus the adapter's classifier for the
//! concurrency limits) run for real. The oracle is what the port returns and
//! how many attempts the mock saw.

use std::time::Duration;

use aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementOutput;
use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
use aws_sdk_redshiftdata::operation::get_statement_result::GetStatementResultOutput;
use aws_sdk_redshiftdata::types::{ColumnMetadata, Field, StatementStatusString, StatusString, SubStatementData};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use cdc_aws::client_config::{MAX_ATTEMPTS, retry_config};
use cdc_aws::redshift_data_warehouse::{ClusterAuth, client_token};
use cdc_aws::{RedshiftDataWarehouse, RedshiftTarget};
use cdc_core::ErrorKind;
use cdc_core::ports::{Cell, StatementId, StatementState, Warehouse};
use cdc_core::sql::StatementBatch;

const ID: &str = "d9b6c0c9-0747-4bf4-b142-e8883122f766";

fn serverless() -> RedshiftTarget {
    RedshiftTarget::Serverless { workgroup: "cdc-wg".into(), database: "dev".into(), secret_arn: None }
}

fn batch() -> StatementBatch {
    StatementBatch {
        label: "load public.pgbench_accounts".into(),
        statements: vec!["CREATE TEMP TABLE x (a INTEGER)".into(), "SELECT COUNT(*) AS n FROM x".into()],
    }
}

/// A Data API (JSON 1.1 protocol) error answer.
fn api_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// The production retry settings, with a 1 ms base backoff so the test is quick.
fn warehouse(mode: RuleMode, rules: &[&Rule], target: RedshiftTarget) -> RedshiftDataWarehouse {
    let client = mock_client!(aws_sdk_redshiftdata, mode, rules.iter().copied(), |c| c
        .retry_config(retry_config().with_initial_backoff(Duration::from_millis(1))));
    RedshiftDataWarehouse::new(&client, target).unwrap()
}

fn id() -> StatementId {
    StatementId(ID.into())
}

fn sub(n: usize, status: StatementStatusString, error: Option<&str>, sql: &str) -> SubStatementData {
    SubStatementData::builder()
        .id(format!("{ID}:{n}"))
        .status(status)
        .set_error(error.map(str::to_string))
        .query_string(sql)
        .has_result_set(sql.contains("SELECT"))
        .build()
        .unwrap()
}

fn described(status: StatusString, error: Option<&str>, subs: Vec<SubStatementData>) -> DescribeStatementOutput {
    DescribeStatementOutput::builder()
        .id(ID)
        .status(status)
        .set_error(error.map(str::to_string))
        .set_sub_statements(Some(subs))
        .build()
        .unwrap()
}

#[tokio::test]
async fn submit_sends_one_tagged_batch_with_name_target_and_a_scoped_client_token() {
    // GIVEN an adapter on a workgroup, scoped to one execution's submit state
    let scope = "arn:aws:states:eu-west-1:123456789012:execution:cdc:run-1/2026-11-02T00:05:00.000Z";
    let expected_token = client_token(scope, &serverless(), &batch());
    let submit = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
        .match_requests(move |r| {
            r.sqls()
                == [
                    "/* cdc: load public.pgbench_accounts */ CREATE TEMP TABLE x (a INTEGER)",
                    "/* cdc: load public.pgbench_accounts */ SELECT COUNT(*) AS n FROM x",
                ]
                && r.statement_name() == Some("load public.pgbench_accounts")
                && r.database() == Some("dev")
                && r.workgroup_name() == Some("cdc-wg")
                && r.cluster_identifier().is_none()
                && r.db_user().is_none()
                && r.secret_arn().is_none()
                && r.client_token() == Some(expected_token.as_str())
        })
        .then_output(|| BatchExecuteStatementOutput::builder().id(ID).build());
    let wh = warehouse(RuleMode::Sequential, &[&submit], serverless()).with_idempotency_scope(scope);
    // WHEN the batch is submitted THEN the statement id comes back, in one call
    assert_eq!(wh.submit(batch()).await.unwrap(), id());
    assert_eq!(submit.num_calls(), 1);
}

#[tokio::test]
async fn a_cluster_target_sends_its_identifier_and_credentials_and_no_scope_sends_no_token() {
    let cluster = RedshiftTarget::Cluster {
        cluster_id: "cdc-cluster".into(),
        database: "dev".into(),
        auth: ClusterAuth::DbUser("loader".into()),
    };
    let submit = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
        .match_requests(|r| {
            r.cluster_identifier() == Some("cdc-cluster")
                && r.db_user() == Some("loader")
                && r.workgroup_name().is_none()
                // The SDK fills in a random token of its own when we send none.
                && r.client_token().is_some_and(|t| t.len() != 64 || t.contains('-'))
        })
        .then_output(|| BatchExecuteStatementOutput::builder().id(ID).build());
    let wh = warehouse(RuleMode::Sequential, &[&submit], cluster);
    assert_eq!(wh.submit(batch()).await.unwrap(), id());
}

#[tokio::test]
async fn throttling_and_the_concurrency_limits_are_retried_by_the_sdk_then_retryable() {
    for code in ["ThrottlingException", "ActiveStatementsExceededException", "ActiveSessionsExceededException"] {
        // GIVEN the Data API refuses every attempt
        let refused = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
            .then_http_response(move || api_error(400, code, "limit reached"));
        let wh = warehouse(RuleMode::MatchAny, &[&refused], serverless());
        // WHEN a batch is submitted THEN the SDK tried MAX_ATTEMPTS times, and the error is Retryable
        let err = wh.submit(batch()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Retryable, "{code}: {err}");
        assert!(err.message.contains(code) && err.message.contains("load public.pgbench_accounts"), "{err}");
        assert_eq!(refused.num_calls(), MAX_ATTEMPTS as usize, "{code}");
    }
}

#[tokio::test]
async fn a_limit_that_clears_within_the_attempts_is_invisible() {
    // GIVEN two refused attempts (a concurrency limit, then a 500), then an answer
    let submit = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
        .sequence()
        .http_response(|| api_error(400, "ActiveStatementsExceededException", "too many"))
        .http_response(|| api_error(500, "InternalServerException", "oops"))
        .output(|| BatchExecuteStatementOutput::builder().id(ID).build())
        .build();
    let wh = warehouse(RuleMode::Sequential, &[&submit], serverless());
    // WHEN a batch is submitted THEN it succeeds on the third attempt
    assert_eq!(wh.submit(batch()).await.unwrap(), id());
    assert_eq!(submit.num_calls(), 3);
}

#[tokio::test]
async fn validation_and_access_errors_are_config_errors_and_not_retried() {
    for (code, status) in [("ValidationException", 400), ("AccessDeniedException", 400)] {
        let refused = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
            .then_http_response(move || api_error(status, code, "no"));
        let wh = warehouse(RuleMode::MatchAny, &[&refused], serverless());
        let err = wh.submit(batch()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::ConfigError, "{code}: {err}");
        assert!(err.message.contains(code) && err.message.contains("workgroup cdc-wg database dev"), "{err}");
        assert_eq!(refused.num_calls(), 1, "{code} must not be retried");
    }
}

#[tokio::test]
async fn an_oversized_batch_is_refused_before_any_call() {
    let never = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
        .then_output(|| BatchExecuteStatementOutput::builder().id(ID).build());
    let wh = warehouse(RuleMode::MatchAny, &[&never], serverless());
    let big = StatementBatch { label: "load public.big".into(), statements: vec!["x".repeat(200 * 1024)] };
    let err = wh.submit(big).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ConfigError, "{err}");
    assert!(err.message.contains("load public.big") && err.message.contains("100 KB"), "{err}");
    assert_eq!(never.num_calls(), 0);
}

#[tokio::test]
async fn statuses_map_to_the_port_states() {
    let cases = [
        (StatusString::Submitted, StatementState::Submitted),
        (StatusString::Picked, StatementState::Submitted),
        (StatusString::Started, StatementState::Running),
        (StatusString::Finished, StatementState::Finished),
    ];
    for (status, state) in cases {
        let s = status.clone();
        let describe = mock!(aws_sdk_redshiftdata::Client::describe_statement)
            .match_requests(|r| r.id() == Some(ID))
            .then_output(move || described(s.clone(), None, vec![]));
        let wh = warehouse(RuleMode::MatchAny, &[&describe], serverless());
        assert_eq!(wh.status(&id()).await.unwrap(), state, "{status:?}");
    }
}

#[tokio::test]
async fn a_failed_batch_is_classified_from_the_failed_sub_statement_naming_label_and_id() {
    let tagged = "/* cdc: load public.pgbench_accounts */ CREATE TEMP TABLE x (a INTEGER)";
    let cases = [
        (
            "ERROR: 1023 DETAIL: Serializable isolation violation on table - 100, transactions forming the cycle \
             are: 7, 8",
            ErrorKind::Retryable,
            "Serializable isolation violation",
        ),
        (
            "ERROR: CDC_DATA_ERROR: table public.pgbench_accounts: null key (aid) in file s3://raw/f.parquet",
            ErrorKind::DataError,
            ": table public.pgbench_accounts: null key (aid) in file s3://raw/f.parquet",
        ),
        (
            "ERROR: relation \"cdc_control.pgbench_accounts__progress\" does not exist",
            ErrorKind::ConfigError,
            "does not exist",
        ),
        ("ERROR: value too long for type character varying(84)", ErrorKind::DataError, "value too long"),
    ];
    for (text, kind, kept) in cases {
        // GIVEN a batch of three whose second statement failed (the third never ran)
        let describe = mock!(aws_sdk_redshiftdata::Client::describe_statement).then_output(move || {
            described(
                StatusString::Failed,
                Some(text),
                vec![
                    sub(1, StatementStatusString::Finished, None, tagged),
                    sub(
                        2,
                        StatementStatusString::Failed,
                        Some(text),
                        "/* cdc: load public.pgbench_accounts */ CALL x()",
                    ),
                    sub(3, StatementStatusString::Aborted, None, "/* cdc: load public.pgbench_accounts */ SELECT 1"),
                ],
            )
        });
        let wh = warehouse(RuleMode::MatchAny, &[&describe], serverless());
        // WHEN it is polled THEN Failed, classified, with Redshift's text, the label, the id and the position
        match wh.status(&id()).await.unwrap() {
            StatementState::Failed(e) => {
                assert_eq!(e.kind, kind, "{text}: {e}");
                assert!(e.message.contains(kept), "{e}");
                assert!(
                    e.message
                        .starts_with(&format!("load public.pgbench_accounts, statement {ID} (sub-statement 2 of 3)")),
                    "{e}"
                );
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_aborted_batch_says_which() {
    let describe = mock!(aws_sdk_redshiftdata::Client::describe_statement).then_output(|| {
        described(
            StatusString::Aborted,
            None,
            vec![sub(
                1,
                StatementStatusString::Aborted,
                None,
                "/* cdc: unload pgbench_history 20261101 */ UNLOAD ('SELECT 1') TO 's3://b/p/'",
            )],
        )
    });
    let wh = warehouse(RuleMode::MatchAny, &[&describe], serverless());
    match wh.status(&id()).await.unwrap() {
        StatementState::Aborted(why) => {
            assert!(why.contains("unload pgbench_history 20261101") && why.contains(ID), "{why}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_statement_id_is_a_config_error() {
    let describe = mock!(aws_sdk_redshiftdata::Client::describe_statement).then_http_response(|| {
        let body = format!(
            r#"{{"__type":"ResourceNotFoundException","Message":"Query does not exist.","ResourceId":"{ID}"}}"#
        );
        HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body))
    });
    let wh = warehouse(RuleMode::MatchAny, &[&describe], serverless());
    let err = wh.status(&id()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ConfigError, "{err}");
    assert!(err.message.contains("ResourceNotFoundException") && err.message.contains(ID), "{err}");
    assert_eq!(describe.num_calls(), 1);
}

fn column(name: &str, type_name: &str) -> ColumnMetadata {
    ColumnMetadata::builder().name(name).label(name).type_name(type_name).build()
}

#[tokio::test]
async fn the_result_is_the_last_sub_statement_s_rows_across_pages() {
    // GIVEN a finished batch whose last (third) statement returned three rows, in two pages
    let last = format!("{ID}:3");
    let describe = mock!(aws_sdk_redshiftdata::Client::describe_statement).then_output(|| {
        described(
            StatusString::Finished,
            None,
            vec![
                sub(1, StatementStatusString::Finished, None, "CREATE TEMP TABLE x (a INTEGER)"),
                sub(2, StatementStatusString::Finished, None, "INSERT INTO x VALUES (1)"),
                sub(3, StatementStatusString::Finished, None, "SELECT * FROM x"),
            ],
        )
    });
    let columns = || {
        vec![
            column("n", "int8"),
            column("ok", "bool"),
            column("ratio", "float8"),
            column("ts", "timestamp"),
            column("note", "varchar"),
        ]
    };
    let (first_id, second_id) = (last.clone(), last.clone());
    let page1 = mock!(aws_sdk_redshiftdata::Client::get_statement_result)
        .match_requests(move |r| r.id() == Some(first_id.as_str()) && r.next_token().is_none())
        .then_output(move || {
            GetStatementResultOutput::builder()
                .set_column_metadata(Some(columns()))
                .records(vec![
                    Field::LongValue(1),
                    Field::BooleanValue(true),
                    Field::DoubleValue(0.5),
                    Field::StringValue("2026-11-01 20:00:00.25".into()),
                    Field::IsNull(true),
                ])
                .records(vec![
                    Field::LongValue(2),
                    Field::BooleanValue(false),
                    Field::DoubleValue(1.0),
                    Field::StringValue("2026-11-01 20:00:01".into()),
                    Field::StringValue("é'\\".into()),
                ])
                .total_num_rows(3)
                .next_token("page-2")
                .build()
                .unwrap()
        });
    let page2 = mock!(aws_sdk_redshiftdata::Client::get_statement_result)
        .match_requests(move |r| r.id() == Some(second_id.as_str()) && r.next_token() == Some("page-2"))
        .then_output(|| {
            GetStatementResultOutput::builder()
                .set_column_metadata(Some(vec![column("n", "int8")]))
                .records(vec![
                    Field::LongValue(3),
                    Field::IsNull(true),
                    Field::IsNull(true),
                    Field::IsNull(true),
                    Field::IsNull(true),
                ])
                .total_num_rows(3)
                .build()
                .unwrap()
        });
    let wh = warehouse(RuleMode::Sequential, &[&describe, &page1, &page2], serverless());
    // WHEN the result is read THEN every page's rows, in order, with the first page's columns
    let rs = wh.result(&id()).await.unwrap();
    assert_eq!(rs.columns, ["n", "ok", "ratio", "ts", "note"]);
    assert_eq!(
        rs.rows,
        vec![
            vec![
                Cell::Long(1),
                Cell::Bool(true),
                Cell::Double(0.5),
                Cell::Text("2026-11-01 20:00:00.25".into()),
                Cell::Null
            ],
            vec![
                Cell::Long(2),
                Cell::Bool(false),
                Cell::Double(1.0),
                Cell::Text("2026-11-01 20:00:01".into()),
                Cell::Text("é'\\".into())
            ],
            vec![Cell::Long(3), Cell::Null, Cell::Null, Cell::Null, Cell::Null],
        ]
    );
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_last_statement_without_rows_has_an_empty_result_and_an_unfinished_one_none() {
    // GIVEN a finished batch whose last statement is DDL THEN an empty result, without GetStatementResult
    let describe = mock!(aws_sdk_redshiftdata::Client::describe_statement).then_output(|| {
        described(StatusString::Finished, None, vec![sub(1, StatementStatusString::Finished, None, "DROP TABLE x")])
    });
    let never = mock!(aws_sdk_redshiftdata::Client::get_statement_result)
        .then_output(|| GetStatementResultOutput::builder().set_records(Some(vec![])).build().unwrap());
    let wh = warehouse(RuleMode::MatchAny, &[&describe, &never], serverless());
    let rs = wh.result(&id()).await.unwrap();
    assert!(rs.columns.is_empty() && rs.rows.is_empty(), "{rs:?}");
    assert_eq!(never.num_calls(), 0);
    // GIVEN a running batch THEN its result is refused
    let running = mock!(aws_sdk_redshiftdata::Client::describe_statement)
        .then_output(|| described(StatusString::Started, None, vec![]));
    let wh = warehouse(RuleMode::MatchAny, &[&running], serverless());
    let err = wh.result(&id()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ConfigError, "{err}");
    assert!(err.message.contains("has not finished") && err.message.contains("STARTED"), "{err}");
}
