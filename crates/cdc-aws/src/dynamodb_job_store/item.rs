//! The DynamoDB items of the job-state table, attribute by attribute, and
//! their strict decoding: an item some other writer left (a missing
//! attribute, a wrong type, an unknown state) is `JobStateError::Corrupt`
//! naming the attribute, never a panic and never a default that would let a
//! claim overwrite it.
//!
//! Timestamps are fixed-width UTC strings with nanoseconds
//! (`2026-11-23T18:53:50.123456789Z`, always 30 characters): they round-trip
//! `DateTime<Utc>` exactly, read well in the console, and compare in a
//! condition expression (`LeaseExpires <= :now`) exactly as the instants do,
//! because DynamoDB compares strings byte by byte.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use cdc_core::PipelineError;
use cdc_core::job::{Job, JobState, JobStateError, ProgressHint, RunOutcome, RunRecord, TableRunStats};
use chrono::{DateTime, NaiveDateTime, Utc};

pub(crate) type Item = HashMap<String, AttributeValue>;

// Keys (template.yaml).
pub const JOB_ID: &str = "JobId";
pub const RECORD_KEY: &str = "RecordKey";
/// `RecordKey` of the job item.
pub const JOB_RECORD: &str = "JOB";
/// `RecordKey` prefix of run-history items: `RUN#<end>#<execution>`.
pub const RUN_PREFIX: &str = "RUN#";

// The job item (the seed's four names first).
pub(crate) const JOB_STATE: &str = "JobState";
pub(crate) const JOB_START: &str = "JobStart";
pub(crate) const JOB_END: &str = "JobEnd";
pub(crate) const OWNER: &str = "Owner";
pub(crate) const LEASE_EXPIRES: &str = "LeaseExpires";
pub(crate) const CONFIG_FINGERPRINT: &str = "ConfigFingerprint";
pub(crate) const PROGRESS_HINTS: &str = "ProgressHints";
pub(crate) const CONSECUTIVE_FAILURES: &str = "ConsecutiveFailures";
pub(crate) const LAST_SUCCESS: &str = "LastSuccess";
pub(crate) const LAST_NOTIFIED: &str = "LastNotified";
pub(crate) const LAST_FULL_LISTING: &str = "LastFullListing";

// A run-history item.
pub(crate) const EXECUTION_ID: &str = "ExecutionId";
pub(crate) const RUN_START: &str = "RunStart";
pub(crate) const RUN_END: &str = "RunEnd";
pub(crate) const OUTCOME: &str = "Outcome";
pub(crate) const TABLES: &str = "Tables";
pub(crate) const FAILED_TABLES: &str = "FailedTables";
pub(crate) const ERROR: &str = "Error";
/// The table's TTL attribute: epoch seconds.
pub const EXPIRES_AT: &str = "ExpiresAt";

// Inside `ProgressHints.<table>` and `Tables[i]`.
const LAST_FILE: &str = "LastFile";
const UNEXPLAINED: &str = "Unexplained";
const UNEXPLAINED_EXAMPLE: &str = "UnexplainedExample";
pub(crate) const WARNINGS: &str = "Warnings";
const FULL_LISTING: &str = "FullListing";
const FILES: &str = "Files";
const NEWEST_MODIFIED: &str = "NewestModified";
const NEWEST_CHANGE: &str = "NewestChange";
const WORK_LEFT: &str = "WorkLeft";
const TABLE: &str = "Table";
const CHANGES: &str = "Changes";
const ROWS: &str = "Rows";
const SECONDS: &str = "Seconds";

const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.9fZ";
const TIMESTAMP_LEN: usize = 30;

/// A value this store cannot write (a year past 9999, a NaN duration).
fn unwritable(what: String) -> JobStateError {
    JobStateError::Store(PipelineError::config(what))
}

pub(crate) fn timestamp(t: DateTime<Utc>) -> Result<String, JobStateError> {
    let s = t.format(TIMESTAMP_FORMAT).to_string();
    // Years before 0 or after 9999 would change the width, and the order.
    if s.len() != TIMESTAMP_LEN {
        return Err(unwritable(format!("timestamp {t} is outside the years 0 to 9999")));
    }
    Ok(s)
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn ts(t: DateTime<Utc>) -> Result<AttributeValue, JobStateError> {
    timestamp(t).map(AttributeValue::S)
}

pub(crate) fn job_key(job_id: &str) -> Item {
    HashMap::from([(JOB_ID.to_string(), s(job_id)), (RECORD_KEY.to_string(), s(JOB_RECORD))])
}

/// Newest first under a descending Query: the end instant sorts, the
/// execution keeps two runs ending in the same nanosecond apart.
pub(crate) fn run_key(record: &RunRecord) -> Result<String, JobStateError> {
    Ok(format!("{RUN_PREFIX}{}#{}", timestamp(record.end)?, record.execution_id))
}

pub(crate) fn encode_hints(hints: &BTreeMap<String, ProgressHint>) -> Result<AttributeValue, JobStateError> {
    let mut map = HashMap::new();
    for (table, h) in hints {
        let mut hint = HashMap::from([
            (LAST_FILE.to_string(), s(&h.last_file)),
            (FILES.to_string(), n(h.files)),
            (NEWEST_MODIFIED.to_string(), ts(h.newest_modified)?),
        ]);
        if h.unexplained > 0 {
            hint.insert(UNEXPLAINED.to_string(), n(h.unexplained));
        }
        if let Some(e) = &h.unexplained_example {
            hint.insert(UNEXPLAINED_EXAMPLE.to_string(), s(e));
        }
        if let Some(t) = h.newest_change {
            hint.insert(NEWEST_CHANGE.to_string(), ts(t)?);
        }
        if h.work_left {
            hint.insert(WORK_LEFT.to_string(), AttributeValue::Bool(true));
        }
        map.insert(table.clone(), AttributeValue::M(hint));
    }
    Ok(AttributeValue::M(map))
}

/// The history item of a run, expiring `retention` after its end.
pub(crate) fn encode_run(job_id: &str, r: &RunRecord, retention: chrono::Duration) -> Result<Item, JobStateError> {
    let expires = r
        .end
        .checked_add_signed(retention)
        .ok_or_else(|| unwritable(format!("run end {} plus the retention overflows", r.end)))?;
    let mut tables = Vec::with_capacity(r.tables.len());
    for t in &r.tables {
        if !t.seconds.is_finite() {
            return Err(unwritable(format!("table {}: run time {} is not a number", t.table, t.seconds)));
        }
        let mut m = HashMap::from([
            (TABLE.to_string(), s(&t.table)),
            (FILES.to_string(), n(t.files)),
            (CHANGES.to_string(), n(t.changes)),
            (ROWS.to_string(), n(t.rows)),
            // Rust prints the shortest text that parses back to the same f64.
            (SECONDS.to_string(), n(t.seconds)),
        ]);
        if let Some(e) = &t.error {
            m.insert(ERROR.to_string(), s(e));
        }
        tables.push(AttributeValue::M(m));
    }
    let mut item = HashMap::from([
        (JOB_ID.to_string(), s(job_id)),
        (RECORD_KEY.to_string(), s(run_key(r)?)),
        (EXECUTION_ID.to_string(), s(&r.execution_id)),
        (RUN_START.to_string(), ts(r.start)?),
        (RUN_END.to_string(), ts(r.end)?),
        (OUTCOME.to_string(), s(outcome_str(r.outcome))),
        (TABLES.to_string(), AttributeValue::L(tables)),
        (FAILED_TABLES.to_string(), AttributeValue::L(r.failed_tables.iter().map(s).collect())),
        (EXPIRES_AT.to_string(), n(expires.timestamp())),
    ]);
    if let Some(e) = &r.error {
        item.insert(ERROR.to_string(), s(e));
    }
    if !r.warnings.is_empty() {
        item.insert(WARNINGS.to_string(), AttributeValue::L(r.warnings.iter().map(s).collect()));
    }
    if r.full_listing {
        item.insert(FULL_LISTING.to_string(), AttributeValue::Bool(true));
    }
    Ok(item)
}

fn outcome_str(o: RunOutcome) -> &'static str {
    match o {
        RunOutcome::Succeeded => "Succeeded",
        RunOutcome::Failed => "Failed",
        RunOutcome::Reset => "Reset",
        RunOutcome::TakenOver => "TakenOver",
    }
}

fn parse_outcome(s: &str) -> Option<RunOutcome> {
    Some(match s {
        "Succeeded" => RunOutcome::Succeeded,
        "Failed" => RunOutcome::Failed,
        "Reset" => RunOutcome::Reset,
        "TakenOver" => RunOutcome::TakenOver,
        _ => return None,
    })
}

pub(crate) fn decode_job(job_id: &str, item: &Item) -> Result<Job, JobStateError> {
    let f = Fields { job_id, prefix: String::new(), path: String::new(), item };
    let state_text = f.required_s(JOB_STATE)?;
    let state = JobState::parse(state_text).ok_or_else(|| {
        f.corrupt(JOB_STATE, format!("unknown state {state_text:?} (expected Ready, Running or Failed)"))
    })?;
    let owner = f.optional_s(OWNER)?.map(str::to_string);
    let lease_expires = f.optional_ts(LEASE_EXPIRES)?;
    // This store never writes a Running item without both; one that lacks
    // them was written by someone else and must not be claimed over.
    if state == JobState::Running {
        if owner.is_none() {
            return Err(f.corrupt(OWNER, "missing on a Running job".into()));
        }
        if lease_expires.is_none() {
            return Err(f.corrupt(LEASE_EXPIRES, "missing on a Running job".into()));
        }
    }
    let consecutive_failures = match f.optional_n(CONSECUTIVE_FAILURES)? {
        None => 0,
        Some(text) => {
            text.parse::<u32>().map_err(|_| f.corrupt(CONSECUTIVE_FAILURES, format!("{text:?} is not a count")))?
        }
    };
    Ok(Job {
        job_id: job_id.to_string(),
        state,
        owner,
        job_start: f.optional_ts(JOB_START)?,
        job_end: f.optional_ts(JOB_END)?,
        lease_expires,
        config_fingerprint: f.optional_s(CONFIG_FINGERPRINT)?.map(str::to_string),
        progress_hints: decode_hints(&f)?,
        consecutive_failures,
        last_success: f.optional_ts(LAST_SUCCESS)?,
        last_notified: f.optional_ts(LAST_NOTIFIED)?,
        last_full_listing: f.optional_ts(LAST_FULL_LISTING)?,
    })
}

fn decode_hints(f: &Fields<'_>) -> Result<BTreeMap<String, ProgressHint>, JobStateError> {
    let Some(map) = f.optional_m(PROGRESS_HINTS)? else { return Ok(BTreeMap::new()) };
    let mut hints = BTreeMap::new();
    for (table, value) in map {
        let name = format!("{PROGRESS_HINTS}.{table}");
        let AttributeValue::M(inner) = value else {
            return Err(f.corrupt(&name, format!("expected a map, found {}", type_name(value))));
        };
        let h = f.nested(&name, inner);
        hints.insert(
            table.clone(),
            ProgressHint {
                last_file: h.required_s(LAST_FILE)?.to_string(),
                files: h.required_u64(FILES)?,
                newest_modified: h.required_ts(NEWEST_MODIFIED)?,
                unexplained: match h.optional_n(UNEXPLAINED)? {
                    None => 0,
                    Some(_) => h.required_u64(UNEXPLAINED)?,
                },
                unexplained_example: h.optional_s(UNEXPLAINED_EXAMPLE)?.map(str::to_string),
                newest_change: h.optional_ts(NEWEST_CHANGE)?,
                work_left: h.optional_bool(WORK_LEFT)?.unwrap_or(false),
            },
        );
    }
    Ok(hints)
}

/// A history item: the record and its `ExpiresAt` (epoch seconds).
pub(crate) fn decode_run(job_id: &str, item: &Item) -> Result<(RunRecord, i64), JobStateError> {
    let key = match item.get(RECORD_KEY) {
        Some(AttributeValue::S(k)) => k.clone(),
        _ => "?".to_string(),
    };
    let f = Fields { job_id, prefix: format!("history item {key}: "), path: String::new(), item };
    let outcome_text = f.required_s(OUTCOME)?;
    let outcome =
        parse_outcome(outcome_text).ok_or_else(|| f.corrupt(OUTCOME, format!("unknown outcome {outcome_text:?}")))?;
    let expires_text = f.required_n(EXPIRES_AT)?;
    let expires_at = expires_text
        .parse::<i64>()
        .map_err(|_| f.corrupt(EXPIRES_AT, format!("{expires_text:?} is not epoch seconds")))?;
    let mut tables = Vec::new();
    for (i, v) in f.required_l(TABLES)?.iter().enumerate() {
        let name = format!("{TABLES}[{i}]");
        let AttributeValue::M(m) = v else {
            return Err(f.corrupt(&name, format!("expected a map, found {}", type_name(v))));
        };
        let t = f.nested(&name, m);
        let seconds_text = t.required_n(SECONDS)?;
        tables.push(TableRunStats {
            table: t.required_s(TABLE)?.to_string(),
            files: t.required_u64(FILES)?,
            changes: t.required_u64(CHANGES)?,
            rows: t.required_u64(ROWS)?,
            seconds: seconds_text
                .parse::<f64>()
                .map_err(|_| t.corrupt(SECONDS, format!("{seconds_text:?} is not a number")))?,
            error: t.optional_s(ERROR)?.map(str::to_string),
        });
    }
    let mut failed_tables = Vec::new();
    for (i, v) in f.required_l(FAILED_TABLES)?.iter().enumerate() {
        let AttributeValue::S(name) = v else {
            return Err(
                f.corrupt(&format!("{FAILED_TABLES}[{i}]"), format!("expected a string, found {}", type_name(v)))
            );
        };
        failed_tables.push(name.clone());
    }
    let record = RunRecord {
        execution_id: f.required_s(EXECUTION_ID)?.to_string(),
        start: f.required_ts(RUN_START)?,
        end: f.required_ts(RUN_END)?,
        outcome,
        tables,
        failed_tables,
        error: f.optional_s(ERROR)?.map(str::to_string),
        warnings: decode_warnings(&f)?,
        full_listing: f.optional_bool(FULL_LISTING)?.unwrap_or(false),
    };
    Ok((record, expires_at))
}

fn decode_warnings(f: &Fields<'_>) -> Result<Vec<String>, JobStateError> {
    let Some(AttributeValue::L(list)) = f.item.get(WARNINGS) else { return Ok(Vec::new()) };
    list.iter()
        .enumerate()
        .map(|(i, v)| match v {
            AttributeValue::S(w) => Ok(w.clone()),
            v => Err(f.corrupt(&format!("{WARNINGS}[{i}]"), format!("expected a string, found {}", type_name(v)))),
        })
        .collect()
}

/// A table's state item (`RecordKey = TABLE#<table>`, [`cdc_core::job::TableState`]).
pub(crate) const TABLE_PREFIX: &str = "TABLE#";
pub(crate) const LIFE: &str = "Life";
pub(crate) const REASON: &str = "Reason";
pub(crate) const STATEMENT_ID: &str = "StatementId";
pub(crate) const RESYNC_REQUESTED: &str = "ResyncRequested";
pub(crate) const UPDATED: &str = "Updated";
pub(crate) const SCHEMA_CHANGE: &str = "SchemaChange";
pub(crate) const SCHEMA_CHANGED: &str = "SchemaChanged";
pub(crate) const SCHEMA_CHANGED_BY: &str = "SchemaChangedBy";

pub(crate) fn decode_table_state(
    job_id: &str,
    item: &Item,
) -> Result<(String, cdc_core::job::TableState), JobStateError> {
    use cdc_core::job::{TableLife, TableState};
    let key = item.get(RECORD_KEY).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let f = Fields { job_id, prefix: format!("table item {key}: "), path: String::new(), item };
    let table = key.strip_prefix(TABLE_PREFIX).unwrap_or(&key).to_string();
    // An item holding only a request has no life yet: the table is active.
    let life = match f.optional_s(LIFE)? {
        None => TableLife::Active,
        Some(text) => TableLife::parse(text).ok_or_else(|| f.corrupt(LIFE, format!("unknown state {text:?}")))?,
    };
    let state = TableState {
        life,
        reason: f.optional_s(REASON)?.map(str::to_string),
        statement_id: f.optional_s(STATEMENT_ID)?.map(|id| cdc_core::ports::StatementId(id.to_string())),
        resync_requested: f.optional_ts(RESYNC_REQUESTED)?,
        updated: f.required_ts(UPDATED)?,
        schema_change: f.optional_s(SCHEMA_CHANGE)?.map(str::to_string),
        schema_changed: f.optional_ts(SCHEMA_CHANGED)?,
        schema_changed_by: f.optional_s(SCHEMA_CHANGED_BY)?.map(str::to_string),
    };
    Ok((table, state))
}

/// Typed, attribute-naming access to one (possibly nested) map.
struct Fields<'a> {
    job_id: &'a str,
    /// Which item, for messages: "" for the job item, "history item RUN#…: ".
    prefix: String,
    /// Where the map sits in the item: "" at the top, "ProgressHints.orders.".
    path: String,
    item: &'a Item,
}

impl<'a> Fields<'a> {
    fn nested(&self, name: &str, item: &'a Item) -> Fields<'a> {
        Fields { job_id: self.job_id, prefix: self.prefix.clone(), path: format!("{}{name}.", self.path), item }
    }

    fn corrupt(&self, attribute: &str, what: String) -> JobStateError {
        JobStateError::Corrupt {
            job_id: self.job_id.to_string(),
            detail: format!("{}attribute {}{attribute}: {what}", self.prefix, self.path),
        }
    }

    fn get<'v>(
        &'v self,
        name: &str,
        expected: &str,
        pick: impl Fn(&'v AttributeValue) -> Option<&'v str>,
    ) -> Result<Option<&'v str>, JobStateError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(None),
            Some(v) => pick(v)
                .map(Some)
                .ok_or_else(|| self.corrupt(name, format!("expected {expected}, found {}", type_name(v)))),
        }
    }

    fn optional_s(&self, name: &str) -> Result<Option<&str>, JobStateError> {
        self.get(name, "a string (S)", |v| v.as_s().ok().map(String::as_str))
    }

    fn optional_n(&self, name: &str) -> Result<Option<&str>, JobStateError> {
        self.get(name, "a number (N)", |v| v.as_n().ok().map(String::as_str))
    }

    fn optional_bool(&self, name: &str) -> Result<Option<bool>, JobStateError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(None),
            Some(AttributeValue::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.corrupt(name, format!("expected a boolean (BOOL), found {}", type_name(v)))),
        }
    }

    fn required_s(&self, name: &str) -> Result<&str, JobStateError> {
        self.optional_s(name)?.ok_or_else(|| self.corrupt(name, "missing".into()))
    }

    fn required_n(&self, name: &str) -> Result<&str, JobStateError> {
        self.optional_n(name)?.ok_or_else(|| self.corrupt(name, "missing".into()))
    }

    fn required_u64(&self, name: &str) -> Result<u64, JobStateError> {
        let text = self.required_n(name)?;
        text.parse::<u64>().map_err(|_| self.corrupt(name, format!("{text:?} is not a count")))
    }

    fn optional_ts(&self, name: &str) -> Result<Option<DateTime<Utc>>, JobStateError> {
        let Some(text) = self.optional_s(name)? else { return Ok(None) };
        parse_timestamp(text).map(Some).ok_or_else(|| {
            self.corrupt(name, format!("{text:?} is not a UTC timestamp like 2026-01-31T23:59:59.000000000Z"))
        })
    }

    fn required_ts(&self, name: &str) -> Result<DateTime<Utc>, JobStateError> {
        self.optional_ts(name)?.ok_or_else(|| self.corrupt(name, "missing".into()))
    }

    fn optional_m(&self, name: &str) -> Result<Option<&'a Item>, JobStateError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(None),
            Some(AttributeValue::M(m)) => Ok(Some(m)),
            Some(v) => Err(self.corrupt(name, format!("expected a map (M), found {}", type_name(v)))),
        }
    }

    fn required_l(&self, name: &str) -> Result<&'a [AttributeValue], JobStateError> {
        match self.item.get(name) {
            None => Err(self.corrupt(name, "missing".into())),
            Some(AttributeValue::L(l)) => Ok(l),
            Some(v) => Err(self.corrupt(name, format!("expected a list (L), found {}", type_name(v)))),
        }
    }
}

/// Only the exact form this store writes: a text that merely parses (a
/// shorter fraction, an offset) would compare wrongly in a condition.
pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if text.len() != TIMESTAMP_LEN {
        return None;
    }
    let t = NaiveDateTime::parse_from_str(text, TIMESTAMP_FORMAT).ok()?.and_utc();
    (timestamp(t).ok()? == text).then_some(t)
}

fn type_name(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "a string (S)",
        AttributeValue::N(_) => "a number (N)",
        AttributeValue::B(_) => "binary (B)",
        AttributeValue::Bool(_) => "a boolean (BOOL)",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::M(_) => "a map (M)",
        AttributeValue::L(_) => "a list (L)",
        AttributeValue::Ss(_) => "a string set (SS)",
        AttributeValue::Ns(_) => "a number set (NS)",
        AttributeValue::Bs(_) => "a binary set (BS)",
        _ => "an unknown type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_with_nanoseconds_and_sort_like_instants() {
        let a = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        let b = a + chrono::Duration::nanoseconds(1);
        let c = DateTime::from_timestamp(1_700_000_001, 0).unwrap();
        let (ta, tb, tc) = (timestamp(a).unwrap(), timestamp(b).unwrap(), timestamp(c).unwrap());
        assert_eq!(ta, "2023-11-14T22:13:20.123456789Z");
        assert_eq!(tc, "2023-11-14T22:13:21.000000000Z");
        assert_eq!(parse_timestamp(&ta), Some(a));
        assert!(ta < tb && tb < tc);
        // Not the exact form: refused, because it would compare wrongly.
        assert_eq!(parse_timestamp("2023-11-14T22:13:21Z"), None);
        assert_eq!(parse_timestamp("2023-11-14T22:13:21.000000000+00:00"), None);
        assert_eq!(parse_timestamp("garbage-garbage-garbage-garbag"), None);
    }

    #[test]
    fn run_items_round_trip() {
        let start = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        let r = RunRecord {
            execution_id: "arn:aws:states:us-east-1:1:execution:m:e1".into(),
            start,
            end: start + chrono::Duration::milliseconds(1500),
            outcome: RunOutcome::Failed,
            tables: vec![TableRunStats {
                table: "orders".into(),
                files: 3,
                changes: u64::MAX,
                rows: 0,
                seconds: 0.1 + 0.2,
                error: Some("DataError: bad row".into()),
            }],
            failed_tables: vec!["orders".into()],
            error: Some("DataError: bad row".into()),
            warnings: vec!["table orders: 2 object(s) the DMS layout does not explain".into()],
            full_listing: true,
        };
        let item = encode_run("101", &r, chrono::Duration::days(30)).unwrap();
        let (back, expires) = decode_run("101", &item).unwrap();
        assert_eq!(back, r);
        assert_eq!(expires, (r.end + chrono::Duration::days(30)).timestamp());
    }
}
