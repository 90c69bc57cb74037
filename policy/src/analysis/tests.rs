//! The analysis on small policies: each class of grant that a sample of requests misses, under
//! Allow, Deny, NotAction, IfExists and the set operators; and required access that a condition
//! on the circumstances of a call can take away.

use super::*;
use crate::document::parse_key_policy;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef";
const ORG: &str = "o-a1b2c3d4e5";

fn policy(statements: &str) -> KeyPolicy {
    let text = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
    let parsed = parse_key_policy(&text);
    parsed
        .policy
        .unwrap_or_else(|| panic!("{:?}", parsed.problems))
}

fn statements(text: &str) -> Vec<Statement> {
    policy(text).statements
}

fn fixed() -> Context {
    let mut c = Context::default();
    c.set("aws:ResourceAccount", "111122223333")
        .set("aws:ResourceOrgID", ORG)
        .set("aws:RequestedRegion", "us-east-1")
        .set("aws:SecureTransport", "true")
        .set("kms:KeySpec", "SYMMETRIC_DEFAULT")
        .set("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
    c
}

/// Principals outside the organization: IAM principals of another organization or none, and
/// services acting for such accounts.
fn outsiders() -> Vec<Statement> {
    statements(&format!(
        r#"{{"Effect":"Deny","Principal":{{"AWS":"111122223333"}},"Action":"*","Resource":"*"}},
           {{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{{"StringEquals":{{"aws:PrincipalOrgID":"{ORG}"}}}}}},
           {{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{{"StringEquals":{{"aws:SourceOrgID":"{ORG}"}}}}}},
           {{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{{"StringEquals":{{"aws:SourceAccount":"111122223333"}}}}}}"#
    ))
}

fn use_actions() -> ActionSet {
    ActionSet::of(&[
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyPair",
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:CreateGrant",
    ])
}

fn outsider_access(p: &KeyPolicy) -> Answer {
    let principals = Principals::Any(vec![
        Kind::Root,
        Kind::User,
        Kind::Role,
        Kind::FederatedUser,
        Kind::Service,
        Kind::Anonymous,
    ]);
    let fixed = fixed();
    let exclusions = outsiders();
    let q = Question {
        resource: KEY,
        partition: "aws",
        region: "us-east-1",
        actions: use_actions(),
        principals: &principals,
        fixed: &fixed,
        absent: &[],
        exclusions: &exclusions,
        limits: Limits::default(),
    };
    find_allowed(p, &q)
}

/// The baseline's org statement and admin statement: nobody outside can use the key.
const BASELINE: &str = r#"
 {"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"Services","Effect":"Allow","Principal":{"Service":["sso.amazonaws.com","identitystore.amazonaws.com"]},"Action":["kms:Decrypt","kms:ReEncryptTo","kms:ReEncryptFrom","kms:GenerateDataKeyWithoutPlaintext"],"Resource":"*",
  "Condition":{"StringEquals":{"aws:SourceAccount":"${aws:ResourceAccount}"},"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["aws:sso:instance-arn","aws:identitystore:identitystore-arn"]}}},
 {"Sid":"Org","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
  "Condition":{"StringEquals":{"aws:PrincipalOrgID":"${aws:ResourceOrgID}"},"StringLike":{"kms:ViaService":["sso.*.amazonaws.com","identitystore.*.amazonaws.com"]},
               "ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["aws:sso:instance-arn","aws:identitystore:identitystore-arn"]}}},
 {"Sid":"Apps","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
  "Condition":{"Bool":{"aws:PrincipalIsAWSService":"true"},"StringEquals":{"aws:SourceOrgID":"${aws:ResourceOrgID}"},"StringLike":{"kms:ViaService":["sso.*.amazonaws.com","identitystore.*.amazonaws.com"]},
               "ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["aws:sso:instance-arn","aws:identitystore:identitystore-arn"]}}}"#;

fn with(extra: &str) -> KeyPolicy {
    policy(&format!("{BASELINE},{extra}"))
}

fn exposed(extra: &str) -> Answer {
    let answer = outsider_access(&with(extra));
    assert!(
        !answer.witnesses.is_empty(),
        "not exposed: {extra}\n{answer:#?}"
    );
    for w in &answer.witnesses {
        // Every witness is an Allow the evaluator confirms, for a principal outside the org.
        assert!(w.decision.is_allowed(), "{w:#?}");
        let org = w.request.context.get("aws:principalorgid");
        assert!(org.is_none_or(|o| o != [ORG.to_owned()]), "{w:#?}");
    }
    answer
}

#[test]
fn the_baseline_lets_no_outsider_in() {
    let answer = outsider_access(&policy(BASELINE));
    assert!(answer.witnesses.is_empty(), "{answer:#?}");
    assert_eq!(answer.undecided, None);
}

#[test]
fn an_encryption_context_the_caller_chooses() {
    let a = exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"*",
            "Condition":{"StringEquals":{"kms:EncryptionContext:purpose":"backup"}}}"#,
    );
    let w = &a.witnesses[0];
    assert_eq!(
        w.request.context.get("kms:encryptioncontext:purpose"),
        Some(&["backup".to_owned()][..])
    );
    assert!(a.actions().contains("kms:Decrypt") && a.actions().contains("kms:GenerateDataKey"));
    // Keyed by the keys list instead.
    exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
            "Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"purpose"}}}"#,
    );
}

#[test]
fn any_service_the_key_is_used_through() {
    let a = exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
            "Condition":{"StringLike":{"kms:ViaService":"ec2.*.amazonaws.com"}}}"#,
    );
    assert_eq!(
        a.witnesses[0].request.context.get("kms:viaservice"),
        Some(&["ec2.us-east-1.amazonaws.com".to_owned()][..])
    );
    // NotAction and a negated operator: anything but S3.
    exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","NotAction":"kms:PutKeyPolicy","Resource":"*",
            "Condition":{"StringNotEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}"#,
    );
}

#[test]
fn a_service_acting_for_an_outside_account() {
    let a = exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"kms:GenerateDataKey","Resource":"*"}"#,
    );
    assert!(matches!(a.witnesses[0].request.caller, Caller::Service(_)));
}

#[test]
fn denies_close_what_they_cover_and_nothing_else() {
    // A Deny on every source address but one range leaves that range open.
    let a = exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"},
           {"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}"#,
    );
    let ip = a.witnesses[0].request.context.get("aws:sourceip").unwrap()[0].clone();
    assert!(ip.starts_with("203.0.113."), "{ip}");
    // IfExists: a key absent from the request makes the Deny hold too (services carry no
    // aws:PrincipalOrgID): no way in for anyone outside.
    let closed = outsider_access(&with(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"},
           {"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringNotEqualsIfExists":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}"#,
    ));
    assert!(
        closed.witnesses.is_empty() && closed.undecided.is_none(),
        "{closed:#?}"
    );
    // A positive operator misses every principal without an organization.
    let open = exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"},
           {"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"aws:PrincipalOrgID":"o-*"}}}"#,
    );
    assert!(
        open.witnesses
            .iter()
            .all(|w| w.request.context.get("aws:principalorgid").is_none())
    );
}

#[test]
fn all_values_and_null() {
    // ForAllValues with no context at all holds: a request without encryption context.
    let a = exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
            "Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"aws:sso:instance-arn"}}}"#,
    );
    assert!(
        a.witnesses
            .iter()
            .any(|w| w.request.context.get("kms:encryptioncontextkeys").is_none()),
        "{a:#?}"
    );
    // Null false on a key only IAM principals of an organization carry.
    exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
            "Condition":{"Null":{"aws:PrincipalOrgID":"false"}}}"#,
    );
    // A time window in the future is still a way in.
    exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
            "Condition":{"DateGreaterThan":{"aws:CurrentTime":"2099-01-01T00:00:00Z"}}}"#,
    );
}

#[test]
fn conditions_that_shut_outsiders_out_are_proven() {
    for extra in [
        // Only the organization, any way.
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}"#,
        // Only services acting for the own account.
        r#"{"Sid":"X","Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}"#,
        // A contradiction: two values for one key.
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"},"StringLike":{"kms:ViaService":"s3.*"}}}"#,
        // A via service in another Region never reaches this key.
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"ec2.eu-west-1.amazonaws.com"}}}"#,
        // Granted, then denied for everyone outside the org (services included).
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
           {"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5","aws:SourceOrgID":"o-a1b2c3d4e5"}}}"#,
    ] {
        let answer = outsider_access(&with(extra));
        assert!(answer.witnesses.is_empty(), "{extra}\n{answer:#?}");
        assert_eq!(answer.undecided, None, "{extra}");
    }
}

#[test]
fn a_principal_arn_pattern_is_followed_across_account_and_name() {
    let a = exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
            "Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/app/*"}}}"#,
    );
    let Caller::Aws(c) = &a.witnesses[0].request.caller else {
        panic!()
    };
    assert!(c.arn.contains(":role/app/"), "{c:?}");
    let b = exposed(
        r#"{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
            "Condition":{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::9*:root"}}}"#,
    );
    let Caller::Aws(c) = &b.witnesses[0].request.caller else {
        panic!()
    };
    assert!(
        c.arn.starts_with("arn:aws:iam::9") && c.arn.ends_with(":root"),
        "{c:?}"
    );
}

fn admin_denied(p: &KeyPolicy) -> Answer {
    let principals = Principals::Caller {
        caller: Caller::role("111122223333", "Admin", "aws"),
        org: Some(ORG.to_owned()),
        source_account: None,
        source_org: None,
    };
    let fixed = fixed();
    let absent = vec![
        "kms:viaservice".to_owned(),
        "kms:encryptioncontextkeys".to_owned(),
    ];
    let q = Question {
        resource: KEY,
        partition: "aws",
        region: "us-east-1",
        actions: ActionSet::of(&[
            "kms:PutKeyPolicy",
            "kms:ScheduleKeyDeletion",
            "kms:CreateGrant",
        ]),
        principals: &principals,
        fixed: &fixed,
        absent: &absent,
        exclusions: &[],
        limits: Limits::default(),
    };
    find_denied(p, &q)
}

#[test]
fn required_access_must_survive_every_circumstance() {
    assert!(admin_denied(&policy(BASELINE)).witnesses.is_empty());
    // A Deny from any source address takes the key away from its administrators.
    let a = admin_denied(&with(
        r#"{"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}"#,
    ));
    assert!(!a.witnesses.is_empty());
    assert_eq!(
        a.witnesses[0].decision.statements[0].to_string(),
        "D (index 4)"
    );
    // So does a time window, or a key that may be missing.
    for extra in [
        r#"{"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}"#,
        r#"{"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Null":{"aws:MultiFactorAuthPresent":"true"}}}"#,
    ] {
        assert!(!admin_denied(&with(extra)).witnesses.is_empty(), "{extra}");
    }
}

#[test]
fn what_the_caller_chooses_is_the_callers_to_get_right() {
    // A short deletion window is denied; the administrator can still choose 30 days.
    let a = admin_denied(&with(
        r#"{"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*","Condition":{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}}"#,
    ));
    assert!(a.witnesses.is_empty(), "{a:#?}");
    // Bypassing the lockout check is denied; not bypassing it is still possible.
    let b = admin_denied(&with(
        r#"{"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*","Condition":{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":"true"}}}"#,
    ));
    assert!(b.witnesses.is_empty(), "{b:#?}");
    // But a Deny on every window leaves no choice.
    let c = admin_denied(&with(
        r#"{"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*","Condition":{"NumericGreaterThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"0"}}}"#,
    ));
    assert!(c.actions().contains("kms:ScheduleKeyDeletion"), "{c:#?}");
}

#[test]
fn an_organization_path_is_followed_across_organization_id_and_the_rest() {
    for path in [
        "o-partner0001/*",
        "o-partner0001/r-zz99/*",
        "o-partner0001/r-zz99/ou-zz99-22222222/*",
        "*/ou-zz99-22222222/*",
    ] {
        let a = exposed(&format!(
            r#"{{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
                "Condition":{{"ForAnyValue:StringLike":{{"aws:PrincipalOrgPaths":"{path}"}}}}}}"#
        ));
        let paths = a.witnesses[0].request.context.get("aws:principalorgpaths");
        assert!(paths.is_some_and(|p| !p.is_empty()), "{path}: {a:#?}");
    }
}

/// A policy whose values cannot be split within the budget gets an undecided answer that says
/// why, never a hang and never a "no".
#[test]
fn a_pathological_policy_stops_at_its_budget_undecided() {
    let patterns: Vec<String> = (0..24)
        .map(|i| format!("\"*{i}*{i}*{}*\"", i + 1))
        .collect();
    let p = with(&format!(
        r#"{{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
            "Condition":{{"StringLike":{{"kms:EncryptionContext:purpose":[{}]}},
                          "StringNotLike":{{"kms:EncryptionContext:purpose":[{}]}}}}}}"#,
        patterns.join(","),
        patterns
            .iter()
            .rev()
            .take(12)
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    ));
    let principals = Principals::Any(vec![Kind::Role]);
    let fixed = fixed();
    let exclusions = outsiders();
    let tight = Limits {
        split_states: 40,
        ..Limits::default()
    };
    let q = Question {
        resource: KEY,
        partition: "aws",
        region: "us-east-1",
        actions: ActionSet::of(&["kms:Decrypt"]),
        principals: &principals,
        fixed: &fixed,
        absent: &[],
        exclusions: &exclusions,
        limits: tight,
    };
    let answer = find_allowed(&p, &q);
    let reason = answer
        .undecided
        .expect("the budget must make the answer undecided");
    assert!(reason.contains("kms:encryptioncontext:purpose"), "{reason}");
    // With room to work, the same question is decided, and the way in is shown.
    let roomy = Question {
        limits: Limits::default(),
        ..q
    };
    let answer = find_allowed(&p, &roomy);
    assert!(answer.undecided.is_none(), "{:?}", answer.undecided);
    assert!(!answer.witnesses.is_empty());
}
