//! The oracle: the change log with delivery status, the expected target state
//! derived from delivered files only, and the true source state.
//!
//! The expected state is an independent in-memory fold, deliberately simple
//! so it can serve as the reference the pipeline's SQL is checked against.

use std::collections::HashMap;

use duckdb::Connection;

use crate::config::DmsLayout;
use crate::error::GenError;
use crate::model::{Change, FullRow, Key, Micros, Op, Row, Table, seq_string};
use crate::source_db::SourceDb;
use crate::types::{Decimal, TypedValue};
use crate::writer::{append_row, column_defs, quote_ident};

/// Every change ever captured (in commit order, so in sequence order) and
/// every full-load row.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChangeLog {
    pub changes: Vec<Change>,
    pub full_rows: Vec<FullRow>,
    /// Per table, set by a reload (whose rows replaced the table's full
    /// rows): changes committed before this are in the reload, and the
    /// rebuild drops them (docs/table-lifecycle.md).
    pub rebuilt_since: [Option<Micros>; Table::COUNT],
    /// Columns the source added mid-stream (`Generator::add_column`).
    pub added_columns: Vec<crate::generator::AddedSourceColumn>,
    /// `(table, column)`: integer columns the source made bigint.
    pub retyped_columns: Vec<(&'static str, &'static str)>,
}

/// One row the target must hold, with the ts and sequence it must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExpectedRow<'a> {
    pub row: &'a Row,
    pub ts: Micros,
    /// `None` for a row that comes from the full load.
    pub seq: Option<String>,
}

/// Order of changes to one key: any CDC change beats the full-load row (whose
/// ts is a transfer time, not a change time); CDC changes order by commit ts
/// then sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    cdc: bool,
    ts: Micros,
    seq: u64,
}

struct Latest<'a> {
    rank: Rank,
    deleted: bool,
    row: &'a Row,
}

/// The target state given only the delivered files, per table (index = `Table::index`).
///
/// Append-only tables are multisets (docs/cdc-contract.md, rule 6): every
/// full-load row and every CDC insert is a row, except inside the full-load
/// window (commit ts up to the newest full-load transfer ts of the table):
/// for each row value with F full-load rows and C CDC inserts in the window,
/// the target holds max(F, C) rows: the F full-load rows, and the latest C - F
/// CDC inserts (by ts, then sequence) when C > F.
pub(crate) fn expected(log: &ChangeLog) -> [Vec<ExpectedRow<'_>>; Table::COUNT] {
    let mut latest: [HashMap<Key, Latest<'_>>; Table::COUNT] = Default::default();
    // Append-only tables: the full-load rows, how many of each value, and
    // the end of the full-load window.
    let mut appended: [Vec<ExpectedRow<'_>>; Table::COUNT] = Default::default();
    let mut full_count: [HashMap<&Row, usize>; Table::COUNT] = Default::default();
    let mut window_end: [Option<Micros>; Table::COUNT] = Default::default();
    for fr in &log.full_rows {
        let i = fr.row.table().index();
        match fr.row.key() {
            None => {
                *full_count[i].entry(&fr.row).or_default() += 1;
                window_end[i] = window_end[i].max(Some(fr.ts));
                appended[i].push(ExpectedRow { row: &fr.row, ts: fr.ts, seq: None });
            }
            Some(key) => {
                let rank = Rank { cdc: false, ts: fr.ts, seq: 0 };
                keep_latest(&mut latest[i], key, rank, false, &fr.row);
            }
        }
    }

    let mut appended_cdc: [Vec<ExpectedRow<'_>>; Table::COUNT] = Default::default();
    // Append-only CDC inserts inside the full-load window, per value.
    let mut in_window: [HashMap<&Row, Vec<&Change>>; Table::COUNT] = Default::default();
    let superseded = |c: &Change| log.rebuilt_since[c.row.table().index()].is_some_and(|since| c.ts < since);
    for c in log.changes.iter().filter(|c| c.delivered && !superseded(c)) {
        let i = c.row.table().index();
        match c.row.key() {
            None => {
                if c.op != Op::Insert {
                    continue;
                }
                if window_end[i].is_some_and(|end| c.ts <= end) {
                    in_window[i].entry(&c.row).or_default().push(c);
                } else {
                    appended_cdc[i].push(cdc_row(c));
                }
            }
            Some(key) => {
                let rank = Rank { cdc: true, ts: c.ts, seq: c.seq };
                keep_latest(&mut latest[i], key, rank, c.op == Op::Delete, &c.row);
            }
        }
    }
    for (i, values) in in_window.into_iter().enumerate() {
        for (row, mut copies) in values {
            // The latest copies stay; as many earliest as the full load
            // carried are the same rows.
            copies.sort_by_key(|c| std::cmp::Reverse((c.ts, c.seq)));
            let keep = copies.len().saturating_sub(full_count[i].get(row).copied().unwrap_or(0));
            appended_cdc[i].extend(copies[..keep].iter().map(|c| cdc_row(c)));
        }
        appended_cdc[i].sort_by_key(|r| r.ts);
    }

    let mut out: [Vec<ExpectedRow<'_>>; Table::COUNT] = Default::default();
    for table in Table::ALL {
        let i = table.index();
        if table.is_keyed() {
            let mut rows: Vec<(&Key, ExpectedRow<'_>)> = latest[i]
                .iter()
                .filter(|(_, l)| !l.deleted)
                .map(|(key, l)| {
                    let seq = l.rank.cdc.then(|| seq_string(l.rank.ts, l.rank.seq));
                    (key, ExpectedRow { row: l.row, ts: l.rank.ts, seq })
                })
                .collect();
            rows.sort_by(|a, b| a.0.cmp(b.0));
            out[i] = rows.into_iter().map(|(_, r)| r).collect();
        } else {
            let mut rows = std::mem::take(&mut appended[i]);
            rows.append(&mut appended_cdc[i]);
            out[i] = rows;
        }
    }
    out
}

fn cdc_row(c: &Change) -> ExpectedRow<'_> {
    ExpectedRow { row: &c.row, ts: c.ts, seq: Some(seq_string(c.ts, c.seq)) }
}

fn keep_latest<'a>(map: &mut HashMap<Key, Latest<'a>>, key: Key, rank: Rank, deleted: bool, row: &'a Row) {
    let newer = map.get(&key).is_none_or(|l| rank > l.rank);
    if newer {
        map.insert(key, Latest { rank, deleted, row });
    }
}

/// A types table's row as typed values, table columns only.
pub(crate) fn typed_row(row: &Row) -> Vec<TypedValue> {
    match row {
        Row::Sample(s) => {
            let mut out = vec![TypedValue::Text(s.k_text.clone()), TypedValue::Integer(s.k_int)];
            out.extend(s.values.typed());
            out
        }
        Row::Event(e) => {
            let mut out = vec![TypedValue::Integer(e.e_id)];
            out.extend(e.values.typed());
            out
        }
        // The pgbench tables are compared in SQL; they have no typed form.
        _ => Vec::new(),
    }
}

/// The expected rows of a types table as typed values: the table columns,
/// then the commit timestamp, then the sequence as a whole number (NULL for
/// a full-load row).
pub(crate) fn expected_typed(log: &ChangeLog, table: Table) -> Vec<Vec<TypedValue>> {
    let expected = expected(log);
    expected[table.index()]
        .iter()
        .map(|r| {
            let mut out = typed_row(r.row);
            out.push(TypedValue::Timestamp(r.ts.to_datetime().naive_utc()));
            out.push(match r.seq.as_deref().and_then(Decimal::parse) {
                Some(d) => TypedValue::Numeric(d),
                None => TypedValue::Null,
            });
            out
        })
        .collect()
}

fn create_table(conn: &Connection, schema: &str, table: Table, tail: &[(&str, &str)]) -> Result<(), GenError> {
    let s = quote_ident(schema);
    conn.execute_batch(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s}; CREATE OR REPLACE TABLE {s}.{} ({});",
        quote_ident(table.name()),
        column_defs(&[], table, tail)
    ))
    .map_err(|e| GenError::duckdb(format!("creating {schema}.{}", table.name()), e))
}

/// Writes the expected target tables: table columns, then ts, then sequence.
pub(crate) fn write_expected(
    conn: &Connection,
    schema: &str,
    layout: &DmsLayout,
    log: &ChangeLog,
) -> Result<(), GenError> {
    let tail = [(layout.ts_column.as_str(), "TIMESTAMP"), (layout.seq_column.as_str(), "VARCHAR")];
    let expected = expected(log);
    for table in Table::ALL {
        create_table(conn, schema, table, &tail)?;
        let ctx = || format!("appending to {schema}.{}", table.name());
        let mut app = conn.appender_to_db(table.name(), schema).map_err(|e| GenError::duckdb(ctx(), e))?;
        for r in &expected[table.index()] {
            append_row(&mut app, &[], r.row, &[&r.ts, &r.seq]).map_err(|e| GenError::duckdb(ctx(), e))?;
        }
        app.flush().map_err(|e| GenError::duckdb(ctx(), e))?;
        drop(app);
        // An added column's value follows from the row and when its image was taken.
        for c in log.added_columns.iter().filter(|c| c.table == table.name()) {
            let t = format!("{}.{}", quote_ident(schema), quote_ident(table.name()));
            conn.execute_batch(&format!(
                "ALTER TABLE {t} ADD COLUMN {} VARCHAR; UPDATE {t} SET {} = {};",
                quote_ident(c.name),
                quote_ident(c.name),
                c.value_at(&quote_ident(&layout.ts_column))
            ))
            .map_err(|e| GenError::duckdb(format!("adding {} to {t}", c.name), e))?;
        }
    }
    Ok(())
}

/// The log as if only the delivered files `applied` accepts (by their
/// raw-zone names) had been delivered: what a target holds that applied
/// exactly those files.
pub(crate) fn restricted_to(log: &ChangeLog, applied: &dyn Fn(&str) -> bool) -> ChangeLog {
    let mut log = log.clone();
    for c in &mut log.changes {
        c.delivered = c.delivered && c.file.as_deref().is_some_and(applied);
    }
    log.full_rows.retain(|r| r.file.as_deref().is_some_and(applied));
    log
}

/// The true current source rows of each table (index = `Table::index`).
pub(crate) fn truth_rows(db: &SourceDb) -> [Vec<Row>; Table::COUNT] {
    [
        db.branches.values().cloned().map(Row::Branch).collect(),
        db.tellers.values().cloned().map(Row::Teller).collect(),
        db.accounts.values().cloned().map(Row::Account).collect(),
        db.history.iter().cloned().map(Row::History).collect(),
        db.type_samples.values().cloned().map(Row::Sample).collect(),
        db.type_events.iter().cloned().map(Row::Event).collect(),
    ]
}

/// Writes the true source state, table columns only.
pub(crate) fn write_source_truth(conn: &Connection, schema: &str, db: &SourceDb) -> Result<(), GenError> {
    let truth = truth_rows(db);
    for table in Table::ALL {
        create_table(conn, schema, table, &[])?;
        let ctx = || format!("appending to {schema}.{}", table.name());
        let mut app = conn.appender_to_db(table.name(), schema).map_err(|e| GenError::duckdb(ctx(), e))?;
        for row in &truth[table.index()] {
            append_row(&mut app, &[], row, &[]).map_err(|e| GenError::duckdb(ctx(), e))?;
        }
        app.flush().map_err(|e| GenError::duckdb(ctx(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Account, Change, History};

    fn account(aid: i32, abalance: i32) -> Row {
        Row::Account(Account { aid, bid: 1, abalance, filler: None })
    }

    fn history(mtime: i64) -> Row {
        Row::History(History { tid: 1, bid: 1, aid: 1, delta: 5, mtime: Micros(mtime), filler: None })
    }

    fn change(seq: u64, ts: i64, op: Op, row: Row, delivered: bool) -> Change {
        Change { seq, ts: Micros(ts), op, row, delivered, file: None }
    }

    fn full(row: Row, ts: i64) -> FullRow {
        FullRow { row, ts: Micros(ts), file: None }
    }

    #[test]
    fn a_cdc_change_beats_a_later_full_load_row() {
        // GIVEN a change committed at 10 and the full-load row transferred at 20 showing it
        let log = ChangeLog {
            changes: vec![change(1, 10, Op::Update, account(1, 7), true)],
            full_rows: vec![full(account(1, 7), 20), full(account(2, 0), 20)],
            ..ChangeLog::default()
        };
        // WHEN the expected state is folded
        let exp = expected(&log);
        // THEN key 1 carries the CDC ts and seq, key 2 the transfer ts and no seq
        let acc = &exp[Table::Accounts.index()];
        assert_eq!(acc.len(), 2);
        assert_eq!((acc[0].ts, acc[0].seq.is_some()), (Micros(10), true));
        assert_eq!((acc[1].ts, acc[1].seq.clone()), (Micros(20), None));
    }

    #[test]
    fn a_late_older_update_does_not_resurrect_a_deleted_key() {
        // GIVEN a delete at 20 and an update at 10 delivered after it
        let log = ChangeLog {
            changes: vec![
                change(1, 10, Op::Update, account(1, 3), true),
                change(2, 20, Op::Delete, account(1, 3), true),
            ],
            full_rows: vec![full(account(1, 0), 5)],
            ..ChangeLog::default()
        };
        // WHEN folded
        let exp = expected(&log);
        // THEN the key is absent
        assert!(exp[Table::Accounts.index()].is_empty());
    }

    #[test]
    fn undelivered_changes_are_ignored_and_equal_ts_ties_go_to_the_sequence() {
        // GIVEN two updates with the same ts (seq 1 then 2) and an undelivered later one
        let log = ChangeLog {
            changes: vec![
                change(1, 10, Op::Update, account(1, 1), true),
                change(2, 10, Op::Update, account(1, 2), true),
                change(3, 30, Op::Update, account(1, 3), false),
            ],
            full_rows: vec![],
            ..ChangeLog::default()
        };
        // WHEN folded
        let exp = expected(&log);
        // THEN the row image is that of seq 2
        let acc = &exp[Table::Accounts.index()];
        assert_eq!(acc.len(), 1);
        assert_eq!(acc[0].row, &account(1, 2));
        assert_eq!(acc[0].seq.as_deref(), Some(seq_string(Micros(10), 2).as_str()));
    }

    #[test]
    fn a_log_restricted_to_some_files_folds_only_their_rows_and_changes() {
        // GIVEN a full-load row in file F, an update in file A and a later one in file B
        let in_file = |mut c: Change, f: &str| {
            c.file = Some(f.into());
            c
        };
        let mut full_row = full(account(1, 0), 5);
        full_row.file = Some("F".into());
        let log = ChangeLog {
            changes: vec![
                in_file(change(1, 10, Op::Update, account(1, 1), true), "A"),
                in_file(change(2, 20, Op::Update, account(1, 2), true), "B"),
            ],
            full_rows: vec![full_row, full(account(2, 0), 5)],
            ..ChangeLog::default()
        };
        // WHEN restricted to F and A, then to A alone
        let fa = restricted_to(&log, &|f| f == "F" || f == "A");
        let a = restricted_to(&log, &|f| f == "A");
        // THEN F+A holds the first update (the row in no file is left out), A alone the same row
        let rows =
            |l: &ChangeLog| expected(l)[Table::Accounts.index()].iter().map(|r| r.row.clone()).collect::<Vec<_>>();
        assert_eq!(rows(&fa), vec![account(1, 1)]);
        assert_eq!(rows(&a), vec![account(1, 1)]);
        // AND nothing accepted folds to nothing, the whole log to the second update
        assert!(rows(&restricted_to(&log, &|_| false)).is_empty());
        assert_eq!(rows(&restricted_to(&log, &|f| f != "none")), vec![account(1, 2)]);
    }

    #[test]
    fn a_history_row_in_both_full_load_and_cdc_is_kept_once() {
        // GIVEN history row A in the full load and in CDC, and row B only in CDC
        let log = ChangeLog {
            changes: vec![change(1, 10, Op::Insert, history(10), true), change(2, 30, Op::Insert, history(30), true)],
            full_rows: vec![full(history(10), 20)],
            ..ChangeLog::default()
        };
        // WHEN folded
        let exp = expected(&log);
        // THEN A comes once from the full load, B from CDC with its sequence
        let h = &exp[Table::History.index()];
        assert_eq!(h.len(), 2);
        assert_eq!((h[0].ts, h[0].seq.is_none()), (Micros(20), true));
        assert_eq!((h[1].ts, h[1].seq.is_some()), (Micros(30), true));
    }

    #[test]
    fn identical_events_are_rows_each_and_the_full_load_window_cancels_one_copy_each() {
        // GIVEN history value A twice in the full load (transfer ts 20) and
        // three times in CDC inside the window, value B once in the full load
        // and twice in CDC inside the window, and value C twice after it
        let log = ChangeLog {
            changes: vec![
                change(1, 5, Op::Insert, history(10), true),
                change(2, 6, Op::Insert, history(30), true),
                change(3, 7, Op::Insert, history(10), true),
                change(4, 8, Op::Insert, history(30), true),
                change(5, 9, Op::Insert, history(10), true),
                change(6, 40, Op::Insert, history(50), true),
                change(7, 41, Op::Insert, history(50), true),
            ],
            full_rows: vec![full(history(10), 20), full(history(10), 20), full(history(30), 20)],
            ..ChangeLog::default()
        };
        // WHEN folded
        let exp = expected(&log);
        let h = &exp[Table::History.index()];
        let of = |mtime: i64| -> Vec<(Micros, bool)> {
            h.iter().filter(|r| r.row == &history(mtime)).map(|r| (r.ts, r.seq.is_some())).collect()
        };
        // THEN A: max(2, 3) = 3 rows, the two full-load ones and the latest CDC copy
        assert_eq!(of(10), [(Micros(20), false), (Micros(20), false), (Micros(9), true)]);
        // AND B: max(1, 2) = 2 rows, the full-load one and the later CDC copy
        assert_eq!(of(30), [(Micros(20), false), (Micros(8), true)]);
        // AND C, after the window: both events
        assert_eq!(of(50), [(Micros(40), true), (Micros(41), true)]);
    }

    #[test]
    fn without_a_full_load_every_cdc_insert_is_a_row() {
        // GIVEN two identical history inserts and no full load
        let log = ChangeLog {
            changes: vec![change(1, 5, Op::Insert, history(10), true), change(2, 5, Op::Insert, history(10), true)],
            full_rows: vec![],
            ..ChangeLog::default()
        };
        // WHEN folded THEN both are rows
        assert_eq!(expected(&log)[Table::History.index()].len(), 2);
    }

    #[test]
    fn a_reload_replaces_the_full_rows_and_drops_the_changes_before_it() {
        // GIVEN account 1 updated at 10, account 2 at 50, then a reload from 40 on holding only account 2
        let log = ChangeLog {
            changes: vec![
                change(1, 10, Op::Update, account(1, 3), true),
                change(2, 50, Op::Update, account(2, 9), true),
            ],
            full_rows: vec![full(account(2, 8), 45)],
            rebuilt_since: {
                let mut since = [None; Table::COUNT];
                since[Table::Accounts.index()] = Some(Micros(40));
                since
            },
            ..ChangeLog::default()
        };
        // WHEN folded
        let exp = expected(&log);
        // THEN account 1 is gone (its change predates the reload, which lacks it) and account 2 is the later change
        let acc = &exp[Table::Accounts.index()];
        assert_eq!(acc.len(), 1);
        assert_eq!((acc[0].row, acc[0].ts), (&account(2, 9), Micros(50)));
    }
}
