//! A Lambda builds the warehouse from its environment only: `AWS_ENDPOINT_URL`
//! (read by aws-config) and the `REDSHIFT_*` variables. Its own test binary
//! with a single test: it sets process environment variables, which is only
//! sound while no other thread runs.

mod support;

use cdc_aws::RedshiftDataWarehouse;
use cdc_aws::client_config::load_from_env;
use cdc_core::ports::Cell;
use cdc_redshift_emulator::{Emulator, EmulatorConfig};

#[test]
fn aws_endpoint_url_and_the_redshift_variables_reach_the_emulator() {
    let emulator = Emulator::start(EmulatorConfig::default()).unwrap();
    // GIVEN the environment a Lambda would get, pointed at the emulator
    // SAFETY: the test binary runs this one test, and no other thread reads
    // the environment while it is changed (the emulator's threads do not).
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", emulator.endpoint_url());
        std::env::set_var("AWS_REGION", cdc_moto::REGION);
        std::env::set_var("AWS_ACCESS_KEY_ID", cdc_moto::ACCESS_KEY_ID);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", cdc_moto::SECRET_ACCESS_KEY);
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/aws-config");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials");
        std::env::remove_var("AWS_PROFILE");
        std::env::set_var("REDSHIFT_CLUSTER_ID", "cdc-cluster");
        std::env::set_var("REDSHIFT_DATABASE", "dev");
        std::env::set_var("REDSHIFT_DB_USER", "loader");
        std::env::remove_var("REDSHIFT_WORKGROUP");
        std::env::remove_var("REDSHIFT_SECRET_ARN");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        // WHEN the adapter is built from the environment and runs a query
        let wh = RedshiftDataWarehouse::from_env(&load_from_env().await).unwrap();
        assert_eq!(wh.target().cluster_id(), Some("cdc-cluster"));
        let rs = support::run(&wh, support::batch("env", &["SELECT 'from the environment' AS source"])).await.unwrap();
        // THEN the emulator answered it
        assert_eq!(rs.rows, vec![vec![Cell::Text("from the environment".into())]]);
        assert_eq!(emulator.calls().get("BatchExecuteStatement"), 1);
    });
}
