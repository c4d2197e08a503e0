//! The CDC correctness contract (docs/cdc-contract.md), case by case, on the
//! DuckDB warehouse, each compared with the oracle fold.

mod support;

use support::*;

#[tokio::test]
async fn full_load_rows_rank_below_cdc_changes_committed_during_the_full_load() {
    // GIVEN a full load whose row for id 1 was transferred at t=100, and a CDC
    // change to id 1 committed at t=50, while the full load ran
    let w = World::new();
    w.setup().await;
    let full = [fr(1, "from-full", 100), fr(2, "two", 100)];
    w.full_file("items", "LOAD00000001", &full);
    let cdc = [ch("U", 1, "from-cdc", 50, 1)];
    w.cdc_file("items", "20261101", "20261101-000100000", &cdc);
    // WHEN the table loads
    let stats = w.load("items").await.unwrap();
    // THEN the CDC change wins although its timestamp is older
    assert_eq!(w.state("items"), oracle(&full, &cdc));
    assert_eq!(w.state("items")[&1].as_deref(), Some("from-cdc"));
    assert_eq!((stats.files, stats.changes), (2, 3));
    // AND the full-load row keeps its flag, the CDC row does not
    let rows = w.rows("items");
    assert!(!rows[0].4 && rows[1].4, "{rows:?}");
}

#[tokio::test]
async fn latest_change_per_key_wins_within_and_across_files() {
    // GIVEN several changes to one key in one file and in a later file
    let w = World::new();
    w.setup().await;
    let a = [ch("I", 1, "a", 10, 1), ch("U", 1, "b", 11, 2), ch("U", 1, "c", 12, 3), ch("I", 2, "x", 12, 4)];
    let b = [ch("U", 1, "d", 20, 5), ch("U", 2, "y", 21, 6), ch("U", 1, "e", 22, 7)];
    w.cdc_file("items", "20261101", "20261101-000100000", &a);
    w.cdc_file("items", "20261101", "20261101-000200000", &b);
    // WHEN loaded in one run
    w.load("items").await.unwrap();
    // THEN each key holds its latest change, with that change's ts and seq
    let all: Vec<Change> = a.iter().chain(&b).cloned().collect();
    assert_eq!(w.state("items"), oracle(&[], &all));
    let rows = w.rows("items");
    assert_eq!(rows[0], (1, Some("e".into()), ts_text(22), Some("7".into()), false));
}

#[tokio::test]
async fn equal_timestamps_are_ordered_by_the_change_sequence() {
    // GIVEN one transaction touching id 1 three times at the same commit time,
    // written out of order in the file
    let w = World::new();
    w.setup().await;
    let txn = [ch("U", 1, "third", 30, 12), ch("I", 1, "first", 30, 10), ch("U", 1, "second", 30, 11)];
    w.cdc_file("items", "20261101", "20261101-000100000", &txn);
    w.load("items").await.unwrap();
    // THEN the highest sequence wins, nothing is lost to the tie
    assert_eq!(w.state("items")[&1].as_deref(), Some("third"));
    // AND a later file with the same timestamp but a lower sequence loses
    w.cdc_file("items", "20261101", "20261101-000200000", &[ch("U", 1, "stale", 30, 9)]);
    w.load("items").await.unwrap();
    assert_eq!(w.state("items")[&1].as_deref(), Some("third"));
}

#[tokio::test]
async fn delete_then_reinsert_in_one_transaction_keeps_the_row() {
    let w = World::new();
    w.setup().await;
    let first = [ch("I", 7, "old", 10, 1)];
    let txn = [ch("D", 7, "old", 20, 2), ch("I", 7, "new", 20, 3)];
    w.cdc_file("items", "20261101", "20261101-000100000", &first);
    w.load("items").await.unwrap();
    // WHEN a transaction deletes and re-inserts the key
    w.cdc_file("items", "20261101", "20261101-000200000", &txn);
    w.load("items").await.unwrap();
    // THEN the re-inserted row is there and no tombstone remains for it
    assert_eq!(w.state("items")[&7].as_deref(), Some("new"));
    assert_eq!(w.count("SELECT count(*) FROM cdc_control.items__tombstones"), 0);
}

#[tokio::test]
async fn a_late_file_in_an_older_day_folder_is_picked_up() {
    // GIVEN day 2 already loaded
    let w = World::new();
    w.setup().await;
    let day2 = [ch("I", 1, "a", 86_400 + 10, 10)];
    w.cdc_file("items", "20261102", "20261102-000100000", &day2);
    w.load("items").await.unwrap();
    // WHEN a file lands afterwards in the day 1 folder
    let late = [ch("I", 2, "late", 3_600, 5), ch("U", 1, "older", 3_600, 6)];
    w.cdc_file("items", "20261101", "20261101-235900000", &late);
    let stats = w.load("items").await.unwrap();
    // THEN it is loaded, and its older change to id 1 does not win
    assert_eq!(stats.files, 1);
    let all: Vec<Change> = day2.iter().chain(&late).cloned().collect();
    assert_eq!(w.state("items"), oracle(&[], &all));
    assert_eq!(w.state("items")[&1].as_deref(), Some("a"));
}

#[tokio::test]
async fn a_late_older_update_after_a_delete_does_not_resurrect_the_row() {
    // GIVEN id 3 inserted, then deleted at t=50
    let w = World::new();
    w.setup().await;
    let applied = [ch("I", 3, "v1", 10, 1), ch("D", 3, "v1", 50, 3)];
    w.cdc_file("items", "20261101", "20261101-000200000", &applied);
    w.load("items").await.unwrap();
    assert!(w.state("items").is_empty());
    // WHEN a late file brings an update committed at t=30, before the delete
    let late = [ch("U", 3, "v2", 30, 2)];
    w.cdc_file("items", "20261101", "20261101-000100000", &late);
    w.load("items").await.unwrap();
    // THEN the row stays deleted (the tombstone remembers the delete)
    assert!(w.state("items").is_empty());
    let all: Vec<Change> = applied.iter().chain(&late).cloned().collect();
    assert_eq!(w.state("items"), oracle(&[], &all));
}

#[tokio::test]
async fn tombstones_expire_after_the_lateness_window() {
    // GIVEN a delete at t=10 and, more than a day (the window) later, other changes
    let w = World::new();
    w.setup().await;
    w.cdc_file("items", "20261101", "20261101-000100000", &[ch("I", 1, "a", 5, 1), ch("D", 1, "a", 10, 2)]);
    w.load("items").await.unwrap();
    assert_eq!(w.count("SELECT count(*) FROM cdc_control.items__tombstones"), 1);
    w.cdc_file("items", "20261103", "20261103-000100000", &[ch("I", 2, "b", 2 * 86_400 + 100, 3)]);
    w.load("items").await.unwrap();
    // THEN the old tombstone is forgotten
    assert_eq!(w.count("SELECT count(*) FROM cdc_control.items__tombstones"), 0);
}

/// Three days of items: id 1 deleted at t=10, id 2 updated at t=20, then a
/// change two days later that expires the delete's tombstone (window: 1 day).
async fn past_the_horizon() -> (World, Vec<Change>) {
    let w = World::new();
    w.setup().await;
    let early = [ch("I", 1, "a", 5, 1), ch("D", 1, "a", 10, 2), ch("I", 2, "b", 6, 3), ch("U", 2, "b2", 20, 4)];
    w.cdc_file("items", "20261101", "20261101-000100000", &early);
    w.load("items").await.unwrap();
    let later = [ch("I", 3, "c", 2 * 86_400 + 100, 5)];
    w.cdc_file("items", "20261103", "20261103-000100000", &later);
    w.load("items").await.unwrap();
    assert_eq!(w.count("SELECT count(*) FROM cdc_control.items__tombstones"), 0, "the delete's tombstone expired");
    (w, early.iter().chain(&later).cloned().collect())
}

#[tokio::test]
async fn a_late_change_past_the_horizon_to_a_forgotten_key_fails_the_table_naming_its_file() {
    // GIVEN id 1's delete forgotten (its tombstone expired)
    let (w, applied) = past_the_horizon().await;
    let before = w.state("items");
    // WHEN a file arrives late with an update of id 1 committed before the delete
    let late = w.cdc_file("items", "20261101", "20261101-000050000", &[ch("U", 1, "stale", 8, 9)]);
    let e = w.load("items").await.unwrap_err();
    // THEN the table fails naming the file and the window, and nothing of it is applied
    let msg = e.to_string();
    assert_eq!(e.kind, cdc_core::ErrorKind::DataError, "{msg}");
    assert!(msg.contains(&late.display().to_string()) && msg.contains("lateness window"), "{msg}");
    assert_eq!(w.state("items"), before);
    assert_eq!(w.state("items"), oracle(&[], &applied));
    assert_eq!(w.progress_files("items"), 2);
}

#[tokio::test]
async fn a_late_change_past_the_horizon_to_a_key_the_target_holds_is_decided_and_applied() {
    // GIVEN id 2 last updated at t=20 and the horizon two days later
    let (w, applied) = past_the_horizon().await;
    // WHEN late files bring id 2's update at t=15 (older than the row) and one at t=25 (newer)
    let older = [ch("U", 2, "older", 15, 7)];
    let newer = [ch("U", 2, "newer", 25, 8)];
    w.cdc_file("items", "20261101", "20261101-000050000", &older);
    w.cdc_file("items", "20261101", "20261101-000060000", &newer);
    w.load("items").await.unwrap();
    // THEN the row takes the newer one, as the oracle says, and both files are applied
    let all: Vec<Change> = applied.iter().chain(&older).chain(&newer).cloned().collect();
    assert_eq!(w.state("items")[&2].as_deref(), Some("newer"));
    assert_eq!(w.state("items"), oracle(&[], &all));
    assert_eq!(w.progress_files("items"), 4);
}

#[tokio::test]
async fn a_replay_changes_nothing() {
    // GIVEN a loaded table
    let w = World::new();
    w.setup().await;
    let cdc = [ch("I", 1, "a", 10, 1), ch("U", 1, "b", 20, 2), ch("D", 2, "z", 5, 0)];
    let path = w.cdc_file("items", "20261101", "20261101-000100000", &cdc);
    w.load("items").await.unwrap();
    let before = w.rows("items");
    // WHEN the pipeline runs again: nothing is new, no transaction
    let again = w.load("items").await.unwrap();
    assert_eq!(again.files, 0);
    // AND WHEN the same file is submitted again directly (a doubled submit)
    let t = w.cfg.table("items").unwrap();
    let file = cdc_core::ports::RawFile {
        path: path.display().to_string(),
        kind: cdc_core::ports::FileKind::Cdc,
        partition: Some("20261101".into()),
        size: 1,
        modified: chrono::Utc::now(),
        version: String::new(),
    };
    let batch = cdc_core::sql::merge::load_batch(&w.cfg, t, cdc_core::sql::Dialect::DuckDb, &[file]);
    cdc_core::ports::run_to_completion(&w.warehouse, batch).await.unwrap();
    // THEN the target and the progress are unchanged
    assert_eq!(w.rows("items"), before);
    assert_eq!(w.progress_files("items"), 1);
}

#[tokio::test]
async fn append_table_loads_each_file_once_and_full_load_overlap_once() {
    // GIVEN a full load of events and a CDC stream that repeats the two rows
    // inserted while the full load ran (their commit ts is before the transfer)
    let w = World::new();
    w.setup().await;
    w.full_file("events", "LOAD00000001", &[fr(1, "e1", 100), fr(2, "e2", 100), fr(3, "e3", 100)]);
    w.cdc_file(
        "events",
        "20261101",
        "20261101-000100000",
        &[ch("I", 2, "e2", 60, 1), ch("I", 3, "e3", 70, 2), ch("I", 4, "e4", 150, 3)],
    );
    // WHEN loaded, and loaded again
    w.load("events").await.unwrap();
    w.cdc_file("events", "20261101", "20261101-000200000", &[ch("I", 5, "e5", 200, 4), ch("I", 5, "e5", 201, 5)]);
    w.load("events").await.unwrap();
    w.load("events").await.unwrap();
    // THEN each event is there once, except id 5 which was really inserted twice
    let ids: Vec<i32> = w.rows("events").into_iter().map(|r| r.0).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 5]);
}

#[tokio::test]
async fn append_overlap_is_found_when_cdc_files_arrive_after_the_full_load() {
    // GIVEN the full load applied in an earlier run
    let w = World::new();
    w.setup().await;
    w.full_file("events", "LOAD00000001", &[fr(1, "e1", 100), fr(2, "e2", 100)]);
    w.load("events").await.unwrap();
    // WHEN the CDC file with an insert from the full-load window arrives later
    w.cdc_file("events", "20261101", "20261101-000100000", &[ch("I", 2, "e2", 60, 1), ch("I", 9, "e9", 300, 2)]);
    w.load("events").await.unwrap();
    // THEN the overlapping row is not doubled
    let ids: Vec<i32> = w.rows("events").into_iter().map(|r| r.0).collect();
    assert_eq!(ids, [1, 2, 9]);
}

#[tokio::test]
async fn a_table_with_a_full_load_and_no_cdc_yet_is_normal() {
    let w = World::new();
    w.setup().await;
    w.full_file("items", "LOAD00000001", &[fr(1, "a", 100)]);
    let stats = w.load("items").await.unwrap();
    assert_eq!(stats.files, 1);
    assert_eq!(w.state("items").len(), 1);
}

#[tokio::test]
async fn a_backlog_over_max_files_is_loaded_in_bounded_transactions() {
    // GIVEN a config that takes at most 2 files per load, and 5 files
    let w = World::with_config(&CONFIG.replace("max_files_per_load = 500", "max_files_per_load = 2"));
    w.setup().await;
    let mut all = Vec::new();
    for i in 0..5u64 {
        let c = [ch("U", 1, &format!("v{i}"), 10 + i as i64, i), ch("I", 10 + i as i32, "x", 10, 100 + i)];
        w.cdc_file("items", "20261101", &format!("20261101-00010000{i}"), &c);
        all.extend(c);
    }
    // WHEN the table loads
    let stats = w.load("items").await.unwrap();
    // THEN all files are applied, over several transactions, to the oracle's state
    assert_eq!(stats.files, 5);
    assert_eq!(w.state("items"), oracle(&[], &all));
}

#[tokio::test]
async fn derived_tables_are_refreshed_after_the_loads() {
    let w = World::new();
    w.setup().await;
    w.full_file("items", "LOAD00000001", &[fr(1, "a", 100), fr(2, "b", 100)]);
    w.full_file("others", "LOAD00000001", &[fr(1, "a", 100)]);
    w.full_file("events", "LOAD00000001", &[fr(1, "a", 100)]);
    let run = w.cycle().await;
    assert!(run.is_ok(), "{:?}", run.failed_tables());
    assert_eq!(w.count("SELECT n FROM public.item_count"), 2);
    w.cdc_file("items", "20261101", "20261101-000100000", &[ch("I", 3, "c", 200, 1)]);
    w.cycle().await;
    assert_eq!(w.count("SELECT n FROM public.item_count"), 3);
}

#[tokio::test]
async fn without_a_sequence_column_equal_timestamps_follow_file_order() {
    // GIVEN a table configured without a sequence column (with the warning)
    let w = World::with_config(&CONFIG.replacen("sequence_column = \"seq\"\n", "", 1));
    assert_eq!(w.cfg.warnings().len(), 1);
    w.setup().await;
    // AND two files whose changes share one commit timestamp
    w.cdc_file("items", "20261101", "20261101-000100000", &[ch("I", 1, "earlier-file", 10, 0)]);
    w.cdc_file("items", "20261101", "20261101-000200000", &[ch("U", 1, "later-file", 10, 0)]);
    // WHEN loaded together, and a third such file in a later run
    w.load("items").await.unwrap();
    assert_eq!(w.state("items")[&1].as_deref(), Some("later-file"));
    w.cdc_file("items", "20261101", "20261101-000300000", &[ch("U", 1, "third-file", 10, 0)]);
    w.load("items").await.unwrap();
    // THEN the later file wins each time
    assert_eq!(w.state("items")[&1].as_deref(), Some("third-file"));
}

#[tokio::test]
async fn an_exact_tie_inside_one_file_still_leaves_one_row_per_key() {
    // GIVEN a table without a sequence column, and one file holding two
    // changes of id 1 with the same commit timestamp (nothing orders them)
    let w = World::with_config(&CONFIG.replacen("sequence_column = \"seq\"\n", "", 1));
    w.setup().await;
    w.cdc_file("items", "20261101", "20261101-000100000", &[ch("I", 1, "one", 10, 0), ch("U", 1, "two", 10, 0)]);
    // AND, with a sequence column, a file that repeats one change exactly
    let seq = World::new();
    seq.setup().await;
    let same = ch("U", 1, "same", 10, 5);
    seq.cdc_file("items", "20261101", "20261101-000100000", &[same.clone(), same]);
    // WHEN each table loads
    w.load("items").await.unwrap();
    seq.load("items").await.unwrap();
    // THEN each target holds exactly one row for the key: one of the tied
    // changes, never both
    assert_eq!(w.count("SELECT count(*) FROM public.items WHERE id = 1"), 1);
    assert!(matches!(w.state("items")[&1].as_deref(), Some("one" | "two")));
    assert_eq!(seq.count("SELECT count(*) FROM public.items WHERE id = 1"), 1);
    assert_eq!(seq.state("items")[&1].as_deref(), Some("same"));
}

#[tokio::test]
async fn a_full_load_file_arriving_after_cdc_changes_does_not_overwrite_them() {
    // GIVEN a CDC change to id 1 committed at t=50 already in the target
    let w = World::new();
    w.setup().await;
    let cdc = [ch("U", 1, "from-cdc", 50, 1)];
    w.cdc_file("items", "20261101", "20261101-000100000", &cdc);
    w.load("items").await.unwrap();
    // WHEN a full-load file arrives afterwards, its row for id 1 transferred
    // later (t=100), and one row for a key CDC never touched
    let full = [fr(1, "from-full", 100), fr(2, "two", 100)];
    w.full_file("items", "LOAD00000001", &full);
    w.load("items").await.unwrap();
    // THEN the CDC change stays (full-load rows rank below every CDC change,
    // whatever their timestamps) and the untouched key is loaded
    assert_eq!(w.state("items"), oracle(&full, &cdc));
    assert_eq!(w.state("items")[&1].as_deref(), Some("from-cdc"));
    assert_eq!(w.state("items")[&2].as_deref(), Some("two"));
}

#[tokio::test]
async fn sequences_compare_as_numbers_or_as_text_as_configured() {
    // GIVEN two changes of id 1 with one commit timestamp and the sequences 9
    // and 10, written without zero padding (as a non-DMS source might)
    let changes = |w: &World| {
        w.raw_file(
            "cdc/src/items/20261101/20261101-000100000.parquet",
            "SELECT 'I' AS \"Op\", TIMESTAMP '2026-11-01 00:00:10' AS changets, '9' AS seq, CAST(1 AS INTEGER) AS id, 'nine' AS v \
             UNION ALL SELECT 'U', TIMESTAMP '2026-11-01 00:00:10', '10', 1, 'ten'",
        )
    };
    let number = World::new();
    let text = World::with_config(&CONFIG.replacen(
        "sequence_column = \"seq\"\n",
        "sequence_column = \"seq\"\nsequence_type = \"text\"\n",
        1,
    ));
    for w in [&number, &text] {
        w.setup().await;
        changes(w);
        // WHEN each loads
        w.load("items").await.unwrap();
    }
    // THEN as numbers 10 follows 9; as text "9" follows "10"
    assert_eq!(number.state("items")[&1].as_deref(), Some("ten"));
    assert_eq!(text.state("items")[&1].as_deref(), Some("nine"));
}

// ---- Append-only tables as multisets (rule 6) ----

/// A full load (transfer ts 100) and CDC inserts around it: e2 twice in the
/// full load and once in CDC inside the window, e3 once in the full load and
/// three times in CDC inside the window (two with one commit ts), e4 only in
/// CDC inside the window, e5 inserted twice after the window. Two CDC files.
fn window_case() -> (Vec<FullRow>, Vec<Change>, Vec<Change>) {
    let full = vec![fr(1, "e1", 100), fr(2, "e2", 100), fr(2, "e2", 100), fr(3, "e3", 100)];
    let first = vec![ch("I", 2, "e2", 60, 1), ch("I", 3, "e3", 61, 2), ch("I", 3, "e3", 62, 3)];
    let second =
        vec![ch("I", 3, "e3", 62, 4), ch("I", 4, "e4", 70, 5), ch("I", 5, "e5", 150, 6), ch("I", 5, "e5", 150, 7)];
    (full, first, second)
}

fn ids(w: &World) -> Vec<i32> {
    w.sorted_rows("events").into_iter().map(|r| r.0).collect()
}

#[tokio::test]
async fn identical_events_are_two_rows() {
    // GIVEN no full load, one file inserting one event twice and a later file
    // inserting it a third time, identically
    let w = World::new();
    w.setup().await;
    let a = [ch("I", 7, "same", 10, 1), ch("I", 7, "same", 10, 2)];
    let b = [ch("I", 7, "same", 10, 3)];
    w.cdc_file("events", "20261101", "20261101-000100000", &a);
    // WHEN each is loaded
    let stats = w.load("events").await.unwrap();
    w.cdc_file("events", "20261101", "20261101-000200000", &b);
    w.load("events").await.unwrap();
    // THEN every insert is a row
    let all: Vec<Change> = a.iter().chain(&b).cloned().collect();
    assert_eq!(w.sorted_rows("events"), append_oracle(&[], &all));
    assert_eq!(ids(&w), [7, 7, 7]);
    assert_eq!(stats.upserts, 2);
}

#[tokio::test]
async fn a_full_load_before_the_cdc_files_keeps_max_of_full_and_cdc_copies_per_value() {
    // GIVEN the full load applied first
    let w = World::new();
    w.setup().await;
    let (full, first, second) = window_case();
    w.full_file("events", "LOAD00000001", &full);
    assert_eq!(w.load("events").await.unwrap().upserts, 4);
    // WHEN the CDC files follow, in two loads
    w.cdc_file("events", "20261101", "20261101-000100000", &first);
    let one = w.load("events").await.unwrap();
    w.cdc_file("events", "20261101", "20261101-000200000", &second);
    let two = w.load("events").await.unwrap();
    // THEN per value max(F, C) inside the window: e2 twice (the full load's),
    // e3 three times (its full-load row and the two latest CDC copies), e4
    // once; e5 twice after the window
    let cdc: Vec<Change> = first.iter().chain(&second).cloned().collect();
    assert_eq!(w.sorted_rows("events"), append_oracle(&full, &cdc));
    assert_eq!(ids(&w), [1, 2, 2, 3, 3, 3, 4, 5, 5]);
    let e3: Vec<(String, Option<String>)> =
        w.sorted_rows("events").into_iter().filter(|r| r.0 == 3).map(|r| (r.2, r.3)).collect();
    assert_eq!(e3, [(ts_text(62), Some("3".into())), (ts_text(62), Some("4".into())), (ts_text(100), None)]);
    // AND each load counts the rows it added
    assert_eq!((one.upserts, two.upserts), (1, 4));
}

#[tokio::test]
async fn a_full_load_after_the_cdc_files_ends_with_the_same_rows() {
    // GIVEN the CDC files applied first, in two loads, before any full load
    let w = World::new();
    w.setup().await;
    let (full, first, second) = window_case();
    w.cdc_file("events", "20261101", "20261101-000100000", &first);
    w.load("events").await.unwrap();
    w.cdc_file("events", "20261101", "20261101-000200000", &second);
    w.load("events").await.unwrap();
    assert_eq!(ids(&w), [2, 3, 3, 3, 4, 5, 5]);
    // WHEN the full load arrives
    w.full_file("events", "LOAD00000001", &full);
    let stats = w.load("events").await.unwrap();
    // THEN the rows are those of the opposite order, value for value
    let cdc: Vec<Change> = first.iter().chain(&second).cloned().collect();
    assert_eq!(w.sorted_rows("events"), append_oracle(&full, &cdc));
    assert_eq!(ids(&w), [1, 2, 2, 3, 3, 3, 4, 5, 5]);
    // AND the load added 4 full-load rows and took back the 2 CDC copies they carry
    assert_eq!(stats.upserts, 2);
    assert_eq!(w.count("SELECT count(*) FROM cdc_control.events__paired"), 2);
}

#[tokio::test]
async fn files_spread_over_loads_in_any_order_end_with_the_oracle_s_rows() {
    let (full, first, second) = window_case();
    let cdc: Vec<Change> = first.iter().chain(&second).cloned().collect();
    let expected = append_oracle(&full, &cdc);
    // GIVEN each order of the three files, one file per load, and all of them in one load
    let orders: [&[usize]; 7] = [&[0, 1, 2], &[0, 2, 1], &[1, 0, 2], &[1, 2, 0], &[2, 0, 1], &[2, 1, 0], &[]];
    for order in orders {
        let w = World::new();
        w.setup().await;
        let write = |f: usize| match f {
            0 => drop(w.full_file("events", "LOAD00000001", &full)),
            1 => drop(w.cdc_file("events", "20261101", "20261101-000100000", &first)),
            _ => drop(w.cdc_file("events", "20261101", "20261101-000200000", &second)),
        };
        if order.is_empty() {
            (0..3).for_each(&write);
            w.load("events").await.unwrap();
        }
        for &f in order {
            write(f);
            // WHEN each is loaded as it arrives
            w.load("events").await.unwrap();
        }
        // THEN the target is the oracle's, whatever the order
        assert_eq!(w.sorted_rows("events"), expected, "order {order:?}");
    }
}

#[tokio::test]
async fn a_later_full_load_file_widens_the_window_over_cdc_rows_already_loaded() {
    // GIVEN a first full-load file (transfer ts 100) with e1, and a CDC insert
    // of e1 at 150, past that window, loaded as a row of its own
    let w = World::new();
    w.setup().await;
    let load1 = [fr(1, "e1", 100)];
    let load2 = [fr(2, "e2", 200)];
    let cdc = [ch("I", 1, "e1", 150, 1), ch("I", 3, "e3", 250, 2)];
    w.full_file("events", "LOAD00000001", &load1);
    w.cdc_file("events", "20261101", "20261101-000100000", &cdc);
    w.load("events").await.unwrap();
    assert_eq!(ids(&w), [1, 1, 3]);
    // WHEN a second full-load file, transferred at 200, arrives
    w.full_file("events", "LOAD00000002", &load2);
    w.load("events").await.unwrap();
    // THEN the e1 insert at 150 is inside the window now and is the full load's e1
    let full: Vec<FullRow> = load1.iter().chain(&load2).cloned().collect();
    assert_eq!(w.sorted_rows("events"), append_oracle(&full, &cdc));
    assert_eq!(ids(&w), [1, 2, 3]);
}

#[tokio::test]
async fn a_replayed_append_load_changes_nothing() {
    // GIVEN the window case loaded: CDC first, then the full load
    let w = World::new();
    w.setup().await;
    let (full, first, second) = window_case();
    let mut files = vec![
        (w.cdc_file("events", "20261101", "20261101-000100000", &first), cdc_core::ports::FileKind::Cdc),
        (w.cdc_file("events", "20261101", "20261101-000200000", &second), cdc_core::ports::FileKind::Cdc),
    ];
    w.load("events").await.unwrap();
    files.push((w.full_file("events", "LOAD00000001", &full), cdc_core::ports::FileKind::Full));
    w.load("events").await.unwrap();
    let rows = w.sorted_rows("events");
    let paired = w.count("SELECT count(*) FROM cdc_control.events__paired");
    // WHEN the same files are submitted again as one load (a doubled submit)
    let raw: Vec<cdc_core::ports::RawFile> = files
        .into_iter()
        .map(|(path, kind)| cdc_core::ports::RawFile {
            path: path.display().to_string(),
            partition: (kind == cdc_core::ports::FileKind::Cdc).then(|| "20261101".to_string()),
            kind,
            size: 1,
            modified: chrono::Utc::now(),
            version: String::new(),
        })
        .collect();
    let t = w.cfg.table("events").unwrap();
    let batch = cdc_core::sql::merge::load_batch(&w.cfg, t, cdc_core::sql::Dialect::DuckDb, &raw);
    cdc_core::ports::run_to_completion(&w.warehouse, batch).await.unwrap();
    // THEN the target, the paired copies and the progress are unchanged
    assert_eq!(w.sorted_rows("events"), rows);
    assert_eq!(w.count("SELECT count(*) FROM cdc_control.events__paired"), paired);
    assert_eq!(w.progress_files("events"), 3);
}
