use crate::config::{ColumnType, MAX_BYTES_PER_CHAR, MAX_TEXT_BYTES};

/// The two SQL dialects the pipeline speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    DuckDb,
    Redshift,
}

/// Marker at the start of every error the load's own checks raise, so a failed
/// statement can be told apart as a data error.
pub const DATA_ERROR_MARKER: &str = "CDC_DATA_ERROR";

impl Dialect {
    /// A string literal. Redshift reads backslashes as escapes, DuckDB does not.
    pub fn literal(self, value: &str) -> String {
        let quoted = value.replace('\'', "''");
        match self {
            Dialect::DuckDb => format!("'{quoted}'"),
            Dialect::Redshift => format!("'{}'", quoted.replace('\\', "\\\\")),
        }
    }

    /// The column type that holds a configured type's values. Text lengths
    /// in the config count characters; the load checks them on both
    /// warehouses, so the stored type only has to be wide enough.
    pub fn type_name(self, ty: ColumnType) -> String {
        match (self, ty) {
            (Dialect::DuckDb, ColumnType::Double) => "DOUBLE".into(),
            // DuckDB ignores lengths, so say what it does.
            (Dialect::DuckDb, ColumnType::Varchar(_) | ColumnType::Char(_)) => "VARCHAR".into(),
            (Dialect::Redshift, ColumnType::Varchar(None)) => format!("VARCHAR({MAX_TEXT_BYTES})"),
            // Redshift counts bytes, and its CHAR takes single-byte
            // characters only: n characters of UTF-8 need up to 4n bytes of
            // VARCHAR (docs/redshift.md). The config caps n so 4n fits.
            (Dialect::Redshift, ColumnType::Varchar(Some(n)) | ColumnType::Char(n)) => {
                format!("VARCHAR({})", n * MAX_BYTES_PER_CHAR)
            }
            _ => ty.to_string().to_ascii_uppercase(),
        }
    }

    /// The widest text type: what raw text is read as before its length is
    /// checked, so no cast can truncate it first (an explicit cast to a
    /// shorter VARCHAR truncates silently on Redshift).
    pub fn unbounded_text(self) -> String {
        match self {
            Dialect::DuckDb => "VARCHAR".into(),
            Dialect::Redshift => format!("VARCHAR({MAX_TEXT_BYTES})"),
        }
    }

    /// A text value's length in characters, trailing spaces included.
    pub fn char_length(self, expr: &str) -> String {
        match self {
            Dialect::DuckDb => format!("length({expr})"),
            // LEN counts characters, and a VARCHAR's trailing spaces.
            Dialect::Redshift => format!("LEN({expr})"),
        }
    }

    /// A text value's length in bytes of UTF-8, trailing spaces included.
    pub fn byte_length(self, expr: &str) -> String {
        match self {
            Dialect::DuckDb => format!("strlen({expr})"),
            Dialect::Redshift => format!("OCTET_LENGTH({expr})"),
        }
    }

    /// Equality of two values of type `ty` that tells trailing spaces apart.
    /// Redshift ignores trailing spaces when it compares VARCHAR values, so
    /// `'a'` and `'a '` would be one key there; their byte lengths differ,
    /// and OCTET_LENGTH counts a VARCHAR's trailing spaces (docs/redshift.md).
    pub fn equal(self, a: &str, b: &str, ty: ColumnType) -> String {
        match self {
            Dialect::Redshift if ty.is_text() => {
                format!("{a} = {b} AND {} = {}", self.byte_length(a), self.byte_length(b))
            }
            _ => format!("{a} = {b}"),
        }
    }

    /// Expressions that group or partition values of type `ty` the way
    /// [`Self::equal`] compares them.
    pub fn grouping(self, expr: &str, ty: ColumnType) -> Vec<String> {
        match self {
            Dialect::Redshift if ty.is_text() => vec![expr.to_string(), self.byte_length(expr)],
            _ => vec![expr.to_string()],
        }
    }

    /// Type of the file-path and change-sequence bookkeeping columns.
    pub fn text_type(self, len: u32) -> String {
        match self {
            Dialect::DuckDb => "VARCHAR".into(),
            Dialect::Redshift => format!("VARCHAR({len})"),
        }
    }

    pub fn now(self) -> &'static str {
        match self {
            Dialect::DuckDb => "CAST(now() AS TIMESTAMP)",
            Dialect::Redshift => "GETDATE()",
        }
    }

    /// `expr` (a timestamp) moved back by `secs` seconds.
    pub fn minus_seconds(self, expr: &str, secs: u64) -> String {
        match self {
            Dialect::DuckDb => format!("({expr} - INTERVAL '{secs} seconds')"),
            Dialect::Redshift => format!("DATEADD(second, -{secs}, {expr})"),
        }
    }

    /// `expr` (a timestamp) moved forward by `secs` seconds.
    pub fn plus_seconds(self, expr: &str, secs: u64) -> String {
        match self {
            Dialect::DuckDb => format!("({expr} + INTERVAL '{secs} seconds')"),
            Dialect::Redshift => format!("DATEADD(second, {secs}, {expr})"),
        }
    }

    /// `expr` (a `YYYYMMDD` partition string) moved back by `days` days.
    pub fn partition_minus_days(self, expr: &str, days: u64) -> String {
        match self {
            Dialect::DuckDb => {
                format!("strftime(CAST(strptime({expr}, '%Y%m%d') AS DATE) - INTERVAL '{days} days', '%Y%m%d')")
            }
            Dialect::Redshift => format!("TO_CHAR(DATEADD(day, -{days}, TO_DATE({expr}, 'YYYYMMDD')), 'YYYYMMDD')"),
        }
    }

    /// A statement that fails the transaction with `message` followed by the
    /// first row of `offending_files` (a query returning one text column that
    /// names the problem's file) when it returns a row, and does nothing
    /// otherwise.
    ///
    /// DuckDB has `error()`. Redshift cannot raise from plain SQL, so setup
    /// creates the `cdc_assert_empty` procedure in the control schema, which
    /// runs the query and raises.
    pub fn assert_empty(self, control_schema: &str, offending_files: &str, message: &str) -> String {
        match self {
            Dialect::DuckDb => format!(
                "SELECT error({} || x.f) FROM ({offending_files} LIMIT 1) AS x(f)",
                self.literal(&format!("{DATA_ERROR_MARKER}: {message}"))
            ),
            Dialect::Redshift => format!(
                "CALL {control_schema}.cdc_assert_empty({}, {})",
                self.literal(&format!("{offending_files} LIMIT 1")),
                self.literal(&format!("{DATA_ERROR_MARKER}: {message}"))
            ),
        }
    }

    /// The statement that opens a batch writing a table's progress: the
    /// transaction waits for, then holds, the table until it ends, so two
    /// loads of one table run one after the other and the second sees the
    /// first's progress rows. Redshift's `LOCK` (ACCESS EXCLUSIVE; the
    /// transaction's snapshot is taken at its first SELECT or DML, after the
    /// wait) is needed under SNAPSHOT isolation, the default of Serverless
    /// and of new clusters, which lets two transactions insert different
    /// rows into one table side by side (docs/redshift.md). DuckDB has no
    /// LOCK: the embedded warehouse runs one transaction at a time.
    pub fn lock(self, table: &str) -> Option<String> {
        match self {
            Dialect::DuckDb => None,
            Dialect::Redshift => Some(format!("LOCK {table}")),
        }
    }

    /// Null-safe equality of two values of type `ty`, trailing spaces told apart.
    pub fn same_value(self, a: &str, b: &str, ty: ColumnType) -> String {
        match self {
            Dialect::DuckDb => format!("{a} IS NOT DISTINCT FROM {b}"),
            Dialect::Redshift => format!("(({}) OR ({a} IS NULL AND {b} IS NULL))", self.equal(a, b, ty)),
        }
    }

    /// A text rendering of a value of type `ty` for row fingerprints,
    /// NULL-aware. Redshift has no cast from BOOLEAN to a character type, so
    /// booleans are spelled out; text needs no cast.
    pub fn fingerprint_part(self, expr: &str, ty: ColumnType) -> String {
        let text = match ty {
            ColumnType::Boolean => format!("CASE WHEN {expr} THEN 't' WHEN NOT {expr} THEN 'f' END"),
            ty if ty.is_text() => expr.to_string(),
            _ => format!("CAST({expr} AS {})", self.unbounded_text()),
        };
        format!("COALESCE('v' || {text}, 'n')")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_cannot_break_out() {
        assert_eq!(Dialect::DuckDb.literal("a'b\\c"), "'a''b\\c'");
        assert_eq!(Dialect::Redshift.literal("a'b\\c"), "'a''b\\\\c'");
    }
}
