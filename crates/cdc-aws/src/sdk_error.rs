//! AWS SDK errors → the pipeline's three error classes (docs/architecture.md).
//!
//! Every adapter of this crate maps through [`classify`], so a throttled
//! DynamoDB write, a throttled SNS publish and a Redshift Data API call over
//! its concurrency limits all reach the state machine as `Retryable`, and a
//! missing table, topic or statement as `ConfigError` naming it.
//!
//! The SDK already retries throttling, transient and 5xx errors with backoff
//! (standard retry mode, see [`crate::client_config`]); what arrives here has
//! exhausted those attempts or was never retryable. The rules, in order:
//!
//! 1. an error code the services use for throttling, conflicts or server
//!    faults → `Retryable`;
//! 2. an error code meaning missing resource, no permission, bad credentials
//!    or an invalid request → `ConfigError`;
//! 3. any other code (unknown to this list): by HTTP status. 5xx and 429 →
//!    `Retryable`; another 4xx → `ConfigError`, because the service refused
//!    the request itself and sending it again fails the same way, so a person
//!    must look; no status → `Retryable`.
//! 4. no response at all: timeouts and I/O failures → `Retryable`; a request
//!    that could not be built, an invalid endpoint, or credentials that are not
//!    configured → `ConfigError`; other dispatch failures → `Retryable`.

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cdc_core::{ErrorKind, PipelineError};

/// Codes that mean "try again later" (throttling, conflicts, server faults).
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "Throttled",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "KMSThrottling",
    "KMSThrottlingException",
    "TransactionInProgressException",
    "TransactionConflictException",
    "InternalServerError",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    // S3 and Glue: request rates, and faults on the service's side.
    "SlowDown",
    "OperationAborted",
    "InternalServiceException",
    "OperationTimeoutException",
    "ConcurrentModificationException",
    "ResourceNotReadyException",
    "FederationSourceRetryableException",
    // Redshift Data API: concurrency limits, and faults between the API and the cluster.
    "ActiveStatementsExceededException",
    "ActiveSessionsExceededException",
    "ActiveWaitingRequestsExceededException",
    "InternalServerException",
    "DatabaseConnectionException",
    "QueryTimeoutException",
    "BatchExecuteStatementException",
    "ExecuteStatementException",
];

/// Codes that need a person: the resource is missing, access is denied, the
/// credentials are wrong, or the request is invalid.
const CONFIG_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "NotFound",
    "NotFoundException",
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "ValidationException",
    "InvalidParameter",
    "InvalidParameterException",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "KMSAccessDenied",
    "KMSDisabled",
    "KMSNotFound",
    "KMSInvalidState",
    "InvalidSecurity",
    // S3: a missing or misnamed bucket, a bucket in another region, a refused account.
    "NoSuchBucket",
    "InvalidBucketName",
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccountProblem",
    // Glue (callers that expect absence check EntityNotFoundException first).
    "EntityNotFoundException",
    "InvalidInputException",
    "GlueEncryptionException",
    "ResourceNumberLimitExceededException",
];

/// The class of an SDK error; see the module doc for the rules.
pub fn classify<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> ErrorKind {
    match err {
        SdkError::ServiceError(ctx) => classify_code(ctx.err().code(), Some(ctx.raw().status().as_u16())),
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => ErrorKind::Retryable,
        SdkError::ConstructionFailure(_) => ErrorKind::ConfigError,
        SdkError::DispatchFailure(d) => {
            let not_configured = d.as_connector_error().is_some_and(|c| credentials_not_configured(c));
            if d.is_user() || not_configured { ErrorKind::ConfigError } else { ErrorKind::Retryable }
        }
        // A variant added in a later SDK: most likely transport trouble.
        _ => ErrorKind::Retryable,
    }
}

/// Rules 1 to 3 of the module doc, for an error code and an HTTP status.
pub fn classify_code(code: Option<&str>, status: Option<u16>) -> ErrorKind {
    if let Some(code) = code {
        if RETRYABLE_CODES.contains(&code) {
            return ErrorKind::Retryable;
        }
        if CONFIG_CODES.contains(&code) {
            return ErrorKind::ConfigError;
        }
    }
    match status {
        Some(s) if s >= 500 || s == 429 => ErrorKind::Retryable,
        Some(s) if s >= 400 => ErrorKind::ConfigError,
        _ => ErrorKind::Retryable,
    }
}

/// Credentials that are missing or misconfigured fail before the request is
/// sent, as a dispatch failure; retrying cannot fix them.
fn credentials_not_configured(err: &(dyn StdError + 'static)) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return matches!(c, CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_));
        }
        source = e.source();
    }
    false
}

/// The error code of a service error, if the service sent one.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(ctx) => ctx.err().code(),
        _ => None,
    }
}

/// The pipeline error for an SDK error. `context` says which call on which
/// resource (`DynamoDB UpdateItem on table cdc-jobs`), so a `ConfigError`
/// names what a person must fix.
pub fn to_pipeline_error<E>(err: &SdkError<E, HttpResponse>, context: &str) -> PipelineError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let kind = classify(err);
    let detail = match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            format!(
                "{} (HTTP {}): {}",
                e.code().unwrap_or("unknown error"),
                ctx.raw().status().as_u16(),
                e.message().unwrap_or("no message")
            )
        }
        other => DisplayErrorContext(other).to_string(),
    };
    PipelineError::new(kind, format!("{context}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified_before_statuses() {
        // GIVEN a throttling code on a 400 THEN Retryable, not ConfigError
        assert_eq!(classify_code(Some("ProvisionedThroughputExceededException"), Some(400)), ErrorKind::Retryable);
        assert_eq!(classify_code(Some("ThrottlingException"), Some(400)), ErrorKind::Retryable);
        assert_eq!(classify_code(Some("RequestLimitExceeded"), Some(400)), ErrorKind::Retryable);
        assert_eq!(classify_code(Some("Throttled"), Some(400)), ErrorKind::Retryable);
        assert_eq!(classify_code(Some("ActiveStatementsExceededException"), Some(400)), ErrorKind::Retryable);
        assert_eq!(classify_code(Some("ActiveSessionsExceededException"), Some(400)), ErrorKind::Retryable);
        // GIVEN a missing resource, no permission or an invalid request THEN ConfigError
        assert_eq!(classify_code(Some("ResourceNotFoundException"), Some(400)), ErrorKind::ConfigError);
        assert_eq!(classify_code(Some("AccessDeniedException"), Some(400)), ErrorKind::ConfigError);
        assert_eq!(classify_code(Some("ValidationException"), Some(400)), ErrorKind::ConfigError);
        assert_eq!(classify_code(Some("NotFound"), Some(404)), ErrorKind::ConfigError);
        assert_eq!(classify_code(Some("AuthorizationError"), Some(403)), ErrorKind::ConfigError);
    }

    #[test]
    fn s3_and_glue_codes_are_classified() {
        // S3 sends SlowDown as a 503 and a wrong region as a 301: the code decides, not the status
        assert_eq!(classify_code(Some("SlowDown"), Some(503)), ErrorKind::Retryable);
        assert_eq!(classify_code(Some("PermanentRedirect"), Some(301)), ErrorKind::ConfigError);
        assert_eq!(classify_code(Some("NoSuchBucket"), Some(404)), ErrorKind::ConfigError);
        assert_eq!(classify_code(Some("InternalServiceException"), Some(400)), ErrorKind::Retryable);
        assert_eq!(classify_code(Some("ConcurrentModificationException"), Some(400)), ErrorKind::Retryable);
        assert_eq!(classify_code(Some("EntityNotFoundException"), Some(400)), ErrorKind::ConfigError);
        assert_eq!(classify_code(Some("InvalidInputException"), None), ErrorKind::ConfigError);
    }

    #[test]
    fn unknown_codes_fall_back_to_the_status() {
        assert_eq!(classify_code(Some("SomethingNew"), Some(503)), ErrorKind::Retryable);
        assert_eq!(classify_code(Some("SomethingNew"), Some(500)), ErrorKind::Retryable);
        assert_eq!(classify_code(Some("SomethingNew"), Some(429)), ErrorKind::Retryable);
        assert_eq!(classify_code(Some("SomethingNew"), Some(400)), ErrorKind::ConfigError);
        assert_eq!(classify_code(None, Some(403)), ErrorKind::ConfigError);
        assert_eq!(classify_code(None, None), ErrorKind::Retryable);
    }
}
