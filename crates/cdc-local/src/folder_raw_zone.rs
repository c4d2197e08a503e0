//! The raw zone as a folder laid out exactly as DMS writes to S3, in any of
//! its layouts (`[dms]`, docs/dms.md): the folder stands for the bucket (and
//! prefix), object keys are paths below it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use duckdb::Connection;

use cdc_core::dms::Layout;
use cdc_core::ports::{FileColumn, FileColumnType, FileKind, RawFile, RawObject, RawZone};
use cdc_core::sql::Dialect;
use cdc_core::{PipelineConfig, PipelineError, TableConfig};

pub struct FolderRawZone {
    root: PathBuf,
    /// Reads Parquet footers; DuckDB is already linked in the local build.
    reader: Mutex<Connection>,
    /// Each file's content digest, by path, with the size and modification
    /// time it was computed for: a file is read again only when they change.
    digests: Mutex<HashMap<PathBuf, (u64, DateTime<Utc>, String)>>,
}

impl FolderRawZone {
    pub fn new(root: &Path) -> Result<Self, PipelineError> {
        // Canonical: file paths key the progress rows (crate::local_paths).
        let root = crate::local_paths::canonical(root).map_err(|e| e.context("raw zone"))?;
        let reader = Connection::open_in_memory()
            .map_err(|e| PipelineError::config(format!("DuckDB for reading Parquet schemas: {e}")))?;
        Ok(Self { root, reader: Mutex::new(reader), digests: Mutex::default() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of a table's files of one kind (the same folder for both
    /// when one DMS task writes them).
    pub fn table_dir(&self, cfg: &PipelineConfig, t: &TableConfig, kind: FileKind) -> PathBuf {
        self.root.join(Layout::new(&cfg.dms).folder_prefix(kind.into(), t.schema.as_str(), t.name.as_str()))
    }

    /// The glob a catalog view reads: full-load files sit in the table's
    /// folder, CDC files in it or in date folders below it. Where both kinds
    /// share the folder each view sees the other's files too, as Spectrum
    /// does; readers pick by `"$path"` (the load by its file list, the
    /// unload by the day in the name).
    pub fn glob(&self, cfg: &PipelineConfig, t: &TableConfig, kind: FileKind) -> String {
        let dir = self.table_dir(cfg, t, kind);
        match kind {
            FileKind::Full => format!("{}/*.parquet", dir.display()),
            FileKind::Cdc => format!("{}/**/*.parquet", dir.display()),
        }
    }

    /// Whether the table has a file of this kind (a view needs one to bind its columns).
    pub fn has_files(&self, cfg: &PipelineConfig, t: &TableConfig, kind: FileKind) -> bool {
        let layout = Layout::new(&cfg.dms);
        let base = self.table_dir(cfg, t, kind);
        let mut objects = Vec::new();
        walk(&base, &base, &mut objects).is_ok()
            && objects.iter().any(|(o, _)| layout.classify(kind.into(), &o.rel).kind() == Some(kind))
    }
}

fn io_err(path: &Path, e: std::io::Error) -> PipelineError {
    PipelineError::retryable(format!("raw zone {}: {e}", path.display()))
}

/// Every file below `dir`, with its key relative to `base`. Folders are
/// walked, not reported: S3 has no empty folders to explain.
fn walk(base: &Path, dir: &Path, out: &mut Vec<(RawObject, PathBuf)>) -> Result<(), PipelineError> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(|e| io_err(dir, e))?,
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let path = entry.path();
        let meta = entry.metadata().map_err(|e| io_err(&path, e))?;
        if meta.is_dir() {
            walk(base, &path, out)?;
            continue;
        }
        // A writer's unfinished file: written under a hidden name, then renamed.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let modified: DateTime<Utc> = meta.modified().map_err(|e| io_err(&path, e))?.into();
        let rel = path.strip_prefix(base).unwrap_or(&path);
        let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let object =
            RawObject { rel, path: path.display().to_string(), size: meta.len(), modified, version: String::new() };
        out.push((object, path));
    }
    Ok(())
}

impl FolderRawZone {
    /// The objects below `prefix`, each with its version: a digest of its
    /// bytes, as S3's ETag is an MD5 of a single-part upload's bytes. The
    /// same bytes written again keep their version, so a replayed file is
    /// one already applied; other bytes under the name are a rewrite.
    fn objects(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<RawObject>, PipelineError> {
        let base = self.root.join(prefix);
        let mut found = Vec::new();
        walk(&base, &base, &mut found)?;
        // S3's StartAfter: keys sorting after it, byte by byte.
        if let Some(after) = start_after {
            found.retain(|(o, _)| o.rel.as_str() > after);
        }
        let mut digests = self.digests.lock().expect("digest cache lock");
        found
            .into_iter()
            .map(|(mut o, path)| {
                let version = match digests.get(&path) {
                    Some((size, modified, v)) if *size == o.size && *modified == o.modified => v.clone(),
                    _ => {
                        let v = digest(&path)?;
                        digests.insert(path, (o.size, o.modified, v.clone()));
                        v
                    }
                };
                o.version = version;
                Ok(o)
            })
            .collect()
    }
}

/// SHA-256 of a file's bytes, hex.
fn digest(path: &Path) -> Result<String, PipelineError> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| io_err(path, e))?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[async_trait]
impl RawZone for FolderRawZone {
    async fn list_objects(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<RawObject>, PipelineError> {
        let mut out = self.objects(prefix, start_after)?;
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    async fn file_schemas(&self, files: &[RawFile]) -> Result<Vec<Vec<FileColumn>>, PipelineError> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let reader = self.reader.lock().expect("parquet reader lock");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        match read_schemas(&reader, &paths) {
            Ok(mut by_file) => files
                .iter()
                .map(|f| {
                    by_file.remove(&f.path).ok_or_else(|| {
                        PipelineError::data(format!("file {} has no columns (not readable Parquet?)", f.path))
                    })
                })
                .collect(),
            // One bad file fails the whole read: find it, to name it.
            Err(all) => {
                for p in &paths {
                    if let Err(e) = read_schemas(&reader, &[p]) {
                        return Err(unreadable(p, &e));
                    }
                }
                Err(PipelineError::data(format!("reading Parquet schemas: {all}")))
            }
        }
    }

    fn describe_prefix(&self, prefix: &str) -> String {
        self.root.join(prefix).display().to_string()
    }
}

fn unreadable(path: &str, e: &duckdb::Error) -> PipelineError {
    PipelineError::data(format!("file {path} is not readable Parquet (empty, truncated or corrupt?): {e}"))
}

/// The flat schema of each file, by file name, from the Parquet footers.
fn read_schemas(reader: &Connection, paths: &[&str]) -> Result<HashMap<String, Vec<FileColumn>>, duckdb::Error> {
    let list: Vec<String> = paths.iter().map(|p| Dialect::DuckDb.literal(p)).collect();
    let sql = format!(
        "SELECT file_name, name, type, converted_type, scale, precision, logical_type \
         FROM parquet_schema([{}]) WHERE type IS NOT NULL",
        list.join(", ")
    );
    let mut stmt = reader.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out: HashMap<String, Vec<FileColumn>> = HashMap::new();
    while let Some(r) = rows.next()? {
        let physical: String = r.get(2)?;
        let converted: Option<String> = r.get(3)?;
        let scale: Option<i64> = r.get(4)?;
        let precision: Option<i64> = r.get(5)?;
        let logical: Option<String> = r.get(6)?;
        let ty = FileColumnType::from_parquet(&physical, converted.as_deref(), logical.as_deref(), precision, scale);
        out.entry(r.get(0)?).or_default().push(FileColumn { name: r.get(1)?, ty });
    }
    Ok(out)
}
