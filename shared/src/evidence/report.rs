//! Reports over evidence records for auditors: the period's days as key prefixes, a row per
//! record, and CSV. The HTML page is [`super::html`].

use serde::Serialize;

use super::ComplianceFinding;
use crate::domain::time::Timestamp;

/// One evidence record, flattened for listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceRow {
    /// The object key.
    pub key: String,
    /// When the finding was made (RFC 3339).
    pub time: String,
    /// The check id.
    pub check: String,
    /// pass | fail | warn | error.
    pub status: String,
    /// critical | high | medium | low | info.
    pub severity: String,
    /// The Region.
    pub region: String,
    /// The resource (key ARN).
    pub resource: String,
    /// The triggering event's name and id, when there was one.
    pub event: String,
    /// Who made the change.
    pub actor: String,
    /// The finding's message.
    pub message: String,
    /// The statement the finding names (`Sid (index N)`), if any.
    pub statement: String,
    /// The account the finding is about.
    pub account: String,
    /// The guard's mode when it acted (dry-run, notify, remediate), if it did.
    pub mode: String,
    /// The remediation outcome (applied, planned, skipped, failed), if any.
    pub outcome: String,
    /// The remediation's actions, in words.
    pub actions: Vec<String>,
    /// The policy the remediation replaced, when it wrote one.
    pub previous_policy: Option<String>,
    /// The finding's fingerprint (`finding_info.uid`).
    pub fingerprint: String,
    /// On a resolution: the fingerprint of the failure it ends.
    pub resolves: String,
    /// When the finding reached the collector (RFC 3339): when it was detected.
    pub detected: String,
    /// The SHA-256 of the object as read (hex).
    pub sha256: String,
    /// The object's version id, in a versioned bucket.
    pub version_id: String,
    /// Until when Object Lock retains it (RFC 3339), when it does.
    pub retain_until: String,
    /// What verifying the object found; in JSON `integrity`, with `intact` beside it (true
    /// only when verified) for the scripts that read that.
    #[serde(flatten)]
    pub integrity: Integrity,
}

/// What verifying a stored object found, as a report shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// Every stored checksum matches the body.
    Verified,
    /// A stored checksum differs from the body's.
    Altered,
    /// Nothing stored to compare the body with.
    NoChecksum,
    /// The checksums match, but the signed digest chain holds other bytes or another version
    /// for it, or lists it nowhere (`evidence verify --chain`).
    NotInChain,
}

impl Integrity {
    /// From a verification's verdict.
    pub fn of(verdict: &super::Verdict) -> Integrity {
        match verdict {
            super::Verdict::Intact => Integrity::Verified,
            super::Verdict::Altered { .. } => Integrity::Altered,
            super::Verdict::MissingChecksum { .. } => Integrity::NoChecksum,
        }
    }

    /// The word in JSON.
    pub fn word(self) -> &'static str {
        match self {
            Integrity::Verified => "verified",
            Integrity::Altered => "altered",
            Integrity::NoChecksum => "no-checksum",
            Integrity::NotInChain => "chain-mismatch",
        }
    }

    /// As the reports label it.
    pub fn label(self) -> &'static str {
        match self {
            Integrity::Verified => "checksum verified",
            Integrity::Altered => "CHECKSUM DOES NOT MATCH",
            Integrity::NoChecksum => "NO CHECKSUM STORED",
            Integrity::NotInChain => "DOES NOT MATCH THE SIGNED DIGEST CHAIN",
        }
    }
}

impl Serialize for Integrity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut fields = serializer.serialize_struct("Integrity", 2)?;
        fields.serialize_field("intact", &(*self == Integrity::Verified))?;
        fields.serialize_field("integrity", self.word())?;
        fields.end()
    }
}

/// The status of a row whose object is not an evidence record.
pub const UNREADABLE: &str = "unreadable";

impl EvidenceRow {
    /// Reads a stored body. An object that is not a record the collector writes still gives a
    /// row (status [`UNREADABLE`], the reason as its message): a listing never drops one.
    pub fn from_body(key: &str, body: &[u8], integrity: Integrity) -> EvidenceRow {
        match serde_json::from_slice::<ComplianceFinding>(body) {
            Ok(record) if record.class_uid == super::CLASS_UID => {
                EvidenceRow::from_record(key, &record, integrity)
            }
            Ok(record) => EvidenceRow::unreadable(
                key,
                format!(
                    "not an idc-guard evidence record: class_uid {} is not {}",
                    record.class_uid,
                    super::CLASS_UID
                ),
                integrity,
            ),
            Err(e) => EvidenceRow::unreadable(
                key,
                format!("not an idc-guard evidence record: {e}"),
                integrity,
            ),
        }
    }

    /// A record written by the evidence collector, flattened.
    pub fn from_record(key: &str, record: &ComplianceFinding, integrity: Integrity) -> EvidenceRow {
        let u = &record.unmapped;
        let remediation = u.remediation.as_ref();
        EvidenceRow {
            key: key.to_owned(),
            time: Timestamp(record.time.div_euclid(1000)).to_string(),
            check: record.compliance.control.clone(),
            status: u.status.clone(),
            severity: u.severity.clone(),
            region: record.cloud.region.clone(),
            resource: record
                .resources
                .first()
                .map(|r| r.uid.clone())
                .unwrap_or_default(),
            event: u
                .trigger
                .as_ref()
                .map(|t| format!("{} {}", t.event_name, t.event_id))
                .unwrap_or_default(),
            actor: u
                .trigger
                .as_ref()
                .map(|t| t.actor.clone())
                .unwrap_or_default(),
            message: record.message.clone(),
            statement: u.statement.clone().unwrap_or_default(),
            account: record
                .cloud
                .account
                .as_ref()
                .map(|a| a.uid.clone())
                .unwrap_or_default(),
            mode: remediation.map(|r| r.mode.clone()).unwrap_or_default(),
            outcome: remediation.map(|r| r.outcome.clone()).unwrap_or_default(),
            actions: remediation.map(|r| r.actions.clone()).unwrap_or_default(),
            previous_policy: remediation.and_then(|r| r.previous_policy.clone()),
            fingerprint: record.finding_info.uid.clone(),
            resolves: u.resolves.clone().unwrap_or_default(),
            detected: u.source_event.time.clone(),
            sha256: String::new(),
            version_id: String::new(),
            retain_until: String::new(),
            integrity,
        }
    }

    fn unreadable(key: &str, reason: String, integrity: Integrity) -> EvidenceRow {
        EvidenceRow {
            key: key.to_owned(),
            time: String::new(),
            check: String::new(),
            status: UNREADABLE.to_owned(),
            severity: String::new(),
            region: String::new(),
            resource: String::new(),
            event: String::new(),
            actor: String::new(),
            message: reason,
            statement: String::new(),
            account: String::new(),
            mode: String::new(),
            outcome: String::new(),
            actions: Vec::new(),
            previous_policy: None,
            fingerprint: String::new(),
            resolves: String::new(),
            detected: String::new(),
            sha256: String::new(),
            version_id: String::new(),
            retain_until: String::new(),
            integrity,
        }
    }

    /// With what the store said about the object: its SHA-256 as read, version and retention.
    #[must_use]
    pub fn with_object(mut self, object: &crate::ports::StoredEvidence) -> EvidenceRow {
        self.sha256 = super::sha256_hex(&object.body);
        self.version_id = object.facts.version_id.clone().unwrap_or_default();
        self.retain_until = object
            .facts
            .retain_until
            .map(|t| t.to_string())
            .unwrap_or_default();
        self
    }

    /// Whether the object's stored checksums matched its body when it was read.
    pub fn intact(&self) -> bool {
        self.integrity == Integrity::Verified
    }

    /// Whether the row is a readable record whose checksum matched.
    pub fn verified(&self) -> bool {
        self.intact() && self.status != UNREADABLE
    }
}

/// A period the evidence cannot be read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// `to` is before `from`.
    #[error("the period ends before it starts")]
    Reversed,
    /// Over a year (the listing is bounded).
    #[error("the period is longer than 366 days; export it in parts")]
    TooLong,
}

/// The key prefixes of the days from `from` to `to` (inclusive, at most 366 days), in order.
pub fn day_prefixes(from: Timestamp, to: Timestamp) -> Result<Vec<String>, PeriodError> {
    let (first, last) = (from.0.div_euclid(86_400), to.0.div_euclid(86_400));
    if last < first {
        return Err(PeriodError::Reversed);
    }
    if last - first > 365 {
        return Err(PeriodError::TooLong);
    }
    Ok((first..=last)
        .map(|day| {
            let date = Timestamp(day * 86_400).to_string();
            let ymd = date.get(..10).unwrap_or_default().replace('-', "/");
            format!("{}{ymd}/", super::KEY_PREFIX)
        })
        .collect())
}

fn csv_field(s: &str) -> String {
    // RFC 4180; a leading =, +, -, @, tab or carriage return is quoted with a ' so
    // spreadsheets do not run it (OWASP's CSV injection list: a tab or CR can precede a formula).
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The rows as CSV (RFC 4180), one line per record.
pub fn to_csv(rows: &[EvidenceRow]) -> String {
    let mut out = String::from(
        "time,check,status,severity,region,resource,event,actor,outcome,actions,intact,key,message,integrity,fingerprint,resolves,detected,sha256,version_id,retain_until\r\n",
    );
    for r in rows {
        let fields = [
            r.time.as_str(),
            &r.check,
            &r.status,
            &r.severity,
            &r.region,
            &r.resource,
            &r.event,
            &r.actor,
            &r.outcome,
            &r.actions.join("; "),
            if r.intact() { "yes" } else { "NO" },
            &r.key,
            &r.message,
            r.integrity.word(),
            &r.fingerprint,
            &r.resolves,
            &r.detected,
            &r.sha256,
            &r.version_id,
            &r.retain_until,
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Evidence bodies for the reports' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::domain::time::Timestamp;
    use crate::finding::Status;

    /// The body the collector stores for a KP-ADMIN finding at `time` (seconds).
    pub(crate) fn record(status: Status, time: i64, message: &str) -> Vec<u8> {
        let finding = crate::finding::Finding {
            check: crate::finding::CheckId::KpAdmin,
            status,
            severity: crate::finding::Severity::Critical,
            region: "eu-west-1".into(),
            resource: "arn:aws:kms:eu-west-1:111122223333:key/mrk-1".into(),
            message: message.into(),
            statement: None,
            fingerprint: "fp".into(),
            trigger: Some(crate::finding::Trigger {
                event_id: "e1".into(),
                event_name: "PutKeyPolicy".into(),
                actor: "arn:aws:iam::1:role/A".into(),
                time: Timestamp(time).to_string(),
            }),
            remediation: Some(crate::finding::Remediation {
                mode: crate::config::Mode::Remediate,
                actions: vec!["kms:PutKeyPolicy in eu-west-1".into()],
                outcome: crate::finding::RemediationOutcome::Applied,
                previous_policy: Some("{\"Statement\":[]}".into()),
            }),
            resolves: None,
        };
        let ctx = crate::evidence::EvidenceContext {
            event_id: "eb-1".into(),
            event_time: Timestamp(time),
            account: None,
            vendor_name: "Example Corp".into(),
            product_version: "0.1.0".into(),
        };
        crate::evidence::record_body(&crate::evidence::ocsf_record(&finding, &ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::record;
    use super::*;
    use crate::finding::Status;

    #[test]
    fn rows_from_records() {
        let r = EvidenceRow::from_body(
            "k",
            &record(Status::Fail, 1_795_774_530, "m"),
            Integrity::Verified,
        );
        assert_eq!(r.time, "2026-11-27T10:15:30Z");
        assert_eq!((r.check.as_str(), r.status.as_str()), ("KP-ADMIN", "fail"));
        assert_eq!(r.event, "PutKeyPolicy e1");
        assert_eq!(r.actor, "arn:aws:iam::1:role/A");
        assert_eq!(r.previous_policy.as_deref(), Some("{\"Statement\":[]}"));
        assert!(r.verified());
    }

    #[test]
    fn an_object_that_is_not_a_record_is_a_row_that_says_so() {
        for (body, why) in [
            (&b"{\"class_uid\": 1}"[..], "missing field"),
            (b"not json", "expected"),
            (b"", "EOF"),
        ] {
            let r = EvidenceRow::from_body("k", body, Integrity::Verified);
            assert_eq!((r.key.as_str(), r.status.as_str()), ("k", UNREADABLE));
            assert!(
                r.message.starts_with("not an idc-guard evidence record")
                    && r.message.contains(why),
                "{}",
                r.message
            );
            assert!(!r.verified());
        }
        let mut other: serde_json::Value =
            serde_json::from_slice(&record(Status::Pass, 0, "m")).unwrap();
        other["class_uid"] = 2004.into();
        let r = EvidenceRow::from_body("k", other.to_string().as_bytes(), Integrity::Verified);
        assert_eq!(r.status, UNREADABLE);
        assert!(r.message.contains("class_uid 2004"), "{}", r.message);
    }

    #[test]
    fn days_of_a_period() {
        let d = |s: &str| Timestamp::parse(s).unwrap();
        assert_eq!(
            day_prefixes(d("2026-11-30"), d("2026-12-01T23:00:00Z")).unwrap(),
            ["evidence/2026/11/30/", "evidence/2026/12/01/"]
        );
        assert_eq!(
            day_prefixes(d("2026-12-02"), d("2026-12-01")),
            Err(PeriodError::Reversed)
        );
        assert_eq!(
            day_prefixes(d("2025-01-01"), d("2026-12-01")),
            Err(PeriodError::TooLong)
        );
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut r = EvidenceRow::from_body(
            "k",
            &record(Status::Fail, 0, "a, \"b\"\nc"),
            Integrity::Altered,
        );
        r.actor = "=HYPERLINK(\"x\")".into();
        let csv = to_csv(&[r]);
        let line = csv.lines().nth(1).unwrap();
        assert!(csv.contains("\"a, \"\"b\"\"\nc\""), "{csv}");
        assert!(line.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{line}");
        assert!(line.contains(",NO,"), "{line}");
        for lead in ["\t=1+1", "\r=1+1", "+1", "-1", "@SUM(A1)"] {
            assert!(
                csv_field(lead).trim_start_matches('"').starts_with('\''),
                "{lead:?} is not defused: {}",
                csv_field(lead)
            );
        }
        assert_eq!(csv_field("plain"), "plain");
    }
}
