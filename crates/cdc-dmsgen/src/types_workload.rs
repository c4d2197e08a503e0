//! The types tables' workload: a few transactions per cycle, placed between
//! the pgbench transactions, that walk the hard values through updates,
//! NULLs, deletes and re-inserts, and append events.

use rand_chacha::ChaCha8Rng;

use crate::model::Op;
use crate::source_db::SourceDb;
use crate::types::{NULL_ROW_KEY, SPACE_KEYS, TypeSample, TypeValues};
use crate::workload::Stmts;

type SampleKey = (String, i32);

/// One transaction of the types workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TypesTxn {
    /// Updates every value column of these keys, one statement each.
    Update(Vec<SampleKey>),
    /// Updates one key twice: equal commit ts, the sequence breaks the tie.
    UpdateTwice(SampleKey),
    /// Sets every value column of a key to NULL (it gets values back next cycle).
    ToNull(SampleKey),
    /// Gives the key nulled by the previous cycle values again.
    BackFromNull(SampleKey),
    /// DELETE then INSERT of the same key, new values.
    DeleteReinsert(SampleKey),
    /// Updates 'a' and 'a  ' and deletes 'a ' (or inserts it back when a
    /// previous cycle deleted it): keys that differ only by trailing spaces.
    SpaceKeys,
    /// Inserts `n` events, the last one all NULL when `with_null`.
    Events { n: usize, with_null: bool },
}

/// Keys the cycle workload picks from: every live key but the all-NULL row
/// and the trailing-space keys, which have their own transaction.
fn updatable(db: &SourceDb) -> Vec<SampleKey> {
    db.type_samples
        .keys()
        .filter(|(t, i)| (t.as_str(), *i) != NULL_ROW_KEY && !SPACE_KEYS.contains(&(t.as_str(), *i)))
        .cloned()
        .collect()
}

/// The types transactions of one cycle, in commit order. The keys rotate
/// from cycle to cycle, so over the cycles every key takes every part.
pub(crate) fn cycle_plan(db: &mut SourceDb) -> Vec<TypesTxn> {
    let keys = updatable(db);
    if keys.len() < 8 {
        return Vec::new();
    }
    let turn = db.types_turn;
    db.types_turn += 7;
    let at = |i: usize| keys[(turn + i) % keys.len()].clone();
    let mut plan = vec![TypesTxn::Update(vec![at(3), at(4), at(5)])];
    if let Some(k) = db.types_nulled.take() {
        plan.push(TypesTxn::BackFromNull(k));
    }
    plan.extend([
        TypesTxn::Events { n: 2, with_null: false },
        TypesTxn::UpdateTwice(at(0)),
        TypesTxn::DeleteReinsert(at(2)),
        TypesTxn::SpaceKeys,
        TypesTxn::ToNull(at(1)),
        TypesTxn::Events { n: 3, with_null: true },
        TypesTxn::Update(vec![at(6), at(7)]),
    ]);
    plan
}

/// Runs one types transaction on the source and returns its row images.
pub(crate) fn run(db: &mut SourceDb, rng: &mut ChaCha8Rng, txn: &TypesTxn) -> Stmts {
    let mut out = Stmts::new();
    match txn {
        TypesTxn::Update(keys) => {
            for k in keys {
                update(db, rng, k, &mut out);
            }
        }
        TypesTxn::UpdateTwice(k) => {
            update(db, rng, k, &mut out);
            update(db, rng, k, &mut out);
        }
        TypesTxn::ToNull(k) => {
            if let Some(row) = db.update_sample(k, TypeValues::nulls()) {
                out.push((Op::Update, row));
                db.types_nulled = Some(k.clone());
            }
        }
        TypesTxn::BackFromNull(k) => update(db, rng, k, &mut out),
        TypesTxn::DeleteReinsert(k) => {
            if let Some(before) = db.delete_sample(k) {
                out.push((Op::Delete, before));
                let values = db.next_type_values(rng);
                let fresh = TypeSample { k_text: k.0.clone(), k_int: k.1, values };
                out.push((Op::Insert, db.insert_sample(fresh)));
            }
        }
        TypesTxn::SpaceKeys => {
            let [first, middle, last] = SPACE_KEYS.map(|(t, i)| (t.to_string(), i));
            update(db, rng, &first, &mut out);
            match db.delete_sample(&middle) {
                Some(before) => out.push((Op::Delete, before)),
                None => {
                    let values = db.next_type_values(rng);
                    let back = TypeSample { k_text: middle.0, k_int: middle.1, values };
                    out.push((Op::Insert, db.insert_sample(back)));
                }
            }
            update(db, rng, &last, &mut out);
        }
        TypesTxn::Events { n, with_null } => {
            for i in 0..*n {
                let values = if *with_null && i + 1 == *n { TypeValues::nulls() } else { db.next_type_values(rng) };
                out.push((Op::Insert, db.insert_event(values)));
            }
        }
    }
    out
}

fn update(db: &mut SourceDb, rng: &mut ChaCha8Rng, key: &SampleKey, out: &mut Stmts) {
    if db.type_samples.contains_key(key) {
        let values = db.next_type_values(rng);
        if let Some(row) = db.update_sample(key, values) {
            out.push((Op::Update, row));
        }
    }
}

/// Committed while the full load scans `type_samples`, `cursor` being the
/// last key scanned: updates the key after the next one (its full-load row
/// then shows the change, with a later timestamp than the CDC change) and
/// the key just scanned (its CDC change is newer than its full-load row).
pub(crate) fn during_samples_scan(db: &mut SourceDb, rng: &mut ChaCha8Rng, cursor: &SampleKey) -> Stmts {
    let live = |k: &&SampleKey| (k.0.as_str(), k.1) != NULL_ROW_KEY;
    let ahead = db.type_samples.keys().filter(|k| *k > cursor).filter(live).nth(1).cloned();
    let mut out = Stmts::new();
    for k in ahead.into_iter().chain(std::iter::once(cursor.clone()).filter(|k| live(&k))) {
        update(db, rng, &k, &mut out);
    }
    out
}

/// Committed while the full load scans `type_events`: the new event lands in
/// the full load and in the CDC stream.
pub(crate) fn during_events_scan(db: &mut SourceDb, rng: &mut ChaCha8Rng) -> Stmts {
    let values = db.next_type_values(rng);
    vec![(Op::Insert, db.insert_event(values))]
}
