//! The demo's organization on local servers: moto (KMS, EventBridge, SQS, DynamoDB, S3,
//! Secrets Manager), the Identity Center emulator, a Slack receiver and a local Microsoft
//! Graph holding the Identity Center SAML application in Entra ID. An instance with
//! primary us-east-1 and additional eu-west-1 and ap-southeast-2, a multi-Region key with a
//! replica in each, the model policy on each, and EventBridge wired with infra/'s patterns
//! (each rule's target replaced by a queue the demo reads, since moto cannot invoke a local
//! Lambda).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::demo::slack::SlackReceiver;
use crate::idc_emulator::{EmulatorOptions, RunningEmulator, SeedInstance, start};
use crate::idp_server::IdpServer;
use crate::idp_server::fixtures::{entra_idp_tables, entra_secret_json, entra_world};
use crate::key_fixture::{KeyFixture, PRIMARY, fixture_config_text};
use crate::local_aws::{Moto, create_secret, unique};

/// The instance's Regions, primary first.
pub const REGIONS: [&str; 3] = [PRIMARY, "eu-west-1", "ap-southeast-2"];
/// The SAML tenant in the ACS URLs.
pub const TENANT: &str = "a1b2c3d4-demo";

/// One EventBridge route of infra/ (scripts/event-patterns.py).
#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    /// The rule's logical id in the template.
    pub rule: String,
    /// `default` or `findings`.
    pub bus: String,
    /// The function binary it targets.
    pub function: String,
    /// The event pattern.
    pub pattern: Value,
}

/// A route wired on moto: the queue standing in for the function.
#[derive(Debug, Clone)]
pub struct WiredRoute {
    /// The route.
    pub route: Route,
    /// The queue the rule delivers to.
    pub queue_url: String,
}

/// Everything the demo runs against.
#[derive(Debug)]
pub struct World {
    /// The local AWS server.
    pub moto: Moto,
    /// The key, its replicas, the state table, the findings bus and a queue with every
    /// finding published (for the timeline).
    pub fixture: KeyFixture,
    /// The Identity Center emulator.
    pub emulator: RunningEmulator,
    /// Slack.
    pub slack: SlackReceiver,
    /// The evidence bucket.
    pub bucket: String,
    /// The webhook secret's name.
    pub secret_id: String,
    /// Entra ID (a local Graph) with the SAML application, which knows every Region's ACS URL.
    pub idp: IdpServer,
    /// The configuration the guards run with (TOML).
    pub config_text: String,
    /// infra/'s routes, wired.
    pub routes: Vec<WiredRoute>,
}

fn debug<E: std::fmt::Debug>(what: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("{what}: {e:?}")
}

impl World {
    /// Seeds the organization for `mode` and wires `routes`.
    pub async fn seed(mode: &str, routes: Vec<Route>) -> Result<World, String> {
        let moto = Moto::start()?;
        let mut fixture = KeyFixture::new(&moto, &REGIONS, mode).await?;
        // The guards' configuration: the fixture's, with the tenant and region-guard's actions.
        let config_text = format!(
            "saml_tenant_id = \"{TENANT}\"\n{}create_missing_replicas = true\nrepair_replica_policies = true\n",
            fixture_config_text(&fixture.config.key_arn.to_string(), &REGIONS, mode)
        );
        let emulator = start(EmulatorOptions {
            add_delay: Duration::from_millis(200),
            kms_endpoint: None,
        })
        .await
        .map_err(|e| format!("Identity Center emulator: {e}"))?;
        emulator.try_seed(&SeedInstance::of(&fixture.config, &REGIONS))?;
        let slack = SlackReceiver::start()
            .await
            .map_err(|e| format!("Slack receiver: {e}"))?;
        let (idp, config_text) = idp_application(&fixture, config_text).await?;
        fixture.config = idc_guard_core::config::Config::from_toml(&config_text, "demo config")
            .map_err(|e| e.to_string())?;
        let secret_id = unique("idc-guard/slack-webhook");
        create_secret(
            &fixture.sdk,
            &fixture.url,
            &secret_id,
            &json!({"webhook_url": slack.url}).to_string(),
        )
        .await?;
        let bucket = unique("idc-guard-evidence");
        s3(&fixture)
            .create_bucket()
            .bucket(&bucket)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .map_err(debug("s3:CreateBucket"))?;
        let mut wired = Vec::new();
        for route in routes {
            let (queue_url, queue_arn) = fixture.queue(&unique(&route.function)).await?;
            let bus = (route.bus == "findings").then_some(fixture.bus.as_str());
            fixture
                .route(bus, &unique(&route.rule), &route.pattern, &queue_arn)
                .await?;
            wired.push(WiredRoute { route, queue_url });
        }
        Ok(World {
            moto,
            fixture,
            emulator,
            slack,
            bucket,
            secret_id,
            idp,
            config_text,
            routes: wired,
        })
    }

    /// The environment every function gets: local endpoints, test credentials, us-east-1.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_REGION", PRIMARY.to_owned()),
            ("AWS_DEFAULT_REGION", PRIMARY.to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("AWS_ENDPOINT_URL", self.moto.url.clone()),
            ("AWS_ENDPOINT_URL_SSO_ADMIN", self.emulator.url.clone()),
            ("AWS_MAX_ATTEMPTS", "2".to_owned()),
        ]
    }

    /// Every evidence object key written so far.
    pub async fn evidence_keys(&self) -> Result<Vec<String>, String> {
        let out = s3(&self.fixture)
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix("evidence/")
            .send()
            .await
            .map_err(debug("s3:ListObjectsV2"))?;
        Ok(out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect())
    }

    /// An Identity Center client on the emulator in `region`.
    pub fn sso(&self, region: &str) -> aws_sdk_ssoadmin::Client {
        aws_sdk_ssoadmin::Client::from_conf(
            aws_sdk_ssoadmin::config::Builder::from(&self.fixture.sdk)
                .region(aws_sdk_ssoadmin::config::Region::new(region.to_owned()))
                .endpoint_url(&self.emulator.url)
                .build(),
        )
    }

    /// Puts a CloudTrail-shaped EventBridge event on the default bus, as CloudTrail would;
    /// moto routes it by infra/'s patterns.
    pub async fn deliver(&self, event: &Value) -> Result<(), String> {
        let text = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default();
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(text("source"))
            .detail_type(text("detail-type"))
            .detail(event.get("detail").cloned().unwrap_or_default().to_string())
            .build();
        let out = self
            .fixture
            .events()
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(debug("events:PutEvents"))?;
        if out.failed_entry_count() > 0 {
            return Err(format!("events:PutEvents refused the event: {out:?}"));
        }
        Ok(())
    }
}

/// The local Graph with the Identity Center SAML application (every Region's ACS URL), its
/// credentials in Secrets Manager, and `config_text` with `[idp.application]` pointing there.
async fn idp_application(
    fixture: &KeyFixture,
    config_text: String,
) -> Result<(IdpServer, String), String> {
    let reply_urls: Vec<String> = REGIONS.iter().map(|r| acs_url(r)).collect();
    let idp = IdpServer::start(entra_world(&reply_urls))
        .await
        .map_err(|e| format!("local Graph: {e}"))?;
    let secret = unique("idc-guard/idp-credentials");
    create_secret(&fixture.sdk, &fixture.url, &secret, &entra_secret_json()).await?;
    // Before [remediation], which stays the last table: the benchmarks append to it.
    let tables = entra_idp_tables(&idp.url, true, &secret);
    let text = config_text.replacen("[remediation]", &format!("{tables}[remediation]"), 1);
    if !text.contains("[idp.application]") {
        return Err("the demo configuration has no [remediation] table".to_owned());
    }
    Ok((idp, text))
}

/// The IPv4 ACS URL of `region` for the demo's tenant.
pub fn acs_url(region: &str) -> String {
    format!("https://{region}.signin.aws/platform/saml/acs/{TENANT}")
}

/// The Reply URLs the Entra application has now.
pub fn reply_urls(world: &World) -> Vec<String> {
    world
        .idp
        .world()
        .applications
        .first()
        .and_then(|a| a.pointer("/web/redirectUris"))
        .and_then(Value::as_array)
        .map(|urls| {
            urls.iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn s3(fixture: &KeyFixture) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&fixture.sdk)
            .endpoint_url(&fixture.url)
            .force_path_style(true)
            .build(),
    )
}
