//! Checks the written raw zone with DuckDB: layout, determinism, the hard
//! cases, and the oracle against the files actually on disk.

use std::collections::BTreeSet;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cdc_dmsgen::{ALL_TABLES, CycleReport, DmsLayout, Generator, GeneratorConfig, TABLES};
use duckdb::Connection;

type TestResult = Result<(), Box<dyn Error>>;

const TXNS: usize = 300;

fn small(seed: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        branches: 2,
        accounts_per_branch: 200,
        txns_during_full_load: 40,
        max_rows_per_file: 400,
        full_file_rows: 150,
        ..GeneratorConfig::default()
    }
}

/// Full load then two cycles; returns the reports in call order.
fn run(root: &Path, layout: DmsLayout, cfg: GeneratorConfig) -> Result<(Generator, Vec<CycleReport>), Box<dyn Error>> {
    let mut generator = Generator::new(root, layout, cfg)?;
    let reports = vec![generator.full_load()?, generator.cdc_cycle(TXNS)?, generator.cdc_cycle(TXNS)?];
    Ok((generator, reports))
}

/// Every file under `root`, relative and sorted.
fn files_under(root: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root)?.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn mtime(path: &Path) -> Result<SystemTime, Box<dyn Error>> {
    Ok(std::fs::metadata(path)?.modified()?)
}

fn count(conn: &Connection, sql: &str) -> Result<i64, Box<dyn Error>> {
    conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map_err(|e| format!("{sql}: {e}").into())
}

fn cdc(root: &Path, schema: &str, table: &str) -> String {
    format!("read_parquet('{}/cdc/{schema}/{table}/*/*.parquet', filename = true)", root.display())
}

fn full(root: &Path, schema: &str, table: &str) -> String {
    format!("read_parquet('{}/full/{schema}/{table}/*.parquet', filename = true)", root.display())
}

fn hard(reports: &[CycleReport], case: &str) -> usize {
    reports.iter().map(|r| r.hard_cases.get(case).copied().unwrap_or(0)).sum()
}

fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn layout_names_and_columns_follow_dms() -> TestResult {
    // GIVEN a layout with its own schema and column names
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let layout = DmsLayout {
        schema: "src".into(),
        ts_column: "dms_ts".into(),
        seq_column: "dms_seq".into(),
        ..DmsLayout::default()
    };
    // WHEN a full load and two cycles are generated and delivered
    let (mut generator, _) = run(root, layout, small(1))?;
    generator.finish()?;
    let files = files_under(root)?;

    // THEN every file is a finished Parquet file at a DMS path
    let mut load_files: Vec<String> = Vec::new();
    for f in &files {
        let parts: Vec<String> = f.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let name = parts.last().cloned().unwrap_or_default();
        assert!(name.ends_with(".parquet") && !name.starts_with('.'), "stray file {f:?}");
        assert_eq!(parts[1], "src");
        assert!(ALL_TABLES.contains(&parts[2].as_str()), "{f:?}");
        match parts[0].as_str() {
            "full" => {
                assert_eq!(parts.len(), 4, "{f:?}");
                let stem = name.trim_end_matches(".parquet");
                assert!(stem.starts_with("LOAD") && is_digits(&stem[4..], 8), "{f:?}");
                if parts[2] == "pgbench_accounts" {
                    load_files.push(name);
                }
            }
            "cdc" => {
                assert_eq!(parts.len(), 5, "{f:?}");
                assert!(is_digits(&parts[3], 8), "{f:?}");
                let stem = name.trim_end_matches(".parquet");
                let (date, time) = stem.split_once('-').ok_or("no dash")?;
                assert!(is_digits(date, 8) && is_digits(time, 9), "{f:?}");
            }
            other => panic!("unexpected top folder {other}"),
        }
    }
    // AND the 400 accounts are split into LOAD00000001..3 of at most 150 rows
    load_files.sort();
    let numbered: Vec<String> = (1..=load_files.len()).map(|n| format!("LOAD{n:08}.parquet")).collect();
    assert_eq!(load_files, numbered);
    assert!(load_files.len() >= 3);
    let conn = Connection::open_in_memory()?;
    let max_per_file = count(
        &conn,
        &format!(
            "SELECT max(n) FROM (SELECT count(*) n FROM {} GROUP BY filename)",
            full(root, "src", "pgbench_accounts")
        ),
    )?;
    assert!(max_per_file <= 150);

    // AND the columns and types are exactly the DMS ones
    let table_cols = |t: &str| -> Vec<(&str, &str)> {
        match t {
            "pgbench_branches" => vec![("bid", "INTEGER"), ("bbalance", "INTEGER"), ("filler", "VARCHAR")],
            "pgbench_tellers" => {
                vec![("tid", "INTEGER"), ("bid", "INTEGER"), ("tbalance", "INTEGER"), ("filler", "VARCHAR")]
            }
            "pgbench_accounts" => {
                vec![("aid", "INTEGER"), ("bid", "INTEGER"), ("abalance", "INTEGER"), ("filler", "VARCHAR")]
            }
            _ => vec![
                ("tid", "INTEGER"),
                ("bid", "INTEGER"),
                ("aid", "INTEGER"),
                ("delta", "INTEGER"),
                ("mtime", "TIMESTAMP"),
                ("filler", "VARCHAR"),
            ],
        }
    };
    for table in TABLES {
        for (kind, head) in [
            ("full", vec![("dms_ts", "TIMESTAMP")]),
            ("cdc", vec![("Op", "VARCHAR"), ("dms_ts", "TIMESTAMP"), ("dms_seq", "VARCHAR")]),
        ] {
            let file = files.iter().find(|f| f.starts_with(kind) && f.iter().any(|p| p == table)).ok_or("no file")?;
            let mut stmt =
                conn.prepare(&format!("DESCRIBE SELECT * FROM read_parquet('{}')", root.join(file).display()))?;
            let got: Vec<(String, String)> = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<_, _>>()?;
            let want: Vec<(String, String)> =
                head.iter().chain(table_cols(table).iter()).map(|(n, t)| (n.to_string(), t.to_string())).collect();
            assert_eq!(got, want, "{kind} {table}");
        }
    }

    // AND each CDC file sits in the date folder of its name (DMS folders and
    // names a file by when it writes it), is named after a flush time not
    // before its changes, and has only I/U/D
    for table in ALL_TABLES {
        let src = cdc(root, "src", table);
        let misplaced = count(
            &conn,
            &format!(
                "SELECT count(*) FROM {src} WHERE regexp_extract(filename, '/(\\d{{8}})-[^/]+$', 1) <> regexp_extract(filename, '/(\\d{{8}})/[^/]+$', 1) \
                 OR strptime(regexp_extract(filename, '(\\d{{8}}-\\d{{9}})\\.parquet$', 1), '%Y%m%d-%H%M%S%g') < date_trunc('millisecond', dms_ts) \
                 OR Op NOT IN ('I', 'U', 'D')"
            ),
        )?;
        assert_eq!(misplaced, 0, "{table}");
    }
    // AND the sequence is 35 digits, unique, and ordering by it never goes back in time
    let union = ALL_TABLES
        .iter()
        .map(|t| format!("SELECT dms_ts, dms_seq FROM {}", cdc(root, "src", t)))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let bad_seq = count(
        &conn,
        &format!(
            "WITH s AS ({union}) SELECT count(*) FROM (SELECT dms_ts, dms_seq, lag(dms_ts) OVER (ORDER BY dms_seq) prev FROM s) \
             WHERE NOT regexp_full_match(dms_seq, '\\d{{35}}') OR prev > dms_ts"
        ),
    )?;
    assert_eq!(bad_seq, 0);
    let dup = count(&conn, &format!("WITH s AS ({union}) SELECT count(*) - count(DISTINCT dms_seq) FROM s"))?;
    assert_eq!(dup, 0);
    // AND inside each CDC file the rows are in commit (sequence) order
    for table in ALL_TABLES {
        let src = cdc(root, "src", table).replace("filename = true", "filename = true, file_row_number = true");
        let unordered = count(
            &conn,
            &format!(
                "SELECT count(*) FROM (SELECT dms_seq, lag(dms_seq) OVER (PARTITION BY filename ORDER BY file_row_number) prev \
                 FROM {src}) WHERE prev >= dms_seq"
            ),
        )?;
        assert_eq!(unordered, 0, "{table}");
    }
    // AND NULL fillers occur in the full load and in CDC files
    assert!(
        count(&conn, &format!("SELECT count(*) FROM {} WHERE filler IS NULL", full(root, "src", "pgbench_accounts")))?
            > 0
    );
    assert!(
        count(&conn, &format!("SELECT count(*) FROM {} WHERE filler IS NULL", cdc(root, "src", "pgbench_history")))?
            > 0
    );
    Ok(())
}

#[test]
fn the_same_seed_gives_the_same_files_and_expected_rows() -> TestResult {
    // GIVEN two generators with the same seed and one with another seed
    let (a, b, c) = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
    // WHEN each runs a full load, two cycles and finish
    let (mut ga, ra) = run(a.path(), DmsLayout::default(), small(5))?;
    let (mut gb, rb) = run(b.path(), DmsLayout::default(), small(5))?;
    let (mut gc, _) = run(c.path(), DmsLayout::default(), small(6))?;
    ga.finish()?;
    gb.finish()?;
    gc.finish()?;
    // THEN the same seed gives the same file list, bytes, mtimes and reports
    let (fa, fb) = (files_under(a.path())?, files_under(b.path())?);
    assert_eq!(fa, fb);
    for f in &fa {
        assert_eq!(std::fs::read(a.path().join(f))?, std::fs::read(b.path().join(f))?, "{f:?}");
        assert_eq!(mtime(&a.path().join(f))?, mtime(&b.path().join(f))?, "{f:?}");
    }
    let strip = |r: &[CycleReport]| -> Vec<(usize, usize, Vec<String>)> {
        r.iter().map(|x| (x.files_written, x.transactions, x.days.iter().cloned().collect())).collect()
    };
    assert_eq!(strip(&ra), strip(&rb));
    // AND the same expected rows
    let conn = Connection::open_in_memory()?;
    ga.write_expected(&conn, "a")?;
    gb.write_expected(&conn, "b")?;
    for t in ALL_TABLES {
        let diff = count(
            &conn,
            &format!(
                "SELECT count(*) FROM ((SELECT * FROM a.{t} EXCEPT ALL SELECT * FROM b.{t}) UNION ALL (SELECT * FROM b.{t} EXCEPT ALL SELECT * FROM a.{t}))"
            ),
        )?;
        assert_eq!(diff, 0, "{t}");
    }
    // AND another seed gives different data
    let fc = files_under(c.path())?;
    let differs =
        fa != fc || fa.iter().any(|f| std::fs::read(a.path().join(f)).ok() != std::fs::read(c.path().join(f)).ok());
    assert!(differs);
    Ok(())
}

#[test]
fn every_hard_case_is_in_the_written_files() -> TestResult {
    // GIVEN a full load and two cycles (the first crosses midnight)
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let (mut generator, reports) = run(root, DmsLayout::default(), small(9))?;
    let conn = Connection::open_in_memory()?;
    let acc = cdc(root, "public", "pgbench_accounts");

    // THEN the reports count every case
    for case in [
        "txn_multiple_changes_same_ts",
        "txn_same_account_updated_twice",
        "txn_delete_then_reinsert_same_aid",
        "file_key_changed_multiple_times",
        "file_account_changed_multiple_times",
        "key_changed_across_files",
        "account_changed_across_files",
        "midnight_split_files",
        "late_files_held_back",
        "late_files_delivered",
        "late_update_older_than_delete",
        "fullload_row_newer_than_cdc_change",
        "cdc_change_newer_than_fullload_row",
        "history_in_full_load_and_cdc",
        "types_rows_written",
        "types_txn_same_sample_updated_twice",
        "types_txn_delete_then_reinsert_same_key",
        "types_update_sets_every_value_null",
        "types_update_sets_values_back_from_null",
        "types_key_deleted_beside_trailing_space_twins",
        "types_event_in_full_load_and_cdc",
    ] {
        assert!(hard(&reports, case) > 0, "{case} missing: {reports:?}");
    }
    assert_eq!(reports[1].days, BTreeSet::from(["20261101".to_string(), "20261102".to_string()]));

    // AND (1) an account changes twice in one file, and in several files
    let in_file = count(
        &conn,
        &format!("SELECT count(*) FROM (SELECT filename, aid FROM {acc} GROUP BY ALL HAVING count(*) >= 2)"),
    )?;
    assert!(in_file > 0);
    let across = count(
        &conn,
        &format!("SELECT count(*) FROM (SELECT aid FROM {acc} GROUP BY aid HAVING count(DISTINCT filename) >= 2)"),
    )?;
    assert!(across > 0);
    // AND (2) an account is updated twice with one commit ts, told apart by the sequence
    let twice = count(
        &conn,
        &format!(
            "SELECT count(*) FROM (SELECT aid, changets FROM {acc} WHERE Op = 'U' GROUP BY ALL \
             HAVING count(*) >= 2 AND count(DISTINCT ar_h_change_seq) = count(*))"
        ),
    )?;
    assert!(twice > 0);
    // AND (3) a D then an I of the same aid share the commit ts with consecutive positions
    let reinsert = count(
        &conn,
        &format!(
            "SELECT count(*) FROM {acc} d JOIN {acc} i ON d.aid = i.aid AND d.changets = i.changets \
             WHERE d.Op = 'D' AND i.Op = 'I' AND i.ar_h_change_seq > d.ar_h_change_seq"
        ),
    )?;
    assert!(reinsert > 0);

    // AND (4) the file held back in cycle 1 arrived in cycle 2: older folder and name, newest mtime
    assert!(reports[1].late_files.is_empty());
    assert_eq!(reports[2].late_files.len(), 1);
    let late = reports[2].late_files[0].clone();
    assert!(late.starts_with(root.join("cdc/public/pgbench_accounts/20261101")), "{late:?}");
    let late_mtime = mtime(&late)?;
    let cdc_files: Vec<PathBuf> =
        files_under(root)?.into_iter().filter(|f| f.starts_with("cdc")).map(|f| root.join(f)).collect();
    for f in cdc_files.iter().filter(|f| **f != late) {
        assert!(mtime(f)? < late_mtime, "{f:?} is not older than the late file");
    }
    let newer_name_older_mtime = cdc_files
        .iter()
        .filter(|f| f.starts_with(root.join("cdc/public/pgbench_accounts")) && f.file_name() > late.file_name())
        .count();
    assert!(newer_name_older_mtime > 0);

    // AND (5) the late file updates an account that a file delivered before it deletes later
    let late_u_before_d = count(
        &conn,
        &format!(
            "SELECT count(*) FROM read_parquet('{}') u JOIN {acc} d ON u.aid = d.aid \
             WHERE u.Op = 'U' AND d.Op = 'D' AND d.ar_h_change_seq > u.ar_h_change_seq AND d.filename <> '{}'",
            late.display(),
            late.display()
        ),
    )?;
    assert!(late_u_before_d > 0);

    // AND (6) a full-load row carries a later ts than a CDC change of the same key
    let full_newer = count(
        &conn,
        &format!(
            "SELECT count(*) FROM {} f JOIN {acc} c ON f.aid = c.aid WHERE f.changets > c.changets",
            full(root, "public", "pgbench_accounts")
        ),
    )?;
    assert!(full_newer > 0);
    // AND (7) a history row is in both the full load and the CDC stream
    let both = count(
        &conn,
        &format!(
            "SELECT count(*) FROM {} f JOIN {} c USING (tid, bid, aid, delta, mtime) WHERE f.filler IS NOT DISTINCT FROM c.filler",
            full(root, "public", "pgbench_history"),
            cdc(root, "public", "pgbench_history")
        ),
    )?;
    assert!(both > 0);

    // AND finish delivers the file held in cycle 2 and nothing else
    let before = files_under(root)?.len();
    let last = generator.finish()?;
    assert_eq!((last.files_written, last.late_files.len(), last.transactions), (1, 1, 0));
    assert_eq!(files_under(root)?.len(), before + 1);
    Ok(())
}

/// Reference fold in SQL over the files on disk, per table: what the target
/// must hold. Columns: table columns, changets, ar_h_change_seq.
fn fold_sql(root: &Path, table: &str) -> String {
    let (key, cols) = match table {
        "pgbench_branches" => ("bid", "bid, bbalance, filler"),
        "pgbench_tellers" => ("tid", "tid, bid, tbalance, filler"),
        "pgbench_accounts" => ("aid", "aid, bid, abalance, filler"),
        "type_samples" => (
            "k_text, k_int",
            "k_text, k_int, c_smallint, c_integer, c_bigint, c_real, c_double, c_boolean, c_date, c_timestamp, c_numeric, c_varchar, c_text, c_char",
        ),
        "type_events" => (
            "",
            "e_id, c_smallint, c_integer, c_bigint, c_real, c_double, c_boolean, c_date, c_timestamp, c_numeric, c_varchar, c_text, c_char",
        ),
        _ => ("", "tid, bid, aid, delta, mtime, filler"),
    };
    let (f, c) = (full(root, "public", table), cdc(root, "public", table));
    if key.is_empty() {
        let same: Vec<String> = cols.split(", ").map(|col| format!("y.{col} IS NOT DISTINCT FROM x.{col}")).collect();
        return format!(
            "SELECT {cols}, changets, NULL::VARCHAR FROM {f} UNION ALL \
             SELECT {cols}, changets, ar_h_change_seq FROM {c} x WHERE Op = 'I' AND NOT EXISTS \
             (SELECT 1 FROM {f} y WHERE {})",
            same.join(" AND ")
        );
    }
    format!(
        "WITH u AS (SELECT 0 AS src, 'I' AS Op, changets, NULL::VARCHAR AS seq, {cols} FROM {f} \
                    UNION ALL SELECT 1, Op, changets, ar_h_change_seq, {cols} FROM {c}), \
              r AS (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY src DESC, changets DESC, seq DESC) rn FROM u) \
         SELECT {cols}, changets, seq FROM r WHERE rn = 1 AND Op <> 'D'"
    )
}

fn assert_expected_matches_files(generator: &Generator, root: &Path) -> TestResult {
    let conn = Connection::open_in_memory()?;
    generator.write_expected(&conn, "expected")?;
    for t in ALL_TABLES {
        let fold = fold_sql(root, t);
        let diff = count(
            &conn,
            &format!(
                "SELECT count(*) FROM ((SELECT * FROM expected.{t} EXCEPT ALL ({fold})) UNION ALL (({fold}) EXCEPT ALL SELECT * FROM expected.{t}))"
            ),
        )?;
        assert_eq!(diff, 0, "{t}");
        assert!(count(&conn, &format!("SELECT count(*) FROM expected.{t}"))? > 0);
    }
    Ok(())
}

#[test]
fn the_expected_state_follows_only_the_delivered_files() -> TestResult {
    // GIVEN a full load and a cycle whose held-back file is not yet delivered
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let mut generator = Generator::new(root, DmsLayout::default(), small(3))?;
    generator.full_load()?;
    // THEN after the full load the expected state is the fold of the files on disk
    assert_expected_matches_files(&generator, root)?;
    generator.cdc_cycle(TXNS)?;
    assert!(!generator.all_delivered());
    // AND while a file is held back it still is
    assert_expected_matches_files(&generator, root)?;
    // AND the truth differs from it (the held file's changes are missing)
    let conn = Connection::open_in_memory()?;
    generator.write_expected(&conn, "expected")?;
    generator.write_source_truth(&conn, "truth")?;
    let cols = "aid, bid, abalance, filler";
    let diff = count(
        &conn,
        &format!(
            "SELECT count(*) FROM (SELECT {cols} FROM truth.pgbench_accounts EXCEPT SELECT {cols} FROM expected.pgbench_accounts)"
        ),
    )?;
    assert!(diff > 0);
    // WHEN the late file arrives with the next cycle and finish
    generator.cdc_cycle(TXNS)?;
    generator.finish()?;
    // THEN the expected state is again the fold of the files on disk
    assert!(generator.all_delivered());
    assert_expected_matches_files(&generator, root)?;
    Ok(())
}

/// Demo scale: 1 branch x 100000 accounts, 6 cycles of 20000 transactions.
/// Run with `cargo nextest run --cargo-profile fast -p cdc-dmsgen --run-ignored only`.
#[test]
#[ignore = "timing at demo scale"]
fn demo_scale_generation_is_fast() -> TestResult {
    let dir = tempfile::tempdir()?;
    let started = std::time::Instant::now();
    let mut generator = Generator::new(dir.path(), DmsLayout::default(), GeneratorConfig::default())?;
    let full = generator.full_load()?;
    let after_full = started.elapsed();
    let mut reports = vec![full];
    for _ in 0..6 {
        reports.push(generator.cdc_cycle(20_000)?);
    }
    reports.push(generator.finish()?);
    let total = started.elapsed();
    let mut days = BTreeSet::new();
    for r in &reports {
        days.extend(r.days.iter().cloned());
        println!(
            "txns {} files {} late {} changes {:?}\n  hard cases {:?}",
            r.transactions,
            r.files_written,
            r.late_files.len(),
            r.changes_by_table,
            r.hard_cases
        );
    }
    let files: usize = reports.iter().map(|r| r.files_written).sum();
    println!("full load {after_full:?}, total {total:?}, files {files}, days {days:?}, now {}", generator.now());
    let t = std::time::Instant::now();
    let conn = Connection::open_in_memory()?;
    generator.write_expected(&conn, "expected")?;
    generator.write_source_truth(&conn, "truth")?;
    println!("oracle written in {:?}", t.elapsed());
    assert!(total.as_secs() < 30);
    Ok(())
}
