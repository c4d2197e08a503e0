//! `cdc-dmsgen`: writes a raw zone exactly as AWS DMS writes to S3 for the
//! pgbench schema, from a deterministic simulated source database running a
//! pgbench-like workload, and keeps the oracle (the source of truth).
//!
//! Beside the pgbench tables, two types tables ([`TYPES_TABLES`]) hold every
//! column type the pipeline config accepts, filled with hard values
//! (multibyte text at the declared length, quotes, backslashes, control
//! characters, trailing spaces, empty strings beside NULLs, keys differing
//! only by trailing spaces or case, integer and numeric extremes, reals and
//! doubles not exact in decimal, far dates, microsecond timestamps), written
//! with the Parquet types DMS writes for them. A few of their transactions
//! go between the pgbench ones in every cycle, from a random stream of their
//! own, so the pgbench tables' rows are what they were without them.
//! [`Generator::expected_typed_rows`] gives their expected rows as the
//! source's own values, for a value-for-value check.
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
//! the append-only tables, full-load rows plus delivered CDC inserts not
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
mod types;
mod types_workload;
mod workload;
mod writer;

pub use config::{DmsLayout, GeneratorConfig, seed_settings};
pub use error::GenError;
pub use generator::{AddedSourceColumn, Generator, ReloadNaming};
pub use report::CycleReport;
pub use types::{Decimal, TypedValue, shorten};

/// The four pgbench table names, in the order the full load scans them.
pub const TABLES: [&str; 4] = ["pgbench_branches", "pgbench_tellers", "pgbench_accounts", "pgbench_history"];

/// The types tables, scanned by the full load after the pgbench tables:
/// every column type the pipeline config accepts, with hard values.
pub const TYPES_TABLES: [&str; 2] = ["type_samples", "type_events"];

/// Every table the generator writes, in full-load scan order.
pub const ALL_TABLES: [&str; 6] =
    ["pgbench_branches", "pgbench_tellers", "pgbench_accounts", "pgbench_history", "type_samples", "type_events"];

/// The columns of a types table, in the order of its rows in
/// [`Generator::expected_typed_rows`] (which adds the commit timestamp and
/// the sequence after them); `None` for any other table.
pub fn typed_columns(table: &str) -> Option<Vec<&'static str>> {
    match table {
        "type_samples" => Some(types::SAMPLE_COLUMNS.iter().map(|c| c.0).collect()),
        "type_events" => Some(types::EVENT_COLUMNS.iter().map(|c| c.0).collect()),
        _ => None,
    }
}

/// The key columns of a types table (empty for the append-only one).
pub fn typed_key_columns(table: &str) -> &'static [&'static str] {
    match table {
        "type_samples" => &["k_text", "k_int"],
        _ => &[],
    }
}

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
