//! Rule 11: `ALTER TABLE … ADD COLUMN` adds one column per statement.
//!
//! DuckDB takes none or several, with its own errors; Redshift takes exactly
//! one, so SQL that adds two in one statement fails there. The pipeline's
//! schema evolution adds each column in a statement of its own
//! (docs/table-lifecycle.md).

use sqlparser::tokenizer::Token;

use super::Rule;
use crate::translate::is_keyword;

pub const RULE: Rule = Rule {
    name: "one column per ALTER TABLE ADD COLUMN",
    documented: "ADD [ COLUMN ] column_name: \"Adds a column with the specified name to the table. You can add only \
                 one column in each ALTER TABLE statement.\" The same page: a column cannot be added as the DISTKEY \
                 or a SORTKEY, nor with UNIQUE, PRIMARY KEY or REFERENCES; a table has at most 1,600 columns.",
    url: "https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html",
    emulated: "An ALTER TABLE with more than one ADD [COLUMN] is refused before it runs, with the page's sentence. \
               The DISTKEY/SORTKEY/constraint and 1,600-column limits are not emulated (the pipeline adds plain \
               nullable columns only), nor the byte-length CHECK of rule 2 on an added character column.",
};

/// The error for an ALTER TABLE that adds several columns, if `sig` is one.
pub fn refused(sig: &[&Token]) -> Option<String> {
    if !(is_keyword(sig.first(), "ALTER") && is_keyword(sig.get(1), "TABLE")) {
        return None;
    }
    // `ADD` at depth 0 starts an action; `ADD CONSTRAINT` is not a column.
    let mut depth = 0i32;
    let mut adds = 0;
    for (i, t) in sig.iter().enumerate() {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth == 0 && is_keyword(Some(t), "ADD") && !is_keyword(sig.get(i + 1), "CONSTRAINT") => adds += 1,
            _ => {}
        }
    }
    (adds > 1).then(|| {
        format!(
            "ERROR: ALTER TABLE adds {adds} columns: you can add only one column in each ALTER TABLE statement ({})",
            RULE.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{significant, tokenize};

    fn refused_of(sql: &str) -> Option<String> {
        let tokens = tokenize(sql).unwrap();
        refused(&significant(&tokens))
    }

    #[test]
    fn two_columns_in_one_statement_are_refused_one_passes() {
        assert!(refused_of("ALTER TABLE s.t ADD COLUMN a INTEGER").is_none());
        assert!(refused_of("ALTER TABLE s.t ADD a VARCHAR(10)").is_none());
        let e = refused_of("ALTER TABLE s.t ADD COLUMN a INTEGER, ADD COLUMN b NUMERIC(10,2)").unwrap();
        assert!(e.contains("adds 2 columns") && e.contains("only one column"), "{e}");
        assert!(refused_of("ALTER TABLE s.t ADD CONSTRAINT pk PRIMARY KEY (a)").is_none());
        assert!(refused_of("SELECT 1").is_none());
    }
}
