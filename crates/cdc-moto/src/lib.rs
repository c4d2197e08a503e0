//! Test support: a `moto_server` (a local emulation of the AWS APIs, from
//! PyPI) for tests that drive the real AWS SDK clients.
//!
//! Each [`MotoServer`] is its own process on its own free loopback port, so
//! tests run in parallel (and under nextest, one process per test) without
//! sharing state; [`MotoServer::reset`] empties a server for a test that
//! needs a clean slate midway. The server is killed when the value drops,
//! and also when the test process dies without dropping it (a SIGKILL, a
//! nextest timeout): it is launched through a few lines of Python that exit
//! when their stdin, a pipe held by the test process, closes.
//!
//! `moto_server` comes from the venv that `scripts/python-tools` creates
//! (`$CDC_VENV`, default `$HOME/.cache/redshift-cdc/venv`). Without it the
//! start fails and says to run that script: a test that silently skipped
//! would pass without testing anything.

mod http;

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// How long a fresh server may take to answer (Python imports every moto
/// backend at start; on a busy 2-core machine that takes a few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Port races (another process takes the free port between our check and
/// moto's bind) are retried on a new port this many times.
const START_ATTEMPTS: usize = 3;

/// The region and the static credentials the test clients use. Moto accepts
/// any credentials and files everything under account 123456789012.
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";
pub const ACCOUNT_ID: &str = "123456789012";

/// Runs moto's server, and exits when stdin reaches end of file, which
/// happens when the test process ends however it ends.
/// Runs `moto_server` until the parent process ends (stdin closes), with
/// one request handled at a time: DynamoDB applies each item write
/// atomically, moto only when requests do not overlap (two concurrent
/// `attribute_not_exists` writes both succeed), and the job lease's tests
/// depend on that atomicity.
const LAUNCHER: &str = r#"
import os, sys, threading
import moto.server as server
def exit_with_parent():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=exit_with_parent, daemon=True).start()
_one_at_a_time = threading.Lock()
class OneRequestAtATime(server.DomainDispatcherApplication):
    def __call__(self, environ, start_response):
        with _one_at_a_time:
            return super().__call__(environ, start_response)
server.DomainDispatcherApplication = OneRequestAtATime
server.main(sys.argv[1:])
"#;

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(
        "moto_server not found at {0}: run scripts/python-tools (it creates the venv; set CDC_VENV to use another one)"
    )]
    NotInstalled(PathBuf),
    #[error("moto_server: {what}; its log: {log}\n{tail}")]
    Start { what: String, log: PathBuf, tail: String },
    #[error("moto_server at {endpoint}: {what}")]
    Request { endpoint: String, what: String },
    #[error("moto_server: {0}")]
    Io(#[from] std::io::Error),
}

/// The venv of the Python tools (`scripts/python-tools`).
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("CDC_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
            home.join(".cache/redshift-cdc/venv")
        }
    }
}

/// A running `moto_server`, killed on drop.
pub struct MotoServer {
    child: Child,
    api: MotoApi,
    /// Holds the log; kept (not deleted) when a test panics, so it can be read.
    log_dir: Option<tempfile::TempDir>,
    log_path: PathBuf,
}

impl MotoServer {
    /// Starts a server on a free loopback port and waits until it answers,
    /// from the venv of [`venv_dir`].
    pub fn start() -> Result<Self, MotoError> {
        Self::start_in(&venv_dir())
    }

    /// [`MotoServer::start`] from the given venv.
    pub fn start_in(venv: &Path) -> Result<Self, MotoError> {
        let moto_server = venv.join("bin/moto_server");
        let python = venv.join("bin/python");
        if !moto_server.is_file() || !python.is_file() {
            return Err(MotoError::NotInstalled(moto_server));
        }
        let log_dir = tempfile::Builder::new().prefix("moto-server-").tempdir()?;
        let log_path = log_dir.path().join("moto_server.log");
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(&python, &log_path) {
                Ok((child, addr)) => {
                    let api = MotoApi { addr, endpoint: format!("http://{addr}") };
                    return Ok(Self { child, api, log_dir: Some(log_dir), log_path });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| MotoError::Start {
            what: "no start attempt was made".into(),
            log: log_path.clone(),
            tail: String::new(),
        }))
    }

    fn start_once(python: &Path, log_path: &Path) -> Result<(Child, SocketAddr), MotoError> {
        let addr = free_loopback_port()?;
        let log = File::create(log_path)?;
        let mut child = Command::new(python)
            .arg("-c")
            .arg(LAUNCHER)
            .args(["-H", "127.0.0.1", "-p", &addr.port().to_string()])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let failed = |child: &mut Child, what: String| {
            let _ = child.kill();
            let _ = child.wait();
            MotoError::Start { what, log: log_path.to_path_buf(), tail: log_tail(log_path) }
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(failed(&mut child, format!("exited during start ({status})")));
            }
            // Any HTTP answer from moto's own API means the server is up.
            if http::request(addr, "GET", "/moto-api/reset").is_ok() {
                return Ok((child, addr));
            }
            if Instant::now() > deadline {
                return Err(failed(&mut child, format!("no answer on {addr} within {START_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL` or `endpoint_url`.
    pub fn endpoint_url(&self) -> &str {
        &self.api.endpoint
    }

    /// The server's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Forgets every resource of every emulated service (tables, topics…).
    pub fn reset(&self) -> Result<(), MotoError> {
        self.api.reset()
    }

    /// A handle on the server's HTTP API that can be cloned into places that
    /// must own what they use (an SDK interceptor, a thread).
    pub fn api(&self) -> &MotoApi {
        &self.api
    }

    /// An SDK configuration pointing at this server: region us-east-1, static
    /// test credentials, standard retries. Explicit settings win over the
    /// environment, so a developer's AWS profile is never used by a test.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "cdc-moto"))
            .endpoint_url(self.api.endpoint.clone())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .load()
            .await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking()
            && let Some(dir) = self.log_dir.take()
        {
            let kept = dir.keep();
            eprintln!("moto_server log (kept after the failure): {}", kept.join("moto_server.log").display());
        }
    }
}

/// The HTTP side of a [`MotoServer`]: its address, its own API, raw calls.
#[derive(Debug, Clone)]
pub struct MotoApi {
    addr: SocketAddr,
    endpoint: String,
}

impl MotoApi {
    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL` or `endpoint_url`.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint
    }

    /// Forgets every resource of every emulated service (tables, topics…).
    pub fn reset(&self) -> Result<(), MotoError> {
        let (status, body) = http::request(self.addr, "POST", "/moto-api/reset")
            .map_err(|e| MotoError::Request { endpoint: self.endpoint.clone(), what: format!("reset: {e}") })?;
        if status != 200 {
            return Err(MotoError::Request {
                endpoint: self.endpoint.clone(),
                what: format!("reset answered HTTP {status}: {body}"),
            });
        }
        Ok(())
    }

    /// Sends a request to moto's own API (`/moto-api/...`) and returns the
    /// status and body, for tests that inspect what moto recorded.
    pub fn moto_api(&self, method: &str, path: &str) -> Result<(u16, String), MotoError> {
        http::request(self.addr, method, path)
            .map_err(|e| MotoError::Request { endpoint: self.endpoint.clone(), what: format!("{method} {path}: {e}") })
    }

    /// One AWS JSON-protocol call (DynamoDB's `DynamoDB_20120810.PutItem`,
    /// for instance), blocking, for tests that must change the emulated state
    /// where no async client can run, such as inside an SDK interceptor to
    /// force a race between a read and a write. The signature is a
    /// placeholder: moto reads the service and region from it and checks
    /// nothing else. Returns the status and the body.
    pub fn aws_json(&self, service: &str, target: &str, body: &str) -> Result<(u16, String), MotoError> {
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/{service}/aws4_request, \
             SignedHeaders=host, Signature=0"
        );
        let headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", target),
            ("Authorization", authorization.as_str()),
        ];
        http::send(self.addr, "POST", "/", &headers, body)
            .map_err(|e| MotoError::Request { endpoint: self.endpoint.clone(), what: format!("{target}: {e}") })
    }
}

fn free_loopback_port() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.local_addr()
}

/// The end of the log, for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
