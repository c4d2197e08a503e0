//! An evaluator of the IAM policy language the template uses, enough to
//! decide whether a role allows one request:
//!
//! - an explicit `Deny` wins, then any `Allow` whose `Action`, `Resource` and
//!   every `Condition` match; otherwise the request is denied (implicit deny);
//! - `Action` and `Resource` match with `*` and `?` wildcards (actions
//!   case-insensitively); `NotAction` and `NotResource` are refused;
//! - a `Condition` block is an AND of its operators and keys, each key an OR
//!   of its values; the operators known: `StringEquals`, `StringNotEquals`,
//!   `StringEqualsIgnoreCase`, `StringLike`, `StringNotLike`, `ArnEquals`,
//!   `ArnLike`, `ArnNotEquals`, `ArnNotLike`, `Bool`, `Null`, and each with
//!   `IfExists`. Any other is an error, never a silent match;
//! - a condition on a key absent from the request context does not match
//!   (a negated operator does; an `...IfExists` operator does; `Null` tests
//!   for the absence itself): IAM JSON policy elements, "Condition operators";
//! - policy variables (`${aws:userid}`) in condition values are the
//!   principal's.
//!
//! Sources are listed in docs/aws.md.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use cdc_aws::iam_record::{CALLER_USERID, IamRequest};

#[derive(Debug, Clone)]
pub struct Statement {
    /// Where it comes from: `PolicyName/Sid`.
    pub origin: String,
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// (operator, key, values)
    pub conditions: Vec<(String, String, Vec<String>)>,
}

fn strings(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items.iter().flat_map(strings).collect(),
        Json::Bool(b) => vec![b.to_string()],
        _ => vec![],
    }
}

/// The statements of a resolved policy document.
pub fn statements(origin: &str, document: &Json) -> Result<Vec<Statement>, String> {
    let list = match &document["Statement"] {
        Json::Array(items) => items.clone(),
        Json::Object(_) => vec![document["Statement"].clone()],
        other => return Err(format!("{origin}: Statement {other:?}")),
    };
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        for unsupported in ["NotAction", "NotResource", "NotPrincipal"] {
            if s.get(unsupported).is_some() {
                return Err(format!("{origin}: {unsupported} is not supported by the checker"));
            }
        }
        let sid = s["Sid"].as_str().map(String::from).unwrap_or_else(|| format!("#{i}"));
        let mut conditions = Vec::new();
        if let Some(block) = s["Condition"].as_object() {
            for (op, keys) in block {
                for (key, values) in keys.as_object().ok_or_else(|| format!("{origin}/{sid}: {op}"))? {
                    conditions.push((op.clone(), key.clone(), strings(values)));
                }
            }
        }
        out.push(Statement {
            origin: format!("{origin}/{sid}"),
            allow: match s["Effect"].as_str() {
                Some("Allow") => true,
                Some("Deny") => false,
                other => return Err(format!("{origin}/{sid}: Effect {other:?}")),
            },
            actions: strings(&s["Action"]),
            resources: strings(&s["Resource"]),
            conditions,
        });
    }
    Ok(out)
}

/// `*` any run of characters, `?` one.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The principal's side of the request context (`aws:userid`, ...).
pub type Principal = BTreeMap<String, String>;

fn with_variables(value: &str, principal: &Principal) -> String {
    let mut v = value.to_string();
    for (k, val) in principal {
        v = v.replace(&format!("${{{k}}}"), val);
    }
    v
}

fn condition_holds(
    op: &str,
    key: &str,
    values: &[String],
    req: &IamRequest,
    principal: &Principal,
) -> Result<bool, String> {
    let context_value =
        req.context.get(key).map(|v| if v == CALLER_USERID { with_variables(v, principal) } else { v.clone() });
    let context_value = context_value.or_else(|| principal.get(key).cloned());
    if op == "Null" {
        let want_absent = values.iter().any(|v| v == "true");
        return Ok(want_absent == context_value.is_none());
    }
    let (base, if_exists) = match op.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (op, false),
    };
    let negated = base.contains("Not");
    let Some(actual) = context_value else {
        // "If the key that you specify in a policy condition is not present in the
        // request context, the values do not match" (IAM, condition operators).
        return Ok(if_exists || negated);
    };
    let values: Vec<String> = values.iter().map(|v| with_variables(v, principal)).collect();
    let any = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(v));
    Ok(match base {
        "StringEquals" | "ArnEquals" => any(&|v| v == actual),
        "StringNotEquals" | "ArnNotEquals" => !any(&|v| v == actual),
        "StringEqualsIgnoreCase" => any(&|v| v.eq_ignore_ascii_case(&actual)),
        "StringLike" | "ArnLike" => any(&|v| wildcard(v, &actual)),
        "StringNotLike" | "ArnNotLike" => !any(&|v| wildcard(v, &actual)),
        "Bool" => any(&|v| v.eq_ignore_ascii_case(&actual)),
        other => return Err(format!("condition operator {other} is not known to the checker")),
    })
}

fn matches(s: &Statement, req: &IamRequest, principal: &Principal) -> Result<bool, String> {
    let action = s.actions.iter().any(|a| wildcard(&a.to_ascii_lowercase(), &req.action.to_ascii_lowercase()));
    let resource = s.resources.iter().any(|r| wildcard(r, &req.resource));
    if !(action && resource) {
        return Ok(false);
    }
    for (op, key, values) in &s.conditions {
        if !condition_holds(op, key, values, req, principal)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether the statements allow the request: `Ok(Ok(statement))` names the
/// one that allows it, `Ok(Err(why))` says why not; the outer `Err` is a
/// policy the checker cannot evaluate.
pub fn decide(
    statements: &[Statement],
    req: &IamRequest,
    principal: &Principal,
) -> Result<Result<String, String>, String> {
    let mut allowed = None;
    for s in statements {
        if matches(s, req, principal)? {
            if !s.allow {
                return Ok(Err(format!("explicitly denied by {}", s.origin)));
            }
            allowed.get_or_insert_with(|| s.origin.clone());
        }
    }
    Ok(allowed.ok_or_else(|| {
        // Name the statements that had the action and resource but failed a condition.
        let near: Vec<String> = statements
            .iter()
            .filter(|s| {
                s.actions.iter().any(|a| wildcard(&a.to_ascii_lowercase(), &req.action.to_ascii_lowercase()))
                    && s.resources.iter().any(|r| wildcard(r, &req.resource))
            })
            .map(|s| format!("{} (its Condition {:?} does not match)", s.origin, s.conditions))
            .collect();
        if near.is_empty() { "no statement allows it".to_string() } else { near.join("; ") }
    }))
}
