//! The checks, by stable id (design §4).

pub mod key_policy;
pub mod key_state;

use std::fmt;

use serde::Serialize;

use crate::config::Config;
use crate::finding::{Finding, Severity, Status, fingerprint};

/// A check id. The strings are a contract: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum CheckId {
    /// Each admin account can administer the key.
    KpAdmin,
    /// The services can DescribeKey.
    KpServiceDescribe,
    /// The services can use the key.
    KpServiceUse,
    /// Organization principals can Decrypt via the services.
    KpOrgViaService,
    /// AWS managed applications can Decrypt via the services.
    KpManagedApps,
    /// Nobody outside the organization can use or grant the key.
    KpExternalAccess,
    /// Nobody but the admins can control the key.
    KpUnexpectedAdmin,
    /// Organization principals cannot use the key other than via the services.
    KpBroaderThanModel,
    /// The document is not a valid key policy.
    KpInvalid,
    /// The key (primary and each replica) is Enabled and not pending deletion.
    KeyState,
    /// No grant on the key to a principal outside the organization.
    KeyGrants,
}

impl CheckId {
    /// Every key-policy check, in report order.
    pub const KEY_POLICY: [CheckId; 9] = [
        CheckId::KpInvalid,
        CheckId::KpAdmin,
        CheckId::KpServiceDescribe,
        CheckId::KpServiceUse,
        CheckId::KpOrgViaService,
        CheckId::KpManagedApps,
        CheckId::KpExternalAccess,
        CheckId::KpUnexpectedAdmin,
        CheckId::KpBroaderThanModel,
    ];

    /// The stable id.
    pub fn id(self) -> &'static str {
        match self {
            CheckId::KpAdmin => "KP-ADMIN",
            CheckId::KpServiceDescribe => "KP-SERVICE-DESCRIBE",
            CheckId::KpServiceUse => "KP-SERVICE-USE",
            CheckId::KpOrgViaService => "KP-ORG-VIA-SERVICE",
            CheckId::KpManagedApps => "KP-MANAGED-APPS",
            CheckId::KpExternalAccess => "KP-EXTERNAL-ACCESS",
            CheckId::KpUnexpectedAdmin => "KP-UNEXPECTED-ADMIN",
            CheckId::KpBroaderThanModel => "KP-BROADER-THAN-MODEL",
            CheckId::KpInvalid => "KP-INVALID",
            CheckId::KeyState => "KEY-STATE",
            CheckId::KeyGrants => "KEY-GRANTS",
        }
    }

    /// How bad a failure of this check is.
    pub fn severity(self) -> Severity {
        match self {
            CheckId::KpAdmin | CheckId::KpExternalAccess | CheckId::KeyState => Severity::Critical,
            CheckId::KeyGrants => Severity::High,
            CheckId::KpServiceDescribe
            | CheckId::KpServiceUse
            | CheckId::KpOrgViaService
            | CheckId::KpUnexpectedAdmin
            | CheckId::KpInvalid => Severity::High,
            CheckId::KpManagedApps | CheckId::KpBroaderThanModel => Severity::Medium,
        }
    }

    /// What failing means, in a sentence for a key administrator.
    pub fn consequence(self) -> &'static str {
        match self {
            CheckId::KpAdmin => "an administrator cannot manage the key: lockout risk",
            CheckId::KpServiceDescribe => {
                "Identity Center cannot describe the key and stops working in this Region"
            }
            CheckId::KpServiceUse => {
                "Identity Center cannot use the key and stops working in this Region"
            }
            CheckId::KpOrgViaService => {
                "administrators and applications of the organization cannot use Identity Center in this Region"
            }
            CheckId::KpManagedApps => {
                "AWS managed applications cannot use Identity Center in this Region"
            }
            CheckId::KpExternalAccess => "a principal outside the organization can use the key",
            CheckId::KpUnexpectedAdmin => {
                "a principal other than the administrators can control the key"
            }
            CheckId::KpBroaderThanModel => {
                "principals of the organization can use the key other than through Identity Center"
            }
            CheckId::KpInvalid => {
                "KMS would reject this document, or reads it differently than it looks"
            }
            CheckId::KeyState => {
                "Identity Center cannot use the key in this Region: sign-in fails there"
            }
            CheckId::KeyGrants => "a principal outside the organization holds a grant on the key",
        }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The Region a finding is about and the key's ARN there.
pub(crate) struct At<'a> {
    pub(crate) region: &'a str,
    pub(crate) resource: String,
}

impl<'a> At<'a> {
    pub(crate) fn new(config: &Config, region: &'a str) -> At<'a> {
        At {
            region,
            resource: config.key_arn_in(region),
        }
    }

    /// A finding of `check` here; passes are informational, failures carry the check's severity.
    pub(crate) fn finding(
        &self,
        check: CheckId,
        status: Status,
        message: String,
        statement: Option<String>,
        cause: &str,
    ) -> Finding {
        Finding {
            check: check.id().to_owned(),
            status,
            severity: if status == Status::Pass {
                Severity::Info
            } else {
                check.severity()
            },
            region: self.region.to_owned(),
            resource: self.resource.clone(),
            message,
            statement,
            fingerprint: fingerprint(check.id(), &self.resource, self.region, cause),
            trigger: None,
            remediation: None,
        }
    }
}
