//! The finding record: what every check, guard and sweep reports.

mod check;
pub mod event;

pub use check::CheckId;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The EventBridge `source` of every finding event on the idc-guard bus.
pub const FINDING_SOURCE: &str = "idc-guard";
/// The EventBridge `detail-type` of every finding event.
pub const FINDING_DETAIL_TYPE: &str = "IdC Guard Finding";

/// A Lambda setting (an environment variable) that is missing or invalid; names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct SettingsError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Whether a check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The check holds.
    Pass,
    /// The check fails.
    Fail,
    /// Not a failure, but worth a look (drift, action required).
    Warn,
    /// The check could not be run.
    Error,
}

impl Status {
    /// The word as serialized (`pass`, `fail`, `warn`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Error => "error",
        }
    }
}

/// How bad a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Lockout or exposure of the key.
    Critical,
    /// Identity Center stops working in a Region, or a serious gap.
    High,
    /// A weakness.
    Medium,
    /// Minor.
    Low,
    /// For information.
    Info,
}

impl Severity {
    /// The word as serialized (`critical` .. `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
}

/// The event that caused a check to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// The CloudTrail event id.
    pub event_id: String,
    /// `PutKeyPolicy`, ...
    pub event_name: String,
    /// Who made the call.
    pub actor: String,
    /// When.
    pub time: String,
}

pub use crate::config::Mode;

/// What became of a remediation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemediationOutcome {
    /// The change was made and verified.
    Applied,
    /// Dry-run: the plan is reported, nothing changed.
    Planned,
    /// Nothing was changed (notify mode, a gate, loop protection, nothing to do).
    Skipped,
    /// A change was attempted and did not hold.
    Failed,
}

impl RemediationOutcome {
    /// The word in the finding's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationOutcome::Applied => "applied",
            RemediationOutcome::Planned => "planned",
            RemediationOutcome::Skipped => "skipped",
            RemediationOutcome::Failed => "failed",
        }
    }
}

impl PartialEq<&str> for RemediationOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for RemediationOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a guard did or would do about a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remediation {
    /// The guard's mode.
    pub mode: Mode,
    /// The actions, in words.
    pub actions: Vec<String>,
    /// What became of it.
    pub outcome: RemediationOutcome,
    /// The key policy the remediation replaced (for the evidence record), when it wrote one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub previous_policy: Option<String>,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The check (serialized as its stable id, `KP-ADMIN`).
    pub check: CheckId,
    /// pass | fail | warn | error.
    pub status: Status,
    /// critical | high | medium | low | info.
    pub severity: Severity,
    /// The Region checked.
    pub region: String,
    /// The resource (key ARN in the Region, instance ARN).
    pub resource: String,
    /// What is wrong, for a key administrator.
    pub message: String,
    /// The statement concerned, `"<Sid> (index N)"`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub statement: Option<String>,
    /// Stable hash of check, resource, Region and cause: the idempotency key.
    pub fingerprint: String,
    /// The event that triggered the check.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trigger: Option<Trigger>,
    /// The remediation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remediation: Option<Remediation>,
    /// Set on a resolution (a pass that closes an earlier failure of the same check, resource
    /// and Region): the failing finding's fingerprint.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resolves: Option<String>,
}

/// The fingerprint of a finding: SHA-256 over check, resource, Region and cause, hex, first
/// 32 characters (128 bits). Stable across runs and machines.
pub fn fingerprint(check: &str, resource: &str, region: &str, cause: &str) -> String {
    let mut h = Sha256::new();
    for part in [check, resource, region, cause] {
        h.update(part.as_bytes());
        // A separator that cannot occur in the parts keeps ("a","bc") apart from ("ab","c").
        h.update([0u8]);
    }
    hex::encode(h.finalize().get(..16).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_separated() {
        let a = fingerprint("KP-ADMIN", "arn", "us-east-1", "x");
        assert_eq!(a, fingerprint("KP-ADMIN", "arn", "us-east-1", "x"));
        assert_eq!(a.len(), 32);
        assert_ne!(
            fingerprint("a", "bc", "", ""),
            fingerprint("ab", "c", "", "")
        );
    }

    #[test]
    fn serializes_as_the_design_says() {
        let f = Finding {
            check: crate::finding::CheckId::KpAdmin,
            status: Status::Fail,
            severity: Severity::Critical,
            region: "us-east-1".into(),
            resource: "arn".into(),
            message: "m".into(),
            statement: None,
            fingerprint: "f".into(),
            trigger: None,
            remediation: None,
            resolves: None,
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["status"], "fail");
        assert_eq!(v["severity"], "critical");
        assert!(v.get("trigger").is_none());
    }
}
