//! The simulated source database: the true current state of the pgbench
//! tables and the types tables.
//!
//! Every mutator returns the row image DMS would capture (after image for
//! INSERT/UPDATE, before image for DELETE), so the caller can log the change.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::{Account, Branch, History, Micros, Row, Teller};
use crate::types::{self, TypeEvent, TypeSample, TypeValues};

/// Pre-existing history rows per branch: the source had been running before
/// DMS started, so the history full load has rows to scan (and the scan lasts
/// long enough for concurrent inserts to land in it).
const INITIAL_HISTORY_PER_BRANCH: i32 = 100;

/// BTreeMaps keep every iteration (and thus every output) deterministic.
#[derive(Clone, Debug)]
pub(crate) struct SourceDb {
    pub branches: BTreeMap<i32, Branch>,
    pub tellers: BTreeMap<i32, Teller>,
    pub accounts: BTreeMap<i32, Account>,
    pub history: Vec<History>,
    /// Highest aid ever used; new accounts get the next one, as a sequence would.
    max_aid: i32,
    last_mtime: Micros,
    /// `type_samples` by its key (k_text, k_int).
    pub type_samples: BTreeMap<(String, i32), TypeSample>,
    /// `type_events` in insertion order; `e_id` grows with it.
    pub type_events: Vec<TypeEvent>,
    last_event_id: i32,
    /// Index of the next set of hard values ([`TypeValues::hard`]).
    types_step: usize,
    /// Where the types workload's choice of keys starts this cycle.
    pub types_turn: usize,
    /// The `type_samples` key whose value columns the last cycle set to NULL.
    pub types_nulled: Option<(String, i32)>,
    /// Set once the source widened `pgbench_tellers.filler`: each teller
    /// update from then on writes a filler of this many characters.
    pub wide_teller_filler: Option<usize>,
}

/// Events in the full load of `type_events`, besides the one all-NULL event.
const INITIAL_EVENTS: usize = 12;

/// A short filler string, or NULL now and then so null handling is exercised.
pub(crate) fn filler(rng: &mut ChaCha8Rng, null_pct: f64) -> Option<String> {
    if rng.random_bool(null_pct / 100.0) { None } else { Some(format!("f{:06x}", rng.random::<u32>() & 0xff_ffff)) }
}

impl SourceDb {
    /// pgbench -i: `branches` branches, 10 tellers each, `accounts_per_branch`
    /// accounts each, plus some history older than `start`.
    pub(crate) fn initial(rng: &mut ChaCha8Rng, branches: u32, accounts_per_branch: u32, start: Micros) -> Self {
        // Sizes are validated to fit in i32 by GeneratorConfig::validate.
        let nb = branches as i32;
        let apb = accounts_per_branch as i32;
        let mut db = SourceDb {
            branches: BTreeMap::new(),
            tellers: BTreeMap::new(),
            accounts: BTreeMap::new(),
            history: Vec::new(),
            max_aid: nb * apb,
            last_mtime: Micros(start.0 - 3_600_000_000),
            type_samples: BTreeMap::new(),
            type_events: Vec::new(),
            last_event_id: 0,
            types_step: 0,
            types_turn: 0,
            types_nulled: None,
            wide_teller_filler: None,
        };
        for bid in 1..=nb {
            let filler = filler(rng, 20.0);
            db.branches.insert(bid, Branch { bid, bbalance: 0, filler });
        }
        for tid in 1..=nb * 10 {
            let filler = filler(rng, 10.0);
            db.tellers.insert(tid, Teller { tid, bid: (tid - 1) / 10 + 1, tbalance: 0, filler });
        }
        for aid in 1..=nb * apb {
            let filler = filler(rng, 5.0);
            db.accounts.insert(aid, Account { aid, bid: (aid - 1) / apb + 1, abalance: 0, filler });
        }
        for _ in 0..nb * INITIAL_HISTORY_PER_BRANCH {
            let tid = rng.random_range(1..=nb * 10);
            let aid = rng.random_range(1..=nb * apb);
            let delta = rng.random_range(-5000..=5000);
            let mtime = Micros(db.last_mtime.0 + rng.random_range(1..=10_000_000));
            let filler = filler(rng, 50.0);
            db.insert_history(tid, (tid - 1) / 10 + 1, aid, delta, mtime, filler);
        }
        db
    }

    /// The types tables before DMS starts: every key of [`types::KEYS`] (the
    /// NULL row all NULL, the others with hard values) and some events, one
    /// of them all NULL. `rng` is the types tables' own, so the pgbench
    /// tables come out the same with or without them.
    pub(crate) fn init_types(&mut self, rng: &mut ChaCha8Rng) {
        for &(k_text, k_int) in types::KEYS {
            let values =
                if (k_text, k_int) == types::NULL_ROW_KEY { TypeValues::nulls() } else { self.next_type_values(rng) };
            self.insert_sample(TypeSample { k_text: k_text.to_string(), k_int, values });
        }
        for _ in 0..INITIAL_EVENTS {
            let values = self.next_type_values(rng);
            self.insert_event(values);
        }
        self.insert_event(TypeValues::nulls());
    }

    /// The next set of hard values.
    pub(crate) fn next_type_values(&mut self, rng: &mut ChaCha8Rng) -> TypeValues {
        self.types_step += 1;
        TypeValues::hard(self.types_step - 1, rng)
    }

    /// `UPDATE type_samples SET <every value column> WHERE (k_text, k_int) = key`.
    pub(crate) fn update_sample(&mut self, key: &(String, i32), values: TypeValues) -> Option<Row> {
        let s = self.type_samples.get_mut(key)?;
        s.values = values;
        Some(Row::Sample(s.clone()))
    }

    /// Inserts (or re-inserts) a sample; its key must not be live.
    pub(crate) fn insert_sample(&mut self, sample: TypeSample) -> Row {
        self.type_samples.insert((sample.k_text.clone(), sample.k_int), sample.clone());
        Row::Sample(sample)
    }

    pub(crate) fn delete_sample(&mut self, key: &(String, i32)) -> Option<Row> {
        self.type_samples.remove(key).map(Row::Sample)
    }

    /// Appends an event with the next `e_id`, so every event is distinct.
    pub(crate) fn insert_event(&mut self, values: TypeValues) -> Row {
        self.last_event_id += 1;
        let e = TypeEvent { e_id: self.last_event_id, values };
        self.type_events.push(e.clone());
        Row::Event(e)
    }

    pub(crate) fn teller_count(&self) -> i32 {
        self.tellers.len() as i32
    }

    pub(crate) fn branch_count(&self) -> i32 {
        self.branches.len() as i32
    }

    /// A live account chosen at random; `None` only when no account is left.
    /// Picks a random aid and takes the next live one, so deleted aids cost nothing.
    pub(crate) fn pick_account(&self, rng: &mut ChaCha8Rng) -> Option<i32> {
        let probe = rng.random_range(1..=self.max_aid.max(1));
        self.accounts.range(probe..).next().or_else(|| self.accounts.iter().next()).map(|(aid, _)| *aid)
    }

    /// `UPDATE pgbench_accounts SET abalance = abalance + delta [, filler = ..]`.
    pub(crate) fn update_account(&mut self, aid: i32, delta: i32, new_filler: Option<Option<String>>) -> Option<Row> {
        let a = self.accounts.get_mut(&aid)?;
        a.abalance = a.abalance.wrapping_add(delta);
        if let Some(f) = new_filler {
            a.filler = f;
        }
        Some(Row::Account(a.clone()))
    }

    pub(crate) fn update_teller(&mut self, tid: i32, delta: i32) -> Option<Row> {
        let t = self.tellers.get_mut(&tid)?;
        t.tbalance = t.tbalance.wrapping_add(delta);
        if let Some(chars) = self.wide_teller_filler {
            // Derived from the row, not drawn: the random stream stays as it was.
            t.filler = Some(format!("{:-<chars$}", format!("wide teller {tid} balance {}", t.tbalance)));
        }
        Some(Row::Teller(t.clone()))
    }

    pub(crate) fn update_branch(&mut self, bid: i32, delta: i32) -> Option<Row> {
        let b = self.branches.get_mut(&bid)?;
        b.bbalance = b.bbalance.wrapping_add(delta);
        Some(Row::Branch(b.clone()))
    }

    /// Appends a history row; `mtime` is pushed forward when needed so every
    /// history row has a distinct, strictly increasing mtime (rows stay
    /// unique but for [`Self::repeat_history`]).
    pub(crate) fn insert_history(
        &mut self,
        tid: i32,
        bid: i32,
        aid: i32,
        delta: i32,
        mtime: Micros,
        filler: Option<String>,
    ) -> Row {
        let mtime = Micros(mtime.0.max(self.last_mtime.0 + 1));
        self.last_mtime = mtime;
        let h = History { tid, bid, aid, delta, mtime, filler };
        self.history.push(h.clone());
        Row::History(h)
    }

    /// Appends the same history row again: the table has no key, so one
    /// event inserted twice is two identical rows, which the target must
    /// keep as two (docs/cdc-contract.md, rule 6).
    pub(crate) fn repeat_history(&mut self, h: History) -> Row {
        self.history.push(h.clone());
        Row::History(h)
    }

    /// Next unused aid (above every aid ever used).
    pub(crate) fn next_aid(&mut self) -> i32 {
        self.max_aid += 1;
        self.max_aid
    }

    /// Inserts (or re-inserts) an account; the aid must not be live.
    pub(crate) fn insert_account(&mut self, account: Account) -> Row {
        self.max_aid = self.max_aid.max(account.aid);
        self.accounts.insert(account.aid, account.clone());
        Row::Account(account)
    }

    pub(crate) fn delete_account(&mut self, aid: i32) -> Option<Row> {
        self.accounts.remove(&aid).map(Row::Account)
    }
}
