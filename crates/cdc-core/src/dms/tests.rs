//! The layout against DMS's own key names (its guide and walkthroughs), so
//! the generator and the reader cannot agree on a wrong layout together,
//! and a property test over every combination of settings.

use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;

use super::layout::Folder;
use super::*;

fn dms(toml_text: &str) -> DmsSettings {
    let raw: RawDmsSettings = toml::from_str(toml_text).unwrap();
    DmsSettings::from_raw(raw).unwrap()
}

fn cdc(day: &str, folder: &str) -> Classified {
    Classified::Cdc { day: day.into(), folder: folder.into() }
}

#[test]
fn dms_defaults_put_both_kinds_side_by_side_in_the_table_folder() {
    // GIVEN no settings (DMS's defaults: no date partitions, no bucket folder)
    let d = DmsSettings::default();
    let l = Layout::new(&d);
    assert_eq!(l.full_load_prefix("hr", "employee"), "hr/employee/");
    assert_eq!(l.cdc_prefix("hr", "employee"), "hr/employee/");
    // THEN the guide's names are a full-load file and a CDC file of its name's day
    assert_eq!(l.classify(Folder::FullLoad, "LOAD0000000A.parquet"), Classified::Full);
    assert_eq!(l.classify(Folder::Cdc, "LOAD00000001.parquet"), Classified::Full);
    assert_eq!(l.classify(Folder::Cdc, "SEGMENT2_LOAD00000009.parquet"), Classified::Full);
    assert_eq!(l.classify(Folder::Cdc, "20141029-1134010000.parquet"), cdc("20141029", ""));
    assert_eq!(l.classify(Folder::Cdc, "20211123-013830913.parquet"), cdc("20211123", ""));
    // AND the counter is hexadecimal, eight digits
    assert_eq!(l.full_load_key("hr", "employee", 10), "hr/employee/LOAD0000000A.parquet");
    assert_eq!(l.full_load_key("hr", "employee", 16), "hr/employee/LOAD00000010.parquet");
    // AND no layout has days of their own folders, so none gets a day partition
    assert!(!l.has_day_folders());
    // AND anything else is unexplained; a CDC file in a subfolder points at date_partition_enabled
    let Classified::Unexplained(u) = l.classify(Folder::Cdc, "2024/01/05/20240105-000000000.parquet") else {
        panic!("a date folder without date partitions")
    };
    assert_eq!(u.mismatched_setting, Some("date_partition_enabled"));
    assert!(matches!(
        l.classify(Folder::Cdc, "notes.txt"),
        Classified::Unexplained(Unexplained { mismatched_setting: None, .. })
    ));
    assert!(matches!(l.classify(Folder::Cdc, "LOAD0000000a.parquet"), Classified::Unexplained(_)));
    assert_eq!(l.classify(Folder::Cdc, "2024/"), Classified::Placeholder);
}

#[test]
fn the_walkthroughs_date_folders_are_read_as_their_days() {
    // GIVEN SLASH (the default delimiter) and DASH, as in the DMS walkthroughs
    let slash = dms("date_partition_enabled = true");
    let dash = dms("date_partition_enabled = true\ndate_partition_delimiter = \"DASH\"");
    // THEN their real keys are CDC files of their folder's day, LOAD files stay in the table folder
    assert_eq!(
        Layout::new(&slash).classify(Folder::Cdc, "2021/11/23/20211123-013830913.parquet"),
        cdc("20211123", "2021/11/23/")
    );
    assert_eq!(
        Layout::new(&slash).classify(Folder::Cdc, "2024/01/05/20240105-101010101.parquet"),
        cdc("20240105", "2024/01/05/")
    );
    assert_eq!(
        Layout::new(&dash).classify(Folder::Cdc, "2022-10-23/20221023-013830913.parquet"),
        cdc("20221023", "2022-10-23/")
    );
    assert_eq!(Layout::new(&slash).classify(Folder::FullLoad, "LOAD00000001.parquet"), Classified::Full);
    // AND a flat CDC file, or a folder of the other delimiter, points at the settings
    for (l, key, setting) in [
        (&slash, "20211123-013830913.parquet", "date_partition_enabled"),
        (&dash, "2021/11/23/20211123-013830913.parquet", "date_partition_sequence/date_partition_delimiter"),
    ] {
        let Classified::Unexplained(u) = Layout::new(l).classify(Folder::Cdc, key) else { panic!("{key}") };
        assert_eq!(u.mismatched_setting, Some(setting), "{key}");
    }
}

#[test]
fn the_seed_layout_is_two_tasks_with_undelimited_day_folders() {
    let seed = dms(
        "bucket_folder = { full_load = \"full\", cdc = \"cdc\" }\ndate_partition_enabled = true\ndate_partition_delimiter = \"NONE\"",
    );
    let l = Layout::new(&seed);
    assert_eq!(l.full_load_prefix("public", "t"), "full/public/t/");
    assert_eq!(l.cdc_prefix("public", "t"), "cdc/public/t/");
    assert_eq!(l.classify(Folder::Cdc, "20261101/20261101-235900123.parquet"), cdc("20261101", "20261101/"));
    assert_eq!(l.classify(Folder::FullLoad, "LOAD00000001.parquet"), Classified::Full);
    // Each task's folder holds its own kind only.
    assert!(matches!(l.classify(Folder::Cdc, "LOAD00000001.parquet"), Classified::Unexplained(_)));
    assert!(matches!(l.classify(Folder::FullLoad, "20261101/20261101-235900123.parquet"), Classified::Unexplained(_)));
    assert_eq!(l.day_folder(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()).as_deref(), Some("20261101/"));
}

#[test]
fn hours_months_and_odd_orders_give_one_day_per_file() {
    let t = NaiveDate::from_ymd_opt(2024, 1, 5).unwrap().and_hms_milli_opt(13, 4, 5, 678).unwrap();
    let cases = [
        ("YYYYMMDDHH", "SLASH", "t/x/2024/01/05/13/20240105-130405678.parquet", Some("2024/01/05/")),
        ("YYYYMMDDHH", "DASH", "t/x/2024-01-05-13/20240105-130405678.parquet", None),
        ("YYYYMM", "SLASH", "t/x/2024/01/20240105-130405678.parquet", None),
        ("MMYYYYDD", "UNDERSCORE", "t/x/01_2024_05/20240105-130405678.parquet", Some("01_2024_05/")),
        ("DDMMYYYY", "NONE", "t/x/05012024/20240105-130405678.parquet", Some("05012024/")),
    ];
    for (seq, delimiter, key, day_folder) in cases {
        let d = dms(&format!(
            "date_partition_enabled = true\ndate_partition_sequence = \"{seq}\"\ndate_partition_delimiter = \"{delimiter}\""
        ));
        let l = Layout::new(&d);
        assert_eq!(l.cdc_key("t", "x", t), key, "{seq} {delimiter}");
        let rel = key.strip_prefix("t/x/").unwrap();
        let Classified::Cdc { day, .. } = l.classify(Folder::Cdc, rel) else { panic!("{seq} {delimiter}: {rel}") };
        assert_eq!(day, "20240105", "{seq} {delimiter}");
        assert_eq!(l.day_folder(t.date()).as_deref(), day_folder, "{seq} {delimiter}");
    }
}

#[test]
fn settings_that_dms_refuses_or_the_pipeline_cannot_read_are_config_errors_naming_the_keys() {
    let err = |text: &str| DmsSettings::from_raw(toml::from_str(text).unwrap()).unwrap_err();
    let e = err("preserve_transactions = true\ncdc_path = \"changes\"");
    assert!(e.contains("dms.preserve_transactions") && e.contains("dms.cdc_path"), "{e}");
    assert!(err("cdc_path = \"changes\"").contains("dms.cdc_path"));
    assert!(err("data_format = \"csv\"").contains("dms.data_format"));
    let e = err("cdc_inserts_only = true\ncdc_inserts_and_updates = true");
    assert!(e.contains("dms.cdc_inserts_only") && e.contains("dms.cdc_inserts_and_updates"), "{e}");
    assert!(err("date_partition_timezone = \"Asia/Seoul\"").contains("dms.date_partition_timezone"));
    assert!(err("bucket_folder = \"a/../b\"").contains("dms.bucket_folder"));
    assert!(toml::from_str::<RawDmsSettings>("date_partition_sequence = \"YYYYDDMM\"").is_err());
    assert!(toml::from_str::<RawDmsSettings>("bucket_folders = \"x\"").is_err());
}

#[test]
fn cdc_files_lack_op_only_with_inserts_only_and_no_full_load_op() {
    assert!(DmsSettings::default().cdc_files_carry_op());
    assert!(!dms("cdc_inserts_only = true").cdc_files_carry_op());
    assert!(dms("cdc_inserts_and_updates = true").cdc_files_carry_op());
    assert!(dms("cdc_inserts_only = true\ninclude_op_for_full_load = true").cdc_files_carry_op());
    assert_eq!(dms("cdc_inserts_and_updates = true").cdc_ops(), ["I", "U"]);
}

fn sequences() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("YYYYMMDD"), Just("YYYYMMDDHH"), Just("YYYYMM"), Just("MMYYYYDD"), Just("DDMMYYYY")]
}

fn delimiters() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("SLASH"), Just("UNDERSCORE"), Just("DASH"), Just("NONE")]
}

fn folders() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(""),
        Just("bucket_folder = \"dms\"\n"),
        Just("bucket_folder = \"a/b\"\n"),
        Just("bucket_folder = { full_load = \"full\", cdc = \"cdc\" }\n")
    ]
}

proptest! {
    /// Every key the layout writes reads back as what it is: the CDC file of
    /// the day it was generated, the full-load file it was; never the other.
    #[test]
    fn every_combination_reads_back_what_it_writes(
        enabled in any::<bool>(),
        seq in sequences(),
        delimiter in delimiters(),
        folder in folders(),
        secs in 0i64..(200 * 365 * 86_400),
        millis in 0u32..1000,
        n in 1u32..0x1_0000,
    ) {
        let d = dms(&format!(
            "{folder}date_partition_enabled = {enabled}\ndate_partition_sequence = \"{seq}\"\ndate_partition_delimiter = \"{delimiter}\""
        ));
        let l = Layout::new(&d);
        let at: NaiveDateTime = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap()
            + chrono::Duration::seconds(secs) + chrono::Duration::milliseconds(i64::from(millis));
        let key = l.cdc_key("s", "t", at);
        let rel = key.strip_prefix(&l.cdc_prefix("s", "t")).expect("under the CDC folder");
        let day = at.format("%Y%m%d").to_string();
        match l.classify(Folder::Cdc, rel) {
            Classified::Cdc { day: got, folder } => {
                prop_assert_eq!(got, day.clone());
                prop_assert!(rel.starts_with(&folder));
                if let Some(day_folder) = l.day_folder(at.date()) {
                    prop_assert!(rel.starts_with(&day_folder), "{} not under {}", rel, day_folder);
                }
            }
            other => prop_assert!(false, "{key}: {other:?}"),
        }
        let full = l.full_load_key("s", "t", n);
        let rel = full.strip_prefix(&l.full_load_prefix("s", "t")).expect("under the full-load folder");
        prop_assert_eq!(l.classify(Folder::FullLoad, rel), Classified::Full);
    }
}

/// Whether the key (relative to the CDC folder) is found by the calls, as
/// S3 answers `Prefix` and `StartAfter`.
fn found_by(calls: &[(String, Option<String>)], rel: &str) -> bool {
    calls.iter().any(|(prefix, after)| rel.starts_with(prefix.as_str()) && after.as_deref().is_none_or(|a| rel > a))
}

proptest! {
    /// A listing bounded to `from` and later days finds every CDC file of
    /// those days and none of the days before, in every layout; the full
    /// load shares the folder only where one call lists it too.
    #[test]
    fn a_bounded_listing_finds_every_cdc_file_from_its_day_on_and_none_before(
        enabled in any::<bool>(),
        seq in sequences(),
        delimiter in delimiters(),
        folder in folders(),
        from_days in 0i64..20_000,
        offset_minutes in -(5 * 1440i64)..(5 * 1440),
        n in 1u32..0x1_0000,
    ) {
        let d = dms(&format!(
            "{folder}date_partition_enabled = {enabled}\ndate_partition_sequence = \"{seq}\"\ndate_partition_delimiter = \"{delimiter}\""
        ));
        let l = Layout::new(&d);
        let from = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(from_days);
        let until = from + chrono::Duration::days(5);
        let Some(calls) = l.cdc_listing_calls(from, until) else {
            // Only day folders that do not sort by time, in a folder shared with the full load.
            prop_assert!(l.shared_folder() && enabled && matches!(seq, "MMYYYYDD" | "DDMMYYYY"));
            return Ok(());
        };
        prop_assert!(calls.len() <= 6);
        let at = from.and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::minutes(offset_minutes);
        let key = l.cdc_key("s", "t", at);
        let rel = key.strip_prefix(&l.cdc_prefix("s", "t")).unwrap();
        // Files of days past `until` are found wherever the names sort by time.
        let listed_day = at.date() >= from && (at.date() <= until || calls.len() == 1);
        prop_assert_eq!(found_by(&calls, rel), listed_day, "{} with {:?}", rel, calls);
        if l.shared_folder() {
            let full = l.full_load_key("s", "t", n);
            let rel = full.strip_prefix(&l.cdc_prefix("s", "t")).unwrap();
            prop_assert!(found_by(&calls, rel), "{} with {:?}", rel, calls);
        }
    }
}
