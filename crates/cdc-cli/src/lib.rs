//! The `cdc` command's library: the local demo, one pipeline run, the oracle
//! check and the benchmarks. `main.rs` only parses arguments.

pub mod aws_loopback;
pub mod bench;
pub mod chaos;
pub mod demo;
mod demo_layouts;
pub mod pipeline_run;
pub mod resync;
pub mod run;
pub mod setup;
pub mod status;
pub mod verify;

use std::path::PathBuf;

/// The config shipped with the repository, for commands run from its root.
pub fn default_config() -> PathBuf {
    PathBuf::from("config/pipeline.toml")
}
