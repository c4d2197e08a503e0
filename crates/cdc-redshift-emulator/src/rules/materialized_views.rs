//! Rule 7: what a materialized view's query may not reference, checked at
//! CREATE MATERIALIZED VIEW.

use duckdb::Connection;
use sqlparser::tokenizer::Token;

use super::Rule;
use crate::translate::{keyword, significant};

pub const RULE: Rule = Rule {
    name: "materialized view limitations",
    documented: "\"You can't define a materialized view that references or includes any of the following: Standard \
                 views, or system tables and views. Temporary tables. User-defined functions. The ORDER BY, LIMIT, \
                 or OFFSET clause. … Leader node-only functions: CURRENT_SCHEMA, CURRENT_SCHEMAS, \
                 HAS_DATABASE_PRIVILEGE, HAS_SCHEMA_PRIVILEGE, HAS_TABLE_PRIVILEGE.\" External tables are allowed \
                 (\"based on one or more Amazon Redshift tables or external tables\"). UDF names: \"Amazon Redshift \
                 reserves the f_ prefix exclusively for UDFs\" (udf-naming-udfs.html). The newer page \
                 materialized-view-UDFs.html allows scalar UDFs; the emulator keeps the stricter list.",
    url: "https://docs.aws.amazon.com/redshift/latest/dg/materialized-view-create-sql-command.html",
    emulated: "Refused at CREATE: top-level ORDER BY/LIMIT/OFFSET; DuckDB views other than the external (Spectrum) \
               tables; pg_*, stl_*, stv_*, svl_*, svv_*, sys_*, information_schema.* and pg_catalog.* relations; \
               temporary tables; f_* and schema-qualified function calls; the leader-node-only functions.",
};

const LEADER_ONLY: &[&str] =
    &["CURRENT_SCHEMA", "CURRENT_SCHEMAS", "HAS_DATABASE_PRIVILEGE", "HAS_SCHEMA_PRIVILEGE", "HAS_TABLE_PRIVILEGE"];

fn refused(what: String) -> String {
    format!("ERROR: materialized views cannot reference {what} (CREATE MATERIALIZED VIEW limitations, {})", RULE.url)
}

fn is_system(schema: Option<&str>, name: &str) -> bool {
    matches!(schema, Some("information_schema" | "pg_catalog"))
        || ["pg_", "stl_", "stv_", "svl_", "svv_", "sys_"].iter().any(|p| name.starts_with(p))
}

/// Checks a materialized view's query (Redshift tokens). `external` tells
/// whether a schema is an external (Spectrum) schema.
pub fn check(conn: &Connection, query: &[Token], external: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let sig = significant(query);
    let mut depth = 0usize;
    for (i, t) in sig.iter().enumerate() {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        let kw = keyword(t).unwrap_or_default();
        if depth == 0
            && (matches!(kw.as_str(), "LIMIT" | "OFFSET")
                || (kw == "ORDER" && sig.get(i + 1).and_then(|t| keyword(t)).as_deref() == Some("BY")))
        {
            let clause = if kw == "ORDER" { "ORDER BY".to_string() } else { kw };
            return Err(refused(format!("the {clause} clause")));
        }
        let Token::Word(w) = t else { continue };
        let qualified = i > 0 && sig[i - 1] == &Token::Period;
        let called = sig.get(i + 1) == Some(&&Token::LParen);
        let upper = w.value.to_ascii_uppercase();
        if !qualified && w.quote_style.is_none() && LEADER_ONLY.contains(&upper.as_str()) {
            return Err(refused(format!("the leader node-only function {}", w.value.to_lowercase())));
        }
        if called && (w.value.to_lowercase().starts_with("f_") || qualified) {
            let name = if qualified {
                format!("{}.{}", crate::translate::identifier(sig[i - 2]).unwrap_or_default(), w.value.to_lowercase())
            } else {
                w.value.to_lowercase()
            };
            return Err(refused(format!("user-defined functions ({name})")));
        }
    }
    for (schema, name) in referenced(&sig) {
        if is_system(schema.as_deref(), &name) {
            let shown = schema.as_ref().map_or(name.clone(), |s| format!("{s}.{name}"));
            return Err(refused(format!("system tables or views ({shown})")));
        }
        let kind: Option<(String, bool)> = conn
            .prepare(
                "SELECT CASE WHEN table_name IS NULL THEN 'view' ELSE 'table' END, temp FROM (SELECT table_name, \
                 temporary AS temp, schema_name, NULL AS v FROM duckdb_tables() UNION ALL SELECT NULL, temporary, \
                 schema_name, view_name FROM duckdb_views() WHERE NOT internal) WHERE coalesce(table_name, v) = ? AND \
                 (schema_name = ? OR (? AND (temp OR schema_name = 'public'))) LIMIT 1",
            )
            .and_then(|mut s| {
                let unqualified = schema.is_none();
                let schema = schema.clone().unwrap_or_default();
                s.query_row(duckdb::params![name, schema, unqualified], |r| Ok((r.get(0)?, r.get(1)?)))
            })
            .ok();
        let shown = schema.as_ref().map_or(name.clone(), |s| format!("{s}.{name}"));
        match kind {
            Some((_, true)) => return Err(refused(format!("temporary tables ({shown})"))),
            Some((k, false)) if k == "view" && !schema.as_deref().is_some_and(external) => {
                return Err(refused(format!("standard views ({shown})")));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Relations after FROM or JOIN (and after commas in a FROM list): `name`
/// or `schema.name`.
fn referenced(sig: &[&Token]) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    for i in 0..sig.len() {
        let kw = keyword(sig[i]).unwrap_or_default();
        if !(kw == "FROM" || kw == "JOIN") {
            continue;
        }
        let Some(first) = sig.get(i + 1).and_then(|t| match t {
            Token::Word(_) => crate::translate::identifier(t),
            _ => None,
        }) else {
            continue;
        };
        if sig.get(i + 2) == Some(&&Token::Period) {
            if let Some(second) = sig.get(i + 3).and_then(|t| crate::translate::identifier(t)) {
                out.push((Some(first), second));
            }
        } else {
            out.push((None, first));
        }
    }
    out
}
