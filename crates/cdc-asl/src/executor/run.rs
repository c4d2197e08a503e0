//! What every branch of one execution shares: the clock, the handlers, the
//! history, the context object, the deadline; and the data-flow helpers.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use rand::RngCore;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::definition::{DataPath, Io, ResultPath};
use crate::error::StateError;
use crate::handler::HandlerRegistry;
use crate::history::{EventKind, HistoryEvent, truncate};
use crate::path::{ContextSource, JsonPath};
use crate::template::Template;
use crate::timestamp;

/// How much of a document an error cause quotes.
const CAUSE_QUOTE_CHARS: usize = 2_000;

pub(super) fn seconds(s: f64) -> TimeDelta {
    // Milliseconds are the finest step Step Functions reports.
    TimeDelta::milliseconds((s * 1000.0).round() as i64)
}

/// Why a branch of the execution stopped early.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Halt {
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
pub(super) struct Scope {
    pub(super) path: String,
    pub(super) depth: usize,
}

impl Scope {
    pub(super) fn top() -> Self {
        Scope { path: String::new(), depth: 0 }
    }

    pub(super) fn child(&self, segment: String) -> Self {
        let path = if self.path.is_empty() { segment } else { format!("{}/{segment}", self.path) };
        Scope { path, depth: self.depth + 1 }
    }
}

/// State shared by every branch of one execution.
pub(super) struct Run {
    pub(super) clock: Arc<dyn Clock>,
    pub(super) handlers: HandlerRegistry,
    pub(super) seed: u64,
    pub(super) rng: Mutex<StdRng>,
    pub(super) history: Mutex<Vec<HistoryEvent>>,
    /// `Execution` and `StateMachine` of the context object.
    pub(super) context_base: Value,
    pub(super) deadline: Option<DateTime<Utc>>,
}

/// The context object as one state sees it.
pub(super) struct Context<'a> {
    base: &'a Value,
    state: Value,
    map: Option<Value>,
}

impl Context<'_> {
    /// The context of a Map's ItemSelector for one item: `$$.Map.Item` is
    /// only visible there, as the docs say.
    pub(super) fn for_item(&self, index: usize, item: &Value) -> Context<'_> {
        Context {
            base: self.base,
            state: self.state.clone(),
            map: Some(json!({"Item": {"Index": index, "Value": item}})),
        }
    }
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
pub(super) enum Raced<T> {
    Done(T),
    TaskTimedOut,
    ExecutionTimedOut,
}

impl Run {
    pub(super) fn record(&self, scope: &Scope, kind: EventKind) {
        let timestamp = self.clock.now();
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        let id = history.len() as u64 + 1;
        history.push(HistoryEvent { id, timestamp, scope: scope.path.clone(), depth: scope.depth, kind });
    }

    pub(super) fn context(&self, state: &str, entered: DateTime<Utc>, retry_count: u64) -> Context<'_> {
        Context {
            base: &self.context_base,
            state: json!({"Name": state, "EnteredTime": timestamp::format(entered), "RetryCount": retry_count}),
            map: None,
        }
    }

    pub(super) fn with_rng<T>(&self, f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut *rng)
    }

    pub(super) fn render(
        &self,
        template: &Template,
        input: &Value,
        context: &Context<'_>,
    ) -> Result<Value, StateError> {
        self.with_rng(|rng| template.render(input, context, rng))
    }

    pub(super) fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| self.clock.now() > d)
    }

    /// Sleeps until `until`, or until the machine's deadline if that comes first.
    pub(super) async fn sleep_until(&self, until: DateTime<Utc>) -> Result<(), Halt> {
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
    pub(super) async fn race<T>(
        &self,
        work: impl Future<Output = T>,
        task_deadline: Option<DateTime<Utc>>,
    ) -> Raced<T> {
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
    pub(super) fn jitter_unit(&self, scope: &Scope, state: &str, retrier: usize, attempt: u64) -> f64 {
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

pub(super) fn quote(value: &Value) -> String {
    truncate(&value.to_string(), CAUSE_QUOTE_CHARS)
}

pub(super) fn select_data(
    path: &DataPath,
    value: Value,
    context: &Context<'_>,
    field: &str,
) -> Result<Value, StateError> {
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

pub(super) fn apply_result_path(path: &ResultPath, input: Value, result: Value) -> Result<Value, StateError> {
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
pub(super) fn whole_number(
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

/// The steps after a state's work: ResultSelector, ResultPath, OutputPath.
pub(super) fn finish(
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
