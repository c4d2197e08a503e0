//! The Data API operations: requests and answers in the service's JSON shapes
//! (`awsJson1_1`), validation as the service does it, and its errors.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::faults::{SlowUntil, StatementFault};
use crate::registry::{
    Control, Statement, Status, SubStatement, Target, TokenReused, new_statement_id, request_fingerprint,
};
use crate::state::Shared;

/// The Data API's limit on one SQL text.
pub const MAX_SQL_BYTES: usize = 100 * 1024;
/// At most this many statements per BatchExecuteStatement.
pub const MAX_BATCH_STATEMENTS: usize = 40;

/// An error answer: HTTP status, `__type` code, message, extra members.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub extra: Map<String, Value>,
}

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        Self { status: 400, code: "ValidationException", message: message.into(), extra: Map::new() }
    }

    fn not_found(id: &str) -> Self {
        let mut extra = Map::new();
        extra.insert("ResourceId".into(), json!(id));
        Self { status: 400, code: "ResourceNotFoundException", message: "Query does not exist.".into(), extra }
    }

    pub fn body(&self) -> Value {
        let mut body = self.extra.clone();
        body.insert("__type".into(), json!(self.code));
        body.insert("Message".into(), json!(self.message));
        Value::Object(body)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecuteRequest {
    sql: Option<String>,
    sqls: Option<Vec<String>>,
    database: Option<String>,
    cluster_identifier: Option<String>,
    workgroup_name: Option<String>,
    db_user: Option<String>,
    secret_arn: Option<String>,
    statement_name: Option<String>,
    client_token: Option<String>,
    parameters: Option<Value>,
    session_id: Option<String>,
    session_keep_alive_seconds: Option<i64>,
    execution_mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdRequest {
    id: String,
    next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    status: Option<String>,
    statement_name: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

fn epoch(t: SystemTime) -> Value {
    json!(t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64())
}

/// ExecuteStatement (`batch` false) and BatchExecuteStatement.
pub fn submit(shared: &Arc<Shared>, req: ExecuteRequest, batch: bool) -> Result<Value, ApiError> {
    let sqls = if batch {
        let sqls = req.sqls.ok_or_else(|| ApiError::validation("Sqls is required"))?;
        if sqls.is_empty() || sqls.len() > MAX_BATCH_STATEMENTS {
            return Err(ApiError::validation(format!(
                "Sqls must hold 1 to {MAX_BATCH_STATEMENTS} statements, got {}",
                sqls.len()
            )));
        }
        sqls
    } else {
        vec![req.sql.ok_or_else(|| ApiError::validation("Sql is required"))?]
    };
    for sql in &sqls {
        if sql.len() > MAX_SQL_BYTES {
            return Err(ApiError::validation("Cannot process query string larger than 100kB"));
        }
        if sql.trim().is_empty() {
            return Err(ApiError::validation("Query string can't be empty"));
        }
    }
    if req.parameters.is_some() || req.session_id.is_some() || req.session_keep_alive_seconds.is_some() {
        return Err(ApiError::validation(
            "Parameters, SessionId and SessionKeepAliveSeconds are not supported by the Redshift emulator",
        ));
    }
    // ExecuteStatement runs outside a transaction block; a batch as one
    // transaction unless its ExecutionMode says AUTO_COMMIT.
    let mode = match (batch, req.execution_mode.as_deref()) {
        (false, _) => crate::engine::Mode::Single,
        (true, None | Some("TRANSACTION")) => crate::engine::Mode::Transaction,
        (true, Some("AUTO_COMMIT")) => crate::engine::Mode::AutoCommit,
        (true, Some(other)) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'executionMode' failed to satisfy constraint: \
                 Member must satisfy enum value set: [AUTO_COMMIT, TRANSACTION]"
            )));
        }
    };
    let database =
        req.database.filter(|d| !d.is_empty()).ok_or_else(|| ApiError::validation("Database is required"))?;
    if req.cluster_identifier.is_some() == req.workgroup_name.is_some() {
        return Err(ApiError::validation("Either ClusterIdentifier or WorkgroupName must be specified, not both"));
    }
    if req.statement_name.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(ApiError::validation("StatementName must be at most 500 characters"));
    }
    if req.client_token.as_ref().is_some_and(|t| t.is_empty() || t.len() > 64) {
        return Err(ApiError::validation("ClientToken must be 1 to 64 characters"));
    }
    let target = Target {
        database,
        cluster_identifier: req.cluster_identifier,
        workgroup_name: req.workgroup_name,
        db_user: req.db_user,
        secret_arn: req.secret_arn,
    };
    let fingerprint = request_fingerprint(&target, &sqls, req.statement_name.as_deref());
    let mut registry = shared.registry.lock().expect("registry lock");
    if let Some(token) = &req.client_token {
        match registry.by_token(token, &fingerprint) {
            Ok(Some(id)) => {
                let st = registry.get(&id).ok_or_else(|| ApiError::not_found(&id))?;
                return Ok(submitted(st));
            }
            Ok(None) => {}
            Err(TokenReused) => {
                return Err(ApiError::validation(format!(
                    "ClientToken {token} was already used for a different request"
                )));
            }
        }
    }
    let fault = shared.faults.take_statement_fault(&sqls);
    let control = Arc::new(Control::default());
    if let Some((_, StatementFault::Slow { until })) = &fault {
        control.hold(match until {
            SlowUntil::Released => None,
            SlowUntil::Describes(n) => Some(*n),
        });
    }
    let now = SystemTime::now();
    let id = new_statement_id();
    let statement = Statement {
        id: id.clone(),
        name: req.statement_name,
        is_batch: batch,
        target,
        created_at: now,
        updated_at: now,
        status: Status::Submitted,
        error: None,
        subs: sqls
            .iter()
            .map(|sql| SubStatement {
                sql: sql.clone(),
                status: Status::Submitted,
                error: None,
                updated_at: now,
                duration: Default::default(),
                result: None,
                result_rows: -1,
                query_id: 0,
            })
            .collect(),
        control: Arc::clone(&control),
        pid: 1_073_000_000 + i64::from(std::process::id() % 1000),
    };
    let answer = submitted(&statement);
    registry.insert(statement, req.client_token.map(|t| (t, fingerprint)));
    drop(registry);
    let shared = Arc::clone(shared);
    tokio::task::spawn_blocking(move || crate::engine::run_guarded(&shared, &id, &sqls, mode, fault, &control));
    Ok(answer)
}

fn target_members(t: &Target, out: &mut Map<String, Value>) {
    out.insert("Database".into(), json!(t.database));
    for (key, value) in [
        ("ClusterIdentifier", &t.cluster_identifier),
        ("WorkgroupName", &t.workgroup_name),
        ("DbUser", &t.db_user),
        ("SecretArn", &t.secret_arn),
    ] {
        if let Some(v) = value {
            out.insert(key.into(), json!(v));
        }
    }
}

fn submitted(st: &Statement) -> Value {
    let mut out = Map::new();
    out.insert("Id".into(), json!(st.id));
    out.insert("CreatedAt".into(), epoch(st.created_at));
    target_members(&st.target, &mut out);
    Value::Object(out)
}

/// `<uuid>` or `<uuid>:<n>`.
fn parse_id(id: &str) -> Result<(&str, Option<usize>), ApiError> {
    let (base, n) = match id.split_once(':') {
        Some((b, n)) => (b, Some(n.parse::<usize>().map_err(|_| ApiError::validation(format!("Invalid Id {id}")))?)),
        None => (id, None),
    };
    let uuid_shape = base.len() == 36
        && base
            .char_indices()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_alphanumeric() });
    if !uuid_shape || n == Some(0) {
        return Err(ApiError::validation(format!("Invalid Id {id}")));
    }
    Ok((base, n))
}

fn sub_json(st: &Statement, n: usize, sub: &SubStatement) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("Id".into(), json!(format!("{}:{n}", st.id)));
    out.insert("Status".into(), json!(sub.status.as_str()));
    if let Some(e) = &sub.error {
        out.insert("Error".into(), json!(e));
    }
    out.insert("QueryString".into(), json!(sub.sql));
    out.insert("HasResultSet".into(), json!(sub.result.is_some()));
    out.insert("ResultRows".into(), json!(sub.result_rows));
    out.insert("ResultSize".into(), json!(-1));
    out.insert("Duration".into(), json!(sub.duration.as_nanos() as i64));
    out.insert("CreatedAt".into(), epoch(st.created_at));
    out.insert("UpdatedAt".into(), epoch(sub.updated_at));
    out.insert("RedshiftQueryId".into(), json!(sub.query_id));
    out
}

pub fn describe(shared: &Shared, req: IdRequest) -> Result<Value, ApiError> {
    let (base, n) = parse_id(&req.id)?;
    let registry = shared.registry.lock().expect("registry lock");
    let st = registry.get(base).ok_or_else(|| ApiError::not_found(&req.id))?;
    let mut out = match n {
        Some(n) => {
            let sub = st.subs.get(n - 1).ok_or_else(|| ApiError::not_found(&req.id))?;
            sub_json(st, n, sub)
        }
        None => {
            let mut out = Map::new();
            out.insert("Id".into(), json!(st.id));
            out.insert("Status".into(), json!(st.status.as_str()));
            if let Some(e) = &st.error {
                out.insert("Error".into(), json!(e));
            }
            out.insert("HasResultSet".into(), json!(st.has_result_set()));
            out.insert("Duration".into(), json!(st.duration().as_nanos() as i64));
            out.insert("CreatedAt".into(), epoch(st.created_at));
            out.insert("UpdatedAt".into(), epoch(st.updated_at));
            out.insert("RedshiftPid".into(), json!(st.pid));
            out.insert("ResultSize".into(), json!(-1));
            if st.is_batch {
                let subs: Vec<Value> =
                    st.subs.iter().enumerate().map(|(i, s)| Value::Object(sub_json(st, i + 1, s))).collect();
                out.insert("SubStatements".into(), Value::Array(subs));
                out.insert("ResultRows".into(), json!(-1));
            } else if let Some(sub) = st.subs.first() {
                out.insert("QueryString".into(), json!(sub.sql));
                out.insert("ResultRows".into(), json!(sub.result_rows));
                out.insert("RedshiftQueryId".into(), json!(sub.query_id));
            }
            out
        }
    };
    target_members(&st.target, &mut out);
    // A slowed statement counts the describes it waits for.
    if st.status == Status::Started && st.control.is_held() {
        st.control.described();
    }
    Ok(Value::Object(out))
}

pub fn get_statement_result(shared: &Shared, req: IdRequest) -> Result<Value, ApiError> {
    let (base, n) = parse_id(&req.id)?;
    let registry = shared.registry.lock().expect("registry lock");
    let st = registry.get(base).ok_or_else(|| ApiError::not_found(&req.id))?;
    let index = match (st.is_batch, n) {
        (true, None) => {
            return Err(ApiError::validation(format!(
                "Statement {base} is a batch: read a sub-statement's result with its Id ({base}:<n>)"
            )));
        }
        (_, Some(n)) => n - 1,
        (false, None) => 0,
    };
    let sub = st.subs.get(index).ok_or_else(|| ApiError::not_found(&req.id))?;
    let no_result =
        || ApiError::validation("Query does not have result. Please check query status with DescribeStatement.");
    if sub.status != Status::Finished {
        return Err(no_result());
    }
    let result = sub.result.clone().ok_or_else(no_result)?;
    drop(registry);
    let offset = match &req.next_token {
        Some(t) => t
            .strip_prefix("page-")
            .and_then(|o| o.parse::<usize>().ok())
            .filter(|o| *o <= result.rows.len())
            .ok_or_else(|| ApiError::validation(format!("Invalid NextToken {t}")))?,
        None => 0,
    };
    let end = (offset + shared.page_rows.max(1)).min(result.rows.len());
    let records: Vec<Value> =
        result.rows[offset..end].iter().map(|row| Value::Array(row.iter().map(|f| f.to_json()).collect())).collect();
    let mut out = Map::new();
    out.insert("Records".into(), Value::Array(records));
    out.insert("ColumnMetadata".into(), Value::Array(result.columns.iter().map(|c| c.to_json()).collect()));
    out.insert("TotalNumRows".into(), json!(result.rows.len()));
    if end < result.rows.len() {
        out.insert("NextToken".into(), json!(format!("page-{end}")));
    }
    Ok(Value::Object(out))
}

pub fn cancel(shared: &Shared, req: IdRequest) -> Result<Value, ApiError> {
    let (base, _) = parse_id(&req.id)?;
    let registry = shared.registry.lock().expect("registry lock");
    let st = registry.get(base).ok_or_else(|| ApiError::not_found(&req.id))?;
    if st.status.is_done() {
        return Err(ApiError::validation(format!(
            "Could not cancel a query that is already in {} state.",
            st.status.as_str()
        )));
    }
    st.control.cancel();
    Ok(json!({"Status": true}))
}

pub fn list(shared: &Shared, req: ListRequest) -> Result<Value, ApiError> {
    // As the API documents: only finished statements unless a status is given.
    let wanted = req.status.unwrap_or_else(|| "FINISHED".into());
    let max = req.max_results.unwrap_or(100).clamp(1, 100);
    let offset = match &req.next_token {
        Some(t) => t.parse::<usize>().map_err(|_| ApiError::validation(format!("Invalid NextToken {t}")))?,
        None => 0,
    };
    let registry = shared.registry.lock().expect("registry lock");
    let matching: Vec<&Statement> = registry
        .newest_first()
        .filter(|s| wanted == "ALL" || s.status.as_str() == wanted)
        .filter(|s| {
            req.statement_name.as_ref().is_none_or(|p| s.name.as_deref().is_some_and(|n| n.starts_with(p.as_str())))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(max)
        .map(|s| {
            let mut out = Map::new();
            out.insert("Id".into(), json!(s.id));
            out.insert("Status".into(), json!(s.status.as_str()));
            out.insert("IsBatchStatement".into(), json!(s.is_batch));
            if s.is_batch {
                out.insert("QueryStrings".into(), json!(s.subs.iter().map(|x| &x.sql).collect::<Vec<_>>()));
            } else if let Some(sub) = s.subs.first() {
                out.insert("QueryString".into(), json!(sub.sql));
            }
            if let Some(name) = &s.name {
                out.insert("StatementName".into(), json!(name));
            }
            if let Some(arn) = &s.target.secret_arn {
                out.insert("SecretArn".into(), json!(arn));
            }
            out.insert("CreatedAt".into(), epoch(s.created_at));
            out.insert("UpdatedAt".into(), epoch(s.updated_at));
            Value::Object(out)
        })
        .collect();
    let mut out = Map::new();
    out.insert("Statements".into(), Value::Array(page));
    if offset + max < matching.len() {
        out.insert("NextToken".into(), json!((offset + max).to_string()));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_like_the_api_model() {
        let id = "d9b6c0c9-0747-4bf4-b142-e8883122f766";
        assert_eq!(parse_id(id).unwrap(), (id, None));
        assert_eq!(parse_id(&format!("{id}:3")).unwrap(), (id, Some(3)));
        for bad in ["nope", "d9b6c0c9-0747-4bf4-b142-e8883122f766:0", "d9b6c0c9-0747-4bf4-b142-e8883122f766:x"] {
            assert_eq!(parse_id(bad).unwrap_err().code, "ValidationException", "{bad}");
        }
    }
}
