//! DuckDB's failures sorted into the pipeline's error kinds, as the Data API
//! adapter sorts Redshift's: what may pass by itself (a write conflict, an
//! IO failure, memory running out) is Retryable, so the state machine's
//! Retry takes it; what the SQL or the config got wrong is a ConfigError;
//! the rest, bad data, a DataError. A file the load cannot read is named.
//!
//! DuckDB prefixes each message with its error type (`IO Error: …`,
//! `Out of Memory Error: …`); those prefixes are what is matched.

use duckdb::Connection;

use cdc_core::PipelineError;
use cdc_core::sql::DATA_ERROR_MARKER;

/// Error types that pass by themselves: the same statement may succeed when
/// run again (a disk or file-system hiccup, memory taken by other work, a
/// conflicting writer).
const PASSING: [&str; 4] = ["IO Error", "Out of Memory Error", "TransactionContext Error", "Interrupt Error"];

/// Words of DuckDB's Parquet reader failing on a file's bytes.
const UNREADABLE: [&str; 6] = [
    "TProtocolException",
    "Snappy decompression",
    "Failed to read file",
    "Corrupt",
    "magic bytes",
    "too small to be a Parquet",
];

/// Classifies a failed statement (`index` of the batch `label`).
pub fn classify(label: &str, index: usize, message: &str) -> PipelineError {
    let at = format!("{label}, statement {}", index + 1);
    if let Some(pos) = message.find(DATA_ERROR_MARKER) {
        // Our own check: keep just its message, which names table and file.
        let own = message[pos + DATA_ERROR_MARKER.len()..].trim_start_matches(':').trim();
        return PipelineError::data(format!("{at}: {own}"));
    }
    if PASSING.iter().any(|p| message.starts_with(p)) || message.contains("Conflict") {
        return PipelineError::retryable(format!("{at}: {message}"));
    }
    if message.starts_with("Catalog Error") || message.starts_with("Parser Error") {
        return PipelineError::config(format!("{at}: {message}"));
    }
    PipelineError::data(format!("{at}: {message}"))
}

/// Whether the message is DuckDB's Parquet reader failing on bytes.
pub fn reads_bad_bytes(message: &str) -> bool {
    UNREADABLE.iter().any(|w| message.contains(w))
}

/// The Parquet file among those `sql` reads (its quoted `.parquet` paths)
/// that DuckDB cannot read whole, with the reader's error: a corrupt page
/// names no file in DuckDB's message. Every row is read, so a page that
/// fails to decode fails here as it did in the load.
pub fn unreadable_file(conn: &Connection, sql: &str) -> Option<(String, String)> {
    for path in parquet_paths(sql) {
        let read = format!("SELECT * FROM read_parquet('{}')", path.replace('\'', "''"));
        let outcome = conn.prepare(&read).and_then(|mut stmt| {
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
            Ok(())
        });
        if let Err(e) = outcome {
            return Some((path, e.to_string()));
        }
    }
    None
}

/// The `'….parquet'` literals of a statement, in order, once each.
fn parquet_paths(sql: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find('\'') {
        let after = &rest[start + 1..];
        let mut end = 0;
        let bytes = after.as_bytes();
        // A literal ends at a quote not doubled.
        while end < bytes.len() {
            if bytes[end] == b'\'' {
                if bytes.get(end + 1) == Some(&b'\'') {
                    end += 2;
                    continue;
                }
                break;
            }
            end += 1;
        }
        let literal = after[..end.min(after.len())].replace("''", "'");
        if literal.ends_with(".parquet") && !out.contains(&literal) {
            out.push(literal);
        }
        rest = &after[(end + 1).min(after.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdc_core::ErrorKind;

    /// The message DuckDB gives for `sql`.
    fn failure(conn: &Connection, sql: &str) -> String {
        conn.execute_batch(sql).expect_err(sql).to_string()
    }

    #[test]
    fn io_and_memory_failures_are_retryable_and_the_sql_s_own_are_not() {
        let conn = Connection::open_in_memory().unwrap();
        // GIVEN DuckDB's own messages for a write it cannot do and memory it cannot get
        let io = failure(&conn, "COPY (SELECT 1 AS a) TO '/nonexistent-folder/x/y.parquet' (FORMAT parquet)");
        let memory = failure(
            &conn,
            "SET memory_limit = '2MB'; SET threads = 1; SELECT count(*) FROM (SELECT range % 1000003 AS k, \
             string_agg(CAST(range AS VARCHAR), ',') FROM range(3000000) GROUP BY k)",
        );
        assert!(io.starts_with("IO Error") && memory.starts_with("Out of Memory Error"), "{io} / {memory}");
        // THEN both are Retryable, naming the batch and the statement
        for m in [&io, &memory] {
            let e = classify("load public.t", 3, m);
            assert_eq!(e.kind, ErrorKind::Retryable, "{e}");
            assert!(e.message.starts_with("load public.t, statement 4: "), "{e}");
        }
        // AND a missing table is a ConfigError, a bad cast a DataError, our own check a DataError with its text
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(classify("x", 0, &failure(&conn, "SELECT * FROM nope")).kind, ErrorKind::ConfigError);
        assert_eq!(classify("x", 0, &failure(&conn, "SELECT CAST('a' AS INTEGER)")).kind, ErrorKind::DataError);
        let own = classify("x", 0, &format!("Invalid Input Error: {DATA_ERROR_MARKER}: table t: null key"));
        assert_eq!((own.kind, own.message.as_str()), (ErrorKind::DataError, "x, statement 1: table t: null key"));
    }

    #[test]
    fn the_parquet_paths_a_statement_reads_are_found_once_each() {
        let sql = "SELECT * FROM read_parquet(['/r/a.parquet', '/r/it''s.parquet'], filename = true) r \
                   JOIN cdc_files f ON r.filename = f.file WHERE f.file <> '/r/a.parquet' AND x = 'text'";
        assert_eq!(parquet_paths(sql), ["/r/a.parquet", "/r/it's.parquet"]);
        assert!(parquet_paths("SELECT 'unterminated").is_empty());
    }
}
