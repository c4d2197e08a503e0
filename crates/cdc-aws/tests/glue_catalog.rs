//! The Glue catalogs against moto: raw tables created from the listing and
//! the newest files (columns, partition key, location), day partitions
//! registered, all idempotent; bad tables reported per table, naming table
//! and file; optimized tables and their day partitions, created and kept
//! current.

mod lake;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_glue::types::{Column, SerDeInfo, StorageDescriptor, TableInput};
use cdc_aws::glue_catalog::table_def::{INPUT_FORMAT, OUTPUT_FORMAT, SERDE};
use cdc_aws::{GlueCatalog, GlueRawCatalog};
use cdc_core::ports::{DayFiles, FileKind, OptimizedCatalog, OptimizedPartition, RawCatalog, RawListing};
use cdc_core::{ErrorKind, SchemaChangePolicy};
use lake::{ACCOUNTS_CDC, DATABASE, Lake, RAW_BUCKET, RAW_PREFIX, lake, parquet_bytes, write_raw_zone};

async fn lake_with_raw_zone() -> (Lake, tempfile::TempDir) {
    let lake = lake().await;
    let dir = tempfile::tempdir().unwrap();
    write_raw_zone(dir.path());
    lake.upload(dir.path()).await;
    (lake, dir)
}

fn raw_catalog(lake: &Lake) -> GlueRawCatalog {
    GlueRawCatalog::new(lake.glue.clone(), DATABASE, lake.raw_location())
}

async fn table(lake: &Lake, name: &str) -> aws_sdk_glue::types::Table {
    lake.glue.get_table().database_name(DATABASE).name(name).send().await.unwrap().table.unwrap()
}

fn columns(t: &aws_sdk_glue::types::Table) -> Vec<(String, String)> {
    let sd = t.storage_descriptor().unwrap();
    sd.columns().iter().map(|c| (c.name().to_string(), c.r#type().unwrap_or_default().to_string())).collect()
}

fn pairs(cols: &[(&str, &str)]) -> Vec<(String, String)> {
    cols.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect()
}

/// Partition value → location.
async fn partitions(lake: &Lake, table: &str) -> BTreeMap<String, String> {
    let out = lake.glue.get_partitions().database_name(DATABASE).table_name(table).send().await.unwrap();
    out.partitions()
        .iter()
        .map(|p| (p.values()[0].clone(), p.storage_descriptor().unwrap().location().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn raw_tables_are_created_from_the_newest_files_and_days_registered_idempotently() {
    // GIVEN a raw zone with accounts (full load and three CDC days) and tellers (one CDC day)
    let (lake, _dir) = lake_with_raw_zone().await;
    let zone = lake.raw_zone();
    let catalog = raw_catalog(&lake);
    let listing = RawListing::list(&lake.cfg, &zone).await.unwrap();
    // WHEN a run syncs the catalog
    let sync = catalog.sync(&lake.cfg, &listing, &zone).await.unwrap();
    // THEN the three tables with files exist, and every day is a partition
    assert!(sync.problems.is_empty(), "{:?}", sync.problems);
    let created: BTreeSet<&str> = sync.created_tables.iter().map(String::as_str).collect();
    assert_eq!(
        created,
        BTreeSet::from(["raw_full_pgbench_accounts", "raw_cdc_pgbench_accounts", "raw_cdc_pgbench_tellers"])
    );
    assert_eq!(sync.registered_partitions.len(), 4);

    let cdc = table(&lake, "raw_cdc_pgbench_accounts").await;
    // DMS's columns with the file's types, the table's with the config's; text as string, never a width
    assert_eq!(
        columns(&cdc),
        pairs(&[
            ("op", "string"),
            ("changets", "timestamp"),
            ("ar_h_change_seq", "string"),
            ("aid", "int"),
            ("bid", "int"),
            ("abalance", "int"),
            ("filler", "string"),
        ])
    );
    assert_eq!(
        cdc.partition_keys().iter().map(|k| (k.name(), k.r#type())).collect::<Vec<_>>(),
        [("partition_0", Some("string"))]
    );
    assert_eq!(cdc.table_type(), Some("EXTERNAL_TABLE"));
    let sd = cdc.storage_descriptor().unwrap();
    assert_eq!(sd.location(), Some("s3://cdc-raw/dms/cdc/public/pgbench_accounts/"));
    assert_eq!((sd.input_format(), sd.output_format()), (Some(INPUT_FORMAT), Some(OUTPUT_FORMAT)));
    assert_eq!(sd.serde_info().unwrap().serialization_library(), Some(SERDE));
    assert_eq!(cdc.parameters().unwrap()["classification"], "parquet");
    // AND Spectrum fails on over-long text instead of nulling it, wherever it reads the property
    assert_eq!(cdc.parameters().unwrap()["surplus_char_handling"], "FAIL");
    assert_eq!(sd.parameters().unwrap()["surplus_char_handling"], "FAIL");

    let full = table(&lake, "raw_full_pgbench_accounts").await;
    assert_eq!(
        columns(&full),
        pairs(&[("changets", "timestamp"), ("aid", "int"), ("bid", "int"), ("abalance", "int"), ("filler", "string")])
    );
    assert!(full.partition_keys().is_empty());
    assert_eq!(full.storage_descriptor().unwrap().location(), Some("s3://cdc-raw/dms/full/public/pgbench_accounts/"));

    let days = partitions(&lake, "raw_cdc_pgbench_accounts").await;
    let day = |d: &str| (d.to_string(), format!("s3://cdc-raw/dms/cdc/public/pgbench_accounts/{d}/"));
    assert_eq!(days, BTreeMap::from([day("20261101"), day("20261102"), day("20261103")]));
    assert_eq!(partitions(&lake, "raw_cdc_pgbench_tellers").await.len(), 1);
    // AND tables without files (branches, history) are not created
    let e = lake.glue.get_table().database_name(DATABASE).name("raw_cdc_pgbench_branches").send().await.unwrap_err();
    assert!(e.into_service_error().is_entity_not_found_exception());

    // WHEN the next run syncs with nothing new THEN nothing is created or registered
    let again = catalog.sync(&lake.cfg, &listing, &zone).await.unwrap();
    assert!(
        again.created_tables.is_empty() && again.registered_partitions.is_empty() && again.problems.is_empty(),
        "{again:?}"
    );

    // WHEN a new day folder arrives THEN the next sync registers that day alone
    let key = format!("{RAW_PREFIX}/cdc/public/pgbench_accounts/20261104/20261104-000000000.parquet");
    lake.put(RAW_BUCKET, &key, parquet_bytes(ACCOUNTS_CDC, 2)).await;
    let listing = RawListing::list(&lake.cfg, &zone).await.unwrap();
    let next = catalog.sync(&lake.cfg, &listing, &zone).await.unwrap();
    assert_eq!(next.registered_partitions, vec![("raw_cdc_pgbench_accounts".to_string(), "20261104".to_string())]);
    assert_eq!(partitions(&lake, "raw_cdc_pgbench_accounts").await.len(), 4);
    // AND registering known days again is fine and adds nothing
    let t = lake.cfg.table("pgbench_accounts").unwrap();
    let all = listing.days("pgbench_accounts");
    assert_eq!(catalog.register_partitions(&lake.cfg, t, &all).await.unwrap(), Vec::<String>::new());
}

fn table_input(name: &str, location: Option<&str>, cols: &[(&str, &str)], partition_0: bool) -> TableInput {
    let mut sd = StorageDescriptor::builder()
        .set_location(location.map(str::to_string))
        .input_format(INPUT_FORMAT)
        .output_format(OUTPUT_FORMAT)
        .serde_info(SerDeInfo::builder().serialization_library(SERDE).build());
    for (n, t) in cols {
        sd = sd.columns(Column::builder().name(*n).r#type(*t).build().unwrap());
    }
    let mut input = TableInput::builder().name(name).table_type("EXTERNAL_TABLE").storage_descriptor(sd.build());
    if partition_0 {
        input = input.partition_keys(Column::builder().name("partition_0").r#type("string").build().unwrap());
    }
    input.build().unwrap()
}

async fn create(lake: &Lake, input: TableInput) {
    lake.glue.create_table().database_name(DATABASE).table_input(input).send().await.unwrap();
}

#[tokio::test]
async fn a_table_without_location_or_unlike_its_files_is_reported_naming_table_and_file() {
    // GIVEN a crawler-made CDC table of accounts without a location, a full-load
    // table whose columns differ from the files, and a tellers table elsewhere,
    // AND accounts with on_schema_change = "fail"
    let (mut lake, _dir) = lake_with_raw_zone().await;
    lake.cfg.tables.iter_mut().find(|t| t.name.as_str() == "pgbench_accounts").unwrap().on_schema_change =
        SchemaChangePolicy::Fail;
    create(&lake, table_input("raw_cdc_pgbench_accounts", None, &[("op", "string")], true)).await;
    let full_cols =
        [("changets", "timestamp"), ("aid", "int"), ("bid", "int"), ("abalance", "bigint"), ("email", "string")];
    create(
        &lake,
        table_input(
            "raw_full_pgbench_accounts",
            Some("s3://cdc-raw/dms/full/public/pgbench_accounts"),
            &full_cols,
            false,
        ),
    )
    .await;
    create(&lake, table_input("raw_cdc_pgbench_tellers", Some("s3://elsewhere/tellers/"), &[("op", "string")], true))
        .await;
    let zone = lake.raw_zone();
    let listing = RawListing::list(&lake.cfg, &zone).await.unwrap();
    // WHEN a run syncs
    let sync = raw_catalog(&lake).sync(&lake.cfg, &listing, &zone).await.unwrap();
    // THEN each is a problem of its table, naming what to fix
    let no_location = sync.problem_of("pgbench_accounts", FileKind::Cdc).unwrap();
    assert_eq!(no_location.kind, ErrorKind::ConfigError, "{no_location}");
    assert!(
        no_location.message.contains("Glue table cdc_database.raw_cdc_pgbench_accounts has no location"),
        "{no_location}"
    );
    assert!(no_location.message.contains("s3://cdc-raw/dms/cdc/public/pgbench_accounts/"), "{no_location}");

    let differs = sync.problem_of("pgbench_accounts", FileKind::Full).unwrap();
    assert_eq!(differs.kind, ErrorKind::DataError, "{differs}");
    for part in [
        "table public.pgbench_accounts",
        "file s3://cdc-raw/dms/full/public/pgbench_accounts/LOAD00000002.parquet",
        "cdc_database.raw_full_pgbench_accounts",
        "column `abalance` is Int32 in the file, bigint in the table",
        "column `filler` is not in the table",
        "column `email` is not in the file",
    ] {
        assert!(differs.message.contains(part), "{part}: {differs}");
    }

    let elsewhere = sync.problem_of("pgbench_tellers", FileKind::Cdc).unwrap();
    assert!(elsewhere.message.contains("reads s3://elsewhere/tellers/"), "{elsewhere}");
    // AND nothing was created over them, and no day registered on them
    assert!(sync.created_tables.is_empty(), "{:?}", sync.created_tables);
    assert!(sync.registered_partitions.is_empty(), "{:?}", sync.registered_partitions);
    assert!(partitions(&lake, "raw_cdc_pgbench_accounts").await.is_empty());
    // AND registering days directly on the table without location is refused, naming it
    let t = lake.cfg.table("pgbench_accounts").unwrap();
    let e = raw_catalog(&lake).register_partitions(&lake.cfg, t, &listing.days("pgbench_accounts")).await.unwrap_err();
    assert!(e.message.contains("raw_cdc_pgbench_accounts has no location"), "{e}");
}

#[tokio::test]
async fn under_add_columns_a_newest_file_s_new_columns_are_appended_and_columns_it_lacks_are_kept() {
    // GIVEN the raw tables made by a first sync
    let (lake, _dir) = lake_with_raw_zone().await;
    let zone = lake.raw_zone();
    let catalog = raw_catalog(&lake);
    let listing = RawListing::list(&lake.cfg, &zone).await.unwrap();
    catalog.sync(&lake.cfg, &listing, &zone).await.unwrap();
    let before = columns(&table(&lake, "raw_full_pgbench_accounts").await);
    // AND a full-load table that lacks `filler` (the newest file has it) and has `email` (the file lacks it)
    lake.glue.delete_table().database_name(DATABASE).name("raw_full_pgbench_accounts").send().await.unwrap();
    let cols: Vec<(&str, &str)> = before
        .iter()
        .filter(|(n, _)| n != "filler")
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .chain([("email", "string")])
        .collect();
    let mut input =
        table_input("raw_full_pgbench_accounts", Some("s3://cdc-raw/dms/full/public/pgbench_accounts/"), &cols, false);
    input.parameters = Some(cdc_aws::glue_catalog::table_def::data_handling_parameters());
    create(&lake, input).await;
    // WHEN a run syncs under the default policy
    let sync = catalog.sync(&lake.cfg, &listing, &zone).await.unwrap();
    // THEN no problem: `filler` is appended and `email` kept (Spectrum reads NULL for it)
    assert!(sync.problem_of("pgbench_accounts", FileKind::Full).is_none(), "{:?}", sync.problems);
    assert_eq!(sync.added_columns, [("raw_full_pgbench_accounts".to_string(), "filler".to_string())]);
    let after = columns(&table(&lake, "raw_full_pgbench_accounts").await);
    let names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&"filler"));
    assert!(names.contains(&"email"));
    // AND a second sync changes nothing
    let again = catalog.sync(&lake.cfg, &listing, &zone).await.unwrap();
    assert!(again.added_columns.is_empty() && again.problems.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_raw_table_that_would_null_long_text_is_reported_with_the_fix() {
    // GIVEN raw tables made before text was declared as string: a width on a
    // text column, and (tellers) no surplus_char_handling property
    let (lake, _dir) = lake_with_raw_zone().await;
    let accounts = [
        ("op", "string"),
        ("changets", "timestamp"),
        ("ar_h_change_seq", "string"),
        ("aid", "int"),
        ("bid", "int"),
        ("abalance", "int"),
        ("filler", "varchar(84)"),
    ];
    let location = "s3://cdc-raw/dms/cdc/public/pgbench_accounts/";
    create(&lake, table_input("raw_cdc_pgbench_accounts", Some(location), &accounts, true)).await;
    let tellers = [
        ("op", "string"),
        ("changets", "timestamp"),
        ("ar_h_change_seq", "string"),
        ("tid", "int"),
        ("bid", "int"),
        ("tbalance", "int"),
        ("filler", "string"),
    ];
    let location = "s3://cdc-raw/dms/cdc/public/pgbench_tellers/";
    create(&lake, table_input("raw_cdc_pgbench_tellers", Some(location), &tellers, true)).await;
    let zone = lake.raw_zone();
    let listing = RawListing::list(&lake.cfg, &zone).await.unwrap();
    // WHEN a run syncs
    let sync = raw_catalog(&lake).sync(&lake.cfg, &listing, &zone).await.unwrap();
    // THEN each is its table's problem, naming the column or the property and the fix
    let width = sync.problem_of("pgbench_accounts", FileKind::Cdc).unwrap();
    assert_eq!(width.kind, ErrorKind::ConfigError, "{width}");
    for part in ["raw_cdc_pgbench_accounts", "`filler` varchar(84)", "NULL", "drop the table"] {
        assert!(width.message.contains(part), "{part}: {width}");
    }
    let property = sync.problem_of("pgbench_tellers", FileKind::Cdc).unwrap();
    for part in ["raw_cdc_pgbench_tellers", "surplus_char_handling=FAIL", "drop the table"] {
        assert!(property.message.contains(part), "{part}: {property}");
    }
    // AND no day is registered on them
    assert!(partitions(&lake, "raw_cdc_pgbench_accounts").await.is_empty());
}

#[tokio::test]
async fn a_missing_database_is_a_config_error_naming_it() {
    let (lake, _dir) = lake_with_raw_zone().await;
    let zone = lake.raw_zone();
    let listing = RawListing::list(&lake.cfg, &zone).await.unwrap();
    let catalog = GlueRawCatalog::new(lake.glue.clone(), "no_such_database", lake.raw_location());
    let e = catalog.sync(&lake.cfg, &listing, &zone).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
    assert!(e.message.contains("no_such_database"), "{e}");
    // AND the optimized catalog says the same, not "table absent"
    let t = lake.cfg.table("pgbench_accounts").unwrap();
    let e = GlueCatalog::new(lake.glue.clone(), "no_such_database").register_table(t, "s3://o/x/").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
    assert!(e.message.contains("no_such_database"), "{e}");
}

fn partition(day: &str, rows: u64) -> OptimizedPartition {
    OptimizedPartition {
        day: day.into(),
        location: format!("s3://cdc-optimized/exports/pgbench_accounts/changedate={day}/"),
        rows,
        files: DayFiles { files: 2, bytes: 3000 + rows },
        registered_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn optimized_tables_are_created_updated_on_config_change_and_their_days_kept_current() {
    let lake = lake().await;
    let catalog = GlueCatalog::new(lake.glue.clone(), DATABASE);
    let t = lake.cfg.table("pgbench_accounts").unwrap();
    let location = "s3://cdc-optimized/exports/pgbench_accounts/";
    // WHEN the table is registered THEN it exists with the export's columns, partitioned by changedate
    catalog.register_table(t, location).await.unwrap();
    let created = table(&lake, "optimized_pgbench_accounts").await;
    assert_eq!(
        columns(&created),
        pairs(&[
            ("op", "string"),
            ("changets", "timestamp"),
            ("ar_h_change_seq", "string"),
            ("aid", "int"),
            ("bid", "int"),
            ("abalance", "int"),
            ("filler", "string"),
        ])
    );
    assert_eq!(created.partition_keys().iter().map(|k| k.name()).collect::<Vec<_>>(), ["changedate"]);
    assert_eq!(created.storage_descriptor().unwrap().location(), Some(location));
    assert_eq!(created.storage_descriptor().unwrap().serde_info().unwrap().serialization_library(), Some(SERDE));
    // WHEN registered again unchanged THEN not rewritten (same version)
    catalog.register_table(t, location).await.unwrap();
    assert_eq!(table(&lake, "optimized_pgbench_accounts").await.version_id(), created.version_id());
    // WHEN the config gains a column THEN the table is updated to it
    let mut wider = t.clone();
    wider.columns.push(cdc_core::config::Column {
        name: cdc_core::ident::Ident::new("email").unwrap(),
        ty: cdc_core::ColumnType::parse("varchar(200)").unwrap(),
    });
    catalog.register_table(&wider, location).await.unwrap();
    let updated = table(&lake, "optimized_pgbench_accounts").await;
    assert_ne!(updated.version_id(), created.version_id());
    assert_eq!(columns(&updated).last().unwrap(), &("email".to_string(), "string".to_string()));
    assert_eq!(updated.partition_keys().len(), 1);

    // WHEN a day is registered THEN a partition with its location and figures
    catalog.register_partition(t, &partition("20261122", 10)).await.unwrap();
    let get = |day: &'static str| {
        lake.glue
            .get_partition()
            .database_name(DATABASE)
            .table_name("optimized_pgbench_accounts")
            .partition_values(day)
            .send()
    };
    let p = get("20261122").await.unwrap().partition.unwrap();
    assert_eq!(p.storage_descriptor().unwrap().location(), Some(partition("20261122", 0).location.as_str()));
    assert_eq!(p.parameters().unwrap()["numRows"], "10");
    assert_eq!(p.parameters().unwrap()["numFiles"], "2");
    // WHEN the day is exported again (late files) and registered again THEN it is updated, not duplicated
    catalog.register_partition(t, &partition("20261122", 12)).await.unwrap();
    let p = get("20261122").await.unwrap().partition.unwrap();
    assert_eq!(p.parameters().unwrap()["numRows"], "12");
    assert_eq!(p.parameters().unwrap()["totalSize"], "3012");
    assert_eq!(partitions(&lake, "optimized_pgbench_accounts").await.len(), 1);

    // WHEN a day is registered for a table never registered THEN a ConfigError naming it
    let tellers = lake.cfg.table("pgbench_tellers").unwrap();
    let e = catalog.register_partition(tellers, &partition("20261122", 1)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
    assert!(e.message.contains("optimized_pgbench_tellers"), "{e}");
    // WHEN a table of the name exists partitioned otherwise THEN a ConfigError naming it
    create(&lake, table_input("optimized_pgbench_tellers", Some("s3://x/y/"), &[("op", "string")], true)).await;
    let e = catalog.register_table(tellers, "s3://cdc-optimized/exports/pgbench_tellers/").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConfigError, "{e}");
    assert!(e.message.contains("cdc_database.optimized_pgbench_tellers is partitioned by"), "{e}");
}

/// The optimized catalog as Glue holds it, for the conformance suite.
struct GlueView<'a>(&'a Lake);

#[async_trait::async_trait]
impl cdc_core::ports::catalog_conformance::CatalogView for GlueView<'_> {
    async fn table(&self, t: &cdc_core::TableConfig) -> Option<cdc_core::ports::catalog_conformance::RegisteredTable> {
        let name = cdc_aws::glue_catalog::optimized::table_name(t);
        let got = self.0.glue.get_table().database_name(DATABASE).name(&name).send().await.ok()?.table?;
        let out = self.0.glue.get_partitions().database_name(DATABASE).table_name(&name).send().await.unwrap();
        let partitions = out
            .partitions()
            .iter()
            .map(|p| {
                let location = p.storage_descriptor().unwrap().location().unwrap().to_string();
                let rows = p.parameters().unwrap()["numRows"].parse().unwrap();
                (p.values()[0].clone(), (location, rows))
            })
            .collect();
        let location = got.storage_descriptor().unwrap().location().unwrap().to_string();
        Some(cdc_core::ports::catalog_conformance::RegisteredTable { location, partitions })
    }
}

#[tokio::test]
async fn glue_catalog_passes_the_optimized_catalog_conformance_suite() {
    // GIVEN the Glue database on moto WHEN every conformance case runs THEN all pass
    let lake = lake().await;
    let t = lake.cfg.table("pgbench_tellers").unwrap();
    let root = "s3://cdc-optimized/exports/pgbench_tellers/";
    let day = |d: &str| format!("{root}changedate={d}/");
    let at = cdc_core::ports::catalog_conformance::Locations { table: root, day: &day };
    let catalog = GlueCatalog::new(lake.glue.clone(), DATABASE);
    cdc_core::ports::catalog_conformance::run_all(&catalog, &GlueView(&lake), t, &at).await;
}
