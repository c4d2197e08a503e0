//! `raw_full_<table>` and `raw_cdc_<table>`: the DMS files as Spectrum reads
//! them, made and kept by the run instead of a crawler.
//!
//! Per run: one paginated GetTables for the database's `raw_*` tables, the
//! footer of each table's newest file (a new table takes its columns from
//! it; an existing table is checked against it), and per CDC table one
//! paginated GetPartitions; creation calls only for what is missing. An
//! idle run costs those reads (a few dozen requests, no crawler) and writes
//! nothing.
//!
//! A new table's columns are the newest file's, in file order, lower-case
//! (as a crawler names them): the DMS columns (`Op`, the commit timestamp,
//! the sequence) with the file's types, the table's columns with the
//! config's type where Spectrum reads the file's type as it (see
//! `table_def`). Its location is the table's S3 folder; where the layout
//! gives each day a folder, a CDC table is partitioned by `partition_0`, the
//! day (`YYYYMMDD`), each partition at its day's folder, as the seed's
//! crawler made it. Other layouts (no date folders, month folders) have no
//! folder per day, and a partition's location is one folder, so their CDC
//! table is not partitioned (docs/dms.md). Tables without files are not
//! created: the local views are not either, and there is nothing to type
//! them from.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_glue::Client;
use aws_sdk_glue::types::{PartitionInput, Table};
use futures::StreamExt;

use cdc_core::dms::Layout;
use cdc_core::ports::{
    FileColumn, FileKind, RawCatalog, RawCatalogSync, RawFile, RawListing, RawTableProblem, RawZone, raw_table_name,
};
use cdc_core::sql::setup::ExternalSchema;
use cdc_core::{ErrorKind, PipelineConfig, PipelineError, SchemaChangePolicy, TableConfig};

use super::Glue;
use super::table_def::{self, GlueColumn, folder};
use crate::s3_location::S3Location;
use crate::s3_raw_zone::{SCHEMA_READS_IN_FLIGHT, day_location, table_location};
use crate::sdk_error::to_pipeline_error;

/// The partition key of a CDC table: the day folder, named as crawlers name it.
pub const PARTITION_KEY: &str = "partition_0";
/// GetTables' pattern; names are checked exactly afterwards.
const RAW_TABLES: &str = "raw_.*";

/// The raw zone's catalog in a Glue database, for a raw zone in S3.
pub struct GlueRawCatalog {
    glue: Glue,
    raw: S3Location,
    spectrum_role: Option<String>,
}

impl GlueRawCatalog {
    /// `raw_location`: the raw zone's bucket and prefix (`S3RawZone::location`).
    pub fn new(client: Client, database: &str, raw_location: S3Location) -> Self {
        Self { glue: Glue { client, database: database.to_string() }, raw: raw_location, spectrum_role: None }
    }

    /// The role Redshift Spectrum reads this catalog and the raw files with
    /// (a role ARN attached to the cluster or workgroup); without one, the
    /// cluster's default role.
    pub fn with_spectrum_role(mut self, role: Option<&str>) -> Self {
        self.spectrum_role = role.map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
        self
    }

    /// The database's raw tables, by name.
    async fn raw_tables(&self) -> Result<HashMap<String, Table>, PipelineError> {
        let context = format!("Glue GetTables in database {}", self.glue.database);
        let mut pages = self
            .glue
            .client
            .get_tables()
            .database_name(&self.glue.database)
            .expression(RAW_TABLES)
            .into_paginator()
            .send();
        let mut out = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| to_pipeline_error(&e, &context))?;
            for table in page.table_list() {
                let name = table.name().to_ascii_lowercase();
                if name.starts_with("raw_full_") || name.starts_with("raw_cdc_") {
                    out.insert(name, table.clone());
                }
            }
        }
        Ok(out)
    }

    fn qualified(&self, name: &str) -> String {
        format!("{}.{name}", self.glue.database)
    }

    /// Location and partition key of an existing table.
    fn check_shape(
        &self,
        cfg: &PipelineConfig,
        t: &TableConfig,
        kind: FileKind,
        table: &Table,
    ) -> Result<(), PipelineError> {
        let name = self.qualified(table.name());
        let expected = table_location(&self.raw, cfg, t, kind);
        match table.storage_descriptor().and_then(|sd| sd.location()).filter(|l| !l.trim().is_empty()) {
            None => {
                return Err(PipelineError::config(format!(
                    "Glue table {name} has no location; the raw files of {} are under {expected}: set it, or drop the table so the pipeline recreates it",
                    t.qualified()
                )));
            }
            Some(l) if folder(l) != folder(&expected) => {
                return Err(PipelineError::config(format!(
                    "Glue table {name} reads {l}, but the raw files of {} are under {expected}",
                    t.qualified()
                )));
            }
            Some(_) => {}
        }
        let keys = table_def::partition_keys_of(table);
        let want: &[&str] = if partitioned(cfg, kind) { &[PARTITION_KEY] } else { &[] };
        if keys != want {
            return Err(PipelineError::config(format!(
                "Glue table {name} is partitioned by {keys:?}, the pipeline registers {want:?}"
            )));
        }
        Ok(())
    }

    /// Text that Spectrum would null or truncate without an error: a width
    /// on a configured text column, or no `surplus_char_handling = FAIL`
    /// (tables made by an older release, or by hand).
    fn check_text_handling(&self, t: &TableConfig, table: &Table) -> Result<(), PipelineError> {
        let name = self.qualified(table.name());
        let fix = "drop the table so the pipeline recreates it (its partitions are registered again on the next run)";
        let widths: Vec<String> = table_def::columns_of(table)
            .into_iter()
            .filter(|g| t.columns.iter().any(|c| c.ty.is_text() && c.name.as_str() == g.name) && g.ty != "string")
            .map(|g| format!("`{}` {}", g.name, g.ty))
            .collect();
        if !widths.is_empty() {
            return Err(PipelineError::config(format!(
                "Glue table {name} declares text columns with a width ({}): Spectrum counts it in bytes and sets \
                 longer values to NULL, so multibyte text would be lost; the pipeline declares text as string; {fix}",
                widths.join(", ")
            )));
        }
        if !table_def::fails_on_surplus_chars(table) {
            return Err(PipelineError::config(format!(
                "Glue table {name} lacks the table property {}={}: Spectrum would set over-long text to NULL \
                 without an error; {fix}",
                table_def::SURPLUS_CHAR_HANDLING,
                table_def::SURPLUS_CHAR_HANDLING_FAIL
            )));
        }
        Ok(())
    }

    /// The table's columns against a file's: the same names, each read as its
    /// type. Under `on_schema_change = "add_columns"` the table may have
    /// columns the file lacks (dropped at the source: Spectrum reads NULL).
    fn check_columns(
        &self,
        t: &TableConfig,
        table: &Table,
        file: &RawFile,
        schema: &[FileColumn],
    ) -> Result<(), PipelineError> {
        let catalog = table_def::columns_of(table);
        let mut differences = Vec::new();
        for c in schema {
            match catalog.iter().find(|g| g.name.eq_ignore_ascii_case(&c.name)) {
                None => differences.push(format!("column `{}` is not in the table", c.name)),
                Some(g) if !table_def::hive_reads(&g.ty, &c.ty) => {
                    differences.push(format!("column `{}` is {:?} in the file, {} in the table", c.name, c.ty, g.ty))
                }
                Some(_) => {}
            }
        }
        let dropped_allowed = t.on_schema_change == SchemaChangePolicy::AddColumns;
        for g in catalog.iter().filter(|g| !schema.iter().any(|c| c.name.eq_ignore_ascii_case(&g.name))) {
            if !dropped_allowed {
                differences.push(format!("column `{}` is not in the file", g.name));
            }
        }
        if differences.is_empty() {
            return Ok(());
        }
        Err(PipelineError::data(format!(
            "file {} does not match Glue table {}: {}; align the table (or drop it so the pipeline recreates it from the newest file)",
            file.path,
            self.qualified(table.name()),
            differences.join("; ")
        )))
    }

    /// A new table's columns from its newest file (see the module doc); under
    /// `add_columns`, then the configured columns that file lacks (dropped at
    /// the source, still read from older files).
    fn new_columns(t: &TableConfig, file: &RawFile, schema: &[FileColumn]) -> Result<Vec<GlueColumn>, PipelineError> {
        let mut columns = Self::file_columns(t, file, schema)?;
        if t.on_schema_change == SchemaChangePolicy::AddColumns {
            for c in &t.columns {
                if !columns.iter().any(|g| g.name.eq_ignore_ascii_case(c.name.as_str())) {
                    columns.push(GlueColumn::new(c.name.as_str(), table_def::hive_type(c.ty)));
                }
            }
        }
        Ok(columns)
    }

    /// Appends `new` (a file's columns the table lacks) to the table's, typed
    /// as a new table's would be (one UpdateTable). Returns the names added.
    async fn add_file_columns(
        &self,
        t: &TableConfig,
        kind: FileKind,
        table: &Table,
        file: &RawFile,
        new: &[FileColumn],
        retyped: &[FileColumn],
    ) -> Result<Result<Vec<String>, PipelineError>, PipelineError> {
        let mut columns = table_def::columns_of(table);
        if new.is_empty() && retyped.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let mut names = Vec::new();
        for c in retyped {
            let (Some(g), Some(ty)) =
                (columns.iter_mut().find(|g| g.name.eq_ignore_ascii_case(&c.name)), table_def::file_hive_type(&c.ty))
            else {
                continue;
            };
            g.ty = ty;
            names.push(format!("{} {}", g.name, g.ty));
        }
        let typed = match new {
            [] => Vec::new(),
            new => match Self::file_columns(t, file, new) {
                Ok(typed) => typed,
                Err(finding) => return Ok(Err(finding)),
            },
        };
        names.extend(typed.iter().map(|g| g.name.clone()));
        columns.extend(typed);
        let name = raw_table_name(t, kind);
        let location = table.storage_descriptor().and_then(|sd| sd.location()).unwrap_or_default().to_string();
        let key = partitioned_by(table);
        let description = table.description().unwrap_or_default().to_string();
        let input = table_def::table_input(&name, &columns, &location, key.as_deref(), &description)?;
        self.glue.update_table(input).await?;
        tracing::info!(table = %self.qualified(&name), columns = ?names, file = %file.path, "raw catalog table got new columns");
        Ok(Ok(names))
    }

    /// Whether the file writes a column Glue has as a wider type of the
    /// same family (an integer column written as INT64: the source changed
    /// its type, docs/table-lifecycle.md): the Glue column takes the file's
    /// type, as the newest files are the ones the loads read.
    fn retypes(t: &TableConfig, glue: &[GlueColumn], c: &FileColumn) -> bool {
        let Some(g) = glue.iter().find(|g| g.name.eq_ignore_ascii_case(&c.name)) else { return false };
        let configured = t.columns.iter().find(|k| k.name.as_str().eq_ignore_ascii_case(&c.name));
        !table_def::hive_reads(&g.ty, &c.ty)
            && configured.is_some_and(|k| cdc_core::schema_change::retyped(k.ty, &c.ty).is_some())
            && table_def::file_hive_type(&c.ty).is_some()
    }

    /// A file's columns as Glue columns: the config's type where Spectrum
    /// reads the file's type as it, else the file's own.
    fn file_columns(t: &TableConfig, file: &RawFile, schema: &[FileColumn]) -> Result<Vec<GlueColumn>, PipelineError> {
        if schema.is_empty() {
            return Err(PipelineError::data(format!("file {} has no columns", file.path)));
        }
        schema
            .iter()
            .map(|c| {
                let configured = t.columns.iter().find(|k| k.name.as_str().eq_ignore_ascii_case(&c.name));
                let ty = configured
                    .map(|k| table_def::hive_type(k.ty))
                    .filter(|ty| table_def::hive_reads(ty, &c.ty))
                    .or_else(|| table_def::file_hive_type(&c.ty))
                    .ok_or_else(|| {
                        PipelineError::data(format!(
                            "file {}: column `{}` has the Parquet type {:?}, which Glue cannot name",
                            file.path, c.name, c.ty
                        ))
                    })?;
                Ok(GlueColumn::new(&c.name, ty))
            })
            .collect()
    }

    /// Creates or checks one table from its newest file. Findings about the
    /// table are an `Outcome`; failures of the catalog are errors.
    async fn ensure_one(
        &self,
        cfg: &PipelineConfig,
        t: &TableConfig,
        kind: FileKind,
        existing: Option<&Table>,
        file: &RawFile,
        schema: &[FileColumn],
    ) -> Result<Outcome, PipelineError> {
        let name = raw_table_name(t, kind);
        if let Some(table) = existing {
            if let Err(finding) = self.check_shape(cfg, t, kind, table) {
                return Ok(Outcome::Problem(finding));
            }
            // Under add_columns the file's new columns are appended, once the
            // columns both have agree; otherwise they are a difference.
            let adds = t.on_schema_change == SchemaChangePolicy::AddColumns;
            let glue = table_def::columns_of(table);
            let (new, known): (Vec<FileColumn>, Vec<FileColumn>) = schema
                .iter()
                .cloned()
                .partition(|c| adds && !glue.iter().any(|g| g.name.eq_ignore_ascii_case(&c.name)));
            let (retyped, known): (Vec<FileColumn>, Vec<FileColumn>) =
                known.into_iter().partition(|c| adds && Self::retypes(t, &glue, c));
            let checked = self.check_columns(t, table, file, &known).and_then(|()| self.check_text_handling(t, table));
            if let Err(finding) = checked {
                return Ok(Outcome::Problem(finding));
            }
            let added = match self.add_file_columns(t, kind, table, file, &new, &retyped).await? {
                Ok(names) => names,
                Err(finding) => return Ok(Outcome::Problem(finding)),
            };
            return Ok(if added.is_empty() { Outcome::Unchanged } else { Outcome::Altered(added) });
        }
        let columns = match Self::new_columns(t, file, schema) {
            Ok(columns) => columns,
            Err(finding) => return Ok(Outcome::Problem(finding)),
        };
        let description = format!("DMS {} files of {}, registered by the pipeline", kind_word(kind), t.qualified());
        let key = partitioned(cfg, kind).then_some(PARTITION_KEY);
        let location = table_location(&self.raw, cfg, t, kind);
        let input = table_def::table_input(&name, &columns, &location, key, &description)?;
        Ok(if self.glue.create_table(input).await? { Outcome::Created } else { Outcome::Unchanged })
    }
}

/// An existing table's one partition key, if it has one.
fn partitioned_by(table: &Table) -> Option<String> {
    table.partition_keys().first().map(|k| k.name().to_string())
}

/// Whether the catalog table of one kind is partitioned by day.
fn partitioned(cfg: &PipelineConfig, kind: FileKind) -> bool {
    kind == FileKind::Cdc && Layout::new(&cfg.dms).has_day_folders()
}

enum Outcome {
    Created,
    /// Columns a file brought were appended.
    Altered(Vec<String>),
    Unchanged,
    Problem(PipelineError),
}

fn kind_word(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Full => "full-load",
        FileKind::Cdc => "CDC",
    }
}

#[async_trait]
impl RawCatalog for GlueRawCatalog {
    /// Spectrum's external schema over this Glue database.
    fn external_schema(&self) -> Option<ExternalSchema> {
        Some(ExternalSchema {
            catalog_database: self.glue.database.clone(),
            iam_role: self.spectrum_role.clone().unwrap_or_else(|| "default".into()),
        })
    }

    async fn ensure_tables(
        &self,
        cfg: &PipelineConfig,
        listing: &RawListing,
        raw: &dyn RawZone,
    ) -> Result<RawCatalogSync, PipelineError> {
        let existing = self.raw_tables().await?;
        let mut out = RawCatalogSync::default();
        let mut wanted = Vec::new();
        for t in &cfg.tables {
            for kind in [FileKind::Full, FileKind::Cdc] {
                let table = existing.get(&raw_table_name(t, kind));
                match listing.newest(t.name.as_str(), kind) {
                    Some(file) => wanted.push((t, kind, table, file)),
                    // Nothing to compare columns with; the shape still matters.
                    None => {
                        if let Some(Err(error)) = table.map(|table| self.check_shape(cfg, t, kind, table)) {
                            out.problems.push(RawTableProblem { table: t.name.to_string(), kind, error });
                        }
                    }
                }
            }
        }
        // Footers in parallel, one call per file, so one unreadable file is one table's problem.
        // (Built first, so the stream's type names no closure; see `S3RawZone::file_schemas`.)
        let reads: Vec<_> = wanted
            .into_iter()
            .map(|(t, kind, table, file)| async move {
                (t, kind, table, file, raw.file_schemas(std::slice::from_ref(file)).await)
            })
            .collect();
        let read: Vec<_> = futures::stream::iter(reads).buffered(SCHEMA_READS_IN_FLIGHT).collect().await;
        for (t, kind, table, file, schema) in read {
            let outcome = match schema {
                Ok(mut schemas) => {
                    self.ensure_one(cfg, t, kind, table, file, &schemas.pop().unwrap_or_default()).await?
                }
                // An unreadable newest file is this table's problem (its load names it too).
                Err(e) if e.kind == ErrorKind::DataError => Outcome::Problem(e),
                Err(e) => return Err(e),
            };
            match outcome {
                Outcome::Created => out.created_tables.push(raw_table_name(t, kind)),
                Outcome::Altered(columns) => {
                    out.added_columns.extend(columns.into_iter().map(|c| (raw_table_name(t, kind), c)));
                }
                Outcome::Unchanged => {}
                Outcome::Problem(e) => {
                    let error = e.context(format!("table {}", t.qualified()));
                    out.problems.push(RawTableProblem { table: t.name.to_string(), kind, error });
                }
            }
        }
        Ok(out)
    }

    async fn register_partitions(
        &self,
        cfg: &PipelineConfig,
        t: &TableConfig,
        days: &BTreeSet<String>,
    ) -> Result<Vec<String>, PipelineError> {
        let name = raw_table_name(t, FileKind::Cdc);
        let known = self.glue.partition_values(&name).await?;
        let missing: Vec<&String> = days.iter().filter(|d| !known.contains(*d)).collect();
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let table = self.glue.table(&name).await?.ok_or_else(|| {
            PipelineError::config(format!("Glue table {} does not exist; create it first", self.qualified(&name)))
        })?;
        self.check_shape(cfg, t, FileKind::Cdc, &table)?;
        // A partition repeats its table's storage descriptor (which has a
        // location, as just checked), with its own folder.
        let template = table.storage_descriptor.clone().ok_or_else(|| {
            PipelineError::config(format!("Glue table {} has no storage descriptor", self.qualified(&name)))
        })?;
        let mut inputs: Vec<PartitionInput> = Vec::with_capacity(missing.len());
        for day in &missing {
            let location = day_location(&self.raw, cfg, t, day).ok_or_else(|| {
                PipelineError::config(format!(
                    "table {}: day {day} has no folder of its own in this layout",
                    t.qualified()
                ))
            })?;
            let mut sd = template.clone();
            sd.location = Some(location);
            inputs.push(PartitionInput::builder().values(day.as_str()).storage_descriptor(sd).build());
        }
        let existed = self.glue.create_partitions(&name, inputs).await?;
        Ok(missing.into_iter().filter(|d| !existed.contains(d)).cloned().collect())
    }
}
