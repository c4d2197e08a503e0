//! Setup and derived-table refresh as domain steps.

use crate::config::PipelineConfig;
use crate::error::PipelineError;
use crate::ports::{Warehouse, run_to_completion};
use crate::sql::setup::{self, ExternalSchema};

/// Creates every warehouse object the config needs (idempotent); on Redshift
/// `external` is the raw zone's external schema.
pub async fn run_setup(
    cfg: &PipelineConfig,
    warehouse: &dyn Warehouse,
    external: Option<&ExternalSchema>,
) -> Result<(), PipelineError> {
    for batch in setup::setup_batches(cfg, warehouse.dialect(), external) {
        run_to_completion(warehouse, batch).await?;
    }
    Ok(())
}

/// Refreshes each derived table in its own transaction (docs/cdc-contract.md, rule 7).
/// Returns the names that failed with their errors; the others are refreshed.
pub async fn refresh_derived(cfg: &PipelineConfig, warehouse: &dyn Warehouse) -> Vec<(String, PipelineError)> {
    let mut failed = Vec::new();
    for dt in &cfg.derived {
        let batch = setup::refresh_derived(cfg, dt, warehouse.dialect());
        if let Err(e) = run_to_completion(warehouse, batch).await {
            failed.push((dt.name.to_string(), e.context(format!("derived table {}", dt.name))));
        }
    }
    failed
}
