//! The job-state table exactly as template.yaml declares it, for local use
//! and tests (on AWS the stack owns it): `JobId` HASH + `RecordKey` RANGE,
//! both strings, on-demand billing, point-in-time recovery, TTL on
//! `ExpiresAt`. Idempotent: an existing table is checked, not recreated, and
//! one with another key schema is a `ConfigError` instead of a store whose
//! every call fails later.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification, ScalarAttributeType,
    TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_smithy_types::error::operation::BuildError;
use cdc_core::PipelineError;

use super::item::{EXPIRES_AT, JOB_ID, RECORD_KEY};
use crate::sdk_error::to_pipeline_error;

/// A new table turns ACTIVE in seconds on AWS, at once on emulators.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) async fn ensure_table(client: &Client, table: &str) -> Result<(), PipelineError> {
    let ctx = |op: &str| format!("DynamoDB {op} on table {table}");
    let build = |e: BuildError| PipelineError::config(format!("{}: {e}", ctx("CreateTable")));
    let created = client
        .create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(JOB_ID)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build)?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(RECORD_KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build)?,
        )
        .key_schema(KeySchemaElement::builder().attribute_name(JOB_ID).key_type(KeyType::Hash).build().map_err(build)?)
        .key_schema(
            KeySchemaElement::builder().attribute_name(RECORD_KEY).key_type(KeyType::Range).build().map_err(build)?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if matches!(e.as_service_error(), Some(CreateTableError::ResourceInUseException(_))) => {}
        Err(e) => return Err(to_pipeline_error(&e, &ctx("CreateTable"))),
    }
    wait_until_active(client, table).await?;

    let ttl = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| to_pipeline_error(&e, &ctx("DescribeTimeToLive")))?;
    let ttl = ttl.time_to_live_description();
    let status = ttl.and_then(|d| d.time_to_live_status());
    let attribute = ttl.and_then(|d| d.attribute_name());
    if !matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)) {
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name(EXPIRES_AT).enabled(true).build().map_err(build)?,
            )
            .send()
            .await
            .map_err(|e| to_pipeline_error(&e, &ctx("UpdateTimeToLive")))?;
    } else if attribute != Some(EXPIRES_AT) {
        return Err(PipelineError::config(format!(
            "table {table}: its TTL attribute is {attribute:?}, expected {EXPIRES_AT}"
        )));
    }

    client
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().map_err(build)?,
        )
        .send()
        .await
        .map_err(|e| to_pipeline_error(&e, &ctx("UpdateContinuousBackups")))?;
    Ok(())
}

/// Polls until the table is ACTIVE and checks its key schema.
async fn wait_until_active(client: &Client, table: &str) -> Result<(), PipelineError> {
    let deadline = tokio::time::Instant::now() + ACTIVE_TIMEOUT;
    loop {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| to_pipeline_error(&e, &format!("DynamoDB DescribeTable on table {table}")))?;
        let Some(t) = described.table() else {
            return Err(PipelineError::retryable(format!("DynamoDB DescribeTable on table {table}: no description")));
        };
        let keys: Vec<(&str, &KeyType)> = t.key_schema().iter().map(|k| (k.attribute_name(), k.key_type())).collect();
        if keys != [(JOB_ID, &KeyType::Hash), (RECORD_KEY, &KeyType::Range)] {
            return Err(PipelineError::config(format!(
                "table {table} has the key schema {keys:?}; the job state needs {JOB_ID} HASH + {RECORD_KEY} RANGE \
                 (template.yaml)"
            )));
        }
        let string_keys = [JOB_ID, RECORD_KEY].iter().all(|key| {
            t.attribute_definitions()
                .iter()
                .any(|a| a.attribute_name() == *key && a.attribute_type() == &ScalarAttributeType::S)
        });
        if !string_keys {
            return Err(PipelineError::config(format!(
                "table {table}: {JOB_ID} and {RECORD_KEY} must be strings (S), as in template.yaml"
            )));
        }
        if t.table_status() == Some(&TableStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(PipelineError::retryable(format!("table {table} is not ACTIVE after {ACTIVE_TIMEOUT:?}")));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
