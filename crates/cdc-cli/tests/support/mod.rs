//! Helpers shared by the `cdc` command's tests.

#![allow(dead_code)] // Each test uses its own part of this module.

use std::path::{Path, PathBuf};

use cdc_cli::pipeline_run::PipelineRun;

/// The first (by name) CDC file of `pgbench_history` in a DMS raw zone.
pub fn first_history_cdc_file(raw: &Path) -> PathBuf {
    history_cdc_files(raw).into_iter().next().expect("a history CDC file")
}

/// The `pgbench_history` CDC files of a DMS raw zone with day folders, in
/// time order (day folder, then DMS's time-stamped name).
pub fn history_cdc_files(raw: &Path) -> Vec<PathBuf> {
    let root = raw.join("cdc/public/pgbench_history");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flat_map(|day| std::fs::read_dir(day.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect();
    files.sort();
    files
}

/// What a run did, in a line: the claim's outcome, and per step the tables
/// that loaded files, were deferred or failed.
pub fn run_summary(run: &PipelineRun) -> String {
    let claim = run.claim.as_ref().map(|c| format!("{:?} full={}", c.outcome, c.full_listing)).unwrap_or_default();
    let Some((input, _)) = &run.release else { return format!("{}: {claim}", run.execution.name) };
    let r = &input.results;
    let steps = [("dim", &r.dimensions), ("fact", &r.facts), ("unload", &r.unload)];
    let tables: Vec<String> = steps
        .iter()
        .flat_map(|(step, results)| {
            results.iter().filter(|t| t.files > 0 || t.deferred || !t.ok).map(move |t| {
                format!(
                    "{step}:{}:{}{}{}",
                    t.table,
                    t.files,
                    if t.deferred { ":deferred" } else { "" },
                    if t.ok { "" } else { ":FAILED" }
                )
            })
        })
        .collect();
    format!("{}: {claim} {}", run.execution.name, tables.join(" "))
}
