//! Column types from DuckDB's catalog, for the rewrites that depend on
//! whether a column is text ([`crate::rules::trailing_blanks`]).

use std::collections::{BTreeSet, HashMap};

use duckdb::Connection;
use sqlparser::tokenizer::Token;

use crate::statement::DEFAULT_SCHEMA;

/// What a column name is, over the relations a statement references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// VARCHAR in every referenced relation that has it.
    Text,
    /// Another type in every referenced relation that has it.
    Other,
    /// Not found, or text in one relation and not in another.
    Unknown,
}

/// Column names of the referenced relations, with whether each is text.
#[derive(Debug, Clone, Default)]
pub struct ColumnTypes {
    /// name → (seen as VARCHAR, seen as another type)
    names: HashMap<String, (bool, bool)>,
}

impl ColumnTypes {
    pub fn kind(&self, column: &str) -> ColumnKind {
        match self.names.get(&column.to_lowercase()) {
            Some((true, false)) => ColumnKind::Text,
            Some((false, true)) => ColumnKind::Other,
            _ => ColumnKind::Unknown,
        }
    }

    /// For tests: the given columns as text (`true`) or not.
    pub fn from_pairs(pairs: &[(&str, bool)]) -> Self {
        let mut out = Self::default();
        for (name, text) in pairs {
            out.add(name, *text);
        }
        out
    }

    fn add(&mut self, name: &str, text: bool) {
        let e = self.names.entry(name.to_lowercase()).or_default();
        if text {
            e.0 = true;
        } else {
            e.1 = true;
        }
    }

    /// The columns of the tables, temporary tables and views the tokens name:
    /// `schema.table` pairs, and bare names looked up in `public` and among
    /// the session's temporary tables.
    pub fn load(conn: &Connection, tokens: &[Token]) -> duckdb::Result<Self> {
        let qualified: BTreeSet<(String, String)> = crate::engine::relations(tokens).into_iter().collect();
        let bare: BTreeSet<String> = tokens
            .iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w.value.to_lowercase()),
                _ => None,
            })
            .collect();
        let mut out = Self::default();
        if bare.is_empty() {
            return Ok(out);
        }
        let mut stmt = conn.prepare(
            "SELECT database_name, schema_name, table_name, column_name, data_type FROM duckdb_columns() WHERE NOT \
             internal",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (db, schema, table, column, ty): (String, String, String, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            let (schema, table) = (schema.to_lowercase(), table.to_lowercase());
            let temp = db == "temp";
            let named = (!temp && qualified.contains(&(schema.clone(), table.clone())))
                || (bare.contains(&table) && (temp || schema == DEFAULT_SCHEMA));
            if named {
                out.add(&column, ty == "VARCHAR");
            }
        }
        Ok(out)
    }
}
