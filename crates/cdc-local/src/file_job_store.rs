//! The job-state store of the embedded default: one JSON file per job beside
//! the warehouse (never inside its DuckDB file), changed only under an OS file
//! lock. The lock is held for the few microseconds of a read-modify-write, not
//! for the run: the run is held by the lease in the file, exactly as on
//! DynamoDB, so a second `cdc run` started at once sees "held by …" and a
//! `status` works while a run is going.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use cdc_core::PipelineError;
use cdc_core::job::{
    Claim, Job, JobState, JobStateError, JobStateStore, Lease, ProgressHint, RunOutcome, RunRecord, TableState,
    TableUpdate, apply_table_update,
};

pub struct FileJobStore {
    dir: PathBuf,
    retention: chrono::Duration,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    job: Job,
    /// Newest first.
    history: Vec<RunRecord>,
}

fn store_err(what: String) -> JobStateError {
    JobStateError::Store(PipelineError::retryable(what))
}

impl FileJobStore {
    /// `retention`: how long run records are kept (the DynamoDB TTL's twin).
    pub fn new(dir: &Path, retention: std::time::Duration) -> Result<Self, PipelineError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| PipelineError::config(format!("job state folder {}: {e}", dir.display())))?;
        let retention = chrono::Duration::from_std(retention)
            .map_err(|_| PipelineError::config("history retention is too long"))?;
        Ok(Self { dir: dir.to_path_buf(), retention })
    }

    fn paths(&self, job_id: &str) -> Result<(PathBuf, PathBuf), JobStateError> {
        let safe = !job_id.is_empty()
            && job_id.len() <= 64
            && job_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !safe {
            return Err(JobStateError::Store(PipelineError::config(format!(
                "job id {job_id:?}: use 1 to 64 letters, digits, '-' or '_'"
            ))));
        }
        Ok((self.dir.join(format!("job-{job_id}.json")), self.dir.join(format!("job-{job_id}.lock"))))
    }

    /// Runs `change` on the job's incident records under the job's lock.
    fn incidents_locked<T>(
        &self,
        job_id: &str,
        change: impl FnOnce(&mut BTreeMap<String, DateTime<Utc>>) -> (T, bool),
    ) -> Result<T, JobStateError> {
        let cutoff = Utc::now() - self.retention;
        self.sidecar_locked(job_id, "incidents.json", |incidents: &mut BTreeMap<String, DateTime<Utc>>| {
            let (out, changed) = change(incidents);
            if changed {
                incidents.retain(|_, at| *at >= cutoff);
            }
            (out, changed)
        })
    }

    /// Runs `change` on the job's table states under the job's lock.
    fn tables_locked<T>(
        &self,
        job_id: &str,
        change: impl FnOnce(&mut BTreeMap<String, TableState>) -> (T, bool),
    ) -> Result<T, JobStateError> {
        self.sidecar_locked(job_id, "tables.json", change)
    }

    /// Runs `change` on a JSON file beside the job's (`job-<id>.<extension>`:
    /// records that exist without the job item) under the job's lock, and
    /// writes it back (atomically, by rename) when `change` says so. The
    /// job's own file is not written.
    fn sidecar_locked<M, T>(
        &self,
        job_id: &str,
        extension: &str,
        change: impl FnOnce(&mut M) -> (T, bool),
    ) -> Result<T, JobStateError>
    where
        M: Serialize + serde::de::DeserializeOwned + Default,
    {
        let (data, _) = self.paths(job_id)?;
        let path = data.with_extension(extension);
        self.locked(job_id, |_| {
            let mut records: M = match std::fs::read_to_string(&path) {
                Ok(text) => serde_json::from_str(&text).map_err(|e| JobStateError::Corrupt {
                    job_id: job_id.to_string(),
                    detail: format!("{}: {e}", path.display()),
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => M::default(),
                Err(e) => return Err(store_err(format!("{}: {e}", path.display()))),
            };
            let (out, changed) = change(&mut records);
            if changed {
                let text = serde_json::to_vec_pretty(&records).map_err(|e| store_err(e.to_string()))?;
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, text).map_err(|e| store_err(format!("{}: {e}", tmp.display())))?;
                std::fs::rename(&tmp, &path).map_err(|e| store_err(format!("{}: {e}", path.display())))?;
            }
            Ok((out, false))
        })
    }

    /// Runs `change` on the job's stored state under the exclusive lock and
    /// writes the result back (atomically, by rename) when it returns `true`.
    fn locked<T>(
        &self,
        job_id: &str,
        change: impl FnOnce(&mut Option<Stored>) -> Result<(T, bool), JobStateError>,
    ) -> Result<T, JobStateError> {
        let (data, lock_path) = self.paths(job_id)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| store_err(format!("{}: {e}", lock_path.display())))?;
        lock.lock().map_err(|e| store_err(format!("locking {}: {e}", lock_path.display())))?;
        let mut stored = read(&data, job_id)?;
        let (out, write_back) = change(&mut stored)?;
        if write_back {
            if let Some(s) = stored.as_mut() {
                let cutoff = Utc::now() - self.retention;
                s.history.retain(|r| r.end >= cutoff);
            }
            write(&data, &stored)?;
        }
        drop(lock);
        Ok(out)
    }

    /// Forgets the progress hints, so the next run compares the raw zone with
    /// the warehouse's progress tables instead of trusting an unchanged
    /// listing (the chaos run's replays; a person after restoring files).
    /// Returns how many tables had one.
    pub fn clear_progress_hints(&self, job_id: &str) -> Result<usize, JobStateError> {
        self.locked(job_id, |stored| {
            let s = stored.as_mut().ok_or_else(|| JobStateError::UnknownJob(job_id.to_string()))?;
            let cleared = std::mem::take(&mut s.job.progress_hints).len();
            Ok((cleared, cleared > 0))
        })
    }

    fn read_only(&self, job_id: &str) -> Result<Option<Stored>, JobStateError> {
        self.locked(job_id, |s| Ok((s.take(), false)))
    }
}

fn read(path: &Path, job_id: &str) -> Result<Option<Stored>, JobStateError> {
    let mut text = String::new();
    match File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(store_err(format!("{}: {e}", path.display()))),
        Ok(mut f) => f.read_to_string(&mut text).map_err(|e| store_err(format!("{}: {e}", path.display())))?,
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| JobStateError::Corrupt { job_id: job_id.to_string(), detail: format!("{}: {e}", path.display()) })
}

fn write(path: &Path, stored: &Option<Stored>) -> Result<(), JobStateError> {
    let Some(s) = stored else { return Ok(()) };
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(s).map_err(|e| store_err(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(|e| store_err(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| store_err(format!("{}: {e}", path.display())))
}

fn owned<'a>(
    stored: &'a mut Option<Stored>,
    job_id: &str,
    execution_id: &str,
) -> Result<&'a mut Stored, JobStateError> {
    let s = stored.as_mut().ok_or_else(|| JobStateError::UnknownJob(job_id.to_string()))?;
    if s.job.state != JobState::Running || s.job.owner.as_deref() != Some(execution_id) {
        return Err(JobStateError::NotOwner {
            job_id: job_id.to_string(),
            execution_id: execution_id.to_string(),
            owner: s.job.owner.clone().filter(|_| s.job.state == JobState::Running),
        });
    }
    Ok(s)
}

#[async_trait]
impl JobStateStore for FileJobStore {
    async fn claim(
        &self,
        job_id: &str,
        execution_id: &str,
        lease: Lease,
        now: DateTime<Utc>,
    ) -> Result<Claim, JobStateError> {
        self.locked(job_id, |stored| {
            let s = stored.get_or_insert_with(|| Stored { job: Job::new(job_id), history: Vec::new() });
            if !s.job.claimable_at(now) {
                let held = Claim::Held {
                    owner: s.job.owner.clone().unwrap_or_default(),
                    since: s.job.job_start,
                    lease_expires: s.job.lease_expires,
                };
                return Ok((held, false));
            }
            let took_over_from = (s.job.state == JobState::Running).then(|| s.job.owner.clone()).flatten();
            if let Some(old) = &took_over_from {
                s.history.insert(
                    0,
                    RunRecord::event(
                        old,
                        s.job.job_start.unwrap_or(now),
                        now,
                        RunOutcome::TakenOver,
                        format!("lease expired; taken over by {execution_id}"),
                    ),
                );
            }
            s.job.state = JobState::Running;
            s.job.owner = Some(execution_id.to_string());
            s.job.job_start = Some(now);
            s.job.job_end = None;
            s.job.lease_expires = Some(lease.expiry_from(now));
            Ok((Claim::Claimed { job: s.job.clone(), took_over_from }, true))
        })
    }

    async fn extend(
        &self,
        job_id: &str,
        execution_id: &str,
        lease: Lease,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, JobStateError> {
        self.locked(job_id, |stored| {
            let s = owned(stored, job_id, execution_id)?;
            // Never shortened: polls of parallel tables may arrive out of order.
            let expiry = s.job.lease_expires.map_or(lease.expiry_from(now), |e| e.max(lease.expiry_from(now)));
            s.job.lease_expires = Some(expiry);
            Ok((expiry, true))
        })
    }

    async fn finish(
        &self,
        job_id: &str,
        record: RunRecord,
        hints: BTreeMap<String, ProgressHint>,
    ) -> Result<Job, JobStateError> {
        self.locked(job_id, |stored| {
            let s = owned(stored, job_id, &record.execution_id)?;
            let failed = record.outcome == RunOutcome::Failed;
            s.job.state = if failed { JobState::Failed } else { JobState::Ready };
            s.job.job_end = Some(record.end);
            s.job.lease_expires = None;
            if failed {
                s.job.consecutive_failures += 1;
            } else {
                s.job.consecutive_failures = 0;
                s.job.last_success = Some(record.end);
                // The incident is over; the next failure is a new one.
                s.job.last_notified = None;
            }
            if record.full_listing {
                s.job.last_full_listing = Some(record.start);
            }
            s.job.progress_hints.extend(hints);
            s.history.insert(0, record);
            Ok((s.job.clone(), true))
        })
    }

    async fn set_config_fingerprint(
        &self,
        job_id: &str,
        execution_id: &str,
        fingerprint: &str,
    ) -> Result<(), JobStateError> {
        self.locked(job_id, |stored| {
            owned(stored, job_id, execution_id)?.job.config_fingerprint = Some(fingerprint.to_string());
            Ok(((), true))
        })
    }

    async fn set_last_notified(&self, job_id: &str, at: DateTime<Utc>) -> Result<(), JobStateError> {
        self.locked(job_id, |stored| {
            let s = stored.as_mut().ok_or_else(|| JobStateError::UnknownJob(job_id.to_string()))?;
            s.job.last_notified = Some(at);
            Ok(((), true))
        })
    }

    async fn record_incident(
        &self,
        job_id: &str,
        execution_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, JobStateError> {
        self.incidents_locked(job_id, |incidents| {
            let first = !incidents.contains_key(execution_id);
            if first {
                incidents.insert(execution_id.to_string(), now);
            }
            (first, first)
        })
    }

    async fn incident_recorded(&self, job_id: &str, execution_id: &str) -> Result<bool, JobStateError> {
        self.incidents_locked(job_id, |incidents| (incidents.contains_key(execution_id), false))
    }

    async fn table_states(&self, job_id: &str) -> Result<BTreeMap<String, TableState>, JobStateError> {
        self.tables_locked(job_id, |tables| (tables.clone(), false))
    }

    async fn update_table(&self, job_id: &str, table: &str, update: TableUpdate) -> Result<(), JobStateError> {
        self.tables_locked(job_id, |tables| {
            let next = apply_table_update(tables.remove(table), &update);
            tables.insert(table.to_string(), next);
            ((), true)
        })
    }

    async fn get(&self, job_id: &str) -> Result<Option<Job>, JobStateError> {
        Ok(self.read_only(job_id)?.map(|s| s.job))
    }

    async fn history(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>, JobStateError> {
        let cutoff = Utc::now() - self.retention;
        Ok(self
            .read_only(job_id)?
            .map(|s| s.history.into_iter().filter(|r| r.end >= cutoff).take(limit).collect())
            .unwrap_or_default())
    }

    async fn reset(&self, job_id: &str, reason: &str, now: DateTime<Utc>) -> Result<Job, JobStateError> {
        cdc_core::job::check_reset_reason(reason)?;
        self.locked(job_id, |stored| {
            let s = stored.as_mut().ok_or_else(|| JobStateError::UnknownJob(job_id.to_string()))?;
            s.history.insert(
                0,
                RunRecord::event(
                    "manual-reset",
                    s.job.job_start.unwrap_or(now),
                    now,
                    RunOutcome::Reset,
                    format!("reset by hand: {reason}"),
                ),
            );
            s.job.state = JobState::Ready;
            s.job.lease_expires = None;
            s.job.job_end = Some(now);
            Ok((s.job.clone(), true))
        })
    }
}
