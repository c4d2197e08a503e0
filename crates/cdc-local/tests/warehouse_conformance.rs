//! The Warehouse port's conformance suite on the embedded DuckDB warehouse.

use cdc_local::DuckDbWarehouse;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_warehouse_passes_the_warehouse_conformance_suite() {
    // GIVEN a warehouse file WHEN every conformance case runs THEN all pass
    let dir = tempfile::tempdir().unwrap();
    let wh = DuckDbWarehouse::open(&dir.path().join("w.duckdb")).unwrap();
    cdc_core::ports::warehouse_conformance::run_all(&wh, "conformance").await;
}
