//! Unload to the optimized zone on DuckDB and folders: catch-up, late files,
//! re-run no-op, empty days, tables without CDC, and bad targets. The oracle
//! for every exported day is the raw day itself, read straight from its files.

mod support;

use cdc_core::ErrorKind;
use cdc_core::unload::{UnloadReason, UnloadRun, run_unload};
use cdc_local::{FolderOptimizedZone, LocalCatalog};
use chrono::{DateTime, Utc};
use support::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn zone(w: &World) -> FolderOptimizedZone {
    FolderOptimizedZone::new(&w.dir.path().join("optimized"), &w.raw_root()).unwrap()
}

fn catalog(w: &World) -> LocalCatalog {
    LocalCatalog::new(zone(w).root(), &w.cfg, w.warehouse.connection().unwrap())
}

async fn unload(w: &World, now: &str) -> UnloadRun {
    w.warehouse.expose_raw_zone(&w.cfg, &w.raw).unwrap();
    let run = run_unload(&w.cfg, &w.warehouse, &w.raw, &zone(w), &catalog(w), at(now)).await.unwrap();
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    run
}

fn exported(run: &UnloadRun) -> Vec<(String, String, UnloadReason)> {
    let mut out: Vec<_> = run.days.iter().map(|(p, _)| (p.table.clone(), p.day.clone(), p.reason)).collect();
    out.sort();
    out
}

/// The oracle: the optimized day holds exactly the raw day's rows (as a
/// multiset), and nothing but the export's own part files.
fn assert_day_equals_raw(w: &World, table: &str, day: &str) -> i64 {
    let raw = w.raw_root().join(format!("cdc/src/{table}/{day}/*.parquet"));
    let opt = w.dir.path().join(format!("optimized/{table}/changedate={day}"));
    let cols = "\"Op\", changets, seq, id, v";
    let raw_q = format!("SELECT {cols} FROM read_parquet('{}')", raw.display());
    let opt_q = format!("SELECT {cols} FROM read_parquet('{}/*.parquet')", opt.display());
    let diff = |a: &str, b: &str| w.count(&format!("SELECT count(*) FROM (({a}) EXCEPT ALL ({b}))"));
    assert_eq!((diff(&raw_q, &opt_q), diff(&opt_q, &raw_q)), (0, 0), "{table} {day} differs from the raw day");
    for f in std::fs::read_dir(&opt).unwrap() {
        let name = f.unwrap().file_name().to_string_lossy().into_owned();
        assert!(name.starts_with("part_") && name.ends_with(".parquet"), "stray file {name} in {}", opt.display());
    }
    w.count(&format!("SELECT count(*) FROM ({raw_q})"))
}

#[tokio::test]
async fn catch_up_after_two_missed_days_then_rerun_is_a_no_op() {
    // GIVEN three finished days of items and one of others, never exported
    let w = World::new();
    w.setup().await;
    w.cdc_file("items", "20261101", "20261101-010000000", &[ch("I", 1, "a", 3600, 1), ch("U", 1, "b", 3700, 2)]);
    w.cdc_file("items", "20261101", "20261101-020000000", &[ch("I", 2, "c", 7200, 3)]);
    w.cdc_file("items", "20261102", "20261102-010000000", &[ch("D", 1, "b", 90_000, 4)]);
    w.cdc_file("items", "20261103", "20261103-010000000", &[ch("I", 3, "d", 176_400, 5)]);
    w.cdc_file("others", "20261102", "20261102-010000000", &[ch("I", 7, "x", 90_000, 6)]);
    // AND a day still running
    w.cdc_file("items", "20261104", "20261104-010000000", &[ch("I", 4, "e", 262_800, 7)]);

    // WHEN the unload runs on 4 Nov, 02:00 (lateness 1 h)
    let run = unload(&w, "2026-11-04T02:00:00Z").await;

    // THEN every finished day is exported once, the running day is not
    use UnloadReason::Finished;
    let want = vec![
        ("items".into(), "20261101".into(), Finished),
        ("items".into(), "20261102".into(), Finished),
        ("items".into(), "20261103".into(), Finished),
        ("others".into(), "20261102".into(), Finished),
    ];
    assert_eq!(exported(&run), want);
    for (table, day, _) in &want {
        let rows = assert_day_equals_raw(&w, table, day);
        let (_, done) = run.days.iter().find(|(p, _)| &p.table == table && &p.day == day).unwrap();
        assert_eq!(done.rows as i64, rows);
    }
    // AND the record holds each day with its counts
    assert_eq!(w.count("SELECT count(*) FROM cdc_control.unloaded_days"), 4);
    assert_eq!(w.count("SELECT row_count FROM cdc_control.unloaded_days WHERE changedate = '20261101'"), 3);
    // AND the rows are sorted by key, then commit time
    let day = w.dir.path().join("optimized/items/changedate=20261101/*.parquet");
    let unsorted = w.count(&format!(
        "SELECT count(*) FROM (SELECT id, changets, lag(id) OVER w AS pid, lag(changets) OVER w AS pts \
         FROM read_parquet('{}', file_row_number = true) WINDOW w AS (ORDER BY file_row_number)) \
         WHERE pid > id OR (pid = id AND pts > changets)",
        day.display()
    ));
    assert_eq!(unsorted, 0);

    // WHEN it runs again with nothing new THEN nothing is exported or rewritten
    let before = std::fs::metadata(w.dir.path().join("optimized/items/changedate=20261101/part_0.parquet")).unwrap();
    let again = unload(&w, "2026-11-04T03:00:00Z").await;
    assert!(again.days.is_empty(), "{:?}", exported(&again));
    let after = std::fs::metadata(w.dir.path().join("optimized/items/changedate=20261101/part_0.parquet")).unwrap();
    assert_eq!(before.modified().unwrap(), after.modified().unwrap());

    // WHEN the running day is over THEN the next run exports just that day
    let next = unload(&w, "2026-11-05T01:30:00Z").await;
    assert_eq!(exported(&next), vec![("items".into(), "20261104".into(), Finished)]);
}

#[tokio::test]
async fn a_late_file_re_exports_its_day_whole() {
    // GIVEN day 1 of items exported
    let w = World::new();
    w.setup().await;
    w.cdc_file("items", "20261101", "20261101-010000000", &[ch("I", 1, "a", 3600, 1), ch("I", 2, "b", 3600, 2)]);
    let first = unload(&w, "2026-11-02T02:00:00Z").await;
    assert_eq!(first.days.len(), 1);
    // AND a part file an older, larger export left behind
    let dir = w.dir.path().join("optimized/items/changedate=20261101");
    std::fs::copy(dir.join("part_0.parquet"), dir.join("part_7.parquet")).unwrap();

    // WHEN a late DMS file lands in day 1
    w.cdc_file("items", "20261101", "20261101-230000000", &[ch("U", 1, "a2", 82_800, 3)]);
    let run = unload(&w, "2026-11-02T04:00:00Z").await;

    // THEN day 1 is exported again, whole: every raw row once, no stale part file
    assert_eq!(exported(&run), vec![("items".into(), "20261101".into(), UnloadReason::LateFiles)]);
    assert_eq!(assert_day_equals_raw(&w, "items", "20261101"), 3);
    assert!(!dir.join("part_7.parquet").exists());
    assert_eq!(w.count("SELECT count(*) FROM cdc_control.unloaded_days"), 1);
    assert_eq!(w.count("SELECT row_count FROM cdc_control.unloaded_days"), 3);
    // AND the catalog's view shows the day once
    assert_eq!(w.count("SELECT count(*) FROM raw.optimized_items WHERE changedate = '20261101'"), 3);
}

#[tokio::test]
async fn raw_files_removed_after_their_day_s_export_leave_the_export_whole() {
    // GIVEN day 1 of items exported from three files
    let w = World::new();
    w.setup().await;
    let first = w.cdc_file("items", "20261101", "20261101-010000000", &[ch("I", 1, "a", 3600, 1)]);
    let second = w.cdc_file("items", "20261101", "20261101-020000000", &[ch("I", 2, "b", 7200, 2)]);
    w.cdc_file("items", "20261101", "20261101-030000000", &[ch("I", 3, "c", 10_800, 3)]);
    assert_eq!(unload(&w, "2026-11-02T02:00:00Z").await.days.len(), 1);
    let part = w.dir.path().join("optimized/items/changedate=20261101/part_0.parquet");
    let before = std::fs::metadata(&part).unwrap().modified().unwrap();

    // WHEN two raw files of the day are removed (an S3 lifecycle rule, say) and the unload runs again
    std::fs::remove_file(&first).unwrap();
    std::fs::remove_file(&second).unwrap();
    let run = unload(&w, "2026-11-02T04:00:00Z").await;

    // THEN the day is not exported again: the export keeps all three rows
    assert_eq!(exported(&run), vec![]);
    assert_eq!(std::fs::metadata(&part).unwrap().modified().unwrap(), before);
    assert_eq!(w.count("SELECT count(*) FROM raw.optimized_items WHERE changedate = '20261101'"), 3);

    // WHEN a late file also lands in that day
    w.cdc_file("items", "20261101", "20261101-230000000", &[ch("U", 3, "c2", 82_800, 4)]);
    w.warehouse.expose_raw_zone(&w.cfg, &w.raw).unwrap();
    let e = run_unload(&w.cfg, &w.warehouse, &w.raw, &zone(&w), &catalog(&w), at("2026-11-02T05:00:00Z"))
        .await
        .unwrap_err();
    // THEN the unload fails naming the day and both counts, and the export is still the one before
    assert_eq!(e.kind, ErrorKind::DataError);
    assert!(
        e.message.contains("day 20261101") && e.message.contains("lists 2 raw files where its export read 3"),
        "{e}"
    );
    assert_eq!(std::fs::metadata(&part).unwrap().modified().unwrap(), before);
}

#[tokio::test]
async fn an_empty_day_and_a_table_without_cdc_are_fine() {
    // GIVEN a day whose only file has no rows, and `events` with a full load only
    let w = World::new();
    w.setup().await;
    w.cdc_file("items", "20261101", "20261101-010000000", &[]);
    w.cdc_file("items", "20261102", "20261102-010000000", &[ch("I", 1, "a", 90_000, 1)]);
    w.full_file("events", "LOAD00000001", &[fr(1, "e", 5)]);

    // WHEN the unload runs
    let run = unload(&w, "2026-11-03T02:00:00Z").await;

    // THEN the empty day is recorded with no rows (DuckDB writes one empty
    // part file, which keeps the schema readable; no file would do as well)
    let days = exported(&run);
    assert_eq!(days.len(), 2, "{days:?}");
    let (_, empty) = run.days.iter().find(|(p, _)| p.day == "20261101").unwrap();
    assert_eq!(empty.rows, 0);
    assert_eq!(assert_day_equals_raw(&w, "items", "20261101"), 0);
    assert_day_equals_raw(&w, "items", "20261102");
    // AND the table without CDC has nothing exported, and no error
    assert!(run.days.iter().all(|(p, _)| p.table != "events"));
    // AND the catalog lists both days of items with their counts
    let catalog: cdc_local::CatalogTable =
        serde_json::from_str(&std::fs::read_to_string(w.dir.path().join("optimized/_catalog/items.json")).unwrap())
            .unwrap();
    let parts: Vec<(String, u64)> = catalog.partitions.values().map(|p| (p.day.clone(), p.rows)).collect();
    assert_eq!(parts, vec![("20261101".into(), 0), ("20261102".into(), 1)]);
    assert_eq!(catalog.partition_key, "changedate");
    // AND a re-run is a no-op
    assert!(unload(&w, "2026-11-03T05:00:00Z").await.days.is_empty());
}

#[tokio::test]
async fn an_optimized_zone_inside_the_raw_zone_is_refused_before_anything_is_written() {
    let w = World::new();
    w.cdc_file("items", "20261101", "20261101-010000000", &[ch("I", 1, "a", 3600, 1)]);
    // GIVEN an optimized folder inside the raw zone WHEN the zone is opened THEN a config error names both
    let inside = w.raw_root().join("optimized");
    let err = FolderOptimizedZone::new(&inside, &w.raw_root()).err().unwrap();
    assert_eq!(err.kind, ErrorKind::ConfigError);
    assert!(err.message.contains("overlaps the raw zone"), "{err}");
    assert!(!inside.exists());
    // AND the raw zone inside the optimized folder is refused too
    assert!(FolderOptimizedZone::new(w.dir.path(), &w.raw_root()).is_err());
}

#[tokio::test]
async fn an_unwritable_target_fails_before_anything_is_exported_or_recorded() {
    // GIVEN a finished day and an optimized "folder" whose parent is a file
    let w = World::new();
    w.setup().await;
    w.cdc_file("items", "20261101", "20261101-010000000", &[ch("I", 1, "a", 3600, 1)]);
    let blocker = w.dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    w.warehouse.expose_raw_zone(&w.cfg, &w.raw).unwrap();
    let zone = FolderOptimizedZone::new(&blocker.join("optimized"), &w.raw_root()).unwrap();
    let catalog = LocalCatalog::new(zone.root(), &w.cfg, w.warehouse.connection().unwrap());
    // WHEN the unload runs THEN it fails naming the folder, and nothing is recorded
    let err = run_unload(&w.cfg, &w.warehouse, &w.raw, &zone, &catalog, at("2026-11-02T02:00:00Z")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ConfigError);
    assert!(err.message.contains("not-a-folder"), "{err}");
    assert_eq!(w.count("SELECT count(*) FROM cdc_control.unloaded_days"), 0);
}

#[tokio::test]
async fn a_publish_retried_after_its_answer_was_lost_keeps_the_day_and_an_empty_export_still_replaces_it() {
    use cdc_core::ports::OptimizedZone;
    // GIVEN a day published from a staging folder holding one part file
    let w = World::new();
    let (zone, t) = (zone(&w), &w.cfg.tables[0]);
    let target = zone.export_target(t, "20261101").unwrap();
    std::fs::write(std::path::Path::new(&target.location).join("part_0.parquet"), b"bytes").unwrap();
    assert_eq!(zone.publish(t, "20261101", &target).await.unwrap().files, 1);
    // WHEN the same publish runs again (the poll retried after a lost answer)
    let again = zone.publish(t, "20261101", &target).await.unwrap();
    // THEN the day keeps its file
    assert_eq!(again.files, 1);
    assert!(std::path::Path::new(&zone.day_location(t, "20261101")).join("part_0.parquet").exists());
    // AND a later export that wrote nothing still replaces the day with an empty one
    let empty = zone.export_target(t, "20261101").unwrap();
    assert_eq!(zone.publish(t, "20261101", &empty).await.unwrap().files, 0);
}
