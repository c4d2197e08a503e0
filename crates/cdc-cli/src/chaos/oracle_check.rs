//! The check after every execution: "applied" means exactly the files the
//! progress tables list, and each target table must equal what the
//! generator's oracle folds from those files alone. Differences are
//! counted the way a data engineer reads them: rows lost, rows duplicated,
//! rows differing (a key whose row is a stale version, or a deleted key
//! brought back).

use std::collections::HashSet;

use anyhow::Context;
use duckdb::Connection;

use cdc_core::sql::names;
use cdc_core::{PipelineConfig, TableConfig, TableMode};
use cdc_dmsgen::Generator;

const EXPECTED_SCHEMA: &str = "cdc_chaos_expected";

/// Rows wrong in one table, or summed over tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Damage {
    pub lost: u64,
    pub duplicated: u64,
    pub differing: u64,
}

impl Damage {
    pub fn any(&self) -> bool {
        self.lost + self.duplicated + self.differing > 0
    }
    pub fn add(&mut self, other: Damage) {
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.differing += other.differing;
    }
}

/// One execution's check.
#[derive(Debug, Default)]
pub struct Check {
    /// Files the progress tables list, all tables together.
    pub applied_files: usize,
    /// Tables with damage, and what.
    pub damaged: Vec<(String, Damage)>,
}

impl Check {
    pub fn total(&self) -> Damage {
        let mut d = Damage::default();
        for (_, t) in &self.damaged {
            d.add(*t);
        }
        d
    }
}

/// Every configured table against the oracle for its applied files.
/// `raw_prefix` is how the progress tables name the raw zone's root
/// (a folder path locally, `s3://bucket/prefix` on AWS), without a
/// trailing `/`.
pub fn check(
    cfg: &PipelineConfig,
    conn: &Connection,
    generator: &Generator,
    raw_prefix: &str,
) -> anyhow::Result<Check> {
    // One snapshot for the progress tables and the targets: a statement of
    // a stopped or killed execution may still be running, and commits both
    // at once (the oracle's tables are written inside it and rolled back).
    conn.execute_batch("BEGIN TRANSACTION")?;
    let out = check_in_snapshot(cfg, conn, generator, raw_prefix);
    conn.execute_batch("ROLLBACK")?;
    out
}

fn check_in_snapshot(
    cfg: &PipelineConfig,
    conn: &Connection,
    generator: &Generator,
    raw_prefix: &str,
) -> anyhow::Result<Check> {
    let mut applied = HashSet::new();
    for t in &cfg.tables {
        applied.extend(applied_files(cfg, conn, t, raw_prefix)?);
    }
    generator
        .write_expected_for(conn, EXPECTED_SCHEMA, &|f| applied.contains(f))
        .context("writing the oracle for the applied files")?;
    let mut out = Check { applied_files: applied.len(), damaged: Vec::new() };
    for t in &cfg.tables {
        let damage = compare(cfg, conn, t)?;
        if damage.any() {
            out.damaged.push((t.name.to_string(), damage));
        }
    }
    Ok(out)
}

/// The files a table's progress table lists as applied (full loads and CDC
/// files; rows of superseded loads and added columns are not files
/// applied), by their names below the raw zone's root.
fn applied_files(
    cfg: &PipelineConfig,
    conn: &Connection,
    t: &TableConfig,
    raw_prefix: &str,
) -> anyhow::Result<Vec<String>> {
    if !exists(conn, &cfg.control_schema.to_string(), &format!("{}__progress", t.name))? {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT file FROM {} WHERE kind IN ('F', 'C') AND file IS NOT NULL", names::progress(cfg, t));
    let mut stmt = conn.prepare(&sql).with_context(|| format!("reading the progress of {}", t.name))?;
    let files = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let prefix = format!("{raw_prefix}/");
    files
        .map(|f| {
            let f = f?;
            Ok(f.strip_prefix(&prefix).map(str::to_string).unwrap_or(f))
        })
        .collect()
}

fn exists(conn: &Connection, schema: &str, table: &str) -> anyhow::Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// One table: lost, duplicated and differing rows, target against oracle.
fn compare(cfg: &PipelineConfig, conn: &Connection, t: &TableConfig) -> anyhow::Result<Damage> {
    let list = crate::verify::compared_columns(t).join(", ");
    let expected = format!("\"{EXPECTED_SCHEMA}\".{}", t.name.quoted());
    let target = match exists(conn, &cfg.target_schema.to_string(), &t.name.to_string())? {
        true => format!("(SELECT {list} FROM {})", names::target(cfg, t)),
        // Not set up yet: an empty target.
        false => format!("(SELECT {list} FROM {expected} WHERE false)"),
    };
    let e = format!("(SELECT {list} FROM {expected})");
    let count = |sql: String| -> anyhow::Result<u64> {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM ({sql})"), [], |r| r.get(0))
            .with_context(|| format!("comparing {} with the oracle", t.name))?;
        Ok(n as u64)
    };
    if t.mode == TableMode::Append || t.key.is_empty() {
        return Ok(Damage {
            lost: count(format!("SELECT * FROM {e} EXCEPT ALL SELECT * FROM {target}"))?,
            duplicated: count(format!("SELECT * FROM {target} EXCEPT ALL SELECT * FROM {e}"))?,
            differing: 0,
        });
    }
    let keys: Vec<String> = t.key.iter().map(|k| k.quoted()).collect();
    let key_list = keys.join(", ");
    let same_key = keys.iter().map(|k| format!("a.{k} = x.{k}")).collect::<Vec<_>>().join(" AND ");
    let extra: i64 = conn.query_row(
        &format!("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {target} GROUP BY {key_list})"),
        [],
        |r| r.get(0),
    )?;
    Ok(Damage {
        lost: count(format!("SELECT 1 FROM {e} x WHERE NOT EXISTS (SELECT 1 FROM {target} a WHERE {same_key})"))?,
        duplicated: extra as u64,
        // Keys whose target row is not the oracle's: a stale version, or a
        // row the oracle has deleted.
        differing: count(format!("SELECT DISTINCT {key_list} FROM (SELECT * FROM {target} EXCEPT SELECT * FROM {e})"))?,
    })
}
