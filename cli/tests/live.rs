//! `idc-guard replay` and `idc-guard audit` against local AWS: moto for KMS, EventBridge and
//! DynamoDB, the Identity Center emulator for sso-admin, the real binary as a user runs it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
// A test may be a long table of cases.
#![allow(clippy::too_many_lines)]

use std::path::PathBuf;
use std::process::{Command, Output};

use idc_guard_tests::idc_emulator::{EmulatorOptions, SeedInstance, start};
use idc_guard_tests::key_fixture::{KeyFixture, PRIMARY, fixture_config_text};
use idc_guard_tests::local_aws::{MOTO_ACCOUNT, Moto};
use serde_json::Value;

const REPLICA: &str = "eu-west-1";

struct Files {
    dir: PathBuf,
}

impl Files {
    fn new() -> Files {
        let dir = std::env::temp_dir().join(idc_guard_tests::local_aws::unique("idc-guard-cli"));
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The binary with test credentials and nothing from the developer's AWS setup.
fn idc_guard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idc-guard"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", PRIMARY)
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn fixture(mode: &str) -> (Moto, KeyFixture, Files, String) {
    let moto = Moto::start().unwrap();
    let f = KeyFixture::new(&moto, &[PRIMARY, REPLICA], mode)
        .await
        .unwrap();
    let files = Files::new();
    let config = files.write(
        "config.toml",
        &fixture_config_text(&f.config.key_arn.to_string(), &[PRIMARY, REPLICA], mode),
    );
    (moto, f, files, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reports_in_notify_and_repairs_in_remediate() {
    let (moto, f, files, config) = fixture("notify").await;
    f.edit_policy(REPLICA, |doc| {
        doc["Statement"].as_array_mut().unwrap().remove(2);
    })
    .await
    .unwrap();
    let drifted = f.policy(REPLICA).await.unwrap();
    let event = files.write(
        "event.json",
        &f.event(
            "PutKeyPolicy",
            REPLICA,
            "Admin",
            "2026-11-27T10:00:00Z",
            "ev-1",
        )
        .to_string(),
    );

    let out = idc_guard(&[
        "replay",
        "--config",
        &config,
        &event,
        "--endpoint-url",
        &moto.url,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("eu-west-1 ev-1: REPORTED"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("KP-SERVICE-USE"), "{}", stdout(&out));
    assert_eq!(f.policy(REPLICA).await.unwrap(), drifted);

    let out = idc_guard(&[
        "replay",
        "--config",
        &config,
        &event,
        "--mode",
        "remediate",
        "--endpoint-url",
        &moto.url,
        "--state-table",
        &f.table,
        "--bus",
        &f.bus,
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // One object per record, then the total.
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", stdout(&out));
    let doc = &lines[0]["outcome"];
    assert_eq!(lines[0]["guard"], "key-policy-guard");
    assert_eq!(doc["result"], "handled");
    assert_eq!(doc["regions"][0]["outcome"], "remediated");
    assert_eq!(lines[1]["total"]["handled"], 1);
    let live = f.policy(REPLICA).await.unwrap();
    assert_ne!(live, drifted);
    let report = idc_guard_core::checks::key_policy::check_parsed(
        &f.config,
        &idc_guard_policy::document::parse_key_policy(&live),
        &[REPLICA.to_owned()],
    );
    assert!(
        report.compliant(),
        "{:#?}",
        report.problems().collect::<Vec<_>>()
    );
    // Published to the bus, as the Lambda would.
    let published = f.published().await.unwrap();
    assert!(published.iter().any(|p| p.check == "KP-SERVICE-USE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_refuses_a_malformed_event_naming_the_file_and_field() {
    let files = Files::new();
    let config = files.write(
        "config.toml",
        &fixture_config_text(
            "arn:aws:kms:us-east-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef",
            &[PRIMARY],
            "notify",
        ),
    );
    let event = files.write("event.json", r#"{"id": "e1", "detail": {"eventID": "x"}}"#);
    let out = idc_guard(&["replay", "--config", &config, &event]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("event.json") && err.contains("detail.eventName"),
        "{err}"
    );
    // Remediation from the command line must share the Lambda's claims and breaker.
    let out = idc_guard(&["replay", "--config", &config, &event, "--mode", "remediate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--state-table"), "{}", stderr(&out));
    let not_json = files.write("bad.json", "{\n  nope");
    let out = idc_guard(&["replay", "--config", &config, &not_json]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.json: line 2"),
        "{}",
        stderr(&out)
    );
}

/// A bare CloudTrail record of an Identity Center call, as a log file holds it.
fn sso_record(source: &str, name: &str, id: &str, request: &Value) -> Value {
    serde_json::json!({
        "eventVersion": "1.10", "eventTime": "2026-11-27T11:00:00Z", "eventSource": source,
        "eventName": name, "awsRegion": PRIMARY, "eventID": id,
        "userIdentity": {"type": "AssumedRole", "accountId": MOTO_ACCOUNT,
            "arn": format!("arn:aws:sts::{MOTO_ACCOUNT}:assumed-role/Admin/alice")},
        "requestParameters": request, "responseElements": null,
        "eventType": "AwsApiCall", "recipientAccountId": MOTO_ACCOUNT
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_dispatches_every_record_of_a_gzipped_log_file_to_its_guard() {
    let (moto, f, files, config) = fixture("notify").await;
    let emulator = start(EmulatorOptions::default()).await.unwrap();
    emulator
        .emulator()
        .try_seed(&SeedInstance::of(&f.config, &[PRIMARY, REPLICA]))
        .unwrap();
    f.edit_policy(REPLICA, |doc| {
        doc["Statement"].as_array_mut().unwrap().remove(2);
    })
    .await
    .unwrap();
    let put = f.event(
        "PutKeyPolicy",
        REPLICA,
        "Admin",
        "2026-11-27T10:00:00Z",
        "ct-put",
    )["detail"]
        .clone();
    let mut failed = f.event(
        "DisableKey",
        PRIMARY,
        "Admin",
        "2026-11-27T10:01:00Z",
        "ct-failed",
    )["detail"]
        .clone();
    failed["errorCode"] = "AccessDenied".into();
    let instance = serde_json::json!({"instanceArn": f.config.instance_arn});
    let add = sso_record(
        "sso.amazonaws.com",
        "AddRegion",
        "ct-add",
        &serde_json::json!({"instanceArn": f.config.instance_arn, "regionName": REPLICA}),
    );
    let idp = sso_record(
        "sso-directory.amazonaws.com",
        "UpdateExternalIdPConfigurationForDirectory",
        "ct-idp",
        &instance,
    );
    let login = sso_record(
        "signin.amazonaws.com",
        "ConsoleLogin",
        "ct-login",
        &Value::Null,
    );
    // A KMS record without its id and Region: no guard can work with it.
    let broken =
        serde_json::json!({"eventSource": "kms.amazonaws.com", "eventName": "PutKeyPolicy"});
    let log = serde_json::json!({"Records": [put, add, login, broken, failed, idp]});
    let path = files
        .dir
        .join("111122223333_CloudTrail_us-east-1_20261127T1100Z_x.json.gz");
    std::fs::write(&path, gzip(log.to_string().as_bytes())).unwrap();
    let path = path.to_string_lossy().into_owned();

    let out = idc_guard(&[
        "replay",
        "--config",
        &config,
        &path,
        "--endpoint-url",
        &moto.url,
        "--sso-endpoint-url",
        &emulator.url,
        "--format",
        "json",
    ]);
    // A malformed record makes the input bad (2); every other record is still handled.
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains("record 3:"), "{}", stderr(&out));
    assert!(stderr(&out).contains("eventID"), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_record: Vec<(Value, Value, Value)> = lines[..6]
        .iter()
        .map(|l| {
            (
                l["record"].clone(),
                l["guard"].clone(),
                l["outcome"]["result"].clone(),
            )
        })
        .collect();
    assert_eq!(
        by_record,
        [
            (0.into(), "key-policy-guard".into(), "handled".into()),
            (1.into(), "region-guard".into(), "handled".into()),
            (2.into(), Value::Null, "skipped".into()),
            (3.into(), Value::Null, "rejected".into()),
            (4.into(), "key-policy-guard".into(), "skipped".into()),
            (5.into(), "idp-guard".into(), "handled".into()),
        ],
        "{}",
        stdout(&out)
    );
    assert_eq!(
        lines[0]["settled"], false,
        "the drifted replica is reported"
    );
    assert_eq!(lines[0]["outcome"]["regions"][0]["outcome"], "reported");
    assert!(
        lines[4]["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("AccessDenied")
    );
    let total = &lines[6]["total"];
    assert_eq!(
        (
            total["records"].clone(),
            total["handled"].clone(),
            total["skipped"].clone(),
            total["malformed"].clone()
        ),
        (6.into(), 3.into(), 2.into(), 1.into())
    );

    // Cut short: the records before the cut are replayed, then the fault is named.
    let whole = std::fs::read(&path).unwrap();
    let cut = files.write("cut.json", "");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let out = idc_guard(&[
        "replay",
        "--config",
        &config,
        &cut,
        "--endpoint-url",
        &moto.url,
        "--sso-endpoint-url",
        &emulator.url,
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains("cut.json: line"), "{}", stderr(&out));
    assert!(stdout(&out).contains(" record(s): "), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_sweeps_every_region_of_the_instance_read_only() {
    let (moto, f, _files, config) = fixture("remediate").await;
    let emulator = start(EmulatorOptions::default()).await.unwrap();
    // The instance has a third Region the configuration does not list, without a replica.
    emulator
        .emulator()
        .try_seed(&SeedInstance::of(
            &f.config,
            &[PRIMARY, REPLICA, "ap-southeast-2"],
        ))
        .unwrap();
    let pinned = f
        .policy(REPLICA)
        .await
        .unwrap()
        .replace("sso.*.amazonaws.com", "sso.us-east-1.amazonaws.com");
    f.put_policy(REPLICA, &pinned).await.unwrap();

    let out = idc_guard(&[
        "audit",
        "--config",
        &config,
        "--endpoint-url",
        &moto.url,
        "--sso-endpoint-url",
        &emulator.url,
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["compliant"], false);
    assert_eq!(
        doc["regions"],
        serde_json::json!([PRIMARY, REPLICA, "ap-southeast-2"])
    );
    let findings = doc["findings"].as_array().unwrap();
    let by: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["region"].as_str().unwrap().into(),
                f["check"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        by.contains(&(REPLICA.into(), "KP-ORG-VIA-SERVICE".into())),
        "{by:?}"
    );
    assert!(
        by.contains(&("ap-southeast-2".into(), "KEY-STATE".into())),
        "{by:?}"
    );
    assert!(
        by.contains(&("ap-southeast-2".into(), "REGION-KEY-READY".into())),
        "{by:?}"
    );
    // The primary's key is fine: in the primary Region only the instance-wide checks speak
    // (the missing ap-southeast-2 replica, and the IdP's ACS URL reminder).
    let primary: Vec<&str> = by
        .iter()
        .filter(|(r, _)| r == PRIMARY)
        .map(|(_, c)| c.as_str())
        .collect();
    assert_eq!(primary, ["KEY-MULTI-REGION", "IDP-ACS-URLS"], "{by:?}");
    let planned = findings
        .iter()
        .find(|f| f["check"] == "KP-ORG-VIA-SERVICE")
        .unwrap();
    assert_eq!(planned["remediation"]["outcome"], "planned");
    assert!(
        doc["notes"][0].as_str().unwrap().contains("ap-southeast-2"),
        "{}",
        doc["notes"]
    );
    // Read-only, even though the configuration says remediate.
    assert_eq!(f.policy(REPLICA).await.unwrap(), pinned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_hands_a_region_added_to_region_guard_and_idp_guard() {
    use idc_guard_tests::idp_server::IdpServer;
    use idc_guard_tests::idp_server::fixtures::{
        SAML_TENANT, acs, entra_idp_tables, entra_secret_json, entra_world,
    };
    let (moto, f, files, _) = fixture("notify").await;
    let emu = start(EmulatorOptions {
        add_delay: std::time::Duration::from_millis(10),
        kms_endpoint: None,
    })
    .await
    .unwrap();
    emu.try_seed(&SeedInstance::of(&f.config, &[PRIMARY, REPLICA]))
        .unwrap();
    let idp = IdpServer::start(entra_world(&[acs(PRIMARY)]))
        .await
        .unwrap();
    let secret = idc_guard_tests::local_aws::unique("idc-guard/idp");
    idc_guard_tests::local_aws::create_secret(&f.sdk, &moto.url, &secret, &entra_secret_json())
        .await
        .unwrap();
    let config = files.write(
        "config-idp.toml",
        &format!(
            "saml_tenant_id = \"{SAML_TENANT}\"\n{}{}",
            fixture_config_text(&f.config.key_arn.to_string(), &[PRIMARY, REPLICA], "notify"),
            entra_idp_tables(&idp.url, false, &secret)
        ),
    );
    let event = idc_guard_tests::demo::scenarios::sso_event(
        "AddRegion",
        "aws.sso",
        "sso.amazonaws.com",
        serde_json::json!({"instanceArn": f.config.instance_arn, "regionName": REPLICA}),
        "ev-add",
        "2026-11-27T10:00:00Z",
    );
    let event = files.write("add-region.json", &event.to_string());
    let out = idc_guard(&[
        "replay",
        "--config",
        &config,
        &event,
        "--endpoint-url",
        &moto.url,
        "--sso-endpoint-url",
        &emu.url,
        "--format",
        "json",
    ]);
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(lines[0]["guard"], "region-guard");
    assert_eq!(lines[1]["guard"], "idp-guard");
    assert_eq!(lines[0]["record"], lines[1]["record"]);
    let idp_findings = lines[1]["outcome"]["findings"].as_array().unwrap();
    assert!(
        idp_findings.iter().any(|f| f["check"] == "IDP-ACS-URLS"
            && f["region"] == REPLICA
            && f["status"] == "fail"
            && f["message"].as_str().unwrap().contains(&acs(REPLICA))),
        "{idp_findings:#?}"
    );
    // One record, two guards.
    assert_eq!(lines[2]["total"]["records"], 1);
    assert!(idp.world().writes().is_empty());
}
