//! Instants as whole UTC seconds, read from and written as RFC 3339 (`2026-11-27T10:00:00Z`).
//!
//! The pure code never reads a clock: callers pass a [`Timestamp`] in.

use std::fmt;

use idc_guard_policy::document::condition::parse_date;

/// Seconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Reads an ISO 8601 / RFC 3339 date-time (CloudTrail's `eventTime`), or epoch seconds.
    /// Fractions of a second are dropped.
    pub fn parse(text: &str) -> Option<Timestamp> {
        parse_date(text)
            .filter(|s| s.is_finite() && s.abs() < 1e15)
            // In range by the filter above; truncation drops the fraction on purpose.
            .map(|s| Timestamp(s.floor() as i64))
    }

    /// Converts a system time (read by the caller: the pure code never reads a clock).
    pub fn from_system_time(t: std::time::SystemTime) -> Timestamp {
        let secs = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    /// Whole days from this instant until `later`, rounded down: 0 on its last day, negative
    /// once it has passed (-1 for up to a day after it).
    pub fn days_until(self, later: Timestamp) -> i64 {
        later.0.saturating_sub(self.0).div_euclid(86_400)
    }

    /// This instant plus `seconds`.
    pub fn plus(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC. An instant outside years -9999 to 9999 (none that `parse` reads from a
    /// date) is written as its epoch seconds, which `parse` reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp(self.0) else {
            return write!(f, "{}", self.0);
        };
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_and_writes_cloudtrail_times() {
        let t = Timestamp::parse("2026-11-27T10:15:30Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-27T10:15:30Z");
        assert_eq!(Timestamp::parse("2026-11-27T10:15:30.987Z"), Some(t));
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::parse("2024-02-29T00:00:00+01:00")
                .unwrap()
                .to_string(),
            "2024-02-28T23:00:00Z"
        );
        assert_eq!(Timestamp::parse("yesterday"), None);
    }

    #[test]
    fn impossible_dates_are_refused_and_leap_days_kept() {
        assert_eq!(Timestamp::parse("2026-02-31T00:00:00Z"), None);
        assert_eq!(Timestamp::parse("2023-02-29T00:00:00Z"), None);
        assert_eq!(Timestamp::parse("2026-04-31"), None);
        assert_eq!(
            Timestamp::parse("2024-02-29T12:00:00Z").map(|t| t.to_string()),
            Some("2024-02-29T12:00:00Z".to_owned())
        );
        assert_eq!(
            Timestamp::parse("2000-02-29").map(|t| t.0),
            Some(951_782_400)
        );
    }

    #[test]
    fn instants_past_the_calendar_are_written_as_seconds() {
        let far = Timestamp(900_000_000_000);
        assert_eq!(far.to_string(), "900000000000");
        assert_eq!(Timestamp::parse(&far.to_string()), Some(far));
    }

    proptest! {
        #[test]
        fn display_round_trips(s in -62_135_596_800i64..253_402_300_799) {
            let t = Timestamp(s);
            prop_assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
        }

        #[test]
        fn display_writes_the_days_in_order(s in -62_135_596_800i64..253_402_214_399) {
            // A day later is a later date string, of the same shape.
            let (a, b) = (Timestamp(s).to_string(), Timestamp(s + 86_400).to_string());
            prop_assert_eq!(a.len(), 20);
            prop_assert!(a < b, "{} then {}", a, b);
        }
    }
}
