#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The evidence collector on moto S3: the record lands under the expected key with its
//! SHA-256, a redelivery writes nothing, and the conditional write is what stops it.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumMode;
use evidence_collector::{Settings, handle};
use idc_guard_core::aws::s3::S3EvidenceStore;
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::evidence::{Verdict, sha256_hex, verify};
use idc_guard_core::ports::{EvidenceStore, EvidenceWrite, PortErrorKind};
use idc_guard_tests::local_aws::{Moto, sdk_config, unique};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";
const KEY: &str = "evidence/2026/11/27/0123456789abcdef0123456789abcdef-ct-event-1.json";

fn finding_event(id: &str) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "IdC Guard Finding",
        "source": "idc-guard",
        "account": "111122223333",
        "time": "2026-11-28T00:00:05Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "check": "KP-ADMIN", "status": "fail", "severity": "critical",
            "region": REGION,
            "resource": "arn:aws:kms:us-east-1:111122223333:key/mrk-1",
            "message": "the management account cannot administer the key",
            "fingerprint": "0123456789abcdef0123456789abcdef",
            "trigger": {"event_id": "ct-event-1", "event_name": "PutKeyPolicy",
                        "actor": "arn:aws:iam::111122223333:role/Admin",
                        "time": "2026-11-27T23:59:59Z"},
            "remediation": {"mode": "remediate", "actions": ["restore the admin statement"],
                            "outcome": "applied", "previous_policy": "{\"Statement\":[]}"}
        }
    })
}

async fn bucket(moto: &Moto) -> (Client, S3EvidenceStore, Settings) {
    let sdk = sdk_config(REGION).await;
    let client = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .endpoint_url(&moto.url)
            .force_path_style(true)
            .build(),
    );
    let name = unique("evidence").to_lowercase();
    // Bucket names are at most 63 characters.
    let name: String = name.chars().take(63).collect();
    client.create_bucket().bucket(&name).send().await.unwrap();
    let store = S3EvidenceStore::new(&sdk, Some(moto.url.clone()), &name);
    let settings = Settings {
        bucket: name,
        vendor_name: "Example".into(),
        digest_key: None,
    };
    (client, store, settings)
}

#[tokio::test]
async fn a_finding_is_written_once_with_its_checksum() {
    let moto = Moto::start().unwrap();
    let (client, store, settings) = bucket(&moto).await;
    let now = Timestamp(1_800_000_000);

    let out = handle(&store, &settings, &finding_event("eb-1"), now)
        .await
        .unwrap();
    assert_eq!(out["result"], "written", "{out}");
    assert_eq!(out["key"], KEY);

    let head = client
        .head_object()
        .bucket(&settings.bucket)
        .key(KEY)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let etag = head.e_tag().unwrap().to_owned();
    let stored = store.get(KEY).await.unwrap();
    let digest = sha256_hex(&stored.body);
    // Both the S3 checksum and the metadata carry the body's SHA-256.
    assert_eq!(stored.checksum_sha256.as_deref(), Some(digest.as_str()));
    assert_eq!(stored.metadata_sha256.as_deref(), Some(digest.as_str()));
    assert!(head.checksum_sha256().is_some());
    assert_eq!(verify(&stored), Verdict::Intact);
    let record: Value = serde_json::from_slice(&stored.body).unwrap();
    assert_eq!(record["class_uid"], 2003);
    assert_eq!(
        record["finding_info"]["uid"],
        "0123456789abcdef0123456789abcdef"
    );

    // The same event again, and the same change under another EventBridge id.
    for id in ["eb-1", "eb-2"] {
        let out = handle(&store, &settings, &finding_event(id), now)
            .await
            .unwrap();
        assert_eq!(out["result"], "already_there", "{out}");
    }
    let listed = store.list("evidence/").await.unwrap();
    assert_eq!(listed, vec![KEY.to_owned()]);
    let again = client
        .head_object()
        .bucket(&settings.bucket)
        .key(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(again.e_tag(), Some(etag.as_str()));
    assert_eq!(store.get(KEY).await.unwrap().body, stored.body);
}

/// The idempotency rests on S3's conditional write, not on a read before the write: a
/// different body under an existing key is refused by the server (moto 5.2.5 answers 412,
/// as S3 does).
#[tokio::test]
async fn the_conditional_write_never_overwrites() {
    let moto = Moto::start().unwrap();
    let (_client, store, _settings) = bucket(&moto).await;
    let first = b"{\"first\":true}\n";
    assert_eq!(
        store
            .put_if_absent("evidence/k.json", first, &sha256_hex(first))
            .await
            .unwrap(),
        EvidenceWrite::Written
    );
    let second = b"{\"second\":true}\n";
    assert_eq!(
        store
            .put_if_absent("evidence/k.json", second, &sha256_hex(second))
            .await
            .unwrap(),
        EvidenceWrite::AlreadyThere
    );
    assert_eq!(store.get("evidence/k.json").await.unwrap().body, first);
}

#[tokio::test]
async fn errors_are_classified_and_alterations_detected() {
    let moto = Moto::start().unwrap();
    let (client, store, settings) = bucket(&moto).await;
    let err = store.get("evidence/none.json").await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::NotFound, "{err}");
    let sdk = sdk_config(REGION).await;
    let missing = S3EvidenceStore::new(&sdk, Some(moto.url.clone()), "no-such-bucket-here");
    let err = missing.list("evidence/").await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::NotFound, "{err}");
    assert!(!err.retryable());

    handle(&store, &settings, &finding_event("eb-1"), Timestamp(0))
        .await
        .unwrap();
    // Overwritten behind our back (possible only without Object Lock): no SHA-256 stored.
    client
        .put_object()
        .bucket(&settings.bucket)
        .key(KEY)
        .body(ByteStream::from_static(b"{\"forged\":true}\n"))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        verify(&store.get(KEY).await.unwrap()),
        Verdict::MissingChecksum { .. }
    ));
}

/// The record lands but S3's answer is lost: the SDK's retry meets the conditional write,
/// and the collector reports the record there, intact, written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_is_lost_is_found_there_intact() {
    use idc_guard_tests::fault_proxy::{Fault, FaultProxy, Rule};
    let moto = Moto::start().unwrap();
    let (_client, direct, settings) = bucket(&moto).await;
    let proxy = FaultProxy::start(&moto.url).await.unwrap();
    proxy.inject(Rule::first("s3:PUT", 1, Fault::ResetAfterForward));
    let sdk =
        idc_guard_tests::local_aws::resilient_sdk_config(REGION, std::time::Duration::from_secs(2))
            .await;
    let store = S3EvidenceStore::new(&sdk, Some(proxy.url.clone()), &settings.bucket);

    let out = handle(
        &store,
        &settings,
        &finding_event("eb-1"),
        Timestamp(1_800_000_000),
    )
    .await
    .unwrap();

    assert_eq!(out["result"], "already_there", "{out}");
    // The record (its answer lost), the retry that finds it there, then its digest marker.
    assert_eq!(
        proxy.outcomes_of("s3:PUT"),
        [
            (true, Some(Fault::ResetAfterForward)),
            (true, None),
            (true, None)
        ]
    );
    let stored = direct.get(KEY).await.unwrap();
    assert_eq!(verify(&stored), Verdict::Intact);
    assert_eq!(
        direct.list("evidence/").await.unwrap(),
        vec![KEY.to_owned()]
    );
}
