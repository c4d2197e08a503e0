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

/// Every Parquet file under a raw zone folder, as paths relative to it with
/// `/`, sorted: the S3 keys DMS would have written (tests upload them).
pub fn raw_zone_files(root: &std::path::Path) -> Vec<String> {
    fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "parquet")
                && let Ok(rel) = p.strip_prefix(root)
            {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}
