//! The state machine model, read from ASL JSON and validated before anything runs.

mod parse;
mod substitution;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::choice::ChoiceRule;
use crate::error::{DefinitionError, Location};
use crate::intrinsics::Intrinsic;
use crate::path::JsonPath;
use crate::retry::{Catcher, Retrier};
use crate::template::Template;

/// Where a state's data comes from or goes to (`InputPath`, `OutputPath`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DataPath {
    /// Omitted or `$`: all of it.
    Whole,
    /// `null`: an empty object, as AWS documents.
    Empty,
    Path(JsonPath),
}

/// Where a result goes (`ResultPath`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResultPath {
    /// Omitted or `$`: the result replaces the input.
    Replace,
    /// `null`: the result is discarded, the input passes through.
    Discard,
    At(JsonPath),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Transition {
    Next(String),
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Io {
    pub input_path: DataPath,
    pub output_path: DataPath,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PassState {
    pub io: Io,
    pub parameters: Option<Template>,
    pub result: Option<Value>,
    pub result_path: ResultPath,
    pub transition: Transition,
}

/// What a Task state calls.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TaskTarget {
    /// `arn:aws:states:::lambda:invoke`: the function named by `Parameters.FunctionName`.
    LambdaInvoke,
    /// A Lambda function ARN as the Resource: the result is the function's output.
    LambdaArn,
    /// Any other request-response integration, dispatched by its exact Resource.
    Service,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seconds {
    Fixed(u64),
    Path(JsonPath),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Catching {
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskState {
    pub io: Io,
    pub resource: String,
    pub target: TaskTarget,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub catching: Catching,
    pub timeout: Option<Seconds>,
    pub transition: Transition,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChoiceState {
    pub io: Io,
    pub choices: Vec<ChoiceRule>,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WaitFor {
    Seconds(Seconds),
    Timestamp(DateTime<Utc>),
    TimestampPath(JsonPath),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WaitState {
    pub io: Io,
    pub wait: WaitFor,
    pub transition: Transition,
}

/// `Error`/`Cause` of a Fail state, or their `...Path` forms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FailText {
    Static(Option<String>),
    Path(JsonPath),
    Intrinsic(Intrinsic),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FailState {
    pub error: FailText,
    pub cause: FailText,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParallelState {
    pub io: Io,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub catching: Catching,
    pub branches: Vec<Arc<Graph>>,
    pub transition: Transition,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MapState {
    pub io: Io,
    pub items_path: Option<JsonPath>,
    pub item_selector: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub catching: Catching,
    pub processor: Arc<Graph>,
    /// 0 means no limit.
    pub max_concurrency: Seconds,
    pub transition: Transition,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StateKind {
    Pass(PassState),
    Task(TaskState),
    Choice(ChoiceState),
    Wait(WaitState),
    Succeed(Io),
    Fail(FailState),
    Parallel(ParallelState),
    Map(MapState),
}

impl StateKind {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            StateKind::Pass(_) => "Pass",
            StateKind::Task(_) => "Task",
            StateKind::Choice(_) => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed(_) => "Succeed",
            StateKind::Fail(_) => "Fail",
            StateKind::Parallel(_) => "Parallel",
            StateKind::Map(_) => "Map",
        }
    }

    /// Every state this one can move to.
    pub(crate) fn targets(&self) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        let mut push_transition = |t: &Transition| {
            if let Transition::Next(next) = t {
                out.push((next.clone(), "Next"));
            }
        };
        let catchers: &[Catcher] = match self {
            StateKind::Pass(s) => {
                push_transition(&s.transition);
                &[]
            }
            StateKind::Wait(s) => {
                push_transition(&s.transition);
                &[]
            }
            StateKind::Task(s) => {
                push_transition(&s.transition);
                &s.catching.catch
            }
            StateKind::Parallel(s) => {
                push_transition(&s.transition);
                &s.catching.catch
            }
            StateKind::Map(s) => {
                push_transition(&s.transition);
                &s.catching.catch
            }
            StateKind::Choice(s) => {
                for rule in &s.choices {
                    out.push((rule.next.clone(), "Choices[].Next"));
                }
                if let Some(default) = &s.default {
                    out.push((default.clone(), "Default"));
                }
                &[]
            }
            StateKind::Succeed(_) | StateKind::Fail(_) => &[],
        };
        for catcher in catchers {
            out.push((catcher.next.clone(), "Catch[].Next"));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct State {
    pub name: String,
    pub kind: StateKind,
}

/// A machine or sub-machine (Parallel branch, Map processor): `StartAt` and `States`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Graph {
    pub start_at: String,
    pub states: HashMap<String, State>,
}

/// A validated state machine definition, ready to run.
#[derive(Debug, Clone)]
pub struct StateMachine {
    name: String,
    comment: Option<String>,
    timeout_seconds: Option<u64>,
    pub(crate) graph: Arc<Graph>,
}

/// The default machine name in execution ARNs; see [`StateMachine::with_name`].
pub const DEFAULT_MACHINE_NAME: &str = "StateMachine";

impl StateMachine {
    /// Reads and validates an ASL definition. Each `${Name}` is first
    /// replaced by `substitutions[Name]`, in the text, as CloudFormation's
    /// `DefinitionSubstitutions` does; a placeholder left over is an error.
    pub fn parse(definition: &str, substitutions: &BTreeMap<String, String>) -> Result<Self, DefinitionError> {
        let text = substitution::substitute(definition, substitutions);
        let json: Value = serde_json::from_str(&text).map_err(|e| DefinitionError::Json(e.to_string()))?;
        let Value::Object(map) = &json else {
            return Err(DefinitionError::Json("the definition must be a JSON object".to_string()));
        };
        substitution::check_placeholders(&json, &Location::top())?;
        let top = parse::parse_machine(map)?;
        Ok(StateMachine {
            name: DEFAULT_MACHINE_NAME.to_string(),
            comment: top.comment,
            timeout_seconds: top.timeout_seconds,
            graph: Arc::new(top.graph),
        })
    }

    /// Names the machine, as in `arn:aws:states:local:000000000000:stateMachine:<name>`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The machine-wide `TimeoutSeconds`, if set.
    pub fn timeout_seconds(&self) -> Option<u64> {
        self.timeout_seconds
    }

    pub fn start_at(&self) -> &str {
        &self.graph.start_at
    }

    /// The names of the top-level states, sorted.
    pub fn state_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.graph.states.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Every Lambda function the definition names literally (Task `Resource`
    /// ARNs and `lambda:invoke` `FunctionName`s), at any depth, sorted.
    pub fn lambda_functions(&self) -> Vec<String> {
        let mut found = BTreeSet::new();
        visit_tasks(&self.graph, &mut |task| match task.target {
            TaskTarget::LambdaArn => {
                found.insert(task.resource.clone());
            }
            TaskTarget::LambdaInvoke => {
                if let Some(Value::String(name)) = task.parameters.as_ref().and_then(|p| p.static_field("FunctionName"))
                {
                    found.insert(name.clone());
                }
            }
            TaskTarget::Service => {}
        });
        found.into_iter().collect()
    }

    /// Every other integration `Resource` the definition uses, sorted.
    pub fn service_resources(&self) -> Vec<String> {
        let mut found = BTreeSet::new();
        visit_tasks(&self.graph, &mut |task| {
            if task.target == TaskTarget::Service {
                found.insert(task.resource.clone());
            }
        });
        found.into_iter().collect()
    }
}

fn visit_tasks(graph: &Graph, visit: &mut dyn FnMut(&TaskState)) {
    for state in graph.states.values() {
        match &state.kind {
            StateKind::Task(task) => visit(task),
            StateKind::Parallel(parallel) => parallel.branches.iter().for_each(|b| visit_tasks(b, visit)),
            StateKind::Map(map) => visit_tasks(&map.processor, visit),
            _ => {}
        }
    }
}
