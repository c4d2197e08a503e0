//! Setup (idempotent object creation), derived-table refresh and the progress
//! lookup a load plans from.

use super::{Dialect, StatementBatch, names};
use crate::config::{DerivedTable, FULL_LOAD_FLAG_COLUMN, PipelineConfig, SequenceType, TableConfig, TableMode};

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

/// Most statements in one setup batch: the Data API's BatchExecuteStatement
/// takes at most 40, so a config with many tables sets up in several batches.
pub const MAX_SETUP_STATEMENTS: usize = 40;

/// Creates what the loads need, if absent: on Redshift the external schema
/// first (when given), then schemas, target tables, per-table progress and
/// tombstone (upsert) or paired-copy (append) tables, and on Redshift the assertion procedure and the
/// materialized views. Safe to run again; it never drops data tables.
/// All of it as one batch; see [`setup_batches`] for what is submitted.
pub fn setup_batch(cfg: &PipelineConfig, d: Dialect, external: Option<&ExternalSchema>) -> StatementBatch {
    StatementBatch { label: "setup".into(), statements: setup_units(cfg, d, external).concat() }
}

/// Setup as submitted: [`setup_batch`]'s statements in order, packed into
/// batches of at most [`MAX_SETUP_STATEMENTS`], each run after the one
/// before. A materialized view's drop and create stay in one batch, so no
/// batch boundary leaves it missing.
pub fn setup_batches(cfg: &PipelineConfig, d: Dialect, external: Option<&ExternalSchema>) -> Vec<StatementBatch> {
    let mut parts: Vec<Vec<String>> = vec![Vec::new()];
    for unit in setup_units(cfg, d, external) {
        let last = parts.last_mut().expect("one part at least");
        if !last.is_empty() && last.len() + unit.len() > MAX_SETUP_STATEMENTS {
            parts.push(unit);
        } else {
            last.extend(unit);
        }
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, statements)| {
            let label = if n == 1 { "setup".to_string() } else { format!("setup part {} of {n}", i + 1) };
            StatementBatch { label, statements }
        })
        .collect()
}

/// Setup's statements in groups that must not be split.
fn setup_units(cfg: &PipelineConfig, d: Dialect, external: Option<&ExternalSchema>) -> Vec<Vec<String>> {
    let mut s: Vec<Vec<String>> = Vec::new();
    if let (Dialect::Redshift, Some(ext)) = (d, external) {
        s.push(vec![ext.create_statement(cfg)]);
    }
    for schema in [&cfg.target_schema, &cfg.control_schema] {
        s.push(vec![format!("CREATE SCHEMA IF NOT EXISTS {}", schema.quoted())]);
    }
    if d == Dialect::Redshift {
        s.push(vec![assert_procedure(cfg)]);
    }
    s.push(vec![super::unload::create_unloaded_days(cfg, d)]);
    for t in &cfg.tables {
        s.push(vec![create_target(cfg, t, d)]);
        s.push(vec![create_progress(cfg, t, d)]);
        s.push(migrate_progress(cfg, t, d));
        s.push(vec![create_columns(cfg, t, d)]);
        match t.mode {
            TableMode::Upsert => s.push(vec![create_tombstones(cfg, t, d)]),
            TableMode::Append => s.push(vec![create_paired(cfg, t, d)]),
        }
        s.extend(check_sequence_types(cfg, t, d).into_iter().map(|c| vec![c]));
    }
    if d == Dialect::Redshift {
        for dt in &cfg.derived {
            // A changed SELECT must replace the view; setup runs only when the
            // config fingerprint changed, so this rebuild is rare.
            s.push(vec![
                format!("DROP MATERIALIZED VIEW IF EXISTS {}", names::derived(cfg, &dt.name)),
                format!("CREATE MATERIALIZED VIEW {} AS {}", names::derived(cfg, &dt.name), dt.sql),
            ]);
        }
    }
    s
}

fn create_target(cfg: &PipelineConfig, t: &TableConfig, d: Dialect) -> String {
    let mut cols: Vec<String> =
        t.columns.iter().map(|c| format!("{} {}", c.name.quoted(), d.type_name(c.ty))).collect();
    cols.push(format!("{} TIMESTAMP NOT NULL", t.commit_ts_column.quoted()));
    if let Some(seq) = &t.sequence_column {
        cols.push(format!("{} {}", seq.quoted(), d.type_name(t.sequence_type.column_type())));
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

/// The columns the files added (`crate::schema_change`): name, type as the
/// config would spell it, order of addition, the file that brought it.
fn create_columns(cfg: &PipelineConfig, t: &TableConfig, d: Dialect) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (column_name {} NOT NULL, column_type {} NOT NULL, change {} NOT NULL, \
         ordinal INTEGER NOT NULL, first_file {} NOT NULL, added_at TIMESTAMP NOT NULL)",
        names::columns(cfg, t),
        d.text_type(127),
        d.text_type(64),
        d.text_type(8),
        d.text_type(1024)
    )
}

/// Longest `version` the progress table keeps (an ETag, or a local file's SHA-256).
pub const VERSION_CHARS: u32 = 128;

/// `size`, `version` and `modified`: what the object was when applied, so a
/// rewritten file is told from an applied one (docs/dms.md).
fn create_progress(cfg: &PipelineConfig, t: &TableConfig, d: Dialect) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (file {} NOT NULL, kind CHAR(1) NOT NULL, partition_0 {}, \
         row_count BIGINT NOT NULL, max_commit_ts TIMESTAMP, loaded_at TIMESTAMP NOT NULL, size BIGINT, version {}, \
         modified TIMESTAMP)",
        names::progress(cfg, t),
        d.text_type(1024),
        d.text_type(8),
        d.text_type(VERSION_CHARS)
    )
}

/// A progress table made by a release before `size` and `version`: DuckDB
/// adds them; Redshift has no `ADD COLUMN IF NOT EXISTS`, so setup fails
/// naming the two statements to run (older rows keep NULLs, which the load
/// plan reads as "not known").
fn migrate_progress(cfg: &PipelineConfig, t: &TableConfig, d: Dialect) -> Vec<String> {
    let progress = names::progress(cfg, t);
    match d {
        Dialect::DuckDb => vec![
            format!("ALTER TABLE {progress} ADD COLUMN IF NOT EXISTS size BIGINT"),
            format!("ALTER TABLE {progress} ADD COLUMN IF NOT EXISTS version {}", d.text_type(VERSION_CHARS)),
            format!("ALTER TABLE {progress} ADD COLUMN IF NOT EXISTS modified TIMESTAMP"),
            // Releases before content digests recorded the modification time
            // as a local file's version; it would fail every replayed file
            // as rewritten, so it becomes "not known".
            format!("UPDATE {progress} SET version = NULL WHERE version LIKE '____-__-__T%Z'"),
        ],
        Dialect::Redshift => {
            let table = format!("{}__progress", t.name);
            let query = format!(
                "SELECT CAST(c.n AS {}) FROM (SELECT COUNT(*) AS n FROM information_schema.columns \
                 WHERE LOWER(table_schema) = LOWER({}) AND LOWER(table_name) = LOWER({}) \
                 AND LOWER(column_name) IN ('size', 'version', 'modified')) c WHERE c.n < 3",
                d.text_type(16),
                d.literal(cfg.control_schema.as_str()),
                d.literal(&table)
            );
            let message = format!(
                "setup: table {}.{table} was created by an older release, without the columns size, version and \
                 modified; run ALTER TABLE {progress} ADD COLUMN size BIGINT; ALTER TABLE {progress} ADD COLUMN \
                 version VARCHAR({VERSION_CHARS}); ALTER TABLE {progress} ADD COLUMN modified TIMESTAMP (those \
                 missing); then run again. Columns found: ",
                cfg.control_schema
            );
            vec![d.assert_empty(&cfg.control_schema.quoted(), &query, &message)]
        }
    }
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
    cols.push(format!("_cdc_seq {}", d.type_name(t.sequence_type.column_type())));
    format!("CREATE TABLE IF NOT EXISTS {} ({})", names::tombstones(cfg, t), cols.join(", "))
}

/// An append table's CDC copies that the full-load window cancelled: the
/// table's columns, the row's fingerprint, commit timestamp and sequence
/// (docs/cdc-contract.md, rule 6; `merge::Plan::append`).
fn create_paired(cfg: &PipelineConfig, t: &TableConfig, d: Dialect) -> String {
    let mut cols: Vec<String> =
        t.columns.iter().map(|c| format!("{} {}", c.name.quoted(), d.type_name(c.ty))).collect();
    cols.push(format!("_cdc_fp {} NOT NULL", d.text_type(32)));
    cols.push("_cdc_ts TIMESTAMP NOT NULL".into());
    cols.push(format!("_cdc_seq {}", d.type_name(t.sequence_type.column_type())));
    format!("CREATE TABLE IF NOT EXISTS {} ({})", names::paired(cfg, t), cols.join(", "))
}

/// Setup creates tables only if they are missing, so a table made before
/// (by an older release, or with another `sequence_type`) may keep its
/// sequence column in the other type. Each check fails setup naming the
/// table, the column and both types, rather than leave every later load to
/// fail on a type mismatch.
fn check_sequence_types(cfg: &PipelineConfig, t: &TableConfig, d: Dialect) -> Vec<String> {
    let Some(seq) = &t.sequence_column else { return Vec::new() };
    let expected = match t.sequence_type {
        SequenceType::Number => {
            "LOWER(data_type) IN ('numeric', 'decimal(38,0)') AND numeric_precision = 38 AND numeric_scale = 0"
        }
        SequenceType::Text => "LOWER(data_type) IN ('character varying', 'varchar')",
    };
    let wanted = format!(
        "sequence_type = \"{}\" ({})",
        match t.sequence_type {
            SequenceType::Number => "number",
            SequenceType::Text => "text",
        },
        d.type_name(t.sequence_type.column_type())
    );
    let mut tables = vec![(cfg.target_schema.as_str().to_string(), t.name.as_str().to_string(), seq.as_str())];
    if t.mode == TableMode::Upsert {
        tables.push((cfg.control_schema.as_str().to_string(), format!("{}__tombstones", t.name), "_cdc_seq"));
    }
    tables
        .into_iter()
        .map(|(schema, table, column)| {
            let query = format!(
                "SELECT CAST(data_type AS {}) FROM information_schema.columns WHERE LOWER(table_schema) = LOWER({}) \
                 AND LOWER(table_name) = LOWER({}) AND LOWER(column_name) = LOWER({}) AND NOT ({expected})",
                d.text_type(128),
                d.literal(&schema),
                d.literal(&table),
                d.literal(column)
            );
            let message = format!(
                "setup: table {schema}.{table}: column {column} was created before with another type than the \
                 config's {wanted}; migrate the column, or set the table's sequence_type to match it. It is "
            );
            d.assert_empty(&cfg.control_schema.quoted(), &query, &message)
        })
        .collect()
}

/// Redshift has no `error()`: the load's checks call this procedure, which
/// runs a query returning what is wrong and where, and raises on the first
/// row. RAISE takes simple variables only, not expressions
/// (docs/redshift.md), so the message is assembled in a variable first.
fn assert_procedure(cfg: &PipelineConfig) -> String {
    format!(
        "CREATE OR REPLACE PROCEDURE {}.cdc_assert_empty(query VARCHAR(65535), message VARCHAR(1024)) AS $$\n\
         DECLARE\n  bad_file VARCHAR(65535);\n  full_message VARCHAR(65535);\n\
         BEGIN\n  EXECUTE query INTO bad_file;\n  IF bad_file IS NOT NULL THEN\n    full_message := message || bad_file;\n    \
         RAISE EXCEPTION '%', full_message;\n  END IF;\n\
         END;\n$$ LANGUAGE plpgsql",
        cfg.control_schema.quoted()
    )
}

/// A derived table's refresh, its own transaction (docs/cdc-contract.md, rule 7).
pub fn refresh_derived(cfg: &PipelineConfig, dt: &DerivedTable, d: Dialect) -> StatementBatch {
    let name = names::derived(cfg, &dt.name);
    let statement = match d {
        Dialect::DuckDb => format!("CREATE OR REPLACE TABLE {name} AS {}", dt.sql),
        Dialect::Redshift => format!("REFRESH MATERIALIZED VIEW {name}"),
    };
    StatementBatch { label: format!("refresh {}", dt.name), statements: vec![statement] }
}

/// What the table has applied, as a load plans from it: every full-load
/// file and the CDC files of the days from `lateness window` days before the
/// newest applied day, one row each (`file`, `kind`, `partition_0`, `size`,
/// `version`); for the older days one summary row per day (`file` NULL,
/// `size` the day's bytes, `files` its count, `newest_modified` the newest
/// modification time its files had when applied). Every row carries
/// `oldest_partition`, the first day listed file by file (NULL when nothing
/// was applied yet). A listed day whose count or bytes differ from its
/// summary is then looked at file by file ([`applied_in_days_query`]), so
/// a late file in an old day is found without reading every day's files.
pub fn applied_files_query(cfg: &PipelineConfig, t: &TableConfig, d: Dialect) -> StatementBatch {
    let progress = names::progress(cfg, t);
    let oldest = d.partition_minus_days("MAX(partition_0)", t.listing_window_days());
    let window = format!("(SELECT {oldest} AS oldest_partition FROM {progress} WHERE kind = 'C') w");
    let no_column = format!(
        "CAST(NULL AS {}) AS column_name, CAST(NULL AS {}) AS column_type, CAST(NULL AS {}) AS change, \
         CAST(NULL AS INTEGER) AS ordinal",
        d.text_type(127),
        d.text_type(64),
        d.text_type(8)
    );
    // The added columns ride along (kind `A`, their first file), so the
    // effective schema costs no round trip of its own.
    let statement = format!(
        "SELECT p.file, p.kind, p.partition_0, p.size, p.version, CAST(NULL AS BIGINT) AS files, \
         CAST(NULL AS TIMESTAMP) AS newest_modified, w.oldest_partition, {no_column} \
         FROM {window} LEFT JOIN {progress} p ON p.kind IN ('F', 'S') OR p.partition_0 >= w.oldest_partition \
         UNION ALL SELECT NULL, 'C', p.partition_0, SUM(p.size), NULL, COUNT(*), MAX(p.modified), w.oldest_partition, \
         NULL, NULL, NULL, NULL \
         FROM {window} JOIN {progress} p ON p.kind = 'C' AND p.partition_0 < w.oldest_partition \
         GROUP BY p.partition_0, w.oldest_partition \
         UNION ALL SELECT c.first_file, '{ADDED_COLUMN_KIND}', NULL, NULL, NULL, NULL, NULL, NULL, c.column_name, \
         c.column_type, c.change, c.ordinal FROM {} c",
        names::columns(cfg, t)
    );
    StatementBatch { label: format!("progress of {}", t.qualified()), statements: vec![statement] }
}

/// The kind [`applied_files_query`] gives a row of an added column.
pub const ADDED_COLUMN_KIND: &str = "A";

/// The applied CDC files of some days, one row each (`file`, `kind`,
/// `partition_0`, `size`, `version`).
pub fn applied_in_days_query(cfg: &PipelineConfig, t: &TableConfig, d: Dialect, days: &[&str]) -> StatementBatch {
    let list: Vec<String> = days.iter().map(|day| d.literal(day)).collect();
    let statement = format!(
        "SELECT file, kind, partition_0, size, version FROM {} WHERE kind = 'C' AND partition_0 IN ({})",
        names::progress(cfg, t),
        list.join(", ")
    );
    StatementBatch {
        label: format!("progress of {} in {} days", t.qualified(), days.len()),
        statements: vec![statement],
    }
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

    /// A pipeline of `n` small tables and one derived table.
    fn wide_config(n: usize) -> PipelineConfig {
        let mut text = String::from(
            "[pipeline]\njob_id = \"7\"\nraw_schema = \"raw\"\ntarget_schema = \"public\"\ncontrol_schema = \"ctl\"\n",
        );
        for i in 0..n {
            text.push_str(&format!(
                "[[tables]]\nschema = \"public\"\nname = \"t{i:02}\"\nkind = \"dimension\"\nmode = \"upsert\"\nkey = [\"id\"]\n\
                 commit_ts_column = \"changets\"\nlateness_window = \"2d\"\n\
                 columns = [{{ name = \"id\", type = \"integer\" }}, {{ name = \"v\", type = \"varchar(10)\" }}]\n"
            ));
        }
        text.push_str("[[derived]]\nname = \"t_count\"\nsql = \"SELECT count(*) AS n FROM public.t00\"\n");
        PipelineConfig::parse(&text, "wide").unwrap()
    }

    #[test]
    fn a_wide_setup_is_cut_into_batches_the_data_api_takes_in_order() {
        // GIVEN 20 tables (61 statements and more on Redshift)
        let wide = wide_config(20);
        let ext = ExternalSchema { catalog_database: "raw_db".into(), iam_role: "default".into() };
        for d in [Dialect::Redshift, Dialect::DuckDb] {
            // WHEN setup is cut into batches
            let whole = setup_batch(&wide, d, Some(&ext));
            let parts = setup_batches(&wide, d, Some(&ext));
            // THEN each holds at most 40 statements, in the original order, labelled by part
            assert!(parts.len() >= 2, "{d:?}");
            assert!(parts.iter().all(|p| !p.statements.is_empty() && p.statements.len() <= MAX_SETUP_STATEMENTS));
            let joined: Vec<String> = parts.iter().flat_map(|p| p.statements.clone()).collect();
            assert_eq!(joined, whole.statements, "{d:?}");
            assert_eq!(parts[1].label, format!("setup part 2 of {}", parts.len()));
            // AND a materialized view's drop and create share a batch
            for p in &parts {
                let drops = p.statements.iter().filter(|s| s.starts_with("DROP MATERIALIZED VIEW")).count();
                let creates = p.statements.iter().filter(|s| s.starts_with("CREATE MATERIALIZED VIEW")).count();
                assert_eq!(drops, creates);
            }
        }
        // AND a small config is one batch labelled as before
        let small = setup_batches(&wide_config(2), Dialect::Redshift, None);
        assert_eq!(small.len(), 1);
        assert_eq!(small[0].label, "setup");
    }

    #[test]
    fn the_cluster_s_default_role_is_a_keyword() {
        let ext = ExternalSchema { catalog_database: "raw_db".into(), iam_role: "DEFAULT".into() };
        assert!(ext.create_statement(&cfg()).ends_with("IAM_ROLE default"));
    }
}
