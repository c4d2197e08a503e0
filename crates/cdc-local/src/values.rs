//! DuckDB values as the port's cells, the way the Data API reports them
//! (timestamps as text).

use chrono::DateTime;
use duckdb::types::{TimeUnit, ValueRef};

use cdc_core::ports::Cell;

pub fn cell(v: ValueRef<'_>) -> Cell {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Boolean(b) => Cell::Bool(b),
        ValueRef::TinyInt(i) => Cell::Long(i.into()),
        ValueRef::SmallInt(i) => Cell::Long(i.into()),
        ValueRef::Int(i) => Cell::Long(i.into()),
        ValueRef::BigInt(i) => Cell::Long(i),
        ValueRef::HugeInt(i) => i64::try_from(i).map_or_else(|_| Cell::Text(i.to_string()), Cell::Long),
        ValueRef::UTinyInt(i) => Cell::Long(i.into()),
        ValueRef::USmallInt(i) => Cell::Long(i.into()),
        ValueRef::UInt(i) => Cell::Long(i.into()),
        ValueRef::UBigInt(i) => i64::try_from(i).map_or_else(|_| Cell::Text(i.to_string()), Cell::Long),
        ValueRef::Float(f) => Cell::Double(f.into()),
        ValueRef::Double(f) => Cell::Double(f),
        ValueRef::Decimal(d) => Cell::Text(d.to_string()),
        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Timestamp(unit, v) => Cell::Text(timestamp_text(unit, v)),
        ValueRef::Date32(days) => Cell::Text(
            DateTime::from_timestamp(i64::from(days) * 86_400, 0)
                .map_or_else(|| days.to_string(), |d| d.format("%Y-%m-%d").to_string()),
        ),
        other => Cell::Text(format!("{other:?}")),
    }
}

fn timestamp_text(unit: TimeUnit, v: i64) -> String {
    let micros = match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v / 1_000,
    };
    DateTime::from_timestamp_micros(micros)
        .map_or_else(|| v.to_string(), |t| t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string())
}
