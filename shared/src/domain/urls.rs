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
