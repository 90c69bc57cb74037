//! Real local AWS for integration tests: a moto server (KMS, EventBridge, SQS, DynamoDB) on
//! loopback, reached through the real SDK over HTTP.
//!
//! `IDC_GUARD_MOTO_URL` points the tests at a running server (CI starts one for the whole
//! run); otherwise each test process starts its own from `IDC_GUARD_MOTO_SERVER` or the
//! workspace's `.venv/bin/moto_server` (`make local-aws` installs it). A missing server is a
//! test failure with instructions, never a silent skip.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kms::config::Credentials;
use aws_sdk_kms::config::retry::RetryConfig;

/// The account moto creates resources in.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// A moto server: started here (and stopped on drop) or shared from the environment.
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: Option<Child>,
}

impl Moto {
    /// The shared server from `IDC_GUARD_MOTO_URL`, or a new one.
    pub fn start() -> Result<Moto, String> {
        if let Ok(url) = std::env::var("IDC_GUARD_MOTO_URL")
            && !url.is_empty()
        {
            wait_ready(&url, Duration::from_secs(20))?;
            return Ok(Moto { url, child: None });
        }
        let server = std::env::var("IDC_GUARD_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server")
            });
        if !server.exists() {
            return Err(format!(
                "moto_server not found at {}: run `make local-aws` (installs moto into .venv), or set IDC_GUARD_MOTO_URL to a running server",
                server.display()
            ));
        }
        let port = free_port()?;
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", server.display()))?;
        let moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        wait_ready(&moto.url, Duration::from_secs(30))?;
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A free loopback port (released before use; good enough for tests).
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Waits until `GET /moto-api/` answers.
fn wait_ready(url: &str, limit: Duration) -> Result<(), String> {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req =
                format!("GET /moto-api/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            let mut head = [0u8; 12];
            if s.write_all(req.as_bytes()).is_ok()
                && s.read_exact(&mut head).is_ok()
                && head.starts_with(b"HTTP/1.")
            {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("moto at {url} did not answer within {limit:?}"))
}

/// SDK configuration for local servers: static test credentials, `region`, no retries (a
/// failing call should fail the test, not hide behind back-off).
pub async fn sdk_config(region: &str) -> SdkConfig {
    local_defaults(region)
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

/// The SDK's loader for a local server: `region` and static test credentials.
fn local_defaults(region: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "idc-guard-tests",
        ))
}

/// SDK configuration for local servers with idc-guard's production retry rule (three
/// attempts, jittered back-off from 10 ms so tests stay quick) and an attempt timeout of
/// `attempt`: what the guards run with, for tests that inject faults.
pub async fn resilient_sdk_config(region: &str, attempt: Duration) -> SdkConfig {
    use idc_guard_core::aws::{OPERATION_TIMEOUT, retry_config, timeout_config};
    local_defaults(region)
        .retry_config(retry_config().with_initial_backoff(Duration::from_millis(10)))
        .timeout_config(timeout_config(attempt, OPERATION_TIMEOUT))
        .load()
        .await
}

/// Creates the secret `name` with `value` in Secrets Manager at `url` (moto).
pub async fn create_secret(
    sdk: &SdkConfig,
    url: &str,
    name: &str,
    value: &str,
) -> Result<(), String> {
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(sdk)
            .endpoint_url(url)
            .build(),
    )
    .create_secret()
    .name(name)
    .secret_string(value)
    .send()
    .await
    .map(|_| ())
    .map_err(|e| format!("secretsmanager:CreateSecret {name}: {e:?}"))
}

/// A name unique to this process and call, for tables, buses and queues.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
