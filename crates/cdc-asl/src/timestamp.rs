//! ASL timestamps: RFC 3339 with an uppercase `T` and `Z` (as the Wait and
//! Choice docs require), and the millisecond form Step Functions prints.

use chrono::{DateTime, Utc};

/// Parses an ASL timestamp such as `2016-03-14T01:59:00Z` or `2016-03-14T01:59:00.5+02:00`.
pub(crate) fn parse(text: &str) -> Option<DateTime<Utc>> {
    // chrono also accepts a space or lowercase 't'/'z', which ASL does not.
    if text.as_bytes().get(10) != Some(&b'T') || text.contains(['t', 'z', ' ']) {
        return None;
    }
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// Formats like the context object does: `2019-03-26T20:14:13.192Z`.
pub(crate) fn format(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_asl_profile_only() {
        // GIVEN timestamps in and out of the ASL profile WHEN parsed THEN only the profile is accepted
        assert!(parse("2016-08-18T17:33:00Z").is_some());
        assert!(parse("2016-08-18T17:33:00.123+02:00").is_some());
        assert!(parse("2016-08-18t17:33:00Z").is_none());
        assert!(parse("2016-08-18 17:33:00Z").is_none());
        assert!(parse("2016-08-18T17:33:00z").is_none());
        assert!(parse("2016-08-18").is_none());
        assert!(parse("not a time").is_none());
        assert_eq!(parse("2016-08-18T19:33:00+02:00"), parse("2016-08-18T17:33:00Z"));
    }

    #[test]
    fn formats_with_milliseconds() {
        // GIVEN a timestamp WHEN formatted THEN the context object's millisecond form
        let t = parse("2019-03-26T20:14:13.192Z").expect("valid");
        assert_eq!(format(t), "2019-03-26T20:14:13.192Z");
    }
}
