//! Map and Parallel states: sub-machines run concurrently, outputs kept in order.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinSet;

use super::run::{Context, Halt, Run, Scope, finish, quote, select_data, whole_number};
use super::states::run_graph;
use crate::definition::{Graph, MapState, ParallelState, Seconds};
use crate::error::StateError;
use crate::history::EventKind;
use crate::path::JsonPath;

#[derive(Clone, Copy)]
pub(super) enum Fork {
    Map,
    Parallel,
}

/// A point in the life of a Map iteration or Parallel branch.
pub(super) enum Phase<'a> {
    Started,
    Succeeded(&'a Value),
    Failed(&'a StateError),
    Aborted,
}

pub(super) async fn run_parallel(
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

pub(super) async fn run_map(
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
            quote(&items)
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
            Some(selector) => run.render(selector, &effective, &context.for_item(index, &item))?,
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
pub(super) async fn fork(
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
