//! The types tables: `type_samples` (keyed by text and integer) and
//! `type_events` (append-only), holding every column type the pipeline config
//! accepts, filled with hard values; and the typed values the oracle hands out
//! for a value-for-value check.
//!
//! The values are kept as Rust values (never read back from Parquet): the
//! integers and floats exactly, the decimal as its mantissa at scale 4, the
//! date as a calendar date, the timestamp in microseconds. Every text value
//! stays within its declared length in characters, holds no NUL character,
//! and a `char(3)` value is blank-padded to 3 characters as DMS delivers a
//! PostgreSQL `char(3)`.

use std::fmt;
use std::hash::{Hash, Hasher};

use chrono::{NaiveDate, NaiveDateTime};
use duckdb::ToSql;
use duckdb::types::{ToSqlOutput, Value};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::Micros;

/// Scale of the `numeric(18,4)` column.
pub(crate) const NUMERIC_SCALE: u32 = 4;
/// Declared lengths, in characters.
#[cfg(test)]
pub(crate) const KEY_TEXT_LEN: usize = 8;
pub(crate) const VARCHAR_LEN: usize = 6;
pub(crate) const CHAR_LEN: usize = 3;
/// `c_text` values stay under this many bytes (Redshift's VARCHAR(65535)
/// with room for the append fingerprint's concatenation of all columns).
pub(crate) const TEXT_MAX_BYTES: usize = 24_000;

/// The value columns both types tables share, with their DuckDB (staging
/// and Parquet) types.
macro_rules! value_columns {
    ($($head:expr),*) => {
        [
            $($head,)*
            ("c_smallint", "SMALLINT"),
            ("c_integer", "INTEGER"),
            ("c_bigint", "BIGINT"),
            ("c_real", "REAL"),
            ("c_double", "DOUBLE"),
            ("c_boolean", "BOOLEAN"),
            ("c_date", "DATE"),
            ("c_timestamp", "TIMESTAMP"),
            ("c_numeric", "DECIMAL(18,4)"),
            ("c_varchar", "VARCHAR"),
            ("c_text", "VARCHAR"),
            ("c_char", "VARCHAR"),
        ]
    };
}

pub(crate) const SAMPLE_COLUMNS: [(&str, &str); 14] = value_columns!(("k_text", "VARCHAR"), ("k_int", "INTEGER"));
pub(crate) const EVENT_COLUMNS: [(&str, &str); 13] = value_columns!(("e_id", "INTEGER"));

/// An exact decimal: `mantissa / 10^scale`. Equality is numeric
/// (`12.5000` equals `12.5`).
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    pub fn new(mantissa: i128, scale: u32) -> Self {
        Decimal { mantissa, scale }
    }

    pub fn mantissa(self) -> i128 {
        self.mantissa
    }

    pub fn scale(self) -> u32 {
        self.scale
    }

    /// Parses `-123.4500`, `7`, `+0.1`, `.5`; `None` for anything else
    /// (exponents, spaces, more than 38 digits).
    pub fn parse(text: &str) -> Option<Self> {
        let (negative, digits) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) || int.len() + frac.len() > 38 {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        Some(Decimal { mantissa: if negative { -mantissa } else { mantissa }, scale: frac.len() as u32 })
    }

    /// The same number with no trailing zero after the point.
    fn normalized(self) -> (i128, u32) {
        let (mut m, mut s) = (self.mantissa, self.scale);
        while s > 0 && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        (m, s)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.normalized() == other.normalized()
    }
}

impl Eq for Decimal {}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let sign = if self.mantissa < 0 { "-" } else { "" };
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

/// One value of a types table as the source holds it, for the
/// value-for-value check. `char(3)` values are `Text`, blank-padded.
#[derive(Clone, Debug, PartialEq)]
pub enum TypedValue {
    Null,
    SmallInt(i16),
    Integer(i32),
    BigInt(i64),
    Real(f32),
    Double(f64),
    Boolean(bool),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
    Numeric(Decimal),
    Text(String),
}

impl fmt::Display for TypedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypedValue::Null => f.write_str("NULL"),
            TypedValue::SmallInt(v) => write!(f, "smallint {v}"),
            TypedValue::Integer(v) => write!(f, "integer {v}"),
            TypedValue::BigInt(v) => write!(f, "bigint {v}"),
            TypedValue::Real(v) => write!(f, "real {v:e} ({} as double)", f64::from(*v)),
            TypedValue::Double(v) => write!(f, "double {v:e}"),
            TypedValue::Boolean(v) => write!(f, "boolean {v}"),
            TypedValue::Date(v) => write!(f, "date {}", v.format("%Y-%m-%d")),
            TypedValue::Timestamp(v) => write!(f, "timestamp {}", v.format("%Y-%m-%d %H:%M:%S%.6f")),
            TypedValue::Numeric(v) => write!(f, "numeric {v}"),
            TypedValue::Text(v) => write!(f, "text {}", shorten(v)),
        }
    }
}

/// A text value for messages: quoted with escapes, long values cut in the
/// middle with their length in characters and bytes.
pub fn shorten(v: &str) -> String {
    let chars = v.chars().count();
    if chars <= 80 {
        return format!("{v:?}");
    }
    let head: String = v.chars().take(40).collect();
    let tail: String = v.chars().skip(chars - 20).collect();
    format!("{head:?}…{tail:?} ({chars} characters, {} bytes)", v.len())
}

/// A `date` value, appended to DuckDB as DATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Date(pub NaiveDate);

impl ToSql for Date {
    fn to_sql(&self) -> duckdb::Result<ToSqlOutput<'_>> {
        let days = self.0.signed_duration_since(NaiveDate::default()).num_days();
        Ok(ToSqlOutput::Owned(Value::Date32(days as i32)))
    }
}

/// A `numeric(18,4)` value as its mantissa at scale 4, appended to DuckDB as
/// DECIMAL(18,4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Numeric(pub i64);

impl ToSql for Numeric {
    fn to_sql(&self) -> duckdb::Result<ToSqlOutput<'_>> {
        let d = duckdb::types::Decimal::new(18, NUMERIC_SCALE as u8, i128::from(self.0))
            .map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(ToSqlOutput::Owned(Value::Decimal(d)))
    }
}

/// The value columns of a types row; `None` is NULL.
#[derive(Clone, Debug, Default)]
pub(crate) struct TypeValues {
    pub c_smallint: Option<i16>,
    pub c_integer: Option<i32>,
    pub c_bigint: Option<i64>,
    pub c_real: Option<f32>,
    pub c_double: Option<f64>,
    pub c_boolean: Option<bool>,
    pub c_date: Option<Date>,
    pub c_timestamp: Option<Micros>,
    pub c_numeric: Option<Numeric>,
    pub c_varchar: Option<String>,
    pub c_text: Option<String>,
    pub c_char: Option<String>,
}

type Identity<'a> = (
    (Option<i16>, Option<i32>, Option<i64>, Option<u32>, Option<u64>, Option<bool>),
    (Option<Date>, Option<Micros>, Option<Numeric>, &'a Option<String>, &'a Option<String>, &'a Option<String>),
);

impl TypeValues {
    /// Every value column NULL.
    pub(crate) fn nulls() -> Self {
        TypeValues::default()
    }

    /// The floats by their bits: the generator never makes a NaN, so equal
    /// bits are equal values (and the rows can be hashed).
    fn identity(&self) -> Identity<'_> {
        (
            (
                self.c_smallint,
                self.c_integer,
                self.c_bigint,
                self.c_real.map(f32::to_bits),
                self.c_double.map(f64::to_bits),
                self.c_boolean,
            ),
            (self.c_date, self.c_timestamp, self.c_numeric, &self.c_varchar, &self.c_text, &self.c_char),
        )
    }

    pub(crate) fn is_all_null(&self) -> bool {
        self.identity() == TypeValues::nulls().identity()
    }

    pub(crate) fn push_values<'a>(&'a self, out: &mut Vec<&'a dyn ToSql>) {
        out.extend([
            &self.c_smallint as &dyn ToSql,
            &self.c_integer,
            &self.c_bigint,
            &self.c_real,
            &self.c_double,
            &self.c_boolean,
            &self.c_date,
            &self.c_timestamp,
            &self.c_numeric,
            &self.c_varchar,
            &self.c_text,
            &self.c_char,
        ]);
    }

    pub(crate) fn typed(&self) -> Vec<TypedValue> {
        fn or_null<T>(v: Option<T>, f: impl FnOnce(T) -> TypedValue) -> TypedValue {
            v.map_or(TypedValue::Null, f)
        }
        vec![
            or_null(self.c_smallint, TypedValue::SmallInt),
            or_null(self.c_integer, TypedValue::Integer),
            or_null(self.c_bigint, TypedValue::BigInt),
            or_null(self.c_real, TypedValue::Real),
            or_null(self.c_double, TypedValue::Double),
            or_null(self.c_boolean, TypedValue::Boolean),
            or_null(self.c_date, |d| TypedValue::Date(d.0)),
            or_null(self.c_timestamp, |t| TypedValue::Timestamp(t.to_datetime().naive_utc())),
            or_null(self.c_numeric, |n| TypedValue::Numeric(Decimal::new(i128::from(n.0), NUMERIC_SCALE))),
            or_null(self.c_varchar.clone(), TypedValue::Text),
            or_null(self.c_text.clone(), TypedValue::Text),
            or_null(self.c_char.clone(), TypedValue::Text),
        ]
    }

    /// The `n`-th set of hard values. Each column walks its own list with
    /// its own stride (prime to the list's length, so every value comes
    /// round), so over many `n` every value meets many others; `rng` makes
    /// the long texts.
    pub(crate) fn hard(n: usize, rng: &mut ChaCha8Rng) -> Self {
        fn pick<T: Clone>(list: &[T], n: usize, stride: usize) -> T {
            list[n.wrapping_mul(stride) % list.len()].clone()
        }
        let text = match pick(TEXTS, n, 5) {
            Text::Short(s) => s.map(str::to_string),
            Text::Long => Some(long_text(rng)),
        };
        let values = TypeValues {
            c_smallint: pick(SMALLINTS, n, 1),
            c_integer: pick(INTEGERS, n, 3),
            c_bigint: pick(BIGINTS, n, 5),
            c_real: pick(REALS, n, 1),
            c_double: pick(DOUBLES, n, 5),
            c_boolean: pick(BOOLEANS, n, 1),
            c_date: pick(DATES, n, 3).map(|(y, m, d)| Date(ymd(y, m, d))),
            c_timestamp: pick(TIMESTAMPS, n, 2).map(|(y, mo, d, h, mi, s, us)| timestamp(y, mo, d, h, mi, s, us)),
            c_numeric: pick(NUMERICS, n, 1).map(Numeric),
            c_varchar: pick(VARCHARS, n, 1).map(str::to_string),
            c_text: text,
            c_char: pick(CHARS, n, 2).map(str::to_string),
        };
        debug_assert!(values.fits(), "{values:?}");
        values
    }

    /// Every text within its declared length (in characters; `char(3)`
    /// exactly 3), `c_text` under TEXT_MAX_BYTES bytes, no NUL anywhere.
    pub(crate) fn fits(&self) -> bool {
        let ok = |v: &Option<String>, len: usize, exact: bool| {
            v.as_deref().is_none_or(|s| {
                let n = s.chars().count();
                !s.contains('\0') && if exact { n == len } else { n <= len }
            })
        };
        ok(&self.c_varchar, VARCHAR_LEN, false)
            && ok(&self.c_char, CHAR_LEN, true)
            && self.c_text.as_deref().is_none_or(|s| s.len() < TEXT_MAX_BYTES && !s.contains('\0'))
    }
}

impl PartialEq for TypeValues {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for TypeValues {}

impl Hash for TypeValues {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

/// A `type_samples` row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TypeSample {
    pub k_text: String,
    pub k_int: i32,
    pub values: TypeValues,
}

/// A `type_events` row; `e_id` is distinct for every event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TypeEvent {
    pub e_id: i32,
    pub values: TypeValues,
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn timestamp(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> Micros {
    let t = ymd(y, mo, d).and_hms_micro_opt(h, mi, s, us).unwrap_or_default();
    Micros(t.and_utc().timestamp_micros())
}

/// The keys of `type_samples` in the full load: text that differs only by
/// trailing spaces or case, Cyrillic, emoji (8 of them: the declared length),
/// a quote, a backslash, a tab, the empty string; integer extremes under one
/// text.
pub(crate) const KEYS: &[(&str, i32)] = &[
    ("a", 1),
    ("a ", 1),
    ("a  ", 1),
    ("a", i32::MIN),
    ("a", -1),
    ("a", 0),
    ("a", i32::MAX),
    ("K", 7),
    ("k", 7),
    ("ключ", 7),
    ("🙂", 7),
    ("🙂🙂🙂🙂🙂🙂🙂🙂", 8),
    ("日本語テキスト!", 3),
    ("it's", 2),
    ("back\\sl", 2),
    ("q\"uo", 2),
    ("tab\tkey", 3),
    ("", 0),
    ("%_$$", -1),
    (NULL_ROW_KEY.0, NULL_ROW_KEY.1),
];

/// The `type_samples` row whose every value column stays NULL.
pub(crate) const NULL_ROW_KEY: (&str, i32) = ("nulls", 0);

/// The keys that differ only by trailing spaces: the workload deletes and
/// re-inserts the middle one while the other two change beside it.
pub(crate) const SPACE_KEYS: [(&str, i32); 3] = [("a", 1), ("a ", 1), ("a  ", 1)];

const SMALLINTS: &[Option<i16>] = &[Some(-32768), Some(32767), Some(0), Some(-1), Some(1), None, Some(12345)];
const INTEGERS: &[Option<i32>] =
    &[Some(i32::MIN), Some(i32::MAX), Some(0), Some(-1), None, Some(1), Some(2_000_000_000), Some(-7)];
const BIGINTS: &[Option<i64>] = &[
    Some(i64::MIN),
    Some(i64::MAX),
    Some(0),
    Some(-1),
    // 2^53 + 1: no double holds it.
    Some(9_007_199_254_740_993),
    Some(-9_007_199_254_740_993),
    None,
    Some(1),
];
const REALS: &[Option<f32>] = &[
    Some(0.1),
    Some(1e-7),
    Some(f32::MIN),
    Some(f32::MAX),
    Some(f32::MIN_POSITIVE),
    // The smallest subnormal real, 1.4e-45.
    Some(f32::from_bits(1)),
    Some(0.0),
    None,
    Some(-1.5),
    Some(16_777_216.0),
    Some(std::f32::consts::PI),
];
const DOUBLES: &[Option<f64>] = &[
    Some(0.1),
    Some(1e-7),
    Some(f64::MAX),
    Some(5e-324),
    Some(-2.225_073_858_507_201_4e-308),
    Some(0.300_000_000_000_000_04),
    Some(f64::MIN),
    None,
    Some(1e21),
    Some(123_456_789.123_456_78),
    Some(9_007_199_254_740_992.0),
    Some(0.0),
    Some(-1.0 / 3.0),
];
const BOOLEANS: &[Option<bool>] = &[Some(true), Some(false), None];
const DATES: &[Option<(i32, u32, u32)>] = &[
    Some((1, 1, 1)),
    Some((1900, 1, 1)),
    Some((1970, 1, 1)),
    Some((2000, 2, 29)),
    Some((9999, 12, 31)),
    None,
    Some((1969, 12, 31)),
    Some((2026, 11, 2)),
];
type Ts = (i32, u32, u32, u32, u32, u32, u32);
const TIMESTAMPS: &[Option<Ts>] = &[
    Some((1900, 1, 1, 0, 0, 0, 1)),
    Some((2038, 1, 19, 3, 14, 8, 0)),
    Some((9999, 12, 31, 23, 59, 59, 999_999)),
    Some((1970, 1, 1, 0, 0, 0, 0)),
    Some((1969, 12, 31, 23, 59, 59, 999_999)),
    None,
    Some((2000, 2, 29, 12, 34, 56, 500_000)),
    Some((2026, 11, 1, 23, 59, 59, 999_999)),
    Some((1, 1, 1, 0, 0, 0, 0)),
];
/// Mantissas at scale 4: -12345678901234.5678, -0.0001, 0.0001, the largest
/// and smallest numeric(18,4), 0, 12.5, 1.
const NUMERICS: &[Option<i64>] = &[
    Some(-123_456_789_012_345_678),
    Some(-1),
    Some(1),
    Some(999_999_999_999_999_999),
    None,
    Some(-999_999_999_999_999_999),
    Some(0),
    Some(125_000),
    Some(10_000),
];
/// varchar(6): multibyte at the declared length, quotes, backslashes,
/// control characters, SQL comment and pattern characters, trailing spaces,
/// the empty string beside NULL.
const VARCHARS: &[Option<&str>] = &[
    Some("ÄÖÜäöß"),
    Some("日本語テキス"),
    Some("🙂🙂🙂🙂🙂🙂"),
    Some("a'b\"c\\"),
    Some("x\ny\tz"),
    Some("%_$$*/"),
    Some(""),
    None,
    Some("-- x  "),
    Some("  ab  "),
    Some("🙂a 日ä "),
    Some("\\'\\\r\n"),
    Some("/*"),
];
/// char(3), blank-padded as DMS delivers a PostgreSQL char(3).
const CHARS: &[Option<&str>] = &[
    Some("äö "),
    Some("€€€"),
    Some("a  "),
    Some("   "),
    Some("'\"\\"),
    None,
    Some("🙂🙂 "),
    Some("K\t "),
    Some("x\n "),
];

#[derive(Clone, Copy)]
enum Text {
    Short(Option<&'static str>),
    /// Several thousand characters, multibyte included.
    Long,
}

const TEXTS: &[Text] = &[
    Text::Long,
    Text::Short(Some("")),
    Text::Short(Some("O'Reilly \"quoted\" \\path\\ 100% _x_ $$dollar$$ /* c */ -- line")),
    Text::Short(None),
    Text::Short(Some("line1\nline2\r\n\tindented")),
    Text::Short(Some("trailing   ")),
    Text::Long,
    Text::Short(Some(" ")),
    Text::Short(Some("日本語 ÄÖÜ 🙂 ключ €")),
    Text::Short(Some("\\\\server\\share\\")),
    Text::Short(Some("SELECT 1; DROP TABLE x; -- ' \" ;")),
];

/// Characters the long texts are made of: 1- to 4-byte UTF-8 and the
/// characters that break quoting.
const LONG_TEXT_CHARS: &[char] =
    &['a', 'z', ' ', 'Q', '9', 'ä', 'ß', '€', '日', '語', '🙂', '𝄞', '\'', '"', '\\', '\n', '\t', '%', '_', '$'];

/// 2000 to 5000 characters; at most 4 bytes each, so far under TEXT_MAX_BYTES.
fn long_text(rng: &mut ChaCha8Rng) -> String {
    let n = rng.random_range(2000..=5000);
    let mut s: String = (0..n).map(|_| LONG_TEXT_CHARS[rng.random_range(0..LONG_TEXT_CHARS.len())]).collect();
    // A trailing space on some, so it is kept even at the end of a long value.
    if rng.random_bool(0.5) {
        s.pop();
        s.push(' ');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_hard_text_fits_its_declared_length_and_holds_no_nul() {
        // GIVEN the hard value lists and many generated rows
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rows: Vec<TypeValues> = (0..200).map(|n| TypeValues::hard(n, &mut rng)).collect();
        // THEN every value fits: varchar(6) and char(3) in characters, char(3) exactly 3, text in bytes
        for v in &rows {
            if let Some(s) = &v.c_varchar {
                assert!(s.chars().count() <= VARCHAR_LEN && !s.contains('\0'), "{s:?}");
            }
            if let Some(s) = &v.c_char {
                assert!(s.chars().count() == CHAR_LEN && !s.contains('\0'), "{s:?}");
            }
            if let Some(s) = &v.c_text {
                assert!(s.len() < TEXT_MAX_BYTES && !s.contains('\0'), "{} bytes", s.len());
            }
        }
        assert!(rows.iter().all(TypeValues::fits));
        for (k, _) in KEYS {
            assert!(k.chars().count() <= KEY_TEXT_LEN && !k.contains('\0'), "{k:?}");
        }
        // AND the multibyte varchar values are at the declared length with far more bytes
        assert!(VARCHARS.iter().flatten().any(|s| s.chars().count() == VARCHAR_LEN && s.len() == 4 * VARCHAR_LEN));
        // AND some long texts are several thousand characters
        assert!(rows.iter().filter_map(|v| v.c_text.as_ref()).any(|t| t.chars().count() >= 2000));
        // AND every list value shows up in some row
        assert!(rows.iter().any(|v| v.c_numeric == Some(Numeric(-123_456_789_012_345_678))));
        assert!(rows.iter().any(|v| v.c_double == Some(5e-324)));
        assert!(rows.iter().any(|v| v.c_real == Some(0.1)));
        assert!(rows.iter().any(|v| v.c_char.as_deref() == Some("€€€")));
    }

    #[test]
    fn decimals_compare_as_numbers_and_print_at_their_scale() {
        // GIVEN decimals written at different scales
        let parse = |s: &str| Decimal::parse(s).unwrap_or_else(|| panic!("{s}"));
        // THEN equal numbers are equal whatever their trailing zeros
        assert_eq!(parse("12.5000"), Decimal::new(125_000, 4));
        assert_eq!(parse("12.5"), parse("12.50"));
        assert_eq!(parse("-0.0001"), Decimal::new(-1, 4));
        assert_eq!(parse("0"), parse("0.0000"));
        assert_ne!(parse("0.0001"), parse("-0.0001"));
        assert_eq!(parse("20261101200000000000000000000000009"), Decimal::new(20261101200000000000000000000000009, 0));
        // AND text that is not a plain decimal is refused
        for bad in ["", "-", ".", "1e5", " 1", "1.2.3", "NaN", "1,5"] {
            assert!(Decimal::parse(bad).is_none(), "{bad:?}");
        }
        // AND they print as DuckDB and Redshift print a numeric
        assert_eq!(Decimal::new(-123_456_789_012_345_678, 4).to_string(), "-12345678901234.5678");
        assert_eq!(Decimal::new(-1, 4).to_string(), "-0.0001");
        assert_eq!(Decimal::new(125_000, 4).to_string(), "12.5000");
        assert_eq!(Decimal::new(7, 0).to_string(), "7");
    }
}
