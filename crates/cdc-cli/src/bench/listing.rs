//! `cdc bench listing`: a year of DMS history of one table in S3 (moto), and
//! what a claim's listing costs on it: ListObjectsV2 calls and time of an
//! idle claim, of a claim with a few new files, and of a whole listing (the
//! periodic one, and every claim's before issue 20), measured in one run.
//! Goal: at most 3 list calls per table per claim outside the periodic
//! whole listing; the times are shown as ratios against the whole listing.
//!
//! The claim is the job-state step itself on the S3 raw zone adapter; its
//! job state is a local file and its raw catalog the local one, since the
//! catalog sync lists nothing (the figure is the raw zone's).

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chrono::{DateTime, Utc};
use clap::Args;
use comfy_table::Table;
use futures::{StreamExt, TryStreamExt};

use cdc_aws::deployment::s3_client_with;
use cdc_aws::iam_record::{ArnScope, CallRecorder};
use cdc_aws::{S3Location, S3RawZone};
use cdc_core::PipelineConfig;
use cdc_core::dms::Layout;
use cdc_core::job::{JobStateStore, Lease};
use cdc_core::notify::NotifyPolicy;
use cdc_core::ports::RawListing;
use cdc_core::steps::RunIds;
use cdc_core::steps::dispatch::{Function, in_function};
use cdc_core::steps::job::{
    ClaimOutcome, ClaimOutput, ClaimPorts, ReleaseInput, RunResults, TableResult, claim, release,
};
use cdc_local::{FileJobStore, LocalRawCatalog};
use cdc_moto::MotoServer;

const GOAL_LIST_CALLS: usize = 3;
const BUCKET: &str = "cdc-raw";
const LIST_OPERATION: &str = "s3.ListObjectsV2";

#[derive(Args)]
pub struct ListingArgs {
    /// Pipeline configuration file; its `[dms]` layout is used.
    #[arg(long, default_value_os_t = crate::default_config())]
    pub config: std::path::PathBuf,
    /// The table whose history is simulated.
    #[arg(long, default_value = "pgbench_history")]
    pub table: String,
    /// CDC files in the history (one every 5 minutes for a year: 105,120).
    #[arg(long, default_value_t = 105_120)]
    pub objects: usize,
    /// Days the history spans, ending today.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// New files the second claim finds.
    #[arg(long, default_value_t = 5)]
    pub new_files: usize,
    /// Timed runs of the idle claim and of the whole listing; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Uploads in flight while the history is written.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

/// One measured listing.
struct Measured {
    what: &'static str,
    calls: usize,
    seconds: Vec<f64>,
    objects: usize,
}

impl Measured {
    fn median(&self) -> f64 {
        let mut s = self.seconds.clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    }
}

pub async fn run(args: ListingArgs) -> anyhow::Result<()> {
    ensure!(args.objects >= 1 && args.days >= 1 && args.repeat >= 1, "objects, days and repeat must be positive");
    let mut cfg = PipelineConfig::load(&args.config)?;
    cfg.tables.retain(|t| t.name.as_str() == args.table);
    ensure!(!cfg.tables.is_empty(), "table {} is not in the config", args.table);
    cfg.derived.clear();
    let moto = MotoServer::start().context("starting moto_server (CDC_VENV=\"$(scripts/python-tools)\")")?;
    let sdk = moto.sdk_config().await;
    let recorder = CallRecorder::new(ArnScope::new("aws", "us-east-1", "123456789012"));
    let s3 = s3_client_with(&sdk, &[recorder.shared()]);
    s3.create_bucket().bucket(BUCKET).send().await?;
    let raw = S3RawZone::new(s3.clone(), S3Location::new(BUCKET, "")?);

    let now = Utc::now();
    let keys = history_keys(&cfg, args.objects, args.days, now);
    eprintln!("writing {} objects ({} days of DMS files) to moto's S3...", keys.len(), args.days);
    let started = Instant::now();
    put_all(&s3, &keys, args.concurrency).await?;
    eprintln!("written in {:.0} s", started.elapsed().as_secs_f64());

    let dir = tempfile::tempdir()?;
    let store = FileJobStore::new(dir.path(), Duration::from_secs(86_400))?;
    let ports = ClaimPorts { store: &store, raw: &raw, raw_catalog: &LocalRawCatalog };
    let lease = Lease::new(Duration::from_secs(600))?;

    // The first claim lists whole (none did yet); its release stores the hints.
    let first = measure_claim(&cfg, ports, &recorder, "first", lease).await?;
    ensure!(first.1.full_listing, "the first claim must list whole");
    settle(&cfg, &store, &first.1, "first").await?;

    let mut idle = Measured { what: "idle claim", calls: 0, seconds: Vec::new(), objects: 0 };
    for i in 0..args.repeat {
        let (m, out) = measure_claim(&cfg, ports, &recorder, &format!("idle-{i}"), lease).await?;
        ensure!(out.outcome == ClaimOutcome::Idle, "claim {i} was not idle: {:?}", out.outcome);
        (idle.calls, idle.objects) = (m.calls, m.objects);
        idle.seconds.extend(m.seconds);
    }

    let newest = keys.last().map(|(_, at)| *at).unwrap_or(now);
    let fresh = new_keys(&cfg, args.new_files, newest);
    put_all(&s3, &fresh, args.concurrency).await?;
    let (with_new, out) = measure_claim(&cfg, ports, &recorder, "new-files", lease).await?;
    ensure!(out.outcome == ClaimOutcome::Claimed && !out.nothing_new, "the claim did not find the new files");
    let with_new = Measured { what: "claim with new files", ..with_new };

    let mut whole = Measured { what: "whole listing", calls: 0, seconds: Vec::new(), objects: 0 };
    for _ in 0..args.repeat {
        let before = list_calls(&recorder);
        let t = Instant::now();
        let listing = in_function(Function::JobState, RawListing::list(&cfg, &raw)).await?;
        whole.seconds.push(t.elapsed().as_secs_f64());
        whole.calls = list_calls(&recorder) - before;
        whole.objects = listing.tables.values().map(Vec::len).sum();
    }
    report(&[first.0, idle, with_new], &whole, keys.len() + fresh.len());
    Ok(())
}

/// One claim, with its list calls and time.
async fn measure_claim(
    cfg: &PipelineConfig,
    ports: ClaimPorts<'_>,
    recorder: &CallRecorder,
    name: &str,
    lease: Lease,
) -> anyhow::Result<(Measured, ClaimOutput)> {
    let ids = RunIds { job_id: cfg.job_id.clone(), execution_id: format!("bench-{name}") };
    let before = list_calls(recorder);
    let now = Utc::now();
    let t = Instant::now();
    let out = in_function(Function::JobState, claim(cfg, ports, &ids, lease, now, now)).await?;
    let seconds = t.elapsed().as_secs_f64();
    let objects = out.hints.values().map(|h| h.files as usize).sum();
    let m =
        Measured { what: "first claim (whole)", calls: list_calls(recorder) - before, seconds: vec![seconds], objects };
    Ok((m, out))
}

/// Ends a claimed run as a successful one that loaded its tables, with the
/// config set up: the next claim finds the job as after a normal run.
async fn settle(cfg: &PipelineConfig, store: &FileJobStore, out: &ClaimOutput, name: &str) -> anyhow::Result<()> {
    let ids = RunIds { job_id: cfg.job_id.clone(), execution_id: format!("bench-{name}") };
    store.set_config_fingerprint(&ids.job_id, &ids.execution_id, &cfg.fingerprint()).await?;
    let loaded = |t: &String| TableResult { table: t.clone(), ok: true, ..TableResult::default() };
    let results = RunResults { facts: out.tables.iter().map(loaded).collect(), ..RunResults::default() };
    let input = ReleaseInput {
        ids,
        started_at: out.started_at,
        hints: out.hints.clone(),
        results,
        full_listing: out.full_listing,
    };
    release(store, NotifyPolicy::default(), &input, Utc::now()).await?;
    Ok(())
}

fn list_calls(recorder: &CallRecorder) -> usize {
    recorder.rows().iter().filter(|r| r.operation == LIST_OPERATION).count()
}

/// The table's full load and `objects` CDC files spread evenly over the
/// `days` up to `now`, keyed as the config's DMS layout names them.
fn history_keys(cfg: &PipelineConfig, objects: usize, days: u32, now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
    let t = &cfg.tables[0];
    let layout = Layout::new(&cfg.dms);
    let span = chrono::Duration::days(i64::from(days));
    let start = now - span;
    let step = span / objects as i32;
    let mut keys = vec![(layout.full_load_key(t.schema.as_str(), t.name.as_str(), 1), start)];
    for i in 0..objects {
        let at = start + step * i as i32;
        keys.push((layout.cdc_key(t.schema.as_str(), t.name.as_str(), at.naive_utc()), at));
    }
    keys
}

/// `n` CDC files a minute apart after `newest`.
fn new_keys(cfg: &PipelineConfig, n: usize, newest: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
    let t = &cfg.tables[0];
    let layout = Layout::new(&cfg.dms);
    (1..=n)
        .map(|i| {
            let at = newest + chrono::Duration::minutes(i as i64);
            (layout.cdc_key(t.schema.as_str(), t.name.as_str(), at.naive_utc()), at)
        })
        .collect()
}

async fn put_all(s3: &aws_sdk_s3::Client, keys: &[(String, DateTime<Utc>)], concurrency: usize) -> anyhow::Result<()> {
    let puts = keys.iter().map(|(key, _)| {
        let s3 = s3.clone();
        async move {
            let body = aws_sdk_s3::primitives::ByteStream::from_static(b"PAR1");
            s3.put_object().bucket(BUCKET).key(key).body(body).send().await.with_context(|| format!("putting {key}"))
        }
    });
    futures::stream::iter(puts).buffer_unordered(concurrency.max(1)).try_collect::<Vec<_>>().await?;
    Ok(())
}

fn report(claims: &[Measured], whole: &Measured, objects: usize) {
    let mut table = Table::new();
    table.set_header(["listing", "ListObjectsV2 calls", "objects listed", "seconds (median)", "time vs whole listing"]);
    for m in claims.iter().chain(std::iter::once(whole)) {
        table.add_row([
            m.what.to_string(),
            m.calls.to_string(),
            m.objects.to_string(),
            format!("{:.3}", m.median()),
            format!("{:.3}", m.median() / whole.median()),
        ]);
    }
    println!("one table, {objects} objects in its folders\n{table}");
    let bounded = &claims[1..];
    let worst = bounded.iter().map(|m| m.calls).max().unwrap_or(0);
    let verdict = if worst <= GOAL_LIST_CALLS { "met" } else { "NOT met" };
    println!(
        "goal: at most {GOAL_LIST_CALLS} list calls per table per claim outside the periodic whole listing: {verdict} \
         ({worst}; the whole listing takes {})",
        whole.calls
    );
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn the_history_spreads_its_files_over_the_days_and_ends_now() {
        let cfg = PipelineConfig::parse(include_str!("../../../../config/pipeline.toml"), "t").unwrap();
        let mut cfg = cfg;
        cfg.tables.retain(|t| t.name.as_str() == "pgbench_history");
        let now: DateTime<Utc> = "2026-12-05T12:00:00Z".parse().unwrap();
        let keys = history_keys(&cfg, 730, 365, now);
        assert_eq!(keys.len(), 731);
        assert!(keys[0].0.ends_with("LOAD00000001.parquet"), "{}", keys[0].0);
        let days: std::collections::BTreeSet<NaiveDate> = keys[1..].iter().map(|(_, at)| at.date_naive()).collect();
        assert!((364..=366).contains(&days.len()), "{}", days.len());
        assert!(keys.last().unwrap().1 < now);
        let fresh = new_keys(&cfg, 5, keys.last().unwrap().1);
        assert!(fresh.iter().all(|(k, _)| k.as_str() > keys.last().unwrap().0.as_str()));
    }
}
