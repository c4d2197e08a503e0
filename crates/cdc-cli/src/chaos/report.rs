//! What the chaos run counts while it runs, and the table it prints.

use chrono::{DateTime, TimeDelta, Utc};
use comfy_table::Table;

use cdc_asl::ExecutionStatus;

use super::faults::Tally;
use super::oracle_check::{Check, Damage};
use crate::pipeline_run::PipelineRun;
use crate::verify::Verification;

/// How the executions ended.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcomes {
    pub executions: u64,
    pub succeeded: u64,
    pub idle: u64,
    pub failed: u64,
    pub aborted: u64,
    pub timed_out: u64,
    /// Found the job held by another execution and ended at once.
    pub skipped: u64,
    /// Took the job over from an execution whose lease had expired, as the
    /// job's history records it (an execution's own claim output misses a
    /// takeover whose answer was lost and whose retry found the job its own).
    pub taken_over: u64,
    /// Stretches of executions skipped in a row (the job held by one owner),
    /// and the longest.
    pub held_stretches: u64,
    pub longest_hold: u64,
}

/// Counts as the executions end.
pub struct Tracker {
    outcomes: Outcomes,
    /// Executions skipped in a row so far.
    skip_streak: u64,
    /// When the first execution ended badly since the last good one.
    bad_since: Option<DateTime<Utc>>,
    recoveries: u64,
    longest_recovery: TimeDelta,
    damage: Damage,
    /// The first executions whose check found rows wrong, with the tables.
    damaged: Vec<String>,
    applied_files: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Tracker {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            outcomes: Outcomes::default(),
            skip_streak: 0,
            bad_since: None,
            recoveries: 0,
            longest_recovery: TimeDelta::zero(),
            damage: Damage::default(),
            damaged: Vec::new(),
            applied_files: 0,
            start,
            end: start,
        }
    }

    pub fn damage_total(&self) -> u64 {
        self.damage.lost + self.damage.duplicated + self.damage.differing
    }

    /// The executions started at one moment, and the check after them.
    pub fn observe(&mut self, runs: &[PipelineRun], check: &Check, now: DateTime<Utc>) {
        for run in runs {
            self.count(run);
        }
        self.end = now;
        self.applied_files = check.applied_files;
        let total = check.total();
        self.damage.add(total);
        if total.any() && self.damaged.len() < 10 {
            let names: Vec<&str> = runs.iter().map(|r| r.execution.name.as_str()).collect();
            self.damaged.push(format!("after {}: {:?}", names.join(" + "), check.damaged));
        }
    }

    /// Takeovers, from the job's history at the end.
    pub fn set_takeovers(&mut self, n: u64) {
        self.outcomes.taken_over = n;
    }

    fn count(&mut self, run: &PipelineRun) {
        let o = &mut self.outcomes;
        o.executions += 1;
        let skipped = run.execution.status == ExecutionStatus::Succeeded && run.skipped_by().is_some();
        self.skip_streak = if skipped { self.skip_streak + 1 } else { 0 };
        if self.skip_streak == 1 {
            o.held_stretches += 1;
        }
        o.longest_hold = o.longest_hold.max(self.skip_streak);
        let good = match run.execution.status {
            _ if skipped => {
                o.skipped += 1;
                return;
            }
            ExecutionStatus::Succeeded if run.was_idle() => {
                o.idle += 1;
                true
            }
            ExecutionStatus::Succeeded => {
                o.succeeded += 1;
                true
            }
            ExecutionStatus::Failed => {
                o.failed += 1;
                false
            }
            ExecutionStatus::Aborted => {
                o.aborted += 1;
                false
            }
            ExecutionStatus::TimedOut => {
                o.timed_out += 1;
                false
            }
        };
        match (good, self.bad_since) {
            (false, None) => self.bad_since = Some(run.execution.start_time),
            (true, Some(since)) => {
                self.recoveries += 1;
                self.longest_recovery = self.longest_recovery.max(run.execution.stop_time - since);
                self.bad_since = None;
            }
            _ => {}
        }
    }

    pub fn report(
        self,
        target: &'static str,
        seed: u64,
        tally: Tally,
        clean_executions: usize,
        v: &Verification,
        seconds: f64,
    ) -> ChaosReport {
        let final_failures =
            v.tables.iter().filter(|t| !t.ok()).map(|t| format!("{}: {:?}", t.table, t.samples)).collect();
        ChaosReport {
            target,
            seed,
            outcomes: self.outcomes,
            tally,
            recoveries: self.recoveries,
            unrecovered: self.bad_since.is_some(),
            longest_recovery: self.longest_recovery,
            damage: self.damage,
            damaged: self.damaged,
            applied_files: self.applied_files,
            clean_executions,
            final_failures,
            source_checked: v.source_checked,
            unloaded_days: 0,
            virtual_span: self.end - self.start,
            seconds,
        }
    }
}

/// The chaos run's result.
#[derive(Debug)]
pub struct ChaosReport {
    pub target: &'static str,
    pub seed: u64,
    pub outcomes: Outcomes,
    pub tally: Tally,
    /// Good executions that followed one or more bad ones.
    pub recoveries: u64,
    /// The last execution ended badly (cannot happen after the clean runs).
    pub unrecovered: bool,
    pub longest_recovery: TimeDelta,
    /// Summed over the checks after every execution.
    pub damage: Damage,
    pub damaged: Vec<String>,
    pub applied_files: usize,
    /// Fault-free executions it took to finish the work at the end.
    pub clean_executions: usize,
    /// Tables that differ from the source's truth at the end.
    pub final_failures: Vec<String>,
    pub source_checked: bool,
    /// Exported days checked against their raw days at the end.
    pub unloaded_days: usize,
    pub virtual_span: TimeDelta,
    pub seconds: f64,
}

impl ChaosReport {
    /// Nothing lost, duplicated or differing, after any execution or at the end.
    pub fn clean(&self) -> bool {
        !self.damage.any() && self.final_failures.is_empty() && self.source_checked && !self.unrecovered
    }

    pub fn render(&self) -> String {
        let o = &self.outcomes;
        let mut t = Table::new();
        t.set_header(vec!["chaos run", "figure"]);
        let mut row = |k: &str, v: String| {
            t.add_row(vec![k.to_string(), v]);
        };
        row("target, seed", format!("{}, {}", self.target, self.seed));
        row(
            "executions",
            format!(
                "{} ({} succeeded, {} idle, {} failed, {} aborted, {} timed out, {} skipped as held)",
                o.executions, o.succeeded, o.idle, o.failed, o.aborted, o.timed_out, o.skipped
            ),
        );
        row("taken over after a lease expired (the job's history)", o.taken_over.to_string());
        row(
            "stretches skipped as held, the longest",
            format!("{}, {} executions in a row", o.held_stretches, o.longest_hold),
        );
        row("faults injected", self.tally.total().to_string());
        for (kind, n) in &self.tally.by_kind {
            row(&format!("  {}", kind.label()), n.to_string());
        }
        row(
            "(state, fault) pairs injected",
            format!("{} of {} offered", self.tally.covered.len(), self.tally.offered.len()),
        );
        row("recoveries (a good execution after bad ones)", self.recoveries.to_string());
        row("longest virtual time until a run succeeded again", minutes(self.longest_recovery));
        row("rows lost", self.damage.lost.to_string());
        row("rows duplicated", self.damage.duplicated.to_string());
        row("rows differing (a stale version)", self.damage.differing.to_string());
        row("files applied at the end", self.applied_files.to_string());
        row("clean executions to finish after the faults", self.clean_executions.to_string());
        let end = match (self.final_failures.is_empty(), self.source_checked) {
            (true, true) => "every table equals the source".to_string(),
            (true, false) => "the source could not be checked (files held back)".to_string(),
            (false, _) => format!("{} table(s) differ", self.final_failures.len()),
        };
        row("at the end", end);
        row("exported days equal to their raw days", self.unloaded_days.to_string());
        row("virtual time, wall time", format!("{}, {:.1} s", minutes(self.virtual_span), self.seconds));
        let mut text = t.to_string();
        text.push('\n');
        let mut by_state = Table::new();
        by_state.set_header(vec!["Task state (where a fault entered)", "faults"]);
        for (state, n) in &self.tally.by_state {
            by_state.add_row(vec![state.clone(), n.to_string()]);
        }
        text.push_str(&by_state.to_string());
        for d in self.damaged.iter().chain(&self.final_failures) {
            text.push_str(&format!("\n{d}"));
        }
        text
    }
}

fn minutes(d: TimeDelta) -> String {
    format!("{}h {:02}m", d.num_hours(), d.num_minutes() % 60)
}
