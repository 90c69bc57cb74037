//! The Security Hub exporter against moto's Security Hub, through the real SDK: a failure is
//! imported as an active FAILED finding, a redelivery updates it in place, its resolution
//! turns the same `Id` PASSED and ARCHIVED, and a bulk import goes in batches of 100.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Mutex;

use aws_sdk_securityhub::types::AwsSecurityFinding;
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::{FINDING_DETAIL_TYPE, FINDING_SOURCE};
use idc_guard_core::ports::PortError;
use idc_guard_core::securityhub::{
    AsffFinding, FindingImport, HubTarget, ImportFailure, asff_finding, import_all,
};
use idc_guard_tests::key_fixture::PRIMARY;
use idc_guard_tests::local_aws::{MOTO_ACCOUNT, Moto, sdk_config, unique};
use securityhub_exporter::{Importer, SecurityHubImport, handle};
use serde_json::{Value, json};

const NOW: Timestamp = Timestamp(1_800_000_000);

fn here() -> Importer {
    Importer {
        region: PRIMARY.into(),
        account: Some(MOTO_ACCOUNT.into()),
    }
}

fn client(moto: &Moto, sdk: &aws_config::SdkConfig) -> aws_sdk_securityhub::Client {
    aws_sdk_securityhub::Client::from_conf(
        aws_sdk_securityhub::config::Builder::from(sdk)
            .endpoint_url(&moto.url)
            .build(),
    )
}

/// Every finding the hub holds with this `Id` (moto's GetFindings ignores filters).
async fn by_id(hub: &aws_sdk_securityhub::Client, id: &str) -> Vec<AwsSecurityFinding> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = hub
            .get_findings()
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        found.extend(
            page.findings()
                .iter()
                .filter(|f| f.id() == Some(id))
                .cloned(),
        );
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            return found;
        }
    }
}

fn event(id: &str, detail: &Value) -> Value {
    json!({"version": "0", "id": id, "detail-type": FINDING_DETAIL_TYPE, "source": FINDING_SOURCE,
           "account": MOTO_ACCOUNT, "time": "2026-11-28T00:00:05Z", "region": PRIMARY,
           "resources": [], "detail": detail})
}

fn failure(fingerprint: &str) -> Value {
    json!({"check": "KP-EXTERNAL-ACCESS", "status": "fail", "severity": "critical",
           "region": "eu-west-1",
           "resource": format!("arn:aws:kms:eu-west-1:{MOTO_ACCOUNT}:key/mrk-1"),
           "message": "an account outside the organization can decrypt",
           "fingerprint": fingerprint,
           "trigger": {"event_id": "ct-1", "event_name": "PutKeyPolicy",
                       "actor": "arn:aws:iam::111122223333:role/Admin",
                       "time": "2026-11-27T23:59:59Z"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_imported_once_and_its_resolution_archives_it() {
    let moto = Moto::start().unwrap();
    let sdk = sdk_config(PRIMARY).await;
    let importer = SecurityHubImport::new(&sdk, Some(moto.url.clone()));
    let hub = client(&moto, &sdk);
    let fp = unique("fp");
    let id = format!("idc-guard/{fp}");

    for delivery in ["eb-1", "eb-1-again"] {
        let out = handle(&importer, &here(), &event(delivery, &failure(&fp)), NOW)
            .await
            .unwrap();
        assert_eq!(out["result"], "imported", "{out}");
    }
    let held = by_id(&hub, &id).await;
    assert_eq!(held.len(), 1, "a redelivery updates the finding: {held:#?}");
    let f = &held[0];
    assert_eq!(
        f.product_arn(),
        Some(
            format!("arn:aws:securityhub:{PRIMARY}:{MOTO_ACCOUNT}:product/{MOTO_ACCOUNT}/default")
                .as_str()
        )
    );
    assert_eq!(
        f.compliance().and_then(|c| c.status()).map(|s| s.as_str()),
        Some("FAILED")
    );
    assert_eq!(f.record_state().map(|s| s.as_str()), Some("ACTIVE"));
    assert_eq!(
        f.severity().and_then(|s| s.label()).map(|l| l.as_str()),
        Some("CRITICAL")
    );
    assert_eq!(f.resources()[0].r#type(), Some("AwsKmsKey"));
    assert!(
        f.remediation()
            .and_then(|r| r.recommendation())
            .and_then(|r| r.text())
            .is_some()
    );

    // The resolution: a pass naming the failure's fingerprint, with its own.
    let mut resolved = failure(&unique("fp-resolution"));
    resolved["status"] = "pass".into();
    resolved["resolves"] = fp.clone().into();
    let out = handle(&importer, &here(), &event("eb-2", &resolved), NOW)
        .await
        .unwrap();
    assert_eq!(out["result"], "imported", "{out}");
    let held = by_id(&hub, &id).await;
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(
        held[0]
            .compliance()
            .and_then(|c| c.status())
            .map(|s| s.as_str()),
        Some("PASSED")
    );
    assert_eq!(held[0].record_state().map(|s| s.as_str()), Some("ARCHIVED"));

    // A plain pass closes nothing and is not imported; a foreign event is skipped.
    let mut pass = failure(&unique("fp-pass"));
    pass["status"] = "pass".into();
    let out = handle(&importer, &here(), &event("eb-3", &pass), NOW)
        .await
        .unwrap();
    assert_eq!(out["result"], "not-imported", "{out}");
    // An instance ARN names no account; without one in the envelope, the function's own files it.
    let mut instance = failure(&unique("fp-instance"));
    instance["check"] = "INSTANCE-ENCRYPTION".into();
    instance["resource"] = "arn:aws:sso:::instance/ssoins-1234567890abcdef".into();
    let mut bare = event("eb-4", &instance);
    bare.as_object_mut().unwrap().remove("account");
    let out = handle(&importer, &here(), &bare, NOW).await.unwrap();
    assert_eq!(out["result"], "imported", "{out}");
    let held = by_id(&hub, out["id"].as_str().unwrap()).await;
    assert_eq!(held[0].aws_account_id(), Some(MOTO_ACCOUNT));
    assert_eq!(held[0].resources()[0].r#type(), Some("Other"));
    let foreign = json!({"source": "aws.kms", "detail-type": "x", "id": "e", "detail": {}});
    let out = handle(&importer, &here(), &foreign, NOW).await.unwrap();
    assert_eq!(out["result"], "skipped", "{out}");
}

/// The real importer, counting the size of each call.
struct Counting<'a> {
    inner: &'a SecurityHubImport,
    calls: Mutex<Vec<usize>>,
}

impl FindingImport for Counting<'_> {
    async fn import(&self, findings: &[AsffFinding]) -> Result<Vec<ImportFailure>, PortError> {
        self.calls.lock().unwrap().push(findings.len());
        self.inner.import(findings).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_import_goes_in_batches_of_100() {
    let moto = Moto::start().unwrap();
    let sdk = sdk_config(PRIMARY).await;
    let importer = SecurityHubImport::new(&sdk, Some(moto.url.clone()));
    let prefix = unique("bulk");
    let target = HubTarget {
        region: PRIMARY.into(),
        account: Some(MOTO_ACCOUNT.into()),
    };
    let findings: Vec<AsffFinding> = (0..150)
        .map(|i| {
            let f = serde_json::from_value(failure(&format!("{prefix}-{i}"))).unwrap();
            asff_finding(&f, &target, NOW).unwrap()
        })
        .collect();
    let counting = Counting {
        inner: &importer,
        calls: Mutex::new(Vec::new()),
    };
    assert_eq!(import_all(&counting, &findings).await, Ok(150));
    assert_eq!(*counting.calls.lock().unwrap(), [100, 50]);
    let hub = client(&moto, &sdk);
    assert_eq!(
        by_id(&hub, &format!("idc-guard/{prefix}-149")).await.len(),
        1
    );
}
