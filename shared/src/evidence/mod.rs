//! Audit evidence (pure): each finding as an OCSF 1.6 Compliance Finding, the object key it is
//! stored under, and the SHA-256 that proves the stored body unaltered.
//!
//! The record holds everything the finding says, so the finding can be rebuilt from it:
//! OCSF attributes where OCSF has one, the rest (the statement, the trigger, the remediation
//! with the replaced policy) under `unmapped`. Nothing here reads a clock: the times come in.

pub mod chain;
pub mod controls;
pub mod digest;
pub mod html;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod ocsf;
pub mod report;

pub use ocsf::ComplianceFinding;
use ocsf::{
    Account, Cloud, Compliance, FindingInfo, Metadata, Product, RemediationRecord, Resource,
    SourceEvent, Unmapped,
};
use sha2::{Digest, Sha256};

use crate::domain::time::Timestamp;
use crate::finding::{Finding, Severity, Status};

/// OCSF schema version of the records.
pub const OCSF_VERSION: &str = "1.6.0";
/// OCSF class: Compliance Finding.
pub const CLASS_UID: u32 = 2003;
/// OCSF category: Findings.
pub const CATEGORY_UID: u32 = 2;
/// OCSF activity: Create (each record is written once, never updated).
pub const ACTIVITY_CREATE: u32 = 1;
/// Where every record is stored.
pub const KEY_PREFIX: &str = "evidence/";
/// The product name in `metadata.product`.
pub const PRODUCT_NAME: &str = "idc-guard";

/// What the record needs besides the finding: where it came from and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceContext {
    /// The id of the event that carried the finding (EventBridge `id`).
    pub event_id: String,
    /// The event's time (EventBridge `time`), used when the finding has no trigger time.
    pub event_time: Timestamp,
    /// The AWS account the finding is about (EventBridge `account`, else the resource ARN's).
    pub account: Option<String>,
    /// `metadata.product.vendor_name`.
    pub vendor_name: String,
    /// `metadata.product.version` (the idc-guard version that wrote the record).
    pub product_version: String,
}

/// When the finding's change happened: the trigger's time, else the event's.
pub fn finding_time(finding: &Finding, fallback: Timestamp) -> Timestamp {
    finding
        .trigger
        .as_ref()
        .and_then(|t| Timestamp::parse(&t.time))
        .unwrap_or(fallback)
}

/// The id that makes a record unique per finding and change: the trigger's CloudTrail event
/// id (the same change republished keeps it), else the carrying event's id.
pub fn evidence_id(finding: &Finding, event_id: &str) -> String {
    let change = finding
        .trigger
        .as_ref()
        .map(|t| t.event_id.as_str())
        .filter(|id| !id.is_empty())
        .unwrap_or(event_id);
    format!("{}-{}", key_safe(&finding.fingerprint), key_safe(change))
}

/// The object key: `evidence/YYYY/MM/DD/<fingerprint>-<event id>.json`, the date (UTC) from
/// the trigger's time, else `fallback_time` (the event's time).
pub fn evidence_key(finding: &Finding, event_id: &str, fallback_time: Timestamp) -> String {
    let time = finding_time(finding, fallback_time).to_string();
    // `YYYY-MM-DDTHH:MM:SSZ`: the first ten characters are the date.
    let date = time.get(..10).unwrap_or("0000-00-00").replace('-', "/");
    format!("{KEY_PREFIX}{date}/{}.json", evidence_id(finding, event_id))
}

/// Keeps a key segment to characters safe in S3 keys and file names; anything else is `_`,
/// and an empty segment is `none`.
fn key_safe(text: &str) -> String {
    if text.is_empty() {
        return "none".to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub use crate::domain::arn::account_from_arn;

/// SHA-256 of `bytes`, lower-case hex (the `sha256` object metadata).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn severity_id(s: Severity) -> (u32, &'static str) {
    match s {
        Severity::Info => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// `compliance.status_id`: 1 Pass, 2 Warning, 3 Fail; a check that could not run is 99 Other
/// with the status `Error`.
fn compliance_status(s: Status) -> (u32, &'static str) {
    match s {
        Status::Pass => (1, "Pass"),
        Status::Warn => (2, "Warning"),
        Status::Fail => (3, "Fail"),
        Status::Error => (99, "Error"),
    }
}

/// The finding's own status (`status_id`): a passing check is Resolved, anything else New.
fn finding_status(s: Status) -> (u32, &'static str) {
    match s {
        Status::Pass => (4, "Resolved"),
        Status::Fail | Status::Warn | Status::Error => (1, "New"),
    }
}

/// The resource type, from the ARN's service.
fn resource_type(arn: &str) -> &'static str {
    match arn.split(':').nth(2) {
        Some("kms") => "AWS::KMS::Key",
        Some("sso") => "AWS::SSO::Instance",
        Some("identitystore") => "AWS::IdentityStore::IdentityStore",
        _ => "Other",
    }
}

/// The finding as an OCSF 1.6 Compliance Finding (class 2003, activity Create).
///
/// `time` and `finding_info.created_time` are epoch milliseconds of [`finding_time`];
/// `metadata.uid` is [`evidence_id`]. The remediation (mode, actions, outcome and the policy it
/// replaced) has no OCSF attribute for what was *done* and goes under `unmapped.remediation`.
pub fn ocsf_record(finding: &Finding, ctx: &EvidenceContext) -> ComplianceFinding {
    let time_ms = finding_time(finding, ctx.event_time).0.saturating_mul(1000);
    let (severity_id, severity) = severity_id(finding.severity);
    let (compliance_id, compliance) = compliance_status(finding.status);
    let (status_id, status) = finding_status(finding.status);
    let account = ctx
        .account
        .clone()
        .or_else(|| account_from_arn(&finding.resource));
    ComplianceFinding {
        class_uid: CLASS_UID,
        class_name: "Compliance Finding".to_owned(),
        category_uid: CATEGORY_UID,
        category_name: "Findings".to_owned(),
        activity_id: ACTIVITY_CREATE,
        activity_name: "Create".to_owned(),
        type_uid: CLASS_UID * 100 + ACTIVITY_CREATE,
        type_name: "Compliance Finding: Create".to_owned(),
        time: time_ms,
        severity_id,
        severity: severity.to_owned(),
        status_id,
        status: status.to_owned(),
        message: finding.message.clone(),
        compliance: Compliance {
            control: finding.check.id().to_owned(),
            requirements: vec![finding.check.title().to_owned()],
            standards: vec![PRODUCT_NAME.to_owned()],
            status_id: compliance_id,
            status: compliance.to_owned(),
        },
        finding_info: FindingInfo {
            uid: finding.fingerprint.clone(),
            title: format!("{} {} in {}", finding.check, compliance, finding.region),
            desc: finding.message.clone(),
            created_time: time_ms,
        },
        resources: vec![Resource {
            uid: finding.resource.clone(),
            kind: resource_type(&finding.resource).to_owned(),
            region: finding.region.clone(),
        }],
        cloud: Cloud {
            provider: "AWS".to_owned(),
            region: finding.region.clone(),
            account: account.map(|uid| Account {
                uid,
                kind: "AWS Account".to_owned(),
                type_id: 10,
            }),
        },
        metadata: Metadata {
            version: OCSF_VERSION.to_owned(),
            uid: evidence_id(finding, &ctx.event_id),
            product: Product {
                name: PRODUCT_NAME.to_owned(),
                vendor_name: ctx.vendor_name.clone(),
                version: ctx.product_version.clone(),
            },
        },
        unmapped: Unmapped {
            check: finding.check.id().to_owned(),
            status: finding.status.as_str().to_owned(),
            severity: finding.severity.as_str().to_owned(),
            statement: finding.statement.clone(),
            trigger: finding.trigger.clone(),
            remediation: finding.remediation.as_ref().map(|r| RemediationRecord {
                mode: r.mode.to_string(),
                actions: r.actions.clone(),
                outcome: r.outcome.as_str().to_owned(),
                // Kept as the exact text KMS returned: the evidence of what was replaced.
                previous_policy: r.previous_policy.clone(),
            }),
            resolves: finding.resolves.clone(),
            source_event: SourceEvent {
                id: ctx.event_id.clone(),
                time: ctx.event_time.to_string(),
            },
        },
    }
}

/// The stored body of a record: pretty JSON with a final newline (fields in a fixed order, so
/// the same finding and context always give the same bytes and checksum).
pub fn record_body(record: &ComplianceFinding) -> Vec<u8> {
    let mut body = serde_json::to_vec_pretty(record).unwrap_or_default();
    body.push(b'\n');
    body
}

pub use crate::ports::StoredEvidence;

/// What verifying one object found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Verdict {
    /// Every stored checksum matches the body.
    Intact,
    /// A stored checksum differs from the body's.
    Altered {
        /// The body's SHA-256, hex.
        actual: String,
        /// Which stored value differs (`checksum`, `metadata`) and what it says.
        mismatches: Vec<(String, String)>,
    },
    /// The object carries no SHA-256 to compare with.
    MissingChecksum {
        /// The body's SHA-256, hex.
        actual: String,
    },
}

/// Recomputes the body's SHA-256 and compares it with every stored value.
pub fn verify(object: &StoredEvidence) -> Verdict {
    let actual = sha256_hex(&object.body);
    let stored: Vec<(&str, &String)> = [
        ("checksum", object.checksum_sha256.as_ref()),
        ("metadata", object.metadata_sha256.as_ref()),
    ]
    .into_iter()
    .filter_map(|(what, v)| v.map(|v| (what, v)))
    .collect();
    if stored.is_empty() {
        return Verdict::MissingChecksum { actual };
    }
    let mismatches: Vec<(String, String)> = stored
        .into_iter()
        .filter(|(_, v)| !v.eq_ignore_ascii_case(&actual))
        .map(|(what, v)| (what.to_owned(), v.clone()))
        .collect();
    if mismatches.is_empty() {
        Verdict::Intact
    } else {
        Verdict::Altered { actual, mismatches }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Remediation, Trigger};

    fn as_json(record: &ComplianceFinding) -> serde_json::Value {
        serde_json::to_value(record).unwrap()
    }

    fn finding() -> Finding {
        Finding {
            check: crate::finding::CheckId::KpOrgViaService,
            status: Status::Fail,
            severity: Severity::High,
            region: "us-west-2".into(),
            resource: "arn:aws:kms:us-west-2:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
                .into(),
            message: "org principals cannot decrypt via sso.us-west-2.amazonaws.com".into(),
            statement: Some("AllowOrgPrincipals (index 3)".into()),
            fingerprint: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            trigger: Some(Trigger {
                event_id: "c0ffee00-0000-4000-8000-000000000001".into(),
                event_name: "PutKeyPolicy".into(),
                actor: "arn:aws:iam::111122223333:role/Admin".into(),
                time: "2026-11-27T10:15:30Z".into(),
            }),
            remediation: Some(Remediation {
                mode: crate::config::Mode::Remediate,
                actions: vec!["put the model statement AllowOrgPrincipals back".into()],
                outcome: crate::finding::RemediationOutcome::Applied,
                previous_policy: Some("{\"Version\":\"2012-10-17\",\"Statement\":[]}".into()),
            }),
            resolves: None,
        }
    }

    fn ctx() -> EvidenceContext {
        EvidenceContext {
            event_id: "eb-event-1".into(),
            event_time: Timestamp::parse("2026-11-28T00:00:05Z").unwrap(),
            account: Some("111122223333".into()),
            vendor_name: "Example Corp".into(),
            product_version: "0.1.0".into(),
        }
    }

    #[test]
    fn ocsf_record_snapshot() {
        insta::assert_json_snapshot!(ocsf_record(&finding(), &ctx()));
    }

    #[test]
    fn a_stored_body_reads_back_as_the_record_written() {
        for remediation in [true, false] {
            let mut f = finding();
            if !remediation {
                f.remediation = None;
                f.trigger = None;
            }
            let record = ocsf_record(&f, &ctx());
            let body = record_body(&record);
            let read: ComplianceFinding = serde_json::from_slice(&body).unwrap();
            assert_eq!(read, record);
            assert_eq!(record_body(&read), body, "same record, same bytes");
        }
    }

    #[test]
    fn a_resolution_record_is_resolved_and_names_the_failure_it_ends() {
        let mut f = finding();
        f.status = Status::Pass;
        f.remediation = None;
        f.resolves = Some("aa11".into());
        let r = as_json(&ocsf_record(&f, &ctx()));
        assert_eq!(
            (r["status_id"].clone(), r["status"].clone()),
            (4.into(), "Resolved".into())
        );
        assert_eq!(r["unmapped"]["resolves"], "aa11");
        assert!(
            as_json(&ocsf_record(&finding(), &ctx()))["unmapped"]
                .get("resolves")
                .is_none()
        );
    }

    #[test]
    fn ocsf_core_attributes() {
        let r = as_json(&ocsf_record(&finding(), &ctx()));
        assert_eq!(r["class_uid"], 2003);
        assert_eq!(r["category_uid"], 2);
        assert_eq!(r["type_uid"], 200_301);
        // 2026-11-27T10:15:30Z in milliseconds: the trigger's time, not the event's.
        assert_eq!(r["time"], 1_795_774_530_000i64);
        assert_eq!(r["severity_id"], 4);
        assert_eq!(r["compliance"]["status_id"], 3);
        assert_eq!(r["compliance"]["control"], "KP-ORG-VIA-SERVICE");
        assert_eq!(r["finding_info"]["uid"], "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
        assert_eq!(r["cloud"]["account"]["uid"], "111122223333");
        assert_eq!(r["metadata"]["version"], "1.6.0");
        assert_eq!(
            r["unmapped"]["remediation"]["previous_policy"],
            "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
        );
        assert_eq!(r["unmapped"]["remediation"]["outcome"], "applied");
    }

    #[test]
    fn statuses_and_severities_map() {
        let mut f = finding();
        for (status, id) in [
            (Status::Pass, 1),
            (Status::Warn, 2),
            (Status::Fail, 3),
            (Status::Error, 99),
        ] {
            f.status = status;
            assert_eq!(
                as_json(&ocsf_record(&f, &ctx()))["compliance"]["status_id"],
                id
            );
        }
        for (severity, id) in [
            (Severity::Info, 1),
            (Severity::Low, 2),
            (Severity::Medium, 3),
            (Severity::High, 4),
            (Severity::Critical, 5),
        ] {
            f.severity = severity;
            assert_eq!(as_json(&ocsf_record(&f, &ctx()))["severity_id"], id);
        }
    }

    #[test]
    fn without_trigger_the_event_time_and_id_are_used() {
        let mut f = finding();
        f.trigger = None;
        f.remediation = None;
        let mut c = ctx();
        c.account = None;
        let r = as_json(&ocsf_record(&f, &c));
        assert_eq!(r["time"], 1_795_824_005_000i64);
        // The account comes from the resource ARN when the event has none.
        assert_eq!(r["cloud"]["account"]["uid"], "111122223333");
        assert!(r["unmapped"].get("remediation").is_none());
        assert_eq!(
            evidence_key(&f, "eb-event-1", c.event_time),
            "evidence/2026/11/28/0f1e2d3c4b5a69788796a5b4c3d2e1f0-eb-event-1.json"
        );
    }

    #[test]
    fn key_uses_the_trigger_date_and_id() {
        assert_eq!(
            evidence_key(&finding(), "eb-event-1", ctx().event_time),
            "evidence/2026/11/27/0f1e2d3c4b5a69788796a5b4c3d2e1f0-c0ffee00-0000-4000-8000-000000000001.json"
        );
        let mut f = finding();
        if let Some(t) = f.trigger.as_mut() {
            t.time = "not a time".into();
            t.event_id = "../x y".into();
        }
        assert_eq!(
            evidence_key(&f, "e", Timestamp(0)),
            "evidence/1970/01/01/0f1e2d3c4b5a69788796a5b4c3d2e1f0-.._x_y.json"
        );
    }

    #[test]
    fn sha256_is_the_known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bodies_are_deterministic() {
        let a = record_body(&ocsf_record(&finding(), &ctx()));
        assert_eq!(a, record_body(&ocsf_record(&finding(), &ctx())));
        assert_eq!(a.last(), Some(&b'\n'));
    }

    #[test]
    fn verify_detects_alteration_and_missing_checksums() {
        let body = b"{}\n".to_vec();
        let good = sha256_hex(&body);
        let mut o = StoredEvidence {
            key: "k".into(),
            body,
            checksum_sha256: Some(good.clone()),
            metadata_sha256: Some(good.to_uppercase()),
            facts: crate::ports::ObjectFacts::default(),
        };
        assert_eq!(verify(&o), Verdict::Intact);
        o.metadata_sha256 = Some("00".into());
        assert!(
            matches!(verify(&o), Verdict::Altered { ref mismatches, .. } if mismatches.len() == 1 && mismatches[0].0 == "metadata")
        );
        o.checksum_sha256 = None;
        o.metadata_sha256 = None;
        assert_eq!(verify(&o), Verdict::MissingChecksum { actual: good });
    }

    #[test]
    fn accounts_from_arns() {
        assert_eq!(
            account_from_arn("arn:aws:kms:us-east-1:111122223333:key/x").as_deref(),
            Some("111122223333")
        );
        assert_eq!(account_from_arn("arn:aws:sso:::instance/ssoins-1"), None);
        assert_eq!(account_from_arn("nope"), None);
    }
}
