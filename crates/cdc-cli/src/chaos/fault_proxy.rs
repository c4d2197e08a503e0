//! The AWS path's faults come as HTTP answers, from a loopback proxy that
//! every client of the steps talks to. It stands in front of moto and the
//! Data API emulator and routes by the request's signing scope. Each
//! request names the Task state it runs under ([`StateHeader`], an SDK
//! interceptor, puts it in a header); the proxy asks the injector and then:
//! - forwards the request unchanged; or
//! - for S3, Glue, DynamoDB and SNS, answers with the service's own
//!   throttling error ([`super::aws_wire`]), without forwarding; or
//! - for the Data API, arms the emulator's own fault controls
//!   (`POST /__emulator/faults`) for this request, then forwards it: the
//!   emulator throttles it, or runs the statement to FAILED (a Redshift
//!   error text, a serializable isolation conflict) or ABORTED.
//!
//! A throttle comes as a burst of one to three answers to the same state's
//! calls of that service: the SDK's own retries (3 attempts) absorb the
//! shorter bursts, the longest reach the adapters' error mapping and the
//! state machine's Retry. A burst counts as one fault.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::sync::oneshot;

use super::aws_wire::{self, Service};
use super::faults::{FaultKind, Injector, OUTSIDE_TASKS};
use super::faulty_ports::{FAILED_ERRORS, SERIALIZATION_ERROR};

/// The header naming the Task state a request runs under.
pub const STATE_HEADER: &str = "x-cdc-chaos-state";
/// Longest throttle burst: the SDK's attempts, so the longest exhaust them.
const MAX_BURST: usize = 3;

/// Puts the current Task state ([`cdc_asl::current_task_state`]) on every
/// request, for the proxy. The SDK runs interceptors in the calling task,
/// where the executor set the state.
#[derive(Debug)]
pub struct StateHeader;

impl Intercept for StateHeader {
    fn name(&self) -> &'static str {
        "ChaosStateHeader"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(state) = cdc_asl::current_task_state() {
            // A header value is printable ASCII; another state name is sent escaped.
            let printable = state.bytes().all(|b| (0x20..0x7f).contains(&b));
            let value = if printable { state } else { state.escape_default().to_string() };
            context.request_mut().headers_mut().insert(STATE_HEADER, value);
        }
        Ok(())
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Proxy {
    moto: String,
    emulator: String,
    client: HttpClient,
    faults: Arc<Injector>,
    /// Throttled answers still owed to a (state, service), per burst.
    bursts: Mutex<HashMap<(String, Service), usize>>,
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// In front of moto and the emulator (their `http://host:port`), on its
    /// own thread and runtime, so that it answers while the caller's
    /// runtime is busy.
    pub fn start(moto: &str, emulator: &str, faults: Arc<Injector>) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("chaos-fault-proxy")
            .enable_all()
            .build()?;
        let proxy = Arc::new(Proxy {
            moto: moto.trim_end_matches('/').to_string(),
            emulator: emulator.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            faults,
            bursts: Mutex::default(),
        });
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::Builder::new().name("chaos-fault-proxy".into()).spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener, proxy, rx).await,
                    Err(e) => tracing::error!(error = %e, "the fault proxy cannot listen"),
                }
            })
        })?;
        Ok(Self { addr, shutdown: Some(tx), thread: Some(thread) })
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, proxy: Arc<Proxy>, mut shutdown: oneshot::Receiver<()>) {
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "fault proxy: accept failed");
                    continue;
                }
            },
        };
        let proxy = Arc::clone(&proxy);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&proxy), req));
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(error = %e, "fault proxy: connection ended with an error");
            }
        });
    }
}

async fn handle(proxy: Arc<Proxy>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(plain(StatusCode::BAD_REQUEST, format!("fault proxy: unreadable body: {e}"))),
    };
    let state = parts
        .headers
        .remove(STATE_HEADER)
        .and_then(|v| v.to_str().ok().map(str::to_string))
        .unwrap_or_else(|| OUTSIDE_TASKS.to_string());
    let service = Service::of(&parts.headers);
    if let Some(answer) = proxy.fault(&state, service, &parts, &body).await {
        return Ok(answer);
    }
    let upstream = if service == Service::DataApi { &proxy.emulator } else { &proxy.moto };
    Ok(proxy.forward(upstream, parts, body).await)
}

impl Proxy {
    /// The injected answer, if this request gets one; a Data API fault is
    /// armed in the emulator here and the request then forwarded.
    async fn fault(
        &self,
        state: &str,
        service: Service,
        parts: &hyper::http::request::Parts,
        body: &Bytes,
    ) -> Option<Response<Full<Bytes>>> {
        let head = parts.method == hyper::Method::HEAD;
        if self.owed_throttle(state, service) {
            return aws_wire::throttled(service, head);
        }
        let operation = aws_wire::operation(service, parts, body);
        let kinds = kinds_for(service, &operation);
        let kind = self.faults.decide_at(state, kinds)?;
        let burst = 1 + self.faults.pick(MAX_BURST);
        match kind {
            FaultKind::DataApiThrottled => {
                let control =
                    json!({"type": "throttle", "operation": operation, "error": "ThrottlingException", "calls": burst});
                self.arm(control).await;
                None
            }
            FaultKind::StatementFailed | FaultKind::SerializationConflict | FaultKind::StatementAborted => {
                // The longest text names this batch; the emulator fails or aborts the first statement holding it.
                let sqls = aws_wire::submitted_sqls(body);
                let pattern = sqls.iter().max_by_key(|s| s.len())?.clone();
                let fault = match kind {
                    FaultKind::StatementAborted => json!({"kind": "abort"}),
                    FaultKind::SerializationConflict => json!({"kind": "fail", "error": SERIALIZATION_ERROR}),
                    _ => json!({"kind": "fail", "error": FAILED_ERRORS[self.faults.pick(FAILED_ERRORS.len())]}),
                };
                self.arm(json!({"type": "statement", "pattern": pattern, "fault": fault, "times": 1})).await;
                None
            }
            _ => {
                if burst > 1 {
                    self.bursts.lock().expect("bursts lock").insert((state.to_string(), service), burst - 1);
                }
                aws_wire::throttled(service, head)
            }
        }
    }

    /// Whether a burst still owes this (state, service) a throttled answer.
    fn owed_throttle(&self, state: &str, service: Service) -> bool {
        let mut bursts = self.bursts.lock().expect("bursts lock");
        let key = (state.to_string(), service);
        match bursts.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                bursts.remove(&key);
                true
            }
            None => false,
        }
    }

    async fn arm(&self, control: serde_json::Value) {
        let req = Request::post(format!("{}/__emulator/faults", self.emulator))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(control.to_string())));
        let armed = match req {
            Ok(req) => self.client.request(req).await.map(|r| r.status().is_success()).unwrap_or(false),
            Err(_) => false,
        };
        if !armed {
            tracing::warn!(%control, "fault proxy: the emulator refused a fault control");
        }
    }

    async fn forward(
        &self,
        upstream: &str,
        mut parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let uri = match format!("{upstream}{path}").parse() {
            Ok(uri) => uri,
            Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("fault proxy: bad upstream URI: {e}")),
        };
        parts.uri = uri;
        // The body is sent whole, with its length: no chunked framing.
        parts.headers.remove(hyper::header::TRANSFER_ENCODING);
        parts.headers.remove(hyper::header::CONNECTION);
        let answer = match self.client.request(Request::from_parts(parts, Full::new(body))).await {
            Ok(a) => a,
            Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("fault proxy: upstream {upstream}: {e}")),
        };
        let (mut parts, body) = answer.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("fault proxy: upstream body: {e}")),
        };
        parts.headers.remove(hyper::header::TRANSFER_ENCODING);
        parts.headers.remove(hyper::header::CONNECTION);
        Response::from_parts(parts, Full::new(body))
    }
}

/// The faults a call offers: a submit the Data API's statement faults, any
/// other Data API call its throttling, the other services theirs.
fn kinds_for(service: Service, operation: &str) -> &'static [FaultKind] {
    match service {
        Service::DataApi if matches!(operation, "ExecuteStatement" | "BatchExecuteStatement") => FaultKind::AT_SUBMIT,
        Service::DataApi => &[FaultKind::DataApiThrottled],
        Service::S3 => &[FaultKind::S3Throttled],
        Service::Glue => &[FaultKind::GlueThrottled],
        Service::DynamoDb => &[FaultKind::DynamoDbThrottled],
        Service::Sns => &[FaultKind::SnsThrottled],
        Service::Other => &[],
    }
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = status;
    r
}
