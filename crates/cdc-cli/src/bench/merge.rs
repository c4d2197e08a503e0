//! `cdc bench merge`: for each target size N, times (a) the project's load of
//! `pgbench_accounts` end to end, (b) seed 000's merge SQL on the same DuckDB
//! data and (c) the seed's SQL on PostgreSQL 15, then checks the goals.
//!
//! Every repeat starts from a fresh warehouse file filled with the same rows;
//! only the merge itself is inside the stopwatch.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use comfy_table::Table;
use duckdb::Connection;
use indicatif::{ProgressBar, ProgressStyle};

use cdc_core::ports::{RawZone, run_to_completion};
use cdc_core::sql::{Dialect, merge as merge_sql, setup as setup_sql};
use cdc_core::{PipelineConfig, TableConfig};
use cdc_local::{DuckDbWarehouse, FolderRawZone};

use super::data::{self, Workload, literal};
use super::postgres::Postgres;
use super::report::{self, PgOutcome, SizeResult};
use super::seed::{self, SeedTables};

const TABLE: &str = "pgbench_accounts";
/// Poll often: the figure is the merge, not the poll interval (`cdc run` uses 5 ms).
const POLL: Duration = Duration::from_millis(1);

#[derive(Args)]
pub struct MergeArgs {
    /// Pipeline configuration file (its `pgbench_accounts` table is loaded).
    #[arg(long, default_value_os_t = crate::default_config())]
    pub config: PathBuf,
    /// CDC changes per merge.
    #[arg(long, default_value_t = 1_000_000)]
    pub changes: u64,
    /// Parquet files the changes are split into.
    #[arg(long, default_value_t = 100)]
    pub files: u64,
    /// Target table sizes (rows), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000,30000000")]
    pub targets: Vec<u64>,
    /// Timed runs per size; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Timed runs for targets of at least --large-from rows, to bound the run
    /// time (the output marks them); give --repeat's value for full repeats.
    #[arg(long, default_value_t = 1)]
    pub large_repeat: usize,
    #[arg(long, default_value_t = 20_000_000)]
    pub large_from: u64,
    /// Target sizes that also run the seed's SQL on PostgreSQL, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000000")]
    pub postgres_targets: Vec<u64>,
    /// Skip (c), the seed's SQL on PostgreSQL.
    #[arg(long)]
    pub no_postgres: bool,
    /// Working folder; its per-size subfolders are recreated.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("cdc-bench-merge"))]
    pub workdir: PathBuf,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// DuckDB threads (default: DuckDB's own, one per core).
    #[arg(long)]
    pub threads: Option<u32>,
    /// After the timed runs, one more untimed run per size that times each
    /// step and statement of the project's load.
    #[arg(long)]
    pub breakdown: bool,
    /// With --breakdown: run each statement under EXPLAIN ANALYZE and print
    /// the plans of the three slowest.
    #[arg(long)]
    pub explain: bool,
    /// Keep the warehouse files and the PostgreSQL database afterwards.
    #[arg(long)]
    pub keep: bool,
}

pub async fn run(args: MergeArgs) -> anyhow::Result<()> {
    let cfg = PipelineConfig::load(&args.config)?;
    let t = cfg.table(TABLE).with_context(|| format!("table {TABLE} is not in {}", args.config.display()))?.clone();
    if args.targets.is_empty() || args.repeat == 0 || args.large_repeat == 0 {
        bail!("need at least one target size and one repeat");
    }
    std::fs::create_dir_all(&args.workdir)?;
    let load_before = load_average();
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")?);
    bar.enable_steady_tick(Duration::from_millis(120));

    let mut pg: Option<Result<Postgres, String>> = None;
    let mut results = Vec::new();
    let mut threads = String::new();
    for &n in &args.targets {
        let w = Workload { n, changes: args.changes, files: args.files, seed: args.seed };
        let dir = args.workdir.join(format!("n{n}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        let raw_root = dir.join("raw");
        bar.set_message(format!("N={n}: writing {} changes as {} Parquet files", w.changes, w.files));
        data::write_changes(&w, &raw_root)?;
        let raw = FolderRawZone::new(&raw_root)?;

        let repeats = if n >= args.large_from { args.large_repeat.min(args.repeat) } else { args.repeat };
        let mut res = SizeResult::new(n, w.changes, repeats < args.repeat);
        for r in 1..=repeats {
            let tag = format!("N={n} run {r}/{repeats}");
            bar.set_message(format!("{tag}: filling {n} rows (not timed)"));
            let warehouse = fresh_warehouse(&cfg, &dir, &w, args.threads).await?;
            let conn = warehouse.connection()?;
            threads = conn.query_row("SELECT current_setting('threads')::VARCHAR", [], |r| r.get(0))?;

            // Alternate which side runs first, so neither always meets the
            // database right after the fill.
            let order = if r % 2 == 1 { [Side::Project, Side::Seed] } else { [Side::Seed, Side::Project] };
            for side in order {
                settle();
                match side {
                    Side::Project => {
                        bar.set_message(format!("{tag}: (a) project's load"));
                        let started = Instant::now();
                        let stats = cdc_core::load::load_table(&cfg, &t, &warehouse, &raw, POLL).await?;
                        let secs = started.elapsed().as_secs_f64();
                        if stats.changes != w.changes || stats.files != w.files {
                            bail!(
                                "N={n}: the load applied {} changes from {} files, expected {} from {}",
                                stats.changes,
                                stats.files,
                                w.changes,
                                w.files
                            );
                        }
                        bar.set_message(format!("{tag}: (a) checking against the oracle"));
                        let wrong = data::oracle_mismatches(&conn, &w, &raw_root, "public.pgbench_accounts")?;
                        if wrong > 0 {
                            bail!("N={n}: the project's merge differs from the oracle on {wrong} keys");
                        }
                        res.project.push(secs);
                        bar.suspend(|| {
                            println!(
                                "N={n} run {r}: (a) project {secs:.3} s, {} changes, verified [load {}]",
                                stats.changes,
                                load_average()
                            )
                        });
                    }
                    Side::Seed => {
                        bar.set_message(format!("{tag}: (b) seed's SQL on DuckDB"));
                        let secs = seed_on_duckdb(&conn, &raw_root)?;
                        res.seed_duckdb.push(secs);
                        // Informational only, so once per size.
                        let differ = if r == repeats {
                            bar.set_message(format!("{tag}: (b) comparing with the oracle"));
                            res.seed_mismatches = data::oracle_mismatches(&conn, &w, &raw_root, "bench.seed_accounts")?;
                            format!(" ({} keys differ from the oracle)", res.seed_mismatches)
                        } else {
                            String::new()
                        };
                        bar.suspend(|| {
                            println!("N={n} run {r}: (b) seed on DuckDB {secs:.3} s{differ} [load {}]", load_average())
                        });
                    }
                }
                conn.execute_batch("CHECKPOINT")?;
            }
            drop(conn);
            drop(warehouse);
        }

        if args.breakdown {
            bar.set_message(format!("N={n}: breakdown of the project's load (not part of the figures)"));
            let warehouse = fresh_warehouse(&cfg, &dir, &w, args.threads).await?;
            settle();
            let rows = breakdown(&cfg, &t, &warehouse, &raw, args.explain).await?;
            bar.suspend(|| print_breakdown(n, &rows));
        }

        if !args.no_postgres && args.postgres_targets.contains(&n) {
            let pg = pg.get_or_insert_with(|| {
                bar.set_message("(c) connecting to PostgreSQL");
                Postgres::connect()
            });
            res.postgres = match pg {
                Err(why) => PgOutcome::Skipped(why.clone()),
                Ok(pg) => {
                    bar.set_message(format!("N={n}: (c) loading PostgreSQL (not timed)"));
                    pg.load(&w, &raw_root, &dir)?;
                    let mut times = Vec::new();
                    for r in 1..=repeats {
                        bar.set_message(format!("N={n} run {r}/{repeats}: (c) resetting the PostgreSQL target"));
                        pg.reset_target()?;
                        bar.set_message(format!("N={n} run {r}/{repeats}: (c) seed's SQL on PostgreSQL"));
                        let (secs, steps) = pg.run_seed()?;
                        let steps: Vec<String> = steps.iter().map(|s| format!("{s:.2}")).collect();
                        bar.suspend(|| {
                            println!(
                                "N={n} run {r}: (c) seed on PostgreSQL {secs:.3} s (psql \\timing per statement, \
                                 BEGIN..COMMIT: {}) [load {}]",
                                steps.join(" "),
                                load_average()
                            )
                        });
                        times.push(secs);
                    }
                    PgOutcome::Done(times)
                }
            };
        }
        if !args.keep {
            remove_warehouse(&dir);
        }
        results.push(res);
    }
    bar.finish_and_clear();

    let mut pg_about = None;
    if let Some(pg) = pg {
        match pg {
            Ok(pg) => {
                if pg.started_by_us() {
                    println!("(the benchmark started PostgreSQL and stops it again)");
                }
                pg_about = Some(pg.about.clone());
                pg.finish(args.keep);
            }
            Err(why) => println!("(c) skipped: {why}"),
        }
    }
    let load = format!("{load_before} at the start, {} at the end", load_average());
    report::print(&results, &threads, pg_about.as_deref(), &load);
    Ok(())
}

/// Flushes the dirty pages the fill and the last checkpoint left, so that
/// neither side pays for the other's write-back while its stopwatch runs.
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

/// The 1-minute load average (Linux), to tell a noisy machine from a slow merge.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// A new warehouse file with the schema and the N original rows.
async fn fresh_warehouse(
    cfg: &PipelineConfig,
    dir: &Path,
    w: &Workload,
    threads: Option<u32>,
) -> anyhow::Result<DuckDbWarehouse> {
    remove_warehouse(dir);
    let warehouse = DuckDbWarehouse::open(&dir.join("warehouse.duckdb"))?;
    let conn = warehouse.connection()?;
    if let Some(k) = threads {
        conn.execute_batch(&format!("SET threads = {k}"))?;
    }
    cdc_core::setup::run_setup(cfg, &warehouse, None).await.context("setup")?;
    data::fill_tables(&conn, w)?;
    Ok(warehouse)
}

fn remove_warehouse(dir: &Path) {
    for name in ["warehouse.duckdb", "warehouse.duckdb.wal"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// (b): the seed's statements in one transaction on the warehouse's data.
fn seed_on_duckdb(conn: &Connection, raw_root: &Path) -> anyhow::Result<f64> {
    let source = format!("read_parquet({})", literal(data::cdc_glob(raw_root)));
    let tables = SeedTables {
        target: "bench.seed_accounts",
        target_ref: "seed_accounts",
        stage: "bench.stage_seed_accounts",
        stage_ref: "stage_seed_accounts",
        source: &source,
        create_like: false,
    };
    let statements = seed::statements(&tables);
    let started = Instant::now();
    timed_transaction(conn, &statements).context("the seed's SQL on DuckDB")?;
    Ok(started.elapsed().as_secs_f64())
}

/// BEGIN, each statement, COMMIT; the time of each statement and of COMMIT.
fn timed_transaction(conn: &Connection, statements: &[String]) -> anyhow::Result<Vec<f64>> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    let mut times = Vec::with_capacity(statements.len() + 1);
    let run = |sql: &str| -> anyhow::Result<f64> {
        let started = Instant::now();
        conn.execute_batch(sql).with_context(|| format!("statement: {sql}"))?;
        Ok(started.elapsed().as_secs_f64())
    };
    for s in statements {
        match run(s) {
            Ok(secs) => times.push(secs),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    times.push(run("COMMIT")?);
    Ok(times)
}

#[derive(Clone, Copy)]
enum Side {
    Project,
    Seed,
}

/// One step of the project's load with its time.
struct Step {
    what: String,
    secs: f64,
    /// The EXPLAIN ANALYZE output, when asked for.
    plan: Option<String>,
}

impl Step {
    fn new(what: String, secs: f64) -> Self {
        Step { what, secs, plan: None }
    }
}

/// The project's load taken apart: the planning reads `load_table` does, then
/// the batch `merge::load_batch` builds, statement by statement in one
/// transaction as the warehouse runs it.
async fn breakdown(
    cfg: &PipelineConfig,
    t: &TableConfig,
    warehouse: &DuckDbWarehouse,
    raw: &FolderRawZone,
    explain: bool,
) -> anyhow::Result<Vec<Step>> {
    let mut steps = Vec::new();
    let started = Instant::now();
    run_to_completion(warehouse, setup_sql::applied_files_query(cfg, t, Dialect::DuckDb)).await?;
    steps.push(Step::new("plan: progress lookup".into(), started.elapsed().as_secs_f64()));
    let started = Instant::now();
    let files = cdc_core::unload::cdc_files(cfg, t, raw, cdc_core::dms::ListingScope::Full).await?;
    steps.push(Step::new(format!("plan: list {} files", files.len()), started.elapsed().as_secs_f64()));
    let started = Instant::now();
    let schemas = raw.file_schemas(&files).await?;
    for (f, columns) in files.iter().zip(&schemas) {
        cdc_core::load::check_file_schema(&cfg.dms, t, f, columns)?;
    }
    steps.push(Step::new("plan: schema check of each file".into(), started.elapsed().as_secs_f64()));
    let batch = merge_sql::load_batch(cfg, t, Dialect::DuckDb, &files);
    let conn = warehouse.connection()?;
    conn.execute_batch("BEGIN TRANSACTION")?;
    for sql in batch.statements.iter().map(String::as_str).chain(["COMMIT"]) {
        // Plain DDL and COMMIT have no plan worth reading.
        let explainable = explain && ["CREATE TEMP TABLE cdc_files", "COMMIT"].iter().all(|p| !sql.starts_with(p));
        let started = Instant::now();
        let outcome = if explainable {
            explain_analyze(&conn, sql).map(Some)
        } else {
            conn.execute_batch(sql).map(|_| None).map_err(anyhow::Error::from)
        };
        let secs = started.elapsed().as_secs_f64();
        match outcome {
            Ok(plan) => steps.push(Step { what: short(sql), secs, plan }),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e.context(format!("statement: {sql}")));
            }
        }
    }
    Ok(steps)
}

fn explain_analyze(conn: &Connection, sql: &str) -> anyhow::Result<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN ANALYZE {sql}"))?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(1))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?.join("\n"))
}

/// A statement shortened for a table cell: long file lists elided.
fn short(sql: &str) -> String {
    let mut s = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(start) = s.find("read_parquet([")
        && let Some(end) = s[start..].find(']')
    {
        s.replace_range(start + "read_parquet([".len()..start + end, "…files…");
    }
    if let Some(start) = s.find("VALUES (") {
        s.truncate(start + "VALUES (".len());
        s.push_str("…)");
    }
    const MAX: usize = 110;
    if s.chars().count() > MAX {
        s = s.chars().take(MAX).collect::<String>() + "…";
    }
    s
}

fn print_breakdown(n: u64, steps: &[Step]) {
    let total: f64 = steps.iter().map(|s| s.secs).sum();
    let mut ranked: Vec<usize> = (0..steps.len()).collect();
    ranked.sort_by(|&a, &b| steps[b].secs.total_cmp(&steps[a].secs));
    let mut table = Table::new();
    table.set_header(["#", "seconds", "share", "rank", "step"]);
    for (i, s) in steps.iter().enumerate() {
        let rank = ranked.iter().position(|&r| r == i).unwrap_or(0) + 1;
        table.add_row([
            (i + 1).to_string(),
            format!("{:.3}", s.secs),
            format!("{:.0} %", 100.0 * s.secs / total.max(f64::EPSILON)),
            rank.to_string(),
            s.what.clone(),
        ]);
    }
    println!("\nBreakdown of (a) for N={n} (untimed extra run; statements in one transaction): total {total:.3} s");
    println!("{table}");
    for &i in ranked.iter().filter(|&&i| steps[i].plan.is_some()).take(3) {
        println!(
            "\nEXPLAIN ANALYZE of step {} ({:.3} s):\n{}",
            i + 1,
            steps[i].secs,
            steps[i].plan.as_deref().unwrap_or("")
        );
    }
}
