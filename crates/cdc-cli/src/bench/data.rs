//! The benchmark's data, generated in SQL so that 30 million rows take seconds:
//! the target's original rows (aid 1..N), the DMS CDC Parquet files, and the
//! oracle that says what the target must hold after the merge.
//!
//! Everything is a function of (N, changes, files, seed) through DuckDB's
//! `hash()`, not `random()`: hashes do not depend on how DuckDB splits the work
//! between threads, so every repeat and every engine sees the same data.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate};
use duckdb::Connection;

/// Commit time of every original row: older than every change.
pub const ORIGINAL_TS: &str = "2026-10-01 00:00:00";
/// The changes start here and spread over `CHANGE_SPAN_MS`.
const CHANGES_DAY: (i32, u32, u32) = (2026, 11, 1);
/// 20 hours: the changes stay inside one day folder, as a day of DMS output.
const CHANGE_SPAN_MS: u64 = 20 * 3600 * 1000;
/// Consecutive changes share one commit timestamp in groups of this size, like
/// the rows of one source transaction; only the sequence column orders them.
const CHANGES_PER_COMMIT: u64 = 3;

#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Target rows, aid 1..=n.
    pub n: u64,
    pub changes: u64,
    pub files: u64,
    pub seed: u64,
}

impl Workload {
    /// The original target rows as the seed's table holds them:
    /// `(changets, aid, bid, abalance, filler)`.
    pub fn original_rows(&self) -> String {
        format!(
            "SELECT TIMESTAMP '{ORIGINAL_TS}' AS changets, CAST(i AS INTEGER) AS aid, \
             CAST((i - 1) // 100000 + 1 AS INTEGER) AS bid, \
             CAST(hash(i, {seed}) % 200001 AS INTEGER) - 100000 AS abalance, \
             CAST('' AS VARCHAR) AS filler \
             FROM range(1, {end}) r(i)",
            seed = self.seed,
            end = self.n + 1
        )
    }

    /// The changes in DMS CDC column order plus `file_no` (which file each
    /// change goes to: consecutive ranges of the sequence).
    fn changes_select(&self) -> anyhow::Result<String> {
        let (y, m, d) = CHANGES_DAY;
        let base_ms = NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .context("changes day")?
            .and_utc()
            .timestamp_millis();
        let commits = self.changes.div_ceil(CHANGES_PER_COMMIT).max(1);
        let step_ms = (CHANGE_SPAN_MS / commits).max(1);
        let Workload { n, changes, files, seed } = *self;
        // ~90 % U and ~5 % D of random existing aids (so keys repeat), ~5 % I
        // of new aids above N. D rows carry a full row image, as DMS writes.
        Ok(format!(
            "SELECT Op, epoch_ms({base_ms} + (j // {CHANGES_PER_COMMIT}) * {step_ms}) AS changets, \
             '20261101' || lpad(CAST(j + 1 AS VARCHAR), 27, '0') AS ar_h_change_seq, \
             CAST(aid AS INTEGER) AS aid, CAST((aid - 1) // 100000 + 1 AS INTEGER) AS bid, \
             CAST(hash(j, {seed}, 3) % 200001 AS INTEGER) - 100000 AS abalance, \
             CAST('' AS VARCHAR) AS filler, \
             CAST(j * {files} // {changes} AS INTEGER) AS file_no \
             FROM (SELECT j, Op, CASE WHEN Op = 'I' THEN {n} + 1 + j \
                                 ELSE 1 + CAST(hash(j, {seed}, 2) % {n} AS BIGINT) END AS aid \
                   FROM (SELECT j, CASE WHEN r < 90 THEN 'U' WHEN r < 95 THEN 'I' ELSE 'D' END AS Op \
                         FROM (SELECT j, hash(j, {seed}, 1) % 100 AS r FROM range(0, {changes}) t(j))))"
        ))
    }
}

/// Where DMS would put the table's CDC files under the raw zone root.
pub fn cdc_dir(raw_root: &Path) -> PathBuf {
    raw_root.join("cdc").join("public").join("pgbench_accounts")
}

/// The glob over every CDC file of the table (the seed's external table).
pub fn cdc_glob(raw_root: &Path) -> String {
    format!("{}/*/*.parquet", cdc_dir(raw_root).display())
}

/// Writes the changes as `files` DMS CDC Parquet files named by their first
/// commit time (`<day>/<YYYYMMDD-HHMMSSmmm>.parquet`). Returns the paths.
pub fn write_changes(w: &Workload, raw_root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if w.files == 0 || w.changes < w.files {
        bail!("need at least one change per file ({} changes, {} files)", w.changes, w.files);
    }
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(&format!("CREATE TABLE changes AS {}", w.changes_select()?))
        .context("generating the changes")?;
    let mut firsts = conn.prepare("SELECT file_no, epoch_ms(MIN(changets)) FROM changes GROUP BY 1 ORDER BY 1")?;
    let firsts: Vec<(i32, i64)> = firsts.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    let mut names = HashSet::new();
    let mut paths = Vec::new();
    for (file_no, first_ms) in firsts {
        // A name per file even if two files started in the same millisecond.
        let mut ms = first_ms;
        let (day, name) = loop {
            let at = DateTime::from_timestamp_millis(ms).context("file timestamp")?.naive_utc();
            let name = at.format("%Y%m%d-%H%M%S%3f").to_string();
            if names.insert(name.clone()) {
                break (at.format("%Y%m%d").to_string(), name);
            }
            ms += 1;
        };
        let dir = cdc_dir(raw_root).join(day);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.parquet"));
        conn.execute_batch(&format!(
            "COPY (SELECT Op, changets, ar_h_change_seq, aid, bid, abalance, filler FROM changes \
             WHERE file_no = {file_no} ORDER BY ar_h_change_seq) TO {} (FORMAT parquet)",
            literal(&path)
        ))
        .with_context(|| format!("writing {}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

/// The target's original rows and the seed's copy of them, then a checkpoint
/// so that the timed transactions start from the same clean state.
pub fn fill_tables(conn: &Connection, w: &Workload) -> anyhow::Result<()> {
    let original = w.original_rows();
    conn.execute_batch(&format!(
        "INSERT INTO public.pgbench_accounts (aid, bid, abalance, filler, changets, ar_h_change_seq, _cdc_full_load) \
         SELECT aid, bid, abalance, filler, changets, '20261001' || lpad(CAST(aid AS VARCHAR), 27, '0'), false \
         FROM ({original});
         CREATE SCHEMA IF NOT EXISTS bench;
         CREATE OR REPLACE TABLE bench.seed_accounts AS SELECT changets, aid, bid, abalance, filler FROM ({original});
         CHECKPOINT;"
    ))
    .context("filling the target tables")
}

/// Keys whose (presence, abalance) in `table` differ from the oracle: the
/// latest change per aid by (commit ts, sequence) applied to the original
/// rows. Also counts duplicate keys in `table`, which the join would hide.
pub fn oracle_mismatches(conn: &Connection, w: &Workload, raw_root: &Path, table: &str) -> anyhow::Result<u64> {
    let sql = format!(
        "WITH latest AS (
             SELECT aid, Op, abalance FROM read_parquet({glob})
             QUALIFY row_number() OVER (PARTITION BY aid ORDER BY changets DESC, ar_h_change_seq DESC) = 1),
         expected AS (
             SELECT o.aid, o.abalance FROM ({original}) o WHERE NOT EXISTS (SELECT 1 FROM latest l WHERE l.aid = o.aid)
             UNION ALL SELECT aid, abalance FROM latest WHERE Op <> 'D')
         SELECT (SELECT COUNT(*) FROM expected e FULL OUTER JOIN {table} t ON e.aid = t.aid
                 WHERE e.aid IS NULL OR t.aid IS NULL OR e.abalance IS DISTINCT FROM t.abalance)
              + (SELECT COUNT(*) - COUNT(DISTINCT aid) FROM {table})",
        glob = literal(cdc_glob(raw_root)),
        original = w.original_rows(),
    );
    let n: i64 = conn.query_row(&sql, [], |r| r.get(0)).with_context(|| format!("oracle check of {table}"))?;
    Ok(n.max(0) as u64)
}

/// A DuckDB string literal.
pub fn literal(s: impl AsRef<std::ffi::OsStr>) -> String {
    format!("'{}'", s.as_ref().to_string_lossy().replace('\'', "''"))
}
