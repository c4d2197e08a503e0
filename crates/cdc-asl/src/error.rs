//! Errors: the definition errors found before anything runs, and the
//! runtime error names of the Amazon States Language.

use std::fmt;

/// Error names defined by the Amazon States Language that this interpreter raises or matches.
pub mod names {
    /// Wildcard of `ErrorEquals`: every error except the terminal ones.
    pub const ALL: &str = "States.ALL";
    /// A task failed; as a matcher, every error except `States.Timeout`.
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A task ran past its timeout, or the execution ran past the machine's.
    pub const TIMEOUT: &str = "States.Timeout";
    /// An unrecoverable error: a path that matched nothing, a ResultPath that could not be applied.
    pub const RUNTIME: &str = "States.Runtime";
    /// No Choice rule matched and the Choice state has no Default.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// An intrinsic function failed (bad argument type or value).
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    /// Payload too large; terminal like `States.Runtime` (never raised here, but never caught either).
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    /// What AWS Lambda reports for a function name it does not know.
    pub const LAMBDA_RESOURCE_NOT_FOUND: &str = "Lambda.ResourceNotFoundException";
}

/// Where in a definition an error was found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// The state, or `None` for the fields of a machine or sub-machine (`StartAt`, `States`, ...).
    pub state: Option<String>,
    /// The Map and Parallel states enclosing it, outermost first.
    pub within: Vec<String>,
}

impl Location {
    pub(crate) fn top() -> Self {
        Location::default()
    }

    pub(crate) fn state(&self, name: &str) -> Self {
        Location { state: Some(name.to_string()), within: self.within.clone() }
    }

    pub(crate) fn inside(&self, parent: &str) -> Self {
        let mut within = self.within.clone();
        within.push(parent.to_string());
        Location { state: None, within }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            Some(state) => write!(f, "state '{state}'")?,
            None if self.within.is_empty() => f.write_str("state machine")?,
            None => f.write_str("sub-machine")?,
        }
        if let Some((innermost, outer)) = self.within.split_last() {
            write!(f, " inside '{innermost}'")?;
            for parent in outer.iter().rev() {
                write!(f, " inside '{parent}'")?;
            }
        }
        Ok(())
    }
}

/// A definition that cannot run: found by [`crate::StateMachine::parse`] before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("the definition is not valid JSON: {0}")]
    Json(String),
    #[error("{at}: placeholder ${{{name}}} has no substitution (field '{field}')")]
    UnresolvedPlaceholder { at: Location, field: String, name: String },
    #[error("{at}: missing required field '{field}'")]
    MissingField { at: Location, field: String },
    #[error("{at}: unknown field '{field}'")]
    UnknownField { at: Location, field: String },
    #[error("{at}: field '{field}' is not allowed in a {state_type} state")]
    MisplacedField { at: Location, field: String, state_type: String },
    #[error("{at}: field '{field}' is not supported by the local interpreter: {reason}")]
    Unsupported { at: Location, field: String, reason: String },
    #[error("{at}: field '{field}' {message}")]
    InvalidField { at: Location, field: String, message: String },
    #[error("{at}: unknown state type '{type_name}'")]
    UnknownStateType { at: Location, type_name: String },
    #[error("{at}: '{field}' names state '{target}', which does not exist")]
    DanglingTransition { at: Location, field: String, target: String },
    #[error("{at}: a {state_type} state needs \"Next\" or \"End\": true")]
    MissingTransition { at: Location, state_type: String },
    #[error("{at}: \"Next\" and \"End\" cannot both be set")]
    ConflictingTransition { at: Location },
    #[error("{at}: invalid path '{path}' in '{field}': {message}")]
    InvalidPath { at: Location, field: String, path: String, message: String },
    #[error("{at}: unknown intrinsic function '{function}' in '{field}'")]
    UnknownIntrinsic { at: Location, field: String, function: String },
    #[error("{at}: invalid intrinsic function call in '{field}': {message}")]
    InvalidIntrinsic { at: Location, field: String, message: String },
    #[error("{at}: state name '{name}' is used more than once in the definition")]
    DuplicateStateName { at: Location, name: String },
    #[error("{at}: state is not reachable from StartAt")]
    UnreachableState { at: Location },
}

impl DefinitionError {
    /// The location the error names, when it has one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            DefinitionError::Json(_) => None,
            DefinitionError::UnresolvedPlaceholder { at, .. }
            | DefinitionError::MissingField { at, .. }
            | DefinitionError::UnknownField { at, .. }
            | DefinitionError::MisplacedField { at, .. }
            | DefinitionError::Unsupported { at, .. }
            | DefinitionError::InvalidField { at, .. }
            | DefinitionError::UnknownStateType { at, .. }
            | DefinitionError::DanglingTransition { at, .. }
            | DefinitionError::MissingTransition { at, .. }
            | DefinitionError::ConflictingTransition { at }
            | DefinitionError::InvalidPath { at, .. }
            | DefinitionError::UnknownIntrinsic { at, .. }
            | DefinitionError::InvalidIntrinsic { at, .. }
            | DefinitionError::DuplicateStateName { at, .. }
            | DefinitionError::UnreachableState { at } => Some(at),
        }
    }

    /// The state the error names, when it is about a state.
    pub fn state(&self) -> Option<&str> {
        self.location().and_then(|at| at.state.as_deref())
    }
}

/// A runtime error as Step Functions reports it: an error name and an optional cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateError {
    pub error: String,
    pub cause: Option<String>,
}

impl StateError {
    pub(crate) fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        StateError { error: error.into(), cause: Some(cause.into()) }
    }

    pub(crate) fn runtime(cause: impl Into<String>) -> Self {
        StateError::new(names::RUNTIME, cause)
    }

    /// Errors that no Retry or Catch may handle, as the AWS docs state for
    /// `States.Runtime` and `States.DataLimitExceeded`.
    pub(crate) fn is_terminal(&self) -> bool {
        self.error == names::RUNTIME || self.error == names::DATA_LIMIT_EXCEEDED
    }

    /// The error output a Catch passes on: `{"Error": ..., "Cause": ...}`.
    pub(crate) fn to_output(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("Error".to_string(), serde_json::Value::String(self.error.clone()));
        if let Some(cause) = &self.cause {
            map.insert("Cause".to_string(), serde_json::Value::String(cause.clone()));
        }
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_read_from_inside_out() {
        // GIVEN nested locations WHEN displayed THEN they read from the state outwards
        let at = Location::top().inside("Outer").inside("Inner").state("Leaf");
        assert_eq!(at.to_string(), "state 'Leaf' inside 'Inner' inside 'Outer'");
        assert_eq!(Location::top().to_string(), "state machine");
        assert_eq!(Location::top().inside("M").to_string(), "sub-machine inside 'M'");
    }
}
