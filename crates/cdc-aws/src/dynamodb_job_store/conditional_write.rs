//! The conditional writes of the job item, and what a failed condition
//! returns: the item as it is now (`ReturnValuesOnConditionCheckFailure =
//! ALL_OLD`), so the caller can tell "held by", "not the owner", "gone" or
//! "corrupt" without another read.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    CancellationReason, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use cdc_core::job::{JobStateError, RunRecord};
use cdc_core::{ErrorKind, PipelineError};

use super::DynamoDbJobStore;
use super::expression::Expression;
use super::item::{Item, encode_run, job_key};

/// How a conditional write ended, when DynamoDB answered.
pub(super) enum Written {
    Done,
    /// The condition failed: the job item as it is now (ALL_OLD), or `None`
    /// when it is absent or was not returned.
    ConditionFailed(Option<Item>),
}

impl DynamoDbJobStore {
    /// One conditional UpdateItem of the job item.
    pub(super) async fn update(&self, job_id: &str, expr: &Expression) -> Result<Written, JobStateError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(job_key(job_id)))
            .set_update_expression(expr.update.clone())
            .condition_expression(&expr.condition)
            .set_expression_attribute_names(Some(expr.names()))
            .set_expression_attribute_values(expr.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Written::Done),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    Ok(Written::ConditionFailed(c.item().cloned()))
                }
                _ => Err(self.store_error(&e, "UpdateItem")),
            },
        }
    }

    /// The job item's conditional update and a run record, atomically.
    pub(super) async fn update_with_record(
        &self,
        job_id: &str,
        expr: &Expression,
        record: &RunRecord,
    ) -> Result<Written, JobStateError> {
        let build_error = |e: aws_smithy_types::error::operation::BuildError| {
            JobStateError::Store(PipelineError::config(format!("DynamoDB TransactWriteItems request: {e}")))
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(job_key(job_id)))
            .set_update_expression(expr.update.clone())
            .condition_expression(&expr.condition)
            .set_expression_attribute_names(Some(expr.names()))
            .set_expression_attribute_values(expr.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(encode_run(job_id, record, self.retention)?))
            .build()
            .map_err(build_error)?;
        let sent = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        let e = match sent {
            Ok(_) => return Ok(Written::Done),
            Err(e) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) = e.as_service_error() else {
            return Err(self.store_error(&e, "TransactWriteItems"));
        };
        // One reason per item, in request order: the job update is first.
        let reasons = cancel.cancellation_reasons();
        if let Some(first) = reasons.first()
            && first.code() == Some("ConditionalCheckFailed")
        {
            return Ok(Written::ConditionFailed(first.item().cloned()));
        }
        Err(JobStateError::Store(cancelled_transaction(&self.table, reasons)))
    }
}

/// A transaction cancelled for another reason than our condition:
/// conflicts and throttling are `Retryable`, anything else (validation,
/// an item too large) needs a person.
fn cancelled_transaction(table: &str, reasons: &[CancellationReason]) -> PipelineError {
    let codes: Vec<String> = reasons
        .iter()
        .filter(|r| r.code().is_some_and(|c| c != "None"))
        .map(|r| format!("{} ({})", r.code().unwrap_or_default(), r.message().unwrap_or("no message")))
        .collect();
    let retry = reasons
        .iter()
        .any(|r| matches!(r.code(), Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")));
    let kind = if retry { ErrorKind::Retryable } else { ErrorKind::ConfigError };
    PipelineError::new(
        kind,
        format!("DynamoDB TransactWriteItems on table {table}: transaction cancelled: {}", codes.join(", ")),
    )
}
