//! DMS CDC batching: per-table buffers flushed into files by time, size and date.

use std::path::PathBuf;

use cdc_core::dms::Layout;

use crate::config::DmsLayout;
use crate::model::{Micros, Table, file_stamp};

/// A CDC file DMS has closed: which changes it holds and where it goes.
#[derive(Clone, Debug)]
pub(crate) struct PendingFile {
    pub table: Table,
    /// Commit date (day number) of every change inside: the capture closes
    /// a file at a new commit date. Not its folder, which is the flush's.
    #[cfg_attr(not(test), allow(dead_code))]
    pub day: i64,
    /// Flush time, the file name; unique and increasing per table.
    pub flush: Micros,
    /// Indices into the change log, in commit order.
    pub changes: Vec<usize>,
    /// Closed because the next change had a later commit date.
    pub midnight_split: bool,
}

impl PendingFile {
    /// Where DMS puts the file: named, and date-foldered, by the time it
    /// writes it (its flush), not by its changes' commit times, e.g.
    /// `cdc/<schema>/<table>/<YYYYMMDD>/<YYYYMMDD-HHMMSSmmm>.parquet`.
    pub(crate) fn rel_path(&self, layout: &DmsLayout) -> PathBuf {
        let at = Micros(self.flush.0 / 1000 * 1000).to_datetime().naive_utc();
        PathBuf::from(Layout::new(&layout.dms).cdc_key(&layout.schema, self.table.name(), at))
    }

    /// The day of the file, `YYYYMMDD` (its name's and its folder's).
    pub(crate) fn file_day(&self) -> String {
        file_stamp(self.flush.0 / 1000)[..8].to_string()
    }
}

#[derive(Clone, Debug, Default)]
struct Buffer {
    day: i64,
    changes: Vec<usize>,
}

/// The DMS task's CDC side: changes of committed transactions wait in one
/// buffer per table until the next flush tick, a full buffer or a new date.
#[derive(Clone, Debug)]
pub(crate) struct Capture {
    buffers: [Buffer; Table::COUNT],
    next_tick: Micros,
    interval: i64,
    max_rows: usize,
    /// Last file-name millisecond per table, to keep names unique and ordered.
    last_name_ms: [i64; Table::COUNT],
    done: Vec<PendingFile>,
}

impl Capture {
    /// Ticks start at an odd phase after `start`, as a real DMS timer would:
    /// if they fell exactly on midnight no file would ever need a date split.
    pub(crate) fn new(start: Micros, interval: i64, max_rows: usize) -> Self {
        let phase = interval / 7 * 2 + 123_000;
        Capture {
            buffers: Default::default(),
            next_tick: Micros(start.0 + phase.max(1)),
            interval: interval.max(1),
            max_rows: max_rows.max(1),
            last_name_ms: [i64::MIN; Table::COUNT],
            done: Vec::new(),
        }
    }

    /// Runs every flush tick up to and including `t`.
    pub(crate) fn advance_to(&mut self, t: Micros) {
        if self.next_tick > t {
            return;
        }
        // Buffers only fill at commits, so all ticks between two commits
        // collapse into the first one; skip the empty ones arithmetically.
        let tick = self.next_tick;
        for table in Table::ALL {
            self.flush(table, tick, false);
        }
        let behind = (t.0 - tick.0) / self.interval + 1;
        self.next_tick = Micros(tick.0 + behind * self.interval);
    }

    /// Adds one transaction's changes (already grouped per table, by
    /// `Table::index`; missing trailing tables have none) committed at `t`.
    pub(crate) fn capture(&mut self, t: Micros, per_table: &[Vec<usize>]) {
        let day = t.day();
        for table in Table::ALL {
            let idx = table.index();
            let Some(new) = per_table.get(idx).filter(|n| !n.is_empty()) else {
                continue;
            };
            let buf = &self.buffers[idx];
            if !buf.changes.is_empty() && buf.day != day {
                self.flush(table, t, true);
            } else if !buf.changes.is_empty() && buf.changes.len() + new.len() > self.max_rows {
                // Keep a transaction's changes of one table together when they fit.
                self.flush(table, t, false);
            }
            for &c in new {
                let buf = &mut self.buffers[idx];
                buf.day = day;
                buf.changes.push(c);
                if buf.changes.len() >= self.max_rows {
                    self.flush(table, t, false);
                }
            }
        }
    }

    /// Flushes every non-empty buffer at the next tick and returns that time.
    pub(crate) fn flush_all_at_next_tick(&mut self) -> Micros {
        let tick = self.next_tick;
        self.advance_to(tick);
        tick
    }

    /// Files closed since the last call, in close order.
    pub(crate) fn take_done(&mut self) -> Vec<PendingFile> {
        std::mem::take(&mut self.done)
    }

    fn flush(&mut self, table: Table, at: Micros, midnight_split: bool) {
        let idx = table.index();
        let buf = &mut self.buffers[idx];
        if buf.changes.is_empty() {
            return;
        }
        let ms = (at.0.div_euclid(1000)).max(self.last_name_ms[idx].saturating_add(1));
        self.last_name_ms[idx] = ms;
        self.done.push(PendingFile {
            table,
            day: buf.day,
            flush: Micros(ms * 1000),
            changes: std::mem::take(&mut buf.changes),
            midnight_split,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    #[test]
    fn buffers_flush_on_tick_size_and_date_change() {
        // GIVEN a capture with 60 s ticks and at most 3 rows per file, 2 minutes before midnight
        let day = 20_000;
        let start = Micros(day * crate::model::MICROS_PER_DAY + 24 * 60 * MIN - 2 * MIN);
        let mut cap = Capture::new(start, MIN, 3);
        let acc = |v: Vec<usize>| [vec![], vec![], v, vec![]];
        // WHEN 4 account changes arrive in one instant, then one after midnight
        cap.capture(Micros(start.0 + 1), &acc(vec![0, 1]));
        cap.capture(Micros(start.0 + 2), &acc(vec![2, 3]));
        let after_midnight = Micros(start.0 + 2 * MIN + 5);
        cap.advance_to(Micros(start.0 + MIN)); // a tick before midnight
        cap.advance_to(after_midnight);
        cap.capture(after_midnight, &acc(vec![4]));
        cap.flush_all_at_next_tick();
        let files = cap.take_done();
        // THEN the size limit, the tick and the next tick each close a file,
        // every file holds one date, and names are unique and increasing
        let sizes: Vec<usize> = files.iter().map(|f| f.changes.len()).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        assert_eq!(files[0].day, day);
        assert_eq!(files[2].day, day + 1);
        assert!(files.windows(2).all(|w| w[0].flush < w[1].flush));
    }

    #[test]
    fn a_date_change_closes_the_open_file() {
        // GIVEN a change just before midnight, no tick in between
        let midnight = Micros(20_001 * crate::model::MICROS_PER_DAY);
        let mut cap = Capture::new(Micros(midnight.0 - 10 * MIN), MIN * 60, 100);
        let acc = |v: Vec<usize>| [vec![], vec![], v, vec![]];
        cap.capture(Micros(midnight.0 - 1), &acc(vec![0]));
        // WHEN a change commits just after midnight
        cap.capture(Micros(midnight.0 + 1), &acc(vec![1]));
        let files = cap.take_done();
        // THEN the old-date file is closed as a midnight split
        assert_eq!(files.len(), 1);
        assert!(files[0].midnight_split);
        assert_eq!(files[0].day, 20_000);
    }
}
