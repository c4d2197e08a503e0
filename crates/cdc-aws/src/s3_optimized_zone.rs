//! The optimized zone in S3: `<prefix>/<table>/changedate=YYYYMMDD/*.parquet`.
//!
//! Redshift's `UNLOAD ... CLEANPATH` writes a day straight into its final
//! prefix after emptying it, so there is no staging and nothing to move:
//! `publish` only lists what the day now holds. The IAM role UNLOAD runs
//! under (`default`, or one role ARN or a comma-separated chain) travels
//! with the export target.
//!
//! `check` refuses, before anything is written, a zone that overlaps the raw
//! zone: exported files would show up in the raw listing as DMS output, and
//! CLEANPATH on a raw folder would delete DMS files. It then proves the
//! bucket is there and writable with a probe object under `_probe/`, beside
//! the table folders, removed at once.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use cdc_core::ports::{DayFiles, ExportTarget, OptimizedZone};
use cdc_core::{PipelineError, TableConfig};

use crate::s3_location::S3Location;
use crate::sdk_error::to_pipeline_error;

/// Redshift's name for the cluster's default IAM role.
pub const DEFAULT_ROLE: &str = "default";

pub struct S3OptimizedZone {
    client: Client,
    location: S3Location,
    raw: S3Location,
    iam_role: String,
    /// SSE-KMS key of the optimized files; SSE-S3 without one.
    kms_key: Option<String>,
}

impl S3OptimizedZone {
    /// `iam_role`: the role UNLOAD writes with; `None` for the cluster's default role.
    pub fn new(client: Client, location: S3Location, raw_location: S3Location, iam_role: Option<&str>) -> Self {
        let iam_role = iam_role.map(str::trim).filter(|r| !r.is_empty()).unwrap_or(DEFAULT_ROLE).to_string();
        Self { client, location, raw: raw_location, iam_role, kms_key: None }
    }

    /// Writes the optimized files (UNLOAD, and the probe) with SSE-KMS under
    /// `key`: UNLOAD otherwise writes SSE-S3, which a bucket whose policy
    /// requires SSE-KMS refuses (docs/aws.md). Empty or `None`: SSE-S3.
    pub fn with_kms_key(mut self, key: Option<&str>) -> Self {
        self.kms_key = key.map(str::trim).filter(|k| !k.is_empty()).map(str::to_string);
        self
    }

    pub fn location(&self) -> &S3Location {
        &self.location
    }

    fn table_key(&self, t: &TableConfig) -> String {
        self.location.key(&format!("{}/", t.name))
    }

    fn day_key(&self, t: &TableConfig, day: &str) -> String {
        format!("{}changedate={day}/", self.table_key(t))
    }

    fn check_role(&self) -> Result<(), PipelineError> {
        let is_role_arn = |r: &str| r.starts_with("arn:") && r.contains(":iam::") && r.contains(":role/");
        if self.iam_role == DEFAULT_ROLE || self.iam_role.split(',').all(|r| is_role_arn(r.trim())) {
            return Ok(());
        }
        Err(PipelineError::config(format!(
            "UNLOAD IAM role {:?} is neither `default` nor IAM role ARNs (arn:aws:iam::<account>:role/<name>, comma-separated for a chain)",
            self.iam_role
        )))
    }

    /// Writes and removes one small object: the cheapest proof that the
    /// bucket exists and this function's role may write and delete in it.
    /// (UNLOAD writes with Redshift's role, which only Redshift can check,
    /// when the export runs.)
    async fn probe_write(&self) -> Result<(), PipelineError> {
        let bucket = self.location.bucket();
        let nonce = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let key = self.location.key(&format!("_probe/{}-{nonce}", std::process::id()));
        let uri = self.location.uri_of_key(&key);
        self.client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from_static(b"probe"))
            .set_server_side_encryption(self.kms_key.as_ref().map(|_| ServerSideEncryption::AwsKms))
            .set_ssekms_key_id(self.kms_key.clone())
            .send()
            .await
            .map_err(|e| to_pipeline_error(&e, &format!("optimized zone: S3 PutObject {uri}")))?;
        self.client
            .delete_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| to_pipeline_error(&e, &format!("optimized zone: S3 DeleteObject {uri}")))?;
        Ok(())
    }
}

fn check_day(day: &str) -> Result<(), PipelineError> {
    if day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(PipelineError::data(format!("day {day:?} is not YYYYMMDD")))
    }
}

#[async_trait]
impl OptimizedZone for S3OptimizedZone {
    async fn check(&self) -> Result<(), PipelineError> {
        if self.location.overlaps(&self.raw) {
            return Err(PipelineError::config(format!(
                "optimized zone {} overlaps the raw zone {}: choose a prefix outside it (and the raw zone outside it)",
                self.location, self.raw
            )));
        }
        self.check_role()?;
        let bucket = self.location.bucket();
        self.client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| to_pipeline_error(&e, &format!("optimized zone: S3 HeadBucket on bucket {bucket}")))?;
        self.probe_write().await
    }

    fn export_target(&self, t: &TableConfig, day: &str) -> Result<ExportTarget, PipelineError> {
        check_day(day)?;
        Ok(ExportTarget {
            location: self.day_location(t, day),
            iam_role: Some(self.iam_role.clone()),
            kms_key_id: self.kms_key.clone(),
        })
    }

    async fn publish(&self, t: &TableConfig, day: &str, target: &ExportTarget) -> Result<DayFiles, PipelineError> {
        check_day(day)?;
        let location = self.day_location(t, day);
        if target.location != location {
            return Err(PipelineError::config(format!(
                "export of {} {day} wrote to {}, not to the day's folder {location}",
                t.name, target.location
            )));
        }
        let prefix = self.day_key(t, day);
        let context = format!("optimized zone: S3 ListObjectsV2 {location}");
        let mut pages =
            self.client.list_objects_v2().bucket(self.location.bucket()).prefix(&prefix).into_paginator().send();
        let mut out = DayFiles::default();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| to_pipeline_error(&e, &context))?;
            for object in page.contents() {
                let rel = object.key().and_then(|k| k.strip_prefix(&prefix)).unwrap_or_default();
                // UNLOAD's part files; the folder holds nothing else unless a person put it there.
                if rel.ends_with(".parquet") && !rel.contains('/') {
                    out.files += 1;
                    out.bytes += object.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                }
            }
        }
        Ok(out)
    }

    fn day_location(&self, t: &TableConfig, day: &str) -> String {
        self.location.uri_of_key(&self.day_key(t, day))
    }

    fn table_location(&self, t: &TableConfig) -> String {
        self.location.uri_of_key(&self.table_key(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(role: Option<&str>) -> S3OptimizedZone {
        let conf =
            aws_sdk_s3::Config::builder().behavior_version(aws_sdk_s3::config::BehaviorVersion::latest()).build();
        S3OptimizedZone::new(
            Client::from_conf(conf),
            S3Location::parse("s3://lake/optimized").unwrap(),
            S3Location::parse("s3://lake/raw").unwrap(),
            role,
        )
    }

    #[test]
    fn roles_are_default_or_role_arns() {
        assert!(zone(None).check_role().is_ok());
        assert!(zone(Some("")).check_role().is_ok());
        assert!(zone(Some("arn:aws:iam::123456789012:role/unload")).check_role().is_ok());
        assert!(zone(Some("arn:aws:iam::1:role/a,arn:aws:iam::2:role/b")).check_role().is_ok());
        let e = zone(Some("unload-role")).check_role().unwrap_err();
        assert!(e.message.contains("\"unload-role\""), "{e}");
    }
}
