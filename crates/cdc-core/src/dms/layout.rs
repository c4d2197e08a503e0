//! Where DMS puts a table's files, and what an object key under a table's
//! folder means (docs/dms.md):
//! - full-load files `LOAD<8 hex digits>.parquet` (or, from a parallel
//!   load, `SEGMENT<n>_LOAD…`) directly in `[<bucket folder>/]<schema>/<table>/`;
//! - CDC files named by the time DMS generated them, `YYYYMMDD-HHMMSSmmm.parquet`,
//!   directly in that folder without date partitions, or in a date folder
//!   below it (`2024/01/05/`, `2024-01-05/`, `2024010513/`, …) with them.
//!
//! Every CDC file has one day, `YYYYMMDD`: the date in its name, which is
//! its date folder's day too (a file whose folder disagrees is reported).
//! The load's progress, the catalog's partitions and the unload's days all
//! use that day, so a file is in exactly one day everywhere, and SQL finds
//! it in the file's path whatever the layout.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};

use super::settings::{DatePartitionDelimiter, DatePartitionSequence, DmsSettings};
use crate::ports::FileKind;

/// Which of a table's folders an object was listed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    FullLoad,
    Cdc,
}

impl From<FileKind> for Folder {
    /// The folder files of a kind are written to.
    fn from(kind: FileKind) -> Self {
        match kind {
            FileKind::Full => Folder::FullLoad,
            FileKind::Cdc => Folder::Cdc,
        }
    }
}

/// What an object under a table's folder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A full-load file.
    Full,
    /// A CDC file: its day (`YYYYMMDD`) and its date folder relative to the
    /// table's folder (`2024/01/05/`; empty without date partitions).
    Cdc { day: String, folder: String },
    /// Not data: S3's folder placeholders.
    Placeholder,
    /// Not explained by the layout.
    Unexplained(Unexplained),
}

impl Classified {
    /// The kind of file it is, if it is one.
    pub fn kind(&self) -> Option<FileKind> {
        match self {
            Classified::Full => Some(FileKind::Full),
            Classified::Cdc { .. } => Some(FileKind::Cdc),
            Classified::Placeholder | Classified::Unexplained(_) => None,
        }
    }
}

/// An object the layout does not explain, and whether it looks like DMS
/// output laid out otherwise (then the settings are wrong, not the object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexplained {
    pub reason: String,
    /// The `[dms]` settings that would explain it, when it looks like a DMS file.
    pub mismatched_setting: Option<&'static str>,
}

/// The layout of one raw zone, from its DMS settings.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    dms: &'a DmsSettings,
}

impl<'a> Layout<'a> {
    pub fn new(dms: &'a DmsSettings) -> Self {
        Self { dms }
    }

    fn table_folder(folder: Option<&str>, schema: &str, table: &str) -> String {
        match folder {
            Some(f) => format!("{f}/{schema}/{table}/"),
            None => format!("{schema}/{table}/"),
        }
    }

    /// The folder of a table's full-load files, relative to the raw zone's root.
    pub fn full_load_prefix(&self, schema: &str, table: &str) -> String {
        Self::table_folder(self.dms.full_load_folder.as_deref(), schema, table)
    }

    /// The folder under which a table's CDC files are, relative to the raw zone's root.
    pub fn cdc_prefix(&self, schema: &str, table: &str) -> String {
        Self::table_folder(self.dms.cdc_folder.as_deref(), schema, table)
    }

    /// The folder a DMS task writes one kind of file into.
    pub fn folder_prefix(&self, folder: Folder, schema: &str, table: &str) -> String {
        match folder {
            Folder::FullLoad => self.full_load_prefix(schema, table),
            Folder::Cdc => self.cdc_prefix(schema, table),
        }
    }

    /// Whether one task writes both kinds into one folder.
    pub fn shared_folder(&self) -> bool {
        self.dms.full_load_folder == self.dms.cdc_folder
    }

    /// Whether each day of CDC files has a folder of its own (the catalog
    /// then registers one partition per day); without date partitions, or
    /// with month folders or hour folders side by side, it has not.
    pub fn has_day_folders(&self) -> bool {
        self.dms.date_partition_enabled
            && match self.dms.date_partition_sequence {
                DatePartitionSequence::YearMonthDayHour => {
                    self.dms.date_partition_delimiter == DatePartitionDelimiter::Slash
                }
                s => s.has_day(),
            }
    }

    /// The folder of one day's CDC files relative to the table's CDC folder
    /// (`2024/01/05/`), when days have folders of their own.
    pub fn day_folder(&self, day: NaiveDate) -> Option<String> {
        if !self.has_day_folders() {
            return None;
        }
        let seq = match self.dms.date_partition_sequence {
            // The day's folder holds its hours' folders.
            DatePartitionSequence::YearMonthDayHour => DatePartitionSequence::YearMonthDay,
            s => s,
        };
        Some(format!("{}/", date_folder(seq, self.dms.date_partition_delimiter, day.and_time(NaiveTime::MIN))))
    }

    /// The list calls that find every CDC file of `from` and later days in
    /// a table's CDC folder, and few others: `(sub-prefix, start-after)`,
    /// both relative to the folder. Where the folder names sort by time
    /// (no date folders: names start `YYYYMMDD`; `YYYY…` folders) one call
    /// starting after `from`'s key does; `MMYYYYDD` and `DDMMYYYY` folders
    /// do not sort by time, so each day up to `until` is its own call.
    /// `None` when no bounded listing finds them all: day folders in a
    /// folder that also holds the full load, whose files are then not
    /// under any day's prefix.
    pub fn cdc_listing_calls(&self, from: NaiveDate, until: NaiveDate) -> Option<Vec<(String, Option<String>)>> {
        let delimiter = self.dms.date_partition_delimiter;
        let day = |seq| date_folder(seq, delimiter, from.and_time(NaiveTime::MIN));
        if !self.dms.date_partition_enabled {
            return Some(vec![(String::new(), Some(day_text(from)))]);
        }
        match self.dms.date_partition_sequence {
            // A day's hour folders sort after the day's own prefix.
            DatePartitionSequence::YearMonthDay | DatePartitionSequence::YearMonthDayHour => {
                Some(vec![(String::new(), Some(day(DatePartitionSequence::YearMonthDay)))])
            }
            DatePartitionSequence::YearMonth => Some(vec![(
                String::new(),
                Some(format!("{}/{}", day(DatePartitionSequence::YearMonth), day_text(from))),
            )]),
            seq @ (DatePartitionSequence::MonthYearDay | DatePartitionSequence::DayMonthYear) => {
                if self.shared_folder() {
                    return None;
                }
                let days = from.iter_days().take_while(|d| *d <= until);
                Some(
                    days.map(|d| (format!("{}/", date_folder(seq, delimiter, d.and_time(NaiveTime::MIN))), None))
                        .collect(),
                )
            }
        }
    }

    /// The key of a full-load file relative to the raw zone's root, for the
    /// `n`th file (from 1) of a load: an 8-digit hexadecimal counter.
    pub fn full_load_key(&self, schema: &str, table: &str, n: u32) -> String {
        format!("{}LOAD{n:08X}.parquet", self.full_load_prefix(schema, table))
    }

    /// The key of a CDC file DMS generates at `at` (in the layout's zone).
    pub fn cdc_key(&self, schema: &str, table: &str, at: NaiveDateTime) -> String {
        let folder = if self.dms.date_partition_enabled {
            format!("{}/", date_folder(self.dms.date_partition_sequence, self.dms.date_partition_delimiter, at))
        } else {
            String::new()
        };
        format!("{}{folder}{}.parquet", self.cdc_prefix(schema, table), at.format("%Y%m%d-%H%M%S%3f"))
    }

    /// What the object at `rel` (relative to the table's `folder`) is.
    pub fn classify(&self, folder: Folder, rel: &str) -> Classified {
        if rel.is_empty() || rel.ends_with('/') || rel.ends_with("_$folder$") {
            return Classified::Placeholder;
        }
        let (dir, name) = rel.rsplit_once('/').map_or(("", rel), |(d, n)| (d, n));
        let may_be_full = folder == Folder::FullLoad || self.shared_folder();
        let may_be_cdc = folder == Folder::Cdc || self.shared_folder();
        if is_full_load_name(name) {
            return match (dir.is_empty(), may_be_full) {
                (true, true) => Classified::Full,
                (true, false) => unexplained("a full-load file in the CDC folder", Some("bucket_folder")),
                (false, _) => unexplained("a full-load file in a subfolder, where DMS never writes one", None),
            };
        }
        let Some(named) = cdc_name_time(name) else {
            return unexplained(
                "neither a full-load file (LOADxxxxxxxx.parquet) nor a CDC file (YYYYMMDD-HHMMSSmmm.parquet)",
                None,
            );
        };
        if !may_be_cdc {
            return unexplained("a CDC file in the full-load folder", Some("bucket_folder"));
        }
        self.classify_cdc(dir, named)
    }

    fn classify_cdc(&self, dir: &str, named: NaiveDateTime) -> Classified {
        let name_day = named.date();
        if !self.dms.date_partition_enabled {
            return if dir.is_empty() {
                Classified::Cdc { day: day_text(name_day), folder: String::new() }
            } else {
                unexplained(
                    "a CDC file in a subfolder, but date_partition_enabled is false",
                    Some("date_partition_enabled"),
                )
            };
        }
        if dir.is_empty() {
            return unexplained(
                "a CDC file directly in the table's folder, but date_partition_enabled is true",
                Some("date_partition_enabled"),
            );
        }
        let (seq, delimiter) = (self.dms.date_partition_sequence, self.dms.date_partition_delimiter);
        let Some(folder_date) = parse_date_folder(seq, delimiter, dir) else {
            return unexplained(
                &format!("its folder {dir:?} is not a {} date folder with {} delimiters", seq.name(), delimiter.name()),
                Some("date_partition_sequence/date_partition_delimiter"),
            );
        };
        // DMS names the file and picks its folder from the same moment, so
        // they agree; the name's date is the day the SQL can see in `$path`.
        let agrees = match folder_date {
            FolderDate::Day(d) => d == name_day,
            FolderDate::Month(y, m) => (name_day.year(), name_day.month()) == (y, m),
        };
        if !agrees {
            return unexplained("a CDC file whose name's date is not its date folder's", None);
        }
        Classified::Cdc { day: day_text(name_day), folder: format!("{dir}/") }
    }
}

fn unexplained(reason: &str, mismatched_setting: Option<&'static str>) -> Classified {
    Classified::Unexplained(Unexplained { reason: reason.to_string(), mismatched_setting })
}

fn day_text(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// The day (`YYYYMMDD`) of a CDC file, from the name at the end of its path.
pub fn cdc_file_day(path: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    cdc_name_time(name).map(|t| day_text(t.date()))
}

/// `LOAD<8 hex>.parquet`, or `SEGMENT<n>_LOAD<8 hex>.parquet` from a parallel load.
fn is_full_load_name(name: &str) -> bool {
    let name = match name.strip_prefix("SEGMENT") {
        Some(rest) => match rest.split_once('_') {
            Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => rest,
            _ => return false,
        },
        None => name,
    };
    name.strip_prefix("LOAD")
        .and_then(|r| r.strip_suffix(".parquet"))
        .is_some_and(|hex| hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)))
}

/// The time in a CDC file's name, `YYYYMMDD-HHMMSS` then 0 to 4 fraction
/// digits (DMS writes milliseconds; its guide's example has one digit more).
fn cdc_name_time(name: &str) -> Option<NaiveDateTime> {
    let stem = name.strip_suffix(".parquet")?;
    let (date, time) = stem.split_once('-')?;
    if date.len() != 8
        || !(6..=10).contains(&time.len())
        || !(date.bytes().chain(time.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let day = NaiveDate::parse_from_str(date, "%Y%m%d").ok()?;
    let clock = NaiveTime::parse_from_str(&time[..6], "%H%M%S").ok()?;
    Some(day.and_time(clock))
}

/// The date folder (without trailing `/`) of a time, per sequence and delimiter.
fn date_folder(seq: DatePartitionSequence, delimiter: DatePartitionDelimiter, at: NaiveDateTime) -> String {
    let part = |p: char| match p {
        'Y' => at.format("%Y").to_string(),
        'M' => at.format("%m").to_string(),
        'D' => at.format("%d").to_string(),
        _ => at.format("%H").to_string(),
    };
    seq.parts().iter().map(|p| part(*p)).collect::<Vec<_>>().join(delimiter.text())
}

enum FolderDate {
    Day(NaiveDate),
    Month(i32, u32),
}

/// Reads a date folder path (without trailing `/`).
fn parse_date_folder(seq: DatePartitionSequence, delimiter: DatePartitionDelimiter, dir: &str) -> Option<FolderDate> {
    let parts = seq.parts();
    let widths: Vec<usize> = parts.iter().map(|p| if *p == 'Y' { 4 } else { 2 }).collect();
    let values: Vec<&str> = match delimiter {
        DatePartitionDelimiter::None => {
            if dir.len() != widths.iter().sum::<usize>() || dir.contains('/') {
                return None;
            }
            let mut at = 0;
            widths
                .iter()
                .map(|w| {
                    let v = &dir[at..at + w];
                    at += w;
                    v
                })
                .collect()
        }
        d => dir.split(d.text()).collect(),
    };
    if values.len() != parts.len()
        || values.iter().zip(&widths).any(|(v, w)| v.len() != *w || !v.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let get = |p: char| parts.iter().position(|x| *x == p).and_then(|i| values[i].parse::<u32>().ok());
    let (year, month) = (get('Y')? as i32, get('M')?);
    if let Some(hour) = get('H')
        && hour > 23
    {
        return None;
    }
    match get('D') {
        Some(day) => NaiveDate::from_ymd_opt(year, month, day).map(FolderDate::Day),
        None => NaiveDate::from_ymd_opt(year, month, 1).map(|_| FolderDate::Month(year, month)),
    }
}
