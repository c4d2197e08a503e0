//! The types tables through the generator: the hard values in the written
//! Parquet files (read back with DuckDB here, in the test only) with the
//! Parquet types DMS writes, the oracle against the source, and the keys
//! that differ only by trailing spaces.

use std::path::{Path, PathBuf};

use cdc_core::ports::FileColumnType;
use chrono::{DateTime, NaiveDate};
use duckdb::types::{TimeUnit, ValueRef};

use crate::model::{Row, Table, seq_string};
use crate::oracle::typed_row;
use crate::types::{Decimal, SPACE_KEYS, TypedValue};
use crate::{DmsLayout, Generator, GeneratorConfig};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The value columns both types tables end with.
const VALUE_COLUMNS: [&str; 12] = [
    "c_smallint",
    "c_integer",
    "c_bigint",
    "c_real",
    "c_double",
    "c_boolean",
    "c_date",
    "c_timestamp",
    "c_numeric",
    "c_varchar",
    "c_text",
    "c_char",
];

fn small(seed: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        branches: 1,
        accounts_per_branch: 200,
        txns_during_full_load: 30,
        max_rows_per_file: 400,
        full_file_rows: 150,
        ..GeneratorConfig::default()
    }
}

/// Parquet files under `dir`, recursively, sorted.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A Parquet value as the typed value of its own type: a smallint read back
/// as an integer, or a decimal at another scale, would not be equal.
fn typed_of(v: ValueRef<'_>) -> TypedValue {
    match v {
        ValueRef::Null => TypedValue::Null,
        ValueRef::SmallInt(i) => TypedValue::SmallInt(i),
        ValueRef::Int(i) => TypedValue::Integer(i),
        ValueRef::BigInt(i) => TypedValue::BigInt(i),
        ValueRef::Float(f) => TypedValue::Real(f),
        ValueRef::Double(f) => TypedValue::Double(f),
        ValueRef::Boolean(b) => TypedValue::Boolean(b),
        ValueRef::Date32(days) => {
            let date = NaiveDate::default().checked_add_signed(chrono::Duration::days(i64::from(days)));
            TypedValue::Date(date.expect("a date in chrono's range"))
        }
        ValueRef::Timestamp(TimeUnit::Microsecond, us) => {
            TypedValue::Timestamp(DateTime::from_timestamp_micros(us).expect("a timestamp in range").naive_utc())
        }
        ValueRef::Decimal(d) => {
            assert_eq!((d.width(), d.scale()), (18, 4), "numeric(18,4) is DECIMAL(18,4) in Parquet");
            TypedValue::Numeric(Decimal::new(d.value(), u32::from(d.scale())))
        }
        ValueRef::Text(t) => TypedValue::Text(String::from_utf8(t.to_vec()).expect("UTF-8 text")),
        other => panic!("unexpected Parquet value {other:?}"),
    }
}

/// Every row of the files, in file order, every column typed.
fn read_rows(conn: &duckdb::Connection, files: &[PathBuf]) -> Result<Vec<Vec<TypedValue>>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for f in files {
        let mut stmt = conn.prepare(&format!("SELECT * FROM read_parquet('{}')", f.display()))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let n = r.as_ref().column_count();
            out.push((0..n).map(|i| r.get_ref(i).map(typed_of)).collect::<Result<Vec<_>, _>>()?);
        }
    }
    Ok(out)
}

/// Removes from `actual` one equal row per `expected` row; returns what is
/// left on both sides (empty and empty: the same multiset).
fn multiset_diff(
    expected: &[Vec<TypedValue>],
    mut actual: Vec<Vec<TypedValue>>,
) -> (Vec<Vec<TypedValue>>, Vec<Vec<TypedValue>>) {
    let mut missing = Vec::new();
    for e in expected {
        match actual.iter().position(|a| a == e) {
            Some(i) => {
                actual.swap_remove(i);
            }
            None => missing.push(e.clone()),
        }
    }
    (missing, actual)
}

fn ts(t: crate::model::Micros) -> TypedValue {
    TypedValue::Timestamp(t.to_datetime().naive_utc())
}

#[test]
fn the_types_tables_files_hold_exactly_the_source_values_with_the_dms_parquet_types() -> TestResult {
    // GIVEN a full load and two cycles, everything delivered
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let mut generator = Generator::new(root, DmsLayout::default(), small(21))?;
    generator.full_load()?;
    generator.cdc_cycle(200)?;
    generator.cdc_cycle(200)?;
    generator.finish()?;
    let conn = duckdb::Connection::open_in_memory()?;
    // The value columns of both tables, as read back from the files.
    let mut values: Vec<Vec<TypedValue>> = Vec::new();

    for table in [Table::TypeSamples, Table::TypeEvents] {
        let full = parquet_files(&root.join("full/public").join(table.name()));
        let cdc = parquet_files(&root.join("cdc/public").join(table.name()));
        assert!(!full.is_empty() && !cdc.is_empty(), "{}", table.name());

        // THEN every column has the Parquet type DMS writes for its source type
        let file_list: Vec<String> = full.iter().chain(&cdc).map(|f| format!("'{}'", f.display())).collect();
        let mut stmt = conn.prepare(&format!(
            "SELECT file_name, name, type, converted_type, scale, precision, logical_type \
             FROM parquet_schema([{}]) WHERE type IS NOT NULL",
            file_list.join(", ")
        ))?;
        let mut rows = stmt.query([])?;
        let mut seen = 0;
        while let Some(r) = rows.next()? {
            let (file, name, physical): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let (converted, scale, precision, logical): (Option<String>, Option<i64>, Option<i64>, Option<String>) =
                (r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?);
            let ty =
                FileColumnType::from_parquet(&physical, converted.as_deref(), logical.as_deref(), precision, scale);
            let want = match name.as_str() {
                "Op" | "ar_h_change_seq" | "k_text" | "c_varchar" | "c_text" | "c_char" => FileColumnType::String,
                "changets" | "c_timestamp" => FileColumnType::Timestamp,
                "c_smallint" => FileColumnType::Int16,
                "k_int" | "e_id" | "c_integer" => FileColumnType::Int32,
                "c_bigint" => FileColumnType::Int64,
                "c_real" => FileColumnType::Float32,
                "c_double" => FileColumnType::Float64,
                "c_boolean" => FileColumnType::Boolean,
                "c_date" => FileColumnType::Date,
                "c_numeric" => FileColumnType::Decimal(18, 4),
                other => panic!("unexpected column {other} in {file}"),
            };
            assert_eq!(ty, want, "{name} in {file}");
            if ty == FileColumnType::Timestamp {
                let unit = format!("{converted:?} {logical:?}");
                assert!(unit.contains("MICROS"), "{name} in {file} is not in microseconds: {unit}");
            }
            seen += 1;
        }
        let per_file = table.columns().len();
        assert_eq!(seen, full.len() * (per_file + 1) + cdc.len() * (per_file + 3));

        // AND the full-load files hold the transfer ts then exactly the rows scanned, value for value
        let want_full: Vec<Vec<TypedValue>> = generator
            .log
            .full_rows
            .iter()
            .filter(|r| r.row.table() == table)
            .map(|r| std::iter::once(ts(r.ts)).chain(typed_row(&r.row)).collect())
            .collect();
        let got_full = read_rows(&conn, &full)?;
        assert_eq!(got_full.len(), want_full.len());
        let (missing, unexpected) = multiset_diff(&want_full, got_full);
        assert!(missing.is_empty() && unexpected.is_empty(), "{}: {missing:?} {unexpected:?}", table.name());

        // AND the CDC files hold Op, commit ts, sequence, then exactly the captured row images
        let want_cdc: Vec<Vec<TypedValue>> = generator
            .log
            .changes
            .iter()
            .filter(|c| c.row.table() == table)
            .map(|c| {
                let head =
                    [TypedValue::Text(c.op.code().to_string()), ts(c.ts), TypedValue::Text(seq_string(c.ts, c.seq))];
                head.into_iter().chain(typed_row(&c.row)).collect()
            })
            .collect();
        let got_cdc = read_rows(&conn, &cdc)?;
        assert_eq!(got_cdc.len(), want_cdc.len());
        let (missing, unexpected) = multiset_diff(&want_cdc, got_cdc.clone());
        assert!(missing.is_empty() && unexpected.is_empty(), "{}: {missing:?} {unexpected:?}", table.name());

        // AND each table has a row with every value column NULL, and long multibyte texts
        let read: Vec<Vec<TypedValue>> = read_rows(&conn, &full)?
            .into_iter()
            .map(|r| r[1..].to_vec())
            .chain(got_cdc.into_iter().map(|r| r[3..].to_vec()))
            .collect();
        let first_value = table.columns().len() - VALUE_COLUMNS.len();
        assert!(read.iter().any(|r| r[first_value..].iter().all(|v| *v == TypedValue::Null)), "{}", table.name());
        let long = first_value + 10;
        assert!(
            read.iter().any(
                |r| matches!(&r[long], TypedValue::Text(t) if t.chars().count() >= 2000 && t.len() > t.chars().count())
            ),
            "no long multibyte c_text in {}",
            table.name()
        );
        if table == Table::TypeSamples {
            let keys: Vec<(TypedValue, TypedValue)> = read.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
            let extremes = [("a", i32::MIN), ("a", -1), ("a", 0), ("a", i32::MAX)];
            let others = [("K", 7), ("k", 7), ("ключ", 7), ("🙂", 7), ("it's", 2), ("back\\sl", 2), ("", 0)];
            for (k, i) in SPACE_KEYS.into_iter().chain(extremes).chain(others) {
                let key = (TypedValue::Text(k.to_string()), TypedValue::Integer(i));
                assert!(keys.contains(&key), "no key {key:?} in the files");
            }
        }
        values.extend(read.into_iter().map(|r| r[first_value..].to_vec()));
    }

    // AND the hard values are among the values read back from Parquet
    let has = |col: &str, v: TypedValue| {
        let i = VALUE_COLUMNS.iter().position(|c| *c == col).expect("column");
        assert!(values.iter().any(|r| r[i] == v), "no {col} = {v} in the files");
    };
    let text = |s: &str| TypedValue::Text(s.to_string());
    let dec = |s: &str| TypedValue::Numeric(Decimal::parse(s).expect("decimal"));
    let date = |y, m, d| TypedValue::Date(NaiveDate::from_ymd_opt(y, m, d).expect("date"));
    let stamp = |s: &str| {
        TypedValue::Timestamp(chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").expect("timestamp"))
    };
    for v in ["ÄÖÜäöß", "日本語テキス", "🙂🙂🙂🙂🙂🙂", "a'b\"c\\", "x\ny\tz", "%_$$*/", "", "-- x  ", "/*"]
    {
        has("c_varchar", text(v));
    }
    for v in ["äö ", "€€€", "   ", "'\"\\"] {
        has("c_char", text(v));
    }
    for col in VALUE_COLUMNS {
        has(col, TypedValue::Null);
    }
    has("c_smallint", TypedValue::SmallInt(i16::MIN));
    has("c_smallint", TypedValue::SmallInt(i16::MAX));
    has("c_integer", TypedValue::Integer(i32::MIN));
    has("c_integer", TypedValue::Integer(i32::MAX));
    has("c_bigint", TypedValue::BigInt(i64::MIN));
    has("c_bigint", TypedValue::BigInt(i64::MAX));
    has("c_real", TypedValue::Real(0.1));
    has("c_real", TypedValue::Real(-3.402_823_5e38));
    has("c_real", TypedValue::Real(f32::from_bits(1)));
    has("c_double", TypedValue::Double(5e-324));
    has("c_double", TypedValue::Double(f64::MAX));
    has("c_double", TypedValue::Double(1e-7));
    has("c_boolean", TypedValue::Boolean(true));
    has("c_boolean", TypedValue::Boolean(false));
    for v in ["-12345678901234.5678", "-0.0001", "0.0001", "99999999999999.9999", "12.5"] {
        has("c_numeric", dec(v));
    }
    has("c_date", date(1, 1, 1));
    has("c_date", date(2000, 2, 29));
    has("c_date", date(9999, 12, 31));
    for v in ["1900-01-01 00:00:00.000001", "2038-01-19 03:14:08", "9999-12-31 23:59:59.999999"] {
        has("c_timestamp", stamp(v));
    }
    Ok(())
}

#[test]
fn after_finish_the_expected_types_rows_are_the_source_rows() -> TestResult {
    // GIVEN a full load and three cycles (deletes, re-inserts, NULLs and back), a file held back in each
    let dir = tempfile::tempdir()?;
    let mut generator = Generator::new(dir.path(), DmsLayout::default(), small(22))?;
    generator.full_load()?;
    for _ in 0..3 {
        generator.cdc_cycle(150)?;
    }
    // WHEN every held-back file is delivered
    generator.finish()?;
    for table in crate::TYPES_TABLES {
        // THEN the oracle's typed rows, without ts and sequence, are the source's rows
        let mut expected = generator.expected_typed_rows(table)?;
        let width = crate::typed_columns(table).map_or(0, |c| c.len());
        assert!(expected.iter().all(|r| r.len() == width + 2), "{table}: columns, then ts and sequence");
        for r in &mut expected {
            r.truncate(width);
        }
        let truth = generator.source_typed_rows(table)?;
        assert!(!truth.is_empty());
        let (missing, unexpected) = multiset_diff(&truth, expected);
        assert!(missing.is_empty() && unexpected.is_empty(), "{table}: {missing:?} {unexpected:?}");
    }
    // AND the events committed during the full load are expected once
    let events = generator.expected_typed_rows("type_events")?;
    let ids: Vec<&TypedValue> = events.iter().map(|r| &r[0]).collect();
    for (i, id) in ids.iter().enumerate() {
        assert!(!ids[..i].contains(id), "event {id} twice");
    }
    // AND a table that is not a types table is refused
    assert!(generator.expected_typed_rows("pgbench_accounts").is_err());
    Ok(())
}

#[test]
fn keys_differing_only_by_trailing_spaces_stay_distinct_rows() -> TestResult {
    // GIVEN the keys 'a', 'a ' and 'a  ' (with k_int 1) in the full load
    let dir = tempfile::tempdir()?;
    let mut generator = Generator::new(dir.path(), DmsLayout::default(), small(23))?;
    generator.full_load()?;
    let space_rows = |g: &Generator| -> Result<Vec<Vec<TypedValue>>, crate::GenError> {
        let rows = g.expected_typed_rows("type_samples")?;
        Ok(rows
            .into_iter()
            .filter(|r| {
                SPACE_KEYS
                    .iter()
                    .any(|(t, i)| r[0] == TypedValue::Text(t.to_string()) && r[1] == TypedValue::Integer(*i))
            })
            .collect())
    };
    assert_eq!(space_rows(&generator)?.len(), 3);
    let mut previous = space_rows(&generator)?;
    for cycle in 1..=4 {
        // WHEN a cycle updates 'a' and 'a  ' and deletes 'a ' (odd cycles) or inserts it back (even ones)
        generator.cdc_cycle(100)?;
        generator.finish()?;
        let rows = space_rows(&generator)?;
        // THEN 'a ' is absent after an odd cycle and back after an even one, 'a' and 'a  ' always there
        let keys: Vec<TypedValue> = rows.iter().map(|r| r[0].clone()).collect();
        let want: Vec<&str> = if cycle % 2 == 1 { vec!["a", "a  "] } else { vec!["a", "a ", "a  "] };
        assert_eq!(keys, want.iter().map(|k| TypedValue::Text(k.to_string())).collect::<Vec<_>>(), "cycle {cycle}");
        // AND each of them carries its own latest values, not a twin's: every row changed this
        // cycle, and no two twins hold the same values
        for (i, r) in rows.iter().enumerate() {
            let before = previous.iter().find(|p| p[0] == r[0]);
            assert!(before.is_none_or(|b| b[2..] != r[2..]), "cycle {cycle}: {:?} did not change", r[0]);
            assert!(rows[..i].iter().all(|o| o[2..14] != r[2..14]), "cycle {cycle}: {:?} holds a twin's values", r[0]);
        }
        // AND the source agrees
        let truth = generator.source_typed_rows("type_samples")?;
        let in_truth = truth
            .iter()
            .filter(|t| {
                SPACE_KEYS
                    .iter()
                    .any(|(k, i)| t[0] == TypedValue::Text(k.to_string()) && t[1] == TypedValue::Integer(*i))
            })
            .count();
        assert_eq!(in_truth, want.len());
        previous = rows;
    }
    // AND the files carry the keys byte for byte: a delete of 'a ' and changes of 'a' and 'a  ' in one transaction
    let deletes = generator
        .log
        .changes
        .iter()
        .filter(|c| matches!(&c.row, Row::Sample(s) if s.k_text == "a " && c.op == crate::model::Op::Delete))
        .count();
    assert_eq!(deletes, 2);
    Ok(())
}
