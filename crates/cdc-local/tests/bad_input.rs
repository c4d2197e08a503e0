//! Bad input: a clear error naming the file, table or column; that table's
//! load rolled back; other tables and earlier progress untouched; the next run
//! after the fix picks up exactly where it left off.

mod support;

use cdc_core::ErrorKind;
use support::*;

const DAY: &str = "20261101";

/// GIVEN `items` and `others` loaded once; WHEN `bad` is written into
/// `items` next to a good new file of `others` and a cycle runs; THEN items
/// fails with an error containing every `expect`ed text, nothing of items
/// changed, others loaded; WHEN the bad file is replaced by a good one THEN
/// the next cycle applies exactly the good changes.
async fn rejects(bad: impl FnOnce(&World) -> std::path::PathBuf, expect: &[&str]) {
    rejects_in(World::new(), bad, expect).await;
}

/// [`rejects`] with `items` under `on_schema_change = "fail"`, for the
/// differences `"add_columns"` (the default) handles (tests/schema_changes.rs).
async fn rejects_under_fail(bad: impl FnOnce(&World) -> std::path::PathBuf, expect: &[&str]) {
    rejects_in(World::with_config(&under_fail(CONFIG)), bad, expect).await;
}

/// The config with `items` under `on_schema_change = "fail"`.
fn under_fail(config: &str) -> String {
    config.replacen("name = \"items\"\n", "name = \"items\"\non_schema_change = \"fail\"\n", 1)
}

/// [`rejects`] in a world of the caller's config.
async fn rejects_in(w: World, bad: impl FnOnce(&World) -> std::path::PathBuf, expect: &[&str]) {
    w.setup().await;
    let first = [ch("I", 1, "a", 10, 1), ch("I", 2, "b", 10, 2)];
    w.cdc_file("items", DAY, "20261101-000100000", &first);
    w.cdc_file("others", DAY, "20261101-000100000", &first);
    w.full_file("events", "LOAD00000001", &[fr(1, "e", 5)]);
    assert!(w.cycle().await.is_ok());
    let items_before = w.rows("items");

    let bad_path = bad(&w);
    let good_other = [ch("U", 1, "a2", 20, 3)];
    w.cdc_file("others", DAY, "20261101-000200000", &good_other);
    let run = w.cycle().await;

    let failed = run.failed_tables();
    assert_eq!(failed.len(), 1, "only items must fail: {:?}", run.tables);
    assert_eq!(failed[0].table, "items");
    let err = failed[0].result.as_ref().unwrap_err();
    assert_eq!(err.kind, ErrorKind::DataError, "{err}");
    for e in expect {
        assert!(err.message.contains(e), "error must mention {e:?}: {err}");
    }
    assert_eq!(w.rows("items"), items_before, "items must be untouched");
    assert_eq!(w.progress_files("items"), 1, "items progress must be untouched");
    assert_eq!(w.state("others")[&1].as_deref(), Some("a2"), "others must be loaded");

    // The fix: the bad file replaced by a good one.
    std::fs::remove_file(&bad_path).unwrap();
    // Five four-byte characters: exactly a varchar(5), at 20 bytes.
    let fixed = [ch("U", 2, "🙂🙂🙂🙂🙂", 30, 4), ch("I", 3, "c", 30, 5)];
    w.cdc_file("items", DAY, "20261101-000300000", &fixed);
    let run = w.cycle().await;
    assert!(run.is_ok(), "{:?}", run.failed_tables());
    let all: Vec<Change> = first.iter().chain(&fixed).cloned().collect();
    assert_eq!(w.state("items"), oracle(&[], &all));
    assert_eq!(w.progress_files("items"), 2);
}

#[tokio::test]
async fn malformed_parquet() {
    rejects(
        |w| {
            let p = w.raw_root().join(format!("cdc/src/items/{DAY}/20261101-000200000.parquet"));
            std::fs::write(&p, b"this is not parquet at all, just text").unwrap();
            p
        },
        &["20261101-000200000.parquet", "not readable Parquet"],
    )
    .await;
}

#[tokio::test]
async fn truncated_parquet() {
    rejects(
        |w| {
            let p = w.cdc_file("items", DAY, "20261101-000200000", &[ch("U", 1, "zz", 20, 9)]);
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
            p
        },
        &["20261101-000200000.parquet", "not readable Parquet"],
    )
    .await;
}

#[tokio::test]
async fn empty_file() {
    rejects(
        |w| {
            let p = w.raw_root().join(format!("cdc/src/items/{DAY}/20261101-000200000.parquet"));
            std::fs::write(&p, b"").unwrap();
            p
        },
        &["20261101-000200000.parquet", "not readable Parquet"],
    )
    .await;
}

#[tokio::test]
async fn unknown_op() {
    rejects(
        |w| w.cdc_file("items", DAY, "20261101-000200000", &[ch("U", 1, "ok", 20, 9), ch("X", 2, "bad", 20, 10)]),
        &["20261101-000200000.parquet", "unknown Op", "src.items"],
    )
    .await;
}

#[tokio::test]
async fn null_key() {
    rejects(
        |w| {
            w.raw_file(
                &format!("cdc/src/items/{DAY}/20261101-000200000.parquet"),
                "SELECT 'U' AS \"Op\", TIMESTAMP '2026-11-01 00:00:20' AS changets, lpad('9', 35, '0') AS seq, CAST(NULL AS INTEGER) AS id, 'v' AS v",
            )
        },
        &["20261101-000200000.parquet", "null key (id)"],
    )
    .await;
}

#[tokio::test]
async fn a_change_sequence_that_is_not_a_number() {
    rejects(
        |w| {
            w.raw_file(
                &format!("cdc/src/items/{DAY}/20261101-000200000.parquet"),
                "SELECT 'U' AS \"Op\", TIMESTAMP '2026-11-01 00:00:20' AS changets, '2026-11-01T00:00:20#7' AS seq, \
                 CAST(1 AS INTEGER) AS id, 'v' AS v",
            )
        },
        &["20261101-000200000.parquet", "src.items", "change sequence column seq", "sequence_type = \"text\""],
    )
    .await;
}

/// 39 digits fit DuckDB's HUGEINT, which the sequence is parsed through, but
/// not the DECIMAL(38,0) it is stored as.
#[tokio::test]
async fn a_change_sequence_of_39_digits() {
    rejects(
        |w| {
            w.raw_file(
                &format!("cdc/src/items/{DAY}/20261101-000200000.parquet"),
                "SELECT 'U' AS \"Op\", TIMESTAMP '2026-11-01 00:00:20' AS changets, lpad('9', 39, '9') AS seq, \
                 CAST(1 AS INTEGER) AS id, 'v' AS v",
            )
        },
        &["20261101-000200000.parquet", "src.items", "change sequence column seq", "at most 38 digits"],
    )
    .await;
}

#[tokio::test]
async fn missing_column() {
    rejects_under_fail(
        |w| {
            w.raw_file(
                &format!("cdc/src/items/{DAY}/20261101-000200000.parquet"),
                "SELECT 'U' AS \"Op\", TIMESTAMP '2026-11-01 00:00:20' AS changets, lpad('9', 35, '0') AS seq, CAST(1 AS INTEGER) AS id",
            )
        },
        &["20261101-000200000.parquet", "column `v` is missing"],
    )
    .await;
}

#[tokio::test]
async fn column_of_the_wrong_type() {
    rejects(
        |w| {
            w.raw_file(
                &format!("cdc/src/items/{DAY}/20261101-000200000.parquet"),
                "SELECT 'U' AS \"Op\", TIMESTAMP '2026-11-01 00:00:20' AS changets, lpad('9', 35, '0') AS seq, 'one' AS id, 'v' AS v",
            )
        },
        &["20261101-000200000.parquet", "column `id`", "integer"],
    )
    .await;
}

#[tokio::test]
async fn columns_of_other_physical_types_name_the_column_and_both_types() {
    // Each a Parquet physical type the column cannot hold; `v` is varchar, `id` the integer key.
    for (value, column, written) in [
        ("CAST(1.5 AS DOUBLE) AS id, 'v' AS v", "`id`", "Float64"),
        ("TRUE AS id, 'v' AS v", "`id`", "Boolean"),
        ("CAST(1 AS INTEGER) AS id, CAST(7 AS BIGINT) AS v", "`v`", "Int64"),
        ("CAST(1 AS INTEGER) AS id, DATE '2026-11-01' AS v", "`v`", "Date"),
        ("CAST(1 AS INTEGER) AS id, CAST('ab' AS BLOB) AS v", "`v`", "Other"),
    ] {
        rejects(
            |w| {
                w.raw_file(
                    &format!("cdc/src/items/{DAY}/20261101-000200000.parquet"),
                    &format!(
                        "SELECT 'U' AS \"Op\", TIMESTAMP '2026-11-01 00:00:20' AS changets, lpad('9', 35, '0') AS seq, \
                         {value}"
                    ),
                )
            },
            &["20261101-000200000.parquet", column, written],
        )
        .await;
    }
}

#[tokio::test]
async fn new_column_not_in_the_target() {
    rejects_under_fail(
        |w| {
            w.raw_file(
                &format!("cdc/src/items/{DAY}/20261101-000200000.parquet"),
                "SELECT 'U' AS \"Op\", TIMESTAMP '2026-11-01 00:00:20' AS changets, lpad('9', 35, '0') AS seq, CAST(1 AS INTEGER) AS id, 'v' AS v, 'x@y' AS email",
            )
        },
        &["20261101-000200000.parquet", "`email` is not in the target table"],
    )
    .await;
}

#[tokio::test]
async fn a_table_with_neither_full_load_nor_cdc_files_is_an_error_naming_it() {
    // GIVEN files for items and events only
    let w = World::new();
    w.setup().await;
    w.cdc_file("items", DAY, "20261101-000100000", &[ch("I", 1, "a", 10, 1)]);
    w.full_file("events", "LOAD00000001", &[fr(1, "e", 5)]);
    // WHEN a cycle runs
    let run = w.cycle().await;
    // THEN others fails, naming the table and where files were expected; the rest loaded
    let failed = run.failed_tables();
    assert_eq!(failed.len(), 1);
    let err = failed[0].result.as_ref().unwrap_err();
    assert!(err.message.contains("src.others") && err.message.contains("neither full-load nor CDC files"), "{err}");
    assert_eq!(w.state("items").len(), 1);
    assert_eq!(w.count("SELECT count(*) FROM public.events"), 1);
}

#[tokio::test]
async fn setup_names_a_sequence_column_created_with_another_type() {
    // GIVEN a warehouse set up while items compared its sequence as text
    let text_config =
        CONFIG.replacen("sequence_column = \"seq\"\n", "sequence_column = \"seq\"\nsequence_type = \"text\"\n", 1);
    let w = World::with_config(&text_config);
    w.setup().await;
    w.cdc_file("items", DAY, "20261101-000100000", &[ch("I", 1, "a", 10, 1)]);
    w.load("items").await.unwrap();
    // WHEN setup runs with a config that says number (the default)
    let number = cdc_core::PipelineConfig::parse(CONFIG, "number").unwrap();
    let err = cdc_core::setup::run_setup(&number, &w.warehouse, None).await.unwrap_err();
    // THEN it fails naming the table, the column, the config's type and the one found
    for part in ["public.items", "column seq", "sequence_type = \"number\"", "NUMERIC(38,0)", "It is VARCHAR"] {
        assert!(err.message.contains(part), "error must mention {part:?}: {err}");
    }
    // AND the loaded data is untouched
    assert_eq!(w.state("items")[&1].as_deref(), Some("a"));
    // AND setup with the table's own type still passes
    cdc_core::setup::run_setup(&w.cfg, &w.warehouse, None).await.unwrap();
}

/// A text value one character longer than its column, in multibyte UTF-8:
/// refused naming the table, the column, the file and the value, never
/// truncated or nulled; the same column takes a value of exactly its length
/// however many bytes it has (the fix below carries 5 four-byte emoji).
#[tokio::test]
async fn a_value_longer_than_its_column_names_table_column_file_and_value() {
    let w = World::with_config(&under_fail(&CONFIG.replacen(
        "{ name = \"v\", type = \"varchar\" }",
        "{ name = \"v\", type = \"varchar(5)\" }",
        1,
    )));
    assert_eq!(w.cfg.table("items").unwrap().columns[1].ty.to_string(), "varchar(5)");
    rejects_in(
        w,
        |w| w.cdc_file("items", DAY, "20261101-000200000", &[ch("U", 1, "ÄÖÜäöß", 20, 9)]),
        &["src.items", "column v (varchar(5))", "more than 5 characters", "ÄÖÜäöß", "20261101-000200000.parquet"],
    )
    .await;
}

#[tokio::test]
async fn a_null_change_sequence_is_reported_like_a_null_timestamp() {
    rejects(
        |w| {
            w.raw_file(
                &format!("cdc/src/items/{DAY}/20261101-000200000.parquet"),
                "SELECT 'U' AS \"Op\", TIMESTAMP '2026-11-01 00:00:20' AS changets, CAST(NULL AS VARCHAR) AS seq, \
                 CAST(1 AS INTEGER) AS id, 'v' AS v",
            )
        },
        &["20261101-000200000.parquet", "src.items", "null change sequence column seq"],
    )
    .await;
}

/// DuckDB's integer cast reads ` 12`, `+12`, `1e3`, `0x10`, `1_000`;
/// Redshift's digit rule does not, and the load follows Redshift on both.
#[tokio::test]
async fn a_change_sequence_duckdb_alone_would_read_is_refused_as_on_redshift() {
    for seq in [" 12", "+12", "1e3", "0x10", "1_000", "12 "] {
        rejects(
            |w| {
                w.raw_file(
                    &format!("cdc/src/items/{DAY}/20261101-000200000.parquet"),
                    &format!(
                        "SELECT 'U' AS \"Op\", TIMESTAMP '2026-11-01 00:00:20' AS changets, '{seq}' AS seq, \
                         CAST(1 AS INTEGER) AS id, 'v' AS v"
                    ),
                )
            },
            &["20261101-000200000.parquet", "change sequence column seq", "at most 38 digits"],
        )
        .await;
    }
}

#[tokio::test]
async fn a_commit_timestamp_in_year_2999_fails_the_load_naming_file_column_and_value() {
    // GIVEN a CDC file of items whose second change claims year 2999 (beyond
    // the default bound of a day past the warehouse's clock), which would
    // otherwise make every tombstone look older than the lateness window
    rejects(
        |w| {
            w.raw_file(
                &format!("cdc/src/items/{DAY}/20261101-000200000.parquet"),
                "SELECT 'U' AS \"Op\", TIMESTAMP '2026-11-01 00:00:20' AS changets, lpad('9', 35, '0') AS seq, \
                 CAST(1 AS INTEGER) AS id, 'ok' AS v \
                 UNION ALL SELECT 'U', TIMESTAMP '2999-01-01 00:00:00', lpad('10', 35, '0'), 2, 'future'",
            )
        },
        // THEN the table's load fails naming the table, file, column, value and key
        &[
            "src.items",
            "20261101-000200000.parquet",
            "commit timestamp column changets",
            "2999-01-01 00:00:00",
            "future_timestamp_bound",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_commit_timestamp_within_the_future_bound_loads_and_one_past_a_shorter_bound_fails() {
    // GIVEN a change committed an hour ahead of the warehouse's clock (clock skew)
    let ahead = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%d %H:%M:%S").to_string();
    let file = |w: &World| {
        w.raw_file(
            &format!("cdc/src/items/{DAY}/20261101-000100000.parquet"),
            &format!(
                "SELECT 'I' AS \"Op\", TIMESTAMP '{ahead}' AS changets, lpad('1', 35, '0') AS seq, CAST(1 AS INTEGER) AS id, 'v' AS v"
            ),
        )
    };
    // WHEN it loads with the default bound of a day THEN it is applied
    let w = World::new();
    w.setup().await;
    file(&w);
    w.load("items").await.unwrap();
    assert_eq!(w.state("items")[&1].as_deref(), Some("v"));
    // AND WHEN the bound is 30 minutes THEN the load fails as a data error, nothing applied
    let short = World::with_config(
        &CONFIG.replace("max_files_per_load = 500", "max_files_per_load = 500\nfuture_timestamp_bound = \"30m\""),
    );
    short.setup().await;
    file(&short);
    let err = short.load("items").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::DataError, "{err}");
    assert!(err.message.contains("more than 1800 s after the warehouse clock"), "{err}");
    assert!(short.rows("items").is_empty());
    assert_eq!(short.progress_files("items"), 0);
}

/// How a file is damaged: cut to a length, or eight bytes flipped at an offset.
#[derive(Debug, Clone, Copy)]
enum Damage {
    Cut(fn(usize) -> usize),
    Flip(fn(usize) -> usize),
}

#[tokio::test]
async fn parquet_cut_or_flipped_at_several_offsets_fails_only_its_table_naming_the_file() {
    // Offsets through the file: the magic bytes, the first page header, data
    // pages, the footer and its length. (A flip inside column statistics or
    // padding is not seen by any reader that does not check page CRCs, which
    // Parquet leaves optional: such a file loads as it reads.)
    let cases: [(&str, Damage); 8] = [
        ("cut to 0 bytes", Damage::Cut(|_| 0)),
        ("cut to 4 bytes", Damage::Cut(|_| 4)),
        ("cut to a third", Damage::Cut(|n| n / 3)),
        ("cut inside the footer", Damage::Cut(|n| n - 9)),
        ("cut by one byte", Damage::Cut(|n| n - 1)),
        ("flipped in the first page header", Damage::Flip(|_| 4)),
        ("flipped a quarter in", Damage::Flip(|n| n / 4)),
        ("flipped half way", Damage::Flip(|n| n / 2)),
    ];
    for (what, damage) in cases {
        // GIVEN items loaded, then a CDC file of 200 changes damaged so
        rejects(
            |w| {
                let changes: Vec<Change> = (0..200)
                    .map(|i| ch("U", (i % 7) + 1, &format!("value {i} of a change"), 20 + i64::from(i), 10 + i as u64))
                    .collect();
                let p = w.cdc_file("items", DAY, "20261101-000200000", &changes);
                let mut bytes = std::fs::read(&p).unwrap();
                let n = bytes.len();
                match damage {
                    Damage::Cut(at) => bytes.truncate(at(n)),
                    Damage::Flip(at) => bytes[at(n)..at(n) + 8].iter_mut().for_each(|b| *b ^= 0xA5),
                }
                std::fs::write(&p, &bytes).unwrap();
                p
            },
            // THEN (in `rejects`) only items fails, with a DataError naming the file, nothing of it applied
            &["20261101-000200000.parquet", "not readable Parquet"],
        )
        .await;
        eprintln!("{what}: refused, named, nothing applied");
    }
}
