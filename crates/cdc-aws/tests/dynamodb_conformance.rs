//! The job-state conformance suite of cdc-core against DynamoDB, emulated by
//! moto and driven through the real SDK client, plus the table helper.

mod support;

use std::sync::Arc;

use aws_sdk_dynamodb::types::{BillingMode, KeyType, ScalarAttributeType, TimeToLiveStatus};
use cdc_aws::DynamoDbJobStore;
use cdc_core::ErrorKind;
use cdc_core::job::{JobStateError, JobStateStore};
use support::{RETENTION, TABLE, dynamo};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_store_passes_the_job_state_conformance_suite() {
    // GIVEN the table of template.yaml on moto WHEN every conformance case runs THEN all pass
    let d = dynamo(RETENTION).await;
    cdc_core::job::conformance::run_all(Arc::new(d.store), "ddb").await;
}

#[tokio::test]
async fn ensure_table_creates_the_table_of_the_template_and_is_idempotent() {
    let d = dynamo(RETENTION).await;
    // WHEN it runs a second time on the existing table THEN nothing fails
    d.store.ensure_table().await.unwrap();
    // THEN the table is the one template.yaml declares
    let t = d.client.describe_table().table_name(TABLE).send().await.unwrap().table.unwrap();
    let keys: Vec<(&str, KeyType)> =
        t.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().clone())).collect();
    assert_eq!(keys, [("JobId", KeyType::Hash), ("RecordKey", KeyType::Range)]);
    let mut defs: Vec<(&str, ScalarAttributeType)> =
        t.attribute_definitions().iter().map(|a| (a.attribute_name(), a.attribute_type().clone())).collect();
    defs.sort_by_key(|d| d.0);
    assert_eq!(defs, [("JobId", ScalarAttributeType::S), ("RecordKey", ScalarAttributeType::S)]);
    assert_eq!(t.billing_mode_summary().and_then(|b| b.billing_mode()), Some(&BillingMode::PayPerRequest));
    let ttl = d.client.describe_time_to_live().table_name(TABLE).send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(
        (ttl.attribute_name(), ttl.time_to_live_status()),
        (Some("ExpiresAt"), Some(&TimeToLiveStatus::Enabled))
    );
    let backups = d.client.describe_continuous_backups().table_name(TABLE).send().await.unwrap();
    let pitr = backups.continuous_backups_description().and_then(|c| c.point_in_time_recovery_description());
    assert_eq!(pitr.and_then(|p| p.point_in_time_recovery_status()).map(|s| s.as_str()), Some("ENABLED"));
}

#[tokio::test]
async fn a_table_with_another_key_schema_is_a_config_error() {
    // GIVEN a table of that name keyed on JobId only (the seed's table)
    let moto = cdc_moto::MotoServer::start().unwrap();
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    client
        .create_table()
        .table_name("seed-table")
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("JobId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("JobId")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    // WHEN the store ensures its table THEN a ConfigError names the table and the expected keys
    let store = DynamoDbJobStore::new(client, "seed-table", RETENTION).unwrap();
    let err = store.ensure_table().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ConfigError, "{err}");
    assert!(err.message.contains("seed-table") && err.message.contains("RecordKey RANGE"), "{err}");
}

#[tokio::test]
async fn after_a_moto_reset_the_missing_table_is_a_config_error_naming_it() {
    // GIVEN a working store WHEN moto forgets everything (its reset API)
    let d = dynamo(RETENTION).await;
    assert!(d.store.get("101").await.unwrap().is_none());
    d.moto.reset().unwrap();
    // THEN the store's calls fail with ResourceNotFoundException → ConfigError naming the table
    let err = d.store.get("101").await.unwrap_err();
    let JobStateError::Store(p) = &err else { panic!("{err:?}") };
    assert_eq!(p.kind, ErrorKind::ConfigError, "{p}");
    assert!(p.message.contains(TABLE) && p.message.contains("ResourceNotFoundException"), "{p}");
    // AND the table can be created again: the state is clean
    d.store.ensure_table().await.unwrap();
    assert!(d.store.get("101").await.unwrap().is_none());
}
