//! idp-guard and the drift sweeper with the IdP application: the real SDK to moto (DynamoDB,
//! EventBridge, Secrets Manager) and the Identity Center emulator (ListRegions), the adapters'
//! real HTTP client to the local Graph and Okta servers. One test per scenario.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
#![allow(clippy::too_many_lines)]

use std::time::Duration;

use idc_guard_core::aws::Endpoints;
use idc_guard_core::config::{Config, IdentitySource, IdpApplication, Mode};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::{Finding, RemediationOutcome, Severity, Status};
use idc_guard_lambda::GuardSettings;
use idc_guard_tests::demo::scenarios::sso_event_in;
use idc_guard_tests::idc_emulator::{EmulatorOptions, RunningEmulator, SeedInstance, start};
use idc_guard_tests::idp_server::IdpServer;
use idc_guard_tests::idp_server::fixtures::{
    ENTRA_CLIENT_SECRET, SAML_TENANT, acs, entra_application, entra_secret_json, entra_world,
    okta_application, okta_key_json, okta_world,
};
use idc_guard_tests::key_fixture::{KeyFixture, PRIMARY};
use idc_guard_tests::local_aws::{MOTO_ACCOUNT, Moto, create_secret, unique};
use serde_json::{Value, json};

const EU: &str = "eu-west-1";
const T0: &str = "2026-11-27T10:00:00Z";

fn now(offset: i64) -> Timestamp {
    Timestamp::parse(T0).unwrap().plus(offset)
}

struct World {
    _moto: Moto,
    f: KeyFixture,
    emu: RunningEmulator,
    idp: IdpServer,
    /// The credentials secret's name (moto is shared between tests).
    secret: String,
}

/// moto, the emulator with an instance in `regions`, the IdP server with `idp`, and the
/// credentials `secret` in Secrets Manager under the application's secret name.
async fn world(regions: &[&str], idp: idc_guard_tests::idp_server::IdpWorld) -> World {
    let moto = Moto::start().unwrap();
    let f = KeyFixture::new(&moto, &[PRIMARY], "notify").await.unwrap();
    let emu = start(EmulatorOptions {
        add_delay: Duration::from_millis(50),
        kms_endpoint: None,
    })
    .await
    .unwrap();
    emu.try_seed(&SeedInstance::of(&f.config, regions)).unwrap();
    let idp = IdpServer::start(idp).await.unwrap();
    World {
        _moto: moto,
        f,
        emu,
        idp,
        secret: unique("idc-guard/idp"),
    }
}

impl World {
    async fn put_secret(&self, value: &str) {
        let name = &self.secret;
        create_secret(&self.f.sdk, &self.f.url, name, value)
            .await
            .unwrap();
    }

    fn config(&self, application: IdpApplication, mode: Mode, allow_update: bool) -> Config {
        let mut c = self.f.config.clone();
        c.saml_tenant_id = Some(SAML_TENANT.to_owned());
        c.identity_source = IdentitySource::ExternalIdp;
        c.remediation.mode = mode;
        c.idp.allow_update = allow_update;
        let mut application = application;
        application.credentials_secret.clone_from(&self.secret);
        c.idp.application = Some(application);
        c
    }

    /// idp-guard for the Entra application, its credentials `secret` stored first.
    async fn entra_guard(
        &self,
        secret: &str,
        mode: Mode,
        allow_update: bool,
    ) -> idp_guard::AwsIdpGuard {
        self.put_secret(secret).await;
        let application = entra_application(&self.idp.url).unwrap();
        self.guard(self.config(application, mode, allow_update))
            .await
    }

    /// idp-guard for the Okta application, its credentials `secret` stored first.
    async fn okta_guard(
        &self,
        secret: &str,
        mode: Mode,
        allow_update: bool,
    ) -> idp_guard::AwsIdpGuard {
        self.put_secret(secret).await;
        let application = okta_application(&self.idp.url).unwrap();
        self.guard(self.config(application, mode, allow_update))
            .await
    }

    fn endpoints(&self) -> Endpoints {
        Endpoints {
            sso_admin: Some(self.emu.url.clone()),
            ..Endpoints::all(&self.f.url)
        }
    }

    fn settings(&self, config: Config) -> GuardSettings {
        GuardSettings {
            config,
            bus_name: self.f.bus.clone(),
            table_name: self.f.table.clone(),
            state_region: None,
        }
    }

    async fn guard(&self, config: Config) -> idp_guard::AwsIdpGuard {
        idp_guard::aws_idp_guard(&self.f.sdk, self.settings(config), &self.endpoints())
            .await
            .unwrap()
    }

    fn region_event(&self, name: &str, region: &str, id: &str) -> Value {
        sso_event_in(
            PRIMARY,
            name,
            "aws.sso",
            "sso.amazonaws.com",
            json!({"instanceArn": self.f.config.instance_arn, "regionName": region}),
            id,
            T0,
        )
    }

    fn idp_event(&self, id: &str) -> Value {
        sso_event_in(
            PRIMARY,
            "UpdateExternalIdPConfigurationForDirectory",
            "aws.sso-directory",
            "sso-directory.amazonaws.com",
            json!({}),
            id,
            T0,
        )
    }
}

fn findings(out: &Value) -> Vec<Finding> {
    assert_eq!(out["result"], "handled", "{out:#}");
    serde_json::from_value(out["findings"].clone()).unwrap()
}

fn acs_in<'a>(findings: &'a [Finding], region: &str) -> Vec<&'a Finding> {
    findings
        .iter()
        .filter(|f| f.check == "IDP-ACS-URLS" && f.region == region && f.resolves.is_none())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_added_is_checked_once_and_the_missing_url_reported_with_the_patch() {
    let w = world(&[PRIMARY, EU], entra_world(&[acs(PRIMARY)])).await;
    let guard = w
        .entra_guard(&entra_secret_json(), Mode::Notify, false)
        .await;
    let event = w.region_event("AddRegion", EU, "ev-add-1");
    let out = idp_guard::handle(&guard, &event, now(5)).await.unwrap();
    let found = findings(&out);
    let eu = acs_in(&found, EU);
    assert_eq!(eu.len(), 1, "{found:#?}");
    assert_eq!(
        (eu[0].status, eu[0].severity),
        (Status::Fail, Severity::High)
    );
    assert!(
        eu[0].message.contains(&format!("Add {}", acs(EU))),
        "{}",
        eu[0].message
    );
    assert!(
        eu[0]
            .message
            .contains("Microsoft Entra ID app \"AWS IAM Identity Center\"")
    );
    assert!(
        eu[0].message.contains("would send: PATCH /applications/"),
        "{}",
        eu[0].message
    );
    assert_eq!(acs_in(&found, PRIMARY)[0].status, Status::Pass);
    assert!(w.idp.world().writes().is_empty());
    // The same AddRegion again (a redelivery): one check per Region added.
    let again = idp_guard::handle(&guard, &event, now(50)).await.unwrap();
    assert_eq!(again["result"], "duplicate", "{again:#}");
    // region-guard's function is the owner; the dispatcher also names idp-guard.
    let record = idc_guard_core::intake::envelope::CloudTrailEvent::try_from(&event).unwrap();
    assert_eq!(
        idc_guard_core::intake::Owner::every(&record),
        vec![
            idc_guard_core::intake::Owner::Region,
            idc_guard_core::intake::Owner::Idp
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remediate_adds_the_url_verifies_it_and_resolves_the_failure() {
    let w = world(&[PRIMARY, EU], entra_world(&[acs(PRIMARY)])).await;
    let guard = w
        .entra_guard(&entra_secret_json(), Mode::Remediate, true)
        .await;
    let out = idp_guard::handle(&guard, &w.region_event("AddRegion", EU, "ev-add-2"), now(5))
        .await
        .unwrap();
    let found = findings(&out);
    let eu = acs_in(&found, EU);
    assert_eq!(eu[0].status, Status::Fail);
    let r = eu[0].remediation.as_ref().unwrap();
    assert_eq!(r.outcome, RemediationOutcome::Applied, "{}", eu[0].message);
    assert!(
        r.actions[0].starts_with("PATCH /applications/"),
        "{:?}",
        r.actions
    );
    // Added at the end, nothing removed; the service principal follows.
    let stored = w.idp.world().applications[0]["web"]["redirectUris"].clone();
    assert_eq!(stored, json!([acs(PRIMARY), acs(EU)]));
    // The re-read resolved it in the same invocation.
    let resolution = found
        .iter()
        .find(|f| f.resolves.is_some())
        .expect("a resolution");
    assert_eq!(
        (resolution.region.as_str(), resolution.status),
        (EU, Status::Pass)
    );
    assert_eq!(
        resolution.resolves.as_deref(),
        Some(eu[0].fingerprint.as_str())
    );
    assert_eq!(w.idp.world().writes().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_urls_a_wrong_audience_and_throttling() {
    let mut idp = entra_world(&[acs(PRIMARY), acs(EU), acs("ap-south-1")]);
    idp.applications[0]["identifierUris"] = json!(["https://idp-typo.example/saml"]);
    idp.throttle = 1;
    let w = world(&[PRIMARY, EU], idp).await;
    let guard = w
        .entra_guard(&entra_secret_json(), Mode::Notify, false)
        .await;
    let out = idp_guard::handle(&guard, &w.idp_event("ev-idp-1"), now(5))
        .await
        .unwrap();
    let found = findings(&out);
    let primary = acs_in(&found, PRIMARY);
    let stale = primary
        .iter()
        .find(|f| f.status == Status::Warn)
        .expect("stale");
    assert_eq!(stale.severity, Severity::Low);
    assert!(
        stale.message.contains(&acs("ap-south-1")),
        "{}",
        stale.message
    );
    let audience = primary
        .iter()
        .find(|f| f.message.contains("entity ID"))
        .expect("audience");
    assert_eq!(
        (audience.status, audience.severity),
        (Status::Fail, Severity::High)
    );
    assert!(audience.message.contains("https://idp-typo.example/saml"));
    // Throttled once, then read: both Regions judged.
    assert_eq!(acs_in(&found, EU).len(), 1);
    assert_eq!(w.idp.world().throttle, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_cannot_verify_and_the_secret_never_shows() {
    let mut idp = entra_world(&[acs(PRIMARY)]);
    idp.graph_permissions.clear();
    let w = world(&[PRIMARY, EU], idp).await;
    let guard = w
        .entra_guard(&entra_secret_json(), Mode::Notify, false)
        .await;
    let out = idp_guard::handle(&guard, &w.idp_event("ev-idp-2"), now(5))
        .await
        .unwrap();
    let found = findings(&out);
    let f = found
        .iter()
        .find(|f| f.check == "IDP-ACS-URLS")
        .expect("IDP-ACS-URLS");
    assert_eq!(f.status, Status::Error);
    assert!(
        f.message
            .contains("cannot verify the IdP application: missing permission Application.Read.All"),
        "{}",
        f.message
    );
    // A refused secret: no finding, log line or Debug output carries it.
    let w2 = world(&[PRIMARY], entra_world(&[acs(PRIMARY)])).await;
    w2.idp.world().entra_client_secret = Some("another".into());
    let guard = w2
        .entra_guard(&entra_secret_json(), Mode::Notify, false)
        .await;
    let out = idp_guard::handle(&guard, &w2.idp_event("ev-idp-3"), now(5))
        .await
        .unwrap();
    let text = format!("{out} {guard:?}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(
        !text.contains(ENTRA_CLIENT_SECRET),
        "the secret leaked: {text}"
    );
    // A secret with a missing field: named, not shown; the rest of the guard still runs.
    let w3 = world(&[PRIMARY], entra_world(&[acs(PRIMARY)])).await;
    let guard = w3
        .entra_guard(
            &json!({"client_secret": ENTRA_CLIENT_SECRET}).to_string(),
            Mode::Notify,
            false,
        )
        .await;
    let out = idp_guard::handle(&guard, &w3.idp_event("ev-idp-4"), now(5))
        .await
        .unwrap();
    let text = format!("{out} {guard:?}");
    assert!(text.contains("\\\"client_id\\\" is missing"), "{text}");
    assert!(
        !text.contains(ENTRA_CLIENT_SECRET),
        "the secret leaked: {text}"
    );
    assert!(findings(&out).iter().any(|f| f.check == "IDP-SOURCE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_a_concurrent_edit_conflicts_and_is_kept() {
    let mut idp = okta_world(&acs(PRIMARY), &[]);
    idp.etags = true;
    idp.edit_before_write = Some(acs("ap-south-1"));
    // The other writer's URL lands in a list the app already allows.
    idp.okta_apps[0]["settings"]["signOn"]["allowMultipleAcsEndpoints"] = json!(true);
    let w = world(&[PRIMARY, EU], idp).await;
    let guard = w.okta_guard(&okta_key_json(), Mode::Remediate, true).await;
    let out = idp_guard::handle(&guard, &w.region_event("AddRegion", EU, "ev-add-3"), now(5))
        .await
        .unwrap();
    let found = findings(&out);
    let eu = acs_in(&found, EU);
    assert_eq!(
        eu[0].remediation.as_ref().unwrap().outcome,
        RemediationOutcome::Applied,
        "{}",
        eu[0].message
    );
    let stored = w.idp.world().okta_apps[0]["settings"]["signOn"]["acsEndpoints"].clone();
    let urls: Vec<&str> = stored
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, vec![acs("ap-south-1").as_str(), acs(EU).as_str()]);
    // One 412, then the rebuilt PUT.
    assert_eq!(w.idp.world().writes().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_reads_the_application_and_writes_nothing() {
    let w = world(&[PRIMARY, EU], okta_world(&acs(PRIMARY), &[])).await;
    w.put_secret(&okta_key_json()).await;
    let config = w.config(okta_application(&w.idp.url).unwrap(), Mode::Remediate, true);
    let sweeper = drift_sweeper::aws_sweeper(&w.f.sdk, w.settings(config), &w.endpoints())
        .await
        .unwrap();
    let out = drift_sweeper::handle(&sweeper, &json!({"id": unique("sweep")}), now(60))
        .await
        .unwrap();
    let published: Vec<Finding> = serde_json::from_value(out["published"].clone()).unwrap();
    let eu = acs_in(&published, EU);
    assert_eq!(eu.len(), 1, "{published:#?}");
    assert_eq!(eu[0].status, Status::Fail);
    assert!(
        eu[0].message.contains("would send: PUT /api/v1/apps/"),
        "{}",
        eu[0].message
    );
    assert!(w.idp.world().writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_added_by_idc_guards_own_role_is_reported_never_written() {
    let w = world(&[PRIMARY, EU], entra_world(&[acs(PRIMARY)])).await;
    let guard = w
        .entra_guard(&entra_secret_json(), Mode::Remediate, true)
        .await;
    let mut event = w.region_event("AddRegion", EU, "ev-add-own");
    let role = idc_guard_tests::key_fixture::GUARD_ROLE
        .rsplit('/')
        .next()
        .unwrap();
    event["detail"]["userIdentity"]["arn"] = json!(format!(
        "arn:aws:sts::{MOTO_ACCOUNT}:assumed-role/{role}/idc-guard"
    ));
    let out = idp_guard::handle(&guard, &event, now(5)).await.unwrap();
    let found = findings(&out);
    let eu = acs_in(&found, EU);
    assert_eq!(eu[0].status, Status::Fail);
    assert_eq!(
        eu[0].remediation.as_ref().unwrap().outcome,
        RemediationOutcome::Skipped
    );
    assert!(
        eu[0].message.contains("loop protection"),
        "{}",
        eu[0].message
    );
    assert!(w.idp.world().writes().is_empty());
}
