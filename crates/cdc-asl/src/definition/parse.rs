//! Reading states from ASL JSON: field checks, paths, templates, transitions
//! and the graph rules (targets exist, every state is reachable, names are unique).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{
    Catching, ChoiceState, DataPath, FailState, FailText, Graph, Io, MapState, ParallelState, PassState, ResultPath,
    Seconds, State, StateKind, TaskState, TaskTarget, Transition, WaitFor, WaitState,
};
use crate::choice;
use crate::error::{DefinitionError, Location};
use crate::intrinsics::{Intrinsic, IntrinsicSyntaxError, looks_like_call};
use crate::path::JsonPath;
use crate::retry;
use crate::template::Template;
use crate::timestamp;

/// `TimeoutSeconds`, `HeartbeatSeconds` and `Seconds` stay below 99999999, as AWS requires.
const MAX_SECONDS: u64 = 99_999_999;

// ---------------------------------------------------------------------------
// Field reading.

/// Every field name ASL (JSONPath) defines, to tell a misplaced field from an unknown one.
const KNOWN_FIELDS: &[&str] = &[
    "Type",
    "Comment",
    "Next",
    "End",
    "InputPath",
    "OutputPath",
    "ResultPath",
    "Parameters",
    "ResultSelector",
    "Result",
    "Retry",
    "Catch",
    "Resource",
    "TimeoutSeconds",
    "TimeoutSecondsPath",
    "HeartbeatSeconds",
    "HeartbeatSecondsPath",
    "Choices",
    "Default",
    "Seconds",
    "SecondsPath",
    "Timestamp",
    "TimestampPath",
    "Error",
    "ErrorPath",
    "Cause",
    "CausePath",
    "Branches",
    "ItemsPath",
    "ItemSelector",
    "ItemProcessor",
    "Iterator",
    "MaxConcurrency",
    "MaxConcurrencyPath",
];

/// Fields of AWS features this interpreter deliberately does not run.
const UNSUPPORTED_FIELDS: &[(&str, &str)] = &[
    ("Assign", "workflow variables are not supported"),
    ("Output", "JSONata states are not supported"),
    ("Arguments", "JSONata states are not supported"),
    ("Items", "JSONata states are not supported"),
    ("Credentials", "cross-account task credentials are not supported"),
    ("ItemReader", "Distributed Map is not supported"),
    ("ItemBatcher", "Distributed Map is not supported"),
    ("ResultWriter", "Distributed Map is not supported"),
    ("ToleratedFailurePercentage", "Distributed Map is not supported"),
    ("ToleratedFailurePercentagePath", "Distributed Map is not supported"),
    ("ToleratedFailureCount", "Distributed Map is not supported"),
    ("ToleratedFailureCountPath", "Distributed Map is not supported"),
    ("Label", "Distributed Map is not supported"),
];

struct Reader<'a> {
    map: &'a Map<String, Value>,
    at: &'a Location,
    state_type: &'a str,
}

impl<'a> Reader<'a> {
    fn new(map: &'a Map<String, Value>, at: &'a Location, state_type: &'a str) -> Self {
        Reader { map, at, state_type }
    }

    fn invalid(&self, field: &str, message: &str) -> DefinitionError {
        DefinitionError::InvalidField { at: self.at.clone(), field: field.to_string(), message: message.to_string() }
    }

    fn missing(&self, field: &str) -> DefinitionError {
        DefinitionError::MissingField { at: self.at.clone(), field: field.to_string() }
    }

    fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Refuses every field not in `allowed`, telling unsupported, misplaced and unknown apart.
    fn allow(&self, allowed: &[&str]) -> Result<(), DefinitionError> {
        for key in self.map.keys() {
            if allowed.contains(&key.as_str()) || key == "QueryLanguage" {
                continue;
            }
            if let Some((_, reason)) = UNSUPPORTED_FIELDS.iter().find(|(name, _)| name == key) {
                return Err(DefinitionError::Unsupported {
                    at: self.at.clone(),
                    field: key.clone(),
                    reason: (*reason).to_string(),
                });
            }
            if KNOWN_FIELDS.contains(&key.as_str()) && self.at.state.is_some() {
                return Err(DefinitionError::MisplacedField {
                    at: self.at.clone(),
                    field: key.clone(),
                    state_type: self.state_type.to_string(),
                });
            }
            return Err(DefinitionError::UnknownField { at: self.at.clone(), field: key.clone() });
        }
        Ok(())
    }

    fn query_language(&self) -> Result<(), DefinitionError> {
        match self.map.get("QueryLanguage") {
            None => Ok(()),
            Some(Value::String(lang)) if lang == "JSONPath" => Ok(()),
            Some(Value::String(lang)) if lang == "JSONata" => Err(DefinitionError::Unsupported {
                at: self.at.clone(),
                field: "QueryLanguage".to_string(),
                reason: "JSONata is not supported; use JSONPath".to_string(),
            }),
            Some(_) => Err(self.invalid("QueryLanguage", "must be \"JSONPath\" or \"JSONata\"")),
        }
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, DefinitionError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.invalid(key, "must be a string")),
        }
    }

    fn required_string(&self, key: &str) -> Result<&'a str, DefinitionError> {
        self.string(key)?.ok_or_else(|| self.missing(key))
    }

    fn integer(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, DefinitionError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(value) => match value.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(self.invalid(key, &format!("must be an integer from {min} to {max}"))),
            },
        }
    }

    fn parse_path(&self, key: &str, text: &str, reference: bool, context: bool) -> Result<JsonPath, DefinitionError> {
        let parsed = if reference { JsonPath::parse_reference(text, context) } else { JsonPath::parse(text, context) };
        parsed.map_err(|e| DefinitionError::InvalidPath {
            at: self.at.clone(),
            field: key.to_string(),
            path: text.to_string(),
            message: e.to_string(),
        })
    }

    fn path(&self, key: &str, reference: bool) -> Result<Option<JsonPath>, DefinitionError> {
        self.string(key)?.map(|text| self.parse_path(key, text, reference, true)).transpose()
    }

    /// `InputPath` / `OutputPath`: a path, `null` for `{}`, `$` by default.
    fn data_path(&self, key: &str) -> Result<DataPath, DefinitionError> {
        match self.map.get(key) {
            None => Ok(DataPath::Whole),
            Some(Value::Null) => Ok(DataPath::Empty),
            Some(Value::String(text)) => {
                let path = self.parse_path(key, text, false, true)?;
                Ok(if path.is_root() && path.root() == crate::path::Root::Input {
                    DataPath::Whole
                } else {
                    DataPath::Path(path)
                })
            }
            Some(_) => Err(self.invalid(key, "must be a path or null")),
        }
    }

    fn io(&self) -> Result<Io, DefinitionError> {
        Ok(Io { input_path: self.data_path("InputPath")?, output_path: self.data_path("OutputPath")? })
    }

    fn result_path(&self) -> Result<ResultPath, DefinitionError> {
        match self.map.get("ResultPath") {
            None => Ok(ResultPath::Replace),
            Some(Value::Null) => Ok(ResultPath::Discard),
            Some(Value::String(text)) => {
                let path = self.parse_path("ResultPath", text, true, false)?;
                Ok(if path.is_root() { ResultPath::Replace } else { ResultPath::At(path) })
            }
            Some(_) => Err(self.invalid("ResultPath", "must be a reference path or null")),
        }
    }

    fn template(&self, key: &str) -> Result<Option<Template>, DefinitionError> {
        self.map.get(key).map(|value| Template::compile(value, self.at, key)).transpose()
    }

    fn transition(&self) -> Result<Transition, DefinitionError> {
        let next = self.string("Next")?;
        let end = match self.map.get("End") {
            None => false,
            Some(Value::Bool(end)) => *end,
            Some(_) => return Err(self.invalid("End", "must be true or false")),
        };
        match (next, end) {
            (Some(_), true) => Err(DefinitionError::ConflictingTransition { at: self.at.clone() }),
            (Some(next), false) => Ok(Transition::Next(next.to_string())),
            (None, true) => Ok(Transition::End),
            (None, false) => {
                Err(DefinitionError::MissingTransition { at: self.at.clone(), state_type: self.state_type.to_string() })
            }
        }
    }

    fn catching(&self) -> Result<Catching, DefinitionError> {
        Ok(Catching {
            retry: self.map.get("Retry").map(|v| retry::parse_retry(v, self.at)).transpose()?.unwrap_or_default(),
            catch: self.map.get("Catch").map(|v| retry::parse_catch(v, self.at)).transpose()?.unwrap_or_default(),
        })
    }

    fn exclusive(&self, a: &str, b: &str) -> Result<(), DefinitionError> {
        if self.has(a) && self.has(b) {
            return Err(self.invalid(b, &format!("cannot be used together with {a}")));
        }
        Ok(())
    }

    fn seconds(&self, fixed: &str, path: &str, min: u64) -> Result<Option<Seconds>, DefinitionError> {
        self.exclusive(fixed, path)?;
        if let Some(n) = self.integer(fixed, min, MAX_SECONDS)? {
            return Ok(Some(Seconds::Fixed(n)));
        }
        Ok(self.path(path, true)?.map(Seconds::Path))
    }

    fn fail_text(&self, key: &str) -> Result<FailText, DefinitionError> {
        let path_key = format!("{key}Path");
        self.exclusive(key, &path_key)?;
        if let Some(text) = self.string(&path_key)? {
            if looks_like_call(text) {
                return Intrinsic::parse(text).map(FailText::Intrinsic).map_err(|e| match e {
                    IntrinsicSyntaxError::UnknownFunction(function) => {
                        DefinitionError::UnknownIntrinsic { at: self.at.clone(), field: path_key.clone(), function }
                    }
                    IntrinsicSyntaxError::Invalid(message) => {
                        DefinitionError::InvalidIntrinsic { at: self.at.clone(), field: path_key.clone(), message }
                    }
                });
            }
            return self.parse_path(&path_key, text, false, true).map(FailText::Path);
        }
        Ok(FailText::Static(self.string(key)?.map(str::to_string)))
    }
}

// ---------------------------------------------------------------------------
// Machines and states.

/// The top-level fields of a definition.
pub(super) struct TopLevel {
    pub comment: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub graph: Graph,
}

pub(super) fn parse_machine(map: &Map<String, Value>) -> Result<TopLevel, DefinitionError> {
    let at = Location::top();
    let reader = Reader::new(map, &at, "state machine");
    reader.allow(&["Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"])?;
    reader.query_language()?;
    if let Some(version) = reader.string("Version")?
        && version != "1.0"
    {
        return Err(reader.invalid("Version", "must be \"1.0\""));
    }
    let comment = reader.string("Comment")?.map(str::to_string);
    let timeout_seconds = reader.integer("TimeoutSeconds", 1, MAX_SECONDS)?;
    let graph = parse_graph(map, &at, &mut HashSet::new())?;
    Ok(TopLevel { comment, timeout_seconds, graph })
}

fn parse_graph(map: &Map<String, Value>, at: &Location, names: &mut HashSet<String>) -> Result<Graph, DefinitionError> {
    let reader = Reader::new(map, at, "state machine");
    let start_at = reader.required_string("StartAt")?.to_string();
    let states_value = map.get("States").ok_or_else(|| reader.missing("States"))?;
    let Value::Object(states_map) = states_value else {
        return Err(reader.invalid("States", "must be an object of states"));
    };
    if states_map.is_empty() {
        return Err(reader.invalid("States", "must hold at least one state"));
    }
    let mut states = HashMap::with_capacity(states_map.len());
    for (name, value) in states_map {
        let state_at = at.state(name);
        if !names.insert(name.clone()) {
            return Err(DefinitionError::DuplicateStateName { at: state_at, name: name.clone() });
        }
        let kind = parse_state(value, &state_at, name, names)?;
        states.insert(name.clone(), State { name: name.clone(), kind });
    }
    if !states.contains_key(&start_at) {
        return Err(DefinitionError::DanglingTransition {
            at: at.clone(),
            field: "StartAt".to_string(),
            target: start_at,
        });
    }
    let mut sorted: Vec<&State> = states.values().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for state in &sorted {
        for (target, field) in state.kind.targets() {
            if !states.contains_key(&target) {
                return Err(DefinitionError::DanglingTransition {
                    at: at.state(&state.name),
                    field: field.to_string(),
                    target,
                });
            }
        }
    }
    // Step Functions refuses states that no path from StartAt reaches.
    let mut reached = HashSet::from([start_at.clone()]);
    let mut queue = VecDeque::from([start_at.clone()]);
    while let Some(name) = queue.pop_front() {
        if let Some(state) = states.get(&name) {
            for (target, _) in state.kind.targets() {
                if reached.insert(target.clone()) {
                    queue.push_back(target);
                }
            }
        }
    }
    if let Some(unreached) = sorted.iter().find(|s| !reached.contains(&s.name)) {
        return Err(DefinitionError::UnreachableState { at: at.state(&unreached.name) });
    }
    Ok(Graph { start_at, states })
}

fn parse_sub_machine(
    value: &Value,
    at: &Location,
    field: &str,
    allowed: &[&str],
    names: &mut HashSet<String>,
) -> Result<Graph, DefinitionError> {
    let Value::Object(map) = value else {
        return Err(DefinitionError::InvalidField {
            at: at.clone(),
            field: field.to_string(),
            message: "must be an object with StartAt and States".to_string(),
        });
    };
    let reader = Reader::new(map, at, "sub-machine");
    reader.allow(allowed)?;
    reader.query_language()?;
    if let Some(Value::Object(config)) = map.get("ProcessorConfig") {
        match config.get("Mode").and_then(Value::as_str) {
            None | Some("INLINE") => {}
            Some(_) => {
                return Err(DefinitionError::Unsupported {
                    at: at.clone(),
                    field: "ProcessorConfig.Mode".to_string(),
                    reason: "Distributed Map is not supported; use INLINE".to_string(),
                });
            }
        }
    }
    parse_graph(map, at, names)
}

fn parse_state(
    value: &Value,
    at: &Location,
    name: &str,
    names: &mut HashSet<String>,
) -> Result<StateKind, DefinitionError> {
    let Value::Object(map) = value else {
        return Err(DefinitionError::InvalidField {
            at: at.clone(),
            field: "Type".to_string(),
            message: "a state must be an object".to_string(),
        });
    };
    let state_type = match map.get("Type") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => {
            return Err(DefinitionError::InvalidField {
                at: at.clone(),
                field: "Type".into(),
                message: "must be a string".into(),
            });
        }
        None => return Err(DefinitionError::MissingField { at: at.clone(), field: "Type".to_string() }),
    };
    let r = Reader::new(map, at, state_type);
    const COMMON: [&str; 2] = ["Type", "Comment"];
    let allow = |extra: &[&str]| r.allow(&[&COMMON[..], extra].concat());
    let kind = match state_type {
        "Pass" => {
            allow(&["Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result"])?;
            StateKind::Pass(PassState {
                io: r.io()?,
                parameters: r.template("Parameters")?,
                result: map.get("Result").cloned(),
                result_path: r.result_path()?,
                transition: r.transition()?,
            })
        }
        "Task" => {
            allow(&[
                "Next",
                "End",
                "InputPath",
                "OutputPath",
                "ResultPath",
                "Parameters",
                "ResultSelector",
                "Retry",
                "Catch",
                "Resource",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
            ])?;
            parse_task(&r)?
        }
        "Choice" => {
            allow(&["InputPath", "OutputPath", "Choices", "Default"])?;
            let choices = map.get("Choices").ok_or_else(|| r.missing("Choices"))?;
            StateKind::Choice(ChoiceState {
                io: r.io()?,
                choices: choice::parse_rules(choices, at)?,
                default: r.string("Default")?.map(str::to_string),
            })
        }
        "Wait" => {
            allow(&["Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath"])?;
            let given: Vec<&str> =
                ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"].into_iter().filter(|k| r.has(k)).collect();
            if given.len() != 1 {
                return Err(r.invalid(
                    "Seconds",
                    "exactly one of Seconds, SecondsPath, Timestamp or TimestampPath is required",
                ));
            }
            let wait =
                match given[0] {
                    "Timestamp" => {
                        let text = r.required_string("Timestamp")?;
                        WaitFor::Timestamp(timestamp::parse(text).ok_or_else(|| {
                            r.invalid("Timestamp", "must be a timestamp such as 2016-03-14T01:59:00Z")
                        })?)
                    }
                    "TimestampPath" => WaitFor::TimestampPath(
                        r.path("TimestampPath", true)?.ok_or_else(|| r.missing("TimestampPath"))?,
                    ),
                    _ => WaitFor::Seconds(r.seconds("Seconds", "SecondsPath", 0)?.ok_or_else(|| r.missing("Seconds"))?),
                };
            StateKind::Wait(WaitState { io: r.io()?, wait, transition: r.transition()? })
        }
        "Succeed" => {
            allow(&["InputPath", "OutputPath"])?;
            StateKind::Succeed(r.io()?)
        }
        "Fail" => {
            allow(&["Error", "ErrorPath", "Cause", "CausePath"])?;
            StateKind::Fail(FailState { error: r.fail_text("Error")?, cause: r.fail_text("Cause")? })
        }
        "Parallel" => {
            allow(&[
                "Next",
                "End",
                "InputPath",
                "OutputPath",
                "ResultPath",
                "Parameters",
                "ResultSelector",
                "Retry",
                "Catch",
                "Branches",
            ])?;
            let Some(Value::Array(branch_values)) = map.get("Branches") else {
                return Err(if r.has("Branches") {
                    r.invalid("Branches", "must be an array")
                } else {
                    r.missing("Branches")
                });
            };
            if branch_values.is_empty() {
                return Err(r.invalid("Branches", "must hold at least one branch"));
            }
            let mut branches = Vec::with_capacity(branch_values.len());
            for (i, branch) in branch_values.iter().enumerate() {
                let graph = parse_sub_machine(
                    branch,
                    &at.inside(name),
                    &format!("Branches[{i}]"),
                    &["StartAt", "States", "Comment"],
                    names,
                )?;
                branches.push(Arc::new(graph));
            }
            StateKind::Parallel(ParallelState {
                io: r.io()?,
                parameters: r.template("Parameters")?,
                result_selector: r.template("ResultSelector")?,
                result_path: r.result_path()?,
                catching: r.catching()?,
                branches,
                transition: r.transition()?,
            })
        }
        "Map" => {
            allow(&[
                "Next",
                "End",
                "InputPath",
                "OutputPath",
                "ResultPath",
                "Parameters",
                "ItemSelector",
                "ResultSelector",
                "Retry",
                "Catch",
                "ItemsPath",
                "MaxConcurrency",
                "MaxConcurrencyPath",
                "Iterator",
                "ItemProcessor",
            ])?;
            r.exclusive("Parameters", "ItemSelector")?;
            r.exclusive("Iterator", "ItemProcessor")?;
            let (key, processor) = match (map.get("ItemProcessor"), map.get("Iterator")) {
                (Some(p), _) => ("ItemProcessor", p),
                (None, Some(p)) => ("Iterator", p),
                (None, None) => return Err(r.missing("ItemProcessor")),
            };
            let allowed: &[&str] = if key == "ItemProcessor" {
                &["StartAt", "States", "Comment", "ProcessorConfig"]
            } else {
                &["StartAt", "States", "Comment"]
            };
            let processor = parse_sub_machine(processor, &at.inside(name), key, allowed, names)?;
            let selector_key = if r.has("ItemSelector") { "ItemSelector" } else { "Parameters" };
            StateKind::Map(MapState {
                io: r.io()?,
                items_path: r.path("ItemsPath", true)?,
                item_selector: r.template(selector_key)?,
                result_selector: r.template("ResultSelector")?,
                result_path: r.result_path()?,
                catching: r.catching()?,
                processor: Arc::new(processor),
                max_concurrency: r.seconds("MaxConcurrency", "MaxConcurrencyPath", 0)?.unwrap_or(Seconds::Fixed(0)),
                transition: r.transition()?,
            })
        }
        other => return Err(DefinitionError::UnknownStateType { at: at.clone(), type_name: other.to_string() }),
    };
    r.query_language()?;
    Ok(kind)
}

fn is_lambda_invoke(resource: &str) -> Option<bool> {
    // arn:<partition>:states:::lambda:invoke[.suffix]
    let rest = resource.strip_prefix("arn:")?;
    let (_, rest) = rest.split_once(':')?;
    let action = rest.strip_prefix("states:::lambda:")?;
    Some(action == "invoke")
}

fn parse_task(r: &Reader<'_>) -> Result<StateKind, DefinitionError> {
    let resource = r.required_string("Resource")?;
    let unsupported = |reason: &str| DefinitionError::Unsupported {
        at: r.at.clone(),
        field: "Resource".to_string(),
        reason: format!("{reason} ({resource})"),
    };
    if !resource.starts_with("arn:") {
        return Err(r.invalid("Resource", "must be an ARN"));
    }
    if resource.ends_with(".sync") || resource.contains(".sync:") || resource.ends_with(".waitForTaskToken") {
        return Err(unsupported("only request-response integrations run locally, not .sync or .waitForTaskToken"));
    }
    let parts: Vec<&str> = resource.split(':').collect();
    let target = if is_lambda_invoke(resource) == Some(true) {
        TaskTarget::LambdaInvoke
    } else if is_lambda_invoke(resource) == Some(false) {
        return Err(unsupported("the only Lambda integration is lambda:invoke"));
    } else if parts.get(2) == Some(&"lambda") && parts.get(5) == Some(&"function") && parts.len() >= 7 {
        TaskTarget::LambdaArn
    } else if parts.get(2) == Some(&"states") && parts.get(5) == Some(&"activity") {
        return Err(unsupported("activities are not supported"));
    } else {
        TaskTarget::Service
    };
    let parameters = r.template("Parameters")?;
    if target == TaskTarget::LambdaInvoke && !parameters.as_ref().is_some_and(|p| p.has_field("FunctionName")) {
        return Err(r.missing("Parameters.FunctionName"));
    }
    let timeout = r.seconds("TimeoutSeconds", "TimeoutSecondsPath", 1)?;
    let heartbeat = r.seconds("HeartbeatSeconds", "HeartbeatSecondsPath", 1)?;
    if let (Some(Seconds::Fixed(timeout)), Some(Seconds::Fixed(heartbeat))) = (&timeout, &heartbeat)
        && heartbeat >= timeout
    {
        return Err(r.invalid("HeartbeatSeconds", "must be less than TimeoutSeconds"));
    }
    Ok(StateKind::Task(TaskState {
        io: r.io()?,
        resource: resource.to_string(),
        target,
        parameters,
        result_selector: r.template("ResultSelector")?,
        result_path: r.result_path()?,
        catching: r.catching()?,
        timeout,
        transition: r.transition()?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_invoke_is_recognised_in_any_partition() {
        // GIVEN Resource ARNs WHEN classified THEN only lambda:invoke (in any partition) is the optimized integration
        assert_eq!(is_lambda_invoke("arn:aws:states:::lambda:invoke"), Some(true));
        assert_eq!(is_lambda_invoke("arn:aws-cn:states:::lambda:invoke"), Some(true));
        assert_eq!(is_lambda_invoke("arn:aws:states:::lambda:invoke.waitForTaskToken"), Some(false));
        assert_eq!(is_lambda_invoke("arn:aws:states:::sns:publish"), None);
    }
}
