//! `[idp.application]`: the SAML application at the external IdP that idc-guard reads (and,
//! with `idp.allow_update`, adds ACS URLs to) through the IdP's own API.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Microsoft Graph's public endpoint (v1.0).
pub const GRAPH_ENDPOINT: &str = "https://graph.microsoft.com/v1.0";
/// The Microsoft identity platform's public login endpoint.
pub const ENTRA_LOGIN_ENDPOINT: &str = "https://login.microsoftonline.com";

/// Which IdP API the application is read through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// Microsoft Entra ID, through Microsoft Graph v1.0.
    EntraId,
    /// Okta, through its Apps API.
    Okta,
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProviderKind::EntraId => "Microsoft Entra ID",
            ProviderKind::Okta => "Okta",
        })
    }
}

/// Where and how the application is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "provider")]
pub enum ProviderSettings {
    /// Entra ID: the tenant, Graph's and the login endpoint's base URLs.
    EntraId {
        /// The tenant id (GUID) or a verified domain.
        tenant: String,
        /// Graph's base URL, `https://graph.microsoft.com/v1.0` unless a national cloud.
        graph_endpoint: ServiceUrl,
        /// The token endpoint's base, `https://login.microsoftonline.com` by default.
        login_endpoint: ServiceUrl,
    },
    /// Okta: the org's URL, which serves both the token endpoint and the Apps API.
    Okta {
        /// `https://<org>.okta.com` (or a custom domain).
        org_url: ServiceUrl,
    },
}

impl ProviderSettings {
    /// The provider.
    pub fn kind(&self) -> ProviderKind {
        match self {
            ProviderSettings::EntraId { .. } => ProviderKind::EntraId,
            ProviderSettings::Okta { .. } => ProviderKind::Okta,
        }
    }
}

/// The application to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdpApplication {
    /// The provider and its endpoints.
    pub provider: ProviderSettings,
    /// Entra ID: the application (client) id or the application object's id; Okta: the app id.
    pub app_id: String,
    /// The Secrets Manager secret (name or ARN) holding the API credentials as JSON.
    pub credentials_secret: String,
}

/// An API base URL: `https://`, or `http://` to a loopback address only (local servers in
/// tests and the demo; a token sent over plain HTTP must not leave the machine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    /// Reads `text`; a trailing `/` is dropped.
    pub fn parse(text: &str) -> Result<ServiceUrl, String> {
        let trimmed = text.trim().trim_end_matches('/');
        let (scheme, rest) = trimmed
            .split_once("://")
            .ok_or_else(|| format!("\"{text}\" is not a URL (https://host[/path])"))?;
        let host_port = rest.split('/').next().unwrap_or_default();
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host_port.split(':').next().unwrap_or_default(),
        };
        if host.is_empty() || rest.contains(['?', '#', '@', ' ']) {
            return Err(format!(
                "\"{text}\" is not a base URL (https://host[/path], no query, fragment or user)"
            ));
        }
        match scheme {
            "https" => Ok(ServiceUrl(trimmed.to_owned())),
            "http" if is_loopback(host) => Ok(ServiceUrl(trimmed.to_owned())),
            "http" => Err(format!(
                "\"{text}\" is not HTTPS: credentials and tokens are sent only over HTTPS (plain HTTP only to a loopback address, for local servers)"
            )),
            _ => Err(format!("\"{text}\" is not an https:// URL")),
        }
    }

    /// The URL, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `scheme://host[:port]`.
    pub fn origin(&self) -> &str {
        let after_scheme = self.0.find("://").map_or(0, |i| i + 3);
        let end = self
            .0
            .get(after_scheme..)
            .and_then(|rest| rest.find('/'))
            .map_or(self.0.len(), |i| after_scheme + i);
        self.0.get(..end).unwrap_or(&self.0)
    }
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `[idp.application]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApplication {
    provider: ProviderKind,
    app_id: String,
    credentials_secret: String,
    tenant: Option<String>,
    org_url: Option<String>,
    endpoint: Option<String>,
    login_endpoint: Option<String>,
}

/// Problems with `[idp.application]`: the key (dotted) and what is wrong.
type Problems = Vec<(String, String)>;

fn url(
    problems: &mut Problems,
    key: &str,
    text: Option<&str>,
    default: &str,
) -> Option<ServiceUrl> {
    match ServiceUrl::parse(text.unwrap_or(default)) {
        Ok(u) => Some(u),
        Err(e) => {
            problems.push((format!("idp.application.{key}"), e));
            None
        }
    }
}

fn applies_only(problems: &mut Problems, keys: &[(&str, bool)], provider: &str) {
    for (key, set) in keys {
        if *set {
            problems.push((
                format!("idp.application.{key}"),
                format!("applies to provider = \"{provider}\" only"),
            ));
        }
    }
}

impl RawApplication {
    /// The application, or every problem with the key it names.
    pub(super) fn check(&self) -> Result<IdpApplication, Problems> {
        let mut problems = Vec::new();
        let provider = match self.provider {
            ProviderKind::EntraId => self.entra(&mut problems),
            ProviderKind::Okta => self.okta(&mut problems),
        };
        if !is_app_id(&self.app_id) {
            problems.push((
                "idp.application.app_id".into(),
                format!(
                    "\"{}\" is not an application id (letters, digits and '-', 1 to 64)",
                    self.app_id
                ),
            ));
        }
        if self.credentials_secret.trim().is_empty() {
            problems.push((
                "idp.application.credentials_secret".into(),
                "is empty: name the Secrets Manager secret that holds the API credentials".into(),
            ));
        }
        match provider {
            Some(provider) if problems.is_empty() => Ok(IdpApplication {
                provider,
                app_id: self.app_id.clone(),
                credentials_secret: self.credentials_secret.trim().to_owned(),
            }),
            _ => Err(problems),
        }
    }

    fn entra(&self, problems: &mut Problems) -> Option<ProviderSettings> {
        let graph = url(
            problems,
            "endpoint",
            self.endpoint.as_deref(),
            GRAPH_ENDPOINT,
        );
        let login = url(
            problems,
            "login_endpoint",
            self.login_endpoint.as_deref(),
            ENTRA_LOGIN_ENDPOINT,
        );
        let tenant = self.tenant.clone().unwrap_or_default();
        if !is_tenant(&tenant) {
            problems.push((
                "idp.application.tenant".into(),
                format!(
                    "\"{tenant}\" is not an Entra tenant id or domain (required for provider = \"entra-id\")"
                ),
            ));
        }
        applies_only(problems, &[("org_url", self.org_url.is_some())], "okta");
        graph.zip(login).map(
            |(graph_endpoint, login_endpoint)| ProviderSettings::EntraId {
                tenant,
                graph_endpoint,
                login_endpoint,
            },
        )
    }

    fn okta(&self, problems: &mut Problems) -> Option<ProviderSettings> {
        let org = match &self.org_url {
            Some(text) => url(problems, "org_url", Some(text), ""),
            None => {
                problems.push((
                    "idp.application.org_url".into(),
                    "required for provider = \"okta\" (https://<org>.okta.com)".into(),
                ));
                None
            }
        };
        applies_only(
            problems,
            &[
                ("tenant", self.tenant.is_some()),
                ("endpoint", self.endpoint.is_some()),
                ("login_endpoint", self.login_endpoint.is_some()),
            ],
            "entra-id",
        );
        org.map(|org_url| ProviderSettings::Okta { org_url })
    }
}

/// Graph object ids and app ids are GUIDs; Okta app ids are 20 alphanumerics. Both are kept
/// to characters that can go into a URL path unescaped.
fn is_app_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_tenant(tenant: &str) -> bool {
    (1..=253).contains(&tenant.len())
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_urls_are_https_or_loopback_http() {
        assert!(ServiceUrl::parse("https://graph.microsoft.com/v1.0/").is_ok());
        assert!(ServiceUrl::parse("http://127.0.0.1:8080/v1.0").is_ok());
        assert!(ServiceUrl::parse("http://localhost:1").is_ok());
        let e = ServiceUrl::parse("http://graph.example.com").unwrap_err();
        assert!(e.contains("not HTTPS"), "{e}");
        assert!(ServiceUrl::parse("http://127.0.0.1.evil.com").is_err());
        assert!(ServiceUrl::parse("ftp://x").is_err());
        assert!(ServiceUrl::parse("https://").is_err());
        assert!(ServiceUrl::parse("https://u@host").is_err());
        let u = ServiceUrl::parse("https://graph.microsoft.com/v1.0").unwrap();
        assert_eq!(u.origin(), "https://graph.microsoft.com");
        let o = ServiceUrl::parse("https://example.okta.com").unwrap();
        assert_eq!(o.origin(), "https://example.okta.com");
    }
}

#[cfg(test)]
mod config_tests {
    use crate::config::Config;

    fn config(tail: &str) -> Result<Config, String> {
        Config::from_toml(
            &crate::config::tests::example_with(r#"["us-east-1", "eu-west-1"]"#, tail),
            "c.toml",
        )
        .map_err(|e| e.to_string())
    }

    const ENTRA: &str = "saml_tenant_id = \"t\"\n[idp.application]\nprovider = \"entra-id\"\napp_id = \"4a2b7c9d-0e1f-4a3b-8c5d-6e7f8a9b0c1d\"\ntenant = \"contoso.onmicrosoft.com\"\ncredentials_secret = \"idc-guard/idp\"\n";

    #[test]
    fn an_application_reads_with_its_defaults() {
        let c = config(ENTRA).unwrap();
        let app = c.idp.application.unwrap();
        match app.provider {
            super::ProviderSettings::EntraId {
                graph_endpoint,
                login_endpoint,
                ..
            } => {
                assert_eq!(graph_endpoint.as_str(), super::GRAPH_ENDPOINT);
                assert_eq!(login_endpoint.as_str(), super::ENTRA_LOGIN_ENDPOINT);
            }
            super::ProviderSettings::Okta { .. } => panic!("entra-id expected"),
        }
        assert!(!c.idp.allow_update);
    }

    #[test]
    fn every_bad_setting_is_named() {
        let cases = [
            (
                format!("{ENTRA}endpoint = \"http://graph.example.com/v1.0\"\n"),
                "idp.application.endpoint: \"http://graph.example.com/v1.0\" is not HTTPS",
            ),
            (format!("{ENTRA}surprise = 1\n"), "unknown key `surprise`"),
            (
                ENTRA.replace("tenant = \"contoso.onmicrosoft.com\"\n", ""),
                "idp.application.tenant",
            ),
            (
                ENTRA.replace("saml_tenant_id = \"t\"\n", ""),
                "saml_tenant_id: required with [idp.application]",
            ),
            (
                ENTRA.replace("entra-id", "okta"),
                "idp.application.org_url: required for provider = \"okta\"",
            ),
            (
                ENTRA.replace("4a2b7c9d-0e1f-4a3b-8c5d-6e7f8a9b0c1d", "../../admin"),
                "idp.application.app_id",
            ),
            (
                "[idp]\nallow_update = true\n".to_owned(),
                "idp.allow_update: true, but no [idp.application]",
            ),
            (ENTRA.replace("entra-id", "ping"), "unknown variant `ping`"),
        ];
        for (tail, expected) in cases {
            let e = config(&tail).unwrap_err();
            assert!(e.contains(expected), "{tail}\n=> {e}");
        }
    }
}
