//! One table's objects in the raw zone, listed and explained by the layout:
//! every object is a full-load file, a CDC file with its day, a folder
//! placeholder, or reported. Nothing under a table's folders is dropped
//! without a word.

use super::layout::{Classified, Folder, Layout};
use crate::config::{PipelineConfig, TableConfig};
use crate::error::PipelineError;
use crate::ports::{FileKind, RawFile, RawObject, RawZone};

/// An object the layout does not explain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnexplainedObject {
    pub path: String,
    pub reason: String,
    /// The `[dms]` setting that would explain it, when it looks like DMS
    /// output laid out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
}

/// A table's files, full-load files first, each kind in time order (see
/// `time_order`), and the objects that are neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableListing {
    pub files: Vec<RawFile>,
    pub unexplained: Vec<UnexplainedObject>,
    /// The prefixes listed, as their user finds them (for messages).
    pub described: Vec<String>,
}

impl TableListing {
    pub fn of_kind(&self, kind: FileKind) -> impl Iterator<Item = &RawFile> {
        self.files.iter().filter(move |f| f.kind == kind)
    }

    /// The settings do not match the files (a DMS file laid out otherwise):
    /// the table fails at once, naming the setting, the prefix and an object.
    pub fn layout_error(&self, t: &TableConfig) -> Option<PipelineError> {
        let bad = self.unexplained.iter().find(|u| u.setting.is_some())?;
        let others = self.unexplained.iter().filter(|u| u.setting.is_some()).count() - 1;
        Some(PipelineError::config(format!(
            "table {}: the raw zone does not match `dms.{}`: {} is {}{} (listed {}); set [dms] as the DMS \
             endpoint writes",
            t.qualified(),
            bad.setting.as_deref().unwrap_or_default(),
            bad.path,
            bad.reason,
            if others > 0 { format!(", and {others} more objects like it") } else { String::new() },
            self.described.join(" and ")
        )))
    }
}

/// Lists the table's folders (one when one task writes both kinds) and
/// explains each object.
pub async fn list_table(
    cfg: &PipelineConfig,
    t: &TableConfig,
    raw: &dyn RawZone,
) -> Result<TableListing, PipelineError> {
    let layout = Layout::new(&cfg.dms);
    let mut folders = vec![Folder::FullLoad];
    if !layout.shared_folder() {
        folders.push(Folder::Cdc);
    }
    list_folders(&layout, t, raw, &folders).await
}

/// Lists only the folder CDC files are in (the unload needs no more); where
/// one task writes both kinds its full-load files are listed as well.
pub async fn list_cdc_folder(
    cfg: &PipelineConfig,
    t: &TableConfig,
    raw: &dyn RawZone,
) -> Result<TableListing, PipelineError> {
    list_folders(&Layout::new(&cfg.dms), t, raw, &[Folder::Cdc]).await
}

async fn list_folders(
    layout: &Layout<'_>,
    t: &TableConfig,
    raw: &dyn RawZone,
    folders: &[Folder],
) -> Result<TableListing, PipelineError> {
    let (schema, table) = (t.schema.as_str(), t.name.as_str());
    let mut out = TableListing::default();
    for &folder in folders {
        let prefix = layout.folder_prefix(folder, schema, table);
        let objects = raw.list_objects(&prefix).await?;
        out.described.push(raw.describe_prefix(&prefix));
        for o in objects {
            explain(layout, folder, o, &mut out);
        }
    }
    // In time order, whatever the layout's folders: a backlog is loaded in
    // batches from the front, and a batch's newest change moves the
    // tombstone horizon (docs/cdc-contract.md, rule 3). Paths alone are not
    // in time order where the folder is `DDMMYYYY` or `MMYYYYDD`; the day
    // and then DMS's time-stamped name are.
    out.files.sort_by(|a, b| time_order(a).cmp(&time_order(b)));
    Ok(out)
}

/// Full-load files first (their hexadecimal counters sort as text), then
/// CDC files by day, name (`YYYYMMDD-HHMMSS…`) and path.
fn time_order(f: &RawFile) -> (FileKind, Option<&str>, &str, &str) {
    let name = f.path.rsplit('/').next().unwrap_or(&f.path);
    (f.kind, f.partition.as_deref(), name, &f.path)
}

fn explain(layout: &Layout<'_>, folder: Folder, o: RawObject, out: &mut TableListing) {
    let file = |kind, partition| RawFile {
        path: o.path.clone(),
        kind,
        partition,
        size: o.size,
        modified: o.modified,
        version: o.version.clone(),
    };
    match layout.classify(folder, &o.rel) {
        Classified::Placeholder => {}
        Classified::Full => out.files.push(file(FileKind::Full, None)),
        Classified::Cdc { day, .. } => out.files.push(file(FileKind::Cdc, Some(day))),
        Classified::Unexplained(u) => out.unexplained.push(UnexplainedObject {
            path: o.path,
            reason: u.reason,
            setting: u.mismatched_setting.map(str::to_string),
        }),
    }
}
