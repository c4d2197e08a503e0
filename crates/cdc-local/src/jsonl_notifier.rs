//! The notifier of the embedded default: a log line for the person watching
//! the terminal, and one JSON line per notice in a file that other tools can
//! tail (the SNS topic's twin).

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use cdc_core::PipelineError;
use cdc_core::notify::{Notice, Notifier};

pub struct JsonlNotifier {
    path: PathBuf,
}

impl JsonlNotifier {
    /// The file is created on the first notice; its folder must be creatable.
    pub fn new(path: &Path) -> Result<Self, PipelineError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| PipelineError::config(format!("notification folder {}: {e}", dir.display())))?;
        }
        if path.is_dir() {
            return Err(PipelineError::config(format!("notification file {} is a folder", path.display())));
        }
        Ok(Self { path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&self, line: &str) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        // One write of a whole line, so concurrent writers never interleave within it.
        file.write_all(format!("{line}\n").as_bytes())?;
        file.sync_data()
    }
}

#[async_trait]
impl Notifier for JsonlNotifier {
    async fn send(&self, notice: &Notice) -> Result<(), PipelineError> {
        match notice {
            Notice::Failure(f) => tracing::error!(
                job_id = %f.job_id,
                execution_id = %f.execution_id,
                failed_step = %f.failed_step,
                failed_tables = %f.failed_tables.join(","),
                consecutive_failures = f.consecutive_failures,
                "{}: {}: {}", notice.subject(), f.error_type, f.error_message
            ),
            Notice::Recovery(r) => {
                tracing::info!(job_id = %r.job_id, execution_id = %r.execution_id, "{}", notice.subject())
            }
        }
        let line = serde_json::to_string(notice).map_err(|e| PipelineError::config(format!("notice: {e}")))?;
        self.append(&line)
            .map_err(|e| PipelineError::retryable(format!("notification file {}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdc_core::notify::RecoveryNotice;

    fn recovery(exec: &str) -> Notice {
        Notice::Recovery(RecoveryNotice {
            job_id: "101".into(),
            execution_id: exec.into(),
            console_link: None,
            failures_before: 2,
            recovered_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        })
    }

    #[tokio::test]
    async fn notices_are_appended_one_json_line_each() {
        // GIVEN a notifier on a file in a folder that does not exist yet
        let dir = tempfile::tempdir().unwrap();
        let n = JsonlNotifier::new(&dir.path().join("state/notifications.jsonl")).unwrap();
        // WHEN two notices are sent
        n.send(&recovery("e1")).await.unwrap();
        n.send(&recovery("e2")).await.unwrap();
        // THEN the file holds both, in order, each parseable back
        let text = std::fs::read_to_string(n.path()).unwrap();
        let back: Vec<Notice> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(back, vec![recovery("e1"), recovery("e2")]);
    }

    #[tokio::test]
    async fn an_unwritable_file_is_a_clear_error() {
        // GIVEN a notification path that is a folder
        let dir = tempfile::tempdir().unwrap();
        let err = JsonlNotifier::new(dir.path()).err().unwrap();
        // THEN the error names it
        assert!(err.message.contains("is a folder"), "{err}");
    }
}
