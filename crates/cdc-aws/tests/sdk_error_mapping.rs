//! SDK error mapping without a server: aws-smithy-mocks answers each HTTP
//! attempt, so the SDK's own deserialisers and retry strategy (the one
//! `client_config` sets) run for real. The oracle is the error class and the
//! number of attempts the mock saw.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use cdc_aws::client_config::{MAX_ATTEMPTS, retry_config};
use cdc_aws::{DynamoDbJobStore, SnsNotifier};
use cdc_core::ErrorKind;
use cdc_core::job::{Claim, JobStateError, JobStateStore, Lease, RunOutcome, RunRecord};
use cdc_core::notify::{Notice, Notifier, RecoveryNotice};
use chrono::{DateTime, Utc};

const TABLE: &str = "cdc-job-state";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:cdc-alerts";

fn lease() -> Lease {
    Lease::new(Duration::from_secs(600)).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// A DynamoDB (JSON protocol) error answer.
fn dynamodb_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{message}"}}"#);
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// An SNS (query protocol, XML) error answer.
fn sns_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>r-1</RequestId></ErrorResponse>"
    );
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// The production retry settings, with a 1 ms base backoff so the test is quick.
macro_rules! client {
    ($crate_name:ident, $mode:expr, $rules:expr) => {
        mock_client!($crate_name, $mode, $rules, |c| c
            .retry_config(retry_config().with_initial_backoff(Duration::from_millis(1))))
    };
}

fn store(client: aws_sdk_dynamodb::Client) -> DynamoDbJobStore {
    DynamoDbJobStore::new(client, TABLE, Duration::from_secs(86400)).unwrap()
}

fn timestamp(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
}

fn running_item(owner: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("JobId".into(), AttributeValue::S("job".into())),
        ("RecordKey".into(), AttributeValue::S("JOB".into())),
        ("JobState".into(), AttributeValue::S("Running".into())),
        ("Owner".into(), AttributeValue::S(owner.into())),
        ("JobStart".into(), timestamp(now())),
        ("LeaseExpires".into(), timestamp(now() + chrono::Duration::seconds(600))),
        ("ConsecutiveFailures".into(), AttributeValue::N("0".into())),
    ])
}

fn ready_item() -> HashMap<String, AttributeValue> {
    let mut item = running_item("exec-0");
    item.insert("JobState".into(), AttributeValue::S("Ready".into()));
    item.remove("LeaseExpires");
    item
}

fn store_error(result: Result<impl std::fmt::Debug, JobStateError>) -> cdc_core::PipelineError {
    match result {
        Err(JobStateError::Store(p)) => p,
        other => panic!("expected a store error, got {other:?}"),
    }
}

#[tokio::test]
async fn throttling_is_retried_then_retryable() {
    // GIVEN DynamoDB throttles every attempt
    let throttled = mock!(aws_sdk_dynamodb::Client::get_item).then_http_response(|| {
        dynamodb_error(400, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput")
    });
    let store = store(client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&throttled]));
    // WHEN a claim reads the job THEN the SDK tried MAX_ATTEMPTS times, and the error is Retryable
    let err = store_error(store.claim("job", "exec-1", lease(), now()).await);
    assert_eq!(err.kind, ErrorKind::Retryable, "{err}");
    assert!(err.message.contains(TABLE) && err.message.contains("ProvisionedThroughputExceededException"), "{err}");
    assert_eq!(throttled.num_calls(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn throttling_that_stops_within_the_attempts_is_invisible() {
    // GIVEN two throttled attempts (ThrottlingException, then a 503), then an answer
    let get = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .http_response(|| dynamodb_error(400, "ThrottlingException", "Rate exceeded"))
        .http_response(|| HttpResponse::new(StatusCode::try_from(503).unwrap(), SdkBody::from("")))
        .output(|| GetItemOutput::builder().set_item(Some(running_item("exec-9"))).build())
        .build();
    let store = store(client!(aws_sdk_dynamodb, RuleMode::Sequential, [&get]));
    // WHEN a claim reads THEN it sees the item (held by exec-9) after three attempts
    let c = store.claim("job", "exec-1", lease(), now()).await.unwrap();
    assert!(matches!(&c, Claim::Held { owner, .. } if owner == "exec-9"), "{c:?}");
    assert_eq!(get.num_calls(), 3);
}

#[tokio::test]
async fn a_conditional_check_failure_on_claim_is_held() {
    // GIVEN the job read as Ready, then taken by exec-9 before our write
    let get = mock!(aws_sdk_dynamodb::Client::get_item)
        .then_output(|| GetItemOutput::builder().set_item(Some(ready_item())).build());
    let update = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| {
            r.condition_expression() == Some("#JobState IN (:ready, :failed)")
                && r.return_values_on_condition_check_failure().map(|v| v.as_str()) == Some("ALL_OLD")
        })
        .then_error(|| {
            aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                aws_sdk_dynamodb::types::error::ConditionalCheckFailedException::builder()
                    .message("The conditional request failed")
                    .set_item(Some(running_item("exec-9")))
                    .build(),
            )
        });
    let store = store(client!(aws_sdk_dynamodb, RuleMode::Sequential, [&get, &update]));
    // WHEN exec-1 claims THEN Held by exec-9, from the item returned with the failure (no re-read)
    let c = store.claim("job", "exec-1", lease(), now()).await.unwrap();
    match c {
        Claim::Held { owner, since, lease_expires } => {
            assert_eq!(owner, "exec-9");
            assert_eq!(since, Some(now()));
            assert_eq!(lease_expires, Some(now() + chrono::Duration::seconds(600)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((get.num_calls(), update.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_conditional_check_failure_on_extend_is_not_owner() {
    // GIVEN exec-1 owns the job when read, exec-2 when written
    let get = mock!(aws_sdk_dynamodb::Client::get_item)
        .then_output(|| GetItemOutput::builder().set_item(Some(running_item("exec-1"))).build());
    let update = mock!(aws_sdk_dynamodb::Client::update_item).then_http_response(|| {
        let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{"JobId":{"S":"job"},"RecordKey":{"S":"JOB"},"JobState":{"S":"Running"},"Owner":{"S":"exec-2"},"LeaseExpires":{"S":"2027-01-15T08:10:00.000000000Z"}}}"#;
        HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body))
    });
    let store = store(client!(aws_sdk_dynamodb, RuleMode::Sequential, [&get, &update]));
    // WHEN exec-1 extends (later than its lease was set, so it must write)
    // THEN NotOwner naming exec-2; the failure was not retried
    let later = now() + chrono::Duration::seconds(60);
    let err = store.extend("job", "exec-1", lease(), later).await.unwrap_err();
    assert_eq!(
        err,
        JobStateError::NotOwner { job_id: "job".into(), execution_id: "exec-1".into(), owner: Some("exec-2".into()) }
    );
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn a_cancelled_finish_transaction_maps_by_reason() {
    // GIVEN exec-1 owns the job WHEN the finish transaction is cancelled by a conflict THEN Retryable
    let get = mock!(aws_sdk_dynamodb::Client::get_item)
        .then_output(|| GetItemOutput::builder().set_item(Some(running_item("exec-1"))).build());
    let conflict = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_http_response(|| {
        let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}]}"#;
        HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body))
    });
    let store = store(client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&get, &conflict]));
    let record = RunRecord::event("exec-1", now(), now(), RunOutcome::Succeeded, "ok".into());
    let err = store_error(store.finish("job", record.clone(), BTreeMap::new()).await);
    assert_eq!(err.kind, ErrorKind::Retryable, "{err}");
    assert!(err.message.contains("TransactionConflict"), "{err}");

    // WHEN it is cancelled by the owner condition THEN NotOwner with the current owner
    let lost = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_http_response(|| {
        let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":[{"Code":"ConditionalCheckFailed","Message":"The conditional request failed","Item":{"JobId":{"S":"job"},"RecordKey":{"S":"JOB"},"JobState":{"S":"Running"},"Owner":{"S":"exec-7"},"LeaseExpires":{"S":"2027-01-15T08:10:00.000000000Z"}}},{"Code":"None"}]}"#;
        HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body))
    });
    let store = store_for(&[&get, &lost]);
    let err = store.finish("job", record, BTreeMap::new()).await.unwrap_err();
    assert!(matches!(&err, JobStateError::NotOwner { owner: Some(o), .. } if o == "exec-7"), "{err:?}");
}

fn store_for(rules: &[&aws_smithy_mocks::Rule]) -> DynamoDbJobStore {
    store(client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules.iter().copied()))
}

#[tokio::test]
async fn unknown_errors_map_by_status() {
    // GIVEN an error code this crate does not know, on a 400 THEN ConfigError at once (not retried)
    let odd = mock!(aws_sdk_dynamodb::Client::get_item)
        .then_http_response(|| dynamodb_error(400, "BrandNewException", "something new"));
    let err = store_error(store_for(&[&odd]).get("job").await);
    assert_eq!(err.kind, ErrorKind::ConfigError, "{err}");
    assert!(err.message.contains("BrandNewException") && err.message.contains("something new"), "{err}");
    assert_eq!(odd.num_calls(), 1);
    // GIVEN the same on a 500 THEN retried, then Retryable
    let odd5xx = mock!(aws_sdk_dynamodb::Client::get_item)
        .then_http_response(|| dynamodb_error(500, "BrandNewException", "something new"));
    let err = store_error(store_for(&[&odd5xx]).get("job").await);
    assert_eq!(err.kind, ErrorKind::Retryable, "{err}");
    assert_eq!(odd5xx.num_calls(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn a_missing_table_or_denied_access_is_a_config_error_naming_the_table() {
    for (code, status) in
        [("ResourceNotFoundException", 400), ("AccessDeniedException", 400), ("ValidationException", 400)]
    {
        let rule =
            mock!(aws_sdk_dynamodb::Client::get_item).then_http_response(move || dynamodb_error(status, code, "no"));
        let err = store_error(store_for(&[&rule]).get("job").await);
        assert_eq!(err.kind, ErrorKind::ConfigError, "{code}: {err}");
        assert!(err.message.contains(&format!("table {TABLE}")) && err.message.contains(code), "{err}");
        assert_eq!(rule.num_calls(), 1, "{code} must not be retried");
    }
}

fn notice() -> Notice {
    Notice::Recovery(RecoveryNotice {
        job_id: "job".into(),
        execution_id: "exec-1".into(),
        console_link: None,
        failures_before: 2,
        recovered_at: now(),
    })
}

#[tokio::test]
async fn sns_throttling_is_retried_then_retryable() {
    let throttled =
        mock!(aws_sdk_sns::Client::publish).then_http_response(|| sns_error(400, "Throttling", "Rate exceeded"));
    let sns = client!(aws_sdk_sns, RuleMode::MatchAny, [&throttled]);
    let err = SnsNotifier::new(sns, TOPIC).send(&notice()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Retryable, "{err}");
    assert!(err.message.contains(TOPIC), "{err}");
    assert_eq!(throttled.num_calls(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn sns_not_found_authorization_and_invalid_parameter_are_config_errors() {
    for (code, status) in [("NotFound", 404), ("AuthorizationError", 403), ("InvalidParameter", 400)] {
        let rule = mock!(aws_sdk_sns::Client::publish).then_http_response(move || sns_error(status, code, "no"));
        let sns = client!(aws_sdk_sns, RuleMode::MatchAny, [&rule]);
        let err = SnsNotifier::new(sns, TOPIC).send(&notice()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::ConfigError, "{code}: {err}");
        assert!(err.message.contains(TOPIC) && err.message.contains(code), "{err}");
        assert_eq!(rule.num_calls(), 1, "{code} must not be retried");
    }
}

#[tokio::test]
async fn sns_publish_sends_subject_body_and_attributes() {
    // GIVEN a mock that checks the request WHEN a notice is sent THEN it carries all four parts
    let n = notice();
    let (subject, body) = (n.subject(), n.body());
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |r| {
            let attrs = r.message_attributes().cloned().unwrap_or_default();
            let value = |k: &str| attrs.get(k).and_then(|v| v.string_value()).map(str::to_string);
            r.topic_arn() == Some(TOPIC)
                && r.subject() == Some(subject.as_str())
                && r.message() == Some(body.as_str())
                && value("job_id").as_deref() == Some("job")
                && value("kind").as_deref() == Some("recovery")
        })
        .then_output(|| aws_sdk_sns::operation::publish::PublishOutput::builder().message_id("m-1").build());
    let sns = client!(aws_sdk_sns, RuleMode::Sequential, [&publish]);
    SnsNotifier::new(sns, TOPIC).send(&n).await.unwrap();
    assert_eq!(publish.num_calls(), 1);
}

/// A credentials provider that always fails the given way.
#[derive(Debug)]
struct FailingCredentials(fn() -> CredentialsError);

impl ProvideCredentials for FailingCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err((self.0)()))
    }
}

#[tokio::test]
async fn missing_credentials_are_a_config_error_and_a_slow_provider_is_retryable() {
    let cases: [(fn() -> CredentialsError, ErrorKind); 3] = [
        (|| CredentialsError::not_loaded("no credentials in the environment"), ErrorKind::ConfigError),
        (|| CredentialsError::invalid_configuration("profile without keys"), ErrorKind::ConfigError),
        (|| CredentialsError::provider_timed_out(Duration::from_secs(5)), ErrorKind::Retryable),
    ];
    for (failure, kind) in cases {
        // GIVEN credentials that cannot be had (and nothing listening, were a request sent)
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .retry_config(retry_config().with_initial_backoff(Duration::from_millis(1)))
            .credentials_provider(FailingCredentials(failure))
            .build();
        // WHEN the store calls DynamoDB
        let err = store_error(store(aws_sdk_dynamodb::Client::from_conf(conf)).get("job").await);
        // THEN the class says whether waiting can help, and the message says why
        assert_eq!(err.kind, kind, "{err}");
        assert!(err.message.contains(&failure().to_string()), "{err}");
    }
}
