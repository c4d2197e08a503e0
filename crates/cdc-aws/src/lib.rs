//! AWS adapters of the pipeline's ports (docs/architecture.md, "Ports and adapters").
//!
//! Each adapter takes an SDK client built from [`client_config::load_from_env`],
//! so `AWS_ENDPOINT_URL` points all of them at a local emulation (moto in the
//! tests), and maps SDK errors through [`sdk_error`] to the pipeline's three
//! error classes. Module names say service and port, because more adapters
//! (Redshift Data API, Glue, S3) join them here.

pub mod client_config;
pub mod deployment;
pub mod dynamodb_job_store;
pub mod glue_catalog;
pub mod https_client;
pub mod iam_record;
pub mod redshift_data_warehouse;
pub mod s3_location;
pub mod s3_optimized_zone;
pub mod s3_raw_zone;
pub mod sdk_error;
pub mod sns_notifier;

pub use deployment::{AwsPorts, DeploymentSettings};
pub use dynamodb_job_store::DynamoDbJobStore;
pub use glue_catalog::{GlueCatalog, GlueRawCatalog};
pub use redshift_data_warehouse::{RedshiftDataWarehouse, RedshiftTarget};
pub use s3_location::S3Location;
pub use s3_optimized_zone::S3OptimizedZone;
pub use s3_raw_zone::S3RawZone;
pub use sns_notifier::SnsNotifier;
