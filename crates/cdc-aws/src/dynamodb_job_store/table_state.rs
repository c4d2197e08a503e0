//! Table state items (`RecordKey = TABLE#<table>`): each table's life, its
//! resync request and the statement of a rebuild in flight
//! (docs/table-lifecycle.md). One item per table, so a request written while
//! an execution runs never races that execution's job item, and each change
//! is one UpdateItem applying [`cdc_core::job::apply_table_update`]'s rule.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use cdc_core::job::{JobStateError, TableState, TableUpdate, schema_changes_of};

use super::DynamoDbJobStore;
use super::item::{
    Item, JOB_ID, LIFE, REASON, RECORD_KEY, RESYNC_REQUESTED, SCHEMA_CHANGE, SCHEMA_CHANGED, SCHEMA_CHANGED_BY,
    STATEMENT_ID, TABLE_PREFIX, UPDATED, decode_table_state, s, ts,
};

fn table_key(job_id: &str, table: &str) -> Item {
    HashMap::from([(JOB_ID.to_string(), s(job_id)), (RECORD_KEY.to_string(), s(format!("{TABLE_PREFIX}{table}")))])
}

impl DynamoDbJobStore {
    pub(super) async fn query_table_states(&self, job_id: &str) -> Result<BTreeMap<String, TableState>, JobStateError> {
        super::check_job_id(job_id)?;
        let mut out = BTreeMap::new();
        let mut start = None;
        loop {
            let page = self.query_page(job_id, TABLE_PREFIX, true, None, start).await?;
            for item in page.items() {
                let (table, state) = decode_table_state(job_id, item)?;
                out.insert(table, state);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(out),
            }
        }
    }

    pub(super) async fn write_table_update(
        &self,
        job_id: &str,
        table: &str,
        update: &TableUpdate,
    ) -> Result<(), JobStateError> {
        super::check_job_id(job_id)?;
        let names = HashMap::from([
            ("#Life".to_string(), LIFE.to_string()),
            ("#Reason".to_string(), REASON.to_string()),
            ("#StatementId".to_string(), STATEMENT_ID.to_string()),
            ("#Requested".to_string(), RESYNC_REQUESTED.to_string()),
            ("#Updated".to_string(), UPDATED.to_string()),
            ("#SchemaChange".to_string(), SCHEMA_CHANGE.to_string()),
            ("#SchemaChanged".to_string(), SCHEMA_CHANGED.to_string()),
            ("#SchemaChangedBy".to_string(), SCHEMA_CHANGED_BY.to_string()),
        ]);
        let mut values = HashMap::new();
        let expression = match update {
            TableUpdate::RequestResync { at } => {
                values.insert(":at".to_string(), ts(*at)?);
                "SET #Requested = :at, #Updated = :at".to_string()
            }
            TableUpdate::Set { life, reason, statement_id, at } => {
                values.insert(":at".to_string(), ts(*at)?);
                values.insert(":life".to_string(), s(life.as_str()));
                let (mut set, mut remove) = (vec!["#Life = :life", "#Updated = :at"], Vec::new());
                match reason {
                    Some(r) => {
                        values.insert(":reason".to_string(), s(r.as_str()));
                        set.push("#Reason = :reason");
                    }
                    None => remove.push("#Reason"),
                }
                match statement_id {
                    Some(id) => {
                        values.insert(":statement".to_string(), s(id.0.as_str()));
                        set.push("#StatementId = :statement");
                    }
                    None => remove.push("#StatementId"),
                }
                let remove = if remove.is_empty() { String::new() } else { format!(" REMOVE {}", remove.join(", ")) };
                format!("SET {}{remove}", set.join(", "))
            }
            TableUpdate::SchemaChanged { what, at, by } => {
                // Only the lease holder writes a table's state in a run, so
                // reading it first races with no other writer.
                let before = self.query_table_states(job_id).await?.remove(table);
                let what = before.map_or_else(|| what.clone(), |b| schema_changes_of(&b, what, by));
                values.insert(":at".to_string(), ts(*at)?);
                values.insert(":what".to_string(), s(what.as_str()));
                values.insert(":by".to_string(), s(by.as_str()));
                "SET #SchemaChange = :what, #SchemaChanged = :at, #SchemaChangedBy = :by, #Updated = :at".to_string()
            }
            TableUpdate::Rebuilt { submitted_at, at } => {
                values.insert(":at".to_string(), ts(*at)?);
                values.insert(":life".to_string(), s("Active"));
                self.update_table_item(
                    job_id,
                    table,
                    "SET #Life = :life, #Updated = :at REMOVE #StatementId",
                    &names,
                    values,
                    None,
                )
                .await?;
                // Done only if requested before the rebuild's submit; one made
                // since stays (timestamps of one width sort as instants).
                let values = HashMap::from([(":submitted".to_string(), ts(*submitted_at)?)]);
                let condition = Some("#Requested <= :submitted");
                return self.update_table_item(job_id, table, "REMOVE #Requested", &names, values, condition).await;
            }
        };
        self.update_table_item(job_id, table, &expression, &names, values, None).await
    }

    async fn update_table_item(
        &self,
        job_id: &str,
        table: &str,
        expression: &str,
        all_names: &HashMap<String, String>,
        values: HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
        condition: Option<&str>,
    ) -> Result<(), JobStateError> {
        // DynamoDB refuses names an expression does not use.
        let used = |n: &str| expression.contains(n) || condition.is_some_and(|c| c.contains(n));
        let names: HashMap<String, String> =
            all_names.iter().filter(|(k, _)| used(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(table_key(job_id, table)))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                Ok(())
            }
            Err(e) => Err(self.store_error(&e, "UpdateItem")),
        }
    }
}
