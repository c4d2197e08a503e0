//! Redshift SQL → DuckDB SQL, token by token.
//!
//! The text is tokenized with sqlparser's Redshift dialect, which reads
//! Redshift's string literals (backslash escapes, doubled quotes, `E'…'`),
//! quoted identifiers, dollar-quoted bodies and comments; the tokens are
//! written back for DuckDB with a few rewrites. Working on tokens, not on an
//! AST, keeps the layer small and explicit: only what is listed here changes.
//!
//! Rewrites:
//! - string literals: re-quoted for DuckDB, which reads backslashes literally
//!   (`'a\\b'` in Redshift is the text `a\b`, written `'a\b'` for DuckDB);
//! - `GETDATE()` → the current UTC timestamp truncated to the second, as
//!   Redshift's GETDATE; `SYSDATE` → the current UTC timestamp;
//! - `DATEADD(part, n, x)` → `CAST(x AS TIMESTAMP)` plus `n` parts (year,
//!   quarter, month, week, day, hour, minute, second, millisecond,
//!   microsecond and their Redshift abbreviations);
//! - `DATEDIFF(part, a, b)` → `date_diff('part', a, b)`;
//! - `TO_CHAR(x, 'fmt')`, `TO_DATE(s, 'fmt')`, `TO_TIMESTAMP(s, 'fmt')` →
//!   `strftime`/`strptime` with the datetime format translated (see
//!   [`datetime_format`]); a format given by an expression is refused;
//! - `NVL(a, b)` → `coalesce(a, b)`;
//! - `pg_last_unload_count()` → the row count of the session's last UNLOAD
//!   (0 before any);
//! - `VARCHAR(MAX)` → `VARCHAR`;
//! - in `CREATE TABLE`: `DISTSTYLE x`, `DISTKEY(…)`, `[COMPOUND|INTERLEAVED]
//!   SORTKEY(…)`, `SORTKEY AUTO`, column `DISTKEY`/`SORTKEY`, `ENCODE x` and
//!   `BACKUP YES|NO` are dropped: physical layout only;
//! - comments are dropped;
//! - the rewrites of the rules Redshift enforces and DuckDB does not
//!   ([`rules`]): CHECK constraints for character lengths in CREATE TABLE,
//!   casts to character types, trailing blanks in comparisons.

use duckdb::Connection;
use sqlparser::dialect::RedshiftSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace, Word};

use crate::catalog::ColumnTypes;
use crate::rules;

/// A statement or construct outside what the emulator translates, or text
/// that does not tokenize: the statement fails with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TranslateError(pub String);

fn unsupported(what: impl std::fmt::Display) -> TranslateError {
    TranslateError(format!("ERROR: {what} is not supported by the Redshift emulator"))
}

/// Per-session state the translation reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Session {
    pub last_unload_count: Option<u64>,
}

/// The tokens of a Redshift statement, comments dropped.
pub fn tokenize(sql: &str) -> Result<Vec<Token>, TranslateError> {
    let tokens = Tokenizer::new(&RedshiftSqlDialect {}, sql)
        .with_unescape(true)
        .tokenize()
        .map_err(|e| TranslateError(format!("ERROR: syntax error: {e}")))?;
    Ok(tokens
        .into_iter()
        .map(|t| match t {
            Token::Whitespace(Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_)) => {
                Token::Whitespace(Whitespace::Space)
            }
            other => other,
        })
        .collect())
}

/// The tokens without whitespace, for recognising a statement's shape.
pub fn significant(tokens: &[Token]) -> Vec<&Token> {
    tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))).collect()
}

/// An unquoted word's text in upper case, for keyword comparisons.
pub fn keyword(t: &Token) -> Option<String> {
    match t {
        Token::Word(Word { value, quote_style: None, .. }) => Some(value.to_ascii_uppercase()),
        _ => None,
    }
}

pub fn is_keyword(t: Option<&&Token>, kw: &str) -> bool {
    t.and_then(|t| keyword(t)).is_some_and(|k| k == kw)
}

/// Redshift folds identifiers to lower case, quoted ones included (the
/// default, `enable_case_sensitive_identifier` off).
pub fn identifier(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) => Some(w.value.to_lowercase()),
        _ => None,
    }
}

/// A string literal's value.
pub fn string_value(t: &Token) -> Option<&str> {
    match t {
        Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) | Token::NationalStringLiteral(s) => Some(s),
        _ => None,
    }
}

/// `'…'` for DuckDB, which reads backslashes literally.
pub fn duck_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `"…"` for DuckDB.
pub fn duck_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The statement as DuckDB SQL, knowing no column types (for statements
/// that reference no relation, and for tests).
pub fn to_duckdb(sql: &str, session: Session) -> Result<String, TranslateError> {
    translate_tokens(tokenize(sql)?, session, &ColumnTypes::default())
}

/// The statement as DuckDB SQL, with the column types of the relations it
/// references read from `conn`'s catalog (for [`rules::trailing_blanks`]).
pub fn to_duckdb_on(conn: &Connection, sql: &str, session: Session) -> Result<String, TranslateError> {
    let tokens = tokenize(sql)?;
    let columns =
        ColumnTypes::load(conn, &tokens).map_err(|e| TranslateError(crate::errors::redshift_text(&e.to_string())))?;
    translate_tokens(tokens, session, &columns)
}

/// Tokens as DuckDB SQL: the physical-layout clauses dropped, the rules'
/// rewrites ([`rules`]) applied, then the functions of the module doc.
pub fn translate_tokens(tokens: Vec<Token>, session: Session, columns: &ColumnTypes) -> Result<String, TranslateError> {
    let sig = significant(&tokens);
    let create_table = is_keyword(sig.first(), "CREATE") && sig.iter().take(5).any(|t| is_keyword(Some(t), "TABLE"));
    let tokens = if create_table { strip_table_attributes(&tokens) } else { tokens };
    let tokens = rules::character_length::add_checks(tokens)?;
    let tokens = rules::sized_casts::rewrite(&tokens)?;
    let tokens = rules::trailing_blanks::rewrite(&tokens, columns)?;
    render(&tokens, session)
}

/// A token written back as Redshift SQL (string literals re-escaped), for
/// text the emulator builds and translates again.
pub fn redshift_token(t: &Token) -> String {
    match t {
        Token::SingleQuotedString(s)
        | Token::EscapedStringLiteral(s)
        | Token::NationalStringLiteral(s)
        | Token::UnicodeStringLiteral(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
        Token::DollarQuotedString(d) => format!("'{}'", d.value.replace('\\', "\\\\").replace('\'', "''")),
        Token::Word(w) if w.quote_style.is_some() => duck_ident(&w.value),
        other => other.to_string(),
    }
}

/// Writes tokens as DuckDB SQL, rewriting the functions of the module doc.
pub fn render(tokens: &[Token], session: Session) -> Result<String, TranslateError> {
    let mut out = String::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if let Some(kw) = keyword(t) {
            let open = next_significant(tokens, i + 1).filter(|&j| tokens[j] == Token::LParen);
            // `x.getdate()` is some schema's function, not Redshift's.
            let qualified = prev_significant(tokens, i).is_some_and(|j| tokens[j] == Token::Period);
            match (kw.as_str(), open) {
                ("SYSDATE", None) if !qualified => {
                    out.push_str("CAST(now() AS TIMESTAMP)");
                    i += 1;
                    continue;
                }
                ("VARCHAR" | "VARYING", Some(j)) => {
                    let close = matching_paren(tokens, j)?;
                    let inner = significant(&tokens[j + 1..close]);
                    if inner.len() == 1 && is_keyword(inner.first(), "MAX") {
                        out.push_str("VARCHAR");
                        i = close + 1;
                        continue;
                    }
                }
                (name, Some(j)) if !qualified && REWRITTEN.contains(&name) => {
                    let close = matching_paren(tokens, j)?;
                    let args = split_args(&tokens[j + 1..close]);
                    out.push_str(&rewrite_call(name, &args, session)?);
                    i = close + 1;
                    continue;
                }
                _ => {}
            }
        }
        out.push_str(&render_token(t));
        i += 1;
    }
    Ok(out)
}

const REWRITTEN: &[&str] =
    &["GETDATE", "DATEADD", "DATEDIFF", "TO_CHAR", "TO_DATE", "TO_TIMESTAMP", "NVL", "PG_LAST_UNLOAD_COUNT"];

fn rewrite_call(name: &str, args: &[&[Token]], session: Session) -> Result<String, TranslateError> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(TranslateError(format!(
                "ERROR: function {} takes {n} arguments, got {}",
                name.to_lowercase(),
                args.len()
            )))
        }
    };
    let arg = |k: usize| render(args[k], session).map(|s| s.trim().to_string());
    match name {
        "GETDATE" => {
            arity(0)?;
            Ok("date_trunc('second', CAST(now() AS TIMESTAMP))".into())
        }
        "PG_LAST_UNLOAD_COUNT" => {
            arity(0)?;
            Ok(session.last_unload_count.unwrap_or(0).to_string())
        }
        "NVL" => Ok(format!(
            "coalesce({})",
            args.iter().map(|a| render(a, session)).collect::<Result<Vec<_>, _>>()?.join(",")
        )),
        "DATEADD" => {
            arity(3)?;
            let (function, factor, ty) = date_part_interval(&date_part(args[0])?)?;
            let n = match factor {
                1 => format!("CAST({} AS {ty})", arg(1)?),
                f => format!("CAST(({}) * {f} AS {ty})", arg(1)?),
            };
            Ok(format!("(CAST({} AS TIMESTAMP) + {function}({n}))", arg(2)?))
        }
        "DATEDIFF" => {
            arity(3)?;
            let part = date_part(args[0])?;
            date_part_interval(&part)?;
            Ok(format!("date_diff({}, {}, {})", duck_literal(&part), arg(1)?, arg(2)?))
        }
        "TO_CHAR" | "TO_DATE" | "TO_TIMESTAMP" => {
            arity(2)?;
            let sig = significant(args[1]);
            let fmt = match sig.as_slice() {
                [t] => string_value(t),
                _ => None,
            }
            .ok_or_else(|| {
                unsupported(format!("{} with a format that is not a string literal", name.to_lowercase()))
            })?;
            let fmt = duck_literal(&datetime_format(fmt)?);
            let x = arg(0)?;
            Ok(match name {
                "TO_CHAR" => format!("strftime({x}, {fmt})"),
                "TO_DATE" => format!("CAST(strptime({x}, {fmt}) AS DATE)"),
                _ => format!("strptime({x}, {fmt})"),
            })
        }
        other => Err(unsupported(other)),
    }
}

/// A date part argument: a bare word (`day`) or a string (`'day'`), lower case.
fn date_part(arg: &[Token]) -> Result<String, TranslateError> {
    match significant(arg).as_slice() {
        [t] => keyword(t).map(|k| k.to_lowercase()).or_else(|| string_value(t).map(str::to_lowercase)),
        _ => None,
    }
    .ok_or_else(|| TranslateError("ERROR: date part expected as the first argument".into()))
}

/// DuckDB's interval constructor for a Redshift date part, the factor
/// turning a count of the part into a count for that constructor, and the
/// type the constructor takes.
fn date_part_interval(part: &str) -> Result<(&'static str, i64, &'static str), TranslateError> {
    Ok(match part {
        "year" | "years" | "y" | "yr" | "yrs" => ("to_years", 1, "INTEGER"),
        "quarter" | "quarters" | "qtr" | "qtrs" => ("to_months", 3, "INTEGER"),
        "month" | "months" | "mon" | "mons" => ("to_months", 1, "INTEGER"),
        "week" | "weeks" | "w" => ("to_days", 7, "INTEGER"),
        "day" | "days" | "d" => ("to_days", 1, "INTEGER"),
        "hour" | "hours" | "h" | "hr" | "hrs" => ("to_hours", 1, "BIGINT"),
        "minute" | "minutes" | "m" | "min" | "mins" => ("to_minutes", 1, "BIGINT"),
        "second" | "seconds" | "s" | "sec" | "secs" => ("to_seconds", 1, "DOUBLE"),
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" => ("to_milliseconds", 1, "DOUBLE"),
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" => ("to_microseconds", 1, "BIGINT"),
        other => return Err(unsupported(format!("date part {other}"))),
    })
}

/// A Redshift datetime format string as a strftime/strptime format.
/// Elements (case-insensitive): YYYY, YY, MONTH, MON, MM, DDD, DD, DAY, DY,
/// HH24, HH12, HH, MI, SS, MS, US, AM, PM; text in double quotes is literal;
/// other letters are refused rather than guessed.
pub fn datetime_format(fmt: &str) -> Result<String, TranslateError> {
    const ELEMENTS: &[(&str, &str)] = &[
        ("YYYY", "%Y"),
        ("HH24", "%H"),
        ("HH12", "%I"),
        ("MONTH", "%B"),
        ("DDD", "%j"),
        ("DAY", "%A"),
        ("MON", "%b"),
        ("YY", "%y"),
        ("MM", "%m"),
        ("DD", "%d"),
        ("DY", "%a"),
        ("HH", "%I"),
        ("MI", "%M"),
        ("SS", "%S"),
        ("MS", "%g"),
        ("US", "%f"),
        ("AM", "%p"),
        ("PM", "%p"),
    ];
    let mut out = String::new();
    let mut rest = fmt;
    'outer: while let Some(c) = rest.chars().next() {
        if c == '"' {
            let end = rest[1..]
                .find('"')
                .ok_or_else(|| TranslateError(format!("ERROR: unterminated quote in format {fmt:?}")))?;
            out.push_str(&rest[1..=end].replace('%', "%%"));
            rest = &rest[end + 2..];
            continue;
        }
        if c.is_ascii_alphabetic() {
            let upper = rest.to_ascii_uppercase();
            for (element, spec) in ELEMENTS {
                if upper.starts_with(element) {
                    out.push_str(spec);
                    rest = &rest[element.len()..];
                    continue 'outer;
                }
            }
            return Err(unsupported(format!("datetime format element at {rest:?} (in {fmt:?})")));
        }
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// Drops the physical-layout clauses of a CREATE TABLE (module doc).
fn strip_table_attributes(tokens: &[Token]) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let kw = keyword(&tokens[i]).unwrap_or_default();
        let next = next_significant(tokens, i + 1);
        let skip_to = match kw.as_str() {
            // Words followed by one argument word.
            "DISTSTYLE" | "ENCODE" | "BACKUP" => next.map(|j| j + 1),
            "COMPOUND" | "INTERLEAVED" if next.is_some_and(|j| keyword(&tokens[j]).as_deref() == Some("SORTKEY")) => {
                Some(i + 1)
            }
            "DISTKEY" | "SORTKEY" => match next {
                Some(j) if tokens[j] == Token::LParen => matching_paren(tokens, j).ok().map(|c| c + 1),
                Some(j) if keyword(&tokens[j]).as_deref() == Some("AUTO") => Some(j + 1),
                _ => Some(i + 1),
            },
            _ => None,
        };
        match skip_to {
            Some(end) => i = end,
            None => {
                out.push(tokens[i].clone());
                i += 1;
            }
        }
    }
    out
}

fn next_significant(tokens: &[Token], from: usize) -> Option<usize> {
    (from..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)))
}

fn prev_significant(tokens: &[Token], before: usize) -> Option<usize> {
    (0..before).rev().find(|&j| !matches!(tokens[j], Token::Whitespace(_)))
}

/// The index of the `)` closing the `(` at `open`.
pub fn matching_paren(tokens: &[Token], open: usize) -> Result<usize, TranslateError> {
    let mut depth = 0usize;
    for (j, t) in tokens.iter().enumerate().skip(open) {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j);
                }
            }
            _ => {}
        }
    }
    Err(TranslateError("ERROR: syntax error: unbalanced parentheses".into()))
}

/// Arguments of a call, split at top-level commas; no argument for `()`.
pub fn split_args(tokens: &[Token]) -> Vec<&[Token]> {
    if significant(tokens).is_empty() {
        return Vec::new();
    }
    let mut args = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (j, t) in tokens.iter().enumerate() {
        match t {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
            Token::Comma if depth == 0 => {
                args.push(&tokens[start..j]);
                start = j + 1;
            }
            _ => {}
        }
    }
    args.push(&tokens[start..]);
    args
}

fn render_token(t: &Token) -> String {
    match t {
        Token::SingleQuotedString(s)
        | Token::EscapedStringLiteral(s)
        | Token::NationalStringLiteral(s)
        | Token::UnicodeStringLiteral(s) => duck_literal(s),
        Token::DollarQuotedString(d) => duck_literal(&d.value),
        Token::Word(w) => match w.quote_style {
            Some(_) => duck_ident(&w.value),
            None => w.value.clone(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duck(sql: &str) -> String {
        to_duckdb(sql, Session::default()).unwrap()
    }

    #[test]
    fn redshift_string_escapes_become_duckdb_literals() {
        assert_eq!(duck(r"SELECT 'a''b\\c'"), r"SELECT 'a''b\c'");
        assert_eq!(duck("SELECT E'x\\ny'"), "SELECT 'x\ny'");
        assert_eq!(
            duck("SELECT \"Mixed\"\"Name\" FROM t /* gone */ -- gone\n").trim_end(),
            "SELECT \"Mixed\"\"Name\" FROM t"
        );
    }

    #[test]
    fn date_functions_are_rewritten() {
        assert_eq!(
            duck("SELECT TO_CHAR(DATEADD(day, -2, TO_DATE(MAX(p), 'YYYYMMDD')), 'YYYYMMDD') FROM t"),
            "SELECT strftime((CAST(CAST(strptime(MAX(p), '%Y%m%d') AS DATE) AS TIMESTAMP) + to_days(CAST(-2 AS \
             INTEGER))), '%Y%m%d') FROM t"
        );
        assert_eq!(
            duck("SELECT DATEADD(second, -172800, MAX(ts))"),
            "SELECT (CAST(MAX(ts) AS TIMESTAMP) + to_seconds(CAST(-172800 AS DOUBLE)))"
        );
        assert_eq!(duck("SELECT GETDATE()"), "SELECT date_trunc('second', CAST(now() AS TIMESTAMP))");
        assert_eq!(duck("SELECT TO_CHAR(x, 'YYYY-MM-DD HH24:MI:SS.US')"), "SELECT strftime(x, '%Y-%m-%d %H:%M:%S.%f')");
        assert_eq!(duck("SELECT DATEDIFF(week, a, b)"), "SELECT date_diff('week', a, b)");
        assert!(to_duckdb("SELECT TO_CHAR(x, f)", Session::default()).is_err());
        assert!(to_duckdb("SELECT TO_CHAR(x, 'YYYY Q')", Session::default()).is_err());
    }

    #[test]
    fn unload_count_comes_from_the_session() {
        let s = Session { last_unload_count: Some(42) };
        assert_eq!(to_duckdb("SELECT pg_last_unload_count() AS row_count", s).unwrap(), "SELECT 42 AS row_count");
        assert_eq!(duck("SELECT pg_last_unload_count()"), "SELECT 0");
    }

    #[test]
    fn table_layout_clauses_are_dropped() {
        assert_eq!(
            duck(
                "CREATE TABLE IF NOT EXISTS \"s\".\"t\" (\"a\" INTEGER, b VARCHAR(MAX)) DISTKEY(\"a\") SORTKEY(\"a\", b)"
            ),
            "CREATE TABLE IF NOT EXISTS \"s\".\"t\" (\"a\" INTEGER, b VARCHAR CHECK \
             (__redshift_emulator.fits_varchar(b, 65535)))  "
        );
        assert_eq!(
            duck("CREATE TABLE t (a INT ENCODE az64 DISTKEY) DISTSTYLE AUTO COMPOUND SORTKEY(a) BACKUP NO"),
            "CREATE TABLE t (a INT  )    "
        );
        // Outside CREATE TABLE nothing is dropped.
        assert_eq!(duck("SELECT distkey FROM t"), "SELECT distkey FROM t");
    }

    #[test]
    fn formats_translate_element_by_element() {
        assert_eq!(datetime_format("YYYY-MM-DD HH24:MI:SS.US").unwrap(), "%Y-%m-%d %H:%M:%S.%f");
        assert_eq!(datetime_format("yyyymmdd").unwrap(), "%Y%m%d");
        assert_eq!(datetime_format("DD Mon YYYY \"at\" HH12 AM 100%").unwrap(), "%d %b %Y at %I %p 100%%");
        assert!(datetime_format("YYYY-Q").is_err());
    }
}
