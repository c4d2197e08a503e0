//! Two DMS layouts other than the seed's on the AWS path (S3 in moto, Glue,
//! Spectrum and the Data API in the emulator): DMS's defaults, where
//! full-load and CDC files share the table folder and the CDC table has no
//! day partitions, and `SLASH` `YYYYMMDDHH`, whose day folders hold hour
//! folders. Each goes from an empty warehouse through CDC cycles and the
//! unload, and matches the oracle after every run.

mod aws_support;

use aws_support::{GLUE_DATABASE, stack_with_config};
use cdc_asl::ExecutionStatus;

/// config/pipeline.toml with its `[dms]` table replaced.
fn config_with_dms(dms: &str) -> String {
    let text = std::fs::read_to_string(aws_support::CONFIG).unwrap();
    let start = text.find("\n[dms]\n").expect("the config has a [dms] table") + 1;
    let end = text[start..].find("\n[[").map_or(text.len(), |i| start + i + 1);
    format!("{}{dms}\ntimestamp_column_name = \"changets\"\n\n{}", &text[..start], &text[end..])
}

async fn runs_through(dms: &str, partitioned: bool) {
    // GIVEN an empty Redshift and Glue database, and DMS's full load in S3 in this layout
    let mut stack = stack_with_config(21, &config_with_dms(dms)).await;
    stack.deliver().await;
    // WHEN runs follow the full load, two CDC cycles and the rest of the files
    for step in 0..4 {
        match step {
            0 => {}
            1 | 2 => {
                stack.generator.cdc_cycle(150).unwrap();
            }
            _ => {
                stack.generator.finish().unwrap();
            }
        }
        stack.deliver().await;
        let run = stack.run(&format!("run-{step}")).await;
        // THEN each run succeeds, unexplained objects are none, and the targets match the oracle
        assert_eq!(run.execution.status, ExecutionStatus::Succeeded, "{dms} run {step}: {:?}", run.execution.cause);
        stack.assert_matches_oracle(&format!("{dms}, after run {step}")).await;
        let (input, _) = run.release.as_ref().expect("released");
        assert!(input.results.unload.iter().all(|t| t.ok), "{dms}: {:?}", input.results.unload);
        assert!(input.hints.values().all(|h| h.unexplained == 0), "{dms}: {:?}", input.hints);
    }
    // AND the oracle is the source database's truth
    assert!(stack.verify().source_checked);
    // AND the CDC table is partitioned by day exactly where days have folders
    let glue = aws_sdk_glue::Client::new(&stack.sdk);
    let t = glue.get_table().database_name(GLUE_DATABASE).name("raw_cdc_pgbench_accounts").send().await.unwrap();
    let keys = t.table().unwrap().partition_keys().len();
    assert_eq!(keys, usize::from(partitioned), "{dms}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dms_defaults_full_load_and_cdc_files_side_by_side() {
    runs_through("[dms]", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slash_hour_folders_under_day_folders() {
    runs_through(
        "[dms]\nbucket_folder = \"dms\"\ndate_partition_enabled = true\ndate_partition_sequence = \"YYYYMMDDHH\"",
        true,
    )
    .await;
}
