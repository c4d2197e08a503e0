//! The demo's oracle check: every target table against what a correct
//! pipeline must hold given the files delivered so far, and, once every file
//! is delivered, the oracle itself against the source database's truth; and
//! the types tables value for value, read through the warehouse port and
//! compared with the generator's own Rust values.

use anyhow::{Context, bail};
use chrono::{NaiveDate, NaiveDateTime};
use duckdb::Connection;

use cdc_core::PipelineConfig;
use cdc_core::ports::{Cell, Warehouse, run_to_completion};
use cdc_core::sql::{StatementBatch, names};
use cdc_dmsgen::{Decimal, Generator, TypedValue};

const ORACLE_SCHEMA: &str = "cdc_oracle";
const SOURCE_SCHEMA: &str = "cdc_source";

#[derive(Debug)]
pub struct TableCheck {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: u64,
    pub missing: u64,
    pub unexpected: u64,
    pub samples: Vec<String>,
}

impl TableCheck {
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.unexpected == 0
    }
}

pub struct Verification {
    pub tables: Vec<TableCheck>,
    /// Whether the oracle was also checked against the source truth.
    pub source_checked: bool,
}

/// The columns a target row is compared on with the oracle's, quoted: the
/// table's own, then the commit timestamp and the sequence column.
pub fn compared_columns(t: &cdc_core::TableConfig) -> Vec<String> {
    let mut cols: Vec<String> = t.columns.iter().map(|c| c.name.quoted()).collect();
    cols.push(t.commit_ts_column.quoted());
    cols.extend(t.sequence_column.iter().map(|s| s.quoted()));
    cols
}

pub fn verify(cfg: &PipelineConfig, conn: &Connection, generator: &Generator) -> anyhow::Result<Verification> {
    generator.write_expected(conn, ORACLE_SCHEMA).context("writing the oracle's expected tables")?;
    let mut tables = Vec::new();
    for t in &cfg.tables {
        let mut cols = compared_columns(t);
        let expected = format!("{ORACLE_SCHEMA}.{}", t.name.quoted());
        // Columns the source added mid-stream: the target has gained each one
        // some delivered file carried. One no file carried yet (every row
        // image since the ALTER still to come) must be NULL throughout in the
        // oracle, and is not in the target.
        for c in generator.added_columns(t.name.as_str()) {
            if column_type(conn, &names::target(cfg, t), c)?.is_some() {
                cols.push(format!("\"{c}\""));
            } else {
                let set: i64 = conn.query_row(&format!("SELECT count(\"{c}\") FROM {expected}"), [], |r| r.get(0))?;
                anyhow::ensure!(
                    set == 0,
                    "{}: the oracle has {set} value(s) of column {c}, the target no such column",
                    t.name
                );
            }
        }
        // A column the source made bigint: once every file is delivered the
        // target holds it as one (the rebuild's type change).
        for c in generator.retyped_columns(t.name.as_str()) {
            if generator.all_delivered() {
                let ty = column_type(conn, &names::target(cfg, t), c)?.unwrap_or_else(|| "missing".into());
                anyhow::ensure!(
                    ty == "BIGINT",
                    "{}: column {c} is {ty} in the target, the source made it bigint",
                    t.name
                );
            }
        }
        tables.push(compare(conn, t.name.as_str(), &names::target(cfg, t), &expected, &cols)?);
    }
    for dt in &cfg.derived {
        // The derived table must equal its SELECT over the verified tables:
        // proof that it was refreshed after this cycle's loads.
        let fresh = format!("({})", dt.sql);
        tables.push(compare(conn, dt.name.as_str(), &names::derived(cfg, &dt.name), &fresh, &["*".to_string()])?);
    }
    let source_checked = generator.all_delivered();
    if source_checked {
        generator.write_source_truth(conn, SOURCE_SCHEMA).context("writing the source truth")?;
        for t in &cfg.tables {
            let cols: Vec<String> = t.columns.iter().map(|c| c.name.quoted()).collect();
            let name = format!("oracle vs source: {}", t.name);
            let check = compare(
                conn,
                &name,
                &format!("{ORACLE_SCHEMA}.{}", t.name.quoted()),
                &format!("{SOURCE_SCHEMA}.{}", t.name.quoted()),
                &cols,
            )?;
            if !check.ok() {
                bail!("the oracle disagrees with the source truth for {}: {:?}", t.name, check.samples);
            }
        }
    }
    Ok(Verification { tables, source_checked })
}

/// Whether the table (`"schema"."table"`) has the column.
/// A column's type as DuckDB names it (`BIGINT`), or `None` when the
/// table has no such column.
fn column_type(conn: &Connection, table: &str, column: &str) -> anyhow::Result<Option<String>> {
    let sql = format!("SELECT column_type FROM (DESCRIBE {table}) WHERE column_name = ?");
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([column])?;
    Ok(match rows.next().with_context(|| format!("the type of {table}.{column}"))? {
        Some(row) => Some(row.get(0)?),
        None => None,
    })
}

fn compare(conn: &Connection, name: &str, actual: &str, expected: &str, cols: &[String]) -> anyhow::Result<TableCheck> {
    let list = cols.join(", ");
    let diff = |a: &str, b: &str| format!("SELECT {list} FROM {a} EXCEPT ALL SELECT {list} FROM {b}");
    let count = |sql: String| -> anyhow::Result<u64> {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM ({sql})"), [], |r| r.get(0))?;
        Ok(n as u64)
    };
    let unexpected = count(diff(actual, expected)).with_context(|| format!("comparing {name}"))?;
    let missing = count(diff(expected, actual)).with_context(|| format!("comparing {name}"))?;
    let rows = count(format!("SELECT * FROM {actual}"))?;
    let mut samples = Vec::new();
    for (label, sql) in [("unexpected", diff(actual, expected)), ("missing", diff(expected, actual))] {
        let mut stmt = conn.prepare(&format!("SELECT CAST(d AS VARCHAR) FROM ({sql} LIMIT 3) d"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for r in rows {
            samples.push(format!("{label}: {}", r?));
        }
    }
    let columns = cols.iter().map(|c| c.trim_matches('"').to_string()).collect();
    Ok(TableCheck { table: name.to_string(), columns, rows, missing, unexpected, samples })
}

/// One exported day against its oracle, the raw day itself read straight
/// from the DMS files: the same rows, as a multiset. Returns the row count.
pub fn verify_unloaded_day(
    conn: &Connection,
    t: &cdc_core::TableConfig,
    op_in_files: bool,
    raw_day_files: &[String],
    optimized_day_dir: &std::path::Path,
) -> anyhow::Result<u64> {
    // The raw timestamp may be DMS's text; the optimized zone's is a TIMESTAMP.
    let mut cols = vec![format!("CAST({0} AS TIMESTAMP) AS {0}", t.commit_ts_column.quoted())];
    cols.extend(t.sequence_column.iter().map(|s| s.quoted()));
    cols.extend(t.columns.iter().map(|c| c.name.quoted()));
    let cols = cols.join(", ");
    let lit = |s: &str| cdc_core::sql::Dialect::DuckDb.literal(s);
    if raw_day_files.is_empty() {
        bail!("{}: no raw CDC file of the day exported to {}", t.name, optimized_day_dir.display());
    }
    let list: Vec<String> = raw_day_files.iter().map(|f| lit(f)).collect();
    // Inserts-only CDC files carry no `Op`; the export writes `I` (docs/dms.md).
    let op = if op_in_files { "\"Op\"" } else { "'I'" };
    let raw = format!("SELECT {op} AS op, {cols} FROM read_parquet([{}], union_by_name = true)", list.join(", "));
    let opt =
        format!("SELECT op, {cols} FROM read_parquet({})", lit(&format!("{}/*.parquet", optimized_day_dir.display())));
    let count = |sql: String| -> anyhow::Result<u64> {
        let n: i64 = conn.query_row(&sql, [], |r| r.get(0)).with_context(|| sql.clone())?;
        Ok(n as u64)
    };
    let missing = count(format!("SELECT count(*) FROM (({raw}) EXCEPT ALL ({opt}))"))?;
    let unexpected = count(format!("SELECT count(*) FROM (({opt}) EXCEPT ALL ({raw}))"))?;
    if missing + unexpected > 0 {
        bail!(
            "optimized day {} of {} differs from its raw day: {missing} rows missing, {unexpected} unexpected",
            optimized_day_dir.display(),
            t.name
        );
    }
    count(format!("SELECT count(*) FROM ({raw})"))
}

/// One types table read through the warehouse port and compared with the
/// generator's values, row for row and value for value.
#[derive(Debug)]
pub struct TypedCheck {
    pub table: String,
    /// Rows the target holds.
    pub rows: usize,
    /// Rows the oracle expects.
    pub expected: usize,
    /// One line per difference: the table, the row (its key, or its event
    /// id), the column, the expected and the actual value.
    pub differences: Vec<String>,
}

impl TypedCheck {
    pub fn ok(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Most difference lines one table reports (the count of the rest follows).
const MAX_DIFFERENCES: usize = 40;

/// Reads every types table of the config ([`cdc_dmsgen::TYPES_TABLES`])
/// through `warehouse` (the same SQL on DuckDB and Redshift, no cast) and
/// compares it with [`Generator::expected_typed_rows`] as a multiset:
/// integers must come back as longs, reals and doubles as doubles (a real
/// as its own value widened), booleans as booleans, numerics as text equal
/// as exact decimals, dates and timestamps as text equal once parsed, text
/// exactly (trailing spaces included), NULL as NULL; the commit timestamp
/// and the sequence too.
pub async fn verify_typed_values(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    generator: &Generator,
) -> anyhow::Result<Vec<TypedCheck>> {
    let mut checks = Vec::new();
    for name in cdc_dmsgen::TYPES_TABLES {
        let Some(t) = cfg.table(name) else { continue };
        let generated = cdc_dmsgen::typed_columns(name).context("a types table has typed columns")?;
        let configured: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        if configured != generated {
            bail!("{name}: the config's columns {configured:?} are not the generator's {generated:?}");
        }
        let mut cols: Vec<String> = t.columns.iter().map(|c| c.name.quoted()).collect();
        let mut labels: Vec<String> = configured.iter().map(|c| c.to_string()).collect();
        cols.push(t.commit_ts_column.quoted());
        labels.push(t.commit_ts_column.to_string());
        if let Some(seq) = &t.sequence_column {
            cols.push(seq.quoted());
            labels.push(seq.to_string());
        }
        let sql = format!("SELECT {} FROM {}", cols.join(", "), names::target(cfg, t));
        let batch = StatementBatch { label: format!("check {} value for value", t.qualified()), statements: vec![sql] };
        let result = run_to_completion(warehouse, batch).await.with_context(|| format!("reading {name}"))?;
        let mut expected = generator.expected_typed_rows(name)?;
        if t.sequence_column.is_none() {
            for row in &mut expected {
                row.pop();
            }
        }
        let ids: Vec<usize> = match cdc_dmsgen::typed_key_columns(name) {
            [] => vec![0],
            keys => keys.iter().filter_map(|k| configured.iter().position(|c| c == k)).collect(),
        };
        checks.push(compare_typed(name, &labels, &ids, &expected, &result.rows));
    }
    Ok(checks)
}

/// Matches equal rows first; the rest are paired by their identifying
/// columns `ids` to name the differing columns, or reported whole.
fn compare_typed(
    table: &str,
    labels: &[String],
    ids: &[usize],
    expected: &[Vec<TypedValue>],
    actual: &[Vec<cdc_core::ports::Cell>],
) -> TypedCheck {
    let mut differences = Vec::new();
    let width_ok = |r: &Vec<Cell>| r.len() == labels.len();
    if let Some(bad) = actual.iter().find(|r| !width_ok(r)) {
        differences.push(format!("{table}: a row has {} values, {} columns were selected", bad.len(), labels.len()));
        return TypedCheck { table: table.into(), rows: actual.len(), expected: expected.len(), differences };
    }
    let same = |e: &[TypedValue], a: &[Cell]| e.len() == a.len() && e.iter().zip(a).all(|(e, a)| cell_matches(e, a));
    let mut left: Vec<Option<&Vec<Cell>>> = actual.iter().map(Some).collect();
    let mut unmatched: Vec<&Vec<TypedValue>> = Vec::new();
    for e in expected {
        match left.iter_mut().find(|a| a.is_some_and(|a| same(e, a))) {
            Some(slot) => *slot = None,
            None => unmatched.push(e),
        }
    }
    let row_id = |e: &[TypedValue]| -> String {
        let parts: Vec<String> = ids.iter().map(|&i| format!("{} = {}", labels[i], e[i])).collect();
        format!("row ({})", parts.join(", "))
    };
    for e in unmatched {
        let pair = left.iter_mut().find(|a| a.is_some_and(|a| ids.iter().all(|&i| cell_matches(&e[i], &a[i]))));
        match pair.and_then(Option::take) {
            Some(a) => {
                for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                    if !cell_matches(ev, av) {
                        differences.push(format!(
                            "{table} {}: column {}: expected {ev}, actual {}",
                            row_id(e),
                            labels[i],
                            show_cell(av)
                        ));
                    }
                }
            }
            None => differences.push(format!("{table} {}: missing (expected {})", row_id(e), show_row(e))),
        }
    }
    for a in left.into_iter().flatten() {
        let cells: Vec<String> = labels.iter().zip(a).map(|(l, c)| format!("{l} = {}", show_cell(c))).collect();
        differences.push(format!("{table}: unexpected row ({})", cells.join(", ")));
    }
    if differences.len() > MAX_DIFFERENCES {
        let more = differences.len() - MAX_DIFFERENCES;
        differences.truncate(MAX_DIFFERENCES);
        differences.push(format!("{table}: {more} more differences"));
    }
    TypedCheck { table: table.into(), rows: actual.len(), expected: expected.len(), differences }
}

/// Whether the warehouse's cell is exactly the source's value (see
/// [`verify_typed_values`] for what each type must come back as).
pub fn cell_matches(expected: &TypedValue, actual: &Cell) -> bool {
    match (expected, actual) {
        (TypedValue::Null, Cell::Null) => true,
        (TypedValue::SmallInt(v), Cell::Long(a)) => i64::from(*v) == *a,
        (TypedValue::Integer(v), Cell::Long(a)) => i64::from(*v) == *a,
        (TypedValue::BigInt(v), Cell::Long(a)) => v == a,
        (TypedValue::Real(v), Cell::Double(a)) => f64::from(*v) == *a,
        (TypedValue::Double(v), Cell::Double(a)) => v == a,
        (TypedValue::Boolean(v), Cell::Bool(a)) => v == a,
        (TypedValue::Numeric(v), Cell::Text(a)) => Decimal::parse(a).is_some_and(|a| a == *v),
        (TypedValue::Date(v), Cell::Text(a)) => NaiveDate::parse_from_str(a, "%Y-%m-%d").is_ok_and(|a| a == *v),
        (TypedValue::Timestamp(v), Cell::Text(a)) => parse_timestamp(a).is_some_and(|a| a == *v),
        (TypedValue::Text(v), Cell::Text(a)) => v == a,
        _ => false,
    }
}

/// `2026-11-01 20:00:00`, `2026-11-01 20:00:00.25`, `... 20:00:00.000000`:
/// Redshift's text form (fraction without trailing zeros, none when zero)
/// and DuckDB's (six digits).
fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()
}

fn show_cell(c: &Cell) -> String {
    match c {
        Cell::Text(s) => format!("text {}", cdc_dmsgen::shorten(s)),
        Cell::Double(d) => format!("double {d:e}"),
        other => format!("{other:?}"),
    }
}

fn show_row(r: &[TypedValue]) -> String {
    r.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Every difference of the checks, or `None` when the types tables match.
pub fn typed_failures(checks: &[TypedCheck]) -> Option<String> {
    let lines: Vec<&str> = checks.iter().flat_map(|c| c.differences.iter().map(String::as_str)).collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> TypedValue {
        TypedValue::Timestamp(NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap())
    }

    #[test]
    fn cells_match_the_source_values_by_type() {
        // GIVEN source values and the cells DuckDB and the Data API give back
        let text = |s: &str| Cell::Text(s.to_string());
        // THEN integers match as longs only, and exactly
        assert!(cell_matches(&TypedValue::SmallInt(-32768), &Cell::Long(-32768)));
        assert!(cell_matches(&TypedValue::BigInt(i64::MAX), &Cell::Long(i64::MAX)));
        assert!(!cell_matches(&TypedValue::Integer(7), &text("7")));
        assert!(!cell_matches(&TypedValue::BigInt(9_007_199_254_740_993), &Cell::Long(9_007_199_254_740_992)));
        // AND a real matches its own value widened, not the nearest double of its decimal text
        assert!(cell_matches(&TypedValue::Real(0.1), &Cell::Double(f64::from(0.1f32))));
        assert!(!cell_matches(&TypedValue::Real(0.1), &Cell::Double(0.1)));
        assert!(cell_matches(&TypedValue::Double(5e-324), &Cell::Double(5e-324)));
        assert!(!cell_matches(&TypedValue::Double(0.1), &Cell::Double(f64::from_bits(0.1f64.to_bits() + 1))));
        // AND booleans are booleans, not text
        assert!(cell_matches(&TypedValue::Boolean(false), &Cell::Bool(false)));
        assert!(!cell_matches(&TypedValue::Boolean(true), &text("t")));
        // AND numerics compare as exact decimals
        let n = |m, s| TypedValue::Numeric(Decimal::new(m, s));
        assert!(cell_matches(&n(125_000, 4), &text("12.5000")));
        assert!(cell_matches(&n(125_000, 4), &text("12.5")));
        assert!(!cell_matches(&n(-1, 4), &text("0.0001")));
        assert!(cell_matches(&n(-123_456_789_012_345_678, 4), &text("-12345678901234.5678")));
        // AND dates and timestamps parse from both text forms
        let d = TypedValue::Date(NaiveDate::from_ymd_opt(1, 1, 1).unwrap());
        assert!(cell_matches(&d, &text("0001-01-01")));
        assert!(cell_matches(&ts("2026-11-01 20:00:00.25"), &text("2026-11-01 20:00:00.25")));
        assert!(cell_matches(&ts("2026-11-01 20:00:00.25"), &text("2026-11-01 20:00:00.250000")));
        assert!(cell_matches(&ts("2038-01-19 03:14:08"), &text("2038-01-19 03:14:08")));
        assert!(cell_matches(&ts("2038-01-19 03:14:08"), &text("2038-01-19 03:14:08.000000")));
        assert!(!cell_matches(&ts("1900-01-01 00:00:00.000001"), &text("1900-01-01 00:00:00")));
        // AND text is exact, trailing spaces included; NULL is only NULL
        assert!(!cell_matches(&TypedValue::Text("a ".into()), &text("a")));
        assert!(!cell_matches(&TypedValue::Text(String::new()), &Cell::Null));
        assert!(!cell_matches(&TypedValue::Null, &text("")));
        assert!(cell_matches(&TypedValue::Null, &Cell::Null));
    }

    #[test]
    fn a_difference_names_the_row_the_column_and_both_values() {
        // GIVEN two expected rows keyed by text and integer, and a target where one value differs
        let labels: Vec<String> = ["k_text", "k_int", "c_real"].map(String::from).to_vec();
        let row = |k: &str, v: f32| vec![TypedValue::Text(k.into()), TypedValue::Integer(1), TypedValue::Real(v)];
        let cells = |k: &str, v: f64| vec![Cell::Text(k.into()), Cell::Long(1), Cell::Double(v)];
        let expected = vec![row("a", 0.5), row("a ", 0.1)];
        let actual = vec![cells("a ", f64::from(0.1f32)), cells("a", 0.25)];
        // WHEN compared
        let check = compare_typed("type_samples", &labels, &[0, 1], &expected, &actual);
        // THEN one difference names the key, the column and both values
        assert_eq!(check.differences.len(), 1, "{:?}", check.differences);
        let d = &check.differences[0];
        assert!(d.contains("k_text = text \"a\"") && d.contains("c_real") && d.contains("5e-1"), "{d}");
        // AND rows whose key is absent on one side are missing or unexpected
        let check = compare_typed("type_samples", &labels, &[0, 1], &expected[..1], &actual[..1]);
        assert_eq!(check.differences.len(), 2, "{:?}", check.differences);
        assert!(check.differences[0].contains("missing") && check.differences[1].contains("unexpected"));
        // AND equal multisets in any order match
        assert!(
            compare_typed("t", &labels, &[0, 1], &expected, &[cells("a ", f64::from(0.1f32)), cells("a", 0.5)]).ok()
        );
    }
}
