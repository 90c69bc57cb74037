//! One API call with the IdP's failure modes handled: a 401 gets one fresh token and one more
//! try; 429 and 5xx wait (`Retry-After`, or Okta's `X-Rate-Limit-Reset`) and try again, a few
//! times; 403, 404 and 412 become their own outcomes. Bodies are read up to a limit.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, ETAG, HeaderMap, IF_MATCH, RETRY_AFTER,
};
use serde_json::Value;

use super::token::TokenSource;
use crate::idp_app::{IdpError, IdpErrorKind, ProviderKind};

/// Attempts of a throttled or failing call before it is left to the caller's retry.
const ATTEMPTS: u32 = 4;
/// The longest a response body may be (an application object is a few KiB).
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    /// The JSON body (`Null` for 204).
    pub body: Value,
    /// The `ETag` header.
    pub etag: Option<String>,
}

/// A call to make.
#[derive(Debug)]
pub struct Call<'a> {
    /// `GET`, `PATCH`, `PUT`.
    pub method: reqwest::Method,
    /// The full URL.
    pub url: &'a str,
    /// The JSON body to send.
    pub body: Option<&'a Value>,
    /// `If-Match`.
    pub if_match: Option<&'a str>,
    /// The permission a 403 says is missing.
    pub permission: &'a str,
    /// What the call reads or writes, for messages (`application 4a2b...`).
    pub what: &'a str,
}

/// The HTTP client, its token source and the longest wait it accepts.
#[derive(Debug)]
pub struct Client {
    /// The provider.
    pub provider: ProviderKind,
    /// reqwest.
    pub http: reqwest::Client,
    /// Tokens.
    pub tokens: TokenSource,
    /// The longest a single request may take.
    pub request_timeout: Duration,
    /// When the current invocation's IdP calls must be done ([`Client::begin`]).
    pub deadline: Mutex<Option<Instant>>,
    /// The most one call waits in all (throttling, back-off); more is left to the caller's
    /// retry.
    pub max_wait: Duration,
}

/// A reqwest error without its URL's query (which can hold an app id filter) or a body.
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}

impl Client {
    fn err(&self, kind: IdpErrorKind, message: String) -> IdpError {
        IdpError::new(self.provider, kind, message)
    }

    /// A new invocation's calls begin: together they may take `budget`, so the invocation
    /// ends well within the function's 60 s (the claims' lease assumes it).
    pub fn begin(&self, budget: Duration) {
        let mut deadline = self
            .deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *deadline = Instant::now().checked_add(budget);
    }

    /// How long the next request may take: the request timeout, cut to what is left of the
    /// invocation's budget; an error once nothing is left.
    pub fn time_left(&self, what: &str) -> Result<Duration, IdpError> {
        let deadline = *self
            .deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let left = deadline.map_or(self.request_timeout, |d| {
            d.saturating_duration_since(Instant::now())
                .min(self.request_timeout)
        });
        if left < Duration::from_millis(100) {
            return Err(self.err(
                IdpErrorKind::Retryable,
                format!(
                    "{what}: this invocation's time for IdP calls is used up; left to the next attempt"
                ),
            ));
        }
        Ok(left)
    }

    /// Makes `call`.
    pub async fn send(&self, call: &Call<'_>) -> Result<Answer, IdpError> {
        let what = format!("{} {}", call.method, call.what);
        let mut refreshed = false;
        let mut attempt = 0;
        // All the waiting one call may do: an invocation makes a handful of calls and must
        // end well within the function's 60 s (the claims' lease assumes it).
        let mut waited = Duration::ZERO;
        loop {
            attempt += 1;
            let response = match self.request(call, &what).await?.send().await {
                Ok(r) => r,
                Err(_)
                    if attempt < ATTEMPTS
                        && waited.saturating_add(self.backoff(attempt)) <= self.max_wait =>
                {
                    waited = waited.saturating_add(self.backoff(attempt));
                    pause(self.backoff(attempt)).await;
                    continue;
                }
                Err(e) => {
                    return Err(
                        self.err(IdpErrorKind::Retryable, format!("{what}: {}", describe(&e)))
                    );
                }
            };
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = read_body(response).await;
            match status {
                200..=299 => return self.answer(&what, &headers, body),
                401 if !refreshed && self.tokens.refreshable() => {
                    // An expired or revoked token: one fresh token, one more try.
                    refreshed = true;
                    self.tokens
                        .authorization(&self.http, true, self.time_left(&what)?)
                        .await?;
                }
                429 | 500 | 502 | 503 | 504 if attempt < ATTEMPTS => {
                    // Okta sends X-Rate-Limit-Reset on every answer: it means something only
                    // on a 429.
                    let asked = if status == 429 {
                        wait_for(&headers)
                    } else {
                        retry_after(&headers)
                    };
                    let wait = asked.unwrap_or_else(|| self.backoff(attempt));
                    if waited.saturating_add(wait) > self.max_wait {
                        return Err(self.err(IdpErrorKind::Retryable, format!("{what}: {status}, asked to wait {} s (more than the {} s one call waits in all; left to the next attempt)", wait.as_secs(), self.max_wait.as_secs())));
                    }
                    waited = waited.saturating_add(wait);
                    pause(wait).await;
                }
                _ => return Err(self.failure(call, status, &body.unwrap_or_default())),
            }
        }
    }

    /// The request for `call`, with the current token (marked sensitive) and a timeout of
    /// what is left of the invocation's budget.
    async fn request(
        &self,
        call: &Call<'_>,
        what: &str,
    ) -> Result<reqwest::RequestBuilder, IdpError> {
        let auth = self
            .tokens
            .authorization(&self.http, false, self.time_left(what)?)
            .await?;
        let mut authorization =
            reqwest::header::HeaderValue::from_str(auth.expose_str()).map_err(|_| {
                self.err(
                    IdpErrorKind::Malformed,
                    format!("{what}: the access token is not a valid header value"),
                )
            })?;
        // Kept out of any debug output of the request.
        authorization.set_sensitive(true);
        let mut request = self
            .http
            .request(call.method.clone(), call.url)
            .timeout(self.time_left(what)?)
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, authorization);
        if let Some(body) = call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        if let Some(tag) = call.if_match {
            request = request.header(IF_MATCH, tag);
        }
        Ok(request)
    }

    /// A 2xx answer: its JSON (`Null` when empty) and `ETag`.
    fn answer(
        &self,
        what: &str,
        headers: &HeaderMap,
        body: Result<Vec<u8>, String>,
    ) -> Result<Answer, IdpError> {
        let body = body.map_err(|e| self.err(IdpErrorKind::Malformed, format!("{what}: {e}")))?;
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                self.err(
                    IdpErrorKind::Malformed,
                    format!("{what}: the response is not JSON ({e})"),
                )
            })?
        };
        let etag = headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Answer { body: json, etag })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6)))
    }

    fn failure(&self, call: &Call<'_>, status: u16, body: &[u8]) -> IdpError {
        let code = error_code(body);
        let (method, what) = (&call.method, call.what);
        match status {
            401 => self.err(
                IdpErrorKind::Refused,
                format!("{method} {what}: 401 Unauthorized{code} even with a fresh token"),
            ),
            403 => self.err(
                IdpErrorKind::MissingPermission(call.permission.to_owned()),
                format!("{method} {what}: 403 Forbidden{code}"),
            ),
            404 => self.err(
                IdpErrorKind::NotFound,
                format!("{method} {what}: 404 Not Found{code}"),
            ),
            412 => self.err(
                IdpErrorKind::Conflict,
                format!(
                    "{method} {what}: 412 Precondition Failed{code}: it changed since it was read"
                ),
            ),
            429 | 500..=599 => self.err(
                IdpErrorKind::Retryable,
                format!("{method} {what}: {status}{code} after {ATTEMPTS} attempts"),
            ),
            _ => self.err(
                IdpErrorKind::Refused,
                format!("{method} {what}: {status}{code}"),
            ),
        }
    }
}

/// The provider's error code: Graph `error.code`, Okta `errorCode` and `errorSummary`.
fn error_code(body: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    let graph = json.pointer("/error/code").and_then(Value::as_str);
    let okta = json.get("errorCode").and_then(Value::as_str);
    let summary = json
        .get("errorSummary")
        .or_else(|| json.pointer("/error/message"))
        .and_then(Value::as_str)
        .map(|s| s.chars().take(200).collect::<String>());
    match (graph.or(okta), summary) {
        (Some(code), Some(summary)) => format!(" ({code}: {summary})"),
        (Some(code), None) => format!(" ({code})"),
        (None, Some(summary)) => format!(" ({summary})"),
        (None, None) => String::new(),
    }
}

/// How long the server asks to wait: `Retry-After` in seconds (Graph), else Okta's
/// `X-Rate-Limit-Reset` (epoch seconds) from now.
fn wait_for(headers: &HeaderMap) -> Option<Duration> {
    retry_after(headers).or_else(|| {
        let reset = header_text(headers, "x-rate-limit-reset")?
            .parse::<u64>()
            .ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        Some(bounded(reset.saturating_sub(now)))
    })
}

/// `Retry-After` in seconds (an HTTP date is not read: neither provider sends one).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = header_text(headers, RETRY_AFTER.as_str())?
        .parse::<u64>()
        .ok()?;
    Some(bounded(seconds))
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A wait the server asks for, kept to a day: more is as good as "not now", and a huge value
/// must not overflow the sums.
fn bounded(seconds: u64) -> Duration {
    Duration::from_secs(seconds.min(86_400))
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the body: {}", describe(&e)))?
    {
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(format!("the body is larger than {BODY_LIMIT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn pause(wait: Duration) {
    tokio::time::sleep(wait).await;
}
