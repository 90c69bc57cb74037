//! Validation, per section: the TOML as written (`Raw*`, unknown keys refused) checked into a
//! [`Config`], every problem collected with the key it names.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::*;
use crate::domain::regions::{self, DEFAULT_SUPPORTED_REGIONS};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    instance_arn: String,
    identity_store_id: String,
    management_account_id: String,
    #[serde(default)]
    delegated_admin_account_ids: Vec<String>,
    organization_id: String,
    primary_region: String,
    regions: Vec<String>,
    key_arn: String,
    identity_source: IdentitySource,
    saml_tenant_id: Option<String>,
    #[serde(default)]
    policy: RawPolicySettings,
    #[serde(default)]
    remediation: RawRemediation,
    #[serde(default)]
    idp: RawIdp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdp {
    saml_metadata: Option<String>,
    certificate_warning_days: Option<u32>,
    sso_directory_event_source: Option<String>,
    application: Option<super::idp_app::RawApplication>,
    #[serde(default)]
    allow_update: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicySettings {
    #[serde(default)]
    pin_encryption_context: bool,
    #[serde(default)]
    key_admin_principals: Vec<String>,
    #[serde(default)]
    supported_regions: Vec<String>,
    #[serde(default)]
    organization_account_ids: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRemediation {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    guard_role_arns: Vec<String>,
    max_actions_per_window: Option<u32>,
    window_minutes: Option<u32>,
    #[serde(default)]
    create_missing_replicas: bool,
    #[serde(default)]
    repair_replica_policies: bool,
}

pub(super) fn is_key_id(s: &str) -> bool {
    let hex = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let uuid = |t: &str| {
        let groups: Vec<&str> = t.split('-').collect();
        groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]) && groups.iter().all(|g| hex(g))
    };
    match s.strip_prefix("mrk-") {
        // AWS: mrk- and 32 hex digits. Local emulators (moto) put a UUID after mrk-; accepting
        // it costs nothing, as the id is only ever compared and passed back to KMS.
        Some(rest) => (rest.len() == 32 && hex(rest)) || uuid(rest),
        None => uuid(s),
    }
}

fn is_org_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn is_identity_store_id(s: &str) -> bool {
    s.strip_prefix("d-")
        .is_some_and(|rest| rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Configuration problems, collected with their place so that every one is reported.
#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn bad(&mut self, place: &str, message: String) {
        self.0.push(ConfigProblem {
            place: place.to_owned(),
            message,
        });
    }
}

/// Every section is checked and every problem collected; the configuration is assembled only
/// when there is none.
pub(super) fn validate(raw: RawConfig) -> Result<Config, Vec<ConfigProblem>> {
    let mut p = Problems::default();
    let instance_ok = check_identity(&raw, &mut p);
    check_organization(&raw, &mut p);
    check_regions(&raw, &mut p);
    let key_arn = check_key(&raw, instance_ok, &mut p);
    check_policy_section(&raw, &mut p);
    check_remediation_section(&raw, &mut p);
    let saml_metadata = check_idp_section(&raw, &mut p);
    let application = check_idp_application(&raw, &mut p);
    match key_arn {
        Some(key_arn) if p.0.is_empty() => {
            let mut config = assemble(raw, key_arn, saml_metadata);
            config.idp.application = application;
            Ok(config)
        }
        _ => Err(p.0),
    }
}

/// The instance, its identity store and the management account; whether the instance ARN is
/// well formed (the key's partition is compared with it only then).
fn check_identity(raw: &RawConfig, p: &mut Problems) -> bool {
    let instance_ok = raw
        .instance_arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":sso:::instance/"))
        .is_some_and(|(partition, id)| {
            !partition.is_empty()
                && id
                    .strip_prefix("ssoins-")
                    .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_alphanumeric()))
        });
    if !instance_ok {
        p.bad(
            "instance_arn",
            format!(
                "\"{}\" is not an Identity Center instance ARN (expected arn:aws:sso:::instance/ssoins-<16 characters>)",
                raw.instance_arn
            ),
        );
    }
    if !is_identity_store_id(&raw.identity_store_id) {
        p.bad(
            "identity_store_id",
            format!(
                "\"{}\" is not an identity store id (expected d-<10 hex digits>)",
                raw.identity_store_id
            ),
        );
    }
    if !is_account_id(&raw.management_account_id) {
        p.bad(
            "management_account_id",
            format!(
                "\"{}\" is not a 12-digit account id",
                raw.management_account_id
            ),
        );
    }
    instance_ok
}

/// The delegated administrators and the organization id.
fn check_organization(raw: &RawConfig, p: &mut Problems) {
    for (i, id) in raw.delegated_admin_account_ids.iter().enumerate() {
        if !is_account_id(id) {
            p.bad(
                &format!("delegated_admin_account_ids[{i}]"),
                format!("\"{id}\" is not a 12-digit account id"),
            );
        } else if *id == raw.management_account_id {
            p.bad(
                &format!("delegated_admin_account_ids[{i}]"),
                format!(
                    "{id} is the management account; a delegated administrator is another account"
                ),
            );
        }
    }
    if !is_org_id(&raw.organization_id) {
        p.bad(
            "organization_id",
            format!(
                "\"{}\" is not an organization id (expected o-<10 to 32 lower-case letters or digits>)",
                raw.organization_id
            ),
        );
    }
}

/// The primary Region, the enabled Regions and the supported set.
fn check_regions(raw: &RawConfig, p: &mut Problems) {
    if !regions::is_region_name(&raw.primary_region) {
        p.bad(
            "primary_region",
            format!("\"{}\" is not a Region code", raw.primary_region),
        );
    }
    if raw.regions.is_empty() {
        p.bad(
            "regions",
            "must list every enabled Region, the primary included".to_owned(),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, r) in raw.regions.iter().enumerate() {
        if !regions::is_region_name(r) {
            p.bad(
                &format!("regions[{i}]"),
                format!("\"{r}\" is not a Region code"),
            );
        } else if !seen.insert(r.as_str()) {
            p.bad(&format!("regions[{i}]"), format!("{r} is listed twice"));
        }
    }
    if !raw.regions.is_empty() && !raw.regions.contains(&raw.primary_region) {
        p.bad(
            "regions",
            format!("does not include the primary Region {}", raw.primary_region),
        );
    }
    for (i, r) in raw.policy.supported_regions.iter().enumerate() {
        if !regions::is_region_name(r) {
            p.bad(
                &format!("policy.supported_regions[{i}]"),
                format!("\"{r}\" is not a Region code"),
            );
        }
    }
}

/// The key's ARN, in the management account and the primary Region's partition.
fn check_key(raw: &RawConfig, instance_ok: bool, p: &mut Problems) -> Option<KeyArn> {
    let key_arn = match KeyArn::parse(&raw.key_arn) {
        Ok(k) => Some(k),
        Err(e) => {
            p.bad("key_arn", e.to_string());
            None
        }
    };
    if let Some(k) = &key_arn {
        if is_account_id(&raw.management_account_id) && k.account != raw.management_account_id {
            p.bad(
                "key_arn",
                format!(
                    "the key is in account {}, but Identity Center needs it in the instance's (management) account {}",
                    k.account, raw.management_account_id
                ),
            );
        }
        if regions::is_region_name(&raw.primary_region)
            && k.partition != regions::partition_of(&raw.primary_region)
        {
            p.bad(
                "key_arn",
                format!(
                    "partition {} differs from the primary Region's partition",
                    k.partition
                ),
            );
        }
        if !raw
            .instance_arn
            .starts_with(&format!("arn:{}:", k.partition))
            && instance_ok
        {
            p.bad(
                "instance_arn",
                format!("is not in the key's partition {}", k.partition),
            );
        }
    }
    key_arn
}

/// The SAML tenant id and the `[policy]` section.
fn check_policy_section(raw: &RawConfig, p: &mut Problems) {
    if let Some(t) = raw.saml_tenant_id.as_ref().filter(|t| {
        t.is_empty()
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        p.bad(
            "saml_tenant_id",
            format!("\"{t}\" is not a tenant id (letters, digits, '-' and '_')"),
        );
    }
    for (i, principal) in raw.policy.key_admin_principals.iter().enumerate() {
        if let Err(e) = idc_guard_policy::document::principal::parse_aws_principal(principal) {
            p.bad(&format!("policy.key_admin_principals[{i}]"), e.to_string());
        }
    }
    for (i, id) in raw.policy.organization_account_ids.iter().enumerate() {
        if !is_account_id(id) {
            p.bad(
                &format!("policy.organization_account_ids[{i}]"),
                format!("\"{id}\" is not a 12-digit account id"),
            );
        }
    }
}

/// The `[remediation]` section: the guard's roles (loop protection) and the breaker.
fn check_remediation_section(raw: &RawConfig, p: &mut Problems) {
    for (i, arn) in raw.remediation.guard_role_arns.iter().enumerate() {
        let role = arn
            .strip_prefix("arn:")
            .and_then(|r| r.split_once(":iam::"))
            .and_then(|(_, r)| r.split_once(":role/"))
            .is_some_and(|(acct, name)| is_account_id(acct) && !name.is_empty());
        if !role {
            p.bad(
                &format!("remediation.guard_role_arns[{i}]"),
                format!("\"{arn}\" is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"),
            );
        }
    }
    if let Err(e) = loop_protection(raw.remediation.mode, &raw.remediation.guard_role_arns) {
        p.bad("remediation.guard_role_arns", e.to_string());
    }
    if raw.remediation.max_actions_per_window == Some(0) {
        p.bad(
            "remediation.max_actions_per_window",
            "must be at least 1 (use mode = \"notify\" to stop remediation)".to_owned(),
        );
    }
    if let Some(w) = raw.remediation.window_minutes
        && !(1..=10_080).contains(&w)
    {
        p.bad(
            "remediation.window_minutes",
            format!("{w} is outside 1..=10080 (one week)"),
        );
    }
}

/// The `[idp]` section; the metadata location when it reads.
fn check_idp_section(raw: &RawConfig, p: &mut Problems) -> Option<MetadataLocation> {
    let saml_metadata = match raw
        .idp
        .saml_metadata
        .as_deref()
        .map(MetadataLocation::parse)
    {
        Some(Ok(location)) => Some(location),
        Some(Err(e)) => {
            p.bad("idp.saml_metadata", e.to_string());
            None
        }
        None => None,
    };
    if let Some(days) = raw.idp.certificate_warning_days
        && !(1..=3650).contains(&days)
    {
        p.bad(
            "idp.certificate_warning_days",
            format!("{days} is outside 1..=3650"),
        );
    }
    if let Some(source) = &raw.idp.sso_directory_event_source
        && !source.starts_with("aws.")
    {
        p.bad(
            "idp.sso_directory_event_source",
            format!("\"{source}\" is not an AWS event source (aws.<service>)"),
        );
    }
    saml_metadata
}

/// `[idp.application]`, when present and valid. Judging the live application needs the
/// tenant id in the ACS URLs, and `allow_update` needs an application to update.
fn check_idp_application(raw: &RawConfig, p: &mut Problems) -> Option<IdpApplication> {
    let Some(app) = &raw.idp.application else {
        if raw.idp.allow_update {
            p.bad(
                "idp.allow_update",
                "true, but no [idp.application] says which application to update".into(),
            );
        }
        return None;
    };
    if raw.saml_tenant_id.is_none() {
        p.bad(
            "saml_tenant_id",
            "required with [idp.application]: the ACS URLs the application must have end with it"
                .into(),
        );
    }
    match app.check() {
        Ok(application) => Some(application),
        Err(problems) => {
            for (place, message) in problems {
                p.bad(&place, message);
            }
            None
        }
    }
}

/// The configuration from a section-by-section valid raw one, with the defaults filled in.
fn assemble(raw: RawConfig, key_arn: KeyArn, saml_metadata: Option<MetadataLocation>) -> Config {
    let mut regions = raw.regions;
    // Keep the primary first: findings and URLs read in that order.
    if let Some(pos) = regions.iter().position(|r| *r == raw.primary_region) {
        let primary = regions.remove(pos);
        regions.insert(0, primary);
    }
    let supported_regions = if raw.policy.supported_regions.is_empty() {
        DEFAULT_SUPPORTED_REGIONS
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        raw.policy.supported_regions
    };
    Config {
        instance_arn: raw.instance_arn,
        identity_store_id: raw.identity_store_id,
        management_account_id: raw.management_account_id,
        delegated_admin_account_ids: raw.delegated_admin_account_ids,
        organization_id: raw.organization_id,
        primary_region: raw.primary_region,
        regions,
        key_arn,
        identity_source: raw.identity_source,
        saml_tenant_id: raw.saml_tenant_id,
        pin_encryption_context: raw.policy.pin_encryption_context,
        key_admin_principals: raw.policy.key_admin_principals,
        supported_regions,
        organization_account_ids: raw.policy.organization_account_ids,
        remediation: RemediationSettings {
            mode: raw.remediation.mode,
            guard_role_arns: raw.remediation.guard_role_arns,
            max_actions_per_window: raw
                .remediation
                .max_actions_per_window
                .unwrap_or(DEFAULT_MAX_ACTIONS_PER_WINDOW),
            window_minutes: raw
                .remediation
                .window_minutes
                .unwrap_or(DEFAULT_WINDOW_MINUTES),
            create_missing_replicas: raw.remediation.create_missing_replicas,
            repair_replica_policies: raw.remediation.repair_replica_policies,
        },
        idp: IdpSettings {
            saml_metadata,
            certificate_warning_days: raw
                .idp
                .certificate_warning_days
                .unwrap_or(DEFAULT_CERTIFICATE_WARNING_DAYS),
            sso_directory_event_source: raw
                .idp
                .sso_directory_event_source
                .unwrap_or_else(|| DEFAULT_SSO_DIRECTORY_EVENT_SOURCE.to_owned()),
            application: None,
            allow_update: raw.idp.allow_update,
        },
    }
}
