//! `cdc bench unload`: one generated day of DMS CDC files (a file per table
//! per flush interval, as DMS writes them) against the same day in the
//! optimized zone: files and bytes, and the time of the same day-level
//! queries on each. Goals: at least 10x fewer files, a 5x faster day query.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{TimeZone, Utc};
use clap::Args;
use comfy_table::Table;
use duckdb::Connection;

use cdc_core::PipelineConfig;
use cdc_core::ports::FileKind;
use cdc_core::unload::run_unload;
use cdc_dmsgen::{DmsLayout, Generator, GeneratorConfig};
use cdc_local::{DuckDbWarehouse, FolderOptimizedZone, FolderRawZone, LocalCatalog};

const GOAL_FEWER_FILES: f64 = 10.0;
const GOAL_FASTER_QUERY: f64 = 5.0;

#[derive(Args)]
pub struct UnloadArgs {
    /// Pipeline configuration file.
    #[arg(long, default_value_os_t = crate::default_config())]
    pub config: PathBuf,
    /// The table whose day is measured.
    #[arg(long, default_value = "pgbench_accounts")]
    pub table: String,
    /// pgbench transactions per 8-hour cycle; three cycles make the day.
    #[arg(long, default_value_t = 60_000)]
    pub transactions: usize,
    /// Seconds between DMS's CDC file writes (CdcMaxBatchInterval).
    #[arg(long, default_value_t = 60)]
    pub flush_seconds: i64,
    /// Timed runs per query; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Working folder, recreated.
    #[arg(long, default_value = "bench-out/unload")]
    pub out: PathBuf,
}

const DAY: &str = "20261102";

pub async fn run(args: UnloadArgs) -> anyhow::Result<()> {
    let cfg = PipelineConfig::load(&args.config)?;
    let t = cfg.table(&args.table).with_context(|| format!("table {} is not in the config", args.table))?.clone();
    if args.out.exists() {
        std::fs::remove_dir_all(&args.out).with_context(|| format!("clearing {}", args.out.display()))?;
    }
    let raw_root = args.out.join("raw");
    eprintln!("generating one day of DMS files ({} transactions per 8 h)...", args.transactions);
    generate_day(&cfg, &raw_root, &args)?;

    let warehouse = DuckDbWarehouse::open(&args.out.join("warehouse.duckdb"))?;
    let raw = FolderRawZone::new(&raw_root)?;
    cdc_core::setup::run_setup(&cfg, &warehouse, None).await?;
    warehouse.expose_raw_zone(&cfg, &raw)?;
    let zone = FolderOptimizedZone::new(&args.out.join("optimized"), &raw_root)?;
    let catalog = LocalCatalog::new(zone.root(), &cfg, warehouse.connection()?);
    let after_day = Utc.with_ymd_and_hms(2026, 11, 4, 0, 0, 0).single().context("date")?;
    let started = Instant::now();
    let unload = run_unload(&cfg, &warehouse, &raw, &zone, &catalog, after_day).await?;
    let unload_secs = started.elapsed().as_secs_f64();
    if let Some((table, e)) = unload.failures.first() {
        bail!("unload of {table} failed: {e}");
    }

    let raw_dir = raw.table_dir(&cfg, &t, FileKind::Cdc).join(DAY);
    let opt_dir = zone.day_dir(&t, DAY);
    let (raw_files, raw_bytes) = folder_size(&raw_dir)?;
    let (opt_files, opt_bytes) = folder_size(&opt_dir)?;
    let conn = Connection::open_in_memory()?;
    let raw_src = format!("read_parquet('{}/*.parquet')", raw_dir.display());
    let opt_src = format!("read_parquet('{}/*.parquet')", opt_dir.display());
    check_same_rows(&conn, &raw_src, &opt_src)?;

    let ts = t.commit_ts_column.quoted();
    let key = t.key.first().map_or_else(|| t.commit_ts_column.quoted(), |k| k.quoted());
    let queries = [
        ("day summary by operation", format!("SELECT op, count(*), min({ts}), max({ts}) FROM {{src}} GROUP BY op")),
        ("distinct keys changed", format!("SELECT count(DISTINCT {key}) FROM {{src}}")),
        ("one key range's changes", format!("SELECT * FROM {{src}} WHERE {key} BETWEEN 1000 AND 1099")),
    ];
    let mut rows = Vec::new();
    for (name, q) in &queries {
        let (raw_t, opt_t) =
            time_pair(&conn, &q.replace("{src}", &raw_src), &q.replace("{src}", &opt_src), args.repeat)?;
        rows.push((name.to_string(), raw_t, opt_t));
    }
    print_report(&t.name.to_string(), (raw_files, raw_bytes), (opt_files, opt_bytes), &rows, unload_secs);
    Ok(())
}

/// Three 8-hour cycles from just before midnight: the whole of `DAY`.
fn generate_day(cfg: &PipelineConfig, raw_root: &Path, args: &UnloadArgs) -> anyhow::Result<()> {
    let first = cfg.tables.first().context("config has no tables")?;
    let layout = DmsLayout {
        dms: cfg.dms.clone(),
        schema: first.schema.to_string(),
        ts_column: first.commit_ts_column.to_string(),
        seq_column: first.sequence_column.as_ref().context("the bench needs a sequence_column")?.to_string(),
        ts_as_text: false,
    };
    let gen_cfg = GeneratorConfig {
        start: Utc.with_ymd_and_hms(2026, 11, 1, 23, 59, 0).single().context("date")?,
        flush_interval: chrono::Duration::seconds(args.flush_seconds),
        ..GeneratorConfig::default()
    };
    let mut generator = Generator::new(raw_root, layout, gen_cfg)?;
    generator.full_load()?;
    for _ in 0..3 {
        generator.cdc_cycle(args.transactions)?;
    }
    generator.finish()?;
    Ok(())
}

fn folder_size(dir: &Path) -> anyhow::Result<(u64, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    for e in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let e = e?;
        if e.path().extension().is_some_and(|x| x == "parquet") {
            files += 1;
            bytes += e.metadata()?.len();
        }
    }
    Ok((files, bytes))
}

/// The comparison is only fair if both sides hold the same rows.
fn check_same_rows(conn: &Connection, raw: &str, opt: &str) -> anyhow::Result<()> {
    let n = |sql: String| -> anyhow::Result<i64> { Ok(conn.query_row(&sql, [], |r| r.get(0))?) };
    let (a, b) = (n(format!("SELECT count(*) FROM {raw}"))?, n(format!("SELECT count(*) FROM {opt}"))?);
    if a != b || a == 0 {
        bail!("the optimized day holds {b} rows, the raw day {a}");
    }
    Ok(())
}

/// Median seconds of each query, alternating which runs first.
fn time_pair(conn: &Connection, a: &str, b: &str, repeat: usize) -> anyhow::Result<(f64, f64)> {
    let run = |sql: &str| -> anyhow::Result<f64> {
        let started = Instant::now();
        let mut stmt = conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
        Ok(started.elapsed().as_secs_f64())
    };
    run(a)?;
    run(b)?;
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for i in 0..repeat.max(1) {
        if i % 2 == 0 {
            ta.push(run(a)?);
            tb.push(run(b)?);
        } else {
            tb.push(run(b)?);
            ta.push(run(a)?);
        }
    }
    Ok((median(&mut ta), median(&mut tb)))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn print_report(table: &str, raw: (u64, u64), opt: (u64, u64), queries: &[(String, f64, f64)], unload_secs: f64) {
    println!("unload of {table}, day {DAY} (all tables' days exported in {unload_secs:.2} s)");
    let mut t = Table::new();
    t.set_header(["", "raw zone (DMS)", "optimized", "ratio"]);
    t.add_row([
        "files".to_string(),
        raw.0.to_string(),
        opt.0.to_string(),
        format!("{:.1}x fewer", ratio(raw.0, opt.0)),
    ]);
    t.add_row([
        "bytes".to_string(),
        raw.1.to_string(),
        opt.1.to_string(),
        format!("{:.1}x smaller", ratio(raw.1, opt.1)),
    ]);
    for (name, a, b) in queries {
        t.add_row([
            format!("query: {name} (s)"),
            format!("{a:.4}"),
            format!("{b:.4}"),
            format!("{:.1}x faster", a / b),
        ]);
    }
    println!("{t}");
    let fewer = ratio(raw.0, opt.0);
    let faster = queries.first().map_or(0.0, |(_, a, b)| a / b);
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!("goal: >= {GOAL_FEWER_FILES}x fewer files: {fewer:.1}x, {}", verdict(fewer >= GOAL_FEWER_FILES));
    println!("goal: >= {GOAL_FASTER_QUERY}x faster day query: {faster:.1}x, {}", verdict(faster >= GOAL_FASTER_QUERY));
}

fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b.max(1) as f64
}
