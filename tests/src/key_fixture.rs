//! A guarded Identity Center key on a local AWS server: a multi-Region key with a replica
//! per Region and the model policy on each, the state table, the findings bus, and an SQS
//! queue the bus routes findings to (so tests read what the guard published).

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use idc_guard_core::aws::Endpoints;
use idc_guard_core::config::Config;
use idc_guard_core::finding::Finding;
use idc_guard_core::model::render::render_policy;
use key_policy_guard::{AwsKeyGuard, Settings, aws_guard};
use serde_json::{Value, json};

use crate::local_aws::{MOTO_ACCOUNT, Moto, sdk_config, unique};

/// The primary Region of every fixture.
pub const PRIMARY: &str = "us-east-1";
/// The guard's own role in fixtures.
pub const GUARD_ROLE: &str = "arn:aws:iam::123456789012:role/idc-guard-remediation";

/// The guarded key and the guard's resources on moto.
#[derive(Debug)]
pub struct KeyFixture {
    /// The configuration (key ARN from moto).
    pub config: Config,
    /// The key id.
    pub key_id: String,
    /// The DynamoDB table.
    pub table: String,
    /// The findings bus.
    pub bus: String,
    /// The queue the bus routes findings to.
    pub queue_url: String,
    /// The SDK configuration (primary Region).
    pub sdk: SdkConfig,
    /// The server.
    pub url: String,
}

fn fail(what: &str) -> impl Fn(String) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn debug<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

impl KeyFixture {
    /// Creates the key in `regions` (primary first) with the model policy, for `mode`.
    pub async fn new(moto: &Moto, regions: &[&str], mode: &str) -> Result<KeyFixture, String> {
        let sdk = sdk_config(PRIMARY).await;
        let kms = kms(&sdk, &moto.url, PRIMARY);
        let created = kms
            .create_key()
            .multi_region(true)
            .description("idc-guard test key")
            .send()
            .await
            .map_err(debug)
            .map_err(fail("kms:CreateKey"))?;
        let metadata = created.key_metadata().ok_or("kms:CreateKey: no metadata")?;
        let key_id = metadata.key_id().to_owned();
        let key_arn = metadata.arn().ok_or("kms:CreateKey: no arn")?.to_owned();
        let config = fixture_config(&key_arn, regions, mode)?;
        let policy = render_policy(&config);
        let fixture = KeyFixture {
            config,
            key_id: key_id.clone(),
            table: unique("idc-guard-state"),
            bus: unique("idc-guard"),
            queue_url: String::new(),
            sdk,
            url: moto.url.clone(),
        };
        fixture.put_policy(PRIMARY, &policy).await?;
        for region in regions.iter().filter(|r| **r != PRIMARY) {
            kms.replicate_key()
                .key_id(&key_id)
                .replica_region(*region)
                .policy(&policy)
                .send()
                .await
                .map_err(debug)
                .map_err(fail("kms:ReplicateKey"))?;
            // moto copies the primary's policy; AWS uses the one given. Set it explicitly.
            fixture.put_policy(region, &policy).await?;
        }
        fixture.create_table().await?;
        let queue_url = fixture.route_findings_to_queue().await?;
        Ok(KeyFixture {
            queue_url,
            ..fixture
        })
    }

    /// A KMS client in `region`.
    pub fn kms(&self, region: &str) -> aws_sdk_kms::Client {
        kms(&self.sdk, &self.url, region)
    }

    /// The guard over the real adapters, pointed at the local server.
    pub fn guard(&self) -> AwsKeyGuard {
        self.guard_with(self.config.clone())
    }

    /// The guard with another configuration (e.g. another mode).
    pub fn guard_with(&self, config: Config) -> AwsKeyGuard {
        self.guard_at(config, &self.url, &self.sdk)
    }

    /// The guard reaching every service through `url` (a fault proxy) with `sdk` (its
    /// retries and timeouts).
    pub fn guard_via(&self, url: &str, sdk: &SdkConfig) -> AwsKeyGuard {
        self.guard_at(self.config.clone(), url, sdk)
    }

    /// The guard with `config`, every service (but sso-admin) at `url`.
    fn guard_at(&self, config: Config, url: &str, sdk: &SdkConfig) -> AwsKeyGuard {
        let settings = Settings {
            config,
            bus_name: self.bus.clone(),
            table_name: self.table.clone(),
            state_region: None,
        };
        let endpoints = Endpoints {
            sso_admin: None,
            ..Endpoints::all(url)
        };
        aws_guard(sdk, settings, &endpoints)
    }

    /// The live policy in `region`.
    pub async fn policy(&self, region: &str) -> Result<String, String> {
        let out = self
            .kms(region)
            .get_key_policy()
            .key_id(&self.key_id)
            .policy_name("default")
            .send()
            .await
            .map_err(debug)
            .map_err(fail("kms:GetKeyPolicy"))?;
        Ok(out.policy().unwrap_or_default().to_owned())
    }

    /// Replaces the policy in `region` (the drift under test).
    pub async fn put_policy(&self, region: &str, policy: &str) -> Result<(), String> {
        self.kms(region)
            .put_key_policy()
            .key_id(&self.key_id)
            .policy_name("default")
            .policy(policy)
            .send()
            .await
            .map_err(debug)
            .map_err(fail("kms:PutKeyPolicy"))?;
        Ok(())
    }

    /// Edits the policy document in `region` with `edit`.
    pub async fn edit_policy(
        &self,
        region: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Result<(), String> {
        let mut doc: Value =
            serde_json::from_str(&self.policy(region).await?).map_err(|e| e.to_string())?;
        edit(&mut doc);
        self.put_policy(region, &doc.to_string()).await
    }

    /// The key state in `region`.
    pub async fn state(&self, region: &str) -> Result<String, String> {
        let out = self
            .kms(region)
            .describe_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map_err(debug)
            .map_err(fail("kms:DescribeKey"))?;
        Ok(out
            .key_metadata()
            .and_then(|m| m.key_state())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default())
    }

    /// A CloudTrail-shaped EventBridge event for `name` on the key in `region`.
    pub fn event(&self, name: &str, region: &str, actor_role: &str, time: &str, id: &str) -> Value {
        let arn = self.config.key_arn_in(region);
        json!({
            "version": "0", "id": format!("eb-{id}"), "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.kms", "account": MOTO_ACCOUNT, "time": time, "region": region,
            "resources": [arn],
            "detail": {
                "eventVersion": "1.11", "eventTime": time, "eventSource": "kms.amazonaws.com",
                "eventName": name, "awsRegion": region, "eventID": id,
                "userIdentity": {"type": "AssumedRole",
                    "arn": format!("arn:aws:sts::{MOTO_ACCOUNT}:assumed-role/{actor_role}/session"),
                    "accountId": MOTO_ACCOUNT,
                    "sessionContext": {"sessionIssuer": {"type": "Role",
                        "arn": format!("arn:aws:iam::{MOTO_ACCOUNT}:role/{actor_role}")}}},
                "requestParameters": {"keyId": self.key_id},
                "responseElements": null,
                "resources": [{"accountId": MOTO_ACCOUNT, "type": "AWS::KMS::Key", "ARN": arn}],
                "readOnly": false, "managementEvent": true, "eventCategory": "Management",
                "recipientAccountId": MOTO_ACCOUNT
            }
        })
    }

    /// Every finding the guard published so far (read from the queue, then deleted).
    pub async fn published(&self) -> Result<Vec<Finding>, String> {
        let mut findings = Vec::new();
        for _ in 0..20 {
            let events = self.take(&self.queue_url).await?;
            if events.is_empty() {
                break;
            }
            for event in events {
                findings.push(finding_of(&event)?);
            }
        }
        Ok(findings)
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::config::Builder::from(&self.sdk)
            .endpoint_url(&self.url)
            .build();
        aws_sdk_sqs::Client::from_conf(conf)
    }

    async fn create_table(&self) -> Result<(), String> {
        let conf = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .endpoint_url(&self.url)
            .build();
        let ddb = aws_sdk_dynamodb::Client::from_conf(conf);
        let pk = |b: KeySchemaElement| b;
        ddb.create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(debug)?,
            )
            .key_schema(pk(KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .map_err(debug)?))
            .send()
            .await
            .map_err(debug)
            .map_err(fail("dynamodb:CreateTable"))?;
        Ok(())
    }

    async fn route_findings_to_queue(&self) -> Result<String, String> {
        let (queue_url, queue_arn) = self.queue(&unique("findings")).await?;
        self.events()
            .create_event_bus()
            .name(&self.bus)
            .send()
            .await
            .map_err(debug)
            .map_err(fail("events:CreateEventBus"))?;
        // The same pattern infra/ uses for the notifier and the evidence collector.
        let pattern = json!({"source": ["idc-guard"], "detail-type": ["IdC Guard Finding"]});
        self.route(Some(&self.bus), "findings", &pattern, &queue_arn)
            .await?;
        Ok(queue_url)
    }

    /// An EventBridge client on the local server (primary Region).
    pub fn events(&self) -> aws_sdk_eventbridge::Client {
        let conf = aws_sdk_eventbridge::config::Builder::from(&self.sdk)
            .endpoint_url(&self.url)
            .build();
        aws_sdk_eventbridge::Client::from_conf(conf)
    }

    /// A new SQS queue `name`: its URL and ARN.
    pub async fn queue(&self, name: &str) -> Result<(String, String), String> {
        let sqs = self.sqs();
        let queue = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(debug)
            .map_err(fail("sqs:CreateQueue"))?;
        let queue_url = queue
            .queue_url()
            .ok_or("sqs:CreateQueue: no url")?
            .to_owned();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(debug)
            .map_err(fail("sqs:GetQueueAttributes"))?;
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .ok_or("no queue ARN")?
            .clone();
        Ok((queue_url, queue_arn))
    }

    /// A rule `rule` with `pattern` on `bus` (the default bus when `None`) targeting the
    /// queue `queue_arn`.
    pub async fn route(
        &self,
        bus: Option<&str>,
        rule: &str,
        pattern: &Value,
        queue_arn: &str,
    ) -> Result<(), String> {
        let events = self.events();
        events
            .put_rule()
            .name(rule)
            .set_event_bus_name(bus.map(str::to_owned))
            .event_pattern(pattern.to_string())
            .send()
            .await
            .map_err(debug)
            .map_err(fail("events:PutRule"))?;
        events
            .put_targets()
            .rule(rule)
            .set_event_bus_name(bus.map(str::to_owned))
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .map_err(debug)?,
            )
            .send()
            .await
            .map_err(debug)
            .map_err(fail("events:PutTargets"))?;
        Ok(())
    }

    /// Takes up to 10 messages from `queue_url` (deleting them), as JSON.
    pub async fn take(&self, queue_url: &str) -> Result<Vec<Value>, String> {
        let sqs = self.sqs();
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(debug)
            .map_err(fail("sqs:ReceiveMessage"))?;
        let mut bodies = Vec::new();
        for m in out.messages() {
            bodies.push(
                serde_json::from_str(m.body().unwrap_or_default())
                    .map_err(|e| format!("queue message is not JSON: {e}"))?,
            );
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(debug)
                    .map_err(fail("sqs:DeleteMessage"))?;
            }
        }
        Ok(bodies)
    }
}

/// The finding in a finding event from the bus (an error for any other event).
pub fn finding_of(event: &Value) -> Result<Finding, String> {
    let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default();
    if field("source") != "idc-guard" || field("detail-type") != "IdC Guard Finding" {
        return Err(format!("unexpected event on the bus: {event}"));
    }
    serde_json::from_value(event.get("detail").cloned().unwrap_or_default())
        .map_err(|e| format!("finding detail: {e}"))
}

fn kms(sdk: &SdkConfig, url: &str, region: &str) -> aws_sdk_kms::Client {
    let conf = aws_sdk_kms::config::Builder::from(sdk)
        .region(aws_sdk_kms::config::Region::new(region.to_owned()))
        .endpoint_url(url)
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

/// The design's example configuration for a key created on moto.
pub fn fixture_config(key_arn: &str, regions: &[&str], mode: &str) -> Result<Config, String> {
    Config::from_toml(&fixture_config_text(key_arn, regions, mode), "fixture")
        .map_err(|e| e.to_string())
}

/// [`fixture_config`] as TOML text (for the CLI).
pub fn fixture_config_text(key_arn: &str, regions: &[&str], mode: &str) -> String {
    let overrides = serde_json::json!({
        "management_account_id": MOTO_ACCOUNT,
        "primary_region": PRIMARY,
        "regions": regions,
        "key_arn": key_arn,
    });
    crate::guard_config_text(&overrides, mode, GUARD_ROLE, "")
        .unwrap_or_else(|e| unreachable!("the fixture configuration is valid TOML: {e}"))
}
