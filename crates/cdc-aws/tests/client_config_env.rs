//! `client_config::load_from_env` reads `AWS_ENDPOINT_URL` the way Lambda
//! code would see it, so the real clients reach a local server. Its own test
//! binary with a single test: it sets process environment variables, which is
//! only sound while no other thread runs.

use std::time::Duration;

use cdc_aws::client_config::{MAX_ATTEMPTS, load_from_env};
use cdc_aws::{DynamoDbJobStore, SnsNotifier};
use cdc_core::job::{Claim, JobStateStore, Lease};
use cdc_moto::MotoServer;

#[test]
fn aws_endpoint_url_points_the_real_clients_at_moto() {
    let moto = MotoServer::start().unwrap();
    // GIVEN the environment a local run gets (and no profile file to fall back on,
    // no system certificate variable)
    // SAFETY: the test binary runs this one test, before any runtime thread starts.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", moto.endpoint_url());
        std::env::set_var("AWS_REGION", cdc_moto::REGION);
        std::env::set_var("AWS_ACCESS_KEY_ID", cdc_moto::ACCESS_KEY_ID);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", cdc_moto::SECRET_ACCESS_KEY);
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/aws-config");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials");
        std::env::set_var("AWS_MAX_ATTEMPTS", "1");
        std::env::remove_var("AWS_PROFILE");
        // As on Lambda: so the clients use the compiled-in Amazon roots' client.
        for var in cdc_aws::https_client::SYSTEM_STORE_VARIABLES {
            std::env::remove_var(var);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        // WHEN the configuration is loaded
        let config = load_from_env().await;
        // THEN it points at moto, and the explicit retry setting wins over AWS_MAX_ATTEMPTS
        assert_eq!(config.endpoint_url(), Some(moto.endpoint_url()));
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(MAX_ATTEMPTS));
        // AND a store and a notifier built from it work against moto
        let store =
            DynamoDbJobStore::new(aws_sdk_dynamodb::Client::new(&config), "env-table", Duration::from_secs(3600))
                .unwrap();
        store.ensure_table().await.unwrap();
        let lease = Lease::new(Duration::from_secs(60)).unwrap();
        let c = store.claim("job", "exec-1", lease, chrono::Utc::now()).await.unwrap();
        assert!(matches!(c, Claim::Claimed { .. }), "{c:?}");
        let sns = aws_sdk_sns::Client::new(&config);
        let topic = sns.create_topic().name("env-topic").send().await.unwrap().topic_arn.unwrap();
        let notice = cdc_core::notify::Notice::Recovery(cdc_core::notify::RecoveryNotice {
            job_id: "job".into(),
            execution_id: "exec-1".into(),
            console_link: None,
            failures_before: 1,
            recovered_at: chrono::Utc::now(),
        });
        cdc_core::notify::Notifier::send(&SnsNotifier::new(sns, &topic), &notice).await.unwrap();
        // AND the item is really in moto, as moto's own configuration reads it
        let direct = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
        let tables = direct.list_tables().send().await.unwrap();
        assert_eq!(tables.table_names(), ["env-table"]);
    });
}
