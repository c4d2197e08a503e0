//! Local folders named one way whatever path reached them: the raw zone's
//! file paths are the keys of the progress tables, so the same zone reached
//! through a symlink or a `..` must give the same paths, or its files would
//! be applied again.

use std::path::{Path, PathBuf};

use cdc_core::PipelineError;

/// The path with symlinks of its existing part resolved, so two spellings of
/// one folder compare equal.
pub(crate) fn canonical(p: &Path) -> Result<PathBuf, PipelineError> {
    let abs = std::path::absolute(p).map_err(|e| PipelineError::config(format!("{}: {e}", p.display())))?;
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or_else(|_| existing.to_path_buf());
    out.extend(rest.iter().rev());
    Ok(out)
}
