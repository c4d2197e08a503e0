//! Which Redshift the Data API reaches, and as whom: a provisioned cluster or
//! a Serverless workgroup, from the environment of a Lambda function.
//!
//! | variable | meaning |
//! |---|---|
//! | `REDSHIFT_CLUSTER_ID` | provisioned cluster identifier (`ClusterIdentifier`) |
//! | `REDSHIFT_WORKGROUP` | Serverless workgroup name or ARN (`WorkgroupName`) |
//! | `REDSHIFT_DATABASE` | database name, always required (`Database`) |
//! | `REDSHIFT_DB_USER` | cluster only: temporary credentials for this database user (`DbUser`) |
//! | `REDSHIFT_SECRET_ARN` | Secrets Manager secret holding user and password (`SecretArn`) |
//!
//! Exactly one of cluster and workgroup. A cluster takes `DbUser` or
//! `SecretArn` (not both); with neither, the Data API derives the database
//! user from the caller's IAM identity (`redshift:GetClusterCredentialsWithIAM`),
//! the third method the Data API documents. A workgroup takes an optional
//! `SecretArn`, else the IAM identity; it has no `DbUser`. An empty variable
//! counts as unset, since templates often pass `""` for "not used".

use std::fmt;

use cdc_core::PipelineError;

pub const ENV_CLUSTER_ID: &str = "REDSHIFT_CLUSTER_ID";
pub const ENV_WORKGROUP: &str = "REDSHIFT_WORKGROUP";
pub const ENV_DATABASE: &str = "REDSHIFT_DATABASE";
pub const ENV_DB_USER: &str = "REDSHIFT_DB_USER";
pub const ENV_SECRET_ARN: &str = "REDSHIFT_SECRET_ARN";

/// How the Data API authenticates to a provisioned cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterAuth {
    /// Temporary credentials for this database user (`redshift:GetClusterCredentials`).
    DbUser(String),
    /// A Secrets Manager secret with user name and password.
    SecretArn(String),
    /// The database user derived from the caller's IAM identity.
    IamIdentity,
}

/// A Redshift database the Data API can run statements on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedshiftTarget {
    Cluster { cluster_id: String, database: String, auth: ClusterAuth },
    Serverless { workgroup: String, database: String, secret_arn: Option<String> },
}

impl RedshiftTarget {
    /// From the process environment (the variables in the module doc).
    pub fn from_env() -> Result<Self, PipelineError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From any variable source, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, PipelineError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let cluster = get(ENV_CLUSTER_ID);
        let workgroup = get(ENV_WORKGROUP);
        let database = get(ENV_DATABASE);
        let db_user = get(ENV_DB_USER);
        let secret_arn = get(ENV_SECRET_ARN);
        let target = match (cluster, workgroup) {
            (Some(_), Some(_)) => {
                return Err(PipelineError::config(format!(
                    "{ENV_CLUSTER_ID} and {ENV_WORKGROUP} are both set: a target is either a provisioned cluster \
                     or a Serverless workgroup, set only one"
                )));
            }
            (None, None) => {
                return Err(PipelineError::config(format!(
                    "no Redshift target: set {ENV_CLUSTER_ID} (provisioned cluster) or {ENV_WORKGROUP} \
                     (Serverless workgroup), and {ENV_DATABASE}"
                )));
            }
            (Some(cluster_id), None) => {
                let auth = match (db_user, secret_arn) {
                    (Some(_), Some(_)) => {
                        return Err(PipelineError::config(format!(
                            "{ENV_DB_USER} and {ENV_SECRET_ARN} are both set: the Data API authenticates to a \
                             cluster either as a database user or with a secret, set only one"
                        )));
                    }
                    (Some(user), None) => ClusterAuth::DbUser(user),
                    (None, Some(arn)) => ClusterAuth::SecretArn(arn),
                    (None, None) => ClusterAuth::IamIdentity,
                };
                RedshiftTarget::Cluster { cluster_id, database: required_database(database)?, auth }
            }
            (None, Some(workgroup)) => {
                if db_user.is_some() {
                    return Err(PipelineError::config(format!(
                        "{ENV_DB_USER} is set with {ENV_WORKGROUP}: a Serverless workgroup takes no database user \
                         (use {ENV_SECRET_ARN}, or neither for the IAM identity)"
                    )));
                }
                RedshiftTarget::Serverless { workgroup, database: required_database(database)?, secret_arn }
            }
        };
        target.validate()?;
        Ok(target)
    }

    /// The identifier rules of the Data API's model, checked here so a typo
    /// is a ConfigError naming the variable rather than a ValidationException
    /// at the first statement.
    pub fn validate(&self) -> Result<(), PipelineError> {
        match self {
            RedshiftTarget::Cluster { cluster_id, database, auth } => {
                if !valid_cluster_id(cluster_id) {
                    return Err(PipelineError::config(format!(
                        "{ENV_CLUSTER_ID} {cluster_id:?} is not a cluster identifier (1 to 63 lowercase letters, \
                         digits and single hyphens, starting with a letter)"
                    )));
                }
                check_database(database)?;
                match auth {
                    ClusterAuth::DbUser(u) if u.is_empty() => {
                        Err(PipelineError::config(format!("{ENV_DB_USER} is empty")))
                    }
                    ClusterAuth::SecretArn(a) if a.is_empty() => {
                        Err(PipelineError::config(format!("{ENV_SECRET_ARN} is empty")))
                    }
                    _ => Ok(()),
                }
            }
            RedshiftTarget::Serverless { workgroup, database, secret_arn } => {
                if !valid_workgroup(workgroup) {
                    return Err(PipelineError::config(format!(
                        "{ENV_WORKGROUP} {workgroup:?} is not a workgroup name (3 to 128 lowercase letters, digits \
                         and hyphens) nor a workgroup ARN"
                    )));
                }
                if secret_arn.as_deref() == Some("") {
                    return Err(PipelineError::config(format!("{ENV_SECRET_ARN} is empty")));
                }
                check_database(database)
            }
        }
    }

    pub fn database(&self) -> &str {
        match self {
            RedshiftTarget::Cluster { database, .. } | RedshiftTarget::Serverless { database, .. } => database,
        }
    }

    pub fn cluster_id(&self) -> Option<&str> {
        match self {
            RedshiftTarget::Cluster { cluster_id, .. } => Some(cluster_id),
            RedshiftTarget::Serverless { .. } => None,
        }
    }

    pub fn workgroup(&self) -> Option<&str> {
        match self {
            RedshiftTarget::Serverless { workgroup, .. } => Some(workgroup),
            RedshiftTarget::Cluster { .. } => None,
        }
    }

    pub fn db_user(&self) -> Option<&str> {
        match self {
            RedshiftTarget::Cluster { auth: ClusterAuth::DbUser(u), .. } => Some(u),
            _ => None,
        }
    }

    pub fn secret_arn(&self) -> Option<&str> {
        match self {
            RedshiftTarget::Cluster { auth: ClusterAuth::SecretArn(a), .. } => Some(a),
            RedshiftTarget::Serverless { secret_arn, .. } => secret_arn.as_deref(),
            RedshiftTarget::Cluster { .. } => None,
        }
    }
}

impl fmt::Display for RedshiftTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedshiftTarget::Cluster { cluster_id, database, .. } => {
                write!(f, "cluster {cluster_id} database {database}")
            }
            RedshiftTarget::Serverless { workgroup, database, .. } => {
                write!(f, "workgroup {workgroup} database {database}")
            }
        }
    }
}

fn required_database(database: Option<String>) -> Result<String, PipelineError> {
    database.ok_or_else(|| PipelineError::config(format!("{ENV_DATABASE} is not set: the Data API needs a database")))
}

fn check_database(database: &str) -> Result<(), PipelineError> {
    // Redshift names: at most 127 bytes; the Data API passes it through.
    if database.is_empty() || database.len() > 127 {
        return Err(PipelineError::config(format!("{ENV_DATABASE} {database:?} is not a database name")));
    }
    Ok(())
}

/// `^[a-z]([a-z0-9]|-[a-z0-9])*$`, 1 to 63 characters (the model's ClusterIdentifierString).
fn valid_cluster_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !id.ends_with('-')
        && !id.contains("--")
}

/// A name of 3 to 128 `[a-z0-9-]`, or a `redshift-serverless` workgroup ARN.
fn valid_workgroup(w: &str) -> bool {
    if w.starts_with("arn:") {
        return w.contains(":redshift-serverless:") && w.contains(":workgroup/") && w.len() <= 128;
    }
    (3..=128).contains(&w.len()) && w.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use cdc_core::ErrorKind;

    use super::*;

    fn target(vars: &[(&str, &str)]) -> Result<RedshiftTarget, PipelineError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        RedshiftTarget::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn a_cluster_takes_a_db_user_a_secret_or_the_iam_identity() {
        let t = target(&[(ENV_CLUSTER_ID, "cdc-cluster"), (ENV_DATABASE, "dev"), (ENV_DB_USER, "loader")]).unwrap();
        assert_eq!(t.db_user(), Some("loader"));
        assert_eq!((t.cluster_id(), t.workgroup(), t.database()), (Some("cdc-cluster"), None, "dev"));
        let t = target(&[(ENV_CLUSTER_ID, "cdc-cluster"), (ENV_DATABASE, "dev"), (ENV_SECRET_ARN, "arn:s")]).unwrap();
        assert_eq!((t.secret_arn(), t.db_user()), (Some("arn:s"), None));
        // An empty variable is unset, as a template's "" default passes it.
        let t =
            target(&[(ENV_CLUSTER_ID, "c1"), (ENV_DATABASE, "dev"), (ENV_DB_USER, ""), (ENV_WORKGROUP, " ")]).unwrap();
        assert!(matches!(t, RedshiftTarget::Cluster { auth: ClusterAuth::IamIdentity, .. }), "{t:?}");
    }

    #[test]
    fn a_workgroup_takes_an_optional_secret() {
        let t = target(&[(ENV_WORKGROUP, "cdc-wg"), (ENV_DATABASE, "dev")]).unwrap();
        assert_eq!((t.workgroup(), t.secret_arn(), t.cluster_id()), (Some("cdc-wg"), None, None));
        let arn = "arn:aws:redshift-serverless:eu-west-1:123456789012:workgroup/0b1c2d3e-0000-4000-8000-00000000000a";
        let t = target(&[(ENV_WORKGROUP, arn), (ENV_DATABASE, "dev"), (ENV_SECRET_ARN, "arn:s")]).unwrap();
        assert_eq!(t.secret_arn(), Some("arn:s"));
        assert_eq!(t.to_string(), format!("workgroup {arn} database dev"));
    }

    #[test]
    fn incomplete_or_contradictory_settings_are_config_errors_naming_the_variables() {
        // Each case: the variables set, and the ones the error must name.
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: [Case; 7] = [
            (&[(ENV_DATABASE, "dev")], &[ENV_CLUSTER_ID, ENV_WORKGROUP]),
            (
                &[(ENV_CLUSTER_ID, "c1"), (ENV_WORKGROUP, "wg1"), (ENV_DATABASE, "dev")],
                &[ENV_CLUSTER_ID, ENV_WORKGROUP],
            ),
            (&[(ENV_CLUSTER_ID, "c1")], &[ENV_DATABASE]),
            (&[(ENV_WORKGROUP, "wg1")], &[ENV_DATABASE]),
            (
                &[(ENV_CLUSTER_ID, "c1"), (ENV_DATABASE, "d"), (ENV_DB_USER, "u"), (ENV_SECRET_ARN, "a")],
                &[ENV_DB_USER, ENV_SECRET_ARN],
            ),
            (&[(ENV_WORKGROUP, "wg1"), (ENV_DATABASE, "d"), (ENV_DB_USER, "u")], &[ENV_DB_USER]),
            (&[(ENV_CLUSTER_ID, "Bad_Cluster"), (ENV_DATABASE, "d")], &[ENV_CLUSTER_ID]),
        ];
        for (vars, named) in cases {
            let err = target(vars).unwrap_err();
            assert_eq!(err.kind, ErrorKind::ConfigError, "{vars:?}: {err}");
            for n in named {
                assert!(err.message.contains(n), "{vars:?}: {err} should name {n}");
            }
        }
        let err = target(&[(ENV_WORKGROUP, "w"), (ENV_DATABASE, "d")]).unwrap_err();
        assert!(err.message.contains(ENV_WORKGROUP), "{err}");
    }

    #[test]
    fn cluster_identifiers_follow_the_model_pattern() {
        for ok in ["a", "cdc-cluster-1", "x9"] {
            assert!(valid_cluster_id(ok), "{ok}");
        }
        for bad in ["", "1abc", "Abc", "a--b", "a-", "a_b", &"a".repeat(64)] {
            assert!(!valid_cluster_id(bad), "{bad}");
        }
    }
}
