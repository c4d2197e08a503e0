//! External (Spectrum) tables: the Glue catalog and S3 read through their
//! APIs, shown to DuckDB as views.
//!
//! DuckDB here has no S3 access (no extensions offline), so a reference to
//! `<external schema>.<table>` makes the emulator, before the batch's
//! transaction starts:
//! 1. read the Glue table (`GetTable`): its columns, its location and its
//!    partition keys; for a partitioned table, its partitions (`GetPartitions`),
//!    whose locations are what Spectrum scans — files in an unregistered day
//!    folder are not seen, as on Redshift;
//! 2. list the objects under each location and its subfolders
//!    (`ListObjectsV2`), skipping folder markers and the names Spectrum
//!    ignores ([`spectrum_reads`]), and download
//!    the ones not yet cached (cached by bucket, key and ETag in a temporary
//!    directory);
//! 3. replace the DuckDB view `<schema>.<table>`: the Glue columns (by name,
//!    cast to their Glue types; NULL where a file lacks the column), the
//!    pseudo-column `"$path"` (the `s3://bucket/key` of the row's object) and
//!    the partition columns (from the partition's values).
//!
//! Views are replaced outside any batch transaction, one at a time, and only
//! when the file set or the columns changed, so concurrent batches do not
//! conflict on the catalog. A character column's value wider than its Glue
//! type is handled as the table's `surplus_char_handling` says
//! ([`crate::rules::surplus_chars`]). Not emulated: `"$size"` and other pseudo-columns,
//! complex Glue types (array, map, struct), formats other than Parquet, and
//! `SELECT *` leaving `"$path"` out (here it is a column of the view).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use duckdb::Connection;
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;

use crate::rules::parquet_types;
use crate::rules::surplus_chars::{self, Handling};
use crate::translate::{duck_ident, duck_literal};

/// The S3 and Glue clients of the local AWS emulation (moto).
#[derive(Debug, Clone)]
pub struct Aws {
    pub s3: aws_sdk_s3::Client,
    pub glue: aws_sdk_glue::Client,
}

impl Aws {
    /// Clients from an SDK configuration; S3 with path-style addressing, as a
    /// local endpoint needs.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build();
        Self { s3: aws_sdk_s3::Client::from_conf(s3), glue: aws_sdk_glue::Client::new(sdk) }
    }
}

/// What the Glue catalog says of an external table.
struct TableSources {
    /// (name, DuckDB type)
    columns: Vec<(String, String)>,
    /// Each column's width in bytes when it is a character column.
    widths: Vec<Option<u32>>,
    surplus: Handling,
    partition_keys: Vec<(String, String)>,
    /// Locations to scan, with their partition values.
    sources: Vec<(String, Vec<String>)>,
}

/// The columns of the view over an external table.
#[derive(Clone, Copy)]
struct ViewShape<'a> {
    columns: &'a [(String, String)],
    widths: &'a [Option<u32>],
    surplus: Handling,
    partition_keys: &'a [(String, String)],
}

/// One object an external table reads.
struct SourceFile {
    uri: String,
    local: PathBuf,
    partition_values: Vec<String>,
}

pub struct Spectrum {
    aws: Option<Aws>,
    cache: tempfile::TempDir,
    /// Fingerprint of each view as last built.
    built: Mutex<HashMap<(String, String), [u8; 32]>>,
    /// Each cached file's columns and their types; a cached file never changes.
    file_types: Mutex<HashMap<PathBuf, Vec<(String, String)>>>,
}

/// `s3://bucket/prefix` → (bucket, prefix).
pub fn split_s3_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, prefix))
}

impl Spectrum {
    pub fn new(aws: Option<Aws>) -> std::io::Result<Self> {
        let cache = tempfile::Builder::new().prefix("redshift-emulator-spectrum-").tempdir()?;
        Ok(Self { aws, cache, built: Mutex::default(), file_types: Mutex::default() })
    }

    pub fn aws(&self) -> Option<&Aws> {
        self.aws.as_ref()
    }

    /// Makes `<schema>.<table>` show the Glue table `glue_db.table` as it is now.
    /// Errors are Redshift-style texts.
    pub fn refresh(
        &self,
        rt: &Handle,
        conn: &Connection,
        schema: &str,
        glue_db: &str,
        table: &str,
    ) -> Result<(), String> {
        let aws = self.aws.as_ref().ok_or_else(|| {
            format!(
                "ERROR: external table {schema}.{table}: the emulator was started without AWS settings, so it cannot \
                 read the Glue catalog or S3"
            )
        })?;
        let mut built = self.built.lock().expect("spectrum lock");
        let TableSources { columns, widths, surplus, partition_keys, sources } =
            rt.block_on(self.table_sources(aws, schema, glue_db, table))?;
        let mut files = Vec::new();
        for (location, values) in sources {
            for (uri, etag) in rt.block_on(list_location(aws, &location))? {
                let local = rt.block_on(self.cached(aws, &uri, &etag))?;
                files.push(SourceFile { uri, local, partition_values: values.clone() });
            }
        }
        let mut h = Sha256::new();
        for (name, ty) in columns.iter().chain(&partition_keys) {
            h.update(format!("{name}\u{0}{ty}\u{0}"));
        }
        h.update(format!("{widths:?}\u{0}{surplus:?}\u{0}"));
        for f in &files {
            h.update(format!("{}\u{0}{}\u{0}{}\u{0}", f.uri, f.local.display(), f.partition_values.join("\u{1}")));
        }
        let fingerprint: [u8; 32] = h.finalize().into();
        let key = (schema.to_string(), table.to_string());
        if built.get(&key) == Some(&fingerprint) {
            return Ok(());
        }
        self.check_file_types(conn, &format!("{schema}.{table}"), &columns, &files)?;
        let shape = ViewShape { columns: &columns, widths: &widths, surplus, partition_keys: &partition_keys };
        let view = view_sql(conn, schema, table, &shape, &files)?;
        conn.execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {}; {view}", duck_ident(schema)))
            .map_err(|e| crate::errors::redshift_text(&e.to_string()))?;
        built.insert(key, fingerprint);
        Ok(())
    }

    /// Every file's columns against the Glue columns of the same names
    /// ([`crate::rules::parquet_types`]); a file's types are read once.
    fn check_file_types(
        &self,
        conn: &Connection,
        table: &str,
        columns: &[(String, String)],
        files: &[SourceFile],
    ) -> Result<(), String> {
        let mut known = self.file_types.lock().expect("file types lock");
        for f in files {
            if !known.contains_key(&f.local) {
                let read = format!("read_parquet({})", duck_literal(&f.local.display().to_string()));
                known.insert(f.local.clone(), file_column_types(conn, &read)?);
            }
            for (name, ty) in &known[&f.local] {
                let glue = columns.iter().find(|(c, _)| c.eq_ignore_ascii_case(name));
                if let Some((column, glue_ty)) = glue.filter(|(_, g)| !parquet_types::reads(g, ty)) {
                    return Err(parquet_types::incompatible(&f.uri, table, column, glue_ty, ty));
                }
            }
        }
        Ok(())
    }

    /// Columns and partition keys, the character widths and surplus
    /// handling, and the locations to scan with their partition values.
    async fn table_sources(&self, aws: &Aws, schema: &str, glue_db: &str, table: &str) -> Result<TableSources, String> {
        let out = aws.glue.get_table().database_name(glue_db).name(table).send().await.map_err(|e| {
            let code = aws_sdk_glue::error::ProvideErrorMetadata::code(&e).unwrap_or_default().to_string();
            if code == "EntityNotFoundException" {
                format!("ERROR: relation \"{schema}.{table}\" does not exist")
            } else {
                format!(
                    "ERROR: Spectrum: Glue GetTable {glue_db}.{table}: {}",
                    aws_sdk_glue::error::DisplayErrorContext(&e)
                )
            }
        })?;
        let t = out.table().ok_or_else(|| format!("ERROR: relation \"{schema}.{table}\" does not exist"))?;
        let sd = t
            .storage_descriptor()
            .ok_or_else(|| format!("ERROR: external table {schema}.{table} has no storage descriptor"))?;
        let typed = |name: &str, ty: &str| -> Result<(String, String), String> {
            Ok((name.to_lowercase(), duck_type(ty).ok_or_else(|| {
                format!("ERROR: column {name} of external table {schema}.{table} has type {ty}, not supported by the Redshift emulator")
            })?))
        };
        let columns = sd
            .columns()
            .iter()
            .map(|c| typed(c.name(), c.r#type().unwrap_or("string")))
            .collect::<Result<Vec<_>, _>>()?;
        let widths: Vec<Option<u32>> =
            sd.columns().iter().map(|c| surplus_chars::width(c.r#type().unwrap_or("string"))).collect();
        // Table properties are case-sensitive; StorageDescriptor.Parameters
        // first (where CDK puts them), then the table's Parameters.
        let property = sd
            .parameters()
            .and_then(|p| p.get(surplus_chars::PROPERTY))
            .or_else(|| t.parameters().and_then(|p| p.get(surplus_chars::PROPERTY)));
        let surplus = Handling::parse(property.map(String::as_str))?;
        let partition_keys = t
            .partition_keys()
            .iter()
            .map(|c| typed(c.name(), c.r#type().unwrap_or("string")))
            .collect::<Result<Vec<_>, _>>()?;
        if partition_keys.is_empty() {
            let location =
                sd.location().ok_or_else(|| format!("ERROR: external table {schema}.{table} has no location"))?;
            let sources = vec![(location.to_string(), Vec::new())];
            return Ok(TableSources { columns, widths, surplus, partition_keys, sources });
        }
        let mut sources = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = aws
                .glue
                .get_partitions()
                .database_name(glue_db)
                .table_name(table)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "ERROR: Spectrum: Glue GetPartitions {glue_db}.{table}: {}",
                        aws_sdk_glue::error::DisplayErrorContext(&e)
                    )
                })?;
            for p in page.partitions() {
                if let Some(location) = p.storage_descriptor().and_then(|sd| sd.location()) {
                    sources.push((location.to_string(), p.values().to_vec()));
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(TableSources { columns, widths, surplus, partition_keys, sources })
    }

    /// The local copy of an object, downloaded unless this version is cached.
    async fn cached(&self, aws: &Aws, uri: &str, etag: &str) -> Result<PathBuf, String> {
        let name: String = Sha256::new()
            .chain_update(uri)
            .chain_update("\u{0}")
            .chain_update(etag)
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let path = self.cache.path().join(format!("{name}.parquet"));
        if path.exists() {
            return Ok(path);
        }
        let (bucket, key) = split_s3_uri(uri).ok_or_else(|| format!("ERROR: bad S3 location {uri}"))?;
        let failed = |what: String| format!("ERROR: Spectrum Scan Error: {uri}: {what}");
        let out = aws
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| failed(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
        let bytes = out.body.collect().await.map_err(|e| failed(e.to_string()))?.into_bytes();
        // Written aside then renamed, so a reader never sees half a file.
        let partial = self.cache.path().join(format!("{name}.partial"));
        std::fs::write(&partial, &bytes)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| failed(e.to_string()))?;
        Ok(path)
    }
}

/// Every object under `prefix`, as (key, ETag), across ListObjectsV2's pages.
pub(crate) async fn list_objects(aws: &Aws, bucket: &str, prefix: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = aws
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(next.take())
            .send()
            .await
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(&e).to_string())?;
        for o in page.contents() {
            if let Some(key) = o.key() {
                out.push((key.to_string(), o.e_tag().unwrap_or_default().to_string()));
            }
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => next = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

/// Whether Spectrum reads an object listed under a table's location:
/// "Redshift Spectrum scans the files in the specified folder and any
/// subfolders. Redshift Spectrum ignores hidden files and files that begin
/// with a period, underscore, or hash mark ( . , _, or #) or end with a tilde
/// (~)." (https://docs.aws.amazon.com/redshift/latest/dg/c-spectrum-external-tables.html).
/// Folder markers (`…/`, `…_$folder$`) are not files.
fn spectrum_reads(key: &str) -> bool {
    let base = key.rsplit('/').next().unwrap_or(key);
    !(key.ends_with('/') || key.ends_with("_$folder$") || base.starts_with(['.', '_', '#']) || base.ends_with('~'))
}

/// The objects under a location, as (`s3://` URI, ETag), sorted by key.
async fn list_location(aws: &Aws, location: &str) -> Result<Vec<(String, String)>, String> {
    let (bucket, prefix) =
        split_s3_uri(location).ok_or_else(|| format!("ERROR: external location {location} is not an s3:// URI"))?;
    // A location is a folder: `p/` must not also match `p2/…`.
    let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") };
    let objects = list_objects(aws, bucket, &prefix)
        .await
        .map_err(|e| format!("ERROR: Spectrum Scan Error: listing {location}: {e}"))?;
    let mut out = Vec::new();
    for (key, etag) in objects {
        if spectrum_reads(&key) {
            out.push((format!("s3://{bucket}/{key}"), etag));
        }
    }
    out.sort();
    Ok(out)
}

/// A Glue (Hive) column type as a DuckDB type.
pub fn duck_type(glue: &str) -> Option<String> {
    let t = glue.trim().to_lowercase();
    let base = t.split('(').next().unwrap_or(&t).trim();
    Some(match base {
        "tinyint" => "TINYINT".into(),
        "smallint" => "SMALLINT".into(),
        "int" | "integer" => "INTEGER".into(),
        "bigint" => "BIGINT".into(),
        "float" => "FLOAT".into(),
        "double" => "DOUBLE".into(),
        "decimal" | "numeric" => t.replacen(base, "DECIMAL", 1).to_uppercase(),
        "string" | "varchar" | "char" => "VARCHAR".into(),
        "boolean" => "BOOLEAN".into(),
        "date" => "DATE".into(),
        "timestamp" => "TIMESTAMP".into(),
        "binary" => "BLOB".into(),
        _ => return None,
    })
}

fn view_sql(
    conn: &Connection,
    schema: &str,
    table: &str,
    shape: &ViewShape<'_>,
    files: &[SourceFile],
) -> Result<String, String> {
    let ViewShape { columns, widths, surplus, partition_keys } = *shape;
    let name = format!("{}.{}", duck_ident(schema), duck_ident(table));
    if files.is_empty() {
        let mut cols: Vec<String> = columns
            .iter()
            .chain(partition_keys)
            .map(|(c, t)| format!("CAST(NULL AS {t}) AS {}", duck_ident(c)))
            .collect();
        cols.push("CAST(NULL AS VARCHAR) AS \"$path\"".into());
        return Ok(format!("CREATE OR REPLACE VIEW {name} AS SELECT {} WHERE false", cols.join(", ")));
    }
    let list = files.iter().map(|f| duck_literal(&f.local.display().to_string())).collect::<Vec<_>>().join(", ");
    let read = format!("read_parquet([{list}], filename = true, union_by_name = true)");
    let present = file_columns(conn, &read)?;
    let mut too_long_checks = Vec::new();
    let mut cols: Vec<String> = columns
        .iter()
        .zip(widths)
        .map(|((c, t), width)| match present.iter().find(|p| p.eq_ignore_ascii_case(c)) {
            Some(p) => {
                let value = format!("CAST(r.{} AS {t})", duck_ident(p));
                match width {
                    // A value wider than its Glue column (rule 9).
                    Some(w) => {
                        if surplus == Handling::DropRow {
                            too_long_checks.push((value.clone(), *w));
                        }
                        let shown = format!("{schema}.{table}");
                        let expr = surplus_chars::column_sql(&value, *w, surplus, &shown, c, "m.cdc_uri");
                        format!("{expr} AS {}", duck_ident(c))
                    }
                    None => format!("{value} AS {}", duck_ident(c)),
                }
            }
            None => format!("CAST(NULL AS {t}) AS {}", duck_ident(c)),
        })
        .collect();
    cols.push("m.cdc_uri AS \"$path\"".into());
    let mut map_cols = vec!["cdc_local".to_string(), "cdc_uri".to_string()];
    for (i, (c, t)) in partition_keys.iter().enumerate() {
        cols.push(format!("CAST(m.cdc_p{i} AS {t}) AS {}", duck_ident(c)));
        map_cols.push(format!("cdc_p{i}"));
    }
    let rows: Vec<String> = files
        .iter()
        .map(|f| {
            let mut v = vec![duck_literal(&f.local.display().to_string()), duck_literal(&f.uri)];
            v.extend(
                (0..partition_keys.len()).map(|i| f.partition_values.get(i).map_or("NULL".into(), |p| duck_literal(p))),
            );
            format!("({})", v.join(", "))
        })
        .collect();
    let keep = surplus_chars::keep_row_sql(&too_long_checks).map(|c| format!(" WHERE {c}")).unwrap_or_default();
    Ok(format!(
        "CREATE OR REPLACE VIEW {name} AS SELECT {} FROM {read} AS r JOIN (VALUES {}) AS m({}) ON r.filename = \
         m.cdc_local{keep}",
        cols.join(", "),
        rows.join(", "),
        map_cols.join(", ")
    ))
}

/// Each column of a read and the type DuckDB reads it as.
fn file_column_types(conn: &Connection, read: &str) -> Result<Vec<(String, String)>, String> {
    let scan = |e: duckdb::Error| format!("ERROR: Spectrum Scan Error: {e}");
    let mut stmt = conn.prepare(&format!("DESCRIBE SELECT * FROM {read}")).map_err(scan)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(scan)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(scan)
}

/// The columns the files have, together.
fn file_columns(conn: &Connection, read: &str) -> Result<Vec<String>, String> {
    let scan = |e: duckdb::Error| format!("ERROR: Spectrum Scan Error: {e}");
    let mut stmt = conn.prepare(&format!("DESCRIBE SELECT * FROM {read}")).map_err(scan)?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(scan)?;
    names.collect::<Result<Vec<_>, _>>().map_err(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_types_map_to_duckdb_types() {
        assert_eq!(duck_type("int").as_deref(), Some("INTEGER"));
        assert_eq!(duck_type("decimal(10,2)").as_deref(), Some("DECIMAL(10,2)"));
        assert_eq!(duck_type("varchar(84)").as_deref(), Some("VARCHAR"));
        assert_eq!(duck_type("timestamp").as_deref(), Some("TIMESTAMP"));
        assert_eq!(duck_type("array<int>"), None);
        assert_eq!(split_s3_uri("s3://b/p/q/"), Some(("b", "p/q/")));
        assert_eq!(split_s3_uri("s3://b"), Some(("b", "")));
        assert_eq!(split_s3_uri("s3:///x"), None);
    }

    #[test]
    fn spectrum_reads_subfolders_and_skips_hidden_and_marked_files() {
        // GIVEN objects under a partition's location (a day folder holding hour folders)
        for read in ["t/2024/01/05/13/20240105-130000000.parquet", "t/2024/01/05/x.parquet", "t/a~b.parquet"] {
            assert!(spectrum_reads(read), "{read}");
        }
        // THEN hidden, `_`/`#`-prefixed and `~`-suffixed files and folder markers are skipped
        for skipped in [
            "t/2024/01/05/.tmp.parquet",
            "t/2024/01/05/_SUCCESS",
            "t/2024/01/05/#draft.parquet",
            "t/2024/01/05/x.parquet~",
            "t/2024/01/05/",
            "t/2024/01/05_$folder$",
        ] {
            assert!(!spectrum_reads(skipped), "{skipped}");
        }
    }
}
