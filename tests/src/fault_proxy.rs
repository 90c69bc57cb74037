//! A fault-injecting HTTP proxy in front of a local AWS server (moto or the Identity Center
//! emulator). The guard under test talks to the proxy through the real SDK; the proxy forwards
//! every call, except those a [`Rule`] picks, which get the fault instead: a throttling or
//! server error in the service's own wire format, AccessDenied, a hang past the SDK's attempt
//! timeout, or a connection reset (before the call reaches the server, or after it did, so
//! the write lands and its answer is lost).
//!
//! Every call is logged with what happened to it, so tests can count the writes that reached
//! the server.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What a faulted call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 `ThrottlingException` (the SDK retries it with back-off).
    Throttle,
    /// HTTP 500 with the service's internal error code.
    ServerError,
    /// HTTP 503 `ServiceUnavailable`.
    Unavailable,
    /// HTTP 400 `AccessDeniedException` (a retry cannot help).
    AccessDenied,
    /// HTTP 400 `AlreadyExistsException`: what KMS answers a second `ReplicateKey` to the
    /// same Region (moto accepts it again).
    AlreadyExists,
    /// No answer for this long, then the connection closes.
    Hang(Duration),
    /// The connection is reset before the call reaches the server.
    Reset,
    /// The call reaches the server (a write lands), then the connection is reset: the
    /// caller never learns it succeeded.
    ResetAfterForward,
}

/// Which calls a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The operation, as `kms:PutKeyPolicy` (service prefix and action).
    pub operation: String,
    /// Only calls to this Region (from the request's signature), or every Region.
    pub region: Option<String>,
    /// The fault.
    pub fault: Fault,
    /// Matching calls let through before the first fault.
    pub skip: usize,
    /// Matching calls faulted after that (`usize::MAX`: every one).
    pub times: usize,
    seen: usize,
}

impl Rule {
    /// `fault` on every `operation` call, in every Region.
    pub fn always(operation: &str, fault: Fault) -> Rule {
        Rule {
            operation: operation.to_owned(),
            region: None,
            fault,
            skip: 0,
            times: usize::MAX,
            seen: 0,
        }
    }

    /// `fault` on the first `times` `operation` calls.
    pub fn first(operation: &str, times: usize, fault: Fault) -> Rule {
        Rule {
            times,
            ..Rule::always(operation, fault)
        }
    }

    /// Only in `region`.
    pub fn in_region(self, region: &str) -> Rule {
        Rule {
            region: Some(region.to_owned()),
            ..self
        }
    }

    /// Lets the first `skip` matching calls through.
    pub fn after(self, skip: usize) -> Rule {
        Rule { skip, ..self }
    }

    /// Counts a matching call; the fault if this one gets it.
    fn take(&mut self, operation: &str, region: &str) -> Option<Fault> {
        if self.operation != operation || self.region.as_deref().is_some_and(|r| r != region) {
            return None;
        }
        let n = self.seen;
        self.seen += 1;
        (n >= self.skip && n - self.skip < self.times).then_some(self.fault)
    }
}

/// One call the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `kms:PutKeyPolicy`, ...
    pub operation: String,
    /// The Region it was signed for.
    pub region: String,
    /// The fault it got, if any.
    pub fault: Option<Fault>,
    /// Whether it reached the server.
    pub forwarded: bool,
    /// The request body.
    pub body: String,
    /// When the proxy received it, from the proxy's start.
    pub at: Duration,
    /// How long the server took to answer (zero when not forwarded).
    pub took: Duration,
}

#[derive(Debug)]
struct State {
    rules: Vec<Rule>,
    calls: Vec<Call>,
    /// When the proxy started: calls' times count from it.
    started: std::time::Instant,
}

/// The running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    /// The proxy's URL, to give the SDK as its endpoint.
    pub url: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a call was cut off (hyper then closes the connection).
#[derive(Debug)]
struct Cut(&'static str);

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Cut {}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    pub async fn start(upstream: &str) -> Result<FaultProxy, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("fault proxy: bind: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("fault proxy: address: {e}"))?;
        let state = Arc::new(Mutex::new(State {
            rules: Vec::new(),
            calls: Vec::new(),
            started: std::time::Instant::now(),
        }));
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| format!("fault proxy: client: {e}"))?;
        let upstream = upstream.trim_end_matches('/').to_owned();
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // A cut connection is reset (RST), as a dropped load balancer connection is.
                let _ = stream.set_zero_linger();
                let (state, client, upstream) =
                    (Arc::clone(&shared), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        proxy(Arc::clone(&state), client.clone(), upstream.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FaultProxy {
            url: format!("http://{addr}"),
            state,
            task,
        })
    }

    /// Adds a rule. Rules are tried in order and the first that faults a call wins; a rule
    /// counts only the calls that reach it.
    pub fn inject(&self, rule: Rule) {
        self.lock().rules.push(rule);
    }

    /// Removes every rule: calls pass again.
    pub fn heal(&self) {
        self.lock().rules.clear();
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Every call of `operation`, in order.
    pub fn calls_of(&self, operation: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.operation == operation)
            .cloned()
            .collect()
    }

    /// What happened to each call of `operation`, in order: whether it reached the server,
    /// and its fault.
    pub fn outcomes_of(&self, operation: &str) -> Vec<(bool, Option<Fault>)> {
        self.calls_of(operation)
            .iter()
            .map(|c| (c.forwarded, c.fault))
            .collect()
    }

    /// The calls of `operation` that reached the server.
    pub fn forwarded(&self, operation: &str) -> Vec<Call> {
        let mut calls = self.calls_of(operation);
        calls.retain(|c| c.forwarded);
        calls
    }

    /// How many calls got a fault.
    pub fn faulted(&self) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.fault.is_some())
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How long at least one of `calls` was with the server: the union of their
/// `[at, at + took]` intervals. For calls made by one invocation, this is the server's share
/// of its latency (concurrent calls count once); the rest is the client's own.
pub fn server_time(calls: &[Call]) -> Duration {
    let mut spans: Vec<(Duration, Duration)> = calls
        .iter()
        .filter(|c| c.forwarded)
        .map(|c| (c.at, c.at + c.took))
        .collect();
    spans.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Duration, Duration)> = None;
    for (start, end) in spans {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map_or(Duration::ZERO, |(s, e)| e - s)
}

/// The operation of a signed AWS request: `X-Amz-Target` for the JSON protocols
/// (`TrentService.PutKeyPolicy` is `kms:PutKeyPolicy`), the method for S3's REST calls.
pub fn operation_of(target: Option<&str>, method: &str) -> String {
    let Some((service, action)) = target.and_then(|t| t.split_once('.')) else {
        return format!("s3:{method}");
    };
    let prefix = match service {
        "TrentService" => "kms",
        "AWSEvents" => "events",
        "SWBExternalService" => "sso",
        "AmazonSQS" => "sqs",
        s if s.starts_with("DynamoDB") => "dynamodb",
        s => s,
    };
    format!("{prefix}:{action}")
}

/// The Region in a SigV4 `Authorization` header's credential scope.
pub fn region_of(authorization: &str) -> String {
    authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or_default()
        .to_owned()
}

/// The status, code and message a service answers `fault` with. S3 has its own codes.
fn error_of(operation: &str, fault: Fault) -> (StatusCode, &'static str, &'static str) {
    let s3 = operation.starts_with("s3:");
    match fault {
        Fault::Throttle if s3 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate (injected)",
        ),
        Fault::Throttle => (
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded (injected)",
        ),
        Fault::AccessDenied => (
            StatusCode::FORBIDDEN,
            if s3 {
                "AccessDenied"
            } else {
                "AccessDeniedException"
            },
            "User is not authorized to perform this operation (injected)",
        ),
        Fault::AlreadyExists => (
            StatusCode::BAD_REQUEST,
            "AlreadyExistsException",
            "The request was rejected because it attempted to create a resource that already exists (injected)",
        ),
        Fault::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Service unavailable (injected)",
        ),
        _ if operation.starts_with("kms:") => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "KMSInternalException",
            "Internal error (injected)",
        ),
        _ if s3 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error (injected)",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "Internal error (injected)",
        ),
    }
}

/// The error response in the service's wire format: the JSON protocols' `__type` body, or
/// S3's XML `<Error>`.
fn error_response(operation: &str, fault: Fault) -> Response<Full<Bytes>> {
    let (status, code, message) = error_of(operation, fault);
    let (body, content_type) = if operation.starts_with("s3:") {
        (
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>injected</RequestId></Error>"
            ),
            "application/xml",
        )
    } else {
        (
            serde_json::json!({"__type": code, "message": message}).to_string(),
            "application/x-amz-json-1.1",
        )
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    response.headers_mut().insert(
        "x-amzn-errortype",
        hyper::header::HeaderValue::from_static(code),
    );
    response
}

async fn proxy(
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
    upstream: String,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Cut> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let operation = operation_of(header("x-amz-target"), req.method().as_str());
    let region = region_of(header("authorization").unwrap_or_default());
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| Cut("request body"))?
        .to_bytes();
    let received = std::time::Instant::now();
    let (fault, index) = {
        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
        let fault = s.rules.iter_mut().find_map(|r| r.take(&operation, &region));
        let at = received - s.started;
        s.calls.push(Call {
            operation: operation.clone(),
            region,
            fault,
            forwarded: !matches!(
                fault,
                Some(
                    Fault::Throttle
                        | Fault::ServerError
                        | Fault::Unavailable
                        | Fault::AccessDenied
                        | Fault::AlreadyExists
                        | Fault::Hang(_)
                        | Fault::Reset
                )
            ),
            body: String::from_utf8_lossy(&body).into_owned(),
            at,
            took: Duration::ZERO,
        });
        (fault, s.calls.len() - 1)
    };
    match fault {
        Some(Fault::Hang(d)) => {
            tokio::time::sleep(d).await;
            return Err(Cut("hung"));
        }
        Some(Fault::Reset) => return Err(Cut("reset")),
        Some(Fault::ResetAfterForward) | None => {}
        Some(f) => return Ok(error_response(&operation, f)),
    }
    let response = forward(&client, &upstream, parts, body).await?;
    if let Some(call) = state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .calls
        .get_mut(index)
    {
        call.took = received.elapsed();
    }
    if fault == Some(Fault::ResetAfterForward) {
        return Err(Cut("reset after the server answered"));
    }
    Ok(response)
}

/// Sends the call on to the server as it came (the signature covers the host header, which
/// the server does not check).
async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, Cut> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let method =
        reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).map_err(|_| Cut("method"))?;
    let mut request = client
        .request(method, format!("{upstream}{path}"))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = request.send().await.map_err(|_| Cut("upstream"))?;
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.map_err(|_| Cut("upstream body"))?;
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = StatusCode::from_u16(status).map_err(|_| Cut("status"))?;
    for (name, value) in &headers {
        if name == "content-length" || name == "transfer-encoding" || name == "connection" {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            hyper::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_and_regions_from_signed_requests() {
        assert_eq!(
            operation_of(Some("TrentService.PutKeyPolicy"), "POST"),
            "kms:PutKeyPolicy"
        );
        assert_eq!(
            operation_of(Some("DynamoDB_20120810.PutItem"), "POST"),
            "dynamodb:PutItem"
        );
        assert_eq!(operation_of(None, "GET"), "s3:GET");
        assert_eq!(
            region_of(
                "AWS4-HMAC-SHA256 Credential=test/20261127/eu-west-1/kms/aws4_request, SignedHeaders=host"
            ),
            "eu-west-1"
        );
    }

    #[test]
    fn server_time_counts_overlapping_calls_once() {
        let call = |at: u64, took: u64| Call {
            operation: "kms:DescribeKey".to_owned(),
            region: "us-east-1".to_owned(),
            fault: None,
            forwarded: true,
            body: String::new(),
            at: Duration::from_millis(at),
            took: Duration::from_millis(took),
        };
        // [0,10] and [5,20] overlap (20 ms), [30,35] is apart (5 ms).
        let calls = [call(30, 5), call(0, 10), call(5, 15)];
        assert_eq!(server_time(&calls), Duration::from_millis(25));
        assert_eq!(server_time(&[]), Duration::ZERO);
    }

    #[test]
    fn a_rule_skips_then_faults_a_bounded_number_of_calls() {
        let mut rule = Rule::first("kms:GetKeyPolicy", 2, Fault::Throttle)
            .after(1)
            .in_region("eu-west-1");
        assert_eq!(rule.take("kms:GetKeyPolicy", "us-east-1"), None);
        assert_eq!(rule.take("kms:PutKeyPolicy", "eu-west-1"), None);
        let got: Vec<Option<Fault>> = (0..4)
            .map(|_| rule.take("kms:GetKeyPolicy", "eu-west-1"))
            .collect();
        assert_eq!(
            got,
            [None, Some(Fault::Throttle), Some(Fault::Throttle), None]
        );
    }
}
