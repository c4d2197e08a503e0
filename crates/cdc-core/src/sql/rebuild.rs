//! One table rebuilt from a full load as one transaction: a DMS reload, or
//! a resync (docs/table-lifecycle.md).
//!
//! The rebuild is a load of the full-load set plus every CDC change committed
//! from `since` on (the first row of the full load, less
//! [`REBUILD_OVERLAP`]), into a target cleared in the same transaction.
//! Readers never see a half-built table: DELETE and INSERT in one transaction,
//! never TRUNCATE (which commits on Redshift). The batch, in order:
//! 1. `cdc_files`: the full-load set (`F`), the older full-load files it
//!    supersedes (`S`, recorded so they are never applied) and the CDC files
//!    of the days from `since` on (`C`).
//! 2. `cdc_rebuild`: whether this rebuild committed before (its marker row,
//!    kind `R`, in the progress table); if so every file is dropped and the
//!    batch changes nothing, so a replayed rebuild cannot undo the loads since.
//! 3. The rows and the load's checks, as a load has them.
//! 4. The reset: the target, its tombstones (upsert) or paired copies
//!    (append), and the progress rows of the old full load are deleted; the
//!    target's keys and tombstones are kept aside first.
//! 5. Progress rows for the files not yet recorded, before CDC rows older
//!    than `since` leave the batch (they keep their own commit times).
//! 6. The merge of a load into the empty table: CDC changes rank above
//!    full-load rows (docs/cdc-contract.md, rule 5), the append window pairs
//!    copies (rule 6).
//! 7. Tombstones: the earlier ones for keys still absent, and one at `since`
//!    for every key the target held that the rebuild does not (deleted at
//!    the source without a change DMS captured), so a late, older change
//!    cannot bring it back.
//! 8. The marker row and the load's figures.

use chrono::NaiveDateTime;

use super::merge::Plan;
use super::{Dialect, StatementBatch, names};
use crate::config::{ColumnType, PipelineConfig, TableConfig, TableMode};
use crate::ports::{FileKind, RawFile};
use crate::schema_change::BatchColumns;

/// CDC changes committed this long before a full load's first row are
/// applied over it too: a row is read before DMS stamps its transfer time,
/// and a change between the two is in the CDC stream, not in the row. A
/// change applied twice is harmless (CDC ranks above the full load); one
/// left out would be lost.
pub const REBUILD_OVERLAP: std::time::Duration = std::time::Duration::from_secs(300);

/// Progress kind of the full-load files a rebuild superseded.
pub const SUPERSEDED_KIND: &str = "S";
/// Progress kind of a rebuild's marker row.
pub const REBUILD_KIND: &str = "R";

/// What one rebuild reads.
#[derive(Debug, Clone)]
pub struct Rebuild<'a> {
    /// Names the rebuild in its marker row; the same plan gives the same id.
    pub id: String,
    pub full: &'a [RawFile],
    pub superseded: &'a [RawFile],
    pub cdc: &'a [RawFile],
    /// CDC changes from here on are applied over the full load.
    pub since: NaiveDateTime,
    /// How the files' columns stand against the table (columns a reload
    /// adds, columns some files lack).
    pub columns: &'a BatchColumns,
}

pub fn rebuild_batch(cfg: &PipelineConfig, t: &TableConfig, d: Dialect, r: &Rebuild<'_>) -> StatementBatch {
    let p = Plan { cfg, t, d, columns: r.columns };
    let progress = names::progress(cfg, t);
    let live = "EXISTS (SELECT 1 FROM cdc_rebuild WHERE done = 0)";
    let since = format!("CAST('{}' AS TIMESTAMP)", r.since.format("%Y-%m-%d %H:%M:%S%.6f"));
    let mut s: Vec<String> = d.lock(&progress).into_iter().collect();
    s.extend(p.add_columns());
    s.push(format!(
        "CREATE TEMP TABLE cdc_files (file {}, kind CHAR(1), partition_0 {}, file_no INTEGER, size BIGINT, version {}, \
         modified TIMESTAMP)",
        d.text_type(1024),
        d.text_type(8),
        d.text_type(super::setup::VERSION_CHARS)
    ));
    let read = r.full.iter().chain(r.cdc).map(|f| (f, f.kind.code()));
    s.extend(p.insert_files(read.chain(r.superseded.iter().map(|f| (f, SUPERSEDED_KIND)))));
    s.push(format!(
        "CREATE TEMP TABLE cdc_rebuild AS SELECT COUNT(*) AS done FROM {progress} WHERE kind = '{REBUILD_KIND}' AND \
         file = {}",
        d.literal(&r.id)
    ));
    s.push(format!("DELETE FROM cdc_files WHERE NOT {live}"));
    let read: Vec<RawFile> = r.full.iter().chain(r.cdc).cloned().collect();
    s.push(format!("CREATE TEMP TABLE cdc_batch AS {}", p.batch_select(&read)));
    s.extend(p.widen_check());
    s.push(p.checks());
    s.extend(reset(&p, live));
    s.push(format!("DELETE FROM {progress} WHERE kind IN ('F', '{SUPERSEDED_KIND}') AND {live}"));
    s.push(record_new_progress(&p));
    s.push(format!("DELETE FROM cdc_batch WHERE _cdc_rank = 1 AND _cdc_ts < {since}"));
    match t.mode {
        TableMode::Upsert => {
            s.push(p.latest_changes());
            s.extend(p.upsert());
            s.extend(restore_tombstones(&p, &since));
        }
        TableMode::Append => s.extend(p.append()),
    }
    s.push(format!(
        "INSERT INTO {progress} (file, kind, partition_0, row_count, max_commit_ts, loaded_at) \
         SELECT {}, '{REBUILD_KIND}', NULL, (SELECT COUNT(*) FROM cdc_batch), {since}, {} FROM cdc_rebuild WHERE done = 0",
        d.literal(&r.id),
        d.now()
    ));
    // The load's figures, and the rebuild's id so the poll knows it rebuilt.
    s.push(p.with_schema_changes(format!("SELECT x.*, {} AS rebuild FROM ({}) x", d.literal(&r.id), p.stats())));
    StatementBatch { label: format!("rebuild {}", t.qualified()), statements: s }
}

/// Clears what the rebuild recomputes, keeping aside what the tombstones
/// are made from afterwards.
fn reset(p: &Plan<'_>, live: &str) -> Vec<String> {
    let (target, tomb) = (p.target(), p.tombstones());
    match p.t.mode {
        TableMode::Upsert => vec![
            format!("CREATE TEMP TABLE cdc_prior_keys AS SELECT {} FROM {target} WHERE {live}", p.keys().join(", ")),
            format!("CREATE TEMP TABLE cdc_prior_tombstones AS SELECT * FROM {tomb} WHERE {live}"),
            format!("DELETE FROM {target} WHERE {live}"),
            format!("DELETE FROM {tomb} WHERE {live}"),
        ],
        TableMode::Append => vec![
            format!("DELETE FROM {target} WHERE {live}"),
            format!("DELETE FROM {} WHERE {live}", names::paired(p.cfg, p.t)),
        ],
    }
}

/// Progress rows for the files the table has not recorded (the new full
/// load, the superseded files, new CDC files); CDC files applied before keep
/// their rows, with the commit times they had.
fn record_new_progress(p: &Plan<'_>) -> String {
    let same_file = p.d.equal("q.file", "f.file", ColumnType::Varchar(None));
    format!(
        "{} WHERE NOT EXISTS (SELECT 1 FROM {} q WHERE {same_file})",
        p.record_progress(),
        names::progress(p.cfg, p.t)
    )
}

/// The earlier tombstones of keys the rebuild left absent, then one at
/// `since` for each key the target held that is absent now.
fn restore_tombstones(p: &Plan<'_>, since: &str) -> Vec<String> {
    let (target, tomb) = (p.target(), p.tombstones());
    let keys = p.keys().join(", ");
    let absent = |alias: &str| {
        format!(
            "NOT EXISTS (SELECT 1 FROM {target} t WHERE {}) AND NOT EXISTS (SELECT 1 FROM {tomb} d WHERE {})",
            p.key_match("t", alias),
            p.key_match("d", alias)
        )
    };
    let seq_type = p.d.type_name(p.t.sequence_type.column_type());
    vec![
        format!(
            "INSERT INTO {tomb} ({keys}, _cdc_ts, _cdc_seq) SELECT {}, o._cdc_ts, o._cdc_seq \
             FROM cdc_prior_tombstones o WHERE {}",
            prefixed(p, "o"),
            absent("o")
        ),
        format!(
            "INSERT INTO {tomb} ({keys}, _cdc_ts, _cdc_seq) SELECT {}, {since}, CAST(NULL AS {seq_type}) \
             FROM cdc_prior_keys o WHERE {}",
            prefixed(p, "o"),
            absent("o")
        ),
    ]
}

fn prefixed(p: &Plan<'_>, alias: &str) -> String {
    p.keys().iter().map(|k| format!("{alias}.{k}")).collect::<Vec<_>>().join(", ")
}

/// The first row's timestamp in a full-load set (column `first_row`),
/// from which its rebuild applies CDC changes (less [`REBUILD_OVERLAP`]).
pub fn first_row_query(cfg: &PipelineConfig, t: &TableConfig, d: Dialect, full: &[RawFile]) -> StatementBatch {
    let ts = format!("CAST(r.{} AS TIMESTAMP)", t.commit_ts_column.quoted());
    let list: Vec<String> = full.iter().map(|f| d.literal(&f.path)).collect();
    let from = match d {
        Dialect::DuckDb => format!("read_parquet([{}]) r", list.join(", ")),
        Dialect::Redshift => {
            let path = ColumnType::Varchar(None);
            let any: Vec<String> = list.iter().map(|f| format!("({})", d.equal("r.\"$path\"", f, path))).collect();
            format!("{} r WHERE {}", names::raw_full(cfg, t), any.join(" OR "))
        }
    };
    StatementBatch {
        label: format!("first full-load row of {}", t.qualified()),
        statements: vec![format!("SELECT MIN({ts}) AS first_row FROM {from}")],
    }
}

/// Whether the rebuild reads this CDC file: its day is `since`'s or later
/// (a file's day is when DMS wrote it, never before its changes).
pub fn reads_cdc_file(f: &RawFile, since: NaiveDateTime) -> bool {
    let day = since.format("%Y%m%d").to_string();
    f.kind == FileKind::Cdc && f.partition.as_deref().is_none_or(|p| p >= day.as_str())
}

/// The same set and start (and, for a resync, the same request) give the
/// same id: a replayed rebuild finds its marker and changes nothing, and a
/// new resync of the same files is a rebuild of its own.
pub fn rebuild_id(full: &[RawFile], since: NaiveDateTime, resync: Option<chrono::DateTime<chrono::Utc>>) -> String {
    use std::hash::{Hash, Hasher};
    // FNV-1a over the files as read: stable across processes and releases.
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for f in full {
        (f.path.as_str(), f.size, f.version.as_str()).hash(&mut h);
    }
    if let Some(at) = resync {
        at.to_rfc3339().hash(&mut h);
    }
    format!("rebuild {} from {} files {:016x}", since.format("%Y-%m-%dT%H:%M:%S%.6f"), full.len(), h.finish())
}

struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}
