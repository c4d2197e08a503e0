//! Shared by the moto-backed tests: one moto server per test (so tests run in
//! parallel without sharing state), the job-state table created the way
//! template.yaml declares it, and the store on it.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use cdc_aws::DynamoDbJobStore;
use cdc_moto::MotoServer;

pub const TABLE: &str = "cdc-job-state";
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

pub struct Dynamo {
    /// Dropped last: the server outlives the clients.
    pub moto: MotoServer,
    pub client: aws_sdk_dynamodb::Client,
    pub store: DynamoDbJobStore,
}

/// A fresh moto server with the job-state table and a store on it.
pub async fn dynamo(retention: Duration) -> Dynamo {
    let moto = MotoServer::start().expect("moto_server starts (run scripts/python-tools first)");
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let store = DynamoDbJobStore::new(client.clone(), TABLE, retention).unwrap();
    store.ensure_table().await.expect("table created");
    Dynamo { moto, client, store }
}

pub fn key(job_id: &str, record_key: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("JobId".to_string(), AttributeValue::S(job_id.into())),
        ("RecordKey".to_string(), AttributeValue::S(record_key.into())),
    ])
}

/// The raw item, as the SDK reads it (the oracle the store is checked against).
pub async fn raw_item(
    client: &aws_sdk_dynamodb::Client,
    job_id: &str,
    record_key: &str,
) -> Option<HashMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(TABLE)
        .set_key(Some(key(job_id, record_key)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

/// Every history item of a job, oldest first, raw.
pub async fn raw_history(client: &aws_sdk_dynamodb::Client, job_id: &str) -> Vec<HashMap<String, AttributeValue>> {
    client
        .query()
        .table_name(TABLE)
        .key_condition_expression("JobId = :j AND begins_with(RecordKey, :r)")
        .expression_attribute_values(":j", AttributeValue::S(job_id.into()))
        .expression_attribute_values(":r", AttributeValue::S("RUN#".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}
