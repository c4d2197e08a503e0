//! What the fault proxy reads from and writes to the wire: which service and
//! operation a signed request is for, and each service's own throttling
//! answer in its protocol, so that the SDK's retries and the adapters'
//! error mapping run on it as on AWS.
//!
//! | service | protocol | throttling answer |
//! |---|---|---|
//! | S3 | REST-XML | 503 `SlowDown` (S3 API Reference, *Error responses*, list of error codes) |
//! | Glue | awsJson1_1 | 400 `ThrottlingException`, "Rate exceeded" (AWS Knowledge Center, *glue-throttling-rate-exceeded*) |
//! | DynamoDB | awsJson1_0 | 400 `ProvisionedThroughputExceededException` (DynamoDB DG, *Error handling*) |
//! | SNS | awsQuery | 400 `ThrottlingException`, "Rate exceeded" (AWS Knowledge Center, *sns-throttling-exception-errors*) |
//! | Data API | awsJson1_1 | the emulator's own throttle control (400 `ThrottlingException`) |

use bytes::Bytes;
use http_body_util::Full;
use hyper::http::request::Parts;
use hyper::{HeaderMap, Response, StatusCode};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    S3,
    Glue,
    DynamoDb,
    Sns,
    DataApi,
    /// Anything else (moto's own API, an unsigned call): never faulted.
    Other,
}

impl Service {
    /// From the SigV4 credential scope, `Credential=<key>/<date>/<region>/<service>/aws4_request`.
    pub fn of(headers: &HeaderMap) -> Service {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let scope = auth.split("Credential=").nth(1).unwrap_or_default();
        match scope.split('/').nth(3).unwrap_or_default() {
            "s3" => Service::S3,
            "glue" => Service::Glue,
            "dynamodb" => Service::DynamoDb,
            "sns" => Service::Sns,
            "redshift-data" => Service::DataApi,
            _ => Service::Other,
        }
    }
}

/// The operation: the JSON protocols' `X-Amz-Target` suffix, the query
/// protocol's `Action`, S3's method.
pub fn operation(service: Service, parts: &Parts, body: &[u8]) -> String {
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if let Some(op) = target.and_then(|t| t.rsplit('.').next()) {
        return op.to_string();
    }
    if service == Service::Sns {
        let form = String::from_utf8_lossy(body);
        if let Some(action) = form.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
            return action.to_string();
        }
    }
    parts.method.to_string()
}

/// The SQL texts of a Data API submit (`Sql`, or `Sqls` of a batch).
pub fn submitted_sqls(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else { return Vec::new() };
    match (&v["Sql"], &v["Sqls"]) {
        (serde_json::Value::String(s), _) => vec![s.clone()],
        (_, serde_json::Value::Array(a)) => a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static(content_type));
    r.headers_mut().insert("x-amzn-requestid", hyper::header::HeaderValue::from_static("cdc-chaos-throttle"));
    r
}

/// The service's throttling answer; `None` for a service the proxy does
/// not answer for (the Data API's throttles are the emulator's own).
pub fn throttled(service: Service, head: bool) -> Option<Response<Full<Bytes>>> {
    let r = match service {
        Service::S3 => {
            // A HEAD answer has no body; the SDK reads the status.
            let body = if head {
                String::new()
            } else {
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce \
                 your request rate.</Message><RequestId>cdc-chaos-throttle</RequestId></Error>"
                    .to_string()
            };
            answer(StatusCode::SERVICE_UNAVAILABLE, "application/xml", body)
        }
        Service::Glue => {
            let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string();
            answer(StatusCode::BAD_REQUEST, "application/x-amz-json-1.1", body)
        }
        Service::DynamoDb => {
            let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#.to_string();
            answer(StatusCode::BAD_REQUEST, "application/x-amz-json-1.0", body)
        }
        Service::Sns => {
            let body = "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type>\
                        <Code>ThrottlingException</Code><Message>Rate exceeded</Message></Error>\
                        <RequestId>cdc-chaos-throttle</RequestId></ErrorResponse>"
                .to_string();
            answer(StatusCode::BAD_REQUEST, "text/xml", body)
        }
        Service::DataApi | Service::Other => return None,
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(service: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=testing/20261206/us-east-1/{service}/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc"
        );
        h.insert("authorization", auth.parse().unwrap());
        h
    }

    #[test]
    fn the_service_comes_from_the_signature_scope() {
        assert_eq!(Service::of(&signed("s3")), Service::S3);
        assert_eq!(Service::of(&signed("redshift-data")), Service::DataApi);
        assert_eq!(Service::of(&signed("dynamodb")), Service::DynamoDb);
        assert_eq!(Service::of(&HeaderMap::new()), Service::Other);
    }

    #[test]
    fn a_batch_submit_names_its_statements() {
        let body = br#"{"Sqls":["LOCK \"c\".\"t__progress\"","INSERT INTO t SELECT 1"],"WorkgroupName":"w"}"#;
        assert_eq!(submitted_sqls(body), vec!["LOCK \"c\".\"t__progress\"", "INSERT INTO t SELECT 1"]);
        assert_eq!(submitted_sqls(br#"{"Sql":"SELECT 1"}"#), vec!["SELECT 1"]);
        assert!(submitted_sqls(b"not json").is_empty());
    }
}
