//! One entry per function: reads the `action` of a payload, calls the step,
//! returns its JSON output. The Lambda packages and the local executor both
//! go through here, each with its own ports.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{job, load, notify, parse_input, to_output, unload};
use crate::config::PipelineConfig;
use crate::error::PipelineError;
use crate::job::{JobStateStore, Lease};
use crate::notify::{Notifier, NotifyPolicy};
use crate::ports::{OptimizedCatalog, OptimizedZone, RawCatalog, RawZone, Warehouse};

/// The five functions of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    JobState,
    DimensionLoad,
    FactLoad,
    Unload,
    Notify,
}

impl Function {
    pub const ALL: [Function; 5] =
        [Function::JobState, Function::DimensionLoad, Function::FactLoad, Function::Unload, Function::Notify];

    /// The local name, and the `${...FunctionArn}` substitution it stands for.
    pub fn name(self) -> &'static str {
        match self {
            Function::JobState => "job-state",
            Function::DimensionLoad => "dimension-load",
            Function::FactLoad => "fact-load",
            Function::Unload => "unload",
            Function::Notify => "notify",
        }
    }

    pub fn substitution(self) -> &'static str {
        match self {
            Function::JobState => "JobStateFunctionArn",
            Function::DimensionLoad => "DimensionLoadFunctionArn",
            Function::FactLoad => "FactLoadFunctionArn",
            Function::Unload => "UnloadFunctionArn",
            Function::Notify => "NotifyFunctionArn",
        }
    }
}

/// A time source; the local executor passes its (virtual) clock.
pub type Now = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Every port a step may need. Locally one value serves all five functions.
pub struct StepContext {
    pub cfg: PipelineConfig,
    pub warehouse: Arc<dyn Warehouse>,
    pub raw: Arc<dyn RawZone>,
    /// The raw zone's catalog, synced by the claim (Glue on AWS).
    pub raw_catalog: Arc<dyn RawCatalog>,
    pub zone: Arc<dyn OptimizedZone>,
    pub catalog: Arc<dyn OptimizedCatalog>,
    pub store: Arc<dyn JobStateStore>,
    pub notifier: Arc<dyn Notifier>,
    pub policy: NotifyPolicy,
    pub lease: Lease,
    pub now: Now,
    /// The clock that says which days are finished (the demo's generator
    /// has its own); usually the same as `now`.
    pub unload_now: Now,
}

fn action(payload: &Value) -> Result<&str, PipelineError> {
    payload
        .get("action")
        .and_then(Value::as_str)
        .ok_or_else(|| PipelineError::config("the payload has no \"action\" string"))
}

fn unknown(function: Function, action: &str) -> PipelineError {
    PipelineError::config(format!("function {} has no action {action:?}", function.name()))
}

tokio::task_local! {
    static CURRENT_FUNCTION: Function;
}

/// Runs `work` as `function`: every AWS call made inside it is that
/// function's (the tests' IAM check records which function made each SDK
/// call; see `cdc_aws::iam_record`). [`dispatch`] does it for every step;
/// the Lambda edge does it for a whole invocation, the config read included.
pub async fn in_function<F: std::future::Future>(function: Function, work: F) -> F::Output {
    if current_function() == Some(function) {
        return work.await;
    }
    CURRENT_FUNCTION.scope(function, work).await
}

/// The function whose step is running on this task, if any.
pub fn current_function() -> Option<Function> {
    CURRENT_FUNCTION.try_with(|f| *f).ok()
}

/// Runs one step of `function` for `payload`.
pub async fn dispatch(ctx: &StepContext, function: Function, payload: &Value) -> Result<Value, PipelineError> {
    in_function(function, dispatch_step(ctx, function, payload)).await
}

async fn dispatch_step(ctx: &StepContext, function: Function, payload: &Value) -> Result<Value, PipelineError> {
    let action = action(payload)?;
    let now = (ctx.now)();
    let (cfg, wh, store, lease) = (&ctx.cfg, &*ctx.warehouse, &*ctx.store, ctx.lease);
    let out = match (function, action) {
        (Function::JobState, "claim") => {
            let request: job::ClaimRequest = parse_input(action, payload)?;
            job::record_resync_requests(cfg, store, &request, now).await?;
            let ids = request.ids;
            let ports = job::ClaimPorts { store, raw: &*ctx.raw, raw_catalog: &*ctx.raw_catalog };
            to_output(&job::claim(cfg, ports, &ids, lease, now, (ctx.unload_now)()).await?)
        }
        (Function::JobState, "release") => {
            to_output(&job::release(store, ctx.policy, &parse_input(action, payload)?, now).await?)
        }
        (Function::JobState, "fail") => {
            to_output(&job::fail(store, ctx.policy, &parse_input(action, payload)?, now).await?)
        }
        (Function::DimensionLoad | Function::FactLoad, "setup_submit") => {
            let external = ctx.raw_catalog.external_schema();
            to_output(&load::setup_submit(cfg, wh, external.as_ref(), &parse_input(action, payload)?, now).await?)
        }
        (Function::DimensionLoad | Function::FactLoad, "setup_poll") => {
            let external = ctx.raw_catalog.external_schema();
            let input = parse_input(action, payload)?;
            to_output(&load::setup_poll(cfg, wh, external.as_ref(), store, lease, &input, now).await?)
        }
        (Function::DimensionLoad | Function::FactLoad, "load_submit") => {
            to_output(&load::load_submit(cfg, wh, &*ctx.raw, store, &parse_input(action, payload)?, now).await?)
        }
        (Function::DimensionLoad | Function::FactLoad, "load_poll") => {
            to_output(&load::load_poll(cfg, wh, store, lease, &parse_input(action, payload)?, now).await?)
        }
        (Function::DimensionLoad | Function::FactLoad, "refresh_submit") => {
            to_output(&load::refresh_submit(cfg, wh, &parse_input(action, payload)?, now).await?)
        }
        (Function::DimensionLoad | Function::FactLoad, "refresh_poll") => {
            to_output(&load::refresh_poll(wh, store, lease, &parse_input(action, payload)?, now).await?)
        }
        (Function::Unload, "unload_submit") => {
            let input = parse_input(action, payload)?;
            to_output(&unload::unload_submit(cfg, wh, &*ctx.raw, &*ctx.zone, &input, (ctx.unload_now)(), now).await?)
        }
        (Function::Unload, "unload_poll") => {
            let input = parse_input(action, payload)?;
            let (zone, catalog) = (&*ctx.zone, &*ctx.catalog);
            to_output(&unload::unload_poll(cfg, wh, zone, catalog, store, lease, &input, now).await?)
        }
        (Function::Notify, "notify") => {
            to_output(&notify::notify(store, &*ctx.notifier, &parse_input(action, payload)?, now).await?)
        }
        (Function::Notify, "execution_ended") => {
            let input = parse_input(action, payload)?;
            to_output(&notify::execution_ended(store, &*ctx.notifier, ctx.policy, &input, now).await?)
        }
        (f, a) => return Err(unknown(f, a)),
    };
    Ok(out)
}
