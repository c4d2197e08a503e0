//! Condition and update expressions with their placeholders. Every attribute
//! is written `#Name` (`Owner` is a DynamoDB reserved word, and one rule for
//! all is simpler than remembering which), and the name map is derived from
//! the expressions, because DynamoDB rejects a request whose maps hold an
//! unused placeholder.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

#[derive(Debug, Default, Clone)]
pub(crate) struct Expression {
    pub(crate) update: Option<String>,
    pub(crate) condition: String,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    pub(crate) fn new(condition: impl Into<String>) -> Self {
        Self { condition: condition.into(), ..Self::default() }
    }

    pub(crate) fn update(mut self, update: impl Into<String>) -> Self {
        self.update = Some(update.into());
        self
    }

    pub(crate) fn value(mut self, placeholder: &str, v: AttributeValue) -> Self {
        self.values.insert(placeholder.to_string(), v);
        self
    }

    /// `#Name` → `Name` for every placeholder the expressions use.
    pub(crate) fn names(&self) -> HashMap<String, String> {
        let mut names = HashMap::new();
        for text in self.update.iter().chain(std::iter::once(&self.condition)) {
            let mut rest = text.as_str();
            while let Some(at) = rest.find('#') {
                let after = &rest[at + 1..];
                let len = after.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(after.len());
                let name = &after[..len];
                if !name.is_empty() {
                    names.insert(format!("#{name}"), name.to_string());
                }
                rest = &after[len..];
            }
        }
        names
    }

    /// Only the values the expressions use: a branch may leave one out.
    pub(crate) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        let used: HashMap<String, AttributeValue> = self
            .values
            .iter()
            .filter(|(k, _)| self.update.iter().chain(std::iter::once(&self.condition)).any(|text| mentions(text, k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!used.is_empty()).then_some(used)
    }
}

/// Whether `text` uses the placeholder `:name` as a whole token (so `:now`
/// does not count as used by `:nowhere`).
fn mentions(text: &str, placeholder: &str) -> bool {
    text.match_indices(placeholder).any(|(at, _)| {
        let next = text[at + placeholder.len()..].chars().next();
        !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_come_from_the_expressions() {
        let e = Expression::new("#JobState = :running AND #Owner = :exec")
            .update("SET #LeaseExpires = :lease REMOVE #JobEnd")
            .value(":running", AttributeValue::S("Running".into()))
            .value(":exec", AttributeValue::S("e1".into()))
            .value(":lease", AttributeValue::S("t".into()))
            .value(":exe", AttributeValue::S("unused".into()));
        let names = e.names();
        assert_eq!(names.len(), 4);
        assert_eq!(names["#Owner"], "Owner");
        let values = e.values().unwrap();
        assert_eq!(values.len(), 3, "{values:?}");
        assert!(!values.contains_key(":exe"));
    }
}
