//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use cdc_asl::{EventKind, Execution, Executor, ExecutorOptions, HandlerRegistry, StateMachine, VirtualClock};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The time every virtual clock starts at unless a test says otherwise.
pub fn t0() -> DateTime<Utc> {
    at("2024-01-01T00:00:00Z")
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).expect("a valid test timestamp")
}

pub fn machine(definition: &Value) -> StateMachine {
    StateMachine::parse(&definition.to_string(), &BTreeMap::new()).expect("the test definition is valid")
}

/// An executor on a virtual clock starting at `t0()`, with jitter seed 1.
pub fn executor(definition: &Value, handlers: HandlerRegistry) -> (Executor, Arc<VirtualClock>) {
    executor_at(definition, handlers, t0())
}

pub fn executor_at(
    definition: &Value,
    handlers: HandlerRegistry,
    start: DateTime<Utc>,
) -> (Executor, Arc<VirtualClock>) {
    let clock = Arc::new(VirtualClock::new(start));
    let executor =
        Executor::new(machine(definition), handlers, clock.clone()).with_options(ExecutorOptions { rng_seed: Some(1) });
    (executor, clock)
}

pub async fn run(definition: &Value, handlers: HandlerRegistry, input: Value) -> Execution {
    executor(definition, handlers).0.start("test", input).await
}

/// The events of one type, in order.
pub fn events<'a>(execution: &'a Execution, type_name: &str) -> Vec<&'a EventKind> {
    execution.history.iter().map(|e| &e.kind).filter(|k| k.type_name() == type_name).collect()
}

/// The names of the states entered, in order.
pub fn entered(execution: &Execution) -> Vec<String> {
    execution
        .history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StateEntered { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// The delays of the RetryScheduled events, in order.
pub fn retry_delays(execution: &Execution) -> Vec<f64> {
    execution
        .history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RetryScheduled { delay_seconds, .. } => Some(*delay_seconds),
            _ => None,
        })
        .collect()
}
