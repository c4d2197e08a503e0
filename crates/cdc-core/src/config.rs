//! The pipeline configuration: one declarative TOML file.
//!
//! Parsing is strict: unknown keys, unsafe identifiers, an upsert table without
//! key columns, duplicate tables and derived tables that are not one SELECT are
//! errors that name the line and the field. Nothing here is hard-wired to the
//! demo tables: table list, key columns and the timestamp column all come from
//! the file.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::dms::{DmsSettings, RawDmsSettings};
use crate::ident::Ident;

/// Column names DMS writes into CDC files (its `Op` column) and the
/// bookkeeping column the pipeline adds to every target table.
pub const OP_COLUMN: &str = "op";
pub const FULL_LOAD_FLAG_COLUMN: &str = "_cdc_full_load";
/// Names starting with this are the pipeline's own bookkeeping columns.
pub const RESERVED_PREFIX: &str = "_cdc_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// Loaded first, all dimensions in parallel.
    Dimension,
    /// Loaded after the dimensions, all facts in parallel.
    Fact,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableMode {
    /// Latest change per key wins; needs key columns.
    Upsert,
    /// Every inserted row is kept; each file applied exactly once.
    Append,
}

/// The column types the pipeline understands, written as in SQL
/// (`integer`, `varchar(84)`, `numeric(12,2)`, ...).
///
/// Text lengths count characters, as in the source database: `varchar(n)`
/// and `char(n)` hold n characters of UTF-8 on both warehouses. Redshift
/// counts bytes and its CHAR takes single-byte characters only, so the
/// Redshift dialect stores them as `VARCHAR(4n)` (a UTF-8 character takes at
/// most 4 bytes; docs/redshift.md) and the load checks the character count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ColumnType {
    SmallInt,
    Integer,
    BigInt,
    Real,
    Double,
    Boolean,
    Date,
    Timestamp,
    Varchar(Option<u32>),
    Char(u32),
    Numeric(u8, u8),
}

impl ColumnType {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        let (base, args) = match t.find('(') {
            Some(open) if t.ends_with(')') => (t[..open].trim(), Some(&t[open + 1..t.len() - 1])),
            Some(_) => return Err(format!("malformed type {text:?}")),
            None => (t.as_str(), None),
        };
        let nums = |a: &str| -> Result<Vec<u32>, String> {
            a.split(',').map(|n| n.trim().parse::<u32>().map_err(|_| format!("malformed type {text:?}"))).collect()
        };
        let ty = match (base, args) {
            ("smallint" | "int2", None) => ColumnType::SmallInt,
            ("integer" | "int" | "int4", None) => ColumnType::Integer,
            ("bigint" | "int8", None) => ColumnType::BigInt,
            ("real" | "float4", None) => ColumnType::Real,
            ("double" | "double precision" | "float8" | "float", None) => ColumnType::Double,
            ("boolean" | "bool", None) => ColumnType::Boolean,
            ("date", None) => ColumnType::Date,
            ("timestamp" | "timestamp without time zone", None) => ColumnType::Timestamp,
            ("timestamptz" | "timestamp with time zone", None) => {
                return Err(format!(
                    "{text:?} is not supported: Redshift Spectrum has no TIMESTAMPTZ external column type and \
                     UNLOAD drops the zone (docs/redshift.md); DMS writes UTC instants, so declare the column \
                     `timestamp` (UTC)"
                ));
            }
            ("varchar" | "character varying" | "text", None) => ColumnType::Varchar(None),
            ("varchar" | "character varying", Some(a)) => match nums(a)?.as_slice() {
                [n] if (1..=MAX_VARCHAR_CHARS).contains(n) => ColumnType::Varchar(Some(*n)),
                _ => {
                    return Err(format!(
                        "varchar length must be 1..{MAX_VARCHAR_CHARS} characters in {text:?}: Redshift stores up \
                         to {MAX_TEXT_BYTES} bytes and a UTF-8 character takes up to {MAX_BYTES_PER_CHAR}; \
                         use `varchar` without a length for longer text"
                    ));
                }
            },
            ("char" | "character", Some(a)) => match nums(a)?.as_slice() {
                [n] if (1..=MAX_CHAR_CHARS).contains(n) => ColumnType::Char(*n),
                _ => return Err(format!("char length must be 1..{MAX_CHAR_CHARS} in {text:?}")),
            },
            ("numeric" | "decimal", Some(a)) => match nums(a)?.as_slice() {
                [p, s] if (1..=38).contains(p) && s <= p => ColumnType::Numeric(*p as u8, *s as u8),
                _ => return Err(format!("numeric needs (precision 1..38, scale <= precision) in {text:?}")),
            },
            _ => return Err(format!("unknown column type {text:?}")),
        };
        Ok(ty)
    }

    pub fn is_text(self) -> bool {
        matches!(self, ColumnType::Varchar(_) | ColumnType::Char(_))
    }

    /// The most characters a text value may hold; `None` for `varchar`
    /// without a length (bounded by [`MAX_TEXT_BYTES`] bytes instead) and
    /// for other types.
    pub fn max_chars(self) -> Option<u32> {
        match self {
            ColumnType::Varchar(n) => n,
            ColumnType::Char(n) => Some(n),
            _ => None,
        }
    }
}

/// Redshift's widest VARCHAR, in bytes: also the bound of a `varchar`
/// without a length, on both warehouses.
pub const MAX_TEXT_BYTES: u32 = 65535;
/// The most bytes one UTF-8 character takes.
pub const MAX_BYTES_PER_CHAR: u32 = 4;
/// The longest `varchar(n)` whose n characters always fit Redshift's bytes.
pub const MAX_VARCHAR_CHARS: u32 = MAX_TEXT_BYTES / MAX_BYTES_PER_CHAR;
/// The longest `char(n)`, as in the source databases DMS reads.
pub const MAX_CHAR_CHARS: u32 = 4096;

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::SmallInt => f.write_str("smallint"),
            ColumnType::Integer => f.write_str("integer"),
            ColumnType::BigInt => f.write_str("bigint"),
            ColumnType::Real => f.write_str("real"),
            ColumnType::Double => f.write_str("double precision"),
            ColumnType::Boolean => f.write_str("boolean"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Timestamp => f.write_str("timestamp"),
            ColumnType::Varchar(None) => f.write_str("varchar"),
            ColumnType::Varchar(Some(n)) => write!(f, "varchar({n})"),
            ColumnType::Char(n) => write!(f, "char({n})"),
            ColumnType::Numeric(p, s) => write!(f, "numeric({p},{s})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: Ident,
    pub ty: ColumnType,
}

/// One replicated table, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableConfig {
    /// Source schema: the DMS path segment `full/<schema>/<name>/`.
    pub schema: Ident,
    pub name: Ident,
    pub kind: TableKind,
    pub mode: TableMode,
    /// Key columns; empty only for append tables without a key.
    pub key: Vec<Ident>,
    /// The source table's columns, in order (without the DMS-added ones).
    pub columns: Vec<Column>,
    /// Commit timestamp column DMS adds (transfer time in full-load files):
    /// `dms.timestamp_column_name` unless the table names it.
    pub commit_ts_column: Ident,
    /// Change-sequence column DMS adds to CDC rows, if configured.
    pub sequence_column: Option<Ident>,
    /// How the sequence values compare; meaningful with `sequence_column`.
    pub sequence_type: SequenceType,
    /// How long deleted keys are remembered, so a late older change cannot
    /// bring them back; also how far back late files are looked for.
    #[serde(with = "duration_secs")]
    pub lateness_window: Duration,
    /// What a column the files carry and the config lacks does
    /// (docs/table-lifecycle.md, "Schema changes").
    pub on_schema_change: SchemaChangePolicy,
}

/// `on_schema_change`: what the load does when DMS's files stop matching the
/// configured columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaChangePolicy {
    /// A new column is added to the target (NULL in older rows) and recorded;
    /// a column the files no longer carry loads as NULL.
    #[default]
    AddColumns,
    /// Any difference fails the table's load, naming the file and the column.
    Fail,
}

/// How change-sequence values are stored and compared (docs/cdc-contract.md, rule 2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SequenceType {
    /// Non-negative whole numbers of up to 38 digits, as DMS's
    /// `AR_H_CHANGE_SEQ` (35 digits): stored as DECIMAL(38,0) and compared as
    /// numbers, which is exact whatever the digit count and far cheaper to
    /// sort, compare and store than the text.
    #[default]
    Number,
    /// Any text, compared as text (byte order).
    Text,
}

/// The longest text change sequence (`sequence_type = "text"`).
pub const SEQUENCE_TEXT_CHARS: u32 = 64;

impl SequenceType {
    /// The type of the sequence columns the pipeline stores.
    pub fn column_type(self) -> ColumnType {
        match self {
            SequenceType::Number => ColumnType::Numeric(38, 0),
            SequenceType::Text => ColumnType::Varchar(Some(SEQUENCE_TEXT_CHARS)),
        }
    }
}

impl TableConfig {
    /// Days before the newest applied day whose applied files the load looks
    /// up one by one (older days come as summaries): the lateness window,
    /// rounded up to whole days.
    pub fn listing_window_days(&self) -> u64 {
        self.lateness_window.as_secs().div_ceil(86_400)
    }

    pub fn column(&self, name: &Ident) -> Option<&Column> {
        self.columns.iter().find(|c| &c.name == name)
    }
    /// `schema.name`, for messages.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// A table derived from the loaded tables by one SELECT, refreshed after the
/// loads (a materialized view on Redshift, a rebuilt table on DuckDB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DerivedTable {
    pub name: Ident,
    pub sql: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelineConfig {
    pub job_id: String,
    /// Where the raw zone's tables are visible in the warehouse
    /// (the external schema over the Glue database on Redshift).
    pub raw_schema: Ident,
    pub target_schema: Ident,
    /// Holds the per-table progress and tombstone tables.
    pub control_schema: Ident,
    /// Upper bound of files one load takes, keeping a statement under the
    /// Data API's 100 KB limit; the rest waits for the next run.
    pub max_files_per_load: usize,
    /// How far past the warehouse's clock a change timestamp may lie. A
    /// later one fails its table's load (docs/cdc-contract.md, rule 8):
    /// tombstones expire relative to the batch's newest commit timestamp,
    /// so one value in year 2999 would otherwise expire every tombstone.
    #[serde(with = "duration_secs")]
    pub future_timestamp_bound: Duration,
    /// How long after an execution started its loops still take new work
    /// (a load batch, a day to unload); the rest waits for the next
    /// execution, so each one reaches Release well inside the state
    /// machine's `TimeoutSeconds` (docs/architecture.md, bounded runs).
    // How a run paces itself, not what setup creates: left out of the
    // fingerprint (as the next two), so changing it runs no setup.
    #[serde(skip)]
    pub work_window: Duration,
    /// At most this many load batches, and days unloaded, per table and
    /// execution: keeps an execution's history well under Step Functions'
    /// 25,000 events whatever the backlog.
    #[serde(skip)]
    pub max_batches_per_run: u32,
    /// How often a claim lists the raw zone whole, finding files that
    /// arrived later than the lateness window; between, each table's
    /// listing starts at its newest applied day minus that window
    /// (docs/dms.md, bounded listings).
    #[serde(skip)]
    pub full_listing_every: Duration,
    /// A DMS reload is rebuilt once no full-load file of the table was
    /// written for this long: DMS writes a reload's files one after the
    /// other, and a rebuild from part of them would lose the rest's rows
    /// (docs/table-lifecycle.md).
    #[serde(skip)]
    pub reload_settle: Duration,
    pub tables: Vec<TableConfig>,
    pub derived: Vec<DerivedTable>,
    pub unload: UnloadConfig,
    /// How DMS writes the raw zone (`[dms]`; DMS's defaults without it).
    pub dms: DmsSettings,
}

/// The export of finished CDC days to the optimized zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnloadConfig {
    /// A UTC day counts as finished this long after its midnight, so DMS's
    /// last files for it have arrived; later files re-export the day.
    #[serde(with = "duration_secs")]
    pub lateness: Duration,
    /// Upper bound of one optimized file (Redshift's MAXFILESIZE). For
    /// Parquet, UNLOAD rounds it down to a multiple of 32 MB, its row-group
    /// size (docs/redshift.md), so the default is already one.
    pub max_file_size_mb: u32,
}

/// UNLOAD's Parquet row group: MAXFILESIZE is rounded down to a multiple of it.
pub const UNLOAD_PARQUET_ROW_GROUP_MB: u32 = 32;
/// UNLOAD's largest MAXFILESIZE (6.2 GB).
pub const UNLOAD_MAX_FILE_SIZE_MB: u32 = 6200;

impl UnloadConfig {
    /// The file size Redshift actually writes to: MAXFILESIZE rounded down
    /// to a multiple of 32 MB.
    pub fn effective_file_size_mb(&self) -> u32 {
        self.max_file_size_mb / UNLOAD_PARQUET_ROW_GROUP_MB * UNLOAD_PARQUET_ROW_GROUP_MB
    }
}

impl Default for UnloadConfig {
    fn default() -> Self {
        Self { lateness: Duration::from_secs(3600), max_file_size_mb: 192 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config {origin}: {message}")]
    Invalid { origin: String, message: String },
}

impl From<ConfigError> for crate::PipelineError {
    fn from(e: ConfigError) -> Self {
        crate::PipelineError::config(e.to_string())
    }
}

impl PipelineConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { origin: origin.to_string(), message };
        let raw: RawConfig = toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_string()))?;
        validate(raw, text).map_err(invalid)
    }

    pub fn table(&self, name: &str) -> Option<&TableConfig> {
        self.tables.iter().find(|t| t.name.as_str() == name)
    }

    pub fn tables_of_kind(&self, kind: TableKind) -> impl Iterator<Item = &TableConfig> {
        self.tables.iter().filter(move |t| t.kind == kind)
    }

    /// Non-fatal findings a person should see (docs/cdc-contract.md).
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .tables
            .iter()
            .filter(|t| t.sequence_column.is_none() && t.mode == TableMode::Upsert)
            .map(|t| {
                format!(
                    "table {}: no sequence_column: changes with equal commit timestamps are ordered by file path only, \
                     and ties inside one file cannot be broken (add a DMS transformation rule for AR_H_CHANGE_SEQ)",
                    t.qualified()
                )
            })
            .collect();
        let effective = self.unload.effective_file_size_mb();
        if effective != self.unload.max_file_size_mb {
            out.push(format!(
                "unload.max_file_size_mb = {}: Redshift's UNLOAD rounds a Parquet MAXFILESIZE down to a multiple of \
                 {UNLOAD_PARQUET_ROW_GROUP_MB} MB, so files stay under {effective} MB",
                self.unload.max_file_size_mb
            ));
        }
        out
    }

    /// A stable digest of everything that shapes the warehouse objects; setup
    /// runs again when it changes.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("config serializes");
        let digest = Sha256::digest(&canonical);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

// ---- raw (as written) form, with spans for line numbers ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    pipeline: RawPipeline,
    #[serde(default)]
    tables: Vec<RawTable>,
    #[serde(default)]
    derived: Vec<RawDerived>,
    unload: Option<RawUnload>,
    dms: Option<RawDmsSettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnload {
    lateness: Option<String>,
    max_file_size_mb: Option<u32>,
}

fn validate_unload(raw: Option<RawUnload>) -> Result<UnloadConfig, String> {
    let mut out = UnloadConfig::default();
    let Some(raw) = raw else { return Ok(out) };
    if let Some(text) = raw.lateness {
        out.lateness = parse_duration(&text).map_err(|e| format!("field `unload.lateness`: {e}"))?;
        if out.lateness > Duration::from_secs(7 * 86_400) {
            return Err("field `unload.lateness`: at most 7d, or days would wait a week to be exported".into());
        }
    }
    if let Some(mb) = raw.max_file_size_mb {
        // UNLOAD takes 5 MB to 6.2 GB, but for Parquet it rounds down to a
        // multiple of 32 MB, so below 32 nothing sensible is left.
        if !(UNLOAD_PARQUET_ROW_GROUP_MB..=UNLOAD_MAX_FILE_SIZE_MB).contains(&mb) {
            return Err(format!(
                "field `unload.max_file_size_mb` must be between {UNLOAD_PARQUET_ROW_GROUP_MB} and \
                 {UNLOAD_MAX_FILE_SIZE_MB}: Redshift's UNLOAD rounds a Parquet MAXFILESIZE down to a multiple of \
                 {UNLOAD_PARQUET_ROW_GROUP_MB} MB"
            ));
        }
        out.max_file_size_mb = mb;
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    job_id: String,
    raw_schema: Ident,
    target_schema: Ident,
    #[serde(default = "default_control_schema")]
    control_schema: Ident,
    #[serde(default = "default_max_files")]
    max_files_per_load: usize,
    future_timestamp_bound: Option<String>,
    work_window: Option<String>,
    #[serde(default = "default_max_batches")]
    max_batches_per_run: u32,
    full_listing_every: Option<String>,
    reload_settle: Option<String>,
}

/// The default `pipeline.reload_settle`.
pub const DEFAULT_RELOAD_SETTLE: Duration = Duration::from_secs(10 * 60);

/// The default `pipeline.full_listing_every`.
pub const DEFAULT_FULL_LISTING_EVERY: Duration = Duration::from_secs(6 * 3600);

fn default_max_batches() -> u32 {
    20
}
/// The default `pipeline.work_window`: 35 of the state machine's 50
/// minutes (`TimeoutSeconds` 3000), leaving 15 for the statements started
/// last, the derived tables and the release.
pub const DEFAULT_WORK_WINDOW: Duration = Duration::from_secs(35 * 60);
/// The longest `pipeline.work_window`: 10 minutes short of the timeout.
pub const MAX_WORK_WINDOW: Duration = Duration::from_secs(40 * 60);

fn default_control_schema() -> Ident {
    Ident::new("cdc_control").expect("valid")
}
fn default_max_files() -> usize {
    500
}
/// The default `pipeline.future_timestamp_bound`: a day covers any clock
/// skew between the source database and the warehouse.
pub const DEFAULT_FUTURE_TIMESTAMP_BOUND: Duration = Duration::from_secs(86_400);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    schema: Ident,
    name: Spanned<Ident>,
    kind: TableKind,
    mode: TableMode,
    #[serde(default)]
    key: Vec<Ident>,
    columns: Vec<RawColumn>,
    commit_ts_column: Option<Ident>,
    sequence_column: Option<Ident>,
    sequence_type: Option<SequenceType>,
    lateness_window: String,
    on_schema_change: Option<SchemaChangePolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: Ident,
    #[serde(rename = "type")]
    ty: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDerived {
    name: Spanned<Ident>,
    sql: String,
}

/// Longest table name: leaves room for the `__progress`/`__tombstones` suffixes
/// within the 127-byte identifier limit.
const MAX_TABLE_NAME: usize = 110;

fn validate(raw: RawConfig, text: &str) -> Result<PipelineConfig, String> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    if raw.pipeline.job_id.trim().is_empty() {
        return Err("field `pipeline.job_id` must not be empty".into());
    }
    if !(1..=5000).contains(&raw.pipeline.max_files_per_load) {
        return Err("field `pipeline.max_files_per_load` must be between 1 and 5000".into());
    }
    if raw.tables.is_empty() {
        return Err("no [[tables]]: the pipeline needs at least one table".into());
    }
    let p = &raw.pipeline;
    let future_timestamp_bound =
        optional_duration(&p.future_timestamp_bound, "future_timestamp_bound", DEFAULT_FUTURE_TIMESTAMP_BOUND)?;
    let work_window = optional_duration(&p.work_window, "work_window", DEFAULT_WORK_WINDOW)?;
    if !(Duration::from_secs(60)..=MAX_WORK_WINDOW).contains(&work_window) {
        return Err(format!(
            "field `pipeline.work_window` must be between 1 minute and {} minutes (the state machine times out at 50)",
            MAX_WORK_WINDOW.as_secs() / 60
        ));
    }
    if !(1..=100).contains(&raw.pipeline.max_batches_per_run) {
        return Err("field `pipeline.max_batches_per_run` must be between 1 and 100".into());
    }
    let full_listing_every =
        optional_duration(&p.full_listing_every, "full_listing_every", DEFAULT_FULL_LISTING_EVERY)?;
    if !(Duration::from_secs(3600)..=Duration::from_secs(7 * 86_400)).contains(&full_listing_every) {
        return Err("field `pipeline.full_listing_every` must be between 1 hour and 7 days".into());
    }
    let reload_settle = optional_duration(&p.reload_settle, "reload_settle", DEFAULT_RELOAD_SETTLE)?;
    if reload_settle > Duration::from_secs(86_400) {
        return Err("field `pipeline.reload_settle` must be at most 1 day".into());
    }
    let dms = DmsSettings::from_raw(raw.dms.unwrap_or_default())?;
    let mut seen = BTreeSet::new();
    let mut tables = Vec::with_capacity(raw.tables.len());
    for (i, t) in raw.tables.into_iter().enumerate() {
        let line = line_of(t.name.span().start);
        let name = t.name.get_ref().clone();
        let at = format!("line {line}, tables[{i}] ({name})");
        tables.push(validate_table(t, &at, &dms)?);
        if !seen.insert(name.clone()) {
            return Err(format!("{at}: duplicate table `{name}`"));
        }
    }
    let raw_tables: BTreeSet<String> = tables.iter().map(|t: &TableConfig| t.name.to_string()).collect();
    let mut readable = raw_tables.clone();
    let mut derived = Vec::with_capacity(raw.derived.len());
    for (i, d) in raw.derived.into_iter().enumerate() {
        let line = line_of(d.name.span().start);
        let name = d.name.into_inner();
        let at = format!("line {line}, derived[{i}] ({name})");
        if !seen.insert(name.clone()) {
            return Err(format!("{at}: name `{name}` is already used by another table"));
        }
        let sql = d.sql.trim().trim_end_matches(';').trim().to_string();
        let scope = derived::Scope {
            target_schema: raw.pipeline.target_schema.as_str(),
            raw_schema: raw.pipeline.raw_schema.as_str(),
            tables: &readable,
            raw_tables: &raw_tables,
        };
        derived::check_materialized_view(&sql, &scope).map_err(|e| format!("{at}: {e}"))?;
        readable.insert(name.to_string());
        derived.push(DerivedTable { name, sql });
    }
    Ok(PipelineConfig {
        job_id: raw.pipeline.job_id,
        raw_schema: raw.pipeline.raw_schema,
        target_schema: raw.pipeline.target_schema,
        control_schema: raw.pipeline.control_schema,
        max_files_per_load: raw.pipeline.max_files_per_load,
        future_timestamp_bound,
        work_window,
        max_batches_per_run: raw.pipeline.max_batches_per_run,
        full_listing_every,
        reload_settle,
        tables,
        derived,
        unload: validate_unload(raw.unload)?,
        dms,
    })
}

/// A `[pipeline]` duration key (`30s`, `15m`, `36h`, `2d`), its default when absent.
fn optional_duration(text: &Option<String>, key: &str, default: Duration) -> Result<Duration, String> {
    match text {
        None => Ok(default),
        Some(text) => parse_duration(text).map_err(|e| format!("field `pipeline.{key}`: {e}")),
    }
}

fn validate_table(t: RawTable, at: &str, dms: &DmsSettings) -> Result<TableConfig, String> {
    let name = t.name.get_ref().clone();
    // DMS writes one timestamp column, named the same for every table.
    let commit_ts_column = match (t.commit_ts_column, &dms.timestamp_column_name) {
        (Some(c), Some(d)) if &c != d => {
            return Err(format!(
                "{at}: field `commit_ts_column` = `{c}` differs from `dms.timestamp_column_name` = `{d}`, the one \
                 DMS writes"
            ));
        }
        (Some(c), _) => c,
        (None, Some(d)) => d.clone(),
        (None, None) => {
            return Err(format!(
                "{at}: field `commit_ts_column` (or `dms.timestamp_column_name` for every table) names DMS's \
                 timestamp column"
            ));
        }
    };
    if name.as_str().len() > MAX_TABLE_NAME {
        return Err(format!("{at}: field `name` is longer than {MAX_TABLE_NAME} characters"));
    }
    let mut columns = Vec::with_capacity(t.columns.len());
    let mut names = BTreeSet::new();
    for (j, c) in t.columns.into_iter().enumerate() {
        let ty = ColumnType::parse(&c.ty).map_err(|e| format!("{at}: field `columns[{j}].type`: {e}"))?;
        if !names.insert(c.name.clone()) {
            return Err(format!("{at}: field `columns[{j}]`: duplicate column `{}`", c.name));
        }
        columns.push(Column { name: c.name, ty });
    }
    if columns.is_empty() {
        return Err(format!("{at}: field `columns` must list the table's columns"));
    }
    for c in &columns {
        if c.name.as_str() == OP_COLUMN
            || c.name.as_str().starts_with(RESERVED_PREFIX)
            || c.name == commit_ts_column
            || Some(&c.name) == t.sequence_column.as_ref()
        {
            return Err(format!(
                "{at}: field `columns`: `{}` is added by DMS or the pipeline; do not list it among the table's columns",
                c.name
            ));
        }
    }
    if t.sequence_column.as_ref() == Some(&commit_ts_column) {
        return Err(format!("{at}: fields `sequence_column` and `commit_ts_column` must differ"));
    }
    if t.sequence_type.is_some() && t.sequence_column.is_none() {
        return Err(format!("{at}: field `sequence_type` needs a `sequence_column`"));
    }
    match t.mode {
        TableMode::Upsert if t.key.is_empty() => {
            return Err(format!("{at}: field `key`: mode \"upsert\" needs at least one key column"));
        }
        _ => {}
    }
    let mut key_seen = BTreeSet::new();
    for k in &t.key {
        if !names.contains(k) {
            return Err(format!("{at}: field `key`: `{k}` is not one of the table's columns"));
        }
        if !key_seen.insert(k) {
            return Err(format!("{at}: field `key`: `{k}` is listed twice"));
        }
    }
    let lateness_window =
        parse_duration(&t.lateness_window).map_err(|e| format!("{at}: field `lateness_window`: {e}"))?;
    Ok(TableConfig {
        schema: t.schema,
        name,
        kind: t.kind,
        mode: t.mode,
        key: t.key,
        columns,
        commit_ts_column,
        sequence_column: t.sequence_column,
        sequence_type: t.sequence_type.unwrap_or_default(),
        lateness_window,
        on_schema_change: t.on_schema_change.unwrap_or_default(),
    })
}

/// `30s`, `15m`, `36h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{text:?} is not a duration like 30s, 15m, 36h or 7d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("{text:?} is not a duration like 30s, 15m, 36h or 7d")),
    };
    if secs == 0 {
        return Err(format!("{text:?} must be longer than zero"));
    }
    Ok(Duration::from_secs(secs))
}

mod duration_secs {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

mod derived;

#[cfg(test)]
mod tests;
