//! `UNLOAD ('select') TO 's3://…' FORMAT AS PARQUET …` through the S3 API.
//!
//! DuckDB runs the SELECT and writes Parquet (Snappy, as Redshift does) into
//! a temporary folder, in the query's order and split at MAXFILESIZE
//! (rounded down to a multiple of 32 MB, [`crate::rules::unload_maxfilesize`]); then
//! the emulator empties the prefix (CLEANPATH), or refuses a non-empty one
//! (neither CLEANPATH nor ALLOWOVERWRITE, Redshift's error), and uploads the
//! parts with PutObject under Redshift's names: `000.parquet`, `001.parquet`…
//! with PARALLEL OFF, `0000_part_00.parquet`… otherwise (one slice). The row
//! count is kept for `pg_last_unload_count()` in the same session.
//!
//! Not emulated: formats other than Parquet, PARTITION BY, MANIFEST,
//! encryption and compression options, and the per-slice parallel layout
//! (one slice writes everything). S3 changes are not transactional, as on
//! Redshift: a later failure in the batch leaves the files.

use std::path::{Path, PathBuf};

use aws_sdk_s3::types::ServerSideEncryption;
use duckdb::Connection;
use tokio::runtime::Handle;

use crate::spectrum::Aws;
use crate::statement::UnloadSpec;
use crate::translate::{Session, duck_literal, to_duckdb_on};

/// Runs the UNLOAD; returns the number of rows written. Errors are Redshift-style texts.
pub fn unload(
    conn: &Connection,
    rt: &Handle,
    aws: Option<&Aws>,
    spec: &UnloadSpec,
    session: Session,
) -> Result<u64, String> {
    let aws = aws.ok_or("ERROR: UNLOAD needs S3: the emulator was started without AWS settings")?;
    let query = to_duckdb_on(conn, &spec.query, session).map_err(|e| e.0)?;
    let dir = tempfile::Builder::new()
        .prefix("redshift-emulator-unload-")
        .tempdir()
        .map_err(|e| format!("ERROR: UNLOAD: {e}"))?;
    let target = match spec.max_file_bytes {
        Some(bytes) => format!(
            "{} (FORMAT PARQUET, COMPRESSION SNAPPY, FILE_SIZE_BYTES {bytes}, FILENAME_PATTERN 'part_{{i}}')",
            duck_literal(&dir.path().display().to_string())
        ),
        None => format!(
            "{} (FORMAT PARQUET, COMPRESSION SNAPPY)",
            duck_literal(&dir.path().join("part_0.parquet").display().to_string())
        ),
    };
    let rows = conn
        .execute(&format!("COPY ({query}) TO {target}"), [])
        .map_err(|e| crate::errors::redshift_text(&e.to_string()))?;
    let parts = written_parts(dir.path()).map_err(|e| format!("ERROR: UNLOAD: reading its own output: {e}"))?;
    rt.block_on(publish(aws, spec, &parts))?;
    Ok(rows as u64)
}

/// The part files DuckDB wrote, in order.
fn written_parts(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut parts: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let index = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.strip_prefix("part_"))
            .and_then(|n| n.parse().ok());
        if let Some(i) = index {
            parts.push((i, path));
        }
    }
    parts.sort();
    Ok(parts.into_iter().map(|(_, p)| p).collect())
}

/// Redshift's name of part `i`.
pub fn part_key(spec: &UnloadSpec, i: usize) -> String {
    let ext = spec.extension.as_deref().map_or(".parquet".to_string(), |e| format!(".{}", e.trim_start_matches('.')));
    if spec.parallel { format!("{}0000_part_{i:02}{ext}", spec.prefix) } else { format!("{}{i:03}{ext}", spec.prefix) }
}

async fn publish(aws: &Aws, spec: &UnloadSpec, parts: &[PathBuf]) -> Result<(), String> {
    let failed = |what: &str, e: String| format!("ERROR: UNLOAD to s3://{}/{}: {what}: {e}", spec.bucket, spec.prefix);
    let existing =
        list_keys(aws, &spec.bucket, &spec.prefix).await.map_err(|e| failed("listing the destination", e))?;
    if !existing.is_empty() {
        if spec.cleanpath {
            for key in &existing {
                aws.s3
                    .delete_object()
                    .bucket(&spec.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| failed("CLEANPATH", aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
            }
        } else if !spec.allow_overwrite {
            return Err("ERROR: Specified unload destination on S3 is not empty. Consider using a different bucket / \
                        prefix, manually removing the target files in S3, or using the ALLOWOVERWRITE option."
                .into());
        }
    }
    for (i, part) in parts.iter().enumerate() {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(part)
            .await
            .map_err(|e| failed("reading a part", e.to_string()))?;
        aws.s3
            .put_object()
            .bucket(&spec.bucket)
            .key(part_key(spec, i))
            .body(body)
            .set_server_side_encryption(spec.kms_key_id.as_ref().map(|_| ServerSideEncryption::AwsKms))
            .set_ssekms_key_id(spec.kms_key_id.clone())
            .send()
            .await
            .map_err(|e| failed("PutObject", aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
    }
    Ok(())
}

async fn list_keys(aws: &Aws, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
    Ok(crate::spectrum::list_objects(aws, bucket, prefix).await?.into_iter().map(|(key, _)| key).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_named_as_redshift_names_them() {
        let mut spec = UnloadSpec {
            query: String::new(),
            bucket: "b".into(),
            prefix: "cdc/t/changedate=20261101/".into(),
            parallel: false,
            max_file_bytes: None,
            cleanpath: true,
            allow_overwrite: false,
            extension: None,
            kms_key_id: None,
        };
        assert_eq!(part_key(&spec, 0), "cdc/t/changedate=20261101/000.parquet");
        assert_eq!(part_key(&spec, 12), "cdc/t/changedate=20261101/012.parquet");
        spec.parallel = true;
        assert_eq!(part_key(&spec, 1), "cdc/t/changedate=20261101/0000_part_01.parquet");
        spec.extension = Some("pq".into());
        assert_eq!(part_key(&spec, 0), "cdc/t/changedate=20261101/0000_part_00.pq");
    }
}
