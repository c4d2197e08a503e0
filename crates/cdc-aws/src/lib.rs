//! AWS adapters of the pipeline's ports (DESIGN.md section 4).
//!
//! Each adapter takes an SDK client built from [`client_config::load_from_env`],
//! so `AWS_ENDPOINT_URL` points all of them at a local emulation (moto in the
//! tests), and maps SDK errors through [`sdk_error`] to the pipeline's three
//! error classes. Module names say service and port, because more adapters
//! (Redshift Data API, Glue, S3) join them here.

pub mod client_config;
pub mod dynamodb_job_store;
pub mod sdk_error;
pub mod sns_notifier;

pub use dynamodb_job_store::DynamoDbJobStore;
pub use sns_notifier::SnsNotifier;
