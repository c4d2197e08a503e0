//! The optimized zone of the embedded default: a folder laid out as the S3
//! bucket is, `<table>/changedate=YYYYMMDD/part_*.parquet`. An export writes
//! into a staging folder beside the day, which is then swapped in with one
//! atomic rename, so a reader sees the old day or the new one, never a mix
//! or a half-written day.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use cdc_core::PipelineError;
use cdc_core::TableConfig;
use cdc_core::ports::{DayFiles, ExportTarget, OptimizedZone};

use crate::local_paths::canonical;

const STAGING_PREFIX: &str = ".staging-";

pub struct FolderOptimizedZone {
    root: PathBuf,
}

impl FolderOptimizedZone {
    /// Refuses a folder inside the raw zone (or holding it): its files would
    /// be listed as DMS output. Nothing is created here; see `check`.
    pub fn new(root: &Path, raw_root: &Path) -> Result<Self, PipelineError> {
        let root = canonical(root)?;
        let raw = canonical(raw_root)?;
        if root.starts_with(&raw) || raw.starts_with(&root) {
            return Err(PipelineError::config(format!(
                "optimized zone {} overlaps the raw zone {}: choose a folder outside it",
                root.display(),
                raw.display()
            )));
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn day_dir(&self, t: &TableConfig, day: &str) -> PathBuf {
        self.root.join(t.name.as_str()).join(format!("changedate={day}"))
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> PipelineError {
    PipelineError::config(format!("optimized zone: {what} {}: {e}", path.display()))
}

/// Parquet files and their total size in a day folder.
fn day_files(dir: &Path) -> Result<DayFiles, PipelineError> {
    let mut out = DayFiles::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("reading", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_err("reading", dir, e))?;
        if entry.path().extension().is_some_and(|x| x == "parquet") {
            out.files += 1;
            out.bytes += entry.metadata().map_err(|e| io_err("reading", &entry.path(), e))?.len();
        }
    }
    Ok(out)
}

/// Puts `staged` in the place of `day`: one atomic exchange when the day
/// exists (Linux `renameat2(RENAME_EXCHANGE)`), a plain rename when it does
/// not; the old content ends up in `staged` and is removed.
fn swap_in(staged: &Path, day: &Path) -> std::io::Result<()> {
    if !day.exists() {
        return std::fs::rename(staged, day);
    }
    exchange(staged, day)?;
    std::fs::remove_dir_all(staged)
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let b = CString::new(b.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: both are valid NUL-terminated paths; AT_FDCWD resolves them as given.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Without an atomic exchange: move the old day aside, then the new one in.
/// A reader may briefly see no day folder, never a mixed one.
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let aside = b.with_extension("old");
    std::fs::rename(b, &aside)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&aside, a)
}

#[async_trait]
impl OptimizedZone for FolderOptimizedZone {
    async fn check(&self) -> Result<(), PipelineError> {
        std::fs::create_dir_all(&self.root).map_err(|e| io_err("cannot create", &self.root, e))?;
        // Unique per call: tables check the zone side by side.
        static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let probe = self.root.join(format!(".probe-{}-{n}", std::process::id()));
        std::fs::write(&probe, b"probe").map_err(|e| io_err("cannot write to", &self.root, e))?;
        std::fs::remove_file(&probe).map_err(|e| io_err("cannot remove", &probe, e))?;
        Ok(())
    }

    fn export_target(&self, t: &TableConfig, day: &str) -> Result<ExportTarget, PipelineError> {
        let table_dir = self.root.join(t.name.as_str());
        std::fs::create_dir_all(&table_dir).map_err(|e| io_err("cannot create", &table_dir, e))?;
        // Staging folders of this day left by an export that crashed: one
        // run holds the job and exports a table's days one at a time, so
        // none of them is live. Other days' and tables' are left alone.
        let stale = format!("{STAGING_PREFIX}changedate={day}-");
        for entry in std::fs::read_dir(&table_dir).map_err(|e| io_err("reading", &table_dir, e))?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&stale) {
                std::fs::remove_dir_all(entry.path()).map_err(|e| io_err("removing", &entry.path(), e))?;
            }
        }
        let nonce = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let staged = table_dir.join(format!("{STAGING_PREFIX}changedate={day}-{nonce}"));
        // Made here, so an export of no rows still leaves its (empty) folder,
        // and a staging folder that is gone at publish was published already.
        std::fs::create_dir_all(&staged).map_err(|e| io_err("cannot create", &staged, e))?;
        Ok(ExportTarget { location: staged.to_string_lossy().into_owned(), iam_role: None, kms_key_id: None })
    }

    async fn publish(&self, t: &TableConfig, day: &str, target: &ExportTarget) -> Result<DayFiles, PipelineError> {
        let staged = PathBuf::from(&target.location);
        let dir = self.day_dir(t, day);
        // Gone: this export was published already, and the poll that did it
        // lost its answer (a retried step). Swapping an empty folder in would
        // drop the day the record says is exported.
        if !staged.exists() {
            return day_files(&dir);
        }
        // An empty day writes no file; it is still a day, and its empty folder
        // replaces whatever an earlier export left.
        swap_in(&staged, &dir).map_err(|e| io_err("cannot publish", &dir, e))?;
        day_files(&dir)
    }

    fn day_location(&self, t: &TableConfig, day: &str) -> String {
        self.day_dir(t, day).to_string_lossy().into_owned()
    }

    fn table_location(&self, t: &TableConfig) -> String {
        self.root.join(t.name.as_str()).to_string_lossy().into_owned()
    }
}
