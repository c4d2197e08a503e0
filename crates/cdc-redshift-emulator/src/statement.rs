//! What a submitted statement asks for: plain SQL (translated when it runs),
//! or one of the Redshift statements the emulator carries out itself.

use sqlparser::tokenizer::Token;

use crate::rules::plpgsql::Variable;
use crate::rules::transaction_block::{AlterColumnType, parse_alter_column_type};
use crate::translate::{
    TranslateError, identifier, is_keyword, keyword, matching_paren, significant, split_args, string_value, tokenize,
};

/// A schema-qualified name, folded to lower case as Redshift folds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn quoted(&self) -> String {
        format!("{}.{}", crate::translate::duck_ident(&self.schema), crate::translate::duck_ident(&self.name))
    }
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// Redshift's default schema for unqualified names (`search_path` `$user, public`).
pub const DEFAULT_SCHEMA: &str = "public";

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Anything else: translated and run by DuckDB.
    Sql(String),
    CreateProcedure {
        name: QualifiedName,
        params: Vec<Variable>,
        body: String,
    },
    /// `VACUUM …`: nothing to do on DuckDB (outside a transaction block).
    Vacuum,
    /// `LOCK [TABLE] a, b` ([`crate::rules::table_locks`]).
    Lock(Vec<QualifiedName>),
    /// `ALTER TABLE t ALTER COLUMN c TYPE …` (outside a transaction block).
    AlterColumnType(AlterColumnType),
    /// A statement a rule refuses where it stands (inside a transaction
    /// block): it fails with this error when its turn comes.
    Refused(String),
    CreateExternalSchema {
        schema: String,
        glue_database: String,
        if_not_exists: bool,
    },
    CreateMaterializedView {
        name: QualifiedName,
        query: Vec<Token>,
    },
    RefreshMaterializedView {
        name: QualifiedName,
    },
    DropMaterializedView {
        name: QualifiedName,
        if_exists: bool,
    },
    Call {
        name: QualifiedName,
        args: Vec<Option<String>>,
    },
    Unload(UnloadSpec),
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnloadSpec {
    /// The SELECT, as Redshift text.
    pub query: String,
    pub bucket: String,
    /// Key prefix of the written files (`prefix/` for a folder).
    pub prefix: String,
    pub parallel: bool,
    pub max_file_bytes: Option<u64>,
    pub cleanpath: bool,
    pub allow_overwrite: bool,
    pub extension: Option<String>,
    /// `KMS_KEY_ID 'key' ENCRYPTED`: the parts are written with SSE-KMS
    /// under this key instead of SSE-S3.
    pub kms_key_id: Option<String>,
}

/// Sorts a statement into its [`Step`].
pub fn parse(sql: &str) -> Result<Step, TranslateError> {
    let tokens = tokenize(sql)?;
    let sig = significant(&tokens);
    let kw = |i: usize| sig.get(i).and_then(|t| keyword(t)).unwrap_or_default();
    match kw(0).as_str() {
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" => Err(TranslateError(format!(
            "ERROR: {} inside a batch is not supported by the Redshift emulator (each batch is one transaction)",
            kw(0)
        ))),
        "UNLOAD" => parse_unload(&sig).map(Step::Unload),
        "LOCK" => {
            match crate::rules::table_locks::locked_tables(&sig, |at| qualified_name(&sig, at).map_err(|e| e.0)) {
                Some(Ok(tables)) => Ok(Step::Lock(tables)),
                Some(Err(e)) => Err(TranslateError(e)),
                None => Ok(Step::Sql(sql.to_string())),
            }
        }
        "VACUUM" => Ok(Step::Vacuum),
        "ALTER" => match parse_alter_column_type(sql)? {
            Some(a) => Ok(Step::AlterColumnType(a)),
            None => Ok(Step::Sql(sql.to_string())),
        },
        "CALL" => parse_call(&sig),
        "REFRESH" if kw(1) == "MATERIALIZED" && kw(2) == "VIEW" => {
            let (name, _) = qualified_name(&sig, 3)?;
            Ok(Step::RefreshMaterializedView { name })
        }
        "DROP" if kw(1) == "MATERIALIZED" && kw(2) == "VIEW" => {
            let if_exists = kw(3) == "IF" && kw(4) == "EXISTS";
            let (name, _) = qualified_name(&sig, if if_exists { 5 } else { 3 })?;
            Ok(Step::DropMaterializedView { name, if_exists })
        }
        "CREATE" => {
            let mut i = 1;
            if kw(1) == "OR" && kw(2) == "REPLACE" {
                i = 3;
            }
            match (kw(i).as_str(), kw(i + 1).as_str()) {
                ("PROCEDURE", _) => parse_procedure(&sig, i + 1),
                ("EXTERNAL", "SCHEMA") => parse_external_schema(&sig, i + 2),
                ("EXTERNAL", _) => Err(TranslateError(
                    "ERROR: CREATE EXTERNAL TABLE is not supported by the Redshift emulator (register the table in \
                     the Glue catalog instead)"
                        .into(),
                )),
                ("MATERIALIZED", "VIEW") => parse_materialized_view(&tokens, &sig, i + 2),
                _ => Ok(Step::Sql(sql.to_string())),
            }
        }
        _ => Ok(Step::Sql(sql.to_string())),
    }
}

/// `name` or `schema.name` at `sig[at]`; returns it and the index after it.
fn qualified_name(sig: &[&Token], at: usize) -> Result<(QualifiedName, usize), TranslateError> {
    let bad = || TranslateError("ERROR: syntax error: a name was expected".into());
    let first = sig.get(at).and_then(|t| identifier(t)).ok_or_else(bad)?;
    if sig.get(at + 1) == Some(&&Token::Period) {
        let second = sig.get(at + 2).and_then(|t| identifier(t)).ok_or_else(bad)?;
        return Ok((QualifiedName { schema: first, name: second }, at + 3));
    }
    Ok((QualifiedName { schema: DEFAULT_SCHEMA.into(), name: first }, at + 1))
}

fn parse_procedure(sig: &[&Token], at: usize) -> Result<Step, TranslateError> {
    let (name, after) = qualified_name(sig, at)?;
    let params = if sig.get(after) == Some(&&Token::LParen) {
        let rest: Vec<Token> = sig[after..].iter().map(|t| (*t).clone()).collect();
        let close = matching_paren(&rest, 0)?;
        crate::rules::plpgsql::parameters(&rest[1..close])?
    } else {
        Vec::new()
    };
    // The body is the (dollar-)quoted string after AS.
    let body = sig
        .iter()
        .position(|t| is_keyword(Some(t), "AS"))
        .and_then(|i| sig.get(i + 1))
        .and_then(|t| match t {
            Token::DollarQuotedString(d) => Some(d.value.clone()),
            other => string_value(other).map(str::to_string),
        })
        .ok_or_else(|| TranslateError("ERROR: syntax error: CREATE PROCEDURE without an AS body".into()))?;
    Ok(Step::CreateProcedure { name, params, body })
}

fn parse_external_schema(sig: &[&Token], at: usize) -> Result<Step, TranslateError> {
    let mut i = at;
    let if_not_exists = is_keyword(sig.get(i), "IF") && is_keyword(sig.get(i + 1), "NOT");
    if if_not_exists {
        i += 3;
    }
    let schema =
        sig.get(i).and_then(|t| identifier(t)).ok_or_else(|| TranslateError("ERROR: schema name expected".into()))?;
    i += 1;
    if !is_keyword(sig.get(i), "FROM") {
        return Err(TranslateError("ERROR: syntax error: CREATE EXTERNAL SCHEMA … FROM expected".into()));
    }
    i += 1;
    if is_keyword(sig.get(i), "DATA") && is_keyword(sig.get(i + 1), "CATALOG") {
        i += 2;
    } else if !is_keyword(sig.get(i), "DATABASE") {
        return Err(TranslateError(
            "ERROR: external schemas other than FROM DATA CATALOG are not supported by the Redshift emulator".into(),
        ));
    }
    if !is_keyword(sig.get(i), "DATABASE") {
        return Err(TranslateError("ERROR: syntax error: DATABASE 'name' expected".into()));
    }
    let glue_database = sig
        .get(i + 1)
        .and_then(|t| string_value(t))
        .ok_or_else(|| TranslateError("ERROR: syntax error: DATABASE 'name' expected".into()))?
        .to_string();
    i += 2;
    // REGION, IAM_ROLE and CATALOG_ROLE only say how to reach the catalog.
    while let Some(kw) = sig.get(i).and_then(|t| keyword(t)) {
        match kw.as_str() {
            "REGION" | "IAM_ROLE" | "CATALOG_ROLE" => i += 2,
            "CREATE" => {
                return Err(TranslateError(
                    "ERROR: CREATE EXTERNAL DATABASE IF NOT EXISTS is not supported by the Redshift emulator (create \
                     the Glue database instead)"
                        .into(),
                ));
            }
            other => return Err(TranslateError(format!("ERROR: syntax error at or near \"{other}\""))),
        }
    }
    Ok(Step::CreateExternalSchema { schema, glue_database, if_not_exists })
}

fn parse_materialized_view(tokens: &[Token], sig: &[&Token], at: usize) -> Result<Step, TranslateError> {
    let (name, _) = qualified_name(sig, at)?;
    // The query follows the first top-level AS; the clauses before it
    // (BACKUP, DISTSTYLE, SORTKEY, AUTO REFRESH) are layout and scheduling.
    let mut depth = 0usize;
    for (j, t) in tokens.iter().enumerate() {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            t if depth == 0 && keyword(t).as_deref() == Some("AS") => {
                return Ok(Step::CreateMaterializedView { name, query: tokens[j + 1..].to_vec() });
            }
            _ => {}
        }
    }
    Err(TranslateError("ERROR: syntax error: CREATE MATERIALIZED VIEW without AS".into()))
}

fn parse_call(sig: &[&Token]) -> Result<Step, TranslateError> {
    let (name, after) = qualified_name(sig, 1)?;
    let rest: Vec<Token> = sig[after..].iter().map(|t| (*t).clone()).collect();
    if rest.first() != Some(&Token::LParen) {
        return Err(TranslateError("ERROR: syntax error: CALL name(…) expected".into()));
    }
    let close = matching_paren(&rest, 0)?;
    let args = split_args(&rest[1..close])
        .into_iter()
        .map(|a| match significant(a).as_slice() {
            [t] if keyword(t).as_deref() == Some("NULL") => Ok(None),
            [t] => string_value(t).map(|s| Some(s.to_string())).ok_or(()),
            _ => Err(()),
        })
        .collect::<Result<Vec<_>, ()>>()
        .map_err(|()| {
            TranslateError(
                "ERROR: CALL with arguments other than string literals is not supported by the Redshift emulator"
                    .into(),
            )
        })?;
    Ok(Step::Call { name, args })
}

fn parse_unload(sig: &[&Token]) -> Result<UnloadSpec, TranslateError> {
    let syntax = |what: &str| TranslateError(format!("ERROR: syntax error in UNLOAD: {what}"));
    // UNLOAD ('select') TO 's3://bucket/prefix' options…
    if sig.get(1) != Some(&&Token::LParen) || sig.get(3) != Some(&&Token::RParen) {
        return Err(syntax("UNLOAD ('query') expected"));
    }
    let query = sig.get(2).and_then(|t| string_value(t)).ok_or_else(|| syntax("the query must be a string literal"))?;
    if !is_keyword(sig.get(4), "TO") {
        return Err(syntax("TO 's3://…' expected"));
    }
    let to = sig.get(5).and_then(|t| string_value(t)).ok_or_else(|| syntax("TO 's3://…' expected"))?;
    let (bucket, prefix) = to
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/').or(Some((rest, ""))))
        .filter(|(b, _)| !b.is_empty())
        .ok_or_else(|| syntax("the destination must be s3://bucket/prefix"))?;
    let mut spec = UnloadSpec {
        query: query.to_string(),
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        parallel: true,
        max_file_bytes: None,
        cleanpath: false,
        allow_overwrite: false,
        extension: None,
        kms_key_id: None,
    };
    let mut parquet = false;
    let mut encrypted = false;
    let mut i = 6;
    while let Some(t) = sig.get(i) {
        let kw = keyword(t).ok_or_else(|| syntax(&format!("unexpected {t}")))?;
        i += 1;
        match kw.as_str() {
            "IAM_ROLE" | "REGION" => i += 1 + usize::from(is_keyword(sig.get(i), "AS")),
            "FORMAT" => {
                if is_keyword(sig.get(i), "AS") {
                    i += 1;
                }
            }
            "PARQUET" => parquet = true,
            "CLEANPATH" => spec.cleanpath = true,
            "ALLOWOVERWRITE" => spec.allow_overwrite = true,
            "PARALLEL" => match sig.get(i).and_then(|t| keyword(t)).as_deref() {
                Some("ON" | "TRUE") => (spec.parallel, i) = (true, i + 1),
                Some("OFF" | "FALSE") => (spec.parallel, i) = (false, i + 1),
                _ => spec.parallel = true,
            },
            "MAXFILESIZE" | "ROWGROUPSIZE" => {
                if is_keyword(sig.get(i), "AS") {
                    i += 1;
                }
                let n: f64 = match sig.get(i) {
                    Some(Token::Number(n, _)) => n.parse().map_err(|_| syntax("a size was expected"))?,
                    _ => return Err(syntax("a size was expected")),
                };
                i += 1;
                let unit = match sig.get(i).and_then(|t| keyword(t)).as_deref() {
                    Some("GB") => {
                        i += 1;
                        1024.0 * 1024.0 * 1024.0
                    }
                    Some("MB") => {
                        i += 1;
                        1024.0 * 1024.0
                    }
                    _ => 1024.0 * 1024.0,
                };
                if kw == "MAXFILESIZE" {
                    // Rounded once the format is known (PARQUET is required).
                    spec.max_file_bytes = Some((n * unit) as u64);
                }
            }
            // "If you specify KMS_KEY_ID, you must specify the ENCRYPTED
            // parameter also" (r_UNLOAD.html); ENCRYPTED alone is
            // client-side encryption, which the emulator does not do.
            "KMS_KEY_ID" => {
                spec.kms_key_id = Some(
                    sig.get(i).and_then(|t| string_value(t)).ok_or_else(|| syntax("KMS_KEY_ID 'key-id'"))?.to_string(),
                );
                i += 1;
            }
            "ENCRYPTED" => {
                encrypted = true;
                if is_keyword(sig.get(i), "AUTO") {
                    i += 1;
                }
            }
            "EXTENSION" => {
                spec.extension = Some(
                    sig.get(i).and_then(|t| string_value(t)).ok_or_else(|| syntax("EXTENSION 'ext'"))?.to_string(),
                );
                i += 1;
            }
            other => {
                return Err(TranslateError(format!(
                    "ERROR: UNLOAD option {other} is not supported by the Redshift emulator (PARQUET, CLEANPATH, \
                     ALLOWOVERWRITE, PARALLEL, MAXFILESIZE, ROWGROUPSIZE, EXTENSION, IAM_ROLE, REGION, KMS_KEY_ID, \
                     ENCRYPTED are)"
                )));
            }
        }
    }
    match (&spec.kms_key_id, encrypted) {
        (Some(_), false) => return Err(syntax("KMS_KEY_ID needs ENCRYPTED")),
        (None, true) => {
            return Err(TranslateError(
                "ERROR: UNLOAD … ENCRYPTED without KMS_KEY_ID (client-side encryption) is not supported by the \
                 Redshift emulator"
                    .into(),
            ));
        }
        _ => {}
    }
    if !parquet {
        return Err(TranslateError(
            "ERROR: UNLOAD formats other than PARQUET are not supported by the Redshift emulator".into(),
        ));
    }
    if let Some(requested) = spec.max_file_bytes {
        spec.max_file_bytes = Some(
            crate::rules::unload_maxfilesize::parquet_part_size(requested)
                .map_err(|e| TranslateError(e.to_string()))?,
        );
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(schema: &str, name: &str) -> QualifiedName {
        QualifiedName { schema: schema.into(), name: name.into() }
    }

    #[test]
    fn redshift_statements_are_recognised() {
        let unload = parse(
            "UNLOAD ('SELECT a FROM \"s\".\"t\" WHERE p = ''2026''') TO 's3://opt/cdc/t/changedate=1/' IAM_ROLE \
             'arn:aws:iam::1:role/r' FORMAT AS PARQUET PARALLEL OFF MAXFILESIZE 200 MB CLEANPATH",
        )
        .unwrap();
        assert_eq!(
            unload,
            Step::Unload(UnloadSpec {
                query: "SELECT a FROM \"s\".\"t\" WHERE p = '2026'".into(),
                bucket: "opt".into(),
                prefix: "cdc/t/changedate=1/".into(),
                parallel: false,
                max_file_bytes: Some(192 * 1024 * 1024),
                cleanpath: true,
                allow_overwrite: false,
                extension: None,
                kms_key_id: None,
            })
        );
        assert_eq!(
            parse("CALL \"cdc_control\".cdc_assert_empty('SELECT f FROM t WHERE x IN (''I'')', 'M: ')").unwrap(),
            Step::Call {
                name: name("cdc_control", "cdc_assert_empty"),
                args: vec![Some("SELECT f FROM t WHERE x IN ('I')".into()), Some("M: ".into())]
            }
        );
        assert_eq!(
            parse("REFRESH MATERIALIZED VIEW \"public\".\"Weekly\"").unwrap(),
            Step::RefreshMaterializedView { name: name("public", "weekly") }
        );
        assert_eq!(
            parse("DROP MATERIALIZED VIEW IF EXISTS mv").unwrap(),
            Step::DropMaterializedView { name: name("public", "mv"), if_exists: true }
        );
        assert_eq!(
            parse(
                "CREATE EXTERNAL SCHEMA IF NOT EXISTS cdc_database FROM DATA CATALOG DATABASE 'raw_db' IAM_ROLE default"
            )
            .unwrap(),
            Step::CreateExternalSchema {
                schema: "cdc_database".into(),
                glue_database: "raw_db".into(),
                if_not_exists: true
            }
        );
        match parse("CREATE OR REPLACE PROCEDURE s.p(q VARCHAR(10)) AS $$\nBEGIN NULL; END;\n$$ LANGUAGE plpgsql")
            .unwrap()
        {
            Step::CreateProcedure { name: n, params, body } => {
                assert_eq!(n, name("s", "p"));
                assert_eq!(params, vec![Variable { name: "q".into(), ty: "VARCHAR(10)".into() }]);
                assert_eq!(body, "\nBEGIN NULL; END;\n");
            }
            other => panic!("{other:?}"),
        }
        match parse("CREATE MATERIALIZED VIEW \"public\".\"mv\" BACKUP NO AS SELECT (1) AS a").unwrap() {
            Step::CreateMaterializedView { name: n, query } => {
                assert_eq!(n, name("public", "mv"));
                assert_eq!(crate::translate::render(&query, Default::default()).unwrap().trim(), "SELECT (1) AS a");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse("SELECT 1").unwrap(), Step::Sql("SELECT 1".into()));
    }

    #[test]
    fn what_is_not_emulated_says_so() {
        for sql in [
            "BEGIN",
            "COMMIT",
            "UNLOAD ('SELECT 1') TO 's3://b/p/' CSV",
            "UNLOAD ('SELECT 1') TO 's3://b/p/' FORMAT PARQUET PARTITION BY (a)",
            "CREATE EXTERNAL TABLE s.t (a INT) LOCATION 's3://b/'",
            "CALL s.p(1 + 2)",
        ] {
            let err = parse(sql).unwrap_err();
            assert!(err.0.starts_with("ERROR:"), "{sql}: {err}");
        }
    }
}
