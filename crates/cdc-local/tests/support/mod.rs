//! A small world for the contract tests: a temporary raw zone written in the
//! DMS layout, a DuckDB warehouse, and an independent oracle (a fold over the
//! delivered changes) to compare the target with.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cdc_core::PipelineConfig;
use cdc_core::PipelineError;
use cdc_core::cycle::{CycleRun, run_cycle};
use cdc_core::load::{LoadStats, load_table};
use cdc_local::{DuckDbWarehouse, FolderRawZone};
use duckdb::Connection;

pub const CONFIG: &str = r#"
[pipeline]
job_id = "t"
raw_schema = "raw"
target_schema = "public"
max_files_per_load = 500

[dms]
bucket_folder = { full_load = "full", cdc = "cdc" }
date_partition_enabled = true
date_partition_delimiter = "NONE"

[[tables]]
schema = "src"
name = "items"
kind = "dimension"
mode = "upsert"
key = ["id"]
commit_ts_column = "changets"
sequence_column = "seq"
lateness_window = "1d"
columns = [ { name = "id", type = "integer" }, { name = "v", type = "varchar" } ]

[[tables]]
schema = "src"
name = "others"
kind = "dimension"
mode = "upsert"
key = ["id"]
commit_ts_column = "changets"
sequence_column = "seq"
lateness_window = "1d"
columns = [ { name = "id", type = "integer" }, { name = "v", type = "varchar" } ]

[[tables]]
schema = "src"
name = "events"
kind = "fact"
mode = "append"
commit_ts_column = "changets"
sequence_column = "seq"
lateness_window = "1d"
columns = [ { name = "id", type = "integer" }, { name = "v", type = "varchar" } ]

[[derived]]
name = "item_count"
sql = "SELECT count(*) AS n FROM public.items"
"#;

/// (id, v, ts text, seq, full-load flag) of a target row.
pub type TargetRow = (i32, Option<String>, String, Option<String>, bool);

/// Per key: (rank, ts, seq, row image or None for deleted).
type Latest = (u8, i64, u64, Option<Option<String>>);

/// One DMS change row. `ts` is seconds after 2026-11-01 00:00:00 UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub op: &'static str,
    pub id: i32,
    pub v: Option<String>,
    pub ts: i64,
    pub seq: u64,
}

pub fn ch(op: &'static str, id: i32, v: &str, ts: i64, seq: u64) -> Change {
    Change { op, id, v: Some(v.to_string()), ts, seq }
}

/// A full-load row: value and transfer time.
#[derive(Debug, Clone, PartialEq)]
pub struct FullRow {
    pub id: i32,
    pub v: Option<String>,
    pub ts: i64,
}

pub fn fr(id: i32, v: &str, ts: i64) -> FullRow {
    FullRow { id, v: Some(v.to_string()), ts }
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub cfg: PipelineConfig,
    pub warehouse: DuckDbWarehouse,
    pub raw: FolderRawZone,
    writer: Connection,
}

pub fn ts_text(ts: i64) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    (base + chrono::Duration::seconds(ts)).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn lit(v: &Option<String>) -> String {
    v.as_ref().map_or("NULL".into(), |s| format!("'{}'", s.replace('\'', "''")))
}

impl World {
    pub fn new() -> Self {
        Self::with_config(CONFIG)
    }

    pub fn with_config(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = PipelineConfig::parse(text, "test").unwrap();
        let warehouse = DuckDbWarehouse::open(&dir.path().join("wh.duckdb")).unwrap();
        let raw = FolderRawZone::new(&dir.path().join("raw")).unwrap();
        let writer = Connection::open_in_memory().unwrap();
        Self { dir, cfg, warehouse, raw, writer }
    }

    pub fn raw_root(&self) -> PathBuf {
        self.dir.path().join("raw")
    }

    fn write(&self, path: &Path, select: &str) -> PathBuf {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let tmp = path.with_extension("tmp");
        self.writer.execute_batch(&format!("COPY ({select}) TO '{}' (FORMAT parquet)", tmp.display())).unwrap();
        std::fs::rename(&tmp, path).unwrap();
        path.to_path_buf()
    }

    /// Writes a CDC file `cdc/src/<table>/<day>/<name>.parquet`.
    pub fn cdc_file(&self, table: &str, day: &str, name: &str, changes: &[Change]) -> PathBuf {
        let path = self.raw_root().join(format!("cdc/src/{table}/{day}/{name}.parquet"));
        let rows = self.change_rows(table, changes);
        let select = if rows.is_empty() {
            "SELECT 'I' AS \"Op\", TIMESTAMP '2026-11-01 00:00:00' AS changets, 'x' AS seq, 1 AS id, 'x' AS v WHERE false".to_string()
        } else {
            rows.join(" UNION ALL ")
        };
        self.write(&path, &select)
    }

    /// Writes a full-load file `full/src/<table>/<name>.parquet`.
    pub fn full_file(&self, table: &str, name: &str, rows: &[FullRow]) -> PathBuf {
        self.full_file_at(&format!("full/src/{table}/{name}.parquet"), rows)
    }

    /// A file with any SELECT, for bad-input cases.
    pub fn raw_file(&self, rel: &str, select: &str) -> PathBuf {
        self.write(&self.raw_root().join(rel), select)
    }

    pub async fn setup(&self) {
        cdc_core::setup::run_setup(&self.cfg, &self.warehouse, None).await.unwrap();
    }

    pub async fn load(&self, table: &str) -> Result<LoadStats, PipelineError> {
        let t = self.cfg.table(table).unwrap();
        load_table(&self.cfg, t, &self.warehouse, &self.raw, Duration::from_millis(2)).await
    }

    pub async fn cycle(&self) -> CycleRun {
        run_cycle(&self.cfg, &self.warehouse, &self.raw, Duration::from_millis(2)).await
    }

    /// (id, v, ts text, seq, full-load flag) of a keyed table, sorted by id.
    pub fn rows(&self, table: &str) -> Vec<TargetRow> {
        let with_seq = self.cfg.table(table).is_some_and(|t| t.sequence_column.is_some());
        let seq = if with_seq { "ltrim(CAST(seq AS VARCHAR), '0')" } else { "CAST(NULL AS VARCHAR)" };
        let conn = self.warehouse.connection().unwrap();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT id, v, strftime(changets, '%Y-%m-%d %H:%M:%S'), {seq}, _cdc_full_load FROM public.{table} ORDER BY id, changets, v"
            ))
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// id → v of a keyed table.
    pub fn state(&self, table: &str) -> BTreeMap<i32, Option<String>> {
        self.rows(table).into_iter().map(|(id, v, ..)| (id, v)).collect()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.warehouse.connection().unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    pub fn progress_files(&self, table: &str) -> i64 {
        self.count(&format!("SELECT count(*) FROM cdc_control.{table}__progress"))
    }
}

/// The oracle: per key, the latest delivered change by (CDC over full load,
/// ts, seq) decides; a delete means absent.
pub fn oracle(full: &[FullRow], delivered: &[Change]) -> BTreeMap<i32, Option<String>> {
    let mut best: BTreeMap<i32, Latest> = BTreeMap::new();
    for r in full {
        let cand = (0u8, r.ts, 0u64, Some(r.v.clone()));
        let e = best.entry(r.id).or_insert(cand.clone());
        if (cand.0, cand.1, cand.2) > (e.0, e.1, e.2) {
            *e = cand;
        }
    }
    for c in delivered {
        let image = if c.op == "D" { None } else { Some(c.v.clone()) };
        let cand = (1u8, c.ts, c.seq, image);
        match best.get(&c.id) {
            Some(e) if (e.0, e.1, e.2) >= (cand.0, cand.1, cand.2) => {}
            _ => {
                best.insert(c.id, cand);
            }
        }
    }
    best.into_iter().filter_map(|(id, (_, _, _, img))| img.map(|v| (id, v))).collect()
}

/// A CDC change's sequence as [`World::rows`] shows it (leading zeros cut).
pub fn seq_text(seq: u64) -> String {
    if seq == 0 { String::new() } else { seq.to_string() }
}

/// The append oracle (docs/cdc-contract.md, rule 6), as target rows, sorted:
/// every full-load row and every CDC insert is a row, except inside the
/// full-load window (commit ts up to the newest delivered full-load
/// transfer ts): per value (id, v) with F full-load rows and C CDC inserts
/// in the window, the F full-load rows and the latest C - F inserts (by ts,
/// then sequence).
pub fn append_oracle(full: &[FullRow], delivered: &[Change]) -> Vec<TargetRow> {
    let end = full.iter().map(|r| r.ts).max();
    let cdc_row = |c: &Change| -> TargetRow { (c.id, c.v.clone(), ts_text(c.ts), Some(seq_text(c.seq)), false) };
    let mut out: Vec<TargetRow> = full.iter().map(|r| (r.id, r.v.clone(), ts_text(r.ts), None, true)).collect();
    let mut in_window: BTreeMap<(i32, Option<String>), Vec<&Change>> = BTreeMap::new();
    for c in delivered.iter().filter(|c| c.op == "I") {
        if end.is_some_and(|e| c.ts <= e) {
            in_window.entry((c.id, c.v.clone())).or_default().push(c);
        } else {
            out.push(cdc_row(c));
        }
    }
    for ((id, v), mut copies) in in_window {
        let f = full.iter().filter(|r| r.id == id && r.v == v).count();
        copies.sort_by_key(|c| std::cmp::Reverse((c.ts, c.seq)));
        let keep = copies.len().saturating_sub(f);
        out.extend(copies[..keep].iter().map(|c| cdc_row(c)));
    }
    out.sort();
    out
}

impl World {
    /// Every row of a table, sorted as [`append_oracle`] sorts.
    pub fn sorted_rows(&self, table: &str) -> Vec<TargetRow> {
        let mut rows = self.rows(table);
        rows.sort();
        rows
    }
}

impl World {
    /// One SELECT per change, in the file's columns: `Op`, the timestamp, the
    /// sequence (without a configured sequence column DMS writes none), then
    /// the row.
    fn change_rows(&self, table: &str, changes: &[Change]) -> Vec<String> {
        let with_seq = self.cfg.table(table).is_some_and(|t| t.sequence_column.is_some());
        changes
            .iter()
            .map(|c| {
                let seq = if with_seq { format!("lpad('{}', 35, '0') AS seq, ", c.seq) } else { String::new() };
                format!(
                    "SELECT '{}' AS \"Op\", TIMESTAMP '{}' AS changets, {seq}CAST({} AS INTEGER) AS id, CAST({} AS VARCHAR) AS v",
                    c.op,
                    ts_text(c.ts),
                    c.id,
                    lit(&c.v)
                )
            })
            .collect()
    }

    /// Writes a CDC file of `table`'s shape at `rel`, any key below the raw
    /// zone's root (for layouts and misplaced objects [`World::cdc_file`]
    /// does not write).
    pub fn cdc_file_at(&self, table: &str, rel: &str, changes: &[Change]) -> PathBuf {
        let rows = self.change_rows(table, changes);
        assert!(!rows.is_empty(), "cdc_file_at writes at least one change");
        self.write(&self.raw_root().join(rel), &rows.join(" UNION ALL "))
    }

    /// Writes a full-load file at `rel`, any key below the raw zone's root.
    pub fn full_file_at(&self, rel: &str, rows: &[FullRow]) -> PathBuf {
        let select: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "SELECT TIMESTAMP '{}' AS changets, CAST({} AS INTEGER) AS id, CAST({} AS VARCHAR) AS v",
                    ts_text(r.ts),
                    r.id,
                    lit(&r.v)
                )
            })
            .collect();
        self.write(&self.raw_root().join(rel), &select.join(" UNION ALL "))
    }

    /// The progress table's rows (file, kind, day, size, version), sorted.
    pub fn progress(&self, table: &str) -> Vec<(String, String, Option<String>, Option<i64>, Option<String>)> {
        let conn = self.warehouse.connection().unwrap();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT file, kind, partition_0, CAST(size AS BIGINT), version FROM cdc_control.{table}__progress \
                 ORDER BY file"
            ))
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}
