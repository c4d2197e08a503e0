//! The pgbench-like workload: transaction bodies and their commit times.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::{Account, Micros, Op, Row};
use crate::source_db::{SourceDb, filler};

/// The statements of one transaction, in execution order, with the row images DMS captures.
pub(crate) type Stmts = Vec<(Op, Row)>;

/// Transactions placed on purpose in every cycle so the hard cases never depend on luck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Planned {
    Regular,
    /// One account updated twice in one transaction (same ts, seq breaks the tie),
    /// which also puts two updates of that account in one file.
    DoubleUpdate,
    /// DELETE then INSERT of the same aid in one transaction.
    DeleteReinsert,
    /// The DoubleUpdate account again, much later: changes of one key across files.
    HotAgain,
}

fn delta(rng: &mut ChaCha8Rng) -> i32 {
    rng.random_range(-5000..=5000)
}

/// The pgbench TPC-B-like transaction: update an account, a teller, its branch,
/// and append to history. `aid` forces the account (used for planned cases).
pub(crate) fn pgbench_txn(db: &mut SourceDb, rng: &mut ChaCha8Rng, commit: Micros, aid: Option<i32>) -> Stmts {
    let mut out = Stmts::with_capacity(4);
    let aid = aid.or_else(|| db.pick_account(rng)).unwrap_or(0);
    let tid = rng.random_range(1..=db.teller_count().max(1));
    let bid = db.tellers.get(&tid).map_or(1, |t| t.bid);
    let d = delta(rng);
    // Now and then the update also rewrites filler (sometimes to NULL) so
    // updates that null out or fill in a column are exercised.
    let new_filler = rng.random_bool(0.02).then(|| filler(rng, 50.0));
    if let Some(row) = db.update_account(aid, d, new_filler) {
        out.push((Op::Update, row));
    }
    if let Some(row) = db.update_teller(tid, d) {
        out.push((Op::Update, row));
    }
    if let Some(row) = db.update_branch(bid, d) {
        out.push((Op::Update, row));
    }
    let hist_filler = filler(rng, 30.0);
    let hist = db.insert_history(tid, bid, aid, d, commit, hist_filler);
    // About one transaction in fifty inserts its history row twice: two
    // identical rows, kept as two. Decided by the delta, not by a new draw,
    // so the random stream (and every other row) stays as it was.
    let twice = match &hist {
        Row::History(h) if d % 50 == 0 => Some(h.clone()),
        _ => None,
    };
    out.push((Op::Insert, hist));
    if let Some(h) = twice {
        out.push((Op::Insert, db.repeat_history(h)));
    }
    out
}

/// A pgbench transaction whose account is updated by two statements.
pub(crate) fn double_update_txn(db: &mut SourceDb, rng: &mut ChaCha8Rng, commit: Micros, aid: i32) -> Stmts {
    let mut out = pgbench_txn(db, rng, commit, Some(aid));
    let d = delta(rng);
    if let Some(row) = db.update_account(aid, d, None) {
        // Right after the first account update, before teller/branch/history.
        out.insert(1.min(out.len()), (Op::Update, row));
    }
    out
}

/// `DELETE FROM pgbench_accounts WHERE aid = x; INSERT INTO pgbench_accounts VALUES (x, ...)`.
pub(crate) fn delete_reinsert_txn(db: &mut SourceDb, rng: &mut ChaCha8Rng, aid: i32) -> Stmts {
    let Some(before) = db.delete_account(aid) else {
        return Stmts::new();
    };
    let bid = match &before {
        Row::Account(a) => a.bid,
        _ => 1,
    };
    let fresh = Account { aid, bid, abalance: delta(rng), filler: filler(rng, 50.0) };
    vec![(Op::Delete, before), (Op::Insert, db.insert_account(fresh))]
}

pub(crate) fn account_insert_txn(db: &mut SourceDb, rng: &mut ChaCha8Rng) -> Stmts {
    let aid = db.next_aid();
    let bid = rng.random_range(1..=db.branch_count().max(1));
    let account = Account { aid, bid, abalance: 0, filler: filler(rng, 25.0) };
    vec![(Op::Insert, db.insert_account(account))]
}

pub(crate) fn account_delete_txn(db: &mut SourceDb, aid: i32) -> Stmts {
    db.delete_account(aid).map(|row| vec![(Op::Delete, row)]).unwrap_or_default()
}

/// A regular transaction: an account insert, an account delete or a pgbench
/// transaction, by the configured percentages. `protected` aids are never
/// deleted here (planned cases rely on them staying alive).
pub(crate) fn regular_txn(
    db: &mut SourceDb,
    rng: &mut ChaCha8Rng,
    commit: Micros,
    insert_pct: f64,
    delete_pct: f64,
    protected: &[i32],
) -> Stmts {
    let roll = rng.random::<f64>() * 100.0;
    if roll < insert_pct {
        return account_insert_txn(db, rng);
    }
    if roll < insert_pct + delete_pct
        && let Some(aid) = db.pick_account(rng)
        && !protected.contains(&aid)
    {
        return account_delete_txn(db, aid);
    }
    pgbench_txn(db, rng, commit, None)
}

/// One gap between consecutive commits inside a burst: mostly milliseconds,
/// sometimes up to a second.
fn raw_step(rng: &mut ChaCha8Rng) -> i64 {
    if rng.random_bool(0.9) { rng.random_range(1..=50_000) } else { rng.random_range(50_000..=1_000_000) }
}

/// Commit times of `m` transactions over `[start, start + span)`, strictly
/// increasing. Transactions come in bursts (small steps) separated by idle
/// gaps, so a short test cycle still puts many changes in one flush window
/// while the cycle as a whole covers `span` (and crosses midnight when the
/// span does). When midnight falls inside the cycle, the burst around it is
/// centred on midnight, so commits land on both sides of it and a CDC file is
/// cut at the day boundary.
pub(crate) fn plan_commit_times(rng: &mut ChaCha8Rng, start: Micros, span: i64, m: usize) -> Vec<Micros> {
    if m == 0 {
        return Vec::new();
    }
    let bursts = (m / 8).clamp(1, 16);
    let mut steps: Vec<i64> = (0..m).map(|_| raw_step(rng)).collect();
    // Leave the last 5% of the span for the closing transaction and flush.
    let active = (span / 100 * 95).max(m as i64 * 2);
    let busy: i64 = steps.iter().sum();
    let cap = active / 2;
    if busy > cap {
        let scale = cap as f64 / busy as f64;
        for s in &mut steps {
            *s = ((*s as f64 * scale) as i64).max(1);
        }
    }
    let window = active / bursts as i64;
    let midnight = Micros((start.day() + 1) * crate::model::MICROS_PER_DAY);
    let midnight_burst =
        (midnight.0 < start.0 + active).then(|| (((midnight.0 - start.0) / window.max(1)) as usize).min(bursts - 1));

    let mut times = Vec::with_capacity(m);
    let mut prev = start.0;
    for b in 0..bursts {
        let (lo, hi) = (b * m / bursts, (b + 1) * m / bursts);
        let dur: i64 = steps[lo..hi].iter().sum();
        let window_start = start.0 + b as i64 * window;
        let planned = if Some(b) == midnight_burst {
            // The middle transaction of the burst commits 1 us before midnight.
            let half = ((hi - lo) / 2).max(1);
            midnight.0 - steps[lo..lo + half].iter().sum::<i64>() - 1
        } else {
            window_start + rng.random_range(0..=(window - dur).max(0))
        };
        let mut t = planned.max(prev);
        for &s in &steps[lo..hi] {
            t = (t + s).max(prev + 1);
            times.push(Micros(t));
            prev = t;
        }
    }
    times
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn at(day: i64, hour: i64) -> Micros {
        Micros(day * crate::model::MICROS_PER_DAY + hour * 3_600_000_000)
    }

    #[test]
    fn some_pgbench_transactions_insert_their_history_row_twice() {
        // GIVEN a small source database
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let start = at(20_000, 4);
        let mut db = SourceDb::initial(&mut rng, 2, 100, start);
        // WHEN 500 pgbench transactions run
        let mut twice = 0;
        for i in 0..500 {
            let stmts = pgbench_txn(&mut db, &mut rng, Micros(start.0 + i), None);
            let history: Vec<&Row> =
                stmts.iter().filter(|(_, r)| matches!(r, Row::History(_))).map(|(_, r)| r).collect();
            // THEN each inserts its history row once or, now and then, the same row twice
            match history.as_slice() {
                [_] => {}
                [a, b] => {
                    assert_eq!(a, b);
                    twice += 1;
                }
                other => panic!("unexpected history inserts {other:?}"),
            }
        }
        assert!((2..=30).contains(&twice), "{twice} of 500 transactions inserted twice");
    }

    #[test]
    fn commit_times_are_strictly_increasing_and_inside_the_span() {
        // GIVEN a cycle of 8 hours with 500 transactions
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let start = at(20_000, 4);
        let span = 8 * 3_600_000_000;
        // WHEN the commit times are planned
        let times = plan_commit_times(&mut rng, start, span, 500);
        // THEN they are strictly increasing and inside [start, start + span)
        assert_eq!(times.len(), 500);
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert!(times[0] > start && times[499].0 < start.0 + span);
    }

    #[test]
    fn a_cycle_crossing_midnight_commits_on_both_sides_of_it() {
        // GIVEN a cycle from 20:00 to 04:00
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let start = at(20_000, 20);
        // WHEN even a small number of transactions is planned
        let times = plan_commit_times(&mut rng, start, 8 * 3_600_000_000, 40);
        // THEN some commit on each day, and some within a minute of midnight
        let midnight = at(20_001, 0).0;
        assert!(times.iter().any(|t| t.0 < midnight));
        assert!(times.iter().any(|t| t.0 >= midnight));
        assert!(times.iter().any(|t| (t.0 - midnight).abs() < 60_000_000));
    }
}
