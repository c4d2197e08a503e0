//! Each table's freshness, as a CloudWatch metric written in the embedded
//! metric format (a JSON log line; no PutMetricData call, no extra
//! permission, no latency): the age of the newest change a finished load
//! applied. Published per table and per job, so one alarm on the job's
//! maximum covers every table of any config.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use cdc_core::steps::dispatch::Function;

pub const METRIC_NAMESPACE: &str = "RedshiftCdc";
pub const FRESHNESS_METRIC: &str = "FreshnessSeconds";

/// The record for a load poll that reports a finished load with changes;
/// `None` for every other step.
pub fn freshness_record(function: Function, payload: &Value, output: &Value, now: DateTime<Utc>) -> Option<Value> {
    let is_load = matches!(function, Function::DimensionLoad | Function::FactLoad);
    let is_poll = payload.get("action").and_then(Value::as_str) == Some("load_poll");
    let done = output.get("status").and_then(Value::as_str) == Some("done");
    if !(is_load && is_poll && done) {
        return None;
    }
    let newest: DateTime<Utc> = serde_json::from_value(output.get("newest_change")?.clone()).ok()?;
    let job = payload.get("job_id").and_then(Value::as_str)?;
    let table = output.get("table").and_then(Value::as_str)?;
    let age = (now - newest).num_milliseconds().max(0) as f64 / 1000.0;
    Some(json!({
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
        "changes": output.get("changes").cloned().unwrap_or(Value::Null),
    }))
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
        let r = freshness_record(Function::DimensionLoad, &poll(), &out, now).expect("a record");
        // THEN it is an EMF record for both dimension sets, with the age in seconds
        assert_eq!(r[FRESHNESS_METRIC], json!(90.0));
        assert_eq!(r["Table"], "pgbench_accounts");
        assert_eq!(r["JobId"], "101");
        assert_eq!(r["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["JobId", "Table"], ["JobId"]]));
        assert_eq!(r["_aws"]["Timestamp"], json!(now.timestamp_millis()));
    }

    #[test]
    fn running_polls_other_steps_and_loads_without_changes_report_nothing() {
        let now = Utc::now();
        let running = json!({"table": "t", "status": "running", "newest_change": null});
        let empty = json!({"table": "t", "status": "done", "newest_change": null});
        let done = json!({"table": "t", "status": "done", "newest_change": "2026-12-03T11:58:30Z"});
        assert!(freshness_record(Function::FactLoad, &poll(), &running, now).is_none());
        assert!(freshness_record(Function::FactLoad, &poll(), &empty, now).is_none());
        let refresh = json!({"action": "refresh_poll", "job_id": "101"});
        assert!(freshness_record(Function::FactLoad, &refresh, &done, now).is_none());
        assert!(freshness_record(Function::Unload, &poll(), &done, now).is_none());
        assert!(freshness_record(Function::FactLoad, &poll(), &done, now).is_some());
    }
}
