//! The conditional writes themselves, under races forced deterministically:
//! an SDK interceptor lets another writer change the job item after the
//! store read it and just before its write leaves. The conformance suite's
//! concurrent claims mostly resolve at the read; these cases reach the
//! write's condition every time, so a wrong condition fails them.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use cdc_core::job::{Claim, JobState, JobStateError, JobStateStore, Lease, RunOutcome, RunRecord};
use chrono::{DateTime, Utc};
use serde_json::json;
use support::{RETENTION, delete_raw_job, dynamo, put_raw_job, raw_history, raw_item};

fn lease() -> Lease {
    Lease::new(Duration::from_secs(600)).unwrap()
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// The job as another execution's claim leaves it, its lease ending at `until`.
fn running(owner: &str, since: DateTime<Utc>, until: DateTime<Utc>) -> serde_json::Value {
    json!({
        "JobState": {"S": "Running"},
        "Owner": {"S": owner},
        "JobStart": {"S": ts(since)},
        "LeaseExpires": {"S": ts(until)},
        "ConsecutiveFailures": {"N": "0"},
    })
}

fn held_by(c: &Claim) -> Option<&str> {
    match c {
        Claim::Held { owner, .. } => Some(owner),
        Claim::Claimed { .. } => None,
    }
}

#[tokio::test]
async fn a_claim_that_loses_the_race_for_a_new_job_is_held() {
    // GIVEN no item WHEN exec-2 claims between exec-1's read and write
    let d = dynamo(RETENTION).await;
    let now = Utc::now();
    let store = d.store_meddled_before("UpdateItem", move |api| {
        put_raw_job(api, running("exec-2", now, now + chrono::Duration::minutes(10)))
    });
    let c = store.claim("job", "exec-1", lease(), now).await.unwrap();
    // THEN exec-1 is told the job is held by exec-2, and exec-2 still holds it
    assert_eq!(held_by(&c), Some("exec-2"), "{c:?}");
    assert_eq!(d.store.get("job").await.unwrap().unwrap().owner.as_deref(), Some("exec-2"));
}

#[tokio::test]
async fn a_claim_that_loses_the_race_for_a_free_job_is_held() {
    // GIVEN a Ready job WHEN exec-2 claims between exec-1's read and write
    let d = dynamo(RETENTION).await;
    let now = Utc::now();
    d.store.claim("job", "exec-0", lease(), now).await.unwrap();
    d.store
        .finish("job", RunRecord::event("exec-0", now, now, RunOutcome::Succeeded, "ok".into()), BTreeMap::new())
        .await
        .unwrap();
    let store = d.store_meddled_before("UpdateItem", move |api| {
        put_raw_job(api, running("exec-2", now, now + chrono::Duration::minutes(10)))
    });
    let c = store.claim("job", "exec-1", lease(), now).await.unwrap();
    assert_eq!(held_by(&c), Some("exec-2"), "{c:?}");
    assert_eq!(d.store.get("job").await.unwrap().unwrap().owner.as_deref(), Some("exec-2"));
}

#[tokio::test]
async fn a_claim_retries_when_the_job_it_lost_became_free_again() {
    // GIVEN no item WHEN another writer creates it Ready before exec-1 writes
    let d = dynamo(RETENTION).await;
    let now = Utc::now();
    let store = d.store_meddled_before("UpdateItem", |api| {
        put_raw_job(api, json!({"JobState": {"S": "Failed"}, "ConsecutiveFailures": {"N": "2"}}))
    });
    // THEN the first write fails, the second (on the item returned) wins, keeping the failure count
    let c = store.claim("job", "exec-1", lease(), now).await.unwrap();
    let Claim::Claimed { job, took_over_from } = c else { panic!("{c:?}") };
    assert_eq!(took_over_from, None);
    assert_eq!((job.state, job.owner.as_deref(), job.consecutive_failures), (JobState::Running, Some("exec-1"), 2));
    assert_eq!(d.store.get("job").await.unwrap().unwrap(), job);
}

#[tokio::test]
async fn a_takeover_whose_owner_extended_in_time_is_held_and_unrecorded() {
    // GIVEN exec-1's lease expired at exec-2's clock
    let d = dynamo(RETENTION).await;
    let start = Utc::now() - chrono::Duration::hours(1);
    d.store.claim("job", "exec-1", lease(), start).await.unwrap();
    let later = lease().expiry_from(start) + chrono::Duration::seconds(1);
    // WHEN exec-1 extends between exec-2's read and its takeover transaction
    let store = d.store_meddled_before("TransactWriteItems", move |api| {
        put_raw_job(api, running("exec-1", start, later + chrono::Duration::minutes(10)))
    });
    let c = store.claim("job", "exec-2", lease(), later).await.unwrap();
    // THEN exec-2 is held off, exec-1 keeps the job, and no takeover is recorded
    assert_eq!(held_by(&c), Some("exec-1"), "{c:?}");
    assert_eq!(d.store.get("job").await.unwrap().unwrap().owner.as_deref(), Some("exec-1"));
    assert!(raw_history(&d.client, "job").await.is_empty());
}

#[tokio::test]
async fn a_takeover_beaten_by_another_takeover_does_not_record_the_wrong_owner() {
    // GIVEN exec-1's lease expired WHEN exec-3 takes over (its own lease already expired
    // at exec-2's far-ahead clock) between exec-2's read and write
    let d = dynamo(RETENTION).await;
    let start = Utc::now() - chrono::Duration::hours(3);
    d.store.claim("job", "exec-1", lease(), start).await.unwrap();
    let exec3_start = start + chrono::Duration::minutes(20);
    let later = start + chrono::Duration::hours(2);
    let store = d.store_meddled_before("TransactWriteItems", move |api| {
        put_raw_job(api, running("exec-3", exec3_start, exec3_start + chrono::Duration::minutes(10)))
    });
    let c = store.claim("job", "exec-2", lease(), later).await.unwrap();
    // THEN exec-2 retries on what it saw and takes the job over from exec-3, not exec-1
    let Claim::Claimed { took_over_from, .. } = c else { panic!("{c:?}") };
    assert_eq!(took_over_from.as_deref(), Some("exec-3"));
    let h = d.store.history("job", 10).await.unwrap();
    let records: Vec<(&str, RunOutcome)> = h.iter().map(|r| (r.execution_id.as_str(), r.outcome)).collect();
    assert_eq!(records, [("exec-3", RunOutcome::TakenOver)]);
    assert_eq!(h[0].start, exec3_start);
}

#[tokio::test]
async fn an_owner_that_lost_the_job_before_its_write_gets_not_owner() {
    let d = dynamo(RETENTION).await;
    let now = Utc::now();
    let take =
        move |api: &cdc_moto::MotoApi| put_raw_job(api, running("exec-2", now, now + chrono::Duration::minutes(30)));
    for op in ["extend", "set_config_fingerprint", "finish"] {
        // GIVEN exec-1 holds the job
        d.store.reset("job", "next case", now).await.ok();
        assert!(matches!(d.store.claim("job", "exec-1", lease(), now).await.unwrap(), Claim::Claimed { .. }));
        let history_before = raw_history(&d.client, "job").await.len();
        // WHEN exec-2 takes it between exec-1's read and write
        let target = if op == "finish" { "TransactWriteItems" } else { "UpdateItem" };
        let store = d.store_meddled_before(target, take);
        let err = match op {
            // Later than the claim, so the lease must be written (an extension
            // that would not lengthen it writes nothing).
            "extend" => store.extend("job", "exec-1", lease(), now + chrono::Duration::seconds(60)).await.map(|_| ()),
            "set_config_fingerprint" => store.set_config_fingerprint("job", "exec-1", "f1").await,
            _ => store
                .finish(
                    "job",
                    RunRecord::event("exec-1", now, now, RunOutcome::Succeeded, "ok".into()),
                    BTreeMap::new(),
                )
                .await
                .map(|_| ()),
        }
        .unwrap_err();
        // THEN NotOwner names exec-2, and exec-2's item and the history are untouched
        assert_eq!(
            err,
            JobStateError::NotOwner {
                job_id: "job".into(),
                execution_id: "exec-1".into(),
                owner: Some("exec-2".into())
            },
            "{op}"
        );
        let item = raw_item(&d.client, "job", "JOB").await.unwrap();
        assert_eq!(item["Owner"].as_s().unwrap(), "exec-2", "{op}");
        assert_eq!(item["LeaseExpires"].as_s().unwrap(), &ts(now + chrono::Duration::minutes(30)), "{op}");
        assert!(!item.contains_key("ConfigFingerprint"), "{op}");
        assert_eq!(raw_history(&d.client, "job").await.len(), history_before, "{op}");
    }
}

#[tokio::test]
async fn a_job_deleted_before_the_write_is_unknown() {
    let d = dynamo(RETENTION).await;
    let now = Utc::now();
    for op in ["set_last_notified", "reset", "extend"] {
        // GIVEN exec-1 holds the job WHEN the item is deleted between the read and the write
        assert!(matches!(d.store.claim("job", "exec-1", lease(), now).await.unwrap(), Claim::Claimed { .. }));
        let target = if op == "reset" { "TransactWriteItems" } else { "UpdateItem" };
        let store = d.store_meddled_before(target, delete_raw_job);
        let err = match op {
            "set_last_notified" => store.set_last_notified("job", now).await,
            "reset" => store.reset("job", "stuck", now).await.map(|_| ()),
            _ => store.extend("job", "exec-1", lease(), now + chrono::Duration::seconds(60)).await.map(|_| ()),
        }
        .unwrap_err();
        // THEN UnknownJob, and the write did not recreate the item
        assert_eq!(err, JobStateError::UnknownJob("job".into()), "{op}");
        assert!(raw_item(&d.client, "job", "JOB").await.is_none(), "{op}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_claims_racing_on_an_absent_job_give_one_owner_and_never_a_corrupt_item() {
    // GIVEN a table without the job item (a new deployment), over several rounds
    let d = dynamo(RETENTION).await;
    let now = Utc::now();
    for round in 0..8 {
        delete_raw_job(d.moto.api());
        // WHEN eight executions claim it at the same moment
        let claims = futures::future::join_all((0..8).map(|i| {
            let execution = format!("exec-{round}-{i}");
            let store = &d.store;
            async move { store.claim("job", &execution, lease(), now).await }
        }))
        .await;
        // THEN exactly one holds it, every other one is told so, and none calls the item corrupt
        let claims: Vec<Claim> = claims.into_iter().map(|c| c.expect("no claim fails")).collect();
        let winners: Vec<&Claim> = claims.iter().filter(|c| held_by(c).is_none()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {claims:?}");
        let Claim::Claimed { job, .. } = winners[0] else { unreachable!() };
        let owner = job.owner.clone().unwrap();
        assert!(claims.iter().filter_map(held_by).all(|h| h == owner), "round {round}: {claims:?}");
    }
}

#[tokio::test]
async fn clearing_the_progress_hints_forgets_every_table_and_nothing_else() {
    // GIVEN a finished run that left a hint for one table
    let d = dynamo(RETENTION).await;
    let now = Utc::now();
    d.store.claim("job", "exec-1", lease(), now).await.unwrap();
    let hint: cdc_core::job::ProgressHint = serde_json::from_value(json!({
        "last_file": "s3://raw/cdc/public/t/20261201-000000000.parquet", "files": 3, "newest_modified": now,
    }))
    .unwrap();
    let record = RunRecord::event("exec-1", now, now, RunOutcome::Succeeded, "done".into());
    d.store.finish("job", record, BTreeMap::from([("t".to_string(), hint)])).await.unwrap();
    assert_eq!(d.store.get("job").await.unwrap().unwrap().progress_hints.len(), 1);
    // WHEN the hints are cleared, twice
    d.store.clear_progress_hints("job").await.unwrap();
    d.store.clear_progress_hints("job").await.unwrap();
    // THEN no hint is left, and the job and its history are kept
    let job = d.store.get("job").await.unwrap().unwrap();
    assert!(job.progress_hints.is_empty());
    assert_eq!(job.state, JobState::Ready);
    assert_eq!(raw_history(&d.client, "job").await.len(), 1);
    // AND an unknown job is an error naming it, and is not created
    let e = d.store.clear_progress_hints("nope").await.unwrap_err();
    assert!(matches!(&e, JobStateError::UnknownJob(j) if j == "nope"), "{e:?}");
    assert!(d.store.get("nope").await.unwrap().is_none());
}
