//! Run history on DynamoDB: every record carries `ExpiresAt` = end +
//! retention (the table's TTL attribute), and reads skip records already
//! past it, since TTL deletion lags up to 48 hours.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use cdc_core::job::{Claim, JobStateStore, Lease, RunOutcome, RunRecord};
use chrono::{DateTime, Utc};
use support::{TABLE, dynamo, key, raw_history};

const HOUR: Duration = Duration::from_secs(3600);

fn lease() -> Lease {
    Lease::new(Duration::from_secs(600)).unwrap()
}

fn record(execution: &str, start: DateTime<Utc>) -> RunRecord {
    RunRecord::event(execution, start, start + chrono::Duration::seconds(5), RunOutcome::Succeeded, "ok".into())
}

fn number(v: &AttributeValue) -> i64 {
    v.as_n().unwrap().parse().unwrap()
}

#[tokio::test]
async fn records_past_expires_at_are_not_returned() {
    // GIVEN a one-hour retention and four runs: 3 h, 2 h, 30 min and 10 min ago
    let d = dynamo(HOUR).await;
    let now = Utc::now();
    let starts: Vec<(String, DateTime<Utc>)> = [180, 120, 30, 10]
        .iter()
        .enumerate()
        .map(|(i, minutes)| (format!("exec-{i}"), now - chrono::Duration::minutes(*minutes)))
        .collect();
    for (exec, start) in &starts {
        let c = d.store.claim("job", exec, lease(), *start).await.unwrap();
        assert!(matches!(c, Claim::Claimed { .. }), "{c:?}");
        d.store.finish("job", record(exec, *start), BTreeMap::new()).await.unwrap();
    }
    // THEN every record is stored with ExpiresAt = end + retention, in epoch seconds
    let raw = raw_history(&d.client, "job").await;
    assert_eq!(raw.len(), 4);
    for item in &raw {
        let exec = item["ExecutionId"].as_s().unwrap();
        let start = starts.iter().find(|(e, _)| e == exec).unwrap().1;
        let end = start + chrono::Duration::seconds(5);
        assert_eq!(number(&item["ExpiresAt"]), (end + chrono::Duration::hours(1)).timestamp(), "{exec}");
    }
    // AND the job item has no ExpiresAt: it must never expire
    assert!(!support::raw_item(&d.client, "job", "JOB").await.unwrap().contains_key("ExpiresAt"));
    // WHEN the history is read THEN only the two records within the hour come back, newest first
    let h = d.store.history("job", 10).await.unwrap();
    let order: Vec<&str> = h.iter().map(|r| r.execution_id.as_str()).collect();
    assert_eq!(order, ["exec-3", "exec-2"]);
    // AND a limit still counts live records only
    assert_eq!(d.store.history("job", 1).await.unwrap().len(), 1);
    assert!(d.store.history("job", 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_item_whose_ttl_passed_is_skipped_before_dynamodb_deletes_it() {
    // GIVEN a recent run WHEN its ExpiresAt is in the past (TTL deletion pending)
    let d = dynamo(HOUR).await;
    let now = Utc::now();
    d.store.claim("job", "exec-1", lease(), now).await.unwrap();
    d.store.finish("job", record("exec-1", now), BTreeMap::new()).await.unwrap();
    assert_eq!(d.store.history("job", 10).await.unwrap().len(), 1);
    let run_key = raw_history(&d.client, "job").await[0]["RecordKey"].as_s().unwrap().clone();
    d.client
        .update_item()
        .table_name(TABLE)
        .set_key(Some(key("job", &run_key)))
        .update_expression("SET ExpiresAt = :past")
        .expression_attribute_values(":past", AttributeValue::N((now.timestamp() - 1).to_string()))
        .send()
        .await
        .unwrap();
    // THEN the history no longer returns it, though the item is still there
    assert!(d.store.history("job", 10).await.unwrap().is_empty());
    assert_eq!(raw_history(&d.client, "job").await.len(), 1);
}

#[tokio::test]
async fn history_pages_through_many_records() {
    // GIVEN 120 runs (more than one Query page of the store) WHEN all are read THEN all come back in order
    let d = dynamo(support::RETENTION).await;
    let base = Utc::now() - chrono::Duration::hours(2);
    for i in 0..120 {
        let exec = format!("exec-{i:03}");
        let start = base + chrono::Duration::seconds(10 * i);
        d.store.claim("job", &exec, lease(), start).await.unwrap();
        d.store.finish("job", record(&exec, start), BTreeMap::new()).await.unwrap();
    }
    let h = d.store.history("job", 500).await.unwrap();
    assert_eq!(h.len(), 120);
    assert_eq!(h[0].execution_id, "exec-119");
    assert_eq!(h[119].execution_id, "exec-000");
    assert!(h.windows(2).all(|w| w[0].end > w[1].end));
}
