//! Shared by the moto-backed tests: one moto server per test (so tests run in
//! parallel without sharing state), the job-state table created the way
//! template.yaml declares it, and the store on it.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use cdc_aws::DynamoDbJobStore;
use cdc_moto::{MotoApi, MotoServer};

pub const TABLE: &str = "cdc-job-state";
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

pub struct Dynamo {
    pub client: aws_sdk_dynamodb::Client,
    pub store: DynamoDbJobStore,
    pub config: SdkConfig,
    /// Declared last so it drops last: the server outlives the clients.
    pub moto: MotoServer,
}

/// A fresh moto server with the job-state table and a store on it.
pub async fn dynamo(retention: Duration) -> Dynamo {
    let moto = MotoServer::start().expect("moto_server starts (run scripts/python-tools first)");
    let config = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let store = DynamoDbJobStore::new(client.clone(), TABLE, retention).unwrap();
    store.ensure_table().await.expect("table created");
    Dynamo { client, store, config, moto }
}

impl Dynamo {
    /// A second store on the same table whose client runs `meddle` once, just
    /// before its first `target` request (`UpdateItem`, `TransactWriteItems`)
    /// is sent: another writer's change lands between the store's read and
    /// its conditional write, deterministically.
    pub fn store_meddled_before(
        &self,
        target: &'static str,
        meddle: impl Fn(&MotoApi) + Send + Sync + 'static,
    ) -> DynamoDbJobStore {
        let interceptor = Meddler {
            target: format!("DynamoDB_20120810.{target}"),
            api: self.moto.api().clone(),
            fired: AtomicBool::new(false),
            meddle: Box::new(meddle),
        };
        let conf = aws_sdk_dynamodb::config::Builder::from(&self.config).interceptor(interceptor).build();
        DynamoDbJobStore::new(aws_sdk_dynamodb::Client::from_conf(conf), TABLE, RETENTION).unwrap()
    }
}

struct Meddler {
    target: String,
    api: MotoApi,
    fired: AtomicBool,
    meddle: Box<dyn Fn(&MotoApi) + Send + Sync>,
}

impl std::fmt::Debug for Meddler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meddler").field("target", &self.target).finish()
    }
}

impl Intercept for Meddler {
    fn name(&self) -> &'static str {
        "Meddler"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context.request().headers().get("x-amz-target");
        if target == Some(self.target.as_str()) && !self.fired.swap(true, Ordering::SeqCst) {
            (self.meddle)(&self.api);
        }
        Ok(())
    }
}

/// Writes a raw job item through moto's API (blocking: usable in a meddler).
pub fn put_raw_job(api: &MotoApi, attributes: serde_json::Value) {
    let mut item = serde_json::json!({"JobId": {"S": "job"}, "RecordKey": {"S": "JOB"}});
    item.as_object_mut().unwrap().extend(attributes.as_object().unwrap().clone());
    let body = serde_json::json!({"TableName": TABLE, "Item": item}).to_string();
    let (status, answer) = api.aws_json("dynamodb", "DynamoDB_20120810.PutItem", &body).unwrap();
    assert_eq!(status, 200, "{answer}");
}

/// Deletes the job item through moto's API (blocking: usable in a meddler).
pub fn delete_raw_job(api: &MotoApi) {
    let body =
        serde_json::json!({"TableName": TABLE, "Key": {"JobId": {"S": "job"}, "RecordKey": {"S": "JOB"}}}).to_string();
    let (status, answer) = api.aws_json("dynamodb", "DynamoDB_20120810.DeleteItem", &body).unwrap();
    assert_eq!(status, 200, "{answer}");
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
