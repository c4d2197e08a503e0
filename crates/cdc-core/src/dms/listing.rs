//! One table's objects in the raw zone, listed and explained by the layout:
//! every object is a full-load file, a CDC file with its day, a folder
//! placeholder, or reported. Nothing under a table's folders is dropped
//! without a word.

use chrono::NaiveDate;

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

/// How much of a table's CDC folder a listing reads (docs/dms.md, bounded
/// listings): all of it, or the days from one on, so its cost follows the
/// new files rather than the history. The full-load folder is small and
/// always listed whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ListingScope {
    Full,
    /// CDC files of `from` and later days; `until` (today) bounds the
    /// layouts whose folders are listed day by day.
    Since {
        from: NaiveDate,
        until: NaiveDate,
    },
}

impl ListingScope {
    /// From `day` (`YYYYMMDD`: the newest applied or exported day) minus
    /// `days_back` whole days, and one day more, on; `Full` without a day.
    /// The load and the claim go back the lateness window
    /// (`TableConfig::listing_window_days`, the days whose progress the load
    /// reads file by file); a file older than that arrived later than the
    /// contract decides (docs/cdc-contract.md, rule 3), and the periodic
    /// full listing finds it. The unload goes back `unload.lateness`.
    pub fn days_before(day: Option<&str>, days_back: u64, today: NaiveDate) -> Self {
        let from = day.and_then(parse_day).and_then(|d| d.checked_sub_days(chrono::Days::new(days_back + 1)));
        match from {
            Some(from) => Self::Since { from, until: today.max(from) + chrono::Days::new(1) },
            None => Self::Full,
        }
    }
}

fn parse_day(day: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(day, "%Y%m%d").ok()
}

/// Lists the table's folders (one when one task writes both kinds) and
/// explains each object.
pub async fn list_table(
    cfg: &PipelineConfig,
    t: &TableConfig,
    raw: &dyn RawZone,
) -> Result<TableListing, PipelineError> {
    list_table_within(cfg, t, raw, ListingScope::Full).await
}

/// [`list_table`] within a scope.
pub async fn list_table_within(
    cfg: &PipelineConfig,
    t: &TableConfig,
    raw: &dyn RawZone,
    scope: ListingScope,
) -> Result<TableListing, PipelineError> {
    let layout = Layout::new(&cfg.dms);
    let mut folders = vec![Folder::FullLoad];
    if !layout.shared_folder() {
        folders.push(Folder::Cdc);
    }
    list_folders(&layout, t, raw, &folders, scope).await
}

/// Lists only the folder CDC files are in (the unload needs no more); where
/// one task writes both kinds its full-load files are listed as well.
pub async fn list_cdc_folder(
    cfg: &PipelineConfig,
    t: &TableConfig,
    raw: &dyn RawZone,
    scope: ListingScope,
) -> Result<TableListing, PipelineError> {
    list_folders(&Layout::new(&cfg.dms), t, raw, &[Folder::Cdc], scope).await
}

async fn list_folders(
    layout: &Layout<'_>,
    t: &TableConfig,
    raw: &dyn RawZone,
    folders: &[Folder],
    scope: ListingScope,
) -> Result<TableListing, PipelineError> {
    let (schema, table) = (t.schema.as_str(), t.name.as_str());
    let mut out = TableListing::default();
    for &folder in folders {
        let prefix = layout.folder_prefix(folder, schema, table);
        // The folder the CDC files are in (also the full load's, when shared).
        let holds_cdc = folder == Folder::Cdc || layout.shared_folder();
        let calls = match scope {
            ListingScope::Since { from, until } if holds_cdc => layout.cdc_listing_calls(from, until),
            _ => None,
        };
        let calls = calls.unwrap_or_else(|| vec![(String::new(), None)]);
        for (sub, after) in &calls {
            let objects = raw.list_objects(&format!("{prefix}{sub}"), after.as_deref()).await?;
            for o in objects {
                let o = RawObject { rel: format!("{sub}{}", o.rel), ..o };
                explain(layout, folder, o, &mut out);
            }
        }
        let described = raw.describe_prefix(&prefix);
        out.described.push(match calls.first() {
            Some((sub, Some(after))) if calls.len() == 1 => format!("{described} after {sub}{after}"),
            _ if calls.len() > 1 => format!("{described} ({} day folders)", calls.len()),
            _ => described,
        });
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
