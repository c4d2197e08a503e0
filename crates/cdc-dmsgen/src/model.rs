//! The pgbench tables, their rows and the change records DMS captures.

use chrono::{DateTime, Utc};
use duckdb::ToSql;
use duckdb::types::{TimeUnit, ToSqlOutput, Value};

/// Microseconds since the Unix epoch: the single time unit used internally,
/// so ordering and arithmetic are exact and cheap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Micros(pub i64);

pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;

impl Micros {
    pub(crate) fn from_datetime(t: DateTime<Utc>) -> Self {
        Micros(t.timestamp_micros())
    }

    pub(crate) fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// Days since the epoch (UTC), the unit of a DMS date folder.
    pub(crate) fn day(self) -> i64 {
        self.0.div_euclid(MICROS_PER_DAY)
    }
}

impl ToSql for Micros {
    fn to_sql(&self) -> duckdb::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(Value::Timestamp(TimeUnit::Microsecond, self.0)))
    }
}

/// `YYYYMMDD` of a day number.
pub(crate) fn day_folder(day: i64) -> String {
    Micros(day * MICROS_PER_DAY).to_datetime().format("%Y%m%d").to_string()
}

/// DMS CDC file name (without extension) for a flush at `ms` milliseconds.
pub(crate) fn file_stamp(ms: i64) -> String {
    Micros(ms * 1000).to_datetime().format("%Y%m%d-%H%M%S%3f").to_string()
}

/// 35-digit change sequence like DMS `AR_H_CHANGE_SEQ`: commit second
/// (`YYYYMMDDHHMMSS`) then a 21-digit global counter. Commit times never go
/// back and the counter always grows, so the string grows strictly in commit
/// order, and its fixed width makes string order equal numeric order.
pub(crate) fn seq_string(ts: Micros, seq: u64) -> String {
    use chrono::{Datelike, Timelike};
    // Called once per written change: plain integer formatting, no strftime parsing.
    let t = ts.to_datetime();
    format!("{:04}{:02}{:02}{:02}{:02}{:02}{:021}", t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second(), seq)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Table {
    Branches,
    Tellers,
    Accounts,
    History,
}

impl Table {
    pub(crate) const ALL: [Table; 4] = [Table::Branches, Table::Tellers, Table::Accounts, Table::History];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Branches => "pgbench_branches",
            Table::Tellers => "pgbench_tellers",
            Table::Accounts => "pgbench_accounts",
            Table::History => "pgbench_history",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Column names and DuckDB types, in table order.
    pub(crate) fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Table::Branches => &[("bid", "INTEGER"), ("bbalance", "INTEGER"), ("filler", "VARCHAR")],
            Table::Tellers => &[("tid", "INTEGER"), ("bid", "INTEGER"), ("tbalance", "INTEGER"), ("filler", "VARCHAR")],
            Table::Accounts => {
                &[("aid", "INTEGER"), ("bid", "INTEGER"), ("abalance", "INTEGER"), ("filler", "VARCHAR")]
            }
            Table::History => &[
                ("tid", "INTEGER"),
                ("bid", "INTEGER"),
                ("aid", "INTEGER"),
                ("delta", "INTEGER"),
                ("mtime", "TIMESTAMP"),
                ("filler", "VARCHAR"),
            ],
        }
    }

    pub(crate) fn is_keyed(self) -> bool {
        self != Table::History
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Op::Insert => "I",
            Op::Update => "U",
            Op::Delete => "D",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Branch {
    pub bid: i32,
    pub bbalance: i32,
    pub filler: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Teller {
    pub tid: i32,
    pub bid: i32,
    pub tbalance: i32,
    pub filler: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Account {
    pub aid: i32,
    pub bid: i32,
    pub abalance: i32,
    pub filler: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct History {
    pub tid: i32,
    pub bid: i32,
    pub aid: i32,
    pub delta: i32,
    pub mtime: Micros,
    pub filler: Option<String>,
}

/// A full row image of one of the four tables.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Row {
    Branch(Branch),
    Teller(Teller),
    Account(Account),
    History(History),
}

impl Row {
    pub(crate) fn table(&self) -> Table {
        match self {
            Row::Branch(_) => Table::Branches,
            Row::Teller(_) => Table::Tellers,
            Row::Account(_) => Table::Accounts,
            Row::History(_) => Table::History,
        }
    }

    /// Primary key; history has none.
    pub(crate) fn key(&self) -> Option<i32> {
        match self {
            Row::Branch(b) => Some(b.bid),
            Row::Teller(t) => Some(t.tid),
            Row::Account(a) => Some(a.aid),
            Row::History(_) => None,
        }
    }

    /// Appends the column values in table order, for the DuckDB appender.
    pub(crate) fn push_values<'a>(&'a self, out: &mut Vec<&'a dyn ToSql>) {
        match self {
            Row::Branch(b) => out.extend([&b.bid as &dyn ToSql, &b.bbalance, &b.filler]),
            Row::Teller(t) => out.extend([&t.tid as &dyn ToSql, &t.bid, &t.tbalance, &t.filler]),
            Row::Account(a) => out.extend([&a.aid as &dyn ToSql, &a.bid, &a.abalance, &a.filler]),
            Row::History(h) => out.extend([&h.tid as &dyn ToSql, &h.bid, &h.aid, &h.delta, &h.mtime, &h.filler]),
        }
    }
}

/// One captured change: what DMS reads from the WAL for one row.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    /// Global counter, strictly increasing in commit order.
    pub seq: u64,
    /// Commit time of the transaction.
    pub ts: Micros,
    pub op: Op,
    /// After image for I/U, before image for D (DMS writes all columns).
    pub row: Row,
    /// True once the file holding this change has been written.
    pub delivered: bool,
}

/// A row of the full load with the time DMS transferred it.
#[derive(Clone, Debug)]
pub(crate) struct FullRow {
    pub row: Row,
    pub ts: Micros,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_35_digits_and_grows_with_time_and_counter() {
        // GIVEN two changes in the same second and one in the next second
        let t = Micros(1_793_563_200_000_000); // 2026-11-01T20:00:00Z
        // WHEN their sequences are formatted
        let (a, b, c) = (seq_string(t, 9), seq_string(t, 10), seq_string(Micros(t.0 + 1_000_000), 11));
        // THEN they are fixed-width, start with the commit second and sort in commit order
        assert_eq!(a, "20261101200000000000000000000000009");
        assert!(a.len() == 35 && b.len() == 35 && c.len() == 35);
        assert!(a < b && b < c);
    }
}
