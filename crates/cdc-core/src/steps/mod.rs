//! The steps the state machine calls (`statemachine/pipeline.asl.json`),
//! with their JSON contracts. The Lambda functions wrap these, and the local
//! executor calls the very same functions, so the file is exercised whole on
//! a laptop.
//!
//! Five functions, each taking an `action`:
//! - job state: `claim`, `release`, `fail` (and the lease is extended by
//!   every poll below);
//! - dimension load and fact load: `setup_submit`/`setup_poll`,
//!   `load_submit`/`load_poll`, `refresh_submit`/`refresh_poll`;
//! - unload: `unload_submit`/`unload_poll`;
//! - notify: `notify`.
//!
//! Every response always carries every field (null when not applicable), so
//! the state machine's paths never miss (a missing path is `States.Runtime`).

pub mod dispatch;
pub mod job;
pub mod load;
pub mod notify;
pub mod unload;

use serde::{Deserialize, Serialize};

use crate::error::PipelineError;

/// The job and execution every step acts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunIds {
    pub job_id: String,
    pub execution_id: String,
}

/// A submitted statement's state as the poll loops test it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Nothing to do; no statement was started.
    NothingNew,
    Submitted,
    Running,
    Done,
    /// The statement ended without effect for a passing reason (a
    /// serialization conflict, an abort): the state machine submits again.
    Retry,
    /// Work is left but this execution takes no more (its work window is
    /// over, or the loop did its share): the next execution goes on.
    Deferred,
}

/// Reads a step's input, naming the action when it does not fit.
pub fn parse_input<T: serde::de::DeserializeOwned>(
    action: &str,
    payload: &serde_json::Value,
) -> Result<T, PipelineError> {
    serde_json::from_value(payload.clone())
        .map_err(|e| PipelineError::config(format!("action {action}: malformed input: {e}")))
}

pub fn to_output<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("step outputs serialize")
}
