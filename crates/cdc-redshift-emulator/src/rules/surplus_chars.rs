//! Rule 9: a Spectrum value longer than its Glue column's width is handled
//! by the table property `surplus_char_handling`.
//!
//! The property is read from the Glue table's `StorageDescriptor.Parameters`
//! (where AWS CDK's `storageParameters` put Redshift's table properties),
//! falling back to the table's `Parameters`; names and values are
//! case-sensitive, as the docs say of table properties.

use super::{MACRO_SCHEMA, Rule};
use crate::translate::duck_literal;

pub const RULE: Rule = Rule {
    name: "Spectrum surplus_char_handling",
    documented: "\"Specifies how to handle data being loaded that exceeds the length of the data type defined for \
                 columns containing VARCHAR, CHAR, or string data. By default, Redshift Spectrum sets the value to \
                 null for data that exceeds the width of the column.\" Values SET_TO_NULL, DISABLED, FAIL, DROP_ROW, \
                 TRUNCATE. \"Table properties are case-sensitive.\" The same page also says \"When you query an \
                 external table, results are truncated to fit the defined column size without returning an error\", \
                 which conflicts with the SET_TO_NULL default; the emulator follows the property's own text. The \
                 docs are silent on the width of Glue's `string`, and on DISABLED's meaning.",
    url: "https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_EXTERNAL_TABLE.html",
    emulated: "varchar(n)/char(n) (n bytes) and string (65535 bytes, the widest VARCHAR) columns: SET_TO_NULL (the \
               default) → NULL, TRUNCATE → the longest prefix within the width, FAIL → the scan fails naming the \
               table, column and file, DROP_ROW → the row is dropped; DISABLED is treated as the default.",
};

pub const PROPERTY: &str = "surplus_char_handling";

/// What to do with a value longer than its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    SetToNull,
    Truncate,
    Fail,
    DropRow,
}

impl Handling {
    /// The property's value; DISABLED (silent in the docs) as the default.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        Ok(match value {
            None | Some("SET_TO_NULL") | Some("DISABLED") => Handling::SetToNull,
            Some("TRUNCATE") => Handling::Truncate,
            Some("FAIL") => Handling::Fail,
            Some("DROP_ROW") => Handling::DropRow,
            Some(other) => {
                return Err(format!(
                    "ERROR: invalid {PROPERTY} value '{other}' (SET_TO_NULL, DISABLED, FAIL, DROP_ROW or TRUNCATE)"
                ));
            }
        })
    }
}

/// The width in bytes of a Glue character type; `None` for other types.
pub fn width(glue_type: &str) -> Option<u32> {
    let t = glue_type.trim().to_lowercase();
    if t == "string" {
        return Some(super::character_length::VARCHAR_MAX);
    }
    let inner = t.strip_prefix("varchar(").or_else(|| t.strip_prefix("char("))?;
    inner.strip_suffix(')')?.trim().parse().ok()
}

/// The view's expression for a character column read as `value`.
pub fn column_sql(value: &str, width: u32, handling: Handling, table: &str, column: &str, uri: &str) -> String {
    let too_long = format!("strlen({value}) > {width}");
    match handling {
        Handling::SetToNull | Handling::DropRow => format!("CASE WHEN {too_long} THEN NULL ELSE {value} END"),
        Handling::Truncate => format!("{MACRO_SCHEMA}.byte_prefix({value}, {width})"),
        Handling::Fail => format!(
            "CASE WHEN {too_long} THEN error({} || {uri}) ELSE {value} END",
            duck_literal(&format!(
                "Spectrum Scan Error: {PROPERTY} FAIL: the value of column {column} of external table {table} is \
                 longer than its width of {width} bytes, in file "
            ))
        ),
    }
}

/// For DROP_ROW: the condition a row must meet to be kept.
pub fn keep_row_sql(values: &[(String, u32)]) -> Option<String> {
    (!values.is_empty()).then(|| {
        values.iter().map(|(v, w)| format!("coalesce(strlen({v}) <= {w}, true)")).collect::<Vec<_>>().join(" AND ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_handlings() {
        assert_eq!(width("varchar(84)"), Some(84));
        assert_eq!(width("CHAR(3)"), Some(3));
        assert_eq!(width("string"), Some(65535));
        assert_eq!(width("int"), None);
        assert_eq!(Handling::parse(None), Ok(Handling::SetToNull));
        assert_eq!(Handling::parse(Some("DISABLED")), Ok(Handling::SetToNull));
        assert_eq!(Handling::parse(Some("DROP_ROW")), Ok(Handling::DropRow));
        assert!(Handling::parse(Some("truncate")).is_err(), "values are case-sensitive");
    }
}
