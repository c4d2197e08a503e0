//! Late delivery: which CDC file DMS "delivers late" and the delete that makes
//! its updates stale.

use crate::capture::PendingFile;
use crate::model::{Op, Row, Table};
use crate::oracle::ChangeLog;
use crate::source_db::SourceDb;

/// The last update in `file` of an account that still exists, if any.
fn live_updated_aid(file: &PendingFile, log: &ChangeLog, db: &SourceDb) -> Option<i32> {
    file.changes.iter().rev().find_map(|&i| {
        let c = &log.changes[i];
        match (&c.row, c.op) {
            (Row::Account(a), Op::Update) if db.accounts.contains_key(&a.aid) => Some(a.aid),
            _ => None,
        }
    })
}

/// Picks the accounts file to hold back among `files` (closed in this cycle,
/// in close order) and an aid it updates that a later transaction will delete.
///
/// When the cycle crossed midnight the file comes from the previous day's
/// folder (the last one there, typically the file cut at midnight), so it
/// arrives later in an older folder; otherwise it is an earlier file of the
/// cycle, from the middle. Returns (index into `files`, aid).
pub(crate) fn choose_hold(files: &[PendingFile], log: &ChangeLog, db: &SourceDb) -> Option<(usize, i32)> {
    let accounts: Vec<usize> = (0..files.len()).filter(|&i| files[i].table == Table::Accounts).collect();
    // Days as DMS folders them: by when the file is written.
    let last_day = files.iter().map(PendingFile::file_day).max()?;
    let earlier_day: Vec<usize> = accounts.iter().copied().filter(|&i| files[i].file_day() < last_day).collect();
    let candidates: Vec<usize> = if earlier_day.is_empty() {
        // Never the last accounts file: "earlier" must stay true after the cycle's last writes.
        let mut all = accounts;
        all.pop();
        let mid = all.len() / 2;
        // Middle first, then outwards, so the choice does not sit at an edge.
        let (left, right) = all.split_at(mid);
        right.iter().chain(left.iter().rev()).copied().collect()
    } else {
        earlier_day.into_iter().rev().collect()
    };
    candidates.into_iter().find_map(|i| live_updated_aid(&files[i], log, db).map(|aid| (i, aid)))
}
