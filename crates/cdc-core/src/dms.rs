//! How DMS writes to S3, as the pipeline config mirrors it: the `[dms]`
//! table's keys are the snake_case names of the DMS S3 endpoint settings
//! (DMS User Guide, "Using Amazon S3 as a target", and the S3Settings API
//! reference), so a user copies them from the endpoint. Leaving `[dms]` out
//! means DMS's own defaults: no bucket folder, no date partitions, no `Op` in
//! full-load files. docs/dms.md lists each setting, what DMS does with it
//! and its source.
//!
//! [`layout`] turns these settings into object keys and back.

pub mod layout;
mod listing;
mod settings;

pub use layout::{Classified, Layout, Unexplained, cdc_file_day};
pub use listing::{ListingScope, TableListing, UnexplainedObject, list_cdc_folder, list_table, list_table_within};
pub use settings::{DataFormat, DatePartitionDelimiter, DatePartitionSequence, DmsSettings, RawDmsSettings};

#[cfg(test)]
mod tests;
