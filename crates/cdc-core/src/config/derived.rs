//! A derived table's SELECT, checked when the config loads against what a
//! Redshift materialized view may contain (CREATE MATERIALIZED VIEW,
//! "Limitations"; docs/redshift.md), so a bad one fails at config load
//! naming the clause instead of failing setup on the cluster:
//! - no ORDER BY (outside a window's `OVER (…)` or `WITHIN GROUP (…)`),
//!   LIMIT, OFFSET, TOP or FETCH;
//! - no standard views, system tables or views, or temporary tables: every
//!   relation is one of the pipeline's tables (the target schema's tables,
//!   earlier derived tables, or the raw zone's external tables) or a name
//!   the query's own WITH defines;
//! - no user-defined functions (Redshift reserves the `f_` prefix for them;
//!   a schema-qualified call is one too) and no leader-node-only functions.
//!
//! Relations must be schema-qualified: DuckDB and Redshift resolve bare
//! names in different default schemas.

use std::collections::BTreeSet;

use sqlparser::dialect::RedshiftSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// What a derived SELECT may read.
pub(super) struct Scope<'a> {
    pub target_schema: &'a str,
    pub raw_schema: &'a str,
    /// Config tables and the derived tables defined before this one.
    pub tables: &'a BTreeSet<String>,
    /// Config tables, whose raw zone tables are `raw_full_<t>`/`raw_cdc_<t>`.
    pub raw_tables: &'a BTreeSet<String>,
}

const LEADER_NODE_ONLY: &[&str] =
    &["current_schema", "current_schemas", "has_database_privilege", "has_schema_privilege", "has_table_privilege"];
const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema", "pg_internal", "pg_automv", "pg_temp"];
const SYSTEM_PREFIXES: &[&str] = &["pg_", "stl_", "stv_", "svl_", "svv_", "sys_", "svcs_", "stcs_"];
/// Words that end a FROM list at its own depth.
const FROM_LIST_END: &[&str] = &[
    "WHERE",
    "GROUP",
    "HAVING",
    "QUALIFY",
    "WINDOW",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "MINUS",
    "ORDER",
    "LIMIT",
    "OFFSET",
];

fn keyword(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

fn name(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_some() => Some(w.value.clone()),
        Token::Word(w) => Some(w.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// Checks `sql`; the error says what Redshift refuses and why.
pub(super) fn check_materialized_view(sql: &str, scope: &Scope<'_>) -> Result<(), String> {
    let tokens = Tokenizer::new(&RedshiftSqlDialect {}, sql)
        .tokenize()
        .map_err(|e| format!("field `sql` does not parse: {e}"))?;
    let sig: Vec<&Token> = tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))).collect();
    if sig.iter().any(|t| **t == Token::SemiColon) {
        return Err("field `sql` must be one SELECT statement".into());
    }
    match sig.first().and_then(|t| keyword(t)).as_deref() {
        Some("SELECT" | "WITH") => {}
        _ => return Err("field `sql` must be one SELECT statement".into()),
    }
    let ctes = cte_names(&sig);
    check_clauses(&sig)?;
    check_functions(&sig)?;
    for (i, relation) in relations(&sig) {
        check_relation(&relation, &ctes, scope).map_err(|e| format!("field `sql`: {e} (token {})", i + 1))?;
    }
    Ok(())
}

/// ORDER BY outside a window, LIMIT, OFFSET, TOP, FETCH.
fn check_clauses(sig: &[&Token]) -> Result<(), String> {
    // For each open parenthesis: whether it opened a window specification.
    let mut windows: Vec<bool> = Vec::new();
    for (i, t) in sig.iter().enumerate() {
        match t {
            Token::LParen => {
                let before = i.checked_sub(1).and_then(|j| keyword(sig[j]));
                windows.push(matches!(before.as_deref(), Some("OVER" | "GROUP")));
            }
            Token::RParen => {
                windows.pop();
            }
            _ => match keyword(t).as_deref() {
                Some("ORDER") if !windows.last().copied().unwrap_or(false) => {
                    return Err(refused("an ORDER BY clause"));
                }
                Some(clause @ ("LIMIT" | "OFFSET" | "TOP" | "FETCH")) => {
                    return Err(refused(&format!("a {clause} clause")));
                }
                _ => {}
            },
        }
    }
    Ok(())
}

fn refused(what: &str) -> String {
    format!(
        "field `sql` has {what}: a Redshift materialized view cannot include ORDER BY, LIMIT or OFFSET \
         (CREATE MATERIALIZED VIEW limitations); order when you query it"
    )
}

fn check_functions(sig: &[&Token]) -> Result<(), String> {
    for i in 0..sig.len().saturating_sub(1) {
        if *sig[i + 1] != Token::LParen {
            continue;
        }
        let Some(f) = name(sig[i]) else { continue };
        let qualified = i > 0 && *sig[i - 1] == Token::Period;
        if qualified || f.to_ascii_lowercase().starts_with("f_") {
            return Err(format!(
                "field `sql` calls {f}(), a user-defined function (Redshift reserves the f_ prefix for them; a \
                 schema-qualified call is one too): a materialized view cannot reference user-defined functions"
            ));
        }
        if LEADER_NODE_ONLY.contains(&f.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "field `sql` calls {f}(), a leader-node-only function, which a materialized view cannot reference"
            ));
        }
    }
    Ok(())
}

/// Names the query's WITH clause defines.
fn cte_names(sig: &[&Token]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < sig.len() {
        if keyword(sig[i]).as_deref() == Some("WITH") {
            let mut j = i + 1;
            if keyword_at(sig, j) == Some("RECURSIVE".into()) {
                j += 1;
            }
            // name [(columns)] AS ( … ) [, name …]
            while let Some(n) = sig.get(j).and_then(|t| name(t)) {
                out.insert(n);
                j += 1;
                if sig.get(j) == Some(&&Token::LParen) {
                    j = close_of(sig, j) + 1;
                }
                if keyword_at(sig, j).as_deref() != Some("AS") {
                    break;
                }
                j += 1;
                if sig.get(j) != Some(&&Token::LParen) {
                    break;
                }
                j = close_of(sig, j) + 1;
                if sig.get(j) != Some(&&Token::Comma) {
                    break;
                }
                j += 1;
            }
        }
        i += 1;
    }
    out
}

fn keyword_at(sig: &[&Token], i: usize) -> Option<String> {
    sig.get(i).and_then(|t| keyword(t))
}

/// The index of the `)` closing the `(` at `open`, or the end.
fn close_of(sig: &[&Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, t) in sig.iter().enumerate().skip(open) {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    sig.len()
}

/// Every relation named after FROM, JOIN, or a comma of a FROM list, as its
/// name parts, with the token index. A FROM inside a function's
/// parentheses (`EXTRACT(year FROM ts)`, `TRIM(… FROM x)`) is no clause:
/// only the query's own level and subquery parentheses hold clauses.
fn relations(sig: &[&Token]) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    // Per open level (the query, then each parenthesis): whether it holds a
    // query, and whether its FROM list is open.
    let mut levels: Vec<(bool, bool)> = vec![(true, false)];
    let mut i = 0;
    while i < sig.len() {
        let t = sig[i];
        let (is_query, from_open) = *levels.last().expect("the query level");
        let kw = keyword(t);
        let starts_relation = match (t, kw.as_deref()) {
            (Token::LParen, _) => {
                let inner = matches!(keyword_at(sig, i + 1).as_deref(), Some("SELECT" | "WITH"));
                levels.push((inner, false));
                false
            }
            (Token::RParen, _) => {
                if levels.len() > 1 {
                    levels.pop();
                }
                false
            }
            (_, Some("FROM")) if is_query => {
                levels.last_mut().expect("a level").1 = true;
                true
            }
            (_, Some("JOIN")) if is_query => true,
            (Token::Comma, _) => from_open,
            (_, Some(k)) if FROM_LIST_END.contains(&k) => {
                levels.last_mut().expect("a level").1 = false;
                false
            }
            _ => false,
        };
        i += 1;
        if !starts_relation {
            continue;
        }
        if keyword_at(sig, i).as_deref() == Some("LATERAL") {
            i += 1;
        }
        // A subquery or a function in FROM is not a relation name.
        if sig.get(i) == Some(&&Token::LParen) {
            continue;
        }
        let mut parts = Vec::new();
        let at = i;
        while let Some(n) = sig.get(i).and_then(|t| name(t)) {
            parts.push(n);
            i += 1;
            if sig.get(i) != Some(&&Token::Period) {
                break;
            }
            i += 1;
        }
        if !parts.is_empty() && sig.get(i) != Some(&&Token::LParen) {
            out.push((at, parts));
        }
    }
    out
}

fn check_relation(parts: &[String], ctes: &BTreeSet<String>, scope: &Scope<'_>) -> Result<(), String> {
    let shown = parts.join(".");
    let system = |s: &str| SYSTEM_SCHEMAS.contains(&s) || SYSTEM_PREFIXES.iter().any(|p| s.starts_with(p));
    match parts {
        [table] if ctes.contains(table) => Ok(()),
        [table] if system(table) => Err(system_relation(&shown)),
        [_] => Err(format!(
            "relation {shown} must be schema-qualified ({}.<table>): DuckDB and Redshift resolve bare names in \
             different schemas",
            scope.target_schema
        )),
        [schema, table] if system(schema) || system(table) => Err(system_relation(&shown)),
        [schema, table] if schema == scope.target_schema => {
            if scope.tables.contains(table) {
                Ok(())
            } else {
                Err(format!(
                    "relation {shown} is not a table of this pipeline or an earlier derived table: a Redshift \
                     materialized view cannot reference standard views or temporary tables, and a derived table \
                     reads what the pipeline loads"
                ))
            }
        }
        [schema, table] if schema == scope.raw_schema => {
            let raw = ["raw_full_", "raw_cdc_"]
                .iter()
                .any(|p| table.strip_prefix(p).is_some_and(|t| scope.raw_tables.contains(t)));
            if raw {
                Ok(())
            } else {
                Err(format!("relation {shown} is not one of the raw zone's tables (raw_full_<table>, raw_cdc_<table>)"))
            }
        }
        [schema, _] => Err(format!(
            "relation {shown} is in schema {schema}, which is neither the target schema {} nor the raw schema {}",
            scope.target_schema, scope.raw_schema
        )),
        _ => Err(format!("relation {shown}: database-qualified names are not supported")),
    }
}

fn system_relation(shown: &str) -> String {
    format!("relation {shown} is a system table or view, which a Redshift materialized view cannot reference")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_check(sql: &str) -> Result<(), String> {
        let tables: BTreeSet<String> = ["orders", "customers", "earlier_summary"].map(String::from).into();
        let raw_tables: BTreeSet<String> = ["orders", "customers"].map(String::from).into();
        let scope = Scope { target_schema: "public", raw_schema: "raw", tables: &tables, raw_tables: &raw_tables };
        check_materialized_view(sql, &scope)
    }

    #[test]
    fn selects_over_the_pipeline_s_tables_pass() {
        for sql in [
            "SELECT c.id, count(*) AS n FROM public.orders o JOIN public.customers c ON o.cid = c.id GROUP BY 1",
            "SELECT id, row_number() OVER (PARTITION BY cid ORDER BY ts) AS rn FROM public.orders",
            "WITH recent AS (SELECT * FROM public.orders WHERE ts > '2026-01-01') SELECT count(*) FROM recent",
            "SELECT * FROM public.orders, public.customers WHERE orders.cid = customers.id",
            "SELECT listagg(x, ',') WITHIN GROUP (ORDER BY x) FROM public.earlier_summary",
            "SELECT * FROM raw.raw_cdc_orders",
            "SELECT * FROM (SELECT id FROM public.orders) s",
            "SELECT \"delta\" FROM \"public\".\"orders\"",
            "SELECT extract(year FROM ts), trim(both ' ' FROM name) FROM public.orders",
            "SELECT * FROM public.orders o WHERE o.cid IN (SELECT id FROM public.customers)",
        ] {
            scope_check(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn what_a_materialized_view_cannot_hold_is_refused_naming_it() {
        let cases = [
            ("SELECT id FROM public.orders ORDER BY id", "ORDER BY"),
            ("SELECT id FROM public.orders LIMIT 10", "LIMIT"),
            ("SELECT id FROM public.orders OFFSET 10", "OFFSET"),
            ("SELECT TOP 5 id FROM public.orders", "TOP"),
            ("SELECT id FROM (SELECT id FROM public.orders ORDER BY id) s", "ORDER BY"),
            ("SELECT * FROM pg_catalog.pg_class", "system table"),
            ("SELECT * FROM stl_query", "system table"),
            ("SELECT * FROM public.svv_table_info", "system table"),
            ("SELECT * FROM public.orders_view", "standard views or temporary tables"),
            ("SELECT * FROM orders", "schema-qualified"),
            ("SELECT f_clean(name) FROM public.customers", "user-defined function"),
            ("SELECT util.clean(name) FROM public.customers", "user-defined function"),
            ("SELECT current_schema() FROM public.orders", "leader-node-only"),
            ("SELECT * FROM other.orders", "neither the target schema"),
            ("SELECT * FROM raw.raw_cdc_unknown", "raw zone"),
            ("DELETE FROM public.orders", "one SELECT"),
        ];
        for (sql, expected) in cases {
            let e = scope_check(sql).expect_err(sql);
            assert!(e.contains(expected), "{sql}: {e}");
        }
    }
}
