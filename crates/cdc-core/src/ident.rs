//! Identifiers that are safe to put into SQL of both dialects.
//!
//! Only `[A-Za-z_][A-Za-z0-9_]*` up to 127 bytes is accepted, folded to lower
//! case as Redshift does, and always emitted double-quoted, so a reserved word
//! such as `user` or `order` still works and nothing can break out of the quotes.

use std::fmt;

const MAX_LEN: usize = 127;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Ident(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsafe identifier {0:?}: use letters, digits and underscores, starting with a letter or underscore, at most 127 characters"
)]
pub struct UnsafeIdent(pub String);

impl Ident {
    pub fn new(raw: &str) -> Result<Self, UnsafeIdent> {
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !first_ok || !rest_ok || raw.len() > MAX_LEN {
            return Err(UnsafeIdent(raw.to_string()));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identifier double-quoted; valid in DuckDB and Redshift alike.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Ident {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ident::new(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_folds_case() {
        assert_eq!(Ident::new("AR_H_CHANGE_SEQ").unwrap().as_str(), "ar_h_change_seq");
        assert_eq!(Ident::new("_x1").unwrap().quoted(), "\"_x1\"");
    }

    #[test]
    fn rejects_anything_that_could_escape_quotes() {
        for bad in ["", "1abc", "a-b", "a\"b", "a;drop", "naïve", "a b", &"x".repeat(128)] {
            assert!(Ident::new(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
