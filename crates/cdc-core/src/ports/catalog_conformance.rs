//! The conformance suite every `OptimizedCatalog` adapter must pass
//! (compiled with the `conformance` feature, for adapters' tests only). The
//! port only writes, so each adapter's test hands in a [`CatalogView`] that
//! reads its catalog back (the metastore file, Glue's GetTable and
//! GetPartitions).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::Utc;

use super::optimized_zone::{DayFiles, OptimizedCatalog, OptimizedPartition};
use crate::config::TableConfig;

/// One registered table as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredTable {
    pub location: String,
    /// Per day: the partition's location and row count.
    pub partitions: BTreeMap<String, (String, u64)>,
}

#[async_trait]
pub trait CatalogView: Send + Sync {
    /// The table as the catalog holds it; `None` when absent.
    async fn table(&self, t: &TableConfig) -> Option<RegisteredTable>;
}

/// Where the suite registers `t`: its root, and a day's folder under it.
pub struct Locations<'a> {
    pub table: &'a str,
    pub day: &'a (dyn Fn(&str) -> String + Send + Sync),
}

/// Every case, in order, on table `t` (absent from the catalog at the start).
/// The days 20261101 to 20261103 are registered, as an export does after
/// writing them: an adapter whose catalog reads the files needs them there.
pub async fn run_all(catalog: &dyn OptimizedCatalog, view: &dyn CatalogView, t: &TableConfig, at: &Locations<'_>) {
    a_table_registered_twice_is_one_table(catalog, view, t, at).await;
    a_day_registered_again_is_updated_not_duplicated(catalog, view, t, at).await;
    days_accumulate(catalog, view, t, at).await;
}

fn partition(at: &Locations<'_>, day: &str, rows: u64) -> OptimizedPartition {
    OptimizedPartition {
        day: day.into(),
        location: (at.day)(day),
        rows,
        files: DayFiles { files: 1, bytes: 1000 + rows },
        registered_at: Utc::now(),
    }
}

pub async fn a_table_registered_twice_is_one_table(
    catalog: &dyn OptimizedCatalog,
    view: &dyn CatalogView,
    t: &TableConfig,
    at: &Locations<'_>,
) {
    // GIVEN no table WHEN it is registered twice THEN it exists once, at its location, without days
    assert_eq!(view.table(t).await, None, "the suite starts without {}", t.name);
    catalog.register_table(t, at.table).await.expect("first registration");
    catalog.register_table(t, at.table).await.expect("a second registration is fine");
    let got = view.table(t).await.expect("the table is registered");
    assert_eq!(got.location.trim_end_matches('/'), at.table.trim_end_matches('/'));
    assert!(got.partitions.is_empty(), "{got:?}");
}

pub async fn a_day_registered_again_is_updated_not_duplicated(
    catalog: &dyn OptimizedCatalog,
    view: &dyn CatalogView,
    t: &TableConfig,
    at: &Locations<'_>,
) {
    // GIVEN a registered day WHEN it is exported again (late files) and registered again
    catalog.register_partition(t, &partition(at, "20261101", 10)).await.expect("a day registers");
    catalog.register_partition(t, &partition(at, "20261101", 12)).await.expect("a day registers again");
    // THEN it is there once, with the latest figures
    let got = view.table(t).await.expect("the table is registered");
    let day = got.partitions.get("20261101").expect("the day is a partition");
    assert_eq!(day.0.trim_end_matches('/'), (at.day)("20261101").trim_end_matches('/'));
    assert_eq!(day.1, 12);
    assert_eq!(got.partitions.len(), 1);
}

pub async fn days_accumulate(
    catalog: &dyn OptimizedCatalog,
    view: &dyn CatalogView,
    t: &TableConfig,
    at: &Locations<'_>,
) {
    // WHEN two more days are registered THEN all three are there, and re-registering the table keeps them
    for (day, rows) in [("20261102", 5), ("20261103", 7)] {
        catalog.register_partition(t, &partition(at, day, rows)).await.expect("a day registers");
    }
    catalog.register_table(t, at.table).await.expect("the table registers again");
    let got = view.table(t).await.expect("the table is registered");
    let days: Vec<(&str, u64)> = got.partitions.iter().map(|(d, (_, rows))| (d.as_str(), *rows)).collect();
    assert_eq!(days, [("20261101", 12), ("20261102", 5), ("20261103", 7)]);
}
