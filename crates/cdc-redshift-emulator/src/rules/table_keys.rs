//! Rule 12: a table's DISTKEY and SORTKEY columns cannot be dropped.
//!
//! DuckDB has no distribution or sort keys (the translation drops them from
//! CREATE TABLE), so it would drop such a column where Redshift refuses. The
//! pipeline changes a column's type by adding, copying, dropping and
//! renaming (docs/table-lifecycle.md, "Type changes"), and never does so to a
//! key column, which is the target's DISTKEY and SORTKEY: this rule is what
//! makes SQL that tried fail here as on Redshift.

use duckdb::Connection;
use sqlparser::tokenizer::Token;

use super::Rule;
use crate::engine::META_SCHEMA;
use crate::statement::{DEFAULT_SCHEMA, QualifiedName};
use crate::translate::{identifier, is_keyword, significant, tokenize};

pub const RULE: Rule = Rule {
    name: "DISTKEY and SORTKEY columns cannot be dropped",
    documented: "DROP [ COLUMN ] column_name: \"You can't drop a column that is the distribution key (DISTKEY) or a \
                 sort key (SORTKEY) of the table. The default behavior for DROP COLUMN is RESTRICT if the column has \
                 any dependent objects, such as a view, primary key, foreign key, or UNIQUE restriction.\"",
    url: "https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html",
    emulated: "CREATE TABLE records its DISTKEY and SORTKEY columns (table constraints `DISTKEY(…)`, \
               `[COMPOUND|INTERLEAVED] SORTKEY(…)`, or column attributes) in __redshift_emulator.table_keys; \
               ALTER TABLE … DROP [COLUMN] of one is refused with the page's sentence before it runs; RENAME COLUMN \
               and DROP TABLE keep the record right. RESTRICT for a column a view depends on is not emulated.",
};

/// Creates the record of key columns.
pub fn init(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {META_SCHEMA}.table_keys (schema_name VARCHAR, table_name VARCHAR, \
         column_name VARCHAR)"
    ))
}

/// What a statement means for the record, read from its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStatement {
    Create { table: QualifiedName, keys: Vec<String> },
    DropColumn { table: QualifiedName, column: String },
    RenameColumn { table: QualifiedName, from: String, to: String },
    DropTable { table: QualifiedName },
}

/// Refuses dropping a key column; run before the statement.
pub fn check(conn: &Connection, statement: Option<&KeyStatement>) -> Result<(), String> {
    let Some(KeyStatement::DropColumn { table, column }) = statement else { return Ok(()) };
    if is_key(conn, table, column).map_err(|e| e.to_string())? {
        return Err(format!(
            "ERROR: column \"{column}\" of table {table} is its distribution key or a sort key: you can't drop a \
             column that is the distribution key (DISTKEY) or a sort key (SORTKEY) of the table ({})",
            RULE.name
        ));
    }
    Ok(())
}

/// Keeps the record right after the statement ran.
pub fn record(conn: &Connection, statement: Option<&KeyStatement>) -> duckdb::Result<()> {
    let forget = format!("DELETE FROM {META_SCHEMA}.table_keys WHERE schema_name = ? AND table_name = ?");
    match statement {
        Some(KeyStatement::Create { table, keys }) => {
            conn.execute(&forget, [&table.schema, &table.name])?;
            for k in keys {
                conn.execute(
                    &format!("INSERT INTO {META_SCHEMA}.table_keys VALUES (?, ?, ?)"),
                    [&table.schema, &table.name, k],
                )?;
            }
        }
        Some(KeyStatement::RenameColumn { table, from, to }) => {
            conn.execute(
                &format!(
                    "UPDATE {META_SCHEMA}.table_keys SET column_name = ? WHERE schema_name = ? AND table_name = ? \
                     AND column_name = ?"
                ),
                [to, &table.schema, &table.name, from],
            )?;
        }
        Some(KeyStatement::DropTable { table }) => {
            conn.execute(&forget, [&table.schema, &table.name])?;
        }
        Some(KeyStatement::DropColumn { .. }) | None => {}
    }
    Ok(())
}

fn is_key(conn: &Connection, table: &QualifiedName, column: &str) -> duckdb::Result<bool> {
    let n: i64 = conn.query_row(
        &format!(
            "SELECT count(*) FROM {META_SCHEMA}.table_keys WHERE schema_name = ? AND table_name = ? AND column_name = ?"
        ),
        [&table.schema, &table.name, column],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// What `sql` means for the record, if anything; read once per statement.
pub fn classify(sql: &str) -> Option<KeyStatement> {
    let tokens = tokenize(sql).ok()?;
    let sig = significant(&tokens);
    let kw = |i: usize, k: &str| is_keyword(sig.get(i), k);
    if kw(0, "CREATE") && kw(1, "TABLE") {
        let at = if kw(2, "IF") && kw(3, "NOT") && kw(4, "EXISTS") { 5 } else { 2 };
        let (table, next) = name_at(&sig, at)?;
        return Some(KeyStatement::Create { table, keys: create_keys(&sig[next..]) });
    }
    if kw(0, "DROP") && kw(1, "TABLE") {
        let at = if kw(2, "IF") && kw(3, "EXISTS") { 4 } else { 2 };
        return Some(KeyStatement::DropTable { table: name_at(&sig, at)?.0 });
    }
    if !(kw(0, "ALTER") && kw(1, "TABLE")) {
        return None;
    }
    let (table, i) = name_at(&sig, 2)?;
    let kw = |k: usize, w: &str| is_keyword(sig.get(i + k), w);
    let ident = |k: usize| sig.get(i + k).and_then(|t| identifier(t));
    if kw(0, "DROP") && !kw(1, "CONSTRAINT") {
        let at = if kw(1, "COLUMN") { 2 } else { 1 };
        return Some(KeyStatement::DropColumn { table, column: ident(at)? });
    }
    if kw(0, "RENAME") && kw(1, "COLUMN") && kw(3, "TO") {
        return Some(KeyStatement::RenameColumn { table, from: ident(2)?, to: ident(4)? });
    }
    None
}

/// `schema.name` or `name` at `at`, and the index after it.
fn name_at(sig: &[&Token], at: usize) -> Option<(QualifiedName, usize)> {
    match (sig.get(at), sig.get(at + 1), sig.get(at + 2)) {
        (Some(a), Some(Token::Period), Some(b)) => {
            Some((QualifiedName { schema: identifier(a)?, name: identifier(b)? }, at + 3))
        }
        (Some(a), _, _) => Some((QualifiedName { schema: DEFAULT_SCHEMA.into(), name: identifier(a)? }, at + 1)),
        _ => None,
    }
}

/// The DISTKEY and SORTKEY columns of a CREATE TABLE, from its column list
/// on: column attributes and the table constraints after the list.
fn create_keys(rest: &[&Token]) -> Vec<String> {
    let mut keys = Vec::new();
    let mut depth = 0;
    let mut column_start = true;
    let mut column: Option<String> = None;
    let mut i = 0;
    while i < rest.len() {
        let t = rest[i];
        match t {
            Token::LParen => {
                depth += 1;
                column_start = depth == 1;
            }
            Token::RParen => depth -= 1,
            Token::Comma if depth == 1 => column_start = true,
            _ if depth == 1 && column_start => {
                column = identifier(t);
                column_start = false;
            }
            // A column attribute: `DISTKEY` or `SORTKEY` with no list after it.
            _ if depth == 1
                && (is_keyword(Some(&t), "DISTKEY") || is_keyword(Some(&t), "SORTKEY"))
                && !matches!(rest.get(i + 1), Some(Token::LParen)) =>
            {
                keys.extend(column.clone());
            }
            // A table constraint after the list: `DISTKEY (a)`, `SORTKEY (a, b)`.
            _ if depth == 0
                && (is_keyword(Some(&t), "DISTKEY") || is_keyword(Some(&t), "SORTKEY"))
                && matches!(rest.get(i + 1), Some(Token::LParen)) =>
            {
                let mut j = i + 2;
                while let Some(t) = rest.get(j).filter(|t| !matches!(t, Token::RParen)) {
                    keys.extend(identifier(t));
                    j += 1;
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_of(sql: &str) -> Vec<String> {
        match classify(sql) {
            Some(KeyStatement::Create { keys, .. }) => keys,
            other => panic!("not a CREATE TABLE: {other:?}"),
        }
    }

    #[test]
    fn create_table_keys_are_read_from_constraints_and_attributes() {
        assert_eq!(
            keys_of(
                "CREATE TABLE IF NOT EXISTS \"public\".\"t\" (\"a\" INTEGER, b VARCHAR(10)) DISTKEY(\"a\") SORTKEY(\"a\", b)"
            ),
            ["a", "b"]
        );
        assert_eq!(keys_of("CREATE TABLE t (a INT ENCODE az64 DISTKEY, c DECIMAL(10, 2) SORTKEY, d INT)"), ["a", "c"]);
        assert_eq!(keys_of("CREATE TABLE s.t (a INT, ts TIMESTAMP) DISTSTYLE AUTO COMPOUND SORTKEY(ts)"), ["ts"]);
        assert!(keys_of("CREATE TABLE t (a INT)").is_empty());
    }

    #[test]
    fn drop_and_rename_column_are_recognised_and_drop_constraint_is_not() {
        let t = QualifiedName { schema: "s".into(), name: "t".into() };
        assert_eq!(
            classify("ALTER TABLE s.t DROP COLUMN \"a\""),
            Some(KeyStatement::DropColumn { table: t.clone(), column: "a".into() })
        );
        assert_eq!(
            classify("ALTER TABLE s.t DROP a"),
            Some(KeyStatement::DropColumn { table: t.clone(), column: "a".into() })
        );
        assert_eq!(classify("ALTER TABLE s.t DROP CONSTRAINT k"), None);
        assert_eq!(
            classify("ALTER TABLE s.t RENAME COLUMN x TO \"a\""),
            Some(KeyStatement::RenameColumn { table: t, from: "x".into(), to: "a".into() })
        );
    }
}
