//! The guard's safety invariants (docs/key-policy-guard.md § Safety invariants), each with a test that fails without it, over
//! in-memory ports. The same scenarios run against real local AWS servers in `tests/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use idc_guard_core::checks::key_policy::check_parsed;
use idc_guard_core::config::Config;
use idc_guard_core::domain::live::{KeyDescription, KeyState, MultiRegionRole};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::Finding;
use idc_guard_core::guard::KeyGuard;
use idc_guard_core::model::render::render_policy;
use idc_guard_core::ports::PortErrorKind;
use idc_guard_core::ports::memory::{MemoryBudget, MemoryBus, MemoryClaims, MemoryKey, MemoryKms};
use idc_guard_policy::document::parse_key_policy;
use key_policy_guard::handle;
use serde_json::{Value, json};

const KEY_ID: &str = "mrk-0123456789abcdef0123456789abcdef";
const GUARD_ROLE: &str = "arn:aws:iam::111122223333:role/idc-guard-remediation";
const ADMIN: &str = "arn:aws:sts::111122223333:assumed-role/Admin/alice";

type Guard = KeyGuard<MemoryKms, MemoryBus, MemoryClaims, MemoryBudget>;

fn config(mode: &str, extra: &str) -> Config {
    let overrides = json!({"regions": ["us-east-1", "eu-west-1"]});
    idc_guard_tests::guard_config(&overrides, mode, GUARD_ROLE, extra).unwrap()
}

fn guard(mode: &str, extra: &str) -> Guard {
    let config = config(mode, extra);
    let keys = MemoryKms::default();
    for region in ["us-east-1", "eu-west-1"] {
        keys.insert(MemoryKey {
            description: KeyDescription {
                arn: config.key_arn_in(region),
                key_id: KEY_ID.into(),
                region: region.into(),
                state: KeyState::Enabled,
                usage: "ENCRYPT_DECRYPT".into(),
                manager: "CUSTOMER".into(),
                multi_region: Some(if region == "us-east-1" {
                    MultiRegionRole::Primary
                } else {
                    MultiRegionRole::Replica
                }),
                primary_region: Some("us-east-1".into()),
                replica_regions: vec!["eu-west-1".into()],
                deletion_date: None,
            },
            policy: render_policy(&config),
            grants: vec![],
        });
    }
    KeyGuard::new(
        config,
        keys,
        MemoryBus::default(),
        MemoryClaims::default(),
        MemoryBudget::default(),
    )
}

fn event(name: &str, region: &str, actor: &str, time: &str, id: &str) -> Value {
    json!({
        "version": "0", "id": format!("eb-{id}"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms", "account": "111122223333", "time": time, "region": region,
        "resources": [format!("arn:aws:kms:{region}:111122223333:key/{KEY_ID}")],
        "detail": {
            "eventVersion": "1.11", "eventTime": time, "eventSource": "kms.amazonaws.com",
            "eventName": name, "awsRegion": region, "eventID": id,
            "userIdentity": {"type": "AssumedRole", "arn": actor,
                "sessionContext": {"sessionIssuer": {"type": "Role",
                    "arn": format!("arn:aws:iam::111122223333:role/{}", actor.split('/').nth(1).unwrap_or("x"))}}},
            "requestParameters": {"keyId": KEY_ID, "policyName": "default", "policy": "{\"claimed\": true}"},
            "responseElements": null,
            "resources": [{"ARN": format!("arn:aws:kms:{region}:111122223333:key/{KEY_ID}"), "type": "AWS::KMS::Key"}]
        }
    })
}

const T0: &str = "2026-11-27T10:00:00Z";

fn now(offset: i64) -> Timestamp {
    Timestamp::parse(T0).unwrap().plus(offset)
}

/// Drops the baseline statement at `index` from the live policy in `region`.
fn drift(g: &Guard, region: &str, index: usize) {
    let mut key = g.enforcer.keys.get(region).unwrap();
    let mut doc: Value = serde_json::from_str(&key.policy).unwrap();
    doc["Statement"].as_array_mut().unwrap().remove(index);
    key.policy = doc.to_string();
    g.enforcer.keys.insert(key);
}

fn set_state(g: &Guard, region: &str, state: KeyState) {
    let mut key = g.enforcer.keys.get(region).unwrap();
    key.description.state = state;
    g.enforcer.keys.insert(key);
}

fn passes(g: &Guard, region: &str) -> bool {
    let policy = g.enforcer.keys.get(region).unwrap().policy;
    check_parsed(
        &g.enforcer.config,
        &parse_key_policy(&policy),
        &[region.to_owned()],
    )
    .compliant()
}

fn regions(outcome: &Value) -> Vec<String> {
    outcome["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect()
}

/// The remediation outcome of each finding about the drift (resolutions carry none).
fn outcomes(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.resolves.is_none())
        .map(|f| f.remediation.as_ref().unwrap().outcome.to_string())
        .collect()
}

#[tokio::test]
async fn remediate_restores_a_removed_statement_and_verifies() {
    let g = guard("remediate", "");
    drift(&g, "eu-west-1", 3);
    let out = handle(
        &g,
        &event("PutKeyPolicy", "eu-west-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["remediated"]);
    assert_eq!(g.enforcer.keys.writes(), ["PutKeyPolicy eu-west-1"]);
    assert!(passes(&g, "eu-west-1"));
    let published = g.delivery.bus.published();
    assert!(!published.is_empty());
    assert!(published.iter().all(|f| f.region == "eu-west-1"));
    let failures = published.iter().filter(|f| f.resolves.is_none()).count();
    assert_eq!(outcomes(&published), vec!["applied"; failures]);
    // The verification resolves each failing check once.
    assert_eq!(published.len(), 2 * failures, "{published:#?}");
    let f = &published[0];
    assert!(f.message.contains("verified"), "{}", f.message);
    assert_eq!(f.trigger.as_ref().unwrap().event_id, "e1");
    assert_eq!(f.trigger.as_ref().unwrap().actor, ADMIN);
}

#[tokio::test]
async fn notify_changes_nothing_and_dry_run_reports_the_plan() {
    for (mode, outcome) in [("notify", "skipped"), ("dry-run", "planned")] {
        let g = guard(mode, "");
        drift(&g, "us-east-1", 4);
        let before = g.enforcer.keys.get("us-east-1").unwrap().policy;
        let out = handle(
            &g,
            &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
            now(5),
        )
        .await
        .unwrap();
        assert_eq!(regions(&out), ["reported"], "{mode}");
        assert!(
            g.enforcer.keys.writes().is_empty(),
            "{mode}: {:?}",
            g.enforcer.keys.writes()
        );
        assert_eq!(g.enforcer.keys.get("us-east-1").unwrap().policy, before);
        let published = g.delivery.bus.published();
        assert_eq!(
            outcomes(&published),
            vec![outcome; published.len()],
            "{mode}"
        );
        let actions = &published[0].remediation.as_ref().unwrap().actions;
        assert!(
            actions
                .iter()
                .any(|a| a.contains("add model statement AllowManagedApps")),
            "{mode}: {actions:?}"
        );
    }
}

#[tokio::test]
async fn the_event_is_never_trusted_only_live_state() {
    // The event claims a policy change, but the live key is compliant: nothing to do.
    let g = guard("remediate", "");
    let out = handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["compliant"]);
    assert!(g.enforcer.keys.writes().is_empty());
    assert!(g.delivery.bus.published().is_empty());
    assert!(
        g.enforcer
            .keys
            .calls()
            .contains(&"GetKeyPolicy us-east-1".to_owned())
    );
}

#[tokio::test]
async fn a_plan_that_cannot_pass_writes_nothing() {
    let g = guard("remediate", "");
    // Version 2008 and an application statement with literal ${...} text: raising the Version
    // would change that statement's meaning, so no safe repair exists.
    let mut key = g.enforcer.keys.get("us-east-1").unwrap();
    let mut doc: Value = serde_json::from_str(&key.policy).unwrap();
    doc["Version"] = json!("2008-10-17");
    doc["Statement"]
        .as_array_mut()
        .unwrap()
        .push(json!({"Sid": "App", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "Action": "kms:DescribeKey",
        "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "${team}"}}}));
    key.policy = doc.to_string();
    g.enforcer.keys.insert(key);
    let out = handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["reported"]);
    assert!(
        g.enforcer.keys.writes().is_empty(),
        "{:?}",
        g.enforcer.keys.writes()
    );
    let actions = &g.delivery.bus.published()[0]
        .remediation
        .clone()
        .unwrap()
        .actions;
    assert!(
        actions
            .iter()
            .any(|a| a.starts_with("manual action required") && a.contains("App (index 5)")),
        "{actions:?}"
    );
}

#[tokio::test]
async fn the_guards_own_change_is_rechecked_but_not_remediated() {
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 1);
    let own = "arn:aws:sts::111122223333:assumed-role/idc-guard-remediation/guard";
    let out = handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", own, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["reported"]);
    assert!(g.enforcer.keys.writes().is_empty());
    let published = g.delivery.bus.published();
    assert_eq!(outcomes(&published), vec!["skipped"; published.len()]);
    assert!(
        published[0].message.contains("own role"),
        "{}",
        published[0].message
    );
}

#[tokio::test]
async fn the_circuit_breaker_stops_remediation_after_the_limit() {
    let g = guard(
        "remediate",
        "max_actions_per_window = 2\nwindow_minutes = 60",
    );
    let mut results = Vec::new();
    for i in 0..3 {
        drift(&g, "us-east-1", 2);
        let time = now(i * 60).to_string();
        let out = handle(
            &g,
            &event("PutKeyPolicy", "us-east-1", ADMIN, &time, &format!("e{i}")),
            now(i * 60 + 5),
        )
        .await
        .unwrap();
        results.extend(regions(&out));
    }
    assert_eq!(results, ["remediated", "remediated", "reported"]);
    assert_eq!(g.enforcer.keys.writes().len(), 2);
    let last = g.delivery.bus.published().pop().unwrap();
    assert!(
        last.message.contains("Circuit breaker open"),
        "{}",
        last.message
    );
    // The next window admits remediation again.
    let out = handle(
        &g,
        &event(
            "PutKeyPolicy",
            "us-east-1",
            ADMIN,
            &now(3600).to_string(),
            "e9",
        ),
        now(3605),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["remediated"]);
}

#[tokio::test]
async fn the_same_change_twice_is_handled_once() {
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    let e = event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1");
    // Two deliveries racing: both read the drifted state before either writes.
    let (a, b) = tokio::join!(handle(&g, &e, now(5)), handle(&g, &e, now(5)));
    // One remediates; the other finds the claim held and asks Lambda to retry, never
    // acknowledging a finding someone else may still drop.
    let (won, lost) = match (a, b) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("expected one winner and one retry: {other:?}"),
    };
    assert_eq!(regions(&won), ["remediated"]);
    assert!(lost.to_string().contains("holds the claim"), "{lost}");
    assert_eq!(g.enforcer.keys.writes(), ["PutKeyPolicy us-east-1"]);
    let published = g.delivery.bus.published().len();
    // Lambda's retry finds a compliant key: nothing more is written or published.
    let c = handle(&g, &e, now(65)).await.unwrap();
    assert_eq!(regions(&c), ["compliant"]);
    assert_eq!(g.enforcer.keys.writes().len(), 1);
    assert_eq!(g.delivery.bus.published().len(), published);
}

#[tokio::test]
async fn a_crashed_invocation_is_taken_over_not_acknowledged() {
    use idc_guard_core::guard::CLAIM_LEASE_SECONDS;
    use idc_guard_core::ports::{Claim, ClaimStore};
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    let e = event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1");
    // The findings' fingerprints, from a notify run on an identical key.
    let probe = guard("notify", "");
    drift(&probe, "us-east-1", 3);
    handle(&probe, &e, now(5)).await.unwrap();
    // An invocation claimed them at +5 s, then died before writing or publishing.
    for f in probe.delivery.bus.published() {
        let claim = Claim {
            fingerprint: f.fingerprint,
            change_time: now(0),
            now: now(5),
            lease_until: now(5 + CLAIM_LEASE_SECONDS),
            expires: now(86_400),
        };
        g.delivery.claims.claim(&claim).await.unwrap();
    }
    // Lambda's first retry, within the lease: asks for another retry, acknowledges nothing.
    let early = handle(&g, &e, now(65)).await;
    assert!(early.is_err(), "{early:?}");
    assert!(g.enforcer.keys.writes().is_empty());
    assert!(g.delivery.bus.published().is_empty());
    // The next retry, after the lease: taken over and remediated.
    let late = handle(&g, &e, now(5 + CLAIM_LEASE_SECONDS + 60))
        .await
        .unwrap();
    assert_eq!(regions(&late), ["remediated"]);
}

#[tokio::test]
async fn notify_reports_a_duplicate_delivery_once_but_a_later_change_again() {
    let g = guard("notify", "");
    drift(&g, "us-east-1", 3);
    let e = event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1");
    handle(&g, &e, now(5)).await.unwrap();
    let once = g.delivery.bus.published().len();
    assert!(once > 0);
    let again = handle(&g, &e, now(10)).await.unwrap();
    assert_eq!(regions(&again), ["duplicate"]);
    assert_eq!(g.delivery.bus.published().len(), once);
    let later = event(
        "PutKeyPolicy",
        "us-east-1",
        ADMIN,
        &now(120).to_string(),
        "e2",
    );
    handle(&g, &later, now(125)).await.unwrap();
    assert_eq!(g.delivery.bus.published().len(), 2 * once);
}

#[tokio::test]
async fn a_redrift_after_remediation_is_remediated_again() {
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    drift(&g, "us-east-1", 3);
    let out = handle(
        &g,
        &event(
            "PutKeyPolicy",
            "us-east-1",
            ADMIN,
            &now(30).to_string(),
            "e2",
        ),
        now(35),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["remediated"]);
    assert_eq!(g.enforcer.keys.writes().len(), 2);
}

#[tokio::test]
async fn scheduled_deletion_is_cancelled_then_the_key_enabled() {
    let g = guard("remediate", "");
    set_state(&g, "eu-west-1", KeyState::PendingDeletion);
    let out = handle(
        &g,
        &event("ScheduleKeyDeletion", "eu-west-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["remediated"]);
    assert_eq!(
        g.enforcer.keys.writes(),
        ["CancelKeyDeletion eu-west-1", "EnableKey eu-west-1"]
    );
    assert_eq!(
        g.enforcer.keys.get("eu-west-1").unwrap().description.state,
        KeyState::Enabled
    );
}

#[tokio::test]
async fn a_disabled_key_is_enabled() {
    let g = guard("remediate", "");
    set_state(&g, "us-east-1", KeyState::Disabled);
    let out = handle(
        &g,
        &event("DisableKey", "us-east-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["remediated"]);
    assert_eq!(g.enforcer.keys.writes(), ["EnableKey us-east-1"]);
}

#[tokio::test]
async fn bad_and_foreign_events_are_acknowledged_without_calls() {
    let g = guard("remediate", "");
    let out = handle(&g, &json!({"id": "x", "detail": {"eventID": "y"}}), now(0))
        .await
        .unwrap();
    assert_eq!(out["result"], "rejected");
    assert!(out["error"].as_str().unwrap().contains("detail.eventName"));
    let mut other = event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1");
    other["detail"]["resources"][0]["ARN"] =
        json!("arn:aws:kms:us-east-1:111122223333:key/mrk-ffff");
    other["resources"] = json!([]);
    let out = handle(&g, &other, now(0)).await.unwrap();
    assert_eq!(out["result"], "skipped");
    let mut failed = event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1");
    failed["detail"]["errorCode"] = json!("AccessDenied");
    assert_eq!(
        handle(&g, &failed, now(0)).await.unwrap()["result"],
        "skipped"
    );
    assert!(
        g.enforcer.keys.calls().is_empty(),
        "{:?}",
        g.enforcer.keys.calls()
    );
}

#[tokio::test]
async fn a_publish_failure_is_retried_and_nothing_is_lost() {
    let g = guard("notify", "");
    drift(&g, "us-east-1", 3);
    let e = event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1");
    g.delivery.bus.fail_next(1);
    let err = handle(&g, &e, now(5)).await.unwrap_err();
    assert!(err.to_string().contains("publishing"), "{err}");
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "FindingPublishError");
    assert!(
        diagnostic.error_message.contains("\"check\":\"KP-"),
        "{}",
        diagnostic.error_message
    );
    assert!(g.delivery.bus.published().is_empty());
    // Lambda retries the same event: the claim was released, so it is published now.
    let out = handle(&g, &e, now(65)).await.unwrap();
    assert_eq!(regions(&out), ["reported"]);
    assert!(!g.delivery.bus.published().is_empty());
}

/// An outbox an earlier attempt left that cannot be read as findings is never dropped: the
/// invocation fails (Lambda retries), the error carries it whole, and it stays in the outbox.
#[tokio::test]
async fn an_unreadable_outbox_fails_the_invocation_and_is_kept() {
    use idc_guard_core::ports::ClaimStore;
    let g = guard("notify", "");
    let e = event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1");
    let garbage = "[{\"check\": \"KP-NOT-A-CHECK\"}]";
    g.delivery
        .claims
        .stash("e1", garbage, now(600))
        .await
        .unwrap();
    let err = handle(&g, &e, now(5)).await.unwrap_err();
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "OutboxUnreadable");
    assert!(
        diagnostic.error_message.contains("KP-NOT-A-CHECK"),
        "{}",
        diagnostic.error_message
    );
    assert!(g.delivery.bus.published().is_empty());
    assert_eq!(
        g.delivery
            .claims
            .take_stashed("e1")
            .await
            .unwrap()
            .as_deref(),
        Some(garbage)
    );
}

#[tokio::test]
async fn a_failed_write_is_reported_not_retried_blindly() {
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    g.enforcer
        .keys
        .fail_next("PutKeyPolicy", PortErrorKind::AccessDenied);
    let out = handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["remediation-failed"]);
    let published = g.delivery.bus.published();
    assert_eq!(outcomes(&published), vec!["failed"; published.len()]);
    assert!(
        published[0].message.contains("Remediation failed"),
        "{}",
        published[0].message
    );
    // A transient failure goes back to Lambda for a retry instead.
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    g.enforcer
        .keys
        .fail_next("PutKeyPolicy", PortErrorKind::Transient);
    assert!(
        handle(
            &g,
            &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
            now(5)
        )
        .await
        .is_err()
    );
    // The write may have landed with its answer lost, so the findings go out before the
    // retry, which could find nothing left to report.
    let interrupted = g.delivery.bus.published();
    assert!(!interrupted.is_empty());
    assert!(
        interrupted[0].message.contains("Remediation interrupted"),
        "{}",
        interrupted[0].message
    );
    let out = handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
        now(65),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["remediated"]);
}

#[tokio::test]
async fn the_replaced_policy_travels_with_the_finding() {
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    let drifted = g.enforcer.keys.get("us-east-1").unwrap().policy;
    handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    let published = g.delivery.bus.published();
    let record = published[0].remediation.as_ref().unwrap();
    assert_eq!(record.previous_policy.as_deref(), Some(drifted.as_str()));
}

#[tokio::test]
async fn grants_are_never_reported_as_remediated() {
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    let mut key = g.enforcer.keys.get("us-east-1").unwrap();
    key.grants.push(idc_guard_core::domain::live::Grant {
        grant_id: "g-outsider".into(),
        name: None,
        grantee_principal: "arn:aws:iam::999999999999:role/X".into(),
        retiring_principal: None,
        issuing_account: None,
        operations: vec!["Decrypt".into()],
    });
    g.enforcer.keys.insert(key);
    let out = handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["remediated"]);
    let published = g.delivery.bus.published();
    let grants = published.iter().find(|f| f.check == "KEY-GRANTS").unwrap();
    let record = grants.remediation.as_ref().unwrap();
    assert_eq!(record.outcome, "skipped");
    assert!(
        record.actions.iter().all(|a| a.contains("grant")),
        "{:?}",
        record.actions
    );
    assert!(!grants.message.contains("Remediated"), "{}", grants.message);
    let policy = published
        .iter()
        .find(|f| f.check == "KP-ORG-VIA-SERVICE")
        .unwrap();
    assert_eq!(policy.remediation.as_ref().unwrap().outcome, "applied");
}

#[tokio::test]
async fn a_broken_state_table_means_report_only() {
    // Claims failing for good (e.g. AccessDenied on the table): no idempotency, no changes.
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    g.delivery.claims.fail_with(PortErrorKind::AccessDenied);
    let out = handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["reported"]);
    assert!(g.enforcer.keys.writes().is_empty());
    assert!(
        g.delivery.bus.published()[0]
            .message
            .contains("idempotency store failed")
    );
    // The breaker failing for good: likewise.
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    g.enforcer.budget.fail_with(PortErrorKind::AccessDenied);
    let out = handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["reported"]);
    assert!(g.enforcer.keys.writes().is_empty());
    assert!(
        g.delivery.bus.published()[0]
            .message
            .contains("circuit breaker could not be read")
    );
    // Transient claim failures go back to Lambda, holding nothing.
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    g.delivery.claims.fail_with(PortErrorKind::Transient);
    assert!(
        handle(
            &g,
            &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
            now(5)
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn an_unverifiable_remediation_is_reported_as_such() {
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    // The first DescribeKey (inspection) works; the verification read fails.
    g.enforcer
        .keys
        .fail_later("DescribeKey", PortErrorKind::AccessDenied, 1);
    let out = handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&out), ["remediation-failed"]);
    assert_eq!(g.enforcer.keys.writes(), ["PutKeyPolicy us-east-1"]);
    let f = &g.delivery.bus.published()[0];
    assert_eq!(f.remediation.as_ref().unwrap().outcome, "applied");
    assert!(f.message.contains("could not be re-read"), "{}", f.message);
}

#[tokio::test]
async fn replicate_key_checks_both_regions() {
    let g = guard("notify", "");
    let mut e = event("ReplicateKey", "us-east-1", ADMIN, T0, "e1");
    e["detail"]["requestParameters"]["replicaRegion"] = json!("eu-west-1");
    let out = handle(&g, &e, now(5)).await.unwrap();
    let got: Vec<&str> = out["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["us-east-1", "eu-west-1"]);
}

#[test]
fn settings_name_the_bad_variable() {
    use key_policy_guard::Settings;
    let env = |pairs: Vec<(&'static str, String)>| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    };
    let err = Settings::from_env(env(vec![])).unwrap_err();
    assert_eq!(err.variable, "IDC_GUARD_CONFIG");
    let toml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/config.toml"
    ))
    .unwrap();
    let err = Settings::from_env(env(vec![
        ("IDC_GUARD_CONFIG", toml.clone()),
        ("IDC_GUARD_MODE", "fix-it".into()),
    ]))
    .unwrap_err();
    assert_eq!(err.variable, "IDC_GUARD_MODE");
    let err = Settings::from_env(env(vec![("IDC_GUARD_CONFIG", toml.clone())])).unwrap_err();
    assert_eq!(err.variable, "IDC_GUARD_STATE_TABLE");
    // Remediation without the guard's own roles has no loop protection: refused.
    let err = Settings::from_env(env(vec![
        ("IDC_GUARD_CONFIG", toml.clone()),
        ("IDC_GUARD_MODE", "remediate".into()),
        ("IDC_GUARD_STATE_TABLE", "t".into()),
    ]))
    .unwrap_err();
    assert_eq!(err.variable, "IDC_GUARD_MODE");
    assert!(err.message.contains("loop protection"), "{err}");
    let with_roles = toml.replace(
        "[remediation]",
        "[remediation]\nguard_role_arns = [\"arn:aws:iam::111122223333:role/idc-guard\"]",
    );
    assert_ne!(with_roles, toml);
    let ok = Settings::from_env(env(vec![
        ("IDC_GUARD_CONFIG", with_roles),
        ("IDC_GUARD_MODE", "remediate".into()),
        ("IDC_GUARD_STATE_TABLE", "t".into()),
    ]))
    .unwrap();
    assert_eq!(ok.bus_name, "idc-guard");
    assert_eq!(
        ok.config.remediation.mode,
        idc_guard_core::config::Mode::Remediate
    );
    let err = Settings::from_env(env(vec![("IDC_GUARD_CONFIG", "bogus = 1".into())])).unwrap_err();
    assert!(
        err.to_string().starts_with("IDC_GUARD_CONFIG: line 1"),
        "{err}"
    );
    assert_eq!(
        err.to_string().matches("IDC_GUARD_CONFIG").count(),
        1,
        "{err}"
    );
}

#[tokio::test]
async fn aliases_are_resolved_against_live_state() {
    let mut e = event("DisableKey", "us-east-1", ADMIN, T0, "e1");
    e["resources"] = json!([]);
    e["detail"]["resources"] = json!([]);
    e["detail"]["requestParameters"] = json!({"keyId": "alias/other-app"});
    // An alias of another key: skipped after one DescribeKey, nothing else read or written.
    let g = guard("remediate", "");
    g.enforcer
        .keys
        .add_alias("alias/other-app", "mrk-99999999999999999999999999999999");
    set_state(&g, "us-east-1", KeyState::Disabled);
    let out = handle(&g, &e, now(5)).await.unwrap();
    assert_eq!(out["result"], "skipped", "{out}");
    assert_eq!(g.enforcer.keys.calls(), ["DescribeKey us-east-1"]);
    // An alias of ours: handled.
    let g = guard("remediate", "");
    g.enforcer.keys.add_alias("alias/other-app", KEY_ID);
    set_state(&g, "us-east-1", KeyState::Disabled);
    let out = handle(&g, &e, now(5)).await.unwrap();
    assert_eq!(regions(&out), ["remediated"]);
}

#[tokio::test]
async fn a_replica_still_creating_is_retried_not_written() {
    let g = guard("remediate", "");
    drift(&g, "eu-west-1", 3);
    set_state(&g, "eu-west-1", KeyState::Creating);
    let e = event("CreateKey", "eu-west-1", ADMIN, T0, "e1");
    let err = handle(&g, &e, now(5)).await.unwrap_err();
    assert!(err.to_string().contains("Creating"), "{err}");
    assert!(g.enforcer.keys.writes().is_empty());
    assert!(g.delivery.bus.published().is_empty());
    // Lambda's retry, once the replica is usable.
    set_state(&g, "eu-west-1", KeyState::Enabled);
    let out = handle(&g, &e, now(65)).await.unwrap();
    assert_eq!(regions(&out), ["remediated"]);
}

#[tokio::test]
async fn a_change_racing_the_guard_is_not_overwritten() {
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    // Someone else writes a new policy right after the guard's inspection read it.
    let theirs = {
        let mut doc: Value = serde_json::from_str(&render_policy(&g.enforcer.config)).unwrap();
        doc["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Sid": "Theirs",
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"},
            "Action": "kms:DescribeKey", "Resource": "*"}));
        doc.to_string()
    };
    g.enforcer
        .keys
        .change_policy_after_reads("us-east-1", 1, &theirs);
    let e = event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1");
    let err = handle(&g, &e, now(5)).await.unwrap_err();
    assert!(
        err.to_string().contains("changed since it was read"),
        "{err}"
    );
    assert!(g.enforcer.keys.writes().is_empty());
    assert_eq!(g.enforcer.keys.get("us-east-1").unwrap().policy, theirs);
    // Nothing was sent to KMS, so nothing is reported as interrupted: the retry judges.
    assert!(
        g.delivery.bus.published().is_empty(),
        "{:?}",
        g.delivery.bus.published()
    );
    // The retry re-reads: their policy is compliant, so it stays.
    let out = handle(&g, &e, now(65)).await.unwrap();
    assert_eq!(regions(&out), ["compliant"]);
    assert_eq!(g.enforcer.keys.get("us-east-1").unwrap().policy, theirs);
}

#[tokio::test]
async fn one_change_seen_in_two_regions_is_reported_once() {
    // ReplicateKey is logged in the primary Region (naming the replica Region) and the new
    // replica's CreateKey in the replica Region: one change, two events.
    let g = guard("notify", "");
    drift(&g, "eu-west-1", 2);
    let mut replicate = event("ReplicateKey", "us-east-1", ADMIN, T0, "e1");
    replicate["detail"]["requestParameters"]["replicaRegion"] = json!("eu-west-1");
    let out = handle(&g, &replicate, now(5)).await.unwrap();
    let got: Vec<(String, String)> = out["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["region"].as_str().unwrap().into(),
                r["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("us-east-1".into(), "compliant".into()),
            ("eu-west-1".into(), "reported".into())
        ]
    );
    let once = g.delivery.bus.published().len();
    assert!(once > 0);
    let created = event("CreateKey", "eu-west-1", ADMIN, T0, "e2");
    let out = handle(&g, &created, now(8)).await.unwrap();
    assert_eq!(regions(&out), ["duplicate"]);
    assert_eq!(g.delivery.bus.published().len(), once);
}

#[tokio::test]
async fn a_publish_failure_after_remediation_is_published_by_the_retry() {
    let g = guard("remediate", "");
    drift(&g, "us-east-1", 3);
    g.delivery.bus.fail_next(1);
    let e = event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1");
    let err = handle(&g, &e, now(5)).await.unwrap_err();
    assert!(passes(&g, "us-east-1"), "the remediation itself stands");
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert!(
        diagnostic.error_message.contains("\"outcome\":\"applied\""),
        "{}",
        diagnostic.error_message
    );
    assert!(g.delivery.bus.published().is_empty());
    // The retry finds the key compliant, yet publishes what the first attempt did, from the
    // outbox; nothing is written twice.
    let out = handle(&g, &e, now(65)).await.unwrap();
    assert_eq!(regions(&out), ["compliant"]);
    let published = g.delivery.bus.published();
    assert!(!published.is_empty());
    assert!(
        published
            .iter()
            .all(|f| f.remediation.as_ref().unwrap().outcome == "applied")
    );
    assert_eq!(
        published
            .iter()
            .filter(|f| f.remediation.as_ref().unwrap().previous_policy.is_some())
            .count(),
        1,
        "the replaced policy travels once"
    );
    assert_eq!(
        out["republished"].as_array().map(Vec::len),
        Some(published.len())
    );
    assert_eq!(g.enforcer.keys.writes(), ["PutKeyPolicy us-east-1"]);
    // A third delivery finds the outbox empty: nothing is published twice.
    handle(&g, &e, now(125)).await.unwrap();
    assert_eq!(g.delivery.bus.published().len(), published.len());
}

#[tokio::test]
async fn the_circuit_breaker_counts_the_key_across_regions() {
    let g = guard("remediate", "max_actions_per_window = 1");
    drift(&g, "us-east-1", 3);
    drift(&g, "eu-west-1", 3);
    let first = handle(
        &g,
        &event("PutKeyPolicy", "us-east-1", ADMIN, T0, "e1"),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(regions(&first), ["remediated"]);
    // Another Region of the same key shares the budget.
    let second = handle(
        &g,
        &event("PutKeyPolicy", "eu-west-1", ADMIN, T0, "e2"),
        now(6),
    )
    .await
    .unwrap();
    assert_eq!(regions(&second), ["reported"]);
    assert_eq!(g.enforcer.keys.writes(), ["PutKeyPolicy us-east-1"]);
}
