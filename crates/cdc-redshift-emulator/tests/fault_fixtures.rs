//! Today's faulty statements (tests/fixtures/faults/, copied from the core's
//! Redshift goldens as they are now) through the emulator, as the Data API
//! client sends them: each is refused naming the rule, or, where Redshift
//! does not refuse but loses data, the emulator shows the same loss.

mod support;

use cdc_core::ports::Warehouse;
use cdc_moto::MotoServer;
use cdc_redshift_emulator::{Emulator, EmulatorConfig};
use support::*;

fn fixture(name: &str) -> Vec<String> {
    let path = format!("{}/tests/fixtures/faults/{name}", env!("CARGO_MANIFEST_DIR"));
    fixture_statements(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

async fn run_fixture(wh: &dyn Warehouse, name: &str) -> Result<Vec<Vec<String>>, String> {
    let statements = fixture(name);
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    run(wh, batch(name, &refs)).await.map(|rs| texts(&rs)).map_err(|e| e.message)
}

#[tokio::test]
async fn the_raise_with_an_expression_is_refused_at_create_procedure() {
    let emu = emulator();
    let e = run_fixture(&warehouse(&emu), "01_raise_expression.sql").await.unwrap_err();
    assert!(e.contains("syntax error at or near \"||\"") && e.contains("simple variables, not expressions"), "{e}");
}

#[tokio::test]
async fn the_fingerprint_of_a_boolean_column_is_refused() {
    let emu = emulator();
    let e = run_fixture(&warehouse(&emu), "02_boolean_fingerprint.sql").await.unwrap_err();
    assert!(e.contains("ERROR: cannot cast type boolean to character varying"), "{e}");
}

#[tokio::test]
async fn the_cast_to_the_target_width_keeps_84_bytes_of_an_84_character_value() {
    let emu = emulator();
    let rows = run_fixture(&warehouse(&emu), "03_truncating_cast.sql").await.unwrap();
    assert_eq!(rows, [["42", "84"]], "Redshift keeps 84 bytes: 42 two-byte characters");
}

#[tokio::test]
async fn the_key_match_merges_keys_differing_by_trailing_blanks() {
    let emu = emulator();
    let rows = run_fixture(&warehouse(&emu), "05_merged_keys.sql").await.unwrap();
    assert_eq!(rows, [["1"]], "the change to 'a ' replaced the rows of 'a' and 'a '");
}

#[tokio::test]
async fn the_materialized_view_with_order_by_is_refused() {
    let emu = emulator();
    let e = run_fixture(&warehouse(&emu), "06_mv_order_by.sql").await.unwrap_err();
    assert!(e.contains("materialized views cannot reference the ORDER BY clause"), "{e}");
}

#[tokio::test]
async fn the_unload_of_5_mb_parts_is_refused() {
    let emu = emulator();
    let e = run_fixture(&warehouse(&emu), "07_unload_5mb.sql").await.unwrap_err();
    assert!(e.contains("MAXFILESIZE") && e.contains("below 32 MB"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spectrum_read_of_a_value_wider_than_varchar_84_is_null() {
    let moto = MotoServer::start().expect("moto_server starts (run scripts/python-tools first)");
    let aws = moto.sdk_config().await;
    let (s3, glue) = (s3_client(&aws), aws_sdk_glue::Client::new(&aws));
    let long = "é".repeat(84);
    glue_text_table(&s3, &glue, "raw_cdc_pgbench_tellers", "varchar(84)", &[], &[], &[(1, &long)]).await;
    let emu = Emulator::start(EmulatorConfig { aws: Some(aws), ..Default::default() }).unwrap();
    let rows = run_fixture(&warehouse(&emu), "04_spectrum_varchar84.sql").await.unwrap();
    assert_eq!(rows, [["1", "NULL"]]);
    drop(emu);
}
