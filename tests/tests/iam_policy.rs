//! Every SDK call the functions make, as recorded by the AWS-path tests
//! (`tests/iam/sdk-calls.tsv`, see `cdc_aws::iam_record` and
//! crates/cdc-lambda/tests/iam_calls.rs), is allowed by its function's role
//! in template.yaml, conditions included, in every way the stack can be
//! deployed: a Serverless workgroup or a cluster, signed in by the IAM
//! identity, a database user or a secret, with or without SSE-KMS keys.
//! moto checks almost none of this (its IAM mode ignores conditions and
//! checks HeadBucket as `s3:HeadBucket`), so the evaluator in
//! `support/iam.rs` does, with the rules docs/aws.md cites.
//!
//! The checks run on the template before issue 18 too
//! (tests/fixtures/template-before-issue-18.yaml) and must find its faults.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use serde_yaml_ng::Value;

use cdc_aws::iam_record::{CallRow, IamRequest, parse_table};
use cdc_core::steps::dispatch::Function;
use support::iam::{Principal, Statement, decide, statements, wildcard};
use support::read;
use support::template::{Resolver, Resources, parse};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
/// The tests' workgroup id (crates/cdc-cli/tests/aws_support: `WORKGROUP_ID`).
const WORKGROUP_ID: &str = "cdcaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const CURRENT: &str = "template.yaml";
const BEFORE: &str = "tests/fixtures/template-before-issue-18.yaml";

fn rows() -> Vec<CallRow> {
    parse_table(&read("tests/iam/sdk-calls.tsv")).expect("tests/iam/sdk-calls.tsv")
}

/// How the Data API signs in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SignIn {
    IamIdentity,
    DbUser,
    Secret,
}

/// One way to deploy the stack: its parameters, beside the buckets and
/// names the recording tests used.
#[derive(Debug, Clone)]
struct Variant {
    name: &'static str,
    cluster: bool,
    sign_in: SignIn,
    kms: bool,
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "workgroup, IAM identity (the tests' own)",
        cluster: false,
        sign_in: SignIn::IamIdentity,
        kms: false,
    },
    Variant { name: "workgroup, secret", cluster: false, sign_in: SignIn::Secret, kms: false },
    Variant { name: "cluster, IAM identity", cluster: true, sign_in: SignIn::IamIdentity, kms: false },
    Variant { name: "cluster, database user", cluster: true, sign_in: SignIn::DbUser, kms: false },
    Variant { name: "cluster, secret", cluster: true, sign_in: SignIn::Secret, kms: false },
    Variant {
        name: "workgroup, IAM identity, SSE-KMS buckets",
        cluster: false,
        sign_in: SignIn::IamIdentity,
        kms: true,
    },
];

const CLUSTER: &str = "cdc-cluster";
const DB_USER: &str = "cdc_loader";
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cdc-redshift-AbCdEf";
const RAW_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/raw-key";
const OPTIMIZED_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/optimized-key";
const CONFIG_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/config-key";

impl Variant {
    fn params(&self) -> BTreeMap<String, String> {
        let mut p: BTreeMap<String, String> = [
            ("RawBucket", "cdc-raw"),
            ("RawPrefix", ""),
            ("OptimizedBucket", "cdc-optimized"),
            ("OptimizedPrefix", "cdc/"),
            ("ConfigBucket", "cdc-config"),
            ("ConfigKey", "cdc/pipeline.toml"),
            ("GlueDatabase", "cdc_raw"),
            ("RedshiftDatabase", "dev"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if self.cluster {
            p.insert("RedshiftClusterId".into(), CLUSTER.into());
        } else {
            p.insert("RedshiftWorkgroupId".into(), WORKGROUP_ID.into());
        }
        match self.sign_in {
            SignIn::IamIdentity => {}
            SignIn::DbUser => {
                p.insert("RedshiftDbUser".into(), DB_USER.into());
            }
            SignIn::Secret => {
                p.insert("RedshiftSecretArn".into(), SECRET.into());
            }
        }
        if self.kms {
            p.insert("RawKmsKeyArn".into(), RAW_KEY.into());
            p.insert("OptimizedKmsKeyArn".into(), OPTIMIZED_KEY.into());
            p.insert("ConfigKmsKeyArn".into(), CONFIG_KEY.into());
        }
        p
    }

    fn target_arn(&self) -> String {
        if self.cluster {
            format!("arn:aws:redshift:{REGION}:{ACCOUNT}:cluster:{CLUSTER}")
        } else {
            format!("arn:aws:redshift-serverless:{REGION}:{ACCOUNT}:workgroup/{WORKGROUP_ID}")
        }
    }

    /// The IAM requests one recorded call is in this deployment: the Data
    /// API's target is this variant's, with the sign-in it implies, and an
    /// object call on an SSE-KMS bucket implies its KMS call.
    fn requests(&self, row: &CallRow) -> Vec<IamRequest> {
        let req =
            |action: &str, resource: String| IamRequest { action: action.into(), resource, context: BTreeMap::new() };
        let mut first = row.request.clone();
        let mut out = Vec::new();
        if matches!(first.action.as_str(), "redshift-data:BatchExecuteStatement" | "redshift-data:ExecuteStatement") {
            first.resource = self.target_arn();
            // "Authorizing access to the Amazon Redshift Data API": the sign-in's own permission.
            let dbname = format!("arn:aws:redshift:{REGION}:{ACCOUNT}:dbname:{CLUSTER}/dev");
            match (self.cluster, self.sign_in) {
                (_, SignIn::Secret) => out.push(req("secretsmanager:GetSecretValue", SECRET.into())),
                (true, SignIn::DbUser) => {
                    out.push(req(
                        "redshift:GetClusterCredentials",
                        format!("arn:aws:redshift:{REGION}:{ACCOUNT}:dbuser:{CLUSTER}/{DB_USER}"),
                    ));
                    out.push(req("redshift:GetClusterCredentials", dbname));
                }
                (true, SignIn::IamIdentity) => out.push(req("redshift:GetClusterCredentialsWithIAM", dbname)),
                (false, SignIn::IamIdentity) => out.push(req("redshift-serverless:GetCredentials", self.target_arn())),
                (false, SignIn::DbUser) => unreachable!("a workgroup takes no database user"),
            }
        }
        if self.kms {
            // "Using server-side encryption with AWS KMS keys": GetObject needs kms:Decrypt,
            // PutObject kms:GenerateDataKey, S3 calling KMS for the caller (kms:ViaService).
            let bucket = first.resource.trim_start_matches("arn:aws:s3:::").split('/').next().unwrap_or_default();
            let key = match bucket {
                "cdc-raw" => Some(RAW_KEY),
                "cdc-optimized" => Some(OPTIMIZED_KEY),
                "cdc-config" => Some(CONFIG_KEY),
                _ => None,
            };
            let kms_action = match first.action.as_str() {
                "s3:GetObject" => Some("kms:Decrypt"),
                "s3:PutObject" => Some("kms:GenerateDataKey"),
                _ => None,
            };
            if let (Some(key), Some(action)) = (key, kms_action) {
                let mut k = req(action, key.into());
                k.context.insert("kms:ViaService".into(), format!("s3.{REGION}.amazonaws.com"));
                out.push(k);
            }
        }
        out.insert(0, first);
        out
    }
}

/// Ref and attributes of every resource, as CloudFormation would give them here.
fn deployed(template: &Value) -> Resources {
    let mut r = BTreeMap::new();
    for (k, v) in template["Resources"].as_mapping().unwrap() {
        let id = k.as_str().unwrap().to_string();
        let ty = v["Type"].as_str().unwrap_or_default();
        let (reference, arn) = match ty {
            "AWS::DynamoDB::Table" => {
                ("cdc-job-state".to_string(), format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/cdc-job-state"))
            }
            "AWS::SNS::Topic" => {
                let arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:cdc-alerts");
                (arn.clone(), arn)
            }
            "AWS::Logs::LogGroup" => {
                let name = format!("/aws/lambda/cdc/{id}");
                (name.clone(), format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"))
            }
            "AWS::IAM::Role" => (id.clone(), format!("arn:aws:iam::{ACCOUNT}:role/{id}")),
            "AWS::IAM::ManagedPolicy" => {
                let arn = format!("arn:aws:iam::{ACCOUNT}:policy/{id}");
                (arn.clone(), arn)
            }
            _ => (id.clone(), format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:{id}")),
        };
        r.insert(id, (reference, BTreeMap::from([("Arn".to_string(), arn)])));
    }
    Resources::Deployed(r)
}

fn resolver(template_file: &str, variant: &Variant) -> Result<Resolver, String> {
    let t = parse(&read(template_file));
    for name in variant.params().keys() {
        if t["Parameters"].get(name.as_str()).is_none() {
            return Err(format!("{template_file} has no parameter {name} (needed by the variant {})", variant.name));
        }
    }
    let pseudo =
        [("AWS::Partition", "aws"), ("AWS::Region", REGION), ("AWS::AccountId", ACCOUNT), ("AWS::StackName", "cdc")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let resources = deployed(&t);
    Ok(Resolver::new(t, &variant.params(), pseudo, resources))
}

/// The logical id of a function's role.
fn role_of(r: &Resolver, f: Function) -> String {
    let function = f.substitution().trim_end_matches("Arn");
    let role = &r.template["Resources"][function]["Properties"]["Role"];
    let Value::Tagged(t) = role else { panic!("{function}: Role {role:?} is not !GetAtt <Role>.Arn") };
    t.value.as_str().unwrap().trim_end_matches(".Arn").to_string()
}

/// Every statement of a role: its managed policies and inline policies.
fn role_statements(r: &Resolver, role: &str) -> Result<Vec<Statement>, String> {
    let props = &r.template["Resources"][role]["Properties"];
    let mut out = Vec::new();
    for m in props["ManagedPolicyArns"].as_sequence().cloned().unwrap_or_default() {
        let Value::Tagged(t) = &m else {
            return Err(format!("{role}: managed policy {m:?} is not !Ref of this template's"));
        };
        let name = t.value.as_str().unwrap();
        let doc = r.resolve(&r.template["Resources"][name]["Properties"]["PolicyDocument"])?.unwrap();
        out.extend(statements(name, &doc)?);
    }
    for p in props["Policies"].as_sequence().cloned().unwrap_or_default() {
        let doc = r.resolve(&p["PolicyDocument"])?.unwrap();
        out.extend(statements(&format!("{role}/{}", p["PolicyName"].as_str().unwrap_or("inline")), &doc)?);
    }
    Ok(out)
}

fn function_named(name: &str) -> Function {
    *Function::ALL.iter().find(|f| f.name() == name).unwrap_or_else(|| panic!("no function {name}"))
}

fn principal(function: &str) -> Principal {
    Principal::from([("aws:userid".to_string(), format!("AROAEXAMPLEROLEID:{function}"))])
}

/// Every request of `rows` its role denies, as "function operation action resource: why".
fn denied(template_file: &str, variant: &Variant, rows: &[CallRow]) -> Result<Vec<String>, String> {
    let r = resolver(template_file, variant)?;
    let mut out = Vec::new();
    for row in rows {
        let role = role_of(&r, function_named(&row.function));
        let stmts = role_statements(&r, &role)?;
        for req in variant.requests(row) {
            if let Err(why) = decide(&stmts, &req, &principal(&row.function))? {
                out.push(format!(
                    "{} ({role}) {} needs {} on {} {:?}: {why}",
                    row.function, row.operation, req.action, req.resource, req.context
                ));
            }
        }
    }
    Ok(out)
}

#[test]
fn the_recorded_table_covers_every_function_and_maps_every_call() {
    let rows = rows();
    let functions: BTreeSet<&str> = rows.iter().map(|r| r.function.as_str()).collect();
    for f in Function::ALL {
        assert!(functions.contains(f.name()), "no recorded call of {}", f.name());
    }
    assert!(rows.iter().all(|r| r.request.action != "UNMAPPED"), "an unmapped call in tests/iam/sdk-calls.tsv");
}

#[test]
fn every_recorded_call_is_allowed_by_its_functions_role_in_every_deployment_variant() {
    let rows = rows();
    for v in VARIANTS {
        let denied = denied(CURRENT, v, &rows).unwrap();
        assert!(denied.is_empty(), "{}: template.yaml denies:\n{}", v.name, denied.join("\n"));
    }
}

#[test]
fn the_check_flags_the_head_bucket_fault_of_the_template_before_issue_18() {
    // GIVEN the old template, where the optimized bucket's ListBucket had an s3:prefix condition
    let denied = denied(BEFORE, &VARIANTS[0], &rows()).unwrap();
    // THEN the unload's HeadBucket (s3:ListBucket, no s3:prefix in the request) is denied
    assert!(
        denied.iter().any(|d| d.starts_with("unload")
            && d.contains("s3.HeadBucket needs s3:ListBucket on arn:aws:s3:::cdc-optimized {}")
            && d.contains("does not match")),
        "{denied:#?}"
    );
}

#[test]
fn the_check_flags_the_missing_kms_permissions_of_the_template_before_issue_18() {
    // GIVEN the old template THEN it cannot even be given a KMS key
    let kms = VARIANTS.iter().find(|v| v.kms).unwrap();
    let err = denied(BEFORE, kms, &rows()).unwrap_err();
    assert!(err.contains("KmsKeyArn"), "{err}");
    // AND the current template without its KMS statements is denied the KMS calls S3 makes for the functions
    let text = read(CURRENT).replace("Action: kms:Decrypt", "Action: kms:DescribeKey");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("template.yaml");
    std::fs::write(&file, text).unwrap();
    let denied = denied(file.to_str().unwrap(), kms, &rows()).unwrap();
    assert!(
        denied.iter().any(|d| d.contains("needs kms:Decrypt on arn:aws:kms:us-east-1:123456789012:key/raw-key")),
        "{denied:#?}"
    );
    assert!(
        denied.iter().any(|d| d.contains("needs kms:Decrypt on arn:aws:kms:us-east-1:123456789012:key/config-key")),
        "{denied:#?}"
    );
}

#[test]
fn a_removed_permission_fails_the_check() {
    // GIVEN template.yaml with the notify function's sns:Publish taken away
    let text = read(CURRENT).replacen(
        "                Action: sns:Publish\n                Resource: !Ref AlertTopic",
        "                Action: sns:GetTopicAttributes\n                Resource: !Ref AlertTopic",
        1,
    );
    assert_ne!(text, read(CURRENT), "the edit applied");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("template.yaml");
    std::fs::write(&file, text).unwrap();
    // THEN the recorded Publish is denied, naming function, call and resource
    let denied = denied(file.to_str().unwrap(), &VARIANTS[0], &rows()).unwrap();
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert!(denied[0].starts_with("notify (NotifyRole) sns.Publish needs sns:Publish on arn:aws:sns:"), "{denied:#?}");
}

#[test]
fn a_new_sdk_call_without_its_permission_fails_the_check() {
    // GIVEN a call the notify function does not make today: writing the config object
    let mut rows = rows();
    rows.push(CallRow {
        function: "notify".into(),
        operation: "s3.PutObject".into(),
        request: IamRequest {
            action: "s3:PutObject".into(),
            resource: "arn:aws:s3:::cdc-config/cdc/pipeline.toml".into(),
            context: BTreeMap::new(),
        },
    });
    // THEN the check refuses it
    let denied = denied(CURRENT, &VARIANTS[0], &rows).unwrap();
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert!(denied[0].contains("no statement allows it"), "{denied:#?}");
}

/// The roles of the functions that call the Data API.
fn data_api_roles(template_file: &str) -> BTreeSet<String> {
    let r = resolver(template_file, &VARIANTS[0]).unwrap();
    rows()
        .iter()
        .filter(|row| row.request.action.starts_with("redshift-data:"))
        .map(|row| role_of(&r, function_named(&row.function)))
        .collect()
}

#[test]
fn one_iam_role_so_one_database_user_runs_every_data_api_call() {
    // GIVEN every function that calls the Data API THEN all run as one role: with the IAM
    // identity, the one database user (IAMR:<role>) that setup makes the owner of every object
    let roles = data_api_roles(CURRENT);
    assert_eq!(roles.len(), 1, "the Data API functions run as several roles, so several database users: {roles:?}");
    let role = roles.into_iter().next().unwrap();
    // AND the stack names that user in its outputs
    let t = parse(&read(CURRENT));
    let user = &t["Outputs"]["DatabaseUser"];
    assert_eq!(user["Condition"], "DataApiIamIdentity");
    let Value::Tagged(sub) = &user["Value"] else { panic!("{user:?}") };
    assert_eq!(sub.value.as_str().unwrap(), format!("IAMR:${{{role}}}"));
    // AND the old template had two (LoadRole, UnloadRole): the check finds fault 2
    let before = data_api_roles(BEFORE);
    assert_eq!(before, BTreeSet::from(["LoadRole".to_string(), "UnloadRole".to_string()]));
}

/// Actions a role grants that no recorded call needs, each with why it stays.
const GRANTED_FOR_PATHS_NOT_RECORDED: &[(&str, &str)] = &[(
    "glue:UpdateTable",
    "a Glue table whose columns or location changed (GlueCatalog and GlueRawCatalog update it); the recording's tables never change",
)];

#[test]
fn every_action_a_role_grants_is_needed_by_a_recorded_call() {
    // Least privilege: a permission no call needs (in some variant) is reported.
    let rows = rows();
    let mut unused = Vec::new();
    for v in VARIANTS {
        let r = resolver(CURRENT, v).unwrap();
        let mut roles: BTreeMap<String, Vec<&CallRow>> = BTreeMap::new();
        for f in Function::ALL {
            roles.entry(role_of(&r, f)).or_default().extend(rows.iter().filter(|row| row.function == f.name()));
        }
        for (role, calls) in roles {
            let needed: Vec<IamRequest> = calls.iter().flat_map(|c| v.requests(c)).collect();
            for s in role_statements(&r, &role).unwrap() {
                for a in &s.actions {
                    if a.starts_with("logs:") || GRANTED_FOR_PATHS_NOT_RECORDED.iter().any(|(x, _)| x == a) {
                        continue;
                    }
                    let used =
                        needed.iter().any(|req| wildcard(&a.to_ascii_lowercase(), &req.action.to_ascii_lowercase()));
                    if !used {
                        unused.push(format!(
                            "{role} {} grants {a}, which no call of its functions needs ({})",
                            s.origin, v.name
                        ));
                    }
                }
            }
        }
    }
    unused.sort();
    unused.dedup();
    assert!(unused.is_empty(), "{unused:#?}");
}

#[test]
fn the_evaluator_follows_iams_rules() {
    let doc = |cond: Json| serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b", "Condition": cond}]});
    let list = |prefix: Option<&str>| IamRequest {
        action: "s3:ListBucket".into(),
        resource: "arn:aws:s3:::b".into(),
        context: prefix.map(|p| BTreeMap::from([("s3:prefix".to_string(), p.to_string())])).unwrap_or_default(),
    };
    let p = principal("unload");
    let decide = |s: &[Statement], r: &IamRequest, p: &Principal| decide(s, r, p).expect("the checker evaluates it");
    let like = statements("p", &doc(serde_json::json!({"StringLike": {"s3:prefix": "cdc/*"}}))).unwrap();
    // A condition on a key the request lacks does not match (HeadBucket has no s3:prefix)
    assert!(decide(&like, &list(None), &p).is_err());
    assert!(decide(&like, &list(Some("cdc/t/")), &p).is_ok());
    assert!(decide(&like, &list(Some("raw/")), &p).is_err());
    // ...IfExists matches a request without the key
    let if_exists = statements("p", &doc(serde_json::json!({"StringLikeIfExists": {"s3:prefix": "cdc/*"}}))).unwrap();
    assert!(decide(&if_exists, &list(None), &p).is_ok());
    // a negated operator matches an absent key; Null tests for absence
    let not = statements("p", &doc(serde_json::json!({"StringNotEquals": {"s3:prefix": "x"}}))).unwrap();
    assert!(decide(&not, &list(None), &p).is_ok());
    let null = statements("p", &doc(serde_json::json!({"Null": {"s3:prefix": "true"}}))).unwrap();
    assert!(decide(&null, &list(None), &p).is_ok() && decide(&null, &list(Some("a")), &p).is_err());
    // an operator the checker does not know is an error, not a match
    let unknown = statements("p", &doc(serde_json::json!({"ForAnyValue:StringLike": {"s3:prefix": "x"}}))).unwrap();
    let err = support::iam::decide(&unknown, &list(Some("x")), &p).unwrap_err();
    assert!(err.contains("not known"), "{err}");
    // policy variables are the principal's; an explicit Deny wins
    let own = serde_json::json!({"Statement": [
        {"Effect": "Allow", "Action": "redshift-data:DescribeStatement", "Resource": "*",
         "Condition": {"StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}}},
    ]});
    let describe = IamRequest {
        action: "redshift-data:DescribeStatement".into(),
        resource: "*".into(),
        context: BTreeMap::from([(
            "redshift-data:statement-owner-iam-userid".into(),
            cdc_aws::iam_record::CALLER_USERID.into(),
        )]),
    };
    assert!(decide(&statements("p", &own).unwrap(), &describe, &p).is_ok());
    let mut someone_else = describe.clone();
    someone_else.context.insert("redshift-data:statement-owner-iam-userid".into(), "AROAOTHER:x".into());
    assert!(decide(&statements("p", &own).unwrap(), &someone_else, &p).is_err());
    let deny = serde_json::json!({"Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"},
    ]});
    assert!(decide(&statements("p", &deny).unwrap(), &list(None), &p).unwrap_err().contains("explicitly denied"));
    // wildcards: actions case-insensitively, resources exactly
    assert!(wildcard("arn:aws:s3:::b/cdc/*", "arn:aws:s3:::b/cdc/t/f.parquet"));
    assert!(!wildcard("arn:aws:s3:::b/cdc/*", "arn:aws:s3:::b/raw/f"));
    assert!(wildcard("table/db/?", "table/db/t"));
}
