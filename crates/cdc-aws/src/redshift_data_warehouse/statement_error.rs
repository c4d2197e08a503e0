//! A FAILED statement's error text (DescribeStatement's `Error`) → the
//! pipeline's error classes. The rules, in order, on the lowercased text:
//!
//! | text | class | why |
//! |---|---|---|
//! | starts with or contains `CDC_DATA_ERROR` | DataError | our own checks (`cdc_assert_empty`), naming table and file |
//! | `serializable isolation violation`, `1023`, `deadlock detected`, `could not serialize access`, `conflict with concurrent transaction`, lock timeouts | Retryable | concurrent transactions; the same work succeeds once the other commits |
//! | connection lost or reset, cluster unavailable or in maintenance, statement timeout | Retryable | the cluster, not the input |
//! | S3 throttling or a 5xx from S3 inside Spectrum or UNLOAD (`slow down`, `reduce your request rate`, `internal error`, `service unavailable`), `the specified key does not exist` | Retryable | S3 was busy, or a raw file vanished between listing and scan; the next plan lists again |
//! | `does not exist`, `permission denied`, `not authorized`, `access denied`, `must be owner`, `already exists`, `syntax error`, `not supported`, `inside a transaction block`, IAM role and Glue catalog failures, authentication failures, `disk full` | ConfigError | a missing object, a missing grant or role, SQL the cluster cannot run, or a full cluster: a person must act, retrying fails the same way |
//! | anything else | DataError | what remains comes from the rows and files a statement reads (`invalid input syntax`, `value too long for type`, `numeric overflow`, NOT NULL violations, `Spectrum Scan Error` on an unreadable file): retrying fails the same way, and one table's bad input must not stop the other tables (docs/cdc-contract.md, rule 8) |
//!
//! Retryable is checked before ConfigError so an S3 throttle reported inside
//! a "Spectrum Scan Error … Access" message still retries, and the data
//! marker first because our message quotes table and file names that may
//! contain any word.

use cdc_core::sql::DATA_ERROR_MARKER;
use cdc_core::{ErrorKind, PipelineError};

const RETRYABLE: &[&str] = &[
    "serializable isolation violation",
    "error: 1023",
    "error:1023",
    "deadlock detected",
    "could not serialize access",
    "conflict with concurrent transaction",
    "could not obtain lock",
    "lock timeout",
    "canceling statement due to statement timeout",
    "terminating connection",
    "server closed the connection",
    "connection reset",
    "connection timed out",
    "could not connect to",
    "cluster is unavailable",
    "cluster is currently unavailable",
    "maintenance",
    "slow down",
    "reduce your request rate",
    "internal error",
    "internalerror",
    "service unavailable",
    "serviceunavailable",
    "the specified key does not exist",
];

const CONFIG: &[&str] = &[
    "does not exist",
    "permission denied",
    "not authorized",
    "access denied",
    "accessdenied",
    "must be owner",
    "already exists",
    "syntax error",
    "not supported",
    "inside a transaction block",
    "iam role",
    "assumerole",
    "entitynotfoundexception",
    "authentication failed",
    "disk full",
];

/// The class of a FAILED statement's error text (rules in the module doc).
pub fn classify(error: &str) -> ErrorKind {
    if error.contains(DATA_ERROR_MARKER) {
        return ErrorKind::DataError;
    }
    let lower = error.to_lowercase();
    if RETRYABLE.iter().any(|p| lower.contains(p)) {
        return ErrorKind::Retryable;
    }
    if CONFIG.iter().any(|p| lower.contains(p)) {
        return ErrorKind::ConfigError;
    }
    ErrorKind::DataError
}

/// Where a failure happened, for its message.
#[derive(Debug, Clone, Default)]
pub struct FailedAt<'a> {
    pub statement_id: &'a str,
    /// The batch label, when the statement text carries it.
    pub label: Option<&'a str>,
    /// 1-based number of the failed sub-statement, and how many the batch had.
    pub sub_statement: Option<(usize, usize)>,
}

/// The pipeline error of a FAILED statement, Redshift's text kept whole
/// (our own data errors: just their message, which names table and file).
pub fn statement_failed(error: Option<&str>, at: &FailedAt<'_>) -> PipelineError {
    let text = error.map(str::trim).filter(|e| !e.is_empty()).unwrap_or("failed without an error message");
    let mut place = String::new();
    if let Some(label) = at.label {
        place.push_str(label);
        place.push_str(", ");
    }
    place.push_str("statement ");
    place.push_str(at.statement_id);
    if let Some((n, of)) = at.sub_statement {
        place.push_str(&format!(" (sub-statement {n} of {of})"));
    }
    let kind = classify(text);
    let detail = match text.find(DATA_ERROR_MARKER) {
        Some(pos) => text[pos + DATA_ERROR_MARKER.len()..].trim_start_matches(':').trim(),
        None => text,
    };
    PipelineError::new(kind, format!("{place}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redshift_errors_are_classified_as_the_module_doc_says() {
        let cases = [
            ("ERROR: CDC_DATA_ERROR: table public.t: null key (id) in file s3://b/k.parquet", ErrorKind::DataError),
            (
                "ERROR: 1023 DETAIL: Serializable isolation violation on table - 123456, transactions forming the \
                 cycle are: 1, 2 (pid:3)",
                ErrorKind::Retryable,
            ),
            ("ERROR: deadlock detected", ErrorKind::Retryable),
            ("ERROR: could not complete because of conflict with concurrent transaction", ErrorKind::Retryable),
            ("FATAL: terminating connection due to administrator command", ErrorKind::Retryable),
            (
                "ERROR: Spectrum Scan Error DETAIL: S3ServiceException:Please reduce your request rate.,Status 503",
                ErrorKind::Retryable,
            ),
            ("ERROR: relation \"public.t\" does not exist", ErrorKind::ConfigError),
            ("ERROR: schema \"cdc_database\" does not exist", ErrorKind::ConfigError),
            ("ERROR: permission denied for relation t", ErrorKind::ConfigError),
            ("ERROR: syntax error at or near \"SELEC\"", ErrorKind::ConfigError),
            ("ERROR: User arn:aws:redshift:x is not authorized to assume IAM Role arn:r", ErrorKind::ConfigError),
            ("ERROR: Disk Full", ErrorKind::ConfigError),
            ("ERROR: invalid input syntax for integer: \"abc\"", ErrorKind::DataError),
            ("ERROR: value too long for type character varying(84)", ErrorKind::DataError),
            ("ERROR: Spectrum Scan Error DETAIL: File has an invalid version number", ErrorKind::DataError),
            ("", ErrorKind::DataError),
        ];
        for (text, kind) in cases {
            assert_eq!(classify(text), kind, "{text}");
        }
    }

    #[test]
    fn the_message_names_label_statement_and_sub_statement_and_keeps_the_text() {
        let at = FailedAt { statement_id: "s-1", label: Some("load public.t"), sub_statement: Some((5, 16)) };
        let e = statement_failed(Some("ERROR: 1023 DETAIL: Serializable isolation violation on table - 9"), &at);
        assert_eq!(e.kind, ErrorKind::Retryable);
        assert_eq!(
            e.message,
            "load public.t, statement s-1 (sub-statement 5 of 16): ERROR: 1023 DETAIL: Serializable isolation \
             violation on table - 9"
        );
        // Our own data errors keep just their message.
        let e = statement_failed(Some("ERROR: CDC_DATA_ERROR: table public.t: null key in file f"), &at);
        assert_eq!(e.kind, ErrorKind::DataError);
        assert_eq!(
            e.message,
            "load public.t, statement s-1 (sub-statement 5 of 16): table public.t: null key in file f"
        );
        let e = statement_failed(None, &FailedAt { statement_id: "s-2", ..Default::default() });
        assert_eq!(e.message, "statement s-2: failed without an error message");
    }
}
