//! The raw zone's objects and the load (docs/dms.md, docs/cdc-contract.md
//! rule 1), on the local DuckDB path: every object under a table's folders
//! is applied, already applied, or reported. A late file in a day older than
//! the progress window is applied; a CDC file written again under its name
//! fails the table naming it (a reload: table_lifecycle.rs);
//! objects the layout does not explain are reported and left alone; DMS
//! output laid out otherwise than `[dms]` says fails the table naming the
//! setting; DMS's default layout (no `[dms]`) keeps full-load and CDC files
//! apart although they share a folder.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use cdc_core::ErrorKind;
use cdc_core::load::{LoadRun, SubmitOutcome, submit_load};
use cdc_core::ports::FileKind;
use support::*;

const DAY: i64 = 86_400;

/// The submit step of the table's next load, which must start nothing.
async fn assert_nothing_new(w: &World, table: &str) {
    let t = w.cfg.table(table).unwrap();
    let outcome = submit_load(&w.cfg, t, &w.warehouse, &w.raw, LoadRun::whole(chrono::Utc::now())).await.unwrap();
    assert_eq!(outcome, SubmitOutcome::NothingNew);
    assert_eq!(w.load(table).await.unwrap().files, 0);
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn set_mtime(path: &Path, at: SystemTime) {
    std::fs::File::options().write(true).open(path).unwrap().set_modified(at).unwrap();
    assert_eq!(mtime(path), at, "the file system must keep the modification time as set");
}

/// What the folder raw zone records as a file's version: the SHA-256 of its
/// bytes, hex (as S3's ETag is the MD5 of a single-part upload's bytes).
fn version_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// One CDC file of items in each day folder of `days` (1 is 20261101): two
/// changes each, an update of id 1 and an insert of id 10 + day.
fn deliver_days(w: &World, days: std::ops::RangeInclusive<i64>, delivered: &mut Vec<Change>) {
    for d in days {
        let day = format!("202611{d:02}");
        let changes = [
            ch("U", 1, &format!("a{d}"), (d - 1) * DAY + 100, 10 * d as u64),
            ch("I", 10 + d as i32, &format!("x{d}"), (d - 1) * DAY + 100, 10 * d as u64 + 1),
        ];
        w.cdc_file("items", &day, &format!("{day}-000100000"), &changes);
        delivered.extend(changes);
    }
}

/// A fresh world with items applied from 20261101 to 20261105, one
/// [`deliver_days`] file each, in one load; and the changes delivered.
async fn five_days_applied() -> (World, Vec<Change>) {
    let w = World::new();
    w.setup().await;
    let mut delivered = Vec::new();
    deliver_days(&w, 1..=5, &mut delivered);
    assert_eq!(w.load("items").await.unwrap().files, 5);
    (w, delivered)
}

/// The days the load's progress query returns as summaries (count and
/// bytes) instead of file by file, and the first day it reads file by file.
fn summarized_days(w: &World, table: &str) -> (Vec<String>, Option<String>) {
    let t = w.cfg.table(table).unwrap();
    let batch = cdc_core::sql::setup::applied_files_query(&w.cfg, t, cdc_core::sql::Dialect::DuckDb);
    let conn = w.warehouse.connection().unwrap();
    let sql = format!("SELECT partition_0, oldest_partition FROM ({}) q", batch.statements[0]);
    let mut stmt = conn.prepare(&format!("{sql} WHERE file IS NULL ORDER BY 1")).unwrap();
    let days: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    let oldest: Option<String> = conn.query_row(&format!("{sql} LIMIT 1"), [], |r| r.get(1)).unwrap();
    (days, oldest)
}

#[tokio::test]
async fn a_late_file_in_a_day_older_than_the_progress_window_is_applied() {
    // GIVEN items (lateness_window 1d) with day 20261101 applied
    let w = World::new();
    w.setup().await;
    let mut delivered = vec![ch("I", 1, "a", 100, 1), ch("I", 2, "b", 200, 2)];
    w.cdc_file("items", "20261101", "20261101-000100000", &delivered);
    assert_eq!(w.load("items").await.unwrap().files, 1);
    // AND then days 20261102 to 20261105, so the progress is read file by
    // file from 20261104 on and 20261101 comes as a day summary
    deliver_days(&w, 2..=5, &mut delivered);
    assert_eq!(w.load("items").await.unwrap().files, 4);
    assert_eq!(
        summarized_days(&w, "items"),
        (vec!["20261101".to_string(), "20261102".into(), "20261103".into()], Some("20261104".into()))
    );
    // WHEN a new file lands in the 20261101 folder: an update committed
    // before day 5's to id 1 and an update to id 2, keys the target holds
    // (so the contract decides them though they are older than the window)
    let late = [ch("U", 1, "stale", 3_600, 3), ch("U", 2, "b-late", 3_600, 4)];
    w.cdc_file("items", "20261101", "20261101-230000000", &late);
    delivered.extend(late);
    let stats = w.load("items").await.unwrap();
    // THEN exactly that file is applied, and the target is the fold of everything delivered
    assert_eq!((stats.files, stats.changes), (1, 2));
    assert_eq!(w.state("items"), oracle(&[], &delivered));
    assert_eq!(w.state("items")[&1].as_deref(), Some("a5"), "the late, older update to id 1 must not win");
    assert_eq!(w.state("items")[&2].as_deref(), Some("b-late"));
    assert_eq!(w.progress_files("items"), 6);
    // AND the next run finds nothing new and submits nothing
    assert_nothing_new(&w, "items").await;
    assert_eq!(w.state("items"), oracle(&[], &delivered));
}

#[tokio::test]
async fn a_late_file_the_contract_can_no_longer_decide_fails_the_table_naming_it() {
    // GIVEN items applied from 20261101 to 20261105 (lateness_window 1d)
    let (w, delivered) = five_days_applied().await;
    // WHEN a file lands in the 20261101 folder with an insert of a key the
    // target has never held, committed four days before the newest change:
    // had the key been deleted since, its tombstone would be gone
    let late = w.cdc_file("items", "20261101", "20261101-230000000", &[ch("I", 3, "c-late", 3_600, 5)]);
    let e = w.load("items").await.unwrap_err();
    // THEN the table fails naming the file, and nothing is applied
    assert_eq!(e.kind, cdc_core::ErrorKind::DataError);
    assert!(e.to_string().contains(&late.display().to_string()), "{e}");
    assert_eq!(w.state("items"), oracle(&[], &delivered));
    assert_eq!(w.progress_files("items"), 5);
    // AND it keeps failing, naming it, rather than being skipped
    assert!(w.load("items").await.unwrap_err().to_string().contains(&late.display().to_string()));
}

#[tokio::test]
async fn a_late_file_in_an_old_day_of_which_nothing_was_applied_is_applied() {
    // GIVEN items applied up to 20261105 from 20261102 on, nothing of 20261101
    let w = World::new();
    w.setup().await;
    let mut delivered = Vec::new();
    deliver_days(&w, 2..=5, &mut delivered);
    assert_eq!(w.load("items").await.unwrap().files, 4);
    // WHEN a file lands in the (older than the window) 20261101 folder
    // (an update of id 1, which the target holds: the contract decides it)
    let late = [ch("U", 1, "stale", 200, 2)];
    w.cdc_file("items", "20261101", "20261101-000100000", &late);
    delivered.extend(late);
    // THEN it is applied, and then nothing is new
    assert_eq!(w.load("items").await.unwrap().files, 1);
    assert_eq!(w.state("items"), oracle(&[], &delivered));
    assert_nothing_new(&w, "items").await;
}

#[tokio::test]
async fn a_cdc_file_written_again_under_its_name_fails_the_table_until_its_bytes_are_back() {
    // GIVEN two applied CDC files of items
    let w = World::new();
    w.setup().await;
    let first = [ch("I", 1, "a", 10, 1), ch("I", 2, "b", 10, 2)];
    let second = [ch("U", 1, "a2", 20, 3)];
    let path = w.cdc_file("items", "20261101", "20261101-000100000", &first);
    w.cdc_file("items", "20261101", "20261101-000200000", &second);
    assert_eq!(w.load("items").await.unwrap().files, 2);
    let (original, original_mtime) = (std::fs::read(&path).unwrap(), mtime(&path));
    let (rows_before, progress_before) = (w.rows("items"), w.progress("items"));
    // AND the progress keeps the file's size and the digest of its bytes as version
    let recorded = progress_before.iter().find(|p| Path::new(&p.0) == path).expect("file in progress");
    assert_eq!(recorded.3, Some(original.len() as i64));
    assert_eq!(recorded.4.as_deref(), Some(version_of(&original).as_str()));

    // WHEN the first file is written again under its name with other content
    w.cdc_file("items", "20261101", "20261101-000100000", &[ch("I", 1, "other", 10, 1), ch("I", 9, "new", 10, 9)]);
    assert_ne!(std::fs::read(&path).unwrap(), original);
    let err = w.load("items").await.unwrap_err();
    // THEN the load fails as a data error naming the file
    assert_eq!(err.kind, ErrorKind::DataError, "{err}");
    assert!(err.message.contains(&path.display().to_string()), "must name the file: {err}");
    assert!(err.message.contains("written again"), "{err}");
    // AND neither the target nor the progress changed
    assert_eq!(w.rows("items"), rows_before);
    assert_eq!(w.progress("items"), progress_before);

    // WHEN the original bytes come back under their name (a new modification time: a replay)
    std::fs::write(&path, &original).unwrap();
    set_mtime(&path, original_mtime + Duration::from_secs(7));
    // THEN the file is the one applied: nothing new, the target as before
    assert_nothing_new(&w, "items").await;
    assert_eq!(w.rows("items"), rows_before);
    let all: Vec<Change> = first.iter().chain(&second).cloned().collect();
    assert_eq!(w.state("items"), oracle(&[], &all));
    assert_eq!(w.progress("items"), progress_before);
}

#[tokio::test]
async fn a_cdc_file_written_again_with_another_size_in_a_day_older_than_the_window_fails_the_table() {
    // GIVEN items applied from 20261101 to 20261105 (1d window: 20261101 is summarized)
    let (w, _) = five_days_applied().await;
    let (rows_before, progress_before) = (w.rows("items"), w.progress("items"));
    // WHEN 20261101's file is written again with more rows
    let path = w.cdc_file(
        "items",
        "20261101",
        "20261101-000100000",
        &[ch("U", 1, "a1", 100, 10), ch("I", 11, "x1", 100, 11), ch("I", 99, "more", 100, 12)],
    );
    // THEN the day's summary disagrees, the day is read file by file, and the rewrite is named
    let err = w.load("items").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::DataError, "{err}");
    assert!(err.message.contains("written again") && err.message.contains(&path.display().to_string()), "{err}");
    assert_eq!(w.rows("items"), rows_before);
    assert_eq!(w.progress("items"), progress_before);
}

#[tokio::test]
async fn a_cdc_file_written_again_with_the_same_size_in_a_day_older_than_the_window_fails_the_table() {
    // GIVEN items applied from 20261101 to 20261105 (1d window: 20261101 is summarized)
    let (w, _) = five_days_applied().await;
    let path = w.raw_root().join("cdc/src/items/20261101/20261101-000100000.parquet");
    let (size, before) = (std::fs::metadata(&path).unwrap().len(), mtime(&path));
    // WHEN 20261101's file is written again with other values of the same size
    w.cdc_file("items", "20261101", "20261101-000100000", &[ch("U", 1, "b1", 100, 10), ch("I", 11, "y1", 100, 11)]);
    set_mtime(&path, before + Duration::from_secs(60));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size, "premise: the same size");
    // THEN the load fails naming it, as it does within the window
    let err = w.load("items").await.unwrap_err();
    assert!(err.message.contains("written again") && err.message.contains(&path.display().to_string()), "{err}");
}

#[tokio::test]
async fn objects_the_layout_does_not_explain_are_reported_and_not_applied() {
    // GIVEN a real CDC file of items, and beside it a text file, a JSON
    // manifest, and a Parquet file of the table's shape in a folder that is no day
    let w = World::new();
    w.setup().await;
    let real = [ch("I", 1, "a", 10, 1), ch("I", 2, "b", 20, 2)];
    let real_path = w.cdc_file("items", "20261101", "20261101-000100000", &real);
    let day = w.raw_root().join("cdc/src/items/20261101");
    std::fs::write(day.join("notes.txt"), "loaded by hand\n").unwrap();
    std::fs::write(day.join("manifest.json"), "{\"files\": 1}\n").unwrap();
    let stray = w.cdc_file_at("items", "cdc/src/items/latest/x.parquet", &[ch("I", 99, "not-dms", 30, 9)]);
    // WHEN the table is listed
    let t = w.cfg.table("items").unwrap();
    let listing = cdc_core::dms::list_table(&w.cfg, t, &w.raw).await.unwrap();
    // THEN the real file is its only file, and each other object is reported with a reason
    let files: Vec<&str> = listing.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(files, [real_path.display().to_string()]);
    let reported: BTreeMap<String, (String, Option<String>)> =
        listing.unexplained.iter().map(|u| (u.path.clone(), (u.reason.clone(), u.setting.clone()))).collect();
    let expected = [day.join("notes.txt"), day.join("manifest.json"), stray];
    assert_eq!(reported.len(), 3, "{:?}", listing.unexplained);
    for p in &expected {
        let (reason, setting) = reported.get(&p.display().to_string()).unwrap_or_else(|| panic!("{p:?} not reported"));
        assert!(!reason.is_empty(), "{p:?} needs a reason");
        assert_eq!(setting, &None, "{p:?} does not look like DMS output laid out otherwise");
    }
    assert!(listing.layout_error(t).is_none());
    // AND WHEN the table loads THEN only the real file is applied
    let stats = w.load("items").await.unwrap();
    assert_eq!((stats.files, stats.changes), (1, 2));
    assert_eq!(w.state("items"), oracle(&[], &real));
    assert_eq!(w.progress_files("items"), 1);
    assert_nothing_new(&w, "items").await;
}

#[tokio::test]
async fn cdc_files_laid_out_without_day_folders_fail_the_table_naming_the_setting_prefix_and_object() {
    // GIVEN [dms] says date partitions, one CDC file in its day folder and
    // one directly in the table's CDC folder
    let w = World::new();
    w.setup().await;
    w.cdc_file("items", "20261101", "20261101-000100000", &[ch("I", 1, "a", 10, 1)]);
    let flat = w.cdc_file_at("items", "cdc/src/items/20261101-000200000.parquet", &[ch("I", 2, "b", 20, 2)]);
    // WHEN the table loads
    let err = w.load("items").await.unwrap_err();
    // THEN it fails as a config error naming the setting, the prefix and the object
    assert_eq!(err.kind, ErrorKind::ConfigError, "{err}");
    let prefix = w.raw_root().join("cdc/src/items/");
    for part in ["dms.date_partition_enabled", &prefix.display().to_string(), &flat.display().to_string(), "src.items"]
    {
        assert!(err.message.contains(part), "error must mention {part:?}: {err}");
    }
    // AND nothing is applied
    assert!(w.rows("items").is_empty());
    assert_eq!(w.progress_files("items"), 0);
}

/// support::CONFIG without its `[dms]` block: DMS's defaults.
fn config_without_dms() -> String {
    let start = CONFIG.find("[dms]").unwrap();
    let end = start + CONFIG[start..].find("[[tables]]").unwrap();
    format!("{}{}", &CONFIG[..start], &CONFIG[end..])
}

#[tokio::test]
async fn dms_defaults_keep_full_load_and_cdc_files_apart_in_one_folder() {
    // GIVEN no [dms] block: full-load and CDC files side by side in src/<table>/
    let w = World::with_config(&config_without_dms());
    assert_eq!(w.cfg.dms, cdc_core::dms::DmsSettings::default());
    w.setup().await;
    let full = [fr(1, "full-1", 100), fr(2, "full-2", 100), fr(4, "full-4", 100)];
    let cdc = [ch("U", 2, "cdc-2", 200, 1), ch("I", 3, "cdc-3", 200, 2), ch("D", 4, "full-4", 300, 3)];
    w.full_file_at("src/items/LOAD00000001.parquet", &full);
    w.cdc_file_at("items", "src/items/20261101-000100000.parquet", &cdc);
    let events_full = [fr(1, "e1", 100), fr(2, "e2", 100)];
    let events_cdc = [ch("I", 2, "e2", 60, 1), ch("I", 3, "e3", 200, 2)];
    w.full_file_at("src/events/LOAD00000001.parquet", &events_full);
    w.cdc_file_at("events", "src/events/20261101-000100000.parquet", &events_cdc);
    // WHEN items is listed THEN one file of each kind, the CDC file with its day, nothing unexplained
    let t = w.cfg.table("items").unwrap();
    let listing = cdc_core::dms::list_table(&w.cfg, t, &w.raw).await.unwrap();
    let kinds: Vec<(FileKind, Option<&str>, bool)> = listing
        .files
        .iter()
        .map(|f| (f.kind, f.partition.as_deref(), f.path.ends_with("LOAD00000001.parquet")))
        .collect();
    assert_eq!(kinds, [(FileKind::Full, None, true), (FileKind::Cdc, Some("20261101"), false)]);
    assert!(listing.unexplained.is_empty(), "{:?}", listing.unexplained);
    // WHEN both tables load
    assert_eq!(w.load("items").await.unwrap().files, 2);
    assert_eq!(w.load("events").await.unwrap().files, 2);
    // THEN the full-load rows are full-load rows and the changes changes, each read once
    assert_eq!(
        w.rows("items"),
        [
            (1, Some("full-1".into()), ts_text(100), None, true),
            (2, Some("cdc-2".into()), ts_text(200), Some("1".into()), false),
            (3, Some("cdc-3".into()), ts_text(200), Some("2".into()), false),
        ]
    );
    assert_eq!(w.state("items"), oracle(&full, &cdc));
    assert_eq!(w.sorted_rows("events"), append_oracle(&events_full, &events_cdc));
    assert_nothing_new(&w, "items").await;
    assert_nothing_new(&w, "events").await;
}

#[tokio::test]
async fn a_backlog_in_ddmmyyyy_folders_loads_in_time_order_not_path_order() {
    // GIVEN DDMMYYYY day folders (whose paths do not sort by time), one
    // batch of two files per load, and a month of items whose inserts each
    // come in their own day, none ever touched again
    let text = CONFIG
        .replace("max_files_per_load = 500", "max_files_per_load = 2")
        .replace("[dms]", "[dms]\ndate_partition_sequence = \"DDMMYYYY\"");
    let w = World::with_config(&text);
    w.setup().await;
    let mut delivered = Vec::new();
    for day in [(2026, 10, 15), (2026, 10, 28), (2026, 11, 1), (2026, 11, 2), (2026, 11, 20)] {
        let (y, m, d) = day;
        let since_nov_1 = (chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
            - chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap())
        .num_seconds();
        let id = delivered.len() as i32 + 1;
        let change = ch("I", id, &format!("v{id}"), since_nov_1 + 60, id as u64);
        let name = format!("{y}{m:02}{d:02}-000100000");
        w.cdc_file_at("items", &format!("cdc/src/items/{d:02}{m:02}{y}/{name}.parquet"), &[change.clone()]);
        delivered.push(change);
    }
    // WHEN the backlog loads, two files per transaction
    let stats = w.load("items").await.unwrap();
    // THEN every file is applied, oldest day first, none refused as late
    assert_eq!(stats.files, 5);
    assert_eq!(w.state("items"), oracle(&[], &delivered));
}

#[tokio::test]
async fn a_full_load_of_eleven_files_counts_them_in_hexadecimal_and_loads_all() {
    // GIVEN a full load of 11 files, LOAD00000001 to LOAD00000009, LOAD0000000A, LOAD0000000B
    let w = World::new();
    w.setup().await;
    let mut full = Vec::new();
    for n in 1..=11u32 {
        let rows = [fr(n as i32, &format!("v{n}"), 100)];
        w.full_file("items", &format!("LOAD{n:08X}"), &rows);
        full.extend(rows);
    }
    let dir = w.raw_root().join("full/src/items");
    assert!(dir.join("LOAD0000000A.parquet").exists() && dir.join("LOAD0000000B.parquet").exists());
    // WHEN it is listed and loaded
    let t = w.cfg.table("items").unwrap();
    let listing = cdc_core::dms::list_table(&w.cfg, t, &w.raw).await.unwrap();
    assert_eq!(listing.of_kind(FileKind::Full).count(), 11);
    assert!(listing.unexplained.is_empty(), "{:?}", listing.unexplained);
    let stats = w.load("items").await.unwrap();
    // THEN every file and every row is applied
    assert_eq!((stats.files, stats.changes), (11, 11));
    assert_eq!(w.state("items"), oracle(&full, &[]));
    assert_eq!(w.state("items").len(), 11);
    assert_nothing_new(&w, "items").await;
}

#[tokio::test]
async fn a_late_file_replacing_a_removed_file_of_the_same_size_in_an_old_day_is_applied() {
    // GIVEN items applied from 20261101 to 20261105 (1d window: 20261101 is summarized)
    let (w, _) = five_days_applied().await;
    // WHEN 20261101's applied file is removed and a late file of the same size lands there
    let gone = w.raw_root().join("cdc/src/items/20261101/20261101-000100000.parquet");
    let size = std::fs::metadata(&gone).unwrap().len();
    std::fs::remove_file(&gone).unwrap();
    let late = [ch("U", 1, "l1", 100, 10), ch("I", 11, "z1", 100, 11)];
    let path = w.cdc_file("items", "20261101", "20261101-230000000", &late);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size, "premise: the same size");
    // THEN the late file is applied
    assert_eq!(w.load("items").await.unwrap().files, 1);
}

#[tokio::test]
async fn the_raw_zone_reached_by_another_path_holds_the_same_files() {
    // GIVEN items loaded from a full load and a CDC file
    let w = World::new();
    w.setup().await;
    w.full_file("items", "LOAD00000001", &[fr(1, "a", 10)]);
    w.cdc_file("items", "20261101", "20261101-000100000", &[ch("U", 1, "b", 20, 1)]);
    assert_eq!(w.load("items").await.unwrap().files, 2);
    // WHEN the same folder is opened through a symlink, and through `..`
    let link = w.dir.path().join("raw-link");
    std::os::unix::fs::symlink(w.raw_root(), &link).unwrap();
    let dotted = w.dir.path().join("raw").join("..").join("raw");
    let t = w.cfg.table("items").unwrap();
    for alias in [link, dotted] {
        let raw = cdc_local::FolderRawZone::new(&alias).unwrap();
        // THEN it names its files as the first path did, and the load finds nothing new
        assert_eq!(raw.root(), w.raw.root(), "{}", alias.display());
        let stats = cdc_core::load::load_table(&w.cfg, t, &w.warehouse, &raw, Duration::from_millis(2)).await.unwrap();
        assert_eq!(stats.files, 0, "{}", alias.display());
    }
    assert_eq!(w.progress_files("items"), 2);
    assert_eq!(w.state("items")[&1].as_deref(), Some("b"));
}
