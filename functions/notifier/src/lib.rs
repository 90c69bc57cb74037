//! notifier: posts each `IdC Guard Finding` from the idc-guard bus to Slack (Block Kit, through
//! an incoming webhook), once per finding and change. The message is rendered by
//! [`idc_guard_core::notify`]; this crate reads the event, applies the severity threshold,
//! claims the finding, reads the webhook URL (Secrets Manager, cached), and posts with bounded
//! retries. See `docs/notifier.md`.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use idc_guard_core::aws::secrets::SecretsManagerSecrets;
use idc_guard_core::aws::{DynamoClaims, SdkConfig};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::{Finding, Status};
use idc_guard_core::notify::{MessageContext, slack_message};
use idc_guard_core::ports::{
    Claim, ClaimOutcome, ClaimRecord, ClaimStore, PortError, SecretSource,
};
use lambda_runtime::Diagnostic;
use serde::Deserialize;
use serde_json::{Value, json};

mod settings;
mod webhook;

pub use settings::{
    ENV_EVIDENCE_BUCKET, ENV_MIN_SEVERITY, ENV_SECRET_ID, ENV_TABLE, Settings, SettingsError,
};
pub use webhook::{
    PostOutcome, ReqwestWebhook, RetryPolicy, SlackWebhook, WebhookError, WebhookUrl,
};

pub use idc_guard_core::finding::{FINDING_DETAIL_TYPE, FINDING_SOURCE};
/// Claims of this function are `slack:<fingerprint>`, apart from the guards' claims.
pub const CLAIM_PREFIX: &str = "slack:";

/// Why an invocation failed; every variant is worth a retry (Lambda's, then the DLQ).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The webhook could not be reached or kept failing.
    #[error("slack post failed after {attempts} attempt(s): {reason}")]
    PostFailed {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The webhook refused the message (revoked or misconfigured webhook, bad payload).
    #[error("slack refused the post (HTTP {status}): {reason}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// What Slack said.
        reason: String,
    },
    /// The webhook URL could not be read.
    #[error("webhook url from secret {secret_id}: {reason}")]
    Secret {
        /// The secret's id (not its value).
        secret_id: String,
        /// What went wrong.
        reason: String,
    },
    /// The claim store failed transiently.
    #[error("claim store: {0}")]
    Claims(PortError),
    /// Another invocation is posting this finding (or crashed while doing so).
    #[error("another invocation holds the slack claim on finding {fingerprint}; retry later")]
    ClaimHeld {
        /// The finding's fingerprint.
        fingerprint: String,
    },
}

impl From<NotifyError> for Diagnostic {
    fn from(e: NotifyError) -> Diagnostic {
        let error_type = match &e {
            NotifyError::PostFailed { .. } => "SlackPostFailed",
            NotifyError::Refused { .. } => "SlackRefused",
            NotifyError::Secret { .. } => "WebhookSecretError",
            NotifyError::Claims(_) => "TransientAwsError",
            NotifyError::ClaimHeld { .. } => "ClaimHeld",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// The notifier over its ports.
#[derive(Debug)]
pub struct Notifier<W, C, S> {
    /// Posts to Slack.
    pub webhook: W,
    /// Idempotency.
    pub claims: C,
    /// Reads the webhook URL.
    pub secrets: S,
    /// Settings.
    pub settings: Settings,
    /// Retries within one invocation.
    pub retry: RetryPolicy,
    url: Mutex<Option<WebhookUrl>>,
}

/// The notifier over AWS and reqwest.
pub type AwsNotifier = Notifier<ReqwestWebhook, DynamoClaims, SecretsManagerSecrets>;

/// Builds the notifier over AWS (endpoints from the SDK's own variables).
pub fn aws_notifier(sdk: &SdkConfig, settings: Settings) -> Result<AwsNotifier, WebhookError> {
    Ok(Notifier::new(
        ReqwestWebhook::new(Duration::from_secs(5))?,
        DynamoClaims::new(sdk, None, &settings.table_name),
        SecretsManagerSecrets::new(sdk, None),
        settings,
    ))
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Posted to Slack.
    Posted,
    /// Not a finding event (another source or detail-type).
    Skipped(String),
    /// A finding event that cannot be read; acknowledged, never retried.
    Rejected(String),
    /// Below `IDC_GUARD_MIN_SEVERITY`.
    BelowThreshold,
    /// Already posted for this change.
    Duplicate,
    /// A pass that closes nothing: only a resolution (a pass naming the failure it ends)
    /// is news.
    Quiet,
}

impl Outcome {
    /// As the invocation's JSON result.
    pub fn to_json(&self, fingerprint: Option<&str>) -> Value {
        let mut v = match self {
            Outcome::Posted => json!({"result": "posted"}),
            Outcome::Skipped(reason) => json!({"result": "skipped", "reason": reason}),
            Outcome::Rejected(error) => json!({"result": "rejected", "error": error}),
            Outcome::BelowThreshold => json!({"result": "below-threshold"}),
            Outcome::Duplicate => json!({"result": "duplicate"}),
            Outcome::Quiet => json!({"result": "quiet"}),
        };
        if let (Some(fp), Some(o)) = (fingerprint, v.as_object_mut()) {
            o.insert("fingerprint".to_owned(), json!(fp));
        }
        v
    }
}

/// Why a finding event cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not a JSON object.
    #[error("the event is not a JSON object")]
    NotAnObject,
    /// No `detail`.
    #[error("the event has no detail (the finding)")]
    NoDetail,
    /// A `detail` that is not a finding; serde's message names the field.
    #[error("detail is not a finding: {0}")]
    NotAFinding(#[from] serde_json::Error),
}

/// Reads the finding out of an EventBridge event: `Ok(None)` for events that are not findings.
pub fn parse_event(event: &Value) -> Result<Option<Finding>, EventError> {
    let Some(envelope) = event.as_object() else {
        return Err(EventError::NotAnObject);
    };
    let field = |name: &str| envelope.get(name).and_then(Value::as_str);
    if let Some(source) = field("source")
        && source != FINDING_SOURCE
    {
        return Ok(None);
    }
    if let Some(kind) = field("detail-type")
        && kind != FINDING_DETAIL_TYPE
    {
        return Ok(None);
    }
    let detail = envelope.get("detail").ok_or(EventError::NoDetail)?;
    Ok(Some(Finding::deserialize(detail)?))
}

impl<W: SlackWebhook, C: ClaimStore, S: SecretSource> Notifier<W, C, S> {
    /// A notifier with the default retry policy; the URL is read on first use.
    pub fn new(webhook: W, claims: C, secrets: S, settings: Settings) -> Notifier<W, C, S> {
        Notifier {
            webhook,
            claims,
            secrets,
            settings,
            retry: RetryPolicy::default(),
            url: Mutex::new(None),
        }
    }

    /// The webhook URL: cached after the first read (cold start), read again only after the
    /// webhook refused a post as unknown or revoked.
    pub async fn webhook_url(&self) -> Result<WebhookUrl, NotifyError> {
        if let Some(url) = self
            .url
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(url);
        }
        let secret_id = &self.settings.secret_id;
        let value =
            self.secrets
                .secret_string(secret_id)
                .await
                .map_err(|e| NotifyError::Secret {
                    secret_id: secret_id.clone(),
                    reason: e.to_string(),
                })?;
        let url = WebhookUrl::from_secret(&value).map_err(|e| NotifyError::Secret {
            secret_id: secret_id.clone(),
            reason: e.to_string(),
        })?;
        *self.url.lock().unwrap_or_else(PoisonError::into_inner) = Some(url.clone());
        Ok(url)
    }

    fn forget_url(&self) {
        *self.url.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Posts with the retry policy.
    async fn deliver(&self, payload: &Value) -> Result<(), NotifyError> {
        let url = self.webhook_url().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.webhook.post(&url, payload).await {
                PostOutcome::Delivered => return Ok(()),
                PostOutcome::Refused { status, reason } => {
                    if matches!(status, 403 | 404 | 410) {
                        // Revoked or rotated: read the secret again next time.
                        self.forget_url();
                    }
                    return Err(NotifyError::Refused { status, reason });
                }
                PostOutcome::Retry { after, reason } => match self.retry.wait(attempt, after) {
                    Some(wait) => {
                        tracing::warn!(attempt, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), %reason, "slack post failed; retrying");
                        tokio::time::sleep(wait).await;
                    }
                    None => {
                        return Err(NotifyError::PostFailed {
                            attempts: attempt,
                            reason,
                        });
                    }
                },
            }
        }
    }

    /// Handles one event at `now`. `Ok` acknowledges it (posted, duplicate, skipped, below
    /// the threshold, or malformed); `Err` means a retry can help.
    pub async fn handle(&self, event: &Value, now: Timestamp) -> Result<Value, NotifyError> {
        let event_id = event.get("id").and_then(Value::as_str).unwrap_or("(no id)");
        let finding = match parse_event(event) {
            Ok(Some(f)) => f,
            Ok(None) => {
                tracing::info!(%event_id, "not an idc-guard finding; skipped");
                return Ok(Outcome::Skipped("not an idc-guard finding".to_owned()).to_json(None));
            }
            Err(error) => {
                tracing::error!(%event_id, %error, "malformed finding event acknowledged without a post");
                return Ok(Outcome::Rejected(error.to_string()).to_json(None));
            }
        };
        let fp = finding.fingerprint.as_str();
        let outcome = self.notify(&finding, event, now).await;
        match &outcome {
            Ok(o) => {
                tracing::info!(%event_id, check = %finding.check, fingerprint = %fp, outcome = ?o, "finding handled")
            }
            Err(e) => {
                tracing::warn!(%event_id, check = %finding.check, fingerprint = %fp, error = %e, "finding not posted; the invocation will be retried")
            }
        }
        outcome.map(|o| o.to_json(Some(fp)))
    }

    /// Posts `finding` (carried by the EventBridge event `carrier`) once per change.
    pub async fn notify(
        &self,
        finding: &Finding,
        carrier: &Value,
        now: Timestamp,
    ) -> Result<Outcome, NotifyError> {
        if finding.status == Status::Pass && finding.resolves.is_none() {
            return Ok(Outcome::Quiet);
        }
        if !self.settings.min_severity.admits(finding.severity) {
            return Ok(Outcome::BelowThreshold);
        }
        let key = format!("{CLAIM_PREFIX}{}", finding.fingerprint);
        let change_time = finding
            .trigger
            .as_ref()
            .and_then(|t| Timestamp::parse(&t.time))
            .unwrap_or(now);
        let claim = Claim::new(&key, change_time, now);
        let held = match self.claims.claim(&claim).await {
            Ok(ClaimOutcome::Granted) => true,
            Ok(ClaimOutcome::Duplicate {
                by: ClaimRecord::Settled { .. },
            }) => return Ok(Outcome::Duplicate),
            Ok(ClaimOutcome::Duplicate {
                by: ClaimRecord::Held { .. },
            }) => {
                return Err(NotifyError::ClaimHeld {
                    fingerprint: finding.fingerprint.clone(),
                });
            }
            Err(e) if e.retryable() => return Err(NotifyError::Claims(e)),
            Err(e) => {
                // A broken table (access denied, no table) must not silence Slack: post
                // without idempotency (a possible repeat beats a lost message).
                tracing::error!(error = %e, "claim store failed; posting without idempotency");
                false
            }
        };
        let context = MessageContext {
            evidence_bucket: self.settings.evidence_bucket.clone(),
            event_id: carrier
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            event_time: carrier
                .get("time")
                .and_then(Value::as_str)
                .and_then(Timestamp::parse),
        };
        let payload = slack_message(finding, &context);
        match self.deliver(&payload).await {
            Ok(()) => {
                if held && let Err(e) = self.claims.settle(&key, now).await {
                    tracing::warn!(error = %e, "could not settle the slack claim; it lapses with its lease");
                }
                Ok(Outcome::Posted)
            }
            Err(e) => {
                if held && let Err(re) = self.claims.release(&key).await {
                    tracing::warn!(error = %re, "could not release the slack claim; it lapses with its lease");
                }
                Err(e)
            }
        }
    }
}

/// Now, from the system clock.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use idc_guard_core::finding::{Remediation, Severity, Status, Trigger};
    use idc_guard_core::notify::MinSeverity;
    use idc_guard_core::ports::PortErrorKind;
    use idc_guard_core::ports::memory::MemoryClaims;
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const URL: &str = "https://hooks.slack.com/services/T000/B000/SECRETSECRETSECRET";

    /// Answers from a script (then `Delivered`), recording every payload.
    #[derive(Debug, Default)]
    struct FakeWebhook {
        script: Mutex<VecDeque<PostOutcome>>,
        posts: Mutex<Vec<(String, Value)>>,
    }

    impl FakeWebhook {
        fn answering(outcomes: Vec<PostOutcome>) -> FakeWebhook {
            FakeWebhook {
                script: Mutex::new(outcomes.into()),
                posts: Mutex::default(),
            }
        }
        fn posts(&self) -> Vec<(String, Value)> {
            self.posts.lock().unwrap().clone()
        }
    }

    impl SlackWebhook for FakeWebhook {
        async fn post(&self, url: &WebhookUrl, payload: &Value) -> PostOutcome {
            self.posts
                .lock()
                .unwrap()
                .push((url.expose().to_owned(), payload.clone()));
            self.script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(PostOutcome::Delivered)
        }
    }

    #[derive(Debug)]
    struct FakeSecrets {
        value: Result<String, PortErrorKind>,
        reads: AtomicUsize,
    }

    impl FakeSecrets {
        fn with(value: &str) -> FakeSecrets {
            FakeSecrets {
                value: Ok(value.to_owned()),
                reads: AtomicUsize::new(0),
            }
        }
    }

    impl SecretSource for FakeSecrets {
        async fn secret_string(&self, id: &str) -> Result<String, PortError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.value.clone().map_err(|kind| {
                PortError::new(
                    "secretsmanager:GetSecretValue",
                    "us-east-1",
                    kind,
                    format!("{id}: injected"),
                )
            })
        }
    }

    fn settings() -> Settings {
        Settings {
            secret_id: "idc-guard/slack".into(),
            table_name: "t".into(),
            min_severity: MinSeverity::default(),
            evidence_bucket: Some("evidence-bucket".into()),
        }
    }

    fn notifier(
        webhook: FakeWebhook,
        secrets: FakeSecrets,
    ) -> Notifier<FakeWebhook, MemoryClaims, FakeSecrets> {
        let mut n = Notifier::new(webhook, MemoryClaims::default(), secrets, settings());
        n.retry = RetryPolicy {
            attempts: 3,
            base_wait: Duration::from_millis(1),
            max_wait: Duration::from_millis(50),
        };
        n
    }

    fn finding(time: &str) -> Finding {
        Finding {
            check: idc_guard_core::finding::CheckId::KpAdmin,
            status: Status::Fail,
            severity: Severity::Critical,
            region: "us-east-1".into(),
            resource: "arn:aws:kms:us-east-1:111122223333:key/mrk-1".into(),
            message: "the management account cannot administer the key".into(),
            statement: None,
            fingerprint: "fp1".into(),
            trigger: Some(Trigger {
                event_id: "ev-1".into(),
                event_name: "PutKeyPolicy".into(),
                actor: "arn:aws:iam::111122223333:user/bob".into(),
                time: time.into(),
            }),
            remediation: Some(Remediation {
                mode: idc_guard_core::config::Mode::Notify,
                actions: vec![
                    "kms:PutKeyPolicy in us-east-1: add model statement KeyAdmins".into(),
                ],
                outcome: idc_guard_core::finding::RemediationOutcome::Skipped,
                previous_policy: None,
            }),
            resolves: None,
        }
    }

    fn event(f: &Finding) -> Value {
        json!({"id": "eb-1", "source": "idc-guard", "detail-type": "IdC Guard Finding", "detail": f})
    }

    const T0: &str = "2026-11-27T10:00:00Z";
    fn at(secs: i64) -> Timestamp {
        Timestamp::parse(T0).unwrap().plus(secs)
    }

    #[tokio::test]
    async fn posts_once_per_change_and_again_for_a_later_change() {
        let n = notifier(FakeWebhook::default(), FakeSecrets::with(URL));
        let f = finding(T0);
        let r = n.handle(&event(&f), at(5)).await.unwrap();
        assert_eq!(r["result"], "posted");
        // The same delivery again, and the same change seen later: one message.
        assert_eq!(
            n.handle(&event(&f), at(6)).await.unwrap()["result"],
            "duplicate"
        );
        assert_eq!(
            n.handle(&event(&f), at(600)).await.unwrap()["result"],
            "duplicate"
        );
        assert_eq!(n.webhook.posts().len(), 1);
        // A later change with the same fingerprint: a new message.
        let later = finding("2026-11-27T11:00:00Z");
        assert_eq!(
            n.handle(&event(&later), at(3601)).await.unwrap()["result"],
            "posted"
        );
        assert_eq!(n.webhook.posts().len(), 2);
        // The URL was read once and cached; the payload is the rendered message.
        assert_eq!(n.secrets.reads.load(Ordering::SeqCst), 1);
        let (url, payload) = &n.webhook.posts()[0];
        assert_eq!(url, URL);
        assert!(
            payload["text"]
                .as_str()
                .unwrap()
                .starts_with("[CRITICAL] KP-ADMIN failed")
        );
        assert!(
            payload
                .to_string()
                .contains("s3://evidence-bucket/evidence/2026/11/27/fp1-ev-1.json")
        );
    }

    #[tokio::test]
    async fn the_slack_claim_does_not_collide_with_the_guards_claim() {
        let n = notifier(FakeWebhook::default(), FakeSecrets::with(URL));
        // The guard already claimed and settled the finding itself.
        let guard_claim = Claim {
            fingerprint: "fp1".into(),
            change_time: at(0),
            now: at(1),
            lease_until: at(100),
            expires: at(1000),
        };
        assert_eq!(
            n.claims.claim(&guard_claim).await.unwrap(),
            ClaimOutcome::Granted
        );
        n.claims.settle("fp1", at(2)).await.unwrap();
        assert_eq!(
            n.handle(&event(&finding(T0)), at(5)).await.unwrap()["result"],
            "posted"
        );
    }

    #[tokio::test]
    async fn retries_transient_failures_then_posts() {
        let webhook = FakeWebhook::answering(vec![
            PostOutcome::Retry {
                after: Some(Duration::ZERO),
                reason: "HTTP 429: rate_limited".into(),
            },
            PostOutcome::Retry {
                after: None,
                reason: "HTTP 500: oops".into(),
            },
        ]);
        let n = notifier(webhook, FakeSecrets::with(URL));
        assert_eq!(
            n.handle(&event(&finding(T0)), at(5)).await.unwrap()["result"],
            "posted"
        );
        assert_eq!(n.webhook.posts().len(), 3);
    }

    #[tokio::test]
    async fn exhausted_retries_fail_and_release_the_claim() {
        let failing = || PostOutcome::Retry {
            after: None,
            reason: "HTTP 503: down".into(),
        };
        let webhook = FakeWebhook::answering(vec![failing(), failing(), failing()]);
        let n = notifier(webhook, FakeSecrets::with(URL));
        let f = finding(T0);
        let err = n.handle(&event(&f), at(5)).await.unwrap_err();
        assert!(
            matches!(err, NotifyError::PostFailed { attempts: 3, .. }),
            "{err}"
        );
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert_eq!(n.webhook.posts().len(), 3);
        // Released: Lambda's retry of the same event posts.
        assert_eq!(
            n.handle(&event(&f), at(70)).await.unwrap()["result"],
            "posted"
        );
        assert_eq!(n.webhook.posts().len(), 4);
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_cap_fails_at_once() {
        let webhook = FakeWebhook::answering(vec![PostOutcome::Retry {
            after: Some(Duration::from_secs(30)),
            reason: "HTTP 429: rate_limited".into(),
        }]);
        let n = notifier(webhook, FakeSecrets::with(URL));
        let err = n.handle(&event(&finding(T0)), at(5)).await.unwrap_err();
        assert!(
            matches!(err, NotifyError::PostFailed { attempts: 1, .. }),
            "{err}"
        );
        assert_eq!(n.webhook.posts().len(), 1);
    }

    #[tokio::test]
    async fn a_revoked_webhook_fails_and_the_secret_is_read_again() {
        let webhook = FakeWebhook::answering(vec![PostOutcome::Refused {
            status: 404,
            reason: "HTTP 404: no_service".into(),
        }]);
        let n = notifier(webhook, FakeSecrets::with(URL));
        let f = finding(T0);
        let err = n.handle(&event(&f), at(5)).await.unwrap_err();
        assert!(
            matches!(err, NotifyError::Refused { status: 404, .. }),
            "{err}"
        );
        assert_eq!(
            n.webhook.posts().len(),
            1,
            "a refusal is not retried in the invocation"
        );
        assert_eq!(
            n.handle(&event(&f), at(70)).await.unwrap()["result"],
            "posted"
        );
        assert_eq!(n.secrets.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn findings_below_the_threshold_are_acknowledged_without_a_post() {
        let mut n = notifier(FakeWebhook::default(), FakeSecrets::with(URL));
        n.settings.min_severity = MinSeverity::parse("high").unwrap();
        let mut f = finding(T0);
        f.severity = Severity::Medium;
        assert_eq!(
            n.handle(&event(&f), at(5)).await.unwrap()["result"],
            "below-threshold"
        );
        f.severity = Severity::High;
        assert_eq!(
            n.handle(&event(&f), at(5)).await.unwrap()["result"],
            "posted"
        );
        assert_eq!(n.webhook.posts().len(), 1);
        // The default threshold (low) drops info.
        n.settings.min_severity = MinSeverity::default();
        f.severity = Severity::Info;
        f.fingerprint = "fp-info".into();
        assert_eq!(
            n.handle(&event(&f), at(5)).await.unwrap()["result"],
            "below-threshold"
        );
    }

    #[tokio::test]
    async fn a_resolution_posts_a_resolved_message_once_and_a_plain_pass_nothing() {
        let n = notifier(FakeWebhook::default(), FakeSecrets::with(URL));
        let mut f = finding(T0);
        f.status = Status::Pass;
        f.fingerprint = "fp-pass".into();
        assert_eq!(
            n.handle(&event(&f), at(5)).await.unwrap()["result"],
            "quiet"
        );
        assert!(n.webhook.posts().is_empty());
        f.fingerprint = "fp-resolved".into();
        f.resolves = Some("fp1".into());
        for _ in 0..2 {
            n.handle(&event(&f), at(5)).await.unwrap();
        }
        let posts = n.webhook.posts();
        assert_eq!(posts.len(), 1, "a redelivered resolution is posted once");
        let text = posts[0].1["text"].as_str().unwrap().to_owned();
        assert!(text.starts_with("Resolved: KP-ADMIN"), "{text}");
    }

    #[tokio::test]
    async fn malformed_and_foreign_events_are_acknowledged_without_a_post() {
        let n = notifier(FakeWebhook::default(), FakeSecrets::with(URL));
        let foreign = json!({"source": "aws.kms", "detail-type": "AWS API Call via CloudTrail", "detail": {}});
        assert_eq!(
            n.handle(&foreign, at(5)).await.unwrap()["result"],
            "skipped"
        );
        for bad in [
            json!("a string"),
            json!({"source": "idc-guard", "detail-type": "IdC Guard Finding"}),
            json!({"source": "idc-guard", "detail-type": "IdC Guard Finding", "detail": {"check": "X"}}),
        ] {
            let r = n.handle(&bad, at(5)).await.unwrap();
            assert_eq!(r["result"], "rejected", "{bad}");
            assert!(!r["error"].as_str().unwrap().is_empty());
        }
        assert!(n.webhook.posts().is_empty());
        assert_eq!(n.secrets.reads.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_claim_held_elsewhere_is_retried_not_acknowledged() {
        let n = notifier(FakeWebhook::default(), FakeSecrets::with(URL));
        let other = Claim {
            fingerprint: "slack:fp1".into(),
            change_time: at(0),
            now: at(1),
            lease_until: at(121),
            expires: at(1000),
        };
        n.claims.claim(&other).await.unwrap();
        let err = n.handle(&event(&finding(T0)), at(5)).await.unwrap_err();
        assert!(matches!(err, NotifyError::ClaimHeld { .. }), "{err}");
        assert!(n.webhook.posts().is_empty());
        // After the lease, the finding is taken over.
        assert_eq!(
            n.handle(&event(&finding(T0)), at(200)).await.unwrap()["result"],
            "posted"
        );
    }

    #[tokio::test]
    async fn claim_store_failures_retry_or_post_without_idempotency() {
        let n = notifier(FakeWebhook::default(), FakeSecrets::with(URL));
        n.claims.fail_with(PortErrorKind::Transient);
        let err = n.handle(&event(&finding(T0)), at(5)).await.unwrap_err();
        assert!(matches!(err, NotifyError::Claims(_)), "{err}");
        assert!(n.webhook.posts().is_empty());
        n.claims.fail_with(PortErrorKind::AccessDenied);
        assert_eq!(
            n.handle(&event(&finding(T0)), at(5)).await.unwrap()["result"],
            "posted"
        );
    }

    #[tokio::test]
    async fn secret_failures_fail_the_invocation_without_showing_the_value() {
        let n = notifier(
            FakeWebhook::default(),
            FakeSecrets {
                value: Err(PortErrorKind::AccessDenied),
                reads: AtomicUsize::new(0),
            },
        );
        let err = n.handle(&event(&finding(T0)), at(5)).await.unwrap_err();
        assert!(err.to_string().contains("idc-guard/slack"), "{err}");
        let n = notifier(
            FakeWebhook::default(),
            FakeSecrets::with("not a url SECRET"),
        );
        let err = n.handle(&event(&finding(T0)), at(5)).await.unwrap_err();
        assert!(matches!(err, NotifyError::Secret { .. }), "{err}");
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(n.webhook.posts().is_empty());
    }

    #[test]
    fn the_webhook_url_is_read_from_a_string_or_json_and_never_shown() {
        let url = WebhookUrl::from_secret(&format!(" {URL}\n")).unwrap();
        assert_eq!(url.expose(), URL);
        let json = WebhookUrl::from_secret(&json!({"webhook_url": URL}).to_string()).unwrap();
        assert_eq!(json, url);
        assert_eq!(format!("{url:?}"), "WebhookUrl(<redacted>)");
        assert!(WebhookUrl::from_secret(&json!({"token": URL}).to_string()).is_err());
        let err = WebhookUrl::from_secret("ftp://x/SECRET").unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }

    #[test]
    fn retry_waits_honour_retry_after_and_stay_bounded() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(p.wait(1, None), Some(Duration::from_secs(1)));
        assert_eq!(p.wait(2, None), Some(Duration::from_secs(2)));
        assert_eq!(p.wait(3, None), None, "three attempts in all");
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(11))),
            None,
            "over the cap: give up"
        );
        let long = RetryPolicy { attempts: 40, ..p };
        assert_eq!(long.wait(30, None), Some(p.max_wait));
        // Worst case stays under a 60 s Lambda timeout with 5 s attempts.
        let worst: Duration = (1..p.attempts)
            .filter_map(|a| p.wait(a, Some(p.max_wait)))
            .sum();
        assert!(worst + Duration::from_secs(5) * p.attempts < Duration::from_secs(60));
    }

    #[test]
    fn settings_name_the_bad_variable() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let err = Settings::from_env(env(&[(ENV_TABLE, "t")])).unwrap_err();
        assert_eq!(err.variable, ENV_SECRET_ID);
        let err = Settings::from_env(env(&[(ENV_SECRET_ID, "s")])).unwrap_err();
        assert_eq!(err.variable, ENV_TABLE);
        let err = Settings::from_env(env(&[
            (ENV_SECRET_ID, "s"),
            (ENV_TABLE, "t"),
            (ENV_MIN_SEVERITY, "loud"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("IDC_GUARD_MIN_SEVERITY: \"loud\""),
            "{err}"
        );
        let ok = Settings::from_env(env(&[
            (ENV_SECRET_ID, "s"),
            (ENV_TABLE, "t"),
            (ENV_EVIDENCE_BUCKET, ""),
        ]))
        .unwrap();
        assert_eq!(ok.min_severity, MinSeverity::default());
        assert_eq!(ok.evidence_bucket, None);
    }
}
