//! Rule 3: an explicit cast to a sized character type truncates silently.
//!
//! `CAST(x AS VARCHAR(n))`, `CAST(x AS CHAR(n))` and `x::varchar(n)` (x one
//! token, a qualified name, or a parenthesised group, with its function name
//! if any) become `sized_text_cast(x, n)`: the longest prefix of at most n
//! bytes that ends on a character boundary. Casts to an unsized character
//! type become `text_cast(x)`, which does not truncate; both refuse BOOLEAN
//! ([`super::boolean_casts`]).

use sqlparser::tokenizer::Token;

use super::character_length::{CharType, column_type};
use super::{MACRO_SCHEMA, Rule};
use crate::translate::{TranslateError, keyword, matching_paren, significant, tokenize};

pub const RULE: Rule = Rule {
    name: "casts to sized character types truncate",
    documented: "\"A workaround for this problem is to cast the value to the size of the column: … \
                 'City of South San Francisco'::char(20) … In this case, the first 20 characters of the string (City \
                 of South San Fr) would be loaded into the column.\" Documented for CHAR(n); VARCHAR(n) by analogy \
                 (PostgreSQL semantics). The docs are silent on a cut inside a multibyte character, and on CAST(x AS \
                 VARCHAR) without a length.",
    url: "https://docs.aws.amazon.com/redshift/latest/dg/r_Examples_with_character_types.html",
    emulated: "CAST(x AS VARCHAR(n)/CHAR(n)) and x::varchar(n) give the longest prefix of at most n bytes ending on \
               a character boundary; CAST(x AS VARCHAR) and ::text do not truncate. CHAR without a length is \
               CHAR(1), BPCHAR CHAR(256), as in a column definition.",
};

pub fn macros_sql() -> String {
    let s = MACRO_SCHEMA;
    format!(
        "CREATE OR REPLACE MACRO {s}.byte_prefix(v, n) AS CASE WHEN strlen(v) <= n THEN v ELSE left(v, CAST(len(\
         list_filter(range(1, length(v) + 1), lambda k: strlen(left(v, k)) <= n)) AS BIGINT)) END;"
    )
}

/// The width of a cast's target type: `Some(Some(n))` for a sized
/// character type, `Some(None)` for an unsized one (VARCHAR, TEXT), `None`
/// for other types.
fn cast_width(sig: &[&Token]) -> Result<Option<Option<u32>>, TranslateError> {
    let explicit_length = sig.iter().any(|t| **t == Token::LParen);
    Ok(match column_type(sig)? {
        Some((_, used)) if used != sig.len() => None,
        Some((CharType::Varchar(_), _)) if !explicit_length => Some(None),
        Some((CharType::Varchar(n) | CharType::Char(n), _)) => Some(Some(n)),
        None => None,
    })
}

fn call(width: Option<u32>, operand: &[Token]) -> Result<Vec<Token>, TranslateError> {
    let s = MACRO_SCHEMA;
    let mut out = match width {
        Some(_) => tokenize(&format!("{s}.sized_text_cast("))?,
        None => tokenize(&format!("{s}.text_cast("))?,
    };
    let end = operand.iter().rposition(|t| !matches!(t, Token::Whitespace(_))).map_or(0, |e| e + 1);
    out.extend(operand[..end].iter().cloned());
    if let Some(n) = width {
        out.extend(tokenize(&format!(", {n}"))?);
    }
    out.push(Token::RParen);
    Ok(out)
}

fn is_null_literal(operand: &[Token]) -> bool {
    matches!(significant(operand).as_slice(), [t] if keyword(t).as_deref() == Some("NULL"))
}

/// The tokens with casts to character types rewritten (module doc).
pub fn rewrite(tokens: &[Token]) -> Result<Vec<Token>, TranslateError> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let next = next_sig(tokens, i + 1);
        if keyword(t).as_deref() == Some("CAST") && next.is_some_and(|j| tokens[j] == Token::LParen) {
            let open = next.unwrap_or_default();
            let close = matching_paren(tokens, open)?;
            let inner = &tokens[open + 1..close];
            if let Some(as_at) = top_level_last_as(inner) {
                let ty = significant(&inner[as_at + 1..]);
                if let Some(width) = cast_width(&ty)? {
                    let operand = rewrite(&inner[..as_at])?;
                    if is_null_literal(&operand) {
                        out.extend(tokenize("CAST(NULL AS VARCHAR)")?);
                    } else {
                        out.extend(call(width, &operand)?);
                    }
                    i = close + 1;
                    continue;
                }
                // Another type: keep the cast, rewrite inside it.
                out.extend(tokens[i..=open].iter().cloned());
                out.extend(rewrite(&inner[..as_at])?);
                out.extend(inner[as_at..].iter().cloned());
                out.push(Token::RParen);
                i = close + 1;
                continue;
            }
        }
        if *t == Token::DoubleColon {
            if let Some((width, end)) = double_colon_type(tokens, i + 1)? {
                if let Some(start) = operand_start(&out) {
                    let operand: Vec<Token> = out.drain(start..).collect();
                    if !is_null_literal(&operand) {
                        out.extend(call(width, &operand)?);
                        i = end;
                        continue;
                    }
                    out.extend(operand);
                }
            }
        }
        out.push(t.clone());
        i += 1;
    }
    Ok(out)
}

/// The character type after `::` at `from`: its width and the index after it.
fn double_colon_type(tokens: &[Token], from: usize) -> Result<Option<(Option<u32>, usize)>, TranslateError> {
    let Some(j) = next_sig(tokens, from) else { return Ok(None) };
    // The type is a word or two, and maybe `(n)`.
    let mut end = j + 1;
    if let Some(k) = next_sig(tokens, end) {
        if keyword(&tokens[k]).as_deref() == Some("VARYING") {
            end = k + 1;
        }
    }
    if let Some(k) = next_sig(tokens, end) {
        if tokens[k] == Token::LParen {
            end = matching_paren(tokens, k)? + 1;
        }
    }
    let sig = significant(&tokens[j..end]);
    Ok(cast_width(&sig)?.map(|w| (w, end)))
}

/// Where the operand before `::` starts in `out`: a literal or word (a
/// qualified name), or a parenthesised group with its function name.
fn operand_start(out: &[Token]) -> Option<usize> {
    let last = prev_sig(out, out.len())?;
    let mut start = match &out[last] {
        Token::RParen => {
            let open = matching_open(out, last)?;
            match prev_sig(out, open) {
                Some(w) if is_function_name(&out[w]) => w,
                _ => open,
            }
        }
        Token::Word(_) | Token::SingleQuotedString(_) | Token::Number(_, _) | Token::EscapedStringLiteral(_) => last,
        _ => return None,
    };
    // Qualified: `a.b.c`.
    while let Some(dot) = prev_sig(out, start).filter(|&p| out[p] == Token::Period) {
        match prev_sig(out, dot) {
            Some(w) if matches!(out[w], Token::Word(_)) => start = w,
            _ => break,
        }
    }
    Some(start)
}

fn is_function_name(t: &Token) -> bool {
    const CLAUSES: &[&str] = &[
        "SELECT", "WHERE", "AND", "OR", "NOT", "ON", "WHEN", "THEN", "ELSE", "IN", "AS", "BY", "FROM", "JOIN", "IS",
        "CASE", "HAVING", "USING", "VALUES", "DISTINCT", "EXISTS", "SET", "RETURN", "INTO", "ALL", "ANY",
    ];
    match t {
        Token::Word(w) if w.quote_style.is_some() => true,
        Token::Word(w) => !CLAUSES.contains(&w.value.to_ascii_uppercase().as_str()),
        _ => false,
    }
}

fn matching_open(tokens: &[Token], close: usize) -> Option<usize> {
    let mut depth = 0usize;
    for j in (0..=close).rev() {
        match tokens[j] {
            Token::RParen => depth += 1,
            Token::LParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// The last `AS` at depth 0 of a CAST's inside.
fn top_level_last_as(inner: &[Token]) -> Option<usize> {
    let mut depth = 0usize;
    let mut found = None;
    for (j, t) in inner.iter().enumerate() {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            t if depth == 0 && keyword(t).as_deref() == Some("AS") => found = Some(j),
            _ => {}
        }
    }
    found
}

fn next_sig(tokens: &[Token], from: usize) -> Option<usize> {
    (from..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)))
}

fn prev_sig(tokens: &[Token], before: usize) -> Option<usize> {
    (0..before).rev().find(|&j| !matches!(tokens[j], Token::Whitespace(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{Session, render};

    fn casts(sql: &str) -> String {
        render(&rewrite(&tokenize(sql).unwrap()).unwrap(), Session::default()).unwrap()
    }

    #[test]
    fn casts_to_character_types_go_through_the_macros() {
        let s = MACRO_SCHEMA;
        assert_eq!(
            casts("SELECT CAST(r.\"filler\" AS VARCHAR(84)) AS f"),
            format!("SELECT {s}.sized_text_cast(r.\"filler\", 84) AS f")
        );
        assert_eq!(casts("SELECT CAST(x AS VARCHAR(MAX))"), format!("SELECT {s}.sized_text_cast(x, 65535)"));
        assert_eq!(casts("SELECT CAST(x AS CHARACTER VARYING)"), format!("SELECT {s}.text_cast(x)"));
        assert_eq!(casts("SELECT CAST(x AS CHAR(8))"), format!("SELECT {s}.sized_text_cast(x, 8)"));
        assert_eq!(casts("SELECT CAST(NULL AS VARCHAR(8))"), "SELECT CAST(NULL AS VARCHAR)");
        assert_eq!(casts("SELECT CAST(x AS NUMERIC(38,0))"), "SELECT CAST(x AS NUMERIC(38,0))");
        assert_eq!(
            casts("SELECT CAST(CAST(x AS VARCHAR(4)) AS INTEGER)"),
            format!("SELECT CAST({s}.sized_text_cast(x, 4) AS INTEGER)")
        );
        assert_eq!(
            casts("SELECT a.b::varchar(3), c::text"),
            format!("SELECT {s}.sized_text_cast(a.b, 3), {s}.text_cast(c)")
        );
        assert_eq!(casts("SELECT f(x)::varchar"), format!("SELECT {s}.text_cast(f(x))"));
        assert_eq!(casts("SELECT (a = b)::text"), format!("SELECT {s}.text_cast((a = b))"));
        assert_eq!(casts("SELECT x::integer"), "SELECT x::integer");
    }
}
