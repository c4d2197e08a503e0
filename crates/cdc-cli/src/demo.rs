//! `cdc demo`: the project's main job. Generates a DMS raw zone (full load,
//! then CDC cycles that cross day boundaries and carry every hard case),
//! runs the pipeline after each delivery and checks the warehouse against the
//! oracle after every cycle, failing loudly on any difference.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use comfy_table::Table;
use indicatif::{ProgressBar, ProgressStyle};

use cdc_core::PipelineConfig;
use cdc_core::ports::FileKind;
use cdc_dmsgen::{CycleReport, DmsLayout, Generator, GeneratorConfig, ReloadNaming};
use cdc_local::{DuckDbWarehouse, FolderRawZone};
use chrono::{DateTime, Utc};

use crate::demo_layouts;
use crate::run::{JobArgs, fail_on_errors};
use crate::verify::{TypedCheck, Verification, typed_failures, verify, verify_typed_values, verify_unloaded_day};

#[derive(Args)]
pub struct DemoArgs {
    /// Pipeline configuration file.
    #[arg(long, default_value_os_t = crate::default_config())]
    pub config: PathBuf,
    /// Working folder; its raw zone and warehouse are recreated.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Branches (pgbench scale): 10 tellers and `accounts_per_branch` accounts each.
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    #[arg(long, default_value_t = 100_000)]
    pub accounts_per_branch: u32,
    /// CDC cycles after the full load.
    #[arg(long, default_value_t = 6)]
    pub cycles: usize,
    /// pgbench transactions per cycle.
    #[arg(long, default_value_t = 20_000)]
    pub transactions: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print each run's execution history (states, retries, catches).
    #[arg(long)]
    pub trace: bool,
    /// The state machine definition each run executes (the deployed file).
    #[arg(long, default_value_os_t = crate::pipeline_run::default_state_machine())]
    pub state_machine: PathBuf,
    /// DMS S3 layouts to run, comma-separated, or `all`: `seed` (the
    /// config's `[dms]`), `dms-defaults`, `slash-yyyymmdd`, `dash-yyyymmdd`,
    /// `slash-yyyymmddhh`, `yyyymm`, `underscore-mmyyyydd`, `none-ddmmyyyy`
    /// (`all`), and `inserts-only` (DMS's `CdcInsertsOnly`: CDC files
    /// without `Op`, updates and deletes left out). Each runs in a folder of
    /// its own under `--out`.
    #[arg(long, default_value = "all")]
    pub layouts: String,
}

struct CycleLine {
    name: String,
    generated: CycleReport,
    files: u64,
    changes: u64,
    applied: u64,
    rows: u64,
    seconds: f64,
    unloaded_days: usize,
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let cfg = PipelineConfig::load(&args.config)?;
    for w in cfg.warnings() {
        eprintln!("warning: {w}");
    }
    if args.out.exists() {
        std::fs::remove_dir_all(&args.out).with_context(|| format!("clearing {}", args.out.display()))?;
    }
    let names: Vec<String> = match args.layouts.as_str() {
        "all" => demo_layouts::names().into_iter().map(str::to_string).collect(),
        list => list.split(',').map(|n| n.trim().to_string()).collect(),
    };
    let mut verified = Vec::new();
    for name in &names {
        // The config's own [dms] for the seed layout, so a user's config runs as written.
        let cfg = if name == "seed" { cfg.clone() } else { demo_layouts::with_layout(&cfg, name)? };
        println!("== DMS layout {name}: {}", describe_layout(&cfg));
        let out = args.out.join(name);
        // The seed's files carry a Parquet TIMESTAMP; the others DMS's text.
        demo_layout(&args, &cfg, &out, name != "seed").await.with_context(|| format!("layout {name}"))?;
        verified.push(name.clone());
    }
    println!("every layout verified against the oracle: {}", verified.join(", "));
    Ok(())
}

/// Where the layout puts one CDC file and one full-load file.
fn describe_layout(cfg: &PipelineConfig) -> String {
    let layout = cdc_core::dms::Layout::new(&cfg.dms);
    let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).and_then(|d| d.and_hms_opt(20, 5, 0)).unwrap_or_default();
    format!("{} and {}", layout.full_load_key("public", "t", 10), layout.cdc_key("public", "t", at))
}

/// One layout's demo: the full load and the CDC cycles, each verified.
async fn demo_layout(
    args: &DemoArgs,
    cfg: &PipelineConfig,
    out: &std::path::Path,
    ts_as_text: bool,
) -> anyhow::Result<()> {
    let cfg = cfg.clone();
    let raw_root = out.join("raw");
    std::fs::create_dir_all(&raw_root)?;
    let layout = layout_of(&cfg, ts_as_text)?;
    let gen_cfg = GeneratorConfig {
        seed: args.seed,
        branches: args.scale,
        accounts_per_branch: args.accounts_per_branch,
        hold_past_window: true,
        history_full_load_after_cdc: true,
        ..GeneratorConfig::default()
    };
    let mut generator = Generator::new(&raw_root, layout, gen_cfg)?;
    let warehouse_path = out.join("warehouse.duckdb");
    let warehouse = Arc::new(DuckDbWarehouse::open(&warehouse_path)?);
    let raw = FolderRawZone::new(&raw_root)?;
    let job = JobArgs { trace: args.trace, state_machine: args.state_machine.clone(), ..JobArgs::defaults(None) };
    let optimized = crate::run::default_optimized_dir(&warehouse_path);

    let bar = ProgressBar::new(args.cycles as u64 + 1);
    bar.set_style(ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")?.progress_chars("=> "));
    let mut lines = Vec::new();
    for cycle in 0..=args.cycles {
        let name = if cycle == 0 { "full load".to_string() } else { format!("cdc {cycle}") };
        bar.set_message(format!("{name}: generating"));
        if cycle == args.cycles && cycle > 1 {
            // A quiet spell before the last cycle, so the files held back
            // since the first cycle land in days older than the load's
            // listing window (docs/dms.md: late files in any day).
            generator.pause(quiet_spell(&cfg))?;
        }
        if let Some((table, naming, what)) = reload_before(cycle) {
            generator.reload(table, naming)?;
            bar.suspend(|| println!("  [{name}] DMS reloads {table}: {what}"));
        }
        if cycle == WIDENED_BEFORE {
            generator.widen_teller_filler(WIDENED_CHARS);
            bar.suspend(|| {
                println!(
                    "  [{name}] the source widens pgbench_tellers.filler to varchar({WIDENED_CHARS}) and writes values that long"
                )
            });
        }
        if cycle == RETYPED_BEFORE {
            let (table, column) = RETYPED;
            generator.retype_to_bigint(table, column)?;
            bar.suspend(|| {
                println!(
                    "  [{name}] the source makes {table}.{column} a bigint; DMS writes it as INT64 from now on, and the \
                     load rebuilds the table with the new type"
                )
            });
        }
        if let Some(table) = column_added_before(cycle) {
            let added = generator.add_column(table)?;
            bar.suspend(|| {
                println!("  [{name}] the source adds column {} to {table}; DMS writes it from now on", added.name)
            });
        }
        let mut generated = if cycle == 0 { generator.full_load()? } else { generator.cdc_cycle(args.transactions)? };
        if cycle == args.cycles {
            // The last cycle delivers what is still held back, so the final
            // check compares with the source database itself.
            generated.absorb(generator.finish()?);
        }
        bar.set_message(format!("{name}: loading"));
        let started = Instant::now();
        let open_warehouse = Arc::clone(&warehouse);
        let unload_now = Some(unload_clock(&cfg, &generator, cycle == args.cycles));
        let mut run_cfg = cfg.clone();
        if cycle == args.cycles && cycle > 1 {
            // The quiet spell stands for more than a day, in which the
            // periodic whole listing (`full_listing_every`) comes: this
            // claim lists whole, as that one would, and finds the files
            // that arrived after the lateness window (docs/dms.md).
            run_cfg.full_listing_every = std::time::Duration::ZERO;
        }
        let pipeline = job.pipeline(&run_cfg, &raw_root, &warehouse_path, &optimized, unload_now, move || {
            Ok(Arc::clone(&open_warehouse))
        })?;
        let execution = format!("demo-{}-{cycle}", args.seed);
        let run = if cycle == RESYNC_IN {
            // As from the console: Start execution with a Resync input.
            bar.suspend(|| println!("  [{name}] the execution is started with {{\"Resync\": [\"{RESYNCED}\"]}}"));
            pipeline
                .run_with_input(&execution, serde_json::json!({ "JobId": cfg.job_id, "Resync": [RESYNCED] }))
                .await?
        } else {
            pipeline.run(&execution).await?
        };
        job.keep_history(&warehouse_path, &run)?;
        let seconds = started.elapsed().as_secs_f64();
        if args.trace {
            bar.suspend(|| println!("{}", cdc_asl::render_history(&run.execution.history, 160)));
        }
        if let Some(owner) = run.skipped_by() {
            bail!("{name}: the job is held by {owner}");
        }
        if run.was_idle() {
            bail!("{name}: the generator wrote files but the run found nothing new");
        }
        bar.suspend(|| crate::run::print_results(&run));
        fail_on_errors(&run)?;
        bar.set_message(format!("{name}: verifying"));
        let conn = warehouse.connection()?;
        let checked = verify(&cfg, &conn, &generator)?;
        bar.suspend(|| report_verification(&name, &checked));
        ensure_verified(&name, &checked)?;
        let typed = verify_typed_values(&cfg, warehouse.as_ref(), &generator).await?;
        bar.suspend(|| report_typed(&name, &typed));
        if let Some(differences) = typed_failures(&typed) {
            bail!("{name}: the types tables differ from the source values:\n{differences}");
        }
        if cycle == args.cycles {
            let late = late_files_applied(&cfg, &conn, &raw_root, &generated.late_files)?;
            bar.suspend(|| println!("  [{name}] ok       {late}"));
        }
        let exported = verify_unload(&cfg, &conn, &raw, &optimized).await?;
        let results = run.release.as_ref().map(|(input, _)| input.results.clone()).unwrap_or_default();
        let unloaded_days = results.unload.iter().map(|t| t.files).sum::<u64>() as usize;
        bar.suspend(|| println!("  [{name}] ok       {exported} exported day(s) equal their raw days"));
        let loads = results.dimensions.iter().chain(&results.facts);
        let (files, changes, applied) = loads.fold((0, 0, 0), |(f, c, a), t| (f + t.files, c + t.changes, a + t.rows));
        let rows = checked.tables.iter().take(cfg.tables.len()).map(|t| t.rows).sum();
        lines.push(CycleLine { name, generated, files, changes, applied, rows, seconds, unloaded_days });
        bar.inc(1);
    }
    bar.finish_with_message("done");
    print_summary(&lines);
    if generator.all_delivered() {
        println!("every cycle verified against the oracle; the final state equals the source database");
    } else {
        // cdc_inserts_only / cdc_inserts_and_updates: DMS leaves changes out by design.
        println!("every cycle verified against the oracle (DMS writes only some operations in this layout)");
    }
    println!(
        "job state and run history: cdc status --state-dir {}",
        crate::run::default_state_dir(&warehouse_path).display()
    );
    Ok(())
}

/// The clock that decides which days are finished: the generator's. After
/// the last cycle the source stops, so the clock moves past the last day's
/// end (and the lateness) and every day is exported.
fn unload_clock(cfg: &PipelineConfig, generator: &Generator, last: bool) -> DateTime<Utc> {
    let now = generator.now();
    if !last {
        return now;
    }
    let next_midnight = (now.date_naive() + chrono::Days::new(1)).and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    next_midnight + chrono::Duration::from_std(cfg.unload.lateness).expect("lateness within a week")
}

/// Every day the record says was exported equals its raw day (a run
/// re-exports a day whose raw files changed, so after a run none is stale).
pub(crate) async fn verify_unload(
    cfg: &PipelineConfig,
    conn: &duckdb::Connection,
    raw: &FolderRawZone,
    optimized: &std::path::Path,
) -> anyhow::Result<usize> {
    let sql = format!("SELECT table_name, changedate, row_count FROM {}", cdc_core::sql::names::unloaded_days(cfg));
    let mut stmt = conn.prepare(&sql)?;
    let days: Vec<(String, String, i64)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
    for (table, day, recorded) in &days {
        let t = cfg.table(table).context("unloaded table not in config")?;
        // The day's files as the layout reads them, not as the export chose them.
        let listing = cdc_core::dms::list_table(cfg, t, raw).await?;
        let files: Vec<String> = listing
            .of_kind(FileKind::Cdc)
            .filter(|f| f.partition.as_deref() == Some(day.as_str()))
            .map(|f| f.path.clone())
            .collect();
        let dir = optimized.join(t.name.as_str()).join(format!("changedate={day}"));
        let rows = verify_unloaded_day(conn, t, cfg.dms.cdc_files_carry_op(), &files, &dir)?;
        if rows != *recorded as u64 {
            bail!("{table} {day}: the record says {recorded} rows, the raw day holds {rows}");
        }
    }
    Ok(days.len())
}

/// The generator writes what the config expects DMS to write.
/// The DMS reloads the demo runs (docs/table-lifecycle.md), before a
/// cycle's changes: in both naming cases, since DMS's documentation does not
/// say which an S3 target gets. The accounts reload also carries a delete
/// DMS missed, which only the rebuild brings to the target.
fn reload_before(cycle: usize) -> Option<(&'static str, ReloadNaming, &'static str)> {
    match cycle {
        2 => Some(("pgbench_accounts", ReloadNaming::InPlace, "a new full load written over the old files")),
        3 => Some(("pgbench_history", ReloadNaming::NewSet { files: 3 }, "a new full load of three files")),
        4 => Some((
            "pgbench_accounts",
            ReloadNaming::NewSet { files: 2 },
            "a new full load of two files; the old load's other files stay, stale",
        )),
        _ => None,
    }
}

/// Before this cycle the source widens `pgbench_tellers.filler` (configured
/// `varchar(84)`) to this many characters: the load widens the target's
/// column and loads the longer values (docs/table-lifecycle.md).
const WIDENED_BEFORE: usize = 2;
const WIDENED_CHARS: usize = 120;

/// Before this cycle the source makes `pgbench_accounts.abalance` (configured
/// `integer`) a bigint: the next load rebuilds the table with the new type
/// (docs/table-lifecycle.md, "Type changes").
const RETYPED_BEFORE: usize = 3;
const RETYPED: (&str, &str) = ("pgbench_accounts", "abalance");

/// This cycle's execution is started with a resync of `RESYNCED`, as an
/// operator starts one from the console: the table is rebuilt from its full
/// load and every CDC change since, and verified like every cycle.
const RESYNC_IN: usize = 1;
const RESYNCED: &str = "pgbench_branches";

/// The columns the demo's source adds mid-stream (docs/table-lifecycle.md,
/// "Schema changes"): to a dimension before the first CDC cycle, and to the
/// fact table before the cycle ahead of its reload, which then carries it.
fn column_added_before(cycle: usize) -> Option<&'static str> {
    match cycle {
        1 => Some("pgbench_tellers"),
        2 => Some("pgbench_history"),
        _ => None,
    }
}

/// One day more than the longest lateness window: the pause after which
/// the held-back files' days are older than every table's listing window.
fn quiet_spell(cfg: &PipelineConfig) -> chrono::Duration {
    let longest = cfg.tables.iter().map(|t| t.lateness_window).max().unwrap_or_default();
    chrono::Duration::from_std(longest).unwrap_or_default() + chrono::Duration::days(1)
}

/// Checks that every file the last cycle delivered late is in its table's
/// progress, and says how many lay in a day older than the listing window
/// (the days from `lateness_window` before the newest applied day).
fn late_files_applied(
    cfg: &PipelineConfig,
    conn: &duckdb::Connection,
    raw_root: &std::path::Path,
    late: &[std::path::PathBuf],
) -> anyhow::Result<String> {
    let mut beyond = Vec::new();
    for path in late {
        let rel = path.strip_prefix(raw_root).unwrap_or(path).to_string_lossy().replace('\\', "/");
        let t = cfg
            .tables
            .iter()
            .find(|t| rel.split('/').any(|part| part == t.name.as_str()))
            .with_context(|| format!("late file {rel} belongs to no configured table"))?;
        let progress = cdc_core::sql::names::progress(cfg, t);
        let like = cdc_core::sql::Dialect::DuckDb.literal(&format!("%/{rel}"));
        let found: Option<(String, String)> = conn
            .query_row(
                &format!(
                    "SELECT p.partition_0, (SELECT MAX(partition_0) FROM {progress} WHERE kind = 'C') \
                     FROM {progress} p WHERE p.file LIKE {like}"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        let (day, newest) = found.with_context(|| format!("late file {rel} was not applied to {}", t.name))?;
        let newest = chrono::NaiveDate::parse_from_str(&newest, "%Y%m%d")?;
        let oldest_listed = (newest - chrono::Days::new(t.listing_window_days())).format("%Y%m%d").to_string();
        if day < oldest_listed {
            beyond.push(format!("{} day {day} (listed file by file from {oldest_listed})", t.name));
        }
    }
    Ok(format!(
        "{} late file(s) applied, {} of them in a day older than the listing window: {}",
        late.len(),
        beyond.len(),
        beyond.join("; ")
    ))
}

fn layout_of(cfg: &PipelineConfig, ts_as_text: bool) -> anyhow::Result<DmsLayout> {
    let first = cfg.tables.first().context("config has no tables")?;
    let seq = first.sequence_column.as_ref().context("the demo needs a sequence_column in the config")?;
    Ok(DmsLayout {
        dms: cfg.dms.clone(),
        schema: first.schema.to_string(),
        ts_column: first.commit_ts_column.to_string(),
        seq_column: seq.to_string(),
        ts_as_text,
    })
}

fn report_verification(name: &str, v: &Verification) {
    for t in &v.tables {
        let verdict = if t.ok() { "ok" } else { "MISMATCH" };
        println!("  [{name}] {verdict:8} {:32} {:>8} rows  compared: {}", t.table, t.rows, t.columns.join(", "));
        for s in &t.samples {
            println!("      {s}");
        }
    }
    if v.source_checked {
        println!("  [{name}] ok       oracle equals the source database (all files delivered)");
    }
}

fn report_typed(name: &str, checks: &[TypedCheck]) {
    for c in checks {
        let verdict = if c.ok() { "ok" } else { "MISMATCH" };
        println!("  [{name}] {verdict:8} {:32} {:>8} rows  value for value (expected {})", c.table, c.rows, c.expected);
        for d in &c.differences {
            println!("      {d}");
        }
    }
}

fn ensure_verified(name: &str, v: &Verification) -> anyhow::Result<()> {
    let bad: Vec<String> = v
        .tables
        .iter()
        .filter(|t| !t.ok())
        .map(|t| format!("{} ({} missing, {} unexpected rows)", t.table, t.missing, t.unexpected))
        .collect();
    if !bad.is_empty() {
        bail!("{name}: the warehouse differs from the oracle: {}", bad.join(", "));
    }
    Ok(())
}

fn print_summary(lines: &[CycleLine]) {
    let mut table = Table::new();
    table.set_header([
        "cycle",
        "days",
        "late files",
        "files",
        "changes",
        "applied",
        "target rows",
        "seconds",
        "changes/s",
        "days unloaded",
    ]);
    for l in lines {
        let rate = if l.seconds > 0.0 { l.changes as f64 / l.seconds } else { 0.0 };
        table.add_row([
            l.name.clone(),
            l.generated.days.iter().cloned().collect::<Vec<_>>().join(" "),
            l.generated.late_files.len().to_string(),
            l.files.to_string(),
            l.changes.to_string(),
            l.applied.to_string(),
            l.rows.to_string(),
            format!("{:.2}", l.seconds),
            format!("{rate:.0}"),
            l.unloaded_days.to_string(),
        ]);
    }
    println!("{table}");
    let mut cases = std::collections::BTreeMap::<String, usize>::new();
    for l in lines {
        for (k, v) in &l.generated.hard_cases {
            *cases.entry(k.clone()).or_default() += v;
        }
    }
    let listed: Vec<String> = cases.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!("hard cases generated: {}", listed.join(", "));
}
