//! The check ids: the stable vocabulary of findings. Everything said about a check once (its
//! id, title, default severity, consequence and documentation anchor) is said here, and the
//! checks, the notifier, the evidence writer and the docs test read it from here.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Severity;

/// A check id. The strings are a contract: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// Every check, in catalogue order (docs/checks.md).
    pub const ALL: [CheckId; 20] = [
        CheckId::KpInvalid,
        CheckId::KpAdmin,
        CheckId::KpServiceDescribe,
        CheckId::KpServiceUse,
        CheckId::KpOrgViaService,
        CheckId::KpManagedApps,
        CheckId::KpExternalAccess,
        CheckId::KpUnexpectedAdmin,
        CheckId::KpBroaderThanModel,
        CheckId::KeyState,
        CheckId::KeyGrants,
        CheckId::KeyMultiRegion,
        CheckId::KeyReplicaPolicy,
        CheckId::InstanceEncryption,
        CheckId::RegionSupported,
        CheckId::RegionKeyReady,
        CheckId::IdpSource,
        CheckId::IdpAcsUrls,
        CheckId::IdpCertificate,
        CheckId::SweepSummary,
    ];

    /// The check with this stable id.
    pub fn from_id(id: &str) -> Option<CheckId> {
        CheckId::ALL.into_iter().find(|c| c.id() == id)
    }

    /// What holds when the check passes, in a few words (a Slack header, a report row).
    pub fn title(self) -> &'static str {
        match self {
            CheckId::KpAdmin => "admin accounts can administer the key",
            CheckId::KpServiceDescribe => "Identity Center services can describe the key",
            CheckId::KpServiceUse => "Identity Center services can use the key",
            CheckId::KpOrgViaService => "org principals can decrypt via Identity Center",
            CheckId::KpManagedApps => "managed applications can decrypt via Identity Center",
            CheckId::KpExternalAccess => "no access from outside the organization",
            CheckId::KpUnexpectedAdmin => "only the admins can administer the key",
            CheckId::KpBroaderThanModel => "org principals only use the key via Identity Center",
            CheckId::KpInvalid => "the key policy is valid",
            CheckId::KeyState => "the key is enabled and not pending deletion",
            CheckId::KeyGrants => "no grant to principals outside the organization",
            CheckId::KeyMultiRegion => "a replica of the key in every enabled Region",
            CheckId::KeyReplicaPolicy => "every replica's policy passes the checks",
            CheckId::InstanceEncryption => "the instance is encrypted with the guarded key",
            CheckId::RegionSupported => "every enabled Region is supported",
            CheckId::RegionKeyReady => "Regions are added only where a compliant replica exists",
            CheckId::IdpSource => "the identity source supports multi-Region",
            CheckId::IdpAcsUrls => "every Region's ACS URL is registered at the IdP",
            CheckId::IdpCertificate => "the IdP's signing certificate is valid",
            CheckId::SweepSummary => "the drift sweep finds nothing failing",
        }
    }

    /// The check's section in the catalogue, relative to the repository root.
    pub fn doc_anchor(self) -> String {
        format!("docs/checks.md#{}", self.id().to_ascii_lowercase())
    }

    /// Every key-policy check, in report order: the first of [`CheckId::ALL`].
    pub const KEY_POLICY: &'static [CheckId] = CheckId::ALL.as_slice().split_at(9).0;

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

impl PartialEq<&str> for CheckId {
    fn eq(&self, other: &&str) -> bool {
        self.id() == *other
    }
}

impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CheckId, D::Error> {
        let id = String::deserialize(d)?;
        CheckId::from_id(&id)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown check id \"{id}\"")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every check has a title and a section in the catalogue, under its own id, so no
    /// message or report goes out without one.
    #[test]
    fn every_check_has_a_title_and_a_catalogue_entry() {
        let catalogue = include_str!("../../../docs/checks.md");
        for check in CheckId::ALL {
            assert!(!check.title().is_empty(), "{check} has no title");
            assert!(
                catalogue.contains(&format!("\n## {}\n", check.id())),
                "{check} has no section in docs/checks.md"
            );
            assert!(
                check
                    .doc_anchor()
                    .ends_with(&check.id().to_ascii_lowercase())
            );
        }
    }

    /// The key-policy checks are the first of ALL, and no other check is one.
    #[test]
    fn the_key_policy_checks_lead_the_catalogue() {
        assert!(
            CheckId::KEY_POLICY
                .iter()
                .all(|c| c.id().starts_with("KP-"))
        );
        let rest = CheckId::ALL.len() - CheckId::KEY_POLICY.len();
        assert!(
            CheckId::ALL
                .iter()
                .rev()
                .take(rest)
                .all(|c| !c.id().starts_with("KP-"))
        );
    }

    #[test]
    fn ids_round_trip_and_unknown_ids_are_refused() {
        for check in CheckId::ALL {
            let json = serde_json::to_string(&check).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", check.id()));
            assert_eq!(serde_json::from_str::<CheckId>(&json).ok(), Some(check));
        }
        let err = serde_json::from_str::<CheckId>("\"KP-NOPE\"").err();
        assert!(err.is_some_and(|e| e.to_string().contains("KP-NOPE")));
    }
}
