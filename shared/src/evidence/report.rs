//! Reports over evidence records for auditors: the period's days as key prefixes, a row per
//! record, CSV, and one self-contained HTML page (no scripts, no external resources) that
//! opens offline.

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Serialize;
use serde_json::Value;

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
        }
    }

    /// As the reports label it.
    pub fn label(self) -> &'static str {
        match self {
            Integrity::Verified => "checksum verified",
            Integrity::Altered => "CHECKSUM DOES NOT MATCH",
            Integrity::NoChecksum => "NO CHECKSUM STORED",
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
            integrity,
        }
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
        "time,check,status,severity,region,resource,event,actor,outcome,actions,intact,key,message\r\n",
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
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}.fail,.error,.unreadable{color:#a00}.warn{color:#a60}.pass{color:#060}pre{white-space:pre-wrap;background:#f4f4f4;padding:8px}";

/// What a report says about itself: what it covers, when and by what it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHeader {
    /// The title (the bucket and the period).
    pub title: String,
    /// The period and filters, in words.
    pub scope: String,
    /// When the report was generated.
    pub generated: Timestamp,
    /// The idc-guard version that generated it.
    pub version: String,
}

/// One self-contained HTML report: a summary by check and Region, the timeline, and each
/// finding with its remediation and the policy it replaced. Every value is escaped by the
/// template (maud), never by hand.
pub fn to_html(rows: &[EvidenceRow], header: &ReportHeader) -> String {
    let title = header.title.as_str();
    let mut sorted: Vec<&EvidenceRow> = rows.iter().collect();
    sorted.sort_by(|a, b| (&a.time, &a.key).cmp(&(&b.time, &b.key)));
    let mut summary: BTreeMap<(&str, &str), BTreeMap<&str, usize>> = BTreeMap::new();
    for r in &sorted {
        *summary
            .entry((&r.check, &r.region))
            .or_default()
            .entry(&r.status)
            .or_default() += 1;
    }
    let altered = rows
        .iter()
        .filter(|r| r.integrity == Integrity::Altered)
        .count();
    let unchecked = rows
        .iter()
        .filter(|r| r.integrity == Integrity::NoChecksum)
        .count();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (title) }
                p {
                    "Scope: " (header.scope) ". Generated " (header.generated)
                    " by idc-guard " (header.version) "."
                }
                p {
                    (rows.len()) " record(s); " (altered) " with a checksum that does not match; "
                    (unchecked) " with no checksum stored."
                }
                h2 { "Summary by check and Region" }
                table {
                    tr { th { "Check" } th { "Region" } th { "Results" } }
                    @for ((check, region), counts) in &summary {
                        tr {
                            td { (check) }
                            td { (region) }
                            td { (counts.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
                h2 { "Timeline" }
                table {
                    tr { th { "Time" } th { "Check" } th { "Status" } th { "Region" } th { "Event" } th { "Outcome" } }
                    @for (i, r) in sorted.iter().enumerate() {
                        tr {
                            td { (r.time) }
                            td { a href={ "#f" (i) } { (r.check) } }
                            td class=(r.status) { (r.status) }
                            td { (r.region) }
                            td { (r.event) }
                            td { (r.outcome) }
                        }
                    }
                }
                h2 { "Findings" }
                @for (i, r) in sorted.iter().enumerate() {
                    (finding_section(i, r))
                }
            }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}

/// One finding's section: what, where, why, and what was done.
fn finding_section(i: usize, r: &EvidenceRow) -> Markup {
    let before = r.previous_policy.as_ref().map(|before| {
        serde_json::from_str::<Value>(before)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| before.clone())
    });
    html! {
        h3 id={ "f" (i) } {
            (r.check) " " span class=(r.status) { (r.status) } " in " (r.region) ", " (r.time)
        }
        p { (r.message) }
        p {
            "Severity: " (r.severity) br;
            "Resource: " (r.resource)
            @if !r.account.is_empty() { " (account " (r.account) ")" }
            br;
            @if !r.statement.is_empty() { "Statement: " (r.statement) br; }
            @if !r.event.is_empty() { "Event: " (r.event) br; }
            @if !r.actor.is_empty() { "Actor: " (r.actor) br; }
            "Object: " (r.key) " ("
            (r.integrity.label())
            ")"
        }
        @if !r.actions.is_empty() || !r.outcome.is_empty() {
            p {
                "Remediation: " (r.outcome)
                @if !r.mode.is_empty() { " (mode " (r.mode) ")" }
            }
            ul { @for a in &r.actions { li { (a) } } }
        }
        @if let Some(before) = before {
            p { "Policy before the remediation (after: the live policy, which the finding verified):" }
            pre { (before) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::evidence::{EvidenceContext, ocsf_record, record_body};
    use crate::finding::{
        CheckId, Finding, Remediation, RemediationOutcome, Severity, Status, Trigger,
    };

    /// The body the collector stores for a KP-ADMIN finding at `time` (seconds).
    fn record(status: Status, time: i64, message: &str) -> Vec<u8> {
        let finding = Finding {
            check: CheckId::KpAdmin,
            status,
            severity: Severity::Critical,
            region: "eu-west-1".into(),
            resource: "arn:aws:kms:eu-west-1:111122223333:key/mrk-1".into(),
            message: message.into(),
            statement: None,
            fingerprint: "fp".into(),
            trigger: Some(Trigger {
                event_id: "e1".into(),
                event_name: "PutKeyPolicy".into(),
                actor: "arn:aws:iam::1:role/A".into(),
                time: Timestamp(time).to_string(),
            }),
            remediation: Some(Remediation {
                mode: Mode::Remediate,
                actions: vec!["kms:PutKeyPolicy in eu-west-1".into()],
                outcome: RemediationOutcome::Applied,
                previous_policy: Some("{\"Statement\":[]}".into()),
            }),
            resolves: None,
        };
        let ctx = EvidenceContext {
            event_id: "eb-1".into(),
            event_time: Timestamp(time),
            account: None,
            vendor_name: "Example Corp".into(),
            product_version: "0.1.0".into(),
        };
        record_body(&ocsf_record(&finding, &ctx))
    }

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
        let mut other: Value = serde_json::from_slice(&record(Status::Pass, 0, "m")).unwrap();
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

    #[test]
    fn html_is_escaped_and_self_contained() {
        let rows = [
            EvidenceRow::from_body(
                "k1",
                &record(Status::Fail, 2, "<script>alert(1)</script>"),
                Integrity::Verified,
            ),
            EvidenceRow::from_body("k2", &record(Status::Pass, 1, "ok"), Integrity::Altered),
        ];
        let html = to_html(&rows, &header("Evidence & report"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("<title>Evidence &amp; report</title>"));
        assert!(
            html.contains("1 fail, 1 pass"),
            "summary by check and Region"
        );
        assert!(html.contains("1 with a checksum that does not match; 0 with no checksum stored"));
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
        // The timeline is in time order: the pass (t=1 s) before the fail (t=2 s).
        let (pass, fail) = (
            html.find("class=\"pass\">pass").unwrap(),
            html.find("class=\"fail\">fail").unwrap(),
        );
        assert!(pass < fail);
    }

    #[test]
    fn a_record_without_a_checksum_is_not_called_altered() {
        let row = EvidenceRow::from_body("k", b"{}", Integrity::NoChecksum);
        assert!(!row.intact() && !row.verified());
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(
            (&json["intact"], &json["integrity"]),
            (&Value::Bool(false), &Value::from("no-checksum"))
        );
        let html = to_html(&[row], &header("t"));
        assert!(html.contains("NO CHECKSUM STORED"), "{html}");
        assert!(!html.contains("CHECKSUM DOES NOT MATCH"), "{html}");
        assert!(html.contains("0 with a checksum that does not match; 1 with no checksum stored"));
    }

    fn header(title: &str) -> ReportHeader {
        ReportHeader {
            title: title.to_owned(),
            scope: "2026-11-27 to 2026-11-28".to_owned(),
            generated: Timestamp(1_795_824_000),
            version: "0.1.0".to_owned(),
        }
    }

    #[test]
    fn the_report_says_what_it_is_and_each_record_its_context() {
        let rows = [
            EvidenceRow::from_body("k1", &record(Status::Fail, 2, "m"), Integrity::Verified),
            EvidenceRow::from_body("k2", b"{}", Integrity::Verified),
        ];
        let html = to_html(&rows, &header("t"));
        assert!(
            html.contains(
                "Scope: 2026-11-27 to 2026-11-28. Generated 2026-11-28T00:00:00Z by idc-guard 0.1.0."
            ),
            "{html}"
        );
        assert!(html.contains("Severity: critical"), "{html}");
        assert!(
            html.contains("Remediation: applied (mode remediate)"),
            "{html}"
        );
        assert!(html.contains("Event: PutKeyPolicy e1"), "{html}");
        // The unreadable row has no event or actor: no empty lines for them.
        assert_eq!(html.matches("Event: ").count(), 1, "{html}");
        assert_eq!(html.matches("Actor: ").count(), 1, "{html}");
    }
}
