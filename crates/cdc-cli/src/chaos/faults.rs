//! Which fault, where and when: the kinds the chaos run injects, and the
//! seeded injector every fault point asks. Each point (a task call, a port
//! call below the adapters) knows the Task state it runs under
//! ([`cdc_asl::current_task_state`]) and which kinds fit it. The injector
//! answers in turn, then at random: every (state, kind) pair a point offers
//! is queued the first time it is seen and armed one per execution, so the
//! whole reachable matrix is covered; on top of that each point fails at
//! the seed's random rate with a fault the execution survives (the
//! execution-ending kinds come only in turn).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A fault the chaos run injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The invoke is throttled before the function runs (`Lambda.TooManyRequestsException`).
    InvokeThrottled,
    /// The function ran, its answer was lost (`Lambda.ServiceException`): the Task retries.
    AnswerLost,
    /// The function timed out (`Lambda.Unknown`), its effect done or not.
    LambdaTimeout,
    /// The process running the execution died mid-step: no Catch, no
    /// status-change rule; a later execution takes over by lease.
    Killed,
    /// The execution was stopped mid-step (StopExecution): ABORTED, the rule runs.
    Stopped,
    /// A Data API statement FAILED (the cluster's error, rolled back).
    StatementFailed,
    /// A Data API statement was ABORTED.
    StatementAborted,
    /// A statement FAILED on a serializable isolation conflict (error 1023).
    SerializationConflict,
    /// The Data API throttled a call (ExecuteStatement, BatchExecuteStatement,
    /// DescribeStatement, GetStatementResult).
    DataApiThrottled,
    /// S3 answered 503 SlowDown.
    S3Throttled,
    /// Glue answered ThrottlingException.
    GlueThrottled,
    /// DynamoDB answered ProvisionedThroughputExceededException.
    DynamoDbThrottled,
    /// SNS answered Throttling.
    SnsThrottled,
    /// A second execution started at the same moment.
    ConcurrentStart,
    /// Files already delivered uploaded again, the same bytes under their
    /// names, with the progress hints cleared.
    Replay,
}

impl FaultKind {
    /// Faults at a function's invoke.
    pub const AT_INVOKE: &[FaultKind] = &[
        FaultKind::InvokeThrottled,
        FaultKind::AnswerLost,
        FaultKind::LambdaTimeout,
        FaultKind::Killed,
        FaultKind::Stopped,
    ];
    /// Faults of a statement's submit.
    pub const AT_SUBMIT: &[FaultKind] = &[
        FaultKind::DataApiThrottled,
        FaultKind::StatementFailed,
        FaultKind::StatementAborted,
        FaultKind::SerializationConflict,
    ];

    /// Faults that end the execution (or, for a timeout, are caught by
    /// it). They come only in turn, once per (state, kind) pair and round:
    /// drawn at random as often as throttles they would leave no execution
    /// whole, and a killed one holds the job for a lease.
    pub fn ends_execution(self) -> bool {
        matches!(self, FaultKind::Killed | FaultKind::Stopped | FaultKind::LambdaTimeout)
    }

    pub fn label(self) -> &'static str {
        match self {
            FaultKind::InvokeThrottled => "invoke throttled (before effect)",
            FaultKind::AnswerLost => "answer lost (after effect)",
            FaultKind::LambdaTimeout => "Lambda timeout",
            FaultKind::Killed => "process killed mid-step",
            FaultKind::Stopped => "execution stopped mid-step",
            FaultKind::StatementFailed => "Data API FAILED",
            FaultKind::StatementAborted => "Data API ABORTED",
            FaultKind::SerializationConflict => "serialization conflict",
            FaultKind::DataApiThrottled => "Data API throttled",
            FaultKind::S3Throttled => "S3 throttled",
            FaultKind::GlueThrottled => "Glue throttled",
            FaultKind::DynamoDbThrottled => "DynamoDB throttled",
            FaultKind::SnsThrottled => "SNS throttled",
            FaultKind::ConcurrentStart => "two executions at once",
            FaultKind::Replay => "whole-run replay",
        }
    }
}

/// Where an execution-level fault is counted (no Task state runs it).
pub const BETWEEN_EXECUTIONS: &str = "(between executions)";
/// Where a port call outside any Task state is counted (the status-change rule).
pub const OUTSIDE_TASKS: &str = "(status-change rule)";

/// What was injected, for the report.
#[derive(Default, Clone, Debug)]
pub struct Tally {
    pub by_kind: BTreeMap<FaultKind, u64>,
    pub by_state: BTreeMap<String, u64>,
    /// (state, kind) pairs the points offered, and those injected at least once.
    pub offered: BTreeSet<(String, FaultKind)>,
    pub covered: BTreeSet<(String, FaultKind)>,
}

impl Tally {
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }
    fn count(&mut self, state: &str, kind: FaultKind) {
        *self.by_kind.entry(kind).or_default() += 1;
        *self.by_state.entry(state.to_string()).or_default() += 1;
        self.covered.insert((state.to_string(), kind));
    }
}

struct State {
    rng: ChaCha8Rng,
    rate: f64,
    enabled: bool,
    /// Pairs waiting their turn, in the order first seen.
    queue: VecDeque<(String, FaultKind)>,
    /// Pairs armed for the current execution: they fire at their first chance.
    armed: Vec<(String, FaultKind)>,
    tally: Tally,
}

/// The seeded source of every fault decision.
pub struct Injector {
    state: Mutex<State>,
}

impl Injector {
    /// `rate`: the chance that any one fault point fails at random.
    pub fn new(seed: u64, rate: f64) -> Self {
        let state = State {
            rng: ChaCha8Rng::seed_from_u64(seed),
            rate,
            enabled: true,
            queue: VecDeque::new(),
            armed: Vec::new(),
            tally: Tally::default(),
        };
        Self { state: Mutex::new(state) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("injector lock")
    }

    /// Faults on or off (off for the clean runs that end the chaos run).
    pub fn set_enabled(&self, on: bool) {
        let mut s = self.lock();
        s.enabled = on;
        if !on {
            let armed = std::mem::take(&mut s.armed);
            s.queue.extend(armed);
        }
    }

    /// Arms the next `n` queued pairs for the coming execution; pairs armed
    /// before and not reached go back to the end of the queue.
    pub fn arm_next(&self, n: usize) {
        let mut s = self.lock();
        let unreached = std::mem::take(&mut s.armed);
        s.queue.extend(unreached);
        for _ in 0..n {
            if let Some(pair) = s.queue.pop_front() {
                s.armed.push(pair);
            }
        }
    }

    /// A fault point under the current Task state offering `kinds`: the
    /// fault to inject, if any (counted as injected).
    pub fn decide(&self, kinds: &[FaultKind]) -> Option<FaultKind> {
        let state = cdc_asl::current_task_state().unwrap_or_else(|| OUTSIDE_TASKS.to_string());
        self.decide_at(&state, kinds)
    }

    /// [`Self::decide`] at a named place.
    pub fn decide_at(&self, state: &str, kinds: &[FaultKind]) -> Option<FaultKind> {
        let mut s = self.lock();
        for &k in kinds {
            if s.tally.offered.insert((state.to_string(), k)) {
                s.queue.push_back((state.to_string(), k));
            }
        }
        if !s.enabled || kinds.is_empty() {
            return None;
        }
        let rate = s.rate;
        let random: Vec<FaultKind> = kinds.iter().copied().filter(|k| !k.ends_execution()).collect();
        let kind = match s.armed.iter().position(|(st, k)| st == state && kinds.contains(k)) {
            Some(i) => Some(s.armed.remove(i).1),
            None if !random.is_empty() && s.rng.random_bool(rate) => Some(random[s.rng.random_range(0..random.len())]),
            None => None,
        };
        if let Some(k) = kind {
            tracing::info!(state, fault = k.label(), "chaos: injecting");
            s.tally.count(state, k);
        }
        kind
    }

    /// A coin from the seed (whether a timed-out step ran first, say).
    pub fn chance(&self, p: f64) -> bool {
        self.lock().rng.random_bool(p)
    }

    /// A number in `0..n` from the seed.
    pub fn pick(&self, n: usize) -> usize {
        self.lock().rng.random_range(0..n.max(1))
    }

    pub fn tally(&self) -> Tally {
        self.lock().tally.clone()
    }

    /// The queued pairs not injected yet.
    pub fn waiting(&self) -> usize {
        let s = self.lock();
        s.queue.len() + s.armed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offered_pair_is_injected_in_turn_even_at_rate_zero() {
        // GIVEN no random faults, and two points offering two kinds each
        let inj = Injector::new(1, 0.0);
        let points = [("A", FaultKind::AT_SUBMIT[..2].to_vec()), ("B", vec![FaultKind::S3Throttled])];
        // WHEN each execution arms one pair and every point is passed once
        let mut fired = Vec::new();
        for _ in 0..5 {
            inj.arm_next(1);
            for (state, kinds) in &points {
                if let Some(k) = inj.decide_at(state, kinds) {
                    fired.push((state.to_string(), k));
                }
            }
        }
        // THEN the three pairs each fired once, in the order first seen
        let expected = vec![
            ("A".to_string(), FaultKind::DataApiThrottled),
            ("A".to_string(), FaultKind::StatementFailed),
            ("B".to_string(), FaultKind::S3Throttled),
        ];
        assert_eq!(fired, expected);
        assert_eq!(inj.tally().total(), 3);
        assert_eq!(inj.waiting(), 0);
    }

    #[test]
    fn the_same_seed_makes_the_same_decisions_and_disabled_makes_none() {
        let run = |seed| {
            let inj = Injector::new(seed, 0.3);
            (0..200).map(|_| inj.decide_at("S", FaultKind::AT_INVOKE)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        // AND drawn at random, no fault ends the execution (those come in turn)
        assert!(run(7).iter().flatten().all(|k| !k.ends_execution()));
        assert!(run(7).iter().flatten().count() > 30);
        let off = Injector::new(7, 1.0);
        off.set_enabled(false);
        assert_eq!(off.decide_at("S", FaultKind::AT_INVOKE), None);
    }
}
