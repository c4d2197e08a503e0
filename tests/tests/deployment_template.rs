//! template.yaml against the code: every function is a workspace package
//! built by cargo-lambda for arm64 with JSON logs; the variables it sets
//! are exactly the ones the functions read; every `${...}` of the state
//! machine is substituted with a function of this template; no IAM
//! statement grants a `*` action; and the events/ files cover every
//! (function, action) the state machine sends, each parsing as that step's
//! input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value as Json;
use serde_yaml_ng::Value;

use cdc_core::steps::dispatch::Function;
use cdc_core::steps::{RunIds, job, load, notify, parse_input, unload};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    let text = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn resources(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"].as_mapping().unwrap().iter().map(|(k, v)| (k.as_str().unwrap().to_string(), v)).collect()
}

fn functions(t: &Value) -> Vec<(String, &Value)> {
    resources(t).into_iter().filter(|(_, r)| r["Type"] == "AWS::Serverless::Function").collect()
}

/// `JobStateFunction` for the substitution `JobStateFunctionArn`.
fn resource_of(f: Function) -> String {
    f.substitution().trim_end_matches("Arn").to_string()
}

/// The package names under functions/.
fn function_packages() -> BTreeSet<String> {
    std::fs::read_dir(repo().join("functions"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| {
            let manifest: toml::Value =
                toml::from_str(&std::fs::read_to_string(e.path().join("Cargo.toml")).unwrap()).unwrap();
            manifest["package"]["name"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn every_function_is_a_workspace_package_built_for_arm64_with_json_logs() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"][0], "arm64");
    let packages = function_packages();
    let mut binaries = BTreeSet::new();
    for (name, f) in functions(&t) {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        let binary = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_string();
        assert!(packages.contains(&binary), "{name} builds {binary}, which is not a package under functions/");
        assert_eq!(f["Properties"]["LoggingConfig"]["LogFormat"], "JSON", "{name}");
        binaries.insert(binary);
    }
    // THEN the five functions of the state machine, each one package
    assert_eq!(binaries, packages);
    for f in Function::ALL {
        assert!(functions(&t).iter().any(|(n, _)| *n == resource_of(f)), "no resource {}", resource_of(f));
        assert!(packages.contains(&format!("cdc-fn-{}", f.name())), "no package for {}", f.name());
    }
}

#[test]
fn the_variables_the_template_sets_are_exactly_the_ones_the_functions_read() {
    let t = template();
    let set: BTreeSet<String> = t["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let read: BTreeSet<String> = cdc_aws::deployment::ALL_VARIABLES.iter().map(|s| s.to_string()).collect();
    assert_eq!(set, read, "template.yaml's variables differ from cdc_aws::deployment::ALL_VARIABLES");
    for (name, f) in functions(&t) {
        assert!(f["Properties"].get("Environment").is_none(), "{name} overrides the shared variables");
    }
}

#[test]
fn every_placeholder_of_the_state_machine_is_substituted_with_one_of_its_functions() {
    let t = template();
    let sm = resources(&t).into_iter().find(|(_, r)| r["Type"] == "AWS::Serverless::StateMachine").unwrap().1;
    let subs = sm["Properties"]["DefinitionSubstitutions"].as_mapping().unwrap();
    let asl = std::fs::read_to_string(repo().join(sm["Properties"]["DefinitionUri"].as_str().unwrap())).unwrap();
    let placeholders: BTreeSet<&str> = asl.split("${").skip(1).map(|rest| rest.split('}').next().unwrap()).collect();
    assert!(!placeholders.is_empty());
    for p in &placeholders {
        let value = subs.get(*p).unwrap_or_else(|| panic!("${{{p}}} has no DefinitionSubstitutions entry"));
        if *p == "Partition" {
            let Value::Tagged(tagged) = value else { panic!("Partition: {value:?}") };
            assert_eq!((tagged.tag.to_string().as_str(), tagged.value.as_str()), ("!Ref", Some("AWS::Partition")));
            continue;
        }
        // `!GetAtt XFunction.Arn` of a function in this template
        let Value::Tagged(tagged) = value else { panic!("{p}: {value:?} is not !GetAtt") };
        assert_eq!(tagged.tag, "GetAtt", "{p}");
        let target = tagged.value.as_str().unwrap().trim_end_matches(".Arn");
        assert!(functions(&t).iter().any(|(n, _)| n == target), "{p} points at {target}, not a function");
    }
    let mut expected: BTreeSet<String> = Function::ALL.iter().map(|f| f.substitution().to_string()).collect();
    expected.insert("Partition".to_string());
    assert_eq!(placeholders.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(), expected);
}

/// Every IAM statement anywhere in the template: inline, managed, SAM policies, topic policies.
fn statements<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Mapping(m) => {
            if let Some(s) = m.get("Statement") {
                match s {
                    Value::Sequence(items) => out.extend(items.iter()),
                    other => out.push(other),
                }
            }
            for (_, child) in m {
                statements(child, out);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|i| statements(i, out)),
        Value::Tagged(t) => statements(&t.value, out),
        _ => {}
    }
}

/// A statement's actions, looking through `!If` branches.
fn actions(statement: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut visit = vec![statement];
    while let Some(v) = visit.pop() {
        match v {
            Value::Tagged(t) => visit.push(&t.value),
            Value::Sequence(items) => visit.extend(items.iter()),
            Value::Mapping(m) => match m.get("Action") {
                Some(Value::String(a)) => found.push(a.clone()),
                Some(Value::Sequence(items)) => found.extend(items.iter().filter_map(|a| a.as_str().map(String::from))),
                _ => visit.extend(m.values()),
            },
            _ => {}
        }
    }
    found
}

#[test]
fn no_iam_statement_grants_a_wildcard_action() {
    let t = template();
    let mut all = Vec::new();
    statements(&t["Resources"], &mut all);
    let acts: Vec<String> = all.iter().flat_map(|s| actions(s)).collect();
    assert!(acts.len() > 20, "the walk found the policies: {acts:?}");
    for a in &acts {
        assert!(!a.contains('*'), "IAM action {a:?} has a wildcard");
    }
    // The statement-level Data API actions are limited to the caller's own statements.
    let owner = all.iter().find(|s| actions(s).contains(&"redshift-data:DescribeStatement".to_string())).unwrap();
    assert_eq!(
        owner["Condition"]["StringEquals"]["redshift-data:statement-owner-iam-userid"], "${aws:userid}",
        "{owner:?}"
    );
}

#[test]
fn the_check_sees_a_wildcard_action() {
    // GIVEN a template with one action widened THEN the walk finds it (the check can fail)
    let text = std::fs::read_to_string(repo().join("template.yaml")).unwrap().replace("sns:Publish", "sns:*");
    let t: Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut all = Vec::new();
    statements(&t["Resources"], &mut all);
    assert!(all.iter().flat_map(|s| actions(s)).any(|a| a == "sns:*"));
}

/// The (function, action) pairs the state machine sends, with their payload keys.
fn asl_calls() -> BTreeMap<(String, String), BTreeSet<String>> {
    let asl: Json =
        serde_json::from_str(&std::fs::read_to_string(repo().join("statemachine/pipeline.asl.json")).unwrap()).unwrap();
    let mut calls = BTreeMap::new();
    let mut visit = vec![&asl];
    while let Some(v) = visit.pop() {
        match v {
            Json::Object(m) => {
                if let (Some(f), Some(p)) = (
                    m.get("Parameters").and_then(|p| p.get("FunctionName")),
                    m.get("Parameters").and_then(|p| p.get("Payload")),
                ) {
                    let function = f.as_str().unwrap().trim_start_matches("${").trim_end_matches("Arn}").to_string();
                    let keys: BTreeSet<String> =
                        p.as_object().unwrap().keys().map(|k| k.trim_end_matches(".$").to_string()).collect();
                    let action = p["action"].as_str().unwrap().to_string();
                    calls.entry((function, action)).or_insert_with(BTreeSet::new).extend(keys);
                }
                visit.extend(m.values());
            }
            Json::Array(items) => visit.extend(items.iter()),
            _ => {}
        }
    }
    calls
}

/// `events/<function>.json` or `events/<function>-<action>.json`.
fn belongs(event_name: &str, f: Function) -> bool {
    event_name == f.name() || event_name.starts_with(&format!("{}-", f.name()))
}

/// Parses an event as the step's input type, as the dispatch does.
fn parses(action: &str, event: &Json) -> Result<(), String> {
    let r = match action {
        "claim" => parse_input::<RunIds>(action, event).map(|_| ()),
        "release" => parse_input::<job::ReleaseInput>(action, event).map(|_| ()),
        "fail" => parse_input::<job::FailInput>(action, event).map(|_| ()),
        "setup_submit" | "load_submit" | "refresh_submit" | "unload_submit" => {
            parse_input::<load::TableInput>(action, event).map(|_| ())
        }
        "setup_poll" | "load_poll" | "refresh_poll" => parse_input::<load::PollInput>(action, event).map(|_| ()),
        "unload_poll" => parse_input::<unload::UnloadPollInput>(action, event).map(|_| ()),
        "notify" => parse_input::<notify::NotifyInput>(action, event).map(|_| ()),
        "execution_ended" => parse_input::<notify::ExecutionEndedInput>(action, event).map(|_| ()),
        other => return Err(format!("no input type known for action {other}")),
    };
    r.map_err(|e| e.to_string())
}

#[test]
fn the_events_files_cover_every_call_of_the_state_machine_and_parse_as_its_input() {
    let dir = repo().join("events");
    let mut events: BTreeMap<String, Json> = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().trim_end_matches(".json").to_string();
        let text = std::fs::read_to_string(e.path()).unwrap();
        events.insert(name.clone(), serde_json::from_str(&text).unwrap_or_else(|err| panic!("{name}: {err}")));
    }
    // The state machine input, as the schedule sends it.
    assert_eq!(events["state-machine-input"], serde_json::json!({"JobId": "101"}));
    let t = template();
    let schedule = &t["Resources"]["PipelineStateMachine"]["Properties"]["Events"]["Every5Minutes"]["Properties"];
    assert_eq!(schedule["Schedule"], "rate(5 minutes)");

    for ((function, action), keys) in asl_calls() {
        let f = Function::ALL.iter().find(|f| f.substitution() == format!("{function}Arn")).unwrap();
        let matching: Vec<(&String, &Json)> =
            events.iter().filter(|(name, e)| belongs(name, *f) && e["action"] == action).collect();
        assert!(!matching.is_empty(), "no events/{}-*.json with action {action}", f.name());
        for (name, e) in matching {
            for k in &keys {
                assert!(e.get(k).is_some(), "events/{name}.json lacks {k:?}, which the state machine sends");
            }
            parses(&action, e).unwrap_or_else(|err| panic!("events/{name}.json: {err}"));
        }
    }
    // Every events file belongs to a function (or is the state machine's input).
    for name in events.keys().filter(|n| *n != "state-machine-input" && *n != "env-vars") {
        assert!(Function::ALL.iter().any(|f| belongs(name, *f)), "events/{name}.json names no function");
    }
}

/// Every way the state machine or the template writes a partition into an
/// ARN instead of taking the stack's (`AWS::Partition`): wrong in aws-cn and
/// aws-us-gov.
fn partition_faults(asl: &str, template: &str) -> Vec<String> {
    let mut faults = Vec::new();
    let doc: Json = serde_json::from_str(asl).unwrap();
    let mut visit = vec![&doc];
    while let Some(v) = visit.pop() {
        match v {
            Json::Object(m) => {
                if let Some(Json::String(r)) = m.get("Resource")
                    && r.starts_with("arn:")
                    && !r.starts_with("arn:${Partition}:")
                {
                    faults.push(format!("state machine Resource {r}"));
                }
                visit.extend(m.values());
            }
            Json::Array(items) => visit.extend(items.iter()),
            _ => {}
        }
    }
    for (n, line) in template.lines().enumerate() {
        if line.contains("arn:aws:") || line.contains("arn:aws-") {
            faults.push(format!("template line {}: {}", n + 1, line.trim()));
        }
    }
    faults
}

#[test]
fn every_arn_takes_the_stacks_partition() {
    // GIVEN the deployed files THEN no ARN names a partition of its own
    let asl = std::fs::read_to_string(repo().join("statemachine/pipeline.asl.json")).unwrap();
    let template_text = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    assert_eq!(partition_faults(&asl, &template_text), Vec::<String>::new());
    // AND the interpreter reads the Tasks as lambda:invoke in every partition
    for partition in ["aws", "aws-cn", "aws-us-gov"] {
        let mut subs: BTreeMap<String, String> =
            Function::ALL.iter().map(|f| (f.substitution().to_string(), f.name().to_string())).collect();
        subs.insert("Partition".into(), partition.into());
        cdc_asl::StateMachine::parse(&asl, &subs).unwrap_or_else(|e| panic!("{partition}: {e}"));
    }
    // AND the files before issue 18 are caught: every Task wrote arn:aws:states
    let old_asl = std::fs::read_to_string(repo().join("tests/fixtures/pipeline-before-issue-18.asl.json")).unwrap();
    let old_template = std::fs::read_to_string(repo().join("tests/fixtures/template-before-issue-18.yaml")).unwrap();
    let faults = partition_faults(&old_asl, &old_template);
    assert!(faults.iter().any(|f| f.contains("arn:aws:states:::lambda:invoke")), "{faults:?}");
}

fn files_under(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "fixtures" && name != "demo-out" {
                files_under(&p, out);
            }
        } else if [".rs", ".md", ".json", ".yaml", ".toml"].iter().any(|x| name.ends_with(x)) || name == "Makefile" {
            out.push(p);
        }
    }
}

#[test]
fn the_documents_and_comments_cite_the_projects_own_documents() {
    // GIVEN every source and document of the repository
    let root = repo();
    let mut files = Vec::new();
    for dir in ["crates", "functions", "tests", "docs", "statemachine", "events", "config", "scripts", "bench"] {
        if root.join(dir).exists() {
            files_under(&root.join(dir), &mut files);
        }
    }
    files.extend(["README.md", "template.yaml", "Makefile"].iter().map(|f| root.join(f)));
    let this_file = root.join("tests/tests/deployment_template.rs");
    let mut outside = Vec::new();
    for f in files.iter().filter(|f| **f != this_file) {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().to_string();
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        for (n, line) in text.lines().enumerate() {
            let cites_outside = line.contains("DESIGN.md") || line.contains("../shared/");
            if cites_outside {
                outside.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    // THEN none cites a file outside the repository
    assert!(outside.is_empty(), "{outside:#?}");
    // AND the documents the README links exist
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for doc in ["docs/architecture.md", "docs/cdc-contract.md", "docs/aws.md", "docs/redshift.md"] {
        assert!(readme.contains(doc), "README does not link {doc}");
        assert!(root.join(doc).exists(), "{doc} is missing");
    }
}

#[test]
fn the_freshness_alarm_watches_the_stalest_table_and_leaves_missing_data_alone() {
    // GIVEN the template's freshness alarm on the job's FreshnessSeconds
    // THEN it takes the Maximum over the tables' records, so one stale table
    // alarms even while the others are fresh, and missing data (no execution
    // ran: every claim reports the metric) does not count as stale
    assert_eq!(freshness_alarm_faults(&template()), Vec::<String>::new());
    // AND the template before issue 20 is caught on both counts
    let text = std::fs::read_to_string(repo().join("tests/fixtures/template-before-issue-20.yaml")).unwrap();
    let old: Value = serde_yaml_ng::from_str(&text).unwrap();
    let faults = freshness_alarm_faults(&old);
    assert!(faults.iter().any(|f| f.contains("Minimum")), "{faults:?}");
    assert!(faults.iter().any(|f| f.contains("breaching")), "{faults:?}");
}

/// What the freshness alarm gets wrong, one line per fault.
fn freshness_alarm_faults(t: &Value) -> Vec<String> {
    let alarm = &t["Resources"]["FreshnessAlarm"]["Properties"];
    let mut faults = Vec::new();
    if alarm["MetricName"].as_str() != Some("FreshnessSeconds") {
        faults.push(format!("watches {:?}, not FreshnessSeconds", alarm["MetricName"]));
    }
    if alarm["Statistic"].as_str() != Some("Maximum") {
        faults.push(format!("statistic {:?}: one stale table hides behind fresh ones", alarm["Statistic"]));
    }
    if alarm["TreatMissingData"].as_str() == Some("breaching") {
        faults.push("missing data breaching: an idle pipeline alarms whatever FreshnessAlarmSeconds says".into());
    }
    faults
}

#[test]
fn executions_that_end_badly_go_to_the_notify_function_not_to_the_topic() {
    // GIVEN the status-change rule of the template
    // THEN it targets the notify function with an input that function
    // parses, under a permission for that rule only
    assert_eq!(status_rule_faults(&template()), Vec::<String>::new());
    // AND the template before issue 20 is caught: the rule published to the
    // topic directly, which can neither throttle nor tell a handled failure
    let text = std::fs::read_to_string(repo().join("tests/fixtures/template-before-issue-20.yaml")).unwrap();
    let old: Value = serde_yaml_ng::from_str(&text).unwrap();
    let faults = status_rule_faults(&old);
    assert!(faults.iter().any(|f| f.contains("AlertTopic")), "{faults:?}");
}

/// What the rule on FAILED, TIMED_OUT and ABORTED executions gets wrong.
fn status_rule_faults(t: &Value) -> Vec<String> {
    let mut faults = Vec::new();
    let rule = &t["Resources"]["ExecutionEndedBadly"]["Properties"];
    let statuses: Vec<&str> = rule["EventPattern"]["detail"]["status"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if statuses != ["FAILED", "TIMED_OUT", "ABORTED"] {
        faults.push(format!("the rule matches {statuses:?}"));
    }
    let targets = rule["Targets"].as_sequence().cloned().unwrap_or_default();
    for target in &targets {
        let arn = serde_yaml_ng::to_string(&target["Arn"]).unwrap();
        if !arn.contains("NotifyFunction") {
            faults.push(format!("a target is not the notify function: {}", arn.trim()));
        }
    }
    let Some(target) = targets.first() else {
        faults.push("the rule has no target".into());
        return faults;
    };
    // The input EventBridge makes from an event: the detail object put in for <detail>.
    let template = match &target["InputTransformer"]["InputTemplate"] {
        Value::Tagged(sub) if sub.tag == "Sub" => sub.value.as_str().unwrap_or_default().to_string(),
        other => other.as_str().unwrap_or_default().to_string(),
    };
    let event: Json =
        serde_json::from_str(&std::fs::read_to_string(repo().join("events/notify-execution-ended.json")).unwrap())
            .unwrap();
    let input = template.replace("${JobId}", "101").replace("<detail>", &event["detail"].to_string());
    match serde_json::from_str::<Json>(&input) {
        Ok(v) if v == event => {}
        Ok(v) => faults.push(format!("the rule's input {v} is not events/notify-execution-ended.json")),
        Err(e) => faults.push(format!("the rule's input template {template:?} is not JSON: {e}")),
    }
    let permitted = resources(t).iter().any(|(_, r)| {
        r["Type"] == "AWS::Lambda::Permission"
            && r["Properties"]["Principal"] == "events.amazonaws.com"
            && serde_yaml_ng::to_string(&r["Properties"]["SourceArn"]).unwrap().contains("ExecutionEndedBadly")
    });
    if !permitted {
        faults.push("no permission lets the rule invoke the notify function".into());
    }
    faults
}

#[test]
fn the_longest_work_window_leaves_the_state_machine_ten_minutes_to_release() {
    // GIVEN the state machine's TimeoutSeconds and the config's bounds
    let asl: Json =
        serde_json::from_str(&std::fs::read_to_string(repo().join("statemachine/pipeline.asl.json")).unwrap()).unwrap();
    let timeout = asl["TimeoutSeconds"].as_u64().unwrap();
    // THEN even the longest work window stops new work 10 minutes before the timeout
    assert!(cdc_core::config::MAX_WORK_WINDOW.as_secs() + 600 <= timeout, "timeout {timeout} s");
    assert!(cdc_core::config::DEFAULT_WORK_WINDOW <= cdc_core::config::MAX_WORK_WINDOW);
    // AND every loop's submit gets the execution's start and its count, so it can stop in time
    let text = serde_json::to_string(&asl).unwrap();
    assert_eq!(text.matches("\"execution_start.$\":\"$$.Execution.StartTime\"").count(), 3, "the three loops' Maps");
    assert_eq!(text.matches("\"batches_done.$\"").count(), 3);
}
