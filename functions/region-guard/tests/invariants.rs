//! region-guard's safety rules on in-memory ports (each fails without the rule it names):
//! a missing replica is created only in remediate mode with the switch on, never for the
//! guards' own change, never past the circuit breaker, never without a working claim store;
//! the event's Region claim is re-read, not trusted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use idc_guard_core::checks::key_policy::check_parsed;
use idc_guard_core::config::Config;
use idc_guard_core::domain::live::{
    InstanceDescription, InstanceEncryption, InstanceRegion, KeyDescription, KeyState,
    MultiRegionRole,
};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::guard::KeyGuard;
use idc_guard_core::guard::region::RegionGuard;
use idc_guard_core::model::render::render_policy;
use idc_guard_core::ports::PortErrorKind;
use idc_guard_core::ports::memory::{
    MemoryBudget, MemoryBus, MemoryClaims, MemoryDirectory, MemoryKey, MemoryKms, NoPause,
};
use idc_guard_policy::document::parse_key_policy;
use region_guard::handle;
use serde_json::{Value, json};

const KEY_ID: &str = "mrk-0123456789abcdef0123456789abcdef";
const GUARD_ROLE: &str = "arn:aws:iam::111122223333:role/idc-guard-remediation";
const INSTANCE: &str = "arn:aws:sso:::instance/ssoins-1234567890abcdef";

type Guard =
    RegionGuard<MemoryKms, MemoryDirectory, MemoryBus, MemoryClaims, MemoryBudget, NoPause>;

fn config(mode: &str, extra: &str) -> Config {
    let overrides = serde_json::json!({
        "instance_arn": INSTANCE,
        "delegated_admin_account_ids": [],
        "regions": ["us-east-1"],
        "key_arn": format!("arn:aws:kms:us-east-1:111122223333:key/{KEY_ID}"),
        "identity_source": "identity-center-directory",
    });
    idc_guard_tests::guard_config(&overrides, mode, GUARD_ROLE, extra).unwrap()
}

/// The key in us-east-1 only; the instance already lists eu-west-1 (ADDING).
fn guard(mode: &str, extra: &str) -> Guard {
    let config = config(mode, extra);
    let keys = MemoryKms::default();
    keys.insert(MemoryKey {
        description: KeyDescription {
            arn: config.key_arn_in("us-east-1"),
            key_id: KEY_ID.into(),
            region: "us-east-1".into(),
            state: KeyState::Enabled,
            usage: "ENCRYPT_DECRYPT".into(),
            manager: "CUSTOMER".into(),
            multi_region: Some(MultiRegionRole::Primary),
            primary_region: Some("us-east-1".into()),
            replica_regions: vec![],
            deletion_date: None,
        },
        policy: render_policy(&config),
        grants: vec![],
    });
    let directory = MemoryDirectory {
        instance: InstanceDescription {
            instance_arn: INSTANCE.into(),
            status: "ACTIVE".into(),
            owner_account_id: Some("111122223333".into()),
            identity_store_id: Some("d-1234567890".into()),
            encryption: Some(InstanceEncryption {
                key_type: "CUSTOMER_MANAGED_KEY".into(),
                kms_key_arn: Some(config.key_arn.to_string()),
                status: Some("ENABLED".into()),
                reason: None,
            }),
        },
        regions: vec![
            InstanceRegion {
                name: "us-east-1".into(),
                status: "ACTIVE".into(),
                is_primary: true,
            },
            InstanceRegion {
                name: "eu-west-1".into(),
                status: "ADDING".into(),
                is_primary: false,
            },
        ],
    };
    let KeyGuard { enforcer, delivery } = KeyGuard::new(
        config,
        keys,
        MemoryBus::default(),
        MemoryClaims::default(),
        MemoryBudget::default(),
    );
    RegionGuard {
        enforcer,
        delivery,
        directory,
        pause: NoPause,
    }
}

fn add_region(actor_role: &str, region: &str, id: &str) -> Value {
    json!({"version": "0", "id": id, "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.sso", "region": "us-east-1", "detail": {
            "eventName": "AddRegion", "eventSource": "sso.amazonaws.com", "eventID": id,
            "awsRegion": "us-east-1", "eventTime": "2026-11-27T10:00:00Z",
            "userIdentity": {"type": "AssumedRole",
                "arn": format!("arn:aws:sts::111122223333:assumed-role/{actor_role}/s"),
                "sessionContext": {"sessionIssuer": {"arn": format!("arn:aws:iam::111122223333:role/{actor_role}")}}},
            "requestParameters": {"instanceArn": INSTANCE, "regionName": region}}})
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-27T10:00:05Z").unwrap()
}

fn replicated(g: &Guard) -> bool {
    g.enforcer
        .keys
        .writes()
        .iter()
        .any(|w| w.contains("ReplicateKey"))
}

const CREATE: &str = "create_missing_replicas = true";

#[tokio::test]
async fn a_missing_replica_is_created_with_a_policy_that_passes_every_kp_check() {
    let g = guard("remediate", CREATE);
    handle(&g, &add_region("Admin", "eu-west-1", "e1"), now())
        .await
        .unwrap();
    assert!(replicated(&g));
    let replica = g.enforcer.keys.get("eu-west-1").unwrap();
    let report = check_parsed(
        &g.enforcer.config,
        &parse_key_policy(&replica.policy),
        &["eu-west-1".to_owned()],
    );
    assert!(report.compliant(), "{:?}", report.findings);
}

#[tokio::test]
async fn notify_dry_run_and_the_switch_off_never_create() {
    for (mode, extra) in [("notify", CREATE), ("dry-run", CREATE), ("remediate", "")] {
        let g = guard(mode, extra);
        handle(&g, &add_region("Admin", "eu-west-1", "e1"), now())
            .await
            .unwrap();
        assert!(!replicated(&g), "{mode} {extra}");
        let ready = g
            .delivery
            .bus
            .published()
            .into_iter()
            .find(|f| f.check == "REGION-KEY-READY")
            .unwrap();
        let outcome = ready.remediation.unwrap().outcome;
        assert_eq!(
            outcome,
            if mode == "dry-run" {
                "planned"
            } else {
                "skipped"
            }
        );
    }
}

#[tokio::test]
async fn the_guards_own_change_is_rechecked_never_remediated() {
    let g = guard("remediate", CREATE);
    handle(
        &g,
        &add_region("idc-guard-remediation", "eu-west-1", "e1"),
        now(),
    )
    .await
    .unwrap();
    assert!(!replicated(&g));
    let ready = g
        .delivery
        .bus
        .published()
        .into_iter()
        .find(|f| f.check == "REGION-KEY-READY")
        .unwrap();
    assert!(
        ready.message.contains("loop protection"),
        "{}",
        ready.message
    );
}

#[tokio::test]
async fn the_circuit_breaker_stops_replica_creation() {
    let g = guard(
        "remediate",
        &format!("{CREATE}\nmax_actions_per_window = 1"),
    );
    handle(&g, &add_region("Admin", "eu-west-1", "e1"), now())
        .await
        .unwrap();
    assert!(g.enforcer.keys.get("eu-west-1").is_some());
    // A second Region in the same window: the breaker is open.
    handle(&g, &add_region("Admin", "ap-southeast-2", "e2"), now())
        .await
        .unwrap();
    assert!(
        g.enforcer.keys.get("ap-southeast-2").is_none(),
        "the breaker must stop the second action in the window"
    );
    let ready = g
        .delivery
        .bus
        .published()
        .into_iter()
        .find(|f| f.check == "REGION-KEY-READY" && f.region == "ap-southeast-2")
        .unwrap();
    assert!(
        ready.message.contains("Circuit breaker open"),
        "{}",
        ready.message
    );
}

#[tokio::test]
async fn a_broken_claim_store_means_report_only() {
    let g = guard("remediate", CREATE);
    g.delivery.claims.fail_with(PortErrorKind::AccessDenied);
    let out = handle(&g, &add_region("Admin", "eu-west-1", "e1"), now())
        .await
        .unwrap();
    assert_eq!(out["result"], "handled");
    assert!(!replicated(&g));
}

#[tokio::test]
async fn a_transient_read_fails_the_invocation_and_releases_the_change() {
    let g = guard("remediate", CREATE);
    g.enforcer
        .keys
        .fail_next("DescribeKey", PortErrorKind::Transient);
    assert!(
        handle(&g, &add_region("Admin", "eu-west-1", "e1"), now())
            .await
            .is_err()
    );
    assert!(g.delivery.bus.published().is_empty());
    // The retry takes the change over and handles it.
    let out = handle(&g, &add_region("Admin", "eu-west-1", "e1"), now())
        .await
        .unwrap();
    assert_eq!(out["result"], "handled", "{out}");
    assert!(replicated(&g));
}

#[tokio::test]
async fn the_event_region_is_re_read_and_an_existing_replica_is_never_recreated() {
    let g = guard("remediate", CREATE);
    handle(&g, &add_region("Admin", "eu-west-1", "e1"), now())
        .await
        .unwrap();
    let writes = g.enforcer.keys.writes().len();
    // A later, separate AddRegion of the same Region: live state has the replica now.
    let mut later = add_region("Admin", "eu-west-1", "e2");
    later["detail"]["eventTime"] = json!("2026-11-27T11:00:00Z");
    handle(
        &g,
        &later,
        Timestamp::parse("2026-11-27T11:00:05Z").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        g.enforcer.keys.writes().len(),
        writes,
        "{:?}",
        g.enforcer.keys.writes()
    );
}
