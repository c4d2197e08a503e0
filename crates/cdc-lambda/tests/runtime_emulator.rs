//! Each built function under the Lambda Runtime Interface Emulator that
//! aws-sam-cli ships (the program `sam local invoke` runs in its
//! container), invoked with its events/ file over the emulator's HTTP API:
//! the path `sam local invoke <Function> -e events/<file>.json` takes,
//! without Docker. Each function's variables are the ones `sam local
//! invoke` gives it with the README's command: template.yaml resolved as
//! SAM local resolves it, the README's `--parameter-overrides` and the
//! shipped `events/env-vars.json` (tests/tests/support/template.rs). Only
//! the endpoints and credentials are the test's: the functions reach moto
//! and the Data API emulator through `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_REDSHIFT_DATA`.

mod support;

#[allow(dead_code)]
#[path = "../../../tests/tests/support/template.rs"]
mod template;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use cdc_lambda::Function;
use support::{AwsStack, deployment, event, ok, stack, submit_and_poll};

/// The x86_64 emulator inside the aws-sam-cli package of the test venv.
fn rie() -> PathBuf {
    let lib = cdc_moto::venv_dir().join("lib");
    let found = std::fs::read_dir(&lib).ok().into_iter().flatten().flatten().find_map(|python| {
        let p = python.path().join("site-packages/samcli/local/rapid/aws-lambda-rie-x86_64");
        p.exists().then_some(p)
    });
    found.unwrap_or_else(|| panic!("aws-lambda-rie-x86_64 not found under {}: run scripts/python-tools", lib.display()))
}

/// A function binary of this build (the test command builds every workspace target).
fn function_binary(package: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join(package);
    assert!(bin.exists(), "{} is not built: build the workspace's targets (scripts/test does)", bin.display());
    bin
}

/// The function's variables as `sam local invoke` sets them with the
/// README's command (its overrides and `events/env-vars.json`).
fn sam_local_environment(function: Function) -> BTreeMap<String, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |rel: &str| std::fs::read_to_string(repo.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let cmd = template::readme_sam_local_command(&read("README.md"));
    let env_vars: Value = serde_json::from_str(&read(&cmd.env_vars)).unwrap();
    let resource = function.substitution().trim_end_matches("Arn");
    template::sam_local_environment(&read("template.yaml"), resource, &cmd.overrides, Some(&env_vars)).unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One function running under the emulator, as `sam local invoke` starts it.
struct Emulated {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Emulated {
    fn start(stack: &AwsStack, function: Function, dir: &Path) -> Self {
        let package = format!("cdc-fn-{}", function.name());
        let package = package.as_str();
        let (api, runtime) = (free_port(), free_port());
        let log = dir.join(format!("{package}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(rie());
        cmd.arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{api}"))
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{runtime}"))
            .arg(function_binary(package))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_REGION", cdc_moto::REGION)
            .env("AWS_ACCESS_KEY_ID", cdc_moto::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", cdc_moto::SECRET_ACCESS_KEY)
            .env("AWS_ENDPOINT_URL", stack.moto.endpoint_url())
            .env("AWS_ENDPOINT_URL_REDSHIFT_DATA", stack.emulator.endpoint_url())
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in sam_local_environment(function) {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Self { child, addr: SocketAddr::from(([127, 0, 0, 1], api)), log }
    }

    /// POSTs an event to the invocation endpoint; the function's answer
    /// (its output, or the Runtime API error body).
    fn invoke(&self, event: &Value) -> Value {
        let body = event.to_string();
        let started = Instant::now();
        let mut stream = loop {
            match TcpStream::connect(self.addr) {
                Ok(s) => break s,
                Err(_) if started.elapsed() < Duration::from_secs(10) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("the emulator at {} does not answer: {e}; log {}", self.addr, self.logs()),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let request = format!(
            "POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (_, payload) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP body: {response}"));
        serde_json::from_str(payload.trim()).unwrap_or_else(|e| panic!("{e}: {payload}; log {}", self.logs()))
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Emulated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_built_function_answers_its_events_file_under_the_runtime_interface_emulator() {
    // GIVEN the AWS stack with DMS's full load, the job claimed and the warehouse set up (in process)
    let stack = stack(41).await;
    stack.deliver().await;
    let d = deployment(&stack);
    assert_eq!(ok(&d, Function::JobState, event("job-state-claim")).await["outcome"], "claimed");
    let setup =
        submit_and_poll(&d, Function::DimensionLoad, "dimension-load-setup-submit", "dimension-load-setup-poll", "")
            .await;
    assert_eq!(setup["status"], "done", "{setup}");
    let dir = tempfile::tempdir().unwrap();

    // WHEN each function's binary runs under the emulator and gets its events file
    let job_state = Emulated::start(&stack, Function::JobState, dir.path());
    // THEN the claim by the same execution goes on (the job is its own)
    let out = tokio::task::block_in_place(|| job_state.invoke(&event("job-state-claim")));
    assert_eq!(out["outcome"], "claimed", "{out}; log {}", job_state.logs());

    let dimension = Emulated::start(&stack, Function::DimensionLoad, dir.path());
    let out = tokio::task::block_in_place(|| dimension.invoke(&event("dimension-load-load-submit")));
    assert_eq!(out["status"], "submitted", "{out}; log {}", dimension.logs());
    assert!(out["statement_id"].is_string(), "{out}");
    // AND a malformed event comes back as the ConfigError the state machine catches
    let mut bad = event("dimension-load-load-poll");
    bad.as_object_mut().unwrap().remove("statement_id");
    let out = tokio::task::block_in_place(|| dimension.invoke(&bad));
    assert_eq!(out["errorType"], "ConfigError", "{out}");
    assert!(out["errorMessage"].as_str().unwrap().contains("statement_id"), "{out}");

    let fact = Emulated::start(&stack, Function::FactLoad, dir.path());
    let out = tokio::task::block_in_place(|| fact.invoke(&event("fact-load-load-submit")));
    assert_eq!(out["status"], "submitted", "{out}; log {}", fact.logs());

    let unload = Emulated::start(&stack, Function::Unload, dir.path());
    let out = tokio::task::block_in_place(|| unload.invoke(&event("unload-submit")));
    assert!(out["status"].is_string() && out.get("errorType").is_none(), "{out}; log {}", unload.logs());

    let notify = Emulated::start(&stack, Function::Notify, dir.path());
    let out = tokio::task::block_in_place(|| notify.invoke(&event("notify")));
    assert!(out.get("errorType").is_none(), "{out}; log {}", notify.logs());
    assert_eq!(stack.notices(1).await.len(), 1, "the notice reached the topic");

    // THEN every function logged JSON lines carrying the job and execution ids
    for f in [&job_state, &dimension, &fact, &unload, &notify] {
        let logs = f.logs();
        let tagged = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| {
                l["span"]["job_id"] == "101"
                    && l["span"]["execution_id"].as_str().is_some_and(|e| e.ends_with("manual-1"))
            })
            .count();
        assert!(tagged > 0, "no JSON log line with the job and execution ids:\n{logs}");
    }
}
