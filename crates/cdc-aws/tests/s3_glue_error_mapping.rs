//! S3 and Glue errors, and Glue pagination, without a server: aws-smithy-mocks
//! answers each HTTP attempt, so the SDK's own deserialisers and the retry
//! strategy `client_config` sets run for real. The oracle is the error
//! class, the message, and the attempts the mock saw.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_glue::operation::batch_create_partition::BatchCreatePartitionOutput;
use aws_sdk_glue::operation::get_partitions::GetPartitionsOutput;
use aws_sdk_glue::operation::get_table::GetTableOutput;
use aws_sdk_glue::operation::get_tables::GetTablesOutput;
use aws_sdk_glue::types::{Column, ErrorDetail, Partition, PartitionError, StorageDescriptor, Table};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use cdc_aws::client_config::{MAX_ATTEMPTS, retry_config};
use cdc_aws::{GlueRawCatalog, S3Location, S3RawZone};
use cdc_core::ports::{FileColumn, FileColumnType, FileKind, RawCatalog, RawFile, RawListing, RawZone};
use cdc_core::{ErrorKind, PipelineConfig, PipelineError, TableConfig};

/// The production retry settings, with a 1 ms base backoff so the test is quick.
macro_rules! client {
    ($crate_name:ident, $mode:expr, $rules:expr) => {
        mock_client!($crate_name, $mode, $rules, |c| c
            .retry_config(retry_config().with_initial_backoff(Duration::from_millis(1))))
    };
}

fn cfg() -> PipelineConfig {
    PipelineConfig::parse(include_str!("../../../config/pipeline.toml"), "demo").unwrap()
}

fn response(status: u16, body: String) -> HttpResponse {
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// An S3 (REST-XML) error answer.
fn s3_error(status: u16, code: &str, message: &str) -> HttpResponse {
    response(status, format!("<Error><Code>{code}</Code><Message>{message}</Message><RequestId>r</RequestId></Error>"))
}

/// A Glue (JSON 1.1) error answer.
fn glue_error(code: &str, message: &str) -> HttpResponse {
    response(400, format!(r#"{{"__type":"{code}","message":"{message}"}}"#))
}

fn raw_zone(s3: aws_sdk_s3::Client) -> S3RawZone {
    S3RawZone::new(s3, S3Location::new("cdc-raw", "dms").unwrap())
}

fn accounts(cfg: &PipelineConfig) -> &TableConfig {
    cfg.table("pgbench_accounts").unwrap()
}

#[tokio::test]
async fn s3_slow_down_is_retried_then_retryable() {
    // GIVEN S3 answers every listing with 503 SlowDown
    let slow = mock!(aws_sdk_s3::Client::list_objects_v2)
        .then_http_response(|| s3_error(503, "SlowDown", "Please reduce your request rate."));
    let zone = raw_zone(client!(aws_sdk_s3, RuleMode::MatchAny, [&slow]));
    // WHEN the raw zone lists THEN the SDK tried MAX_ATTEMPTS times, and the error is Retryable naming the bucket
    let e = zone.list_objects("cdc/public/pgbench_accounts/", None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable, "{e}");
    assert!(e.message.contains("cdc-raw") && e.message.contains("SlowDown"), "{e}");
    assert_eq!(slow.num_calls(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn s3_no_such_bucket_is_a_config_error_naming_it() {
    let missing = mock!(aws_sdk_s3::Client::list_objects_v2)
        .then_http_response(|| s3_error(404, "NoSuchBucket", "The specified bucket does not exist"));
    let zone = raw_zone(client!(aws_sdk_s3, RuleMode::MatchAny, [&missing]));
    let e = zone.list_objects("full/public/pgbench_accounts/", None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
    assert!(e.message.contains("bucket cdc-raw") && e.message.contains("NoSuchBucket"), "{e}");
    assert_eq!(missing.num_calls(), 1, "not retried");
}

#[tokio::test]
async fn s3_access_denied_on_a_footer_is_a_config_error_naming_the_file() {
    let denied =
        mock!(aws_sdk_s3::Client::get_object).then_http_response(|| s3_error(403, "AccessDenied", "Access Denied"));
    let zone = raw_zone(client!(aws_sdk_s3, RuleMode::MatchAny, [&denied]));
    let file = RawFile {
        path: "s3://cdc-raw/dms/full/public/pgbench_accounts/LOAD00000001.parquet".into(),
        kind: FileKind::Full,
        partition: None,
        size: 1000,
        modified: chrono::Utc::now(),
        version: String::new(),
    };
    let e = zone.file_schemas(std::slice::from_ref(&file)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
    assert!(e.message.contains(&file.path) && e.message.contains("AccessDenied"), "{e}");
    assert_eq!(denied.num_calls(), 1);
}

#[tokio::test]
async fn glue_throttling_is_retried_then_retryable_and_access_denied_is_a_config_error() {
    let cfg = cfg();
    for (code, kind, attempts) in [
        ("ThrottlingException", ErrorKind::Retryable, MAX_ATTEMPTS as usize),
        ("AccessDeniedException", ErrorKind::ConfigError, 1),
    ] {
        // GIVEN Glue answers GetTables with the error
        let rule = mock!(aws_sdk_glue::Client::get_tables).then_http_response(move || glue_error(code, "no"));
        let glue = client!(aws_sdk_glue, RuleMode::MatchAny, [&rule]);
        let catalog = GlueRawCatalog::new(glue, "cdc_database", S3Location::new("cdc-raw", "dms").unwrap());
        // WHEN a run syncs THEN the class, naming the database, after the expected attempts
        let e = catalog.sync(&cfg, &RawListing::default(), &NoFiles).await.unwrap_err();
        assert_eq!(e.kind, kind, "{code}: {e}");
        assert!(e.message.contains("database cdc_database") && e.message.contains(code), "{e}");
        assert_eq!(rule.num_calls(), attempts, "{code}");
    }
}

/// A raw zone whose files all have accounts' CDC columns.
struct NoFiles;

#[async_trait]
impl RawZone for NoFiles {
    async fn list_objects(&self, _: &str, _: Option<&str>) -> Result<Vec<cdc_core::ports::RawObject>, PipelineError> {
        Ok(Vec::new())
    }
    async fn file_schemas(&self, files: &[RawFile]) -> Result<Vec<Vec<FileColumn>>, PipelineError> {
        let cols = [("Op", FileColumnType::String), ("aid", FileColumnType::Int32)];
        let one: Vec<FileColumn> =
            cols.iter().map(|(n, ty)| FileColumn { name: n.to_string(), ty: ty.clone() }).collect();
        Ok(files.iter().map(|_| one.clone()).collect())
    }
    fn describe_prefix(&self, _: &str) -> String {
        String::new()
    }
}

fn glue_table(name: &str, location: &str, partitioned: bool) -> Table {
    let col = |n: &str, t: &str| Column::builder().name(n).r#type(t).build().unwrap();
    let sd =
        StorageDescriptor::builder().location(location).columns(col("op", "string")).columns(col("aid", "int")).build();
    // As the pipeline makes them: over-long text fails the scan.
    let mut t = Table::builder().name(name).storage_descriptor(sd).parameters("surplus_char_handling", "FAIL");
    if partitioned {
        t = t.partition_keys(col("partition_0", "string"));
    }
    t.build().unwrap()
}

fn partition(day: &str) -> Partition {
    Partition::builder().values(day).build()
}

#[tokio::test]
async fn tables_and_partitions_are_read_across_pages_and_a_concurrent_registration_is_fine() {
    let cfg = cfg();
    let t = accounts(&cfg);
    let cdc_location = "s3://cdc-raw/dms/cdc/public/pgbench_accounts/";
    // GIVEN GetTables answers in two pages, the CDC table on the second
    let first =
        mock!(aws_sdk_glue::Client::get_tables).match_requests(|r| r.next_token().is_none()).then_output(|| {
            GetTablesOutput::builder()
                .table_list(glue_table("raw_cdc_pgbench_other", "s3://x/", true))
                .next_token("t2")
                .build()
        });
    let second = mock!(aws_sdk_glue::Client::get_tables).match_requests(|r| r.next_token() == Some("t2")).then_output(
        move || {
            GetTablesOutput::builder().table_list(glue_table("raw_cdc_pgbench_accounts", cdc_location, true)).build()
        },
    );
    // AND GetPartitions knows 20261101 (page 1) and 20261102 (page 2)
    let parts1 = mock!(aws_sdk_glue::Client::get_partitions)
        .match_requests(|r| r.next_token().is_none() && r.table_name() == Some("raw_cdc_pgbench_accounts"))
        .then_output(|| GetPartitionsOutput::builder().partitions(partition("20261101")).next_token("p2").build());
    let parts2 = mock!(aws_sdk_glue::Client::get_partitions)
        .match_requests(|r| r.next_token() == Some("p2"))
        .then_output(|| GetPartitionsOutput::builder().partitions(partition("20261102")).build());
    let get_table = mock!(aws_sdk_glue::Client::get_table).then_output(move || {
        GetTableOutput::builder().table(glue_table("raw_cdc_pgbench_accounts", cdc_location, true)).build()
    });
    // AND a concurrent run registers 20261103 between our listing and our write
    let create = mock!(aws_sdk_glue::Client::batch_create_partition)
        .match_requests(|r| {
            let days: Vec<&str> =
                r.partition_input_list().iter().flat_map(|p| p.values()).map(String::as_str).collect();
            let location = r.partition_input_list()[0].storage_descriptor().and_then(|sd| sd.location());
            days == ["20261103"] && location == Some("s3://cdc-raw/dms/cdc/public/pgbench_accounts/20261103/")
        })
        .then_output(|| {
            let detail = ErrorDetail::builder().error_code("AlreadyExistsException").error_message("exists").build();
            let error = PartitionError::builder().partition_values("20261103").error_detail(detail).build();
            BatchCreatePartitionOutput::builder().errors(error).build()
        });
    let rules = [&first, &second, &parts1, &parts2, &get_table, &create];
    let glue = client!(aws_sdk_glue, RuleMode::MatchAny, rules);
    let catalog = GlueRawCatalog::new(glue, "cdc_database", S3Location::new("cdc-raw", "dms").unwrap());
    // WHEN the CDC table's newest file is listed THEN the table is found on page 2 and not recreated
    let mut listing = RawListing::default();
    let file = |day: &str| RawFile {
        path: format!("{cdc_location}{day}/x.parquet"),
        kind: FileKind::Cdc,
        partition: Some(day.into()),
        size: 100,
        modified: chrono::Utc::now(),
        version: String::new(),
    };
    listing.tables.insert(t.name.to_string(), vec![file("20261101"), file("20261102"), file("20261103")]);
    let sync = catalog.ensure_tables(&cfg, &listing, &NoFiles).await.unwrap();
    assert!(sync.created_tables.is_empty() && sync.problems.is_empty(), "{sync:?}");
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    // WHEN its days are registered THEN only the unknown day is sent; it existed by then, which is fine
    let days: BTreeSet<String> = ["20261101", "20261102", "20261103"].map(String::from).into();
    let added = catalog.register_partitions(&cfg, t, &days).await.unwrap();
    assert_eq!(added, Vec::<String>::new());
    assert_eq!((parts1.num_calls(), parts2.num_calls(), create.num_calls()), (1, 1, 1));
}

#[tokio::test]
async fn a_partition_that_fails_otherwise_is_an_error_naming_table_and_day() {
    let cfg = cfg();
    let location = "s3://cdc-raw/dms/cdc/public/pgbench_accounts/";
    let parts = mock!(aws_sdk_glue::Client::get_partitions).then_output(|| GetPartitionsOutput::builder().build());
    let get_table = mock!(aws_sdk_glue::Client::get_table).then_output(move || {
        GetTableOutput::builder().table(glue_table("raw_cdc_pgbench_accounts", location, true)).build()
    });
    let create = mock!(aws_sdk_glue::Client::batch_create_partition).then_output(|| {
        let detail = ErrorDetail::builder().error_code("InvalidInputException").error_message("bad location").build();
        let error = PartitionError::builder().partition_values("20261101").error_detail(detail).build();
        BatchCreatePartitionOutput::builder().errors(error).build()
    });
    let glue = client!(aws_sdk_glue, RuleMode::MatchAny, [&parts, &get_table, &create]);
    let catalog = GlueRawCatalog::new(glue, "cdc_database", S3Location::new("cdc-raw", "dms").unwrap());
    let days = BTreeSet::from(["20261101".to_string()]);
    let e = catalog.register_partitions(&cfg, accounts(&cfg), &days).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
    for part in ["cdc_database.raw_cdc_pgbench_accounts", "partition 20261101", "InvalidInputException", "bad location"]
    {
        assert!(e.message.contains(part), "{part}: {e}");
    }
}
