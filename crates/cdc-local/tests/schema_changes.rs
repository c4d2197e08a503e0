//! Schema changes under a running pipeline (docs/table-lifecycle.md,
//! "Schema changes"), on the local DuckDB path: a column DMS adds in later
//! files is added to the target (NULL in older rows) and recorded; older
//! files without it still load; a column the files stop carrying loads as
//! NULL; under `on_schema_change = "fail"` either fails the table naming
//! the file and the column, and changes nothing; a resync and a reload
//! rebuild with the effective schema.

mod support;

use std::collections::BTreeMap;

use cdc_core::ErrorKind;
use cdc_core::load::{LoadRun, SubmitOutcome, poll_load, submit_load};
use support::*;

/// `items` rows as `id → (v, email)`, or without the column `None`.
type Wide = BTreeMap<i32, (Option<String>, Option<String>)>;

/// One CDC row with an `email` column (`None` writes NULL).
fn wide_change(op: &str, id: i32, v: &str, email: Option<&str>, ts: i64, seq: u64) -> String {
    let email = email.map_or("NULL".to_string(), |e| format!("'{e}'"));
    format!(
        "SELECT '{op}' AS \"Op\", TIMESTAMP '{}' AS changets, lpad('{seq}', 35, '0') AS seq, CAST({id} AS INTEGER) AS id, \
         CAST('{v}' AS VARCHAR) AS v, CAST({email} AS VARCHAR) AS email",
        ts_text(ts)
    )
}

fn wide_rows(w: &World) -> Wide {
    let conn = w.warehouse.connection().unwrap();
    let mut stmt = conn.prepare("SELECT id, v, email FROM public.items ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))).unwrap().map(Result::unwrap).collect()
}

fn has_column(w: &World, table: &str, column: &str) -> bool {
    w.count(&format!(
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{table}' \
         AND column_name = '{column}'"
    )) == 1
}

/// The recorded additions: (column, type, first file's name).
fn recorded(w: &World, table: &str) -> Vec<(String, String, String)> {
    let conn = w.warehouse.connection().unwrap();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT column_name, column_type, first_file FROM cdc_control.{table}__columns ORDER BY ordinal"
        ))
        .unwrap();
    stmt.query_map([], |r| {
        let file: String = r.get(2)?;
        Ok((r.get(0)?, r.get(1)?, file.rsplit('/').next().unwrap().to_string()))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// A world whose `items` has `on_schema_change = policy` and the key `id`
/// then `columns` (TOML inline tables), set up.
async fn items_world(policy: &str, columns: &str) -> World {
    let config = CONFIG.replacen(
        "lateness_window = \"1d\"\ncolumns = [ { name = \"id\", type = \"integer\" }, { name = \"v\", type = \"varchar\" } ]",
        &format!(
            "lateness_window = \"1d\"\non_schema_change = \"{policy}\"\ncolumns = [ {{ name = \"id\", type = \"integer\" }}, {columns} ]"
        ),
        1,
    );
    let w = World::with_config(&config);
    w.setup().await;
    w
}

/// The recorded type and kind of change of one column of `items`.
fn recorded_change(w: &World, column: &str) -> (String, String) {
    let sql = "SELECT column_type, change FROM cdc_control.items__columns WHERE column_name = ?";
    w.warehouse.connection().unwrap().query_row(sql, [column], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// items loaded from a full load {1, 2} and one change, none with `email`.
async fn loaded_items(policy: &str) -> World {
    let w = items_world(policy, "{ name = \"v\", type = \"varchar\" }").await;
    w.full_file("items", "LOAD00000001", &[fr(1, "a", 100), fr(2, "b", 100)]);
    w.cdc_file("items", "20261101", "20261101-000500000", &[ch("U", 1, "a1", 200, 1)]);
    assert_eq!(w.load("items").await.unwrap().files, 2);
    w
}

#[tokio::test]
async fn a_column_added_in_later_files_is_added_and_recorded_and_older_files_still_load() {
    // GIVEN items loaded without `email`
    let w = loaded_items("add_columns").await;
    assert!(!has_column(&w, "items", "email"));
    // AND a file that adds `email`, plus a late file written before the change, in one batch
    let added = [wide_change("U", 2, "b2", Some("b@x"), 400, 3), wide_change("I", 3, "c", None, 401, 4)];
    w.raw_file("cdc/src/items/20261101/20261101-001000000.parquet", &added.join(" UNION ALL "));
    w.cdc_file("items", "20261101", "20261101-000700000", &[ch("U", 1, "a2", 300, 2)]);
    // WHEN the table loads
    let stats = w.load("items").await.unwrap();
    // THEN the target has the column, with NULL in rows the older files wrote
    assert_eq!(stats.files, 2);
    let expected: Wide = [(1, (some("a2"), None)), (2, (some("b2"), some("b@x"))), (3, (some("c"), None))].into();
    assert_eq!(wide_rows(&w), expected);
    // AND the addition is recorded with its type and first file, and named in the figures
    assert_eq!(recorded(&w, "items"), [("email".into(), "varchar".into(), "20261101-001000000.parquet".into())]);
    let named = stats.schema_changes.unwrap_or_default();
    assert!(named.contains("column email varchar added") && named.contains("20261101-001000000"), "{named}");
    // AND the config is untouched: the table as configured still has two columns
    assert_eq!(w.cfg.table("items").unwrap().columns.len(), 2);

    // WHEN later files carry email, and one (a late one) does not
    let later = [wide_change("U", 3, "c2", Some("c@x"), 500, 5)];
    w.raw_file("cdc/src/items/20261101/20261101-002000000.parquet", &later.join(" UNION ALL "));
    w.cdc_file("items", "20261101", "20261101-001500000", &[ch("U", 2, "b3", 450, 6)]);
    let stats = w.load("items").await.unwrap();
    // THEN nothing is added again; the change without email sets it NULL (the row as DMS wrote it)
    assert_eq!((stats.files, stats.schema_changes), (2, None));
    assert_eq!(recorded(&w, "items").len(), 1);
    let expected: Wide = [(1, (some("a2"), None)), (2, (some("b3"), None)), (3, (some("c2"), some("c@x")))].into();
    assert_eq!(wide_rows(&w), expected);
}

#[tokio::test]
async fn a_column_the_files_stop_carrying_loads_as_null_but_a_missing_key_fails_the_file() {
    // GIVEN items loaded
    let w = loaded_items("add_columns").await;
    // WHEN a file without `v` arrives (dropped at the source)
    let select = format!(
        "SELECT 'U' AS \"Op\", TIMESTAMP '{}' AS changets, lpad('7', 35, '0') AS seq, CAST(2 AS INTEGER) AS id",
        ts_text(600)
    );
    w.raw_file("cdc/src/items/20261101/20261101-003000000.parquet", &select);
    w.load("items").await.unwrap();
    // THEN key 2 has NULL in `v` from then on
    assert_eq!(w.state("items"), [(1, some("a1")), (2, None)].into());
    // WHEN a file lacks the key column
    let keyless =
        format!("SELECT 'U' AS \"Op\", TIMESTAMP '{}' AS changets, lpad('8', 35, '0') AS seq, 'z' AS v", ts_text(700));
    w.raw_file("cdc/src/items/20261101/20261101-004000000.parquet", &keyless);
    // THEN the load fails naming the file and the key, and the table is as it was
    let e = w.load("items").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::DataError);
    assert!(e.message.contains("key column `id` is missing") && e.message.contains("20261101-004000000"), "{e}");
    assert_eq!(w.state("items"), [(1, some("a1")), (2, None)].into());
}

#[tokio::test]
async fn under_fail_a_new_or_missing_column_fails_the_table_and_changes_nothing() {
    // GIVEN items with on_schema_change = "fail", loaded
    let w = loaded_items("fail").await;
    let before = w.state("items");
    // WHEN a file adds `email`
    let added = [wide_change("U", 2, "b2", Some("b@x"), 400, 3)];
    let path = w.raw_file("cdc/src/items/20261101/20261101-001000000.parquet", &added.join(" UNION ALL "));
    let e = w.load("items").await.unwrap_err();
    // THEN the load fails naming the file, the column and the policy; nothing was added or applied
    assert_eq!(e.kind, ErrorKind::DataError);
    assert!(
        e.message.contains("`email`")
            && e.message.contains("20261101-001000000")
            && e.message.contains("on_schema_change"),
        "{e}"
    );
    assert!(!has_column(&w, "items", "email"));
    assert!(recorded(&w, "items").is_empty());
    assert_eq!(w.state("items"), before);
    // WHEN that file is replaced by one without `v`
    std::fs::remove_file(path).unwrap();
    let select = format!(
        "SELECT 'U' AS \"Op\", TIMESTAMP '{}' AS changets, lpad('7', 35, '0') AS seq, CAST(2 AS INTEGER) AS id",
        ts_text(600)
    );
    w.raw_file("cdc/src/items/20261101/20261101-003000000.parquet", &select);
    // THEN it fails too, naming the column
    let e = w.load("items").await.unwrap_err();
    assert!(e.message.contains("column `v` is missing"), "{e}");
    assert_eq!(w.state("items"), before);
}

#[tokio::test]
async fn a_resync_and_a_reload_rebuild_with_the_effective_schema() {
    // GIVEN items with `email` added by a CDC file
    let w = loaded_items("add_columns").await;
    let added = [wide_change("U", 2, "b2", Some("b@x"), 400, 3)];
    w.raw_file("cdc/src/items/20261101/20261101-001000000.parquet", &added.join(" UNION ALL "));
    w.load("items").await.unwrap();
    let loaded = wide_rows(&w);
    // AND a hand edit that a resync must undo
    w.warehouse.connection().unwrap().execute_batch("UPDATE public.items SET email = 'hand' WHERE id = 1").unwrap();
    // WHEN the table is resynced
    let t = w.cfg.table("items").unwrap();
    let run = LoadRun { resync: Some(chrono::Utc::now()), ..LoadRun::whole(chrono::Utc::now()) };
    let SubmitOutcome::Submitted { statement_id, .. } =
        submit_load(&w.cfg, t, &w.warehouse, &w.raw, run).await.unwrap()
    else {
        panic!("a resync submits a rebuild")
    };
    while matches!(poll_load(t, &w.warehouse, &statement_id).await.unwrap(), cdc_core::load::PollOutcome::Running) {}
    // THEN the table is rebuilt with the column and its values, the edit undone
    assert_eq!(wide_rows(&w), loaded);
    assert_eq!(recorded(&w, "items").len(), 1);

    // WHEN DMS reloads the table, its full load now carrying `email` and a new column `tier`
    let reload = "SELECT TIMESTAMP '2026-11-01 02:00:00' AS changets, CAST(1 AS INTEGER) AS id, 'r1' AS v, \
                  'a@r' AS email, CAST(7 AS SMALLINT) AS tier UNION ALL SELECT TIMESTAMP '2026-11-01 02:00:00', \
                  CAST(2 AS INTEGER), 'r2', NULL, NULL";
    let file = w.raw_file("full/src/items/LOAD00000001.parquet", reload);
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&file).unwrap().set_modified(old).unwrap();
    let stats = w.load("items").await.unwrap();
    // THEN the rebuild adds `tier` (smallint, from the reload's file) and loads the reload's values
    assert!(stats.rebuild.is_some() && stats.schema_changes.unwrap_or_default().contains("column tier smallint added"));
    assert_eq!(recorded(&w, "items").iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["email", "tier"]);
    let expected: Wide = [(1, (some("r1"), some("a@r"))), (2, (some("r2"), None))].into();
    assert_eq!(wide_rows(&w), expected);
    assert_eq!(w.count("SELECT COUNT(*) FROM public.items WHERE tier = 7 AND id = 1"), 1);
}

/// `items` with `v` as varchar(5) under `policy`, loaded with short values.
async fn narrow_items(policy: &str) -> World {
    let w = items_world(policy, "{ name = \"v\", type = \"varchar(5)\" }").await;
    w.full_file("items", "LOAD00000001", &[fr(1, "a", 100), fr(2, "b", 100)]);
    w.load("items").await.unwrap();
    w
}

#[tokio::test]
async fn a_value_longer_than_its_varchar_widens_the_column_and_the_load_runs_again() {
    // GIVEN items.v configured as varchar(5), loaded
    let w = narrow_items("add_columns").await;
    // WHEN the source widened it: a file with a 12-character value
    w.cdc_file(
        "items",
        "20261101",
        "20261101-000500000",
        &[ch("U", 1, "twelve chars", 200, 1), ch("U", 2, "b2", 201, 2)],
    );
    let stats = w.load("items").await.unwrap();
    // THEN the load ran after the column was widened, and the value is whole
    assert_eq!(stats.files, 1);
    assert_eq!(w.state("items"), [(1, some("twelve chars")), (2, some("b2"))].into());
    // AND the widening is recorded with the new type, so the next load checks against it
    assert_eq!(recorded_change(&w, "v"), ("varchar(12)".into(), "widen".into()));
    w.cdc_file("items", "20261101", "20261101-001000000", &[ch("U", 2, "eleven char", 300, 3)]);
    assert_eq!(w.load("items").await.unwrap().files, 1);
    // AND a still longer value widens again
    w.cdc_file("items", "20261101", "20261101-002000000", &[ch("U", 2, "twenty characters!!!", 400, 4)]);
    w.load("items").await.unwrap();
    assert_eq!(w.state("items")[&2], some("twenty characters!!!"));
    assert_eq!(w.count("SELECT COUNT(*) FROM cdc_control.items__columns WHERE change = 'widen'"), 2);
}

#[tokio::test]
async fn under_fail_a_value_longer_than_its_varchar_fails_the_table_naming_it() {
    let w = narrow_items("fail").await;
    let before = w.state("items");
    w.cdc_file("items", "20261101", "20261101-000500000", &[ch("U", 1, "twelve chars", 200, 1)]);
    let e = w.load("items").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::DataError);
    assert!(e.message.contains("column v (varchar(5)) holds a value of more than 5 characters"), "{e}");
    assert!(!e.message.contains("CDC_WIDEN"), "{e}");
    assert_eq!(w.state("items"), before);
    assert_eq!(w.count("SELECT COUNT(*) FROM cdc_control.items__columns"), 0);
}

/// `items` with a third column `n integer` under `policy`, loaded from a
/// full load {1, 2} and one change, every file writing `n` as INT32.
async fn numbered_items(policy: &str) -> World {
    let w = items_world(policy, "{ name = \"v\", type = \"varchar\" }, { name = \"n\", type = \"integer\" }").await;
    let full = format!(
        "SELECT TIMESTAMP '{t}' AS changets, CAST(1 AS INTEGER) AS id, 'a' AS v, CAST(10 AS INTEGER) AS n UNION ALL \
         SELECT TIMESTAMP '{t}', CAST(2 AS INTEGER), 'b', CAST(20 AS INTEGER)",
        t = ts_text(100)
    );
    w.raw_file("full/src/items/LOAD00000001.parquet", &full);
    w.raw_file(
        "cdc/src/items/20261101/20261101-000500000.parquet",
        &numbered_change("U", 1, "a1", "INTEGER", 11, 200, 1),
    );
    assert_eq!(w.load("items").await.unwrap().files, 2);
    w
}

/// One CDC row of `items` writing `n` as `ty`.
fn numbered_change(op: &str, id: i32, v: &str, ty: &str, n: i64, ts: i64, seq: u64) -> String {
    format!(
        "SELECT '{op}' AS \"Op\", TIMESTAMP '{}' AS changets, lpad('{seq}', 35, '0') AS seq, CAST({id} AS INTEGER) AS id, \
         CAST('{v}' AS VARCHAR) AS v, CAST({n} AS {ty}) AS n",
        ts_text(ts)
    )
}

/// `items` as `id → (v, n)`, and the type of `n` in the target.
fn numbered_rows(w: &World) -> (BTreeMap<i32, (String, i64)>, String) {
    let conn = w.warehouse.connection().unwrap();
    let mut stmt = conn.prepare("SELECT id, v, n FROM public.items ORDER BY id").unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))).unwrap().map(Result::unwrap).collect();
    let ty = conn
        .query_row(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'items' \
             AND column_name = 'n'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (rows, ty)
}

#[tokio::test]
async fn an_integer_the_source_made_bigint_rebuilds_the_table_with_the_new_type() {
    // GIVEN items.n (integer) loaded from INT32 files
    let w = numbered_items("add_columns").await;
    // WHEN the source makes n a bigint: later files write INT64, one value past INTEGER's range
    let big = 5_000_000_000_i64;
    w.raw_file(
        "cdc/src/items/20261101/20261101-001000000.parquet",
        &numbered_change("U", 2, "b2", "BIGINT", big, 400, 3),
    );
    let stats = w.load("items").await.unwrap();
    // THEN the table was rebuilt from its full load and every CDC file, old ones read as bigint
    assert!(stats.rebuild.is_some(), "{stats:?}");
    let named = stats.schema_changes.unwrap_or_default();
    assert!(
        named.contains("column n changed type from integer to bigint") && named.contains("20261101-001000000"),
        "{named}"
    );
    let (rows, ty) = numbered_rows(&w);
    assert_eq!(rows, [(1, ("a1".into(), 11)), (2, ("b2".into(), big))].into());
    assert_eq!(ty, "BIGINT");
    // AND the change is recorded, so later loads read n as bigint without rebuilding again
    assert_eq!(recorded_change(&w, "n"), ("bigint".into(), "type".into()));
    w.raw_file(
        "cdc/src/items/20261101/20261101-002000000.parquet",
        &numbered_change("U", 1, "a2", "BIGINT", big + 1, 500, 4),
    );
    let stats = w.load("items").await.unwrap();
    assert_eq!((stats.files, stats.rebuild, stats.schema_changes), (1, None, None));
    assert_eq!(numbered_rows(&w).0[&1], ("a2".into(), big + 1));
}

#[tokio::test]
async fn under_fail_a_type_change_leaves_the_table_until_a_resync_rebuilds_it() {
    // GIVEN items.n (integer) loaded under on_schema_change = "fail"
    let w = numbered_items("fail").await;
    let before = numbered_rows(&w);
    // WHEN a file writes n as INT64
    w.raw_file(
        "cdc/src/items/20261101/20261101-001000000.parquet",
        &numbered_change("U", 2, "b2", "BIGINT", 7, 400, 3),
    );
    let t = w.cfg.table("items").unwrap();
    let out = submit_load(&w.cfg, t, &w.warehouse, &w.raw, LoadRun::whole(chrono::Utc::now())).await.unwrap();
    // THEN nothing is submitted: the table needs a resync, named with the column and both types
    let SubmitOutcome::ResyncRequired { why } = out else { panic!("expected ResyncRequired, got {out:?}") };
    assert!(why.contains("column n changed type from integer to bigint") && why.contains("cdc resync items"), "{why}");
    assert_eq!(numbered_rows(&w), before);
    assert_eq!(w.count("SELECT COUNT(*) FROM cdc_control.items__columns"), 0);
    // WHEN the operator resyncs the table
    let run = LoadRun { resync: Some(chrono::Utc::now()), ..LoadRun::whole(chrono::Utc::now()) };
    let SubmitOutcome::Submitted { statement_id, .. } =
        submit_load(&w.cfg, t, &w.warehouse, &w.raw, run).await.unwrap()
    else {
        panic!("a resync submits a rebuild")
    };
    while matches!(poll_load(t, &w.warehouse, &statement_id).await.unwrap(), cdc_core::load::PollOutcome::Running) {}
    // THEN the table is rebuilt with n as bigint and the new file's change applied
    let (rows, ty) = numbered_rows(&w);
    assert_eq!((rows, ty.as_str()), ([(1, ("a1".into(), 11)), (2, ("b2".into(), 7))].into(), "BIGINT"));
}

#[tokio::test]
async fn a_key_column_written_as_bigint_fails_the_table_naming_it() {
    // GIVEN items loaded
    let w = numbered_items("add_columns").await;
    let before = numbered_rows(&w);
    // WHEN a file writes the key id as INT64
    let select = format!(
        "SELECT 'U' AS \"Op\", TIMESTAMP '{}' AS changets, lpad('3', 35, '0') AS seq, CAST(2 AS BIGINT) AS id, \
         'b2' AS v, CAST(2 AS INTEGER) AS n",
        ts_text(400)
    );
    w.raw_file("cdc/src/items/20261101/20261101-001000000.parquet", &select);
    // THEN the load fails naming the key column and both types, and nothing changed
    let e = w.load("items").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::DataError);
    assert!(e.message.contains("key column `id`") && e.message.contains("Int64"), "{e}");
    assert_eq!(numbered_rows(&w), before);
}
