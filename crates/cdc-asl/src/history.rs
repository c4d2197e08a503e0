//! The execution history, like the Step Functions console's event list,
//! and a one-line-per-event printer for `--trace`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event of an execution's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// 1 for the first event, in the order the events happened.
    pub id: u64,
    pub timestamp: DateTime<Utc>,
    /// Where the event happened: empty at the top level, `Map[2]` inside
    /// iteration 2 of the Map state `Map`, `Par#1` inside branch 1 of the
    /// Parallel state `Par`, joined by `/` when nested.
    pub scope: String,
    /// How many Map/Parallel levels deep the event is (0 at the top level).
    pub depth: usize,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. State names are those of the definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    ExecutionStarted {
        execution_arn: String,
        input: Value,
    },
    ExecutionSucceeded {
        output: Value,
    },
    ExecutionFailed {
        error: String,
        cause: Option<String>,
    },
    ExecutionTimedOut {
        error: String,
        cause: Option<String>,
    },
    ExecutionAborted,
    StateEntered {
        name: String,
        state_type: String,
        input: Value,
    },
    StateExited {
        name: String,
        output: Value,
    },
    /// A state ended in an error that no Catch of its own handled.
    StateFailed {
        name: String,
        error: String,
        cause: Option<String>,
    },
    TaskScheduled {
        name: String,
        resource: String,
        function_name: Option<String>,
        payload: Value,
        timeout_seconds: Option<u64>,
    },
    TaskSucceeded {
        name: String,
        resource: String,
        output: Value,
    },
    TaskFailed {
        name: String,
        resource: String,
        error: String,
        cause: Option<String>,
    },
    TaskTimedOut {
        name: String,
        resource: String,
        error: String,
        cause: Option<String>,
    },
    /// A retrier matched: retry number `attempt` (from 1) of the state starts after `delay_seconds`.
    RetryScheduled {
        name: String,
        error: String,
        retrier: usize,
        attempt: u64,
        delay_seconds: f64,
    },
    CatchTaken {
        name: String,
        error: String,
        cause: Option<String>,
        catcher: usize,
        next: String,
    },
    WaitStarted {
        name: String,
        until: DateTime<Utc>,
    },
    ChoiceMatched {
        name: String,
        rule: Option<usize>,
        next: String,
    },
    MapStarted {
        name: String,
        items: usize,
        max_concurrency: usize,
    },
    MapIterationStarted {
        name: String,
        index: usize,
    },
    MapIterationSucceeded {
        name: String,
        index: usize,
        output: Value,
    },
    MapIterationFailed {
        name: String,
        index: usize,
        error: String,
        cause: Option<String>,
    },
    MapIterationAborted {
        name: String,
        index: usize,
    },
    MapSucceeded {
        name: String,
    },
    MapFailed {
        name: String,
        error: String,
        cause: Option<String>,
    },
    ParallelStarted {
        name: String,
        branches: usize,
    },
    ParallelBranchStarted {
        name: String,
        index: usize,
    },
    ParallelBranchSucceeded {
        name: String,
        index: usize,
        output: Value,
    },
    ParallelBranchFailed {
        name: String,
        index: usize,
        error: String,
        cause: Option<String>,
    },
    ParallelBranchAborted {
        name: String,
        index: usize,
    },
    ParallelSucceeded {
        name: String,
    },
    ParallelFailed {
        name: String,
        error: String,
        cause: Option<String>,
    },
}

impl EventKind {
    /// The event's type name, as serialized.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::ExecutionStarted { .. } => "ExecutionStarted",
            EventKind::ExecutionSucceeded { .. } => "ExecutionSucceeded",
            EventKind::ExecutionFailed { .. } => "ExecutionFailed",
            EventKind::ExecutionTimedOut { .. } => "ExecutionTimedOut",
            EventKind::ExecutionAborted => "ExecutionAborted",
            EventKind::StateEntered { .. } => "StateEntered",
            EventKind::StateExited { .. } => "StateExited",
            EventKind::StateFailed { .. } => "StateFailed",
            EventKind::TaskScheduled { .. } => "TaskScheduled",
            EventKind::TaskSucceeded { .. } => "TaskSucceeded",
            EventKind::TaskFailed { .. } => "TaskFailed",
            EventKind::TaskTimedOut { .. } => "TaskTimedOut",
            EventKind::RetryScheduled { .. } => "RetryScheduled",
            EventKind::CatchTaken { .. } => "CatchTaken",
            EventKind::WaitStarted { .. } => "WaitStarted",
            EventKind::ChoiceMatched { .. } => "ChoiceMatched",
            EventKind::MapStarted { .. } => "MapStarted",
            EventKind::MapIterationStarted { .. } => "MapIterationStarted",
            EventKind::MapIterationSucceeded { .. } => "MapIterationSucceeded",
            EventKind::MapIterationFailed { .. } => "MapIterationFailed",
            EventKind::MapIterationAborted { .. } => "MapIterationAborted",
            EventKind::MapSucceeded { .. } => "MapSucceeded",
            EventKind::MapFailed { .. } => "MapFailed",
            EventKind::ParallelStarted { .. } => "ParallelStarted",
            EventKind::ParallelBranchStarted { .. } => "ParallelBranchStarted",
            EventKind::ParallelBranchSucceeded { .. } => "ParallelBranchSucceeded",
            EventKind::ParallelBranchFailed { .. } => "ParallelBranchFailed",
            EventKind::ParallelBranchAborted { .. } => "ParallelBranchAborted",
            EventKind::ParallelSucceeded { .. } => "ParallelSucceeded",
            EventKind::ParallelFailed { .. } => "ParallelFailed",
        }
    }

    /// The state the event is about, if any.
    pub fn state_name(&self) -> Option<&str> {
        match self {
            EventKind::StateEntered { name, .. }
            | EventKind::StateExited { name, .. }
            | EventKind::StateFailed { name, .. }
            | EventKind::TaskScheduled { name, .. }
            | EventKind::TaskSucceeded { name, .. }
            | EventKind::TaskFailed { name, .. }
            | EventKind::TaskTimedOut { name, .. }
            | EventKind::RetryScheduled { name, .. }
            | EventKind::CatchTaken { name, .. }
            | EventKind::WaitStarted { name, .. }
            | EventKind::ChoiceMatched { name, .. }
            | EventKind::MapStarted { name, .. }
            | EventKind::MapIterationStarted { name, .. }
            | EventKind::MapIterationSucceeded { name, .. }
            | EventKind::MapIterationFailed { name, .. }
            | EventKind::MapIterationAborted { name, .. }
            | EventKind::MapSucceeded { name }
            | EventKind::MapFailed { name, .. }
            | EventKind::ParallelStarted { name, .. }
            | EventKind::ParallelBranchStarted { name, .. }
            | EventKind::ParallelBranchSucceeded { name, .. }
            | EventKind::ParallelBranchFailed { name, .. }
            | EventKind::ParallelBranchAborted { name, .. }
            | EventKind::ParallelSucceeded { name }
            | EventKind::ParallelFailed { name, .. } => Some(name),
            EventKind::ExecutionStarted { .. }
            | EventKind::ExecutionSucceeded { .. }
            | EventKind::ExecutionFailed { .. }
            | EventKind::ExecutionTimedOut { .. }
            | EventKind::ExecutionAborted => None,
        }
    }

    /// The details after the type name, with JSON cut to `width` characters.
    fn details(&self, width: usize) -> String {
        let json = |v: &Value| truncate(&v.to_string(), width);
        let text = |t: &str| truncate(t, width);
        let err = |e: &str, c: &Option<String>| match c {
            Some(cause) => format!("{e}: {}", text(cause)),
            None => e.to_string(),
        };
        match self {
            EventKind::ExecutionStarted { execution_arn, input } => format!("{execution_arn} input={}", json(input)),
            EventKind::ExecutionSucceeded { output } => format!("output={}", json(output)),
            EventKind::ExecutionFailed { error, cause } | EventKind::ExecutionTimedOut { error, cause } => {
                err(error, cause)
            }
            EventKind::ExecutionAborted => String::new(),
            EventKind::StateEntered { name, state_type, input } => {
                format!("{name} ({state_type}) input={}", json(input))
            }
            EventKind::StateExited { name, output } => format!("{name} output={}", json(output)),
            EventKind::StateFailed { name, error, cause } => format!("{name} {}", err(error, cause)),
            EventKind::TaskScheduled { name, resource, function_name, payload, timeout_seconds } => {
                let target = function_name.as_deref().unwrap_or(resource);
                let timeout = timeout_seconds.map(|t| format!(" timeout={t}s")).unwrap_or_default();
                format!("{name} -> {target}{timeout} payload={}", json(payload))
            }
            EventKind::TaskSucceeded { name, output, .. } => format!("{name} output={}", json(output)),
            EventKind::TaskFailed { name, error, cause, .. } | EventKind::TaskTimedOut { name, error, cause, .. } => {
                format!("{name} {}", err(error, cause))
            }
            EventKind::RetryScheduled { name, error, retrier, attempt, delay_seconds } => {
                format!("{name} {error} -> retry #{attempt} (Retry[{retrier}]) after {delay_seconds:.3}s")
            }
            EventKind::CatchTaken { name, error, catcher, next, .. } => {
                format!("{name} {error} -> Catch[{catcher}] -> {next}")
            }
            EventKind::WaitStarted { name, until } => format!("{name} until {}", crate::timestamp::format(*until)),
            EventKind::ChoiceMatched { name, rule, next } => match rule {
                Some(rule) => format!("{name} Choices[{rule}] -> {next}"),
                None => format!("{name} Default -> {next}"),
            },
            EventKind::MapStarted { name, items, max_concurrency } => {
                let limit = if *max_concurrency == 0 { "unbounded".to_string() } else { max_concurrency.to_string() };
                format!("{name} items={items} max_concurrency={limit}")
            }
            EventKind::MapIterationStarted { name, index }
            | EventKind::MapIterationAborted { name, index }
            | EventKind::ParallelBranchStarted { name, index }
            | EventKind::ParallelBranchAborted { name, index } => format!("{name}[{index}]"),
            EventKind::MapIterationSucceeded { name, index, output }
            | EventKind::ParallelBranchSucceeded { name, index, output } => {
                format!("{name}[{index}] output={}", json(output))
            }
            EventKind::MapIterationFailed { name, index, error, cause }
            | EventKind::ParallelBranchFailed { name, index, error, cause } => {
                format!("{name}[{index}] {}", err(error, cause))
            }
            EventKind::MapSucceeded { name } | EventKind::ParallelSucceeded { name } => name.clone(),
            EventKind::MapFailed { name, error, cause } | EventKind::ParallelFailed { name, error, cause } => {
                format!("{name} {}", err(error, cause))
            }
            EventKind::ParallelStarted { name, branches } => format!("{name} branches={branches}"),
        }
    }
}

/// Cuts `text` to at most `max_chars` characters, marking the cut with `…`.
pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// Renders a history one line per event: id, time since the first event,
/// type and details. Nested events are indented two spaces per Map/Parallel
/// level and start with their scope (`[Load[2]]`), since concurrent
/// iterations interleave. JSON inputs and outputs are cut to `value_width`
/// characters.
pub fn render_history(events: &[HistoryEvent], value_width: usize) -> String {
    let start = events.first().map(|e| e.timestamp);
    let mut out = String::new();
    for event in events {
        let elapsed = start.map_or(0.0, |s| (event.timestamp - s).num_milliseconds() as f64 / 1000.0);
        let indent = "  ".repeat(event.depth);
        let scope = if event.scope.is_empty() { String::new() } else { format!("[{}] ", event.scope) };
        let _ = writeln!(
            out,
            "{:>4} {:>+10.3}s {indent}{scope}{:<24}{}",
            event.id,
            elapsed,
            event.kind.type_name(),
            event.kind.details(value_width)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(id: u64, seconds: i64, depth: usize, kind: EventKind) -> HistoryEvent {
        let t0 = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").map(|t| t.with_timezone(&Utc)).expect("valid");
        HistoryEvent { id, timestamp: t0 + chrono::TimeDelta::seconds(seconds), scope: String::new(), depth, kind }
    }

    #[test]
    fn truncates_on_character_boundaries() {
        // GIVEN texts around the limit WHEN cut THEN at most the limit remains, marked with …
        assert_eq!(truncate("abcdef", 10), "abcdef");
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abcde…");
        assert_eq!(truncate("ééééééé", 3), "éé…");
    }

    #[test]
    fn renders_one_indented_line_per_event() {
        // GIVEN a top-level and a nested event WHEN rendered THEN one line each, the nested one indented
        let events = vec![
            event(
                1,
                0,
                0,
                EventKind::StateEntered { name: "Map".into(), state_type: "Map".into(), input: json!([1, 2]) },
            ),
            event(
                2,
                3,
                1,
                EventKind::StateEntered {
                    name: "Work".into(),
                    state_type: "Task".into(),
                    input: json!({"long": "x".repeat(100)}),
                },
            ),
        ];
        let text = render_history(&events, 20);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("   1     +0.000s StateEntered"), "{}", lines[0]);
        assert!(lines[1].contains("+3.000s   StateEntered"), "{}", lines[1]);
        let nested = HistoryEvent { scope: "Map[1]".into(), ..events[1].clone() };
        assert!(render_history(&[nested], 20).contains("+0.000s   [Map[1]] StateEntered"));
        assert!(lines[1].ends_with('…'), "{}", lines[1]);
    }

    #[test]
    fn serializes_with_a_type_tag() {
        // GIVEN a retry event WHEN serialized THEN it carries its type tag and deserializes back
        let e = event(
            7,
            0,
            0,
            EventKind::RetryScheduled {
                name: "T".into(),
                error: "E".into(),
                retrier: 0,
                attempt: 1,
                delay_seconds: 3.0,
            },
        );
        let value = serde_json::to_value(&e).expect("serializes");
        assert_eq!(value["type"], "RetryScheduled");
        assert_eq!(value["delay_seconds"], 3.0);
        let back: HistoryEvent = serde_json::from_value(value).expect("deserializes");
        assert_eq!(back, e);
    }
}
