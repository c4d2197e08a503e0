//! Setup (idempotent object creation), derived-table refresh and the progress
//! lookup a load plans from.

use super::{Dialect, StatementBatch, names};
use crate::config::{DerivedTable, FULL_LOAD_FLAG_COLUMN, PipelineConfig, TableConfig, TableMode};

/// Where Redshift reads the raw zone's tables from: Spectrum's external
/// schema over a Glue database. Locally the raw schema's views are made by
/// the DuckDB warehouse itself, so there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSchema {
    /// The Glue database holding `raw_full_*` and `raw_cdc_*`.
    pub catalog_database: String,
    /// The role Spectrum reads S3 and Glue with: a role ARN (or a
    /// comma-separated chain of them), or `default` for the cluster's default role.
    pub iam_role: String,
}

impl ExternalSchema {
    /// `CREATE EXTERNAL SCHEMA IF NOT EXISTS`: an existing schema is kept as
    /// it is, so pointing the pipeline at another Glue database needs the old
    /// schema dropped by hand (it may be shared with other readers).
    pub fn create_statement(&self, cfg: &PipelineConfig) -> String {
        let role = if self.iam_role.eq_ignore_ascii_case("default") {
            "default".to_string()
        } else {
            Dialect::Redshift.literal(&self.iam_role)
        };
        format!(
            "CREATE EXTERNAL SCHEMA IF NOT EXISTS {} FROM DATA CATALOG DATABASE {} IAM_ROLE {role}",
            cfg.raw_schema.quoted(),
            Dialect::Redshift.literal(&self.catalog_database)
        )
    }
}

/// Creates what the loads need, if absent: on Redshift the external schema
/// first (when given), then schemas, target tables, per-table progress and
/// tombstone tables, and on Redshift the assertion procedure and the
/// materialized views. Safe to run again; it never drops data tables.
pub fn setup_batch(cfg: &PipelineConfig, d: Dialect, external: Option<&ExternalSchema>) -> StatementBatch {
    let mut s = Vec::new();
    if let (Dialect::Redshift, Some(ext)) = (d, external) {
        s.push(ext.create_statement(cfg));
    }
    for schema in [&cfg.target_schema, &cfg.control_schema] {
        s.push(format!("CREATE SCHEMA IF NOT EXISTS {}", schema.quoted()));
    }
    if d == Dialect::Redshift {
        s.push(assert_procedure(cfg));
    }
    s.push(super::unload::create_unloaded_days(cfg, d));
    for t in &cfg.tables {
        s.push(create_target(cfg, t, d));
        s.push(create_progress(cfg, t, d));
        if t.mode == TableMode::Upsert {
            s.push(create_tombstones(cfg, t, d));
        }
    }
    if d == Dialect::Redshift {
        for dt in &cfg.derived {
            // A changed SELECT must replace the view; setup runs only when the
            // config fingerprint changed, so this rebuild is rare.
            s.push(format!("DROP MATERIALIZED VIEW IF EXISTS {}", names::derived(cfg, &dt.name)));
            s.push(format!("CREATE MATERIALIZED VIEW {} AS {}", names::derived(cfg, &dt.name), dt.sql));
        }
    }
    StatementBatch { label: "setup".into(), statements: s }
}

fn create_target(cfg: &PipelineConfig, t: &TableConfig, d: Dialect) -> String {
    let mut cols: Vec<String> =
        t.columns.iter().map(|c| format!("{} {}", c.name.quoted(), d.type_name(c.ty))).collect();
    cols.push(format!("{} TIMESTAMP NOT NULL", t.commit_ts_column.quoted()));
    if let Some(seq) = &t.sequence_column {
        cols.push(format!("{} {}", seq.quoted(), d.text_type(64)));
    }
    cols.push(format!("{FULL_LOAD_FLAG_COLUMN} BOOLEAN NOT NULL"));
    let layout = match (d, t.key.first()) {
        // Co-locate a key's rows so the merge's joins stay on one slice.
        (Dialect::Redshift, Some(first)) => {
            let keys: Vec<String> = t.key.iter().map(|k| k.quoted()).collect();
            format!(" DISTKEY({}) SORTKEY({})", first.quoted(), keys.join(", "))
        }
        (Dialect::Redshift, None) => format!(" DISTSTYLE AUTO SORTKEY({})", t.commit_ts_column.quoted()),
        (Dialect::DuckDb, _) => String::new(),
    };
    format!("CREATE TABLE IF NOT EXISTS {} ({}){layout}", names::target(cfg, t), cols.join(", "))
}

fn create_progress(cfg: &PipelineConfig, t: &TableConfig, d: Dialect) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (file {} NOT NULL, kind CHAR(1) NOT NULL, partition_0 {}, \
         row_count BIGINT NOT NULL, max_commit_ts TIMESTAMP, loaded_at TIMESTAMP NOT NULL)",
        names::progress(cfg, t),
        d.text_type(1024),
        d.text_type(8)
    )
}

fn create_tombstones(cfg: &PipelineConfig, t: &TableConfig, d: Dialect) -> String {
    let mut cols: Vec<String> = t
        .key
        .iter()
        .map(|k| {
            let ty = t.column(k).expect("validated key column").ty;
            format!("{} {} NOT NULL", k.quoted(), d.type_name(ty))
        })
        .collect();
    cols.push("_cdc_ts TIMESTAMP NOT NULL".into());
    cols.push(format!("_cdc_seq {}", d.text_type(64)));
    format!("CREATE TABLE IF NOT EXISTS {} ({})", names::tombstones(cfg, t), cols.join(", "))
}

/// Redshift has no `error()`: the load's checks call this procedure, which
/// runs a query returning offending file names and raises on the first one.
fn assert_procedure(cfg: &PipelineConfig) -> String {
    format!(
        "CREATE OR REPLACE PROCEDURE {}.cdc_assert_empty(query VARCHAR(65535), message VARCHAR(1024)) AS $$\n\
         DECLARE\n  bad_file VARCHAR(1024);\n\
         BEGIN\n  EXECUTE query INTO bad_file;\n  IF bad_file IS NOT NULL THEN\n    RAISE EXCEPTION '%', message || bad_file;\n  END IF;\n\
         END;\n$$ LANGUAGE plpgsql",
        cfg.control_schema.quoted()
    )
}

/// A derived table's refresh, its own transaction (DESIGN.md 3.7).
pub fn refresh_derived(cfg: &PipelineConfig, dt: &DerivedTable, d: Dialect) -> StatementBatch {
    let name = names::derived(cfg, &dt.name);
    let statement = match d {
        Dialect::DuckDb => format!("CREATE OR REPLACE TABLE {name} AS {}", dt.sql),
        Dialect::Redshift => format!("REFRESH MATERIALIZED VIEW {name}"),
    };
    StatementBatch { label: format!("refresh {}", dt.name), statements: vec![statement] }
}

/// Which files the table has applied in the day folders a load still looks
/// at: every full-load file, and CDC files from `lateness window` days before
/// the newest applied day folder on. Columns: `file`, `oldest_partition`
/// (the first day folder to list; NULL when nothing was applied yet).
pub fn applied_files_query(cfg: &PipelineConfig, t: &TableConfig, d: Dialect) -> StatementBatch {
    let progress = names::progress(cfg, t);
    let days = t.lateness_window.as_secs().div_ceil(86_400);
    let oldest = d.partition_minus_days("MAX(partition_0)", days);
    let statement = format!(
        "SELECT p.file, w.oldest_partition FROM (SELECT {oldest} AS oldest_partition FROM {progress} WHERE kind = 'C') w \
         LEFT JOIN {progress} p ON p.kind = 'F' OR p.partition_0 >= w.oldest_partition"
    );
    StatementBatch { label: format!("progress of {}", t.qualified()), statements: vec![statement] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PipelineConfig {
        PipelineConfig::parse(include_str!("../../../../config/pipeline.toml"), "demo").unwrap()
    }

    #[test]
    fn the_external_schema_comes_first_on_redshift_only() {
        // GIVEN a Glue database and a role whose text would break out of a literal
        let ext = ExternalSchema { catalog_database: "raw_db".into(), iam_role: "arn:aws:iam::1:role/r'x".into() };
        // WHEN setup is generated for each dialect
        let redshift = setup_batch(&cfg(), Dialect::Redshift, Some(&ext));
        let duckdb = setup_batch(&cfg(), Dialect::DuckDb, Some(&ext));
        // THEN Redshift creates the schema first, quoted; DuckDB (whose views the warehouse makes) never
        assert_eq!(
            redshift.statements[0],
            "CREATE EXTERNAL SCHEMA IF NOT EXISTS \"cdc_database\" FROM DATA CATALOG DATABASE 'raw_db' \
             IAM_ROLE 'arn:aws:iam::1:role/r''x'"
        );
        assert!(duckdb.statements.iter().all(|s| !s.contains("EXTERNAL")));
        // AND without one, Redshift's setup is the rest unchanged
        assert_eq!(setup_batch(&cfg(), Dialect::Redshift, None).statements, redshift.statements[1..]);
    }

    #[test]
    fn the_cluster_s_default_role_is_a_keyword() {
        let ext = ExternalSchema { catalog_database: "raw_db".into(), iam_role: "DEFAULT".into() };
        assert!(ext.create_statement(&cfg()).ends_with("IAM_ROLE default"));
    }
}
