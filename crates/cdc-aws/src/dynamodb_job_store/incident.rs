//! Incident records: one item per failed execution whose failure was taken
//! care of (`RecordKey = INCIDENT#<execution>`), written once by a
//! conditional PutItem, so the state machine's own failure path and the
//! status-change rule never both notify one execution. They expire with
//! the run history (TTL on `ExpiresAt`).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use chrono::{DateTime, Utc};

use cdc_core::job::JobStateError;

use super::DynamoDbJobStore;
use super::item::{EXPIRES_AT, Item, JOB_ID, RECORD_KEY, n, s, ts};

/// `RecordKey` prefix of incident items.
pub const INCIDENT_PREFIX: &str = "INCIDENT#";
const RECORDED_AT: &str = "RecordedAt";

fn incident_key(job_id: &str, execution_id: &str) -> Item {
    HashMap::from([
        (JOB_ID.to_string(), s(job_id)),
        (RECORD_KEY.to_string(), s(format!("{INCIDENT_PREFIX}{execution_id}"))),
    ])
}

impl DynamoDbJobStore {
    pub(super) async fn put_incident(
        &self,
        job_id: &str,
        execution_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, JobStateError> {
        super::check_job_id(job_id)?;
        let expires = now.checked_add_signed(self.retention).map_or(i64::MAX, |t| t.timestamp());
        let mut item = incident_key(job_id, execution_id);
        item.insert(RECORDED_AT.to_string(), ts(now)?);
        item.insert(EXPIRES_AT.to_string(), n(expires));
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#RecordKey)")
            .expression_attribute_names("#RecordKey", RECORD_KEY)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {
                Ok(false)
            }
            Err(e) => Err(self.store_error(&e, "PutItem")),
        }
    }

    pub(super) async fn get_incident(&self, job_id: &str, execution_id: &str) -> Result<bool, JobStateError> {
        super::check_job_id(job_id)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(incident_key(job_id, execution_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.store_error(&e, "GetItem"))?;
        Ok(out.item.is_some())
    }
}
