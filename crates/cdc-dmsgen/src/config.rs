//! Generator configuration and the DMS column layout.

use chrono::{DateTime, Duration, TimeZone, Utc};

use cdc_core::dms::{DatePartitionDelimiter, DmsSettings};

use crate::error::GenError;
use crate::model::Table;

/// What DMS writes to the raw zone: its S3 endpoint settings (the folders
/// and names of the files), the source schema (a path segment) and the two
/// columns added by DMS transformation rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmsLayout {
    /// The endpoint settings the files are laid out by ([`cdc_core::dms::Layout`]).
    pub dms: DmsSettings,
    /// Source schema, the folder below the bucket folder.
    pub schema: String,
    /// Commit timestamp (CDC) or transfer timestamp (full load) column.
    pub ts_column: String,
    /// Change-sequence column (like DMS `AR_H_CHANGE_SEQ`), CDC files only.
    pub seq_column: String,
    /// The timestamp column as DMS's TimestampColumnName writes it: a string
    /// `yyyy-MM-dd HH:mm:ss.SSSSSS` (S3Settings reference); false writes a
    /// Parquet TIMESTAMP, as a transformation rule would.
    pub ts_as_text: bool,
}

impl Default for DmsLayout {
    /// Seed 000's: `full/` and `cdc/` bucket folders, CDC in `YYYYMMDD` day folders.
    fn default() -> Self {
        DmsLayout {
            dms: seed_settings(),
            schema: "public".to_string(),
            ts_column: "changets".to_string(),
            seq_column: "ar_h_change_seq".to_string(),
            ts_as_text: false,
        }
    }
}

/// Seed 000's DMS endpoints: one task per folder, day folders without delimiters.
pub fn seed_settings() -> DmsSettings {
    DmsSettings {
        full_load_folder: Some("full".into()),
        cdc_folder: Some("cdc".into()),
        date_partition_enabled: true,
        date_partition_delimiter: DatePartitionDelimiter::None,
        ..DmsSettings::default()
    }
}

/// Knobs of the simulated source database, its workload and DMS.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Seed of the ChaCha8 generator; same seed, same files.
    pub seed: u64,
    /// pgbench scale: number of branches (10 tellers each).
    pub branches: u32,
    /// Accounts per branch (pgbench uses 100000).
    pub accounts_per_branch: u32,
    /// Simulated time at which the full load starts.
    pub start: DateTime<Utc>,
    /// Simulated time one `cdc_cycle` covers.
    pub cycle_span: Duration,
    /// DMS writes each table's CDC buffer at this interval (CdcMaxBatchInterval).
    pub flush_interval: Duration,
    /// DMS writes a CDC file early when it holds this many rows.
    pub max_rows_per_file: usize,
    /// Rows per full-load `LOADnnnnnnnn.parquet` file.
    pub full_file_rows: usize,
    /// pgbench transactions committed while the full load runs.
    pub txns_during_full_load: usize,
    /// Percent of transactions that insert a new account.
    pub account_insert_pct: f64,
    /// Percent of transactions that delete an existing account.
    pub account_delete_pct: f64,
    /// Hold one `pgbench_history` and one `pgbench_tellers` file of the
    /// first CDC cycle back until [`crate::Generator::finish`]: with a
    /// [`crate::Generator::pause`] before, they land in a day older than the
    /// load's listing window.
    pub hold_past_window: bool,
    /// Deliver `pgbench_history`'s full-load files with the first CDC cycle,
    /// after the CDC files of the full load's own time: the full load then
    /// widens the append table's full-load window over CDC rows already
    /// loaded (docs/cdc-contract.md, rule 6).
    pub history_full_load_after_cdc: bool,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            branches: 1,
            accounts_per_branch: 100_000,
            start: Utc.with_ymd_and_hms(2026, 11, 1, 20, 0, 0).single().unwrap_or(DateTime::UNIX_EPOCH),
            cycle_span: Duration::hours(8),
            flush_interval: Duration::seconds(60),
            max_rows_per_file: 50_000,
            full_file_rows: 25_000,
            txns_during_full_load: 200,
            account_insert_pct: 2.0,
            account_delete_pct: 2.0,
            hold_past_window: false,
            history_full_load_after_cdc: false,
        }
    }
}

impl GeneratorConfig {
    pub(crate) fn validate(&self) -> Result<(), GenError> {
        let bad = |msg: String| Err(GenError::Config(msg));
        if self.branches == 0 || self.accounts_per_branch == 0 {
            return bad("branches and accounts_per_branch must be at least 1".into());
        }
        // Keys are INTEGER columns: the initial accounts plus room for inserts must fit.
        if u64::from(self.branches) * u64::from(self.accounts_per_branch) > (i32::MAX / 2) as u64 {
            return bad("branches * accounts_per_branch is too large for INTEGER keys".into());
        }
        if self.cycle_span <= Duration::zero() || self.flush_interval <= Duration::zero() {
            return bad("cycle_span and flush_interval must be positive".into());
        }
        if self.cycle_span.num_microseconds().is_none() {
            return bad("cycle_span is too large".into());
        }
        if self.max_rows_per_file == 0 || self.full_file_rows == 0 {
            return bad("max_rows_per_file and full_file_rows must be at least 1".into());
        }
        let pct_ok = |p: f64| p.is_finite() && (0.0..=100.0).contains(&p);
        if !pct_ok(self.account_insert_pct)
            || !pct_ok(self.account_delete_pct)
            || self.account_insert_pct + self.account_delete_pct > 100.0
        {
            return bad("account_insert_pct and account_delete_pct must be in [0, 100] and sum to at most 100".into());
        }
        Ok(())
    }
}

impl DmsLayout {
    pub(crate) fn validate(&self) -> Result<(), GenError> {
        let bad = |msg: String| Err(GenError::Config(msg));
        // The schema is a path segment: keep it a plain name.
        if self.schema.is_empty() || self.schema == "." || self.schema == ".." || self.schema.contains(['/', '\\']) {
            return bad(format!("schema {:?} is not a plain folder name", self.schema));
        }
        if self.ts_column.is_empty() || self.seq_column.is_empty() {
            return bad("ts_column and seq_column must not be empty".into());
        }
        let mut names = vec!["op".to_string()];
        for table in Table::ALL {
            names.extend(table.columns().iter().map(|c| c.0.to_string()));
        }
        for col in [&self.ts_column, &self.seq_column] {
            if names.contains(&col.to_ascii_lowercase()) {
                return bad(format!("column name {col:?} collides with a DMS or table column"));
            }
        }
        if self.ts_column.eq_ignore_ascii_case(&self.seq_column) {
            return bad("ts_column and seq_column must differ".into());
        }
        Ok(())
    }
}
