//! key-policy-guard against real local AWS: the real SDK over HTTP to moto (KMS, EventBridge,
//! SQS, DynamoDB). One test per drift; each ends by reading live state back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use idc_guard_core::checks::key_policy::check_parsed;
use idc_guard_core::config::{Config, Mode};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::{Finding, Status};
use idc_guard_policy::document::parse_key_policy;
use idc_guard_tests::key_fixture::{KeyFixture, PRIMARY};
use idc_guard_tests::local_aws::Moto;
use key_policy_guard::handle;
use serde_json::{Value, json};

const REPLICA: &str = "eu-west-1";
const T0: &str = "2026-11-27T10:00:00Z";

fn now(offset: i64) -> Timestamp {
    Timestamp::parse(T0).unwrap().plus(offset)
}

async fn setup(mode: &str) -> (Moto, KeyFixture) {
    let moto = Moto::start().unwrap();
    let fixture = KeyFixture::new(&moto, &[PRIMARY, REPLICA], mode)
        .await
        .unwrap();
    (moto, fixture)
}

async fn compliant(f: &KeyFixture, region: &str) -> bool {
    let policy = f.policy(region).await.unwrap();
    check_parsed(&f.config, &parse_key_policy(&policy), &[region.to_owned()]).compliant()
}

fn outcome(out: &Value) -> Vec<(String, String)> {
    out["regions"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|r| {
            (
                r["region"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn remediation_outcomes(findings: &[Finding]) -> Vec<&str> {
    let mut v: Vec<&str> = findings
        .iter()
        .map(|f| f.remediation.as_ref().unwrap().outcome.as_str())
        .collect();
    v.dedup();
    v
}

fn checks(findings: &[Finding]) -> Vec<&str> {
    let mut v: Vec<&str> = findings.iter().map(|f| f.check.id()).collect();
    v.sort();
    v.dedup();
    v
}

fn with_mode(config: &Config, mode: Mode) -> Config {
    let mut c = config.clone();
    c.remediation.mode = mode;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_baseline_statement_in_every_mode() {
    let (_moto, f) = setup("remediate").await;
    f.edit_policy(PRIMARY, |doc| {
        doc["Statement"].as_array_mut().unwrap().remove(3);
    })
    .await
    .unwrap();
    let drifted = f.policy(PRIMARY).await.unwrap();
    let event = f.event("PutKeyPolicy", PRIMARY, "Admin", T0, "ev-1");

    // notify: reported, nothing changes.
    let guard = f.guard_with(with_mode(&f.config, Mode::Notify));
    let out = handle(&guard, &event, now(5)).await.unwrap();
    assert_eq!(outcome(&out), [(PRIMARY.into(), "reported".into())]);
    assert_eq!(f.policy(PRIMARY).await.unwrap(), drifted);
    let published = f.published().await.unwrap();
    assert_eq!(checks(&published), ["KP-ORG-VIA-SERVICE"]);
    assert_eq!(remediation_outcomes(&published), ["skipped"]);

    // dry-run (a later change): the plan is reported, nothing changes.
    let guard = f.guard_with(with_mode(&f.config, Mode::DryRun));
    let event2 = f.event(
        "PutKeyPolicy",
        PRIMARY,
        "Admin",
        &now(60).to_string(),
        "ev-2",
    );
    let out = handle(&guard, &event2, now(65)).await.unwrap();
    assert_eq!(outcome(&out), [(PRIMARY.into(), "reported".into())]);
    assert_eq!(f.policy(PRIMARY).await.unwrap(), drifted);
    let published = f.published().await.unwrap();
    assert_eq!(remediation_outcomes(&published), ["planned"]);
    let actions = &published[0].remediation.as_ref().unwrap().actions;
    assert!(
        actions.iter().any(|a| a
            .contains("add model statement AllowOrgPrincipalsViaIdentityCenterAndIdentityStore")),
        "{actions:?}"
    );

    // remediate (a third change): restored and verified against live state.
    let event3 = f.event(
        "PutKeyPolicy",
        PRIMARY,
        "Admin",
        &now(120).to_string(),
        "ev-3",
    );
    let out = handle(&f.guard(), &event3, now(125)).await.unwrap();
    assert_eq!(outcome(&out), [(PRIMARY.into(), "remediated".into())]);
    assert!(compliant(&f, PRIMARY).await);
    let published = f.published().await.unwrap();
    let (resolved, failures): (Vec<Finding>, Vec<Finding>) =
        published.into_iter().partition(|p| p.resolves.is_some());
    assert_eq!(remediation_outcomes(&failures), ["applied"]);
    assert!(
        failures[0].message.contains("verified"),
        "{}",
        failures[0].message
    );
    assert_eq!(failures[0].trigger.as_ref().unwrap().event_id, "ev-3");
    // The failure first reported in notify mode is resolved once, by the remediation.
    let [r] = resolved.as_slice() else {
        panic!("{resolved:#?}")
    };
    assert_eq!(
        r.resolves.as_deref(),
        Some(failures[0].fingerprint.as_str())
    );
    assert_eq!((r.check, r.status), (failures[0].check, Status::Pass));
    assert_eq!(r.severity, failures[0].severity);
    assert!(
        r.message.contains(T0),
        "open since the first report: {}",
        r.message
    );

    // A redelivery finds the key compliant and nothing open: nothing new.
    let out = handle(&f.guard(), &event3, now(185)).await.unwrap();
    assert_eq!(outcome(&out), [(PRIMARY.into(), "compliant".into())]);
    assert_eq!(f.published().await.unwrap(), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_decrypt_is_removed() {
    let (_moto, f) = setup("remediate").await;
    let public = json!({"Sid": "Public", "Effect": "Allow", "Principal": "*",
        "Action": "kms:Decrypt", "Resource": "*"});
    f.edit_policy(PRIMARY, |doc| {
        doc["Statement"]
            .as_array_mut()
            .unwrap()
            .push(public.clone())
    })
    .await
    .unwrap();
    let out = handle(
        &f.guard(),
        &f.event("PutKeyPolicy", PRIMARY, "Admin", T0, "e"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(outcome(&out), [(PRIMARY.into(), "remediated".into())]);
    let live: Value = serde_json::from_str(&f.policy(PRIMARY).await.unwrap()).unwrap();
    assert!(!live["Statement"].as_array().unwrap().contains(&public));
    assert_eq!(live["Statement"].as_array().unwrap().len(), 5);
    let published = f.published().await.unwrap();
    assert!(
        checks(&published).contains(&"KP-EXTERNAL-ACCESS"),
        "{:?}",
        checks(&published)
    );
    assert!(
        published
            .iter()
            .filter(|f| f.resolves.is_none())
            .all(|f| f.statement.as_deref() == Some("Public (index 5)"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn via_service_pinned_to_one_region_breaks_the_replica() {
    let (_moto, f) = setup("remediate").await;
    let pinned = f
        .policy(REPLICA)
        .await
        .unwrap()
        .replace("sso.*.amazonaws.com", "sso.us-east-1.amazonaws.com")
        .replace(
            "identitystore.*.amazonaws.com",
            "identitystore.us-east-1.amazonaws.com",
        );
    f.put_policy(REPLICA, &pinned).await.unwrap();
    // The pin is harmless in us-east-1 itself.
    assert!(compliant(&f, PRIMARY).await);
    let out = handle(
        &f.guard(),
        &f.event("PutKeyPolicy", REPLICA, "Admin", T0, "e"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(outcome(&out), [(REPLICA.into(), "remediated".into())]);
    assert!(compliant(&f, REPLICA).await);
    let published = f.published().await.unwrap();
    assert_eq!(
        checks(&published),
        ["KP-MANAGED-APPS", "KP-ORG-VIA-SERVICE"]
    );
    // The pinned statements stay (they are not the cause); the model's come beside them.
    let live = f.policy(REPLICA).await.unwrap();
    assert!(live.contains("sso.us-east-1.amazonaws.com"));
    assert!(live.contains("sso.*.amazonaws.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_replica_policy_is_repaired_while_the_primary_is_left_alone() {
    let (_moto, f) = setup("remediate").await;
    let primary_before = f.policy(PRIMARY).await.unwrap();
    // The KMS default policy: the account root only.
    let default = json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}]});
    f.put_policy(REPLICA, &default.to_string()).await.unwrap();
    let out = handle(
        &f.guard(),
        &f.event("PutKeyPolicy", REPLICA, "Admin", T0, "e"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(outcome(&out), [(REPLICA.into(), "remediated".into())]);
    assert!(compliant(&f, REPLICA).await);
    assert_eq!(f.policy(PRIMARY).await.unwrap(), primary_before);
    let live: Value = serde_json::from_str(&f.policy(REPLICA).await.unwrap()).unwrap();
    // The default statement is kept (it grants the admin account only); the Id is kept.
    assert_eq!(live["Id"], "key-default-1");
    assert_eq!(live["Statement"][0], default["Statement"][0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_scheduled_on_a_replica_is_cancelled_and_the_key_enabled() {
    let (_moto, f) = setup("remediate").await;
    f.kms(REPLICA)
        .schedule_key_deletion()
        .key_id(&f.key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(f.state(REPLICA).await.unwrap(), "PendingDeletion");
    let out = handle(
        &f.guard(),
        &f.event("ScheduleKeyDeletion", REPLICA, "Admin", T0, "e"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(outcome(&out), [(REPLICA.into(), "remediated".into())]);
    assert_eq!(f.state(REPLICA).await.unwrap(), "Enabled");
    assert_eq!(f.state(PRIMARY).await.unwrap(), "Enabled");
    let published = f.published().await.unwrap();
    assert_eq!(checks(&published), ["KEY-STATE"]);
    assert_eq!(
        published[0].remediation.as_ref().unwrap().actions,
        [
            "kms:CancelKeyDeletion in eu-west-1",
            "kms:EnableKey in eu-west-1"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_key_is_enabled() {
    let (_moto, f) = setup("remediate").await;
    f.kms(PRIMARY)
        .disable_key()
        .key_id(&f.key_id)
        .send()
        .await
        .unwrap();
    let out = handle(
        &f.guard(),
        &f.event("DisableKey", PRIMARY, "Admin", T0, "e"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(outcome(&out), [(PRIMARY.into(), "remediated".into())]);
    assert_eq!(f.state(PRIMARY).await.unwrap(), "Enabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_outside_the_organization_is_reported_not_revoked() {
    let (_moto, f) = setup("remediate").await;
    let grant = f
        .kms(PRIMARY)
        .create_grant()
        .key_id(&f.key_id)
        .grantee_principal("arn:aws:iam::999999999999:role/Outsider")
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await
        .unwrap();
    let grant_id = grant.grant_id().unwrap().to_owned();
    let out = handle(
        &f.guard(),
        &f.event("CreateGrant", PRIMARY, "Admin", T0, "e"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(outcome(&out), [(PRIMARY.into(), "reported".into())]);
    let published = f.published().await.unwrap();
    assert_eq!(checks(&published), ["KEY-GRANTS"]);
    assert!(published[0].message.contains(&grant_id));
    assert_eq!(remediation_outcomes(&published), ["skipped"]);
    let grants = f
        .kms(PRIMARY)
        .list_grants()
        .key_id(&f.key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        grants.grants().len(),
        1,
        "the grant is left for a human to revoke"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_by_the_guards_own_role_is_rechecked_not_remediated() {
    let (_moto, f) = setup("remediate").await;
    f.edit_policy(PRIMARY, |doc| {
        doc["Statement"].as_array_mut().unwrap().remove(1);
    })
    .await
    .unwrap();
    let drifted = f.policy(PRIMARY).await.unwrap();
    let event = f.event("PutKeyPolicy", PRIMARY, "idc-guard-remediation", T0, "e");
    let out = handle(&f.guard(), &event, now(5)).await.unwrap();
    assert_eq!(outcome(&out), [(PRIMARY.into(), "reported".into())]);
    assert_eq!(f.policy(PRIMARY).await.unwrap(), drifted);
    let published = f.published().await.unwrap();
    assert_eq!(checks(&published), ["KP-SERVICE-DESCRIBE"]);
    assert!(
        published[0].message.contains("own role"),
        "{}",
        published[0].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_twice_remediates_and_publishes_once() {
    let (_moto, f) = setup("remediate").await;
    f.edit_policy(PRIMARY, |doc| {
        doc["Statement"].as_array_mut().unwrap().remove(4);
    })
    .await
    .unwrap();
    let event = f.event("PutKeyPolicy", PRIMARY, "Admin", T0, "e");
    let guard = f.guard();
    let (a, b) = tokio::join!(
        handle(&guard, &event, now(5)),
        handle(&guard, &event, now(5))
    );
    // The two deliveries either race (one claims, the other finds the claim held and asks
    // for a retry) or run one after the other (the second finds the key compliant); never
    // two remediations.
    let mut got = Vec::new();
    for result in [a, b] {
        match result {
            Ok(out) => got.extend(outcome(&out)),
            Err(e) => {
                assert!(e.to_string().contains("holds the claim"), "{e}");
                // Lambda's retry, a minute later.
                got.extend(outcome(&handle(&guard, &event, now(65)).await.unwrap()));
            }
        }
    }
    let remediated = got.iter().filter(|(_, o)| o == "remediated").count();
    assert_eq!(remediated, 1, "{got:?}");
    assert!(compliant(&f, PRIMARY).await);
    let published = f.published().await.unwrap();
    assert_eq!(published.len(), 2, "{published:#?}");
    assert_eq!(published[0].status, Status::Fail);
    // The remediation's verification resolves the failure, once.
    assert_eq!(
        published[1].resolves.as_deref(),
        Some(published[0].fingerprint.as_str())
    );
}
