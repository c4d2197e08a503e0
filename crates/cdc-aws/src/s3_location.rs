//! An S3 bucket and key prefix, as the raw and optimized zones are configured
//! (`s3://bucket/some/prefix`).
//!
//! The prefix is kept normalised, empty or ending in `/`, so joining a
//! relative key never doubles or drops a slash and prefix comparisons work
//! on whole folder names: `s3://b/raw` does not contain `s3://b/raw2/x`.

use std::fmt;

use cdc_core::PipelineError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Location {
    bucket: String,
    /// Empty (the whole bucket) or ending in `/`.
    prefix: String,
}

impl S3Location {
    /// A bucket and a prefix (leading and trailing slashes are ignored).
    pub fn new(bucket: &str, prefix: &str) -> Result<Self, PipelineError> {
        let bucket = bucket.trim();
        // S3's bucket naming rules, the part that matters for building URIs.
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
        if !(3..=63).contains(&bucket.len()) || !bucket.chars().all(ok_char) {
            return Err(PipelineError::config(format!(
                "S3 bucket {bucket:?} is not a valid bucket name (3 to 63 lower-case letters, digits, '-' or '.')"
            )));
        }
        let trimmed = prefix.trim_matches('/');
        if trimmed.split('/').any(|seg| seg.is_empty() && !trimmed.is_empty()) {
            return Err(PipelineError::config(format!("S3 prefix {prefix:?} has an empty folder name (`//`)")));
        }
        let prefix = if trimmed.is_empty() { String::new() } else { format!("{trimmed}/") };
        Ok(Self { bucket: bucket.to_string(), prefix })
    }

    /// `s3://bucket` or `s3://bucket/prefix[/]`.
    pub fn parse(uri: &str) -> Result<Self, PipelineError> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| PipelineError::config(format!("S3 location {uri:?} does not start with s3://")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        Self::new(bucket, prefix)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Empty, or ending in `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of a path relative to the prefix.
    pub fn key(&self, relative: &str) -> String {
        format!("{}{}", self.prefix, relative.trim_start_matches('/'))
    }

    /// `s3://bucket/key`, as Spectrum's `"$path"` and Glue's locations write it.
    pub fn uri_of_key(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The URI of a path relative to the prefix.
    pub fn uri(&self, relative: &str) -> String {
        self.uri_of_key(&self.key(relative))
    }

    /// Whether one location holds the other (or both are the same): objects
    /// written under one would be listed under the other.
    pub fn overlaps(&self, other: &S3Location) -> bool {
        self.bucket == other.bucket
            && (self.prefix.starts_with(&other.prefix) || other.prefix.starts_with(&self.prefix))
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(uri: &str) -> S3Location {
        S3Location::parse(uri).unwrap()
    }

    #[test]
    fn prefixes_are_normalised_to_folders() {
        assert_eq!(loc("s3://bucket").prefix(), "");
        assert_eq!(loc("s3://bucket/").prefix(), "");
        assert_eq!(loc("s3://bucket/raw").prefix(), "raw/");
        assert_eq!(loc("s3://bucket/a/b/").prefix(), "a/b/");
        assert_eq!(loc("s3://bucket/a/b").uri("full/x.parquet"), "s3://bucket/a/b/full/x.parquet");
        assert_eq!(loc("s3://bucket").uri("/full/x.parquet"), "s3://bucket/full/x.parquet");
        assert_eq!(loc("s3://bucket/a").to_string(), "s3://bucket/a/");
    }

    #[test]
    fn bad_locations_are_config_errors_naming_them() {
        for bad in ["bucket/raw", "s3://", "s3://B/raw", "s3://a/raw", "s3://bucket/a//b", "s3://bu_cket/x"] {
            let e = S3Location::parse(bad).unwrap_err();
            assert_eq!(e.kind, cdc_core::ErrorKind::ConfigError, "{bad}: {e}");
        }
    }

    #[test]
    fn overlap_is_by_whole_folder_names() {
        // GIVEN a raw zone at s3://lake/raw/
        let raw = loc("s3://lake/raw");
        // THEN the same place, a folder inside it, a folder holding it and the whole bucket overlap
        for o in ["s3://lake/raw/", "s3://lake/raw/optimized", "s3://lake", "s3://lake/"] {
            assert!(raw.overlaps(&loc(o)) && loc(o).overlaps(&raw), "{o}");
        }
        // AND a sibling folder with a longer name, another folder or another bucket do not
        for o in ["s3://lake/raw2", "s3://lake/optimized", "s3://other/raw"] {
            assert!(!raw.overlaps(&loc(o)) && !loc(o).overlaps(&raw), "{o}");
        }
    }
}
