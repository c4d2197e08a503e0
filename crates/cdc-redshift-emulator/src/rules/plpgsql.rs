//! Rule 1: stored procedures run their PL/pgSQL body, and the body is
//! checked at CREATE PROCEDURE.
//!
//! A small interpreter for the subset our procedures use:
//! `[DECLARE name type [:= expr]; …] BEGIN stmt… END;` with the statements
//! `EXECUTE <string expr> INTO <var>;`, `<var> := <expr>;`,
//! `IF <cond> THEN … [ELSE …] END IF;`, `RAISE <level> '<format>' [, <var> …];`
//! and `NULL;`. Expressions and conditions are evaluated by DuckDB (the
//! usual translation), with the variables substituted as typed literals.
//! `EXECUTE … INTO` assigns the first column of the first row, NULL when
//! there is no row (as the docs say of SELECT INTO). RAISE EXCEPTION fails
//! the statement with the formatted message; the other levels only log.
//!
//! When the body is checked: the docs are silent. Redshift's RAISE sentence
//! is PostgreSQL 8.0's word for word, and PostgreSQL 8.0's grammar accepts
//! only a variable after the comma, checked by its validator at CREATE
//! FUNCTION; the emulator takes that stricter reading and refuses, at
//! CREATE PROCEDURE, a RAISE argument that is not a declared variable or a
//! parameter, a format that is not a string literal, an unknown level, or
//! any construct outside the subset.

use std::collections::HashMap;

use sqlparser::tokenizer::Token;

use super::Rule;
use crate::translate::{TranslateError, keyword, string_value, tokenize};

pub const RULE: Rule = Rule {
    name: "PL/pgSQL RAISE arguments are simple variables",
    documented: "\"Inside the format string, % is replaced by the next optional argument's string representation. \
                 Write %% to emit a literal %. Currently, optional arguments must be simple variables, not \
                 expressions, and the format must be a simple string literal.\" \"Possible levels are NOTICE, INFO, \
                 LOG, WARNING, and EXCEPTION.\" The docs do not say when a body is checked; PostgreSQL 8.0, whose \
                 sentence this is, checks it in the grammar at CREATE.",
    url: "https://docs.aws.amazon.com/redshift/latest/dg/c_PLpgSQL-statements.html#r_PLpgSQL-messages-errors",
    emulated: "CREATE PROCEDURE parses the body and refuses anything outside the subset (DECLARE, BEGIN … END, \
               EXECUTE … INTO, :=, IF … THEN … ELSE … END IF, RAISE, NULL) and RAISE arguments that are not \
               variables; CALL runs the body.",
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlpgsqlError {
    /// The body is outside what Redshift (and the emulator) accepts.
    #[error("ERROR: syntax error at or near \"{near}\": {why} (Redshift PL/pgSQL, {url})", url = RULE.url)]
    Syntax { near: String, why: String },
    /// RAISE EXCEPTION, or a statement of the body failing.
    #[error("{0}")]
    Failed(String),
}

fn syntax(near: Option<&Token>, why: impl Into<String>) -> PlpgsqlError {
    PlpgsqlError::Syntax { near: near.map_or_else(|| "end of body".into(), |t| t.to_string()), why: why.into() }
}

/// A procedure's parameter or variable: name and type (Redshift text).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Variable {
    pub name: String,
    pub ty: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Execute { command: Vec<Token>, into: String },
    Assign { var: String, expr: Vec<Token> },
    If { cond: Vec<Token>, then: Vec<Stmt>, otherwise: Vec<Stmt> },
    Raise { level: Level, format: String, args: Vec<String> },
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Notice,
    Info,
    Log,
    Warning,
    Exception,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub declarations: Vec<(Variable, Option<Vec<Token>>)>,
    pub statements: Vec<Stmt>,
}

/// Parses and checks a body, given the procedure's parameters.
pub fn parse(body: &str, params: &[Variable]) -> Result<Body, PlpgsqlError> {
    let tokens = tokenize(body).map_err(|e| PlpgsqlError::Failed(e.0))?;
    let mut p = Parser { tokens: &tokens, at: 0, known: params.iter().map(|v| v.name.clone()).collect() };
    let mut declarations = Vec::new();
    if p.eat_kw("DECLARE") {
        while !p.peek_kw("BEGIN") {
            let name = p.identifier("a variable name")?;
            let ty = p.until(|t| *t == Token::Assignment || *t == Token::SemiColon);
            if ty.iter().all(|t| matches!(t, Token::Whitespace(_))) {
                return Err(syntax(p.peek(), "a variable type was expected"));
            }
            let default = if p.eat(&Token::Assignment) { Some(p.until(|t| *t == Token::SemiColon)) } else { None };
            p.expect(&Token::SemiColon)?;
            p.known.push(name.clone());
            declarations.push((
                Variable {
                    name,
                    ty: crate::translate::render(&ty, Default::default())
                        .map_err(|e| PlpgsqlError::Failed(e.0))?
                        .trim()
                        .to_string(),
                },
                default,
            ));
        }
    }
    p.expect_kw("BEGIN")?;
    let statements = p.statements(&["END"])?;
    p.expect_kw("END")?;
    p.eat(&Token::SemiColon);
    if let Some(t) = p.peek() {
        return Err(syntax(Some(t), "nothing may follow the block's END"));
    }
    Ok(Body { declarations, statements })
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    known: Vec<String>,
}

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        while matches!(self.tokens.get(self.at), Some(Token::Whitespace(_))) {
            self.at += 1;
        }
    }
    fn peek(&mut self) -> Option<&'a Token> {
        self.skip_ws();
        self.tokens.get(self.at).filter(|t| **t != Token::EOF)
    }
    fn peek_kw(&mut self, kw: &str) -> bool {
        self.peek().and_then(keyword).is_some_and(|k| k == kw)
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.peek_kw(kw);
        if yes {
            self.at += 1;
        }
        yes
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), PlpgsqlError> {
        if self.eat_kw(kw) { Ok(()) } else { Err(syntax(self.peek(), format!("{kw} was expected"))) }
    }
    fn eat(&mut self, t: &Token) -> bool {
        let yes = self.peek() == Some(t);
        if yes {
            self.at += 1;
        }
        yes
    }
    fn expect(&mut self, t: &Token) -> Result<(), PlpgsqlError> {
        if self.eat(t) { Ok(()) } else { Err(syntax(self.peek(), format!("\"{t}\" was expected"))) }
    }
    fn identifier(&mut self, what: &str) -> Result<String, PlpgsqlError> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let name = w.value.to_lowercase();
                self.at += 1;
                Ok(name)
            }
            other => Err(syntax(other.cloned().as_ref(), format!("{what} was expected"))),
        }
    }
    fn variable(&mut self, what: &str) -> Result<String, PlpgsqlError> {
        let at = self.peek().cloned();
        let name = self.identifier(what)?;
        if self.known.contains(&name) {
            Ok(name)
        } else {
            Err(syntax(at.as_ref(), format!("\"{name}\" is not a declared variable or parameter")))
        }
    }
    /// Tokens up to (not including) the first top-level token matching `stop`.
    fn until(&mut self, stop: impl Fn(&Token) -> bool) -> Vec<Token> {
        let start = self.at;
        let mut depth = 0usize;
        while let Some(t) = self.tokens.get(self.at) {
            match t {
                Token::EOF => break,
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                t if depth == 0 && stop(t) => break,
                _ => {}
            }
            self.at += 1;
        }
        self.tokens[start..self.at].to_vec()
    }
    fn statements(&mut self, enders: &[&str]) -> Result<Vec<Stmt>, PlpgsqlError> {
        let mut out = Vec::new();
        while !enders.iter().any(|e| self.peek_kw(e)) {
            out.push(self.statement()?);
        }
        Ok(out)
    }
    fn statement(&mut self) -> Result<Stmt, PlpgsqlError> {
        let Some(first) = self.peek().cloned() else { return Err(syntax(None, "END was expected")) };
        let stmt = match keyword(&first).as_deref() {
            Some("EXECUTE") => {
                self.at += 1;
                let command = self.until(|t| keyword(t).as_deref() == Some("INTO") || *t == Token::SemiColon);
                if !self.eat_kw("INTO") {
                    return Err(syntax(self.peek(), "the emulator runs EXECUTE … INTO <variable> only"));
                }
                let into = self.variable("a variable after INTO")?;
                Stmt::Execute { command, into }
            }
            Some("IF") => {
                self.at += 1;
                let cond = self.until(|t| keyword(t).as_deref() == Some("THEN"));
                self.expect_kw("THEN")?;
                let then = self.statements(&["ELSE", "END", "ELSIF", "ELSEIF"])?;
                let otherwise = if self.eat_kw("ELSE") { self.statements(&["END"])? } else { Vec::new() };
                self.expect_kw("END")?;
                self.expect_kw("IF")?;
                Stmt::If { cond, then, otherwise }
            }
            Some("RAISE") => {
                self.at += 1;
                let level_token = self.peek().cloned();
                let level = match level_token.as_ref().and_then(keyword).as_deref() {
                    Some("NOTICE") => Level::Notice,
                    Some("INFO") => Level::Info,
                    Some("LOG") => Level::Log,
                    Some("WARNING") => Level::Warning,
                    Some("EXCEPTION") => Level::Exception,
                    _ => {
                        return Err(syntax(
                            level_token.as_ref(),
                            "RAISE needs a level: NOTICE, INFO, LOG, WARNING or EXCEPTION",
                        ));
                    }
                };
                self.at += 1;
                let format = match self.peek().cloned() {
                    Some(t) if string_value(&t).is_some() => {
                        self.at += 1;
                        string_value(&t).unwrap_or_default().to_string()
                    }
                    other => return Err(syntax(other.as_ref(), "the RAISE format must be a simple string literal")),
                };
                let mut args = Vec::new();
                while self.eat(&Token::Comma) {
                    args.push(self.variable("a variable (RAISE arguments must be simple variables, not expressions)")?);
                    if !matches!(self.peek(), Some(Token::Comma | Token::SemiColon)) {
                        return Err(syntax(
                            self.peek().cloned().as_ref(),
                            "RAISE arguments must be simple variables, not expressions",
                        ));
                    }
                }
                Stmt::Raise { level, format, args }
            }
            Some("NULL") => {
                self.at += 1;
                Stmt::Null
            }
            _ if matches!(first, Token::Word(_)) => {
                let start = self.at;
                self.at += 1;
                if !self.eat(&Token::Assignment) {
                    return Err(syntax(
                        Some(&first),
                        "the emulator runs DECLARE, EXECUTE … INTO, :=, IF, RAISE and NULL only",
                    ));
                }
                self.at = start;
                let var = self.variable("a variable")?;
                self.eat(&Token::Assignment);
                let expr = self.until(|t| *t == Token::SemiColon);
                Stmt::Assign { var, expr }
            }
            _ => return Err(syntax(Some(&first), "a statement was expected")),
        };
        self.expect(&Token::SemiColon)?;
        Ok(stmt)
    }
}

/// What the interpreter needs from the database: evaluating an expression
/// (Redshift SQL text, variables already substituted) to its first value.
pub trait Evaluate {
    fn first_value(&mut self, redshift_sql: &str) -> Result<Option<String>, String>;
}

/// A variable's value and type during a call.
struct Slot {
    ty: String,
    value: Option<String>,
}

/// Runs a checked body with the parameters bound to the arguments.
pub fn run(
    body: &Body,
    params: &[Variable],
    args: &[Option<String>],
    db: &mut dyn Evaluate,
) -> Result<(), PlpgsqlError> {
    let mut vars: HashMap<String, Slot> =
        params.iter().zip(args).map(|(p, a)| (p.name.clone(), Slot { ty: p.ty.clone(), value: a.clone() })).collect();
    for (v, default) in &body.declarations {
        let value = match default {
            Some(expr) => eval(expr, &vars, db)?,
            None => None,
        };
        vars.insert(v.name.clone(), Slot { ty: v.ty.clone(), value });
    }
    block(&body.statements, &mut vars, db)
}

fn block(stmts: &[Stmt], vars: &mut HashMap<String, Slot>, db: &mut dyn Evaluate) -> Result<(), PlpgsqlError> {
    for s in stmts {
        match s {
            Stmt::Null => {}
            Stmt::Assign { var, expr } => {
                let v = eval(expr, vars, db)?;
                set(vars, var, v);
            }
            Stmt::Execute { command, into } => {
                let command = eval(command, vars, db)?
                    .ok_or_else(|| PlpgsqlError::Failed("ERROR: query string argument of EXECUTE is null".into()))?;
                let v = db.first_value(&command).map_err(PlpgsqlError::Failed)?;
                set(vars, into, v);
            }
            Stmt::If { cond, then, otherwise } => {
                let mut test = tokenize("CASE WHEN (").map_err(|e| PlpgsqlError::Failed(e.0))?;
                test.extend(cond.iter().cloned());
                test.extend(tokenize(") THEN 1 ELSE 0 END").map_err(|e| PlpgsqlError::Failed(e.0))?);
                let holds = eval(&test, vars, db)?.as_deref() == Some("1");
                block(if holds { then } else { otherwise }, vars, db)?;
            }
            Stmt::Raise { level, format, args } => {
                let values: Vec<Option<&str>> =
                    args.iter().map(|a| vars.get(a).and_then(|s| s.value.as_deref())).collect();
                let message = format_message(format, &values);
                if *level == Level::Exception {
                    return Err(PlpgsqlError::Failed(format!("ERROR: {message}")));
                }
                tracing::info!(?level, %message, "RAISE");
            }
        }
    }
    Ok(())
}

fn set(vars: &mut HashMap<String, Slot>, name: &str, value: Option<String>) {
    if let Some(slot) = vars.get_mut(name) {
        slot.value = value;
    }
}

/// `%` → the next argument (NULL as `<NULL>`, as PostgreSQL prints it), `%%` → `%`.
pub fn format_message(format: &str, args: &[Option<&str>]) -> String {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
        } else if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
        } else {
            match next.next() {
                Some(Some(v)) => out.push_str(v),
                Some(None) => out.push_str("<NULL>"),
                None => out.push('%'),
            }
        }
    }
    out
}

/// An expression's value: `SELECT <expr>` with each variable replaced by
/// `CAST('value' AS type)` (character types as unsized VARCHAR, so the
/// value is not cut again).
fn eval(expr: &[Token], vars: &HashMap<String, Slot>, db: &mut dyn Evaluate) -> Result<Option<String>, PlpgsqlError> {
    let mut sql = String::from("SELECT ");
    let mut prev_period = false;
    for t in expr {
        let var = match t {
            Token::Word(w) if w.quote_style.is_none() && !prev_period => vars.get(&w.value.to_lowercase()),
            _ => None,
        };
        match var {
            Some(slot) => {
                let ty = literal_type(&slot.ty);
                match &slot.value {
                    Some(v) => {
                        sql.push_str(&format!("CAST('{}' AS {ty})", v.replace('\'', "''").replace('\\', "\\\\")))
                    }
                    None => sql.push_str(&format!("CAST(NULL AS {ty})")),
                }
            }
            None => sql.push_str(&crate::translate::redshift_token(t)),
        }
        if !matches!(t, Token::Whitespace(_)) {
            prev_period = *t == Token::Period;
        }
    }
    db.first_value(&sql).map_err(PlpgsqlError::Failed)
}

fn literal_type(ty: &str) -> String {
    let sig = tokenize(ty).unwrap_or_default();
    let sig = crate::translate::significant(&sig);
    match super::character_length::column_type(&sig) {
        Ok(Some(_)) => "VARCHAR".into(),
        _ => ty.to_string(),
    }
}

/// Parameters of `CREATE PROCEDURE name(…)`: `[IN] name type`, comma-separated.
pub fn parameters(inside: &[Token]) -> Result<Vec<Variable>, TranslateError> {
    crate::translate::split_args(inside)
        .into_iter()
        .map(|p| {
            let sig = crate::translate::significant(p);
            let skip = usize::from(sig.first().and_then(|t| keyword(t)).as_deref() == Some("IN"));
            match (sig.get(skip), sig.len() > skip + 1) {
                (Some(Token::Word(w)), true) => {
                    let start = p.iter().position(|t| std::ptr::eq(t, sig[skip + 1])).unwrap_or(0);
                    Ok(Variable {
                        name: w.value.to_lowercase(),
                        ty: crate::translate::render(&p[start..], Default::default())?.trim().to_string(),
                    })
                }
                _ => Err(TranslateError(
                    "ERROR: procedure parameters other than `[IN] name type` are not supported by the Redshift emulator"
                        .into(),
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: &str = "DECLARE bad_file VARCHAR(1024); full_message VARCHAR(65535); BEGIN EXECUTE query INTO \
                         bad_file; IF bad_file IS NOT NULL THEN full_message := message || bad_file; RAISE EXCEPTION \
                         '%', full_message; END IF; END;";

    fn params() -> Vec<Variable> {
        vec![
            Variable { name: "query".into(), ty: "VARCHAR(65535)".into() },
            Variable { name: "message".into(), ty: "VARCHAR(1024)".into() },
        ]
    }

    #[test]
    fn raise_arguments_must_be_variables_at_create() {
        let old = "DECLARE bad_file VARCHAR(1024); BEGIN EXECUTE query INTO bad_file; IF bad_file IS NOT NULL THEN \
                   RAISE EXCEPTION '%', message || bad_file; END IF; END;";
        let e = parse(old, &params()).unwrap_err().to_string();
        assert!(e.contains("syntax error at or near \"||\"") && e.contains("simple variables"), "{e}");
        assert!(parse(FIXED, &params()).is_ok());
        for (bad, why) in [
            ("BEGIN RAISE EXCEPTION message; END;", "string literal"),
            ("BEGIN RAISE DEBUG 'x'; END;", "level"),
            ("BEGIN RAISE EXCEPTION 'x %', nope; END;", "not a declared variable"),
            ("BEGIN FOR r IN SELECT 1 LOOP NULL; END LOOP; END;", "emulator runs"),
            ("BEGIN EXECUTE query; END;", "INTO"),
        ] {
            let e = parse(bad, &params()).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn formats_replace_percent_signs() {
        assert_eq!(format_message("a % b %% c %", &[Some("1"), None]), "a 1 b % c <NULL>");
    }
}
