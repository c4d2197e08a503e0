//! The chaos run on the AWS path, short and with a fixed seed: the AWS
//! adapters on moto and the Data API emulator, faults as HTTP answers from
//! the fault proxy; and the proxy's answers are what each service sends, so
//! the SDK and the adapters read them as throttling.

use std::sync::Arc;

use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use indicatif::ProgressBar;

use cdc_aws::deployment::AwsPorts;
use cdc_cli::aws_loopback::LoopbackAws;
use cdc_cli::chaos::fault_proxy::{FaultProxy, StateHeader};
use cdc_cli::chaos::faults::{FaultKind, Injector, OUTSIDE_TASKS};
use cdc_cli::chaos::oracle_check::Damage;
use cdc_cli::chaos::{ChaosSettings, run_aws};
use cdc_core::ErrorKind;
use cdc_core::job::{JobStateError, JobStateStore};
use cdc_core::notify::{Notice, Notifier, RecoveryNotice};
use cdc_core::ports::{RawCatalog, RawZone, StatementId, Warehouse};

const STATE_MACHINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachine/pipeline.asl.json");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/pipeline.toml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_aws_chaos_run_with_a_fixed_seed_loses_duplicates_and_stales_nothing() {
    // GIVEN 12 scheduled executions on moto and the emulator, faults at every point
    let dir = tempfile::tempdir().unwrap();
    let settings = ChaosSettings {
        seed: 11,
        executions: 12,
        rate: 0.05,
        out: dir.path().join("chaos"),
        config: CONFIG.into(),
        state_machine: STATE_MACHINE.into(),
        accounts: 300,
        transactions: 30,
        cycle_every: 2,
    };
    // WHEN the chaos run runs on the AWS path
    let report = run_aws(&settings, &ProgressBar::hidden()).await.unwrap();
    // THEN no check found a row lost, duplicated or stale, and at the end every table equals the source
    assert!(report.clean(), "{}", report.render());
    assert_eq!(report.damage, Damage::default());
    assert!(report.unloaded_days > 0, "{}", report.render());
    // AND the proxy's faults reached every service, and the invoke's too
    let kinds = &report.tally.by_kind;
    let families: [&[FaultKind]; 4] =
        [FaultKind::AT_INVOKE, FaultKind::AT_SUBMIT, &[FaultKind::S3Throttled], &[FaultKind::DynamoDbThrottled]];
    for family in families {
        assert!(family.iter().any(|k| kinds.contains_key(k)), "no fault of {family:?}: {}", report.render());
    }
    assert!(report.tally.total() >= 40, "{}", report.render());
}

fn retryable_naming<T: std::fmt::Debug>(what: &str, got: Result<T, cdc_core::PipelineError>, code: &str) {
    let e = got.expect_err(what);
    assert_eq!(e.kind, ErrorKind::Retryable, "{what}: {e}");
    assert!(e.to_string().contains(code), "{what}: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_each_service_s_own_throttling_which_the_adapters_read_as_retryable() {
    // GIVEN the adapters behind a proxy that faults every call
    let aws = LoopbackAws::start(&std::fs::read_to_string(CONFIG).unwrap()).await.unwrap();
    let faults = Arc::new(Injector::new(1, 1.0));
    let proxy = FaultProxy::start(aws.moto.endpoint_url(), &aws.emulator.endpoint_url(), Arc::clone(&faults)).unwrap();
    let retry = aws_config::retry::RetryConfig::standard().with_initial_backoff(std::time::Duration::from_millis(10));
    let sdk = aws.sdk.to_builder().endpoint_url(proxy.endpoint_url()).retry_config(retry).build();
    let ports = AwsPorts::with_interceptors(&sdk, &aws.settings, &[SharedInterceptor::new(StateHeader)]).unwrap();
    let t = aws.cfg.tables.first().unwrap();
    // WHEN each service is called THEN each error is Retryable and names the service's code
    retryable_naming("S3", ports.raw.list_objects("cdc/", None).await.map(|_| ()), "SlowDown");
    let days = std::collections::BTreeSet::from(["20261101".to_string()]);
    let glue = ports.raw_catalog.register_partitions(&aws.cfg, t, &days).await;
    retryable_naming("Glue", glue.map(|_| ()), "ThrottlingException");
    let job = ports.store.get(&aws.cfg.job_id).await;
    match job {
        Err(JobStateError::Store(e)) => retryable_naming("DynamoDB", Err::<(), _>(e), "ProvisionedThroughputExceeded"),
        other => panic!("DynamoDB: expected a throttled store, got {other:?}"),
    }
    let notice = Notice::Recovery(RecoveryNotice {
        job_id: aws.cfg.job_id.clone(),
        execution_id: "proxy-test".into(),
        console_link: None,
        failures_before: 1,
        recovered_at: chrono::Utc::now(),
    });
    retryable_naming("SNS", ports.notifier.send(&notice).await, "ThrottlingException");
    // AND a Data API call is throttled by the emulator's own control
    let id = StatementId("00000000-0000-0000-0000-000000000000".into());
    retryable_naming("Data API", ports.warehouse.status(&id).await.map(|_| ()), "ThrottlingException");
    // AND every fault was counted where no Task state ran
    let tally = faults.tally();
    assert!(tally.by_state.keys().all(|s| s == OUTSIDE_TASKS), "{:?}", tally.by_state);
    assert!(tally.total() >= 5, "{:?}", tally.by_kind);
}
