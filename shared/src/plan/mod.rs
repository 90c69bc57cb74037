//! Remediation planning for the key in one Region: plain data, decided from the checks'
//! results and live state, applied by an executor only in `remediate` mode.

pub mod repair;

use serde::Serialize;

use crate::checks::key_policy::KeyPolicyReport;
use crate::config::Config;
use crate::domain::live::{KeySnapshot, KeyState};
use crate::finding::Status;
use crate::plan::repair::repair_policy;

/// One change to the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action")]
pub enum KeyAction {
    /// `CancelKeyDeletion` (the key is then Disabled; always followed by `EnableKey`).
    CancelKeyDeletion,
    /// `EnableKey`.
    EnableKey,
    /// `PutKeyPolicy` with the repaired policy (lockout safety check on).
    PutKeyPolicy {
        /// The new policy text.
        policy: String,
        /// The statements removed, as `"Sid (index N)"` of the live policy.
        removed: Vec<String>,
        /// The model statements added (Sids).
        added: Vec<String>,
        /// Whether `Version` is raised to 2012-10-17.
        version_raised: bool,
    },
}

impl KeyAction {
    /// The action in words, for findings and timelines.
    pub fn describe(&self, region: &str) -> String {
        match self {
            KeyAction::CancelKeyDeletion => format!("kms:CancelKeyDeletion in {region}"),
            KeyAction::EnableKey => format!("kms:EnableKey in {region}"),
            KeyAction::PutKeyPolicy {
                removed,
                added,
                version_raised,
                ..
            } => {
                let mut parts = Vec::new();
                if *version_raised {
                    parts.push("raise Version to 2012-10-17".to_owned());
                }
                if !removed.is_empty() {
                    parts.push(format!("remove {}", removed.join(", ")));
                }
                if !added.is_empty() {
                    parts.push(format!("add model statement {}", added.join(", ")));
                }
                format!("kms:PutKeyPolicy in {region}: {}", parts.join("; "))
            }
        }
    }
}

/// What to do about the key in one Region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyPlan {
    /// The Region.
    pub region: String,
    /// The key's ARN there.
    pub key_arn: String,
    /// The key id.
    pub key_id: String,
    /// The changes, in order.
    pub actions: Vec<KeyAction>,
    /// Problems no safe automatic change can fix, each with the reason.
    pub manual: Vec<String>,
    /// Grants to report for a human to revoke (the guard never revokes one).
    pub grants: Option<String>,
    /// The policy before the change (for the evidence), when the plan rewrites it.
    pub previous_policy: Option<String>,
}

impl KeyPlan {
    /// The actions in words.
    pub fn describe(&self) -> Vec<String> {
        self.actions
            .iter()
            .map(|a| a.describe(&self.region))
            .collect()
    }

    /// The actions in words, then the manual items and the grants to revoke.
    pub fn describe_all(&self) -> Vec<String> {
        self.describe()
            .into_iter()
            .chain(self.manual.iter().cloned())
            .chain(self.grants.iter().cloned())
            .collect()
    }

    /// Whether there is anything to apply.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Plans the remediation of the key in `snapshot.key.region` from its checks.
pub fn plan_key(
    config: &Config,
    snapshot: &KeySnapshot,
    policy_report: &KeyPolicyReport,
    grant_failures: usize,
) -> KeyPlan {
    let region = snapshot.key.region.clone();
    let mut plan = KeyPlan {
        key_arn: config.key_arn_in(&region),
        key_id: snapshot.key.key_id.clone(),
        region: region.clone(),
        actions: Vec::new(),
        manual: Vec::new(),
        grants: None,
        previous_policy: None,
    };
    match &snapshot.key.state {
        KeyState::Enabled | KeyState::Creating => {}
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => {
            // CancelKeyDeletion leaves the key Disabled (docs/aws-behaviour.md § 1).
            plan.actions.push(KeyAction::CancelKeyDeletion);
            plan.actions.push(KeyAction::EnableKey);
        }
        KeyState::Disabled => plan.actions.push(KeyAction::EnableKey),
        KeyState::Other(state) => plan.manual.push(format!(
            "the key is {state} in {region}; idc-guard only cancels deletion and enables keys"
        )),
    }
    let policy_fails = policy_report
        .findings
        .iter()
        .any(|f| f.region == region && matches!(f.status, Status::Fail | Status::Error));
    if policy_fails {
        match repair_policy(config, &region, &snapshot.policy, policy_report) {
            Ok(Some(repaired)) => {
                plan.previous_policy = Some(snapshot.policy.clone());
                plan.actions.push(KeyAction::PutKeyPolicy {
                    policy: repaired.text,
                    removed: repaired.removed,
                    added: repaired.added,
                    version_raised: repaired.version_raised,
                });
            }
            // Unreachable while `policy_fails`; kept total rather than assumed.
            Ok(None) => {}
            Err(reason) => plan
                .manual
                .push(format!("manual action required: {reason}")),
        }
    }
    if grant_failures > 0 {
        plan.grants = Some(format!(
            "{grant_failures} grant(s) to principals outside the organization: revoking a grant can break its user, so idc-guard reports it for a human to revoke"
        ));
    }
    plan
}
