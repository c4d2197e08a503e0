//! The raw zone in S3, as DMS writes it under a bucket and prefix:
//! `full/<schema>/<table>/LOAD*.parquet` and
//! `cdc/<schema>/<table>/<YYYYMMDD>/*.parquet`.
//!
//! Listing is one paginated ListObjectsV2 per table and kind. For CDC files
//! after a known day, `StartAfter` makes S3 begin at that day folder, so a
//! table with years of day folders costs pages only for the recent ones.
//! The same keys are kept as the local `FolderRawZone` keeps: `.parquet`
//! objects directly in the table folder (full load) or directly in an
//! 8-digit day folder (CDC), not hidden (`.`-prefixed); anything else DMS or
//! a person leaves there is ignored.
//!
//! A file's path is its `s3://bucket/key` URI, which is what Spectrum's
//! `"$path"` reports for its rows, so the load's progress records match.
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

use cdc_core::ports::{FileColumn, FileKind, RawFile, RawZone};
use cdc_core::{PipelineError, TableConfig};

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
    pub fn table_prefix(&self, t: &TableConfig, kind: FileKind) -> String {
        table_prefix(&self.location, t, kind)
    }

    /// The table's folder of one kind as a URI (a Glue table's location).
    pub fn table_location(&self, t: &TableConfig, kind: FileKind) -> String {
        table_location(&self.location, t, kind)
    }

    async fn list(&self, t: &TableConfig, kind: FileKind, from: Option<&str>) -> Result<Vec<RawFile>, PipelineError> {
        let prefix = self.table_prefix(t, kind);
        let start_after = match (kind, from) {
            // Keys of day `from` sort after `<prefix><from>`, keys of earlier days before it.
            (FileKind::Cdc, Some(day)) => Some(format!("{prefix}{day}")),
            _ => None,
        };
        let context = format!("S3 ListObjectsV2 on bucket {} prefix {prefix}", self.location.bucket());
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
                let Some(partition) = kept(key.strip_prefix(&prefix).unwrap_or_default(), kind, from) else {
                    continue;
                };
                let uri = self.location.uri_of_key(key);
                let incomplete = || PipelineError::retryable(format!("{context}: no size or date for {uri}"));
                let size = object.size().and_then(|s| u64::try_from(s).ok()).ok_or_else(incomplete)?;
                let modified = object.last_modified().and_then(to_chrono).ok_or_else(incomplete)?;
                out.push(RawFile { path: uri, kind, partition, size, modified });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
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
pub fn table_prefix(raw: &S3Location, t: &TableConfig, kind: FileKind) -> String {
    let top = match kind {
        FileKind::Full => "full",
        FileKind::Cdc => "cdc",
    };
    raw.key(&format!("{top}/{}/{}/", t.schema, t.name))
}

/// [`table_prefix`] as a URI: a raw Glue table's location.
pub fn table_location(raw: &S3Location, t: &TableConfig, kind: FileKind) -> String {
    raw.uri_of_key(&table_prefix(raw, t, kind))
}

/// A CDC day folder as a URI: a raw Glue partition's location.
pub fn day_location(raw: &S3Location, t: &TableConfig, day: &str) -> String {
    format!("{}{day}/", table_location(raw, t, FileKind::Cdc))
}

/// For a key relative to a table's folder: `Some(partition)` if the file is
/// one the raw zone lists (see the module doc), `None` otherwise.
fn kept(rel: &str, kind: FileKind, from: Option<&str>) -> Option<Option<String>> {
    let is_file_name = |name: &str| name.ends_with(".parquet") && !name.starts_with('.') && !name.contains('/');
    match kind {
        FileKind::Full => is_file_name(rel).then_some(None),
        FileKind::Cdc => {
            let (day, name) = rel.split_once('/')?;
            let is_day = day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit());
            (is_day && is_file_name(name) && from.is_none_or(|f| day >= f)).then(|| Some(day.to_string()))
        }
    }
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
    async fn list_files(
        &self,
        table: &TableConfig,
        kind: FileKind,
        from_partition: Option<&str>,
    ) -> Result<Vec<RawFile>, PipelineError> {
        self.list(table, kind, from_partition).await
    }

    async fn file_schemas(&self, files: &[RawFile]) -> Result<Vec<Vec<FileColumn>>, PipelineError> {
        // The futures are built first (they are lazy) so the stream's type
        // names no closure: async_trait's Send check cannot see through one.
        let reads: Vec<_> = files.iter().map(|f| self.file_schema(f)).collect();
        // `buffered` keeps the input order and stops at the first error.
        futures::stream::iter(reads).buffered(SCHEMA_READS_IN_FLIGHT).try_collect().await
    }

    fn describe_location(&self, table: &TableConfig) -> String {
        format!("{} and {}", self.table_location(table, FileKind::Full), self.table_location(table, FileKind::Cdc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_keys_the_folder_raw_zone_keeps() {
        let full = |rel| kept(rel, FileKind::Full, None);
        assert_eq!(full("LOAD00000001.parquet"), Some(None));
        assert_eq!(full("other.parquet"), Some(None));
        for skipped in [".LOAD1.parquet", "LOAD1.csv", "sub/LOAD1.parquet", "", "dir/"] {
            assert_eq!(full(skipped), None, "{skipped}");
        }
        let cdc = |rel, from| kept(rel, FileKind::Cdc, from);
        assert_eq!(cdc("20261101/x.parquet", None), Some(Some("20261101".into())));
        assert_eq!(cdc("20261101/x.parquet", Some("20261101")), Some(Some("20261101".into())));
        assert_eq!(cdc("20261031/x.parquet", Some("20261101")), None);
        for skipped in
            ["x.parquet", "2026110/x.parquet", "2026110a/x.parquet", "20261101/.x.parquet", "20261101/a/x.parquet"]
        {
            assert_eq!(cdc(skipped, None), None, "{skipped}");
        }
    }

    #[test]
    fn uris_split_into_bucket_and_key() {
        assert_eq!(split_uri("s3://b/k/x.parquet").unwrap(), ("b", "k/x.parquet"));
        assert!(split_uri("/tmp/x.parquet").is_err());
        assert!(split_uri("s3://b/").is_err());
    }
}
