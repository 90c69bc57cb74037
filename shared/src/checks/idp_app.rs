//! IDP-ACS-URLS and IDP-CERTIFICATE judged against the IdP's live application (read through
//! its API): every enabled Region's ACS URL registered, no URL left for a Region no longer
//! enabled, the audience Identity Center's entity ID, the active signing certificate valid.

use crate::checks::idp::certificate_expiry;
use crate::checks::{CheckId, finding_on};
use crate::config::Config;
use crate::domain::time::Timestamp;
use crate::domain::urls::{acs_url_region, sp_entity_ids, urls_for};
use crate::finding::{Finding, Severity, Status};
use crate::idp_app::IdpApp;

/// One enabled Region's ACS URL, as the application has it (or lacks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionAcs {
    /// The Region.
    pub region: String,
    /// Whether it is the primary.
    pub primary: bool,
    /// The URL the application lists for it, when it lists one.
    pub registered: Option<String>,
    /// The URL to add when it lists none.
    pub to_add: String,
}

/// The ACS URL of each Region in `regions` against the application's list. The URL to add is
/// in the form the application already uses for its other Regions (dual-stack when any of
/// its Identity Center ACS URLs is), else the IPv4 form.
pub fn region_acs(config: &Config, regions: &[String], app: &IdpApp) -> Vec<RegionAcs> {
    let dual_stack = app
        .acs_urls
        .iter()
        .any(|u| acs_url_region(config, u).is_some() && u.contains(".sso.signin.aws/"));
    regions
        .iter()
        .map(|region| {
            let urls = urls_for(config, region);
            let registered = urls
                .acs_urls
                .iter()
                .chain(urls.legacy_acs_url.as_ref())
                .find(|u| app.acs_urls.contains(u))
                .cloned();
            let form = usize::from(dual_stack);
            RegionAcs {
                region: region.clone(),
                primary: urls.primary,
                registered,
                to_add: urls.acs_urls.get(form).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// Where the application is, for messages: `Okta app "AWS" (0oa1...)`.
pub fn app_label(app: &IdpApp) -> String {
    format!("{} app \"{}\" ({})", app.provider, app.name, app.id)
}

/// IDP-ACS-URLS against the live application: one finding per enabled Region (critical when
/// the primary's URL is missing, high for another Region), a low warning for URLs of Regions
/// that are not enabled, and a high failure when the audience is not Identity Center's
/// entity ID. `plan` adds to a missing Region's message what was or would be done.
pub fn check_live_acs(
    config: &Config,
    regions: &[String],
    app: &IdpApp,
    plan: &dyn Fn(&RegionAcs) -> String,
) -> Vec<Finding> {
    let check = CheckId::IdpAcsUrls;
    let label = app_label(app);
    let mut out: Vec<Finding> = region_acs(config, regions, app)
        .iter()
        .map(|r| match &r.registered {
            Some(url) => finding_on(
                check,
                Status::Pass,
                &r.region,
                &config.instance_arn,
                format!("{check} holds in {}: the {label} has {url}", r.region),
                "ok",
            ),
            None => {
                let mut f = finding_on(
                    check,
                    Status::Fail,
                    &r.region,
                    &config.instance_arn,
                    format!(
                        "{check} fails: the {label} lacks the ACS URL of {}{}; {}. Add {}{}",
                        r.region,
                        if r.primary { " (primary)" } else { "" },
                        check.consequence(),
                        r.to_add,
                        plan(r)
                    ),
                    "missing",
                );
                f.severity = if r.primary {
                    Severity::Critical
                } else {
                    Severity::High
                };
                f
            }
        })
        .collect();
    let stale: Vec<&String> = app
        .acs_urls
        .iter()
        .filter(|u| acs_url_region(config, u).is_some_and(|r| !regions.iter().any(|e| e == r)))
        .collect();
    if !stale.is_empty() {
        let list: Vec<&str> = stale.iter().map(|s| s.as_str()).collect();
        let mut f = finding_on(
            check,
            Status::Warn,
            &config.primary_region,
            &config.instance_arn,
            format!(
                "{check}: the {label} still lists ACS URLs of Regions that are not enabled: {}. They are harmless until such a Region is added again; remove them at the IdP when it is certain the Region is gone (idc-guard never removes URLs).",
                list.join(", ")
            ),
            &format!("stale:{}", list.join(",")),
        );
        f.severity = Severity::Low;
        out.push(f);
    }
    let expected = sp_entity_ids(config);
    if !app.entity_ids.iter().any(|e| expected.contains(e)) {
        let found = if app.entity_ids.is_empty() {
            "none".to_owned()
        } else {
            app.entity_ids.join(", ")
        };
        out.push(finding_on(
            check,
            Status::Fail,
            &config.primary_region,
            &config.instance_arn,
            format!(
                "{check} fails: the {label} issues assertions for the entity ID (audience) {found}, not Identity Center's issuer URL; Identity Center rejects them in every Region. Set it to {} (the issuer URL shown in Identity Center's settings) at the IdP.",
                expected.first().map_or("", String::as_str)
            ),
            "audience",
        ));
    }
    out
}

/// IDP-CERTIFICATE from the certificates the API lists: the active ones (all, when none is
/// marked active). One finding per certificate.
pub fn check_app_certificates(config: &Config, app: &IdpApp, now: Timestamp) -> Vec<Finding> {
    let check = CheckId::IdpCertificate;
    let label = app_label(app);
    let any_active = app.certificates.iter().any(|c| c.active);
    let judged: Vec<_> = app
        .certificates
        .iter()
        .filter(|c| c.active || !any_active)
        .collect();
    if judged.is_empty() {
        let mut f = finding_on(
            check,
            Status::Warn,
            &config.primary_region,
            &config.instance_arn,
            format!("{check}: the {label} lists no signing certificate to check"),
            "none",
        );
        f.severity = Severity::Medium;
        return vec![f];
    }
    judged
        .iter()
        .map(|cert| {
            let which = format!(
                "the {label}'s signing certificate {} (valid until {})",
                cert.id, cert.not_after
            );
            let cause = format!("app-key:{}", cert.id);
            let days = now.days_until(cert.not_after);
            certificate_expiry(config, &which, days, &cause, &format!("{cause}:ok"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp_app::{AppCertificate, ProviderKind};

    fn config() -> Config {
        Config::from_toml(
            &crate::config::tests::example_with(
                r#"["us-east-1", "eu-west-1"]"#,
                "saml_tenant_id = \"abc\"\n",
            ),
            "test",
        )
        .unwrap()
    }

    fn app(acs: &[&str], audience: &str) -> IdpApp {
        IdpApp {
            provider: ProviderKind::EntraId,
            id: "obj-1".into(),
            name: "AWS".into(),
            acs_urls: acs.iter().map(|s| (*s).to_owned()).collect(),
            configured_urls: acs.iter().map(|s| (*s).to_owned()).collect(),
            entity_ids: vec![audience.to_owned()],
            certificates: vec![AppCertificate {
                id: "k".into(),
                not_after: Timestamp(2_000_000_000),
                active: true,
            }],
            etag: None,
            document: serde_json::Value::Null,
            write_blocker: None,
        }
    }

    const AUDIENCE: &str = "https://us-east-1.signin.aws.amazon.com/platform/saml/d-1234567890";

    fn regions() -> Vec<String> {
        vec!["us-east-1".into(), "eu-west-1".into()]
    }

    #[test]
    fn a_missing_region_fails_critical_for_the_primary_high_for_others() {
        let c = config();
        let none = |_: &RegionAcs| String::new();
        let found = check_live_acs(&c, &regions(), &app(&[], AUDIENCE), &none);
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].status, found[0].severity),
            (Status::Fail, Severity::Critical)
        );
        assert_eq!(
            (found[1].status, found[1].severity),
            (Status::Fail, Severity::High)
        );
        assert!(
            found[1]
                .message
                .contains("Add https://eu-west-1.signin.aws/platform/saml/acs/abc"),
            "{}",
            found[1].message
        );
        assert!(
            found[1]
                .message
                .contains("Microsoft Entra ID app \"AWS\" (obj-1)")
        );
        // The dual-stack form counts, and is the form proposed when the app uses it.
        let dual = app(
            &["https://us-east-1.sso.signin.aws/platform/saml/acs/abc"],
            AUDIENCE,
        );
        let found = check_live_acs(&c, &regions(), &dual, &none);
        assert_eq!(found[0].status, Status::Pass);
        assert!(
            found[1]
                .message
                .contains("Add https://eu-west-1.sso.signin.aws/platform/saml/acs/abc")
        );
    }

    #[test]
    fn stale_urls_warn_low_and_a_wrong_audience_fails_high() {
        let c = config();
        let a = app(
            &[
                "https://us-east-1.signin.aws/platform/saml/acs/abc",
                "https://eu-west-1.signin.aws/platform/saml/acs/abc",
                "https://ap-south-1.signin.aws/platform/saml/acs/abc",
                "https://example.com/unrelated",
            ],
            "https://us-east-1.signin.aws/platform/saml/other",
        );
        let found = check_live_acs(&c, &regions(), &a, &|_| String::new());
        let stale = found.iter().find(|f| f.status == Status::Warn).unwrap();
        assert_eq!(stale.severity, Severity::Low);
        assert!(stale.message.contains("ap-south-1") && !stale.message.contains("unrelated"));
        let audience = found
            .iter()
            .find(|f| f.message.contains("entity ID"))
            .unwrap();
        assert_eq!(
            (audience.status, audience.severity),
            (Status::Fail, Severity::High)
        );
    }

    #[test]
    fn the_active_certificate_is_judged() {
        let c = config();
        let mut a = app(&[], AUDIENCE);
        a.certificates.push(AppCertificate {
            id: "old".into(),
            not_after: Timestamp(0),
            active: false,
        });
        let found = check_app_certificates(&c, &a, Timestamp(1_900_000_000));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].status, Status::Pass);
        let found = check_app_certificates(&c, &a, Timestamp(2_000_000_001));
        assert_eq!(
            (found[0].status, found[0].severity),
            (Status::Fail, Severity::Critical)
        );
        a.certificates.clear();
        assert_eq!(
            check_app_certificates(&c, &a, Timestamp(0))[0].status,
            Status::Warn
        );
    }
}
