//! The statements the emulator knows: their states, sub-statements, results
//! and client tokens, as DescribeStatement, GetStatementResult and
//! ListStatements report them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::values::QueryResult;

/// The Data API keeps a client token this long.
pub const CLIENT_TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Submitted,
    Picked,
    Started,
    Finished,
    Failed,
    Aborted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "SUBMITTED",
            Status::Picked => "PICKED",
            Status::Started => "STARTED",
            Status::Finished => "FINISHED",
            Status::Failed => "FAILED",
            Status::Aborted => "ABORTED",
        }
    }

    pub fn is_done(self) -> bool {
        matches!(self, Status::Finished | Status::Failed | Status::Aborted)
    }
}

/// Where a request said to run: echoed back, never checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub database: String,
    pub cluster_identifier: Option<String>,
    pub workgroup_name: Option<String>,
    pub db_user: Option<String>,
    pub secret_arn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SubStatement {
    pub sql: String,
    pub status: Status,
    pub error: Option<String>,
    pub updated_at: SystemTime,
    pub duration: Duration,
    pub result: Option<Arc<QueryResult>>,
    /// Rows returned or affected; -1 when not known (the API's "null").
    pub result_rows: i64,
    pub query_id: i64,
}

#[derive(Debug, Clone)]
pub struct Statement {
    pub id: String,
    pub name: Option<String>,
    pub is_batch: bool,
    pub target: Target,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
    pub status: Status,
    pub error: Option<String>,
    pub subs: Vec<SubStatement>,
    pub control: Arc<Control>,
    pub pid: i64,
}

impl Statement {
    pub fn duration(&self) -> Duration {
        self.subs.iter().map(|s| s.duration).sum()
    }

    pub fn has_result_set(&self) -> bool {
        self.subs.iter().any(|s| s.result.is_some())
    }
}

/// What another thread may do to a statement while it runs: cancel it, or
/// let a slowed statement go on.
#[derive(Default)]
pub struct Control {
    cancelled: AtomicBool,
    held: Mutex<bool>,
    changed: Condvar,
    /// DescribeStatement calls left before a slowed statement goes on.
    describes_left: Mutex<Option<u32>>,
    interrupt: Mutex<Option<Arc<duckdb::InterruptHandle>>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("cancelled", &self.is_cancelled()).field("held", &self.is_held()).finish()
    }
}

impl Control {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(handle) = self.interrupt.lock().expect("interrupt lock").as_ref() {
            handle.interrupt();
        }
        self.release();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Holds the statement at [`Control::wait_while_held`] until released,
    /// or until `describes` DescribeStatement calls when given.
    pub fn hold(&self, describes: Option<u32>) {
        *self.held.lock().expect("hold lock") = true;
        *self.describes_left.lock().expect("describes lock") = describes;
    }

    pub fn release(&self) {
        *self.held.lock().expect("hold lock") = false;
        self.changed.notify_all();
    }

    pub fn is_held(&self) -> bool {
        *self.held.lock().expect("hold lock")
    }

    /// One DescribeStatement of a held statement; the last allowed one releases it.
    pub fn described(&self) {
        let mut left = self.describes_left.lock().expect("describes lock");
        if let Some(n) = left.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                *left = None;
                drop(left);
                self.release();
            }
        }
    }

    pub fn wait_while_held(&self) {
        let mut held = self.held.lock().expect("hold lock");
        while *held {
            held = self.changed.wait(held).expect("hold lock");
        }
    }

    pub fn set_interrupt(&self, handle: Option<Arc<duckdb::InterruptHandle>>) {
        *self.interrupt.lock().expect("interrupt lock") = handle;
    }
}

struct TokenEntry {
    id: String,
    fingerprint: [u8; 32],
    at: Instant,
}

/// Why a client token cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub struct TokenReused;

#[derive(Default)]
pub struct Registry {
    statements: HashMap<String, Statement>,
    order: Vec<String>,
    tokens: HashMap<String, TokenEntry>,
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A fresh id in the UUID shape the API model requires.
pub fn new_statement_id() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let h = Sha256::new()
        .chain_update(n.to_be_bytes())
        .chain_update(nanos.to_be_bytes())
        .chain_update(std::process::id().to_be_bytes())
        .finalize();
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// What makes two requests with one client token "the same request".
pub fn request_fingerprint(target: &Target, sqls: &[String], name: Option<&str>) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in
        [Some(target.database.as_str()), target.cluster_identifier.as_deref(), target.workgroup_name.as_deref(), name]
            .into_iter()
            .chain(sqls.iter().map(|s| Some(s.as_str())))
    {
        let bytes = part.unwrap_or("\u{0}none").as_bytes();
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    }
    h.finalize().into()
}

impl Registry {
    /// The statement a live client token already created, if any; a token
    /// reused for a different request is refused, as the Data API does.
    pub fn by_token(&mut self, token: &str, fingerprint: &[u8; 32]) -> Result<Option<String>, TokenReused> {
        self.tokens.retain(|_, e| e.at.elapsed() < CLIENT_TOKEN_TTL);
        match self.tokens.get(token) {
            Some(e) if &e.fingerprint == fingerprint => Ok(Some(e.id.clone())),
            Some(_) => Err(TokenReused),
            None => Ok(None),
        }
    }

    pub fn insert(&mut self, statement: Statement, token: Option<(String, [u8; 32])>) {
        if let Some((token, fingerprint)) = token {
            self.tokens.insert(token, TokenEntry { id: statement.id.clone(), fingerprint, at: Instant::now() });
        }
        self.order.push(statement.id.clone());
        self.statements.insert(statement.id.clone(), statement);
    }

    pub fn get(&self, id: &str) -> Option<&Statement> {
        self.statements.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Statement> {
        self.statements.get_mut(id)
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &Statement> {
        self.order.iter().rev().filter_map(|id| self.statements.get(id))
    }

    pub fn all(&self) -> impl Iterator<Item = &Statement> {
        self.statements.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_uuid_shape() {
        let a = new_statement_id();
        assert_ne!(a, new_statement_id());
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{a}");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn a_held_statement_goes_on_after_its_describes() {
        let c = Control::default();
        c.hold(Some(2));
        c.described();
        assert!(c.is_held());
        c.described();
        assert!(!c.is_held());
        c.wait_while_held();
    }
}
