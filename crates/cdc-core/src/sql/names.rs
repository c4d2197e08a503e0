//! Where each warehouse object of a table lives. One place, so setup, loads,
//! status queries and tests agree.

use crate::config::{PipelineConfig, TableConfig};
use crate::ident::Ident;

fn qualify(schema: &Ident, name: &str) -> String {
    // `name` is an Ident or an Ident plus a fixed suffix, so quoting is safe.
    format!("{}.\"{}\"", schema.quoted(), name)
}

pub fn target(cfg: &PipelineConfig, t: &TableConfig) -> String {
    qualify(&cfg.target_schema, t.name.as_str())
}

/// Per-target-table progress: one row per applied raw file. Per table, so
/// parallel loads never write one shared table (Redshift error 1023).
pub fn progress(cfg: &PipelineConfig, t: &TableConfig) -> String {
    qualify(&cfg.control_schema, &format!("{}__progress", t.name))
}

/// The columns DMS's files added to the table, in the order they were added:
/// with the config, the table's effective schema (docs/table-lifecycle.md).
pub fn columns(cfg: &PipelineConfig, t: &TableConfig) -> String {
    qualify(&cfg.control_schema, &format!("{}__columns", t.name))
}

/// Deleted keys remembered for the lateness window.
pub fn tombstones(cfg: &PipelineConfig, t: &TableConfig) -> String {
    qualify(&cfg.control_schema, &format!("{}__tombstones", t.name))
}

/// An append table's CDC copies of rows the full load also carried
/// (docs/cdc-contract.md, rule 6).
pub fn paired(cfg: &PipelineConfig, t: &TableConfig) -> String {
    qualify(&cfg.control_schema, &format!("{}__paired", t.name))
}

/// The Glue catalog's names for the raw zone, as the seed's crawlers made them.
pub fn raw_full(cfg: &PipelineConfig, t: &TableConfig) -> String {
    qualify(&cfg.raw_schema, &format!("raw_full_{}", t.name))
}

pub fn raw_cdc(cfg: &PipelineConfig, t: &TableConfig) -> String {
    qualify(&cfg.raw_schema, &format!("raw_cdc_{}", t.name))
}

pub fn derived(cfg: &PipelineConfig, name: &Ident) -> String {
    qualify(&cfg.target_schema, name.as_str())
}

/// Which CDC days went to the optimized zone, from which raw files.
pub fn unloaded_days(cfg: &PipelineConfig) -> String {
    qualify(&cfg.control_schema, "unloaded_days")
}

/// The optimized table, registered beside the raw tables (the same Glue
/// database, so one external schema shows both).
pub fn optimized(cfg: &PipelineConfig, t: &TableConfig) -> String {
    qualify(&cfg.raw_schema, &format!("optimized_{}", t.name))
}
