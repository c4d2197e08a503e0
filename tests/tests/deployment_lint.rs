//! The deployed definitions, checked by the tools AWS users run: statelint on
//! the state machine (as written and with its substitutions applied) and
//! cfn-lint on the SAM template; and our own interpreter refuses the file when
//! a substitution is missing, naming the state. The tools come from the venv
//! `scripts/python-tools` makes (the test command runs it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cdc_core::steps::dispatch::Function;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("CDC_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/redshift-cdc/venv"));
    let path = venv.join("bin").join(name);
    assert!(path.exists(), "{} is missing: run scripts/python-tools (the test command does)", path.display());
    path
}

fn lint(tool_name: &str, file: &Path) -> (bool, String) {
    let out = Command::new(tool(tool_name)).arg(file).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn definition() -> String {
    std::fs::read_to_string(repo().join("statemachine/pipeline.asl.json")).unwrap()
}

fn substitutions() -> BTreeMap<String, String> {
    let mut subs: BTreeMap<String, String> = Function::ALL
        .iter()
        .map(|f| {
            let arn = format!("arn:aws:lambda:eu-west-1:123456789012:function:cdc-{}", f.name());
            (f.substitution().to_string(), arn)
        })
        .collect();
    subs.insert("Partition".to_string(), "aws".to_string());
    subs
}

#[test]
fn statelint_accepts_the_state_machine_as_written_and_as_deployed() {
    // GIVEN the file WHEN statelint checks it THEN it is clean
    let (ok, out) = lint("statelint", &repo().join("statemachine/pipeline.asl.json"));
    assert!(ok, "{out}");
    // GIVEN the file with its DefinitionSubstitutions applied THEN clean too
    let mut text = definition();
    for (k, v) in substitutions() {
        text = text.replace(&format!("${{{k}}}"), &v);
    }
    assert!(!text.contains("${"), "a placeholder has no substitution");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deployed.asl.json");
    std::fs::write(&file, text).unwrap();
    let (ok, out) = lint("statelint", &file);
    assert!(ok, "{out}");
}

#[test]
fn statelint_catches_a_dangling_next() {
    // GIVEN a copy with a dangling Next THEN statelint fails naming it (the check can fail)
    let mut doc: serde_json::Value = serde_json::from_str(&definition()).unwrap();
    doc["States"]["Claim"]["Next"] = "Nowhere".into();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.asl.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let (ok, out) = lint("statelint", &file);
    assert!(!ok && out.contains("Nowhere"), "{out}");
}

#[test]
fn cfn_lint_accepts_the_template() {
    let (ok, out) = lint("cfn-lint", &repo().join("template.yaml"));
    assert!(ok, "{out}");
}

#[test]
fn the_interpreter_loads_the_file_and_names_a_missing_substitution() {
    // GIVEN every substitution WHEN parsed THEN it loads
    cdc_asl::StateMachine::parse(&definition(), &substitutions()).unwrap();
    // GIVEN one missing THEN the error names a state that uses it
    let mut subs = substitutions();
    subs.remove("NotifyFunctionArn");
    let err = cdc_asl::StateMachine::parse(&definition(), &subs).unwrap_err().to_string();
    assert!(err.contains("NotifyFunctionArn") && err.contains("Notify"), "{err}");
}

#[test]
fn sam_validate_lint_accepts_the_template() {
    // GIVEN template.yaml WHEN `sam validate --lint` checks it (offline: the
    // transform runs locally) THEN it is a valid SAM template with no lint finding
    let out = Command::new(tool("sam"))
        .args(["validate", "--lint", "--region", "us-east-1", "--template-file"])
        .arg(repo().join("template.yaml"))
        .env("SAM_CLI_TELEMETRY", "0")
        .current_dir(repo())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("is a valid SAM Template"), "{text}");
}
