//! Rule 2: VARCHAR(n) and CHAR(n) count bytes, and a value too long for its
//! column fails the write.
//!
//! DuckDB ignores declared lengths, so every character column of a CREATE
//! TABLE (also `CREATE TEMP TABLE … (cols)` and `IF NOT EXISTS`) gets a
//! CHECK constraint calling one of the emulator's macros; a failed CHECK is
//! worded back as Redshift's error ([`redshift_text`]). The macro names carry
//! the width, so the error can name the type.

use sqlparser::tokenizer::Token;

use super::{MACRO_SCHEMA, Rule};
use crate::translate::{TranslateError, is_keyword, keyword, matching_paren, significant, tokenize};

pub const RULE: Rule = Rule {
    name: "character lengths count bytes",
    documented: "\"CHAR and VARCHAR data types are defined in terms of bytes, not characters. A CHAR column can only \
                 contain single-byte characters, so a CHAR(10) column can contain a string with a maximum length of \
                 10 bytes.\" \"An attempt to store a longer string into a column of these types results in an error, \
                 unless the extra characters are all spaces (blanks), in which case the string is truncated to the \
                 maximum length.\" Defaults: VARCHAR without length 256, TEXT = VARCHAR(256), BPCHAR = CHAR(256), \
                 MAX = 65535 (VARCHAR) or 4096 (CHAR). Error text (r_Examples_with_character_types.html): \"ERROR: \
                 value too long for type character(20)\". CHAR multibyte: only the COPY text is documented \
                 (multi-byte-character-load-errors.html: \"Multibyte character not supported for CHAR (Hint: Try \
                 using VARCHAR)\"); the INSERT text is not, so the emulator uses the COPY wording.",
    url: "https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html",
    emulated: "A CHECK constraint per character column: the UTF-8 byte length of the value without its trailing spaces \
               must be at most n (so all-space surplus passes; it is stored untruncated, which is not emulated); CHAR \
               values must be single-byte (code points below 128).",
};

/// The largest VARCHAR and CHAR.
pub const VARCHAR_MAX: u32 = 65535;
pub const CHAR_MAX: u32 = 4096;

/// A character column type, its width in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharType {
    Varchar(u32),
    Char(u32),
}

impl CharType {
    /// Redshift's name of the type in error messages.
    pub fn redshift_name(self) -> String {
        match self {
            CharType::Varchar(n) => format!("character varying({n})"),
            CharType::Char(n) => format!("character({n})"),
        }
    }
}

/// The macros the constraints call.
pub fn macros_sql() -> String {
    let s = MACRO_SCHEMA;
    format!(
        "CREATE OR REPLACE MACRO {s}.fits_varchar(v, n) AS strlen(rtrim(v, ' ')) <= n;
         CREATE OR REPLACE MACRO {s}.fits_char(v, n) AS strlen(rtrim(v, ' ')) <= n;
         CREATE OR REPLACE MACRO {s}.single_byte_char(v) AS strlen(v) = length(v);"
    )
}

/// The character type a column definition starts with (its significant
/// tokens after the column name), and how many tokens the type takes; `None`
/// for other types. Widths default as the docs say (see [`RULE`]).
pub fn column_type(sig: &[&Token]) -> Result<Option<(CharType, usize)>, TranslateError> {
    let kw = |i: usize| sig.get(i).and_then(|t| keyword(t)).unwrap_or_default();
    let mut i = 0;
    if kw(0) == "NATIONAL" {
        i = 1;
    }
    let (varying, len_at) = match kw(i).as_str() {
        "VARCHAR" | "NVARCHAR" => (true, i + 1),
        "TEXT" => return Ok(Some((CharType::Varchar(256), i + 1))),
        "BPCHAR" => return Ok(Some((CharType::Char(256), i + 1))),
        "CHARACTER" | "CHAR" if kw(i + 1) == "VARYING" => (true, i + 2),
        "CHAR" | "CHARACTER" | "NCHAR" => (false, i + 1),
        _ => return Ok(None),
    };
    let (default, max) = if varying { (256, VARCHAR_MAX) } else { (1, CHAR_MAX) };
    let make = |n: u32| if varying { CharType::Varchar(n) } else { CharType::Char(n) };
    if sig.get(len_at) != Some(&&Token::LParen) {
        return Ok(Some((make(default), len_at)));
    }
    let bad = || TranslateError("ERROR: syntax error: a length (a number or MAX) was expected".into());
    let n = match sig.get(len_at + 1) {
        Some(Token::Number(n, _)) => n.parse::<u32>().map_err(|_| bad())?,
        Some(t) if keyword(t).as_deref() == Some("MAX") => max,
        _ => return Err(bad()),
    };
    if sig.get(len_at + 2) != Some(&&Token::RParen) {
        return Err(bad());
    }
    if n == 0 || n > max {
        let name = if varying { "VARCHAR" } else { "CHAR" };
        return Err(TranslateError(format!("ERROR: length for type {name} must be between 1 and {max}, got {n}")));
    }
    Ok(Some((make(n), len_at + 3)))
}

/// The CHECK constraints for a column of type `ty`, as DuckDB SQL.
pub fn checks(column: &str, ty: CharType) -> String {
    let s = MACRO_SCHEMA;
    match ty {
        CharType::Varchar(n) => format!(" CHECK ({s}.fits_varchar({column}, {n}))"),
        CharType::Char(n) => {
            format!(" CHECK ({s}.fits_char({column}, {n})) CHECK ({s}.single_byte_char({column}))")
        }
    }
}

/// `CREATE [TEMP|TEMPORARY] TABLE [IF NOT EXISTS] name (columns…)` with the
/// CHECK constraints added; other statements unchanged.
pub fn add_checks(tokens: Vec<Token>) -> Result<Vec<Token>, TranslateError> {
    let positions: Vec<usize> =
        tokens.iter().enumerate().filter(|(_, t)| !matches!(t, Token::Whitespace(_))).map(|(i, _)| i).collect();
    let sig: Vec<&Token> = positions.iter().map(|&i| &tokens[i]).collect();
    if !is_keyword(sig.first(), "CREATE") {
        return Ok(tokens);
    }
    let mut i = 1;
    while matches!(sig.get(i).and_then(|t| keyword(t)).as_deref(), Some("TEMP" | "TEMPORARY" | "LOCAL")) {
        i += 1;
    }
    if !is_keyword(sig.get(i), "TABLE") {
        return Ok(tokens);
    }
    i += 1;
    if is_keyword(sig.get(i), "IF") {
        i += 3;
    }
    // name or schema.name
    i += 1;
    while sig.get(i) == Some(&&Token::Period) {
        i += 2;
    }
    if sig.get(i) != Some(&&Token::LParen) {
        return Ok(tokens); // CREATE TABLE … AS / LIKE
    }
    let open = positions[i];
    let close = matching_paren(&tokens, open)?;
    // Top-level element ends (commas and the closing paren), in the full tokens.
    let mut ends = Vec::new();
    let mut depth = 0usize;
    for (j, t) in tokens.iter().enumerate().take(close + 1).skip(open + 1) {
        match t {
            Token::LParen => depth += 1,
            Token::RParen if depth > 0 => depth -= 1,
            Token::Comma if depth == 0 => ends.push(j),
            Token::RParen => ends.push(j),
            _ => {}
        }
    }
    let mut inserts: Vec<(usize, Vec<Token>)> = Vec::new();
    let mut start = open + 1;
    for &end in &ends {
        let element = significant(&tokens[start..end]);
        let starts_constraint = element
            .first()
            .and_then(|t| keyword(t))
            .is_some_and(|k| matches!(k.as_str(), "CONSTRAINT" | "PRIMARY" | "UNIQUE" | "FOREIGN" | "CHECK" | "LIKE"));
        if let (false, Some(Token::Word(_))) = (starts_constraint, element.first()) {
            if let Some((ty, _)) = column_type(&element[1..])? {
                let column = crate::translate::render(&[element[0].clone()], Default::default())?;
                inserts.push((end, tokenize(&checks(&column, ty))?));
            }
        }
        start = end + 1;
    }
    let mut out = tokens;
    for (at, extra) in inserts.into_iter().rev() {
        out.splice(at..at, extra);
    }
    Ok(out)
}

/// Redshift's text for a failed length or CHAR constraint, from DuckDB's
/// `CHECK constraint failed … with expression CHECK(<schema>.fits_varchar(c, n))`.
pub fn redshift_text(duckdb_message: &str) -> Option<String> {
    if !duckdb_message.contains("CHECK constraint failed") {
        return None;
    }
    if duckdb_message.contains("single_byte_char(") {
        return Some("ERROR: Multibyte character not supported for CHAR (Hint: Try using VARCHAR)".into());
    }
    let width = |name: &str| -> Option<u32> {
        let rest = &duckdb_message[duckdb_message.find(name)? + name.len()..];
        let args = &rest[..rest.find(')')?];
        args.rsplit(',').next()?.trim().parse().ok()
    };
    let ty = match (width("fits_varchar("), width("fits_char(")) {
        (Some(n), _) => CharType::Varchar(n),
        (None, Some(n)) => CharType::Char(n),
        _ => return None,
    };
    Some(format!("ERROR: value too long for type {}", ty.redshift_name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{Session, render};

    fn checked(sql: &str) -> String {
        render(&add_checks(tokenize(sql).unwrap()).unwrap(), Session::default()).unwrap()
    }

    #[test]
    fn character_columns_get_their_byte_limits() {
        let s = MACRO_SCHEMA;
        assert_eq!(
            checked(
                "CREATE TEMP TABLE f (file VARCHAR(1024), kind CHAR(1) NOT NULL, n INTEGER, t TEXT, m VARCHAR(MAX))"
            ),
            format!(
                "CREATE TEMP TABLE f (file VARCHAR(1024) CHECK ({s}.fits_varchar(file, 1024)), kind CHAR(1) NOT NULL \
                 CHECK ({s}.fits_char(kind, 1)) CHECK ({s}.single_byte_char(kind)), n INTEGER, t TEXT CHECK \
                 ({s}.fits_varchar(t, 256)), m VARCHAR CHECK ({s}.fits_varchar(m, 65535)))"
            )
        );
        assert!(
            checked("CREATE TABLE IF NOT EXISTS \"a\".\"b\" (\"x\" CHARACTER VARYING)")
                .contains("fits_varchar(\"x\", 256)")
        );
        assert!(checked("CREATE TABLE b (x BPCHAR, y CHARACTER)").contains("fits_char(x, 256)"));
        assert!(checked("CREATE TABLE b (x BPCHAR, y CHARACTER)").contains("fits_char(y, 1)"));
        assert_eq!(checked("CREATE TEMP TABLE b AS SELECT 'x' AS y"), "CREATE TEMP TABLE b AS SELECT 'x' AS y");
        assert!(add_checks(tokenize("CREATE TABLE b (x VARCHAR(65536))").unwrap()).is_err());
    }

    #[test]
    fn failed_checks_read_as_redshift_errors() {
        let m =
            |e: &str| format!("Constraint Error: CHECK constraint failed on table \"t\" with expression CHECK({e})");
        assert_eq!(
            redshift_text(&m("__redshift_emulator.fits_varchar(filler, 84)")).unwrap(),
            "ERROR: value too long for type character varying(84)"
        );
        assert_eq!(
            redshift_text(&m("__redshift_emulator.fits_char(kind, 1)")).unwrap(),
            "ERROR: value too long for type character(1)"
        );
        assert!(redshift_text(&m("__redshift_emulator.single_byte_char(kind)")).unwrap().contains("Multibyte"));
        assert_eq!(redshift_text(&m("(a > 0)")), None);
    }
}
