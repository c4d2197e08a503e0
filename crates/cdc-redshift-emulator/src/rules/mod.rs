//! Where Redshift is stricter than DuckDB, and how the emulator makes DuckDB
//! as strict: one module per rule, each with its [`Rule`] (the
//! documentation's sentence, its link, and what is emulated). Where the
//! documentation is silent, the rule says so and takes the stricter reading,
//! so that SQL passing the emulator does not fail on Redshift.
//!
//! 1. [`plpgsql`]: stored procedure bodies run by a small PL/pgSQL
//!    interpreter; RAISE arguments must be simple variables (checked at CREATE).
//! 2. [`character_length`]: VARCHAR(n)/CHAR(n) count bytes on write; CHAR
//!    holds single-byte characters only.
//! 3. [`sized_casts`]: `CAST(x AS VARCHAR(n))` truncates to n bytes.
//! 4. [`boolean_casts`]: BOOLEAN to a character type is refused.
//! 5. [`trailing_blanks`]: trailing blanks are insignificant in comparisons.
//! 6. [`transaction_block`]: statements refused inside a transaction block;
//!    TRUNCATE commits; ExecuteStatement runs outside a block.
//! 7. [`materialized_views`]: what a materialized view may not reference.
//! 8. [`unload_maxfilesize`]: Parquet MAXFILESIZE rounds down to 32 MB.
//! 9. [`surplus_chars`]: Spectrum's `surplus_char_handling`.
//! 10. [`parquet_types`]: Spectrum reads a Parquet column only as its own type.
//! 11. [`add_column`]: one column per `ALTER TABLE … ADD COLUMN`.
//! 12. [`table_keys`]: a DISTKEY or SORTKEY column cannot be dropped.
//! 13. [`table_locks`]: LOCK waits for and holds a table until the transaction ends.

pub mod add_column;
pub mod boolean_casts;
pub mod character_length;
pub mod materialized_views;
pub mod parquet_types;
pub mod plpgsql;
pub mod sized_casts;
pub mod surplus_chars;
pub mod table_keys;
pub mod table_locks;
pub mod trailing_blanks;
pub mod transaction_block;
pub mod unload_maxfilesize;

use duckdb::Connection;

/// One Redshift rule the emulator enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Short name, used in error messages.
    pub name: &'static str,
    /// The documentation's own sentence, or what the docs do not say.
    pub documented: &'static str,
    /// Where it is written (or, where the docs are silent, the evidence).
    pub url: &'static str,
    /// What the emulator does about it.
    pub emulated: &'static str,
}

/// Every rule, in the order above.
pub const ALL: &[&Rule] = &[
    &plpgsql::RULE,
    &character_length::RULE,
    &sized_casts::RULE,
    &boolean_casts::RULE,
    &trailing_blanks::RULE,
    &transaction_block::RULE,
    &materialized_views::RULE,
    &unload_maxfilesize::RULE,
    &surplus_chars::RULE,
    &parquet_types::RULE,
    &add_column::RULE,
    &table_keys::RULE,
    &table_locks::RULE,
];

/// The schema holding the emulator's own macros (the metadata schema).
pub const MACRO_SCHEMA: &str = crate::engine::META_SCHEMA;

/// Creates the macros the translated SQL calls. Run at every start, so a
/// database file made by an older emulator gets the current ones.
pub fn install_macros(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(&character_length::macros_sql())?;
    // The cast macros (made by boolean_casts) call byte_prefix.
    conn.execute_batch(&sized_casts::macros_sql())?;
    conn.execute_batch(&boolean_casts::macros_sql())?;
    conn.execute_batch(&trailing_blanks::macros_sql())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_names_its_source() {
        for rule in ALL {
            assert!(rule.url.starts_with("https://"), "{}: {}", rule.name, rule.url);
            assert!(!rule.documented.is_empty() && !rule.emulated.is_empty(), "{}", rule.name);
        }
    }
}
