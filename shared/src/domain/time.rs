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

    /// This instant plus `seconds`.
    pub fn plus(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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

    proptest! {
        #[test]
        fn display_round_trips(s in -62_135_596_800i64..253_402_300_799) {
            let t = Timestamp(s);
            prop_assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
        }
    }
}
