//! Shared by the emulator's tests: the real Data API client on the emulator,
//! the pipeline's adapter on that client, and for the pipeline tests a DMS
//! raw zone in moto's S3 with its Glue catalog, plus a raw zone port that
//! lists it.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_glue::types::{Column, PartitionInput, SerDeInfo, StorageDescriptor, TableInput};
use aws_sdk_redshiftdata::config::{BehaviorVersion, Credentials, Region};
use cdc_aws::RedshiftDataWarehouse;
use cdc_aws::RedshiftTarget;
use cdc_aws::client_config::retry_config;
use cdc_core::ports::{
    FileColumn, FileColumnType, FileKind, RawFile, RawObject, RawZone, ResultSet, StatementId, StatementState,
    Warehouse,
};
use cdc_core::sql::StatementBatch;
use cdc_core::{PipelineConfig, PipelineError};
use cdc_local::FolderRawZone;
use cdc_redshift_emulator::{Emulator, EmulatorConfig};

pub const DATABASE: &str = "dev";

/// The assert procedure as the core will write it: the message is assigned
/// to a variable first, since RAISE arguments must be simple variables.
pub const FIXED_PROCEDURE: &str = "CREATE OR REPLACE PROCEDURE \"cdc_control\".cdc_assert_empty(query VARCHAR(65535), \
     message VARCHAR(1024)) AS $$\nDECLARE bad_file VARCHAR(1024); full_message VARCHAR(65535); BEGIN EXECUTE query \
     INTO bad_file; IF bad_file IS NOT NULL THEN full_message := message || bad_file; RAISE EXCEPTION '%', \
     full_message; END IF; END;\n$$ LANGUAGE plpgsql";

/// A setup batch with its assert procedure replaced by [`FIXED_PROCEDURE`]
/// (today's core still raises an expression, which Redshift refuses).
pub fn with_fixed_procedure(mut setup: StatementBatch) -> StatementBatch {
    for s in &mut setup.statements {
        if s.trim_start().starts_with("CREATE OR REPLACE PROCEDURE") && s.contains("cdc_assert_empty") {
            *s = FIXED_PROCEDURE.to_string();
        }
    }
    setup
}
pub const WORKGROUP: &str = "cdc-wg";
/// How long a test waits for one statement before it calls the emulator stuck.
pub const STATEMENT_DEADLINE: Duration = Duration::from_secs(120);

pub fn demo_config() -> PipelineConfig {
    PipelineConfig::parse(include_str!("../../../../config/pipeline.toml"), "demo").unwrap()
}

/// An emulator without AWS (no external tables, no UNLOAD), small result pages.
pub fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig { page_rows: 7, ..Default::default() }).expect("the emulator starts")
}

/// The real Data API client, pointed at `endpoint`, with the production retry
/// settings (1 ms base backoff, so throttling tests are quick).
pub fn data_api_client(endpoint: &str) -> aws_sdk_redshiftdata::Client {
    let conf = aws_sdk_redshiftdata::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(cdc_moto::REGION))
        .credentials_provider(Credentials::new(
            cdc_moto::ACCESS_KEY_ID,
            cdc_moto::SECRET_ACCESS_KEY,
            None,
            None,
            "test",
        ))
        .endpoint_url(endpoint)
        .retry_config(retry_config().with_initial_backoff(Duration::from_millis(1)))
        .build();
    aws_sdk_redshiftdata::Client::from_conf(conf)
}

pub fn serverless() -> RedshiftTarget {
    RedshiftTarget::Serverless { workgroup: WORKGROUP.into(), database: DATABASE.into(), secret_arn: None }
}

/// The pipeline's adapter on the emulator.
pub fn warehouse(emulator: &Emulator) -> RedshiftDataWarehouse {
    RedshiftDataWarehouse::new(&data_api_client(&emulator.endpoint_url()), serverless()).unwrap()
}

pub fn batch(label: &str, statements: &[&str]) -> StatementBatch {
    StatementBatch { label: label.into(), statements: statements.iter().map(|s| s.to_string()).collect() }
}

/// Polls until the statement is done; every state seen on the way, in order.
pub async fn wait(wh: &dyn Warehouse, id: &StatementId) -> Vec<StatementState> {
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let state = wh.status(id).await.expect("status");
        let done = state.is_done();
        seen.push(state);
        if done {
            return seen;
        }
        assert!(started.elapsed() < STATEMENT_DEADLINE, "statement {id} still not done: {seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Submits, waits, and returns the rows of the last statement.
pub async fn run(wh: &dyn Warehouse, batch: StatementBatch) -> Result<ResultSet, PipelineError> {
    tokio::time::timeout(STATEMENT_DEADLINE, cdc_core::ports::run_to_completion(wh, batch))
        .await
        .expect("the batch ends in time")
}

/// `SELECT` a single text/number column of many rows, as strings.
pub fn texts(rs: &ResultSet) -> Vec<Vec<String>> {
    rs.rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    cdc_core::ports::Cell::Null => "NULL".to_string(),
                    cdc_core::ports::Cell::Bool(b) => b.to_string(),
                    cdc_core::ports::Cell::Long(v) => v.to_string(),
                    cdc_core::ports::Cell::Double(v) => v.to_string(),
                    cdc_core::ports::Cell::Text(s) => s.clone(),
                })
                .collect()
        })
        .collect()
}

// --- the AWS side of the pipeline tests -------------------------------------

pub const RAW_BUCKET: &str = "raw-bucket";
pub const OPTIMIZED_BUCKET: &str = "optimized-bucket";
pub const GLUE_DATABASE: &str = "cdc_raw";
pub const UNLOAD_ROLE: &str = "arn:aws:iam::123456789012:role/cdc-unload";

pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build())
}

/// Uploads every Parquet file under `root` to `bucket`, keyed by its path:
/// the DMS layout in S3.
pub async fn upload_raw_zone(s3: &aws_sdk_s3::Client, bucket: &str, root: &Path) {
    for rel in cdc_dmsgen::raw_zone_files(root) {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(root.join(&rel)).await.unwrap();
        s3.put_object().bucket(bucket).key(&rel).body(body).send().await.unwrap();
    }
}

/// Uploads the files written since the last call (new, or with another
/// modification time), as DMS's writes reach S3: each upload gets its own
/// LastModified, so files left alone keep theirs.
#[derive(Default)]
pub struct RawUploads {
    uploaded: std::collections::HashMap<String, std::time::SystemTime>,
}

impl RawUploads {
    pub async fn upload_new(&mut self, s3: &aws_sdk_s3::Client, bucket: &str, root: &Path) {
        for rel in cdc_dmsgen::raw_zone_files(root) {
            let modified = std::fs::metadata(root.join(&rel)).unwrap().modified().unwrap();
            if self.uploaded.get(&rel) == Some(&modified) {
                continue;
            }
            let body = aws_sdk_s3::primitives::ByteStream::from_path(root.join(&rel)).await.unwrap();
            s3.put_object().bucket(bucket).key(&rel).body(body).send().await.unwrap();
            self.uploaded.insert(rel, modified);
        }
    }
}

/// A minimal raw zone on moto's S3 (a test double): listed with
/// ListObjectsV2, Parquet schemas read from the local copy the generator wrote.
pub struct MotoRawZone {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub local: FolderRawZone,
}

impl MotoRawZone {
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str, local_root: &Path) -> Self {
        Self { s3, bucket: bucket.into(), local: FolderRawZone::new(local_root).unwrap() }
    }

    fn local_path(&self, uri: &str) -> PathBuf {
        let key = uri.strip_prefix(&format!("s3://{}/", self.bucket)).unwrap_or(uri);
        self.local.root().join(key)
    }
}

#[async_trait]
impl RawZone for MotoRawZone {
    async fn list_objects(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<RawObject>, PipelineError> {
        let mut out = Vec::new();
        let mut next = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_start_after(start_after.map(|s| format!("{prefix}{s}")))
                .set_continuation_token(next.take())
                .send()
                .await
                .map_err(|e| PipelineError::retryable(format!("listing s3://{}/{prefix}: {e}", self.bucket)))?;
            for o in page.contents() {
                let key = o.key().unwrap_or_default();
                let modified = o
                    .last_modified()
                    .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                    .unwrap_or_default();
                out.push(RawObject {
                    rel: key[prefix.len()..].to_string(),
                    path: format!("s3://{}/{key}", self.bucket),
                    size: o.size().unwrap_or_default() as u64,
                    modified,
                    version: o.e_tag().unwrap_or_default().to_string(),
                });
            }
            match page.next_continuation_token() {
                Some(t) => next = Some(t.to_string()),
                None => break,
            }
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    async fn file_schemas(&self, files: &[RawFile]) -> Result<Vec<Vec<FileColumn>>, PipelineError> {
        let local: Vec<RawFile> = files
            .iter()
            .map(|f| RawFile { path: self.local_path(&f.path).display().to_string(), ..f.clone() })
            .collect();
        self.local.file_schemas(&local).await
    }

    fn describe_prefix(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }
}

fn hive_type(ty: &FileColumnType) -> String {
    match ty {
        FileColumnType::Int16 => "smallint".into(),
        FileColumnType::Int32 => "int".into(),
        FileColumnType::Int64 => "bigint".into(),
        FileColumnType::Float32 => "float".into(),
        FileColumnType::Float64 => "double".into(),
        FileColumnType::Boolean => "boolean".into(),
        FileColumnType::Date => "date".into(),
        FileColumnType::Timestamp => "timestamp".into(),
        FileColumnType::Decimal(p, s) => format!("decimal({p},{s})"),
        FileColumnType::String | FileColumnType::Other(_) => "string".into(),
    }
}

fn storage(location: String, columns: Vec<Column>) -> StorageDescriptor {
    StorageDescriptor::builder()
        .location(location)
        .set_columns(Some(columns))
        .input_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat")
        .output_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat")
        .serde_info(
            SerDeInfo::builder()
                .serialization_library("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
                .build(),
        )
        .build()
}

/// Registers the raw tables the way the seed's crawler names them
/// (`raw_full_<table>`, `raw_cdc_<table>` partitioned by `partition_0`), with
/// the columns of their files, and every CDC day folder as a partition.
/// Safe to call again after more files arrive: it adds what is new.
pub async fn register_raw_tables(glue: &aws_sdk_glue::Client, cfg: &PipelineConfig, raw: &MotoRawZone) {
    if glue.get_database().name(GLUE_DATABASE).send().await.is_err() {
        let input = aws_sdk_glue::types::DatabaseInput::builder().name(GLUE_DATABASE).build().unwrap();
        glue.create_database().database_input(input).send().await.unwrap();
    }
    for t in &cfg.tables {
        for kind in [FileKind::Full, FileKind::Cdc] {
            let files: Vec<RawFile> =
                cdc_core::dms::list_table(cfg, t, raw).await.unwrap().of_kind(kind).cloned().collect();
            let Some(first) = files.first() else { continue };
            let schema = raw.file_schemas(std::slice::from_ref(first)).await.unwrap().remove(0);
            let columns: Vec<Column> = schema
                .iter()
                .map(|c| Column::builder().name(c.name.to_lowercase()).r#type(hive_type(&c.ty)).build().unwrap())
                .collect();
            let (name, partition_keys) = match kind {
                FileKind::Full => (format!("raw_full_{}", t.name), vec![]),
                FileKind::Cdc => (
                    format!("raw_cdc_{}", t.name),
                    vec![Column::builder().name("partition_0").r#type("string").build().unwrap()],
                ),
            };
            // The seed's layout (config/pipeline.toml): day folders `YYYYMMDD/`.
            let prefix =
                cdc_core::dms::Layout::new(&cfg.dms).folder_prefix(kind.into(), t.schema.as_str(), t.name.as_str());
            let location = format!("s3://{}/{prefix}", raw.bucket);
            if glue.get_table().database_name(GLUE_DATABASE).name(&name).send().await.is_err() {
                let input = TableInput::builder()
                    .name(&name)
                    .table_type("EXTERNAL_TABLE")
                    .storage_descriptor(storage(location.clone(), columns.clone()))
                    .set_partition_keys(Some(partition_keys))
                    .build()
                    .unwrap();
                glue.create_table().database_name(GLUE_DATABASE).table_input(input).send().await.unwrap();
            }
            if kind == FileKind::Cdc {
                let mut days: Vec<String> = files.iter().filter_map(|f| f.partition.clone()).collect();
                days.dedup();
                for day in days {
                    let part = PartitionInput::builder()
                        .values(&day)
                        .storage_descriptor(storage(format!("{location}{day}/"), columns.clone()))
                        .build();
                    // Already registered by an earlier call: fine.
                    let _ = glue
                        .create_partition()
                        .database_name(GLUE_DATABASE)
                        .table_name(&name)
                        .partition_input(part)
                        .send()
                        .await;
                }
            }
        }
    }
}

/// What maps the pipeline's raw schema to the Glue database.
pub fn external_schema() -> cdc_core::sql::setup::ExternalSchema {
    cdc_core::sql::setup::ExternalSchema { catalog_database: GLUE_DATABASE.into(), iam_role: UNLOAD_ROLE.into() }
}

/// Writes `rows` (tid, filler) to one Parquet file under
/// `s3://RAW_BUCKET/<table>/` and registers the Glue table `GLUE_DATABASE.<table>`
/// over it, its filler typed `filler_type`, with the given storage-descriptor
/// and table parameters (bucket and database created when missing).
pub async fn glue_text_table(
    s3: &aws_sdk_s3::Client,
    glue: &aws_sdk_glue::Client,
    table: &str,
    filler_type: &str,
    storage_parameters: &[(&str, &str)],
    table_parameters: &[(&str, &str)],
    rows: &[(i32, &str)],
) {
    if s3.head_bucket().bucket(RAW_BUCKET).send().await.is_err() {
        s3.create_bucket().bucket(RAW_BUCKET).send().await.unwrap();
    }
    if glue.get_database().name(GLUE_DATABASE).send().await.is_err() {
        let input = aws_sdk_glue::types::DatabaseInput::builder().name(GLUE_DATABASE).build().unwrap();
        glue.create_database().database_input(input).send().await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("part-0.parquet");
    let values: Vec<String> = rows.iter().map(|(id, s)| format!("({id}, '{}')", s.replace('\'', "''"))).collect();
    duckdb::Connection::open_in_memory()
        .unwrap()
        .execute_batch(&format!(
            "COPY (SELECT * FROM (VALUES {}) v(tid, filler)) TO '{}' (FORMAT PARQUET)",
            values.join(", "),
            file.display()
        ))
        .unwrap();
    let body = aws_sdk_s3::primitives::ByteStream::from_path(&file).await.unwrap();
    s3.put_object().bucket(RAW_BUCKET).key(format!("{table}/part-0.parquet")).body(body).send().await.unwrap();
    let columns = vec![
        Column::builder().name("tid").r#type("int").build().unwrap(),
        Column::builder().name("filler").r#type(filler_type).build().unwrap(),
    ];
    let mut sd = storage(format!("s3://{RAW_BUCKET}/{table}/"), columns);
    for (k, v) in storage_parameters {
        sd.parameters.get_or_insert_with(Default::default).insert(k.to_string(), v.to_string());
    }
    let mut input = TableInput::builder().name(table).table_type("EXTERNAL_TABLE").storage_descriptor(sd);
    for (k, v) in table_parameters {
        input = input.parameters(*k, *v);
    }
    glue.create_table().database_name(GLUE_DATABASE).table_input(input.build().unwrap()).send().await.unwrap();
}

/// The statements of a fixture file: blocks separated by blank lines, each
/// ending with `;`; blocks of comments only are skipped.
pub fn fixture_statements(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(|block| block.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n"))
        .map(|s| s.trim().trim_end_matches(';').trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}
