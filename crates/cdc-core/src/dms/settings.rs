//! The `[dms]` table: DMS's S3 endpoint settings, as written in the config,
//! and their validation.

use serde::{Deserialize, Serialize};

use crate::ident::Ident;

/// `DatePartitionSequence`: the order of a date folder's parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatePartitionSequence {
    #[default]
    #[serde(rename = "YYYYMMDD")]
    YearMonthDay,
    #[serde(rename = "YYYYMMDDHH")]
    YearMonthDayHour,
    #[serde(rename = "YYYYMM")]
    YearMonth,
    #[serde(rename = "MMYYYYDD")]
    MonthYearDay,
    #[serde(rename = "DDMMYYYY")]
    DayMonthYear,
}

impl DatePartitionSequence {
    /// The parts of a folder, in order: `Y` year (4 digits), `M` month, `D`
    /// day, `H` hour (2 digits each).
    pub fn parts(self) -> &'static [char] {
        match self {
            Self::YearMonthDay => &['Y', 'M', 'D'],
            Self::YearMonthDayHour => &['Y', 'M', 'D', 'H'],
            Self::YearMonth => &['Y', 'M'],
            Self::MonthYearDay => &['M', 'Y', 'D'],
            Self::DayMonthYear => &['D', 'M', 'Y'],
        }
    }

    /// Whether one folder (or, for hours split by `/`, one folder and its
    /// subfolders) holds exactly one day.
    pub fn has_day(self) -> bool {
        self.parts().contains(&'D')
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::YearMonthDay => "YYYYMMDD",
            Self::YearMonthDayHour => "YYYYMMDDHH",
            Self::YearMonth => "YYYYMM",
            Self::MonthYearDay => "MMYYYYDD",
            Self::DayMonthYear => "DDMMYYYY",
        }
    }
}

/// `DatePartitionDelimiter`: what separates a date folder's parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DatePartitionDelimiter {
    #[default]
    Slash,
    Underscore,
    Dash,
    None,
}

impl DatePartitionDelimiter {
    pub fn text(self) -> &'static str {
        match self {
            Self::Slash => "/",
            Self::Underscore => "_",
            Self::Dash => "-",
            Self::None => "",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Slash => "SLASH",
            Self::Underscore => "UNDERSCORE",
            Self::Dash => "DASH",
            Self::None => "NONE",
        }
    }
}

/// `DataFormat`: only Parquet is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    #[default]
    Parquet,
    Csv,
}

/// `bucket_folder`: one string when one task writes the full load and the
/// changes, or the folder of each task when two do (AWS recommends separate
/// endpoints for two tasks on one table).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RawBucketFolder {
    One(String),
    PerTask { full_load: Option<String>, cdc: Option<String> },
}

/// `[dms]` as written; every key optional, DMS's default when absent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDmsSettings {
    bucket_folder: Option<RawBucketFolder>,
    date_partition_enabled: Option<bool>,
    date_partition_sequence: Option<DatePartitionSequence>,
    date_partition_delimiter: Option<DatePartitionDelimiter>,
    date_partition_timezone: Option<String>,
    include_op_for_full_load: Option<bool>,
    cdc_inserts_only: Option<bool>,
    cdc_inserts_and_updates: Option<bool>,
    timestamp_column_name: Option<Ident>,
    use_task_start_time_for_full_load_timestamp: Option<bool>,
    parquet_timestamp_in_millisecond: Option<bool>,
    data_format: Option<DataFormat>,
    preserve_transactions: Option<bool>,
    cdc_path: Option<String>,
}

/// The DMS S3 endpoint settings the raw zone was written with, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DmsSettings {
    /// `BucketFolder` of the task writing the full load; `None`: none.
    pub full_load_folder: Option<String>,
    /// `BucketFolder` of the task writing the changes.
    pub cdc_folder: Option<String>,
    pub date_partition_enabled: bool,
    pub date_partition_sequence: DatePartitionSequence,
    pub date_partition_delimiter: DatePartitionDelimiter,
    /// `DatePartitionTimezone`, the zone of date folders and CDC file names.
    pub date_partition_timezone: String,
    /// Full-load files carry `Op` (always `I`).
    pub include_op_for_full_load: bool,
    /// Only inserts are written (without `Op` unless `include_op_for_full_load`).
    pub cdc_inserts_only: bool,
    /// Inserts and updates are written, deletes are not.
    pub cdc_inserts_and_updates: bool,
    /// `TimestampColumnName`: the column DMS adds with the commit time (CDC)
    /// or the transfer time (full load), as text `yyyy-MM-dd HH:mm:ss.SSSSSS`.
    pub timestamp_column_name: Option<Ident>,
    /// Full-load rows carry the task's start time instead of their transfer time.
    pub use_task_start_time_for_full_load_timestamp: bool,
    pub parquet_timestamp_in_millisecond: bool,
}

impl Default for DmsSettings {
    /// DMS's own defaults (DatePartitionEnabled false, sequence YYYYMMDD,
    /// delimiter SLASH, zone UTC, every flag false, no bucket folder).
    fn default() -> Self {
        Self {
            full_load_folder: None,
            cdc_folder: None,
            date_partition_enabled: false,
            date_partition_sequence: DatePartitionSequence::default(),
            date_partition_delimiter: DatePartitionDelimiter::default(),
            date_partition_timezone: "UTC".into(),
            include_op_for_full_load: false,
            cdc_inserts_only: false,
            cdc_inserts_and_updates: false,
            timestamp_column_name: None,
            use_task_start_time_for_full_load_timestamp: false,
            parquet_timestamp_in_millisecond: false,
        }
    }
}

impl DmsSettings {
    /// Checks `[dms]`; errors name the keys.
    pub fn from_raw(raw: RawDmsSettings) -> Result<Self, String> {
        let d = Self::default();
        if raw.preserve_transactions.unwrap_or(false) || raw.cdc_path.is_some() {
            return Err("fields `dms.preserve_transactions` and `dms.cdc_path` are not supported: with them DMS \
                        writes every table's changes to one folder of CSV transaction files, which the pipeline \
                        does not read; use DMS's per-table folders (leave both out)"
                .into());
        }
        if raw.data_format.unwrap_or_default() != DataFormat::Parquet {
            return Err("field `dms.data_format`: only \"parquet\" is read".into());
        }
        let (cdc_only, inserts_and_updates) =
            (raw.cdc_inserts_only.unwrap_or(false), raw.cdc_inserts_and_updates.unwrap_or(false));
        if cdc_only && inserts_and_updates {
            return Err("fields `dms.cdc_inserts_only` and `dms.cdc_inserts_and_updates` cannot both be true (DMS \
                        refuses the combination)"
                .into());
        }
        let timezone = raw.date_partition_timezone.unwrap_or(d.date_partition_timezone);
        if timezone != "UTC" {
            return Err(format!(
                "field `dms.date_partition_timezone` = {timezone:?}: only \"UTC\" is supported (date folders, CDC \
                 file names and finished days are taken as UTC)"
            ));
        }
        let folder = |f: Option<String>, key: &str| -> Result<Option<String>, String> {
            let Some(f) = f else { return Ok(None) };
            let f = f.trim_matches('/').to_string();
            if f.is_empty() {
                return Ok(None);
            }
            if f.split('/').any(|p| p.is_empty() || p == "." || p == "..") || f.contains('\\') {
                return Err(format!("field `dms.{key}` = {f:?} is not a folder path"));
            }
            Ok(Some(f))
        };
        let (full_load_folder, cdc_folder) = match raw.bucket_folder {
            None => (None, None),
            Some(RawBucketFolder::One(f)) => {
                let f = folder(Some(f), "bucket_folder")?;
                (f.clone(), f)
            }
            Some(RawBucketFolder::PerTask { full_load, cdc }) => {
                (folder(full_load, "bucket_folder.full_load")?, folder(cdc, "bucket_folder.cdc")?)
            }
        };
        Ok(Self {
            full_load_folder,
            cdc_folder,
            date_partition_enabled: raw.date_partition_enabled.unwrap_or(d.date_partition_enabled),
            date_partition_sequence: raw.date_partition_sequence.unwrap_or_default(),
            date_partition_delimiter: raw.date_partition_delimiter.unwrap_or_default(),
            date_partition_timezone: timezone,
            include_op_for_full_load: raw.include_op_for_full_load.unwrap_or(false),
            cdc_inserts_only: cdc_only,
            cdc_inserts_and_updates: inserts_and_updates,
            timestamp_column_name: raw.timestamp_column_name,
            use_task_start_time_for_full_load_timestamp: raw
                .use_task_start_time_for_full_load_timestamp
                .unwrap_or(false),
            parquet_timestamp_in_millisecond: raw.parquet_timestamp_in_millisecond.unwrap_or(false),
        })
    }

    /// Whether CDC files carry the `Op` column. The DMS guide's table "for
    /// .csv and .parquet output" (S3 target, "Indicating source DB
    /// operations in migrated S3 data"): with `CdcInsertsOnly` and without
    /// `IncludeOpForFullLoad`, CDC records have "No added field"; in every
    /// other combination they carry `Op` (`I`, or `I`/`U` with
    /// `CdcInsertsAndUpdates`, whose table speaks of .csv only and is read
    /// the same for Parquet). Without `Op` every row is an insert.
    pub fn cdc_files_carry_op(&self) -> bool {
        !(self.cdc_inserts_only && !self.include_op_for_full_load)
    }

    /// The `Op` values CDC files may carry.
    pub fn cdc_ops(&self) -> &'static [&'static str] {
        if self.cdc_inserts_only {
            &["I"]
        } else if self.cdc_inserts_and_updates {
            &["I", "U"]
        } else {
            &["I", "U", "D"]
        }
    }
}
