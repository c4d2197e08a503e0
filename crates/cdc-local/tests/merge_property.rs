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
