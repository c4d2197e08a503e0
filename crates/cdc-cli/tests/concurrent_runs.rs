//! Two `cdc run` processes started at once: exactly one runs, the other
//! reports the job as held and leaves the warehouse alone (never a lock error).

use std::process::Command;

use cdc_dmsgen::{DmsLayout, Generator, GeneratorConfig};

const STATE_MACHINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachine/pipeline.asl.json");

#[test]
fn two_runs_at_once_give_one_run_and_one_clean_skip() {
    // GIVEN a raw zone with a full load big enough for a run to last a while
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let layout = DmsLayout::default();
    let cfg = GeneratorConfig { seed: 3, branches: 2, accounts_per_branch: 50_000, ..GeneratorConfig::default() };
    let mut generator = Generator::new(&raw, layout, cfg).unwrap();
    generator.full_load().unwrap();
    generator.cdc_cycle(3_000).unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/pipeline.toml");
    let warehouse = dir.path().join("warehouse.duckdb");
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_cdc"))
            .args(["run", "--config", config, "--state-machine", STATE_MACHINE, "--raw"])
            .arg(&raw)
            .arg("--warehouse")
            .arg(&warehouse)
            .env("RUST_BACKTRACE", "0")
            .output()
    };
    // WHEN two runs start together
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(start);
        let b = s.spawn(start);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    // THEN both exit cleanly, one ran, the other was skipped as held
    let outs: Vec<String> = [&a, &b]
        .iter()
        .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
        .collect();
    assert!(a.status.success() && b.status.success(), "{outs:#?}");
    let skipped = outs.iter().filter(|o| o.contains("skipped: job 101 is held by arn:aws:states:local:")).count();
    let ran = outs.iter().filter(|o| o.contains("pgbench_accounts") && o.contains(": succeeded in ")).count();
    assert_eq!((skipped, ran), (1, 1), "{outs:#?}");
    // AND the history holds exactly one run
    let status = Command::new(env!("CARGO_BIN_EXE_cdc"))
        .args(["status", "--json", "--config", config, "--state-dir"])
        .arg(dir.path().join("job-state"))
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["history"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["job"]["state"], "Ready");
}
