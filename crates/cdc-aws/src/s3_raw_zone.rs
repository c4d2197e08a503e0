//! The raw zone in S3, as DMS writes it under a bucket and prefix, in any of
//! its layouts (`[dms]`, docs/dms.md): this adapter lists objects, the
//! core's layout says what each is.
//!
//! Listing is one paginated ListObjectsV2 per table folder, subfolders
//! included (no delimiter), so nothing under a table's folder escapes the
//! layout's judgement.
//!
//! A file's path is its `s3://bucket/key` URI, which is what Spectrum's
//! `"$path"` reports for its rows, so the load's progress records match.
//! Its version is the object's ETag: a rewritten object gets a new one.
//!
//! Schemas come from the Parquet footers through ranged GETs: one GET of the
//! file's last 64 KiB holds the trailer and, for the files DMS writes, the
//! whole footer; a larger footer costs one more GET of exactly its length.
//! Up to [`SCHEMA_READS_IN_FLIGHT`] files are read at once.

mod parquet_footer;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectError;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use cdc_core::dms::Layout;
use cdc_core::ports::{FileColumn, FileKind, RawFile, RawObject, RawZone};
use cdc_core::{PipelineConfig, PipelineError, TableConfig};

use crate::s3_location::S3Location;
use crate::sdk_error::{error_code, to_pipeline_error};
use parquet_footer::{FooterError, MIN_FILE_LEN, TRAILER_LEN};

/// Footers read concurrently: enough to hide S3's latency, few enough to
/// stay far from its per-prefix request rates and a Lambda's sockets.
pub const SCHEMA_READS_IN_FLIGHT: usize = 16;
/// The first ranged read of a file: its tail, footer included for DMS files.
const TAIL_READ: u64 = 64 * 1024;

pub struct S3RawZone {
    client: Client,
    location: S3Location,
}

impl S3RawZone {
    pub fn new(client: Client, location: S3Location) -> Self {
        Self { client, location }
    }

    pub fn location(&self) -> &S3Location {
        &self.location
    }

    /// The key prefix of a table's files of one kind, ending in `/`.
    pub fn table_prefix(&self, cfg: &PipelineConfig, t: &TableConfig, kind: FileKind) -> String {
        table_prefix(&self.location, cfg, t, kind)
    }

    /// The table's folder of one kind as a URI (a Glue table's location).
    pub fn table_location(&self, cfg: &PipelineConfig, t: &TableConfig, kind: FileKind) -> String {
        table_location(&self.location, cfg, t, kind)
    }

    async fn list(&self, rel_prefix: &str, start_after: Option<&str>) -> Result<Vec<RawObject>, PipelineError> {
        let prefix = self.location.key(rel_prefix);
        let start_after = start_after.map(|s| format!("{prefix}{s}"));
        let context = format!(
            "S3 ListObjectsV2 on bucket {} prefix {prefix}{}",
            self.location.bucket(),
            start_after.as_deref().map(|s| format!(" after {s}")).unwrap_or_default()
        );
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(self.location.bucket())
            .prefix(&prefix)
            .set_start_after(start_after)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| to_pipeline_error(&e, &context))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let uri = self.location.uri_of_key(key);
                let incomplete = || PipelineError::retryable(format!("{context}: no size, date or ETag for {uri}"));
                let size = object.size().and_then(|s| u64::try_from(s).ok()).ok_or_else(incomplete)?;
                let modified = object.last_modified().and_then(to_chrono).ok_or_else(incomplete)?;
                let version = object.e_tag().ok_or_else(incomplete)?.to_string();
                let rel = key.strip_prefix(&prefix).unwrap_or(key).to_string();
                out.push(RawObject { rel, path: uri, size, modified, version });
            }
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    /// The columns of one file, from its footer.
    async fn file_schema(&self, file: &RawFile) -> Result<Vec<FileColumn>, PipelineError> {
        let (bucket, key) = split_uri(&file.path)?;
        let unreadable = |why: &dyn std::fmt::Display| {
            PipelineError::data(format!(
                "file {} is not readable Parquet (empty, truncated or corrupt?): {why}",
                file.path
            ))
        };
        if file.size < MIN_FILE_LEN {
            return Err(unreadable(&format!("{} bytes is too short", file.size)));
        }
        let (tail, total) = self.read_tail(bucket, key, &file.path, TAIL_READ).await?;
        let footer_len = parquet_footer::footer_len(&tail, total).map_err(|e| unreadable(&e))?;
        let needed = footer_len + TRAILER_LEN;
        let tail = if needed <= tail.len() {
            tail
        } else {
            let (tail, total_now) = self.read_tail(bucket, key, &file.path, needed as u64).await?;
            if total_now != total || tail.len() != needed {
                return Err(PipelineError::retryable(format!("file {} changed while its footer was read", file.path)));
            }
            tail
        };
        let footer = &tail[tail.len() - needed..tail.len() - TRAILER_LEN];
        parquet_footer::file_columns(footer).map_err(|e: FooterError| unreadable(&e))
    }

    /// The last `len` bytes of an object (all of it when shorter) and the
    /// object's size.
    async fn read_tail(&self, bucket: &str, key: &str, uri: &str, len: u64) -> Result<(Vec<u8>, u64), PipelineError> {
        let out = self.client.get_object().bucket(bucket).key(key).range(format!("bytes=-{len}")).send().await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                let context = format!("S3 GetObject {uri}");
                return Err(match e.as_service_error() {
                    // Listed a moment ago: deleted or replaced since, a new listing will tell.
                    Some(GetObjectError::NoSuchKey(_)) => {
                        PipelineError::retryable(format!("{context}: the file is gone since it was listed"))
                    }
                    _ if error_code(&e) == Some("InvalidRange") => {
                        PipelineError::data(format!("file {uri} is not readable Parquet: it is empty"))
                    }
                    _ => to_pipeline_error(&e, &context),
                });
            }
        };
        let range_total = out.content_range().and_then(|r| r.rsplit_once('/')).and_then(|(_, t)| t.parse().ok());
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| PipelineError::retryable(format!("S3 GetObject {uri}: reading the body: {e}")))?
            .into_bytes()
            .to_vec();
        // Without a Content-Range, S3 sent the whole object.
        let total = range_total.unwrap_or(body.len() as u64);
        Ok((body, total))
    }
}

/// The key prefix of a table's files of one kind under a raw zone, ending in `/`.
pub fn table_prefix(raw: &S3Location, cfg: &PipelineConfig, t: &TableConfig, kind: FileKind) -> String {
    raw.key(&Layout::new(&cfg.dms).folder_prefix(kind.into(), t.schema.as_str(), t.name.as_str()))
}

/// [`table_prefix`] as a URI: a raw Glue table's location.
pub fn table_location(raw: &S3Location, cfg: &PipelineConfig, t: &TableConfig, kind: FileKind) -> String {
    raw.uri_of_key(&table_prefix(raw, cfg, t, kind))
}

/// A CDC day's folder as a URI (a raw Glue partition's location), where
/// days have folders.
pub fn day_location(raw: &S3Location, cfg: &PipelineConfig, t: &TableConfig, day: &str) -> Option<String> {
    let date = chrono::NaiveDate::parse_from_str(day, "%Y%m%d").ok()?;
    let folder = Layout::new(&cfg.dms).day_folder(date)?;
    Some(format!("{}{folder}", table_location(raw, cfg, t, FileKind::Cdc)))
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// `s3://bucket/key` → `(bucket, key)`.
fn split_uri(uri: &str) -> Result<(&str, &str), PipelineError> {
    uri.strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
        .ok_or_else(|| PipelineError::config(format!("raw file {uri:?} is not an s3://bucket/key URI")))
}

#[async_trait]
impl RawZone for S3RawZone {
    async fn list_objects(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<RawObject>, PipelineError> {
        self.list(prefix, start_after).await
    }

    async fn file_schemas(&self, files: &[RawFile]) -> Result<Vec<Vec<FileColumn>>, PipelineError> {
        // The futures are built first (they are lazy) so the stream's type
        // names no closure: async_trait's Send check cannot see through one.
        let reads: Vec<_> = files.iter().map(|f| self.file_schema(f)).collect();
        // `buffered` keeps the input order and stops at the first error.
        futures::stream::iter(reads).buffered(SCHEMA_READS_IN_FLIGHT).try_collect().await
    }

    fn describe_prefix(&self, prefix: &str) -> String {
        self.location.uri_of_key(&self.location.key(prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_split_into_bucket_and_key() {
        assert_eq!(split_uri("s3://b/k/x.parquet").unwrap(), ("b", "k/x.parquet"));
        assert!(split_uri("/tmp/x.parquet").is_err());
        assert!(split_uri("s3://b/").is_err());
    }
}
