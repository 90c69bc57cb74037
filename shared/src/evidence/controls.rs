//! What an auditor reads off the evidence for a period: per check, the days it held, the
//! failures still open at the end, and for each failure the time to detect (its change until
//! the collector had it) and the time to fix (its first failing record until its resolution);
//! and which controls of common frameworks each check supports (`shared/data/control-mapping.toml`,
//! guidance, not certification).
//!
//! Only verified records count: a record whose checksum does not match, or that is not a
//! record at all, is neither a pass nor a fail here.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::report::EvidenceRow;
use crate::domain::time::Timestamp;

const DAY: i64 = 86_400;
const MAPPING: &str = include_str!("../../data/control-mapping.toml");

/// One control of a framework, and the checks whose results are evidence for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// `ISO/IEC 27001:2022`, `SOC 2 (2017 TSC)`, `NIST SP 800-53 Rev. 5`.
    pub framework: String,
    /// The control's identifier in the framework (`A.8.24`, `CC6.1`, `SC-12`).
    pub id: String,
    /// Its title.
    pub title: String,
    /// The check ids (docs/checks.md).
    pub checks: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    control: Vec<Control>,
}

/// The mapping (parsed once; the test `the_mapping_names_every_check_and_only_checks` keeps
/// the data file readable).
pub fn controls() -> &'static [Control] {
    static CONTROLS: OnceLock<Vec<Control>> = OnceLock::new();
    CONTROLS.get_or_init(|| {
        toml::from_str::<MappingFile>(MAPPING)
            .map(|f| f.control)
            .unwrap_or_default()
    })
}

/// One failure over the period, by fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureSpan {
    /// The failure's fingerprint.
    pub fingerprint: String,
    /// The check.
    pub check: String,
    /// The Region.
    pub region: String,
    /// The severity of its first record.
    pub severity: String,
    /// Its first failing record's time (the change that caused it).
    pub first: Timestamp,
    /// When the collector first had it.
    pub detected: Option<Timestamp>,
    /// Its resolution's time, when a resolution record names it.
    pub resolved: Option<Timestamp>,
}

impl FailureSpan {
    /// Seconds from the change to its detection.
    pub fn time_to_detect(&self) -> Option<i64> {
        self.detected.map(|d| (d.0 - self.first.0).max(0))
    }

    /// Seconds from the first failing record to the resolution.
    pub fn time_to_fix(&self) -> Option<i64> {
        self.resolved.map(|r| (r.0 - self.first.0).max(0))
    }
}

/// One check over the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckView {
    /// The check id.
    pub check: String,
    /// Days in the period.
    pub days: usize,
    /// Days on which no failure of the check was open.
    pub days_compliant: usize,
    /// Its failures, in time order.
    pub failures: Vec<FailureSpan>,
    /// Its verified records.
    pub records: usize,
}

impl CheckView {
    /// Failures with no resolution by the end of the period.
    pub fn open_at_end(&self) -> usize {
        self.failures
            .iter()
            .filter(|f| f.resolved.is_none())
            .count()
    }
}

fn failing(r: &EvidenceRow) -> bool {
    matches!(r.status.as_str(), "fail" | "warn")
}

/// Every failure of the verified rows, with its resolution when a verified resolution names
/// it, in time order.
pub fn failure_spans(rows: &[EvidenceRow]) -> Vec<FailureSpan> {
    let verified = || rows.iter().filter(|r| r.verified());
    let mut spans: BTreeMap<&str, FailureSpan> = BTreeMap::new();
    for r in verified().filter(|r| failing(r) && !r.fingerprint.is_empty()) {
        let Some(time) = Timestamp::parse(&r.time) else {
            continue;
        };
        let detected = Timestamp::parse(&r.detected);
        let span = spans.entry(&r.fingerprint).or_insert_with(|| FailureSpan {
            fingerprint: r.fingerprint.clone(),
            check: r.check.clone(),
            region: r.region.clone(),
            severity: r.severity.clone(),
            first: time,
            detected,
            resolved: None,
        });
        if time < span.first {
            span.first = time;
            span.severity.clone_from(&r.severity);
        }
        span.detected = match (span.detected, detected) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    for r in verified().filter(|r| r.status == "pass" && !r.resolves.is_empty()) {
        if let (Some(span), Some(time)) = (
            spans.get_mut(r.resolves.as_str()),
            Timestamp::parse(&r.time),
        ) && time >= span.first
            && span.resolved.is_none_or(|t| time < t)
        {
            span.resolved = Some(time);
        }
    }
    let mut out: Vec<FailureSpan> = spans.into_values().collect();
    out.sort_by(|a, b| (a.first, &a.fingerprint).cmp(&(b.first, &b.fingerprint)));
    out
}

/// Per check with a verified record in the period (`from` to the end of the day `to`): the
/// days it held, and its failures.
pub fn control_view(rows: &[EvidenceRow], from: Timestamp, to: Timestamp) -> Vec<CheckView> {
    let start = Timestamp(from.0.div_euclid(DAY) * DAY);
    let end = Timestamp((to.0.div_euclid(DAY) + 1) * DAY);
    let days = usize::try_from((end.0 - start.0) / DAY).unwrap_or_default();
    let mut records: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.verified()) {
        *records.entry(&r.check).or_default() += 1;
    }
    let spans = failure_spans(rows);
    records
        .into_iter()
        .map(|(check, count)| {
            let failures: Vec<FailureSpan> =
                spans.iter().filter(|s| s.check == check).cloned().collect();
            let failing_days = (0..days)
                .filter(|i| {
                    let day_start = start.0 + i64::try_from(*i).unwrap_or_default() * DAY;
                    failures.iter().any(|s| {
                        s.first.0 < day_start + DAY && s.resolved.map_or(end.0, |r| r.0) > day_start
                    })
                })
                .count();
            CheckView {
                check: check.to_owned(),
                days,
                days_compliant: days - failing_days,
                failures,
                records: count,
            }
        })
        .collect()
}

/// A duration in words an auditor reads at a glance: `45s`, `12m`, `3h 5m`, `2d 4h`.
pub fn duration_text(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..DAY => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / DAY, s % DAY / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::report::Integrity;
    use crate::finding::CheckId;

    #[test]
    fn the_mapping_names_every_check_and_only_checks() {
        let controls = controls();
        assert!(controls.len() >= 10, "the data file did not parse");
        for c in controls {
            for id in &c.checks {
                assert!(
                    CheckId::from_id(id).is_some(),
                    "{} {}: {id} is not a check",
                    c.framework,
                    c.id
                );
            }
        }
        for check in CheckId::ALL {
            assert!(
                controls
                    .iter()
                    .any(|c| c.checks.iter().any(|x| x == check.id())),
                "{check} supports no control in shared/data/control-mapping.toml"
            );
        }
    }

    fn row(time: &str, status: &str, fingerprint: &str, resolves: &str) -> EvidenceRow {
        let mut r = EvidenceRow::from_body("k", b"{}", Integrity::Verified);
        r.time = time.into();
        r.detected = time.replace(":00Z", ":30Z");
        r.status = status.into();
        r.check = "KP-ADMIN".into();
        r.region = "us-east-1".into();
        r.severity = "critical".into();
        r.fingerprint = fingerprint.into();
        r.resolves = resolves.into();
        r
    }

    #[test]
    fn a_failure_resolved_two_days_later_costs_three_days_and_reports_its_times() {
        let rows = [
            row("2026-11-02T10:00:00Z", "fail", "f1", ""),
            row("2026-11-03T08:00:00Z", "fail", "f1", ""),
            row("2026-11-04T12:30:00Z", "pass", "r1", "f1"),
            row("2026-11-06T09:00:00Z", "fail", "f2", ""),
        ];
        let from = Timestamp::parse("2026-11-01T00:00:00Z").unwrap();
        let to = Timestamp::parse("2026-11-07T00:00:00Z").unwrap();
        let [view] = control_view(&rows, from, to).try_into().unwrap();
        assert_eq!(view.days, 7);
        // Failing on the 2nd, 3rd, 4th (f1) and the 6th and 7th (f2, still open).
        assert_eq!(view.days_compliant, 2);
        assert_eq!(view.open_at_end(), 1);
        let f1 = &view.failures[0];
        assert_eq!(f1.time_to_detect(), Some(30));
        assert_eq!(f1.time_to_fix(), Some(2 * DAY + 2 * 3600 + 30 * 60));
        assert_eq!(duration_text(f1.time_to_fix().unwrap()), "2d 2h");
    }

    #[test]
    fn unverified_records_count_for_nothing() {
        let mut altered = row("2026-11-02T10:00:00Z", "fail", "f1", "");
        altered.integrity = Integrity::Altered;
        let mut forged_fix = row("2026-11-02T11:00:00Z", "pass", "r1", "f1");
        forged_fix.integrity = Integrity::NoChecksum;
        let rows = [
            row("2026-11-02T09:00:00Z", "fail", "f0", ""),
            altered,
            forged_fix,
        ];
        let spans = failure_spans(&rows);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].fingerprint, "f0");
        assert_eq!(spans[0].resolved, None);
    }
}
