//! Rule 13: `LOCK` waits for, then holds, tables until its transaction ends.
//!
//! Redshift's SNAPSHOT isolation (the default of Serverless workgroups and
//! of new provisioned clusters) lets two transactions that insert different
//! rows into one table both commit, as DuckDB's does: two loads of a table
//! that each read its progress and then insert would both apply. The
//! pipeline therefore opens every batch that writes a table's progress with
//! `LOCK` on it (`Dialect::lock`); this rule is what makes the second such
//! batch wait here as it waits on Redshift, and read what the first
//! committed, since a transaction's snapshot is taken at its first SELECT or
//! DML, not at the LOCK.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use sqlparser::tokenizer::Token;

use super::Rule;
use crate::statement::QualifiedName;

pub const RULE: Rule = Rule {
    name: "LOCK waits for and holds a table until the transaction ends",
    documented: "\"The LOCK command obtains a table-level lock in \\\"ACCESS EXCLUSIVE\\\" mode, waiting if necessary \
                 for any conflicting locks to be released. [...] The lock is released when the transaction that \
                 contains the LOCK command completes.\" (LOCK); \"A database snapshot is created within a transaction \
                 on the first occurrence of most SELECT statements, DML commands [...]\" (Isolation levels, which \
                 also says SNAPSHOT isolation lets concurrent transactions modify different rows of one table)",
    url: "https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html",
    emulated: "LOCK [TABLE] a, b (tables that must exist) waits until no other running statement holds any of them, \
               then holds them until its statement ends, committed or rolled back; a cancel ends the wait. LOCKs \
               that open a batch are taken before its transaction begins, so the batch reads what the holder \
               committed; one later in a batch is taken where it stands. Outside a transaction block \
               (ExecuteStatement) the lock is released when the statement ends. Not emulated: reads and writes of a \
               locked table by transactions that do not LOCK it do not wait (every writer of a table's progress \
               LOCKs it), and there is no lock-conflict error (deadlock): a wait ends when the holder ends.",
};

/// Which running statement holds which table.
#[derive(Default)]
pub struct TableLocks {
    held: Mutex<HashMap<String, String>>,
    released: Condvar,
}

/// How long a waiting statement sleeps between looks at its cancel flag.
const CANCEL_CHECK: Duration = Duration::from_millis(50);

impl TableLocks {
    /// Waits until none of `tables` is held by another statement, then holds
    /// them all for `statement`. `Err` when `cancelled` turns true first.
    pub fn acquire(
        &self,
        statement: &str,
        tables: &[QualifiedName],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), String> {
        let keys: Vec<String> = tables.iter().map(|t| format!("{}.{}", t.schema, t.name)).collect();
        let mut held = self.held.lock().expect("table locks");
        loop {
            let free = keys.iter().all(|k| held.get(k).is_none_or(|holder| holder == statement));
            if free {
                for k in keys {
                    held.insert(k, statement.to_string());
                }
                return Ok(());
            }
            if cancelled() {
                return Err("ERROR: Query cancelled on user's request".into());
            }
            held = self.released.wait_timeout(held, CANCEL_CHECK).expect("table locks").0;
        }
    }

    /// Releases every table `statement` holds.
    pub fn release_all(&self, statement: &str) {
        let mut held = self.held.lock().expect("table locks");
        let before = held.len();
        held.retain(|_, holder| holder != statement);
        if held.len() != before {
            self.released.notify_all();
        }
    }
}

/// A LOCKed table must exist, as on Redshift ("relation … does not exist").
pub fn must_exist(conn: &duckdb::Connection, t: &QualifiedName) -> Result<(), String> {
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [&t.schema, &t.name],
            |r| r.get(0),
        )
        .map_err(|e| crate::errors::redshift_text(&e.to_string()))?;
    match n {
        0 => Err(format!("ERROR: relation \"{}.{}\" does not exist", t.schema, t.name)),
        _ => Ok(()),
    }
}

/// The tables of `LOCK [TABLE] a [, b …]`, or `None` for another statement.
pub fn locked_tables(
    sig: &[&Token],
    name_at: impl Fn(usize) -> Result<(QualifiedName, usize), String>,
) -> Option<Result<Vec<QualifiedName>, String>> {
    let kw = |i: usize| sig.get(i).and_then(|t| crate::translate::keyword(t)).unwrap_or_default();
    if kw(0) != "LOCK" {
        return None;
    }
    let mut at = if kw(1) == "TABLE" { 2 } else { 1 };
    let mut tables = Vec::new();
    loop {
        let (name, after) = match name_at(at) {
            Ok(found) => found,
            Err(e) => return Some(Err(e)),
        };
        tables.push(name);
        match sig.get(after) {
            None | Some(Token::SemiColon) => return Some(Ok(tables)),
            Some(Token::Comma) => at = after + 1,
            Some(other) => return Some(Err(format!("ERROR: syntax error at or near \"{other}\""))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    fn t(name: &str) -> QualifiedName {
        QualifiedName { schema: "public".into(), name: name.into() }
    }

    #[test]
    fn a_second_holder_waits_until_the_first_releases_and_a_cancel_ends_the_wait() {
        // GIVEN statement 1 holding table a
        let locks = Arc::new(TableLocks::default());
        locks.acquire("1", &[t("a")], &|| false).unwrap();
        // WHEN statement 2 asks for a and b on another thread
        let (l2, got) = (Arc::clone(&locks), Arc::new(AtomicBool::new(false)));
        let flag = Arc::clone(&got);
        let waiter = std::thread::spawn(move || {
            l2.acquire("2", &[t("b"), t("a")], &|| false).unwrap();
            flag.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(150));
        // THEN it waits, AND gets both once 1 releases
        assert!(!got.load(Ordering::SeqCst), "statement 2 must wait for a");
        locks.release_all("1");
        waiter.join().unwrap();
        assert!(got.load(Ordering::SeqCst));
        // AND a third statement asking for b is cancelled while it waits
        let e = locks.acquire("3", &[t("b")], &|| true).unwrap_err();
        assert!(e.contains("cancelled"), "{e}");
        // AND the holder may take its tables again
        locks.acquire("2", &[t("a")], &|| false).unwrap();
    }
}
