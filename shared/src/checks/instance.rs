//! The instance-level checks (docs/checks.md): INSTANCE-ENCRYPTION, KEY-MULTI-REGION,
//! REGION-SUPPORTED, REGION-KEY-READY and KEY-REPLICA-POLICY, over live state read elsewhere.

use serde_json::Value;

use crate::checks::{At, CheckId, finding_on};
use crate::config::Config;
use crate::domain::arn::key_id_of_arn;
use crate::domain::live::{
    InstanceDescription, InstanceRegion, KeyDescription, KeyState, MultiRegionRole,
};
use crate::finding::{Finding, Severity, Status};
use crate::ports::PortError;

/// The Regions the instance uses: every Region that is not being removed, the primary first;
/// the configured Regions when the instance's are unknown.
pub fn enabled_regions(config: &Config, live: Option<&[InstanceRegion]>) -> Vec<String> {
    let Some(live) = live else {
        return config.regions.clone();
    };
    let mut regions: Vec<String> = live
        .iter()
        .filter(|r| r.status != "REMOVING")
        .map(|r| r.name.clone())
        .collect();
    regions.sort_by_key(|r| (*r != config.primary_region, r.clone()));
    regions
}

/// INSTANCE-ENCRYPTION: the instance is encrypted with the guarded customer managed key and
/// the encryption status is ENABLED.
pub fn check_instance_encryption(config: &Config, instance: &InstanceDescription) -> Finding {
    let check = CheckId::InstanceEncryption;
    let guarded = &config.key_arn.key_id;
    let on = |status, message: String, cause: &str| {
        finding_on(
            check,
            status,
            &config.primary_region,
            &config.instance_arn,
            message,
            cause,
        )
    };
    let Some(enc) = &instance.encryption else {
        return on(
            Status::Fail,
            format!(
                "{check} fails: DescribeInstance reports no encryption configuration for {}; {}.",
                config.instance_arn,
                check.consequence()
            ),
            "no-configuration",
        );
    };
    if enc.key_type != "CUSTOMER_MANAGED_KEY" {
        return on(
            Status::Fail,
            format!(
                "{check} fails: the instance uses {} instead of the customer managed multi-Region key {}. Identity Center cannot replicate to additional Regions with an AWS owned key, and existing additional Regions stop working.",
                enc.key_type, config.key_arn
            ),
            &format!("key-type:{}", enc.key_type),
        );
    }
    let uses = enc.kms_key_arn.as_deref().unwrap_or("(no key ARN)");
    if enc.kms_key_arn.as_deref().and_then(key_id_of_arn) != Some(guarded.as_str()) {
        return on(
            Status::Fail,
            format!(
                "{check} fails: the instance uses the key {uses}, not the guarded key {}: idc-guard watches the wrong key. Update the configuration's key_arn, or the instance.",
                config.key_arn
            ),
            &format!("other-key:{uses}"),
        );
    }
    match enc.status.as_deref() {
        Some("ENABLED") => on(
            Status::Pass,
            format!("{check} holds: the instance uses the guarded key {uses}, status ENABLED"),
            "ok",
        ),
        Some("UPDATING") => {
            let mut f = on(
                Status::Warn,
                format!(
                    "{check}: the instance is switching to {uses} (UPDATING); the next check confirms it"
                ),
                "updating",
            );
            f.severity = Severity::Low;
            f
        }
        other => on(
            Status::Fail,
            format!(
                "{check} fails: encryption status is {}{}; {}.",
                other.unwrap_or("unknown"),
                enc.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                check.consequence()
            ),
            &format!("status:{}", other.unwrap_or("unknown")),
        ),
    }
}

/// INSTANCE-ENCRYPTION when the instance cannot be read: the state is unknown, not fine.
pub fn unreadable_instance(config: &Config, error: &PortError) -> Finding {
    finding_on(
        CheckId::InstanceEncryption,
        Status::Error,
        &config.primary_region,
        &config.instance_arn,
        format!(
            "INSTANCE-ENCRYPTION could not be checked: the instance {} could not be read ({error})",
            config.instance_arn
        ),
        "unreadable",
    )
}

/// REGION-SUPPORTED: `region` is in the configured supported set.
pub fn check_region_supported(config: &Config, region: &str) -> Finding {
    let check = CheckId::RegionSupported;
    let supported = config.supported_regions.iter().any(|r| r == region);
    let (status, message) = if supported {
        (
            Status::Pass,
            format!("{check} holds: {region} is in the supported set"),
        )
    } else {
        (
            Status::Fail,
            format!(
                "{check} fails: {region} is not in the supported set ({}); {}. If AWS has added it, list it in policy.supported_regions.",
                config.supported_regions.join(", "),
                check.consequence()
            ),
        )
    };
    finding_on(
        check,
        status,
        region,
        &config.instance_arn,
        message,
        if supported { "ok" } else { "unsupported" },
    )
}

/// KEY-MULTI-REGION: the key (as described in the primary Region) is a multi-Region primary
/// in the instance's primary Region with a replica in every enabled Region.
#[expect(
    clippy::too_many_lines,
    reason = "one outcome per way a key falls short of a multi-Region primary with a replica everywhere (single-Region, a replica, another primary Region, missing replicas), each with its own message"
)]
pub fn check_multi_region(
    config: &Config,
    primary: &KeyDescription,
    enabled: &[String],
) -> Finding {
    let check = CheckId::KeyMultiRegion;
    let at = At::new(config, &config.primary_region);
    let fail = |message: String, cause: &str| at.finding(check, Status::Fail, message, None, cause);
    // KMS's PrimaryKey names the primary's Region; when it is the Region read, this is the
    // primary whatever MultiRegionKeyType says (a local server has been seen to flip it).
    let role = match (&primary.primary_region, primary.multi_region) {
        (Some(p), Some(_)) if *p == primary.region => Some(MultiRegionRole::Primary),
        (_, role) => role,
    };
    match role {
        None => {
            return fail(
                format!(
                    "{check} fails: {} is a single-Region key; it cannot be replicated, so Identity Center cannot use it in additional Regions.",
                    primary.arn
                ),
                "single-region",
            );
        }
        Some(MultiRegionRole::Replica) => {
            return fail(
                format!(
                    "{check} fails: in {} the key is a replica; its primary is in {}, but the instance's primary Region is {}.",
                    primary.region,
                    primary
                        .primary_region
                        .as_deref()
                        .unwrap_or("an unknown Region"),
                    config.primary_region
                ),
                "replica-in-primary",
            );
        }
        Some(MultiRegionRole::Primary) => {}
    }
    if let Some(p) = &primary.primary_region
        && *p != config.primary_region
    {
        return fail(
            format!(
                "{check} fails: the key's primary is in {p}, but the instance's primary Region is {}.",
                config.primary_region
            ),
            &format!("primary-in:{p}"),
        );
    }
    let missing: Vec<&str> = enabled
        .iter()
        .filter(|r| **r != config.primary_region && !primary.replica_regions.contains(r))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return fail(
            format!(
                "{check} fails: no replica of the key in {}; {}.",
                missing.join(", "),
                check.consequence()
            ),
            &format!("missing:{}", missing.join(",")),
        );
    }
    let unused: Vec<&str> = primary
        .replica_regions
        .iter()
        .filter(|r| !enabled.contains(r))
        .map(String::as_str)
        .collect();
    let note = if unused.is_empty() {
        String::new()
    } else {
        format!(
            " Replicas in {} serve no Region of the instance (they may be deleted by hand).",
            unused.join(", ")
        )
    };
    at.finding(
        check,
        Status::Pass,
        format!(
            "{check} holds: the primary is in {} and every enabled Region ({}) has a replica.{note}",
            config.primary_region,
            enabled.join(", ")
        ),
        None,
        "ok",
    )
}

/// A replica left behind by a removed Region: reported, never deleted by idc-guard.
pub fn replica_left_behind(config: &Config, key: &KeyDescription) -> Finding {
    let check = CheckId::KeyMultiRegion;
    let at = At::new(config, &key.region);
    let mut f = at.finding(
        check,
        Status::Warn,
        format!(
            "{} was removed from the instance; the key's replica {} ({}) remains. It may be deleted by hand (aws kms schedule-key-deletion --region {} --key-id {}) once nothing else uses it; idc-guard never deletes keys.",
            key.region,
            key.arn,
            key.state.name(),
            key.region,
            key.key_id
        ),
        None,
        "left-behind",
    );
    f.severity = Severity::Low;
    f
}

/// What region-guard knows about the key in a Region it checks.
#[derive(Debug, Clone, Copy)]
pub enum Readiness<'a> {
    /// No replica there.
    Missing,
    /// The key could not be read there.
    Unreadable(&'a PortError),
    /// Read and checked: the description and every finding of the key checks there.
    Checked {
        /// The key there.
        key: &'a KeyDescription,
        /// KEY-STATE, KP-* and KEY-GRANTS findings there.
        findings: &'a [Finding],
    },
}

/// The failing key checks (KEY-STATE and KP-*; grants do not stop Identity Center) among
/// `findings`, sorted and deduplicated.
fn failing_key_checks(findings: &[Finding]) -> Vec<&str> {
    let mut failing: Vec<&str> = findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Error))
        .filter(|f| f.check != CheckId::KeyGrants.id())
        .map(|f| f.check.id())
        .collect();
    failing.sort_unstable();
    failing.dedup();
    failing
}

/// REGION-KEY-READY: `region` has an Enabled replica whose policy passes every KP check.
pub fn check_region_key_ready(config: &Config, region: &str, readiness: Readiness<'_>) -> Finding {
    let check = CheckId::RegionKeyReady;
    let at = At::new(config, region);
    let (status, message, cause) = match readiness {
        Readiness::Missing => (
            Status::Fail,
            format!(
                "{check} fails in {region}: the key has no replica there; {}. Create it from the primary with the model policy (idc-guard render-policy --config FILE > model.json; aws kms replicate-key --region {} --key-id {} --replica-region {region} --policy file://model.json).",
                check.consequence(),
                config.primary_region,
                config.key_arn.key_id
            ),
            "missing".to_owned(),
        ),
        Readiness::Unreadable(e) => (
            Status::Error,
            format!("{check} could not be checked in {region}: {e}."),
            "unreadable".to_owned(),
        ),
        Readiness::Checked { key, findings } => {
            let failing = failing_key_checks(findings);
            if key.state == KeyState::Creating {
                let mut f = at.finding(
                    check,
                    Status::Warn,
                    format!(
                        "{check}: the replica in {region} is still Creating; it is usable in seconds and re-checked then."
                    ),
                    None,
                    "creating",
                );
                f.severity = Severity::Low;
                return f;
            }
            if failing.is_empty() {
                (
                    Status::Pass,
                    format!(
                        "{check} holds in {region}: the replica is Enabled and its policy passes every KP check"
                    ),
                    "ok".to_owned(),
                )
            } else {
                (
                    Status::Fail,
                    format!(
                        "{check} fails in {region}: the replica ({}) fails {}; {}.",
                        key.state.name(),
                        failing.join(", "),
                        check.consequence()
                    ),
                    format!("failing:{}", failing.join(",")),
                )
            }
        }
    };
    at.finding(check, status, message, None, &cause)
}

/// KEY-REPLICA-POLICY: the replica's policy in `region` passes every KP check
/// (`findings`: the key checks there); a policy that differs from the primary's (`primary`,
/// as text) is reported as drift even when compliant.
pub fn check_replica_policy(
    config: &Config,
    region: &str,
    policy: &str,
    findings: &[Finding],
    primary: Option<&str>,
) -> Finding {
    let check = CheckId::KeyReplicaPolicy;
    let at = At::new(config, region);
    let failing: Vec<&str> = failing_key_checks(findings)
        .into_iter()
        .filter(|c| c.starts_with("KP-"))
        .collect();
    if !failing.is_empty() {
        return at.finding(
            check,
            Status::Fail,
            format!(
                "{check} fails in {region}: the replica's policy fails {}; {}.",
                failing.join(", "),
                check.consequence()
            ),
            None,
            &format!("failing:{}", failing.join(",")),
        );
    }
    // Compared as JSON values: KMS may return a policy reformatted.
    let same = |a: &str, b: &str| match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    };
    match primary {
        Some(p) if !same(p, policy) => {
            let mut f = at.finding(
                check,
                Status::Warn,
                format!(
                    "{check}: the replica's policy in {region} passes every KP check but differs from the primary's in {}; AWS recommends the same policy on every replica.",
                    config.primary_region
                ),
                None,
                "drift",
            );
            f.severity = Severity::Low;
            f
        }
        _ => at.finding(
            check,
            Status::Pass,
            format!("{check} holds in {region}: the replica's policy passes every KP check"),
            None,
            "ok",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::live::InstanceEncryption;

    fn config() -> Config {
        Config::from_toml(
            &crate::config::tests::example_with(r#"["us-east-1", "eu-west-1"]"#, ""),
            "test",
        )
        .unwrap()
    }

    fn instance(key_type: &str, arn: Option<&str>, status: &str) -> InstanceDescription {
        InstanceDescription {
            instance_arn: "arn:aws:sso:::instance/ssoins-1234567890abcdef".into(),
            status: "ACTIVE".into(),
            owner_account_id: Some("111122223333".into()),
            identity_store_id: Some("d-1234567890".into()),
            encryption: Some(InstanceEncryption {
                key_type: key_type.into(),
                kms_key_arn: arn.map(str::to_owned),
                status: Some(status.into()),
                reason: None,
            }),
        }
    }

    fn primary_key(replicas: &[&str]) -> KeyDescription {
        let c = config();
        KeyDescription {
            arn: c.key_arn_in("us-east-1"),
            key_id: c.key_arn.key_id.clone(),
            region: "us-east-1".into(),
            state: KeyState::Enabled,
            usage: "ENCRYPT_DECRYPT".into(),
            manager: "CUSTOMER".into(),
            multi_region: Some(MultiRegionRole::Primary),
            primary_region: Some("us-east-1".into()),
            replica_regions: replicas.iter().map(|r| (*r).to_owned()).collect(),
            deletion_date: None,
        }
    }

    #[test]
    fn encryption_with_the_guarded_key_passes_and_anything_else_fails() {
        let c = config();
        let ours = c.key_arn.to_string();
        let f = check_instance_encryption(
            &c,
            &instance("CUSTOMER_MANAGED_KEY", Some(&ours), "ENABLED"),
        );
        assert_eq!(f.status, Status::Pass);
        let f = check_instance_encryption(&c, &instance("AWS_OWNED_KMS_KEY", None, "ENABLED"));
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("AWS_OWNED_KMS_KEY"), "{}", f.message);
        let other = "arn:aws:kms:us-east-1:111122223333:key/mrk-ffffffffffffffffffffffffffffffff";
        let f = check_instance_encryption(
            &c,
            &instance("CUSTOMER_MANAGED_KEY", Some(other), "ENABLED"),
        );
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains(other));
        let f = check_instance_encryption(
            &c,
            &instance("CUSTOMER_MANAGED_KEY", Some(&ours), "UPDATING"),
        );
        assert_eq!(f.status, Status::Warn);
        let f = check_instance_encryption(
            &c,
            &instance("CUSTOMER_MANAGED_KEY", Some(&ours), "UPDATE_FAILED"),
        );
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.resource, c.instance_arn);
    }

    #[test]
    fn supported_regions_follow_the_configuration() {
        let c = config();
        assert_eq!(check_region_supported(&c, "eu-west-1").status, Status::Pass);
        let f = check_region_supported(&c, "me-central-1");
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.region, "me-central-1");
    }

    #[test]
    fn multi_region_names_missing_and_unused_replicas() {
        let c = config();
        let enabled = vec!["us-east-1".to_owned(), "eu-west-1".to_owned()];
        assert_eq!(
            check_multi_region(&c, &primary_key(&["eu-west-1"]), &enabled).status,
            Status::Pass
        );
        let f = check_multi_region(&c, &primary_key(&[]), &enabled);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("no replica of the key in eu-west-1"),
            "{}",
            f.message
        );
        let f = check_multi_region(&c, &primary_key(&["eu-west-1", "ap-south-1"]), &enabled);
        assert_eq!(f.status, Status::Pass);
        assert!(f.message.contains("ap-south-1"));
        let mut single = primary_key(&[]);
        single.multi_region = None;
        assert_eq!(
            check_multi_region(&c, &single, &enabled).status,
            Status::Fail
        );
        // KMS names this Region as the primary's: the primary, whatever the type field says.
        let mut flipped = primary_key(&["eu-west-1"]);
        flipped.multi_region = Some(MultiRegionRole::Replica);
        assert_eq!(
            check_multi_region(&c, &flipped, &enabled).status,
            Status::Pass
        );
        let mut replica = primary_key(&["eu-west-1"]);
        replica.multi_region = Some(MultiRegionRole::Replica);
        replica.primary_region = Some("eu-west-1".into());
        let f = check_multi_region(&c, &replica, &enabled);
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("is a replica"), "{}", f.message);
        let mut moved = primary_key(&["eu-west-1"]);
        moved.primary_region = Some("eu-west-1".into());
        let f = check_multi_region(&c, &moved, &enabled);
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("primary is in eu-west-1"));
    }

    #[test]
    fn enabled_regions_skip_removing_and_put_the_primary_first() {
        let c = config();
        let live = vec![
            InstanceRegion {
                name: "eu-west-1".into(),
                status: "ACTIVE".into(),
                is_primary: false,
            },
            InstanceRegion {
                name: "ap-south-1".into(),
                status: "REMOVING".into(),
                is_primary: false,
            },
            InstanceRegion {
                name: "us-east-1".into(),
                status: "ACTIVE".into(),
                is_primary: true,
            },
            InstanceRegion {
                name: "ap-southeast-2".into(),
                status: "ADDING".into(),
                is_primary: false,
            },
        ];
        assert_eq!(
            enabled_regions(&c, Some(&live)),
            ["us-east-1", "ap-southeast-2", "eu-west-1"]
        );
        assert_eq!(enabled_regions(&c, None), c.regions);
    }

    #[test]
    fn key_ready_needs_an_enabled_compliant_replica() {
        let c = config();
        assert_eq!(
            check_region_key_ready(&c, "eu-west-1", Readiness::Missing).status,
            Status::Fail
        );
        let mut key = primary_key(&[]);
        key.region = "eu-west-1".into();
        let failing = vec![finding_on(
            CheckId::KpOrgViaService,
            Status::Fail,
            "eu-west-1",
            "k",
            String::new(),
            "x",
        )];
        let f = check_region_key_ready(
            &c,
            "eu-west-1",
            Readiness::Checked {
                key: &key,
                findings: &failing,
            },
        );
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("KP-ORG-VIA-SERVICE"));
        let f = check_region_key_ready(
            &c,
            "eu-west-1",
            Readiness::Checked {
                key: &key,
                findings: &[],
            },
        );
        assert_eq!(f.status, Status::Pass);
        key.state = KeyState::Creating;
        let f = check_region_key_ready(
            &c,
            "eu-west-1",
            Readiness::Checked {
                key: &key,
                findings: &[],
            },
        );
        assert_eq!(f.status, Status::Warn);
    }

    #[test]
    fn replica_policy_drift_is_a_warning_and_failures_fail() {
        let c = config();
        let a = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let a_reformatted = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": []\n}";
        let b = r#"{"Version":"2012-10-17","Statement":[{"Sid":"x"}]}"#;
        assert_eq!(
            check_replica_policy(&c, "eu-west-1", a_reformatted, &[], Some(a)).status,
            Status::Pass
        );
        let f = check_replica_policy(&c, "eu-west-1", b, &[], Some(a));
        assert_eq!((f.status, f.severity), (Status::Warn, Severity::Low));
        let failing = vec![finding_on(
            CheckId::KpAdmin,
            Status::Fail,
            "eu-west-1",
            "k",
            String::new(),
            "x",
        )];
        let f = check_replica_policy(&c, "eu-west-1", a, &failing, Some(a));
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("KP-ADMIN"));
    }
}
