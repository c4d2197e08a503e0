//! Spectrum's `surplus_char_handling` (rule 9): a value wider than its Glue
//! column becomes NULL, is truncated, drops its row or fails the scan, as
//! the table property says.

mod support;

use cdc_moto::MotoServer;
use cdc_redshift_emulator::{Emulator, EmulatorConfig};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surplus_char_handling_decides_what_a_too_wide_value_becomes() {
    let moto = MotoServer::start().expect("moto_server starts (run scripts/python-tools first)");
    let aws = moto.sdk_config().await;
    let (s3, glue) = (s3_client(&aws), aws_sdk_glue::Client::new(&aws));
    // GIVEN the same two rows (one fits varchar(4), one is 6 bytes) under tables with each handling
    let rows = [(1, "abc"), (2, "ééé")];
    let p = "surplus_char_handling";
    glue_text_table(&s3, &glue, "t_default", "varchar(4)", &[], &[], &rows).await;
    glue_text_table(&s3, &glue, "t_disabled", "varchar(4)", &[(p, "DISABLED")], &[], &rows).await;
    glue_text_table(&s3, &glue, "t_truncate", "varchar(4)", &[(p, "TRUNCATE")], &[], &rows).await;
    glue_text_table(&s3, &glue, "t_drop_row", "varchar(4)", &[(p, "DROP_ROW")], &[], &rows).await;
    glue_text_table(&s3, &glue, "t_fail", "varchar(4)", &[(p, "FAIL")], &[], &rows).await;
    // (the table's Parameters are read when the storage descriptor has none)
    glue_text_table(&s3, &glue, "t_table_param", "char(4)", &[], &[(p, "TRUNCATE")], &rows).await;
    glue_text_table(&s3, &glue, "t_string", "string", &[], &[], &rows).await;
    let emu = Emulator::start(EmulatorConfig { aws: Some(aws), ..Default::default() }).unwrap();
    let wh = warehouse(&emu);
    let schema = format!(
        "CREATE EXTERNAL SCHEMA IF NOT EXISTS spectrum FROM DATA CATALOG DATABASE '{GLUE_DATABASE}' IAM_ROLE \
         '{UNLOAD_ROLE}'"
    );
    let wh = &wh;
    let schema = schema.as_str();
    let rows_of = move |table: &'static str| async move {
        let sql = format!("SELECT tid, filler FROM spectrum.{table} ORDER BY tid");
        run(wh, batch(table, &[schema, &sql])).await.map(|rs| texts(&rs)).map_err(|e| e.message)
    };
    // THEN
    assert_eq!(rows_of("t_default").await.unwrap(), [["1", "abc"], ["2", "NULL"]], "SET_TO_NULL by default");
    assert_eq!(rows_of("t_disabled").await.unwrap(), [["1", "abc"], ["2", "NULL"]], "DISABLED as the default");
    assert_eq!(rows_of("t_truncate").await.unwrap(), [["1", "abc"], ["2", "éé"]]);
    assert_eq!(rows_of("t_drop_row").await.unwrap(), [["1", "abc"]]);
    assert_eq!(rows_of("t_table_param").await.unwrap(), [["1", "abc"], ["2", "éé"]]);
    assert_eq!(rows_of("t_string").await.unwrap(), [["1", "abc"], ["2", "ééé"]], "string is 65535 bytes wide");
    let e = rows_of("t_fail").await.unwrap_err();
    assert!(
        e.contains("Spectrum Scan Error")
            && e.contains("column filler of external table spectrum.t_fail")
            && e.contains(&format!("s3://{RAW_BUCKET}/t_fail/part-0.parquet")),
        "{e}"
    );
}
