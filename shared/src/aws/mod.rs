//! AWS adapters for the ports (feature `aws`): the only module that knows SDK types.
//!
//! One client per service and Region, built from one [`SdkConfig`]. Endpoints follow the SDK's
//! own rules (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>` in the environment or profile),
//! so the same binary runs against local servers; [`Endpoints`] adds explicit per-service
//! overrides for callers that cannot set environment variables (tests, `--endpoint-url`).

mod claims;
mod documents;
mod errors;
pub use errors::port_error;
mod events;
mod kms;
pub mod s3;
pub mod secrets;
pub mod signing;
mod sso;
pub mod tls;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use aws_config::retry::RetryConfig;
pub use aws_config::timeout::TimeoutConfig;

pub use aws_config::SdkConfig;
pub use aws_types::region::Region;
pub use claims::DynamoClaims;
pub use documents::Documents;
pub use events::EventBridgeBus;
pub use kms::KmsKeyStore;
pub use sso::SsoInstanceDirectory;

/// Per-service endpoint overrides (`None` = the SDK's resolution).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// KMS.
    pub kms: Option<String>,
    /// EventBridge.
    pub events: Option<String>,
    /// DynamoDB.
    pub dynamodb: Option<String>,
    /// IAM Identity Center (sso-admin).
    pub sso_admin: Option<String>,
    /// S3 (the IdP's SAML metadata).
    pub s3: Option<String>,
    /// Secrets Manager (the IdP application's credentials).
    pub secrets: Option<String>,
}

impl Endpoints {
    /// Every service at one URL (a local server).
    pub fn all(url: &str) -> Endpoints {
        Endpoints {
            kms: Some(url.to_owned()),
            events: Some(url.to_owned()),
            dynamodb: Some(url.to_owned()),
            sso_admin: Some(url.to_owned()),
            s3: Some(url.to_owned()),
            secrets: Some(url.to_owned()),
        }
    }
}

/// Attempts per AWS call: the first and two retries with the SDK's jittered back-off, for
/// throttling, 5xx, timeouts and resets. Lambda's retries of the whole invocation come after.
pub const MAX_ATTEMPTS: u32 = 3;
/// How long one attempt may take: a hung connection fails fast and is retried instead of
/// eating the function's 60 s (a KMS or Identity Center call answers in well under 1 s).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call may take with its retries: the guard then reports the failure, and the
/// invocation is retried, within the function's timeout.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// idc-guard's retry rule for every AWS call.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// idc-guard's timeouts for every AWS call, with the attempt and whole-call limits given.
pub fn timeout_config(attempt: Duration, operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}

/// Loads the SDK configuration the standard way (environment, profile, IMDS / Lambda role)
/// with idc-guard's retries and timeouts (the SDK's defaults set no timeout on a call), and
/// Mozilla's roots compiled in ([`tls`]): what the Lambdas use, so that init does not read
/// the system trust store.
pub async fn load_sdk_config() -> SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(tls::lazy_https_client());
    with_limits(loader).load().await
}

/// [`load_sdk_config`] trusting the system store instead (`SSL_CERT_FILE`, a corporate proxy's
/// root): what the CLI uses on a person's machine, where start-up time does not matter.
pub async fn load_sdk_config_system_roots() -> SdkConfig {
    with_limits(aws_config::defaults(aws_config::BehaviorVersion::latest()))
        .load()
        .await
}

fn with_limits(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    loader
        .retry_config(retry_config())
        .timeout_config(timeout_config(ATTEMPT_TIMEOUT, OPERATION_TIMEOUT))
}

/// Clients built lazily, one per Region, shared across calls (and warm invocations).
#[derive(Debug)]
pub(crate) struct PerRegion<C> {
    clients: Mutex<BTreeMap<String, Arc<C>>>,
}

impl<C> Default for PerRegion<C> {
    fn default() -> Self {
        PerRegion {
            clients: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<C> PerRegion<C> {
    pub(crate) fn get(&self, region: &str, build: impl FnOnce() -> C) -> Arc<C> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients
            .entry(region.to_owned())
            .or_insert_with(|| Arc::new(build()))
            .clone()
    }
}
