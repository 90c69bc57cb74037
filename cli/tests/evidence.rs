#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! `idc-guard evidence verify` against moto S3, the real binary as a user runs it.

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
