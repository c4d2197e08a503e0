//! One rule, two SQL dialects: the same hard inputs through the DuckDB SQL
//! (on DuckDB) and the Redshift SQL (on the Redshift emulator, which holds
//! the SQL to Redshift's rules) must get the same verdicts (docs/redshift.md).

mod aws_support;

use cdc_aws::RedshiftTarget;
use cdc_core::PipelineConfig;
use cdc_core::ports::{Cell, Warehouse, run_to_completion};
use cdc_core::sql::{StatementBatch, merge};
use cdc_local::DuckDbWarehouse;
use cdc_redshift_emulator::{Emulator, EmulatorConfig};

/// What the pipeline makes of a sequence value.
#[derive(Debug, PartialEq)]
enum Verdict {
    Number(String),
    Refused,
    Null,
}

fn demo() -> PipelineConfig {
    PipelineConfig::parse(include_str!("../../../config/pipeline.toml"), "demo").unwrap()
}

async fn verdicts(wh: &dyn Warehouse, inputs: &[Option<&str>]) -> Vec<Verdict> {
    let cfg = demo();
    let t = cfg.table("pgbench_accounts").unwrap();
    let d = wh.dialect();
    let mut out = Vec::new();
    for input in inputs {
        let raw = input.map_or("CAST(NULL AS VARCHAR(64))".to_string(), |s| d.literal(s));
        let value = merge::sequence_value(t, d, &raw, &merge::sequence_parse(&raw));
        let sql = format!("SELECT CAST({value} AS VARCHAR(64)) AS v");
        let batch = StatementBatch { label: "sequence verdict".into(), statements: vec![sql] };
        let rs = run_to_completion(wh, batch).await.unwrap_or_else(|e| panic!("{input:?} on {d:?}: {e}"));
        out.push(match &rs.rows[0][0] {
            Cell::Null => Verdict::Null,
            Cell::Text(v) if v == "-1" => Verdict::Refused,
            Cell::Text(v) => Verdict::Number(v.clone()),
            other => panic!("{input:?} on {d:?}: unexpected {other:?}"),
        });
    }
    out
}

#[tokio::test]
async fn change_sequences_get_the_same_verdict_on_both_warehouses() {
    // GIVEN strings DuckDB's integer cast reads but Redshift's digit rule does not, and plain ones
    let max = "9".repeat(38);
    let too_long = "1".repeat(39);
    let inputs: Vec<Option<&str>> = vec![
        Some("12"),
        Some("0"),
        Some("007"),
        Some("20261101200000000000000000000000009"),
        Some(&max),
        Some(&too_long),
        Some(" 12"),
        Some("12 "),
        Some("\t12"),
        Some("+12"),
        Some("-12"),
        Some("1.5"),
        Some("1."),
        Some("1e3"),
        Some("0x10"),
        Some("0b101"),
        Some("1_000"),
        Some("١٢"),
        Some(""),
        Some("abc"),
        Some("1 2"),
        Some("12\n"),
        Some("1２"),
        Some("12abc"),
        // 35 characters, as DMS's AR_H_CHANGE_SEQ: the DuckDB SQL's fast path
        Some("10000000000000000000000000000000000"),
        Some("99999999999999999999999999999999999"),
        Some("9999999999999999999999999999999999 "),
        Some("9999999999999999999999999999999999."),
        Some("999999999999999999999999999999999_9"),
        Some("111111111111111111111111111111111e2"),
        Some("11111111111111111111111111111111e+2"),
        Some(" 1111111111111111111111111111111111"),
        Some("+1111111111111111111111111111111111"),
        Some("00000000000000000000000000000000001"),
        None,
    ];
    // WHEN each runs through the load's sequence expression on each warehouse
    let duckdb = DuckDbWarehouse::open_in_memory().unwrap();
    let emulator = Emulator::start(EmulatorConfig::default()).unwrap();
    let target = RedshiftTarget::Serverless { workgroup: "analytics".into(), database: "dev".into(), secret_arn: None };
    let redshift = aws_support::warehouse_on(&emulator, &target);
    let on_duckdb = verdicts(&duckdb, &inputs).await;
    let on_redshift = verdicts(&redshift, &inputs).await;
    // THEN both agree on every input
    for ((input, a), b) in inputs.iter().zip(&on_duckdb).zip(&on_redshift) {
        assert_eq!(a, b, "{input:?}: DuckDB {a:?}, Redshift {b:?}");
    }
    // AND digits alone are numbers, everything else is refused, NULL stays NULL (a check reports it)
    assert_eq!(on_duckdb[0], Verdict::Number("12".into()));
    assert_eq!(on_duckdb[2], Verdict::Number("7".into()));
    assert_eq!(on_duckdb[4], Verdict::Number(max.clone()));
    assert!(on_duckdb[5..24].iter().all(|v| *v == Verdict::Refused), "{on_duckdb:?}");
    assert_eq!(on_duckdb[24], Verdict::Number("1".to_string() + &"0".repeat(34)));
    assert_eq!(on_duckdb[25], Verdict::Number("9".repeat(35)));
    assert!(on_duckdb[26..33].iter().all(|v| *v == Verdict::Refused), "{on_duckdb:?}");
    assert_eq!(on_duckdb[33], Verdict::Number("1".into()));
    assert_eq!(on_duckdb[34], Verdict::Null);
}
