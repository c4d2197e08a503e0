//! What every request handler and statement thread shares.

use std::sync::Mutex;

use duckdb::Connection;
use tokio::runtime::Handle;

use crate::faults::{CallCounter, Faults};
use crate::registry::Registry;
use crate::spectrum::Spectrum;

pub struct Shared {
    /// The database; each statement runs on a clone of this connection.
    pub root: Mutex<Connection>,
    pub registry: Mutex<Registry>,
    pub faults: Faults,
    pub calls: CallCounter,
    pub spectrum: Spectrum,
    /// Tables held by `LOCK` until their statement ends.
    pub locks: crate::rules::table_locks::TableLocks,
    /// The emulator's own runtime, for S3 and Glue calls from statement threads.
    pub runtime: Handle,
    /// Rows per GetStatementResult page.
    pub page_rows: usize,
}
