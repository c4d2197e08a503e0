//! DuckDB's error messages in Redshift's words, so a client that classifies
//! Redshift's error text (`relation … does not exist`, `1023 …
//! Serializable isolation violation`) classifies the emulator's alike. The
//! DuckDB message follows on a `DETAIL:` line.

/// The Redshift-style text of a DuckDB failure.
pub fn redshift_text(duckdb_message: &str) -> String {
    let m = duckdb_message.trim();
    let lower = m.to_lowercase();
    let quoted = |after: &str| {
        m.find(after)
            .map(|i| &m[i + after.len()..])
            .and_then(|rest| rest.split([' ', '!', '\n']).next())
            .map(|n| n.trim_matches('"').to_lowercase())
    };
    let head = if let Some(text) =
        crate::rules::character_length::redshift_text(m).or_else(|| crate::rules::boolean_casts::redshift_text(m))
    {
        text
    } else if let Some(i) = m.find("Spectrum Scan Error: ") {
        // A surplus_char_handling FAIL raised by the external table's view.
        format!("ERROR: {}", m[i..].lines().next().unwrap_or_default())
    } else if lower.contains("conflict") && (lower.contains("transactioncontext") || lower.contains("write-write")) {
        // DuckDB's optimistic concurrency control refused this transaction
        // because a concurrent one changed the same rows or catalog entry:
        // Redshift reports that as a serializable isolation violation.
        "ERROR: 1023 DETAIL: Serializable isolation violation on a table written by a concurrent transaction".into()
    } else if lower.starts_with("catalog error") && lower.contains("does not exist") {
        let what = if lower.contains("schema with name") {
            ("schema", quoted("with name "))
        } else if lower.contains("function with name") || lower.contains("macro function") {
            ("function", quoted("with name "))
        } else {
            ("relation", quoted("with name "))
        };
        match what {
            ("function", Some(n)) => format!("ERROR: function {n} does not exist"),
            (kind, Some(n)) => format!("ERROR: {kind} \"{n}\" does not exist"),
            (kind, None) => format!("ERROR: {kind} does not exist"),
        }
    } else if lower.starts_with("catalog error") && lower.contains("already exists") {
        match quoted("with name ") {
            Some(n) => format!("ERROR: relation \"{n}\" already exists"),
            None => "ERROR: relation already exists".into(),
        }
    } else if lower.starts_with("binder error") && lower.contains("referenced column") {
        match quoted("Referenced column ") {
            Some(n) => format!("ERROR: column \"{n}\" does not exist"),
            None => "ERROR: column does not exist".into(),
        }
    } else if lower.starts_with("parser error") {
        "ERROR: syntax error".into()
    } else if lower.starts_with("conversion error") || lower.starts_with("invalid input error") {
        "ERROR: invalid input syntax".into()
    } else if lower.starts_with("constraint error") && lower.contains("not null") {
        "ERROR: Cannot insert a NULL value into a NOT NULL column".into()
    } else if lower.starts_with("out of range error") {
        "ERROR: value out of range".into()
    } else {
        return format!("ERROR: {m}");
    };
    format!("{head}\n  DETAIL: {m}")
}

/// Whether DuckDB stopped a query because it was interrupted (cancelled).
pub fn is_interrupt(duckdb_message: &str) -> bool {
    duckdb_message.to_lowercase().contains("interrupt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duckdb_errors_read_like_redshift() {
        let cases = [
            (
                "Catalog Error: Table with name pgbench_x does not exist!\nDid you mean \"y\"?",
                "ERROR: relation \"pgbench_x\" does not exist",
            ),
            (
                "Catalog Error: Schema with name cdc_control does not exist!",
                "ERROR: schema \"cdc_control\" does not exist",
            ),
            (
                "Catalog Error: Scalar Function with name getdate does not exist!",
                "ERROR: function getdate does not exist",
            ),
            (
                "Binder Error: Referenced column \"nope\" not found in FROM clause!",
                "ERROR: column \"nope\" does not exist",
            ),
            (
                "TransactionContext Error: Failed to commit: write-write conflict on key",
                "ERROR: 1023 DETAIL: Serializable isolation violation",
            ),
            ("Parser Error: syntax error at or near \"SELEC\"", "ERROR: syntax error"),
            ("Conversion Error: Could not convert string 'x' to INT32", "ERROR: invalid input syntax"),
            ("Constraint Error: NOT NULL constraint failed: t.a", "ERROR: Cannot insert a NULL value"),
        ];
        for (duck, redshift) in cases {
            let text = redshift_text(duck);
            assert!(text.starts_with(redshift), "{duck}\n→ {text}");
            assert!(text.ends_with(duck.trim()), "{text}");
        }
        assert_eq!(redshift_text("IO Error: disk"), "ERROR: IO Error: disk");
        // The rules' own failures.
        for (duck, redshift) in [
            (
                "Constraint Error: CHECK constraint failed on table \"t\" with expression \
                 CHECK(__redshift_emulator.fits_varchar(filler, 84))",
                "ERROR: value too long for type character varying(84)\n  DETAIL: Constraint Error",
            ),
            (
                "Catalog Error: Scalar Function with name cannot_cast_type_boolean_to_character_varying does not exist!",
                "ERROR: cannot cast type boolean to character varying\n  DETAIL: Catalog Error",
            ),
            (
                "Invalid Input Error: Spectrum Scan Error: surplus_char_handling FAIL: x",
                "ERROR: Spectrum Scan Error: surplus_char_handling FAIL: x\n  DETAIL: Invalid Input Error",
            ),
        ] {
            assert!(redshift_text(duck).starts_with(redshift), "{duck}\n→ {}", redshift_text(duck));
        }
    }
}
