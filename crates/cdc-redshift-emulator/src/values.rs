//! DuckDB values as the Data API returns them: `Field`s (`longValue`,
//! `doubleValue`, `booleanValue`, `stringValue`, `isNull`, `blobValue`) and
//! `ColumnMetadata` with Redshift's type names. Dates and timestamps are
//! strings in Redshift's text form: `2026-11-01 20:00:00.25`, the fraction
//! without trailing zeros and absent when zero.

use chrono::DateTime;
use duckdb::arrow::datatypes::DataType;
use duckdb::types::{TimeUnit, ValueRef};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Field {
    pub fn to_json(&self) -> Value {
        match self {
            Field::Null => json!({"isNull": true}),
            Field::Bool(b) => json!({"booleanValue": b}),
            Field::Long(v) => json!({"longValue": v}),
            Field::Double(v) if v.is_finite() => json!({"doubleValue": v}),
            // JSON has no NaN or infinity; Redshift prints them as text.
            Field::Double(v) => json!({"stringValue": v.to_string()}),
            Field::Text(s) => json!({"stringValue": s}),
            Field::Blob(b) => json!({"blobValue": aws_smithy_types::base64::encode(b)}),
        }
    }

    /// The value as Redshift would print it, `None` for NULL.
    pub fn text(&self) -> Option<String> {
        match self {
            Field::Null => None,
            Field::Bool(b) => Some(if *b { "t" } else { "f" }.into()),
            Field::Long(v) => Some(v.to_string()),
            Field::Double(v) => Some(v.to_string()),
            Field::Text(s) => Some(s.clone()),
            Field::Blob(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMeta {
    pub name: String,
    pub type_name: &'static str,
    pub precision: i64,
    pub scale: i64,
    pub signed: bool,
    pub case_sensitive: bool,
}

impl ColumnMeta {
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "label": self.name,
            "typeName": self.type_name,
            "precision": self.precision,
            "scale": self.scale,
            "isSigned": self.signed,
            "isCaseSensitive": self.case_sensitive,
            "isCurrency": false,
            "nullable": 1,
            "length": 0,
            "schemaName": "",
            "tableName": "",
        })
    }
}

/// The rows of one statement that returns a result set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<ColumnMeta>,
    pub rows: Vec<Vec<Field>>,
}

pub fn field(v: ValueRef<'_>) -> Field {
    match v {
        ValueRef::Null => Field::Null,
        ValueRef::Boolean(b) => Field::Bool(b),
        ValueRef::TinyInt(i) => Field::Long(i.into()),
        ValueRef::SmallInt(i) => Field::Long(i.into()),
        ValueRef::Int(i) => Field::Long(i.into()),
        ValueRef::BigInt(i) => Field::Long(i),
        ValueRef::UTinyInt(i) => Field::Long(i.into()),
        ValueRef::USmallInt(i) => Field::Long(i.into()),
        ValueRef::UInt(i) => Field::Long(i.into()),
        ValueRef::UBigInt(i) => i64::try_from(i).map_or_else(|_| Field::Text(i.to_string()), Field::Long),
        ValueRef::HugeInt(i) => i64::try_from(i).map_or_else(|_| Field::Text(i.to_string()), Field::Long),
        ValueRef::UHugeInt(i) => i64::try_from(i).map_or_else(|_| Field::Text(i.to_string()), Field::Long),
        ValueRef::Float(f) => Field::Double(f.into()),
        ValueRef::Double(f) => Field::Double(f),
        // DECIMAL travels as text in the Data API.
        ValueRef::Decimal(d) => Field::Text(d.to_string()),
        ValueRef::Text(t) => Field::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Field::Blob(b.to_vec()),
        ValueRef::Timestamp(unit, v) => Field::Text(timestamp_text(micros(unit, v))),
        ValueRef::Date32(days) => Field::Text(
            DateTime::from_timestamp(i64::from(days) * 86_400, 0)
                .map_or_else(|| days.to_string(), |d| d.format("%Y-%m-%d").to_string()),
        ),
        ValueRef::Time64(unit, v) => {
            let us = micros(unit, v);
            let (secs, frac) = (us.div_euclid(1_000_000), us.rem_euclid(1_000_000));
            Field::Text(format!("{:02}:{:02}:{:02}{}", secs / 3600, secs / 60 % 60, secs % 60, fraction(frac)))
        }
        other => Field::Text(format!("{other:?}")),
    }
}

fn micros(unit: TimeUnit, v: i64) -> i64 {
    match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v / 1_000,
    }
}

/// `.25` for 250000 µs, nothing for 0: Redshift's way.
fn fraction(micros: i64) -> String {
    if micros == 0 {
        return String::new();
    }
    let digits = format!(".{micros:06}");
    digits.trim_end_matches('0').to_string()
}

pub fn timestamp_text(us: i64) -> String {
    match DateTime::from_timestamp_micros(us) {
        Some(t) => format!("{}{}", t.naive_utc().format("%Y-%m-%d %H:%M:%S"), fraction(us.rem_euclid(1_000_000))),
        None => us.to_string(),
    }
}

pub fn column_meta(name: &str, ty: &DataType) -> ColumnMeta {
    let (type_name, precision, scale, signed, case_sensitive) = match ty {
        DataType::Boolean => ("bool", 1, 0, false, false),
        DataType::Int8 | DataType::Int16 => ("int2", 5, 0, true, false),
        DataType::Int32 => ("int4", 10, 0, true, false),
        DataType::Int64 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            ("int8", 19, 0, true, false)
        }
        DataType::Float16 | DataType::Float32 => ("float4", 8, 8, true, false),
        DataType::Float64 => ("float8", 17, 17, true, false),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            ("numeric", i64::from(*p), i64::from(*s), true, false)
        }
        DataType::Date32 | DataType::Date64 => ("date", 13, 0, false, false),
        DataType::Timestamp(_, None) => ("timestamp", 29, 6, false, false),
        DataType::Timestamp(_, Some(_)) => ("timestamptz", 35, 6, false, false),
        DataType::Time32(_) | DataType::Time64(_) => ("time", 15, 6, false, false),
        DataType::Binary | DataType::LargeBinary | DataType::FixedSizeBinary(_) => ("varbyte", 0, 0, false, false),
        _ => ("varchar", 65535, 0, false, true),
    };
    // Redshift folds names to lower case (enable_case_sensitive_identifier off).
    ColumnMeta { name: name.to_lowercase(), type_name, precision, scale, signed, case_sensitive }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_redshift_prints_them() {
        let base = 1_793_563_200_000_000; // 2026-11-01 20:00:00 UTC
        assert_eq!(timestamp_text(base), "2026-11-01 20:00:00");
        assert_eq!(timestamp_text(base + 250_000), "2026-11-01 20:00:00.25");
        assert_eq!(timestamp_text(base + 1), "2026-11-01 20:00:00.000001");
        assert_eq!(
            field(ValueRef::Timestamp(TimeUnit::Nanosecond, (base + 120_000) * 1000)),
            Field::Text("2026-11-01 20:00:00.12".into())
        );
    }

    #[test]
    fn fields_serialise_as_the_data_api_does() {
        assert_eq!(Field::Null.to_json(), json!({"isNull": true}));
        assert_eq!(Field::Long(3).to_json(), json!({"longValue": 3}));
        assert_eq!(Field::Text("x".into()).to_json(), json!({"stringValue": "x"}));
        assert_eq!(Field::Blob(b"hi".to_vec()).to_json(), json!({"blobValue": "aGk="}));
        assert_eq!(Field::Double(f64::NAN).to_json(), json!({"stringValue": "NaN"}));
    }
}
