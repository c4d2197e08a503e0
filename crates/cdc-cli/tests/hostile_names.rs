//! Names that are reserved words of Redshift or DuckDB (SELECT, ORDER,
//! GROUP, USER, DELTA, OFFSET, PARTITION, TIMESTAMP, TABLE, COLUMN) load on
//! both paths, because every configured name is quoted; text keys that
//! differ only by trailing spaces stay two rows on both (docs/redshift.md).
//! Names that cannot be one safe identifier are refused at config load (see
//! the config's tests).

mod aws_support;

use std::path::Path;
use std::time::Duration;

use cdc_core::PipelineConfig;
use cdc_core::cycle::run_cycle;
use cdc_core::ports::{Cell, Warehouse, run_to_completion};
use cdc_core::sql::StatementBatch;
use cdc_local::{DuckDbWarehouse, FolderRawZone};

const CONFIG: &str = r#"
[pipeline]
job_id = "101"
raw_schema = "cdc_database"
target_schema = "public"
control_schema = "cdc_control"

[dms]
bucket_folder = { full_load = "full", cdc = "cdc" }
date_partition_enabled = true
date_partition_delimiter = "NONE"

[[tables]]
schema = "public"
name = "select"
kind = "dimension"
mode = "upsert"
key = ["user", "delta"]
commit_ts_column = "timestamp"
sequence_column = "offset"
lateness_window = "2d"
columns = [
  { name = "user", type = "varchar(10)" },
  { name = "delta", type = "integer" },
  { name = "order", type = "text" },
  { name = "group", type = "boolean" },
]

[[tables]]
schema = "public"
name = "partition"
kind = "fact"
mode = "append"
commit_ts_column = "timestamp"
lateness_window = "2d"
columns = [{ name = "table", type = "integer" }, { name = "column", type = "varchar(5)" }]

[[derived]]
name = "user"
sql = "SELECT count(*) AS n FROM public.\"select\""
"#;

/// The DMS files, as (relative key, SELECT of its rows).
fn raw_files() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "full/public/select/LOAD00000001.parquet",
            "SELECT TIMESTAMP '2026-11-01 00:00:01' AS \"timestamp\", 'a' AS \"user\", 1 AS \"delta\", 'x' AS \"order\", \
             TRUE AS \"group\" UNION ALL SELECT TIMESTAMP '2026-11-01 00:00:01', 'a ', 1, 'y', FALSE",
        ),
        (
            "cdc/public/select/20261101/20261101-000100000.parquet",
            "SELECT 'U' AS \"Op\", TIMESTAMP '2026-11-01 00:01:00' AS \"timestamp\", '00000000000000000000000000000000001' \
             AS \"offset\", 'a' AS \"user\", 1 AS \"delta\", 'x2' AS \"order\", CAST(NULL AS BOOLEAN) AS \"group\" \
             UNION ALL SELECT 'I', TIMESTAMP '2026-11-01 00:01:00', '00000000000000000000000000000000002', 'b', 2, NULL, TRUE \
             UNION ALL SELECT 'D', TIMESTAMP '2026-11-01 00:01:01', '00000000000000000000000000000000003', 'a ', 1, 'y', FALSE",
        ),
        (
            "full/public/partition/LOAD00000001.parquet",
            "SELECT TIMESTAMP '2026-11-01 00:00:01' AS \"timestamp\", 1 AS \"table\", 'ü' AS \"column\"",
        ),
        (
            "cdc/public/partition/20261101/20261101-000100000.parquet",
            "SELECT 'I' AS \"Op\", TIMESTAMP '2026-11-01 00:01:00' AS \"timestamp\", 2 AS \"table\", 'ab ' AS \"column\"",
        ),
    ]
}

fn write_raw_zone(root: &Path) {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    for (rel, select) in raw_files() {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        conn.execute_batch(&format!("COPY ({select}) TO '{}' (FORMAT parquet)", path.display())).unwrap();
    }
}

/// Every row of the two tables and the derived one, read through the warehouse port.
async fn contents(wh: &dyn Warehouse) -> Vec<Vec<Cell>> {
    let sql = "SELECT 'select' AS t, \"user\", \"delta\", \"order\", CASE WHEN \"group\" THEN 'true' WHEN NOT \"group\" \
               THEN 'false' END AS g FROM \"public\".\"select\" UNION ALL SELECT 'partition', \"column\", \"table\", NULL, \
               NULL FROM \"public\".\"partition\" UNION ALL SELECT 'user', NULL, CAST(n AS INTEGER), NULL, NULL \
               FROM \"public\".\"user\" ORDER BY 1, 3, 2";
    let batch = StatementBatch { label: "hostile contents".into(), statements: vec![sql.into()] };
    run_to_completion(wh, batch).await.unwrap().rows
}

fn expected() -> Vec<Vec<Cell>> {
    let t = |s: &str| Cell::Text(s.into());
    vec![
        vec![t("partition"), t("ü"), Cell::Long(1), Cell::Null, Cell::Null],
        vec![t("partition"), t("ab "), Cell::Long(2), Cell::Null, Cell::Null],
        // 'a' updated, 'a ' (another key) deleted, 'b' inserted
        vec![t("select"), t("a"), Cell::Long(1), t("x2"), Cell::Null],
        vec![t("select"), t("b"), Cell::Long(2), Cell::Null, t("true")],
        vec![t("user"), Cell::Null, Cell::Long(2), Cell::Null, Cell::Null],
    ]
}

#[tokio::test]
async fn reserved_words_as_names_load_on_duckdb() {
    // GIVEN a raw zone whose tables and columns are named by reserved words
    let dir = tempfile::tempdir().unwrap();
    let cfg = PipelineConfig::parse(CONFIG, "hostile").unwrap();
    write_raw_zone(&dir.path().join("raw"));
    let warehouse = DuckDbWarehouse::open(&dir.path().join("wh.duckdb")).unwrap();
    let raw = FolderRawZone::new(&dir.path().join("raw")).unwrap();
    // WHEN it is set up and loaded
    cdc_core::setup::run_setup(&cfg, &warehouse, None).await.unwrap();
    assert!(warehouse.expose_raw_zone(&cfg, &raw).unwrap().is_empty());
    let run = run_cycle(&cfg, &warehouse, &raw, Duration::from_millis(5)).await;
    // THEN every table loads, the derived table refreshes, and the rows are the expected ones
    assert!(run.is_ok(), "{:?} {:?}", run.failed_tables(), run.derived_failures);
    assert_eq!(contents(&warehouse).await, expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reserved_words_as_names_load_on_the_aws_path() {
    // GIVEN the AWS stack running that config, and the same DMS files in S3
    let mut stack = aws_support::stack(5).await;
    stack.cfg = PipelineConfig::parse(CONFIG, "hostile").unwrap();
    stack.put_config(CONFIG).await;
    let local = tempfile::tempdir().unwrap();
    write_raw_zone(local.path());
    for (rel, _) in raw_files() {
        stack.upload_raw(rel, &local.path().join(rel)).await;
    }
    // WHEN the state machine runs (setup, Glue tables, Spectrum loads, refresh, unload)
    let run = stack.run("hostile-1").await;
    // THEN it succeeds and the targets hold the same rows as on DuckDB
    assert_eq!(
        run.execution.status,
        cdc_asl::ExecutionStatus::Succeeded,
        "{:?} {:?}",
        run.execution.error,
        run.execution.cause
    );
    assert_eq!(contents(stack.warehouse().as_ref()).await, expected());
}
