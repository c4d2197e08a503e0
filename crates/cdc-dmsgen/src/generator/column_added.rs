//! A column added at the source mid-stream (docs/table-lifecycle.md,
//! "Schema changes"): from then on DMS writes it into the table's files.
//! A row image captured before the ALTER has no value for it, so the
//! column is NULL there; rows changed since carry it.

use super::Generator;
use crate::error::GenError;
use crate::model::{Micros, Table};

/// A column the source added to a table after its full load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedSourceColumn {
    pub table: &'static str,
    pub name: &'static str,
    /// Its value, as a DuckDB expression over the row's other columns.
    pub value: String,
    /// The ALTER's time: row images from here on carry the column.
    pub(crate) since: Micros,
}

impl AddedSourceColumn {
    /// The column's value in a row whose image was taken at `ts_sql`
    /// (a TIMESTAMP expression): NULL before the ALTER.
    pub fn value_at(&self, ts_sql: &str) -> String {
        format!(
            "CASE WHEN CAST({ts_sql} AS TIMESTAMP) >= TIMESTAMP '{}' THEN {} END",
            self.since.to_datetime().format("%Y-%m-%d %H:%M:%S%.6f"),
            self.value
        )
    }
}

/// The column the generator adds to `table`: `note`, text derived from the
/// table's first column, so the oracle can tell every row's value.
fn note_column(t: Table) -> (&'static str, String) {
    let first = t.columns()[0].0;
    ("note", format!("'{}-' || CAST(\"{first}\" AS VARCHAR)", t.name()))
}

impl Generator {
    /// Adds a text column `note` to `table` at the source now: every file
    /// written from here on carries it (NULL for row images older than now).
    pub fn add_column(&mut self, table: &str) -> Result<AddedSourceColumn, GenError> {
        let t = Table::by_name(table).ok_or_else(|| GenError::Config(format!("no table {table:?} to alter")))?;
        if self.log.added_columns.iter().any(|c| c.table == t.name()) {
            return Err(GenError::State(format!("{table} already has its added column")));
        }
        let (name, value) = note_column(t);
        let added = AddedSourceColumn { table: t.name(), name, value, since: self.clock };
        self.writer.add_column(t, &added);
        self.log.added_columns.push(added.clone());
        tracing::info!(table, column = name, now = %self.now(), "column added at the source");
        Ok(added)
    }

    /// Widens `pgbench_tellers.filler` at the source to `chars` characters
    /// (`ALTER COLUMN … TYPE VARCHAR(chars)`), and from now on each teller
    /// update writes a filler that long: only the values show the change,
    /// since Parquet carries no string length.
    pub fn widen_teller_filler(&mut self, chars: usize) {
        self.db.wide_teller_filler = Some(chars);
        tracing::info!(chars, now = %self.now(), "pgbench_tellers.filler widened at the source");
    }

    /// Makes `table.column`, an integer, a bigint at the source now
    /// (`ALTER COLUMN … TYPE bigint`): every file written from here on,
    /// full loads included, writes it as INT64. The values do not change.
    pub fn retype_to_bigint(&mut self, table: &str, column: &str) -> Result<(), GenError> {
        let t = Table::by_name(table).ok_or_else(|| GenError::Config(format!("no table {table:?} to alter")))?;
        let Some((name, _)) = t.columns().iter().find(|(c, ty)| *c == column && *ty == "INTEGER") else {
            return Err(GenError::Config(format!("{table} has no integer column {column:?} to make bigint")));
        };
        if self.log.retyped_columns.iter().any(|(tt, c)| *tt == t.name() && c == name) {
            return Err(GenError::State(format!("{table}.{column} is a bigint already")));
        }
        self.writer.retype_to_bigint(t, name);
        self.log.retyped_columns.push((t.name(), name));
        tracing::info!(table, column, now = %self.now(), "column made bigint at the source");
        Ok(())
    }

    /// The columns of `table` the source made bigint.
    pub fn retyped_columns(&self, table: &str) -> Vec<&'static str> {
        self.log.retyped_columns.iter().filter(|(t, _)| *t == table).map(|(_, c)| *c).collect()
    }

    /// The columns added to `table` at the source, in order.
    pub fn added_columns(&self, table: &str) -> Vec<&'static str> {
        self.log.added_columns.iter().filter(|c| c.table == table).map(|c| c.name).collect()
    }
}
