//! One pipeline cycle without the state machine: dimensions in parallel, then
//! facts in parallel, then derived tables. A table's failure is recorded and
//! the others go on (docs/cdc-contract.md, rule 8).

use std::time::{Duration, Instant};

use futures::future::join_all;

use crate::config::{PipelineConfig, TableKind};
use crate::error::PipelineError;
use crate::load::{LoadStats, load_table};
use crate::ports::{RawZone, Warehouse};

#[derive(Debug, Clone)]
pub struct TableRun {
    pub table: String,
    pub result: Result<LoadStats, PipelineError>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default)]
pub struct CycleRun {
    pub tables: Vec<TableRun>,
    pub derived_failures: Vec<(String, PipelineError)>,
}

impl CycleRun {
    pub fn failed_tables(&self) -> Vec<&TableRun> {
        self.tables.iter().filter(|t| t.result.is_err()).collect()
    }
    pub fn is_ok(&self) -> bool {
        self.failed_tables().is_empty() && self.derived_failures.is_empty()
    }
}

pub async fn run_cycle(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    raw: &dyn RawZone,
    poll_every: Duration,
) -> CycleRun {
    let mut run = CycleRun::default();
    for kind in [TableKind::Dimension, TableKind::Fact] {
        let loads = cfg.tables_of_kind(kind).map(|t| async move {
            let started = Instant::now();
            let result = load_table(cfg, t, warehouse, raw, poll_every).await;
            if let Err(e) = &result {
                tracing::error!(table = %t.qualified(), error = %e, "load failed");
            }
            TableRun { table: t.name.to_string(), result, seconds: started.elapsed().as_secs_f64() }
        });
        run.tables.extend(join_all(loads).await);
    }
    run.derived_failures = crate::setup::refresh_derived(cfg, warehouse).await;
    run
}
