//! Retriers and catchers: which errors they match, and the backoff delays.

use serde_json::Value;

use crate::definition::ResultPath;
use crate::error::{DefinitionError, Location, StateError, names};
use crate::path::JsonPath;

/// AWS caps `IntervalSeconds` and `MaxAttempts` at 99999999.
const MAX_INTERVAL_OR_ATTEMPTS: u64 = 99_999_999;
/// AWS caps `MaxDelaySeconds` at 31622401 (a year and a second).
const MAX_DELAY_SECONDS: u64 = 31_622_401;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jitter {
    None,
    Full,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub jitter: Jitter,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Catcher {
    pub error_equals: Vec<String>,
    pub result_path: ResultPath,
    pub next: String,
}

/// Whether an `ErrorEquals` list matches an error name.
pub(crate) fn matches(error_equals: &[String], error: &StateError) -> bool {
    if error.is_terminal() {
        return false;
    }
    error_equals.iter().any(|name| match name.as_str() {
        names::ALL => true,
        names::TASK_FAILED => error.error != names::TIMEOUT,
        other => other == error.error,
    })
}

impl Retrier {
    /// The delay before retry number `attempt` (0 for the first retry) of
    /// this retrier, in seconds. `unit` is a number in [0, 1) that FULL
    /// jitter scales the delay by.
    pub(crate) fn delay_seconds(&self, attempt: u64, unit: f64) -> f64 {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let mut delay = self.interval_seconds as f64 * self.backoff_rate.powi(exponent);
        if let Some(max) = self.max_delay_seconds {
            delay = delay.min(max as f64);
        }
        // The largest interval AWS allows, so an overflow to infinity stays finite.
        delay = delay.min(MAX_INTERVAL_OR_ATTEMPTS as f64 * 1_000.0);
        match self.jitter {
            Jitter::None => delay,
            Jitter::Full => delay * unit,
        }
    }
}

struct Reader<'a> {
    at: &'a Location,
    field: String,
}

impl Reader<'_> {
    fn invalid(&self, key: &str, message: &str) -> DefinitionError {
        DefinitionError::InvalidField {
            at: self.at.clone(),
            field: format!("{}.{key}", self.field),
            message: message.to_string(),
        }
    }

    fn object<'v>(
        &self,
        value: &'v Value,
        allowed: &[&str],
    ) -> Result<&'v serde_json::Map<String, Value>, DefinitionError> {
        let Value::Object(map) = value else {
            return Err(DefinitionError::InvalidField {
                at: self.at.clone(),
                field: self.field.clone(),
                message: "must be an object".to_string(),
            });
        };
        if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(DefinitionError::UnknownField { at: self.at.clone(), field: format!("{}.{key}", self.field) });
        }
        Ok(map)
    }

    fn error_equals(&self, map: &serde_json::Map<String, Value>) -> Result<Vec<String>, DefinitionError> {
        let Some(value) = map.get("ErrorEquals") else {
            return Err(DefinitionError::MissingField {
                at: self.at.clone(),
                field: format!("{}.ErrorEquals", self.field),
            });
        };
        let names: Option<Vec<String>> =
            value.as_array().map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
        match names {
            Some(names) if !names.is_empty() && Some(names.len()) == value.as_array().map(Vec::len) => {
                if names.len() > 1 && names.iter().any(|n| n == names::ALL) {
                    return Err(self.invalid("ErrorEquals", "must list States.ALL alone"));
                }
                Ok(names)
            }
            _ => Err(self.invalid("ErrorEquals", "must be a non-empty array of error names")),
        }
    }

    fn integer(
        &self,
        map: &serde_json::Map<String, Value>,
        key: &str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, DefinitionError> {
        match map.get(key) {
            None => Ok(None),
            Some(value) => match value.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(self.invalid(key, &format!("must be an integer from {min} to {max}"))),
            },
        }
    }
}

/// `States.ALL` must be in the last retrier or catcher, as AWS requires.
fn check_all_is_last(lists: &[&[String]], at: &Location, field: &str) -> Result<(), DefinitionError> {
    let last = lists.len().saturating_sub(1);
    for (i, list) in lists.iter().enumerate() {
        if i != last && list.iter().any(|n| n == names::ALL) {
            return Err(DefinitionError::InvalidField {
                at: at.clone(),
                field: format!("{field}[{i}].ErrorEquals"),
                message: format!("lists States.ALL, which must only appear in the last element of {field}"),
            });
        }
    }
    Ok(())
}

pub(crate) fn parse_retry(value: &Value, at: &Location) -> Result<Vec<Retrier>, DefinitionError> {
    let Value::Array(items) = value else {
        return Err(DefinitionError::InvalidField {
            at: at.clone(),
            field: "Retry".into(),
            message: "must be an array".into(),
        });
    };
    let mut retriers = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let reader = Reader { at, field: format!("Retry[{i}]") };
        let map = reader.object(
            item,
            &[
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ],
        )?;
        let backoff_rate = match map.get("BackoffRate") {
            None => 2.0,
            Some(value) => match value.as_f64() {
                Some(rate) if rate >= 1.0 && rate.is_finite() => rate,
                _ => return Err(reader.invalid("BackoffRate", "must be a number of at least 1.0")),
            },
        };
        let jitter = match map.get("JitterStrategy").map(|v| v.as_str()) {
            None | Some(Some("NONE")) => Jitter::None,
            Some(Some("FULL")) => Jitter::Full,
            Some(_) => return Err(reader.invalid("JitterStrategy", "must be FULL or NONE")),
        };
        retriers.push(Retrier {
            error_equals: reader.error_equals(map)?,
            interval_seconds: reader.integer(map, "IntervalSeconds", 1, MAX_INTERVAL_OR_ATTEMPTS)?.unwrap_or(1),
            max_attempts: reader.integer(map, "MaxAttempts", 0, MAX_INTERVAL_OR_ATTEMPTS)?.unwrap_or(3),
            backoff_rate,
            max_delay_seconds: reader.integer(map, "MaxDelaySeconds", 1, MAX_DELAY_SECONDS)?,
            jitter,
        });
    }
    let lists: Vec<&[String]> = retriers.iter().map(|r| r.error_equals.as_slice()).collect();
    check_all_is_last(&lists, at, "Retry")?;
    Ok(retriers)
}

pub(crate) fn parse_catch(value: &Value, at: &Location) -> Result<Vec<Catcher>, DefinitionError> {
    let Value::Array(items) = value else {
        return Err(DefinitionError::InvalidField {
            at: at.clone(),
            field: "Catch".into(),
            message: "must be an array".into(),
        });
    };
    let mut catchers = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let reader = Reader { at, field: format!("Catch[{i}]") };
        let map = reader.object(item, &["ErrorEquals", "Next", "ResultPath", "Comment"])?;
        let next = match map.get("Next") {
            Some(Value::String(next)) => next.clone(),
            Some(_) => return Err(reader.invalid("Next", "must be a state name")),
            None => return Err(DefinitionError::MissingField { at: at.clone(), field: format!("Catch[{i}].Next") }),
        };
        let result_path = match map.get("ResultPath") {
            None => ResultPath::Replace,
            Some(Value::Null) => ResultPath::Discard,
            Some(Value::String(text)) => {
                let path = JsonPath::parse_reference(text, false).map_err(|e| DefinitionError::InvalidPath {
                    at: at.clone(),
                    field: format!("Catch[{i}].ResultPath"),
                    path: text.clone(),
                    message: e.to_string(),
                })?;
                if path.is_root() { ResultPath::Replace } else { ResultPath::At(path) }
            }
            Some(_) => return Err(reader.invalid("ResultPath", "must be a reference path or null")),
        };
        catchers.push(Catcher { error_equals: reader.error_equals(map)?, result_path, next });
    }
    let lists: Vec<&[String]> = catchers.iter().map(|c| c.error_equals.as_slice()).collect();
    check_all_is_last(&lists, at, "Catch")?;
    Ok(catchers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn retrier(value: Value) -> Retrier {
        parse_retry(&json!([value]), &Location::top()).expect("valid").remove(0)
    }

    // Example from https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html:
    // "This example of a Retry makes 2 retry attempts after waiting for 3 and 4.5 seconds."
    #[test]
    fn backoff_from_the_docs() {
        // GIVEN the documented retrier (3 s, x1.5, 2 attempts) WHEN delays are computed THEN 3 and 4.5 s
        let r = retrier(
            json!({"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 1.5}),
        );
        assert_eq!(r.max_attempts, 2);
        assert_eq!([r.delay_seconds(0, 0.0), r.delay_seconds(1, 0.0)], [3.0, 4.5]);
    }

    #[test]
    fn defaults_and_max_delay() {
        // GIVEN the defaults (1 s, x2, 3 attempts)
        let r = retrier(json!({"ErrorEquals": ["States.ALL"]}));
        assert_eq!((r.interval_seconds, r.max_attempts, r.backoff_rate, r.jitter), (1, 3, 2.0, Jitter::None));
        assert_eq!([r.delay_seconds(0, 0.5), r.delay_seconds(1, 0.5), r.delay_seconds(2, 0.5)], [1.0, 2.0, 4.0]);
        // GIVEN IntervalSeconds 3, BackoffRate 2 and MaxDelaySeconds 10 THEN 3, 6, 10, 10
        let capped = retrier(json!({"ErrorEquals": ["E"], "IntervalSeconds": 3, "MaxDelaySeconds": 10}));
        let delays: Vec<f64> = (0..4).map(|n| capped.delay_seconds(n, 0.0)).collect();
        assert_eq!(delays, [3.0, 6.0, 10.0, 10.0]);
        // GIVEN FULL jitter THEN the delay is the backoff scaled into [0, backoff)
        let jittered = retrier(json!({"ErrorEquals": ["E"], "IntervalSeconds": 4, "JitterStrategy": "FULL"}));
        assert_eq!(jittered.delay_seconds(1, 0.25), 2.0);
    }

    #[test]
    fn matching_rules_from_the_docs() {
        // GIVEN error names WHEN matched against States.ALL, States.TaskFailed and names
        // THEN as the error-handling page says
        let error = |name: &str| StateError::new(name, "c");
        let all = vec!["States.ALL".to_string()];
        let task_failed = vec!["States.TaskFailed".to_string()];
        assert!(matches(&all, &error("MyError")));
        assert!(matches(&all, &error("States.Timeout")));
        // "A retry or catch on States.ALL will not catch States.Runtime errors."
        assert!(!matches(&all, &error("States.Runtime")));
        assert!(!matches(&["States.Runtime".to_string()], &error("States.Runtime")));
        // "States.TaskFailed ... matches any known error name except for States.Timeout."
        assert!(matches(&task_failed, &error("Lambda.Unknown")));
        assert!(!matches(&task_failed, &error("States.Timeout")));
        assert!(matches(&["ErrorA".to_string(), "ErrorB".to_string()], &error("ErrorB")));
        assert!(!matches(&["ErrorA".to_string()], &error("errora")));
    }

    #[test]
    fn invalid_retriers_and_catchers() {
        // GIVEN retriers and catchers breaking each rule WHEN parsed THEN each is refused
        let at = Location::top().state("T");
        for bad in [
            json!([{"ErrorEquals": []}]),
            json!([{"ErrorEquals": ["States.ALL", "E"]}]),
            json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]),
            json!([{"ErrorEquals": ["E"], "BackoffRate": 0.5}]),
            json!([{"ErrorEquals": ["E"], "IntervalSeconds": 0}]),
            json!([{"ErrorEquals": ["E"], "JitterStrategy": "HALF"}]),
            json!([{"ErrorEquals": ["E"], "MaxDelaySeconds": 0}]),
            json!([{"ErrorEquals": ["E"], "Interval": 1}]),
        ] {
            assert!(parse_retry(&bad, &at).is_err(), "{bad} should be refused");
        }
        for bad in [
            json!([{"ErrorEquals": ["E"]}]),
            json!([{"ErrorEquals": ["States.ALL"], "Next": "A"}, {"ErrorEquals": ["E"], "Next": "B"}]),
            json!([{"ErrorEquals": ["E"], "Next": "A", "ResultPath": "$.a[*]"}]),
        ] {
            assert!(parse_catch(&bad, &at).is_err(), "{bad} should be refused");
        }
    }
}
