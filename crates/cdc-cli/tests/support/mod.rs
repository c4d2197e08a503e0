//! Helpers shared by the `cdc` command's tests.

use std::path::{Path, PathBuf};

/// The first (by name) CDC file of `pgbench_history` in a DMS raw zone.
pub fn first_history_cdc_file(raw: &Path) -> PathBuf {
    let root = raw.join("cdc/public/pgbench_history");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flat_map(|day| std::fs::read_dir(day.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect();
    files.sort();
    files.into_iter().next().expect("a history CDC file")
}
