//! Rule 5: trailing blanks are insignificant when character values are
//! compared; LIKE and the length functions still see them.
//!
//! DuckDB compares blanks like any character, so the forms our SQL uses are
//! rewritten, token by token:
//! - `A op B` (op one of `= <> != < > <= >=`), each side a column reference
//!   (`x`, `a.x`, `"a"."x"`) or a string literal, in a boolean context
//!   (after WHERE, ON, AND, OR, NOT, WHEN, HAVING or `(`, and before AND,
//!   OR, THEN, `)`, the end, ORDER, GROUP, …), when neither side is known
//!   not to be text and one side is a text column or a literal: a text
//!   column becomes `rtrim(x, ' ')`, a column of unknown type (a derived
//!   table's) `blank_trimmed(x)` (a macro that trims only VARCHAR), a literal
//!   loses its trailing blanks. `rtrim` on both sides keeps an equi-join a
//!   hash join;
//! - `CASE x WHEN 'lit' …` and `x [NOT] IN ('lit', …)` alike;
//! - text columns in a `PARTITION BY` list (the docs are silent there; the
//!   emulator takes the stricter reading that partitions compare as `=`
//!   does);
//! - `LEN`, `LENGTH`, `CHAR_LENGTH`, `CHARACTER_LENGTH`, `TEXTLEN` →
//!   DuckDB's `length` and `OCTET_LENGTH` → `strlen`, which count trailing
//!   blanks, as Redshift's do for VARCHAR.
//!
//! A column's type comes from DuckDB's catalog ([`crate::catalog`]).

use sqlparser::tokenizer::Token;

use super::{MACRO_SCHEMA, Rule};
use crate::catalog::{ColumnKind, ColumnTypes};
use crate::translate::{TranslateError, keyword, matching_paren, tokenize};

pub const RULE: Rule = Rule {
    name: "trailing blanks are insignificant in comparisons",
    documented: "\"Trailing spaces in VARCHAR and CHAR values are treated as semantically insignificant when values \
                 are compared.\" \"Length calculations return the length of VARCHAR character strings with trailing \
                 spaces included in the length.\" LIKE (r_patternmatching_condition_like.html): \"In contrast to \
                 comparison predicates, such as = and <>, LIKE and ILIKE predicates do not implicitly ignore trailing \
                 spaces.\" The docs are silent on GROUP BY, DISTINCT and PARTITION BY.",
    url: "https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html",
    emulated: "Comparisons of text columns and literals, CASE x WHEN, x IN (…) and PARTITION BY lists compare \
               without trailing blanks; LIKE and the length functions see them. GROUP BY and DISTINCT are not \
               emulated.",
};

pub fn macros_sql() -> String {
    let s = MACRO_SCHEMA;
    format!("CREATE OR REPLACE MACRO {s}.blank_trimmed(v VARCHAR) AS rtrim(v, ' '), (v) AS v;")
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Literal(String),
    Column(ColumnKind),
    /// A number, NULL, TRUE…: not text.
    NotText,
}

/// One replacement: full-token range and what replaces it.
type Edit = (usize, usize, Vec<Token>);

/// The statement with the rewrites of the module doc.
pub fn rewrite(tokens: &[Token], columns: &ColumnTypes) -> Result<Vec<Token>, TranslateError> {
    let sig: Vec<usize> =
        tokens.iter().enumerate().filter(|(_, t)| !matches!(t, Token::Whitespace(_))).map(|(i, _)| i).collect();
    let kw = |p: usize| sig.get(p).and_then(|&i| keyword(&tokens[i])).unwrap_or_default();
    let tok = |p: usize| sig.get(p).map(|&i| &tokens[i]);
    let mut edits: Vec<Edit> = Vec::new();
    let mut p = 0;
    while p < sig.len() {
        // Length functions.
        if let (
            Some("LEN" | "LENGTH" | "CHAR_LENGTH" | "CHARACTER_LENGTH" | "TEXTLEN" | "OCTET_LENGTH"),
            Some(Token::LParen),
        ) = (Some(kw(p).as_str()).filter(|_| tok(p.wrapping_sub(1)) != Some(&Token::Period)), tok(p + 1))
        {
            let name = if kw(p) == "OCTET_LENGTH" { "strlen" } else { "length" };
            edits.push((sig[p], sig[p] + 1, vec![Token::make_word(name, None)]));
            p += 1;
            continue;
        }
        let context = p == 0
            || tok(p - 1) == Some(&Token::LParen)
            || matches!(kw(p - 1).as_str(), "WHERE" | "ON" | "AND" | "OR" | "NOT" | "WHEN" | "HAVING");
        if kw(p) == "CASE" {
            if let Some((subject, after)) = operand(tokens, &sig, p + 1, columns) {
                if kw(after) == "WHEN" && subject != Operand::NotText && subject != Operand::Column(ColumnKind::Other) {
                    edits.push(trimmed(tokens, &sig, p + 1, after, &subject)?);
                    edits.extend(case_literals(tokens, &sig, after)?);
                    p = after;
                    continue;
                }
            }
        }
        if kw(p) == "PARTITION" && kw(p + 1) == "BY" {
            let mut q = p + 2;
            while let Some((o, after)) = operand(tokens, &sig, q, columns) {
                let ends = tok(after) == Some(&Token::Comma)
                    || tok(after) == Some(&Token::RParen)
                    || matches!(kw(after).as_str(), "ORDER" | "ROWS" | "RANGE");
                if !ends {
                    break;
                }
                if matches!(o, Operand::Column(ColumnKind::Text | ColumnKind::Unknown)) {
                    edits.push(trimmed(tokens, &sig, q, after, &o)?);
                }
                if tok(after) != Some(&Token::Comma) {
                    break;
                }
                q = after + 1;
            }
            p = q.max(p + 2);
            continue;
        }
        if context {
            if let Some((a, after_a)) = operand(tokens, &sig, p, columns) {
                // A op B
                let is_op = matches!(
                    tok(after_a),
                    Some(Token::Eq | Token::Neq | Token::Lt | Token::Gt | Token::LtEq | Token::GtEq)
                );
                if is_op {
                    if let Some((b, after_b)) = operand(tokens, &sig, after_a + 1, columns) {
                        let ends = match tok(after_b) {
                            None | Some(Token::RParen | Token::SemiColon | Token::EOF) => true,
                            Some(_) => ENDS.contains(&kw(after_b).as_str()),
                        };
                        if ends && comparable(&a, &b) {
                            edits.push(trimmed(tokens, &sig, p, after_a, &a)?);
                            edits.push(trimmed(tokens, &sig, after_a + 1, after_b, &b)?);
                            p = after_b;
                            continue;
                        }
                    }
                }
                // x [NOT] IN ('…', …)
                let in_at = if kw(after_a) == "NOT" { after_a + 1 } else { after_a };
                if kw(in_at) == "IN"
                    && tok(in_at + 1) == Some(&Token::LParen)
                    && matches!(a, Operand::Column(ColumnKind::Text | ColumnKind::Unknown))
                {
                    let close = matching_paren(tokens, sig[in_at + 1])?;
                    let items: Vec<usize> = sig.iter().copied().filter(|&i| i > sig[in_at + 1] && i < close).collect();
                    let all_literals = !items.is_empty()
                        && items.iter().enumerate().all(|(k, &i)| {
                            if k % 2 == 0 {
                                crate::translate::string_value(&tokens[i]).is_some()
                            } else {
                                tokens[i] == Token::Comma
                            }
                        });
                    if all_literals {
                        edits.push(trimmed(tokens, &sig, p, after_a, &a)?);
                        for &i in items.iter().step_by(2) {
                            let v = crate::translate::string_value(&tokens[i]).unwrap_or_default();
                            edits.push((
                                i,
                                i + 1,
                                vec![Token::SingleQuotedString(v.trim_end_matches(' ').to_string())],
                            ));
                        }
                        p = sig.iter().position(|&i| i == close).unwrap_or(p) + 1;
                        continue;
                    }
                }
            }
        }
        p += 1;
    }
    let mut out = Vec::with_capacity(tokens.len() + edits.len() * 6);
    let mut at = 0;
    edits.sort_by_key(|e| e.0);
    for (start, end, with) in edits {
        if start < at {
            continue; // overlapping: the first edit wins
        }
        out.extend(tokens[at..start].iter().cloned());
        out.extend(with);
        at = end;
    }
    out.extend(tokens[at..].iter().cloned());
    Ok(out)
}

/// Whether `A op B` is rewritten: neither side is known not to be text, and
/// one side is a text column or a literal.
fn comparable(a: &Operand, b: &Operand) -> bool {
    let not_text = |o: &Operand| matches!(o, Operand::NotText | Operand::Column(ColumnKind::Other));
    let texty = |o: &Operand| matches!(o, Operand::Literal(_) | Operand::Column(ColumnKind::Text));
    !not_text(a) && !not_text(b) && (texty(a) || texty(b))
}

/// A simple operand at significant position `p`: a string literal, a
/// number or NULL/TRUE/FALSE, or a column reference of up to three parts;
/// returns it and the position after it.
fn operand(tokens: &[Token], sig: &[usize], p: usize, columns: &ColumnTypes) -> Option<(Operand, usize)> {
    let t = &tokens[*sig.get(p)?];
    if let Some(v) = crate::translate::string_value(t) {
        return Some((Operand::Literal(v.to_string()), p + 1));
    }
    if matches!(t, Token::Number(_, _)) {
        return Some((Operand::NotText, p + 1));
    }
    let Token::Word(first) = t else { return None };
    if first.quote_style.is_none() {
        let upper = first.value.to_ascii_uppercase();
        if matches!(upper.as_str(), "NULL" | "TRUE" | "FALSE") {
            return Some((Operand::NotText, p + 1));
        }
        if RESERVED.contains(&upper.as_str()) {
            return None;
        }
    }
    let mut last = first.value.clone();
    let mut q = p + 1;
    while q + 1 < sig.len() + 1 && sig.get(q).map(|&i| &tokens[i]) == Some(&Token::Period) {
        match sig.get(q + 1).map(|&i| &tokens[i]) {
            Some(Token::Word(w)) => {
                last = w.value.clone();
                q += 2;
            }
            _ => return None,
        }
        if q - p > 5 {
            return None;
        }
    }
    // A function call is not a column.
    if sig.get(q).map(|&i| &tokens[i]) == Some(&Token::LParen) {
        return None;
    }
    Some((Operand::Column(columns.kind(&last)), q))
}

/// Words that end a comparison in a boolean context.
const ENDS: &[&str] = &[
    "AND",
    "OR",
    "THEN",
    "WHERE",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "CROSS",
    "ORDER",
    "GROUP",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "MINUS",
    "ELSE",
    "END",
    "WHEN",
    "WINDOW",
    "QUALIFY",
];

/// Words that start something other than a column reference.
const RESERVED: &[&str] = &[
    "SELECT",
    "CASE",
    "NOT",
    "EXISTS",
    "INTERVAL",
    "DATE",
    "TIMESTAMP",
    "CAST",
    "WHERE",
    "AND",
    "OR",
    "ON",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "IN",
    "IS",
    "BETWEEN",
    "LIKE",
    "ILIKE",
    "AS",
    "FROM",
    "JOIN",
    "ORDER",
    "GROUP",
    "BY",
    "HAVING",
    "LIMIT",
    "DISTINCT",
    "ALL",
    "ANY",
    "SOME",
    "VALUES",
    "SET",
    "USING",
    "PARTITION",
    "OVER",
    "ROWS",
    "RANGE",
];

/// The edit trimming the operand at significant positions `from..to`.
fn trimmed(tokens: &[Token], sig: &[usize], from: usize, to: usize, o: &Operand) -> Result<Edit, TranslateError> {
    let (start, end) = (sig[from], sig[to - 1] + 1);
    let inner = &tokens[start..end];
    let with = match o {
        Operand::Literal(v) => vec![Token::SingleQuotedString(v.trim_end_matches(' ').to_string())],
        Operand::Column(ColumnKind::Text) => wrap("rtrim(", inner, ", ' ')")?,
        _ => wrap(&format!("{MACRO_SCHEMA}.blank_trimmed("), inner, ")")?,
    };
    Ok((start, end, with))
}

fn wrap(before: &str, inner: &[Token], after: &str) -> Result<Vec<Token>, TranslateError> {
    let mut out = tokenize(before)?;
    out.extend(inner.iter().cloned());
    out.extend(tokenize(after)?);
    Ok(out)
}

/// The `WHEN 'lit' THEN` literals of the simple CASE whose first WHEN is at
/// significant position `from`, trimmed.
fn case_literals(tokens: &[Token], sig: &[usize], from: usize) -> Result<Vec<Edit>, TranslateError> {
    let mut edits = Vec::new();
    let (mut depth, mut nested) = (0usize, 0usize);
    for p in from..sig.len() {
        let t = &tokens[sig[p]];
        match (t, keyword(t).as_deref()) {
            (Token::LParen, _) => depth += 1,
            (Token::RParen, _) if depth == 0 => break,
            (Token::RParen, _) => depth -= 1,
            (_, Some("CASE")) => nested += 1,
            (_, Some("END")) if nested == 0 => break,
            (_, Some("END")) => nested -= 1,
            (_, Some("WHEN")) if depth == 0 && nested == 0 => {
                let lit = sig.get(p + 1).map(|&i| &tokens[i]).and_then(crate::translate::string_value);
                let then = sig.get(p + 2).and_then(|&i| keyword(&tokens[i]));
                if let (Some(v), Some("THEN")) = (lit, then.as_deref()) {
                    let i = sig[p + 1];
                    edits.push((i, i + 1, vec![Token::SingleQuotedString(v.trim_end_matches(' ').to_string())]));
                }
            }
            _ => {}
        }
    }
    Ok(edits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{Session, render};

    fn blanks(sql: &str, cols: &[(&str, bool)]) -> String {
        let columns = ColumnTypes::from_pairs(cols);
        render(&rewrite(&tokenize(sql).unwrap(), &columns).unwrap(), Session::default()).unwrap()
    }

    #[test]
    fn text_comparisons_ignore_trailing_blanks() {
        let cols = [("k", true), ("file", true), ("n", false), ("$path", true)];
        assert_eq!(
            blanks("SELECT * FROM a JOIN b ON a.k = b.k WHERE a.n = b.n AND a.k <> 'x  '", &cols),
            "SELECT * FROM a JOIN b ON rtrim(a.k, ' ') = rtrim(b.k, ' ') WHERE a.n = b.n AND rtrim(a.k, ' ') <> 'x'"
        );
        assert_eq!(
            blanks("DELETE FROM f USING p WHERE f.file = p.file", &cols),
            "DELETE FROM f USING p WHERE rtrim(f.file, ' ') = rtrim(p.file, ' ')"
        );
        assert_eq!(
            blanks("SELECT 1 FROM r WHERE r.\"$path\" = w.other", &cols),
            format!("SELECT 1 FROM r WHERE rtrim(r.\"$path\", ' ') = {MACRO_SCHEMA}.blank_trimmed(w.other)")
        );
        // Not a boolean context, or not simple operands: untouched.
        assert_eq!(blanks("SELECT a.k = b.k AS same", &cols), "SELECT a.k = b.k AS same");
        assert_eq!(blanks("SELECT 1 WHERE k || 'x' = 'y'", &cols), "SELECT 1 WHERE k || 'x' = 'y'");
        assert_eq!(blanks("SELECT 1 WHERE x = y", &cols), "SELECT 1 WHERE x = y");
        assert_eq!(blanks("SELECT 1 WHERE k LIKE 'a '", &cols), "SELECT 1 WHERE k LIKE 'a '");
    }

    #[test]
    fn case_in_and_partition_by_ignore_trailing_blanks() {
        let cols = [("op", true), ("id", false), ("k", true)];
        assert_eq!(
            blanks("SELECT CASE r.\"op\" WHEN 'D ' THEN 1 WHEN 'I' THEN 2 END", &cols),
            "SELECT CASE rtrim(r.\"op\", ' ') WHEN 'D' THEN 1 WHEN 'I' THEN 2 END"
        );
        assert_eq!(
            blanks("SELECT 1 FROM t WHERE k NOT IN ('a ', 'b')", &cols),
            "SELECT 1 FROM t WHERE rtrim(k, ' ') NOT IN ('a', 'b')"
        );
        assert_eq!(
            blanks("SELECT ROW_NUMBER() OVER (PARTITION BY k, id ORDER BY id) FROM t", &cols),
            "SELECT ROW_NUMBER() OVER (PARTITION BY rtrim(k, ' '), id ORDER BY id) FROM t"
        );
        assert_eq!(blanks("SELECT LEN(k), OCTET_LENGTH(k), s.len(k)", &cols), "SELECT length(k), strlen(k), s.len(k)");
    }
}
