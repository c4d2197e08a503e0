//! `sam local invoke` as the README shows it works: the function's
//! environment as SAM local resolves template.yaml (`!Ref` of a resource is
//! its logical id, so `NOTIFY_TOPIC_ARN` would be `AlertTopic`), with the
//! README's `--parameter-overrides` and the shipped `events/env-vars.json`,
//! is one the functions accept. The same environment runs each built
//! function under the Lambda Runtime Interface Emulator in
//! crates/cdc-lambda/tests/runtime_emulator.rs. On the template before
//! issue 18, without the file, the function answers ConfigError.

mod support;

use std::collections::BTreeMap;

use serde_json::Value as Json;

use cdc_aws::DeploymentSettings;
use cdc_core::steps::dispatch::Function;
use support::read;
use support::template::{parse, readme_sam_local_command, sam_local_environment};

fn env_vars() -> Json {
    serde_json::from_str(&read("events/env-vars.json")).expect("events/env-vars.json is JSON")
}

fn function_resource(f: Function) -> String {
    f.substitution().trim_end_matches("Arn").to_string()
}

#[test]
fn the_readme_command_gives_every_function_settings_it_accepts() {
    let cmd = readme_sam_local_command(&read("README.md"));
    // GIVEN the README's command: an existing function, event and env-vars file
    assert!(support::repo().join(&cmd.event).exists(), "{}", cmd.event);
    assert_eq!(cmd.env_vars, "events/env-vars.json");
    assert!(parse(&read("template.yaml"))["Resources"].get(cmd.function.as_str()).is_some(), "{}", cmd.function);
    for f in Function::ALL {
        // WHEN SAM local resolves each function's environment with its overrides and the file
        let env =
            sam_local_environment(&read("template.yaml"), &function_resource(f), &cmd.overrides, Some(&env_vars()))
                .unwrap();
        // THEN the function's settings read (no ConfigError), and name the stack's own resources
        let settings = DeploymentSettings::from_lookup(|k| env.get(k).cloned())
            .unwrap_or_else(|e| panic!("{}: {} with {env:#?}", f.name(), e.message));
        assert_eq!(settings.job_table, "cdc-job-state");
        assert!(settings.topic_arn.starts_with("arn:aws:sns:"), "{}", settings.topic_arn);
    }
}

#[test]
fn every_parameter_without_a_default_is_in_the_readme_overrides() {
    let cmd = readme_sam_local_command(&read("README.md"));
    let t = parse(&read("template.yaml"));
    for (k, v) in t["Parameters"].as_mapping().unwrap() {
        let name = k.as_str().unwrap();
        if v.get("Default").is_none() {
            assert!(cmd.overrides.contains_key(name), "{name} has no default and the README's command does not set it");
        }
    }
    // AND a target (the Rules need one; SAM local does not evaluate Rules)
    assert!(cmd.overrides.contains_key("RedshiftWorkgroupId") || cmd.overrides.contains_key("RedshiftClusterId"));
}

#[test]
fn the_env_vars_file_sets_every_variable_sam_local_cannot_resolve_and_only_declared_ones() {
    let t = parse(&read("template.yaml"));
    let declared: Vec<String> = t["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let file = env_vars();
    for (scope, vars) in file.as_object().unwrap() {
        assert!(scope == "Parameters" || t["Resources"].get(scope.as_str()).is_some(), "env-vars scope {scope}");
        for k in vars.as_object().unwrap().keys() {
            assert!(declared.contains(k), "{k} is not a variable of the template: SAM local would ignore it");
        }
    }
    // The variables whose template value is a resource (a logical id in SAM local) are all set.
    let cmd = readme_sam_local_command(&read("README.md"));
    let bare = sam_local_environment(&read("template.yaml"), "JobStateFunction", &cmd.overrides, None).unwrap();
    let resources: Vec<String> =
        t["Resources"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_string()).collect();
    for (k, v) in &bare {
        if resources.contains(v) {
            assert!(
                file["Parameters"].get(k).is_some(),
                "{k} is {v:?} in SAM local and events/env-vars.json does not set it"
            );
        }
    }
}

#[test]
fn sam_local_on_the_template_before_issue_18_answers_config_error() {
    // GIVEN the old template, the same overrides and no env-vars file (none shipped)
    let cmd = readme_sam_local_command(&read("README.md"));
    let old = read("tests/fixtures/template-before-issue-18.yaml");
    let mut overrides = cmd.overrides.clone();
    overrides.retain(|k, _| parse(&old)["Parameters"].get(k.as_str()).is_some());
    let env = sam_local_environment(&old, "JobStateFunction", &overrides, None).unwrap();
    // THEN NOTIFY_TOPIC_ARN is the topic's logical id and the cold start refuses it
    assert_eq!(env["NOTIFY_TOPIC_ARN"], "AlertTopic");
    assert_eq!(env["JOB_TABLE"], "JobStateTable");
    let err = DeploymentSettings::from_lookup(|k| env.get(k).cloned()).unwrap_err();
    assert_eq!(err.kind, cdc_core::ErrorKind::ConfigError);
    assert!(err.message.contains("NOTIFY_TOPIC_ARN"), "{}", err.message);
    // AND without the README's overrides, the parameters without a default are empty
    let env = sam_local_environment(&old, "JobStateFunction", &BTreeMap::new(), None).unwrap();
    assert_eq!(env["GLUE_DATABASE"], "");
}
