//! The generator: drives the simulated source, DMS capture, the writer and the oracle.

use std::collections::VecDeque;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use cdc_core::dms::Layout;

use crate::capture::{Capture, PendingFile};
use crate::config::{DmsLayout, GeneratorConfig};
use crate::error::GenError;
use crate::late;
use crate::model::{Change, FileName, FullRow, Key, Micros, Op, Row, Table, file_name};
use crate::oracle::{self, ChangeLog};
use crate::report::{
    CallStats, CycleReport, LATE_FILES_DELIVERED, LATE_FILES_HELD_BACK, LATE_UPDATE_OLDER_THAN_DELETE,
};
use crate::source_db::SourceDb;
use crate::types::TypedValue;
use crate::types_workload;
use crate::workload::{self, Planned, Stmts};
use crate::writer::{ParquetWriter, Target};

mod column_added;
mod reload;
pub use column_added::AddedSourceColumn;
pub use reload::ReloadNaming;

/// Simulated time DMS needs to transfer one full-load row.
const ROW_TRANSFER_US: i64 = 200;
/// Pause between two tables of the full load.
const TABLE_GAP_US: i64 = 5_000;
/// Gap between the cycle's last transaction and the delete that makes the held file stale.
const CLOSING_DELETE_GAP_US: i64 = 1_000;
/// Spacing of late-delivery mtimes after the other files of the call.
const LATE_MTIME_STEP_US: i64 = 1_000;
/// ChaCha stream of the types tables' generator: the same seed, a stream of
/// its own, so the pgbench tables' values do not depend on the types tables.
const TYPES_STREAM: u64 = 7;

/// Transactions injected during the full load at a given scan position.
#[derive(Clone, Debug)]
enum Forced {
    /// Updates an account the scan has not reached yet: the full-load row then
    /// shows the change and carries a later ts than the CDC change.
    UnscannedAccount(i32),
    /// Commits while the history scan runs: its history row lands in both the
    /// full load and the CDC stream.
    DuringHistoryScan,
    /// Commits while the `type_samples` scan runs, after this key: updates
    /// a key ahead of the scan and this one.
    DuringSamplesScan((String, i32)),
    /// Commits while the `type_events` scan runs: its event lands in both
    /// the full load and the CDC stream.
    DuringEventsScan,
}

/// Writes a DMS raw zone for a pgbench source and keeps the oracle.
pub struct Generator {
    layout: DmsLayout,
    cfg: GeneratorConfig,
    rng: ChaCha8Rng,
    /// The types tables' own generator (see TYPES_STREAM).
    types_rng: ChaCha8Rng,
    db: SourceDb,
    log: ChangeLog,
    capture: Capture,
    writer: ParquetWriter,
    clock: Micros,
    next_seq: u64,
    full_loaded: bool,
    /// CDC files closed but not yet written: delivered late by the next call.
    held: Vec<PendingFile>,
    /// Files held until `finish` (`GeneratorConfig::hold_past_window`).
    held_long: Vec<PendingFile>,
    /// Whether the first CDC cycle has run (it picks the long-held files).
    cycled: bool,
    /// Full-load rows whose files wait for the first CDC cycle
    /// (`GeneratorConfig::history_full_load_after_cdc`); the oracle sees
    /// them once written.
    held_full: Vec<FullRow>,
    /// The CDC files the last call wrote on time, for `rewrite_cdc_file`.
    last_written: Vec<PendingFile>,
    /// Full-load files of each table's last load (a reload in place writes
    /// as many).
    full_files: [usize; Table::COUNT],
}

impl Generator {
    /// Builds the initial source database (pgbench -i) at `cfg.start`; writes nothing yet.
    pub fn new(raw_root: &Path, layout: DmsLayout, cfg: GeneratorConfig) -> Result<Self, GenError> {
        cfg.validate()?;
        layout.validate()?;
        std::fs::create_dir_all(raw_root).map_err(|e| GenError::io(raw_root, e))?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let start = Micros::from_datetime(cfg.start);
        let mut db = SourceDb::initial(&mut rng, cfg.branches, cfg.accounts_per_branch, start);
        let mut types_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        types_rng.set_stream(TYPES_STREAM);
        db.init_types(&mut types_rng);
        let interval = cfg.flush_interval.num_microseconds().unwrap_or(i64::MAX / 4);
        let capture = Capture::new(start, interval, cfg.max_rows_per_file);
        let writer = ParquetWriter::new(raw_root, &layout)?;
        Ok(Generator {
            layout,
            cfg,
            rng,
            types_rng,
            db,
            log: ChangeLog::default(),
            capture,
            writer,
            clock: start,
            next_seq: 0,
            full_loaded: false,
            held: Vec::new(),
            held_long: Vec::new(),
            cycled: false,
            held_full: Vec::new(),
            last_written: Vec::new(),
            full_files: [0; Table::COUNT],
        })
    }

    /// The simulated clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.to_datetime()
    }

    /// True when every committed change is in a delivered file: nothing is
    /// held back, and DMS writes every operation (not `cdc_inserts_only` or
    /// `cdc_inserts_and_updates`, which leave changes out for good).
    pub fn all_delivered(&self) -> bool {
        let held = !self.held.is_empty() || !self.held_long.is_empty() || !self.held_full.is_empty();
        !held && self.captures(Op::Delete) && self.captures(Op::Update)
    }

    /// Whether DMS writes changes of this operation (S3Settings
    /// `CdcInsertsOnly`, `CdcInsertsAndUpdates`).
    fn captures(&self, op: Op) -> bool {
        let dms = &self.layout.dms;
        match op {
            Op::Insert => true,
            Op::Update => !dms.cdc_inserts_only,
            Op::Delete => !dms.cdc_inserts_only && !dms.cdc_inserts_and_updates,
        }
    }

    /// The source is quiet for `span`: no transaction, so DMS writes no file
    /// (a weekend, say). The next cycle's files then sit days after the
    /// earlier ones.
    pub fn pause(&mut self, span: Duration) -> Result<(), GenError> {
        let us = span
            .num_microseconds()
            .filter(|us| *us >= 0)
            .ok_or_else(|| GenError::Config(format!("pause of {span} is negative or too long")))?;
        self.clock = Micros(self.clock.0 + us);
        self.capture.advance_to(self.clock);
        Ok(())
    }

    /// Runs the full load over simulated time [T0, T1] with pgbench transactions
    /// committing concurrently, then writes the `full/` files and the CDC files
    /// of those transactions (DMS captures from T0).
    pub fn full_load(&mut self) -> Result<CycleReport, GenError> {
        if self.full_loaded {
            return Err(GenError::State("full_load already ran".into()));
        }
        let mut stats = CallStats::new();
        let t0 = self.clock;
        // The pgbench tables' scan time: the regular transactions commit
        // within it (the types tables are scanned after them).
        let rows_before =
            self.db.branches.len() + self.db.tellers.len() + self.db.accounts.len() + self.db.history.len();
        let estimate = rows_before as i64 * ROW_TRANSFER_US + 4 * TABLE_GAP_US;
        let mut regular: VecDeque<Micros> = {
            let hi = (estimate / 100 * 95).max(1);
            let mut times: Vec<i64> =
                (0..self.cfg.txns_during_full_load).map(|_| t0.0 + self.rng.random_range(1..=hi)).collect();
            times.sort_unstable();
            let mut prev = t0.0;
            times
                .into_iter()
                .map(|t| {
                    prev = t.max(prev + 1);
                    Micros(prev)
                })
                .collect()
        };
        let mut forced: VecDeque<(Micros, Forced)> = VecDeque::new();
        let accounts_half = (self.db.accounts.len() / 2).max(1);
        let history_half = (self.db.history.len() / 2).max(1);
        let samples_half = (self.db.type_samples.len() / 2).max(1);
        let events_half = (self.db.type_events.len() / 2).max(1);

        // The scan: one table after the other, one row per ROW_TRANSFER_US,
        // following the live key order as a sequential scan would.
        let mut table_pos = 0usize;
        let mut cursor: Option<Key> = None;
        let mut history_pos = 0usize;
        let mut scanned = 0usize;
        let mut next_row = Micros(t0.0 + ROW_TRANSFER_US);
        let mut scan_end = [t0; Table::COUNT];
        loop {
            let next_txn = match (forced.front(), regular.front()) {
                (Some((f, _)), Some(r)) => Some(*f.min(r)),
                (Some((f, _)), None) => Some(*f),
                (None, r) => r.copied(),
            };
            if table_pos < Table::ALL.len() && next_txn.is_none_or(|t| next_row < t) {
                let table = Table::ALL[table_pos];
                let row = self.scan_next(table, cursor.as_ref(), history_pos);
                match row {
                    Some(row) => {
                        cursor = row.key();
                        if !table.is_keyed() {
                            history_pos += 1;
                        }
                        self.log.full_rows.push(FullRow { row, ts: next_row, file: None });
                        scanned += 1;
                        if table == Table::Accounts && scanned == accounts_half {
                            let after = match cursor {
                                Some(Key::Int(aid)) => aid.saturating_add(1),
                                _ => 1,
                            };
                            let mut ahead = self.db.accounts.range(after..).map(|(k, _)| *k);
                            if let Some(aid) =
                                ahead.nth(4).or_else(|| self.db.accounts.range(after..).map(|(k, _)| *k).next())
                            {
                                forced.push_back((Micros(next_row.0 + 1), Forced::UnscannedAccount(aid)));
                            }
                        }
                        if table == Table::History && scanned == history_half {
                            forced.push_back((Micros(next_row.0 + 1), Forced::DuringHistoryScan));
                        }
                        if let (Table::TypeSamples, Some(Key::TextInt(k_text, k_int))) = (table, &cursor)
                            && scanned == samples_half
                        {
                            let after = (k_text.clone(), *k_int);
                            forced.push_back((Micros(next_row.0 + 1), Forced::DuringSamplesScan(after)));
                        }
                        if table == Table::TypeEvents && scanned == events_half {
                            forced.push_back((Micros(next_row.0 + 1), Forced::DuringEventsScan));
                        }
                        scan_end[table.index()] = next_row;
                        next_row = Micros(next_row.0 + ROW_TRANSFER_US);
                    }
                    None => {
                        table_pos += 1;
                        cursor = None;
                        history_pos = 0;
                        scanned = 0;
                        next_row = Micros(next_row.0 + TABLE_GAP_US);
                    }
                }
                continue;
            }
            let Some(t) = next_txn else { break };
            // Forced transactions win ties: they were scheduled relative to the scan.
            let stmts = if forced.front().is_some_and(|(f, _)| *f == t) {
                let (_, kind) = forced.pop_front().unwrap_or((t, Forced::DuringHistoryScan));
                match kind {
                    Forced::UnscannedAccount(aid) => workload::pgbench_txn(&mut self.db, &mut self.rng, t, Some(aid)),
                    Forced::DuringHistoryScan => workload::pgbench_txn(&mut self.db, &mut self.rng, t, None),
                    Forced::DuringSamplesScan(after) => {
                        types_workload::during_samples_scan(&mut self.db, &mut self.types_rng, &after)
                    }
                    Forced::DuringEventsScan => types_workload::during_events_scan(&mut self.db, &mut self.types_rng),
                }
            } else {
                regular.pop_front();
                workload::regular_txn(
                    &mut self.db,
                    &mut self.rng,
                    t,
                    self.cfg.account_insert_pct,
                    self.cfg.account_delete_pct,
                    &[],
                )
            };
            self.commit(t, stmts, &mut stats);
        }
        let t1 = scan_end.iter().copied().max().unwrap_or(t0).max(self.clock);
        self.clock = t1;
        self.capture.advance_to(t1);
        self.clock = self.clock.max(self.capture.flush_all_at_next_tick());

        stats.observe_full_load(&self.log);
        if self.cfg.history_full_load_after_cdc {
            let (held, kept) =
                std::mem::take(&mut self.log.full_rows).into_iter().partition(|r| r.row.table() == Table::History);
            (self.held_full, self.log.full_rows) = (held, kept);
        }
        self.write_full_files(&Table::ALL, &scan_end, &mut stats)?;
        let files = self.capture.take_done();
        self.write_cdc_files(&files, None, &mut stats)?;
        self.full_loaded = true;
        tracing::info!(
            transactions = stats.report.transactions,
            files = stats.report.files_written,
            now = %self.now(),
            "full load written"
        );
        Ok(stats.report)
    }

    /// One cycle of `transactions` regular transactions over `cycle_span` of
    /// simulated time, plus three planned ones (an account updated twice, a
    /// delete + re-insert, the twice-updated account again later) and a closing
    /// delete; between them, spread over the cycle, the types tables'
    /// transactions (see `types_workload::cycle_plan`). Writes the cycle's
    /// CDC files except one accounts file it holds back, then the file held
    /// back by the previous cycle, which thus arrives late (listed in
    /// `late_files`).
    pub fn cdc_cycle(&mut self, transactions: usize) -> Result<CycleReport, GenError> {
        if !self.full_loaded {
            return Err(GenError::State("cdc_cycle before full_load".into()));
        }
        let mut stats = CallStats::new();
        let start = self.clock;
        let span = self.cfg.cycle_span.num_microseconds().unwrap_or(i64::MAX / 4);
        let mut plan = vec![Planned::Regular; transactions];
        // Inserted from the back so the positions stay as computed.
        plan.insert(transactions * 3 / 4, Planned::HotAgain);
        plan.insert(transactions / 2, Planned::DeleteReinsert);
        plan.insert(transactions / 4, Planned::DoubleUpdate);
        let times = workload::plan_commit_times(&mut self.rng, start, span, plan.len());
        let mut types_txns = types_schedule(&times, types_workload::cycle_plan(&mut self.db)).into_iter().peekable();

        let mut hot: Option<i32> = None;
        for (i, (t, planned)) in times.into_iter().zip(plan).enumerate() {
            let protected: Vec<i32> = hot.into_iter().collect();
            let stmts = match planned {
                Planned::Regular => workload::regular_txn(
                    &mut self.db,
                    &mut self.rng,
                    t,
                    self.cfg.account_insert_pct,
                    self.cfg.account_delete_pct,
                    &protected,
                ),
                Planned::DoubleUpdate => {
                    hot = self.db.pick_account(&mut self.rng);
                    match hot {
                        Some(aid) => workload::double_update_txn(&mut self.db, &mut self.rng, t, aid),
                        None => Stmts::new(),
                    }
                }
                Planned::DeleteReinsert => {
                    let aid = self.pick_account_except(hot);
                    match aid {
                        Some(aid) => workload::delete_reinsert_txn(&mut self.db, &mut self.rng, aid),
                        None => Stmts::new(),
                    }
                }
                Planned::HotAgain => {
                    let aid = hot.filter(|a| self.db.accounts.contains_key(a));
                    workload::pgbench_txn(&mut self.db, &mut self.rng, t, aid)
                }
            };
            self.commit(t, stmts, &mut stats);
            while let Some((t, txn)) = types_txns.next_if(|(after, _, _)| *after == i).map(|(_, t, txn)| (t, txn)) {
                let stmts = types_workload::run(&mut self.db, &mut self.types_rng, &txn);
                if matches!(txn, types_workload::TypesTxn::BackFromNull(_)) && !stmts.is_empty() {
                    stats.add_update_from_null();
                }
                self.commit(t, stmts, &mut stats);
            }
        }

        // Hold back one closed accounts file; delete an account it updates in a
        // later transaction, so that file's update is older than a delete the
        // target has already applied when the file finally arrives.
        let mut files = self.capture.take_done();
        let hold = late::choose_hold(&files, &self.log, &self.db);
        if let Some((_, aid)) = hold {
            let t = Micros(self.clock.0 + CLOSING_DELETE_GAP_US);
            let stmts = workload::account_delete_txn(&mut self.db, aid);
            self.commit(t, stmts, &mut stats);
            stats.add(LATE_UPDATE_OLDER_THAN_DELETE, 1);
            stats.add(LATE_FILES_HELD_BACK, 1);
        }
        let tick = self.capture.flush_all_at_next_tick();
        files.extend(self.capture.take_done());
        self.clock = Micros((start.0 + span).max(tick.0));

        let mut held = None;
        let mut on_time = Vec::with_capacity(files.len());
        for (i, f) in files.into_iter().enumerate() {
            if hold.is_some_and(|(h, _)| h == i) {
                held = Some(f);
            } else {
                on_time.push(f);
            }
        }
        if self.cfg.hold_past_window && !self.cycled {
            for table in [Table::History, Table::Tellers] {
                if let Some(i) = on_time.iter().position(|f| f.table == table) {
                    self.held_long.push(on_time.remove(i));
                    stats.add(LATE_FILES_HELD_BACK, 1);
                }
            }
        }
        self.cycled = true;
        self.write_cdc_files(&on_time, None, &mut stats)?;
        if !self.held_full.is_empty() {
            // Written after the CDC files, as a full load that arrives late.
            let rows = std::mem::take(&mut self.held_full);
            self.log.full_rows.extend(rows);
            let at = [Micros(self.clock.0 + LATE_MTIME_STEP_US); Table::COUNT];
            self.write_full_files(&[Table::History], &at, &mut stats)?;
        }
        self.last_written = on_time;
        self.deliver_held(&mut stats)?;
        self.held.extend(held);
        tracing::info!(
            transactions = stats.report.transactions,
            files = stats.report.files_written,
            late = stats.report.late_files.len(),
            now = %self.now(),
            "cdc cycle written"
        );
        Ok(stats.report)
    }

    /// Delivers every held-back file; commits nothing and writes nothing else.
    pub fn finish(&mut self) -> Result<CycleReport, GenError> {
        let mut stats = CallStats::new();
        self.held.append(&mut self.held_long);
        self.deliver_held(&mut stats)?;
        Ok(stats.report)
    }

    /// Writes the last cycle's newest on-time CDC file of `table` again under
    /// its name, without its last change and with a newer mtime: what DMS
    /// never does, and the load must refuse (docs/dms.md). The oracle keeps
    /// the file's first version, which the target holds. Returns its path.
    pub fn rewrite_cdc_file(&mut self, table: &str) -> Result<PathBuf, GenError> {
        let file = self
            .last_written
            .iter()
            .rev()
            .find(|f| f.table.name() == table && f.changes.len() > 1)
            .cloned()
            .ok_or_else(|| GenError::State(format!("no CDC file of {table} with two changes to rewrite")))?;
        let rel = file.rel_path(&self.layout);
        let changes: Vec<&Change> =
            file.changes[..file.changes.len() - 1].iter().map(|&i| &self.log.changes[i]).collect();
        let mtime = Micros(self.clock.0 + LATE_MTIME_STEP_US);
        let mut written = self.writer.write_cdc(file.table, &[(Target { rel, mtime }, changes)])?;
        written.pop().ok_or_else(|| GenError::State("the rewrite wrote no file".into()))
    }

    /// The state a correct pipeline target holds given only the files
    /// delivered so far: table columns, then ts, then sequence (see crate docs).
    pub fn write_expected(&self, conn: &duckdb::Connection, schema: &str) -> Result<(), GenError> {
        oracle::write_expected(conn, schema, &self.layout, &self.log)
    }

    /// [`Generator::write_expected`] for a target that applied exactly the
    /// delivered files `applied` accepts, by their names relative to the raw
    /// zone's root (`cdc/public/pgbench_accounts/…parquet`, `/`-separated).
    pub fn write_expected_for(
        &self,
        conn: &duckdb::Connection,
        schema: &str,
        applied: &dyn Fn(&str) -> bool,
    ) -> Result<(), GenError> {
        oracle::write_expected(conn, schema, &self.layout, &oracle::restricted_to(&self.log, applied))
    }

    /// The true current source state (table columns only).
    pub fn write_source_truth(&self, conn: &duckdb::Connection, schema: &str) -> Result<(), GenError> {
        oracle::write_source_truth(conn, schema, &self.db)
    }

    /// The rows a correct target of a types table ([`crate::TYPES_TABLES`])
    /// holds given the files delivered so far, as the source's own values:
    /// the table's columns ([`crate::typed_columns`]), then the commit
    /// timestamp, then the change sequence (a whole number, NULL for a row
    /// from the full load). Keyed rows come in key order, append-only rows
    /// in load order. A table that is not a types table is a `Config` error.
    pub fn expected_typed_rows(&self, table: &str) -> Result<Vec<Vec<TypedValue>>, GenError> {
        let t = Table::by_name(table)
            .filter(|t| matches!(t, Table::TypeSamples | Table::TypeEvents))
            .ok_or_else(|| GenError::Config(format!("{table:?} is not a types table")))?;
        Ok(oracle::expected_typed(&self.log, t))
    }

    /// The true current rows of a types table, table columns only (see
    /// [`Generator::expected_typed_rows`]).
    pub fn source_typed_rows(&self, table: &str) -> Result<Vec<Vec<TypedValue>>, GenError> {
        let t = Table::by_name(table)
            .filter(|t| matches!(t, Table::TypeSamples | Table::TypeEvents))
            .ok_or_else(|| GenError::Config(format!("{table:?} is not a types table")))?;
        Ok(oracle::truth_rows(&self.db)[t.index()].iter().map(oracle::typed_row).collect())
    }

    fn pick_account_except(&mut self, avoid: Option<i32>) -> Option<i32> {
        let aid = self.db.pick_account(&mut self.rng)?;
        if Some(aid) != avoid {
            return Some(aid);
        }
        let next = self.db.accounts.range((Bound::Excluded(aid), Bound::Unbounded)).next();
        next.or_else(|| self.db.accounts.range(..aid).next()).map(|(k, _)| *k)
    }

    /// The full-load scan's next row of `table` after `cursor` (keyed) or at
    /// `position` (append-only).
    fn scan_next(&self, table: Table, cursor: Option<&Key>, position: usize) -> Option<Row> {
        let int = match cursor {
            Some(Key::Int(k)) => Bound::Excluded(*k),
            _ => Bound::Unbounded,
        };
        let range = (int, Bound::Unbounded);
        match table {
            Table::Branches => self.db.branches.range(range).next().map(|(_, r)| Row::Branch(r.clone())),
            Table::Tellers => self.db.tellers.range(range).next().map(|(_, r)| Row::Teller(r.clone())),
            Table::Accounts => self.db.accounts.range(range).next().map(|(_, r)| Row::Account(r.clone())),
            Table::History => self.db.history.get(position).cloned().map(Row::History),
            Table::TypeSamples => {
                let after = match cursor {
                    Some(Key::TextInt(t, i)) => Bound::Excluded((t.clone(), *i)),
                    _ => Bound::Unbounded,
                };
                self.db.type_samples.range((after, Bound::Unbounded)).next().map(|(_, r)| Row::Sample(r.clone()))
            }
            Table::TypeEvents => self.db.type_events.get(position).cloned().map(Row::Event),
        }
    }

    /// Logs one committed transaction and hands its changes to DMS capture.
    /// All its changes share the commit ts and get consecutive sequence numbers.
    fn commit(&mut self, t: Micros, stmts: Stmts, stats: &mut CallStats) {
        if stmts.is_empty() {
            return;
        }
        self.capture.advance_to(t);
        self.clock = self.clock.max(t);
        let first = self.log.changes.len();
        let mut per_table: [Vec<usize>; Table::COUNT] = Default::default();
        for (op, row) in stmts {
            self.next_seq += 1;
            // A change DMS does not write stays in the log, never delivered.
            if self.captures(op) {
                per_table[row.table().index()].push(self.log.changes.len());
            }
            self.log.changes.push(Change { seq: self.next_seq, ts: t, op, row, delivered: false, file: None });
        }
        stats.observe_txn(&self.log.changes[first..]);
        self.capture.capture(t, &per_table);
    }

    /// Full-load files of `tables` (their rows in the log),
    /// `LOAD00000001.parquet`, ... per table in scan order, each with its
    /// table's `mtime` (when its scan ended).
    fn write_full_files(
        &mut self,
        tables: &[Table],
        mtime: &[Micros; Table::COUNT],
        stats: &mut CallStats,
    ) -> Result<(), GenError> {
        for &table in tables {
            let rows: Vec<&FullRow> = self.log.full_rows.iter().filter(|r| r.row.table() == table).collect();
            let files: Vec<(Target, &[&FullRow])> = rows
                .chunks(self.cfg.full_file_rows)
                .enumerate()
                .map(|(n, chunk)| {
                    // DMS counts full-load files in hexadecimal: LOAD00000009, LOAD0000000A.
                    let rel = PathBuf::from(Layout::new(&self.layout.dms).full_load_key(
                        &self.layout.schema,
                        table.name(),
                        n as u32 + 1,
                    ));
                    (Target { rel, mtime: mtime[table.index()] }, chunk)
                })
                .collect();
            self.full_files[table.index()] = files.len();
            let names: Vec<FileName> = files.iter().map(|(t, _)| file_name(&t.rel)).collect();
            stats.report.files_written += self.writer.write_full(table, &files)?.len();
            let rows = self.log.full_rows.iter_mut().filter(|r| r.row.table() == table);
            for (n, row) in rows.enumerate() {
                row.file = Some(names[n / self.cfg.full_file_rows].clone());
            }
        }
        Ok(())
    }

    /// Writes CDC files with their flush time as mtime (or `mtime` when given)
    /// and marks their changes delivered.
    fn write_cdc_files(
        &mut self,
        files: &[PendingFile],
        mtime: Option<Micros>,
        stats: &mut CallStats,
    ) -> Result<Vec<PathBuf>, GenError> {
        let mut paths = Vec::with_capacity(files.len());
        for table in Table::ALL {
            let batch: Vec<(Target, Vec<&Change>)> = files
                .iter()
                .enumerate()
                .filter(|(_, f)| f.table == table)
                .map(|(n, f)| {
                    let rel = f.rel_path(&self.layout);
                    let when = mtime.map_or(f.flush, |m| Micros(m.0 + n as i64 * LATE_MTIME_STEP_US));
                    let changes = f.changes.iter().map(|&i| &self.log.changes[i]).collect();
                    (Target { rel, mtime: when }, changes)
                })
                .collect();
            paths.extend(self.writer.write_cdc(table, &batch)?);
        }
        for f in files {
            let name = file_name(&f.rel_path(&self.layout));
            for &i in &f.changes {
                self.log.changes[i].delivered = true;
                self.log.changes[i].file = Some(name.clone());
            }
        }
        stats.report.files_written += files.len();
        let refs: Vec<&PendingFile> = files.iter().collect();
        stats.observe_files(&refs, &self.log);
        Ok(paths)
    }

    /// Writes the held-back files after everything else, with newer mtimes.
    fn deliver_held(&mut self, stats: &mut CallStats) -> Result<(), GenError> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let first = Micros(self.clock.0 + LATE_MTIME_STEP_US);
        let paths = self.write_cdc_files(&held, Some(first), stats)?;
        self.clock = Micros(first.0 + held.len() as i64 * LATE_MTIME_STEP_US);
        stats.add(LATE_FILES_DELIVERED, paths.len());
        tracing::info!(files = ?paths, "delivered late");
        stats.report.late_files.extend(paths);
        Ok(())
    }
}

/// Places the types transactions between the cycle's pgbench transactions,
/// spread evenly over it: each as (index of the pgbench transaction it
/// follows, commit time, transaction). It commits 1 us after that one when
/// the next commits later than that, else at the same instant (its sequence
/// still orders it). The pgbench commit times and their random draws stay
/// what they are without the types tables.
fn types_schedule(
    times: &[Micros],
    txns: Vec<types_workload::TypesTxn>,
) -> Vec<(usize, Micros, types_workload::TypesTxn)> {
    if times.is_empty() {
        return Vec::new();
    }
    let n = txns.len();
    txns.into_iter()
        .enumerate()
        .map(|(k, txn)| {
            let after = ((k + 1) * times.len() / (n + 1)).min(times.len() - 1);
            let t = times[after];
            // After the last one it commits at the same instant, so the cycle's clock stays.
            let next = times.get(after + 1).map_or(t.0, |m| m.0);
            let at = if next - t.0 >= 2 { Micros(t.0 + 1) } else { t };
            (after, at, txn)
        })
        .collect()
}

/// The types tables' tests (they read the change log, private to this module).
#[cfg(test)]
#[path = "types_tests.rs"]
mod types_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::{expected, truth_rows};

    fn small() -> GeneratorConfig {
        GeneratorConfig {
            seed: 11,
            branches: 2,
            accounts_per_branch: 200,
            txns_during_full_load: 40,
            max_rows_per_file: 400,
            full_file_rows: 150,
            ..GeneratorConfig::default()
        }
    }

    fn count(conn: &duckdb::Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    #[test]
    fn after_finish_the_expected_state_is_the_source_truth() -> Result<(), GenError> {
        // GIVEN a full load and two cycles, with a file held back in each
        let dir = tempfile::tempdir().map_err(|e| GenError::io("tempdir", e))?;
        let mut generator = Generator::new(dir.path(), DmsLayout::default(), small())?;
        generator.full_load()?;
        generator.cdc_cycle(300)?;
        generator.cdc_cycle(300)?;
        assert!(!generator.all_delivered());
        // WHEN every held-back file is delivered
        let report = generator.finish()?;
        assert_eq!(report.late_files.len(), 1);
        assert!(generator.all_delivered());
        // THEN, in Rust, the latest-change fold minus ts/seq is exactly the source
        let exp = expected(&generator.log);
        let truth = truth_rows(&generator.db);
        for table in Table::ALL {
            let mut got: Vec<&Row> = exp[table.index()].iter().map(|r| r.row).collect();
            let mut want: Vec<&Row> = truth[table.index()].iter().collect();
            if !table.is_keyed() {
                let by_time_or_id = |r: &&Row| match r {
                    Row::History(h) => h.mtime.0,
                    Row::Event(e) => i64::from(e.e_id),
                    _ => 0,
                };
                got.sort_by_key(by_time_or_id);
                want.sort_by_key(by_time_or_id);
            }
            assert_eq!(got, want, "{}", table.name());
        }
        // AND the tables written to DuckDB agree in both directions
        let conn = duckdb::Connection::open_in_memory().map_err(|e| GenError::duckdb("opening test db", e))?;
        generator.write_expected(&conn, "expected")?;
        generator.write_source_truth(&conn, "truth")?;
        for table in Table::ALL {
            let cols: Vec<&str> = table.columns().iter().map(|c| c.0).collect();
            let cols = cols.join(", ");
            let t = table.name();
            let diff = count(
                &conn,
                &format!(
                    "SELECT count(*) FROM ((SELECT {cols} FROM expected.{t} EXCEPT ALL SELECT {cols} FROM truth.{t}) \
                     UNION ALL (SELECT {cols} FROM truth.{t} EXCEPT ALL SELECT {cols} FROM expected.{t}))"
                ),
            );
            assert_eq!(diff, 0, "{t}");
            assert!(count(&conn, &format!("SELECT count(*) FROM truth.{t}")) > 0);
        }
        Ok(())
    }

    #[test]
    fn the_api_refuses_calls_out_of_order() -> Result<(), GenError> {
        // GIVEN a fresh generator
        let dir = tempfile::tempdir().map_err(|e| GenError::io("tempdir", e))?;
        let mut generator = Generator::new(dir.path(), DmsLayout::default(), small())?;
        // WHEN a cycle runs before the full load, or the full load runs twice
        // THEN both are refused
        assert!(matches!(generator.cdc_cycle(10), Err(GenError::State(_))));
        generator.full_load()?;
        assert!(matches!(generator.full_load(), Err(GenError::State(_))));
        Ok(())
    }

    #[test]
    fn invalid_configurations_are_rejected() {
        // GIVEN layouts and configs that cannot produce a valid raw zone
        let dir = std::env::temp_dir();
        let bad_layout = DmsLayout { ts_column: "aid".into(), ..DmsLayout::default() };
        let bad_cfg = GeneratorConfig { branches: 0, ..small() };
        // WHEN a generator is built THEN it fails with a config error
        assert!(matches!(Generator::new(&dir, bad_layout, small()), Err(GenError::Config(_))));
        assert!(matches!(Generator::new(&dir, DmsLayout::default(), bad_cfg), Err(GenError::Config(_))));
    }
}
