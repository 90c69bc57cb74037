//! Posting to a Slack incoming webhook: the URL as a credential, bounded retries that honour
//! `Retry-After`, and errors that never contain the URL.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde_json::Value;

/// Why the webhook cannot be used. Never carries the URL (a credential).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A JSON secret without a string `webhook_url` (or `url`).
    #[error("the secret is a JSON object without a string \"webhook_url\"")]
    NoUrlInSecret,
    /// The secret is not an http(s) URL.
    #[error("the secret is not an http(s) URL (value not shown)")]
    NotAUrl,
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Client(String),
}

/// The webhook URL. A credential: its `Debug` is redacted and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Reads a secret value: the URL itself, or a JSON object with `webhook_url` (or `url`).
    /// The error never repeats the value.
    pub fn from_secret(value: &str) -> Result<WebhookUrl, WebhookError> {
        let value = value.trim();
        let url = match serde_json::from_str::<Value>(value) {
            Ok(Value::Object(o)) => o
                .get("webhook_url")
                .or_else(|| o.get("url"))
                .and_then(Value::as_str)
                .map(str::trim)
                .ok_or(WebhookError::NoUrlInSecret)?
                .to_owned(),
            _ => value.to_owned(),
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(WebhookError::NotAUrl);
        }
        Ok(WebhookUrl(url))
    }

    /// The URL, for the HTTP client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

/// The answer to one post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// 2xx.
    Delivered,
    /// 429, 5xx, a timeout or a connection failure: another attempt may succeed.
    Retry {
        /// `Retry-After`, when the answer had one.
        after: Option<Duration>,
        /// What happened (never the URL).
        reason: String,
    },
    /// Any other answer: the same post would fail again (bad payload, revoked webhook).
    Refused {
        /// The HTTP status.
        status: u16,
        /// What Slack said (its short error code), cut short.
        reason: String,
    },
}

/// Posts one message to a Slack incoming webhook: one attempt, no retries.
pub trait SlackWebhook: Send + Sync {
    /// Posts `payload` (JSON) to `url`.
    fn post(&self, url: &WebhookUrl, payload: &Value) -> impl Future<Output = PostOutcome> + Send;
}

/// [`SlackWebhook`] over reqwest (rustls), with a per-attempt timeout.
#[derive(Debug, Clone)]
pub struct ReqwestWebhook {
    client: reqwest::Client,
}

impl ReqwestWebhook {
    /// A client whose every attempt gives up after `timeout`.
    pub fn new(timeout: Duration) -> Result<ReqwestWebhook, WebhookError> {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect would carry the payload elsewhere; Slack does not redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map(|client| ReqwestWebhook { client })
            .map_err(|e| WebhookError::Client(e.without_url().to_string()))
    }
}

/// Describes a reqwest error without the URL (which is the secret).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        format!("request failed: {}", e.without_url())
    }
}

/// `Retry-After` in seconds (Slack sends seconds; an HTTP date is ignored).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl SlackWebhook for ReqwestWebhook {
    async fn post(&self, url: &WebhookUrl, payload: &Value) -> PostOutcome {
        let response = match self.client.post(url.expose()).json(payload).send().await {
            Ok(r) => r,
            Err(e) => {
                return PostOutcome::Retry {
                    after: None,
                    reason: describe(e),
                };
            }
        };
        let status = response.status();
        if status.is_success() {
            return PostOutcome::Delivered;
        }
        let after = retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        let said: String = body.trim().chars().take(200).collect();
        let reason = format!("HTTP {}: {}", status.as_u16(), said);
        if status.as_u16() == 429 || status.is_server_error() {
            PostOutcome::Retry { after, reason }
        } else {
            PostOutcome::Refused {
                status: status.as_u16(),
                reason,
            }
        }
    }
}

/// How often and how long to retry a post within one invocation. The defaults keep the
/// worst case (3 attempts of 5 s, 2 waits of at most 10 s) well under a 60 s Lambda timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first included).
    pub attempts: u32,
    /// The wait before the second attempt when the answer has no `Retry-After`; doubled after.
    pub base_wait: Duration,
    /// The longest wait. A `Retry-After` longer than this ends the attempts at once: the
    /// invocation fails and Lambda retries it later, which honours Slack's request.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_wait: Duration::from_secs(1),
            max_wait: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based), or `None` to stop.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        match retry_after {
            Some(after) if after > self.max_wait => None,
            Some(after) => Some(after),
            None => {
                let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
                Some(self.base_wait.saturating_mul(factor).min(self.max_wait))
            }
        }
    }
}
