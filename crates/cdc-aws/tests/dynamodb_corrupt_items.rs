//! Items this store did not write (another tool, a hand edit, the seed):
//! every call reports `Corrupt` naming the attribute, and nothing is
//! overwritten, least of all by a claim.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use cdc_core::job::{JobStateError, JobStateStore, Lease, RunOutcome, RunRecord};
use chrono::Utc;
use support::{Dynamo, RETENTION, TABLE, dynamo, key, raw_item, s};

fn lease() -> Lease {
    Lease::new(Duration::from_secs(600)).unwrap()
}

async fn put_raw(d: &Dynamo, attributes: &[(&str, AttributeValue)]) {
    let mut item: HashMap<String, AttributeValue> = key("job", "JOB");
    item.extend(attributes.iter().map(|(k, v)| (k.to_string(), v.clone())));
    d.client.put_item().table_name(TABLE).set_item(Some(item)).send().await.unwrap();
}

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, JobStateError>, attribute: &str, call: &str) {
    match result {
        Err(JobStateError::Corrupt { job_id, detail }) => {
            assert_eq!(job_id, "job");
            assert!(detail.contains(&format!("attribute {attribute}")), "{call}: {detail}");
        }
        other => panic!("{call}: expected Corrupt naming {attribute}, got {other:?}"),
    }
}

/// Every call on a corrupt item fails naming `attribute`, and the item is
/// byte for byte what it was.
async fn every_call_refuses(d: &Dynamo, attribute: &str) {
    let before = raw_item(&d.client, "job", "JOB").await.unwrap();
    // A far-future clock: a claim that read the lease wrongly would take over.
    let later = Utc::now() + chrono::Duration::days(365);
    assert_corrupt(d.store.claim("job", "exec-new", lease(), later).await, attribute, "claim");
    assert_corrupt(d.store.get("job").await, attribute, "get");
    let record = RunRecord::event("exec-old", later, later, RunOutcome::Succeeded, "done".into());
    assert_corrupt(d.store.finish("job", record, BTreeMap::new()).await, attribute, "finish");
    assert_corrupt(d.store.extend("job", "exec-old", lease(), later).await, attribute, "extend");
    assert_corrupt(d.store.set_config_fingerprint("job", "exec-old", "f").await, attribute, "set_config_fingerprint");
    assert_corrupt(d.store.set_last_notified("job", later).await, attribute, "set_last_notified");
    assert_corrupt(d.store.reset("job", "clean up", later).await, attribute, "reset");
    assert_eq!(raw_item(&d.client, "job", "JOB").await.unwrap(), before, "the item must be unchanged");
    assert!(support::raw_history(&d.client, "job").await.is_empty(), "no history item may be written");
}

#[tokio::test]
async fn an_item_without_job_state_is_corrupt() {
    // GIVEN an item with an owner and a lease but no JobState
    let d = dynamo(RETENTION).await;
    put_raw(&d, &[("Owner", s("exec-old")), ("LeaseExpires", s("2020-01-01T00:00:00.000000000Z"))]).await;
    every_call_refuses(&d, "JobState").await;
}

#[tokio::test]
async fn a_lease_of_the_wrong_type_is_corrupt() {
    // GIVEN a Running item whose LeaseExpires is a number (epoch seconds), not our timestamp
    let d = dynamo(RETENTION).await;
    put_raw(
        &d,
        &[
            ("JobState", s("Running")),
            ("Owner", s("exec-old")),
            ("JobStart", s("2020-01-01T00:00:00.000000000Z")),
            ("LeaseExpires", AttributeValue::N("1577836800".into())),
        ],
    )
    .await;
    every_call_refuses(&d, "LeaseExpires").await;
}

#[tokio::test]
async fn an_unknown_state_is_corrupt() {
    let d = dynamo(RETENTION).await;
    put_raw(&d, &[("JobState", s("Paused")), ("Owner", s("exec-old"))]).await;
    every_call_refuses(&d, "JobState").await;
}

#[tokio::test]
async fn a_running_item_without_owner_or_lease_is_not_taken_over() {
    // GIVEN a Running item left by another writer, no owner
    let d = dynamo(RETENTION).await;
    put_raw(&d, &[("JobState", s("Running")), ("LeaseExpires", s("2020-01-01T00:00:00.000000000Z"))]).await;
    every_call_refuses(&d, "Owner").await;
    // GIVEN one with an owner but no lease
    put_raw(&d, &[("JobState", s("Running")), ("Owner", s("exec-old"))]).await;
    every_call_refuses(&d, "LeaseExpires").await;
}

#[tokio::test]
async fn malformed_values_inside_attributes_are_corrupt() {
    let d = dynamo(RETENTION).await;
    // GIVEN a timestamp in another format (it would compare wrongly in the lease condition)
    put_raw(&d, &[("JobState", s("Ready")), ("JobEnd", s("2020-01-01T00:00:00Z"))]).await;
    every_call_refuses(&d, "JobEnd").await;
    // GIVEN a negative failure count
    put_raw(&d, &[("JobState", s("Failed")), ("ConsecutiveFailures", AttributeValue::N("-1".into()))]).await;
    every_call_refuses(&d, "ConsecutiveFailures").await;
    // GIVEN a progress hint missing its file count
    let hint = AttributeValue::M(HashMap::from([
        ("LastFile".to_string(), s("cdc/public/orders/x.parquet")),
        ("NewestModified".to_string(), s("2020-01-01T00:00:00.000000000Z")),
    ]));
    put_raw(
        &d,
        &[
            ("JobState", s("Ready")),
            ("ProgressHints", AttributeValue::M(HashMap::from([("orders".to_string(), hint)]))),
        ],
    )
    .await;
    every_call_refuses(&d, "ProgressHints.orders.Files").await;
}

#[tokio::test]
async fn a_corrupt_history_item_is_reported_by_history() {
    // GIVEN a good job and a history item without Outcome
    let d = dynamo(RETENTION).await;
    let now = Utc::now();
    assert!(matches!(d.store.claim("job", "e1", lease(), now).await.unwrap(), cdc_core::job::Claim::Claimed { .. }));
    let mut item = key("job", "RUN#2020-01-01T00:00:00.000000000Z#e0");
    item.insert("ExecutionId".into(), s("e0"));
    item.insert("ExpiresAt".into(), AttributeValue::N((now.timestamp() + 3600).to_string()));
    d.client.put_item().table_name(TABLE).set_item(Some(item)).send().await.unwrap();
    // WHEN the history is read THEN Corrupt names the item and the attribute
    match d.store.history("job", 10).await {
        Err(JobStateError::Corrupt { detail, .. }) => {
            assert!(
                detail.contains("RUN#2020-01-01T00:00:00.000000000Z#e0") && detail.contains("attribute Outcome"),
                "{detail}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // AND the job item itself is still fine
    assert!(d.store.get("job").await.unwrap().is_some());
}
