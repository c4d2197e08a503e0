//! Property: for random change streams (random op mixes, equal timestamps,
//! random file splits, files delivered late and out of order, replays), the
//! target after every run equals the oracle fold over what was delivered.

mod support;

use proptest::prelude::*;
use support::*;

#[derive(Debug, Clone)]
struct Stream {
    full: Vec<(FullRow, usize)>,
    /// Changes in commit order, each with its file index.
    changes: Vec<(Change, usize)>,
    /// The run in which each file is delivered.
    delivery: Vec<usize>,
    replay_after: Vec<bool>,
}

const RUNS: usize = 3;

fn stream() -> impl Strategy<Value = Stream> {
    let change = (0..4usize, 0..5i32, 0..3i64, proptest::option::weighted(0.9, "[a-c]{1,2}"));
    (
        proptest::collection::vec((0..5i32, 0..20i64, 0..RUNS), 0..4),
        proptest::collection::vec(change, 1..30),
        1..6usize,
        proptest::collection::vec(0..RUNS, 6),
        proptest::collection::vec(any::<bool>(), RUNS),
    )
        .prop_map(|(full, raw_changes, files, delivery, replay_after)| {
            let mut ts = 0i64;
            let n = raw_changes.len();
            let changes = raw_changes
                .into_iter()
                .enumerate()
                .map(|(i, (op, id, step, v))| {
                    // Timestamps never go back; a step of 0 gives equal timestamps.
                    ts += step;
                    let op = ["I", "U", "D", "U"][op];
                    let file = i * files / n;
                    (Change { op, id, v, ts, seq: i as u64 + 1 }, file)
                })
                .collect();
            let mut seen = std::collections::HashSet::new();
            let full = full
                .into_iter()
                .filter(|(id, ..)| seen.insert(*id))
                .map(|(id, t, run)| (FullRow { id, v: Some(format!("full{id}")), ts: t }, run))
                .collect();
            Stream { full, changes, delivery, replay_after }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn target_equals_the_oracle_after_every_run(s in stream()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(check(s));
    }
}

async fn check(s: Stream) {
    let w = World::new();
    w.setup().await;
    let mut delivered_full = Vec::new();
    let mut delivered = Vec::new();
    let files = s.changes.iter().map(|(_, f)| f + 1).max().unwrap_or(0);
    for run in 0..RUNS {
        let full_now: Vec<FullRow> = s.full.iter().filter(|(_, r)| *r == run).map(|(f, _)| f.clone()).collect();
        if !full_now.is_empty() {
            w.full_file("items", &format!("LOAD{run:08}"), &full_now);
            delivered_full.extend(full_now);
        }
        for file in (0..files).filter(|f| s.delivery[*f] == run) {
            let rows: Vec<Change> = s.changes.iter().filter(|(_, f)| *f == file).map(|(c, _)| c.clone()).collect();
            // File names follow commit order, as DMS names them; a file
            // delivered in a later run is a late file.
            w.cdc_file("items", "20261101", &format!("20261101-{file:09}"), &rows);
            delivered.extend(rows);
        }
        if delivered_full.is_empty() && delivered.is_empty() {
            continue;
        }
        w.load("items").await.unwrap();
        if s.replay_after[run] {
            w.load("items").await.unwrap();
        }
        assert_eq!(w.state("items"), oracle(&delivered_full, &delivered), "after run {run} of {s:?}");
    }
}

// ---- The wider property: day folders, disagreeing orders, replays,
// tombstone expiry, append tables ----

mod wide {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::support::*;

    const RUNS: usize = 4;
    const DAYS: u32 = 4;
    const WINDOW: i64 = 86_400;

    /// One raw file: its table, day folder (0 = 20261101), name number, the
    /// run that delivers it and its rows.
    #[derive(Debug, Clone)]
    struct File {
        table: &'static str,
        day: u32,
        name: u32,
        run: usize,
        changes: Vec<Change>,
        full: Vec<FullRow>,
        load_name: Option<String>,
    }

    impl File {
        fn day_folder(&self) -> String {
            format!("202611{:02}", self.day + 1)
        }
        /// DMS's name for the file: the day, then `name` as milliseconds
        /// after midnight (`HHMMSSmmm`), so names sort as `name` does.
        fn stem(&self) -> String {
            let ms = self.name;
            format!(
                "{}-{:02}{:02}{:02}{:03}",
                self.day_folder(),
                ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000
            )
        }
        fn rel(&self) -> String {
            match &self.load_name {
                Some(n) => format!("full/src/{}/{n}.parquet", self.table),
                None => format!("cdc/src/{}/{}/{}.parquet", self.table, self.day_folder(), self.stem()),
            }
        }
    }

    #[derive(Debug, Clone)]
    struct Case {
        files: Vec<File>,
        replay_after: Vec<bool>,
    }

    /// Changes to items over three days and more (past the one-day lateness
    /// window) and events around a full load, cut into files whose day
    /// folder, name and delivery run are drawn independently of the commit
    /// timestamps; sequences are drawn too, so timestamp, sequence and file
    /// order disagree. Stale updates (just before a delete of their key) come
    /// in files of the last run, when the delete's tombstone may have expired.
    fn case() -> impl Strategy<Value = Case> {
        let item = (0..5usize, 0..5i32, 0..4u8, 0..100_000i64, "[a-c]{1,2}", 0..1000u64);
        let event = (0..3i32, 0..2usize, 0..600i64, 0..1000u64);
        let file_meta = (0..DAYS, 0..1000u32, 0..RUNS);
        (
            proptest::collection::vec(item, 1..25),
            proptest::collection::vec(event, 0..14),
            proptest::collection::vec(file_meta, 8),
            proptest::collection::vec((0..5i32, 0..300i64), 0..4),
            (0..RUNS, 0..RUNS, 100..300i64, 300..500i64, proptest::collection::vec(0..3i32, 0..5)),
            proptest::collection::vec(any::<bool>(), RUNS),
            proptest::collection::vec(0..4usize, 0..3),
        )
            .prop_map(|(items, events, metas, item_full, (r1, r2, t1, t2, ev_full), replay_after, stale)| {
                let mut files: Vec<File> = metas
                    .iter()
                    .enumerate()
                    .map(|(i, &(day, name, run))| File {
                        table: if i < 5 { "items" } else { "events" },
                        day,
                        name: name * 10 + i as u32,
                        run,
                        changes: Vec::new(),
                        full: Vec::new(),
                        load_name: None,
                    })
                    .collect();
                // Items: commit times walk forward in steps up to ~28 h.
                let mut ts = 0i64;
                for (i, (file, id, op, step, v, seq)) in items.into_iter().enumerate() {
                    ts += [0, 7, 3_600, step][(step % 4) as usize];
                    let op = ["I", "U", "D", "U"][op as usize];
                    files[file].changes.push(Change { op, id, v: Some(v), ts, seq: seq * 100 + i as u64 + 1 });
                }
                // Stale updates: just before the last delete of a key, in a
                // file of the last run, in the delete's day folder.
                let deletes: Vec<Change> =
                    files[..5].iter().flat_map(|f| f.changes.iter()).filter(|c| c.op == "D").cloned().collect();
                for (n, pick) in stale.into_iter().enumerate() {
                    let Some(d) = deletes.get(pick % deletes.len().max(1)) else { break };
                    let late = Change {
                        op: "U",
                        id: d.id,
                        v: Some("stale".into()),
                        ts: d.ts - 1,
                        seq: d.seq.saturating_sub(1),
                    };
                    files.push(File {
                        table: "items",
                        day: ((d.ts.max(0)) / 86_400) as u32,
                        name: 999_000 + n as u32,
                        run: RUNS - 1,
                        changes: vec![late],
                        full: Vec::new(),
                        load_name: None,
                    });
                }
                // Events: a few values, so identical rows are common.
                for (i, (id, v, ts, seq)) in events.into_iter().enumerate() {
                    let file = 5 + i % 3;
                    let v = ["x", "y"][v];
                    files[file].changes.push(Change {
                        op: "I",
                        id,
                        v: Some(v.into()),
                        ts,
                        seq: seq * 100 + i as u64 + 1,
                    });
                }
                let mut seen = BTreeSet::new();
                let item_full: Vec<FullRow> = item_full
                    .into_iter()
                    .filter(|(id, _)| seen.insert(*id))
                    .map(|(id, t)| FullRow { id, v: Some(format!("full{id}")), ts: t })
                    .collect();
                if !item_full.is_empty() {
                    files.push(File {
                        table: "items",
                        day: 0,
                        name: 0,
                        run: r1,
                        changes: vec![],
                        full: item_full,
                        load_name: Some("LOAD00000001".into()),
                    });
                }
                // Two full-load files of events, transferred at t1 < t2, so the
                // second one widens the window.
                let (a, b) = ev_full.split_at(ev_full.len() / 2);
                for (n, (part, t, run)) in [(a, t1, r1), (b, t2, r2)].into_iter().enumerate() {
                    if !part.is_empty() {
                        let full = part
                            .iter()
                            .map(|&id| FullRow { id, v: Some(["x", "y"][id as usize % 2].into()), ts: t })
                            .collect();
                        files.push(File {
                            table: "events",
                            day: 0,
                            name: 0,
                            run,
                            changes: vec![],
                            full,
                            load_name: Some(format!("LOAD0000000{}", n + 1)),
                        });
                    }
                }
                files.retain(|f| !f.changes.is_empty() || !f.full.is_empty());
                Case { files, replay_after }
            })
    }

    /// The contract as an in-memory model of the loads (docs/cdc-contract.md):
    /// rule 1's listing, rules 2, 3 and 5 per batch with tombstones expiring
    /// after the lateness window, rule 6's multiset for append tables.
    #[derive(Default)]
    struct Model {
        applied: BTreeSet<String>,
        /// id -> (rank, ts, seq or -1, v).
        target: BTreeMap<i32, (u8, i64, i64, Option<String>)>,
        tombstones: BTreeMap<i32, (i64, i64)>,
        /// Newest commit timestamp of the applied CDC files: the tombstone
        /// horizon is this minus the window.
        max_applied: Option<i64>,
        /// Every delete applied, to tell when a stale change came back.
        deleted: Vec<(i32, i64, i64)>,
        events_full: Vec<FullRow>,
        events_cdc: Vec<Change>,
    }

    static EXPIRED: AtomicUsize = AtomicUsize::new(0);
    static CAME_BACK: AtomicUsize = AtomicUsize::new(0);
    static REFUSED: AtomicUsize = AtomicUsize::new(0);
    static PAIRED: AtomicUsize = AtomicUsize::new(0);

    impl Model {
        /// The files `table`'s next load takes: every delivered file not
        /// applied yet, however old its day (docs/dms.md: no file is skipped).
        fn listed<'a>(&self, table: &str, delivered: &[&'a File]) -> Vec<&'a File> {
            delivered.iter().filter(|f| f.table == table && !self.applied.contains(&f.rel())).copied().collect()
        }

        /// Applies a load of `files`; `Err(files)` when rule 3 refuses it: the
        /// files with a change before the tombstone horizon to a key with no
        /// row and no tombstone (the load names one). A refused load changes
        /// nothing.
        fn apply(&mut self, table: &'static str, files: &[&File]) -> Result<(), Vec<String>> {
            if table == "events" {
                for f in files {
                    self.applied.insert(f.rel());
                    self.events_full.extend(f.full.iter().cloned());
                    self.events_cdc.extend(f.changes.iter().cloned());
                }
                return Ok(());
            }
            // (rank, ts, seq, path, row index): the batch's order of changes.
            let mut latest: BTreeMap<i32, ((u8, i64, i64, String, usize), bool, Option<String>)> = BTreeMap::new();
            let mut max_cdc_ts = None;
            for f in files {
                let rows = f.full.iter().map(|r| (0u8, r.id, r.ts, -1i64, false, r.v.clone()));
                let changes = f.changes.iter().map(|c| (1u8, c.id, c.ts, c.seq as i64, c.op == "D", c.v.clone()));
                for (i, (rank, id, ts, seq, delete, v)) in rows.chain(changes).enumerate() {
                    if rank == 1 {
                        max_cdc_ts = max_cdc_ts.max(Some(ts));
                    }
                    let order = (rank, ts, seq, f.rel(), i);
                    if latest.get(&id).is_none_or(|(o, ..)| order > *o) {
                        latest.insert(id, (order, delete, v));
                    }
                }
            }
            let horizon = self.max_applied.map(|m| m - WINDOW);
            let refused: Vec<String> = latest
                .iter()
                .filter(|(id, ((_, ts, ..), delete, _))| {
                    !delete
                        && horizon.is_some_and(|h| *ts < h)
                        && !self.target.contains_key(id)
                        && !self.tombstones.contains_key(id)
                })
                .map(|(_, ((_, _, _, path, _), ..))| path.clone())
                .collect();
            if !refused.is_empty() {
                return Err(refused);
            }
            for f in files {
                self.applied.insert(f.rel());
            }
            for (id, ((rank, ts, seq, ..), delete, v)) in latest {
                let newer = |(r, t, s): (u8, i64, i64)| (rank, ts, seq) > (r, t, s);
                if self.tombstones.get(&id).is_some_and(|&(t, s)| !newer((1, t, s))) {
                    continue;
                }
                if self.target.get(&id).is_some_and(|&(r, t, s, _)| !newer((r, t, s))) {
                    continue;
                }
                if !delete && self.deleted.iter().any(|&(k, t, s)| k == id && (t, s) > (ts, seq)) {
                    CAME_BACK.fetch_add(1, Ordering::Relaxed);
                }
                self.target.remove(&id);
                self.tombstones.remove(&id);
                if delete {
                    self.tombstones.insert(id, (ts, seq));
                    self.deleted.push((id, ts, seq));
                } else {
                    self.target.insert(id, (rank, ts, seq, v));
                }
            }
            self.max_applied = self.max_applied.max(max_cdc_ts);
            if let Some(max) = max_cdc_ts {
                let before = self.tombstones.len();
                self.tombstones.retain(|_, (t, _)| *t >= max - WINDOW);
                if self.tombstones.len() < before {
                    EXPIRED.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        }

        fn items_rows(&self) -> Vec<TargetRow> {
            self.target
                .iter()
                .map(|(&id, (rank, ts, seq, v))| {
                    let seq = (*rank == 1).then(|| seq_text(*seq as u64));
                    (id, v.clone(), ts_text(*ts), seq, *rank == 0)
                })
                .collect()
        }
    }

    /// (file, kind, partition) of every applied file of `table`.
    fn progress(w: &World, table: &str) -> BTreeSet<(String, String, Option<String>)> {
        let conn = w.warehouse.connection().unwrap();
        let mut stmt =
            conn.prepare(&format!("SELECT file, kind, partition_0 FROM cdc_control.{table}__progress")).unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
    }

    async fn check(case: Case) -> Result<(), TestCaseError> {
        let w = World::new();
        w.setup().await;
        let mut model = Model::default();
        let mut delivered: Vec<&File> = Vec::new();
        for run in 0..RUNS {
            for f in case.files.iter().filter(|f| f.run == run) {
                if f.load_name.is_some() {
                    w.full_file(f.table, f.load_name.as_deref().unwrap(), &f.full);
                } else {
                    w.cdc_file(f.table, &f.day_folder(), &f.stem(), &f.changes);
                }
                delivered.push(f);
            }
            for table in ["items", "events"] {
                let listed = model.listed(table, &delivered);
                let before = progress(&w, table);
                let loaded = if delivered.iter().any(|f| f.table == table) || !before.is_empty() {
                    w.load(table).await.map(|_| ())
                } else {
                    Ok(())
                };
                let refused = matches!(loaded, Err(_));
                match (model.apply(table, &listed), loaded) {
                    (Ok(()), Ok(())) => {}
                    (Err(files), Err(e)) => {
                        let msg = e.to_string();
                        let named = files.iter().any(|f| msg.contains(f.as_str()));
                        prop_assert!(named && msg.contains("lateness window"), "run {}: {} ({:?})", run, msg, files);
                        REFUSED.fetch_add(1, Ordering::Relaxed);
                    }
                    (Ok(()), Err(e)) => return Err(TestCaseError::fail(format!("run {run} {table}: {e}"))),
                    (Err(files), Ok(())) => {
                        return Err(TestCaseError::fail(format!(
                            "run {run} {table}: applied {files:?}, rule 3 refuses"
                        )));
                    }
                }
                let applied = progress(&w, table);
                let new: Vec<_> = applied.difference(&before).cloned().collect();
                let expected_new = if refused { 0 } else { listed.len() };
                prop_assert_eq!(new.len(), expected_new, "run {}: {} loaded other files than listed", run, table);
                let expected = match table {
                    "items" => model.items_rows(),
                    _ => append_oracle(&model.events_full, &model.events_cdc),
                };
                prop_assert_eq!(&w.sorted_rows(table), &expected, "run {}: {}", run, table);
                if case.replay_after[run] && !new.is_empty() {
                    // The same load batch a second time changes nothing.
                    let files: Vec<cdc_core::ports::RawFile> = new
                        .into_iter()
                        .map(|(path, kind, partition)| cdc_core::ports::RawFile {
                            path,
                            kind: if kind == "F" {
                                cdc_core::ports::FileKind::Full
                            } else {
                                cdc_core::ports::FileKind::Cdc
                            },
                            partition,
                            size: 1,
                            modified: chrono::Utc::now(),
                            version: String::new(),
                        })
                        .collect();
                    let t = w.cfg.table(table).unwrap();
                    let batch = cdc_core::sql::merge::load_batch(&w.cfg, t, cdc_core::sql::Dialect::DuckDb, &files);
                    cdc_core::ports::run_to_completion(&w.warehouse, batch)
                        .await
                        .map_err(|e| TestCaseError::fail(format!("replay: {e}")))?;
                    prop_assert_eq!(&w.sorted_rows(table), &expected, "replay after run {}: {}", run, table);
                    prop_assert_eq!(progress(&w, table), applied.clone());
                }
                if table == "events" {
                    let paired = w.count("SELECT count(*) FROM cdc_control.events__paired");
                    if paired > 0 {
                        PAIRED.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        Ok(())
    }

    #[test]
    fn day_folders_disagreeing_orders_replays_expiry_and_append_tables_follow_the_model() {
        let mut runner = TestRunner::new(Config { cases: 40, failure_persistence: None, ..Config::default() });
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runner.run(&case(), |c| rt.block_on(check(c))).unwrap();
        // AND the cases reached what they are for, and no deleted row ever came back
        let (expired, refused, paired) =
            (EXPIRED.load(Ordering::Relaxed), REFUSED.load(Ordering::Relaxed), PAIRED.load(Ordering::Relaxed));
        assert!(expired > 0 && refused > 0 && paired > 0, "expired {expired}, refused {refused}, paired {paired}");
        assert_eq!(CAME_BACK.load(Ordering::Relaxed), 0, "a stale change brought a deleted row back");
    }
}
