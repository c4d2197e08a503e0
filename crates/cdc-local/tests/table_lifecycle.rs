//! A table's life under a running pipeline (docs/table-lifecycle.md), on the
//! local DuckDB path: a DMS reload rebuilds the table from the new full load
//! plus the CDC changes from its first row on (less the overlap), in one
//! transaction, in both naming cases (files written over in place, a new set
//! of another size beside stale files); keys the reload no longer has are
//! deleted and kept as tombstones; a reload still being written waits; a
//! replayed rebuild changes nothing; a resync rebuilds on request; a reload
//! whose files disagree with the config leaves the table as it was.

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use cdc_core::ErrorKind;
use cdc_core::load::{LoadRun, SubmitOutcome, submit_load};
use cdc_core::ports::Warehouse;
use support::*;

/// The rebuild's overlap in the tests' seconds.
const OVERLAP: i64 = cdc_core::sql::rebuild::REBUILD_OVERLAP.as_secs() as i64;

/// Gives a file the modification time `ago` seconds before now.
fn written_ago(path: &Path, ago: u64) {
    let at = SystemTime::now() - Duration::from_secs(ago);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(at).unwrap();
}

fn tombstones(w: &World, table: &str) -> Vec<(i32, String)> {
    let conn = w.warehouse.connection().unwrap();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT id, strftime(_cdc_ts, '%Y-%m-%d %H:%M:%S') FROM cdc_control.{table}__tombstones ORDER BY id"
        ))
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

fn progress_kinds(w: &World, table: &str) -> Vec<(String, String)> {
    w.progress(table).into_iter().map(|(file, kind, ..)| (file.rsplit('/').next().unwrap().to_string(), kind)).collect()
}

/// items' first full load (LOAD1 {1, 2}, LOAD2 {3}) two hours ago, with
/// changes to 1 and 3, all applied.
async fn loaded_items() -> (World, Vec<FullRow>, Vec<Change>) {
    let w = World::new();
    w.setup().await;
    let full = vec![fr(1, "a", 100), fr(2, "b", 100), fr(3, "c", 100)];
    written_ago(&w.full_file("items", "LOAD00000001", &full[..2]), 7200);
    written_ago(&w.full_file("items", "LOAD00000002", &full[2..]), 7200);
    let changes = vec![ch("U", 1, "a2", 200, 1), ch("D", 3, "", 300, 2)];
    w.cdc_file("items", "20261101", "20261101-000500000", &changes);
    assert_eq!(w.load("items").await.unwrap().files, 3);
    assert_eq!(w.state("items"), oracle(&full, &changes));
    (w, full, changes)
}

#[tokio::test]
async fn a_reload_written_over_the_old_files_rebuilds_the_table_from_it_and_the_changes_since() {
    // GIVEN items loaded, then at the source key 2 deleted with no change DMS captured
    let (w, _, before) = loaded_items().await;
    // AND a reload written over LOAD1 and LOAD2 (the same count), its first row at 5000
    let reload = vec![fr(1, "a3", 5000), fr(4, "d", 5000), fr(5, "e", 5001)];
    written_ago(&w.full_file("items", "LOAD00000001", &reload[..2]), 3600);
    written_ago(&w.full_file("items", "LOAD00000002", &reload[2..]), 3600);
    // AND CDC: one change before the overlap (its effect is in the reload),
    // one inside it, one after the reload
    let since = 5000 - OVERLAP;
    let after =
        vec![ch("U", 5, "stale", since - 1, 3), ch("U", 4, "d-overlap", since + 1, 4), ch("U", 1, "a4", 6000, 5)];
    w.cdc_file("items", "20261101", "20261101-010000000", &after);
    // WHEN the table loads
    let stats = w.load("items").await.unwrap();
    // THEN it holds the reload and the changes from the overlap on
    let kept: Vec<Change> = after.iter().filter(|c| c.ts >= since).cloned().collect();
    assert_eq!(w.state("items"), oracle(&reload, &kept));
    assert_eq!(stats.files, 4, "two full-load files and both CDC files of the day are read");
    // AND key 2, absent from the reload, has a tombstone at `since`; key 3's delete is kept
    assert_eq!(tombstones(&w, "items"), [(2, ts_text(since)), (3, ts_text(300))]);
    // AND a late file with an older change to the missing key and to a reloaded key changes nothing
    let late = [ch("U", 2, "zombie", 4000, 6), ch("U", 5, "late", since - 10, 7)];
    w.cdc_file("items", "20261101", "20261101-003000000", &late);
    assert_eq!(w.load("items").await.unwrap().files, 1);
    assert_eq!(w.state("items"), oracle(&reload, &kept));
    // AND the progress holds the new full load, every CDC file, and the rebuild's marker
    let kinds = progress_kinds(&w, "items");
    assert_eq!(kinds.iter().filter(|(_, k)| k == "R").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|(_, k)| k == "F").count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|(_, k)| k == "C").count(), 3, "{kinds:?}");
    drop(before);
}

#[tokio::test]
async fn a_smaller_reload_leaves_the_old_load_s_extra_file_superseded_and_a_larger_one_reads_its_new_file() {
    // GIVEN items loaded from LOAD1 and LOAD2
    let (w, ..) = loaded_items().await;
    // WHEN a reload writes only LOAD1 (LOAD2 of the old load stays, older)
    let reload = vec![fr(1, "r1", 5000), fr(2, "r2", 5000), fr(3, "r3", 5000)];
    written_ago(&w.full_file("items", "LOAD00000001", &reload), 3600);
    w.load("items").await.unwrap();
    // THEN the table is the reload alone (LOAD2's row 3 was deleted before; the reload has it again)
    assert_eq!(w.state("items"), oracle(&reload, &[]));
    // AND LOAD2 is recorded as superseded, never applied again
    let kinds = progress_kinds(&w, "items");
    assert!(kinds.contains(&("LOAD00000002.parquet".into(), "S".into())), "{kinds:?}");
    assert_eq!(w.load("items").await.unwrap().files, 0);
    assert_eq!(w.state("items"), oracle(&reload, &[]));

    // WHEN a later reload writes three files: LOAD1, LOAD2 over the stale one, and a new LOAD3
    let second = vec![fr(1, "s1", 9000), fr(6, "s6", 9000), fr(7, "s7", 9001)];
    written_ago(&w.full_file("items", "LOAD00000001", &second[..1]), 1800);
    written_ago(&w.full_file("items", "LOAD00000002", &second[1..2]), 1800);
    written_ago(&w.full_file("items", "LOAD00000003", &second[2..]), 1800);
    w.load("items").await.unwrap();
    // THEN the table is that reload, and keys 2 and 3 have tombstones
    assert_eq!(w.state("items"), oracle(&second, &[]));
    let tomb: Vec<i32> = tombstones(&w, "items").into_iter().map(|(id, _)| id).collect();
    assert_eq!(tomb, [2, 3]);
    let kinds = progress_kinds(&w, "items");
    assert_eq!(kinds.iter().filter(|(_, k)| k == "F").count(), 3, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|(_, k)| k == "S").count(), 0, "{kinds:?}");
}

#[tokio::test]
async fn a_reload_dms_is_still_writing_waits_and_nothing_changes() {
    // GIVEN items loaded, and LOAD1 written again a moment ago
    let (w, full, changes) = loaded_items().await;
    w.full_file("items", "LOAD00000001", &[fr(1, "half", 5000)]);
    let progress = w.progress("items");
    // WHEN the table's load is submitted
    let t = w.cfg.table("items").unwrap();
    let out = submit_load(&w.cfg, t, &w.warehouse, &w.raw, LoadRun::whole(chrono::Utc::now())).await.unwrap();
    // THEN it waits, saying why, and nothing is applied
    let SubmitOutcome::Waiting { why } = out else { panic!("expected to wait, got {out:?}") };
    assert!(why.contains("reload detected") && why.contains("pipeline.reload_settle"), "{why}");
    assert_eq!(w.state("items"), oracle(&full, &changes));
    assert_eq!(w.progress("items"), progress);
    // AND a resync asked meanwhile waits for the reload too, rather than rebuild from half of it
    let run = LoadRun { resync: Some(chrono::Utc::now()), ..LoadRun::whole(chrono::Utc::now()) };
    let out = submit_load(&w.cfg, t, &w.warehouse, &w.raw, run).await.unwrap();
    assert!(matches!(out, SubmitOutcome::Waiting { .. }), "{out:?}");
    assert_eq!(w.progress("items"), progress);
}

#[tokio::test]
async fn a_replayed_rebuild_changes_nothing() {
    // GIVEN items rebuilt from a reload, then a newer change applied
    let (w, ..) = loaded_items().await;
    let reload = vec![fr(1, "r1", 5000), fr(2, "r2", 5000)];
    written_ago(&w.full_file("items", "LOAD00000001", &reload), 3600);
    let t = w.cfg.table("items").unwrap();
    let listing = cdc_core::dms::list_table(&w.cfg, t, &w.raw).await.unwrap();
    w.load("items").await.unwrap();
    let newer = [ch("U", 2, "r2-new", 9000, 9)];
    w.cdc_file("items", "20261101", "20261101-030000000", &newer);
    w.load("items").await.unwrap();
    let (rows, progress) = (w.rows("items"), w.progress("items"));
    // WHEN the rebuild's statements run again (the same set, the same start)
    let full: Vec<_> = listing.of_kind(cdc_core::ports::FileKind::Full).cloned().collect();
    let (set, stale) = full.split_at(1);
    let since = cdc_core::load::parse_timestamp(&ts_text(5000 - OVERLAP)).unwrap();
    let cdc: Vec<_> = listing.of_kind(cdc_core::ports::FileKind::Cdc).cloned().collect();
    let id = cdc_core::sql::rebuild::rebuild_id(set, since, None);
    let columns = cdc_core::schema_change::BatchColumns::default();
    let r = cdc_core::sql::rebuild::Rebuild { id, full: set, superseded: stale, cdc: &cdc, since, columns: &columns };
    let batch = cdc_core::sql::rebuild::rebuild_batch(&w.cfg, t, w.warehouse.dialect(), &r);
    cdc_core::ports::run_to_completion(&w.warehouse, batch).await.unwrap();
    // THEN the table and its progress are as they were
    assert_eq!(w.rows("items"), rows);
    assert_eq!(w.progress("items"), progress);
}

#[tokio::test]
async fn an_append_table_s_reload_keeps_its_rows_and_the_inserts_since_paired_in_its_window() {
    // GIVEN events' full load and inserts, applied
    let w = World::new();
    w.setup().await;
    written_ago(&w.full_file("events", "LOAD00000001", &[fr(1, "x", 100), fr(2, "y", 100)]), 7200);
    w.cdc_file("events", "20261101", "20261101-000500000", &[ch("I", 3, "z", 200, 1)]);
    w.load("events").await.unwrap();
    // WHEN a reload holds every event so far plus one committed while it ran,
    // which the CDC stream carries too
    let reload = vec![fr(1, "x", 5000), fr(2, "y", 5000), fr(3, "z", 5000), fr(4, "w", 5001)];
    written_ago(&w.full_file("events", "LOAD00000001", &reload), 3600);
    let after = vec![ch("I", 4, "w", 4990, 2), ch("I", 5, "v", 6000, 3)];
    w.cdc_file("events", "20261101", "20261101-020000000", &after);
    w.load("events").await.unwrap();
    // THEN the table is the reload and the inserts since, the copy inside the window paired once
    assert_eq!(w.sorted_rows("events"), append_oracle(&reload, &after));
    assert_eq!(w.sorted_rows("events").len(), 5);
}

#[tokio::test]
async fn a_reload_without_the_key_column_leaves_the_table_as_it_was_naming_file_and_column() {
    // GIVEN items loaded
    let (w, full, changes) = loaded_items().await;
    let progress = w.progress("items");
    // WHEN a reload's file lacks the key column `id`
    let bad = w.raw_file(
        "full/src/items/LOAD00000001.parquet",
        "SELECT TIMESTAMP '2026-11-01 02:00:00' AS changets, 'no key' AS v",
    );
    written_ago(&bad, 3600);
    let err = w.load("items").await.unwrap_err();
    // THEN the table fails as a data error naming the reload, the file and the column
    assert_eq!(err.kind, ErrorKind::DataError, "{err}");
    assert!(err.message.contains("reload detected"), "{err}");
    assert!(err.message.contains(&bad.display().to_string()) && err.message.contains("`id`"), "{err}");
    // AND the table and its progress are unchanged, and another table still loads
    assert_eq!(w.state("items"), oracle(&full, &changes));
    assert_eq!(w.progress("items"), progress);
    w.full_file("others", "LOAD00000001", &[fr(1, "o", 100)]);
    assert_eq!(w.load("others").await.unwrap().files, 1);
}

#[tokio::test]
async fn a_resync_rebuilds_a_table_whose_target_was_edited_by_hand() {
    // GIVEN items loaded, then a row edited and one deleted by hand in the target
    let (w, full, changes) = loaded_items().await;
    let conn = w.warehouse.connection().unwrap();
    conn.execute_batch("UPDATE public.items SET v = 'hand' WHERE id = 1; DELETE FROM public.items WHERE id = 2")
        .unwrap();
    drop(conn);
    // WHEN a resync is requested for the table
    let t = w.cfg.table("items").unwrap();
    let run = LoadRun { resync: Some(chrono::Utc::now()), ..LoadRun::whole(chrono::Utc::now()) };
    let out = submit_load(&w.cfg, t, &w.warehouse, &w.raw, run).await.unwrap();
    let SubmitOutcome::Submitted { statement_id, rebuild: Some(why), .. } = out else { panic!("{out:?}") };
    assert!(why.contains("resync"), "{why}");
    cdc_core::ports::wait_for(&w.warehouse, &statement_id).await.unwrap();
    // THEN the target equals the oracle of the full load and every change again
    assert_eq!(w.state("items"), oracle(&full, &changes));
    // AND WHEN it is edited again and another resync is asked THEN that one rebuilds too
    let conn = w.warehouse.connection().unwrap();
    conn.execute_batch("UPDATE public.items SET v = 'again' WHERE id = 1").unwrap();
    drop(conn);
    let run = LoadRun {
        resync: Some(chrono::Utc::now() + chrono::Duration::seconds(1)),
        ..LoadRun::whole(chrono::Utc::now())
    };
    let out = submit_load(&w.cfg, t, &w.warehouse, &w.raw, run).await.unwrap();
    let SubmitOutcome::Submitted { statement_id, .. } = out else { panic!("{out:?}") };
    cdc_core::ports::wait_for(&w.warehouse, &statement_id).await.unwrap();
    assert_eq!(w.state("items"), oracle(&full, &changes));
}
