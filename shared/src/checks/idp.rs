//! IDP-SOURCE, IDP-ACS-URLS and IDP-CERTIFICATE: the identity source and the external IdP.
//!
//! No public API reports an instance's identity source (sso-admin and identitystore do not;
//! see docs/idp-guard.md), so IDP-SOURCE judges what the last identity-source call did, or
//! the configuration during a sweep. The ACS URLs are computed (docs/aws-behaviour.md § 5); the IdP's
//! SAML metadata, when supplied, says which of them the IdP knows and when its signing
//! certificate expires.

use crate::checks::{CheckId, finding_on};
use crate::config::{Config, IdentitySource};
use crate::domain::time::Timestamp;
use crate::domain::urls::{RegionUrls, TENANT_PLACEHOLDER, urls_for};
use crate::finding::{Finding, Severity, Status};
use crate::saml::SamlMetadata;

/// The identity source as a call left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObservedSource {
    /// An external SAML IdP is configured and enabled.
    ExternalIdp,
    /// The Identity Center directory (a directory was disassociated).
    IdentityCenterDirectory,
    /// An Active Directory was associated.
    ActiveDirectory {
        /// `directoryId`, when the record carries it.
        directory_id: Option<String>,
    },
    /// The external IdP was disabled or deleted: its users cannot sign in.
    ExternalIdpRemoved {
        /// The call (`DisableExternalIdPConfigurationForDirectory`, ...).
        call: String,
    },
    /// The sweep: the configured source, not observed.
    Configured,
}

fn on(config: &Config, check: CheckId, status: Status, message: String, cause: &str) -> Finding {
    finding_on(
        check,
        status,
        &config.primary_region,
        &config.instance_arn,
        message,
        cause,
    )
}

fn configured_name(config: &Config) -> &'static str {
    match config.identity_source {
        IdentitySource::ExternalIdp => "external-idp",
        IdentitySource::IdentityCenterDirectory => "identity-center-directory",
    }
}

/// IDP-SOURCE: the identity source supports multi-Region replication.
pub fn check_idp_source(config: &Config, observed: &ObservedSource) -> Finding {
    let check = CheckId::IdpSource;
    let configured = configured_name(config);
    let mismatch = |now: &str| {
        let mut f = on(
            config,
            check,
            Status::Warn,
            format!(
                "{check}: the identity source is now {now}, which supports multi-Region replication, but the configuration says identity_source = \"{configured}\"; update it so the ACS URL checks match."
            ),
            &format!("mismatch:{now}"),
        );
        f.severity = Severity::Low;
        f
    };
    match observed {
        ObservedSource::ActiveDirectory { directory_id } => on(
            config,
            check,
            Status::Fail,
            format!(
                "{check} fails: Active Directory{} was associated as the identity source; {}. Identity Center replicates only with an external IdP or the Identity Center directory: additional Regions stop serving sign-in. Revert, or remove the additional Regions first.",
                directory_id
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                check.consequence()
            ),
            "active-directory",
        ),
        ObservedSource::ExternalIdpRemoved { call } => on(
            config,
            check,
            Status::Warn,
            format!(
                "{check}: {call} left the instance without its external IdP; the IdP's users cannot sign in in any Region until it is restored (or identity_source changes on purpose)."
            ),
            &format!("removed:{call}"),
        ),
        ObservedSource::ExternalIdp if config.identity_source != IdentitySource::ExternalIdp => {
            mismatch("external-idp")
        }
        ObservedSource::IdentityCenterDirectory
            if config.identity_source != IdentitySource::IdentityCenterDirectory =>
        {
            mismatch("identity-center-directory")
        }
        ObservedSource::Configured => on(
            config,
            check,
            Status::Pass,
            format!(
                "{check} holds as configured ({configured}); no API reports the identity source, so idp-guard watches its changes"
            ),
            "ok",
        ),
        ObservedSource::ExternalIdp | ObservedSource::IdentityCenterDirectory => on(
            config,
            check,
            Status::Pass,
            format!(
                "{check} holds: the identity source ({configured}) supports multi-Region replication"
            ),
            "ok",
        ),
    }
}

fn describe_urls(urls: &[RegionUrls]) -> String {
    urls.iter()
        .map(|u| {
            format!(
                "{}{}: ACS {}; portal {}",
                u.region,
                if u.primary { " (primary)" } else { "" },
                u.acs_urls.join(" or "),
                u.portal_urls.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// IDP-ACS-URLS: with an external IdP, every Region in `regions` must have its ACS URL
/// registered at the IdP. Without metadata this is an action-required warning listing the
/// exact URLs; with metadata that lists ACS URLs, the Regions it lacks fail. `None` when the
/// identity source is not an external IdP.
pub fn check_acs_urls(
    config: &Config,
    regions: &[String],
    metadata: Option<&SamlMetadata>,
) -> Option<Finding> {
    if config.identity_source != IdentitySource::ExternalIdp {
        return None;
    }
    let check = CheckId::IdpAcsUrls;
    let urls: Vec<RegionUrls> = regions.iter().map(|r| urls_for(config, r)).collect();
    let tenant_note = if config.saml_tenant_id.is_none() {
        format!(
            " Set saml_tenant_id to replace {TENANT_PLACEHOLDER} (the IdP's current ACS URL in the primary Region shows it)."
        )
    } else {
        String::new()
    };
    let listed = metadata.map(|m| m.acs_urls.as_slice()).unwrap_or_default();
    if metadata.is_some() && !listed.is_empty() && config.saml_tenant_id.is_some() {
        let missing: Vec<&RegionUrls> = urls
            .iter()
            .filter(|u| {
                // The older form counts for the primary of instances created before 2026-02.
                !u.acs_urls
                    .iter()
                    .chain(u.legacy_acs_url.as_ref())
                    .any(|a| listed.contains(a))
            })
            .collect();
        if missing.is_empty() {
            return Some(on(
                config,
                check,
                Status::Pass,
                format!(
                    "{check} holds: the IdP's metadata lists an ACS URL for every Region ({})",
                    regions.join(", ")
                ),
                "ok",
            ));
        }
        let names: Vec<&str> = missing.iter().map(|u| u.region.as_str()).collect();
        let owned: Vec<RegionUrls> = missing.into_iter().cloned().collect();
        return Some(on(
            config,
            check,
            Status::Fail,
            format!(
                "{check} fails: the IdP's metadata lacks the ACS URL of {}; {}. Register: {}",
                names.join(", "),
                check.consequence(),
                describe_urls(&owned)
            ),
            &format!("missing:{}", names.join(",")),
        ));
    }
    let metadata_note = match metadata {
        Some(m) if m.acs_urls.is_empty() => {
            " The IdP's metadata lists no ACS URLs (IdP metadata describes the IdP, not what it has registered), so which are missing cannot be told from it."
        }
        _ => "",
    };
    let mut f = on(
        config,
        check,
        Status::Warn,
        format!(
            "{check}: action required: make sure the external IdP has the ACS URL of every Region ({}). {}.{tenant_note}{metadata_note}",
            regions.join(", "),
            describe_urls(&urls)
        ),
        &format!("action-required:{}", regions.join(",")),
    );
    f.severity = Severity::Medium;
    Some(f)
}

/// IDP-CERTIFICATE: each signing certificate in the IdP's metadata is valid for more than
/// `config.idp.certificate_warning_days`; expired fails. One finding per certificate.
pub fn check_certificates(
    config: &Config,
    metadata: &SamlMetadata,
    now: Timestamp,
) -> Vec<Finding> {
    let check = CheckId::IdpCertificate;
    if metadata.signing_certificates.is_empty() {
        let mut f = on(
            config,
            check,
            Status::Warn,
            format!("{check}: the IdP's metadata has no signing certificate to check"),
            "none",
        );
        f.severity = Severity::Medium;
        return vec![f];
    }
    metadata
        .signing_certificates
        .iter()
        .map(|cert| {
            let name = cert.subject.as_deref().unwrap_or("(no CN)");
            let which = format!(
                "the signing certificate {name} (SHA-256 {}, valid until {})",
                cert.sha256_fingerprint, cert.not_after
            );
            let cause = format!("cert:{}", cert.sha256_fingerprint);
            certificate_expiry(config, &which, cert.days_left(now), &cause, &cause)
        })
        .collect()
}

/// IDP-CERTIFICATE for one signing certificate (`which` says which), `days` whole days before
/// it expires: a critical failure once expired, a medium warning under
/// `idp.certificate_warning_days`, else a pass. The pass's fingerprint cause is `pass_cause`;
/// the others are `cause:expired` and `cause:expiring`. The metadata's certificates and the
/// keys an IdP's API lists are judged alike.
pub(crate) fn certificate_expiry(
    config: &Config,
    which: &str,
    days: i64,
    cause: &str,
    pass_cause: &str,
) -> Finding {
    let check = CheckId::IdpCertificate;
    let warn_days = i64::from(config.idp.certificate_warning_days);
    if days < 0 {
        let mut f = on(
            config,
            check,
            Status::Fail,
            format!(
                "{check} fails: {which} expired {} days ago; {}.",
                -days,
                check.consequence()
            ),
            &format!("{cause}:expired"),
        );
        f.severity = Severity::Critical;
        f
    } else if days < warn_days {
        let mut f = on(
            config,
            check,
            Status::Warn,
            format!(
                "{check}: {which} expires in {days} days (warning under {warn_days}); rotate it at the IdP and update Identity Center."
            ),
            &format!("{cause}:expiring"),
        );
        f.severity = Severity::Medium;
        f
    } else {
        on(
            config,
            check,
            Status::Pass,
            format!("{check} holds: {which} is valid for {days} more days"),
            pass_cause,
        )
    }
}

/// An IDP-CERTIFICATE error: the metadata at `location` could not be read or parsed.
pub fn unreadable_metadata(config: &Config, location: &str, error: &str) -> Finding {
    on(
        config,
        CheckId::IdpCertificate,
        Status::Error,
        format!(
            "IDP-CERTIFICATE could not be checked: the IdP's SAML metadata at {location} could not be read: {error}"
        ),
        "unreadable",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::SigningCertificate;

    fn config(tail: &str) -> Config {
        Config::from_toml(
            &crate::config::tests::example_with(
                r#"["us-east-1", "eu-west-1"]"#,
                &format!("saml_tenant_id = \"abc-123\"\n{tail}"),
            ),
            "test",
        )
        .unwrap()
    }

    fn metadata(acs: &[&str], not_after: Option<Timestamp>) -> SamlMetadata {
        SamlMetadata {
            entity_ids: vec!["https://idp.example.com".into()],
            signing_certificates: not_after
                .map(|t| SigningCertificate {
                    not_before: Timestamp(0),
                    not_after: t,
                    subject: Some("idp.example.com".into()),
                    sha256_fingerprint: "ab".repeat(32),
                })
                .into_iter()
                .collect(),
            acs_urls: acs.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn regions() -> Vec<String> {
        vec!["us-east-1".into(), "eu-west-1".into()]
    }

    #[test]
    fn acs_urls_apply_only_to_an_external_idp() {
        let mut c = config("");
        c.identity_source = IdentitySource::IdentityCenterDirectory;
        assert!(check_acs_urls(&c, &regions(), None).is_none());
    }

    #[test]
    fn without_metadata_the_urls_are_an_action_required_warning() {
        let f = check_acs_urls(&config(""), &regions(), None).unwrap();
        assert_eq!(f.status, Status::Warn);
        assert!(
            f.message
                .contains("https://eu-west-1.sso.signin.aws/platform/saml/acs/abc-123")
        );
        let mut c = config("");
        c.saml_tenant_id = None;
        let f = check_acs_urls(&c, &regions(), None).unwrap();
        assert!(f.message.contains("Set saml_tenant_id"), "{}", f.message);
    }

    #[test]
    fn metadata_names_the_regions_it_lacks() {
        let c = config("");
        let one = metadata(
            &["https://us-east-1.signin.aws/platform/saml/acs/abc-123"],
            None,
        );
        let f = check_acs_urls(&c, &regions(), Some(&one)).unwrap();
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("lacks the ACS URL of eu-west-1"),
            "{}",
            f.message
        );
        // Either documented form counts.
        let both = metadata(
            &[
                "https://us-east-1.signin.aws/platform/saml/acs/abc-123",
                "https://eu-west-1.sso.signin.aws/platform/saml/acs/abc-123",
            ],
            None,
        );
        assert_eq!(
            check_acs_urls(&c, &regions(), Some(&both)).unwrap().status,
            Status::Pass
        );
        // IdP metadata without ACS URLs cannot tell: still a warning, and it says why.
        let none = metadata(&[], None);
        let f = check_acs_urls(&c, &regions(), Some(&none)).unwrap();
        assert_eq!(f.status, Status::Warn);
        assert!(f.message.contains("lists no ACS URLs"));
    }

    #[test]
    fn certificate_expiry_fails_warns_or_passes() {
        let c = config("[idp]\ncertificate_warning_days = 30");
        let now = Timestamp(1_800_000_000);
        let day = 86_400;
        let status = |not_after: i64| {
            let found = check_certificates(&c, &metadata(&[], Some(Timestamp(not_after))), now);
            assert_eq!(found.len(), 1);
            (found[0].status, found[0].severity)
        };
        assert_eq!(status(now.0 - day), (Status::Fail, Severity::Critical));
        assert_eq!(status(now.0 + 10 * day), (Status::Warn, Severity::Medium));
        assert_eq!(
            status(now.0 + 29 * day + 1),
            (Status::Warn, Severity::Medium)
        );
        assert_eq!(status(now.0 + 31 * day).0, Status::Pass);
        let none = check_certificates(&c, &metadata(&[], None), now);
        assert_eq!(none[0].status, Status::Warn);
    }

    #[test]
    fn identity_source_changes() {
        let c = config("");
        let ad = ObservedSource::ActiveDirectory {
            directory_id: Some("d-9067abcdef".into()),
        };
        assert_eq!(check_idp_source(&c, &ad).status, Status::Fail);
        assert_eq!(
            check_idp_source(&c, &ObservedSource::ExternalIdp).status,
            Status::Pass
        );
        let f = check_idp_source(&c, &ObservedSource::IdentityCenterDirectory);
        assert_eq!(f.status, Status::Warn);
        assert!(f.message.contains("identity_source"));
        let removed = ObservedSource::ExternalIdpRemoved {
            call: "DisableExternalIdPConfigurationForDirectory".into(),
        };
        assert_eq!(check_idp_source(&c, &removed).status, Status::Warn);
    }
}
