//! The OptimizedCatalog port's conformance suite on the local catalog (a
//! metastore file per table plus DuckDB views).

use async_trait::async_trait;

use cdc_core::ports::catalog_conformance::{CatalogView, Locations, RegisteredTable, run_all};
use cdc_core::{PipelineConfig, TableConfig};
use cdc_local::{DuckDbWarehouse, LocalCatalog};

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/pipeline.toml");

struct MetastoreView<'a>(&'a LocalCatalog);

#[async_trait]
impl CatalogView for MetastoreView<'_> {
    async fn table(&self, t: &TableConfig) -> Option<RegisteredTable> {
        let table = self.0.table(t).unwrap()?;
        let partitions = table.partitions.into_iter().map(|(day, p)| (day, (p.location, p.rows))).collect();
        Some(RegisteredTable { location: table.location, partitions })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_catalog_passes_the_optimized_catalog_conformance_suite() {
    // GIVEN an optimized zone folder and a warehouse for the views
    let dir = tempfile::tempdir().unwrap();
    let cfg = PipelineConfig::load(std::path::Path::new(CONFIG)).unwrap();
    let wh = DuckDbWarehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let optimized = dir.path().join("optimized");
    let catalog = LocalCatalog::new(&optimized, &cfg, wh.connection().unwrap());
    let t = cfg.table("pgbench_tellers").unwrap();
    let root = optimized.join("pgbench_tellers").display().to_string();
    let day = |d: &str| format!("{root}/changedate={d}");
    // AND the days' exports on disk, as they are before a day is registered (the views read them)
    let conn = wh.connection().unwrap();
    for d in ["20261101", "20261102", "20261103"] {
        std::fs::create_dir_all(day(d)).unwrap();
        let part = format!("{}/part_0.parquet", day(d));
        conn.execute_batch(&format!("COPY (SELECT 1 AS tid) TO '{part}' (FORMAT PARQUET)")).unwrap();
    }
    // WHEN every conformance case runs THEN all pass
    run_all(&catalog, &MetastoreView(&catalog), t, &Locations { table: &root, day: &day }).await;
}
