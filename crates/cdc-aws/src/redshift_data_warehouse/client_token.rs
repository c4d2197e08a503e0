//! The `ClientToken` of a submitted batch.
//!
//! The Data API remembers a token for 8 hours: a second `BatchExecuteStatement`
//! with the same token returns the first one's statement id and runs nothing.
//! That is what a retried submit needs (a Lambda that timed out after its
//! call went through, or a Task retry after a throttled answer whose request
//! had in fact been accepted), so the token is derived from what was
//! submitted rather than drawn at random.
//!
//! Content alone would be wrong, though: identical SQL legitimately runs again.
//! The applied-files query of a table is the same text every run, a load
//! that failed with a serialization conflict (1023) plans the same files and
//! so the same SQL when it is tried again, and setup repeats itself after a
//! config change is reverted. Keyed on content alone, those would get the
//! earlier statement back for 8 hours: stale progress, a failure that never
//! clears. So the token also covers an idempotency scope the caller passes,
//! which must be
//! - the same for every attempt at one logical submit: the Step Functions
//!   execution id plus the submit state's entry time (`$$.State.EnteredTime`
//!   stays the same across the Task's Retry attempts and a re-invoked Lambda);
//! - different for each new attempt at the work: when a load ends Failed or
//!   Aborted, the state machine goes back to the submit state (a new entry
//!   time), so the new attempt runs.
//!
//! A time bucket instead of an entry time would be simpler but wrong at the
//! edges: two attempts either side of a bucket boundary run twice, and a
//! retry after a failure within one bucket runs never.
//!
//! The token also covers the target (cluster or workgroup, database), so one
//! scope used against two databases cannot collide, and the batch label. It
//! is the SHA-256 of those parts, each length-prefixed so no two different
//! inputs concatenate alike, as 64 hex digits: the model's maximum length.

use sha2::{Digest, Sha256};

use cdc_core::sql::StatementBatch;

use super::target::RedshiftTarget;

/// Version of the derivation; changing it changes every token.
const DOMAIN: &str = "cdc-redshift-data-client-token/v1";

/// The token of `batch` submitted in `scope` to `target`.
pub fn client_token(scope: &str, target: &RedshiftTarget, batch: &StatementBatch) -> String {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    part(DOMAIN.as_bytes());
    part(scope.as_bytes());
    part(target.to_string().as_bytes());
    part(target.db_user().unwrap_or_default().as_bytes());
    part(target.secret_arn().unwrap_or_default().as_bytes());
    part(batch.label.as_bytes());
    part(&(batch.statements.len() as u64).to_be_bytes());
    for s in &batch.statements {
        part(s.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redshift_data_warehouse::target::ClusterAuth;

    fn target(db: &str) -> RedshiftTarget {
        RedshiftTarget::Serverless { workgroup: "wg1".into(), database: db.into(), secret_arn: None }
    }

    fn batch(label: &str, statements: &[&str]) -> StatementBatch {
        StatementBatch { label: label.into(), statements: statements.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn the_same_submit_in_the_same_scope_has_the_same_token() {
        let b = batch("load t", &["SELECT 1", "SELECT 2"]);
        let t = client_token("exec-1/2026-11-02T00:05:00Z", &target("dev"), &b);
        assert_eq!(t, client_token("exec-1/2026-11-02T00:05:00Z", &target("dev"), &b.clone()));
        assert_eq!(t.len(), 64);
        assert!(t.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{t}");
    }

    #[test]
    fn anything_that_differs_makes_another_token() {
        let b = batch("load t", &["SELECT 1", "SELECT 2"]);
        let base = client_token("s1", &target("dev"), &b);
        let others = [
            client_token("s2", &target("dev"), &b),
            client_token("s1", &target("prod"), &b),
            client_token("s1", &target("dev"), &batch("load u", &["SELECT 1", "SELECT 2"])),
            client_token("s1", &target("dev"), &batch("load t", &["SELECT 1", "SELECT 3"])),
            // Boundaries matter: the same characters split differently.
            client_token("s1", &target("dev"), &batch("load t", &["SELECT 1SELECT 2"])),
            client_token("s1", &target("dev"), &batch("load t", &["SELECT 1", "SELECT 2", ""])),
            client_token(
                "s1",
                &RedshiftTarget::Cluster {
                    cluster_id: "wg1".into(),
                    database: "dev".into(),
                    auth: ClusterAuth::DbUser("u".into()),
                },
                &b,
            ),
        ];
        for (i, o) in others.iter().enumerate() {
            assert_ne!(&base, o, "case {i}");
        }
    }
}
