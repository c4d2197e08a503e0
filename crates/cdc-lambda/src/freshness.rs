//! Each table's freshness, as a CloudWatch metric written in the embedded
//! metric format (a JSON log line; no PutMetricData call, no extra
//! permission, no latency): the age of the newest change applied to it.
//! Published per table and per job, so one alarm on the job's maximum
//! covers every table of any config.
//!
//! Two steps report it: every claim (idle and held runs too), for each
//! table from the job item's record of what was applied, so the metric has
//! a value every scheduled run; and each finished load, as soon as it
//! applied newer changes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use cdc_core::steps::dispatch::Function;

pub const METRIC_NAMESPACE: &str = "RedshiftCdc";
pub const FRESHNESS_METRIC: &str = "FreshnessSeconds";

/// The records a step's output carries: one per table for a claim, one
/// for a load poll that reports a finished load with changes, none for
/// every other step.
pub fn freshness_records(function: Function, payload: &Value, output: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let action = payload.get("action").and_then(Value::as_str);
    let Some(job) = payload.get("job_id").and_then(Value::as_str) else { return Vec::new() };
    match (function, action) {
        (Function::JobState, Some("claim")) => {
            let newest: BTreeMap<String, DateTime<Utc>> =
                output.get("newest_changes").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
            newest.iter().map(|(table, at)| record(job, table, *at, now, None)).collect()
        }
        (Function::DimensionLoad | Function::FactLoad, Some("load_poll")) => {
            load_record(job, output, now).into_iter().collect()
        }
        _ => Vec::new(),
    }
}

fn load_record(job: &str, output: &Value, now: DateTime<Utc>) -> Option<Value> {
    if output.get("status").and_then(Value::as_str) != Some("done") {
        return None;
    }
    let newest: DateTime<Utc> = serde_json::from_value(output.get("newest_change")?.clone()).ok()?;
    let table = output.get("table").and_then(Value::as_str)?;
    Some(record(job, table, newest, now, output.get("changes").cloned()))
}

fn record(job: &str, table: &str, newest: DateTime<Utc>, now: DateTime<Utc>, changes: Option<Value>) -> Value {
    let age = (now - newest).num_milliseconds().max(0) as f64 / 1000.0;
    let mut r = json!({
        "_aws": {
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["JobId", "Table"], ["JobId"]],
                "Metrics": [{ "Name": FRESHNESS_METRIC, "Unit": "Seconds" }],
            }],
        },
        "JobId": job,
        "Table": table,
        FRESHNESS_METRIC: age,
    });
    if let Some(changes) = changes {
        r["changes"] = changes;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll() -> Value {
        json!({"action": "load_poll", "job_id": "101", "execution_id": "x"})
    }

    #[test]
    fn a_finished_load_reports_the_age_of_its_newest_change_per_table_and_job() {
        // GIVEN a load that applied changes up to 90 s ago
        let now: DateTime<Utc> = "2026-12-03T12:00:00Z".parse().unwrap();
        let out = json!({"table": "pgbench_accounts", "status": "done", "changes": 7, "newest_change": "2026-12-03T11:58:30Z"});
        // WHEN the record is made
        let records = freshness_records(Function::DimensionLoad, &poll(), &out, now);
        // THEN it is one EMF record for both dimension sets, with the age in seconds
        let [r] = records.as_slice() else { panic!("one record expected: {records:?}") };
        assert_eq!(r[FRESHNESS_METRIC], json!(90.0));
        assert_eq!(r["Table"], "pgbench_accounts");
        assert_eq!(r["JobId"], "101");
        assert_eq!(r["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["JobId", "Table"], ["JobId"]]));
        assert_eq!(r["_aws"]["Timestamp"], json!(now.timestamp_millis()));
    }

    #[test]
    fn every_claim_reports_each_table_s_age_so_idle_runs_keep_the_metric_alive() {
        // GIVEN an idle claim whose job item says what each table applied last
        let now: DateTime<Utc> = "2026-12-03T12:00:00Z".parse().unwrap();
        let claim = json!({"action": "claim", "job_id": "101", "execution_id": "x"});
        let out = json!({"outcome": "idle", "newest_changes": {
            "pgbench_accounts": "2026-12-03T11:59:00Z", "pgbench_history": "2026-12-03T10:00:00Z"}});
        // WHEN its records are made
        let records = freshness_records(Function::JobState, &claim, &out, now);
        // THEN each table has its age, the stale one included
        let ages: Vec<(String, f64)> = records
            .iter()
            .map(|r| (r["Table"].as_str().unwrap().to_string(), r[FRESHNESS_METRIC].as_f64().unwrap()))
            .collect();
        assert_eq!(ages, vec![("pgbench_accounts".into(), 60.0), ("pgbench_history".into(), 7200.0)]);
        // AND the release, a held claim's missing map and other actions report nothing
        let release = json!({"action": "release", "job_id": "101"});
        assert!(freshness_records(Function::JobState, &release, &out, now).is_empty());
        assert!(freshness_records(Function::JobState, &claim, &json!({"outcome": "held"}), now).is_empty());
    }

    #[test]
    fn running_polls_other_steps_and_loads_without_changes_report_nothing() {
        let now = Utc::now();
        let running = json!({"table": "t", "status": "running", "newest_change": null});
        let empty = json!({"table": "t", "status": "done", "newest_change": null});
        let done = json!({"table": "t", "status": "done", "newest_change": "2026-12-03T11:58:30Z"});
        assert!(freshness_records(Function::FactLoad, &poll(), &running, now).is_empty());
        assert!(freshness_records(Function::FactLoad, &poll(), &empty, now).is_empty());
        let refresh = json!({"action": "refresh_poll", "job_id": "101"});
        assert!(freshness_records(Function::FactLoad, &refresh, &done, now).is_empty());
        assert!(freshness_records(Function::Unload, &poll(), &done, now).is_empty());
        assert_eq!(freshness_records(Function::FactLoad, &poll(), &done, now).len(), 1);
    }
}
