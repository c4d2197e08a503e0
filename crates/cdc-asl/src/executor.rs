//! Runs a [`StateMachine`]: the state loop, the input/output pipeline,
//! retries and catches, Map and Parallel concurrency, and timeouts.

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use futures::FutureExt;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::definition::{
    Catching, DataPath, FailText, Graph, Io, MapState, ParallelState, ResultPath, Seconds, State, StateKind,
    StateMachine, TaskState, TaskTarget, Transition, WaitFor,
};
use crate::error::{StateError, names};
use crate::handler::{HandlerRegistry, TaskError, TaskHandler};
use crate::history::{EventKind, HistoryEvent, truncate};
use crate::path::{ContextSource, JsonPath};
use crate::retry;
use crate::template::Template;
use crate::timestamp;

/// The account and region in the ARNs of local executions.
const ACCOUNT: &str = "000000000000";
const REGION: &str = "local";
/// How much of a document an error cause quotes.
const CAUSE_QUOTE_CHARS: usize = 2_000;

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

/// A finished execution, as `DescribeExecution` and `GetExecutionHistory` would show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub execution_arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub start_time: DateTime<Utc>,
    pub stop_time: DateTime<Utc>,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEvent>,
}

/// Settings of an [`Executor`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutorOptions {
    /// Seeds retry jitter, `States.UUID`, `States.MathRandom` and Lambda
    /// request ids. With a seed, runs are repeatable; without one they
    /// are random.
    pub rng_seed: Option<u64>,
}

/// Runs executions of one state machine against in-process task handlers.
pub struct Executor {
    machine: Arc<StateMachine>,
    handlers: HandlerRegistry,
    clock: Arc<dyn Clock>,
    options: ExecutorOptions,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("machine", &self.machine.name()).field("handlers", &self.handlers).finish()
    }
}

impl Executor {
    pub fn new(machine: StateMachine, handlers: HandlerRegistry, clock: Arc<dyn Clock>) -> Self {
        Executor { machine: Arc::new(machine), handlers, clock, options: ExecutorOptions::default() }
    }

    pub fn with_options(mut self, options: ExecutorOptions) -> Self {
        self.options = options;
        self
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    /// The Lambda functions and resources the definition names literally
    /// that have no handler: a local run would fail when it reached them.
    pub fn missing_handlers(&self) -> Vec<String> {
        let lambdas = self.machine.lambda_functions().into_iter().filter(|f| self.handlers.lambda(f).is_none());
        let services = self.machine.service_resources().into_iter().filter(|r| self.handlers.resource(r).is_none());
        lambdas.chain(services).collect()
    }

    /// `arn:aws:states:local:000000000000:execution:<machine>:<name>`.
    pub fn execution_arn(&self, name: &str) -> String {
        format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{}:{name}", self.machine.name())
    }

    /// Runs an execution to its end.
    pub async fn start(&self, name: &str, input: Value) -> Execution {
        self.start_with_abort(name, input, futures::future::pending::<()>()).await
    }

    /// Runs an execution until it ends or `abort` completes, which stops it
    /// as `StopExecution` would (status `Aborted`).
    pub async fn start_with_abort(
        &self,
        name: &str,
        input: Value,
        abort: impl Future<Output = ()> + Send,
    ) -> Execution {
        let seed = self.options.rng_seed.unwrap_or_else(|| rand::rng().next_u64());
        let start_time = self.clock.now();
        let execution_arn = self.execution_arn(name);
        let machine_name = self.machine.name();
        let context_base = json!({
            "Execution": {
                "Id": execution_arn,
                "Input": input,
                "Name": name,
                "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/{machine_name}-role"),
                "StartTime": timestamp::format(start_time),
            },
            "StateMachine": {
                "Id": format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine_name}"),
                "Name": machine_name,
            },
        });
        let deadline = self.machine.timeout_seconds().map(|s| start_time + seconds(s as f64));
        let run = Arc::new(Run {
            clock: self.clock.clone(),
            handlers: self.handlers.clone(),
            seed,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            history: Mutex::new(Vec::new()),
            context_base,
            deadline,
        });
        let top = Scope::top();
        run.record(&top, EventKind::ExecutionStarted { execution_arn: execution_arn.clone(), input: input.clone() });

        let work = run_graph(run.clone(), self.machine.graph.clone(), input.clone(), top.clone());
        // A real clock enforces the machine timeout with a timer as well, so a
        // hanging handler cannot hold the execution past it.
        let timer = {
            let clock = self.clock.clone();
            async move {
                match deadline {
                    Some(deadline) if !clock.is_virtual() => clock.sleep_until(deadline).await,
                    _ => futures::future::pending::<()>().await,
                }
            }
        };
        let outcome = tokio::select! {
            result = work => Some(result),
            () = timer => Some(Err(Halt::TimedOut)),
            () = abort => None,
        };

        let (status, output, error, cause) = match outcome {
            Some(Ok(output)) => {
                run.record(&top, EventKind::ExecutionSucceeded { output: output.clone() });
                (ExecutionStatus::Succeeded, Some(output), None, None)
            }
            Some(Err(Halt::Failed(e))) => {
                run.record(&top, EventKind::ExecutionFailed { error: e.error.clone(), cause: e.cause.clone() });
                (ExecutionStatus::Failed, None, Some(e.error).filter(|e| !e.is_empty()), e.cause)
            }
            Some(Err(Halt::TimedOut)) => {
                let timeout = self.machine.timeout_seconds().unwrap_or_default();
                let cause = format!("The execution ran longer than the state machine's TimeoutSeconds ({timeout} s).");
                run.record(
                    &top,
                    EventKind::ExecutionTimedOut { error: names::TIMEOUT.to_string(), cause: Some(cause.clone()) },
                );
                (ExecutionStatus::TimedOut, None, Some(names::TIMEOUT.to_string()), Some(cause))
            }
            None => {
                run.record(&top, EventKind::ExecutionAborted);
                (ExecutionStatus::Aborted, None, None, None)
            }
        };
        let history = std::mem::take(&mut *run.history.lock().unwrap_or_else(PoisonError::into_inner));
        Execution {
            execution_arn,
            name: name.to_string(),
            status,
            start_time,
            stop_time: self.clock.now(),
            input,
            output,
            error,
            cause,
            history,
        }
    }
}

fn seconds(s: f64) -> TimeDelta {
    // Milliseconds are the finest step Step Functions reports.
    TimeDelta::milliseconds((s * 1000.0).round() as i64)
}

/// Why a branch of the execution stopped early.
#[derive(Debug, Clone, PartialEq)]
enum Halt {
    Failed(StateError),
    /// The machine's TimeoutSeconds passed.
    TimedOut,
}

impl From<StateError> for Halt {
    fn from(error: StateError) -> Self {
        Halt::Failed(error)
    }
}

/// Where events happen: nested Map iterations and Parallel branches.
#[derive(Debug, Clone)]
struct Scope {
    path: String,
    depth: usize,
}

impl Scope {
    fn top() -> Self {
        Scope { path: String::new(), depth: 0 }
    }

    fn child(&self, segment: String) -> Self {
        let path = if self.path.is_empty() { segment } else { format!("{}/{segment}", self.path) };
        Scope { path, depth: self.depth + 1 }
    }
}

/// State shared by every branch of one execution.
struct Run {
    clock: Arc<dyn Clock>,
    handlers: HandlerRegistry,
    seed: u64,
    rng: Mutex<StdRng>,
    history: Mutex<Vec<HistoryEvent>>,
    /// `Execution` and `StateMachine` of the context object.
    context_base: Value,
    deadline: Option<DateTime<Utc>>,
}

/// The context object as one state sees it.
struct Context<'a> {
    base: &'a Value,
    state: Value,
    map: Option<Value>,
}

impl ContextSource for Context<'_> {
    fn field(&self, name: &str) -> Option<&Value> {
        match name {
            "State" => Some(&self.state),
            "Map" => self.map.as_ref(),
            other => self.base.get(other),
        }
    }

    fn whole(&self) -> Value {
        let mut whole = self.base.clone();
        whole["State"] = self.state.clone();
        if let Some(map) = &self.map {
            whole["Map"] = map.clone();
        }
        whole
    }
}

/// How a task's work ended against its deadlines.
enum Raced<T> {
    Done(T),
    TaskTimedOut,
    ExecutionTimedOut,
}

impl Run {
    fn record(&self, scope: &Scope, kind: EventKind) {
        let timestamp = self.clock.now();
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        let id = history.len() as u64 + 1;
        history.push(HistoryEvent { id, timestamp, scope: scope.path.clone(), depth: scope.depth, kind });
    }

    fn context(&self, state: &str, entered: DateTime<Utc>, retry_count: u64) -> Context<'_> {
        Context {
            base: &self.context_base,
            state: json!({"Name": state, "EnteredTime": timestamp::format(entered), "RetryCount": retry_count}),
            map: None,
        }
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut *rng)
    }

    fn render(&self, template: &Template, input: &Value, context: &Context<'_>) -> Result<Value, StateError> {
        self.with_rng(|rng| template.render(input, context, rng))
    }

    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| self.clock.now() > d)
    }

    /// Sleeps until `until`, or until the machine's deadline if that comes first.
    async fn sleep_until(&self, until: DateTime<Utc>) -> Result<(), Halt> {
        match self.deadline {
            Some(deadline) if deadline < until => {
                self.clock.sleep_until(deadline).await;
                Err(Halt::TimedOut)
            }
            _ => {
                self.clock.sleep_until(until).await;
                Ok(())
            }
        }
    }

    /// Runs `work` against a task deadline and the machine's. On a real
    /// clock a timer races the work; on a virtual clock the work runs to
    /// its end and the time it moved the clock decides (see [`Clock::is_virtual`]).
    async fn race<T>(&self, work: impl Future<Output = T>, task_deadline: Option<DateTime<Utc>>) -> Raced<T> {
        let deadlines = [(task_deadline, 0u8), (self.deadline, 1u8)];
        let earliest = deadlines.iter().filter_map(|(d, which)| d.map(|d| (d, *which))).min();
        if self.clock.is_virtual() {
            let value = work.await;
            let now = self.clock.now();
            return match earliest.filter(|(d, _)| now > *d) {
                Some((_, 0)) => Raced::TaskTimedOut,
                Some(_) => Raced::ExecutionTimedOut,
                None => Raced::Done(value),
            };
        }
        let Some((deadline, which)) = earliest else {
            return Raced::Done(work.await);
        };
        tokio::select! {
            value = work => Raced::Done(value),
            () = self.clock.sleep_until(deadline) => if which == 0 { Raced::TaskTimedOut } else { Raced::ExecutionTimedOut },
        }
    }

    /// A number in [0, 1) fixed by the seed and the retry's place, so FULL
    /// jitter repeats exactly however concurrent branches interleave.
    fn jitter_unit(&self, scope: &Scope, state: &str, retrier: usize, attempt: u64) -> f64 {
        // FNV-1a over the retry's coordinates, then splitmix64 to spread the bits.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        feed(&self.seed.to_le_bytes());
        feed(scope.path.as_bytes());
        feed(&[0xff]);
        feed(state.as_bytes());
        feed(&(retrier as u64).to_le_bytes());
        feed(&attempt.to_le_bytes());
        let mut z = hash.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

type GraphFuture = Pin<Box<dyn Future<Output = Result<Value, Halt>> + Send>>;

/// Runs a machine or sub-machine from its StartAt to a terminal state.
fn run_graph(run: Arc<Run>, graph: Arc<Graph>, input: Value, scope: Scope) -> GraphFuture {
    Box::pin(async move {
        let mut current = graph.start_at.clone();
        let mut input = input;
        loop {
            if run.past_deadline() {
                return Err(Halt::TimedOut);
            }
            let Some(state) = graph.states.get(&current) else {
                // Validation guarantees every transition target exists.
                return Err(Halt::Failed(StateError::runtime(format!("state '{current}' does not exist"))));
            };
            let entered = run.clock.now();
            run.record(
                &scope,
                EventKind::StateEntered {
                    name: state.name.clone(),
                    state_type: state.kind.type_name().to_string(),
                    input: input.clone(),
                },
            );
            match run_state(&run, state, input, &scope, entered).await {
                Ok((output, next)) => {
                    run.record(&scope, EventKind::StateExited { name: state.name.clone(), output: output.clone() });
                    match next {
                        Some(next) => {
                            current = next;
                            input = output;
                        }
                        None => return Ok(output),
                    }
                }
                Err(Halt::Failed(error)) => {
                    run.record(
                        &scope,
                        EventKind::StateFailed {
                            name: state.name.clone(),
                            error: error.error.clone(),
                            cause: error.cause.clone(),
                        },
                    );
                    return Err(Halt::Failed(error));
                }
                Err(halt) => return Err(halt),
            }
        }
    })
}

fn next_of(transition: &Transition) -> Option<String> {
    match transition {
        Transition::Next(next) => Some(next.clone()),
        Transition::End => None,
    }
}

fn quote(value: &Value) -> String {
    truncate(&value.to_string(), CAUSE_QUOTE_CHARS)
}

fn select_data(path: &DataPath, value: Value, context: &Context<'_>, field: &str) -> Result<Value, StateError> {
    match path {
        DataPath::Whole => Ok(value),
        DataPath::Empty => Ok(json!({})),
        DataPath::Path(path) => path.select(&value, context).map_err(|_| {
            StateError::runtime(format!(
                "Invalid path '{path}' : No results for path in {field}; the input was '{}'",
                quote(&value)
            ))
        }),
    }
}

fn apply_result_path(path: &ResultPath, input: Value, result: Value) -> Result<Value, StateError> {
    match path {
        ResultPath::Replace => Ok(result),
        ResultPath::Discard => Ok(input),
        ResultPath::At(path) => {
            let quoted = quote(&input);
            path.assign(input, result).map_err(|e| {
                StateError::runtime(format!("Unable to apply ResultPath '{path}' to the input '{quoted}': {e}"))
            })
        }
    }
}

/// Resolves a `...Path` that must name a whole number (seconds, a concurrency limit).
fn whole_number(
    path: &JsonPath,
    input: &Value,
    context: &Context<'_>,
    field: &str,
    min: u64,
) -> Result<u64, StateError> {
    let value = path.select(input, context).map_err(|_| {
        StateError::runtime(format!("Invalid path '{path}' in {field}: no results for the input '{}'", quote(input)))
    })?;
    value.as_u64().filter(|n| *n >= min).ok_or_else(|| {
        StateError::runtime(format!(
            "The value of {field} ('{path}') must be an integer of at least {min}, not {value}"
        ))
    })
}

async fn run_state(
    run: &Arc<Run>,
    state: &State,
    input: Value,
    scope: &Scope,
    entered: DateTime<Utc>,
) -> Result<(Value, Option<String>), Halt> {
    let name = state.name.as_str();
    match &state.kind {
        StateKind::Pass(pass) => {
            let context = run.context(name, entered, 0);
            let effective = select_data(&pass.io.input_path, input.clone(), &context, "InputPath")?;
            let effective = match &pass.parameters {
                Some(parameters) => run.render(parameters, &effective, &context)?,
                None => effective,
            };
            let result = pass.result.clone().unwrap_or(effective);
            let output = apply_result_path(&pass.result_path, input, result)?;
            let output = select_data(&pass.io.output_path, output, &context, "OutputPath")?;
            Ok((output, next_of(&pass.transition)))
        }
        StateKind::Succeed(io) => {
            let context = run.context(name, entered, 0);
            let effective = select_data(&io.input_path, input, &context, "InputPath")?;
            Ok((select_data(&io.output_path, effective, &context, "OutputPath")?, None))
        }
        StateKind::Fail(fail) => {
            let context = run.context(name, entered, 0);
            let error = fail_text(run, &fail.error, &input, &context, "ErrorPath")?;
            let cause = fail_text(run, &fail.cause, &input, &context, "CausePath")?;
            Err(Halt::Failed(StateError { error: error.unwrap_or_default(), cause }))
        }
        StateKind::Choice(choice) => {
            let context = run.context(name, entered, 0);
            let effective = select_data(&choice.io.input_path, input, &context, "InputPath")?;
            let mut chosen = None;
            for (i, rule) in choice.choices.iter().enumerate() {
                if rule.condition.evaluate(&effective, &context)? {
                    chosen = Some((Some(i), rule.next.clone()));
                    break;
                }
            }
            let (rule, next) = match (chosen, &choice.default) {
                (Some(found), _) => found,
                (None, Some(default)) => (None, default.clone()),
                (None, None) => {
                    return Err(Halt::Failed(StateError::new(
                        names::NO_CHOICE_MATCHED,
                        format!("No Choice rule of state '{name}' matched, and it has no Default"),
                    )));
                }
            };
            run.record(scope, EventKind::ChoiceMatched { name: name.to_string(), rule, next: next.clone() });
            Ok((select_data(&choice.io.output_path, effective, &context, "OutputPath")?, Some(next)))
        }
        StateKind::Wait(wait) => {
            let context = run.context(name, entered, 0);
            let effective = select_data(&wait.io.input_path, input, &context, "InputPath")?;
            let until = match &wait.wait {
                WaitFor::Seconds(Seconds::Fixed(n)) => entered + seconds(*n as f64),
                WaitFor::Seconds(Seconds::Path(path)) => {
                    entered + seconds(whole_number(path, &effective, &context, "SecondsPath", 0)? as f64)
                }
                WaitFor::Timestamp(t) => *t,
                WaitFor::TimestampPath(path) => {
                    let value = path.select(&effective, &context).map_err(|_| {
                        StateError::runtime(format!(
                            "Invalid path '{path}' in TimestampPath: no results for the input '{}'",
                            quote(&effective)
                        ))
                    })?;
                    value.as_str().and_then(timestamp::parse).ok_or_else(|| {
                        StateError::runtime(format!(
                            "The value of TimestampPath ('{path}') must be a timestamp, not {value}"
                        ))
                    })?
                }
            };
            run.record(scope, EventKind::WaitStarted { name: name.to_string(), until });
            run.sleep_until(until).await?;
            Ok((select_data(&wait.io.output_path, effective, &context, "OutputPath")?, next_of(&wait.transition)))
        }
        StateKind::Task(task) => {
            with_catching(run, state, &task.catching, input, scope, entered, &task.transition).await
        }
        StateKind::Parallel(parallel) => {
            with_catching(run, state, &parallel.catching, input, scope, entered, &parallel.transition).await
        }
        StateKind::Map(map) => with_catching(run, state, &map.catching, input, scope, entered, &map.transition).await,
    }
}

fn fail_text(
    run: &Run,
    text: &FailText,
    input: &Value,
    context: &Context<'_>,
    field: &str,
) -> Result<Option<String>, Halt> {
    let value = match text {
        FailText::Static(text) => return Ok(text.clone()),
        FailText::Path(path) => path.select(input, context).map_err(|_| {
            StateError::runtime(format!(
                "Invalid path '{path}' in {field}: no results for the input '{}'",
                quote(input)
            ))
        })?,
        FailText::Intrinsic(call) => run.with_rng(|rng| call.evaluate(input, context, rng)).map_err(|e| match e {
            crate::intrinsics::IntrinsicError::Path(e) => StateError::runtime(format!("{field}: {e}")),
            crate::intrinsics::IntrinsicError::Failure(message) => StateError::new(names::INTRINSIC_FAILURE, message),
        })?,
    };
    match value {
        Value::String(text) => Ok(Some(text)),
        other => Err(Halt::Failed(StateError::runtime(format!("The value of {field} must be a string, not {other}")))),
    }
}

/// Runs a Task, Parallel or Map state under its Retry and Catch fields.
async fn with_catching(
    run: &Arc<Run>,
    state: &State,
    catching: &Catching,
    input: Value,
    scope: &Scope,
    entered: DateTime<Utc>,
    transition: &Transition,
) -> Result<(Value, Option<String>), Halt> {
    let name = state.name.as_str();
    // A retrier's attempts count across every error it matches during this visit of the state.
    let mut used = vec![0u64; catching.retry.len()];
    let mut retry_count = 0u64;
    loop {
        let context = run.context(name, entered, retry_count);
        let attempt = match &state.kind {
            StateKind::Task(task) => run_task(run, name, task, &input, &context, scope).await,
            StateKind::Parallel(parallel) => run_parallel(run, name, parallel, &input, &context, scope).await,
            StateKind::Map(map) => run_map(run, name, map, &input, &context, scope).await,
            _ => Err(Halt::Failed(StateError::runtime(format!("state '{name}' cannot have Retry or Catch")))),
        };
        let error = match attempt {
            Ok(output) => return Ok((output, next_of(transition))),
            Err(Halt::Failed(error)) => error,
            Err(halt) => return Err(halt),
        };
        // The first retrier that matches decides; once spent, it falls through to Catch.
        if let Some(index) = catching.retry.iter().position(|r| retry::matches(&r.error_equals, &error)) {
            let retrier = &catching.retry[index];
            if used[index] < retrier.max_attempts {
                let unit = run.jitter_unit(scope, name, index, used[index]);
                let delay = retrier.delay_seconds(used[index], unit);
                used[index] += 1;
                retry_count += 1;
                run.record(
                    scope,
                    EventKind::RetryScheduled {
                        name: name.to_string(),
                        error: error.error.clone(),
                        retrier: index,
                        attempt: retry_count,
                        delay_seconds: delay,
                    },
                );
                run.sleep_until(run.clock.now() + seconds(delay)).await?;
                continue;
            }
        }
        if let Some((index, catcher)) =
            catching.catch.iter().enumerate().find(|(_, c)| retry::matches(&c.error_equals, &error))
        {
            run.record(
                scope,
                EventKind::CatchTaken {
                    name: name.to_string(),
                    error: error.error.clone(),
                    cause: error.cause.clone(),
                    catcher: index,
                    next: catcher.next.clone(),
                },
            );
            let result_path = match &catcher.result_path {
                None => ResultPath::Replace,
                Some(None) => ResultPath::Discard,
                Some(Some(path)) => ResultPath::At(path.clone()),
            };
            let output = apply_result_path(&result_path, input, error.to_output())?;
            return Ok((output, Some(catcher.next.clone())));
        }
        return Err(Halt::Failed(error));
    }
}

/// The steps after a state's work: ResultSelector, ResultPath, OutputPath.
fn finish(
    run: &Run,
    io: &Io,
    result_selector: Option<&Template>,
    result_path: &ResultPath,
    input: &Value,
    result: Value,
    context: &Context<'_>,
) -> Result<Value, Halt> {
    let result = match result_selector {
        Some(selector) => run.render(selector, &result, context)?,
        None => result,
    };
    let output = apply_result_path(result_path, input.clone(), result)?;
    Ok(select_data(&io.output_path, output, context, "OutputPath")?)
}

async fn run_task(
    run: &Arc<Run>,
    name: &str,
    task: &TaskState,
    input: &Value,
    context: &Context<'_>,
    scope: &Scope,
) -> Result<Value, Halt> {
    let effective = select_data(&task.io.input_path, input.clone(), context, "InputPath")?;
    let parameters = match &task.parameters {
        Some(parameters) => run.render(parameters, &effective, context)?,
        None => effective.clone(),
    };
    let timeout = match &task.timeout {
        None => None,
        Some(Seconds::Fixed(n)) => Some(*n),
        Some(Seconds::Path(path)) => Some(whole_number(path, &effective, context, "TimeoutSecondsPath", 1)?),
    };
    let (function_name, payload, handler) = match task.target {
        TaskTarget::LambdaInvoke => {
            let Some(function) = parameters.get("FunctionName").and_then(Value::as_str) else {
                return Err(Halt::Failed(StateError::runtime(format!(
                    "Parameters.FunctionName of state '{name}' must be a string; the parameters were '{}'",
                    quote(&parameters)
                ))));
            };
            let payload = parameters.get("Payload").cloned().unwrap_or_else(|| json!({}));
            (Some(function.to_string()), payload, run.handlers.lambda(function))
        }
        TaskTarget::LambdaArn => (Some(task.resource.clone()), parameters, run.handlers.lambda(&task.resource)),
        TaskTarget::Service => (None, parameters, run.handlers.resource(&task.resource)),
    };
    run.record(
        scope,
        EventKind::TaskScheduled {
            name: name.to_string(),
            resource: task.resource.clone(),
            function_name: function_name.clone(),
            payload: payload.clone(),
            timeout_seconds: timeout,
        },
    );
    let outcome = match handler {
        Some(handler) => {
            let target = function_name.as_deref().unwrap_or(&task.resource);
            let task_deadline = timeout.map(|t| run.clock.now() + seconds(t as f64));
            match run.race(invoke(handler, target, payload), task_deadline).await {
                Raced::Done(outcome) => outcome,
                Raced::TaskTimedOut => {
                    let cause =
                        format!("The task ran longer than its TimeoutSeconds ({} s).", timeout.unwrap_or_default());
                    run.record(
                        scope,
                        EventKind::TaskTimedOut {
                            name: name.to_string(),
                            resource: task.resource.clone(),
                            error: names::TIMEOUT.to_string(),
                            cause: Some(cause.clone()),
                        },
                    );
                    return Err(Halt::Failed(StateError::new(names::TIMEOUT, cause)));
                }
                Raced::ExecutionTimedOut => return Err(Halt::TimedOut),
            }
        }
        None => match &function_name {
            Some(function) => {
                Err(TaskError::new(names::LAMBDA_RESOURCE_NOT_FOUND, format!("Function not found: {function}")))
            }
            None => {
                return Err(Halt::Failed(StateError::runtime(format!(
                    "No handler is registered for the resource '{}' of state '{name}'",
                    task.resource
                ))));
            }
        },
    };
    let result = match outcome {
        Ok(value) => value,
        Err(failure) => {
            run.record(
                scope,
                EventKind::TaskFailed {
                    name: name.to_string(),
                    resource: task.resource.clone(),
                    error: failure.error.clone(),
                    cause: Some(failure.cause.clone()),
                },
            );
            return Err(Halt::Failed(StateError { error: failure.error, cause: Some(failure.cause) }));
        }
    };
    let result = if task.target == TaskTarget::LambdaInvoke {
        let request_id = run.with_rng(crate::intrinsics::new_uuid);
        lambda_invoke_output(result, &request_id, run.clock.now())
    } else {
        result
    };
    run.record(
        scope,
        EventKind::TaskSucceeded { name: name.to_string(), resource: task.resource.clone(), output: result.clone() },
    );
    finish(run, &task.io, task.result_selector.as_ref(), &task.result_path, input, result, context)
}

/// Calls a handler; a panic becomes a `States.TaskFailed` error of the task.
async fn invoke(handler: Arc<dyn TaskHandler>, function_name: &str, payload: Value) -> Result<Value, TaskError> {
    match AssertUnwindSafe(handler.invoke(function_name, payload)).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(TaskError::new(names::TASK_FAILED, format!("The handler of '{function_name}' panicked: {message}")))
        }
    }
}

/// What `arn:aws:states:::lambda:invoke` returns: the function's output in
/// `Payload`, wrapped in the Lambda Invoke API response.
fn lambda_invoke_output(payload: Value, request_id: &str, now: DateTime<Utc>) -> Value {
    let length = payload.to_string().len().to_string();
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": [request_id],
                "Content-Length": [length],
                "Date": [date],
                "Content-Type": ["application/json"]
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Length": length,
                "Content-Type": "application/json",
                "Date": date,
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id
            },
            "HttpStatusCode": 200
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200
    })
}

#[derive(Clone, Copy)]
enum Fork {
    Map,
    Parallel,
}

/// A point in the life of a Map iteration or Parallel branch.
enum Phase<'a> {
    Started,
    Succeeded(&'a Value),
    Failed(&'a StateError),
    Aborted,
}

async fn run_parallel(
    run: &Arc<Run>,
    name: &str,
    parallel: &ParallelState,
    input: &Value,
    context: &Context<'_>,
    scope: &Scope,
) -> Result<Value, Halt> {
    let effective = select_data(&parallel.io.input_path, input.clone(), context, "InputPath")?;
    let branch_input = match &parallel.parameters {
        Some(parameters) => run.render(parameters, &effective, context)?,
        None => effective,
    };
    run.record(scope, EventKind::ParallelStarted { name: name.to_string(), branches: parallel.branches.len() });
    let jobs = parallel.branches.iter().map(|graph| (graph.clone(), branch_input.clone())).collect();
    let outputs = fork(run, name, Fork::Parallel, jobs, 0, scope).await?;
    run.record(scope, EventKind::ParallelSucceeded { name: name.to_string() });
    finish(
        run,
        &parallel.io,
        parallel.result_selector.as_ref(),
        &parallel.result_path,
        input,
        Value::Array(outputs),
        context,
    )
}

async fn run_map(
    run: &Arc<Run>,
    name: &str,
    map: &MapState,
    input: &Value,
    context: &Context<'_>,
    scope: &Scope,
) -> Result<Value, Halt> {
    let effective = select_data(&map.io.input_path, input.clone(), context, "InputPath")?;
    let items = match &map.items_path {
        None => effective.clone(),
        Some(path) => path.select(&effective, context).map_err(|_| {
            StateError::runtime(format!(
                "Invalid path '{path}' in ItemsPath: no results for the input '{}'",
                quote(&effective)
            ))
        })?,
    };
    let Value::Array(items) = items else {
        let path = map.items_path.as_ref().map_or("$", JsonPath::as_str);
        return Err(Halt::Failed(StateError::runtime(format!(
            "The ItemsPath '{path}' of state '{name}' must select an array, not {}",
            truncate(&items.to_string(), CAUSE_QUOTE_CHARS)
        ))));
    };
    let limit = match &map.max_concurrency {
        Seconds::Fixed(n) => *n,
        Seconds::Path(path) => whole_number(path, &effective, context, "MaxConcurrencyPath", 0)?,
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut jobs = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let iteration_input = match &map.item_selector {
            Some(selector) => {
                // $$.Map.Item is only visible to the ItemSelector, as the docs say.
                let item_context = Context {
                    base: context.base,
                    state: context.state.clone(),
                    map: Some(json!({"Item": {"Index": index, "Value": item}})),
                };
                run.render(selector, &effective, &item_context)?
            }
            None => item,
        };
        jobs.push((map.processor.clone(), iteration_input));
    }
    run.record(scope, EventKind::MapStarted { name: name.to_string(), items: jobs.len(), max_concurrency: limit });
    let outputs = fork(run, name, Fork::Map, jobs, limit, scope).await?;
    run.record(scope, EventKind::MapSucceeded { name: name.to_string() });
    finish(run, &map.io, map.result_selector.as_ref(), &map.result_path, input, Value::Array(outputs), context)
}

/// Runs sub-machines concurrently, at most `limit` at a time (0: no limit),
/// and returns their outputs in job order. The first failure aborts the rest.
async fn fork(
    run: &Arc<Run>,
    name: &str,
    kind: Fork,
    jobs: Vec<(Arc<Graph>, Value)>,
    limit: usize,
    scope: &Scope,
) -> Result<Vec<Value>, Halt> {
    let total = jobs.len();
    let limit = if limit == 0 { total.max(1) } else { limit };
    let mut outputs: Vec<Option<Value>> = vec![None; total];
    let mut running = BTreeSet::new();
    let mut pending = jobs.into_iter().enumerate();
    let mut set = JoinSet::new();
    let event = |index: usize, phase: Phase<'_>| -> EventKind {
        let name = name.to_string();
        match (kind, phase) {
            (Fork::Map, Phase::Started) => EventKind::MapIterationStarted { name, index },
            (Fork::Parallel, Phase::Started) => EventKind::ParallelBranchStarted { name, index },
            (Fork::Map, Phase::Succeeded(output)) => {
                EventKind::MapIterationSucceeded { name, index, output: output.clone() }
            }
            (Fork::Parallel, Phase::Succeeded(output)) => {
                EventKind::ParallelBranchSucceeded { name, index, output: output.clone() }
            }
            (Fork::Map, Phase::Failed(e)) => {
                EventKind::MapIterationFailed { name, index, error: e.error.clone(), cause: e.cause.clone() }
            }
            (Fork::Parallel, Phase::Failed(e)) => {
                EventKind::ParallelBranchFailed { name, index, error: e.error.clone(), cause: e.cause.clone() }
            }
            (Fork::Map, Phase::Aborted) => EventKind::MapIterationAborted { name, index },
            (Fork::Parallel, Phase::Aborted) => EventKind::ParallelBranchAborted { name, index },
        }
    };
    loop {
        while running.len() < limit {
            let Some((index, (graph, input))) = pending.next() else { break };
            run.record(scope, event(index, Phase::Started));
            let segment = match kind {
                Fork::Map => format!("{name}[{index}]"),
                Fork::Parallel => format!("{name}#{index}"),
            };
            let child = run_graph(run.clone(), graph, input, scope.child(segment));
            set.spawn(async move { (index, child.await) });
            running.insert(index);
        }
        let Some(joined) = set.join_next().await else { break };
        let (index, outcome) = joined.unwrap_or_else(|e| {
            // Only a bug in the interpreter itself can end a branch task this way.
            (usize::MAX, Err(Halt::Failed(StateError::runtime(format!("a branch of state '{name}' stopped: {e}")))))
        });
        running.remove(&index);
        let phase = match &outcome {
            Ok(output) => Phase::Succeeded(output),
            Err(Halt::Failed(error)) => Phase::Failed(error),
            Err(Halt::TimedOut) => Phase::Aborted,
        };
        if index < total {
            run.record(scope, event(index, phase));
        }
        match outcome {
            Ok(output) => {
                if let Some(slot) = outputs.get_mut(index) {
                    *slot = Some(output);
                }
            }
            Err(halt) => {
                set.abort_all();
                for aborted in std::mem::take(&mut running) {
                    run.record(scope, event(aborted, Phase::Aborted));
                }
                if let Halt::Failed(e) = &halt {
                    let name = name.to_string();
                    let (error, cause) = (e.error.clone(), e.cause.clone());
                    run.record(
                        scope,
                        match kind {
                            Fork::Map => EventKind::MapFailed { name, error, cause },
                            Fork::Parallel => EventKind::ParallelFailed { name, error, cause },
                        },
                    );
                }
                return Err(halt);
            }
        }
    }
    Ok(outputs.into_iter().map(|o| o.unwrap_or(Value::Null)).collect())
}
