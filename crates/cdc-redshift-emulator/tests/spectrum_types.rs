//! Spectrum reads a Parquet column only as the type it was written as
//! (rule 10): a Glue column declaring another type fails the scan, naming
//! the file, the column and both types, where DuckDB alone would cast.

mod support;

use cdc_moto::MotoServer;
use cdc_redshift_emulator::{Emulator, EmulatorConfig};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_glue_type_other_than_the_file_s_fails_the_scan() {
    let moto = MotoServer::start().expect("moto_server starts (run scripts/python-tools first)");
    let aws = moto.sdk_config().await;
    let (s3, glue) = (s3_client(&aws), aws_sdk_glue::Client::new(&aws));
    // GIVEN files whose `filler` column is Parquet text, under Glue tables declaring it as text or as numbers
    let rows = [(1, "12"), (2, "34")];
    glue_text_table(&s3, &glue, "t_text", "string", &[], &[], &rows).await;
    glue_text_table(&s3, &glue, "t_decimal", "decimal(38,0)", &[], &[], &rows).await;
    glue_text_table(&s3, &glue, "t_bigint", "bigint", &[], &[], &rows).await;
    let emu = Emulator::start(EmulatorConfig { aws: Some(aws), ..Default::default() }).unwrap();
    let wh = warehouse(&emu);
    let schema = format!(
        "CREATE EXTERNAL SCHEMA IF NOT EXISTS spectrum FROM DATA CATALOG DATABASE '{GLUE_DATABASE}' IAM_ROLE \
         '{UNLOAD_ROLE}'"
    );
    let (wh, schema) = (&wh, schema.as_str());
    let rows_of = move |table: &'static str| async move {
        let sql = format!("SELECT tid, filler FROM spectrum.{table} ORDER BY tid");
        run(wh, batch(table, &[schema, &sql])).await.map(|rs| texts(&rs)).map_err(|e| e.message)
    };
    // WHEN each is read THEN the matching one reads, the others fail naming file, column and types
    assert_eq!(rows_of("t_text").await.unwrap(), [["1", "12"], ["2", "34"]]);
    for (table, glue_type) in [("t_decimal", "DECIMAL(38,0)"), ("t_bigint", "BIGINT")] {
        let e = rows_of(table).await.unwrap_err();
        for part in [
            "incompatible Parquet schema".to_string(),
            format!("spectrum.{table}.filler"),
            format!("s3://{RAW_BUCKET}/{table}/part-0.parquet"),
            format!("Column type: {glue_type}"),
            "Parquet schema: VARCHAR".to_string(),
        ] {
            assert!(e.contains(&part), "{table}: {part}: {e}");
        }
    }
}
