//! `cdc-dmsgen`: writes a raw zone exactly as AWS DMS writes to S3 for the
//! pgbench schema, from a deterministic simulated source database running a
//! pgbench-like workload, and keeps the oracle (the source of truth).
//!
//! Layout under the raw root:
//! - `full/<schema>/<table>/LOAD00000001.parquet`, ...: `<ts>` (transfer time) then the columns.
//! - `cdc/<schema>/<table>/<YYYYMMDD>/<YYYYMMDD-HHMMSSmmm>.parquet`: `Op`, `<ts>`
//!   (commit time), `<seq>` (35-digit change sequence), then the columns; the
//!   folder is the commit date, the name the flush time.
//!
//! Every cycle contains the hard cases on purpose (several changes to a key in
//! one file and across files, equal timestamps in a transaction, delete then
//! re-insert, a late file in an older folder, a late update older than a
//! delete, changes during the full load); [`CycleReport::hard_cases`] counts them.
//!
//! [`Generator::write_expected`] holds what a correct target must contain given
//! only the files delivered so far: per key the latest change ordered by
//! (CDC over full load, commit ts, sequence), deletes removing the key; for
//! the append-only history, full-load rows plus delivered CDC inserts not
//! already in the full load.

mod capture;
mod config;
mod error;
mod generator;
mod late;
mod model;
mod oracle;
mod report;
mod source_db;
mod workload;
mod writer;

pub use config::{DmsLayout, GeneratorConfig};
pub use error::GenError;
pub use generator::Generator;
pub use report::CycleReport;

/// The four pgbench table names, in the order the full load scans them.
pub const TABLES: [&str; 4] = ["pgbench_branches", "pgbench_tellers", "pgbench_accounts", "pgbench_history"];
