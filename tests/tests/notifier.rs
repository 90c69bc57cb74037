#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The notifier over real HTTP: a local Slack stand-in (axum) for the webhook's answers, and
//! moto for the webhook secret (Secrets Manager) and the claims (DynamoDB).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use idc_guard_core::aws::DynamoClaims;
use idc_guard_core::aws::secrets::SecretsManagerSecrets;
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::{Finding, Remediation, Severity, Status, Trigger};
use idc_guard_core::notify::MinSeverity;
use idc_guard_core::ports::memory::MemoryClaims;
use idc_guard_core::ports::{PortError, SecretSource};
use idc_guard_tests::local_aws::{Moto, create_secret, free_port, sdk_config, unique};
use notifier::{NotifyError, ReqwestWebhook, RetryPolicy, Settings};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";
/// The secret part of a webhook URL: must never appear in an error.
const TOKEN: &str = "XyZsEcReTtOkEn0123456789";
const PATH: &str = "/services/T0001/B0001/XyZsEcReTtOkEn0123456789";

/// How the Slack stand-in answers one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16, Option<&'static str>),
    /// Never answers.
    Hang,
}

#[derive(Debug, Default)]
struct Slack {
    script: Mutex<VecDeque<Answer>>,
    received: Mutex<Vec<(Instant, Value)>>,
}

impl Slack {
    fn received(&self) -> Vec<(Instant, Value)> {
        self.received.lock().unwrap().clone()
    }
}

/// A Slack incoming-webhook stand-in on loopback: answers from `script`, then `200 ok`.
async fn slack(script: Vec<Answer>) -> (String, Arc<Slack>) {
    let state = Arc::new(Slack {
        script: Mutex::new(script.into()),
        received: Mutex::default(),
    });
    let s = state.clone();
    let app = Router::new().route(
        PATH,
        post(move |body: Bytes| {
            let s = s.clone();
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                s.received.lock().unwrap().push((Instant::now(), body));
                let answer = s
                    .script
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or(Answer::Status(200, None));
                match answer {
                    Answer::Hang => std::future::pending::<Response>().await,
                    Answer::Status(code, retry_after) => {
                        let status = StatusCode::from_u16(code).unwrap();
                        let text = if code == 200 {
                            "ok"
                        } else {
                            "error_from_slack"
                        };
                        match retry_after {
                            Some(after) => (status, [("retry-after", after)], text).into_response(),
                            None => (status, text).into_response(),
                        }
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{PATH}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

/// A secret source holding one value.
#[derive(Debug)]
struct Fixed(String);

impl SecretSource for Fixed {
    async fn secret_string(&self, _id: &str) -> Result<String, PortError> {
        Ok(self.0.clone())
    }
}

fn settings(table: &str) -> Settings {
    Settings {
        secret_id: "idc-guard/slack-webhook".into(),
        table_name: table.into(),
        min_severity: MinSeverity::default(),
        evidence_bucket: None,
    }
}

/// Short waits, so the tests stay fast; the bounds are what is tested.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_wait: Duration::from_millis(50),
        max_wait: Duration::from_secs(2),
    }
}

fn webhook(timeout_ms: u64) -> ReqwestWebhook {
    ReqwestWebhook::new(Duration::from_millis(timeout_ms)).unwrap()
}

fn finding(fingerprint: &str) -> Finding {
    Finding {
        check: idc_guard_core::finding::CheckId::KpExternalAccess,
        status: Status::Fail,
        severity: Severity::Critical,
        region: REGION.into(),
        resource: "arn:aws:kms:us-east-1:111122223333:key/mrk-0123".into(),
        message: "principal 999999999999 outside the organization can Decrypt".into(),
        statement: Some("Public (index 5)".into()),
        fingerprint: fingerprint.into(),
        trigger: Some(Trigger {
            event_id: "ev-123".into(),
            event_name: "PutKeyPolicy".into(),
            actor: "arn:aws:iam::111122223333:user/mallory".into(),
            time: "2026-11-27T10:00:00Z".into(),
        }),
        remediation: Some(Remediation {
            mode: idc_guard_core::config::Mode::Remediate,
            actions: vec!["kms:PutKeyPolicy in us-east-1: remove Public (index 5)".into()],
            outcome: idc_guard_core::finding::RemediationOutcome::Applied,
            previous_policy: None,
        }),
        resolves: None,
    }
}

fn event(f: &Finding) -> Value {
    json!({
        "version": "0", "id": "eb-1", "source": "idc-guard", "detail-type": "IdC Guard Finding",
        "account": "111122223333", "region": REGION, "time": "2026-11-27T10:00:05Z",
        "resources": [f.resource], "detail": f,
    })
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-27T10:00:10Z").unwrap()
}

type LocalNotifier = notifier::Notifier<ReqwestWebhook, MemoryClaims, Fixed>;

fn local(url: &str, timeout_ms: u64) -> LocalNotifier {
    let mut n = notifier::Notifier::new(
        webhook(timeout_ms),
        MemoryClaims::default(),
        Fixed(url.to_owned()),
        settings("unused"),
    );
    n.retry = fast_retries();
    n
}

fn assert_no_secret(err: &NotifyError) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(TOKEN), "the webhook URL leaked: {text}");
}

#[tokio::test]
async fn a_200_is_one_post_of_the_block_kit_message() {
    let (url, slack) = slack(vec![]).await;
    let n = local(&url, 2000);
    let r = n.handle(&event(&finding("fp-200")), now()).await.unwrap();
    assert_eq!(r["result"], "posted");
    let received = slack.received();
    assert_eq!(received.len(), 1);
    let body = &received[0].1;
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("[CRITICAL] KP-EXTERNAL-ACCESS failed in us-east-1")
    );
    assert_eq!(body["blocks"][0]["type"], "header");
    assert!(
        body.to_string()
            .contains("evidence/2026/11/27/fp-200-ev-123.json")
    );
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let (url, slack) = slack(vec![Answer::Status(429, Some("1"))]).await;
    let n = local(&url, 2000);
    let r = n.handle(&event(&finding("fp-429")), now()).await.unwrap();
    assert_eq!(r["result"], "posted");
    let received = slack.received();
    assert_eq!(received.len(), 2);
    let waited = received[1].0 - received[0].0;
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
}

#[tokio::test]
async fn a_500_is_retried() {
    let (url, slack) = slack(vec![Answer::Status(500, None)]).await;
    let n = local(&url, 2000);
    let r = n.handle(&event(&finding("fp-500")), now()).await.unwrap();
    assert_eq!(r["result"], "posted");
    assert_eq!(slack.received().len(), 2);
}

#[tokio::test]
async fn persistent_5xx_fails_after_the_bounded_attempts() {
    let (url, slack) = slack(vec![Answer::Status(503, None); 3]).await;
    let n = local(&url, 2000);
    let f = finding("fp-503");
    let err = n.handle(&event(&f), now()).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::PostFailed { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("HTTP 503"), "{err}");
    assert_no_secret(&err);
    assert_eq!(slack.received().len(), 3);
    // The claim was released: the retry of the invocation posts.
    assert_eq!(
        n.handle(&event(&f), now()).await.unwrap()["result"],
        "posted"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_after_bounded_retries() {
    let (url, slack) = slack(vec![Answer::Hang; 3]).await;
    let n = local(&url, 300);
    let start = Instant::now();
    let err = n
        .handle(&event(&finding("fp-hang")), now())
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(err, NotifyError::PostFailed { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_no_secret(&err);
    assert_eq!(slack.received().len(), 3);
    // 3 attempts of 300 ms and waits of 50 + 100 ms; generous slack for a busy machine.
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn a_receiver_that_is_down_fails_without_showing_the_url() {
    let port = free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}{PATH}");
    let n = local(&url, 1000);
    let err = n
        .handle(&event(&finding("fp-down")), now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::PostFailed { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("connection failed"), "{err}");
    assert_no_secret(&err);
}

#[tokio::test]
async fn a_refused_post_fails_at_once_without_showing_the_url() {
    let (url, slack) = slack(vec![Answer::Status(404, None)]).await;
    let n = local(&url, 1000);
    let err = n
        .handle(&event(&finding("fp-404")), now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::Refused { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("error_from_slack"), "{err}");
    assert_no_secret(&err);
    assert_eq!(slack.received().len(), 1);
}

async fn create_table(sdk: &aws_config::SdkConfig, url: &str, table: &str) {
    let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
        .endpoint_url(url)
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn on_moto_the_secret_is_read_and_a_duplicate_delivery_posts_once() {
    let moto = Moto::start().unwrap();
    let sdk = sdk_config(REGION).await;
    let (url, slack) = slack(vec![]).await;
    let table = unique("notifier-state");
    create_table(&sdk, &moto.url, &table).await;
    let secret_id = unique("idc-guard/slack");
    create_secret(
        &sdk,
        &moto.url,
        &secret_id,
        &json!({"webhook_url": url}).to_string(),
    )
    .await
    .unwrap();

    let mut s = settings(&table);
    s.secret_id = secret_id;
    s.evidence_bucket = Some("evidence-bucket".into());
    let mut n = notifier::Notifier::new(
        webhook(2000),
        DynamoClaims::new(&sdk, Some(moto.url.clone()), &table),
        SecretsManagerSecrets::new(&sdk, Some(moto.url.clone())),
        s,
    );
    n.retry = fast_retries();

    let f = finding(&unique("fp"));
    assert_eq!(
        n.handle(&event(&f), now()).await.unwrap()["result"],
        "posted"
    );
    // EventBridge delivers at least once: the same event again, a little later.
    let again = now().plus(30);
    assert_eq!(
        n.handle(&event(&f), again).await.unwrap()["result"],
        "duplicate"
    );
    let received = slack.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].1.to_string().contains(&format!(
        "s3://evidence-bucket/evidence/2026/11/27/{}-ev-123.json",
        f.fingerprint
    )));
    // The claim is the notifier's own: `claim#slack:<fingerprint>`, settled.
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&moto.url)
            .build(),
    );
    let item = ddb
        .get_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("claim#slack:{}", f.fingerprint)),
        )
        .send()
        .await
        .unwrap();
    let state = item.item().unwrap()["state"].as_s().unwrap().clone();
    assert_eq!(state, "settled");
}

#[tokio::test]
async fn on_moto_a_missing_secret_fails_naming_the_secret() {
    let moto = Moto::start().unwrap();
    let sdk = sdk_config(REGION).await;
    let (_url, slack) = slack(vec![]).await;
    let missing = unique("idc-guard/missing");
    let mut s = settings("unused");
    s.secret_id = missing.clone();
    let n = notifier::Notifier::new(
        webhook(1000),
        MemoryClaims::default(),
        SecretsManagerSecrets::new(&sdk, Some(moto.url.clone())),
        s,
    );
    let err = n
        .handle(&event(&finding("fp-nosecret")), now())
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Secret { .. }), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(
        err.to_string().contains("ResourceNotFoundException"),
        "{err}"
    );
    assert!(slack.received().is_empty());
}
