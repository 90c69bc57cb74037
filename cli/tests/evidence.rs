#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
// A scenario may be a long list of steps.
#![allow(clippy::too_many_lines)]
//! `idc-guard evidence` (verify, verify --chain, list, export) against moto S3 and KMS, the
//! real binary as a user runs it.

use std::process::{Command, Output};

use idc_guard_core::aws::s3::S3EvidenceStore;
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::evidence::{
    EvidenceContext, evidence_key, ocsf_record, record_body, sha256_hex,
};
use idc_guard_core::finding::{Finding, Severity, Status};
use idc_guard_core::ports::{EvidenceStore, EvidenceWrite};
use idc_guard_tests::local_aws::{Moto, sdk_config, unique};
use serde_json::Value;

const REGION: &str = "us-east-1";

fn idc_guard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idc-guard"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// An S3 client on moto (path-style, as local endpoints need).
async fn s3(url: &str) -> aws_sdk_s3::Client {
    let sdk = sdk_config(REGION).await;
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .endpoint_url(url)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn finding(fingerprint: &str) -> Finding {
    Finding {
        check: idc_guard_core::finding::CheckId::KpExternalAccess,
        status: Status::Fail,
        severity: Severity::Critical,
        region: REGION.into(),
        resource: "arn:aws:kms:us-east-1:111122223333:key/mrk-1".into(),
        message: "an account outside the organization can decrypt".into(),
        statement: None,
        fingerprint: fingerprint.into(),
        trigger: None,
        remediation: None,
        resolves: None,
    }
}

/// A bucket with two evidence records; their keys.
async fn bucket_with_records(moto: &Moto) -> (String, Vec<String>) {
    let bucket: String = unique("verify").to_lowercase().chars().take(63).collect();
    s3(&moto.url)
        .await
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let sdk = sdk_config(REGION).await;
    let store = S3EvidenceStore::new(&sdk, Some(moto.url.clone()), &bucket);
    let mut keys = Vec::new();
    for (i, fingerprint) in ["aaaa", "bbbb"].iter().enumerate() {
        let f = finding(fingerprint);
        let ctx = EvidenceContext {
            event_id: format!("eb-{i}"),
            // The first key (by fingerprint) is the later record: listings go by time.
            event_time: Timestamp::parse("2026-11-27T10:00:00Z")
                .unwrap()
                .plus(if i == 0 { 30 } else { 0 }),
            account: None,
            vendor_name: "Example".into(),
            product_version: "0.1.0".into(),
        };
        let key = evidence_key(&f, &ctx.event_id, ctx.event_time);
        let body = record_body(&ocsf_record(&f, &ctx));
        assert_eq!(
            store
                .put_if_absent(&key, &body, &sha256_hex(&body))
                .await
                .unwrap(),
            EvidenceWrite::Written
        );
        keys.push(key);
    }
    (bucket, keys)
}

#[tokio::test]
async fn list_and_export_a_period() {
    let moto = Moto::start().unwrap();
    let (bucket, keys) = bucket_with_records(&moto).await;
    let run = |command: &str, format: &str, from: &str| {
        idc_guard(&[
            "evidence",
            command,
            "--bucket",
            &bucket,
            "--endpoint-url",
            &moto.url,
            "--from",
            from,
            "--to",
            "2026-11-27",
            "--format",
            format,
        ])
    };
    let csv = run("export", "csv", "2026-11-27");
    assert_eq!(csv.status.code(), Some(0), "{}", stdout(&csv));
    let text = stdout(&csv);
    assert_eq!(text.lines().count(), 3, "header and two records: {text}");
    assert!(text.starts_with("time,check,status"), "{text}");
    for key in &keys {
        assert!(text.contains(key.as_str()), "{text}");
    }
    let html = stdout(&run("export", "html", "2026-11-27"));
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("2 record(s): 2 verified"), "{html}");
    assert!(html.contains("KP-EXTERNAL-ACCESS"));
    assert!(
        html.contains("Control view by check") && html.contains("<svg"),
        "{html}"
    );
    // A period without records: none listed.
    let empty = run("list", "json", "2026-11-28");
    assert_eq!(
        empty.status.code(),
        Some(2),
        "--from after --to is bad input"
    );
    let list = run("list", "json", "2026-11-20");
    let doc: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(doc["records"].as_array().unwrap().len(), 2);
    assert_eq!(doc["records"][0]["intact"], true);
    assert_eq!(doc["records"][0]["integrity"], "verified");
    let records = doc["records"].as_array().unwrap();
    assert!(
        records
            .windows(2)
            .all(|w| w[0]["time"].as_str() <= w[1]["time"].as_str()),
        "in time order: {records:?}"
    );
    let bad = idc_guard(&[
        "evidence",
        "list",
        "--bucket",
        &bucket,
        "--from",
        "last week",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--from"));
}

#[tokio::test]
async fn filters_keep_what_matches_and_every_record_that_does_not_verify() {
    let moto = Moto::start().unwrap();
    let (bucket, _keys) = bucket_with_records(&moto).await;
    // Not a record: whatever it would claim, a filter cannot trust it.
    let sdk = sdk_config(REGION).await;
    let store = S3EvidenceStore::new(&sdk, Some(moto.url.clone()), &bucket);
    let junk = b"not a record";
    store
        .put_if_absent(
            "evidence/2026/11/27/zzzz-junk.json",
            junk,
            &sha256_hex(junk),
        )
        .await
        .unwrap();
    let list = |filters: &[&str]| {
        let mut args = vec![
            "evidence",
            "list",
            "--bucket",
            &bucket,
            "--endpoint-url",
            &moto.url,
            "--from",
            "2026-11-27",
            "--to",
            "2026-11-27",
            "--format",
            "json",
        ];
        args.extend_from_slice(filters);
        idc_guard(&args)
    };
    let count = |out: &Output| {
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["records"].as_array().unwrap().len()
    };
    let all = list(&[]);
    assert_eq!((count(&all), all.status.code()), (3, Some(1)));
    let other = list(&["--check", "KP-ADMIN"]);
    assert_eq!(
        count(&other),
        1,
        "only the unverified object: {}",
        stdout(&other)
    );
    let ours = list(&[
        "--check",
        "KP-EXTERNAL-ACCESS",
        "--status",
        "fail",
        "--region",
        REGION,
    ]);
    assert_eq!(count(&ours), 3, "{}", stdout(&ours));
    let bad = list(&["--check", "KP-NOPE"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--check"), "{err}");
    let bad = list(&["--status", "broken"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn verify_passes_then_names_altered_objects() {
    let moto = Moto::start().unwrap();
    let (bucket, keys) = bucket_with_records(&moto).await;
    let url = moto.url.clone();
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "evidence".to_owned(),
            "verify".to_owned(),
            "--bucket".to_owned(),
            bucket.clone(),
            "--endpoint-url".to_owned(),
            url.clone(),
        ];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        idc_guard(&refs)
    };

    let ok = run(args(&["--prefix", "evidence/2026/11/"]));
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(
        stdout(&ok).starts_with("OK: 2 object(s)"),
        "{}",
        stdout(&ok)
    );

    // Overwrite the first record without any checksum (what Object Lock would refuse).
    s3(&url)
        .await
        .put_object()
        .bucket(&bucket)
        .key(&keys[0])
        .body(b"{\"forged\":true}\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let bad = run(args(&[]));
    assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
    let text = stdout(&bad);
    assert!(text.contains(&format!("NO-CHECKSUM {}", keys[0])), "{text}");
    assert!(!text.contains(&keys[1]), "{text}");

    // Overwrite the second one keeping the old `sha256` metadata: the body no longer matches.
    let json = run(args(&["--format", "json"]));
    let before: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(before["objects"], 2);
    assert_eq!(before["intact"], 1);
    let intact_sha = {
        let sdk = sdk_config(REGION).await;
        let store = S3EvidenceStore::new(&sdk, Some(url.clone()), &bucket);
        store.get(&keys[1]).await.unwrap().metadata_sha256.unwrap()
    };
    s3(&url)
        .await
        .put_object()
        .bucket(&bucket)
        .key(&keys[1])
        .metadata("sha256", &intact_sha)
        .body(b"{\"edited\":true}\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let json = run(args(&["--format", "json"]));
    assert_eq!(json.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["intact"], 0);
    let altered = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == keys[1].as_str())
        .unwrap();
    assert_eq!(altered["result"], "altered", "{report}");
    assert_eq!(altered["mismatches"][0][0], "metadata");
    assert_eq!(altered["mismatches"][0][1], intact_sha.as_str());
}

#[tokio::test]
async fn bad_input_is_exit_2() {
    let moto = Moto::start().unwrap();
    let out = idc_guard(&["evidence", "verify", "--bucket", "s3://nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bucket"));
    let out = idc_guard(&[
        "evidence",
        "verify",
        "--bucket",
        "no-such-bucket-here",
        "--endpoint-url",
        &moto.url,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-bucket-here"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = idc_guard(&["evidence", "verify"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A signing key on moto: ECC_NIST_P256, SIGN_VERIFY; its ARN.
async fn signing_key(moto: &Moto) -> String {
    let sdk = sdk_config(REGION).await;
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk)
            .endpoint_url(&moto.url)
            .build(),
    );
    let key = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    key.key_metadata().unwrap().arn().unwrap().to_owned()
}

/// A bucket as the stack makes it: Object Lock (so versioning), COMPLIANCE for 1 day.
async fn locked_bucket(moto: &Moto) -> String {
    let bucket: String = unique("chain").to_lowercase().chars().take(63).collect();
    let client = s3(&moto.url).await;
    client
        .create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    use aws_sdk_s3::types::{
        DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
        ObjectLockRule,
    };
    client
        .put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Compliance)
                                .days(1)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    bucket
}

/// Writes `n` records as the collector does (the record, then its hour's marker) at `now`.
async fn collect(store: &S3EvidenceStore, n: usize, now: Timestamp) -> Vec<String> {
    let mut keys = Vec::new();
    for i in 0..n {
        let f = finding(&format!("{i:04}"));
        let ctx = EvidenceContext {
            event_id: format!("eb-{i}"),
            event_time: now,
            account: None,
            vendor_name: "Example".into(),
            product_version: "0.1.0".into(),
        };
        let key = evidence_key(&f, &ctx.event_id, now);
        let body = record_body(&ocsf_record(&f, &ctx));
        store
            .put_if_absent(&key, &body, &sha256_hex(&body))
            .await
            .unwrap();
        idc_guard_core::evidence::chain::mark_record(store, &key, now)
            .await
            .unwrap();
        keys.push(key);
    }
    keys
}

fn chain_verify(moto: &Moto, bucket: &str, key_arn: &str, now: Timestamp) -> (Option<i32>, Value) {
    // The records' day and the next (the ticks' hours may cross midnight).
    let day = now.to_string()[..10].to_owned();
    let next = now.plus(86_400).to_string()[..10].to_owned();
    let out = idc_guard(&[
        "evidence",
        "verify",
        "--chain",
        "--bucket",
        bucket,
        "--endpoint-url",
        &moto.url,
        "--signing-key",
        key_arn,
        "--from",
        &day,
        "--to",
        &next,
        "--retention-days",
        "1",
        "--format",
        "json",
    ]);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), doc)
}

/// A locked bucket, a signing key, and the clients, on moto.
struct ChainFixture {
    moto: Moto,
    bucket: String,
    key_arn: String,
    sdk: aws_config::SdkConfig,
    store: S3EvidenceStore,
    signer: idc_guard_core::aws::signing::KmsSigningKey,
    now: Timestamp,
}

impl ChainFixture {
    async fn new() -> ChainFixture {
        let moto = Moto::start().unwrap();
        let bucket = locked_bucket(&moto).await;
        let key_arn = signing_key(&moto).await;
        let sdk = sdk_config(REGION).await;
        let store = S3EvidenceStore::new(&sdk, Some(moto.url.clone()), &bucket);
        let signer = idc_guard_core::aws::signing::KmsSigningKey::new(
            &sdk,
            Some(moto.url.clone()),
            &key_arn,
        );
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        ChainFixture {
            moto,
            bucket,
            key_arn,
            sdk,
            store,
            signer,
            now,
        }
    }
}

fn kinds(doc: &Value) -> Vec<(String, String)> {
    doc["chain"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["object"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_chain_verifies_and_names_every_kind_of_tampering() {
    use idc_guard_core::aws::signing::KmsSigningKey;
    use idc_guard_core::evidence::chain::write_digests;
    use idc_guard_core::evidence::digest::{digest_key, signing_string, window_of};
    let ChainFixture {
        moto,
        bucket,
        key_arn,
        sdk,
        store,
        signer,
        now,
    } = ChainFixture::new().await;
    let records = collect(&store, 5, now).await;
    // Hourly ticks, as the scheduler would run them over the next hours.
    let w0 = window_of(now);
    let first = write_digests(&store, &signer, w0.plus(3600 + 301))
        .await
        .unwrap();
    assert_eq!(first.written, [digest_key(w0)]);
    let later = write_digests(&store, &signer, w0.plus(3 * 3600 + 301))
        .await
        .unwrap();
    assert_eq!(later.written.len(), 2, "two empty hours get digests too");
    // A redelivered tick writes nothing.
    let again = write_digests(&store, &signer, w0.plus(3 * 3600 + 301))
        .await
        .unwrap();
    assert!(again.written.is_empty() && again.already_there.is_empty());

    let (code, doc) = chain_verify(&moto, &bucket, &key_arn, now);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["chain"]["digests"], 3, "{doc:#}");
    assert_eq!(doc["chain"]["records"], 5);

    let client = s3(&moto.url).await;
    let put = |key: String, body: Vec<u8>, sha: Option<String>| {
        let client = client.clone();
        let bucket = bucket.clone();
        async move {
            let mut req = client
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(body.into());
            if let Some(sha) = sha {
                req = req.metadata("sha256", sha);
            }
            req.send().await.unwrap();
        }
    };
    // 1. A record's body changed, its checksums recomputed (a new version).
    let forged = b"{\"forged\": true}".to_vec();
    put(
        records[0].clone(),
        forged.clone(),
        Some(sha256_hex(&forged)),
    )
    .await;
    // 2. A record replaced by something that is not a record.
    put(records[1].clone(), b"garbage".to_vec(), None).await;
    // 3. A record deleted: a delete marker hides it.
    client
        .delete_object()
        .bucket(&bucket)
        .key(&records[2])
        .send()
        .await
        .unwrap();
    // 4. The same bytes rewritten without their sha256 metadata (a new version).
    let same = store.get(&records[3]).await.unwrap().body;
    put(records[3].clone(), same, None).await;
    // 5. Retention shortened on a record.
    client
        .put_object_retention()
        .bucket(&bucket)
        .key(&records[4])
        .retention(
            aws_sdk_s3::types::ObjectLockRetention::builder()
                .mode(aws_sdk_s3::types::ObjectLockRetentionMode::Compliance)
                .retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(now.0 + 60))
                .build(),
        )
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    // 6. A record put next to the others, outside any digest.
    let stray = records[4].replace(".json", "-stray.json");
    put(stray.clone(), b"{}".to_vec(), Some(sha256_hex(b"{}"))).await;
    // 7. The middle digest removed.
    client
        .delete_object()
        .bucket(&bucket)
        .key(digest_key(w0.plus(3600)))
        .send()
        .await
        .unwrap();
    // 8. The first digest re-signed with another key.
    let other = KmsSigningKey::new(&sdk, Some(moto.url.clone()), &signing_key(&moto).await);
    let first_key = digest_key(w0);
    let body = store.get(&first_key).await.unwrap().body;
    let signature = idc_guard_core::ports::DigestSigner::sign(
        &other,
        signing_string(&first_key, &sha256_hex(&body)).as_bytes(),
    )
    .await
    .unwrap();
    use base64::Engine as _;
    client
        .put_object()
        .bucket(&bucket)
        .key(&first_key)
        .body(body.clone().into())
        .metadata("sha256", sha256_hex(&body))
        .metadata(
            "signature",
            base64::engine::general_purpose::STANDARD.encode(signature),
        )
        .send()
        .await
        .unwrap();

    // The stray was written before the last digest's hour ended: it should have been listed.
    let (code, doc) = chain_verify(&moto, &bucket, &key_arn, now);
    assert_eq!(code, Some(1), "{doc:#}");
    let found = kinds(&doc);
    let has = |kind: &str, object: &str| found.iter().any(|(k, o)| k == kind && o == object);
    for (kind, object) in [
        ("ALTERED", records[0].as_str()),
        ("ALTERED", records[1].as_str()),
        ("MISSING", records[2].as_str()),
        ("ALTERED", records[3].as_str()),
        ("RETENTION", records[4].as_str()),
        ("UNLISTED", stray.as_str()),
        ("BROKEN-CHAIN", digest_key(w0.plus(2 * 3600)).as_str()),
        ("BAD-SIGNATURE", first_key.as_str()),
    ] {
        assert!(has(kind, object), "{kind} {object} not found in {found:#?}");
    }
    let missing = doc["chain"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "MISSING")
        .unwrap();
    assert!(
        missing["detail"]
            .as_str()
            .unwrap()
            .contains("delete marker"),
        "{missing}"
    );
    // The auditor's report walks the same chain: the forged record, whose checksums were
    // recomputed, is not verified; the hidden one is named.
    let day = now.to_string()[..10].to_owned();
    let next = now.plus(86_400).to_string()[..10].to_owned();
    let export = idc_guard(&[
        "evidence",
        "export",
        "--bucket",
        &bucket,
        "--endpoint-url",
        &moto.url,
        "--from",
        &day,
        "--to",
        &next,
        "--signing-key",
        &key_arn,
        "--retention-days",
        "1",
        "--format",
        "html",
    ]);
    assert_eq!(export.status.code(), Some(1));
    let html = stdout(&export);
    assert!(html.contains("Signed digest chain: NOT VERIFIED"), "{html}");
    assert!(
        html.contains("DOES NOT MATCH THE SIGNED DIGEST CHAIN"),
        "{html}"
    );
    assert!(
        html.contains(records[2].as_str()),
        "the hidden record is named: {html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ticks_write_one_chain() {
    use idc_guard_core::evidence::chain::write_digests;
    use idc_guard_core::evidence::digest::window_of;
    let ChainFixture {
        moto,
        bucket,
        key_arn,
        store,
        signer,
        now,
        ..
    } = ChainFixture::new().await;
    collect(&store, 2, now).await;
    let tick = window_of(now).plus(3 * 3600 + 301);
    let (a, b) = tokio::join!(
        write_digests(&store, &signer, tick),
        write_digests(&store, &signer, tick)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    // Each hour written once; whoever lost a race followed the stored digest.
    assert_eq!(a.written.len() + b.written.len(), 3, "{a:?} {b:?}");
    let (code, doc) = chain_verify(&moto, &bucket, &key_arn, now);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["chain"]["digests"], 3);

    // Fully offline: the public key from a file, DER or PEM, as GetPublicKey returns it.
    let der = signer.public_key().await.unwrap();
    // PEM as openssl writes it: base64 in lines of 64.
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&der)
    };
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    );
    let dir = std::env::temp_dir().join(unique("chain-key"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in [("key.der", der.clone()), ("key.pem", pem.into_bytes())] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let day = now.to_string()[..10].to_owned();
        let next = now.plus(86_400).to_string()[..10].to_owned();
        let out = idc_guard(&[
            "evidence",
            "verify",
            "--chain",
            "--bucket",
            &bucket,
            "--endpoint-url",
            &moto.url,
            "--public-key",
            &path.to_string_lossy(),
            "--from",
            &day,
            "--to",
            &next,
            "--retention-days",
            "1",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout(&out).starts_with("VERIFIED: the chain from"),
            "{}",
            stdout(&out)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);

    // A key that cannot have signed the chain, or none: bad input, before anything is read.
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk_config(REGION).await)
            .endpoint_url(&moto.url)
            .build(),
    );
    let symmetric = kms.create_key().send().await.unwrap();
    let symmetric = symmetric.key_metadata().unwrap().arn().unwrap();
    for key in [vec!["--signing-key", symmetric], vec![]] {
        let mut args = vec![
            "evidence",
            "verify",
            "--chain",
            "--bucket",
            &bucket,
            "--endpoint-url",
            &moto.url,
        ];
        args.extend(key);
        let out = idc_guard(&args);
        assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--signing-key") || err.contains("signing key"),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_hidden_before_their_digest_and_regenerated_digests_are_found() {
    use idc_guard_core::evidence::chain::write_digests;
    use idc_guard_core::evidence::digest::{digest_key, window_of};
    let ChainFixture {
        moto,
        bucket,
        key_arn,
        store,
        signer,
        now,
        ..
    } = ChainFixture::new().await;
    let records = collect(&store, 2, now).await;
    let client = s3(&moto.url).await;
    // Hidden within the hour, before the digest is made: the digest cannot list it.
    client
        .delete_object()
        .bucket(&bucket)
        .key(&records[0])
        .send()
        .await
        .unwrap();
    let w0 = window_of(now);
    write_digests(&store, &signer, w0.plus(2 * 3600 + 301))
        .await
        .unwrap();
    // The newest digest hidden, and the next tick writes it again, validly signed.
    let last = digest_key(w0.plus(3600));
    client
        .delete_object()
        .bucket(&bucket)
        .key(&last)
        .send()
        .await
        .unwrap();
    let regenerated = write_digests(&store, &signer, w0.plus(2 * 3600 + 302))
        .await
        .unwrap();
    assert_eq!(regenerated.written, std::slice::from_ref(&last));

    let (code, doc) = chain_verify(&moto, &bucket, &key_arn, now);
    assert_eq!(code, Some(1), "{doc:#}");
    let found = kinds(&doc);
    assert!(
        found.contains(&("MISSING".to_owned(), records[0].clone())),
        "{found:#?}"
    );
    assert!(
        found.contains(&("BROKEN-CHAIN".to_owned(), last.clone())),
        "{found:#?}"
    );
}
