//! `DefinitionSubstitutions`: `${Name}` placeholders, replaced in the text
//! before parsing as CloudFormation does, and reported at the innermost
//! state when one is left over.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{DefinitionError, Location};

/// Replaces `${Name}` by its substitution wherever it appears in the text.
pub(super) fn substitute(text: &str, substitutions: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}').map(|end| (&after[..end], end)) {
            Some((name, end)) if substitutions.contains_key(name) => {
                out.push_str(&substitutions[name]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first `${Name}` left in a string of `value`, with the field that holds it.
fn find_placeholder(value: &Value, field: &str) -> Option<(String, String)> {
    let in_text = |text: &str| {
        let start = text.find("${")?;
        let end = text[start..].find('}')?;
        Some(text[start + 2..start + end].to_string())
    };
    match value {
        Value::String(text) => in_text(text).map(|name| (field.to_string(), name)),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| find_placeholder(v, &format!("{field}[{i}]")))
        }
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let child = if field.is_empty() { k.clone() } else { format!("{field}.{k}") };
            in_text(k).map(|name| (child.clone(), name)).or_else(|| find_placeholder(v, &child))
        }),
        _ => None,
    }
}

/// The first placeholder in one field (its name or its value), with the field's path.
fn placeholder_in_field(key: &str, value: &Value) -> Option<(String, String)> {
    find_placeholder(&Value::Object(Map::from_iter([(key.to_string(), value.clone())])), "")
}

/// Reports a leftover placeholder at the innermost state that holds it.
pub(super) fn check_placeholders(value: &Value, at: &Location) -> Result<(), DefinitionError> {
    let Value::Object(map) = value else { return Ok(()) };
    for (key, child) in map {
        match (key.as_str(), child) {
            ("States", Value::Object(states)) => {
                for (name, state) in states {
                    check_state_placeholders(state, &at.state(name), name)?;
                }
            }
            _ => {
                if let Some((field, name)) = placeholder_in_field(key, child) {
                    return Err(DefinitionError::UnresolvedPlaceholder { at: at.clone(), field, name });
                }
            }
        }
    }
    Ok(())
}

fn check_state_placeholders(state: &Value, at: &Location, name: &str) -> Result<(), DefinitionError> {
    let Value::Object(map) = state else { return Ok(()) };
    for (key, child) in map {
        match (key.as_str(), child) {
            ("Branches", Value::Array(branches)) => {
                for branch in branches {
                    check_placeholders(branch, &at.inside(name))?;
                }
            }
            ("ItemProcessor" | "Iterator", processor) => check_placeholders(processor, &at.inside(name))?,
            _ => {
                if let Some((field, placeholder)) = placeholder_in_field(key, child) {
                    return Err(DefinitionError::UnresolvedPlaceholder { at: at.clone(), field, name: placeholder });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_replaces_known_names_only() {
        // GIVEN placeholders with and without a substitution
        // WHEN substituted THEN only the known ones change, inside or outside strings
        let subs = BTreeMap::from([("Fn".to_string(), "arn:aws:lambda:eu-west-1:1:function:f".to_string())]);
        assert_eq!(
            substitute("a ${Fn} b ${Other} c ${", &subs),
            "a arn:aws:lambda:eu-west-1:1:function:f b ${Other} c ${"
        );
        assert_eq!(
            substitute(r#"{"MaxConcurrency": ${Fn}}"#, &BTreeMap::from([("Fn".to_string(), "4".to_string())])),
            r#"{"MaxConcurrency": 4}"#
        );
    }

    #[test]
    fn placeholders_are_found_with_their_field() {
        // GIVEN a leftover placeholder WHEN searched THEN it is found with its field path
        let value = serde_json::json!({"Parameters": {"FunctionName": "${Load}"}});
        assert_eq!(find_placeholder(&value, ""), Some(("Parameters.FunctionName".to_string(), "Load".to_string())));
    }
}
