//! Shared by the deployment tests: template.yaml resolved the way
//! CloudFormation (or `sam local`) resolves it, and a small evaluator of the
//! IAM policy language the template uses.

#![allow(dead_code)] // Each test file uses its own part.

pub mod iam;
pub mod template;

use std::path::PathBuf;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}
