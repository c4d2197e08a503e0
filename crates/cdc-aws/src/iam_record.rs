//! What IAM authorises each SDK call of the pipeline as, and a recorder of
//! the calls a run actually makes.
//!
//! moto checks almost no IAM, so the tests attach [`CallRecorder`] (an SDK
//! interceptor) to the real clients the AWS adapters use. Each call is kept
//! with the function whose step made it
//! ([`cdc_core::steps::dispatch::current_function`]) and mapped here to the
//! IAM request(s) it is authorised as: action, resource ARN and the request
//! context keys IAM sees. The workspace's `tests/iam/sdk-calls.tsv` is that
//! table as recorded, reviewed like a golden file; `tests/tests/iam_policy.rs`
//! evaluates every row against its function's role in `template.yaml`.
//!
//! The mapping follows the Service Authorization Reference
//! (<https://docs.aws.amazon.com/service-authorization/latest/reference/>),
//! page by page, and each operation's API reference where it says more
//! (docs/aws.md lists every rule with its source):
//!
//! | SDK call | IAM action | resource | context keys |
//! |---|---|---|---|
//! | S3 GetObject, PutObject, DeleteObject | `s3:GetObject`, `s3:PutObject`, `s3:DeleteObject` | `arn:P:s3:::bucket/key` | |
//! | S3 ListObjectsV2 | `s3:ListBucket` | `arn:P:s3:::bucket` | `s3:prefix`, `s3:delimiter`, `s3:max-keys` when the request sets them |
//! | S3 HeadBucket | `s3:ListBucket` (the HeadBucket API reference: "you must have permissions to perform the s3:ListBucket action") | `arn:P:s3:::bucket` | none: no `s3:prefix`, so a statement conditioned on it never matches |
//! | Glue GetDatabase | `glue:GetDatabase` | catalog, database | |
//! | Glue GetTable, CreateTable, UpdateTable, GetPartitions, BatchCreatePartition, UpdatePartition | `glue:<Operation>` | catalog, database, table (every one must be allowed: "Specifying AWS Glue resource ARNs") | |
//! | Glue GetTables | `glue:GetTables` | catalog, database, `table/<db>/*` | |
//! | DynamoDB GetItem, Query, PutItem, UpdateItem | `dynamodb:<Operation>` | `arn:P:dynamodb:R:A:table/<name>` | |
//! | DynamoDB TransactWriteItems | per item: `dynamodb:PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem` ("Using IAM with DynamoDB transactions") | each item's table | `dynamodb:EnclosingOperation` |
//! | SNS Publish | `sns:Publish` | the topic ARN | |
//! | Redshift Data BatchExecuteStatement, ExecuteStatement | `redshift-data:<Operation>` | the cluster (`arn:P:redshift:R:A:cluster:<id>`) or workgroup ARN | the sign-in it implies is added by the checker per deployment variant |
//! | Redshift Data DescribeStatement, GetStatementResult | `redshift-data:<Operation>` | `*` (no resource type) | `redshift-data:statement-owner-iam-userid` = the caller's `aws:userid` (its own statements) |
//!
//! An operation this module does not know is recorded as `UNMAPPED`, which
//! the check refuses: a new SDK call cannot slip in without its row here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
pub use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_smithy_runtime_api::client::interceptors::context::{BeforeSerializationInterceptorContextRef, Input};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use cdc_core::steps::dispatch::current_function;

/// The value of a context key that stands for the caller's own `aws:userid`.
pub const CALLER_USERID: &str = "${aws:userid}";

/// One IAM authorisation request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IamRequest {
    pub action: String,
    pub resource: String,
    /// Request context keys and their values; a key absent here is absent
    /// from the request.
    pub context: BTreeMap<String, String>,
}

/// One SDK call, by the function whose step made it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallRow {
    /// `job-state`, `dimension-load`, … (`Function::name`).
    pub function: String,
    /// `S3.GetObject`, `Glue.CreateTable`, …
    pub operation: String,
    pub request: IamRequest,
}

/// Where ARNs are built: the tests' moto account and region.
#[derive(Debug, Clone)]
pub struct ArnScope {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl ArnScope {
    pub fn new(partition: &str, region: &str, account: &str) -> Self {
        Self { partition: partition.into(), region: region.into(), account: account.into() }
    }
}

/// An interceptor that records every call made inside a function's step.
#[derive(Debug, Clone)]
pub struct CallRecorder {
    scope: ArnScope,
    rows: Arc<Mutex<Vec<CallRow>>>,
}

impl CallRecorder {
    pub fn new(scope: ArnScope) -> Self {
        Self { scope, rows: Arc::default() }
    }

    /// As an interceptor to push onto a client's config.
    pub fn shared(&self) -> SharedInterceptor {
        SharedInterceptor::new(self.clone())
    }

    /// Every call recorded so far, in order, duplicates included.
    pub fn rows(&self) -> Vec<CallRow> {
        self.rows.lock().expect("recorder lock").clone()
    }
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    // After the operation's config is applied (its Metadata names it), once per call, not per retry.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(function) = current_function() else { return Ok(()) };
        let (service, operation) = match cfg.load::<Metadata>() {
            // "S3", "Glue", "DynamoDB", "SNS", "Redshift Data" → s3, glue, dynamodb, sns, redshiftdata
            Some(m) => (m.service().to_ascii_lowercase().replace(' ', ""), m.name().to_string()),
            None => ("unknown".to_string(), "unknown".to_string()),
        };
        let requests = iam_requests(&self.scope, &service, &operation, context.input());
        let mut rows = self.rows.lock().expect("recorder lock");
        for request in requests {
            rows.push(CallRow {
                function: function.name().to_string(),
                operation: format!("{service}.{operation}"),
                request,
            });
        }
        Ok(())
    }
}

fn request(action: &str, resource: String) -> IamRequest {
    IamRequest { action: action.to_string(), resource, context: BTreeMap::new() }
}

/// The IAM requests one SDK call is authorised as.
pub fn iam_requests(scope: &ArnScope, service: &str, operation: &str, input: &Input) -> Vec<IamRequest> {
    use aws_sdk_dynamodb::operation as ddb;
    use aws_sdk_glue::operation as glue;
    use aws_sdk_redshiftdata::operation as rsd;
    use aws_sdk_s3::operation as s3;
    use aws_sdk_sns::operation as sns;

    let p = &scope.partition;
    let (r, a) = (&scope.region, &scope.account);
    let object = |bucket: Option<&str>, key: Option<&str>| {
        format!("arn:{p}:s3:::{}/{}", bucket.unwrap_or_default(), key.unwrap_or_default())
    };
    let bucket = |bucket: Option<&str>| format!("arn:{p}:s3:::{}", bucket.unwrap_or_default());
    // Glue Data Catalog calls are authorised on the catalog, the database and the table.
    let glue_table = |action: &str, db: Option<&str>, table: Option<&str>| -> Vec<IamRequest> {
        let db = db.unwrap_or_default();
        vec![
            request(action, format!("arn:{p}:glue:{r}:{a}:catalog")),
            request(action, format!("arn:{p}:glue:{r}:{a}:database/{db}")),
            request(action, format!("arn:{p}:glue:{r}:{a}:table/{db}/{}", table.unwrap_or("*"))),
        ]
    };
    let ddb_table = |action: &str, table: Option<&str>| {
        vec![request(action, format!("arn:{p}:dynamodb:{r}:{a}:table/{}", table.unwrap_or_default()))]
    };
    let data_api_target = |cluster: Option<&str>, workgroup: Option<&str>| match (cluster, workgroup) {
        (Some(c), _) => format!("arn:{p}:redshift:{r}:{a}:cluster:{c}"),
        (None, Some(w)) if w.starts_with("arn:") => w.to_string(),
        (None, Some(w)) => format!("arn:{p}:redshift-serverless:{r}:{a}:workgroup/{w}"),
        (None, None) => "UNKNOWN-TARGET".to_string(),
    };
    let own_statement = |action: &str| {
        let mut req = request(action, "*".to_string());
        req.context.insert("redshift-data:statement-owner-iam-userid".into(), CALLER_USERID.into());
        vec![req]
    };
    let action = |prefix: &str| format!("{prefix}:{operation}");

    let found: Option<Vec<IamRequest>> = match (service, operation) {
        ("s3", "GetObject") => input
            .downcast_ref::<s3::get_object::GetObjectInput>()
            .map(|i| vec![request(&action("s3"), object(i.bucket(), i.key()))]),
        ("s3", "PutObject") => input
            .downcast_ref::<s3::put_object::PutObjectInput>()
            .map(|i| vec![request(&action("s3"), object(i.bucket(), i.key()))]),
        ("s3", "DeleteObject") => input
            .downcast_ref::<s3::delete_object::DeleteObjectInput>()
            .map(|i| vec![request(&action("s3"), object(i.bucket(), i.key()))]),
        ("s3", "HeadBucket") => input
            .downcast_ref::<s3::head_bucket::HeadBucketInput>()
            .map(|i| vec![request("s3:ListBucket", bucket(i.bucket()))]),
        ("s3", "ListObjectsV2") => input.downcast_ref::<s3::list_objects_v2::ListObjectsV2Input>().map(|i| {
            let mut req = request("s3:ListBucket", bucket(i.bucket()));
            if let Some(prefix) = i.prefix() {
                req.context.insert("s3:prefix".into(), prefix.into());
            }
            if let Some(d) = i.delimiter() {
                req.context.insert("s3:delimiter".into(), d.into());
            }
            if let Some(m) = i.max_keys() {
                req.context.insert("s3:max-keys".into(), m.to_string());
            }
            vec![req]
        }),
        ("glue", "GetDatabase") => input.downcast_ref::<glue::get_database::GetDatabaseInput>().map(|i| {
            let db = i.name().unwrap_or_default();
            vec![
                request(&action("glue"), format!("arn:{p}:glue:{r}:{a}:catalog")),
                request(&action("glue"), format!("arn:{p}:glue:{r}:{a}:database/{db}")),
            ]
        }),
        ("glue", "GetTable") => input
            .downcast_ref::<glue::get_table::GetTableInput>()
            .map(|i| glue_table(&action("glue"), i.database_name(), i.name())),
        ("glue", "GetTables") => input
            .downcast_ref::<glue::get_tables::GetTablesInput>()
            .map(|i| glue_table(&action("glue"), i.database_name(), None)),
        ("glue", "CreateTable") => input
            .downcast_ref::<glue::create_table::CreateTableInput>()
            .map(|i| glue_table(&action("glue"), i.database_name(), i.table_input().map(|t| t.name()))),
        ("glue", "UpdateTable") => input
            .downcast_ref::<glue::update_table::UpdateTableInput>()
            .map(|i| glue_table(&action("glue"), i.database_name(), i.table_input().map(|t| t.name()))),
        ("glue", "GetPartitions") => input
            .downcast_ref::<glue::get_partitions::GetPartitionsInput>()
            .map(|i| glue_table(&action("glue"), i.database_name(), i.table_name())),
        ("glue", "BatchCreatePartition") => input
            .downcast_ref::<glue::batch_create_partition::BatchCreatePartitionInput>()
            .map(|i| glue_table(&action("glue"), i.database_name(), i.table_name())),
        ("glue", "UpdatePartition") => input
            .downcast_ref::<glue::update_partition::UpdatePartitionInput>()
            .map(|i| glue_table(&action("glue"), i.database_name(), i.table_name())),
        ("dynamodb", "GetItem") => {
            input.downcast_ref::<ddb::get_item::GetItemInput>().map(|i| ddb_table(&action("dynamodb"), i.table_name()))
        }
        ("dynamodb", "Query") => {
            input.downcast_ref::<ddb::query::QueryInput>().map(|i| ddb_table(&action("dynamodb"), i.table_name()))
        }
        ("dynamodb", "PutItem") => {
            input.downcast_ref::<ddb::put_item::PutItemInput>().map(|i| ddb_table(&action("dynamodb"), i.table_name()))
        }
        ("dynamodb", "UpdateItem") => input
            .downcast_ref::<ddb::update_item::UpdateItemInput>()
            .map(|i| ddb_table(&action("dynamodb"), i.table_name())),
        // "Permissions for Put, Update, Delete, and Get actions are governed by the permissions used
        // for the underlying PutItem, UpdateItem, DeleteItem, and GetItem operations" (Using IAM
        // with DynamoDB transactions); the context carries dynamodb:EnclosingOperation.
        ("dynamodb", "TransactWriteItems") => {
            input.downcast_ref::<ddb::transact_write_items::TransactWriteItemsInput>().map(|i| {
                let mut reqs = Vec::new();
                for item in i.transact_items() {
                    let (action, table) = if let Some(x) = item.put() {
                        ("dynamodb:PutItem", x.table_name())
                    } else if let Some(x) = item.update() {
                        ("dynamodb:UpdateItem", x.table_name())
                    } else if let Some(x) = item.delete() {
                        ("dynamodb:DeleteItem", x.table_name())
                    } else if let Some(x) = item.condition_check() {
                        ("dynamodb:ConditionCheckItem", x.table_name())
                    } else {
                        ("UNMAPPED", "TransactWriteItem")
                    };
                    let mut req = ddb_table(action, Some(table)).remove(0);
                    req.context.insert("dynamodb:EnclosingOperation".into(), "TransactWriteItems".into());
                    reqs.push(req);
                }
                reqs
            })
        }
        ("sns", "Publish") => input
            .downcast_ref::<sns::publish::PublishInput>()
            .map(|i| vec![request(&action("sns"), i.topic_arn().unwrap_or_default().to_string())]),
        ("redshiftdata", "BatchExecuteStatement") => {
            input.downcast_ref::<rsd::batch_execute_statement::BatchExecuteStatementInput>().map(|i| {
                vec![request(&action("redshift-data"), data_api_target(i.cluster_identifier(), i.workgroup_name()))]
            })
        }
        ("redshiftdata", "ExecuteStatement") => {
            input.downcast_ref::<rsd::execute_statement::ExecuteStatementInput>().map(|i| {
                vec![request(&action("redshift-data"), data_api_target(i.cluster_identifier(), i.workgroup_name()))]
            })
        }
        ("redshiftdata", "DescribeStatement") => input
            .downcast_ref::<rsd::describe_statement::DescribeStatementInput>()
            .map(|_| own_statement(&action("redshift-data"))),
        ("redshiftdata", "GetStatementResult") => input
            .downcast_ref::<rsd::get_statement_result::GetStatementResultInput>()
            .map(|_| own_statement(&action("redshift-data"))),
        _ => None,
    };
    found.unwrap_or_else(|| vec![request("UNMAPPED", format!("{service}.{operation}"))])
}

/// The reviewed form of a row: every run of digits in the resource and the
/// context values becomes `N`, so day folders, file numbers and probe
/// nonces do not change the table from one run to the next.
pub fn normalized(row: &CallRow) -> CallRow {
    let norm = |s: &str| {
        let mut out = String::with_capacity(s.len());
        let mut in_digits = false;
        for c in s.chars() {
            if c.is_ascii_digit() {
                if !in_digits {
                    out.push('N');
                }
                in_digits = true;
            } else {
                out.push(c);
                in_digits = false;
            }
        }
        out
    };
    // An ARN's partition, service, region and account stay as they are (they are not data).
    let keep = |s: &str| {
        let mut parts: Vec<String> = s.split(':').map(String::from).collect();
        let fixed = if parts.len() >= 6 && parts[0] == "arn" { 5 } else { 0 };
        for part in parts.iter_mut().skip(fixed) {
            *part = norm(part);
        }
        parts.join(":")
    };
    let mut row = row.clone();
    row.request.resource = keep(&row.request.resource);
    for v in row.request.context.values_mut() {
        if v != CALLER_USERID {
            *v = norm(v);
        }
    }
    row
}

pub const TABLE_HEADER: &str = "function\toperation\taction\tresource\tcontext";

/// The rows as the reviewed TSV table: normalized, distinct, sorted.
pub fn to_table(rows: &[CallRow]) -> String {
    to_table_with(rows, &[])
}

/// [`to_table`], each of `tables` (the config's table names) written as
/// `{table}` first: which table a call touched depends on the data of the
/// run, the permission it needs does not.
pub fn to_table_with(rows: &[CallRow], tables: &[String]) -> String {
    let mut names: Vec<&String> = tables.iter().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let generic = |s: &str| names.iter().fold(s.to_string(), |acc, n| acc.replace(n.as_str(), "{table}"));
    let mut distinct: Vec<CallRow> = rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.request.resource = generic(&r.request.resource);
            for v in r.request.context.values_mut() {
                *v = generic(v);
            }
            normalized(&r)
        })
        .collect();
    distinct.sort();
    distinct.dedup();
    let mut out = String::new();
    writeln!(out, "{TABLE_HEADER}").unwrap();
    for r in distinct {
        let context: Vec<String> = r.request.context.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let context = if context.is_empty() { "-".to_string() } else { context.join(";") };
        writeln!(out, "{}\t{}\t{}\t{}\t{}", r.function, r.operation, r.request.action, r.request.resource, context)
            .unwrap();
    }
    out
}

/// Reads a table written by [`to_table`].
pub fn parse_table(text: &str) -> Result<Vec<CallRow>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(TABLE_HEADER) {
        return Err(format!("the table does not start with the header {TABLE_HEADER:?}"));
    }
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [function, operation, action, resource, context] = cols[..] else {
            return Err(format!("line {}: {} columns, not 5: {line:?}", n + 2, cols.len()));
        };
        let mut ctx = BTreeMap::new();
        if context != "-" {
            for pair in context.split(';') {
                let (k, v) = pair.split_once('=').ok_or_else(|| format!("line {}: context {pair:?}", n + 2))?;
                ctx.insert(k.to_string(), v.to_string());
            }
        }
        rows.push(CallRow {
            function: function.into(),
            operation: operation.into(),
            request: IamRequest { action: action.into(), resource: resource.into(), context: ctx },
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> ArnScope {
        ArnScope::new("aws", "us-east-1", "123456789012")
    }

    #[test]
    fn head_bucket_is_list_bucket_without_a_prefix_and_a_listing_carries_its_prefix() {
        let head = aws_sdk_s3::operation::head_bucket::HeadBucketInput::builder().bucket("opt").build().unwrap();
        let reqs = iam_requests(&scope(), "s3", "HeadBucket", &Input::erase(head));
        assert_eq!(reqs, vec![request("s3:ListBucket", "arn:aws:s3:::opt".into())]);
        assert!(reqs[0].context.is_empty(), "HeadBucket carries no s3:prefix");
        let list = aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Input::builder()
            .bucket("raw")
            .prefix("cdc/public/t/")
            .build()
            .unwrap();
        let reqs = iam_requests(&scope(), "s3", "ListObjectsV2", &Input::erase(list));
        assert_eq!(reqs[0].context["s3:prefix"], "cdc/public/t/");
    }

    #[test]
    fn a_glue_table_call_needs_catalog_database_and_table_and_an_unknown_call_is_unmapped() {
        let get =
            aws_sdk_glue::operation::get_table::GetTableInput::builder().database_name("db").name("t").build().unwrap();
        let reqs = iam_requests(&scope(), "glue", "GetTable", &Input::erase(get));
        let resources: Vec<&str> = reqs.iter().map(|r| r.resource.as_str()).collect();
        assert_eq!(
            resources,
            [
                "arn:aws:glue:us-east-1:123456789012:catalog",
                "arn:aws:glue:us-east-1:123456789012:database/db",
                "arn:aws:glue:us-east-1:123456789012:table/db/t"
            ]
        );
        let reqs = iam_requests(&scope(), "glue", "DeleteTable", &Input::erase(()));
        assert_eq!(reqs[0].action, "UNMAPPED");
    }

    #[test]
    fn the_table_normalizes_numbers_but_not_the_account_and_reads_back() {
        let row = CallRow {
            function: "job-state".into(),
            operation: "s3.GetObject".into(),
            request: request(
                "s3:GetObject",
                "arn:aws:s3:::raw/cdc/public/t/20261204/20261204-120000123.parquet".into(),
            ),
        };
        let ddb = CallRow {
            function: "job-state".into(),
            operation: "dynamodb.GetItem".into(),
            request: request("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/jobs-2".into()),
        };
        let table = to_table(&[row.clone(), row, ddb]);
        assert!(table.contains("arn:aws:s3:::raw/cdc/public/t/N/N-N.parquet"), "{table}");
        assert!(table.contains("arn:aws:dynamodb:us-east-1:123456789012:table/jobs-N"), "{table}");
        let back = parse_table(&table).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(to_table(&back), table);
    }
}
