//! Tolerant RFC 3339 timestamps.
//!
//! ACS writes .NET `DateTimeOffset`s: 7 fractional digits and a numeric offset
//! (`2025-06-16T19:25:59.7038152+00:00`, the `+` often escaped as `\u002B`, which JSON
//! decoding has already undone by the time we see it); Python re-serialisation drops
//! trailing zeros (6 or 5 digits); docs use `Z`. All of that is RFC 3339. We also accept
//! a timestamp with no offset at all, read as UTC, because that is how .NET would read
//! it back and dropping the event time over it helps nobody.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parses an event timestamp; `None` if it is not a date-time.
pub fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    // No offset: append `Z` and reuse the RFC 3339 parser (any number of fraction digits).
    if s.len() >= 19 && !s.ends_with(['Z', 'z']) && !has_offset(s) {
        let with_z = format!("{s}Z");
        if let Ok(t) = OffsetDateTime::parse(&with_z, &Rfc3339) {
            return Some(t);
        }
    }
    None
}

/// True if the part after the time of day carries `+hh:mm` / `-hh:mm`.
fn has_offset(s: &str) -> bool {
    // The date part has '-' separators; only look after the 'T'.
    match s.find(['T', 't']) {
        Some(i) => s[i..].contains(['+', '-']),
        None => false,
    }
}

/// Formats a timestamp as RFC 3339 (what the CLI prints and what we write to fixtures).
pub fn format_timestamp(t: OffsetDateTime) -> String {
    // Rfc3339 formatting cannot fail for years 0..=9999 with whole-minute offsets, which is
    // every value parse_timestamp produces; fall back to the Display form just in case.
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn accepts_every_shape_in_the_payloads() {
        let cases = [
            (
                "2025-06-16T19:25:59.7038152+00:00",
                datetime!(2025-06-16 19:25:59.7038152 UTC),
            ),
            (
                "2023-07-20T09:44:11.614881+00:00",
                datetime!(2023-07-20 09:44:11.614881 UTC),
            ),
            (
                "2026-09-15T11:36:08.05571+00:00",
                datetime!(2026-09-15 11:36:08.05571 UTC),
            ),
            (
                "2023-04-04T17:18:42.5542219Z",
                datetime!(2023-04-04 17:18:42.5542219 UTC),
            ),
            (
                "2022-08-12T03:35:07.8174402",
                datetime!(2022-08-12 03:35:07.8174402 UTC),
            ),
            (
                "2024-01-04T07:42:15-08:00",
                datetime!(2024-01-04 15:42:15 UTC),
            ),
            (
                "2024-01-04T07:42:15+05:30",
                datetime!(2024-01-04 02:12:15 UTC),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(parse_timestamp(s), Some(want), "{s}");
        }
    }

    #[test]
    fn escaped_plus_is_decoded_by_json_first() {
        let s: String =
            serde_json::from_str(r#""2025-07-12T01:16:45.2254194\u002B00:00""#).unwrap();
        assert_eq!(
            parse_timestamp(&s),
            Some(datetime!(2025-07-12 01:16:45.2254194 UTC))
        );
    }

    #[test]
    fn rejects_non_dates() {
        for s in [
            "",
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-06-16",
            "12345678901234567890",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
    }

    #[test]
    fn formats_round_trip() {
        let t = datetime!(2025-06-16 19:25:59.7038152 UTC);
        assert_eq!(format_timestamp(t), "2025-06-16T19:25:59.7038152Z");
        assert_eq!(parse_timestamp(&format_timestamp(t)), Some(t));
    }
}
