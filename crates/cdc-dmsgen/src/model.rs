//! The pgbench tables and the types tables, their rows and the change
//! records DMS captures.

use chrono::{DateTime, Utc};
use duckdb::ToSql;
use duckdb::types::{TimeUnit, ToSqlOutput, Value};

pub(crate) use crate::types::{TypeEvent, TypeSample};

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
    TypeSamples,
    TypeEvents,
}

impl Table {
    /// How many tables the generator writes.
    pub(crate) const COUNT: usize = 6;

    /// Every table, in the order the full load scans them.
    pub(crate) const ALL: [Table; Table::COUNT] =
        [Table::Branches, Table::Tellers, Table::Accounts, Table::History, Table::TypeSamples, Table::TypeEvents];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Branches => "pgbench_branches",
            Table::Tellers => "pgbench_tellers",
            Table::Accounts => "pgbench_accounts",
            Table::History => "pgbench_history",
            Table::TypeSamples => "type_samples",
            Table::TypeEvents => "type_events",
        }
    }

    pub(crate) fn by_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
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
            Table::TypeSamples => &crate::types::SAMPLE_COLUMNS,
            Table::TypeEvents => &crate::types::EVENT_COLUMNS,
        }
    }

    /// Tables with a primary key (upserted); the others are append-only.
    pub(crate) fn is_keyed(self) -> bool {
        !matches!(self, Table::History | Table::TypeEvents)
    }

    /// The columns the full load's files are sorted by: the scan order
    /// (the key, or the insertion order of an append-only table).
    pub(crate) fn scan_order(self) -> &'static [&'static str] {
        match self {
            Table::Branches => &["bid"],
            Table::Tellers => &["tid"],
            Table::Accounts => &["aid"],
            Table::History => &["mtime"],
            Table::TypeSamples => &["k_text", "k_int"],
            Table::TypeEvents => &["e_id"],
        }
    }
}

/// A primary key: an integer for the pgbench tables, text and integer for
/// `type_samples`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Key {
    Int(i32),
    TextInt(String, i32),
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

/// A full row image of one of the tables.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Row {
    Branch(Branch),
    Teller(Teller),
    Account(Account),
    History(History),
    Sample(TypeSample),
    Event(TypeEvent),
}

impl Row {
    pub(crate) fn table(&self) -> Table {
        match self {
            Row::Branch(_) => Table::Branches,
            Row::Teller(_) => Table::Tellers,
            Row::Account(_) => Table::Accounts,
            Row::History(_) => Table::History,
            Row::Sample(_) => Table::TypeSamples,
            Row::Event(_) => Table::TypeEvents,
        }
    }

    /// Primary key; the append-only tables have none.
    pub(crate) fn key(&self) -> Option<Key> {
        match self {
            Row::Branch(b) => Some(Key::Int(b.bid)),
            Row::Teller(t) => Some(Key::Int(t.tid)),
            Row::Account(a) => Some(Key::Int(a.aid)),
            Row::Sample(s) => Some(Key::TextInt(s.k_text.clone(), s.k_int)),
            Row::History(_) | Row::Event(_) => None,
        }
    }

    /// Appends the column values in table order, for the DuckDB appender.
    pub(crate) fn push_values<'a>(&'a self, out: &mut Vec<&'a dyn ToSql>) {
        match self {
            Row::Branch(b) => out.extend([&b.bid as &dyn ToSql, &b.bbalance, &b.filler]),
            Row::Teller(t) => out.extend([&t.tid as &dyn ToSql, &t.bid, &t.tbalance, &t.filler]),
            Row::Account(a) => out.extend([&a.aid as &dyn ToSql, &a.bid, &a.abalance, &a.filler]),
            Row::History(h) => out.extend([&h.tid as &dyn ToSql, &h.bid, &h.aid, &h.delta, &h.mtime, &h.filler]),
            Row::Sample(s) => {
                out.extend([&s.k_text as &dyn ToSql, &s.k_int]);
                s.values.push_values(out);
            }
            Row::Event(e) => {
                out.push(&e.e_id);
                e.values.push_values(out);
            }
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
    /// That file, relative to the raw zone's root (`/`-separated).
    pub file: Option<FileName>,
}

/// A delivered file's path relative to the raw zone's root, `/`-separated.
pub(crate) type FileName = std::sync::Arc<str>;

/// The raw-zone name of a file written at `rel`.
pub(crate) fn file_name(rel: &std::path::Path) -> FileName {
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    parts.join("/").into()
}

/// A row of the full load with the time DMS transferred it.
#[derive(Clone, Debug)]
pub(crate) struct FullRow {
    pub row: Row,
    pub ts: Micros,
    /// The full-load file it was written to, once written.
    pub file: Option<FileName>,
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
