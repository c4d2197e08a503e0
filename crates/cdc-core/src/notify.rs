//! Failure notification (the failure path of docs/architecture.md): what a
//! message says, and when one is sent. A job that fails every 5 minutes for
//! one incident must not page someone every 5 minutes: the first failure is
//! sent, then at most one reminder per interval while it keeps failing, and
//! one message when it recovers.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::PipelineError;
use crate::job::Job;

/// A failed run, as the person on call needs to see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureNotice {
    pub job_id: String,
    pub execution_id: String,
    /// The Step Functions console page of the execution, when its ARN is known.
    pub console_link: Option<String>,
    /// The state or step that failed (`LoadFacts`, `Setup`, `run`…).
    pub failed_step: String,
    pub failed_tables: Vec<String>,
    /// `Retryable`, `DataError`, `ConfigError` or an AWS error name.
    pub error_type: String,
    pub error_message: String,
    /// Including this one.
    pub consecutive_failures: u32,
    pub last_success: Option<DateTime<Utc>>,
    pub failed_at: DateTime<Utc>,
}

/// The job runs again after failing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryNotice {
    pub job_id: String,
    pub execution_id: String,
    pub console_link: Option<String>,
    /// How many runs in a row had failed before this one.
    pub failures_before: u32,
    pub recovered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Notice {
    Failure(FailureNotice),
    Recovery(RecoveryNotice),
}

impl Notice {
    pub fn job_id(&self) -> &str {
        match self {
            Notice::Failure(f) => &f.job_id,
            Notice::Recovery(r) => &r.job_id,
        }
    }

    /// A short subject line (SNS limits subjects to 100 ASCII characters).
    pub fn subject(&self) -> String {
        let s = match self {
            Notice::Failure(f) => {
                format!("CDC job {} failed ({}, {} in a row)", f.job_id, f.error_type, f.consecutive_failures)
            }
            Notice::Recovery(r) => format!("CDC job {} recovered after {} failed runs", r.job_id, r.failures_before),
        };
        let ascii: String = s.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).collect();
        ascii.chars().take(100).collect()
    }

    /// The message body: readable text, then the notice as JSON for machines.
    pub fn body(&self) -> String {
        let mut out = String::new();
        match self {
            Notice::Failure(f) => {
                out.push_str(&format!("Job {} failed in step {}.\n", f.job_id, f.failed_step));
                out.push_str(&format!("Execution: {}\n", f.execution_id));
                if let Some(link) = &f.console_link {
                    out.push_str(&format!("Console: {link}\n"));
                }
                if !f.failed_tables.is_empty() {
                    out.push_str(&format!("Failed tables: {}\n", f.failed_tables.join(", ")));
                }
                out.push_str(&format!("Error: {}: {}\n", f.error_type, f.error_message));
                out.push_str(&format!("Consecutive failures: {}\n", f.consecutive_failures));
                match f.last_success {
                    Some(t) => out.push_str(&format!("Last success: {}\n", t.to_rfc3339())),
                    None => out.push_str("Last success: never\n"),
                }
            }
            Notice::Recovery(r) => {
                out.push_str(&format!("Job {} succeeded again after {} failed runs.\n", r.job_id, r.failures_before));
                out.push_str(&format!("Execution: {}\n", r.execution_id));
                if let Some(link) = &r.console_link {
                    out.push_str(&format!("Console: {link}\n"));
                }
            }
        }
        out.push('\n');
        out.push_str(&serde_json::to_string_pretty(self).expect("a notice serializes"));
        out.push('\n');
        out
    }
}

/// The console page of a Step Functions execution, from its ARN
/// (`arn:aws:states:<region>:<account>:execution:<machine>:<name>`).
pub fn console_link(execution_id: &str) -> Option<String> {
    let parts: Vec<&str> = execution_id.split(':').collect();
    if parts.len() < 8 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "execution" {
        return None;
    }
    let region = parts[3];
    if region.is_empty() || region == "local" {
        return None;
    }
    let host = if parts[1] == "aws-cn" {
        format!("{region}.console.amazonaws.cn")
    } else {
        format!("{region}.console.aws.amazon.com")
    };
    Some(format!("https://{host}/states/home?region={region}#/v2/executions/details/{execution_id}"))
}

/// Where notices go: SNS on AWS, a log line and a JSON-lines file locally.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, notice: &Notice) -> Result<(), PipelineError>;
}

/// How often a job that keeps failing reminds people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyPolicy {
    pub reminder_interval: Duration,
}

impl Default for NotifyPolicy {
    fn default() -> Self {
        Self { reminder_interval: Duration::from_secs(3600) }
    }
}

/// Whether to send a notice about the run that just ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyDecision {
    /// The first failure of an incident, or a reminder that is due.
    SendFailure,
    /// Still failing and a message went out less than an interval ago.
    Suppress,
    /// The first success after failures that were notified.
    SendRecovery,
    /// A success after successes: nothing to say.
    Quiet,
}

impl NotifyPolicy {
    /// `before`: the job as the run found it (its failure count and last
    /// notification); `failed`: how the run ended.
    pub fn decide(&self, before: &Job, failed: bool, now: DateTime<Utc>) -> NotifyDecision {
        if !failed {
            // Only a notified incident gets a recovery message; a failure that
            // was never sent (none is, today) needs no all-clear.
            return if before.consecutive_failures > 0 && before.last_notified.is_some() {
                NotifyDecision::SendRecovery
            } else {
                NotifyDecision::Quiet
            };
        }
        if before.consecutive_failures == 0 {
            return NotifyDecision::SendFailure;
        }
        let interval = chrono::Duration::from_std(self.reminder_interval).unwrap_or(chrono::Duration::MAX);
        match before.last_notified {
            Some(at) if now - at < interval => NotifyDecision::Suppress,
            _ => NotifyDecision::SendFailure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobState;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + chrono::Duration::minutes(minutes)
    }

    /// Plays a sequence of run results every 5 minutes through the policy,
    /// keeping the job's counters as the store would, and returns the
    /// decisions: the clock is the test's, not the machine's.
    fn play(policy: NotifyPolicy, failures: &[bool]) -> Vec<NotifyDecision> {
        let mut job = Job::new("101");
        let mut out = Vec::new();
        for (i, &failed) in failures.iter().enumerate() {
            let now = at(5 * i as i64);
            let d = policy.decide(&job, failed, now);
            if matches!(d, NotifyDecision::SendFailure) {
                job.last_notified = Some(now);
            }
            if failed {
                job.consecutive_failures += 1;
                job.state = JobState::Failed;
            } else {
                job.consecutive_failures = 0;
                job.last_notified = None;
                job.state = JobState::Ready;
            }
            out.push(d);
        }
        out
    }

    #[test]
    fn an_incident_notifies_first_then_once_per_interval_then_on_recovery() {
        use NotifyDecision::*;
        // GIVEN a 15-minute reminder interval and runs every 5 minutes
        let policy = NotifyPolicy { reminder_interval: Duration::from_secs(15 * 60) };
        // WHEN the job succeeds, fails 7 times, recovers, succeeds again
        let d = play(policy, &[false, true, true, true, true, true, true, true, false, false]);
        // THEN: first failure sent, reminders at +15 and +30 minutes, one recovery
        assert_eq!(
            d,
            vec![
                Quiet,
                SendFailure,
                Suppress,
                Suppress,
                SendFailure,
                Suppress,
                Suppress,
                SendFailure,
                SendRecovery,
                Quiet
            ]
        );
    }

    #[test]
    fn a_new_incident_after_recovery_notifies_at_once() {
        use NotifyDecision::*;
        let policy = NotifyPolicy { reminder_interval: Duration::from_secs(3600) };
        // GIVEN a failure, a recovery WHEN it fails again 5 minutes later THEN that is sent
        let d = play(policy, &[true, false, true]);
        assert_eq!(d, vec![SendFailure, SendRecovery, SendFailure]);
    }

    #[test]
    fn console_link_only_for_step_functions_arns() {
        let arn = "arn:aws:states:eu-west-1:123456789012:execution:cdc-pipeline:abc-123";
        assert_eq!(
            console_link(arn).as_deref(),
            Some(
                "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:cdc-pipeline:abc-123"
            )
        );
        assert_eq!(console_link("local-20261123T000000Z-42"), None);
        assert_eq!(console_link("arn:aws:states:local:000000000000:execution:m:e"), None);
        assert_eq!(console_link("arn:aws:lambda:eu-west-1:123456789012:function:f"), None);
    }

    #[test]
    fn failure_message_carries_everything_on_call_needs() {
        let n = Notice::Failure(FailureNotice {
            job_id: "101".into(),
            execution_id: "arn:aws:states:us-east-1:1:execution:m:e1".into(),
            console_link: console_link("arn:aws:states:us-east-1:1:execution:m:e1"),
            failed_step: "LoadFacts".into(),
            failed_tables: vec!["pgbench_history".into()],
            error_type: "DataError".into(),
            error_message: "file cdc/public/pgbench_history/20261123/x.parquet: column aid is text".into(),
            consecutive_failures: 3,
            last_success: Some(at(0)),
            failed_at: at(15),
        });
        let body = n.body();
        for needle in [
            "Job 101 failed in step LoadFacts",
            "Execution: arn:aws:states:us-east-1:1:execution:m:e1",
            "Console: https://us-east-1.console.aws.amazon.com/",
            "Failed tables: pgbench_history",
            "Error: DataError: file cdc/public/pgbench_history/20261123/x.parquet",
            "Consecutive failures: 3",
            "Last success: 2023-11-14T22:13:20+00:00",
        ] {
            assert!(body.contains(needle), "missing {needle:?} in\n{body}");
        }
        assert_eq!(n.subject(), "CDC job 101 failed (DataError, 3 in a row)");
        // The JSON part round-trips, for machines reading the topic.
        let json = &body[body.find('{').unwrap()..];
        assert_eq!(serde_json::from_str::<Notice>(json).unwrap(), n);
    }
}
