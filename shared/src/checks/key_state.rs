//! KEY-STATE and KEY-GRANTS: the key's live state and grants in one Region.

use crate::checks::{At, CheckId};
use crate::config::{Config, is_account_id};
use crate::domain::live::{Grant, KeyDescription, KeyState};
use crate::finding::{Finding, Severity, Status};
use crate::ports::{PortError, PortErrorKind};

/// KEY-STATE: the key in this Region is Enabled and not pending deletion.
pub fn check_key_state(config: &Config, key: &KeyDescription) -> Finding {
    let check = CheckId::KeyState;
    let at = At::new(config, &key.region);
    let region = at.region;
    let state = key.state.name();
    let (status, severity, message) = match &key.state {
        KeyState::Enabled => (
            Status::Pass,
            Severity::Info,
            format!("{check} holds in {region}: the key is Enabled"),
        ),
        KeyState::Creating => (
            Status::Warn,
            Severity::Low,
            format!(
                "{check}: the replica in {region} is still Creating; it is usable in seconds, and the next event or audit re-checks it"
            ),
        ),
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => (
            Status::Fail,
            Severity::Critical,
            format!(
                "{check} fails in {region}: {}. The key is {state}{}; once deleted, the data it protects cannot be decrypted.",
                check.consequence(),
                key.deletion_date
                    .as_deref()
                    .map(|d| format!(" (deletion date {d})"))
                    .unwrap_or_default()
            ),
        ),
        KeyState::Disabled | KeyState::Other(_) => (
            Status::Fail,
            Severity::High,
            format!(
                "{check} fails in {region}: {}. The key is {state}.",
                check.consequence()
            ),
        ),
    };
    let mut finding = at.finding(check, status, message, None, state);
    finding.severity = severity;
    finding
}

/// KEY-STATE when the key cannot be read in `region`: no replica there (a failure), or the
/// read itself failed (an error: the state is unknown, not fine).
pub fn unreadable_key(config: &Config, region: &str, error: &PortError) -> Finding {
    let check = CheckId::KeyState;
    let at = At::new(config, region);
    let (status, message, cause) = if error.kind == PortErrorKind::NotFound {
        (
            Status::Fail,
            format!(
                "{check} fails in {region}: {}. The guarded key has no replica here ({error}).",
                check.consequence()
            ),
            "missing",
        )
    } else {
        (
            Status::Error,
            format!("{check} could not be checked in {region}: {error}."),
            "unreadable",
        )
    };
    let mut finding = at.finding(check, status, message, None, cause);
    finding.severity = Severity::High;
    finding
}

/// Where a grantee principal sits relative to the organization.
fn grantee_account(principal: &str) -> Option<&str> {
    if is_account_id(principal) {
        return Some(principal);
    }
    // arn:P:iam::ACCOUNT:..., arn:P:sts::ACCOUNT:...
    let mut parts = principal.splitn(6, ':');
    let (_, _, service, _, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (matches!(service, "iam" | "sts") && is_account_id(account)).then_some(account)
}

/// KEY-GRANTS: every grant's grantee is an AWS service or an account known to be in the
/// organization (the admin accounts, the configured key administrators' accounts and
/// `policy.organization_account_ids`). An account idc-guard cannot place is reported: without
/// an Organizations call, "unknown" must not read as "inside".
pub fn check_key_grants(config: &Config, region: &str, grants: &[Grant]) -> Vec<Finding> {
    let check = CheckId::KeyGrants;
    let at = At::new(config, region);
    let known: Vec<&str> = config
        .admin_accounts()
        .chain(config.organization_account_ids.iter().map(String::as_str))
        .chain(
            config
                .key_admin_principals
                .iter()
                .filter_map(|p| grantee_account(p)),
        )
        .collect();
    let mut out = Vec::new();
    for grant in grants {
        let grantee = grant.grantee_principal.as_str();
        let outside = match grantee_account(grantee) {
            Some(account) => !known.contains(&account),
            // A service principal (`sso.amazonaws.com`) is AWS acting for the key's account.
            None => !grantee.ends_with(".amazonaws.com") && !grantee.ends_with(".amazonaws.com.cn"),
        };
        if !outside {
            continue;
        }
        let ops = if grant.operations.is_empty() {
            "no operations".to_owned()
        } else {
            grant.operations.join(", ")
        };
        let message = format!(
            "{check} fails in {region}: {}. Grant {} lets {grantee} use {ops}; that principal is not in an account known to be in organization {}. Revoke it (aws kms revoke-grant --region {region} --key-id {} --grant-id {}) or, if the account is a member, add it to policy.organization_account_ids.",
            check.consequence(),
            grant.grant_id,
            config.organization_id,
            config.key_arn.key_id,
            grant.grant_id,
        );
        out.push(at.finding(check, Status::Fail, message, None, &grant.grant_id));
    }
    if out.is_empty() {
        let message = format!(
            "{check} holds in {region}: {} grants, none to a principal outside the organization",
            grants.len()
        );
        out.push(at.finding(check, Status::Pass, message, None, "pass"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::example_with;

    fn config() -> Config {
        let tail = "[policy]\norganization_account_ids = [\"777788889999\"]";
        Config::from_toml(&example_with(r#"["us-east-1", "eu-west-1"]"#, tail), "t").unwrap()
    }

    fn key(state: KeyState) -> KeyDescription {
        KeyDescription {
            arn: "arn".into(),
            key_id: "mrk-1".into(),
            region: "eu-west-1".into(),
            state,
            usage: "ENCRYPT_DECRYPT".into(),
            manager: "CUSTOMER".into(),
            multi_region: None,
            primary_region: None,
            replica_regions: vec![],
            deletion_date: Some("2026-12-04T00:00:00Z".into()),
        }
    }

    #[test]
    fn states() {
        let c = config();
        let f = check_key_state(&c, &key(KeyState::Enabled));
        assert_eq!((f.status, f.region.as_str()), (Status::Pass, "eu-west-1"));
        let f = check_key_state(&c, &key(KeyState::PendingDeletion));
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Critical));
        assert!(
            f.message.contains("deletion date 2026-12-04"),
            "{}",
            f.message
        );
        let f = check_key_state(&c, &key(KeyState::Disabled));
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::High));
        assert_eq!(
            check_key_state(&c, &key(KeyState::Creating)).status,
            Status::Warn
        );
        assert_ne!(
            check_key_state(&c, &key(KeyState::Disabled)).fingerprint,
            check_key_state(&c, &key(KeyState::PendingDeletion)).fingerprint
        );
    }

    #[test]
    fn grants_outside_the_known_accounts_fail() {
        let grant = |id: &str, grantee: &str| Grant {
            grant_id: id.into(),
            name: None,
            grantee_principal: grantee.into(),
            retiring_principal: None,
            issuing_account: None,
            operations: vec!["Decrypt".into()],
        };
        let c = config();
        let inside = [
            grant("g1", "arn:aws:iam::111122223333:role/App"),
            grant("g2", "sso.amazonaws.com"),
            grant("g3", "777788889999"),
            grant("g4", "arn:aws:sts::444455556666:assumed-role/R/s"),
        ];
        let f = check_key_grants(&c, "eu-west-1", &inside);
        assert_eq!(f.len(), 1);
        assert_eq!(f.first().map(|f| f.status), Some(Status::Pass));
        let outside = [
            grant("g9", "arn:aws:iam::999999999999:root"),
            grant("g8", "evil"),
        ];
        let f = check_key_grants(&c, "eu-west-1", &outside);
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|f| f.status == Status::Fail));
        assert!(f.iter().any(|f| f.message.contains("--grant-id g9")));
    }
}
