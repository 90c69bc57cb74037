//! region-guard, idp-guard and the drift sweeper against real local servers: the real SDK
//! over HTTP to moto (KMS, EventBridge, SQS, DynamoDB, S3) and to the Identity Center
//! emulator (sso-admin). One test per scenario; each ends by reading live state back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
// A test may be a long table of cases.
#![allow(clippy::too_many_lines)]

use std::time::Duration;

use aws_sdk_ssoadmin::types::{EncryptionConfiguration, KmsKeyType};
use idc_guard_core::aws::Endpoints;
use idc_guard_core::checks::key_policy::check_parsed;
use idc_guard_core::config::{Config, MetadataLocation, Mode};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::{Finding, Status};
use idc_guard_lambda::GuardSettings;
use idc_guard_policy::document::parse_key_policy;
use idc_guard_tests::demo::scenarios::sso_event_in;
use idc_guard_tests::fault_proxy::{Fault, FaultProxy, Rule};
use idc_guard_tests::idc_emulator::{EmulatorOptions, RunningEmulator, SeedInstance, start};
use idc_guard_tests::key_fixture::{KeyFixture, PRIMARY};
use idc_guard_tests::local_aws::{Moto, sdk_config, unique};
use serde_json::{Value, json};

const EU: &str = "eu-west-1";
const AP: &str = "ap-southeast-2";
const T0: &str = "2026-11-27T10:00:00Z";
const TENANT: &str = "abc-123";

fn now(offset: i64) -> Timestamp {
    Timestamp::parse(T0).unwrap().plus(offset)
}

/// moto with the key in `key_regions`, and the emulator with an instance in
/// `instance_regions` encrypted with that key.
async fn setup(
    key_regions: &[&str],
    instance_regions: &[&str],
) -> (Moto, KeyFixture, RunningEmulator) {
    let moto = Moto::start().unwrap();
    let mut f = KeyFixture::new(&moto, key_regions, "remediate")
        .await
        .unwrap();
    f.config.saml_tenant_id = Some(TENANT.to_owned());
    let emu = start(EmulatorOptions {
        add_delay: Duration::from_millis(50),
        kms_endpoint: None,
    })
    .await
    .unwrap();
    emu.try_seed(&SeedInstance::of(&f.config, instance_regions))
        .unwrap();
    (moto, f, emu)
}

fn endpoints(f: &KeyFixture, emu: &RunningEmulator) -> Endpoints {
    Endpoints {
        sso_admin: Some(emu.url.clone()),
        ..Endpoints::all(&f.url)
    }
}

fn settings(f: &KeyFixture, config: Config) -> GuardSettings {
    GuardSettings {
        config,
        bus_name: f.bus.clone(),
        table_name: f.table.clone(),
        state_region: None,
    }
}

fn region_guard(
    f: &KeyFixture,
    emu: &RunningEmulator,
    config: Config,
) -> region_guard::AwsRegionGuard {
    region_guard::aws_region_guard(&f.sdk, settings(f, config), &endpoints(f, emu))
}

fn with(config: &Config, edit: impl FnOnce(&mut Config)) -> Config {
    let mut c = config.clone();
    edit(&mut c);
    c
}

async fn sso(emu: &RunningEmulator, region: &str) -> aws_sdk_ssoadmin::Client {
    let conf = aws_sdk_ssoadmin::config::Builder::from(&sdk_config(region).await)
        .endpoint_url(&emu.url)
        .build();
    aws_sdk_ssoadmin::Client::from_conf(conf)
}

/// A CloudTrail-shaped sso event, delivered in `delivered_in`.
fn sso_event(
    name: &str,
    source: &str,
    delivered_in: &str,
    params: Value,
    id: &str,
    time: &str,
) -> Value {
    sso_event_in(delivered_in, name, "aws.sso", source, params, id, time)
}

fn add_region(f: &KeyFixture, region: &str, delivered_in: &str, id: &str, time: &str) -> Value {
    sso_event(
        "AddRegion",
        "sso.amazonaws.com",
        delivered_in,
        json!({"instanceArn": f.config.instance_arn, "regionName": region}),
        id,
        time,
    )
}

fn named<'a>(findings: &'a [Finding], check: &str, region: &str) -> Vec<&'a Finding> {
    findings
        .iter()
        .filter(|x| x.check == check && x.region == region)
        .collect()
}

fn one<'a>(findings: &'a [Finding], check: &str, region: &str) -> &'a Finding {
    let found = named(findings, check, region);
    assert_eq!(found.len(), 1, "{check} in {region}: {findings:#?}");
    found[0]
}

/// Adds `region` to the instance (the change region-guard hears about).
async fn add_to_instance(f: &KeyFixture, emu: &RunningEmulator, region: &str) {
    sso(emu, PRIMARY)
        .await
        .add_region()
        .instance_arn(&f.config.instance_arn)
        .region_name(region)
        .send()
        .await
        .unwrap();
}

/// region-guard reaching moto through `proxy` (the emulator directly), with the production
/// retry rule and a 2 s attempt timeout.
async fn region_guard_via(
    f: &KeyFixture,
    emu: &RunningEmulator,
    proxy: &FaultProxy,
    config: Config,
) -> region_guard::AwsRegionGuard {
    let sdk =
        idc_guard_tests::local_aws::resilient_sdk_config(PRIMARY, Duration::from_secs(2)).await;
    let endpoints = Endpoints {
        sso_admin: Some(emu.url.clone()),
        ..Endpoints::all(&proxy.url)
    };
    region_guard::aws_region_guard(&sdk, settings(f, config), &endpoints)
}

async fn key_exists(f: &KeyFixture, region: &str) -> bool {
    f.kms(region)
        .describe_key()
        .key_id(&f.key_id)
        .send()
        .await
        .is_ok()
}

async fn compliant(f: &KeyFixture, region: &str) -> bool {
    let policy = f.policy(region).await.unwrap();
    check_parsed(&f.config, &parse_key_policy(&policy), &[region.to_owned()]).compliant()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_added_without_a_replica_is_reported_then_the_replica_is_created() {
    let (_moto, f, emu) = setup(&[PRIMARY], &[PRIMARY]).await;
    // Someone adds eu-west-1 to the instance before creating the key's replica there.
    add_to_instance(&f, &emu, EU).await;

    // notify: reported with the exact URLs, nothing created.
    let notify = with(&f.config, |c| {
        c.remediation.mode = Mode::Notify;
        c.remediation.create_missing_replicas = true;
    });
    let out = region_guard::handle(
        &region_guard(&f, &emu, notify),
        &add_region(&f, EU, PRIMARY, "ev-1", T0),
        now(5),
    )
    .await
    .unwrap();
    assert_eq!(out["result"], "handled", "{out}");
    let published = f.published().await.unwrap();
    let ready = one(&published, "REGION-KEY-READY", EU);
    assert_eq!(ready.status, Status::Fail);
    assert_eq!(ready.remediation.as_ref().unwrap().outcome, "skipped");
    assert_eq!(
        one(&published, "KEY-MULTI-REGION", PRIMARY).status,
        Status::Fail
    );
    let acs = one(&published, "IDP-ACS-URLS", PRIMARY);
    assert_eq!(acs.status, Status::Warn);
    for url in [
        "https://eu-west-1.signin.aws/platform/saml/acs/abc-123",
        "https://eu-west-1.sso.signin.aws/platform/saml/acs/abc-123",
        "https://ssoins-1234567890abcdef.eu-west-1.portal.amazonaws.com",
        "https://ssoins-1234567890abcdef.portal.eu-west-1.app.aws",
    ] {
        assert!(acs.message.contains(url), "{url} missing: {}", acs.message);
    }
    assert!(
        !key_exists(&f, EU).await,
        "notify must not create a replica"
    );

    // remediate, with the action off: still nothing.
    let off = with(&f.config, |c| c.remediation.create_missing_replicas = false);
    region_guard::handle(
        &region_guard(&f, &emu, off),
        &add_region(&f, EU, PRIMARY, "ev-2", &now(60).to_string()),
        now(65),
    )
    .await
    .unwrap();
    let published = f.published().await.unwrap();
    let ready = one(&published, "REGION-KEY-READY", EU);
    assert!(
        ready.message.contains("create_missing_replicas is off"),
        "{}",
        ready.message
    );
    assert!(!key_exists(&f, EU).await);

    // remediate with the action on: the replica is created with the model policy, verified.
    let on = with(&f.config, |c| c.remediation.create_missing_replicas = true);
    region_guard::handle(
        &region_guard(&f, &emu, on),
        &add_region(&f, EU, PRIMARY, "ev-3", &now(120).to_string()),
        now(125),
    )
    .await
    .unwrap();
    let published = f.published().await.unwrap();
    let ready = one(&published, "REGION-KEY-READY", EU);
    let remediation = ready.remediation.as_ref().unwrap();
    assert_eq!(remediation.outcome, "applied", "{}", ready.message);
    assert!(remediation.actions[0].contains("kms:ReplicateKey"));
    assert_eq!(f.state(EU).await.unwrap(), "Enabled");
    assert!(
        compliant(&f, EU).await,
        "the replica must carry the model policy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_policy_lacks_the_regions_via_service_is_not_ready_and_is_repaired() {
    let (_moto, f, emu) = setup(&[PRIMARY, EU], &[PRIMARY]).await;
    let pinned = f
        .policy(EU)
        .await
        .unwrap()
        .replace("sso.*.amazonaws.com", "sso.us-east-1.amazonaws.com")
        .replace(
            "identitystore.*.amazonaws.com",
            "identitystore.us-east-1.amazonaws.com",
        );
    f.put_policy(EU, &pinned).await.unwrap();

    let notify = with(&f.config, |c| c.remediation.mode = Mode::Notify);
    region_guard::handle(
        &region_guard(&f, &emu, notify),
        &add_region(&f, EU, PRIMARY, "ev-1", T0),
        now(5),
    )
    .await
    .unwrap();
    let published = f.published().await.unwrap();
    let ready = one(&published, "REGION-KEY-READY", EU);
    assert_eq!(ready.status, Status::Fail);
    assert!(
        ready.message.contains("KP-ORG-VIA-SERVICE"),
        "{}",
        ready.message
    );
    assert_eq!(
        one(&published, "KEY-REPLICA-POLICY", EU).status,
        Status::Fail
    );
    assert_eq!(
        f.policy(EU).await.unwrap(),
        pinned,
        "notify changes nothing"
    );

    let repair = with(&f.config, |c| c.remediation.repair_replica_policies = true);
    let out = region_guard::handle(
        &region_guard(&f, &emu, repair),
        &add_region(&f, EU, PRIMARY, "ev-2", &now(60).to_string()),
        now(65),
    )
    .await
    .unwrap();
    assert_eq!(out["replicas"][0]["outcome"], "remediated", "{out}");
    assert!(compliant(&f, EU).await);
    let published = f.published().await.unwrap();
    assert_eq!(
        one(&published, "REGION-KEY-READY", EU)
            .remediation
            .as_ref()
            .unwrap()
            .outcome,
        "applied"
    );
    // The key guard's own KP findings for the replica, with its remediation record.
    assert!(
        published
            .iter()
            .any(|x| x.check == "KP-ORG-VIA-SERVICE" && x.region == EU),
        "{published:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_switched_to_an_aws_owned_key_fails_instance_encryption() {
    let (_moto, f, emu) = setup(&[PRIMARY], &[PRIMARY]).await;
    sso(&emu, PRIMARY)
        .await
        .update_instance()
        .instance_arn(&f.config.instance_arn)
        .encryption_configuration(
            EncryptionConfiguration::builder()
                .key_type(KmsKeyType::AwsOwnedKmsKey)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let event = sso_event(
        "UpdateInstance",
        "sso.amazonaws.com",
        PRIMARY,
        json!({"instanceArn": f.config.instance_arn}),
        "ev-1",
        T0,
    );
    region_guard::handle(&region_guard(&f, &emu, f.config.clone()), &event, now(5))
        .await
        .unwrap();
    let published = f.published().await.unwrap();
    let enc = one(&published, "INSTANCE-ENCRYPTION", PRIMARY);
    assert_eq!(enc.status, Status::Fail);
    assert!(enc.message.contains("AWS_OWNED_KMS_KEY"), "{}", enc.message);
    assert_eq!(enc.resource, f.config.instance_arn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_outside_the_supported_set_fails_region_supported() {
    let (_moto, f, emu) = setup(&[PRIMARY, EU], &[PRIMARY, EU]).await;
    let narrow = with(&f.config, |c| {
        c.supported_regions = vec![PRIMARY.to_owned(), EU.to_owned()];
        c.remediation.mode = Mode::Notify;
    });
    region_guard::handle(
        &region_guard(&f, &emu, narrow),
        &add_region(&f, AP, PRIMARY, "ev-1", T0),
        now(5),
    )
    .await
    .unwrap();
    let published = f.published().await.unwrap();
    let supported = one(&published, "REGION-SUPPORTED", AP);
    assert_eq!(supported.status, Status::Fail);
    assert!(supported.message.contains("policy.supported_regions"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_add_region_delivered_in_three_regions_is_evaluated_once() {
    let (_moto, f, emu) = setup(&[PRIMARY, EU], &[PRIMARY, EU]).await;
    let guard = region_guard(
        &f,
        &emu,
        with(&f.config, |c| c.remediation.mode = Mode::Notify),
    );
    let mut results = Vec::new();
    for (i, region) in [PRIMARY, EU, AP].iter().enumerate() {
        // Each Region's copy has its own event id; the change is the same.
        let copy = add_region(&f, AP, region, &format!("ev-{region}"), T0);
        let out = region_guard::handle(&guard, &copy, now(5 + i as i64))
            .await
            .unwrap();
        results.push(out["result"].as_str().unwrap().to_owned());
    }
    assert_eq!(results, ["handled", "duplicate", "duplicate"]);
    let published = f.published().await.unwrap();
    assert_eq!(
        named(&published, "REGION-KEY-READY", AP).len(),
        1,
        "{published:#?}"
    );
    assert_eq!(named(&published, "INSTANCE-ENCRYPTION", PRIMARY).len(), 1);
    // A later, new change of the same kind is evaluated again.
    let later = add_region(&f, AP, PRIMARY, "ev-later", &now(3600).to_string());
    let out = region_guard::handle(&guard, &later, now(3605))
        .await
        .unwrap();
    assert_eq!(out["result"], "handled");
}

async fn idp_guard(
    f: &KeyFixture,
    emu: &RunningEmulator,
    config: Config,
) -> idp_guard::AwsIdpGuard {
    idp_guard::aws_idp_guard(&f.sdk, settings(f, config), &endpoints(f, emu))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_source_moved_to_active_directory_fails_idp_source() {
    let (_moto, f, emu) = setup(&[PRIMARY, EU], &[PRIMARY, EU]).await;
    let event = sso_event(
        "AssociateDirectory",
        "sso.amazonaws.com",
        PRIMARY,
        json!({"instanceArn": f.config.instance_arn, "directoryId": "d-9067abcdef"}),
        "ev-1",
        T0,
    );
    let guard = idp_guard(&f, &emu, f.config.clone()).await;
    idp_guard::handle(&guard, &event, now(5)).await.unwrap();
    let published = f.published().await.unwrap();
    let source = one(&published, "IDP-SOURCE", PRIMARY);
    assert_eq!(source.status, Status::Fail);
    assert!(source.message.contains("d-9067abcdef"));
    assert_eq!(
        source.trigger.as_ref().unwrap().event_name,
        "AssociateDirectory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_idp_update_lists_every_regions_urls_and_reads_the_metadata() {
    let (_moto, f, emu) = setup(&[PRIMARY, EU, AP], &[PRIMARY, EU, AP]).await;
    let event = sso_event(
        "UpdateExternalIdPConfigurationForDirectory",
        "sso-directory.amazonaws.com",
        PRIMARY,
        json!({}),
        "ev-1",
        T0,
    );
    // Without metadata: an action-required finding with every Region's URLs.
    idp_guard::handle(&idp_guard(&f, &emu, f.config.clone()).await, &event, now(5))
        .await
        .unwrap();
    let published = f.published().await.unwrap();
    let acs = one(&published, "IDP-ACS-URLS", PRIMARY);
    assert_eq!(acs.status, Status::Warn);
    for region in [PRIMARY, EU, AP] {
        for url in [
            format!("https://{region}.signin.aws/platform/saml/acs/{TENANT}"),
            format!("https://{region}.sso.signin.aws/platform/saml/acs/{TENANT}"),
            format!("https://ssoins-1234567890abcdef.{region}.portal.amazonaws.com"),
        ] {
            assert!(acs.message.contains(&url), "{url}: {}", acs.message);
        }
    }

    // With metadata in S3 that registers us-east-1 and eu-west-1 only, and the IdP's
    // signing certificate: ap-southeast-2 is named missing, the certificate's expiry read.
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/tests/fixtures/saml/"
    );
    let strip = |name: &str| {
        std::fs::read_to_string(format!("{fixtures}{name}"))
            .unwrap()
            .replace(r#"<?xml version="1.0" encoding="UTF-8"?>"#, "")
    };
    let metadata = format!(
        r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{}{}</EntitiesDescriptor>"#,
        strip("okta_idp.xml"),
        strip("aws_sp.xml")
    );
    let bucket = unique("idp-metadata");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&f.sdk)
            .endpoint_url(&f.url)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("idp/metadata.xml")
        .body(metadata.into_bytes().into())
        .send()
        .await
        .unwrap();
    let with_metadata = with(&f.config, |c| {
        c.idp.saml_metadata = Some(MetadataLocation::S3 {
            bucket: bucket.clone(),
            key: "idp/metadata.xml".to_owned(),
        });
    });
    let later = sso_event(
        "UpdateExternalIdPConfigurationForDirectory",
        "sso-directory.amazonaws.com",
        PRIMARY,
        json!({}),
        "ev-2",
        &now(60).to_string(),
    );
    idp_guard::handle(&idp_guard(&f, &emu, with_metadata).await, &later, now(65))
        .await
        .unwrap();
    let published = f.published().await.unwrap();
    let acs = one(&published, "IDP-ACS-URLS", PRIMARY);
    assert_eq!(acs.status, Status::Fail, "{}", acs.message);
    assert!(
        acs.message.contains("lacks the ACS URL of ap-southeast-2"),
        "{}",
        acs.message
    );
    assert!(!acs.message.contains("of us-east-1"), "{}", acs.message);
    let cert = one(&published, "IDP-CERTIFICATE", PRIMARY);
    // Valid until 2036-11-24: about ten years from T0.
    assert_eq!(cert.status, Status::Pass, "{}", cert.message);
    assert!(cert.message.contains("idp.example.com"), "{}", cert.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_finds_drift_that_produced_no_event() {
    let (_moto, f, emu) = setup(&[PRIMARY, EU], &[PRIMARY, EU]).await;
    let sweeper = drift_sweeper::aws_sweeper(
        &f.sdk,
        idc_guard_lambda::GuardSettings {
            config: f.config.clone(),
            bus_name: f.bus.clone(),
            table_name: f.table.clone(),
            state_region: None,
        },
        &endpoints(&f, &emu),
    )
    .await
    .unwrap();
    // Compliant: only the summary (and the action-required ACS reminder) is published.
    let out = drift_sweeper::handle(&sweeper, &json!({"id": "sched-1"}), now(0))
        .await
        .unwrap();
    let published = f.published().await.unwrap();
    let summary = one(&published, "SWEEP-SUMMARY", PRIMARY);
    assert_eq!(summary.status, Status::Pass, "{}", summary.message);
    assert!(published.iter().all(|x| x.status != Status::Fail), "{out}");

    // Drift with no event (the replica's policy replaced, nothing delivered).
    let original = f.policy(EU).await.unwrap();
    f.edit_policy(EU, |doc| {
        doc["Statement"].as_array_mut().unwrap().remove(3);
    })
    .await
    .unwrap();
    drift_sweeper::handle(&sweeper, &json!({"id": "sched-2"}), now(3600))
        .await
        .unwrap();
    let published = f.published().await.unwrap();
    assert_eq!(
        one(&published, "KEY-REPLICA-POLICY", EU).status,
        Status::Fail
    );
    assert_eq!(one(&published, "REGION-KEY-READY", EU).status, Status::Fail);
    assert_eq!(
        one(&published, "KP-ORG-VIA-SERVICE", EU).status,
        Status::Fail
    );
    let summary = one(&published, "SWEEP-SUMMARY", PRIMARY);
    assert_eq!(summary.status, Status::Fail);
    assert!(
        summary.message.contains("KP-ORG-VIA-SERVICE"),
        "{}",
        summary.message
    );
    assert!(
        published
            .iter()
            .all(|x| x.trigger.as_ref().unwrap().event_id == "sched-2")
    );
    // The sweep changed nothing.
    assert!(!compliant(&f, EU).await);

    // Fixed by hand: the next sweep resolves each failure once, at the failure's severity,
    // naming it; the one after has nothing to resolve.
    let failed: Vec<Finding> = published
        .iter()
        .filter(|x| x.region == EU && x.status == Status::Fail)
        .cloned()
        .collect();
    f.put_policy(EU, &original).await.unwrap();
    assert!(compliant(&f, EU).await);
    drift_sweeper::handle(&sweeper, &json!({"id": "sched-3"}), now(7200))
        .await
        .unwrap();
    let published = f.published().await.unwrap();
    let resolved: Vec<&Finding> = published.iter().filter(|x| x.resolves.is_some()).collect();
    assert_eq!(resolved.len(), failed.len(), "{resolved:#?}");
    for failure in &failed {
        let r = resolved
            .iter()
            .find(|r| r.resolves.as_deref() == Some(failure.fingerprint.as_str()))
            .unwrap_or_else(|| panic!("{} not resolved: {resolved:#?}", failure.check));
        assert_eq!(
            (r.check, r.status, r.severity, r.region.as_str()),
            (failure.check, Status::Pass, failure.severity, EU)
        );
        assert_eq!(r.trigger.as_ref().unwrap().event_id, "sched-3");
    }
    drift_sweeper::handle(&sweeper, &json!({"id": "sched-4"}), now(10_800))
        .await
        .unwrap();
    let published = f.published().await.unwrap();
    assert!(
        published.iter().all(|x| x.resolves.is_none()),
        "{published:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_creation_answer_is_lost_is_verified_not_created_twice() {
    let (moto, f, emu) = setup(&[PRIMARY], &[PRIMARY]).await;
    add_to_instance(&f, &emu, EU).await;
    // The first ReplicateKey lands and its answer is lost; the SDK's retry is refused
    // because the replica exists (as KMS does; moto would accept it again).
    let proxy = FaultProxy::start(&moto.url).await.unwrap();
    proxy.inject(Rule::first("kms:ReplicateKey", 1, Fault::ResetAfterForward));
    proxy.inject(Rule::first("kms:ReplicateKey", 1, Fault::AlreadyExists));
    let on = with(&f.config, |c| c.remediation.create_missing_replicas = true);
    let guard = region_guard_via(&f, &emu, &proxy, on).await;

    let out = region_guard::handle(&guard, &add_region(&f, EU, PRIMARY, "ev-1", T0), now(5))
        .await
        .unwrap();

    assert_eq!(out["result"], "handled", "{out}");
    assert_eq!(
        proxy.outcomes_of("kms:ReplicateKey"),
        [
            (true, Some(Fault::ResetAfterForward)),
            (false, Some(Fault::AlreadyExists))
        ]
    );
    let published = f.published().await.unwrap();
    let ready = one(&published, "REGION-KEY-READY", EU);
    assert_eq!(
        ready.remediation.as_ref().unwrap().outcome,
        "applied",
        "{}",
        ready.message
    );
    assert_eq!(f.state(EU).await.unwrap(), "Enabled");
    assert!(compliant(&f, EU).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_reports_what_it_cannot_read_and_keeps_what_it_cannot_publish() {
    let (moto, f, emu) = setup(&[PRIMARY, EU], &[PRIMARY, EU]).await;
    f.edit_policy(PRIMARY, |doc| {
        doc["Statement"].as_array_mut().unwrap().remove(3);
    })
    .await
    .unwrap();
    let aws = FaultProxy::start(&moto.url).await.unwrap();
    let sso_proxy = FaultProxy::start(&emu.url).await.unwrap();
    // The replica's Region hangs on every KMS read; Identity Center throttles for good.
    aws.inject(
        Rule::always("kms:DescribeKey", Fault::Hang(Duration::from_millis(1500))).in_region(EU),
    );
    sso_proxy.inject(Rule::always("sso:DescribeInstance", Fault::Throttle));
    let sdk =
        idc_guard_tests::local_aws::resilient_sdk_config(PRIMARY, Duration::from_millis(400)).await;
    let sweeper = drift_sweeper::aws_sweeper(
        &sdk,
        idc_guard_lambda::GuardSettings {
            config: f.config.clone(),
            bus_name: f.bus.clone(),
            table_name: f.table.clone(),
            state_region: None,
        },
        &Endpoints {
            sso_admin: Some(sso_proxy.url.clone()),
            ..Endpoints::all(&aws.url)
        },
    )
    .await
    .unwrap();

    drift_sweeper::handle(&sweeper, &json!({"id": "sched-1"}), now(0))
        .await
        .unwrap();

    let published = f.published().await.unwrap();
    let unreadable: Vec<&Finding> = published
        .iter()
        .filter(|x| x.region == EU && x.status == Status::Error)
        .collect();
    assert!(
        unreadable
            .iter()
            .any(|x| x.message.contains("kms:DescribeKey")),
        "{published:#?}"
    );
    assert!(
        published
            .iter()
            .any(|x| x.status == Status::Error && x.message.contains("ThrottlingException")),
        "{published:#?}"
    );
    let summary = one(&published, "SWEEP-SUMMARY", PRIMARY);
    assert_ne!(summary.status, Status::Pass, "{}", summary.message);
    // The primary Region was still read and checked: its drift is found.
    assert_eq!(
        one(&published, "KP-ORG-VIA-SERVICE", PRIMARY).status,
        Status::Fail
    );

    // The bus fails for good: the invocation fails with the findings in its error, for the
    // scheduler's retry and its dead-letter queue.
    aws.heal();
    sso_proxy.heal();
    aws.inject(Rule::always("events:PutEvents", Fault::ServerError));
    let error = drift_sweeper::handle(&sweeper, &json!({"id": "sched-2"}), now(3600))
        .await
        .unwrap_err();
    let message = lambda_runtime::Diagnostic::from(error).error_message;
    assert!(message.contains("SWEEP-SUMMARY"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_creation_cut_off_is_reported_then_rechecked_not_repeated() {
    let (moto, f, emu) = setup(&[PRIMARY], &[PRIMARY]).await;
    add_to_instance(&f, &emu, EU).await;
    // The first ReplicateKey lands and its answer is lost; the SDK's retries never get
    // through: the guard cannot know whether the replica exists.
    let proxy = FaultProxy::start(&moto.url).await.unwrap();
    proxy.inject(Rule::first("kms:ReplicateKey", 1, Fault::ResetAfterForward));
    proxy.inject(Rule::always("kms:ReplicateKey", Fault::Reset));
    let on = with(&f.config, |c| c.remediation.create_missing_replicas = true);
    let guard = region_guard_via(&f, &emu, &proxy, on).await;
    let event = add_region(&f, EU, PRIMARY, "ev-1", T0);

    let error = region_guard::handle(&guard, &event, now(5))
        .await
        .unwrap_err();

    assert!(error.to_string().contains("kms:ReplicateKey"), "{error}");
    // Reported before the retry, which may find nothing missing.
    let published = f.published().await.unwrap();
    let ready = one(&published, "REGION-KEY-READY", EU);
    assert_eq!(ready.remediation.as_ref().unwrap().outcome, "failed");
    assert!(
        ready.message.contains("Replica creation interrupted"),
        "{}",
        ready.message
    );

    // Lambda's retry: the replica made by the lost call is found and checked, not made again.
    proxy.heal();
    let out = region_guard::handle(&guard, &event, now(65)).await.unwrap();
    assert_eq!(out["result"], "handled", "{out}");
    assert_eq!(proxy.forwarded("kms:ReplicateKey").len(), 1);
    let published = f.published().await.unwrap();
    assert_eq!(
        one(&published, "REGION-KEY-READY", EU).status,
        Status::Pass,
        "{published:#?}"
    );
    assert_eq!(f.state(EU).await.unwrap(), "Enabled");
    assert!(compliant(&f, EU).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_guard_metadata_that_cannot_be_read_is_reported_or_retried() {
    let (moto, f, emu) = setup(&[PRIMARY, EU], &[PRIMARY, EU]).await;
    let proxy = FaultProxy::start(&moto.url).await.unwrap();
    let sdk =
        idc_guard_tests::local_aws::resilient_sdk_config(PRIMARY, Duration::from_millis(400)).await;
    let config = with(&f.config, |c| {
        c.idp.saml_metadata = Some(MetadataLocation::S3 {
            bucket: unique("idp-metadata"),
            key: "idp/metadata.xml".to_owned(),
        });
    });
    let guard = idp_guard::aws_idp_guard(
        &sdk,
        settings(&f, config),
        &Endpoints {
            sso_admin: Some(emu.url.clone()),
            ..Endpoints::all(&proxy.url)
        },
    )
    .await
    .unwrap();
    let event = |id: &str| {
        sso_event(
            "UpdateExternalIdPConfigurationForDirectory",
            "sso-directory.amazonaws.com",
            PRIMARY,
            json!({}),
            id,
            T0,
        )
    };

    // S3 hangs on every attempt: nothing is judged on half the facts; Lambda retries.
    proxy.inject(Rule::always(
        "s3:GET",
        Fault::Hang(Duration::from_millis(1500)),
    ));
    let error = idp_guard::handle(&guard, &event("ev-1"), now(5))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("s3"), "{error}");
    assert!(f.published().await.unwrap().is_empty());

    // Access denied for good: the metadata is reported unreadable, the URLs still listed.
    proxy.heal();
    proxy.inject(Rule::always("s3:GET", Fault::AccessDenied));
    idp_guard::handle(&guard, &event("ev-1"), now(65))
        .await
        .unwrap();
    let published = f.published().await.unwrap();
    assert!(
        published
            .iter()
            .any(|x| x.status == Status::Error && x.message.contains("AccessDenied")),
        "{published:#?}"
    );
    assert!(
        one(&published, "IDP-ACS-URLS", PRIMARY)
            .message
            .contains("https://eu-west-1.signin.aws/platform/saml/acs/abc-123")
    );
}
