//! The checks, by stable id (design §4).

pub mod idp;
pub mod instance;
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
    /// The key is multi-Region, its primary in the instance's primary Region, with a replica
    /// in every enabled Region.
    KeyMultiRegion,
    /// Every replica's policy passes the KP checks (drift from the primary is reported).
    KeyReplicaPolicy,
    /// The instance uses the guarded customer managed key, status ENABLED.
    InstanceEncryption,
    /// Every enabled or added Region is in the supported set.
    RegionSupported,
    /// A Region is added only where an Enabled, compliant replica exists.
    RegionKeyReady,
    /// The identity source supports multi-Region replication.
    IdpSource,
    /// Every enabled Region's ACS URL is registered at the external IdP.
    IdpAcsUrls,
    /// The external IdP's signing certificate (from its SAML metadata) is valid for a while.
    IdpCertificate,
    /// The drift sweeper's summary of one sweep.
    SweepSummary,
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
            CheckId::KeyMultiRegion => "KEY-MULTI-REGION",
            CheckId::KeyReplicaPolicy => "KEY-REPLICA-POLICY",
            CheckId::InstanceEncryption => "INSTANCE-ENCRYPTION",
            CheckId::RegionSupported => "REGION-SUPPORTED",
            CheckId::RegionKeyReady => "REGION-KEY-READY",
            CheckId::IdpSource => "IDP-SOURCE",
            CheckId::IdpAcsUrls => "IDP-ACS-URLS",
            CheckId::IdpCertificate => "IDP-CERTIFICATE",
            CheckId::SweepSummary => "SWEEP-SUMMARY",
        }
    }

    /// How bad a failure of this check is.
    pub fn severity(self) -> Severity {
        match self {
            CheckId::KpAdmin
            | CheckId::KpExternalAccess
            | CheckId::KeyState
            | CheckId::KeyMultiRegion
            | CheckId::RegionKeyReady => Severity::Critical,
            CheckId::KeyReplicaPolicy
            | CheckId::InstanceEncryption
            | CheckId::RegionSupported
            | CheckId::IdpSource
            | CheckId::IdpAcsUrls
            | CheckId::IdpCertificate => Severity::High,
            CheckId::SweepSummary => Severity::Medium,
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
            CheckId::KeyMultiRegion => {
                "Identity Center cannot use the key in every Region: sign-in fails where the replica is missing"
            }
            CheckId::KeyReplicaPolicy => {
                "a replica's policy does not let Identity Center work in its Region (KMS does not copy policies between replicas)"
            }
            CheckId::InstanceEncryption => {
                "the instance is not encrypted with the guarded multi-Region key, so replication is unavailable or unguarded"
            }
            CheckId::RegionSupported => {
                "Identity Center multi-Region replication is not supported in this Region"
            }
            CheckId::RegionKeyReady => {
                "the Region has no Enabled, compliant replica of the key: Identity Center cannot work there"
            }
            CheckId::IdpSource => {
                "the identity source does not support multi-Region replication: users cannot sign in through additional Regions"
            }
            CheckId::IdpAcsUrls => {
                "the external IdP does not know every Region's ACS URL: sign-in through that Region fails at failover"
            }
            CheckId::IdpCertificate => {
                "the IdP's signing certificate expires: Identity Center rejects its assertions and nobody signs in"
            }
            CheckId::SweepSummary => "the sweep found failing checks",
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

/// A finding of `check` about `resource` in `region`; passes are informational, failures carry
/// the check's severity. `cause` keeps different problems of one check apart in the
/// fingerprint.
pub(crate) fn finding_on(
    check: CheckId,
    status: Status,
    region: &str,
    resource: &str,
    message: String,
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
        region: region.to_owned(),
        resource: resource.to_owned(),
        message,
        statement: None,
        fingerprint: fingerprint(check.id(), resource, region, cause),
        trigger: None,
        remediation: None,
    }
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
        let mut f = finding_on(check, status, self.region, &self.resource, message, cause);
        f.statement = statement;
        f
    }
}
