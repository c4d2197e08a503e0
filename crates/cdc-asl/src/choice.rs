//! Choice rules: comparisons, `And`/`Or`/`Not`, and the `Is...` type tests.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{DefinitionError, Location, StateError};
use crate::path::{ContextSource, JsonPath};
use crate::timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
    Matches,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeTest {
    Present,
    Null,
    Numeric,
    String,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Literal(Value),
    Pattern(Vec<PatternToken>),
    Path(JsonPath),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PatternToken {
    Char(char),
    Star,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare { variable: JsonPath, kind: Kind, comparison: Comparison, operand: Operand },
    Test { variable: JsonPath, test: TypeTest, expected: bool },
}

/// A top-level Choice rule: a condition and the state it leads to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChoiceRule {
    pub condition: Condition,
    pub next: String,
}

const KINDS: [(&str, Kind); 4] =
    [("String", Kind::String), ("Numeric", Kind::Numeric), ("Boolean", Kind::Boolean), ("Timestamp", Kind::Timestamp)];
const COMPARISONS: [(&str, Comparison); 6] = [
    ("GreaterThanEquals", Comparison::GreaterThanEquals),
    ("LessThanEquals", Comparison::LessThanEquals),
    ("GreaterThan", Comparison::GreaterThan),
    ("LessThan", Comparison::LessThan),
    ("Equals", Comparison::Equals),
    ("Matches", Comparison::Matches),
];
const TESTS: [(&str, TypeTest); 6] = [
    ("IsPresent", TypeTest::Present),
    ("IsNull", TypeTest::Null),
    ("IsNumeric", TypeTest::Numeric),
    ("IsString", TypeTest::String),
    ("IsBoolean", TypeTest::Boolean),
    ("IsTimestamp", TypeTest::Timestamp),
];

/// Splits an operator name such as `NumericLessThanEqualsPath`.
fn operator(name: &str) -> Option<(Kind, Comparison, bool)> {
    let (base, is_path) = match name.strip_suffix("Path") {
        Some(base) => (base, true),
        None => (name, false),
    };
    let (kind, rest) = KINDS.iter().find_map(|(prefix, kind)| base.strip_prefix(prefix).map(|rest| (*kind, rest)))?;
    let comparison = COMPARISONS.iter().find(|(n, _)| *n == rest).map(|(_, c)| *c)?;
    let valid = match comparison {
        Comparison::Matches => kind == Kind::String && !is_path,
        Comparison::Equals => true,
        _ => kind != Kind::Boolean,
    };
    valid.then_some((kind, comparison, is_path))
}

struct RuleParser<'a> {
    at: &'a Location,
}

impl RuleParser<'_> {
    fn invalid(&self, field: &str, message: impl Into<String>) -> DefinitionError {
        DefinitionError::InvalidField { at: self.at.clone(), field: field.to_string(), message: message.into() }
    }

    fn path(&self, field: &str, value: &Value) -> Result<JsonPath, DefinitionError> {
        let Value::String(text) = value else {
            return Err(self.invalid(field, "must be a path string"));
        };
        JsonPath::parse(text, true).map_err(|e| DefinitionError::InvalidPath {
            at: self.at.clone(),
            field: field.to_string(),
            path: text.clone(),
            message: e.to_string(),
        })
    }

    fn rule(
        &self,
        value: &Value,
        field: &str,
        top_level: bool,
    ) -> Result<(Condition, Option<String>), DefinitionError> {
        let Value::Object(map) = value else {
            return Err(self.invalid(field, "must be an object"));
        };
        let next = match map.get("Next") {
            None if top_level => {
                return Err(DefinitionError::MissingField { at: self.at.clone(), field: format!("{field}.Next") });
            }
            None => None,
            Some(_) if !top_level => {
                return Err(self.invalid(&format!("{field}.Next"), "is only allowed in a top-level Choice rule"));
            }
            Some(Value::String(next)) => Some(next.clone()),
            Some(_) => return Err(self.invalid(&format!("{field}.Next"), "must be a string")),
        };
        let rest: Vec<(&String, &Value)> = map.iter().filter(|(k, _)| *k != "Next" && *k != "Comment").collect();
        let condition = if let Some(logic) = rest.iter().find(|(k, _)| matches!(k.as_str(), "And" | "Or" | "Not")) {
            if let Some((extra, _)) = rest.iter().find(|(k, _)| *k != logic.0) {
                return Err(self.invalid(&format!("{field}.{extra}"), format!("cannot be combined with {}", logic.0)));
            }
            self.logic(logic.0, logic.1, &format!("{field}.{}", logic.0))?
        } else {
            self.comparison(map, field)?
        };
        Ok((condition, next))
    }

    fn logic(&self, key: &str, value: &Value, field: &str) -> Result<Condition, DefinitionError> {
        if key == "Not" {
            let (inner, _) = self.rule(value, field, false)?;
            return Ok(Condition::Not(Box::new(inner)));
        }
        let Value::Array(items) = value else {
            return Err(self.invalid(field, "must be an array of Choice rules"));
        };
        if items.is_empty() {
            return Err(self.invalid(field, "must not be empty"));
        }
        let rules = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.rule(item, &format!("{field}[{i}]"), false).map(|(c, _)| c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if key == "And" { Condition::And(rules) } else { Condition::Or(rules) })
    }

    fn comparison(&self, map: &Map<String, Value>, field: &str) -> Result<Condition, DefinitionError> {
        let variable = match map.get("Variable") {
            Some(value) => self.path(&format!("{field}.Variable"), value)?,
            None => {
                return Err(DefinitionError::MissingField { at: self.at.clone(), field: format!("{field}.Variable") });
            }
        };
        let operators: Vec<(&String, &Value)> =
            map.iter().filter(|(k, _)| !matches!(k.as_str(), "Variable" | "Next" | "Comment")).collect();
        let [(name, value)] = operators.as_slice() else {
            let names: Vec<&str> = operators.iter().map(|(k, _)| k.as_str()).collect();
            return Err(self.invalid(
                field,
                format!("must have exactly one comparison operator besides Variable, found [{}]", names.join(", ")),
            ));
        };
        let op_field = format!("{field}.{name}");
        if let Some((_, test)) = TESTS.iter().find(|(n, _)| n == name) {
            let Value::Bool(expected) = value else {
                return Err(self.invalid(&op_field, "must be true or false"));
            };
            return Ok(Condition::Test { variable, test: *test, expected: *expected });
        }
        let Some((kind, comparison, is_path)) = operator(name) else {
            return Err(DefinitionError::UnknownField { at: self.at.clone(), field: op_field });
        };
        let operand = if is_path {
            Operand::Path(self.path(&op_field, value)?)
        } else {
            match (kind, value) {
                (Kind::String, Value::String(pattern)) if comparison == Comparison::Matches => {
                    Operand::Pattern(compile_pattern(pattern))
                }
                (Kind::String, Value::String(_))
                | (Kind::Numeric, Value::Number(_))
                | (Kind::Boolean, Value::Bool(_)) => Operand::Literal((*value).clone()),
                (Kind::Timestamp, Value::String(text)) if timestamp::parse(text).is_some() => {
                    Operand::Literal((*value).clone())
                }
                (Kind::Timestamp, _) => {
                    return Err(self.invalid(&op_field, "must be a timestamp such as 2016-08-18T17:33:00Z"));
                }
                (Kind::String, _) => return Err(self.invalid(&op_field, "must be a string")),
                (Kind::Numeric, _) => return Err(self.invalid(&op_field, "must be a number")),
                (Kind::Boolean, _) => return Err(self.invalid(&op_field, "must be true or false")),
            }
        };
        Ok(Condition::Compare { variable, kind, comparison, operand })
    }
}

/// Parses the `Choices` array of a Choice state.
pub(crate) fn parse_rules(value: &Value, at: &Location) -> Result<Vec<ChoiceRule>, DefinitionError> {
    let parser = RuleParser { at };
    let Value::Array(items) = value else {
        return Err(parser.invalid("Choices", "must be an array of Choice rules"));
    };
    if items.is_empty() {
        return Err(parser.invalid("Choices", "must not be empty"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let (condition, next) = parser.rule(item, &format!("Choices[{i}]"), true)?;
            // A top-level rule always has Next: `rule` refuses it otherwise.
            Ok(ChoiceRule { condition, next: next.unwrap_or_default() })
        })
        .collect()
}

/// `*` matches any run of characters; `\*` is a literal star and `\\` a backslash.
fn compile_pattern(pattern: &str) -> Vec<PatternToken> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => tokens.push(PatternToken::Char(chars.next().unwrap_or('\\'))),
            '*' => tokens.push(PatternToken::Star),
            c => tokens.push(PatternToken::Char(c)),
        }
    }
    tokens
}

fn glob_matches(tokens: &[PatternToken], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut t, mut p) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(PatternToken::Star) => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(PatternToken::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| *token == PatternToken::Star)
}

/// Java's `String.compareTo`, which the Choice docs refer to: UTF-16 code units.
fn java_compare(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn numeric_compare(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn as_timestamp(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().and_then(timestamp::parse)
}

fn invalid_path(path: &JsonPath) -> StateError {
    StateError::runtime(format!(
        "Invalid path '{path}': The choice state's condition path references an invalid value."
    ))
}

impl Condition {
    pub(crate) fn evaluate(&self, input: &Value, context: &dyn ContextSource) -> Result<bool, StateError> {
        match self {
            Condition::And(rules) => {
                for rule in rules {
                    if !rule.evaluate(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Or(rules) => {
                for rule in rules {
                    if rule.evaluate(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(rule) => Ok(!rule.evaluate(input, context)?),
            Condition::Test { variable, test, expected } => {
                let value = match (variable.select(input, context), test) {
                    (Ok(Value::Array(items)), TypeTest::Present) if !variable.is_definite() => {
                        return Ok(items.is_empty() != *expected);
                    }
                    (Ok(value), _) => value,
                    (Err(_), TypeTest::Present) => return Ok(!*expected),
                    (Err(_), _) => return Err(invalid_path(variable)),
                };
                let actual = match test {
                    TypeTest::Present => true,
                    TypeTest::Null => value.is_null(),
                    TypeTest::Numeric => value.is_number(),
                    TypeTest::String => value.is_string(),
                    TypeTest::Boolean => value.is_boolean(),
                    TypeTest::Timestamp => as_timestamp(&value).is_some(),
                };
                Ok(actual == *expected)
            }
            Condition::Compare { variable, kind, comparison, operand } => {
                let left = variable.select(input, context).map_err(|_| invalid_path(variable))?;
                let right = match operand {
                    Operand::Pattern(tokens) => {
                        return Ok(left.as_str().is_some_and(|text| glob_matches(tokens, text)));
                    }
                    Operand::Literal(value) => value.clone(),
                    Operand::Path(path) => path.select(input, context).map_err(|_| invalid_path(path))?,
                };
                // A value of another type than the operator's never matches.
                let ordering = match (kind, &left, &right) {
                    (Kind::String, Value::String(a), Value::String(b)) => Some(java_compare(a, b)),
                    (Kind::Numeric, Value::Number(a), Value::Number(b)) => numeric_compare(a, b),
                    (Kind::Boolean, Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
                    (Kind::Timestamp, _, _) => as_timestamp(&left).zip(as_timestamp(&right)).map(|(a, b)| a.cmp(&b)),
                    _ => None,
                };
                let Some(ordering) = ordering else { return Ok(false) };
                Ok(match comparison {
                    Comparison::Equals => ordering == Ordering::Equal,
                    Comparison::LessThan => ordering == Ordering::Less,
                    Comparison::GreaterThan => ordering == Ordering::Greater,
                    Comparison::LessThanEquals => ordering != Ordering::Greater,
                    Comparison::GreaterThanEquals => ordering != Ordering::Less,
                    Comparison::Matches => false,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn condition(rule: Value) -> Condition {
        let mut rule = rule;
        rule["Next"] = json!("N");
        parse_rules(&json!([rule]), &Location::top()).expect("valid rule").remove(0).condition
    }

    fn check(rule: Value, input: Value) -> bool {
        condition(rule).evaluate(&input, &json!({})).expect("evaluates")
    }

    #[test]
    fn every_operator_parses_and_evaluates() {
        // GIVEN an input with a string, number, boolean and timestamp, and a twin of each
        // WHEN every comparison operator and its ...Path form is applied
        // THEN each gives the documented result
        let input = json!({"s": "b", "n": 5, "b": true, "t": "2001-01-01T12:00:00Z",
            "s2": "b", "n2": 5.0, "b2": true, "t2": "2001-01-01T13:00:00+01:00"});
        let cases = [
            ("StringEquals", json!("b"), true),
            ("StringLessThan", json!("c"), true),
            ("StringGreaterThan", json!("a"), true),
            ("StringLessThanEquals", json!("b"), true),
            ("StringGreaterThanEquals", json!("c"), false),
            ("NumericEquals", json!(5), true),
            ("NumericLessThan", json!(5), false),
            ("NumericGreaterThan", json!(4.5), true),
            ("NumericLessThanEquals", json!(5), true),
            ("NumericGreaterThanEquals", json!(6), false),
            ("BooleanEquals", json!(true), true),
            ("TimestampEquals", json!("2001-01-01T12:00:00Z"), true),
            ("TimestampLessThan", json!("2001-01-01T12:00:01Z"), true),
            ("TimestampGreaterThan", json!("2001-01-01T11:59:59Z"), true),
            ("TimestampLessThanEquals", json!("2001-01-01T12:00:00Z"), true),
            ("TimestampGreaterThanEquals", json!("2001-01-01T12:00:01Z"), false),
        ];
        for (op, operand, expected) in cases {
            let variable = match &op[..4] {
                "Stri" => "$.s",
                "Nume" => "$.n",
                "Bool" => "$.b",
                _ => "$.t",
            };
            assert_eq!(check(json!({"Variable": variable, op: operand}), input.clone()), expected, "{op}");
            // The ...Path variant compares with the matching field of the input.
            let other = format!("{variable}2");
            let path_op = format!("{op}Path");
            let same = op.contains("Equals");
            assert_eq!(check(json!({"Variable": variable, path_op.clone(): other}), input.clone()), same, "{path_op}");
        }
    }

    // Example from https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-choice-state.html
    #[test]
    fn string_matches_with_wildcards_and_escapes() {
        // GIVEN StringMatches patterns (the docs' "log-*.txt", an escaped star)
        // WHEN they are matched THEN '*' spans any text and '\\*' is a literal star
        assert!(check(json!({"Variable": "$.foo", "StringMatches": "log-*.txt"}), json!({"foo": "log-2024-01.txt"})));
        assert!(!check(json!({"Variable": "$.foo", "StringMatches": "log-*.txt"}), json!({"foo": "log-1.csv"})));
        assert!(check(json!({"Variable": "$.foo", "StringMatches": "a\\*b"}), json!({"foo": "a*b"})));
        assert!(!check(json!({"Variable": "$.foo", "StringMatches": "a\\*b"}), json!({"foo": "axxb"})));
        assert!(check(json!({"Variable": "$.foo", "StringMatches": "*"}), json!({"foo": ""})));
        assert!(check(json!({"Variable": "$.foo", "StringMatches": "*a*a"}), json!({"foo": "banana"})));
    }

    #[test]
    fn type_mismatch_is_false_and_missing_variable_is_an_error() {
        // GIVEN values of another type than the operator's, or no value at all
        // WHEN compared THEN a type mismatch is false and a missing Variable is States.Runtime
        assert!(!check(json!({"Variable": "$.n", "StringEquals": "5"}), json!({"n": 5})));
        assert!(!check(json!({"Variable": "$.s", "NumericEquals": 5}), json!({"s": "5"})));
        let error = condition(json!({"Variable": "$.missing", "StringEquals": "x"})).evaluate(&json!({}), &json!({}));
        assert!(matches!(error, Err(StateError { ref error, .. }) if error == "States.Runtime"));
    }

    #[test]
    fn type_tests() {
        // GIVEN one value of each JSON type WHEN the Is... tests run THEN each recognises its own type
        let input = json!({"null": null, "n": 1, "s": "x", "b": false, "t": "2016-08-18T17:33:00Z"});
        assert!(check(json!({"Variable": "$.null", "IsNull": true}), input.clone()));
        assert!(check(json!({"Variable": "$.n", "IsNumeric": true}), input.clone()));
        assert!(check(json!({"Variable": "$.s", "IsString": true}), input.clone()));
        assert!(check(json!({"Variable": "$.b", "IsBoolean": true}), input.clone()));
        assert!(check(json!({"Variable": "$.t", "IsTimestamp": true}), input.clone()));
        assert!(check(json!({"Variable": "$.s", "IsTimestamp": false}), input.clone()));
        assert!(check(json!({"Variable": "$.absent", "IsPresent": false}), input.clone()));
        assert!(check(json!({"Variable": "$.s", "IsPresent": true}), input));
    }

    #[test]
    fn strings_compare_like_java() {
        // GIVEN a character outside the BMP and one above the surrogates
        // WHEN compared THEN the order is Java's (UTF-16), not Rust's (code points)
        // U+FF5E sorts after U+1F600 in UTF-16 (the latter is a surrogate pair 0xD83D...).
        assert_eq!(java_compare("\u{1F600}", "\u{FF5E}"), Ordering::Less);
        assert_eq!("\u{1F600}".cmp("\u{FF5E}"), Ordering::Greater);
    }

    #[test]
    fn malformed_rules_are_refused() {
        // GIVEN Choice rules with missing, extra or mistyped fields WHEN parsed THEN each is refused
        let at = Location::top().state("C");
        for bad in [
            json!([]),
            json!([{"Variable": "$.a", "Next": "N"}]),
            json!([{"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1, "Next": "N"}]),
            json!([{"Variable": "$.a", "StringEquals": 1, "Next": "N"}]),
            json!([{"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "N"}]),
            json!([{"Variable": "$.a", "BooleanLessThan": true, "Next": "N"}]),
            json!([{"Variable": "$.a", "StringMatchesPath": "$.b", "Next": "N"}]),
            json!([{"Variable": "$.a", "StringEquals": "x"}]),
            json!([{"Not": {"Variable": "$.a", "StringEquals": "x", "Next": "N"}, "Next": "N"}]),
            json!([{"And": [], "Next": "N"}]),
            json!([{"Variable": "a.b", "StringEquals": "x", "Next": "N"}]),
            json!([{"Variable": "$.a", "IsNull": "yes", "Next": "N"}]),
        ] {
            assert!(parse_rules(&bad, &at).is_err(), "{bad} should be refused");
        }
    }
}
