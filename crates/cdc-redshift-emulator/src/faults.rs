//! Fault injection and call counting.
//!
//! Statement faults apply to the next submitted statement (ExecuteStatement
//! or BatchExecuteStatement) with a SQL text containing a pattern, as many
//! times as asked:
//! - [`StatementFault::Fail`]: the first sub-statement containing the pattern
//!   fails with the given error text (the ones before it ran and are rolled
//!   back), so a client sees FAILED with, say, a 1023 serializable isolation
//!   message;
//! - [`StatementFault::Abort`]: the statement ends ABORTED without running;
//! - [`StatementFault::Slow`]: the statement stays STARTED until released
//!   ([`crate::Emulator::release_slow`]) or for a number of DescribeStatement
//!   calls, then runs.
//!
//! Throttles apply to the next K calls of one operation (or of any): they
//! answer HTTP 400 with `ThrottlingException`, `ActiveStatementsExceededException`
//! or `ActiveSessionsExceededException`, as the Data API does when its limits
//! are hit, and the call is not carried out.
//!
//! Every Data API call is counted per operation, throttled ones included, so
//! a test can assert how many calls a run made, zero for an idle one.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StatementFault {
    Fail { error: String },
    Abort,
    Slow { until: SlowUntil },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlowUntil {
    Released,
    Describes(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Throttle {
    ThrottlingException,
    ActiveStatementsExceededException,
    ActiveSessionsExceededException,
}

impl Throttle {
    pub fn code(self) -> &'static str {
        match self {
            Throttle::ThrottlingException => "ThrottlingException",
            Throttle::ActiveStatementsExceededException => "ActiveStatementsExceededException",
            Throttle::ActiveSessionsExceededException => "ActiveSessionsExceededException",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Throttle::ThrottlingException => "Rate exceeded",
            Throttle::ActiveStatementsExceededException => "Active statements exceeded the allowed quota (500).",
            Throttle::ActiveSessionsExceededException => "Active sessions exceeded the allowed quota.",
        }
    }
}

#[derive(Debug, Clone)]
struct StatementRule {
    pattern: String,
    fault: StatementFault,
    remaining: u32,
}

#[derive(Debug, Clone)]
struct ThrottleRule {
    operation: Option<String>,
    throttle: Throttle,
    remaining: u32,
}

/// The faults waiting for their statements and calls.
#[derive(Debug, Default)]
pub struct Faults {
    statements: Mutex<Vec<StatementRule>>,
    throttles: Mutex<Vec<ThrottleRule>>,
}

impl Faults {
    pub fn add_statement_fault(&self, pattern: impl Into<String>, fault: StatementFault, times: u32) {
        let rule = StatementRule { pattern: pattern.into(), fault, remaining: times.max(1) };
        self.statements.lock().expect("faults lock").push(rule);
    }

    /// `operation` is the Data API operation name (`BatchExecuteStatement`); `None` for any.
    pub fn add_throttle(&self, operation: Option<&str>, throttle: Throttle, calls: u32) {
        let rule = ThrottleRule { operation: operation.map(str::to_string), throttle, remaining: calls };
        self.throttles.lock().expect("faults lock").push(rule);
    }

    pub fn clear(&self) {
        self.statements.lock().expect("faults lock").clear();
        self.throttles.lock().expect("faults lock").clear();
    }

    /// The fault for a statement being submitted, with the index of the
    /// first sub-statement that matched.
    pub(crate) fn take_statement_fault(&self, sqls: &[String]) -> Option<(usize, StatementFault)> {
        let mut rules = self.statements.lock().expect("faults lock");
        let (rule_index, sub) = rules
            .iter()
            .enumerate()
            .find_map(|(r, rule)| sqls.iter().position(|s| s.contains(&rule.pattern)).map(|i| (r, i)))?;
        let rule = &mut rules[rule_index];
        let fault = rule.fault.clone();
        rule.remaining -= 1;
        if rule.remaining == 0 {
            rules.remove(rule_index);
        }
        Some((sub, fault))
    }

    pub(crate) fn take_throttle(&self, operation: &str) -> Option<Throttle> {
        let mut rules = self.throttles.lock().expect("faults lock");
        let i = rules.iter().position(|r| r.remaining > 0 && r.operation.as_deref().is_none_or(|o| o == operation))?;
        let throttle = rules[i].throttle;
        rules[i].remaining -= 1;
        if rules[i].remaining == 0 {
            rules.remove(i);
        }
        Some(throttle)
    }
}

/// Data API calls received, per operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts(pub BTreeMap<String, u64>);

impl CallCounts {
    pub fn get(&self, operation: &str) -> u64 {
        self.0.get(operation).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

#[derive(Debug, Default)]
pub struct CallCounter(Mutex<CallCounts>);

impl CallCounter {
    pub fn count(&self, operation: &str) {
        *self.0.lock().expect("calls lock").0.entry(operation.to_string()).or_default() += 1;
    }

    pub fn snapshot(&self) -> CallCounts {
        self.0.lock().expect("calls lock").clone()
    }

    pub fn reset(&self) {
        self.0.lock().expect("calls lock").0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_faults_apply_to_matching_statements_as_many_times_as_asked() {
        let f = Faults::default();
        f.add_statement_fault("INSERT INTO t", StatementFault::Abort, 2);
        assert_eq!(f.take_statement_fault(&["SELECT 1".into()]), None);
        let batch = ["CREATE TEMP TABLE x (a INT)".to_string(), "INSERT INTO t VALUES (1)".to_string()];
        assert_eq!(f.take_statement_fault(&batch), Some((1, StatementFault::Abort)));
        assert_eq!(f.take_statement_fault(&batch), Some((1, StatementFault::Abort)));
        assert_eq!(f.take_statement_fault(&batch), None);
    }

    #[test]
    fn throttles_count_down_per_operation() {
        let f = Faults::default();
        f.add_throttle(Some("DescribeStatement"), Throttle::ThrottlingException, 1);
        f.add_throttle(None, Throttle::ActiveStatementsExceededException, 1);
        assert_eq!(f.take_throttle("BatchExecuteStatement"), Some(Throttle::ActiveStatementsExceededException));
        assert_eq!(f.take_throttle("BatchExecuteStatement"), None);
        assert_eq!(f.take_throttle("DescribeStatement"), Some(Throttle::ThrottlingException));
        assert_eq!(f.take_throttle("DescribeStatement"), None);
    }
}
