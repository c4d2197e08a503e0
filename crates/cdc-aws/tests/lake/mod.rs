//! Shared by the S3 and Glue tests: a moto server per test, S3 and Glue
//! clients on it, the demo config, and a small DMS raw zone written with the
//! `parquet` crate (no DuckDB in this crate's build: it goes into Lambdas).

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cdc_core::PipelineConfig;
use cdc_core::ports::FileKind;
use cdc_moto::MotoServer;
use parquet::column::writer::ColumnWriter;
use parquet::data_type::{ByteArray, FixedLenByteArray, Int96};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

pub const RAW_BUCKET: &str = "cdc-raw";
pub const RAW_PREFIX: &str = "dms";
pub const DATABASE: &str = "cdc_database";

pub struct Lake {
    pub s3: aws_sdk_s3::Client,
    pub glue: aws_sdk_glue::Client,
    pub cfg: PipelineConfig,
    /// Declared last so it drops last: the server outlives the clients.
    pub moto: MotoServer,
}

/// A fresh moto server (nothing shared with other tests), the raw bucket
/// and the Glue database.
pub async fn lake() -> Lake {
    let moto = MotoServer::start().expect("moto_server starts (run scripts/python-tools first)");
    let config = moto.sdk_config().await;
    // Path-style addressing: `bucket.127.0.0.1` does not resolve.
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    let glue = aws_sdk_glue::Client::new(&config);
    s3.create_bucket().bucket(RAW_BUCKET).send().await.unwrap();
    glue.create_database()
        .database_input(aws_sdk_glue::types::DatabaseInput::builder().name(DATABASE).build().unwrap())
        .send()
        .await
        .unwrap();
    Lake { s3, glue, cfg: demo_config(), moto }
}

pub fn demo_config() -> PipelineConfig {
    PipelineConfig::parse(include_str!("../../../../config/pipeline.toml"), "demo").unwrap()
}

impl Lake {
    pub fn raw_location(&self) -> cdc_aws::S3Location {
        cdc_aws::S3Location::new(RAW_BUCKET, RAW_PREFIX).unwrap()
    }

    pub fn raw_zone(&self) -> cdc_aws::S3RawZone {
        cdc_aws::S3RawZone::new(self.s3.clone(), self.raw_location())
    }

    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.s3.put_object().bucket(bucket).key(key).body(body.into()).send().await.unwrap();
    }

    /// Uploads every file under `root` to the raw bucket, keyed by its path
    /// relative to `root` under the raw prefix.
    pub async fn upload(&self, root: &Path) {
        let mut files = Vec::new();
        walk(root, &mut files);
        let puts = files.iter().map(|f| {
            let rel = f.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            let key = format!("{RAW_PREFIX}/{rel}");
            let body = std::fs::read(f).unwrap();
            async move { self.put(RAW_BUCKET, &key, body).await }
        });
        futures::future::join_all(puts).await;
    }

    /// Every key of a bucket under a prefix.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut pages = self.s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            out.extend(page.unwrap().contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { walk(&path, out) } else { out.push(path) }
    }
}

/// A Parquet file with the given schema (Parquet's message syntax, optional
/// columns) and `rows` rows of made-up values.
pub fn parquet_bytes(message: &str, rows: usize) -> Vec<u8> {
    let schema = Arc::new(parse_message_type(message).unwrap());
    let mut out = Vec::new();
    let mut writer =
        SerializedFileWriter::new(&mut out, schema, Arc::new(WriterProperties::builder().build())).unwrap();
    if rows > 0 {
        let mut group = writer.next_row_group().unwrap();
        while let Some(mut column) = group.next_column().unwrap() {
            let defs = vec![1i16; rows];
            let n = |i: usize| i as i64 + 1;
            match column.untyped() {
                ColumnWriter::BoolColumnWriter(w) => {
                    w.write_batch(&(0..rows).map(|i| i % 2 == 0).collect::<Vec<_>>(), Some(&defs), None)
                }
                ColumnWriter::Int32ColumnWriter(w) => {
                    w.write_batch(&(0..rows).map(|i| n(i) as i32).collect::<Vec<_>>(), Some(&defs), None)
                }
                ColumnWriter::Int64ColumnWriter(w) => {
                    let base = 1_793_563_200_000_000i64; // 2026-11-01 20:00 in µs
                    w.write_batch(&(0..rows).map(|i| base + n(i)).collect::<Vec<_>>(), Some(&defs), None)
                }
                ColumnWriter::Int96ColumnWriter(w) => {
                    let v: Vec<Int96> = (0..rows)
                        .map(|_| {
                            let mut x = Int96::new();
                            x.set_data(0, 0, 2_461_346);
                            x
                        })
                        .collect();
                    w.write_batch(&v, Some(&defs), None)
                }
                ColumnWriter::FloatColumnWriter(w) => {
                    w.write_batch(&(0..rows).map(|i| n(i) as f32).collect::<Vec<_>>(), Some(&defs), None)
                }
                ColumnWriter::DoubleColumnWriter(w) => {
                    w.write_batch(&(0..rows).map(|i| n(i) as f64).collect::<Vec<_>>(), Some(&defs), None)
                }
                ColumnWriter::ByteArrayColumnWriter(w) => {
                    let v: Vec<ByteArray> = (0..rows).map(|i| ByteArray::from(format!("v{i}").into_bytes())).collect();
                    w.write_batch(&v, Some(&defs), None)
                }
                ColumnWriter::FixedLenByteArrayColumnWriter(w) => {
                    let len = usize::try_from(w.get_descriptor().type_length()).unwrap();
                    let v: Vec<FixedLenByteArray> =
                        (0..rows).map(|_| FixedLenByteArray::from(vec![0u8; len])).collect();
                    w.write_batch(&v, Some(&defs), None)
                }
            }
            .unwrap();
            column.close().unwrap();
        }
        group.close().unwrap();
    }
    writer.close().unwrap();
    out
}

/// A DMS CDC file of `pgbench_accounts` (Op, commit time, sequence, row).
pub const ACCOUNTS_CDC: &str = "message schema {
  optional binary Op (STRING);
  optional int64 changets (TIMESTAMP(MICROS,false));
  optional binary ar_h_change_seq (STRING);
  optional int32 aid;
  optional int32 bid;
  optional int32 abalance;
  optional binary filler (STRING);
}";

/// A DMS full-load file of `pgbench_accounts` (transfer time, row).
pub const ACCOUNTS_FULL: &str = "message schema {
  optional int64 changets (TIMESTAMP(MICROS,false));
  optional int32 aid;
  optional int32 bid;
  optional int32 abalance;
  optional binary filler (STRING);
}";

pub const TELLERS_CDC: &str = "message schema {
  optional binary Op (STRING);
  optional int64 changets (TIMESTAMP(MICROS,false));
  optional binary ar_h_change_seq (STRING);
  optional int32 tid;
  optional int32 bid;
  optional int32 tbalance;
  optional binary filler (STRING);
}";

/// One file of the raw zone as written: where, what, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Relative to the raw zone's root.
    pub rel: String,
    pub table: String,
    pub kind: FileKind,
    pub day: Option<String>,
    pub size: u64,
}

/// Objects DMS never writes, which the listing must report, not take: not
/// Parquet, hidden, a full-load file in a subfolder, files that are not
/// named by time, in a folder that is not a day or below a day; and another
/// table whose name starts with this one's, which is not under its folder.
pub const NOISE: [&str; 10] = [
    "full/public/pgbench_accounts/LOAD00000003.csv",
    "full/public/pgbench_accounts/.LOAD00000004.parquet",
    "full/public/pgbench_accounts/old/LOAD00000001.parquet",
    "cdc/public/pgbench_accounts/20261101/.tmp.parquet",
    "cdc/public/pgbench_accounts/20261101/manifest.json",
    "cdc/public/pgbench_accounts/loose.parquet",
    "cdc/public/pgbench_accounts/2026110/x.parquet",
    "cdc/public/pgbench_accounts/latest/x.parquet",
    "cdc/public/pgbench_accounts/20261103/retry/x.parquet",
    "cdc/public/pgbench_accounts_old/20261101/x.parquet",
];

/// Writes a small raw zone under `root`: `pgbench_accounts` (two full-load
/// files, CDC files in three days), `pgbench_tellers` (CDC only), and
/// [`NOISE`]. Returns the DMS files.
pub fn write_raw_zone(root: &Path) -> Vec<Written> {
    let mut out = Vec::new();
    let mut file = |rel: &str, table: &str, kind: FileKind, day: Option<&str>, bytes: Vec<u8>| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        out.push(Written {
            rel: rel.into(),
            table: table.into(),
            kind,
            day: day.map(str::to_string),
            size: bytes.len() as u64,
        });
    };
    for (i, rows) in [(1, 40), (2, 7)] {
        let rel = format!("full/public/pgbench_accounts/LOAD0000000{i}.parquet");
        file(&rel, "pgbench_accounts", FileKind::Full, None, parquet_bytes(ACCOUNTS_FULL, rows));
    }
    for (day, files) in [("20261101", 2), ("20261102", 3), ("20261103", 1)] {
        for i in 0..files {
            let rel = format!("cdc/public/pgbench_accounts/{day}/{day}-2000{i}0000.parquet");
            file(&rel, "pgbench_accounts", FileKind::Cdc, Some(day), parquet_bytes(ACCOUNTS_CDC, 3 + i));
        }
    }
    let rel = "cdc/public/pgbench_tellers/20261102/20261102-200000000.parquet";
    file(rel, "pgbench_tellers", FileKind::Cdc, Some("20261102"), parquet_bytes(TELLERS_CDC, 5));
    for rel in NOISE {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, parquet_bytes(ACCOUNTS_CDC, 1)).unwrap();
    }
    out
}
