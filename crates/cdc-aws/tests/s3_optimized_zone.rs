//! The S3 optimized zone against moto: `check` refuses a zone overlapping
//! the raw zone before writing anything, and an unusable bucket; export
//! targets are the final day prefixes; `publish` counts what UNLOAD wrote.

mod lake;

use cdc_aws::{S3Location, S3OptimizedZone};
use cdc_core::ErrorKind;
use cdc_core::ports::{DayFiles, ExportTarget, OptimizedZone};
use lake::{RAW_BUCKET, lake};

const BUCKET: &str = "cdc-optimized";
const ROLE: &str = "arn:aws:iam::123456789012:role/redshift-unload";

fn zone(lake: &lake::Lake, location: &str) -> S3OptimizedZone {
    S3OptimizedZone::new(lake.s3.clone(), S3Location::parse(location).unwrap(), lake.raw_location(), Some(ROLE))
}

#[tokio::test]
async fn check_refuses_a_zone_overlapping_the_raw_zone_before_writing_anything() {
    // GIVEN the raw zone at s3://cdc-raw/dms/
    let lake = lake().await;
    for location in ["s3://cdc-raw/dms", "s3://cdc-raw/dms/optimized", "s3://cdc-raw", "s3://cdc-raw/"] {
        // WHEN the optimized zone is the raw zone, inside it, or holds it
        let e = zone(&lake, location).check().await.unwrap_err();
        // THEN a ConfigError naming both
        assert_eq!(e.kind, ErrorKind::ConfigError, "{location}: {e}");
        assert!(e.message.contains("overlaps the raw zone s3://cdc-raw/dms/"), "{e}");
    }
    // AND nothing was written to the bucket
    assert_eq!(lake.keys(RAW_BUCKET, "").await, Vec::<String>::new());
    // AND a sibling prefix of the same bucket is fine
    zone(&lake, "s3://cdc-raw/optimized").check().await.unwrap();
}

#[tokio::test]
async fn check_proves_write_access_and_leaves_nothing_behind() {
    let lake = lake().await;
    lake.s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    // WHEN checked THEN fine, and the probe object is gone
    zone(&lake, "s3://cdc-optimized/exports").check().await.unwrap();
    assert_eq!(lake.keys(BUCKET, "").await, Vec::<String>::new());
}

#[tokio::test]
async fn an_unusable_bucket_or_role_is_a_config_error_naming_it() {
    let lake = lake().await;
    // GIVEN a bucket that does not exist WHEN checked THEN ConfigError naming it
    let e = zone(&lake, "s3://no-such-optimized-bucket/x").check().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
    assert!(e.message.contains("no-such-optimized-bucket"), "{e}");
    // GIVEN a role that is not an IAM role ARN THEN ConfigError naming it
    lake.s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let bad = S3OptimizedZone::new(
        lake.s3.clone(),
        S3Location::parse("s3://cdc-optimized").unwrap(),
        lake.raw_location(),
        Some("admin"),
    );
    let e = bad.check().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
    assert!(e.message.contains("\"admin\""), "{e}");
}

#[tokio::test]
async fn the_export_target_is_the_day_prefix_and_publish_counts_what_is_there() {
    let lake = lake().await;
    lake.s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let z = zone(&lake, "s3://cdc-optimized/exports/");
    let t = lake.cfg.table("pgbench_accounts").unwrap();
    // WHEN a day's target is asked THEN the final day prefix, with the role
    let target = z.export_target(t, "20261122").unwrap();
    let day = "s3://cdc-optimized/exports/pgbench_accounts/changedate=20261122/";
    assert_eq!(target, ExportTarget { location: day.into(), iam_role: Some(ROLE.into()), kms_key_id: None });
    assert_eq!(z.day_location(t, "20261122"), day);
    assert_eq!(z.table_location(t), "s3://cdc-optimized/exports/pgbench_accounts/");
    // AND the default role when none is configured
    let default = S3OptimizedZone::new(
        lake.s3.clone(),
        S3Location::parse("s3://cdc-optimized").unwrap(),
        lake.raw_location(),
        None,
    );
    assert_eq!(default.export_target(t, "20261122").unwrap().iam_role.as_deref(), Some("default"));
    // AND with a KMS key the export writes SSE-KMS under it (KMS_KEY_ID … ENCRYPTED), an empty one is SSE-S3
    let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let kms = zone(&lake, "s3://cdc-optimized/exports/").with_kms_key(Some(key));
    assert_eq!(kms.export_target(t, "20261122").unwrap().kms_key_id.as_deref(), Some(key));
    let none = zone(&lake, "s3://cdc-optimized/exports/").with_kms_key(Some(" "));
    assert_eq!(none.export_target(t, "20261122").unwrap().kms_key_id, None);
    // AND a day that is not YYYYMMDD is a DataError
    assert_eq!(z.export_target(t, "2026-11-22").unwrap_err().kind, ErrorKind::DataError);

    // GIVEN what UNLOAD wrote (three part files), plus a neighbour day, a longer
    // table name, a nested key and a non-Parquet file
    let objects = [
        ("exports/pgbench_accounts/changedate=20261122/0000_part_00.parquet", 1000),
        ("exports/pgbench_accounts/changedate=20261122/0001_part_00.parquet", 2000),
        ("exports/pgbench_accounts/changedate=20261122/0002_part_00.parquet", 30),
        ("exports/pgbench_accounts/changedate=20261122/manifest", 5),
        ("exports/pgbench_accounts/changedate=20261122/sub/0000_part_00.parquet", 5),
        ("exports/pgbench_accounts/changedate=20261123/0000_part_00.parquet", 5),
        ("exports/pgbench_accounts_v2/changedate=20261122/0000_part_00.parquet", 5),
    ];
    for (key, n) in objects {
        lake.put(BUCKET, key, vec![7u8; n]).await;
    }
    // WHEN published THEN the day's three files and their bytes
    assert_eq!(z.publish(t, "20261122", &target).await.unwrap(), DayFiles { files: 3, bytes: 3030 });
    // AND an empty day (an export of no rows) is zero files
    let empty = z.export_target(t, "20261124").unwrap();
    assert_eq!(z.publish(t, "20261124", &empty).await.unwrap(), DayFiles::default());
    // AND a target that is not the day's folder is refused
    let e = z.publish(t, "20261122", &empty).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
}
