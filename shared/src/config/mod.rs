//! The idc-guard configuration (docs/configuration.md): one schema, read from TOML by the CLI.
//!
//! Unknown keys and invalid values are errors that name the key. Validation collects every
//! problem, so a user fixes a config in one pass.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::regions;

mod idp_app;
mod validate;

pub use idp_app::{
    ENTRA_LOGIN_ENDPOINT, GRAPH_ENDPOINT, IdpApplication, ProviderKind, ProviderSettings,
    ServiceUrl,
};

use validate::{RawConfig, is_key_id, validate};

/// Where the instance's users come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentitySource {
    /// An external SAML 2.0 identity provider.
    ExternalIdp,
    /// The Identity Center directory.
    IdentityCenterDirectory,
}

/// What a guard does with a failing check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Plan only, report the plan.
    DryRun,
    /// Report, change nothing.
    #[default]
    Notify,
    /// Apply the plan when it is safe.
    Remediate,
}

impl std::str::FromStr for Mode {
    type Err = ValueError;

    /// Reads a mode name as the configuration, the CLI and `IDC_GUARD_MODE` write it.
    fn from_str(text: &str) -> Result<Mode, ValueError> {
        match text {
            "dry-run" => Ok(Mode::DryRun),
            "notify" => Ok(Mode::Notify),
            "remediate" => Ok(Mode::Remediate),
            other => Err(form(other, "dry-run, notify or remediate")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::DryRun => "dry-run",
            Mode::Notify => "notify",
            Mode::Remediate => "remediate",
        })
    }
}

/// A configuration value that cannot be used, and why; the place is added by the caller
/// ([`ConfigProblem`]) or named by it (an environment variable, a flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The text does not have the expected form.
    #[error("\"{value}\" is not {expected}")]
    Form {
        /// What was given.
        value: String,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// A key ARN whose Region is not in its partition.
    #[error("\"{value}\": Region {region} is not in partition {partition}")]
    Partition {
        /// What was given.
        value: String,
        /// Its Region.
        region: String,
        /// Its partition.
        partition: String,
    },
    /// A key ARN whose key id is not one.
    #[error("\"{value}\": \"{key_id}\" is not a KMS key id")]
    KeyId {
        /// What was given.
        value: String,
        /// The part after `key/`.
        key_id: String,
    },
    /// `remediate` without the guards' own roles.
    #[error(
        "must name the role(s) the guards remediate with when mode is remediate: without them a guard cannot tell its own changes from others' (loop protection)"
    )]
    NoGuardRoles,
}

fn form(value: &str, expected: &'static str) -> ValueError {
    ValueError::Form {
        value: value.to_owned(),
        expected,
    }
}

/// Remediation needs loop protection: the roles whose changes are the guards' own.
fn loop_protection(mode: Mode, guard_role_arns: &[String]) -> Result<(), ValueError> {
    if mode == Mode::Remediate && guard_role_arns.is_empty() {
        return Err(ValueError::NoGuardRoles);
    }
    Ok(())
}

impl RemediationSettings {
    /// Switches the mode (an environment or command-line override), keeping the rule that
    /// `remediate` needs `guard_role_arns`.
    pub fn set_mode(&mut self, mode: Mode) -> Result<(), ConfigProblem> {
        loop_protection(mode, &self.guard_role_arns).map_err(|e| ConfigProblem {
            place: "remediation.guard_role_arns".to_owned(),
            message: e.to_string(),
        })?;
        self.mode = mode;
        Ok(())
    }
}

/// Default circuit-breaker limit: remediations per key and window.
pub const DEFAULT_MAX_ACTIONS_PER_WINDOW: u32 = 5;
/// Default circuit-breaker window.
pub const DEFAULT_WINDOW_MINUTES: u32 = 60;

/// How the guards remediate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemediationSettings {
    /// What the guards do.
    pub mode: Mode,
    /// The IAM roles the guards remediate with: their changes are re-checked, never re-remediated.
    pub guard_role_arns: Vec<String>,
    /// Circuit breaker: at most this many remediations (applied plans) of the key in one
    /// Region per window; a failed application counts too.
    pub max_actions_per_window: u32,
    /// Circuit breaker window, in minutes.
    pub window_minutes: u32,
    /// region-guard may create a replica missing from an enabled Region (with the model
    /// policy). Off by default: creating keys is a bigger step than repairing one.
    pub create_missing_replicas: bool,
    /// region-guard may apply the key-policy guard's plan to a replica whose policy or state
    /// fails (restore the model's statements, cancel deletion, enable). Off by default.
    pub repair_replica_policies: bool,
}

/// Where the external IdP's SAML metadata is read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "location")]
pub enum MetadataLocation {
    /// An S3 object (`s3://bucket/key`).
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
    /// A local file (the CLI, or a file packaged with the function).
    File(String),
}

impl MetadataLocation {
    /// Reads `s3://bucket/key` or a file path.
    pub fn parse(text: &str) -> Result<MetadataLocation, ValueError> {
        if let Some(rest) = text.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(MetadataLocation::S3 {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    })
                }
                _ => Err(form(text, "s3://<bucket>/<key>")),
            };
        }
        if text.is_empty() || text.contains("://") {
            return Err(form(text, "s3://<bucket>/<key> or a file path"));
        }
        Ok(MetadataLocation::File(text.to_owned()))
    }
}

impl fmt::Display for MetadataLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataLocation::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            MetadataLocation::File(path) => f.write_str(path),
        }
    }
}

/// Default: warn when the IdP's signing certificate expires within this many days.
pub const DEFAULT_CERTIFICATE_WARNING_DAYS: u32 = 30;
/// Default EventBridge `source` of sso-directory events (AWS has not published it).
pub const DEFAULT_SSO_DIRECTORY_EVENT_SOURCE: &str = "aws.sso-directory";

/// The identity source and external IdP settings (`[idp]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdpSettings {
    /// The IdP's SAML metadata, when available.
    pub saml_metadata: Option<MetadataLocation>,
    /// Warn when the signing certificate expires within this many days.
    pub certificate_warning_days: u32,
    /// The EventBridge `source` of `sso-directory.amazonaws.com` events.
    pub sso_directory_event_source: String,
    /// The SAML application at the IdP, read through the IdP's API, when configured.
    pub application: Option<IdpApplication>,
    /// Whether remediate mode may add missing ACS URLs to the application (never removes).
    pub allow_update: bool,
}

/// A KMS key ARN, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyArn {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// The Region of this ARN.
    pub region: String,
    /// The account that owns the key.
    pub account: String,
    /// `mrk-...` for a multi-Region key, a UUID otherwise.
    pub key_id: String,
}

impl KeyArn {
    /// Parses `arn:<partition>:kms:<region>:<account>:key/<id>`.
    pub fn parse(text: &str) -> Result<KeyArn, ValueError> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(form(
                text,
                "an ARN (expected arn:<partition>:kms:<region>:<account>:key/<key-id>)",
            ));
        };
        if *arn != "arn" || *service != "kms" {
            return Err(form(text, "a KMS key ARN"));
        }
        if !regions::is_region_name(region) {
            return Err(form(text, "a key ARN with a valid Region"));
        }
        if regions::partition_of(region) != *partition {
            return Err(ValueError::Partition {
                value: text.to_owned(),
                region: (*region).to_owned(),
                partition: (*partition).to_owned(),
            });
        }
        if !is_account_id(account) {
            return Err(form(text, "a key ARN with a 12-digit account id"));
        }
        let Some(key_id) = resource.strip_prefix("key/") else {
            return Err(form(text, "a key ARN (an alias ARN names no key)"));
        };
        if !is_key_id(key_id) {
            return Err(ValueError::KeyId {
                value: text.to_owned(),
                key_id: key_id.to_owned(),
            });
        }
        Ok(KeyArn {
            partition: (*partition).to_owned(),
            region: (*region).to_owned(),
            account: (*account).to_owned(),
            key_id: key_id.to_owned(),
        })
    }

    /// Whether this is a multi-Region key id (`mrk-` prefix).
    pub fn is_multi_region(&self) -> bool {
        self.key_id.starts_with("mrk-")
    }

    /// The ARN of the same multi-Region key in `region` (a replica's ARN differs only there).
    pub fn in_region(&self, region: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:key/{}",
            self.partition, region, self.account, self.key_id
        )
    }
}

impl fmt::Display for KeyArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.in_region(&self.region))
    }
}

/// A validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// `arn:aws:sso:::instance/ssoins-...` (no Region, no account).
    pub instance_arn: String,
    /// `d-...`
    pub identity_store_id: String,
    /// The Organizations management account, which owns the instance and the key.
    pub management_account_id: String,
    /// Delegated administrator accounts for Identity Center (may be empty).
    pub delegated_admin_account_ids: Vec<String>,
    /// `o-...`
    pub organization_id: String,
    /// The instance's primary Region.
    pub primary_region: String,
    /// Every enabled Region, the primary first.
    pub regions: Vec<String>,
    /// The guarded multi-Region key, as configured.
    pub key_arn: KeyArn,
    /// The identity source the instance is expected to use.
    pub identity_source: IdentitySource,
    /// The SAML tenant id in the ACS URLs, when known.
    pub saml_tenant_id: Option<String>,
    /// Add the advanced encryption-context pinning to statements 4 and 5.
    pub pin_encryption_context: bool,
    /// Extra principal ARNs allowed to administer the key.
    pub key_admin_principals: Vec<String>,
    /// Regions in which multi-Region replication is supported.
    pub supported_regions: Vec<String>,
    /// Accounts known to be in the organization besides the admin accounts (grant checks).
    pub organization_account_ids: Vec<String>,
    /// How the guards remediate (`remediation.mode` is what they do).
    pub remediation: RemediationSettings,
    /// The identity source and external IdP (`[idp]`).
    pub idp: IdpSettings,
}

/// One configuration problem, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The TOML key (dotted) or position the problem is at.
    pub place: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.place, self.message)
    }
}

/// A configuration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_problems(source_name, problems))]
pub struct ConfigError {
    /// The file (or other source) the configuration came from.
    pub source_name: String,
    /// Every problem found.
    pub problems: Vec<ConfigProblem>,
}

fn render_problems(source: &str, problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{source}: {}: {}", p.place, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Reads a TOML configuration; `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            source_name: source_name.to_owned(),
            problems: vec![toml_problem(text, &e)],
        })?;
        validate(raw).map_err(|problems| ConfigError {
            source_name: source_name.to_owned(),
            problems,
        })
    }

    /// The partition everything lives in.
    pub fn partition(&self) -> &str {
        &self.key_arn.partition
    }

    /// The account that owns the key (and the instance).
    pub fn key_account(&self) -> &str {
        &self.key_arn.account
    }

    /// The key's ARN in `region`.
    pub fn key_arn_in(&self, region: &str) -> String {
        self.key_arn.in_region(region)
    }

    /// The accounts whose principals administer Identity Center and the key.
    pub fn admin_accounts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.management_account_id.as_str())
            .chain(self.delegated_admin_account_ids.iter().map(String::as_str))
    }

    /// The identity store's ARN, as in the identitystore encryption context.
    pub fn identity_store_arn(&self) -> String {
        format!(
            "arn:{}:identitystore::{}:identitystore/{}",
            self.partition(),
            self.management_account_id,
            self.identity_store_id
        )
    }

    /// The `ssoins-...` part of the instance ARN.
    pub fn instance_id(&self) -> &str {
        self.instance_arn
            .rsplit('/')
            .next()
            .unwrap_or(&self.instance_arn)
    }
}

fn toml_problem(text: &str, e: &toml::de::Error) -> ConfigProblem {
    let message = e.message().trim().to_owned();
    let place = match e.span() {
        Some(span) if !message.starts_with("missing field") => {
            let before = text.get(..span.start).unwrap_or("");
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}")
        }
        _ => "top level".to_owned(),
    };
    ConfigProblem {
        place,
        message: message.replace("field", "key"),
    }
}

/// Whether `s` is a 12-digit AWS account id.
pub use idc_guard_policy::document::principal::is_account_id;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The design's example configuration with the given `regions` array and trailing tables.
    pub(crate) fn example_with(regions: &str, tail: &str) -> String {
        format!(
            r#"
instance_arn = "arn:aws:sso:::instance/ssoins-1234567890abcdef"
identity_store_id = "d-1234567890"
management_account_id = "111122223333"
delegated_admin_account_ids = ["444455556666"]
organization_id = "o-a1b2c3d4e5"
primary_region = "us-east-1"
regions = {regions}
key_arn = "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
identity_source = "external-idp"
{tail}
"#
        )
    }

    fn example() -> String {
        example_with(
            r#"["us-west-2", "us-east-1"]"#,
            "[policy]\npin_encryption_context = true\n[remediation]\nmode = \"remediate\"\nguard_role_arns = [\"arn:aws:iam::111122223333:role/idc-guard\"]\n",
        )
    }

    #[test]
    fn remediation_needs_the_guards_own_roles() {
        let text = example().replace(
            "guard_role_arns = [\"arn:aws:iam::111122223333:role/idc-guard\"]\n",
            "",
        );
        let err = Config::from_toml(&text, "c.toml").unwrap_err();
        assert_eq!(err.problems[0].place, "remediation.guard_role_arns");
        let mut c =
            Config::from_toml(&text.replace("\"remediate\"", "\"notify\""), "c.toml").unwrap();
        assert!(c.remediation.set_mode(Mode::Remediate).is_err());
        assert!(c.remediation.set_mode(Mode::DryRun).is_ok());
    }

    #[test]
    fn reads_the_design_example() {
        let c = Config::from_toml(&example(), "c.toml").unwrap();
        assert_eq!(c.regions, ["us-east-1", "us-west-2"]);
        assert_eq!(c.remediation.mode, Mode::Remediate);
        assert_eq!(c.supported_regions.len(), 17);
        assert_eq!(
            c.key_arn_in("us-west-2"),
            "arn:aws:kms:us-west-2:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
        );
        assert_eq!(
            c.identity_store_arn(),
            "arn:aws:identitystore::111122223333:identitystore/d-1234567890"
        );
        assert_eq!(c.instance_id(), "ssoins-1234567890abcdef");
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        // The unknown key lands in the last table, [policy], once [remediation] is gone.
        let text = format!(
            "{}\nsurprise = 1\n",
            example().split("[remediation]").next().unwrap()
        );
        let err = Config::from_toml(&text, "c.toml").unwrap_err().to_string();
        assert!(err.starts_with("c.toml: line "), "{err}");
        assert!(err.contains("unknown key `surprise`"), "{err}");
        let err = Config::from_toml(&example().replace("mode =", "mdoe ="), "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `mdoe`"), "{err}");
    }

    #[test]
    fn missing_key_is_named() {
        let text = example().replace("organization_id = \"o-a1b2c3d4e5\"\n", "");
        let err = Config::from_toml(&text, "c.toml").unwrap_err().to_string();
        assert!(err.contains("missing key `organization_id`"), "{err}");
    }

    #[test]
    fn every_bad_value_is_reported_by_key() {
        let text = example()
            .replace("111122223333\"\n", "11112222333\"\n")
            .replace("\"us-west-2\", \"us-east-1\"", "\"us-west-2\", \"moon-1\"")
            .replace("\"remediate\"", "\"yolo\"");
        let err = Config::from_toml(&text, "c.toml").unwrap_err();
        // The mode is a type error, reported first by the TOML reader.
        assert!(err.to_string().contains("yolo"), "{err}");
        let text = example()
            .replace(
                "management_account_id = \"111122223333\"",
                "management_account_id = \"11112222333\"",
            )
            .replace("\"us-west-2\", \"us-east-1\"", "\"us-west-2\", \"moon-1\"");
        let err = Config::from_toml(&text, "c.toml").unwrap_err();
        let places: Vec<&str> = err.problems.iter().map(|p| p.place.as_str()).collect();
        assert!(places.contains(&"management_account_id"), "{places:?}");
        assert!(places.contains(&"regions[1]"), "{places:?}");
        assert!(places.contains(&"regions"), "{places:?}");
    }

    #[test]
    fn key_must_be_in_the_management_account() {
        let text = example().replace("us-east-1:111122223333:key", "us-east-1:999988887777:key");
        let err = Config::from_toml(&text, "c.toml").unwrap_err().to_string();
        assert!(
            err.contains("key_arn: the key is in account 999988887777"),
            "{err}"
        );
    }

    #[test]
    fn key_ids() {
        assert!(is_key_id("mrk-0123456789abcdef0123456789abcdef"));
        assert!(is_key_id("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(!is_key_id("mrk-0123"));
        assert!(!is_key_id("alias/x"));
    }
}
