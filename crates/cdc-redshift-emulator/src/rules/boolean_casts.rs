//! Rule 4: Redshift refuses to cast BOOLEAN to a character type.
//!
//! Every cast to a character type goes through one of the emulator's macros
//! ([`super::sized_casts`]); each has a BOOLEAN overload whose body calls a
//! function that is dropped right after the macro is created. DuckDB picks
//! the typed overload for a BOOLEAN argument and then fails to bind it
//! ("function … does not exist"), at plan time, so the cast is refused even
//! when no row is ever cast, as Redshift refuses it.

use super::{MACRO_SCHEMA, Rule};

pub const RULE: Rule = Rule {
    name: "no cast from BOOLEAN to a character type",
    documented: "No AWS sentence: the type conversion table of c_Supported_data_types.html could not be read. Real \
                 Redshift answers `ERROR: cannot cast type boolean to character varying` (SQLSTATE 42846) to \
                 `cast(TRUE as varchar)` and `col::text`, as reported in dbt-labs/dbt-utils#1016, \
                 elementary-data/elementary#1540 and datafold/data-diff#280.",
    url: "https://github.com/dbt-labs/dbt-utils/issues/1016",
    emulated: "CAST(b AS VARCHAR…/CHAR…/TEXT) and b::varchar/b::text of a BOOLEAN fail at plan time with Redshift's \
               text; NULL literals still cast.",
};

/// The function the BOOLEAN overloads call; it never exists when they bind.
pub const MARKER: &str = "cannot_cast_type_boolean_to_character_varying";

/// Redshift's error.
pub const ERROR: &str = "ERROR: cannot cast type boolean to character varying";

/// Creates the cast macros: `text_cast(x)` and `sized_text_cast(x, n)`, each
/// refusing BOOLEAN.
pub fn macros_sql() -> String {
    let s = MACRO_SCHEMA;
    format!(
        "CREATE OR REPLACE MACRO {s}.{MARKER}(x) AS x;
         CREATE OR REPLACE MACRO {s}.text_cast(x BOOLEAN) AS {s}.{MARKER}(x), (x) AS CAST(x AS VARCHAR);
         CREATE OR REPLACE MACRO {s}.sized_text_cast(x BOOLEAN, n) AS {s}.{MARKER}(x),
             (x, n) AS {s}.byte_prefix(CAST(x AS VARCHAR), n);
         DROP MACRO {s}.{MARKER};"
    )
}

/// Redshift's text for DuckDB's failure to bind the BOOLEAN overload.
pub fn redshift_text(duckdb_message: &str) -> Option<String> {
    duckdb_message.contains(MARKER).then(|| ERROR.to_string())
}
