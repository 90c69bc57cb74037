//! `idc-guard idp check` and `idc-guard idp sync` as a user runs them: the real binary, the
//! Identity Center emulator for the Regions, the local Graph server for the application.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use idc_guard_tests::BASE_CONFIG;
use idc_guard_tests::idc_emulator::{EmulatorOptions, RunningEmulator, SeedInstance, start};
use idc_guard_tests::idp_server::IdpServer;
use idc_guard_tests::idp_server::fixtures::{
    ENTRA_CLIENT_SECRET, acs, entra_idp_section, entra_secret_json, entra_world,
};
use idc_guard_tests::local_aws::unique;
use serde_json::{Value, json};

struct Setup {
    dir: PathBuf,
    emu: RunningEmulator,
    idp: IdpServer,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Setup {
    async fn new() -> Setup {
        let emu = start(EmulatorOptions {
            add_delay: Duration::from_millis(10),
            kms_endpoint: None,
        })
        .await
        .unwrap();
        emu.try_seed(&SeedInstance::of(
            &idc_guard_tests::config_with(&json!({})).unwrap(),
            &["us-east-1", "eu-west-1"],
        ))
        .unwrap();
        let idp = IdpServer::start(entra_world(&[acs("us-east-1")]))
            .await
            .unwrap();
        let dir = std::env::temp_dir().join(unique("idc-guard-idp-cli"));
        std::fs::create_dir_all(&dir).unwrap();
        Setup { dir, emu, idp }
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn config(&self, allow_update: bool) -> String {
        self.write(
            &format!("config-{allow_update}.toml"),
            &format!(
                "{BASE_CONFIG}{}",
                entra_idp_section(&self.idp.url, allow_update)
            ),
        )
    }

    /// The binary with test AWS credentials only.
    fn run(&self, args: &[&str], config: &str, credentials: &str) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--config",
            config,
            "--sso-endpoint-url",
            &self.emu.url,
            "--credentials-file",
            credentials,
        ]);
        Command::new(env!("CARGO_BIN_EXE_idc-guard"))
            .args(&all)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_the_missing_url_and_dry_run_shows_the_patch() {
    let s = Setup::new().await;
    let creds = s.write("creds.json", &entra_secret_json());
    let out = s.run(&["idp", "check"], &s.config(false), &creds);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains(&format!("Add {}", acs("eu-west-1"))), "{all}");
    assert!(all.contains("DOES NOT HOLD"), "{all}");
    assert!(
        !all.contains(ENTRA_CLIENT_SECRET),
        "the secret leaked: {all}"
    );

    let out = s.run(
        &["idp", "sync", "--dry-run", "--format", "json"],
        &s.config(false),
        &creds,
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let eu = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["region"] == "eu-west-1")
        .unwrap();
    assert_eq!(eu["remediation"]["outcome"], "planned");
    let action = eu["remediation"]["actions"][0].as_str().unwrap();
    assert!(
        action.starts_with("PATCH /applications/0f6b2c5e-1d2a-4c1b-9a53-7e4b0d9c1a11"),
        "{action}"
    );
    assert!(action.contains(&acs("eu-west-1")), "{action}");
    assert!(s.idp.world().writes().is_empty());

    // Without allow_update, sync refuses before reading anything.
    let out = s.run(&["idp", "sync"], &s.config(false), &creds);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("idp.allow_update is false"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_adds_the_url_and_verifies_then_check_holds() {
    let s = Setup::new().await;
    let creds = s.write("creds.json", &entra_secret_json());
    let out = s.run(&["idp", "sync"], &s.config(true), &creds);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("HOLDS: the IdP application was updated"),
        "{all}"
    );
    assert_eq!(
        s.idp.world().applications[0]["web"]["redirectUris"],
        json!([acs("us-east-1"), acs("eu-west-1")])
    );
    let out = s.run(&["idp", "check"], &s.config(true), &creds);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_credentials_file_is_named_and_never_echoed() {
    let s = Setup::new().await;
    let creds = s.write(
        "creds.json",
        &json!({"client_secret": ENTRA_CLIENT_SECRET}).to_string(),
    );
    let out = s.run(&["idp", "check"], &s.config(false), &creds);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("creds.json") && all.contains("\"client_id\" is missing"),
        "{all}"
    );
    assert!(
        !all.contains(ENTRA_CLIENT_SECRET),
        "the secret leaked: {all}"
    );
    // A wrong secret: refused by the token endpoint, reported, not echoed.
    let creds = s.write(
        "wrong.json",
        &json!({"client_id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "client_secret": "SECRET-MARKER-wrong"}).to_string(),
    );
    let out = s.run(&["idp", "check"], &s.config(false), &creds);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("invalid_client"), "{all}");
    assert!(!all.contains("SECRET-MARKER"), "the secret leaked: {all}");
}
