//! The demo's oracle check: every target table against what a correct
//! pipeline must hold given the files delivered so far, and, once every file
//! is delivered, the oracle itself against the source database's truth.

use anyhow::{Context, bail};
use duckdb::Connection;

use cdc_core::PipelineConfig;
use cdc_core::sql::names;
use cdc_dmsgen::Generator;

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

pub fn verify(cfg: &PipelineConfig, conn: &Connection, generator: &Generator) -> anyhow::Result<Verification> {
    generator.write_expected(conn, ORACLE_SCHEMA).context("writing the oracle's expected tables")?;
    let mut tables = Vec::new();
    for t in &cfg.tables {
        let mut cols: Vec<String> = t.columns.iter().map(|c| c.name.quoted()).collect();
        cols.push(t.commit_ts_column.quoted());
        if let Some(s) = &t.sequence_column {
            cols.push(s.quoted());
        }
        let expected = format!("{ORACLE_SCHEMA}.{}", t.name.quoted());
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
    raw_day_glob: &str,
    optimized_day_dir: &std::path::Path,
) -> anyhow::Result<u64> {
    let mut cols = vec![t.commit_ts_column.quoted()];
    cols.extend(t.sequence_column.iter().map(|s| s.quoted()));
    cols.extend(t.columns.iter().map(|c| c.name.quoted()));
    let cols = cols.join(", ");
    let lit = |s: &str| cdc_core::sql::Dialect::DuckDb.literal(s);
    let raw = format!("SELECT \"Op\" AS op, {cols} FROM read_parquet({})", lit(raw_day_glob));
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
