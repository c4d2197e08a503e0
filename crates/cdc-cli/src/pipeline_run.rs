//! One pipeline run, locally, the way AWS runs it: the deployed state
//! machine file (`statemachine/pipeline.asl.json`) executed by the local
//! interpreter, its five functions dispatched to the same step functions the
//! Lambdas wrap, with the embedded default's ports (DuckDB, folders, a locked
//! job-state file, a JSON-lines notifier). Waits run on a virtual clock. An
//! execution that ends badly then goes to the notify function as
//! template.yaml's status-change rule sends it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use cdc_asl::{
    Execution, ExecutionStatus, Executor, ExecutorOptions, HandlerRegistry, StateMachine, TaskError, VirtualClock,
    handler_fn,
};
use cdc_core::job::{JobStateStore, Lease};
use cdc_core::notify::{Notifier, NotifyPolicy};
use cdc_core::ports::{
    OptimizedCatalog, OptimizedPartition, RawZone, ResultSet, SingleStatement, StatementId, StatementState, Warehouse,
};
use cdc_core::sql::{Dialect, StatementBatch};
use cdc_core::steps::dispatch::{Function, Now, StepContext, dispatch};
use cdc_core::steps::job::{ClaimOutput, ReleaseInput, ReleaseOutput};
use cdc_core::steps::notify::ExecutionEndedOutput;
use cdc_core::{PipelineConfig, PipelineError, TableConfig};
use cdc_local::{DuckDbWarehouse, FolderOptimizedZone, FolderRawZone, LocalCatalog, LocalRawCatalog};

/// The state machine file deployed with the template, for commands run
/// from the repository's root.
pub fn default_state_machine() -> PathBuf {
    PathBuf::from("statemachine/pipeline.asl.json")
}

/// Everything a local run needs.
pub struct LocalPipeline {
    pub cfg: PipelineConfig,
    pub state_machine: PathBuf,
    pub raw: Arc<FolderRawZone>,
    pub warehouse: Arc<dyn Warehouse>,
    pub catalog: Arc<dyn OptimizedCatalog>,
    pub optimized: PathBuf,
    pub store: Arc<dyn JobStateStore>,
    pub notifier: Arc<dyn Notifier>,
    pub policy: NotifyPolicy,
    pub lease: Lease,
    /// Which days count as finished; `None`: the steps' clock.
    pub unload_now: Option<DateTime<Utc>>,
    /// The steps' clock; `None`: real time. Tests pass a virtual one.
    pub now: Option<Now>,
    /// The executor's clock for Waits and retries; `None`: a virtual clock
    /// starting now.
    pub clock: Option<Arc<VirtualClock>>,
    /// Sees every task call before its step runs and may answer it instead
    /// (fault injection in tests).
    pub intercept: Option<Intercept>,
}

/// A task call's function and payload; `Some` answers it instead of the step.
pub type Intercept = Arc<dyn Fn(Function, &Value) -> Option<Result<Value, TaskError>> + Send + Sync>;

/// Each poll takes `pace` of real time, as the Wait before it would: a Data
/// API (the emulator) runs statements (an UNLOAD to S3, a big load) in real
/// time while the executor's Waits are virtual, so polls would otherwise
/// spin, each adding a virtual Wait and its events, and a few real seconds
/// of statements would read as the state machine's timeout.
pub fn paced_polls(pace: std::time::Duration) -> Intercept {
    Arc::new(move |_, payload: &Value| {
        if payload["action"].as_str().is_some_and(|a| a.ends_with("_poll")) {
            std::thread::sleep(pace);
        }
        None
    })
}

/// A function's body, ready to run: the step and its error as the Lambda
/// runtime reports it.
pub type StepCall<'a> = futures::future::BoxFuture<'a, Result<Value, TaskError>>;

/// Stands between the state machine and a function, as the Lambda service
/// does: the chaos run's faults at the invoke (throttled before the step,
/// the answer lost after it, a timeout, the execution stopped mid-step).
#[async_trait]
pub trait TaskHook: Send + Sync {
    /// What the state machine receives for this call; `step` runs the
    /// function, or is dropped unrun.
    async fn call(
        &self,
        f: Function,
        payload: &Value,
        step: StepCall<'_>,
        stop: &ExecutionStop,
    ) -> Result<Value, TaskError>;
}

/// Stops a running execution from inside a task call, as StopExecution does
/// (status ABORTED; the status-change rule still runs), or as a killed
/// process would (nothing runs after it; the lease is left to expire).
#[derive(Default)]
pub struct ExecutionStop {
    signal: tokio::sync::Notify,
    killed: std::sync::atomic::AtomicBool,
}

impl ExecutionStop {
    /// StopExecution: the execution ends ABORTED and EventBridge's rule fires.
    pub fn stop(&self) {
        self.signal.notify_one();
    }
    /// The process running the execution dies: no Catch, no rule.
    pub fn kill(&self) {
        self.killed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.signal.notify_one();
    }
    fn killed(&self) -> bool {
        self.killed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// What the run did, as `cdc run` and the demo report it.
pub struct PipelineRun {
    pub execution: Execution,
    pub claim: Option<ClaimOutput>,
    pub release: Option<(ReleaseInput, ReleaseOutput)>,
    /// What the status-change rule's notify call did, for an execution that
    /// ended FAILED, TIMED_OUT or ABORTED.
    pub status_change: Option<ExecutionEndedOutput>,
}

impl PipelineRun {
    pub fn skipped_by(&self) -> Option<&str> {
        self.claim.as_ref().and_then(|c| c.held_by.as_deref())
    }
    pub fn was_idle(&self) -> bool {
        self.claim.as_ref().is_some_and(|c| c.nothing_new)
    }
}

/// What the handlers saw, for the report: the claim's and release's payloads.
#[derive(Default)]
struct Observed {
    claim: Option<ClaimOutput>,
    release: Option<(ReleaseInput, ReleaseOutput)>,
}

pub fn execution_name() -> String {
    format!("local-{}-{}", Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id())
}

impl LocalPipeline {
    pub async fn run(&self, name: &str) -> anyhow::Result<PipelineRun> {
        self.run_with_input(name, json!({ "JobId": self.cfg.job_id })).await
    }

    /// An execution started with this input, as from the console (for
    /// example `{"JobId": "101", "Resync": ["pgbench_accounts"]}`).
    pub async fn run_with_input(&self, name: &str, input: Value) -> anyhow::Result<PipelineRun> {
        let clock = self.clock.clone().unwrap_or_else(|| Arc::new(VirtualClock::new(Utc::now())));
        let execution = StateMachineRun {
            state_machine: &self.state_machine,
            ctx: Arc::new(self.context()?),
            clock,
            intercept: self.intercept.clone(),
            hook: None,
        };
        execution.run_with_input(name, input).await
    }

    /// The steps' context on the embedded default's ports.
    pub fn context(&self) -> anyhow::Result<StepContext> {
        // Steps keep real time: the lease in the job-state file is read by
        // other processes with their own clocks. Only the Waits are virtual.
        let now: Now = self.now.clone().unwrap_or_else(|| Arc::new(Utc::now));
        let unload_now: Now = match self.unload_now {
            Some(at) => Arc::new(move || at),
            None => Arc::clone(&now),
        };
        let zone = FolderOptimizedZone::new(&self.optimized, self.raw.root())?;
        Ok(StepContext {
            cfg: self.cfg.clone(),
            warehouse: Arc::clone(&self.warehouse),
            raw: self.raw.clone() as Arc<dyn RawZone>,
            raw_catalog: Arc::new(LocalRawCatalog),
            zone: Arc::new(zone),
            catalog: Arc::clone(&self.catalog),
            store: Arc::clone(&self.store),
            notifier: Arc::clone(&self.notifier),
            policy: self.policy,
            lease: self.lease,
            now,
            unload_now,
        })
    }
}

/// The `${Partition}` of the Task resources (`arn:${Partition}:states:::lambda:invoke`).
pub const PARTITION_SUBSTITUTION: &str = "Partition";

/// One execution of the state machine file by the local interpreter, its
/// five functions dispatched to the steps with `ctx`'s ports: the embedded
/// default's for `cdc run`, the AWS adapters' in the AWS integration tests.
pub struct StateMachineRun<'a> {
    pub state_machine: &'a Path,
    pub ctx: Arc<StepContext>,
    /// Waits and retries run on it.
    pub clock: Arc<VirtualClock>,
    pub intercept: Option<Intercept>,
    /// Stands between the state machine and every function (fault injection).
    pub hook: Option<Arc<dyn TaskHook>>,
}

impl StateMachineRun<'_> {
    pub async fn run(&self, name: &str) -> anyhow::Result<PipelineRun> {
        self.run_with_input(name, json!({ "JobId": self.ctx.cfg.job_id })).await
    }

    pub async fn run_with_input(&self, name: &str, input: Value) -> anyhow::Result<PipelineRun> {
        let text = std::fs::read_to_string(self.state_machine)
            .with_context(|| format!("reading the state machine {}", self.state_machine.display()))?;
        let mut substitutions: BTreeMap<String, String> =
            Function::ALL.iter().map(|f| (f.substitution().to_string(), f.name().to_string())).collect();
        // template.yaml substitutes the stack's partition (`AWS::Partition`); locally it is `aws`.
        substitutions.insert(PARTITION_SUBSTITUTION.to_string(), "aws".to_string());
        let machine = StateMachine::parse(&text, &substitutions)
            .with_context(|| format!("state machine {}", self.state_machine.display()))?
            .with_name("cdc-pipeline");
        let observed = Arc::new(Mutex::new(Observed::default()));
        let stop = Arc::new(ExecutionStop::default());
        let mut handlers = HandlerRegistry::new();
        for f in Function::ALL {
            let call = Call {
                f,
                ctx: Arc::clone(&self.ctx),
                observed: Arc::clone(&observed),
                intercept: self.intercept.clone(),
                hook: self.hook.clone(),
                stop: Arc::clone(&stop),
            };
            handlers.register(f.name(), handler(call));
        }
        let executor =
            Executor::new(machine, handlers, self.clock.clone()).with_options(ExecutorOptions { rng_seed: Some(7) });
        let missing = executor.missing_handlers();
        anyhow::ensure!(missing.is_empty(), "the state machine calls functions with no local handler: {missing:?}");
        let execution = executor.start_with_abort(name, input, stop.signal.notified()).await;
        let observed = std::mem::take(&mut *observed.lock().expect("observed lock"));
        let status_change = match stop.killed() {
            true => None,
            false => status_change_rule(&self.ctx, &execution, &self.clock).await,
        };
        Ok(PipelineRun { execution, claim: observed.claim, release: observed.release, status_change })
    }
}

/// The waits before Lambda runs a failed asynchronous invocation again: it
/// tries twice more, one minute and then two minutes later (Lambda DG, *How
/// Lambda handles errors and retries with asynchronous invocation*).
const ASYNC_RETRY_WAITS: [i64; 2] = [60, 120];

/// The local twin of template.yaml's `ExecutionEndedBadly` rule: an
/// execution that ended FAILED, TIMED_OUT or ABORTED goes to the notify
/// function, with the input the rule's transformer makes from the event.
/// EventBridge invokes it asynchronously, so a failed call is tried again
/// as Lambda does, on the execution's clock; the last failure is logged.
async fn status_change_rule(
    ctx: &StepContext,
    execution: &Execution,
    clock: &VirtualClock,
) -> Option<ExecutionEndedOutput> {
    let status = match execution.status {
        ExecutionStatus::Succeeded => return None,
        ExecutionStatus::Failed => "FAILED",
        ExecutionStatus::TimedOut => "TIMED_OUT",
        ExecutionStatus::Aborted => "ABORTED",
    };
    let payload = json!({
        "action": "execution_ended",
        "job_id": ctx.cfg.job_id,
        "detail": {
            "executionArn": execution.execution_arn,
            "name": execution.name,
            "status": status,
            "startDate": execution.start_time.timestamp_millis(),
            "stopDate": execution.stop_time.timestamp_millis(),
            "error": execution.error,
            "cause": execution.cause,
        },
    });
    let mut waits = ASYNC_RETRY_WAITS.iter();
    loop {
        match dispatch(ctx, Function::Notify, &payload).await {
            Ok(out) => return serde_json::from_value(out).ok(),
            Err(e) => match waits.next() {
                Some(&wait) => {
                    tracing::info!(error = %e, wait, "the status-change rule's notify call failed; Lambda tries again");
                    clock.advance(chrono::TimeDelta::seconds(wait));
                }
                None => {
                    tracing::warn!(error = %e, "the status-change rule's notify call failed three times");
                    return None;
                }
            },
        }
    }
}

/// One function's handler and what it needs.
struct Call {
    f: Function,
    ctx: Arc<StepContext>,
    observed: Arc<Mutex<Observed>>,
    intercept: Option<Intercept>,
    hook: Option<Arc<dyn TaskHook>>,
    stop: Arc<ExecutionStop>,
}

/// A function's handler: the step, its error as the Lambda runtime reports
/// one (`errorType` is the class the state machine retries or catches).
fn handler(call: Call) -> Arc<dyn cdc_asl::TaskHandler> {
    let call = Arc::new(call);
    handler_fn(move |_name: String, payload: Value| {
        let call = Arc::clone(&call);
        let injected = call.intercept.as_ref().and_then(|i| i(call.f, &payload));
        async move {
            if let Some(answer) = injected {
                return answer;
            }
            let step = Box::pin(run_step(&call, &payload));
            match &call.hook {
                Some(hook) => hook.call(call.f, &payload, step, &call.stop).await,
                None => step.await,
            }
        }
    })
}

async fn run_step(call: &Call, payload: &Value) -> Result<Value, TaskError> {
    let out = dispatch(&call.ctx, call.f, payload).await.map_err(|e| {
        tracing::warn!(function = call.f.name(), error = %e, "step failed");
        TaskError::lambda(e.kind.as_str(), e.message)
    })?;
    observe(&call.observed, call.f, payload, &out);
    Ok(out)
}

fn observe(observed: &Mutex<Observed>, f: Function, payload: &Value, out: &Value) {
    if f != Function::JobState {
        return;
    }
    let mut o = observed.lock().expect("observed lock");
    match payload.get("action").and_then(Value::as_str) {
        Some("claim") => o.claim = serde_json::from_value(out.clone()).ok(),
        Some("release") => {
            let input = serde_json::from_value(payload.clone()).ok();
            let output = serde_json::from_value(out.clone()).ok();
            o.release = input.zip(output);
        }
        _ => {}
    }
}

/// The DuckDB warehouse, opened on first use: a run that is skipped or idle
/// never touches the database file. Opening also makes the raw zone's
/// views, as the Glue catalog shows them on AWS. It is the local catalog
/// of the optimized zone too (a metastore file plus DuckDB views).
pub struct LazyWarehouse {
    open: Box<dyn Fn() -> anyhow::Result<Arc<DuckDbWarehouse>> + Send + Sync>,
    cfg: PipelineConfig,
    raw: Arc<FolderRawZone>,
    optimized: PathBuf,
    opened: Mutex<Option<(Arc<DuckDbWarehouse>, Arc<LocalCatalog>)>>,
}

impl LazyWarehouse {
    pub fn new(
        cfg: &PipelineConfig,
        raw: Arc<FolderRawZone>,
        optimized: &Path,
        open: impl Fn() -> anyhow::Result<Arc<DuckDbWarehouse>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            open: Box::new(open),
            cfg: cfg.clone(),
            raw,
            optimized: optimized.to_path_buf(),
            opened: Mutex::new(None),
        }
    }

    /// The open warehouse, if a step has used it.
    pub fn opened(&self) -> Option<Arc<DuckDbWarehouse>> {
        self.opened.lock().expect("warehouse lock").as_ref().map(|(w, _)| Arc::clone(w))
    }

    fn get(&self) -> Result<(Arc<DuckDbWarehouse>, Arc<LocalCatalog>), PipelineError> {
        let mut opened = self.opened.lock().expect("warehouse lock");
        if let Some((w, c)) = opened.as_ref() {
            return Ok((Arc::clone(w), Arc::clone(c)));
        }
        let w = (self.open)().map_err(|e| PipelineError::config(format!("{e:#}")))?;
        for (table, problem) in w.expose_raw_zone(&self.cfg, &self.raw)? {
            tracing::warn!(table = %table, problem = %problem, "raw files cannot be read as a table");
        }
        let catalog = Arc::new(LocalCatalog::new(&self.optimized, &self.cfg, w.connection()?));
        *opened = Some((Arc::clone(&w), Arc::clone(&catalog)));
        Ok((w, catalog))
    }
}

#[async_trait]
impl Warehouse for LazyWarehouse {
    fn dialect(&self) -> Dialect {
        Dialect::DuckDb
    }
    /// The embedded DuckDB's, known without opening it.
    fn poll_schedule(&self) -> cdc_core::ports::PollSchedule {
        cdc_core::ports::PollSchedule::IN_PROCESS
    }
    async fn submit(&self, batch: StatementBatch) -> Result<StatementId, PipelineError> {
        self.get()?.0.submit(batch).await
    }
    async fn submit_single(&self, statement: SingleStatement) -> Result<StatementId, PipelineError> {
        self.get()?.0.submit_single(statement).await
    }
    async fn status(&self, id: &StatementId) -> Result<StatementState, PipelineError> {
        self.get()?.0.status(id).await
    }
    async fn result(&self, id: &StatementId) -> Result<ResultSet, PipelineError> {
        self.get()?.0.result(id).await
    }
}

#[async_trait]
impl OptimizedCatalog for LazyWarehouse {
    async fn register_table(&self, table: &TableConfig, location: &str) -> Result<(), PipelineError> {
        self.get()?.1.register_table(table, location).await
    }
    async fn register_partition(&self, table: &TableConfig, p: &OptimizedPartition) -> Result<(), PipelineError> {
        self.get()?.1.register_partition(table, p).await
    }
}

/// The run's end as a person reads it.
pub fn status_line(run: &PipelineRun) -> String {
    match run.execution.status {
        ExecutionStatus::Succeeded => "succeeded".into(),
        _ => format!(
            "{:?}: {}: {}",
            run.execution.status,
            run.execution.error.as_deref().unwrap_or("?"),
            run.execution.cause.as_deref().map(cdc_core::steps::job::cause_message).unwrap_or_default()
        ),
    }
}
