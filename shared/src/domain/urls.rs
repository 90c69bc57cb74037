//! The URLs an external IdP and users need per Region (user guide
//! `multi-region-workforce-access.html`).

use serde::Serialize;

use crate::config::Config;

/// The sign-in URLs of one enabled Region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionUrls {
    /// The Region.
    pub region: String,
    /// Whether it is the instance's primary Region.
    pub primary: bool,
    /// SAML assertion consumer service URLs to register at the IdP (IPv4, then dual-stack).
    pub acs_urls: Vec<String>,
    /// The older ACS URL form, valid only in the primary Region of instances created before
    /// February 2026.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_acs_url: Option<String>,
    /// AWS access portal URLs.
    pub portal_urls: Vec<String>,
}

/// The placeholder used when `saml_tenant_id` is not configured.
pub const TENANT_PLACEHOLDER: &str = "<tenant-id>";

/// The URLs for every enabled Region, the primary first.
pub fn region_urls(config: &Config) -> Vec<RegionUrls> {
    config
        .regions
        .iter()
        .map(|region| urls_for(config, region))
        .collect()
}

/// The URLs of one Region (enabled or about to be).
pub fn urls_for(config: &Config, region: &str) -> RegionUrls {
    let tenant = config
        .saml_tenant_id
        .as_deref()
        .unwrap_or(TENANT_PLACEHOLDER);
    let instance = config.instance_id();
    let primary = region == config.primary_region;
    let mut portal_urls = vec![
        format!("https://{instance}.{region}.portal.amazonaws.com"),
        format!("https://{instance}.portal.{region}.app.aws"),
    ];
    if primary {
        portal_urls.push(format!(
            "https://{}.awsapps.com/start",
            config.identity_store_id
        ));
    }
    RegionUrls {
        region: region.to_owned(),
        primary,
        acs_urls: vec![
            format!("https://{region}.signin.aws/platform/saml/acs/{tenant}"),
            format!("https://{region}.sso.signin.aws/platform/saml/acs/{tenant}"),
        ],
        legacy_acs_url: primary
            .then(|| format!("https://{region}.signin.aws.amazon.com/platform/saml/acs/{tenant}")),
        portal_urls,
    }
}

/// Whether the URL forms are documented for the configuration's partition (only `aws` is).
pub fn documented_for(config: &Config) -> bool {
    config.partition() == "aws"
}

/// The SP entity IDs (the "IAM Identity Center issuer URL") the IdP's audience may be. AWS
/// publishes no pattern for it; instances show
/// `https://<primary>.signin.aws.amazon.com/platform/saml/<identity-store-id>` (first here,
/// the one proposed). The other hosts of the ACS URLs and the tenant id in place of the
/// identity store id are accepted too, so an unpublished variant is not reported as wrong
/// (docs/idp-guard.md).
pub fn sp_entity_ids(config: &Config) -> Vec<String> {
    let region = &config.primary_region;
    let mut ids = vec![config.identity_store_id.clone()];
    ids.extend(config.saml_tenant_id.clone());
    let mut out = Vec::new();
    for id in &ids {
        for host in ["signin.aws.amazon.com", "signin.aws", "sso.signin.aws"] {
            out.push(format!("https://{region}.{host}/platform/saml/{id}"));
        }
    }
    out
}

/// The Region whose ACS URL `url` is, for the configured tenant, in any documented form.
pub fn acs_url_region<'a>(config: &Config, url: &'a str) -> Option<&'a str> {
    let tenant = config.saml_tenant_id.as_deref()?;
    let rest = url.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/')?;
    if path != format!("platform/saml/acs/{tenant}") {
        return None;
    }
    let region = host
        .strip_suffix(".sso.signin.aws")
        .or_else(|| host.strip_suffix(".signin.aws.amazon.com"))
        .or_else(|| host.strip_suffix(".signin.aws"))?;
    crate::domain::regions::is_region_name(region).then_some(region)
}
