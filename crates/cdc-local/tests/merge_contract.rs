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
    cdc_core::ports::run_to_completion(&w.warehouse, batch, std::time::Duration::from_millis(2)).await.unwrap();
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
