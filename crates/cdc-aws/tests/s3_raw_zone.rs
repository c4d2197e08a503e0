//! The S3 raw zone against moto: a DMS raw zone written locally and
//! uploaded is listed file for file (kinds, days, sizes, ETags, the s3://
//! paths Spectrum reports), across ListObjectsV2 pages, with every other
//! object reported; and the files' schemas are read from their footers.

mod lake;

use cdc_aws::iam_record::{ArnScope, CallRecorder};
use cdc_core::ErrorKind;
use cdc_core::dms::{ListingScope, TableListing, list_table, list_table_within};
use cdc_core::ports::{FileColumn, FileColumnType, FileKind, RawFile, RawZone};
use cdc_core::steps::dispatch::{Function, in_function};
use futures::StreamExt;
use lake::{ACCOUNTS_CDC, ACCOUNTS_FULL, NOISE, RAW_BUCKET, RAW_PREFIX, Written, lake, parquet_bytes, write_raw_zone};

fn expected(written: &[Written], table: &str, kind: FileKind) -> Vec<(String, FileKind, Option<String>, u64)> {
    let mut out: Vec<_> = written
        .iter()
        .filter(|w| w.table == table && w.kind == kind)
        .map(|w| (format!("s3://{RAW_BUCKET}/{RAW_PREFIX}/{}", w.rel), w.kind, w.day.clone(), w.size))
        .collect();
    out.sort();
    out
}

fn got<'a>(files: impl Iterator<Item = &'a RawFile>) -> Vec<(String, FileKind, Option<String>, u64)> {
    files.map(|f| (f.path.clone(), f.kind, f.partition.clone(), f.size)).collect()
}

/// A table's listing as the load makes it: the objects, explained by the layout.
async fn listing(lake: &lake::Lake, zone: &cdc_aws::S3RawZone, table: &str) -> TableListing {
    list_table(&lake.cfg, lake.cfg.table(table).unwrap(), zone).await.unwrap()
}

/// The files of one kind, in order.
async fn files(lake: &lake::Lake, zone: &cdc_aws::S3RawZone, table: &str, kind: FileKind) -> Vec<RawFile> {
    listing(lake, zone, table).await.of_kind(kind).cloned().collect()
}

#[tokio::test]
async fn the_listing_is_the_dms_files_with_their_kinds_days_and_sizes_and_the_rest_is_reported() {
    // GIVEN a DMS raw zone (with noise the layout cannot explain) uploaded under s3://cdc-raw/dms/
    let lake = lake().await;
    let dir = tempfile::tempdir().unwrap();
    let written = write_raw_zone(dir.path());
    lake.upload(dir.path()).await;
    let zone = lake.raw_zone();
    let before = chrono::Utc::now() - chrono::Duration::minutes(5);
    for table in ["pgbench_accounts", "pgbench_tellers", "pgbench_history"] {
        // WHEN listed
        let l = listing(&lake, &zone, table).await;
        for kind in [FileKind::Full, FileKind::Cdc] {
            // THEN exactly the DMS files, sorted by path, with S3's dates and ETags
            assert_eq!(got(l.of_kind(kind)), expected(&written, table, kind), "{table} {kind:?}");
            assert!(l.of_kind(kind).all(|f| f.modified > before && f.modified <= chrono::Utc::now()));
            assert!(l.of_kind(kind).all(|f| f.version.starts_with('"')), "{:?}", l.files);
        }
        // AND every other object under the table's folders is reported, none is a layout mismatch
        let want: Vec<String> = NOISE
            .iter()
            .filter(|n| n.contains(&format!("/{table}/")))
            .map(|n| format!("s3://{RAW_BUCKET}/{RAW_PREFIX}/{n}"))
            .collect();
        let mut reported: Vec<String> = l.unexplained.iter().map(|u| u.path.clone()).collect();
        reported.sort();
        let mut want = want;
        want.sort();
        assert_eq!(reported, want, "{table}");
        assert!(l.layout_error(lake.cfg.table(table).unwrap()).is_none(), "{table}");
    }
    // AND the listing names the table folders
    let l = listing(&lake, &zone, "pgbench_accounts").await;
    assert_eq!(
        l.described,
        ["s3://cdc-raw/dms/full/public/pgbench_accounts/", "s3://cdc-raw/dms/cdc/public/pgbench_accounts/"]
    );
}

#[tokio::test]
async fn a_dms_file_laid_out_otherwise_fails_the_table_naming_setting_prefix_and_object() {
    // GIVEN CDC files written flat into the table's folder while [dms] says day folders
    let lake = lake().await;
    let body = parquet_bytes(ACCOUNTS_CDC, 1);
    let key = format!("{RAW_PREFIX}/cdc/public/pgbench_accounts/20261101-120000000.parquet");
    lake.put(RAW_BUCKET, &key, body.clone()).await;
    lake.put(RAW_BUCKET, &format!("{RAW_PREFIX}/cdc/public/pgbench_accounts/20261101-120100000.parquet"), body).await;
    let zone = lake.raw_zone();
    // WHEN listed
    let l = listing(&lake, &zone, "pgbench_accounts").await;
    // THEN no file is taken, and the table's error names the setting, the prefix and an object
    assert_eq!(l.of_kind(FileKind::Cdc).count(), 0);
    let e = l.layout_error(lake.cfg.table("pgbench_accounts").unwrap()).unwrap();
    assert_eq!(e.kind, ErrorKind::ConfigError);
    for part in [
        "dms.date_partition_enabled",
        "s3://cdc-raw/dms/cdc/public/pgbench_accounts/",
        &format!("s3://{RAW_BUCKET}/{key}"),
        "1 more objects like it",
    ] {
        assert!(e.message.contains(part), "{part}: {e}");
    }
}

#[tokio::test]
async fn more_than_one_page_of_objects_is_listed_whole() {
    // GIVEN 1,205 CDC files over two days (moto, like S3, pages at 1,000 keys)
    let lake = lake().await;
    let body = parquet_bytes(ACCOUNTS_CDC, 1);
    let keys: Vec<String> = (0..1205)
        .map(|i| {
            let day = if i < 700 { "20261101" } else { "20261102" };
            let clock = format!("{:02}{:02}{:02}", i / 3600, i / 60 % 60, i % 60);
            format!("{RAW_PREFIX}/cdc/public/pgbench_accounts/{day}/{day}-{clock}000.parquet")
        })
        .collect();
    let puts: Vec<_> = keys.iter().map(|k| lake.put(RAW_BUCKET, k, body.clone())).collect();
    futures::stream::iter(puts).buffer_unordered(32).collect::<Vec<()>>().await;
    let zone = lake.raw_zone();
    // WHEN listed THEN every file, once, in order, each in its day
    let files = files(&lake, &zone, "pgbench_accounts", FileKind::Cdc).await;
    let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    let mut want: Vec<String> = keys.iter().map(|k| format!("s3://{RAW_BUCKET}/{k}")).collect();
    want.sort();
    assert_eq!(paths, want);
    assert_eq!(files.iter().filter(|f| f.partition.as_deref() == Some("20261102")).count(), 505);
}

#[tokio::test]
async fn a_bounded_listing_costs_the_days_it_covers_not_the_history() {
    // GIVEN ten days of CDC files, 300 a day (3 pages of 1,000 keys whole), and the full load
    let lake = lake().await;
    let body = parquet_bytes(ACCOUNTS_CDC, 1);
    let day = |d: u32| format!("202611{d:02}");
    let mut keys: Vec<String> = (0..3000)
        .map(|i| {
            let d = day(1 + i / 300);
            let s = i % 300;
            format!("{RAW_PREFIX}/cdc/public/pgbench_accounts/{d}/{d}-{:02}{:02}00000.parquet", s / 60, s % 60)
        })
        .collect();
    keys.push(format!("{RAW_PREFIX}/full/public/pgbench_accounts/LOAD00000001.parquet"));
    let puts: Vec<_> = keys.iter().map(|k| lake.put(RAW_BUCKET, k, body.clone())).collect();
    futures::stream::iter(puts).buffer_unordered(32).collect::<Vec<()>>().await;
    let recorder = CallRecorder::new(ArnScope::new("aws", cdc_moto::REGION, cdc_moto::ACCOUNT_ID));
    let s3 = cdc_aws::deployment::s3_client_with(&lake.moto.sdk_config().await, &[recorder.shared()]);
    let zone = cdc_aws::S3RawZone::new(s3, lake.raw_location());
    let t = lake.cfg.table("pgbench_accounts").unwrap();
    let lists = || recorder.rows().iter().filter(|r| r.operation == "s3.ListObjectsV2").count();

    // WHEN listed from day 8 on (StartAfter), then whole
    let from = chrono::NaiveDate::from_ymd_opt(2026, 11, 8).unwrap();
    let scope = ListingScope::Since { from, until: from + chrono::Days::new(3) };
    let bounded = in_function(Function::JobState, list_table_within(&lake.cfg, t, &zone, scope)).await.unwrap();
    let bounded_calls = lists();
    let whole = in_function(Function::JobState, list_table(&lake.cfg, t, &zone)).await.unwrap();
    let whole_calls = lists() - bounded_calls;

    // THEN the bounded listing has the full load and every file of days 8 to 10, none before
    let days: std::collections::BTreeSet<&str> =
        bounded.of_kind(FileKind::Cdc).filter_map(|f| f.partition.as_deref()).collect();
    assert_eq!(days.into_iter().collect::<Vec<_>>(), vec!["20261108", "20261109", "20261110"]);
    assert_eq!((bounded.of_kind(FileKind::Cdc).count(), bounded.of_kind(FileKind::Full).count()), (900, 1));
    // AND it took one call per folder, where the whole listing (every claim's before issue 20) took 2 pages more
    assert_eq!(bounded_calls, 2);
    assert_eq!(whole.of_kind(FileKind::Cdc).count(), 3000);
    assert_eq!(whole_calls, 3 + 1, "{:?}", recorder.rows());
}

fn columns(cols: &[(&str, FileColumnType)]) -> Vec<FileColumn> {
    cols.iter().map(|(n, ty)| FileColumn { name: n.to_string(), ty: ty.clone() }).collect()
}

#[tokio::test]
async fn schemas_come_from_the_footers_in_the_order_asked() {
    // GIVEN the raw zone, and a file of every column type the pipeline knows
    let lake = lake().await;
    let dir = tempfile::tempdir().unwrap();
    write_raw_zone(dir.path());
    lake.upload(dir.path()).await;
    let types = "message schema {
      optional boolean b;
      optional int32 i8 (INTEGER(8,true));
      optional int32 i16 (INTEGER(16,true));
      optional int32 i32;
      optional int64 i64;
      optional float f32;
      optional double f64;
      optional int32 d (DATE);
      optional int64 ts_ms (TIMESTAMP(MILLIS,true));
      optional int64 ts_ns (TIMESTAMP(NANOS,false));
      optional int96 ts_legacy;
      optional binary s (UTF8);
      optional binary e (ENUM);
      optional int32 dec9 (DECIMAL(9,2));
      optional int64 dec18 (DECIMAL(18,4));
      optional fixed_len_byte_array(16) dec38 (DECIMAL(38,10));
      optional int32 t (TIME(MILLIS,true));
      optional binary raw;
      optional int32 u32 (INTEGER(32,false));
    }";
    lake.put(
        RAW_BUCKET,
        &format!("{RAW_PREFIX}/cdc/public/pgbench_branches/20261101/20261101-000000001.parquet"),
        parquet_bytes(types, 3),
    )
    .await;
    let zone = lake.raw_zone();
    let mut files = files(&lake, &zone, "pgbench_branches", FileKind::Cdc).await;
    files.extend(listing(&lake, &zone, "pgbench_accounts").await.files);
    assert_eq!(files.len(), 9);
    // WHEN their schemas are read (several at once)
    let schemas = zone.file_schemas(&files).await.unwrap();
    // THEN in the order asked, whatever order the reads end in
    let mut reversed = files.clone();
    reversed.reverse();
    let mut again = zone.file_schemas(&reversed).await.unwrap();
    again.reverse();
    assert_eq!(again, schemas);
    use FileColumnType as F;
    // THEN the type file's columns are typed as the local adapter types them
    assert_eq!(
        schemas[0],
        columns(&[
            ("b", F::Boolean),
            ("i8", F::Int16),
            ("i16", F::Int16),
            ("i32", F::Int32),
            ("i64", F::Int64),
            ("f32", F::Float32),
            ("f64", F::Float64),
            ("d", F::Date),
            ("ts_ms", F::Timestamp),
            ("ts_ns", F::Timestamp),
            ("ts_legacy", F::Timestamp),
            ("s", F::String),
            ("e", F::String),
            ("dec9", F::Decimal(9, 2)),
            ("dec18", F::Decimal(18, 4)),
            ("dec38", F::Decimal(38, 10)),
            ("t", F::Other("INT32/TIME_MILLIS".into())),
            ("raw", F::Other("BYTE_ARRAY/-".into())),
            ("u32", F::Other("INT32/UINT_32".into())),
        ])
    );
    // AND the DMS files have their DMS columns
    let full = columns(&[
        ("changets", F::Timestamp),
        ("aid", F::Int32),
        ("bid", F::Int32),
        ("abalance", F::Int32),
        ("filler", F::String),
    ]);
    let cdc = columns(&[
        ("Op", F::String),
        ("changets", F::Timestamp),
        ("ar_h_change_seq", F::String),
        ("aid", F::Int32),
        ("bid", F::Int32),
        ("abalance", F::Int32),
        ("filler", F::String),
    ]);
    assert_eq!(&schemas[1..3], &[full.clone(), full]);
    assert!(schemas[3..].iter().all(|s| *s == cdc), "{schemas:?}");
    // AND none asked, none read
    assert!(zone.file_schemas(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_footer_larger_than_the_first_read_is_read_whole() {
    // GIVEN a file of 2,000 columns with long names: a footer well over 64 KiB
    let lake = lake().await;
    let names: Vec<String> =
        (0..2000).map(|i| format!("a_column_with_a_rather_long_descriptive_name_{i:04}")).collect();
    let fields: String = names.iter().map(|n| format!("optional int64 {n};\n")).collect();
    let body = parquet_bytes(&format!("message schema {{\n{fields}}}"), 2);
    assert!(body.len() > 200 * 1024, "{}", body.len());
    let key = format!("{RAW_PREFIX}/full/public/pgbench_history/LOAD00000001.parquet");
    lake.put(RAW_BUCKET, &key, body).await;
    let zone = lake.raw_zone();
    let files = files(&lake, &zone, "pgbench_history", FileKind::Full).await;
    // WHEN its schema is read THEN every column is there
    let schema = zone.file_schemas(&files).await.unwrap().remove(0);
    assert_eq!(schema.iter().map(|c| c.name.clone()).collect::<Vec<_>>(), names);
    assert!(schema.iter().all(|c| c.ty == FileColumnType::Int64));
}

#[tokio::test]
async fn an_object_that_is_not_parquet_is_a_data_error_naming_it() {
    // GIVEN, among good files, a CSV named .parquet, an empty one, a truncated one and an encrypted-footer one
    let lake = lake().await;
    let good = parquet_bytes(ACCOUNTS_FULL, 3);
    let mut truncated = good.clone();
    truncated.drain(good.len() - 40..good.len() - 8);
    let mut encrypted = good.clone();
    let n = encrypted.len();
    encrypted[n - 4..].copy_from_slice(b"PARE");
    let mut lying = good.clone();
    lying[n - 8..n - 4].copy_from_slice(&(n as u32).to_le_bytes());
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("LOAD00000002.parquet", b"aid,bid\n1,2\n3,4\n5,6\n".to_vec(), "PAR1"),
        ("LOAD00000003.parquet", Vec::new(), "too short"),
        ("LOAD00000004.parquet", truncated, "footer is corrupt"),
        ("LOAD00000005.parquet", encrypted, "encrypted"),
        ("LOAD00000006.parquet", lying, "does not fit"),
    ];
    let dir = format!("{RAW_PREFIX}/full/public/pgbench_accounts");
    lake.put(RAW_BUCKET, &format!("{dir}/LOAD00000001.parquet"), good).await;
    for (name, body, _) in &cases {
        lake.put(RAW_BUCKET, &format!("{dir}/{name}"), body.clone()).await;
    }
    let zone = lake.raw_zone();
    let files = files(&lake, &zone, "pgbench_accounts", FileKind::Full).await;
    assert_eq!(files.len(), 6);
    // WHEN the good file is read THEN fine
    zone.file_schemas(&files[..1]).await.unwrap();
    for (i, (name, _, why)) in cases.iter().enumerate() {
        // WHEN read with the good file THEN a DataError naming the bad file's URI and why
        let e = zone.file_schemas(&[files[0].clone(), files[i + 1].clone()]).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::DataError, "{name}: {e}");
        assert!(e.message.contains(&format!("s3://{RAW_BUCKET}/{dir}/{name}")), "{e}");
        assert!(e.message.contains(why), "{name}: {e}");
    }
    // AND a file deleted since the listing is Retryable (a new listing will not have it)
    lake.s3.delete_object().bucket(RAW_BUCKET).key(format!("{dir}/LOAD00000001.parquet")).send().await.unwrap();
    let e = zone.file_schemas(&files[..1]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable, "{e}");
    assert!(e.message.contains("LOAD00000001.parquet"), "{e}");
}

#[tokio::test]
async fn a_missing_bucket_is_a_config_error_naming_it() {
    let lake = lake().await;
    let zone = cdc_aws::S3RawZone::new(lake.s3.clone(), cdc_aws::S3Location::new("no-such-bucket", "dms").unwrap());
    let e = list_table(&lake.cfg, lake.cfg.table("pgbench_accounts").unwrap(), &zone).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
    assert!(e.message.contains("no-such-bucket") && e.message.contains("NoSuchBucket"), "{e}");
}

/// `fixtures/duckdb_types.parquet` was written by DuckDB (as cdc-dmsgen
/// writes the demo's raw zone):
///
/// ```sql
/// COPY (SELECT 'I'::VARCHAR AS "Op", TIMESTAMP '2026-11-01 20:00:00' AS changets,
///   '0001'::VARCHAR AS ar_h_change_seq, 1::INTEGER AS aid, 2::SMALLINT AS s16, 3::TINYINT AS t8,
///   4::BIGINT AS b64, true AS flag, 1.5::REAL AS r, 2.5::DOUBLE AS d, DATE '2026-11-01' AS dt,
///   12.34::DECIMAL(4,2) AS dec4, 123.456::DECIMAL(18,3) AS dec18, 1.0::DECIMAL(38,10) AS dec38,
///   TIME '10:00:00' AS tm, 'x'::BLOB AS bl, 5::UINTEGER AS u32,
///   TIMESTAMPTZ '2026-11-01 20:00:00+00' AS tstz, TIMESTAMP_NS '2026-11-01 20:00:00' AS tsns,
///   TIMESTAMP_MS '2026-11-01 20:00:00' AS tsms, [1,2] AS lst, {'a': 1} AS st)
/// TO 'duckdb_types.parquet' (FORMAT PARQUET)
/// ```
///
/// The expected types are what the local `FolderRawZone` gives for it: its
/// rules applied to DuckDB's own `parquet_schema` of the file.
#[tokio::test]
async fn a_duckdb_written_file_is_typed_as_the_local_adapter_types_it() {
    let lake = lake().await;
    let key = format!("{RAW_PREFIX}/full/public/pgbench_history/LOAD00000001.parquet");
    lake.put(RAW_BUCKET, &key, include_bytes!("fixtures/duckdb_types.parquet").to_vec()).await;
    let zone = lake.raw_zone();
    let files = files(&lake, &zone, "pgbench_history", FileKind::Full).await;
    let schema = zone.file_schemas(&files).await.unwrap().remove(0);
    use FileColumnType as F;
    assert_eq!(
        schema,
        columns(&[
            ("Op", F::String),
            ("changets", F::Timestamp),
            ("ar_h_change_seq", F::String),
            ("aid", F::Int32),
            ("s16", F::Int16),
            ("t8", F::Int16),
            ("b64", F::Int64),
            ("flag", F::Boolean),
            ("r", F::Float32),
            ("d", F::Float64),
            ("dt", F::Date),
            ("dec4", F::Decimal(4, 2)),
            ("dec18", F::Decimal(18, 3)),
            ("dec38", F::Decimal(38, 10)),
            ("tm", F::Other("INT64/TIME_MICROS".into())),
            ("bl", F::Other("BYTE_ARRAY/-".into())),
            ("u32", F::Other("INT32/UINT_32".into())),
            ("tstz", F::Timestamp),
            ("tsns", F::Timestamp),
            ("tsms", F::Timestamp),
            // the leaves of the list and the struct, by their own names
            ("element", F::Int32),
            ("a", F::Int32),
        ])
    );
}

/// S3: "The entity tag is a hash of the object. The ETag reflects changes
/// only to the contents of an object, not its metadata."
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html). The
/// load takes the ETag as a file's version, so a rewrite must change it.
#[tokio::test]
async fn a_rewritten_object_lists_with_another_etag_and_the_same_bytes_with_the_same() {
    // GIVEN a CDC file in S3, listed once
    let lake = lake().await;
    let key = format!("{RAW_PREFIX}/cdc/public/pgbench_accounts/20261101/20261101-000100000.parquet");
    lake.put(RAW_BUCKET, &key, parquet_bytes(ACCOUNTS_CDC, 3)).await;
    let zone = lake.raw_zone();
    let first = files(&lake, &zone, "pgbench_accounts", FileKind::Cdc).await;
    // WHEN the same bytes are written again THEN the version stays
    lake.put(RAW_BUCKET, &key, parquet_bytes(ACCOUNTS_CDC, 3)).await;
    let same = files(&lake, &zone, "pgbench_accounts", FileKind::Cdc).await;
    assert_eq!(same[0].version, first[0].version);
    // WHEN other bytes are written under the name THEN the listing shows another version
    lake.put(RAW_BUCKET, &key, parquet_bytes(ACCOUNTS_CDC, 4)).await;
    let again = files(&lake, &zone, "pgbench_accounts", FileKind::Cdc).await;
    assert_eq!(again[0].path, first[0].path);
    assert_ne!(again[0].version, first[0].version);
}
