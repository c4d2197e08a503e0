//! The one conformance suite every `JobStateStore` adapter must pass
//! (compiled with the `conformance` feature, for adapters' tests only).
//! Each case uses its own job id, so cases share a store without interfering.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Claim, JobState, JobStateError, JobStateStore, Lease, RunOutcome, RunRecord, TableRunStats};

fn lease() -> Lease {
    Lease::new(Duration::from_secs(600)).unwrap()
}

fn record(execution: &str, start: DateTime<Utc>, outcome: RunOutcome) -> RunRecord {
    RunRecord {
        execution_id: execution.into(),
        start,
        end: start + chrono::Duration::seconds(5),
        outcome,
        tables: vec![TableRunStats { table: "t".into(), files: 2, changes: 10, rows: 9, seconds: 1.5, error: None }],
        failed_tables: if outcome == RunOutcome::Failed { vec!["t".into()] } else { vec![] },
        error: (outcome == RunOutcome::Failed).then(|| "DataError: bad file".to_string()),
        warnings: vec!["table t: 1 object(s) the DMS layout does not explain".into()],
        full_listing: outcome == RunOutcome::Succeeded,
    }
}

fn claimed(c: &Claim) -> bool {
    matches!(c, Claim::Claimed { .. })
}

/// Runs every case; `prefix` keeps job ids apart between runs on one store.
pub async fn run_all(store: Arc<dyn JobStateStore>, prefix: &str) {
    first_claim_creates_the_item(&*store, &format!("{prefix}-first")).await;
    held_job_is_skipped(&*store, &format!("{prefix}-held")).await;
    expired_lease_is_taken_over(&*store, &format!("{prefix}-expired")).await;
    concurrent_claims_have_one_winner(Arc::clone(&store), &format!("{prefix}-race")).await;
    only_the_owner_finishes(&*store, &format!("{prefix}-owner")).await;
    failure_then_next_claim_succeeds(&*store, &format!("{prefix}-fail")).await;
    lease_extension_keeps_the_job(&*store, &format!("{prefix}-extend")).await;
    history_is_newest_first_with_contents(&*store, &format!("{prefix}-history")).await;
    reset_needs_a_known_job_and_a_reason(&*store, &format!("{prefix}-reset")).await;
    an_incident_is_recorded_once_per_execution(&*store, &format!("{prefix}-incident")).await;
    a_run_that_listed_whole_is_remembered(&*store, &format!("{prefix}-listing")).await;
    table_states_keep_requests_apart_from_runs(&*store, &format!("{prefix}-tables")).await;
}

pub async fn table_states_keep_requests_apart_from_runs(store: &dyn JobStateStore, job: &str) {
    use super::{TableLife, TableUpdate};
    let t0 = Utc::now() - chrono::Duration::minutes(10);
    let at = |m: i64| t0 + chrono::Duration::minutes(m);
    // GIVEN no job item yet: a resync request is recorded all the same
    assert!(store.table_states(job).await.unwrap().is_empty());
    store.update_table(job, "orders", TableUpdate::RequestResync { at: at(0) }).await.unwrap();
    let states = store.table_states(job).await.unwrap();
    assert_eq!(states["orders"].resync_requested, Some(at(0)));
    assert_eq!(states["orders"].shown(), TableLife::ResyncRequired);
    // WHEN an execution claims the job and starts the rebuild
    store.claim(job, "exec-1", lease(), at(1)).await.unwrap();
    let id = crate::ports::StatementId("stmt-1".into());
    let resyncing = TableUpdate::Set {
        life: TableLife::Resyncing,
        reason: Some("resync".into()),
        statement_id: Some(id.clone()),
        at: at(2),
    };
    store.update_table(job, "orders", resyncing).await.unwrap();
    // AND a second request comes while it runs
    store.update_table(job, "orders", TableUpdate::RequestResync { at: at(3) }).await.unwrap();
    let s = &store.table_states(job).await.unwrap()["orders"];
    assert_eq!((s.shown(), s.statement_id.clone(), s.resync_requested), (TableLife::Resyncing, Some(id), Some(at(3))));
    // THEN the rebuild submitted at 2 leaves the newer request, and clears it once rebuilt after it
    store.update_table(job, "orders", TableUpdate::Rebuilt { submitted_at: at(2), at: at(4) }).await.unwrap();
    let s = &store.table_states(job).await.unwrap()["orders"];
    assert_eq!((s.life, s.statement_id.clone(), s.resync_requested), (TableLife::Active, None, Some(at(3))));
    assert_eq!(s.reason.as_deref(), Some("resync"), "a rebuilt table keeps why it was rebuilt");
    store.update_table(job, "orders", TableUpdate::Rebuilt { submitted_at: at(5), at: at(6) }).await.unwrap();
    let s = &store.table_states(job).await.unwrap()["orders"];
    assert_eq!((s.shown(), s.resync_requested), (TableLife::Active, None));
    // AND a failure is kept with its reason, a table apart from the others
    let failed = TableUpdate::Set {
        life: TableLife::Failed,
        reason: Some("DataError: x".into()),
        statement_id: None,
        at: at(7),
    };
    store.update_table(job, "items", failed).await.unwrap();
    let states = store.table_states(job).await.unwrap();
    assert_eq!((states["items"].life, states["items"].reason.as_deref()), (TableLife::Failed, Some("DataError: x")));
    assert_eq!(states["orders"].life, TableLife::Active);
    // AND a schema change is kept beside the life, which it leaves as it was
    let what = "column email varchar added (first in x.parquet)".to_string();
    let by = |e: &str| e.to_string();
    let change = |what: &str, t: i64, e: &str| TableUpdate::SchemaChanged { what: what.into(), at: at(t), by: by(e) };
    store.update_table(job, "items", change(&what, 8, "exec-1")).await.unwrap();
    let states = store.table_states(job).await.unwrap();
    assert_eq!(states["items"].life, TableLife::Failed);
    assert_eq!(
        (states["items"].schema_change.as_deref(), states["items"].schema_changed),
        (Some(what.as_str()), Some(at(8)))
    );
    // AND a further change by the same execution is added to it (once), one by another replaces it
    let widened = "column v widened to varchar(9) (x)";
    store.update_table(job, "items", change(widened, 9, "exec-1")).await.unwrap();
    store.update_table(job, "items", change(widened, 9, "exec-1")).await.unwrap();
    let both = format!("{what}; {widened}");
    assert_eq!(store.table_states(job).await.unwrap()["items"].schema_change.as_deref(), Some(both.as_str()));
    store.update_table(job, "items", change(widened, 10, "exec-2")).await.unwrap();
    let states = store.table_states(job).await.unwrap();
    assert_eq!(
        (states["items"].schema_change.as_deref(), states["items"].schema_changed_by.as_deref()),
        (Some(widened), Some("exec-2"))
    );
    assert_eq!(states["orders"].schema_change, None);
    // AND the job item is untouched by all of it
    assert_eq!(store.get(job).await.unwrap().unwrap().owner.as_deref(), Some("exec-1"));
}

pub async fn a_run_that_listed_whole_is_remembered(store: &dyn JobStateStore, job: &str) {
    // GIVEN a run that listed the raw zone whole, then one that did not
    let t0 = Utc::now() - chrono::Duration::minutes(10);
    store.claim(job, "exec-1", lease(), t0).await.unwrap();
    store.finish(job, record("exec-1", t0, RunOutcome::Succeeded), BTreeMap::new()).await.unwrap();
    let t1 = t0 + chrono::Duration::minutes(5);
    store.claim(job, "exec-2", lease(), t1).await.unwrap();
    let bounded = RunRecord { full_listing: false, ..record("exec-2", t1, RunOutcome::Succeeded) };
    store.finish(job, bounded, BTreeMap::new()).await.unwrap();
    // THEN the job keeps when the whole listing started, and each record says which it was
    assert_eq!(store.get(job).await.unwrap().unwrap().last_full_listing, Some(t0));
    let history = store.history(job, 10).await.unwrap();
    let listed: Vec<(&str, bool)> = history.iter().map(|r| (r.execution_id.as_str(), r.full_listing)).collect();
    assert_eq!(listed, vec![("exec-2", false), ("exec-1", true)]);
}

pub async fn an_incident_is_recorded_once_per_execution(store: &dyn JobStateStore, job: &str) {
    // GIVEN no job item at all (a claim that failed never made one)
    let now = Utc::now();
    assert!(!store.incident_recorded(job, "exec-1").await.unwrap());
    // WHEN an execution's incident is recorded twice, and another's once
    let first = store.record_incident(job, "exec-1", now).await.unwrap();
    let again = store.record_incident(job, "exec-1", now).await.unwrap();
    let other = store.record_incident(job, "exec-2", now).await.unwrap();
    // THEN only the first call of each execution records it
    assert_eq!((first, again, other), (true, false, true));
    assert!(store.incident_recorded(job, "exec-1").await.unwrap());
    assert!(!store.incident_recorded(job, "exec-3").await.unwrap());
    // AND incidents are neither a job item nor run records
    assert!(store.get(job).await.unwrap().is_none());
    assert!(store.history(job, 10).await.unwrap().is_empty());
}

pub async fn first_claim_creates_the_item(store: &dyn JobStateStore, job: &str) {
    // GIVEN no item WHEN an execution claims THEN it holds the job, Running
    let now = Utc::now();
    assert!(store.get(job).await.unwrap().is_none());
    let c = store.claim(job, "exec-1", lease(), now).await.unwrap();
    let Claim::Claimed { job: j, took_over_from } = c else { panic!("first claim must win: {c:?}") };
    assert_eq!(took_over_from, None);
    assert_eq!((j.state, j.owner.as_deref()), (JobState::Running, Some("exec-1")));
    let stored = store.get(job).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Running);
    assert_eq!(stored.lease_expires, Some(lease().expiry_from(now)));
}

pub async fn held_job_is_skipped(store: &dyn JobStateStore, job: &str) {
    let now = Utc::now();
    assert!(claimed(&store.claim(job, "exec-1", lease(), now).await.unwrap()));
    // WHEN a second execution claims within the lease THEN "held by exec-1, since …"
    let c = store.claim(job, "exec-2", lease(), now + chrono::Duration::seconds(10)).await.unwrap();
    match c {
        Claim::Held { owner, since, .. } => {
            assert_eq!(owner, "exec-1");
            assert!(since.is_some());
        }
        other => panic!("must be held: {other:?}"),
    }
}

pub async fn expired_lease_is_taken_over(store: &dyn JobStateStore, job: &str) {
    let now = Utc::now() - chrono::Duration::seconds(3600);
    assert!(claimed(&store.claim(job, "exec-1", lease(), now).await.unwrap()));
    // WHEN the lease has expired THEN another execution takes over, recorded
    let later = lease().expiry_from(now) + chrono::Duration::seconds(1);
    let c = store.claim(job, "exec-2", lease(), later).await.unwrap();
    let Claim::Claimed { took_over_from, .. } = c else { panic!("expired lease must be taken over: {c:?}") };
    assert_eq!(took_over_from.as_deref(), Some("exec-1"));
    let h = store.history(job, 10).await.unwrap();
    assert_eq!((h[0].execution_id.as_str(), h[0].outcome), ("exec-1", RunOutcome::TakenOver));
    // AND the stale owner can no longer finish
    let stale = store.finish(job, record("exec-1", now, RunOutcome::Succeeded), BTreeMap::new()).await;
    assert!(matches!(stale, Err(JobStateError::NotOwner { .. })), "{stale:?}");
}

pub async fn concurrent_claims_have_one_winner(store: Arc<dyn JobStateStore>, job: &str) {
    // GIVEN 20 executions started together WHEN they all claim THEN exactly one wins
    let now = Utc::now();
    let claims = (0..20).map(|i| {
        let store = Arc::clone(&store);
        let job = job.to_string();
        tokio::spawn(async move { store.claim(&job, &format!("exec-{i}"), lease(), now).await })
    });
    let mut winners = 0;
    for c in claims {
        if claimed(&c.await.unwrap().unwrap()) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

pub async fn only_the_owner_finishes(store: &dyn JobStateStore, job: &str) {
    let now = Utc::now();
    assert!(claimed(&store.claim(job, "exec-1", lease(), now).await.unwrap()));
    let other = store.finish(job, record("exec-9", now, RunOutcome::Succeeded), BTreeMap::new()).await;
    assert!(matches!(other, Err(JobStateError::NotOwner { .. })), "{other:?}");
    assert_eq!(store.get(job).await.unwrap().unwrap().state, JobState::Running);
    let done = store.finish(job, record("exec-1", now, RunOutcome::Succeeded), BTreeMap::new()).await.unwrap();
    assert_eq!(done.state, JobState::Ready);
}

pub async fn failure_then_next_claim_succeeds(store: &dyn JobStateStore, job: &str) {
    let now = Utc::now();
    assert!(claimed(&store.claim(job, "exec-1", lease(), now).await.unwrap()));
    let failed = store.finish(job, record("exec-1", now, RunOutcome::Failed), BTreeMap::new()).await.unwrap();
    assert_eq!((failed.state, failed.consecutive_failures), (JobState::Failed, 1));
    // AND the failure notification is recorded for throttling
    store.set_last_notified(job, now).await.unwrap();
    assert_eq!(store.get(job).await.unwrap().unwrap().last_notified, Some(now));
    // WHEN the next execution claims THEN it wins at once (no hand edit)
    let later = now + chrono::Duration::seconds(300);
    assert!(claimed(&store.claim(job, "exec-2", lease(), later).await.unwrap()));
    let ok = store.finish(job, record("exec-2", later, RunOutcome::Succeeded), BTreeMap::new()).await.unwrap();
    assert_eq!((ok.state, ok.consecutive_failures), (JobState::Ready, 0));
    assert_eq!(ok.last_success, Some(later + chrono::Duration::seconds(5)));
    // AND a success ends the incident: the next failure notifies at once
    assert_eq!(ok.last_notified, None);
}

pub async fn lease_extension_keeps_the_job(store: &dyn JobStateStore, job: &str) {
    let now = Utc::now() - chrono::Duration::seconds(3600);
    assert!(claimed(&store.claim(job, "exec-1", lease(), now).await.unwrap()));
    // WHEN the owner extends just before expiry
    let near_end = now + chrono::Duration::seconds(590);
    let expiry = store.extend(job, "exec-1", lease(), near_end).await.unwrap();
    assert_eq!(expiry, lease().expiry_from(near_end));
    // THEN past the first expiry the job is still held
    let c = store.claim(job, "exec-2", lease(), now + chrono::Duration::seconds(700)).await.unwrap();
    assert!(!claimed(&c), "{c:?}");
    // AND a non-owner cannot extend
    let other = store.extend(job, "exec-2", lease(), near_end).await;
    assert!(matches!(other, Err(JobStateError::NotOwner { .. })), "{other:?}");
    // AND an extension computed earlier but arriving later (parallel polls)
    // never shortens the lease
    let late = store.extend(job, "exec-1", lease(), near_end - chrono::Duration::seconds(100)).await.unwrap();
    assert_eq!(late, lease().expiry_from(near_end));
    assert_eq!(store.get(job).await.unwrap().unwrap().lease_expires, Some(lease().expiry_from(near_end)));
}

pub async fn history_is_newest_first_with_contents(store: &dyn JobStateStore, job: &str) {
    let base = Utc::now() - chrono::Duration::seconds(600);
    for i in 0..3 {
        let at = base + chrono::Duration::seconds(100 * i);
        let exec = format!("exec-{i}");
        assert!(claimed(&store.claim(job, &exec, lease(), at).await.unwrap()));
        let outcome = if i == 1 { RunOutcome::Failed } else { RunOutcome::Succeeded };
        store.finish(job, record(&exec, at, outcome), BTreeMap::new()).await.unwrap();
    }
    let h = store.history(job, 10).await.unwrap();
    let order: Vec<&str> = h.iter().map(|r| r.execution_id.as_str()).collect();
    assert_eq!(order, ["exec-2", "exec-1", "exec-0"]);
    assert_eq!(h[1], record("exec-1", base + chrono::Duration::seconds(100), RunOutcome::Failed));
    assert_eq!(store.history(job, 2).await.unwrap().len(), 2);
}

pub async fn reset_needs_a_known_job_and_a_reason(store: &dyn JobStateStore, job: &str) {
    let now = Utc::now();
    let unknown = store.reset(job, "stuck", now).await;
    assert!(matches!(unknown, Err(JobStateError::UnknownJob(_))), "{unknown:?}");
    assert!(claimed(&store.claim(job, "exec-1", lease(), now).await.unwrap()));
    assert!(store.reset(job, "  ", now).await.is_err(), "a reset without a reason must be refused");
    let j = store.reset(job, "operator: stuck after outage", now).await.unwrap();
    assert_eq!(j.state, JobState::Ready);
    let h = store.history(job, 1).await.unwrap();
    assert_eq!(h[0].outcome, RunOutcome::Reset);
    assert!(h[0].error.as_deref().unwrap().contains("stuck after outage"));
}
