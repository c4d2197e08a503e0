//! The raw zone's catalog: the tables the warehouse reads DMS files through
//! (`raw_full_<table>`, `raw_cdc_<table>` with day partitions `partition_0`).
//!
//! The seed let a Glue crawler build them, which takes minutes and runs on
//! its own clock: a 5-minute schedule either waited for it or read a day
//! folder the catalog did not know yet. Here the run registers what it is
//! about to read, at its start, from the listing it makes anyway for its
//! progress hints ([`RawListing`]): missing tables are created and new day
//! folders become partitions, so a file listed is a file the warehouse sees.
//!
//! One port call per run ([`RawCatalog::sync`]) with the whole listing, so an
//! adapter can batch (one table listing, one partition listing per table)
//! and an idle run costs a handful of catalog reads. Findings about one
//! table (a table without a location, files whose columns differ from the
//! catalog's) are reported per table, so the other tables still run
//! (docs/cdc-contract.md, rule 8); failures of the catalog itself are errors.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use super::raw_zone::{FileKind, RawFile, RawZone};
use crate::config::{PipelineConfig, TableConfig};
use crate::dms::{Layout, ListingScope, UnexplainedObject, list_table_within};
use crate::error::PipelineError;
use crate::sql::setup::ExternalSchema;

/// The raw zone's files per configured table, as one run lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawListing {
    /// Per table name: its full-load files, then its CDC files, each sorted by path.
    pub tables: BTreeMap<String, Vec<RawFile>>,
    /// Per table name: the objects its layout does not explain, if any.
    pub unexplained: BTreeMap<String, Vec<UnexplainedObject>>,
}

impl RawListing {
    /// Lists every configured table's files, both kinds.
    pub async fn list(cfg: &PipelineConfig, raw: &dyn RawZone) -> Result<Self, PipelineError> {
        Self::list_within(cfg, raw, &BTreeMap::new()).await
    }

    /// [`RawListing::list`], each table within its scope (whole without one).
    pub async fn list_within(
        cfg: &PipelineConfig,
        raw: &dyn RawZone,
        scopes: &BTreeMap<String, ListingScope>,
    ) -> Result<Self, PipelineError> {
        let mut out = Self::default();
        for t in &cfg.tables {
            let at = |e: PipelineError| e.context(format!("table {}", t.qualified()));
            let scope = scopes.get(t.name.as_str()).copied().unwrap_or(ListingScope::Full);
            let listing = list_table_within(cfg, t, raw, scope).await.map_err(at)?;
            out.tables.insert(t.name.to_string(), listing.files);
            if !listing.unexplained.is_empty() {
                out.unexplained.insert(t.name.to_string(), listing.unexplained);
            }
        }
        Ok(out)
    }

    /// The table's files of one kind, sorted by path.
    pub fn files(&self, table: &str, kind: FileKind) -> impl Iterator<Item = &RawFile> {
        self.tables.get(table).into_iter().flatten().filter(move |f| f.kind == kind)
    }

    /// The newest file of one kind: DMS names files by time, so the last by path.
    pub fn newest(&self, table: &str, kind: FileKind) -> Option<&RawFile> {
        self.files(table, kind).max_by(|a, b| a.path.cmp(&b.path))
    }

    /// The table's CDC days (`YYYYMMDD`).
    pub fn days(&self, table: &str) -> BTreeSet<String> {
        self.files(table, FileKind::Cdc).filter_map(|f| f.partition.clone()).collect()
    }
}

/// The catalog's name of a table's raw files (`raw_full_<t>`, `raw_cdc_<t>`),
/// without the schema: [`crate::sql::names`] qualifies the same names.
pub fn raw_table_name(t: &TableConfig, kind: FileKind) -> String {
    match kind {
        FileKind::Full => format!("raw_full_{}", t.name),
        FileKind::Cdc => format!("raw_cdc_{}", t.name),
    }
}

/// One table's finding: its catalog entry cannot be used as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTableProblem {
    /// The configured table's name.
    pub table: String,
    /// Which of its two catalog tables.
    pub kind: FileKind,
    pub error: PipelineError,
}

/// What a sync did and found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawCatalogSync {
    /// Catalog tables created by this sync.
    pub created_tables: Vec<String>,
    /// `(catalog table, day)` partitions registered by this sync.
    pub registered_partitions: Vec<(String, String)>,
    /// `(catalog table, column)`: columns a newest file brought, appended
    /// under `on_schema_change = "add_columns"`.
    pub added_columns: Vec<(String, String)>,
    /// Tables whose catalog entry is unusable or disagrees with their files;
    /// their loads are expected to fail naming the same cause.
    pub problems: Vec<RawTableProblem>,
}

impl RawCatalogSync {
    /// The finding about one of a table's catalog tables, if any.
    pub fn problem_of(&self, table: &str, kind: FileKind) -> Option<&PipelineError> {
        self.problems.iter().find(|p| p.table == table && p.kind == kind).map(|p| &p.error)
    }
}

/// The raw zone's catalog: the Glue database on AWS; nothing locally, where
/// the warehouse's views read the folders directly.
#[async_trait]
pub trait RawCatalog: Send + Sync {
    /// How the warehouse reaches this catalog, which setup creates first
    /// (Spectrum's external schema); `None` when the warehouse needs nothing.
    fn external_schema(&self) -> Option<ExternalSchema> {
        None
    }

    /// Creates the catalog tables of the listed files that are missing
    /// (columns from the config, typed from the newest file where the config
    /// is silent, as DMS's own columns are) and checks the existing ones
    /// (location, partition key, columns against the newest file); under
    /// `on_schema_change = "add_columns"` the newest file's new columns are
    /// appended. Tables without files are left alone. `raw` reads the files'
    /// schemas.
    async fn ensure_tables(
        &self,
        cfg: &PipelineConfig,
        listing: &RawListing,
        raw: &dyn RawZone,
    ) -> Result<RawCatalogSync, PipelineError>;

    /// Registers the table's CDC days that are not partitions yet (each at
    /// its day folder, [`Layout::day_folder`]) and returns those it added; a
    /// day registered twice (a concurrent run) is fine. Called only for
    /// layouts whose days have folders.
    async fn register_partitions(
        &self,
        cfg: &PipelineConfig,
        table: &TableConfig,
        days: &BTreeSet<String>,
    ) -> Result<Vec<String>, PipelineError>;

    /// What a run calls at its start: [`Self::ensure_tables`], then the day
    /// partitions of every table whose CDC table drew no finding (one that
    /// did fails its load anyway, naming the finding).
    async fn sync(
        &self,
        cfg: &PipelineConfig,
        listing: &RawListing,
        raw: &dyn RawZone,
    ) -> Result<RawCatalogSync, PipelineError> {
        let mut out = self.ensure_tables(cfg, listing, raw).await?;
        // Days are partitions only where they have folders of their own.
        if !Layout::new(&cfg.dms).has_day_folders() {
            return Ok(out);
        }
        for t in &cfg.tables {
            let days = listing.days(t.name.as_str());
            if days.is_empty() || out.problem_of(t.name.as_str(), FileKind::Cdc).is_some() {
                continue;
            }
            let added = self.register_partitions(cfg, t, &days).await?;
            let name = raw_table_name(t, FileKind::Cdc);
            out.registered_partitions.extend(added.into_iter().map(|d| (name.clone(), d)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::names;

    fn cfg() -> PipelineConfig {
        PipelineConfig::parse(include_str!("../../../../config/pipeline.toml"), "demo").unwrap()
    }

    fn file(path: &str, kind: FileKind, day: Option<&str>) -> RawFile {
        RawFile {
            path: path.into(),
            kind,
            partition: day.map(str::to_string),
            size: 1,
            modified: chrono::DateTime::UNIX_EPOCH,
            version: String::new(),
        }
    }

    #[test]
    fn catalog_names_are_the_warehouse_names_without_the_schema() {
        let cfg = cfg();
        let t = cfg.table("pgbench_accounts").unwrap();
        // GIVEN the warehouse's qualified names THEN the catalog's are their table part
        assert_eq!(names::raw_full(&cfg, t), format!("\"cdc_database\".\"{}\"", raw_table_name(t, FileKind::Full)));
        assert_eq!(names::raw_cdc(&cfg, t), format!("\"cdc_database\".\"{}\"", raw_table_name(t, FileKind::Cdc)));
    }

    #[test]
    fn a_listing_gives_days_and_newest_files_per_kind() {
        let mut listing = RawListing::default();
        listing.tables.insert(
            "t".into(),
            vec![
                file("s3://b/full/public/t/LOAD00000001.parquet", FileKind::Full, None),
                file("s3://b/full/public/t/LOAD00000002.parquet", FileKind::Full, None),
                file("s3://b/cdc/public/t/20261101/a.parquet", FileKind::Cdc, Some("20261101")),
                file("s3://b/cdc/public/t/20261102/b.parquet", FileKind::Cdc, Some("20261102")),
                file("s3://b/cdc/public/t/20261102/a.parquet", FileKind::Cdc, Some("20261102")),
            ],
        );
        assert_eq!(listing.days("t"), BTreeSet::from(["20261101".to_string(), "20261102".to_string()]));
        assert_eq!(listing.newest("t", FileKind::Full).unwrap().path, "s3://b/full/public/t/LOAD00000002.parquet");
        assert_eq!(listing.newest("t", FileKind::Cdc).unwrap().path, "s3://b/cdc/public/t/20261102/b.parquet");
        // AND an unknown table has nothing
        assert!(listing.days("u").is_empty() && listing.newest("u", FileKind::Cdc).is_none());
    }

    /// Records the partition registrations; finds a problem with one table's CDC table.
    struct Recording {
        broken: &'static str,
        registered: std::sync::Mutex<Vec<(String, Vec<String>)>>,
    }

    #[async_trait]
    impl RawCatalog for Recording {
        async fn ensure_tables(
            &self,
            _cfg: &PipelineConfig,
            _listing: &RawListing,
            _raw: &dyn RawZone,
        ) -> Result<RawCatalogSync, PipelineError> {
            let error = PipelineError::config("Glue table x has no location");
            let problem = RawTableProblem { table: self.broken.into(), kind: FileKind::Cdc, error };
            Ok(RawCatalogSync { problems: vec![problem], ..Default::default() })
        }

        async fn register_partitions(
            &self,
            _cfg: &PipelineConfig,
            t: &TableConfig,
            days: &BTreeSet<String>,
        ) -> Result<Vec<String>, PipelineError> {
            let days: Vec<String> = days.iter().cloned().collect();
            self.registered.lock().unwrap().push((t.name.to_string(), days.clone()));
            Ok(days)
        }
    }

    struct NoZone;

    #[async_trait]
    impl RawZone for NoZone {
        async fn list_objects(&self, _: &str, _: Option<&str>) -> Result<Vec<super::super::RawObject>, PipelineError> {
            Ok(Vec::new())
        }
        async fn file_schemas(&self, _: &[RawFile]) -> Result<Vec<Vec<super::super::FileColumn>>, PipelineError> {
            Ok(Vec::new())
        }
        fn describe_prefix(&self, _: &str) -> String {
            String::new()
        }
    }

    #[tokio::test]
    async fn sync_registers_the_days_of_every_table_whose_cdc_table_drew_no_finding() {
        // GIVEN CDC days for accounts and tellers, history with full-load files only,
        // AND a catalog that finds tellers' CDC table unusable
        let cfg = cfg();
        let mut listing = RawListing::default();
        let day = |t: &str, d: &str| file(&format!("s3://b/cdc/public/{t}/{d}/x.parquet"), FileKind::Cdc, Some(d));
        listing.tables.insert("pgbench_accounts".into(), vec![day("pgbench_accounts", "20261101")]);
        listing.tables.insert("pgbench_tellers".into(), vec![day("pgbench_tellers", "20261101")]);
        listing
            .tables
            .insert("pgbench_history".into(), vec![file("s3://b/full/public/h/LOAD1.parquet", FileKind::Full, None)]);
        let catalog = Recording { broken: "pgbench_tellers", registered: Default::default() };
        // WHEN the run syncs
        let out = catalog.sync(&cfg, &listing, &NoZone).await.unwrap();
        // THEN only accounts' days were registered, and the finding is reported
        assert_eq!(
            *catalog.registered.lock().unwrap(),
            vec![("pgbench_accounts".to_string(), vec!["20261101".into()])]
        );
        assert_eq!(out.registered_partitions, vec![("raw_cdc_pgbench_accounts".into(), "20261101".into())]);
        assert!(out.problem_of("pgbench_tellers", FileKind::Cdc).is_some());
        assert!(out.problem_of("pgbench_tellers", FileKind::Full).is_none());
    }
}
