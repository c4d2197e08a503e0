//! The Lambda edge's test stack: cdc-cli's AWS stack (moto for S3, Glue,
//! DynamoDB, SNS; the Data API emulator) and the events/ files.

#![allow(dead_code)] // Each test file uses its own part.

#[path = "../../../cdc-cli/tests/aws_support/mod.rs"]
pub mod aws_support;

use std::path::PathBuf;

use aws_config::SdkConfig;
use aws_types::origin::Origin;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::{Value, json};

use cdc_lambda::{Deployment, Function, handle};

pub use aws_support::{AwsStack, stack};

/// The repository's events/ folder.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// An events/ file as JSON.
pub fn event(name: &str) -> Value {
    let path = events_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The event with some fields replaced (ids a previous step returned).
pub fn with(mut event: Value, fields: &[(&str, Value)]) -> Value {
    for (k, v) in fields {
        event[*k] = v.clone();
    }
    event
}

/// `AWS_ENDPOINT_URL_REDSHIFT_DATA`, as the real process reads it: the
/// Data API is the emulator, every other service moto.
#[derive(Debug)]
struct DataApiEndpoint(String);

impl LoadServiceConfig for DataApiEndpoint {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.service_id() == "Redshift Data" && key.env() == "AWS_ENDPOINT_URL").then(|| self.0.clone())
    }
}

/// The stack's SDK config with the Data API on the emulator. The shared
/// endpoint counts as set by `AWS_ENDPOINT_URL` (as in the process), since
/// the SDK lets a service-specific endpoint override only that one.
pub fn lambda_sdk(stack: &AwsStack) -> SdkConfig {
    let mut builder = stack.sdk.to_builder().service_config(DataApiEndpoint(stack.emulator.endpoint_url()));
    builder.insert_origin("endpoint_url", Origin::shared_environment_variable());
    builder.build()
}

pub async fn invoke(d: &Deployment, f: Function, payload: Value) -> Result<Value, Diagnostic> {
    handle(d, f, LambdaEvent::new(payload, Context::default())).await
}

pub async fn ok(d: &Deployment, f: Function, payload: Value) -> Value {
    let action = payload["action"].clone();
    invoke(d, f, payload).await.unwrap_or_else(|e| panic!("{action}: {}: {}", e.error_type, e.error_message))
}

pub fn deployment(stack: &AwsStack) -> Deployment {
    let vars = stack.vars.clone();
    Deployment::new(lambda_sdk(stack), move |k| vars.get(k).cloned())
}

/// Submits with the `<submit>` events file, then polls with `<poll>` until
/// the statement is done; returns the last poll's output.
pub async fn submit_and_poll(d: &Deployment, f: Function, submit: &str, poll: &str, table: &str) -> Value {
    let out = ok(d, f, with(event(submit), &[("table", json!(table))])).await;
    let mut out = out;
    if out["status"] == "nothing_new" {
        return out;
    }
    for _ in 0..600 {
        let fields = [
            ("table", json!(table)),
            ("statement_id", out["statement_id"].clone()),
            ("submitted_at", out["submitted_at"].clone()),
            ("part", out["part"].clone()),
            ("day", out["day"].clone()),
            ("target", out["target"].clone()),
        ];
        let polled = ok(d, f, with(event(poll), &fields)).await;
        match polled["status"].as_str() {
            Some("done") | Some("nothing_new") => return polled,
            Some("running") => out = polled,
            // Setup chains its batches: the poll submitted the next one.
            Some("submitted") => out = polled,
            other => panic!("{poll} {table}: unexpected status {other:?}: {polled}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{poll} {table}: never finished");
}
