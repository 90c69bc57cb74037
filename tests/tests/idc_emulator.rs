#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
// A test may be a long table of cases.
#![allow(clippy::too_many_lines)]
//! The Identity Center emulator driven through the real `aws_sdk_ssoadmin::Client` over HTTP
//! (plus raw HTTP for what the SDK cannot send: malformed bodies, unknown targets, unsigned
//! requests, and the control endpoints).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ssoadmin::Client;
use aws_sdk_ssoadmin::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
use aws_sdk_ssoadmin::error::ProvideErrorMetadata;
use aws_sdk_ssoadmin::operation::add_region::AddRegionError;
use aws_sdk_ssoadmin::operation::update_instance::UpdateInstanceError;
use aws_sdk_ssoadmin::types::{
    EncryptionConfiguration, KmsKeyStatus, KmsKeyType, RegionStatus,
    ResourceNotFoundExceptionReason, ValidationExceptionReason,
};
use idc_guard_tests::idc_emulator::{
    CheckFuture, EmulatorOptions, KeyChecker, KeyVerdict, RunningEmulator, SeedInstance, start,
    start_with_key_checker,
};

const ARN: &str = "arn:aws:sso:::instance/ssoins-1234567890abcdef";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef";
const DELAY: Duration = Duration::from_millis(300);

fn options() -> EmulatorOptions {
    EmulatorOptions {
        add_delay: DELAY,
        kms_endpoint: None,
    }
}

fn seed(regions: &[&str], key: Option<&str>) -> SeedInstance {
    SeedInstance {
        instance_arn: ARN.to_owned(),
        owner_account_id: "111122223333".to_owned(),
        identity_store_id: "d-1234567890".to_owned(),
        primary_region: "us-east-1".to_owned(),
        regions: regions.iter().map(|r| (*r).to_owned()).collect(),
        kms_key_arn: key.map(str::to_owned),
    }
}

async fn seeded(regions: &[&str]) -> RunningEmulator {
    let emu = start(options()).await.unwrap();
    emu.try_seed(&seed(regions, Some(KEY))).unwrap();
    emu
}

fn client(emu: &RunningEmulator, region: &str) -> Client {
    let config = aws_sdk_ssoadmin::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&emu.url)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

async fn region_status(c: &Client, region: &str) -> Option<RegionStatus> {
    match c
        .describe_region()
        .instance_arn(ARN)
        .region_name(region)
        .send()
        .await
    {
        Ok(out) => out.status().cloned(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => panic!("DescribeRegion {region}: {e:?}"),
    }
}

/// Polls until `region`'s status is `want` (None = gone), for at most ten delays.
async fn wait_for(c: &Client, region: &str, want: Option<RegionStatus>) -> Duration {
    let start = Instant::now();
    loop {
        if region_status(c, region).await == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < DELAY * 10,
            "{region} never became {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn describe_instance_is_the_same_from_every_region_of_the_instance_only() {
    let emu = seeded(&["us-east-1", "us-west-2"]).await;
    let primary = client(&emu, "us-east-1")
        .describe_instance()
        .instance_arn(ARN)
        .send()
        .await
        .unwrap();
    let additional = client(&emu, "us-west-2")
        .describe_instance()
        .instance_arn(ARN)
        .send()
        .await
        .unwrap();
    let fields = |o: &aws_sdk_ssoadmin::operation::describe_instance::DescribeInstanceOutput| {
        (
            o.instance_arn().map(str::to_owned),
            o.identity_store_id().map(str::to_owned),
            o.owner_account_id().map(str::to_owned),
            o.created_date().copied(),
            o.status().cloned(),
            o.encryption_configuration_details().cloned(),
        )
    };
    assert_eq!(fields(&primary), fields(&additional));
    assert_eq!(primary.instance_arn(), Some(ARN));
    assert_eq!(primary.owner_account_id(), Some("111122223333"));
    let enc = primary.encryption_configuration_details().unwrap();
    assert_eq!(enc.key_type(), Some(&KmsKeyType::CustomerManagedKey));
    assert_eq!(enc.kms_key_arn(), Some(KEY));
    assert_eq!(enc.encryption_status(), Some(&KmsKeyStatus::Enabled));

    let err = client(&emu, "eu-west-1")
        .describe_instance()
        .instance_arn(ARN)
        .send()
        .await
        .unwrap_err();
    // aws-sdk-ssoadmin 1.106 models no ResourceNotFoundException on DescribeInstance, so the
    // code arrives as error metadata.
    assert_eq!(
        err.as_service_error().and_then(|e| e.code()),
        Some("ResourceNotFoundException")
    );

    let listed = client(&emu, "us-west-2")
        .list_instances()
        .send()
        .await
        .unwrap();
    let inst = listed.instances().first().unwrap();
    assert_eq!(inst.instance_arn(), Some(ARN));
    assert_eq!(inst.primary_region(), Some("us-east-1"));
    let regions: Vec<_> = inst
        .regions()
        .iter()
        .map(|r| (r.region_name().unwrap(), r.is_primary_region()))
        .collect();
    assert_eq!(regions, [("us-east-1", true), ("us-west-2", false)]);
    let elsewhere = client(&emu, "eu-west-1")
        .list_instances()
        .send()
        .await
        .unwrap();
    assert!(elsewhere.instances().is_empty());
}

#[tokio::test]
async fn add_region_is_adding_then_active_and_blocks_a_second_workflow() {
    let emu = seeded(&["us-east-1", "us-west-2"]).await;
    let primary = client(&emu, "us-east-1");
    let out = primary
        .add_region()
        .instance_arn(ARN)
        .region_name("eu-west-1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), Some(&RegionStatus::Adding));
    let described = primary
        .describe_region()
        .instance_arn(ARN)
        .region_name("eu-west-1")
        .send()
        .await
        .unwrap();
    assert_eq!(described.status(), Some(&RegionStatus::Adding));
    assert!(!described.is_primary_region());
    assert!(described.added_date().is_some());

    let err = primary
        .add_region()
        .instance_arn(ARN)
        .region_name("eu-central-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().map(|e| e.is_conflict_exception()),
        Some(true),
        "{err:?}"
    );
    let err = primary
        .remove_region()
        .instance_arn(ARN)
        .region_name("us-west-2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().map(|e| e.is_conflict_exception()),
        Some(true),
        "{err:?}"
    );

    let took = wait_for(&primary, "eu-west-1", Some(RegionStatus::Active)).await;
    assert!(
        took + Duration::from_millis(50) >= DELAY,
        "ACTIVE after only {took:?}"
    );
    // Now served from the new Region, and the next workflow may start.
    client(&emu, "eu-west-1")
        .describe_instance()
        .instance_arn(ARN)
        .send()
        .await
        .unwrap();
    let err = primary
        .add_region()
        .instance_arn(ARN)
        .region_name("eu-west-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().map(|e| e.is_conflict_exception()),
        Some(true),
        "already present: {err:?}"
    );
    primary
        .add_region()
        .instance_arn(ARN)
        .region_name("eu-central-1")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn remove_region_rules_and_workflow() {
    let emu = seeded(&["us-east-1", "us-west-2"]).await;
    let primary = client(&emu, "us-east-1");
    let err = primary
        .remove_region()
        .instance_arn(ARN)
        .region_name("us-east-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().map(|e| e.is_validation_exception()),
        Some(true),
        "primary: {err:?}"
    );
    let err = client(&emu, "us-west-2")
        .remove_region()
        .instance_arn(ARN)
        .region_name("us-west-2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error()
            .map(|e| e.is_access_denied_exception()),
        Some(true),
        "from an additional Region: {err:?}"
    );
    let err = primary
        .remove_region()
        .instance_arn(ARN)
        .region_name("eu-west-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error()
            .map(|e| e.is_resource_not_found_exception()),
        Some(true),
        "absent Region: {err:?}"
    );

    let out = primary
        .remove_region()
        .instance_arn(ARN)
        .region_name("us-west-2")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), Some(&RegionStatus::Removing));
    assert_eq!(
        region_status(&primary, "us-west-2").await,
        Some(RegionStatus::Removing)
    );
    wait_for(&primary, "us-west-2", None).await;
    let listed = client(&emu, "us-west-2")
        .list_instances()
        .send()
        .await
        .unwrap();
    assert!(
        listed.instances().is_empty(),
        "no longer served from us-west-2"
    );
}

#[tokio::test]
async fn list_regions_pages_with_max_results_one() {
    let emu = seeded(&["us-east-1", "us-west-2", "eu-west-1"]).await;
    let c = client(&emu, "eu-west-1");
    let mut token: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = c
            .list_regions()
            .instance_arn(ARN)
            .max_results(1)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert_eq!(page.regions().len(), 1);
        seen.extend(
            page.regions()
                .iter()
                .map(|r| r.region_name().unwrap().to_owned()),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["us-east-1", "us-west-2", "eu-west-1"]);

    let all: Vec<_> = c
        .list_regions()
        .instance_arn(ARN)
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 3);

    let err = c
        .list_regions()
        .instance_arn(ARN)
        .max_results(0)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().map(|e| e.is_validation_exception()),
        Some(true),
        "{err:?}"
    );
}

/// A KMS stand-in: Disabled in eu-west-1, absent in ap-south-1, usable elsewhere; records
/// every (key ARN, Region) asked about.
#[derive(Debug, Default)]
struct FakeKms {
    asked: Mutex<Vec<(String, String)>>,
}

impl KeyChecker for FakeKms {
    fn check<'a>(&'a self, key_arn: &'a str, region: &'a str) -> CheckFuture<'a> {
        self.asked
            .lock()
            .unwrap()
            .push((key_arn.to_owned(), region.to_owned()));
        let verdict = match region {
            "eu-west-1" => KeyVerdict::Disabled,
            "ap-south-1" => KeyVerdict::NotFound,
            _ => KeyVerdict::Usable,
        };
        Box::pin(async move { verdict })
    }
}

#[tokio::test]
async fn add_region_checks_the_replica_key_in_the_target_region() {
    let kms = Arc::new(FakeKms::default());
    let emu = start_with_key_checker(options(), kms.clone())
        .await
        .unwrap();
    emu.try_seed(&seed(&["us-east-1", "us-west-2"], Some(KEY)))
        .unwrap();
    let primary = client(&emu, "us-east-1");

    let err = primary
        .add_region()
        .instance_arn(ARN)
        .region_name("eu-west-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let AddRegionError::ValidationException(v) = &err else {
        panic!("expected ValidationException, got {err:?}");
    };
    assert_eq!(
        v.reason(),
        Some(&ValidationExceptionReason::KmsDisabledException)
    );
    assert!(v.message().unwrap().contains("eu-west-1"), "{v:?}");
    assert_eq!(
        kms.asked.lock().unwrap().as_slice(),
        [(
            "arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
                .to_owned(),
            "eu-west-1".to_owned()
        )]
    );
    assert_eq!(
        region_status(&primary, "eu-west-1").await,
        None,
        "nothing added"
    );

    let err = primary
        .add_region()
        .instance_arn(ARN)
        .region_name("ap-south-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let AddRegionError::ValidationException(v) = &err else {
        panic!("expected ValidationException for a missing replica, got {err:?}");
    };
    assert!(
        v.message().unwrap().contains("not found in ap-south-1"),
        "{v:?}"
    );

    let out = primary
        .add_region()
        .instance_arn(ARN)
        .region_name("eu-central-1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), Some(&RegionStatus::Adding));
}

#[tokio::test]
async fn update_instance_switches_key_updating_then_enabled_after_the_check() {
    let kms = Arc::new(FakeKms::default());
    let emu = start_with_key_checker(options(), kms.clone())
        .await
        .unwrap();
    emu.try_seed(&seed(&[], None)).unwrap();
    let primary = client(&emu, "us-east-1");
    let enc = |arn: &str| {
        EncryptionConfiguration::builder()
            .key_type(KmsKeyType::CustomerManagedKey)
            .kms_key_arn(arn)
            .build()
            .unwrap()
    };

    let before = primary
        .describe_instance()
        .instance_arn(ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        before
            .encryption_configuration_details()
            .unwrap()
            .key_type(),
        Some(&KmsKeyType::AwsOwnedKmsKey)
    );

    primary
        .update_instance()
        .instance_arn(ARN)
        .encryption_configuration(enc(KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(
        kms.asked.lock().unwrap().as_slice(),
        [(KEY.to_owned(), "us-east-1".to_owned())]
    );
    let status = |o: &aws_sdk_ssoadmin::operation::describe_instance::DescribeInstanceOutput| {
        o.encryption_configuration_details()
            .unwrap()
            .encryption_status()
            .cloned()
    };
    let during = primary
        .describe_instance()
        .instance_arn(ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(status(&during), Some(KmsKeyStatus::Updating));
    tokio::time::sleep(DELAY + Duration::from_millis(50)).await;
    let after = primary
        .describe_instance()
        .instance_arn(ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(status(&after), Some(KmsKeyStatus::Enabled));
    assert_eq!(
        after
            .encryption_configuration_details()
            .unwrap()
            .kms_key_arn(),
        Some(KEY)
    );

    // A key that KMS does not know: ResourceNotFoundException with KMS_NotFoundException.
    let unknown = "arn:aws:kms:us-east-1:111122223333:key/mrk-ffffffffffffffffffffffffffffffff";
    let kms_missing = Arc::new(MissingKms);
    let emu2 = start_with_key_checker(options(), kms_missing)
        .await
        .unwrap();
    emu2.try_seed(&seed(&[], None)).unwrap();
    let err = client(&emu2, "us-east-1")
        .update_instance()
        .instance_arn(ARN)
        .encryption_configuration(enc(unknown))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let UpdateInstanceError::ResourceNotFoundException(e) = &err else {
        panic!("expected ResourceNotFoundException, got {err:?}");
    };
    assert_eq!(
        e.reason(),
        Some(&ResourceNotFoundExceptionReason::KmsNotFoundException)
    );

    // Management from an additional Region is refused.
    let emu3 = seeded(&["us-east-1", "us-west-2"]).await;
    let err = client(&emu3, "us-west-2")
        .update_instance()
        .instance_arn(ARN)
        .name("corp")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error()
            .map(|e| e.is_access_denied_exception()),
        Some(true),
        "{err:?}"
    );
}

#[derive(Debug)]
struct MissingKms;

impl KeyChecker for MissingKms {
    fn check<'a>(&'a self, _key_arn: &'a str, _region: &'a str) -> CheckFuture<'a> {
        Box::pin(async { KeyVerdict::NotFound })
    }
}

/// One HTTP/1.1 exchange over a plain socket: (status, lower-cased headers, body).
async fn raw(
    emu: &RunningEmulator,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, HashMap<String, String>, String) {
    let addr = emu.addr();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

const AUTH: (&str, &str) = (
    "Authorization",
    "AWS4-HMAC-SHA256 Credential=test/20261127/us-east-1/sso/aws4_request, SignedHeaders=host, Signature=0",
);
const JSON: (&str, &str) = ("Content-Type", "application/x-amz-json-1.1");

#[tokio::test]
async fn malformed_body_and_missing_member_are_validation_exceptions() {
    let emu = seeded(&["us-east-1"]).await;
    let target = ("X-Amz-Target", "SWBExternalService.DescribeInstance");
    let (status, headers, body) = raw(&emu, "POST", "/", &[AUTH, JSON, target], "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(headers["x-amzn-errortype"], "ValidationException");
    assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["__type"], "ValidationException");
    assert!(
        body["Message"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );

    let (status, _, body) = raw(&emu, "POST", "/", &[AUTH, JSON, target], "{}").await;
    assert_eq!(status, 400);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["__type"], "ValidationException");
    assert!(
        body["Message"].as_str().unwrap().contains("'instanceArn'"),
        "{body}"
    );

    let (_, _, body) = raw(
        &emu,
        "POST",
        "/",
        &[AUTH, JSON, ("X-Amz-Target", "SWBExternalService.AddRegion")],
        &format!(r#"{{"InstanceArn": "{ARN}", "RegionName": "Mars"}}"#),
    )
    .await;
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["__type"], "ValidationException");
    assert!(
        body["Message"].as_str().unwrap().contains("'regionName'"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_target_and_unsigned_requests_are_refused() {
    let emu = seeded(&["us-east-1"]).await;
    let (status, headers, body) = raw(
        &emu,
        "POST",
        "/",
        &[
            AUTH,
            JSON,
            ("X-Amz-Target", "SWBExternalService.CreateBogus"),
        ],
        "{}",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(headers["x-amzn-errortype"], "UnknownOperationException");
    assert!(body.contains("CreateBogus"), "{body}");

    let (status, _, body) = raw(
        &emu,
        "POST",
        "/",
        &[AUTH, JSON, ("X-Amz-Target", "TrentService.DescribeKey")],
        "{}",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("UnknownOperationException"), "{body}");

    let (status, headers, body) = raw(
        &emu,
        "POST",
        "/",
        &[JSON, ("X-Amz-Target", "SWBExternalService.ListInstances")],
        "{}",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        headers["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    assert!(body.contains("Region"), "{body}");
}

#[tokio::test]
async fn control_endpoints_seed_reset_and_health() {
    let emu = start(options()).await.unwrap();
    let c = client(&emu, "us-west-2");
    assert!(
        c.list_instances()
            .send()
            .await
            .unwrap()
            .instances()
            .is_empty()
    );

    let (status, _, body) = raw(&emu, "GET", "/_idc-emulator/health", &[], "").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));

    let seed_json = serde_json::to_string(&seed(&["us-west-2"], Some(KEY))).unwrap();
    let (status, _, body) = raw(&emu, "POST", "/_idc-emulator/instance", &[JSON], &seed_json).await;
    assert_eq!(status, 200, "{body}");
    let listed = c.list_instances().send().await.unwrap();
    assert_eq!(
        listed.instances().first().unwrap().instance_arn(),
        Some(ARN)
    );

    let (status, _, body) = raw(
        &emu,
        "POST",
        "/_idc-emulator/instance",
        &[JSON],
        &seed_json.replace("111122223333\"", "1\""),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("owner_account_id"), "{body}");
    let (status, _, body) = raw(
        &emu,
        "POST",
        "/_idc-emulator/instance",
        &[JSON],
        r#"{"instance_arn": "x", "typo": 1}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("typo"), "{body}");

    let (status, _, _) = raw(&emu, "POST", "/_idc-emulator/reset", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        c.list_instances()
            .send()
            .await
            .unwrap()
            .instances()
            .is_empty()
    );

    // The Rust API does the same.
    emu.seed(seed(&["us-west-2"], Some(KEY))).await;
    assert_eq!(
        c.list_instances().send().await.unwrap().instances().len(),
        1
    );
    emu.reset().await;
    assert!(
        c.list_instances()
            .send()
            .await
            .unwrap()
            .instances()
            .is_empty()
    );
    assert!(!emu.is_finished());
}

#[tokio::test]
async fn dropping_the_emulator_stops_the_server() {
    let emu = seeded(&["us-east-1"]).await;
    let addr = emu.addr();
    drop(emu);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let refused =
            tokio::task::spawn_blocking(move || std::net::TcpStream::connect(addr).is_err())
                .await
                .unwrap();
        if refused {
            break;
        }
        assert!(Instant::now() < deadline, "still accepting on {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
