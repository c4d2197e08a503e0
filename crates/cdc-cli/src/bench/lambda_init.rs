//! `cdc bench lambda-init`: each function's cold start as Lambda sees it:
//! init time (process start to its first `GET /runtime/invocation/next` on
//! the Runtime API) and the process's peak RSS at that moment, measured
//! against a Runtime API stand-in on loopback that never answers `/next`.
//! The seed's Python unload function (boto3, under `awslambdaric`, the
//! runtime client AWS's Python images use) is measured the same way in the
//! same run. Goals: init ≤ 10 ms, peak RSS ≤ 16 MB.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use comfy_table::Table;

use cdc_core::steps::dispatch::Function;

#[derive(Args)]
pub struct LambdaInitArgs {
    /// Folder holding the built function binaries (cdc-fn-*).
    #[arg(long)]
    functions: PathBuf,
    /// Python with awslambdaric and boto3, for the seed's function; skipped when absent.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Folder of the seed's unload function (`lambda_function.py`).
    #[arg(long, default_value = "bench/seed_unload")]
    seed: PathBuf,
    /// Cold starts per function (the median init and the largest RSS are reported).
    #[arg(long, default_value_t = 15)]
    runs: usize,
}

const INIT_GOAL_MS: f64 = 10.0;
const RSS_GOAL_MB: f64 = 16.0;

/// One cold start: init time and peak RSS when the runtime asked for work.
struct ColdStart {
    init: Duration,
    peak_rss_kb: u64,
}

pub async fn run(args: LambdaInitArgs) -> anyhow::Result<()> {
    let mut table = Table::new();
    table.set_header(["function", "init median ms", "init min ms", "peak RSS MB", "goals (10 ms, 16 MB)"]);
    let mut rust_inits = Vec::new();
    for f in Function::ALL.map(Function::name) {
        let bin = args.functions.join(format!("cdc-fn-{f}"));
        if !bin.exists() {
            bail!("{} is not built (scripts/bench-lambda builds it)", bin.display());
        }
        let starts = measure(args.runs, || Command::new(&bin))?;
        let row = summarize(f, &starts);
        rust_inits.push(row.1);
        table.add_row(row.0);
    }
    let mut seed_median = None;
    if let Some(python) = &args.python {
        let seed = args.seed.canonicalize().with_context(|| format!("seed function folder {}", args.seed.display()))?;
        let starts = measure(args.runs.min(5), || {
            let mut c = Command::new(python);
            c.args(["-m", "awslambdaric", "lambda_function.lambda_handler"]).current_dir(&seed);
            c
        })?;
        let row = summarize("seed unload (Python, boto3)", &starts);
        seed_median = Some(row.1);
        table.add_row(row.0);
    }
    println!("{table}");
    if let Some(seed) = seed_median {
        let slowest = rust_inits.iter().cloned().fold(0.0, f64::max);
        println!("seed init / slowest function init: {:.1}x", seed / slowest);
    }
    Ok(())
}

fn summarize(name: &str, starts: &[ColdStart]) -> (Vec<String>, f64) {
    let mut ms: Vec<f64> = starts.iter().map(|s| s.init.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    let rss_mb = starts.iter().map(|s| s.peak_rss_kb).max().unwrap_or(0) as f64 / 1024.0;
    let met = median <= INIT_GOAL_MS && rss_mb <= RSS_GOAL_MB;
    let row = vec![
        name.to_string(),
        format!("{median:.2}"),
        format!("{:.2}", ms[0]),
        format!("{rss_mb:.1}"),
        if met { "met".into() } else { "not met".into() },
    ];
    (row, median)
}

fn measure(runs: usize, command: impl Fn() -> Command) -> anyhow::Result<Vec<ColdStart>> {
    (0..runs).map(|_| cold_start(command())).collect()
}

/// Starts the process against a fresh Runtime API stand-in and waits for its `/next`.
fn cold_start(mut cmd: Command) -> anyhow::Result<ColdStart> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let api = listener.local_addr()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_ok() && line.contains("/runtime/invocation/next") {
                let _ = tx.send(Instant::now());
                // Keep the connection open: the runtime waits, as between invocations.
                std::mem::forget(stream);
                return;
            }
        }
    });
    // Only what Lambda sets: this shell's variables (SSL_CERT_FILE, AWS_*,
    // proxies) would change what the function does at init.
    cmd.env_clear()
        .envs(function_environment())
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = cmd.spawn().context("starting the function")?;
    let asked = rx.recv_timeout(Duration::from_secs(30));
    let peak = peak_rss_kb(&child);
    stop(&mut child);
    let asked = asked.context("the function never asked the Runtime API for an event")?;
    Ok(ColdStart { init: asked - started, peak_rss_kb: peak? })
}

/// VmHWM: the most resident memory the process has had.
fn peak_rss_kb(child: &Child) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM in /proc/<pid>/status")?;
    Ok(line.split_whitespace().nth(1).context("VmHWM value")?.parse()?)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// What Lambda and template.yaml give a function (values valid but unused:
/// no AWS call happens before the first event), and what the seed reads.
fn function_environment() -> Vec<(&'static str, &'static str)> {
    vec![
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("TZ", ":UTC"),
        ("LANG", "en_US.UTF-8"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("PIPELINE_CONFIG", "s3://bench-config/cdc/pipeline.toml"),
        ("REDSHIFT_WORKGROUP", "analytics"),
        ("REDSHIFT_DATABASE", "dev"),
        ("RAW_LOCATION", "s3://bench-raw"),
        ("OPTIMIZED_LOCATION", "s3://bench-optimized/cdc"),
        ("GLUE_DATABASE", "cdc_raw"),
        ("JOB_TABLE", "cdc-job-state"),
        ("NOTIFY_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:cdc-alerts"),
        // The seed's variables.
        ("glue_database", "cdc_raw"),
        ("redshift_database", "dev"),
        ("redshift_role_arn", "arn:aws:iam::123456789012:role/cdc-redshift"),
        ("cluster_identifier", "analytics"),
        ("secret_arn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:cdc"),
    ]
}
