//! Per-call report and the hard-case counters, computed from what was
//! actually captured and written (not from what was planned).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::capture::PendingFile;
use crate::model::{Change, Key, Micros, Op, Row, Table};
use crate::oracle::ChangeLog;

/// What one `full_load`, `cdc_cycle` or `finish` call did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CycleReport {
    /// Parquet files written (full-load and CDC, late ones included).
    pub files_written: usize,
    /// CDC files delivered late by this call (absolute paths).
    pub late_files: Vec<PathBuf>,
    /// CDC changes committed during this call, per table name.
    pub changes_by_table: BTreeMap<String, usize>,
    /// Transactions committed during this call.
    pub transactions: usize,
    /// Occurrences of each hard case in this call (every name always present).
    pub hard_cases: BTreeMap<String, usize>,
    /// Day folders (`YYYYMMDD`) of the CDC files written by this call.
    pub days: BTreeSet<String>,
}

impl CycleReport {
    /// Adds what a later call of the same cycle did (`finish` after the last
    /// `cdc_cycle`).
    pub fn absorb(&mut self, other: CycleReport) {
        self.files_written += other.files_written;
        self.late_files.extend(other.late_files);
        self.transactions += other.transactions;
        for (k, v) in other.changes_by_table {
            *self.changes_by_table.entry(k).or_default() += v;
        }
        for (k, v) in other.hard_cases {
            *self.hard_cases.entry(k).or_default() += v;
        }
        self.days.extend(other.days);
    }
}

pub(crate) const TXN_MULTIPLE_CHANGES_SAME_TS: &str = "txn_multiple_changes_same_ts";
pub(crate) const TXN_ACCOUNT_UPDATED_TWICE: &str = "txn_same_account_updated_twice";
pub(crate) const TXN_DELETE_THEN_REINSERT: &str = "txn_delete_then_reinsert_same_aid";
pub(crate) const FILE_KEY_CHANGED_MULTIPLE: &str = "file_key_changed_multiple_times";
pub(crate) const FILE_ACCOUNT_CHANGED_MULTIPLE: &str = "file_account_changed_multiple_times";
pub(crate) const KEY_CHANGED_ACROSS_FILES: &str = "key_changed_across_files";
pub(crate) const ACCOUNT_CHANGED_ACROSS_FILES: &str = "account_changed_across_files";
pub(crate) const MIDNIGHT_SPLIT_FILES: &str = "midnight_split_files";
pub(crate) const LATE_FILES_HELD_BACK: &str = "late_files_held_back";
pub(crate) const LATE_FILES_DELIVERED: &str = "late_files_delivered";
pub(crate) const LATE_UPDATE_OLDER_THAN_DELETE: &str = "late_update_older_than_delete";
pub(crate) const FULL_ROW_NEWER_THAN_CDC: &str = "fullload_row_newer_than_cdc_change";
pub(crate) const CDC_NEWER_THAN_FULL_ROW: &str = "cdc_change_newer_than_fullload_row";
pub(crate) const HISTORY_IN_FULL_AND_CDC: &str = "history_in_full_load_and_cdc";
pub(crate) const TYPES_ROWS_WRITTEN: &str = "types_rows_written";
pub(crate) const TYPES_SAMPLE_UPDATED_TWICE: &str = "types_txn_same_sample_updated_twice";
pub(crate) const TYPES_DELETE_THEN_REINSERT: &str = "types_txn_delete_then_reinsert_same_key";
pub(crate) const TYPES_UPDATE_TO_NULL: &str = "types_update_sets_every_value_null";
pub(crate) const TYPES_UPDATE_FROM_NULL: &str = "types_update_sets_values_back_from_null";
pub(crate) const TYPES_SPACE_KEY_DELETED: &str = "types_key_deleted_beside_trailing_space_twins";
pub(crate) const TYPES_EVENT_IN_FULL_AND_CDC: &str = "types_event_in_full_load_and_cdc";

const ALL_CASES: [&str; 21] = [
    TXN_MULTIPLE_CHANGES_SAME_TS,
    TXN_ACCOUNT_UPDATED_TWICE,
    TXN_DELETE_THEN_REINSERT,
    FILE_KEY_CHANGED_MULTIPLE,
    FILE_ACCOUNT_CHANGED_MULTIPLE,
    KEY_CHANGED_ACROSS_FILES,
    ACCOUNT_CHANGED_ACROSS_FILES,
    MIDNIGHT_SPLIT_FILES,
    LATE_FILES_HELD_BACK,
    LATE_FILES_DELIVERED,
    LATE_UPDATE_OLDER_THAN_DELETE,
    FULL_ROW_NEWER_THAN_CDC,
    CDC_NEWER_THAN_FULL_ROW,
    HISTORY_IN_FULL_AND_CDC,
    TYPES_ROWS_WRITTEN,
    TYPES_SAMPLE_UPDATED_TWICE,
    TYPES_DELETE_THEN_REINSERT,
    TYPES_UPDATE_TO_NULL,
    TYPES_UPDATE_FROM_NULL,
    TYPES_SPACE_KEY_DELETED,
    TYPES_EVENT_IN_FULL_AND_CDC,
];

fn is_types(table: Table) -> bool {
    matches!(table, Table::TypeSamples | Table::TypeEvents)
}

/// Accumulates one call's report.
#[derive(Debug)]
pub(crate) struct CallStats {
    pub report: CycleReport,
}

impl CallStats {
    pub(crate) fn new() -> Self {
        let mut report = CycleReport::default();
        for case in ALL_CASES {
            report.hard_cases.insert(case.to_string(), 0);
        }
        for table in Table::ALL {
            report.changes_by_table.insert(table.name().to_string(), 0);
        }
        CallStats { report }
    }

    pub(crate) fn add(&mut self, case: &str, n: usize) {
        *self.report.hard_cases.entry(case.to_string()).or_default() += n;
    }

    /// Counts the per-transaction cases from the changes of one transaction.
    pub(crate) fn observe_txn(&mut self, changes: &[Change]) {
        self.report.transactions += 1;
        for c in changes {
            *self.report.changes_by_table.entry(c.row.table().name().to_string()).or_default() += 1;
        }
        if changes.len() >= 2 {
            self.add(TXN_MULTIPLE_CHANGES_SAME_TS, 1);
        }
        let mut updates: HashMap<i32, usize> = HashMap::new();
        let mut deleted: HashSet<i32> = HashSet::new();
        let mut reinserted = false;
        for c in changes {
            if let Row::Account(a) = &c.row {
                match c.op {
                    Op::Update => *updates.entry(a.aid).or_default() += 1,
                    Op::Delete => {
                        deleted.insert(a.aid);
                    }
                    Op::Insert => reinserted |= deleted.contains(&a.aid),
                }
            }
        }
        if updates.values().any(|&n| n >= 2) {
            self.add(TXN_ACCOUNT_UPDATED_TWICE, 1);
        }
        if reinserted {
            self.add(TXN_DELETE_THEN_REINSERT, 1);
        }
        self.observe_types_txn(changes);
    }

    /// The types tables' per-transaction cases.
    fn observe_types_txn(&mut self, changes: &[Change]) {
        let mut updates: HashMap<(&str, i32), usize> = HashMap::new();
        let mut deleted: HashSet<(&str, i32)> = HashSet::new();
        let (mut reinserted, mut space_deleted) = (false, false);
        for c in changes {
            let Row::Sample(s) = &c.row else { continue };
            let key = (s.k_text.as_str(), s.k_int);
            match c.op {
                Op::Update => *updates.entry(key).or_default() += 1,
                Op::Delete => {
                    deleted.insert(key);
                    // Its twins differing only by trailing spaces stay.
                    space_deleted |= crate::types::SPACE_KEYS.contains(&key);
                }
                Op::Insert => reinserted |= deleted.contains(&key),
            }
            if c.op == Op::Update && s.values.is_all_null() {
                self.add(TYPES_UPDATE_TO_NULL, 1);
            }
        }
        if updates.values().any(|&n| n >= 2) {
            self.add(TYPES_SAMPLE_UPDATED_TWICE, 1);
        }
        if reinserted {
            self.add(TYPES_DELETE_THEN_REINSERT, 1);
        }
        if space_deleted {
            self.add(TYPES_SPACE_KEY_DELETED, 1);
        }
    }

    pub(crate) fn add_update_from_null(&mut self) {
        self.add(TYPES_UPDATE_FROM_NULL, 1);
    }

    /// Counts the per-file cases over the CDC files this call wrote.
    pub(crate) fn observe_files(&mut self, files: &[&PendingFile], log: &ChangeLog) {
        let mut files_per_key: HashMap<(Table, Key), usize> = HashMap::new();
        for f in files {
            self.report.days.insert(f.file_day());
            if f.midnight_split {
                self.add(MIDNIGHT_SPLIT_FILES, 1);
            }
            if is_types(f.table) {
                self.add(TYPES_ROWS_WRITTEN, f.changes.len());
            }
            let mut per_key: HashMap<Key, usize> = HashMap::new();
            for &i in &f.changes {
                if let Some(key) = log.changes[i].row.key() {
                    *per_key.entry(key).or_default() += 1;
                }
            }
            let multi = per_key.values().filter(|&&n| n >= 2).count();
            self.add(FILE_KEY_CHANGED_MULTIPLE, multi);
            if f.table == Table::Accounts {
                self.add(FILE_ACCOUNT_CHANGED_MULTIPLE, multi);
            }
            for key in per_key.into_keys() {
                *files_per_key.entry((f.table, key)).or_default() += 1;
            }
        }
        for ((table, _), n) in files_per_key {
            if n >= 2 {
                self.add(KEY_CHANGED_ACROSS_FILES, 1);
                if table == Table::Accounts {
                    self.add(ACCOUNT_CHANGED_ACROSS_FILES, 1);
                }
            }
        }
    }

    /// Counts how the full load and the concurrent changes overlap.
    pub(crate) fn observe_full_load(&mut self, log: &ChangeLog) {
        let mut cdc_ts: HashMap<(Table, Key), Vec<Micros>> = HashMap::new();
        let mut cdc_appended: HashSet<&Row> = HashSet::new();
        for c in &log.changes {
            match c.row.key() {
                None => {
                    cdc_appended.insert(&c.row);
                }
                Some(key) => cdc_ts.entry((c.row.table(), key)).or_default().push(c.ts),
            }
        }
        for fr in &log.full_rows {
            if is_types(fr.row.table()) {
                self.add(TYPES_ROWS_WRITTEN, 1);
            }
            match (&fr.row, fr.row.key()) {
                (Row::History(_), _) => {
                    if cdc_appended.contains(&fr.row) {
                        self.add(HISTORY_IN_FULL_AND_CDC, 1);
                    }
                }
                (Row::Event(_), _) => {
                    if cdc_appended.contains(&fr.row) {
                        self.add(TYPES_EVENT_IN_FULL_AND_CDC, 1);
                    }
                }
                (row, Some(key)) => {
                    if let Some(ts) = cdc_ts.get(&(row.table(), key)) {
                        if ts.iter().any(|t| *t < fr.ts) {
                            self.add(FULL_ROW_NEWER_THAN_CDC, 1);
                        }
                        let newer = ts.iter().filter(|t| **t > fr.ts).count();
                        self.add(CDC_NEWER_THAN_FULL_ROW, newer);
                    }
                }
                (_, None) => {}
            }
        }
    }
}
