//! Findings for AWS Security Hub, in the AWS Security Finding Format (ASFF), and their import
//! with `BatchImportFindings` in batches of at most 100, retrying the findings a batch
//! reports as failed.
//!
//! One Security Hub finding per failure: its `Id` comes from the failure's fingerprint, so a
//! redelivery or a later report of the same failure updates it in place, and the resolution
//! (which names the failure in `resolves`) updates the same `Id` to `PASSED`, `ARCHIVED`.
//! A plain pass closes nothing and is not imported.

use std::collections::BTreeMap;
use std::future::Future;

use serde::Serialize;

use crate::domain::arn::account_from_arn;
use crate::domain::time::Timestamp;
use crate::finding::{Finding, Severity, Status};
use crate::ports::PortError;

/// `BatchImportFindings` takes at most this many findings per call.
pub const MAX_BATCH: usize = 100;
/// How many times a batch's failed findings are sent again before the import fails.
pub const IMPORT_ATTEMPTS: usize = 3;
/// The only ASFF schema version.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// The finding type: a configuration check against AWS's practices.
pub const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices";

// ASFF's documented length limits.
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 1024;
const MAX_RECOMMENDATION: usize = 512;

/// One ASFF finding, with the attributes idc-guard sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AsffFinding {
    /// `idc-guard/<fingerprint of the failure>`.
    pub id: String,
    /// The account's default product: `arn:<partition>:securityhub:<Region>:<account>:product/<account>/default`.
    pub product_arn: String,
    /// `idc-guard/<check>`.
    pub generator_id: String,
    /// The account the resource is in.
    pub aws_account_id: String,
    /// [`FINDING_TYPE`].
    pub types: Vec<String>,
    /// When the failure's change happened (RFC 3339).
    pub created_at: String,
    /// When this state was observed (RFC 3339).
    pub updated_at: String,
    /// `CRITICAL` .. `INFORMATIONAL`.
    pub severity_label: &'static str,
    /// `<check>: <title>`.
    pub title: String,
    /// The finding's message.
    pub description: String,
    /// The key or the instance.
    pub resource: AsffResource,
    /// `FAILED`, `WARNING`, `NOT_AVAILABLE` or `PASSED`.
    pub compliance_status: &'static str,
    /// `ACTIVE`, or `ARCHIVED` once resolved.
    pub record_state: &'static str,
    /// What to do, and where the check is described.
    pub recommendation: String,
    /// idc-guard's own identifiers.
    pub product_fields: BTreeMap<String, String>,
}

/// `Resources[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AsffResource {
    /// `AwsKmsKey` or `Other`.
    pub kind: &'static str,
    /// The ARN.
    pub id: String,
    /// The resource's Region.
    pub region: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
}

/// Why a finding is not imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotImported {
    /// A pass that closes no failure: nothing to record.
    #[error("a pass that resolves nothing")]
    PlainPass,
    /// No account to file it under (neither the event nor the resource names one).
    #[error("no account: neither the event nor the resource ARN {0} names one")]
    NoAccount(String),
}

/// Where a finding is filed: the Region of the Security Hub it is imported into and the
/// account, when the event names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubTarget {
    /// The Security Hub Region (the exporter's).
    pub region: String,
    /// The account from the event envelope.
    pub account: Option<String>,
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
        Severity::Info => "INFORMATIONAL",
    }
}

/// The ASFF finding for `finding`, observed at `observed`.
pub fn asff_finding(
    finding: &Finding,
    target: &HubTarget,
    observed: Timestamp,
) -> Result<AsffFinding, NotImported> {
    let resolution = finding.resolves.as_deref();
    if finding.status == Status::Pass && resolution.is_none() {
        return Err(NotImported::PlainPass);
    }
    let account = target
        .account
        .clone()
        .or_else(|| account_from_arn(&finding.resource))
        .ok_or_else(|| NotImported::NoAccount(finding.resource.clone()))?;
    let partition = finding
        .resource
        .strip_prefix("arn:")
        .and_then(|rest| rest.split(':').next())
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
        .to_owned();
    let check = finding.check;
    let (compliance_status, record_state, severity_label) = match finding.status {
        Status::Pass => ("PASSED", "ARCHIVED", "INFORMATIONAL"),
        Status::Fail => ("FAILED", "ACTIVE", severity_label(finding.severity)),
        Status::Warn => ("WARNING", "ACTIVE", severity_label(finding.severity)),
        Status::Error => ("NOT_AVAILABLE", "ACTIVE", severity_label(finding.severity)),
    };
    // Security Hub ignores an update whose UpdatedAt is not later than the stored one, and a
    // resolution is often published within the same second as its failure (RFC 3339 here has
    // whole seconds): the resolution is stamped one second later.
    let updated_at = if resolution.is_some() {
        observed.plus(1).to_string()
    } else {
        observed.to_string()
    };
    let created_at = finding
        .trigger
        .as_ref()
        .map(|t| t.time.clone())
        .filter(|t| Timestamp::parse(t).is_some())
        .unwrap_or_else(|| updated_at.clone());
    Ok(AsffFinding {
        id: format!("idc-guard/{}", resolution.unwrap_or(&finding.fingerprint)),
        product_arn: format!(
            "arn:{partition}:securityhub:{}:{account}:product/{account}/default",
            target.region
        ),
        generator_id: format!("idc-guard/{check}"),
        aws_account_id: account,
        types: vec![FINDING_TYPE.to_owned()],
        created_at,
        updated_at,
        severity_label,
        title: truncate(&format!("{check}: {}", check.title()), MAX_TITLE),
        description: truncate(&finding.message, MAX_DESCRIPTION),
        resource: AsffResource {
            kind: if finding
                .resource
                .starts_with(&format!("arn:{partition}:kms:"))
            {
                "AwsKmsKey"
            } else {
                "Other"
            },
            id: finding.resource.clone(),
            region: finding.region.clone(),
            partition,
        },
        compliance_status,
        record_state,
        recommendation: truncate(
            &format!(
                "{} See idc-guard's {} for the check and how to fix it.",
                check.consequence(),
                check.doc_anchor()
            ),
            MAX_RECOMMENDATION,
        ),
        product_fields: product_fields(finding),
    })
}

/// idc-guard's identifiers, for a search in Security Hub.
fn product_fields(finding: &Finding) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    fields.insert("idc-guard/check".to_owned(), finding.check.id().to_owned());
    fields.insert(
        "idc-guard/fingerprint".to_owned(),
        finding.fingerprint.clone(),
    );
    if let Some(failure) = &finding.resolves {
        fields.insert("idc-guard/resolves".to_owned(), failure.clone());
    }
    if let Some(t) = &finding.trigger {
        fields.insert("idc-guard/event-id".to_owned(), t.event_id.clone());
    }
    fields
}

/// A finding a batch import refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFailure {
    /// The finding's `Id`.
    pub id: String,
    /// Security Hub's error code.
    pub code: String,
    /// Its message.
    pub message: String,
}

/// Security Hub's `BatchImportFindings`: one call, at most [`MAX_BATCH`] findings; the
/// findings it refused (`FailedFindings`).
pub trait FindingImport: Send + Sync {
    /// Imports `findings` (at most [`MAX_BATCH`]).
    fn import(
        &self,
        findings: &[AsffFinding],
    ) -> impl Future<Output = Result<Vec<ImportFailure>, PortError>> + Send;
}

/// Why an import did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// A call failed (see [`PortError::retryable`]).
    #[error("securityhub:BatchImportFindings: {0}")]
    Call(#[from] PortError),
    /// Findings still refused after [`IMPORT_ATTEMPTS`] attempts.
    #[error("{} finding(s) refused after {IMPORT_ATTEMPTS} attempts: {}", .0.len(), describe(.0))]
    Refused(Vec<ImportFailure>),
}

fn describe(failures: &[ImportFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("{} ({}: {})", f.id, f.code, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Imports `findings` in batches of at most [`MAX_BATCH`], sending what a batch refuses
/// again, up to [`IMPORT_ATTEMPTS`] times; returns how many were imported.
pub async fn import_all<H: FindingImport>(
    hub: &H,
    findings: &[AsffFinding],
) -> Result<usize, ImportError> {
    let mut refused = Vec::new();
    for batch in findings.chunks(MAX_BATCH) {
        let mut pending: Vec<AsffFinding> = batch.to_vec();
        let mut failures = Vec::new();
        for _ in 0..IMPORT_ATTEMPTS {
            failures = hub.import(&pending).await?;
            if failures.is_empty() {
                break;
            }
            pending.retain(|f| failures.iter().any(|x| x.id == f.id));
        }
        refused.extend(failures);
    }
    if refused.is_empty() {
        Ok(findings.len())
    } else {
        Err(ImportError::Refused(refused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{CheckId, Trigger};
    use std::sync::Mutex;

    const NOW: Timestamp = Timestamp(1_800_000_000);

    fn failure() -> Finding {
        Finding {
            check: CheckId::KpExternalAccess,
            status: Status::Fail,
            severity: Severity::Critical,
            region: "eu-west-1".into(),
            resource: "arn:aws:kms:eu-west-1:111122223333:key/mrk-1".into(),
            message: "an account outside the organization can decrypt".into(),
            statement: None,
            fingerprint: "f00d".into(),
            trigger: Some(Trigger {
                event_id: "ct-1".into(),
                event_name: "PutKeyPolicy".into(),
                actor: "arn:aws:iam::111122223333:role/Admin".into(),
                time: "2026-11-27T10:00:00Z".into(),
            }),
            remediation: None,
            resolves: None,
        }
    }

    fn target() -> HubTarget {
        HubTarget {
            region: "us-east-1".into(),
            account: None,
        }
    }

    #[test]
    fn a_failure_is_an_active_failed_finding_of_the_default_product() {
        let a = asff_finding(&failure(), &target(), NOW).unwrap();
        assert_eq!(a.id, "idc-guard/f00d");
        assert_eq!(
            a.product_arn,
            "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default"
        );
        assert_eq!(
            (a.compliance_status, a.record_state, a.severity_label),
            ("FAILED", "ACTIVE", "CRITICAL")
        );
        assert_eq!(a.resource.kind, "AwsKmsKey");
        assert_eq!(a.created_at, "2026-11-27T10:00:00Z");
        assert!(a.title.starts_with("KP-EXTERNAL-ACCESS: "), "{}", a.title);
        assert!(
            a.recommendation.contains("docs/checks.md#"),
            "{}",
            a.recommendation
        );
    }

    #[test]
    fn a_resolution_updates_the_failure_s_id_to_passed_and_archived() {
        let mut r = failure();
        r.status = Status::Pass;
        r.fingerprint = "beef".into();
        r.resolves = Some("f00d".into());
        let a = asff_finding(&r, &target(), NOW).unwrap();
        assert_eq!(a.id, "idc-guard/f00d");
        assert_eq!(
            (a.compliance_status, a.record_state),
            ("PASSED", "ARCHIVED")
        );
        assert_eq!(a.product_fields["idc-guard/resolves"], "f00d");
        // Later than a failure observed in the same second, or Security Hub ignores it.
        let failure = asff_finding(&failure(), &target(), NOW).unwrap();
        assert!(
            a.updated_at > failure.updated_at,
            "{} {}",
            a.updated_at,
            failure.updated_at
        );
        // A plain pass closes nothing.
        r.resolves = None;
        assert_eq!(
            asff_finding(&r, &target(), NOW),
            Err(NotImported::PlainPass)
        );
    }

    #[test]
    fn long_text_is_cut_to_asff_s_limits() {
        let mut f = failure();
        f.message = "x".repeat(5000);
        let a = asff_finding(&f, &target(), NOW).unwrap();
        assert_eq!(a.description.chars().count(), MAX_DESCRIPTION);
    }

    /// Refuses each finding whose id is in `refuse` the first `times` times it is sent.
    #[derive(Default)]
    struct Hub {
        calls: Mutex<Vec<usize>>,
        sent: Mutex<BTreeMap<String, usize>>,
        refuse: Vec<String>,
        times: usize,
    }

    impl FindingImport for Hub {
        async fn import(&self, findings: &[AsffFinding]) -> Result<Vec<ImportFailure>, PortError> {
            self.calls.lock().unwrap().push(findings.len());
            let mut sent = self.sent.lock().unwrap();
            let mut failures = Vec::new();
            for f in findings {
                let n = sent.entry(f.id.clone()).or_default();
                *n += 1;
                if self.refuse.contains(&f.id) && *n <= self.times {
                    failures.push(ImportFailure {
                        id: f.id.clone(),
                        code: "InternalException".into(),
                        message: "try again".into(),
                    });
                }
            }
            Ok(failures)
        }
    }

    fn many(n: usize) -> Vec<AsffFinding> {
        (0..n)
            .map(|i| {
                let mut f = failure();
                f.fingerprint = format!("fp{i}");
                asff_finding(&f, &target(), NOW).unwrap()
            })
            .collect()
    }

    #[tokio::test]
    async fn batches_hold_at_most_100_and_refused_findings_are_sent_again() {
        let hub = Hub {
            refuse: vec!["idc-guard/fp3".into(), "idc-guard/fp140".into()],
            times: 1,
            ..Hub::default()
        };
        assert_eq!(import_all(&hub, &many(150)).await, Ok(150));
        // 100, then the refused one again; 50, then its refused one again.
        assert_eq!(*hub.calls.lock().unwrap(), [100, 1, 50, 1]);
    }

    #[tokio::test]
    async fn a_finding_refused_every_time_fails_the_import_by_name() {
        let hub = Hub {
            refuse: vec!["idc-guard/fp1".into()],
            times: usize::MAX,
            ..Hub::default()
        };
        let err = import_all(&hub, &many(2)).await.unwrap_err();
        assert!(
            err.to_string().contains("idc-guard/fp1 (InternalException"),
            "{err}"
        );
        assert_eq!(hub.calls.lock().unwrap().len(), IMPORT_ATTEMPTS);
    }
}
