//! The AWS adapters over real HTTP: what they send (a recording server) and how they read
//! answers and errors (moto).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use idc_guard_core::aws::{DynamoClaims, KmsKeyStore};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::ports::{
    ActionBudget, Budget, Claim, ClaimOutcome, ClaimRecord, ClaimStore, KeyStore, PortErrorKind,
};
use idc_guard_tests::key_fixture::{KeyFixture, PRIMARY};
use idc_guard_tests::local_aws::{Moto, sdk_config};
use serde_json::Value;

type Recorded = Arc<Mutex<Vec<(String, Value)>>>;

/// A KMS stand-in that records each request's target and body and answers `{}`.
async fn recording_kms() -> (String, Recorded) {
    let recorded: Recorded = Arc::default();
    let sink = recorded.clone();
    let app = Router::new().route(
        "/",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let target = headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                sink.lock().unwrap().push((target, body));
                ([("content-type", "application/x-amz-json-1.1")], "{}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, recorded)
}

#[tokio::test]
async fn put_key_policy_never_bypasses_the_lockout_safety_check() {
    let (url, recorded) = recording_kms().await;
    let sdk = sdk_config(PRIMARY).await;
    let keys = KmsKeyStore::new(&sdk, Some(url));
    keys.put_key_policy("eu-west-1", "mrk-1", "{\"Version\":\"2012-10-17\"}")
        .await
        .unwrap();
    let recorded = recorded.lock().unwrap().clone();
    assert_eq!(recorded.len(), 1);
    let (target, body) = &recorded[0];
    assert_eq!(target, "TrentService.PutKeyPolicy");
    assert_eq!(body["KeyId"], "mrk-1");
    assert_eq!(body["PolicyName"], "default");
    // Sent explicitly as false, so no default or future change can turn it on silently.
    assert_eq!(body["BypassPolicyLockoutSafetyCheck"], Value::Bool(false));
}

#[tokio::test]
async fn kms_errors_are_classified() {
    let moto = Moto::start().unwrap();
    let sdk = sdk_config(PRIMARY).await;
    let keys = KmsKeyStore::new(&sdk, Some(moto.url.clone()));
    let err = keys
        .describe_key("eu-west-1", "mrk-00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::NotFound, "{err}");
    assert_eq!(err.region, "eu-west-1");
    assert!(
        err.to_string()
            .starts_with("kms:DescribeKey in eu-west-1: NotFoundException"),
        "{err}"
    );
    // Nothing listens here: a transient error, worth a retry.
    let port = idc_guard_tests::local_aws::free_port().unwrap();
    let keys = KmsKeyStore::new(&sdk, Some(format!("http://127.0.0.1:{port}")));
    let err = keys.describe_key("eu-west-1", "mrk-1").await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Transient, "{err}");
}

#[tokio::test]
async fn describe_reads_multi_region_metadata_and_grants() {
    let moto = Moto::start().unwrap();
    let f = KeyFixture::new(&moto, &[PRIMARY, "ap-southeast-2"], "notify")
        .await
        .unwrap();
    let keys = KmsKeyStore::new(&f.sdk, Some(moto.url.clone()));
    let key = keys.describe_key(PRIMARY, &f.key_id).await.unwrap();
    assert_eq!(key.key_id, f.key_id);
    assert_eq!(key.region, PRIMARY);
    assert_eq!(key.state.name(), "Enabled");
    assert_eq!(key.primary_region.as_deref(), Some(PRIMARY));
    let replica = keys
        .describe_key("ap-southeast-2", &f.key_id)
        .await
        .unwrap();
    assert_eq!(replica.arn, f.config.key_arn_in("ap-southeast-2"));
    for i in 0..3 {
        f.kms(PRIMARY)
            .create_grant()
            .key_id(&f.key_id)
            .grantee_principal(format!("arn:aws:iam::123456789012:role/App{i}"))
            .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
            .send()
            .await
            .unwrap();
    }
    let grants = keys.list_grants(PRIMARY, &f.key_id).await.unwrap();
    assert_eq!(grants.len(), 3);
    assert!(grants.iter().all(|g| g.operations == ["Decrypt"]));
}

#[tokio::test]
async fn a_replica_is_requested_with_the_model_policy_and_no_bypass() {
    // moto ignores ReplicateKey's Policy (it copies the primary's), so what the adapter sends
    // is checked on the wire.
    let (url, recorded) = recording_kms().await;
    let sdk = sdk_config(PRIMARY).await;
    let keys = KmsKeyStore::new(&sdk, Some(url));
    let err = keys
        .replicate_key(PRIMARY, "mrk-1", "ap-southeast-2", "{\"model\":true}")
        .await
        .unwrap_err();
    assert!(err.message.contains("ReplicaKeyMetadata"), "{err}");
    let recorded = recorded.lock().unwrap().clone();
    let (target, body) = &recorded[0];
    assert_eq!(target, "TrentService.ReplicateKey");
    assert_eq!(body["ReplicaRegion"], "ap-southeast-2");
    assert_eq!(body["Policy"], "{\"model\":true}");
    assert_eq!(body["BypassPolicyLockoutSafetyCheck"], Value::Bool(false));
}

#[tokio::test]
async fn a_replica_is_created_on_moto() {
    let moto = Moto::start().unwrap();
    let f = KeyFixture::new(&moto, &[PRIMARY], "notify").await.unwrap();
    let keys = KmsKeyStore::new(&f.sdk, Some(moto.url.clone()));
    let model = idc_guard_core::model::render::render_policy(&f.config);
    let replica = keys
        .replicate_key(PRIMARY, &f.key_id, "ap-southeast-2", &model)
        .await
        .unwrap();
    assert_eq!(replica.region, "ap-southeast-2");
    assert_eq!(replica.key_id, f.key_id);
    assert_eq!(replica.arn, f.config.key_arn_in("ap-southeast-2"));
    assert!(keys.describe_key("ap-southeast-2", &f.key_id).await.is_ok());
}

fn claim(fingerprint: &str, change: i64, now: i64) -> Claim {
    Claim {
        fingerprint: fingerprint.into(),
        change_time: Timestamp(change),
        now: Timestamp(now),
        lease_until: Timestamp(now + 900),
        expires: Timestamp(now + 86_400),
    }
}

#[tokio::test]
async fn the_open_failure_ledger_is_versioned_and_removed_when_empty() {
    use idc_guard_core::finding::Severity;
    use idc_guard_core::ports::{Ledger, OpenFailure};
    let moto = Moto::start().unwrap();
    let f = KeyFixture::new(&moto, &[PRIMARY], "notify").await.unwrap();
    let store = DynamoClaims::new(&f.sdk, Some(moto.url.clone()), &f.table);
    let scope = "arn:aws:kms:us-east-1:111122223333:key/mrk-1#us-east-1";
    assert_eq!(store.open_failures(scope).await.unwrap(), Ledger::default());

    let mut ledger = Ledger::default();
    ledger.open.insert(
        "KP-ADMIN".into(),
        OpenFailure {
            fingerprint: "fp".into(),
            severity: Severity::Critical,
            since: "2026-11-27T10:00:00Z".into(),
        },
    );
    let expires = Timestamp(2_000_000_000);
    assert!(store.write_failures(scope, &ledger, expires).await.unwrap());
    // A second writer that read the same (absent) ledger loses.
    assert!(!store.write_failures(scope, &ledger, expires).await.unwrap());
    let read = store.open_failures(scope).await.unwrap();
    assert_eq!((read.version, read.expires), (1, Some(expires)));
    assert_eq!(read.open, ledger.open);

    // Closed: written empty over version 1, the item is gone; a stale version loses.
    let mut closed = read.clone();
    closed.open.clear();
    let mut stale = closed.clone();
    stale.version = 7;
    assert!(!store.write_failures(scope, &stale, expires).await.unwrap());
    assert!(store.write_failures(scope, &closed, expires).await.unwrap());
    assert_eq!(store.open_failures(scope).await.unwrap(), Ledger::default());
}

#[tokio::test]
async fn claims_and_the_breaker_hold_under_dynamodb_conditions() {
    let moto = Moto::start().unwrap();
    let f = KeyFixture::new(&moto, &[PRIMARY], "remediate")
        .await
        .unwrap();
    let store = DynamoClaims::new(&f.sdk, Some(moto.url.clone()), &f.table);

    assert_eq!(
        store.claim(&claim("fp", 100, 110)).await.unwrap(),
        ClaimOutcome::Granted
    );
    // Held: a duplicate delivery of the same change is refused.
    let dup = store.claim(&claim("fp", 100, 111)).await.unwrap();
    assert_eq!(
        dup,
        ClaimOutcome::Duplicate {
            by: ClaimRecord::Held {
                lease_until: Timestamp(1010)
            }
        }
    );
    store.settle("fp", Timestamp(120)).await.unwrap();
    // Settled after the change: still a duplicate; a change after the settlement is new.
    assert!(matches!(
        store.claim(&claim("fp", 100, 130)).await.unwrap(),
        ClaimOutcome::Duplicate { .. }
    ));
    assert_eq!(
        store.claim(&claim("fp", 125, 130)).await.unwrap(),
        ClaimOutcome::Granted
    );
    // A lapsed lease (a crashed handler) does not block forever.
    assert_eq!(
        store.claim(&claim("fp", 125, 130 + 901)).await.unwrap(),
        ClaimOutcome::Granted
    );
    // Released claims are free again.
    store.release("fp").await.unwrap();
    assert_eq!(
        store.claim(&claim("fp", 1, 2000)).await.unwrap(),
        ClaimOutcome::Granted
    );

    // The outbox: stashed findings are taken once, atomically.
    assert_eq!(store.take_stashed("ev-1").await.unwrap(), None);
    store
        .stash("ev-1", "[{\"check\":\"KP-ADMIN\"}]", Timestamp(9_999))
        .await
        .unwrap();
    assert_eq!(
        store.take_stashed("ev-1").await.unwrap().as_deref(),
        Some("[{\"check\":\"KP-ADMIN\"}]")
    );
    assert_eq!(store.take_stashed("ev-1").await.unwrap(), None);

    let arn = f.config.key_arn_in(PRIMARY);
    let (window, expires) = (Timestamp(3600), Timestamp(7200));
    assert_eq!(
        store.take(&arn, window, 2, expires).await.unwrap(),
        Budget::Granted { used: 1 }
    );
    assert_eq!(
        store.take(&arn, window, 2, expires).await.unwrap(),
        Budget::Granted { used: 2 }
    );
    assert_eq!(
        store.take(&arn, window, 2, expires).await.unwrap(),
        Budget::Exhausted { limit: 2 }
    );
    // Another window, another key: separate budgets.
    assert_eq!(
        store.take(&arn, Timestamp(7200), 2, expires).await.unwrap(),
        Budget::Granted { used: 1 }
    );
    let other = f.config.key_arn_in("eu-west-1");
    assert_eq!(
        store.take(&other, window, 2, expires).await.unwrap(),
        Budget::Granted { used: 1 }
    );
}
