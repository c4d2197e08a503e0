//! HTTP/1.1 on a loopback port: `POST /` with `X-Amz-Target:
//! RedshiftData.<Operation>` and a JSON body (`application/x-amz-json-1.1`),
//! as the SDKs send it; request signatures are not checked. Paths under
//! `/__emulator/` are the test controls (see the crate doc).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::api::{self, ApiError};
use crate::faults::{StatementFault, Throttle};
use crate::registry::new_statement_id;
use crate::state::Shared;

const TARGET_PREFIX: &str = "RedshiftData.";

pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: oneshot::Receiver<()>) {
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&shared), req));
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(error_response(&ApiError::validation(format!("unreadable request body: {e}")))),
    };
    if let Some(control) = path.strip_prefix("/__emulator/") {
        return Ok(control_request(&shared, &method, control, &body));
    }
    let Some(operation) = target.as_deref().and_then(|t| t.strip_prefix(TARGET_PREFIX)) else {
        let err = ApiError {
            status: 400,
            code: "UnknownOperationException",
            message: "no RedshiftData X-Amz-Target".into(),
            extra: Default::default(),
        };
        return Ok(error_response(&err));
    };
    shared.calls.count(operation);
    if let Some(throttle) = shared.faults.take_throttle(operation) {
        return Ok(error_response(&throttled(throttle)));
    }
    let result = dispatch(&shared, operation, &body);
    Ok(match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(e) => error_response(&e),
    })
}

fn throttled(t: Throttle) -> ApiError {
    ApiError { status: 400, code: t.code(), message: t.message().into(), extra: Default::default() }
}

fn dispatch(shared: &Arc<Shared>, operation: &str, body: &[u8]) -> Result<Value, ApiError> {
    fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
        let body = if body.is_empty() { b"{}".as_slice() } else { body };
        serde_json::from_slice(body).map_err(|e| ApiError::validation(format!("malformed request: {e}")))
    }
    match operation {
        "ExecuteStatement" => api::submit(shared, parse(body)?, false),
        "BatchExecuteStatement" => api::submit(shared, parse(body)?, true),
        "DescribeStatement" => api::describe(shared, parse(body)?),
        "GetStatementResult" => api::get_statement_result(shared, parse(body)?),
        "CancelStatement" => api::cancel(shared, parse(body)?),
        "ListStatements" => api::list(shared, parse(body)?),
        other => Err(ApiError {
            status: 400,
            code: "UnknownOperationException",
            message: format!("operation {other} is not supported by the Redshift emulator"),
            extra: Default::default(),
        }),
    }
}

/// A fault to add through `POST /__emulator/faults`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultRequest {
    Statement {
        pattern: String,
        fault: StatementFault,
        #[serde(default = "one")]
        times: u32,
    },
    Throttle {
        operation: Option<String>,
        error: Throttle,
        calls: u32,
    },
}

fn one() -> u32 {
    1
}

fn control_request(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Response<Full<Bytes>> {
    let ok = || json_response(StatusCode::OK, &json!({"ok": true}));
    match (method, path) {
        (&Method::GET, "calls") => json_response(StatusCode::OK, &json!(shared.calls.snapshot().0)),
        (&Method::POST, "calls/reset") => {
            shared.calls.reset();
            ok()
        }
        (&Method::POST, "faults") => match serde_json::from_slice::<FaultRequest>(body) {
            Ok(FaultRequest::Statement { pattern, fault, times }) => {
                shared.faults.add_statement_fault(pattern, fault, times);
                ok()
            }
            Ok(FaultRequest::Throttle { operation, error, calls }) => {
                shared.faults.add_throttle(operation.as_deref(), error, calls);
                ok()
            }
            Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()})),
        },
        (&Method::POST, "faults/clear") => {
            shared.faults.clear();
            ok()
        }
        (&Method::POST, "release") => {
            crate::release_held(shared);
            ok()
        }
        _ => json_response(StatusCode::NOT_FOUND, &json!({"error": format!("no control {method} /__emulator/{path}")})),
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"));
    if let Ok(id) = hyper::header::HeaderValue::from_str(&new_statement_id()) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

fn error_response(e: &ApiError) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = json_response(status, &e.body());
    if let Ok(code) = hyper::header::HeaderValue::from_str(e.code) {
        response.headers_mut().insert("x-amzn-errortype", code);
    }
    response
}
