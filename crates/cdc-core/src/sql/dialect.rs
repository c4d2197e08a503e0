use crate::config::ColumnType;

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

    pub fn type_name(self, ty: ColumnType) -> String {
        match (self, ty) {
            (Dialect::DuckDb, ColumnType::Double) => "DOUBLE".into(),
            // DuckDB ignores lengths, so say what it does.
            (Dialect::DuckDb, ColumnType::Varchar(_) | ColumnType::Char(_)) => "VARCHAR".into(),
            (Dialect::Redshift, ColumnType::Varchar(None)) => "VARCHAR(65535)".into(),
            _ => ty.to_string().to_ascii_uppercase(),
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

    /// Null-safe equality of two expressions.
    pub fn same_value(self, a: &str, b: &str) -> String {
        match self {
            Dialect::DuckDb => format!("{a} IS NOT DISTINCT FROM {b}"),
            Dialect::Redshift => format!("({a} = {b} OR ({a} IS NULL AND {b} IS NULL))"),
        }
    }

    /// A text rendering of a value for row fingerprints, NULL-aware.
    pub fn fingerprint_part(self, expr: &str) -> String {
        let text = match self {
            Dialect::DuckDb => format!("CAST({expr} AS VARCHAR)"),
            Dialect::Redshift => format!("CAST({expr} AS VARCHAR(65535))"),
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
